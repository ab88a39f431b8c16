//! One replica's log of one partition: batches, epoch cache, high watermark.
//!
//! Every change goes through a method that checks its preconditions, applies the change to the
//! log's own copy of what it has written ([`LogImage`], so the live log and the disk change by the
//! same code) and returns the [`LogWrite`] the node must persist. [`PartitionLog::recover`]
//! rebuilds the log from a durable image.
//!
//! Invariants (the cheap ones asserted after every change, all of them by
//! [`PartitionLog::check_invariants_deep`]):
//! - offsets are dense from the log start offset to the log end offset (LEO);
//! - leader epochs never decrease along the log, and the epoch cache is exactly what the batches
//!   imply (KIP-101);
//! - the idempotent producers' state is what the batches imply (`super::producers`), and so are
//!   the transactions (`super::transactions`);
//! - `log start offset <= high watermark <= LEO`: a replica never exposes what it does not hold.
//!   Truncation clamps the HW (a follower can hold a HW above the divergence point after a
//!   leader lost records it had counted, KIP-101 scenario 2); recovery clamps the checkpoint.

use thiserror::Error;

use super::divergence::{
    DivergenceError, DivergenceNext, DivergenceRound, TruncationStep, truncation_step,
};
use super::epoch_cache::{EpochCache, EpochEndOffset};
use super::image::{LogImage, LogWrite};
use super::limits::LogLimits;
use super::producers::ProducerStates;
use super::record::{
    BatchTransaction, ProducerStamp, Record, RecordBatch, SharedRecords, TransactionMarker,
};
use super::transactions::{AbortedTransaction, TransactionStates};

/// A refused append. The node answers the producer or drops the fetch response.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum AppendError {
    #[error("a batch must hold at least one record")]
    EmptyBatch,
    #[error("batch of {records} records exceeds limits.batch_records_max ({max})")]
    BatchTooLarge { records: u64, max: u64 },
    #[error("log of {records} records cannot take {appended} more (limits.log_records_max {max})")]
    LogFull {
        records: u64,
        appended: u64,
        max: u64,
    },
    /// A follower got a batch that does not start at its log end offset (a duplicated or delayed
    /// fetch response; Kafka's `UnexpectedAppendOffsetException`).
    #[error("batch at offset {base_offset} does not start at the log end offset {log_end_offset}")]
    UnexpectedBaseOffset {
        base_offset: u64,
        log_end_offset: u64,
    },
    /// A follower got a batch of an epoch older than its latest one: its log and the leader's
    /// diverge (possible only with a bug switch on, or a fetch from a stale leader).
    #[error(
        "batch at offset {base_offset} has epoch {leader_epoch} below the latest {latest_epoch}"
    )]
    LeaderEpochBelowLatest {
        base_offset: u64,
        leader_epoch: u64,
        latest_epoch: u64,
    },
}

/// A refused read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum ReadError {
    /// Kafka's `OFFSET_OUT_OF_RANGE`: the offset is below the log start or past the log end.
    #[error("offset {offset} outside {log_start_offset}..={log_end_offset}")]
    OffsetOutOfRange {
        offset: u64,
        log_start_offset: u64,
        log_end_offset: u64,
    },
}

/// A leader's append: where it landed and the write to persist.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Appended {
    pub base_offset: u64,
    /// The log end offset after the append (one past the batch's last record).
    pub log_end_offset: u64,
    pub write: LogWrite,
}

/// One replica's log of one partition. See the module docs for its invariants.
#[derive(Clone, Debug)]
pub struct PartitionLog {
    /// Everything written so far, synced or not.
    image: LogImage,
    epochs: EpochCache,
    high_watermark: u64,
    limits: LogLimits,
    /// The idempotent producers the batches imply (rebuilt from them on truncation and recovery).
    producers: ProducerStates,
    /// The transactions the batches imply (rebuilt the same way).
    transactions: TransactionStates,
    /// Counts the changes to the records (appends, truncations, log start moves); not part of
    /// the log's value (two logs holding the same records are equal whatever their histories).
    records_version: u64,
}

impl PartialEq for PartitionLog {
    fn eq(&self, other: &Self) -> bool {
        self.image == other.image
            && self.epochs == other.epochs
            && self.high_watermark == other.high_watermark
            && self.limits == other.limits
    }
}

impl Eq for PartitionLog {}

impl PartitionLog {
    /// An empty log at offset 0. Panics on invalid limits (validate configs when they are built).
    pub fn new(limits: LogLimits) -> Self {
        Self::recover(&LogImage::default(), limits)
    }

