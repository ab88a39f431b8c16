//! The compact form of a history that the analyses share: each completed operation once (paired
//! with its invocation), its sends, reads and commits in flat arrays, and keys, groups and
//! processes interned into dense ids. The raw text is never kept.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

pub use super::operation::Function;
use super::operation::{MicroOperation, Operation, OperationType, OperationValue};

/// A dense id for a key (`topic/partition`).
pub type KeyId = u32;
/// A dense id for a consumer group.
pub type GroupId = u32;
/// A dense id for a process.
pub type ProcessSlot = u32;
/// The position of an event in [`Model::events`] (completion order).
pub type EventId = u32;

/// The operation a witness points at: its invocation and completion lines' indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OperationRef {
    /// The completion's `index`; `None` if the history ended before the operation completed.
    pub index: Option<u64>,
    pub invoke_index: u64,
    pub process: u64,
    pub f: Function,
    #[serde(rename = "type")]
    pub outcome: Outcome,
}

/// How an operation ended. `Pending` means the history ended first (as indeterminate as `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    Pending,
}

impl Outcome {
    /// Whether the operation may have taken effect.
    pub fn maybe_happened(self) -> bool {
        self != Self::Fail
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRecord {
    pub key: KeyId,
    pub value: i64,
    /// Kept only for `ok` completions: an indeterminate send's offset proves nothing.
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRecord {
    pub key: KeyId,
    pub offset: u64,
    pub value: i64,
}

/// A record in one node's log, from an `ok` `debug-topic-partitions` dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DumpedRecord {
    pub key: KeyId,
    pub value: i64,
    pub offset: u64,
    /// Index into [`Model::node_names`].
    pub node: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRecord {
    pub key: KeyId,
    pub next_offset: u64,
}

/// What a completed operation did to its process's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentChange {
    /// `assign`: from now on the process reads exactly these keys (sorted).
    Assigned(Range<u32>),
    /// `rebalance`: the group gave the process these keys (sorted).
    Rebalanced(Range<u32>),
    /// `subscribe`: the group will assign keys; until then the assignment is unknown.
    Subscribed,
}

/// One operation, from invocation to completion.
#[derive(Debug, Clone)]
pub struct Event {
    pub operation: OperationRef,
    pub process_slot: ProcessSlot,
    pub group: Option<GroupId>,
    pub invoke_time_ns: u64,
    /// Sends from the completion if `ok`, else from the invocation (offsets dropped).
    pub sends: Range<u32>,
    /// Reads of `ok` polls and `ok` transactions, grouped by key in received order.
    pub reads: Range<u32>,
    /// Offsets committed: by `commit`, or inside a transaction.
    pub commits: Range<u32>,
    pub assignment: Option<AssignmentChange>,
}

impl Event {
    pub fn outcome(&self) -> Outcome {
        self.operation.outcome
    }

    pub fn function(&self) -> Function {
        self.operation.f
    }
}

/// Counts of what the history held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistoryStats {
    pub operations: u64,
    pub invocations: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Invocations the history ended before completing.
    pub pending: u64,
    pub processes: u64,
    pub keys: u64,
    pub sends: u64,
    pub reads: u64,
    pub commits: u64,
}

/// A whole history in compact form.
#[derive(Debug, Default)]
pub struct Model {
    pub events: Vec<Event>,
    pub sends: Vec<SendRecord>,
    pub reads: Vec<ReadRecord>,
    pub commits: Vec<CommitRecord>,
    pub assigned_keys: Vec<KeyId>,
    /// Replica logs dumped by `debug-topic-partitions`, in dump order (node, then key, then
    /// offset); [`super::context::Context`] sorts them when a witness first looks one up.
    pub dumped: Vec<DumpedRecord>,
    pub node_names: Vec<String>,
    pub key_names: Vec<String>,
    pub group_names: Vec<String>,
    pub process_ids: Vec<u64>,
    pub stats: HistoryStats,
}

impl Model {
    pub fn key_name(&self, key: KeyId) -> &str {
        &self.key_names[key as usize]
    }

    pub fn group_name(&self, group: GroupId) -> &str {
        &self.group_names[group as usize]
    }

    pub fn sends_of(&self, event: &Event) -> &[SendRecord] {
        &self.sends[range(&event.sends)]
    }

    pub fn reads_of(&self, event: &Event) -> &[ReadRecord] {
        &self.reads[range(&event.reads)]
    }

    pub fn commits_of(&self, event: &Event) -> &[CommitRecord] {
        &self.commits[range(&event.commits)]
    }

