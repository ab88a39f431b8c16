//! `duplicate-consumption` and `lost-consumption`: a consumer group processes every committed
//! record of every key it consumes exactly once.
//!
//! A record counts as processed by the group when a member polled it in a committed (`ok`)
//! transaction, or polled it in an `ok` poll and then committed an offset past it (an `ok`
//! `commit`, or a commit inside an `ok` transaction) before its assignment changed (an `assign`
//! that dropped the key, a `subscribe`, or a `rebalance`: under the eager protocol any, under
//! the cooperative one one that dropped the key; see `consumer_position`). A poll its process
//! never covered with a commit is not processed: the key's next owner reads it again. A poll
//! covered only by a commit whose outcome is unknown (`info`) may or may not have been
//! processed: it is neither owed (no loss if no one reads it again) nor counted (no duplicate if
//! someone does). Records required: every
//! committed record (acknowledged, or read by anyone) of each key the group read, up to the
//! highest record of the key the group processed (all of them when the run drained its
//! consumers). Under `acks=1` an acknowledged record may vanish in a failover and its offset be
//! reused (as for `lost-write`), so there only records someone read are required.
//!
//! Under `at_least_once` (and not `exactly_once`) an `ok` poll by a member is the processing:
//! `lost-consumption` means the group never read a committed record, duplicates are expected.
//!
//! Source: Kafka's exactly-once semantics (KIP-98, KIP-447: consume-transform-produce with
//! offsets committed in the transaction); Kafka's consumer docs on committed offsets.

use std::collections::BTreeMap;

use super::anomaly::{AnomalyKind, ConsumptionWitness, Findings, Record, Witness};
use super::config::{Acks, CheckConfig};
use super::consumer_position::retained_keys;
use super::context::Context;
use super::model::{Event, EventId, Function, GroupId, KeyId, Outcome};
use super::version_order::KeyOrder;

/// One processing of one record by one group: `(group, key, value, offset, processing event)`.
type Processing = (GroupId, KeyId, i64, u64, EventId);

#[derive(Debug, Default)]
struct MemberState {
    /// Polled records not yet covered by a commit: key -> (offset, value, poll event).
    pending: BTreeMap<KeyId, Vec<(u64, i64, EventId)>>,
    assignment: Option<Vec<KeyId>>,
}

/// What the groups did with the records they read.
#[derive(Debug, Default)]
struct Processings {
    /// Processings that happened, sorted.
    definite: Vec<Processing>,
    /// Processings that may have happened (an `info` commit or transaction), sorted.
    possible: Vec<Processing>,
    /// The `(group, key)` pairs the groups read, sorted, once each.
    consumed: Vec<(GroupId, KeyId)>,
    /// Every record a member read in an `ok` poll, as `(group, key, value, 0, poll)`, sorted:
    /// a lost record's witness names the polls that read it without processing it.
    polled: Vec<Processing>,
}

pub fn analyse(context: &Context, config: &CheckConfig, findings: &mut Findings) {
    let processings = collect_processings(context, config);
    report_duplicates(context, &processings.definite, findings);
    report_losses(context, &processings, config, findings);
}

/// Every processing, certain or possible, and the `(group, key)` pairs the groups read.
fn collect_processings(context: &Context, config: &CheckConfig) -> Processings {
    // At-least-once: a poll is the processing; commits only decide where the next owner starts.
    let polls_process = config.at_least_once && !config.exactly_once;
    let model = context.model;
    let mut members: Vec<MemberState> = (0..model.process_count())
        .map(|_| MemberState::default())
        .collect();
    let mut processings = Vec::new();
    let mut possible = Vec::new();
    let mut consumed = Vec::new();
    let mut polled = Vec::new();
    for (event_id, event) in model.events.iter().enumerate() {
        let Some(group) = event.group else {
            continue;
        };
        let member = &mut members[event.process_slot as usize];
        if let Some(change) = &event.assignment {
            let protocol = context.protocol_of(config, event);
            let (next, retained) =
                retained_keys(context, protocol, member.assignment.as_deref(), change);
            member
                .pending
                .retain(|key, _| retained.binary_search(key).is_ok());
            member.assignment = next;
        }
        let event_id = event_id as EventId;
        match event.outcome() {
            Outcome::Ok => {}
            Outcome::Info => {
                note_possible(context, event, group, member, &mut possible);
                continue;
            }
            Outcome::Fail | Outcome::Pending => continue,
        }
        for read in model.reads_of(event) {
            consumed.push((group, read.key));
            if event.function() == Function::Txn || polls_process {
                processings.push((group, read.key, read.value, read.offset, event_id));
            } else {
                polled.push((group, read.key, read.value, read.offset, event_id));
                member.pending.entry(read.key).or_default().push((
                    read.offset,
                    read.value,
                    event_id,
                ));
            }
        }
        cover_with_commits(context, event, group, member, &mut processings);
    }
    consumed.sort_unstable();
    consumed.dedup();
    processings.sort_unstable();
    possible.sort_unstable();
    polled.sort_unstable();
    Processings {
        definite: processings,
        possible,
        consumed,
        polled,
    }
}