    /// Rebuilds the log from what its disk durably holds: the batches, the epoch cache they imply,
    /// and the high watermark checkpoint clamped into `log start..=LEO` (the checkpoint may have
    /// reached the disk while the records it covered did not).
    pub fn recover(image: &LogImage, limits: LogLimits) -> Self {
        assert_eq!(limits.validate(), Ok(()), "invalid log limits {limits:?}");
        image.batch_log.assert_invariants();
        let log_start_offset = image.log_start_offset();
        let log_end_offset = image.log_end_offset();
        let high_watermark = image
            .high_watermark_checkpoint()
            .clamp(log_start_offset, log_end_offset);
        let log = Self {
            image: image.clone(),
            epochs: EpochCache::from_batches(log_start_offset, image.batches()),
            high_watermark,
            limits,
            producers: ProducerStates::from_batches(image.batches()),
            transactions: TransactionStates::from_batches(image.batches()),
            records_version: 0,
        };
        log.check_invariants();
        log
    }

    /// The idempotent producers this log holds batches of.
    pub fn producers(&self) -> &ProducerStates {
        &self.producers
    }

    /// The transactions this log holds.
    pub fn transactions(&self) -> &TransactionStates {
        &self.transactions
    }

    /// The last stable offset: what `read_committed` consumers read below (`super::transactions`).
    /// Never below the log start: a transaction whose first records retention deleted holds the
    /// LSO there until it ends, as Kafka's does.
    pub fn last_stable_offset(&self) -> u64 {
        self.transactions
            .last_stable_offset(self.high_watermark)
            .max(self.log_start_offset())
    }

    /// Everything this log has written, as the disk holds it once every write is synced.
    pub fn image(&self) -> &LogImage {
        &self.image
    }

    pub fn limits(&self) -> &LogLimits {
        &self.limits
    }

    pub fn log_start_offset(&self) -> u64 {
        self.image.log_start_offset()
    }

