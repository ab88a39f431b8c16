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
use super::record::{Record, RecordBatch};

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLog {
    /// Everything written so far, synced or not.
    image: LogImage,
    epochs: EpochCache,
    high_watermark: u64,
    limits: LogLimits,
}

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
        };
        log.check_invariants();
        log
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
        records: Vec<Record>,
    ) -> Result<Appended, AppendError> {
        self.check_room(records.len() as u64)?;
        if let Some(latest_epoch) = self.latest_epoch() {
            assert!(
                leader_epoch >= latest_epoch,
                "a leader appends in epoch {leader_epoch} below the log's latest epoch \
                 {latest_epoch}"
            );
        }
        let batch = RecordBatch::new(self.log_end_offset(), leader_epoch, records);
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
    pub fn append_as_follower(&mut self, batch: &RecordBatch) -> Result<LogWrite, AppendError> {
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
        Ok(self.append(batch.clone()))
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
        let records_max = records_max.min(self.limits.fetch_records_max);
        let mut read = Vec::new();
        let mut records_read = 0;
        let first = self.image.batch_log.batch_index(from_offset);
        for batch in &self.batches()[first..] {
            if batch.base_offset >= end_offset {
                break;
            }
            let cut = batch.slice(from_offset, end_offset);
            if !read.is_empty() && records_read + cut.record_count() > records_max {
                break;
            }
            records_read += cut.record_count();
            read.push(cut);
        }
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
        if self.image.batches().is_empty() {
            self.epochs.clear();
        } else {
            self.epochs.truncate_from_end(offset);
        }
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
        self.epochs.clear();
        self.high_watermark = log_start_offset;
        self.check_invariants();
        write
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
        let write = LogWrite::Append { batch };
        self.image.apply(&write);
        assert_eq!(
            self.log_end_offset(),
            end_offset,
            "the append moved the LEO"
        );
        self.check_invariants();
        write
    }
}
