//! `duplicate-consumption` and `lost-consumption`: a consumer group processes every committed
//! record of every key it consumes exactly once.
//!
//! A record counts as processed by the group when a member polled it in a committed (`ok`)
//! transaction, or polled it in an `ok` poll and then committed an offset past it (an `ok`
//! `commit`, or a commit inside an `ok` transaction) before its assignment changed (an `assign`
//! that dropped the key, a `subscribe`, or a `rebalance`: under the eager protocol any, under
//! the cooperative one one that dropped the key; see `consumer_position`). A poll its process
//! never covered with a commit is not processed: the key's next owner reads it again. Records required: every
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

pub fn analyse(context: &Context, config: &CheckConfig, findings: &mut Findings) {
    let (mut processings, consumed) = collect_processings(context, config);
    processings.sort_unstable();
    report_duplicates(context, &processings, findings);
    report_losses(context, &processings, &consumed, config, findings);
}

/// Every processing, and the `(group, key)` pairs the groups read.
fn collect_processings(
    context: &Context,
    config: &CheckConfig,
) -> (Vec<Processing>, Vec<(GroupId, KeyId)>) {
    let protocol = config.rebalance_protocol;
    // At-least-once: a poll is the processing; commits only decide where the next owner starts.
    let polls_process = config.at_least_once && !config.exactly_once;
    let model = context.model;
    let mut members: Vec<MemberState> = (0..model.process_count())
        .map(|_| MemberState::default())
        .collect();
    let mut processings = Vec::new();
    let mut consumed = Vec::new();
    for (event_id, event) in model.events.iter().enumerate() {
        let Some(group) = event.group else {
            continue;
        };
        let member = &mut members[event.process_slot as usize];
        if let Some(change) = &event.assignment {
            let (next, retained) =
                retained_keys(context, protocol, member.assignment.as_deref(), change);
            member
                .pending
                .retain(|key, _| retained.binary_search(key).is_ok());
            member.assignment = next;
        }
        if event.outcome() != Outcome::Ok {
            continue;
        }
        let event_id = event_id as EventId;
        for read in model.reads_of(event) {
            consumed.push((group, read.key));
            if event.function() == Function::Txn || polls_process {
                processings.push((group, read.key, read.value, read.offset, event_id));
            } else {
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
    (processings, consumed)
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
                highest_processed: None,
            })
        });
    }
}

fn report_losses(
    context: &Context,
    processings: &[Processing],
    consumed: &[(GroupId, KeyId)],
    config: &CheckConfig,
    findings: &mut Findings,
) {
    // Whether an acknowledged record survives: only acks=all promises it.
    let acknowledged_survives = config.acks == Acks::All;
    for &(group, key) in consumed {
        let start =
            processings.partition_point(|processing| (processing.0, processing.1) < (group, key));
        let end =
            processings.partition_point(|processing| (processing.0, processing.1) <= (group, key));
        let processed = &processings[start..end];
        let order = context.orders.of(key);
        let highest = highest_processed(order, processed);
        let required_end = match (config.drained, highest) {
            (true, _) => order.len(),
            (false, Some((index, _))) => index + 1,
            (false, None) => 0,
        };
        let highest_processed = highest.map(|(_, record)| record);
        for entry in (0..required_end).flat_map(|index| order.entries_at(index)) {
            let position = processed.partition_point(|processing| processing.2 < entry.value);
            let was_processed = processed
                .get(position)
                .is_some_and(|processing| processing.2 == entry.value);
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