    /// The offset the next appended record gets (LEO).
    pub fn log_end_offset(&self) -> u64 {
        self.image.log_end_offset()
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// A counter bumped by every change to the records (append, truncation, log start move):
    /// while it stays the same, so do the records, and a driver that checks logs after every
    /// step skips an unchanged log in O(1).
    pub fn records_version(&self) -> u64 {
        self.records_version
    }

    /// Every record at `from_offset` or later with its offset and leader epoch, in offset order
    /// (nothing below the log start offset).
    pub fn records_from(&self, from_offset: u64) -> impl Iterator<Item = (u64, u64, &Record)> {
        let first = self.image.batch_log.batch_index(from_offset);
        self.batches()[first..].iter().flat_map(move |batch| {
            batch
                .records_with_offsets()
                .filter(move |(offset, _)| *offset >= from_offset)
                .map(|(offset, record)| (offset, batch.leader_epoch, record))
        })
    }

    /// The last high watermark written with [`Self::checkpoint_high_watermark`].
    pub fn high_watermark_checkpoint(&self) -> u64 {
        self.image.high_watermark_checkpoint()
    }

    /// Records between the log start offset and the log end offset.
    pub fn record_count(&self) -> u64 {
        self.image.batch_log.record_count()
    }

    /// The batches, dense from the log start offset to the log end offset.
    pub fn batches(&self) -> &[RecordBatch] {
        self.image.batches()
    }

    pub fn epoch_cache(&self) -> &EpochCache {
        &self.epochs
    }

    /// The epoch of the last record, if any.
    pub fn latest_epoch(&self) -> Option<u64> {
        self.epochs.latest_epoch()
    }

    /// The record at `offset` with its leader epoch, if the log holds it.
    pub fn record_at(&self, offset: u64) -> Option<(u64, Record)> {
        let batch = self
            .batches()
            .get(self.image.batch_log.batch_index(offset))?;
        batch
            .record_at(offset)
            .map(|record| (batch.leader_epoch, *record))
    }

    /// Appends `records` as the leader of `leader_epoch`, at the log end offset. Panics if the
    /// epoch is below the log's latest one: a leader leads only in its newest epoch.
    pub fn append_as_leader(
        &mut self,
        leader_epoch: u64,
        records: impl Into<SharedRecords>,
    ) -> Result<Appended, AppendError> {
        self.append_stamped_as_leader(
            leader_epoch,
            records,
            ProducerStamp::NONE,
            BatchTransaction::None,
        )
    }

    /// [`Self::append_as_leader`] for a batch an idempotent producer stamped (its sequence
    /// checked by the caller against [`Self::producers`]), in a transaction or not.
    pub fn append_stamped_as_leader(
        &mut self,
        leader_epoch: u64,
        records: impl Into<SharedRecords>,
        producer: ProducerStamp,
        transaction: BatchTransaction,
    ) -> Result<Appended, AppendError> {
        let records = records.into();
        self.check_room(records.len() as u64)?;
        self.assert_leader_epoch(leader_epoch);
        let batch = RecordBatch::new(self.log_end_offset(), leader_epoch, records)
            .with_producer(producer)
            .with_transaction(transaction);
        self.append_as_leader_checked(batch)
    }

    /// Appends the control batch that ends a producer's transaction, as the leader of
    /// `leader_epoch` (the caller checked [`TransactionStates::marker_verdict`]).
    pub fn append_marker_as_leader(
        &mut self,
        leader_epoch: u64,
        marker: TransactionMarker,
    ) -> Result<Appended, AppendError> {
        self.check_room(1)?;
        self.assert_leader_epoch(leader_epoch);
        let batch = RecordBatch::marker(self.log_end_offset(), leader_epoch, marker);
        self.append_as_leader_checked(batch)
    }

    fn assert_leader_epoch(&self, leader_epoch: u64) {
        if let Some(latest_epoch) = self.latest_epoch() {
            assert!(
                leader_epoch >= latest_epoch,
                "a leader appends in epoch {leader_epoch} below the log's latest epoch \
                 {latest_epoch}"
            );
        }
    }

    fn append_as_leader_checked(&mut self, batch: RecordBatch) -> Result<Appended, AppendError> {
        let base_offset = batch.base_offset;
        let write = self.append(batch);
        Ok(Appended {
            base_offset,
            log_end_offset: self.log_end_offset(),
            write,
        })
    }

    /// Appends a batch fetched from the leader. It must start at the log end offset and must not
    /// go back in epochs.
    pub fn append_as_follower(&mut self, batch: RecordBatch) -> Result<LogWrite, AppendError> {
        self.check_room(batch.record_count())?;
        if batch.base_offset != self.log_end_offset() {
            return Err(AppendError::UnexpectedBaseOffset {
                base_offset: batch.base_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        let latest_epoch = self.latest_epoch().unwrap_or(0);
        if batch.leader_epoch < latest_epoch {
            return Err(AppendError::LeaderEpochBelowLatest {
                base_offset: batch.base_offset,
                leader_epoch: batch.leader_epoch,
                latest_epoch,
            });
        }
        Ok(self.append(batch))
    }

    /// Reads the batches holding `from_offset..end_offset_max` (bounded by the LEO), as whole
    /// batches except that the first is cut to start at `from_offset` and the last to end at
    /// `end_offset_max` (consumers read below the HW). Stops before the batch that would take the
    /// total past `records_max` (at most `limits.fetch_records_max`), but always returns the first
    /// batch, so a reader always progresses (KIP-74). `from_offset` may equal the LEO (nothing new).
    pub fn read(
        &self,
        from_offset: u64,
        end_offset_max: u64,
        records_max: u64,
    ) -> Result<Vec<RecordBatch>, ReadError> {
        if from_offset < self.log_start_offset() || from_offset > self.log_end_offset() {
            return Err(ReadError::OffsetOutOfRange {
                offset: from_offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset(),
            });
        }
        let end_offset = end_offset_max.min(self.log_end_offset());
        if from_offset >= end_offset {
            return Ok(Vec::new());
        }
        let records_max = records_max.min(self.limits.fetch_records_max);
        let first = self.image.batch_log.batch_index(from_offset);
        let candidates = &self.batches()[first..];
        // Counted first so that the answer is allocated once, at its size.
        let mut count = 0;
        let mut records_read = 0;
        for batch in candidates {
            if batch.base_offset >= end_offset {
                break;
            }
            let records = batch.slice_record_count(from_offset, end_offset);
            if count > 0 && records_read + records > records_max {
                break;
            }
            records_read += records;
            count += 1;
        }
        let read: Vec<RecordBatch> = candidates[..count]
            .iter()
            .map(|batch| batch.slice(from_offset, end_offset))
            .collect();
        debug_assert!(
            read.first()
                .is_none_or(|batch| batch.base_offset == from_offset)
        );
        debug_assert!(
            read.last()
                .is_none_or(|batch| batch.end_offset() <= end_offset)
        );
        Ok(read)
    }

    /// Drops every record at `offset` or later (nothing if `offset` is at or past the LEO; below
    /// the log start, restarts the log at `offset`). Clamps the high watermark.
    pub fn truncate_to(&mut self, offset: u64) -> Option<LogWrite> {
        if offset >= self.log_end_offset() {
            return None;
        }
        let write = LogWrite::TruncateTo { offset };
        self.image.apply(&write);
        self.records_version += 1;
        if self.image.batches().is_empty() {
            self.epochs.clear();
        } else {
            self.epochs.truncate_from_end(offset);
        }
        self.producers = ProducerStates::from_batches(self.image.batches());
        self.transactions = TransactionStates::from_batches(self.image.batches());
        self.high_watermark = self.high_watermark.min(offset);
        assert_eq!(
            self.log_end_offset(),
            offset,
            "truncation ends the log at {offset}"
        );
        self.check_invariants();
        Some(write)
    }

    /// Empties the log and restarts it at `log_start_offset`, with the high watermark there (a
    /// follower whose fetch offset fell outside the leader's log, Kafka's
    /// `truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(&mut self, log_start_offset: u64) -> LogWrite {
        let write = LogWrite::StartAt { log_start_offset };
        self.image.apply(&write);
        self.records_version += 1;
        self.epochs.clear();
        self.producers.clear();
        self.transactions.clear();
        self.high_watermark = log_start_offset;
        self.check_invariants();
        write
    }

    /// A follower's fetch offset (its LEO) fell outside the leader's log: the fetch was answered
    /// OFFSET_OUT_OF_RANGE with the leader's log start and end offsets. Kafka's rule
    /// (`ReplicaFetcherThread`): past the leader's end, truncate to it (after an unclean election
    /// or a planted bug: the epoch search keeps a follower within its leader's log otherwise);
    /// below the leader's start, restart the log at the leader's start. `None` if the offset is in
    /// range after all (a stale answer). Then fetch from the new LEO.
    pub fn reset_out_of_range(
        &mut self,
        leader_log_start_offset: u64,
        leader_log_end_offset: u64,
    ) -> Option<LogWrite> {
        assert!(leader_log_start_offset <= leader_log_end_offset);
        if self.log_end_offset() > leader_log_end_offset {
            return self.truncate_to(leader_log_end_offset);
        }
        if self.log_end_offset() < leader_log_start_offset {
            return Some(self.truncate_fully_and_start_at(leader_log_start_offset));
        }
        None
    }

    /// Reads what a consumer may see: [`Self::read`] bounded by the high watermark (a
    /// `read_uncommitted` consumer's view: "committed" is meant in the replication sense).
    pub fn read_committed(
        &self,
        from_offset: u64,
        records_max: u64,
    ) -> Result<Vec<RecordBatch>, ReadError> {
        self.read(from_offset, self.high_watermark, records_max)
    }

    /// The aborted transactions that `batches`, read from this log, may hold records of: what a
    /// `read_committed` fetch answer lists beside them (its reader reads below
    /// [`Self::last_stable_offset`]).
    pub fn aborted_in(&self, batches: &[RecordBatch]) -> Vec<AbortedTransaction> {
        match (batches.first(), batches.last()) {
            (Some(first), Some(last)) => self
                .transactions
                .aborted_overlapping(first.base_offset, last.end_offset()),
            _ => Vec::new(),
        }
    }

    /// Deletes every record below `offset` (DeleteRecords or retention). Only committed records
    /// may go: panics if `offset` is above the high watermark.
    pub fn advance_log_start_offset(&mut self, offset: u64) -> Option<LogWrite> {
        assert!(
            offset <= self.high_watermark,
            "log start offset {offset} above the high watermark {}",
            self.high_watermark
        );
        if offset <= self.log_start_offset() {
            return None;
        }
        let write = LogWrite::AdvanceLogStart { offset };
        self.image.apply(&write);
        self.records_version += 1;
        if self.image.batches().is_empty() {
            self.epochs.clear();
        } else {
            self.epochs.truncate_from_start(offset);
        }
        assert_eq!(self.log_start_offset(), offset);
        self.check_invariants();
        Some(write)
    }

    /// Moves a leader's high watermark up to `high_watermark` (the minimum LEO over the ISR). A
    /// leader's HW never goes down and never passes its LEO: panics otherwise.
    pub fn advance_high_watermark(&mut self, high_watermark: u64) {
        assert!(
            high_watermark >= self.high_watermark,
            "a leader's high watermark goes back from {} to {high_watermark}",
            self.high_watermark
        );
        assert!(
            high_watermark <= self.log_end_offset(),
            "high watermark {high_watermark} above the log end offset {}",
            self.log_end_offset()
        );
        self.high_watermark = high_watermark;
    }

    /// Sets a follower's high watermark from the leader's: `min(leader's HW, own LEO)`, within the
    /// log. It may go down (the new leader learned the HW a fetch later than the old one did).
    pub fn follow_high_watermark(&mut self, leader_high_watermark: u64) {
        self.high_watermark = leader_high_watermark
            .min(self.log_end_offset())
            .max(self.log_start_offset());
        self.check_invariants();
    }

    /// Writes the current high watermark to disk, if it changed since the last checkpoint.
    pub fn checkpoint_high_watermark(&mut self) -> Option<LogWrite> {
        if self.high_watermark == self.image.high_watermark_checkpoint() {
            return None;
        }
        let write = LogWrite::CheckpointHighWatermark {
            high_watermark: self.high_watermark,
        };
        self.image.apply(&write);
        Some(write)
    }

    /// A leader's answer to OffsetsForLeaderEpoch for `requested_epoch` (see
    /// [`EpochCache::end_offset_for_epoch`]). With no record, the answer is the one a Kafka leader
    /// gives from the entry it writes at election: `(requested epoch, LEO)`.
    pub fn end_offset_for_epoch(&self, requested_epoch: u64) -> EpochEndOffset {
        self.epochs
            .end_offset_for_epoch(requested_epoch, self.log_end_offset())
            .unwrap_or(EpochEndOffset {
                leader_epoch: requested_epoch,
                end_offset: self.log_end_offset(),
            })
    }

    /// The epoch a follower asks the leader about to find the divergence point: its latest one.
    /// `None` when the log has no record (nothing can diverge; fetch from the LEO).
    pub fn divergence_query(&self) -> Option<u64> {
        self.latest_epoch()
    }

    /// Applies the leader's `answer` to the question about `requested_epoch` (one round of
    /// KIP-279's search, see [`crate::log::divergence`]): truncates, and says whether to ask again
    /// or fetch.
    pub fn resolve_divergence(
        &mut self,
        requested_epoch: u64,
        answer: EpochEndOffset,
    ) -> Result<DivergenceRound, DivergenceError> {
        if self.divergence_query() != Some(requested_epoch) {
            return Err(DivergenceError::StaleAnswer {
                requested_epoch,
                latest_epoch: self.divergence_query(),
            });
        }
        if answer.leader_epoch > requested_epoch {
            return Err(DivergenceError::AnswerAboveRequest {
                requested_epoch,
                answered_epoch: answer.leader_epoch,
            });
        }
        let step = truncation_step(&self.epochs, self.log_end_offset(), answer);
        let (truncate_to, complete) = match step {
            TruncationStep::Complete { truncate_to } => (truncate_to, true),
            TruncationStep::Continue { truncate_to } => (truncate_to, false),
        };
        let write = self.truncate_to(truncate_to);
        if complete {
            return Ok(DivergenceRound {
                write,
                next: DivergenceNext::Fetch {
                    fetch_offset: self.log_end_offset(),
                },
            });
        }
        let leader_epoch = self
            .latest_epoch()
            .expect("a continued search keeps the records of a lower epoch");
        assert!(
            leader_epoch < requested_epoch,
            "the search must go down in epochs: asked {requested_epoch}, next {leader_epoch}"
        );
        Ok(DivergenceRound {
            write,
            next: DivergenceNext::Ask { leader_epoch },
        })
    }

    /// The cheap invariants (constant time): the simulator may call this after every step.
    pub fn check_invariants(&self) {
        let log_start_offset = self.log_start_offset();
        let log_end_offset = self.log_end_offset();
        assert!(
            log_start_offset <= self.high_watermark && self.high_watermark <= log_end_offset,
            "high watermark {} outside {log_start_offset}..={log_end_offset}",
            self.high_watermark
        );
        assert_eq!(
            self.epochs.is_empty(),
            self.batches().is_empty(),
            "an epoch cache is empty exactly when the log is"
        );
        assert_eq!(
            self.epochs.latest_epoch(),
            self.image.batch_log.latest_epoch(),
            "the latest cached epoch is the last batch's"
        );
        if let Some(first) = self.epochs.entries().first() {
            assert_eq!(
                first.start_offset, log_start_offset,
                "the first epoch starts the log"
            );
        }
        assert!(self.record_count() <= self.limits.log_records_max);
    }

    /// Every invariant, in time linear in the log (tests and recovery).
    pub fn check_invariants_deep(&self) {
        self.check_invariants();
        self.image.batch_log.assert_invariants();
        let implied = EpochCache::from_batches(self.log_start_offset(), self.batches());
        assert_eq!(
            self.epochs, implied,
            "the epoch cache must be what the batches imply"
        );
        // Deleting records (retention) keeps the producers of the records deleted.
        if self.log_start_offset() == 0 {
            assert_eq!(
                self.producers,
                ProducerStates::from_batches(self.batches()),
                "the producer states must be what the batches imply"
            );
            assert_eq!(
                self.transactions,
                TransactionStates::from_batches(self.batches()),
                "the transactions must be what the batches imply"
            );
        }
        let stable = self.last_stable_offset();
        assert!(
            stable <= self.high_watermark,
            "last stable offset {stable} above the high watermark {}",
            self.high_watermark
        );
    }

    fn check_room(&self, appended: u64) -> Result<(), AppendError> {
        if appended == 0 {
            return Err(AppendError::EmptyBatch);
        }
        if appended > self.limits.batch_records_max {
            return Err(AppendError::BatchTooLarge {
                records: appended,
                max: self.limits.batch_records_max,
            });
        }
        if self.record_count() + appended > self.limits.log_records_max {
            return Err(AppendError::LogFull {
                records: self.record_count(),
                appended,
                max: self.limits.log_records_max,
            });
        }
        Ok(())
    }

    /// Appends a checked batch at the LEO: epoch cache first (it asserts the order), then image.
    fn append(&mut self, batch: RecordBatch) -> LogWrite {
        debug_assert_eq!(batch.base_offset, self.log_end_offset());
        let end_offset = batch.end_offset();
        self.epochs.assign(batch.leader_epoch, batch.base_offset);
        self.producers.note(&batch);
        self.transactions.note(&batch);
        let write = LogWrite::Append { batch };
        self.image.apply(&write);
        self.records_version += 1;
        assert_eq!(
            self.log_end_offset(),
            end_offset,
            "the append moved the LEO"
        );
        self.check_invariants();
        write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(values: std::ops::Range<u64>) -> Vec<Record> {
        values.map(|value| Record { key: None, value }).collect()
    }

    fn limits() -> LogLimits {
        LogLimits {
            batch_records_max: 4,
            fetch_records_max: 6,
            log_records_max: 12,
        }
    }

    /// Epoch 1: offsets 0..3 and 3..5; epoch 3: 5..9. Values equal offsets.
    fn three_batches() -> PartitionLog {
        let mut log = PartitionLog::new(limits());
        log.append_as_leader(1, records(0..3)).expect("room");
        log.append_as_leader(1, records(3..5)).expect("room");
        log.append_as_leader(3, records(5..9)).expect("room");
        log.check_invariants_deep();
        log
    }

    fn spans(batches: &[RecordBatch]) -> Vec<(u64, u64, u64)> {
        batches
            .iter()
            .map(|batch| (batch.base_offset, batch.end_offset(), batch.leader_epoch))
            .collect()
    }

    #[test]
    fn new_log_is_empty_at_offset_zero() {
        let log = PartitionLog::new(limits());
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark()
            ),
            (0, 0, 0)
        );
        assert_eq!((log.record_count(), log.latest_epoch()), (0, None));
        assert!(log.batches().is_empty() && log.epoch_cache().is_empty());
        assert_eq!(log.limits(), &limits());
    }

    #[test]
    #[should_panic(expected = "invalid log limits")]
    fn invalid_limits_are_a_bug() {
        PartitionLog::new(LogLimits {
            batch_records_max: 0,
            ..limits()
        });
    }

    #[test]
    fn append_as_leader_assigns_dense_offsets_and_returns_the_write() {
        let mut log = PartitionLog::new(limits());
        let first = log.append_as_leader(2, records(0..3)).expect("room");
        assert_eq!((first.base_offset, first.log_end_offset), (0, 3));
        let second = log.append_as_leader(2, records(3..4)).expect("room");
        assert_eq!((second.base_offset, second.log_end_offset), (3, 4));
        let mut image = LogImage::default();
        image.apply(&first.write);
        image.apply(&second.write);
        assert_eq!(&image, log.image(), "the writes rebuild what the log holds");
        assert_eq!(
            log.record_at(3),
            Some((
                2,
                Record {
                    key: None,
                    value: 3
                }
            ))
        );
        assert_eq!(log.record_at(4), None);
    }

    #[test]
    fn append_as_leader_refuses_empty_oversized_and_overflowing_batches() {
        let mut log = three_batches();
        assert_eq!(
            log.append_as_leader(3, Vec::new()),
            Err(AppendError::EmptyBatch)
        );
        assert_eq!(
            log.append_as_leader(3, records(0..5)),
            Err(AppendError::BatchTooLarge { records: 5, max: 4 })
        );
        log.append_as_leader(3, records(9..12)).expect("room");
        assert_eq!(
            log.append_as_leader(3, records(12..13)),
            Err(AppendError::LogFull {
                records: 12,
                appended: 1,
                max: 12
            })
        );
        assert_eq!(log.log_end_offset(), 12, "a refused append changes nothing");
    }

    #[test]
    #[should_panic(expected = "below the log's latest epoch")]
    fn append_as_leader_in_an_older_epoch_is_a_bug() {
        let mut log = three_batches();
        let _ = log.append_as_leader(2, records(9..10));
    }

    #[test]
    fn append_as_follower_takes_batches_at_the_log_end_only() {
        let mut log = PartitionLog::new(limits());
        let batch = RecordBatch::new(0, 2, records(0..2));
        let write = log.append_as_follower(batch.clone()).expect("at the end");
        assert_eq!(
            write,
            LogWrite::Append {
                batch: batch.clone()
            }
        );
        assert_eq!(
            log.append_as_follower(batch),
            Err(AppendError::UnexpectedBaseOffset {
                base_offset: 0,
                log_end_offset: 2
            })
        );
        let older = RecordBatch::new(2, 1, records(2..3));
        assert_eq!(
            log.append_as_follower(older),
            Err(AppendError::LeaderEpochBelowLatest {
                base_offset: 2,
                leader_epoch: 1,
                latest_epoch: 2
            })
        );
        let newer = RecordBatch::new(2, 5, records(2..3));
        log.append_as_follower(newer).expect("newer epoch");
        assert_eq!(spans(log.batches()), vec![(0, 2, 2), (2, 3, 5)]);
        log.check_invariants_deep();
    }

    #[test]
    fn read_cuts_at_the_bounds_and_stops_at_whole_batches() {
        let log = three_batches();
        // From the middle of the first batch, bounded by the LEO.
        let read = log.read(1, 100, 100).expect("in range");
        assert_eq!(spans(&read), vec![(1, 3, 1), (3, 5, 1)], "6 records max");
        // Bounded by a high watermark inside the third batch.
        let read = log.read(5, 7, 100).expect("in range");
        assert_eq!(spans(&read), vec![(5, 7, 3)]);
        // A limit below the first batch still returns it.
        let read = log.read(5, 100, 1).expect("in range");
        assert_eq!(spans(&read), vec![(5, 9, 3)]);
        // Two whole batches fit in five records, the third does not.
        let read = log.read(0, 100, 5).expect("in range");
        assert_eq!(spans(&read), vec![(0, 3, 1), (3, 5, 1)]);
        assert_eq!(read[1].records[..], records(3..5)[..]);
    }

    #[test]
    fn read_at_the_end_or_the_bound_is_empty_and_outside_the_log_is_out_of_range() {
        let mut log = three_batches();
        assert_eq!(log.read(9, 100, 10), Ok(Vec::new()));
        assert_eq!(log.read(4, 4, 10), Ok(Vec::new()));
        assert_eq!(
            log.read(10, 100, 10),
            Err(ReadError::OffsetOutOfRange {
                offset: 10,
                log_start_offset: 0,
                log_end_offset: 9
            })
        );
        log.advance_high_watermark(4);
        log.advance_log_start_offset(4);
        assert!(matches!(
            log.read(3, 100, 10),
            Err(ReadError::OffsetOutOfRange { offset: 3, .. })
        ));
    }

    #[test]
    fn truncate_to_cuts_inside_a_batch_and_clamps_the_high_watermark() {
        let mut log = three_batches();
        log.advance_high_watermark(8);
        assert_eq!(log.truncate_to(9), None, "nothing at or past the end");
        assert_eq!(log.truncate_to(6), Some(LogWrite::TruncateTo { offset: 6 }));
        assert_eq!(spans(log.batches()), vec![(0, 3, 1), (3, 5, 1), (5, 6, 3)]);
        assert_eq!(log.high_watermark(), 6);
        log.truncate_to(5);
        assert_eq!(
            log.latest_epoch(),
            Some(1),
            "epoch 3 is gone with its records"
        );
        log.check_invariants_deep();
    }

    #[test]
    fn truncate_below_the_log_start_restarts_the_log_there() {
        let mut log = three_batches();
        log.advance_high_watermark(4);
        log.advance_log_start_offset(4);
        log.truncate_to(2);
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark()
            ),
            (2, 2, 2)
        );
        assert!(log.epoch_cache().is_empty());
        log.check_invariants_deep();
    }

