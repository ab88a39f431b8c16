//! Walks each consumer process's reads of each key in order and hands every pair of successive
//! reads (within one operation, or across two) to an analysis.
//!
//! A process's position in a key is forgotten when an assignment change may have moved it, so
//! that what follows is not judged a skip or a re-read (Kafka's consumer semantics):
//! - `assign`: keys it keeps keep their positions (Kafka's `assign` preserves the fetch position
//!   of partitions that stay assigned); keys it drops or gains start afresh;
//! - `subscribe`: every key starts afresh (the group will assign keys from committed offsets);
//! - `rebalance`: under the eager protocol every key was revoked and starts afresh from its
//!   committed offset; under the cooperative protocol keys it keeps were never revoked;
//! - a transaction that did not commit: every key starts afresh (the consumer rewinds to its
//!   committed offsets).

use std::collections::BTreeMap;

use super::anomaly::{AnomalyKind, Findings, OrderWitness, Record, SKIPPED_SHOWN_MAX, Witness};
use super::config::{CheckConfig, RebalanceProtocol};
use super::context::Context;
use super::model::{AssignmentChange, Event, EventId, Function, KeyId, Outcome};
use super::version_order::KeyOrder;

/// Where a process read a key: the record and its version-order index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub index: usize,
    pub record: Record,
    pub event: EventId,
}

/// Two successive reads of one key by one process.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub key: KeyId,
    pub previous: Position,
    pub current: Position,
}

impl Step {
    /// Whether both reads are in one operation (the `int-` anomalies).
    pub fn is_internal(&self) -> bool {
        self.previous.event == self.current.event
    }

    /// The witness of this step: both reads, and the records of the version order between
    /// them (`skipped`, at most [`SKIPPED_SHOWN_MAX`] of `skipped_count`).
    pub fn witness(&self, context: &Context, skipped: Vec<Record>, skipped_count: u64) -> Witness {
        let operation = context.operation(self.current.event);
        Witness::Order(OrderWitness {
            process: operation.process,
            key: context.key_name(self.key),
            previous_operation: context.operation(self.previous.event),
            operation,
            from: self.previous.record,
            to: self.current.record,
            skipped,
            skipped_count,
        })
    }
}

/// Reports a step that does not move forward in the version order, as `internal` within one
/// operation and as `across` between two: the nonmonotonic anomalies, of polls and of sends.
pub fn judge_going_back(
    context: &Context,
    step: &Step,
    findings: &mut Findings,
    [internal, across]: [AnomalyKind; 2],
) {
    if step.current.index > step.previous.index {
        return;
    }
    let kind = if step.is_internal() { internal } else { across };
    findings.add(kind, || step.witness(context, Vec::new(), 0));
}

#[derive(Debug, Default)]
struct ProcessState {
    positions: BTreeMap<KeyId, Position>,
    assignment: Option<Vec<KeyId>>,
}

/// Calls `visit` with each step of each process's reads, in completion order.
pub fn walk_reads(context: &Context, config: &CheckConfig, mut visit: impl FnMut(Step)) {
    let model = context.model;
    let mut processes: Vec<ProcessState> = (0..model.process_count())
        .map(|_| ProcessState::default())
        .collect();
    for (event_id, event) in model.events.iter().enumerate() {
        let state = &mut processes[event.process_slot as usize];
        if let Some(change) = &event.assignment {
            let protocol = context.protocol_of(config, event);
            apply_assignment(context, protocol, state, change);
        }
        if event.function() == Function::Txn && event.outcome() != Outcome::Ok {
            state.positions.clear();
        }
        read_event(context, state, event, event_id as EventId, &mut visit);
    }
}

/// Applies an assignment change: returns the new assignment (`None` when unknown, after a
/// subscribe) and the keys whose positions (and uncommitted polls) survive it, sorted.
pub fn retained_keys(
    context: &Context,
    protocol: RebalanceProtocol,
    previous: Option<&[KeyId]>,
    change: &AssignmentChange,
) -> (Option<Vec<KeyId>>, Vec<KeyId>) {
    let (next, keeps_positions) = match change {
        AssignmentChange::Assigned(keys) => (Some(context.model.keys_of(keys).to_vec()), true),
        AssignmentChange::Rebalanced(keys) => (
            Some(context.model.keys_of(keys).to_vec()),
            protocol == RebalanceProtocol::Cooperative,
        ),
        AssignmentChange::Subscribed => (None, false),
    };
    let retained = match (previous, &next, keeps_positions) {
        (Some(previous), Some(next), true) => previous
            .iter()
            .copied()
            .filter(|key| next.binary_search(key).is_ok())
            .collect(),
        _ => Vec::new(),
    };
    (next, retained)
}

fn apply_assignment(
    context: &Context,
    protocol: RebalanceProtocol,
    state: &mut ProcessState,
    change: &AssignmentChange,
) {
    let (next, retained) = retained_keys(context, protocol, state.assignment.as_deref(), change);
    state
        .positions
        .retain(|key, _position| retained.binary_search(key).is_ok());
    state.assignment = next;
}

fn read_event(
    context: &Context,
    state: &mut ProcessState,
    event: &Event,
    event_id: EventId,
    visit: &mut impl FnMut(Step),
) {
    for read in context.model.reads_of(event) {
        let index = context
            .orders
            .of(read.key)
            .index_of(read.offset)
            .expect("every read offset is in the version order");
        let current = Position {
            index,
            record: Record {
                offset: read.offset,
                value: read.value,
            },
            event: event_id,
        };
        if let Some(previous) = state.positions.insert(read.key, current) {
            visit(Step {
                key: read.key,
                previous,
                current,
            });
        }
    }
}

/// The records of `order` strictly between two indices: at most [`SKIPPED_SHOWN_MAX`] of them,
/// and how many there are.
pub fn records_between(order: &KeyOrder, from_index: usize, to_index: usize) -> (Vec<Record>, u64) {
    let count = to_index.saturating_sub(from_index + 1);
    let shown = (from_index + 1..to_index)
        .take(SKIPPED_SHOWN_MAX)
        .flat_map(|index| order.entries_at(index))
        .map(|entry| Record {
            offset: entry.offset,
            value: entry.value,
        })
        .take(SKIPPED_SHOWN_MAX)
        .collect();
    (shown, count as u64)
}
