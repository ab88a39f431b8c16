//! Records and record batches: the unit a partition log stores, replicates and serves.
//!
//! A [`Record`] is a small concrete value rather than bytes: Trial's workload writes u64 values that
//! are unique per run (so the checkers can tell every record apart) under small integer keys (the
//! producer's partitioner hashes them). The broker never interprets either; a string key in a
//! scenario is mapped to a u64 by the workload before it reaches the broker.
//!
//! A [`RecordBatch`] is what a leader appends for one produce request: one or more records at dense
//! offsets `base_offset..end_offset()`, all stamped with the leader epoch of the leader that
//! appended them (KIP-101: the epoch travels with the data, so every replica can rebuild the epoch
//! history from its log alone). Invariant: a batch is never empty.
//!
//! A batch from an idempotent producer also carries its [`ProducerStamp`] (KIP-98): the producer
//! id and epoch, and the sequence numbers of its records, so that every replica can rebuild the
//! producers' state from its log alone (`super::producers`).
//!
//! A transactional producer's batch is marked as part of a transaction ([`BatchTransaction`]),
//! and a transaction ends with a marker: a control batch of one record that says whether it
//! committed or aborted ([`TransactionMarker`]). Markers occupy offsets like records do, and
//! consumers never see them. Every replica rebuilds the partition's transactions from its log
//! alone (`super::transactions`).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One record: an opaque value under an optional key.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Record {
    /// The partitioning key; `None` for unkeyed records (spread round-robin by the producer).
    pub key: Option<u64>,
    /// The payload. Trial's workload makes it unique per run.
    pub value: u64,
}

/// Records at dense offsets, all appended by the leader of one leader epoch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordBatch {
    /// Offset of the first record; record `i` sits at `base_offset + i`.
    pub base_offset: u64,
    /// Leader epoch of the leader that appended the batch (KIP-101).
    pub leader_epoch: u64,
    /// At least one record.
    pub records: SharedRecords,
    /// The idempotent producer's stamp, if an idempotent producer sent the records; with the
    /// batch's part in a transaction ([`RecordBatch::transaction`]).
    #[serde(default, skip_serializing_if = "ProducerStamp::is_none")]
    pub producer: ProducerStamp,
}

/// A batch's part in a transaction (KIP-98). Carried in the producer's stamp, whose padding it
/// fits in: batches are stored by value in every log and its image, and moved in every message
/// that carries them, so their size is their cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchTransaction {
    /// Not part of a transaction.
    #[default]
    None,
    /// Records of the transaction the stamped producer has open.
    Data,
    /// The control batch that ends the stamped producer's transaction: one record, whose key is
    /// the outcome and whose value the coordinator's epoch ([`RecordBatch::transaction_marker`]).
    Marker,
}

impl BatchTransaction {
    pub fn is_none(&self) -> bool {
        matches!(self, BatchTransaction::None)
    }
}

/// Hashes to nothing when `None`, so that runs without transactions keep the trace digests they
/// had before the broker knew transactions (a produce request carries one per partition).
impl std::hash::Hash for BatchTransaction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            BatchTransaction::None => {}
            BatchTransaction::Data => state.write_u8(1),
            BatchTransaction::Marker => state.write_u8(2),
        }
    }
}

/// The end of a producer's transaction in one partition, written by the partition's leader at
/// the transaction coordinator's request (Kafka's WriteTxnMarkers). Fences the producer's older
/// epochs: a marker written for a bumped epoch (a coordinator that aborted a zombie's
/// transaction) makes the partition refuse the zombie's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionMarker {
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub outcome: TransactionOutcome,
    /// The epoch of the coordinator that wrote it (its transaction log partition's leader epoch):
    /// a partition refuses markers from a coordinator older than one it took a marker from.
    pub coordinator_epoch: u64,
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionOutcome {
    Commit,
    Abort,
}

impl TransactionOutcome {
    /// The key of a marker's record (Kafka's control record types: ABORT 0, COMMIT 1).
    pub fn code(self) -> u64 {
        match self {
            TransactionOutcome::Abort => 0,
            TransactionOutcome::Commit => 1,
        }
    }

