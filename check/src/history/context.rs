//! What every analysis shares: the model, the version orders, and lookups from values to the
//! operations that wrote and read them.

use std::cell::OnceCell;

use super::anomaly::ReplicaCopy;
use super::config::{CheckConfig, RebalanceProtocol};
use super::model::{DumpedRecord, Event, EventId, KeyId, Model, OperationRef, Outcome};
use super::version_order::VersionOrders;

/// A `(key, value)` that was read, its first reader (in completion order) and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistinctRead {
    pub key: KeyId,
    pub value: i64,
    pub first_reader: EventId,
    pub offset: u64,
}

/// The shared, read-only state of one check.
#[derive(Debug)]
pub struct Context<'a> {
    pub model: &'a Model,
    pub orders: VersionOrders,
    /// Value -> the first operation that attempted to send it.
    writers: WriterIndex,
    /// `(key, value, reader, offset)` for every read, sorted.
    readers: Vec<(KeyId, i64, EventId, u64)>,
    /// Per event: whether it is known to have taken effect (`ok`, or an indeterminate write
    /// whose value someone read).
    committed: Vec<bool>,
    /// The model's dumped replica records sorted by (key, value, offset, node), made on first
    /// use: only witnesses of lost or unseen records look replicas up, and most checks find
    /// none, so most checks never pay for the sort.
    dumped_sorted: OnceCell<Vec<DumpedRecord>>,
}

impl<'a> Context<'a> {
    pub fn new(model: &'a Model) -> Self {
        let orders = VersionOrders::build(model);
        let writers = WriterIndex::build(model);
        let readers = collect_readers(model);
        let mut context = Self {
            model,
            orders,
            writers,
            readers,
            committed: Vec::new(),
            dumped_sorted: OnceCell::new(),
        };
        context.committed = context.compute_committed();
        context
    }

    pub fn event(&self, event: EventId) -> &Event {
        &self.model.events[event as usize]
    }

    pub fn operation(&self, event: EventId) -> OperationRef {
        self.event(event).operation
    }

    pub fn key_name(&self, key: KeyId) -> String {
        self.model.key_name(key).to_string()
    }

    /// The protocol the group of `event`'s process rebalances by.
    pub fn protocol_of(&self, config: &CheckConfig, event: &Event) -> RebalanceProtocol {
        config.protocol_of(event.group.map(|group| self.model.group_name(group)))
    }

    /// Where the replicas' dumped logs hold `value` of `key`.
    pub fn replica_copies(&self, key: KeyId, value: i64) -> Vec<ReplicaCopy> {
        let dumped = self.dumped_sorted.get_or_init(|| {
            let mut dumped = self.model.dumped.clone();
            dumped.sort_unstable();
            dumped
        });
        let start = dumped.partition_point(|record| (record.key, record.value) < (key, value));
        dumped[start..]
            .iter()
            .take_while(|record| (record.key, record.value) == (key, value))
            .map(|record| ReplicaCopy {
                node: self.model.node_names[record.node as usize].clone(),
                offset: record.offset,
            })
            .collect()
    }

    /// The operation that attempted to send `value`, if any.
    pub fn writer_of(&self, value: i64) -> Option<EventId> {
        self.writers.writer_of(value)
    }

    /// The first operation (in completion order) that read `value` from `key`.
    pub fn first_reader_of(&self, key: KeyId, value: i64) -> Option<EventId> {
        let position = self
            .readers
            .partition_point(|&(read_key, read_value, _, _)| (read_key, read_value) < (key, value));
        self.readers
            .get(position)
            .filter(|&&(read_key, read_value, _, _)| (read_key, read_value) == (key, value))
            .map(|&(_, _, reader, _)| reader)
    }