/// A commit of unknown outcome: the member's pending polls below its offsets may have been
/// processed. (A transaction of unknown outcome has no reads: a poll's records are known only
/// when it completes `ok`.)
fn note_possible(
    context: &Context,
    event: &Event,
    group: GroupId,
    member: &mut MemberState,
    possible: &mut Vec<Processing>,
) {
    cover_with_commits(context, event, group, member, possible);
}

/// Moves the member's pending polls below each committed offset to the processed records.
fn cover_with_commits(
    context: &Context,
    event: &Event,
    group: GroupId,
    member: &mut MemberState,
    processings: &mut Vec<Processing>,
) {
    for commit in context.model.commits_of(event) {
        let Some(pending) = member.pending.get_mut(&commit.key) else {
            continue;
        };
        pending.retain(|&(offset, value, poll)| {
            let covered = offset < commit.next_offset;
            if covered {
                processings.push((group, commit.key, value, offset, poll));
            }
            !covered
        });
    }
}

fn report_duplicates(context: &Context, processings: &[Processing], findings: &mut Findings) {
    for run in
        processings.chunk_by(|left, right| (left.0, left.1, left.2) == (right.0, right.1, right.2))
    {
        if run.len() < 2 {
            continue;
        }
        let (group, key, value, offset, _) = run[0];
        findings.add(AnomalyKind::DuplicateConsumption, || {
            Witness::Consumption(ConsumptionWitness {
                group: context.model.group_name(group).to_string(),
                key: context.key_name(key),
                offset,
                value,
                writer: context
                    .writer_of(value)
                    .map(|writer| context.operation(writer)),
                processed_by: run
                    .iter()
                    .map(|processing| context.operation(processing.4))
                    .collect(),
                polled_by: Vec::new(),
                highest_processed: None,
            })
        });
    }
}

/// The processings of `key` by `group` in `processings` (sorted).
fn of_key(processings: &[Processing], group: GroupId, key: KeyId) -> &[Processing] {
    let start =
        processings.partition_point(|processing| (processing.0, processing.1) < (group, key));
    let end =
        processings.partition_point(|processing| (processing.0, processing.1) <= (group, key));
    &processings[start..end]
}

/// Whether `processed` (one group's processings of one key) holds `value`.
fn holds(processed: &[Processing], value: i64) -> bool {
    with_value(processed, value).next().is_some()
}

/// The entries of `of_one_key` (one group's, of one key, sorted) for `value`.
fn with_value(of_one_key: &[Processing], value: i64) -> impl Iterator<Item = &Processing> {
    let position = of_one_key.partition_point(|processing| processing.2 < value);
    of_one_key[position..]
        .iter()
        .take_while(move |processing| processing.2 == value)
}

fn report_losses(
    context: &Context,
    processings: &Processings,
    config: &CheckConfig,
    findings: &mut Findings,
) {
    // Whether an acknowledged record survives: only acks=all promises it.
    let acknowledged_survives = config.acks == Acks::All;
    for &(group, key) in &processings.consumed {
        let processed = of_key(&processings.definite, group, key);
        let possibly_processed = of_key(&processings.possible, group, key);
        let polled = of_key(&processings.polled, group, key);
        let order = context.orders.of(key);
        let highest = highest_processed(order, processed);
        let required_end = match (config.drained, highest) {
            (true, _) => order.len(),
            (false, Some((index, _))) => index + 1,
            (false, None) => 0,
        };
        let highest_processed = highest.map(|(_, record)| record);
        for entry in (0..required_end).flat_map(|index| order.entries_at(index)) {
            let was_processed =
                holds(processed, entry.value) || holds(possibly_processed, entry.value);
            let writer = context.writer_of(entry.value);
            let committed = writer.is_some_and(|writer| context.is_committed(writer));
            let survives = acknowledged_survives || context.was_read(key, entry.value);
            if was_processed || !committed || !survives {
                continue;
            }
            findings.add(AnomalyKind::LostConsumption, || {
                Witness::Consumption(ConsumptionWitness {
                    group: context.model.group_name(group).to_string(),
                    key: context.key_name(key),
                    offset: entry.offset,
                    value: entry.value,
                    writer: writer.map(|writer| context.operation(writer)),
                    processed_by: Vec::new(),
                    polled_by: with_value(polled, entry.value)
                        .map(|poll| context.operation(poll.4))
                        .collect(),
                    highest_processed,
                })
            });
        }
    }
}

/// The highest version-order index among a group's processings of one key, and its record.
fn highest_processed(order: &KeyOrder, processed: &[Processing]) -> Option<(usize, Record)> {
    processed
        .iter()
        .map(|&(_, _, value, offset, _)| {
            let index = order.index_of(offset).expect("processed records were read");
            (index, Record { offset, value })
        })
        .max_by_key(|&(index, _)| index)
}