    pub fn from_code(code: u64) -> Option<TransactionOutcome> {
        match code {
            0 => Some(TransactionOutcome::Abort),
            1 => Some(TransactionOutcome::Commit),
            _ => None,
        }
    }
}

/// Which idempotent producer sent a batch, and the sequence numbers of its records (KIP-98).
///
/// A producer numbers its records per partition from 0; a batch it sends carries the number of
/// its first record, `batch_first_sequence`. A batch cut into pieces on its way between replicas
/// (a fetch answered with fewer records) keeps that number in every piece, and each piece's
/// first record has `base_sequence`, so that every replica knows the producer's batches whatever
/// the pieces it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProducerSequence {
    pub producer_id: u64,
    pub producer_epoch: u16,
    /// The sequence number of the first record of the batch the producer sent.
    pub batch_first_sequence: u32,
    /// The sequence number of this batch's first record (`batch_first_sequence` in a whole batch).
    pub base_sequence: u32,
    /// The batch's part in a transaction (a marker's sequence numbers mean nothing).
    #[serde(default, skip_serializing_if = "BatchTransaction::is_none")]
    pub transaction: BatchTransaction,
}

/// Field by field, so that `transaction` hashes to nothing when `None` (see its `Hash`) and an
/// idempotent producer's batches keep the digests they had before transactions.
impl std::hash::Hash for ProducerSequence {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.producer_id.hash(state);
        self.producer_epoch.hash(state);
        self.batch_first_sequence.hash(state);
        self.base_sequence.hash(state);
        self.transaction.hash(state);
    }
}

/// A batch's [`ProducerSequence`], or none (a producer that is not idempotent).
///
/// Hashes to nothing when absent, so that runs without idempotent producers keep the trace
/// digests they had before producers could be idempotent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProducerStamp(pub Option<ProducerSequence>);

impl ProducerStamp {
    pub const NONE: ProducerStamp = ProducerStamp(None);

    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The stamp of the part of a batch that starts `records_skipped` records into it.
    pub fn skipping(self, records_skipped: u64) -> ProducerStamp {
        ProducerStamp(self.0.map(|sequence| {
            let skipped = u32::try_from(records_skipped).expect("a batch holds fewer than 2^32");
            ProducerSequence {
                base_sequence: sequence
                    .base_sequence
                    .checked_add(skipped)
                    .expect("sequence numbers of a batch fit in u32"),
                ..sequence
            }
        }))
    }
}

impl std::hash::Hash for ProducerStamp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if let Some(sequence) = &self.0 {
            sequence.hash(state);
        }
    }
}

/// The records of a batch, shared instead of copied: one appended batch sits in the leader's
/// log, its disk write and durable image, every fetch answer that carries it whole, and each
/// follower's log, write and image. Cloning bumps a reference count. Reads as a slice; compares,
/// hashes (the trace digest included), prints and serialises exactly as a `Vec<Record>` does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedRecords(Arc<[Record]>);

impl Deref for SharedRecords {
    type Target = [Record];

    fn deref(&self) -> &[Record] {
        &self.0
    }
}

impl From<Vec<Record>> for SharedRecords {
    fn from(records: Vec<Record>) -> Self {
        SharedRecords(records.into())
    }
}

impl FromIterator<Record> for SharedRecords {
    /// One allocation when the iterator knows its length exactly (as slice iterators do).
    fn from_iter<I: IntoIterator<Item = Record>>(records: I) -> Self {
        SharedRecords(records.into_iter().collect())
    }
}

impl From<&[Record]> for SharedRecords {
    fn from(records: &[Record]) -> Self {
        SharedRecords(records.into())
    }
}

impl fmt::Debug for SharedRecords {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl Serialize for SharedRecords {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedRecords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Record>::deserialize(deserializer).map(SharedRecords::from)
    }
}

