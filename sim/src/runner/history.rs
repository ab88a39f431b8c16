//! From what the clients reported to a history: `check`'s operations, and the lines of a
//! `history.jsonl` file (shared/design/HISTORY.md).
//!
//! Keys are `"topic/partition"`; values are the workload's unique u64s. Operations are indexed
//! in the order the simulator observed them, which is the order they happened (the simulator
//! processes events in time order), so the history's times never decrease.

use std::collections::BTreeMap;

use broker::client::history::{ClientEvent, ClientOperation, EventKind, PolledRecords, SentRecord};
use check::history::{
    Function, MicroOperation, Operation, OperationType, OperationValue, PolledKey,
};

/// The most operations one run records. The scenario format bounds the workload well below it;
/// reaching it is a bug in that bound.
pub const HISTORY_OPERATIONS_MAX: usize = 20_000_000;

/// The history key of a partition.
pub fn history_key(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

/// Records client events as history operations.
///
/// HISTORY.md (after Jepsen): a process whose operation ended `info` is considered crashed and is
/// never used again. A client goes on after an indeterminate outcome, so from then on its
/// operations are recorded under a fresh process id, allocated above every client's and the
/// dump's own.
#[derive(Debug, Default)]
pub struct HistoryRecorder {
    operations: Vec<Operation>,
    /// Client process id -> the history process it records under now.
    current_process: BTreeMap<u64, u64>,
    /// Client process id -> the index of its invocation still open.
    open: BTreeMap<u64, usize>,
    next_spare_process: u64,
    /// Every key made so far, by topic then partition ([`HistoryKeys`]).
    keys: HistoryKeys,
}

/// The `"topic/partition"` strings made so far. Client events name the same few partitions over
/// and over; copying a made key costs a tenth of formatting it again (formatting was about 4% of
/// a campaign seed). Bounded by the topics and partitions of the run.
#[derive(Debug, Default)]
struct HistoryKeys {
    by_topic: BTreeMap<String, Vec<Option<String>>>,
}

impl HistoryKeys {
    /// [`history_key`]`(topic, partition)`.
    fn key(&mut self, topic: &str, partition: u32) -> String {
        let slots = match self.by_topic.get_mut(topic) {
            Some(slots) => slots,
            None => self.by_topic.entry(topic.to_owned()).or_default(),
        };
        let index = partition as usize;
        if slots.len() <= index {
            slots.resize(index + 1, None);
        }
        slots[index]
            .get_or_insert_with(|| history_key(topic, partition))
            .clone()
    }
}

impl HistoryRecorder {
    /// A recorder for clients whose process ids are below `first_spare_process`.
    pub fn new(first_spare_process: u64) -> HistoryRecorder {
        HistoryRecorder {
            next_spare_process: first_spare_process,
            ..HistoryRecorder::default()
        }
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Every operation, leaving none: for the final checks, once nothing more is recorded.
    pub fn take_operations(&mut self) -> Vec<Operation> {
        self.open.clear();
        std::mem::take(&mut self.operations)
    }

    /// Whether some client's send or transaction is invoked and not yet completed.
    pub fn has_open_sends(&self) -> bool {
        self.open.values().any(|&index| {
            matches!(
                self.operations[index].function,
                Function::Send | Function::Txn
            )
        })
    }

    pub fn into_operations(self) -> Vec<Operation> {
        self.operations
    }

    fn push(
        &mut self,
        time_ns: u64,
        process: u64,
        kind: OperationType,
        function: Function,
        value: OperationValue,
    ) {
        self.push_in_group(time_ns, process, kind, function, None, value);
    }

    fn push_in_group(
        &mut self,
        time_ns: u64,
        process: u64,
        kind: OperationType,
        function: Function,
        group: Option<String>,
        value: OperationValue,
    ) {
        assert!(
            self.operations.len() < HISTORY_OPERATIONS_MAX,
            "history exceeded {HISTORY_OPERATIONS_MAX} operations"
        );
        let index = self.operations.len() as u64;
        debug_assert!(
            self.operations
                .last()
                .is_none_or(|last| last.time_ns <= time_ns),
            "history time went backwards"
        );
        self.operations.push(Operation {
            index,
            time_ns,
            process,
            kind,
            function,
            group,
            value,
        });
    }

    /// Records one client event, observed at `time_ns`.
    pub fn record(&mut self, time_ns: u64, event: &ClientEvent) {
        let kind = operation_type(event.kind);
        let (function, value) = function_and_value(&mut self.keys, event);
        let process = self.process_of(event.process);
        if event.kind == EventKind::Invoke {
            self.open.insert(event.process, self.operations.len());
        } else {
            self.open.remove(&event.process);
        }
        self.push_in_group(time_ns, process, kind, function, event.group.clone(), value);
        if event.kind == EventKind::Info {
            self.current_process
                .insert(event.process, self.next_spare_process);
            self.next_spare_process += 1;
        }
    }

    fn process_of(&self, client_process: u64) -> u64 {
        self.current_process
            .get(&client_process)
            .copied()
            .unwrap_or(client_process)
    }

    /// A client crashed (the script crashed a producer or consumer). Its open operation completes
    /// `info` (it may or may not have happened); with none open, the crash is recorded as a
    /// standalone `info` `crash` (HISTORY.md). Either way the process is crashed, and the client
    /// records under a fresh process from now on, as a restarted client is a new process.
    pub fn crash_process(&mut self, time_ns: u64, client_process: u64) {
        match self.open.remove(&client_process) {
            Some(open) => {
                let invocation = self.operations[open].clone();
                self.push_in_group(
                    time_ns,
                    invocation.process,
                    OperationType::Info,
                    invocation.function,
                    invocation.group,
                    OperationValue::Null,
                );
            }
            None => self.push(
                time_ns,
                self.process_of(client_process),
                OperationType::Info,
                Function::Crash,
                OperationValue::Null,
            ),
        }
        self.current_process
            .insert(client_process, self.next_spare_process);
        self.next_spare_process += 1;
    }

    /// Records the final `debug-topic-partitions` dump: every broker's replica logs, as read
    /// directly from the replicas. An invocation and its completion, from its own process.
    pub fn record_dump(
        &mut self,
        time_ns: u64,
        process: u64,
        logs: BTreeMap<String, BTreeMap<String, Vec<(u64, u64)>>>,
    ) {
        let dump = logs
            .into_iter()
            .map(|(node, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(key, records)| {
                        (
                            key,
                            records
                                .into_iter()
                                .map(|(offset, value)| (offset, value_of(value)))
                                .collect(),
                        )
                    })
                    .collect();
                (node, partitions)
            })
            .collect();
        let function = Function::DebugTopicPartitions;
        self.push(
            time_ns,
            process,
            OperationType::Invoke,
            function,
            OperationValue::Null,
        );
        self.push(
            time_ns,
            process,
            OperationType::Ok,
            function,
            OperationValue::Dump(dump),
        );
    }

    /// The history as `history.jsonl` lines.
    pub fn lines(&self) -> Vec<String> {
        self.operations
            .iter()
            .map(|operation| check::history::writer::operation_json(operation).to_string())
            .collect()
    }
}

/// The history's function and value for a client event's operation, its topics and partitions
/// named by their history keys. An invoked poll has no value yet.
fn function_and_value(keys: &mut HistoryKeys, event: &ClientEvent) -> (Function, OperationValue) {
    match &event.operation {
        ClientOperation::Send(records) => {
            (Function::Send, OperationValue::Micro(sends(keys, records)))
        }
        ClientOperation::Txn(records) => {
            (Function::Txn, OperationValue::Micro(sends(keys, records)))
        }
        ClientOperation::Poll(polled) => {
            let keys = (event.kind != EventKind::Invoke).then(|| polled_keys(keys, polled));
            (
                Function::Poll,
                OperationValue::Micro(vec![MicroOperation::Poll { keys }]),
            )
        }
        ClientOperation::Assign(partitions) => {
            let keys = partitions
                .iter()
                .map(|(topic, partition)| keys.key(topic, *partition))
                .collect();
            (Function::Assign, OperationValue::Keys(keys))
        }
        ClientOperation::Subscribe(topics) => {
            (Function::Subscribe, OperationValue::Keys(topics.clone()))
        }
        ClientOperation::Rebalance(None) => (Function::Rebalance, OperationValue::Null),
        ClientOperation::Rebalance(Some((generation, assigned))) => (
            Function::Rebalance,
            OperationValue::Rebalance {
                generation: *generation,
                assigned: assigned
                    .iter()
                    .map(|(topic, partition)| keys.key(topic, *partition))
                    .collect(),
            },
        ),
        ClientOperation::Commit(offsets) => (
            Function::Commit,
            OperationValue::Offsets(keyed_offsets(keys, offsets)),
        ),
        ClientOperation::TxnCommit { sent, offsets } => {
            let mut micro = sends(keys, sent);
            micro.push(MicroOperation::Commit {
                offsets: keyed_offsets(keys, offsets),
            });
            (Function::Txn, OperationValue::Micro(micro))
        }
    }
}

/// What a poll read, per partition: offsets and values.
fn polled_keys(keys: &mut HistoryKeys, polled: &[PolledRecords]) -> Vec<PolledKey> {
    polled
        .iter()
        .map(|partition| PolledKey {
            key: keys.key(&partition.topic, partition.partition),
            records: partition
                .records
                .iter()
                .map(|&(offset, value)| (offset, value_of(value)))
                .collect(),
        })
        .collect()
}

/// A send micro-operation per record.
fn sends(keys: &mut HistoryKeys, records: &[SentRecord]) -> Vec<MicroOperation> {
    records
        .iter()
        .map(|record| MicroOperation::Send {
            key: keys.key(&record.topic, record.partition),
            value: value_of(record.value),
            offset: record.offset,
        })
        .collect()
}

/// Committed offsets as history keys: `(key, next offset)`.
fn keyed_offsets(keys: &mut HistoryKeys, offsets: &[(String, u32, u64)]) -> Vec<(String, u64)> {
    offsets
        .iter()
        .map(|(topic, partition, offset)| (keys.key(topic, *partition), *offset))
        .collect()
}

fn operation_type(kind: EventKind) -> OperationType {
    match kind {
        EventKind::Invoke => OperationType::Invoke,
        EventKind::Ok => OperationType::Ok,
        EventKind::Fail => OperationType::Fail,
        EventKind::Info => OperationType::Info,
    }
}

fn value_of(value: u64) -> i64 {
    i64::try_from(value).expect("workload values stay below 2^63")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_keys_are_the_formatted_keys_whatever_the_order_asked() {
        let mut keys = HistoryKeys::default();
        let asked = [
            ("orders", 3),
            ("orders", 0),
            ("b", 7),
            ("orders", 3),
            ("b", 0),
        ];
        for (topic, partition) in asked {
            assert_eq!(keys.key(topic, partition), history_key(topic, partition));
        }
        assert_eq!(keys.key("orders", 3), "orders/3");
        assert_eq!(keys.by_topic.len(), 2);
    }

    fn send(process: u64, kind: EventKind, value: u64, offset: Option<u64>) -> ClientEvent {
        ClientEvent {
            process,
            group: None,
            kind,
            operation: ClientOperation::Send(vec![SentRecord {
                topic: "orders".into(),
                partition: 0,
                value,
                offset,
            }]),
        }
    }

    /// The recorded history as the strict reader sees it: `(process, type, f)` per operation.
    fn read_back(recorder: &HistoryRecorder) -> Vec<(u64, OperationType, Function)> {
        let mut lines = Vec::new();
        for operation in recorder.operations() {
            check::history::write_operation(&mut lines, operation).expect("writes to memory");
        }
        let mut reader = check::history::HistoryReader::new(lines.as_slice());
        let mut read = Vec::new();
        while let Some(operation) = reader.read_operation().expect("a valid history") {
            read.push((operation.process, operation.kind, operation.function));
        }
        read
    }

    #[test]
    fn a_client_crashed_between_operations_gets_a_standalone_crash_then_a_fresh_process() {
        let mut recorder = HistoryRecorder::new(10);
        recorder.record(1, &send(0, EventKind::Invoke, 7, None));
        recorder.record(2, &send(0, EventKind::Ok, 7, Some(0)));
        recorder.crash_process(3, 0);
        recorder.record(4, &send(0, EventKind::Invoke, 8, None));
        assert_eq!(
            read_back(&recorder),
            [
                (0, OperationType::Invoke, Function::Send),
                (0, OperationType::Ok, Function::Send),
                (0, OperationType::Info, Function::Crash),
                (10, OperationType::Invoke, Function::Send),
            ]
        );
        assert_eq!(recorder.operations()[2].value, OperationValue::Null);
    }

    #[test]
    fn a_client_crashed_mid_operation_completes_it_info_and_records_no_separate_crash() {
        let mut recorder = HistoryRecorder::new(10);
        recorder.record(1, &send(0, EventKind::Invoke, 7, None));
        recorder.crash_process(2, 0);
        recorder.crash_process(3, 0);
        assert_eq!(
            read_back(&recorder),
            [
                (0, OperationType::Invoke, Function::Send),
                (0, OperationType::Info, Function::Send),
                (10, OperationType::Info, Function::Crash),
            ],
            "the second crash finds the fresh process idle"
        );
    }
}