    #[test]
    fn truncate_fully_and_start_at_moves_the_whole_log() {
        let mut log = three_batches();
        let write = log.truncate_fully_and_start_at(30);
        assert_eq!(
            write,
            LogWrite::StartAt {
                log_start_offset: 30
            }
        );
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark()
            ),
            (30, 30, 30)
        );
        log.append_as_leader(4, records(0..1)).expect("room");
        assert_eq!(log.record_at(30).map(|(epoch, _)| epoch), Some(4));
        log.check_invariants_deep();
    }

    #[test]
    fn reset_out_of_range_comes_back_inside_the_leader_log() {
        let mut log = three_batches();
        assert_eq!(
            log.reset_out_of_range(0, 9),
            None,
            "in range: a stale answer"
        );
        assert_eq!(
            log.reset_out_of_range(0, 7),
            Some(LogWrite::TruncateTo { offset: 7 })
        );
        assert_eq!(log.log_end_offset(), 7);
        assert_eq!(
            log.reset_out_of_range(20, 25),
            Some(LogWrite::StartAt {
                log_start_offset: 20
            })
        );
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (20, 20));
        log.check_invariants_deep();
    }

    #[test]
    fn read_committed_stops_at_the_high_watermark() {
        let mut log = three_batches();
        assert_eq!(log.read_committed(0, 100), Ok(Vec::new()));
        log.advance_high_watermark(4);
        let read = log.read_committed(0, 100).expect("in range");
        assert_eq!(spans(&read), vec![(0, 3, 1), (3, 4, 1)]);
    }

    #[test]
    fn advance_log_start_offset_deletes_committed_records_only() {
        let mut log = three_batches();
        log.advance_high_watermark(6);
        assert_eq!(log.advance_log_start_offset(0), None);
        let write = log.advance_log_start_offset(6);
        assert_eq!(write, Some(LogWrite::AdvanceLogStart { offset: 6 }));
        assert_eq!(spans(log.batches()), vec![(6, 9, 3)]);
        assert_eq!(log.epoch_cache().entries()[0].start_offset, 6);
        log.check_invariants_deep();
    }

    #[test]
    #[should_panic(expected = "above the high watermark")]
    fn deleting_uncommitted_records_is_a_bug() {
        let mut log = three_batches();
        log.advance_high_watermark(2);
        log.advance_log_start_offset(3);
    }

    #[test]
    #[should_panic(expected = "goes back")]
    fn a_leader_high_watermark_going_back_is_a_bug() {
        let mut log = three_batches();
        log.advance_high_watermark(5);
        log.advance_high_watermark(4);
    }

    #[test]
    #[should_panic(expected = "above the log end offset")]
    fn a_high_watermark_past_the_log_end_is_a_bug() {
        let mut log = three_batches();
        log.advance_high_watermark(10);
    }

    #[test]
    fn a_follower_high_watermark_follows_the_leader_within_its_log() {
        let mut log = three_batches();
        log.follow_high_watermark(20);
        assert_eq!(log.high_watermark(), 9, "never above the own log end");
        log.follow_high_watermark(3);
        assert_eq!(log.high_watermark(), 3, "it may go down");
    }

    #[test]
    fn checkpoint_writes_the_high_watermark_when_it_changed() {
        let mut log = three_batches();
        assert_eq!(log.checkpoint_high_watermark(), None);
        log.advance_high_watermark(7);
        assert_eq!(
            log.checkpoint_high_watermark(),
            Some(LogWrite::CheckpointHighWatermark { high_watermark: 7 })
        );
        assert_eq!(log.high_watermark_checkpoint(), 7);
        assert_eq!(log.checkpoint_high_watermark(), None);
    }

    #[test]
    fn recover_rebuilds_epochs_and_clamps_the_checkpoint_to_the_recovered_log() {
        let mut log = three_batches();
        log.advance_high_watermark(9);
        let checkpoint = log.checkpoint_high_watermark().expect("changed");
        // The disk got the first two batches and the checkpoint, not the third batch.
        let mut image = LogImage::default();
        for batch in &log.batches()[..2] {
            image.apply(&LogWrite::Append {
                batch: batch.clone(),
            });
        }
        image.apply(&checkpoint);
        let recovered = PartitionLog::recover(&image, limits());
        assert_eq!(recovered.log_end_offset(), 5);
        assert_eq!(
            recovered.high_watermark(),
            5,
            "clamped to the recovered LEO"
        );
        assert_eq!(
            recovered.high_watermark_checkpoint(),
            9,
            "the image as it is"
        );
        assert_eq!(recovered.latest_epoch(), Some(1));
        recovered.check_invariants_deep();
        // The whole image recovers the whole log.
        let whole = PartitionLog::recover(log.image(), limits());
        assert_eq!(whole, log);
    }

    #[test]
    fn end_offset_for_epoch_of_an_empty_log_is_its_end() {
        let mut log = PartitionLog::new(limits());
        log.truncate_fully_and_start_at(7);
        assert_eq!(
            log.end_offset_for_epoch(3),
            EpochEndOffset {
                leader_epoch: 3,
                end_offset: 7
            }
        );
        let log = three_batches();
        assert_eq!(
            log.end_offset_for_epoch(2),
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 5
            }
        );
    }

    /// KIP-279's motivating case: the follower's last epoch is one the leader never saw, and the
    /// leader's answer names an epoch the follower never saw either. One round of KIP-101 would
    /// keep a divergent record; the iterative search does not.
    #[test]
    fn resolve_divergence_iterates_until_the_follower_knows_the_answered_epoch() {
        // Leader: epoch 1 at 0..2, epoch 2 at 2..4.
        let mut leader = PartitionLog::new(limits());
        leader.append_as_leader(1, records(0..2)).expect("room");
        leader.append_as_leader(2, records(10..12)).expect("room");
        // Follower: epoch 1 at 0..3 (offset 2 never reached the leader), epoch 3 at 3..4.
        let mut follower = PartitionLog::new(limits());
        follower.append_as_leader(1, records(0..3)).expect("room");
        follower.append_as_leader(3, records(20..21)).expect("room");

        let mut asked = follower.divergence_query().expect("records");
        assert_eq!(asked, 3);
        let mut rounds = 0;
        let fetch_offset = loop {
            rounds += 1;
            let answer = leader.end_offset_for_epoch(asked);
            let round = follower
                .resolve_divergence(asked, answer)
                .expect("fresh answer");
            match round.next {
                DivergenceNext::Ask { leader_epoch } => asked = leader_epoch,
                DivergenceNext::Fetch { fetch_offset } => break fetch_offset,
            }
        };
        assert_eq!(rounds, 2);
        assert_eq!(
            fetch_offset, 2,
            "offset 2 diverges: epoch 1 here, epoch 2 there"
        );
        assert_eq!(follower.record_at(1), leader.record_at(1));
        follower.check_invariants_deep();
    }

    #[test]
    fn resolve_divergence_rejects_stale_and_impossible_answers() {
        let mut follower = three_batches();
        let answer = EpochEndOffset {
            leader_epoch: 1,
            end_offset: 5,
        };
        assert_eq!(
            follower.resolve_divergence(1, answer),
            Err(DivergenceError::StaleAnswer {
                requested_epoch: 1,
                latest_epoch: Some(3)
            })
        );
        let above = EpochEndOffset {
            leader_epoch: 4,
            end_offset: 5,
        };
        assert_eq!(
            follower.resolve_divergence(3, above),
            Err(DivergenceError::AnswerAboveRequest {
                requested_epoch: 3,
                answered_epoch: 4
            })
        );
        assert_eq!(
            follower.log_end_offset(),
            9,
            "a rejected answer changes nothing"
        );
    }
}