impl RecordBatch {
    /// A batch of `records` starting at `base_offset`. Panics on an empty batch.
    pub fn new(base_offset: u64, leader_epoch: u64, records: impl Into<SharedRecords>) -> Self {
        let records = records.into();
        assert!(!records.is_empty(), "a record batch is never empty");
        Self {
            base_offset,
            leader_epoch,
            records,
            producer: ProducerStamp::NONE,
        }
    }

    /// The control batch of one record that holds `marker`.
    pub fn marker(base_offset: u64, leader_epoch: u64, marker: TransactionMarker) -> Self {
        let record = Record {
            key: Some(marker.outcome.code()),
            value: marker.coordinator_epoch,
        };
        let stamp = ProducerSequence {
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            batch_first_sequence: 0,
            base_sequence: 0,
            transaction: BatchTransaction::Marker,
        };
        RecordBatch::new(base_offset, leader_epoch, vec![record])
            .with_producer(ProducerStamp(Some(stamp)))
    }

    /// The batch, stamped by an idempotent producer.
    pub fn with_producer(self, producer: ProducerStamp) -> Self {
        RecordBatch { producer, ..self }
    }

    /// The batch, as part of a transaction's records (or not): only a stamped batch can be.
    pub fn with_transaction(mut self, transaction: BatchTransaction) -> Self {
        assert_ne!(
            transaction,
            BatchTransaction::Marker,
            "markers are made by RecordBatch::marker"
        );
        match &mut self.producer.0 {
            Some(sequence) => sequence.transaction = transaction,
            None => assert!(
                transaction.is_none(),
                "a transaction's records carry their producer's stamp"
            ),
        }
        self
    }

    /// The batch's part in a transaction.
    pub fn transaction(&self) -> BatchTransaction {
        self.producer
            .0
            .map_or(BatchTransaction::None, |sequence| sequence.transaction)
    }

    /// The marker this control batch holds, if it is one.
    pub fn transaction_marker(&self) -> Option<TransactionMarker> {
        let sequence = self.producer.0?;
        if sequence.transaction != BatchTransaction::Marker {
            return None;
        }
        let [record] = &self.records[..] else {
            panic!("a marker is one record: {self:?}");
        };
        let outcome = record
            .key
            .and_then(TransactionOutcome::from_code)
            .unwrap_or_else(|| panic!("a marker's key is its outcome: {self:?}"));
        Some(TransactionMarker {
            producer_id: sequence.producer_id,
            producer_epoch: sequence.producer_epoch,
            outcome,
            coordinator_epoch: record.value,
        })
    }

    /// Whether consumers see the batch's records (markers are control records, never returned).
    pub fn is_control(&self) -> bool {
        self.transaction_marker().is_some()
    }

    /// Number of records in the batch.
    pub fn record_count(&self) -> u64 {
        self.records.len() as u64
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> u64 {
        debug_assert!(!self.records.is_empty(), "a record batch is never empty");
        self.end_offset() - 1
    }

    /// Offset just past the last record (the log end offset once the batch is appended).
    pub fn end_offset(&self) -> u64 {
        self.base_offset + self.record_count()
    }

    /// Whether `offset` falls inside the batch.
    pub fn contains(&self, offset: u64) -> bool {
        self.base_offset <= offset && offset < self.end_offset()
    }

    /// The record at `offset`, if the batch holds it.
    pub fn record_at(&self, offset: u64) -> Option<&Record> {
        if !self.contains(offset) {
            return None;
        }
        self.records.get((offset - self.base_offset) as usize)
    }

    /// Every record with its offset, in offset order.
    pub fn records_with_offsets(&self) -> impl Iterator<Item = (u64, &Record)> + '_ {
        (self.base_offset..).zip(self.records.iter())
    }

    /// The part of the batch in `start_offset..end_offset`, keeping offsets and epoch. Both bounds
    /// must cut the batch to at least one record.
    pub fn slice(&self, start_offset: u64, end_offset: u64) -> RecordBatch {
        let (start, end) = self.slice_bounds(start_offset, end_offset);
        if (start, end) == (self.base_offset, self.end_offset()) {
            return self.clone(); // The whole batch: its records are shared, not copied.
        }
        let first = (start - self.base_offset) as usize;
        let last = (end - self.base_offset) as usize;
        RecordBatch::new(start, self.leader_epoch, &self.records[first..last])
            .with_producer(self.producer.skipping(start - self.base_offset))
    }