    /// Each distinct `(key, value)` read, with its first reader and the offset it was read at.
    pub fn distinct_reads(&self) -> impl Iterator<Item = DistinctRead> + '_ {
        self.readers
            .chunk_by(|left, right| (left.0, left.1) == (right.0, right.1))
            .map(|run| DistinctRead {
                key: run[0].0,
                value: run[0].1,
                first_reader: run[0].2,
                offset: run[0].3,
            })
    }

    pub fn was_read(&self, key: KeyId, value: i64) -> bool {
        self.first_reader_of(key, value).is_some()
    }

    /// Whether the operation is known to have taken effect: `ok`, or indeterminate with one of
    /// its sent values read by someone.
    pub fn is_committed(&self, event: EventId) -> bool {
        self.committed[event as usize]
    }

    fn compute_committed(&self) -> Vec<bool> {
        self.model
            .events
            .iter()
            .map(|event| match event.outcome() {
                Outcome::Ok => true,
                Outcome::Fail => false,
                Outcome::Info | Outcome::Pending => self
                    .model
                    .sends_of(event)
                    .iter()
                    .any(|send| self.was_read(send.key, send.value)),
            })
            .collect()
    }
}

/// Value -> writer. Workloads number their values densely, so a table indexed by value is the
/// common case (one memory access per lookup); sparse values fall back to a sorted list.
#[derive(Debug)]
enum WriterIndex {
    Dense {
        minimum: i64,
        /// `writers[value - minimum]`, or [`NO_WRITER`].
        writers: Vec<EventId>,
    },
    Sparse(Vec<(i64, EventId)>),
}

const NO_WRITER: EventId = EventId::MAX;
/// A dense table may hold at most this many slots per value written (plus a constant).
const DENSE_SLOTS_PER_VALUE_MAX: i128 = 4;

impl WriterIndex {
    fn build(model: &Model) -> Self {
        let values = || model.sends.iter().map(|send| send.value);
        let (Some(minimum), Some(maximum)) = (values().min(), values().max()) else {
            return Self::Sparse(Vec::new());
        };
        let span = i128::from(maximum) - i128::from(minimum) + 1;
        let dense_limit = DENSE_SLOTS_PER_VALUE_MAX * model.sends.len() as i128 + 1024;
        if span > dense_limit {
            return Self::Sparse(collect_writers(model));
        }
        let mut writers = vec![NO_WRITER; span as usize];
        for (event_id, event) in model.events.iter().enumerate() {
            for send in model.sends_of(event) {
                let slot = &mut writers[(i128::from(send.value) - i128::from(minimum)) as usize];
                if *slot == NO_WRITER {
                    *slot = event_id as EventId;
                }
            }
        }
        Self::Dense { minimum, writers }
    }

    fn writer_of(&self, value: i64) -> Option<EventId> {
        match self {
            Self::Dense { minimum, writers } => {
                let slot = i128::from(value) - i128::from(*minimum);
                let slot = usize::try_from(slot).ok()?;
                writers
                    .get(slot)
                    .copied()
                    .filter(|&writer| writer != NO_WRITER)
            }
            Self::Sparse(writers) => {
                let position = writers.partition_point(|&(written, _)| written < value);
                writers
                    .get(position)
                    .filter(|&&(written, _)| written == value)
                    .map(|&(_, writer)| writer)
            }
        }
    }
}

fn collect_writers(model: &Model) -> Vec<(i64, EventId)> {
    let mut writers: Vec<(i64, EventId)> = model
        .events
        .iter()
        .enumerate()
        .flat_map(|(event_id, event)| {
            model
                .sends_of(event)
                .iter()
                .map(move |send| (send.value, event_id as EventId))
        })
        .collect();
    writers.sort_unstable();
    writers
}

fn collect_readers(model: &Model) -> Vec<(KeyId, i64, EventId, u64)> {
    let mut readers: Vec<(KeyId, i64, EventId, u64)> = model
        .events
        .iter()
        .enumerate()
        .flat_map(|(event_id, event)| {
            model
                .reads_of(event)
                .iter()
                .map(move |read| (read.key, read.value, event_id as EventId, read.offset))
        })
        .collect();
    readers.sort_unstable();
    readers
}