    pub fn keys_of(&self, keys: &Range<u32>) -> &[KeyId] {
        &self.assigned_keys[range(keys)]
    }

    pub fn key_count(&self) -> usize {
        self.key_names.len()
    }

    pub fn process_count(&self) -> usize {
        self.process_ids.len()
    }
}

fn range(range: &Range<u32>) -> Range<usize> {
    range.start as usize..range.end as usize
}

/// An invocation waiting for its completion.
#[derive(Debug)]
struct Invocation {
    index: u64,
    time_ns: u64,
    function: Function,
    group: Option<String>,
    value: OperationValue,
}

/// Builds a [`Model`] from a validated operation stream (see `reader`).
#[derive(Debug, Default)]
pub struct ModelBuilder {
    model: Model,
    outstanding: BTreeMap<u64, Invocation>,
    key_ids: BTreeMap<String, KeyId>,
    group_ids: BTreeMap<String, GroupId>,
    node_ids: BTreeMap<String, u32>,
    process_slots: BTreeMap<u64, ProcessSlot>,
}

impl ModelBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, operation: Operation) {
        self.model.stats.operations += 1;
        self.slot_of(operation.process);
        match operation.kind {
            OperationType::Invoke => self.add_invocation(operation),
            OperationType::Ok | OperationType::Fail | OperationType::Info => {
                self.add_completion(operation)
            }
        }
    }

    pub fn finish(mut self) -> Model {
        let outstanding = std::mem::take(&mut self.outstanding);
        for (process, invocation) in outstanding {
            self.model.stats.pending += 1;
            self.add_event(
                process,
                invocation,
                None,
                Outcome::Pending,
                None,
                OperationValue::Null,
            );
        }
        self.model.key_names = invert(self.key_ids);
        self.model.group_names = invert(self.group_ids);
        self.model.node_names = invert(self.node_ids);
        self.model.process_ids = invert(self.process_slots).into_iter().collect();
        let stats = &mut self.model.stats;
        stats.processes = self.model.process_ids.len() as u64;
        stats.keys = self.model.key_names.len() as u64;
        stats.sends = self.model.sends.len() as u64;
        stats.reads = self.model.reads.len() as u64;
        stats.commits = self.model.commits.len() as u64;
        self.model
    }

    fn add_invocation(&mut self, operation: Operation) {
        self.model.stats.invocations += 1;
        let previous = self.outstanding.insert(
            operation.process,
            Invocation {
                index: operation.index,
                time_ns: operation.time_ns,
                function: operation.function,
                group: operation.group,
                value: operation.value,
            },
        );
        assert!(
            previous.is_none(),
            "the reader rejects a second outstanding invocation"
        );
    }

    fn add_completion(&mut self, operation: Operation) {
        let outcome = match operation.kind {
            OperationType::Ok => Outcome::Ok,
            OperationType::Fail => Outcome::Fail,
            OperationType::Info => Outcome::Info,
            OperationType::Invoke => unreachable!("invocations are handled by add_invocation"),
        };
        match outcome {
            Outcome::Ok => self.model.stats.ok += 1,
            Outcome::Fail => self.model.stats.fail += 1,
            _ => self.model.stats.info += 1,
        }
        let Some(invocation) = self.outstanding.remove(&operation.process) else {
            // A standalone crash: nothing to record beyond the count.
            assert_eq!(
                operation.function,
                Function::Crash,
                "the reader pairs completions"
            );
            return;
        };
        self.add_event(
            operation.process,
            invocation,
            Some(operation.index),
            outcome,
            operation.group,
            operation.value,
        );
    }

    fn add_event(
        &mut self,
        process: u64,
        invocation: Invocation,
        complete_index: Option<u64>,
        outcome: Outcome,
        group: Option<String>,
        completed_value: OperationValue,
    ) {
        let group = group
            .or(invocation.group)
            .map(|name| intern(&mut self.group_ids, &name));
        let value = if outcome == Outcome::Ok {
            completed_value
        } else {
            invocation.value
        };
        let sends_start = self.model.sends.len() as u32;
        let reads_start = self.model.reads.len() as u32;
        let commits_start = self.model.commits.len() as u32;
        let assignment = self.record_value(invocation.function, outcome, &value);
        let event = Event {
            operation: OperationRef {
                index: complete_index,
                invoke_index: invocation.index,
                process,
                f: invocation.function,
                outcome,
            },
            process_slot: self.slot_of(process),
            group,
            invoke_time_ns: invocation.time_ns,
            sends: sends_start..self.model.sends.len() as u32,
            reads: reads_start..self.model.reads.len() as u32,
            commits: commits_start..self.model.commits.len() as u32,
            assignment,
        };
        self.model.events.push(event);
    }

    /// Appends the value's sends, reads and commits to the flat arrays.
    fn record_value(
        &mut self,
        function: Function,
        outcome: Outcome,
        value: &OperationValue,
    ) -> Option<AssignmentChange> {
        match value {
            OperationValue::Micro(micro_operations) => {
                for micro_operation in micro_operations {
                    self.record_micro_operation(outcome, micro_operation);
                }
                None
            }
            OperationValue::Keys(keys) if outcome == Outcome::Ok => match function {
                Function::Assign => Some(AssignmentChange::Assigned(self.record_keys(keys))),
                _ => Some(AssignmentChange::Subscribed),
            },
            OperationValue::Rebalance { assigned, .. } if outcome == Outcome::Ok => {
                Some(AssignmentChange::Rebalanced(self.record_keys(assigned)))
            }
            // An `info` commit's offsets too: the exactly-once verdict counts the polls below
            // them as possibly processed.
            OperationValue::Offsets(offsets) if matches!(outcome, Outcome::Ok | Outcome::Info) => {
                self.record_commits(offsets);
                None
            }
            OperationValue::Dump(dump) if outcome == Outcome::Ok => {
                for (node, logs) in dump {
                    let node = intern(&mut self.node_ids, node);
                    for (key, records) in logs {
                        let key = intern(&mut self.key_ids, key);
                        self.model
                            .dumped
                            .extend(records.iter().map(|&(offset, value)| DumpedRecord {
                                key,
                                value,
                                offset,
                                node,
                            }));
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn record_micro_operation(&mut self, outcome: Outcome, micro_operation: &MicroOperation) {
        match micro_operation {
            MicroOperation::Send { key, value, offset } => {
                let key = intern(&mut self.key_ids, key);
                let offset = if outcome == Outcome::Ok {
                    *offset
                } else {
                    None
                };
                self.model.sends.push(SendRecord {
                    key,
                    value: *value,
                    offset,
                });
            }
            MicroOperation::Poll { keys: Some(keys) } if outcome == Outcome::Ok => {
                for polled in keys {
                    let key = intern(&mut self.key_ids, &polled.key);
                    self.model.reads.extend(
                        polled.records.iter().map(|&(offset, value)| ReadRecord {
                            key,
                            offset,
                            value,
                        }),
                    );
                }
            }
            MicroOperation::Poll { .. } => {}
            // An `info` transaction's commits too, as an `info` commit's: the exactly-once
            // verdict counts the polls below them as possibly processed.
            MicroOperation::Commit { offsets } => {
                if matches!(outcome, Outcome::Ok | Outcome::Info) {
                    self.record_commits(offsets);
                }
            }
        }
    }

    fn record_commits(&mut self, offsets: &[(String, u64)]) {
        for (key, next_offset) in offsets {
            let key = intern(&mut self.key_ids, key);
            self.model.commits.push(CommitRecord {
                key,
                next_offset: *next_offset,
            });
        }
    }

    fn record_keys(&mut self, keys: &[String]) -> Range<u32> {
        let start = self.model.assigned_keys.len();
        for key in keys {
            let key = intern(&mut self.key_ids, key);
            self.model.assigned_keys.push(key);
        }
        self.model.assigned_keys[start..].sort_unstable();
        let mut end = start;
        for position in start..self.model.assigned_keys.len() {
            if end == start
                || self.model.assigned_keys[end - 1] != self.model.assigned_keys[position]
            {
                self.model.assigned_keys[end] = self.model.assigned_keys[position];
                end += 1;
            }
        }
        self.model.assigned_keys.truncate(end);
        start as u32..end as u32
    }

    fn slot_of(&mut self, process: u64) -> ProcessSlot {
        let next = self.process_slots.len() as ProcessSlot;
        *self.process_slots.entry(process).or_insert(next)
    }
}

fn intern(ids: &mut BTreeMap<String, u32>, name: &str) -> u32 {
    if let Some(&id) = ids.get(name) {
        return id;
    }
    let id = ids.len() as u32;
    ids.insert(name.to_string(), id);
    id
}

/// Turns a name -> dense id map into the id -> name table.
fn invert<T: Clone + Default>(ids: BTreeMap<T, u32>) -> Vec<T> {
    let mut names = vec![T::default(); ids.len()];
    for (name, id) in ids {
        names[id as usize] = name;
    }
    names
}