    /// How many records [`RecordBatch::slice`] would keep, without building the slice.
    pub fn slice_record_count(&self, start_offset: u64, end_offset: u64) -> u64 {
        let (start, end) = self.slice_bounds(start_offset, end_offset);
        end - start
    }

    fn slice_bounds(&self, start_offset: u64, end_offset: u64) -> (u64, u64) {
        let start = start_offset.max(self.base_offset);
        let end = end_offset.min(self.end_offset());
        assert!(
            start < end,
            "slice {start_offset}..{end_offset} of batch {}..{} holds no record",
            self.base_offset,
            self.end_offset()
        );
        (start, end)
    }
}

#[cfg(test)]
impl RecordBatch {
    /// Producer `producer_id`'s transactional `records` (epoch 0, numbered from 0), in leader
    /// epoch 1: the batch the transaction tests build.
    pub(crate) fn transactional(base_offset: u64, producer_id: u64, records: Vec<Record>) -> Self {
        let sequence = ProducerSequence {
            producer_id,
            producer_epoch: 0,
            batch_first_sequence: 0,
            base_sequence: 0,
            transaction: BatchTransaction::None,
        };
        RecordBatch::new(base_offset, 1, records)
            .with_producer(ProducerStamp(Some(sequence)))
            .with_transaction(BatchTransaction::Data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(batch: &RecordBatch) -> Vec<u64> {
        batch.records.iter().map(|record| record.value).collect()
    }

    fn batch(base_offset: u64, leader_epoch: u64, values: &[u64]) -> RecordBatch {
        let records: Vec<Record> = values
            .iter()
            .map(|value| Record {
                key: None,
                value: *value,
            })
            .collect();
        RecordBatch::new(base_offset, leader_epoch, records)
    }

    #[test]
    fn offsets_are_dense_from_the_base() {
        let batch = batch(10, 2, &[7, 8, 9]);
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.last_offset(), 12);
        assert_eq!(batch.end_offset(), 13);
        assert!(batch.contains(10) && batch.contains(12));
        assert!(!batch.contains(9) && !batch.contains(13));
        assert_eq!(batch.record_at(11).map(|record| record.value), Some(8));
        assert_eq!(batch.record_at(13), None);
        let offsets: Vec<u64> = batch
            .records_with_offsets()
            .map(|(offset, _)| offset)
            .collect();
        assert_eq!(offsets, vec![10, 11, 12]);
    }

    #[test]
    fn slice_keeps_offsets_and_epoch() {
        let batch = batch(10, 2, &[7, 8, 9, 10]);
        let middle = batch.slice(11, 13);
        assert_eq!((middle.base_offset, middle.leader_epoch), (11, 2));
        assert_eq!(values(&middle), vec![8, 9]);
        let clamped = batch.slice(0, 100);
        assert_eq!(clamped, batch);
    }

    /// Runs without transactions keep the digests they had before there were any: a batch, a
    /// stamp and a produce part outside a transaction hash as they did without the field.
    #[test]
    fn no_transaction_hashes_to_nothing() {
        use crate::digest::digest_of;
        assert_eq!(digest_of(&BatchTransaction::None), digest_of(&()));
        assert_ne!(digest_of(&BatchTransaction::Data), digest_of(&()));
        let sequence = ProducerSequence {
            producer_id: 7,
            producer_epoch: 1,
            batch_first_sequence: 2,
            base_sequence: 3,
            transaction: BatchTransaction::None,
        };
        assert_eq!(digest_of(&sequence), digest_of(&(7u64, 1u16, 2u32, 3u32)));
    }

    #[test]
    #[should_panic(expected = "never empty")]
    fn empty_batch_is_a_bug() {
        RecordBatch::new(0, 0, Vec::new());
    }

    #[test]
    #[should_panic(expected = "holds no record")]
    fn empty_slice_is_a_bug() {
        batch(10, 2, &[7]).slice(11, 12);
    }
}
