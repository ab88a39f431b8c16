//! The durable side of a partition log: the writes a log issues ([`LogWrite`]) and the image they
//! build on disk ([`LogImage`]).
//!
//! The node wraps each [`LogWrite`] in its own disk write and the driver applies it to the node's
//! durable image once a sync covers it; a node restarted from that image rebuilds each partition
//! with [`crate::log::PartitionLog::recover`], and sees only what was synced.
//!
//! Invariants of an image (held after every [`LogImage::apply`]):
//! - batches are dense: the first starts at the log start offset, each next one where the previous
//!   one ends, and the last ends at the log end offset;
//! - leader epochs never decrease along the batches;
//! - the high watermark checkpoint may exceed the log end offset (the checkpoint reached disk, the
//!   records did not, or a later truncation removed them): recovery clamps it.
//!
//! `apply` is total, like the metadata storage's: a write that would break an invariant because an
//! earlier write was lost to a disk fault (an append past the log end, an append of an older epoch
//! after a lost truncation) is ignored, so the image always holds a consistent prefix. The node
//! learns of every lost write and rewrites its state.

use serde::{Deserialize, Serialize};

use super::record::RecordBatch;

/// One durable change to a partition log, applied in the order issued.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogWrite {
    /// Put `batch` at its base offset, dropping any record at or after it first. The base offset
    /// is at most the image's log end offset (otherwise the write is ignored: see module docs).
    Append { batch: RecordBatch },
    /// Drop every record at `offset` or later. Below the log start offset, empty the log and
    /// restart it at `offset` (Kafka's `truncateTo`).
    TruncateTo { offset: u64 },
    /// Empty the log and restart it at `log_start_offset` (Kafka's `truncateFullyAndStartAt`,
    /// for a follower that fell below the leader's log start).
    StartAt { log_start_offset: u64 },
    /// Delete every record below `offset` and make it the log start offset (DeleteRecords).
    AdvanceLogStart { offset: u64 },
    /// Record the high watermark (Kafka's `replication-offset-checkpoint`).
    CheckpointHighWatermark { high_watermark: u64 },
}

/// Dense batches between a log start offset and a log end offset: the record store shared by the
/// durable image and the live log, so both change by the same code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct BatchLog {
    log_start_offset: u64,
    log_end_offset: u64,
    batches: Vec<RecordBatch>,
}

impl BatchLog {
    pub(super) fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    pub(super) fn log_end_offset(&self) -> u64 {
        self.log_end_offset
    }

    pub(super) fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    pub(super) fn record_count(&self) -> u64 {
        self.log_end_offset - self.log_start_offset
    }

    pub(super) fn latest_epoch(&self) -> Option<u64> {
        self.batches.last().map(|batch| batch.leader_epoch)
    }

    /// Index of the batch holding `offset`, or the number of batches if none does. Appends,
    /// reads and the replica monitor work near the end of the log: the last batch is tried
    /// first, then the search gallops back from it (1, 2, 4, ... batches) before a binary search
    /// of the span it lands in, so an offset k batches from the end costs O(log k), not
    /// O(log batches).
    pub(super) fn batch_index(&self, offset: u64) -> usize {
        let Some(last) = self.batches.last() else {
            return 0;
        };
        if last.base_offset <= offset {
            return self.batches.len() - usize::from(last.end_offset() > offset);
        }
        let ends_at_or_below = |batch: &RecordBatch| batch.end_offset() <= offset;
        // Every batch at `above` or later ends above `offset`.
        let mut above = self.batches.len() - 1;
        let mut stride = 1;
        while above > 0 {
            let probe = above.saturating_sub(stride);
            if ends_at_or_below(&self.batches[probe]) {
                // Batches end in increasing order: so do all before `probe`.
                let span = &self.batches[probe + 1..above];
                return probe + 1 + span.partition_point(ends_at_or_below);
            }
            above = probe;
            stride *= 2;
        }
        0
    }

    /// The epoch of the record just before `offset`, if the log holds it.
    fn epoch_before(&self, offset: u64) -> Option<u64> {
        let previous = offset.checked_sub(1)?;
        if previous < self.log_start_offset || previous >= self.log_end_offset {
            return None;
        }
        Some(self.batches[self.batch_index(previous)].leader_epoch)
    }

    /// Whether [`Self::put`] would keep the invariants: the batch starts inside the log or at its
    /// end, and its epoch is at least the epoch of the record before it.
    pub(super) fn fits(&self, batch: &RecordBatch) -> bool {
        let inside =
            self.log_start_offset <= batch.base_offset && batch.base_offset <= self.log_end_offset;
        let epoch_ordered = self
            .epoch_before(batch.base_offset)
            .is_none_or(|previous| previous <= batch.leader_epoch);
        inside && epoch_ordered && !batch.records.is_empty()
    }

    /// Puts `batch` at its base offset, dropping what sits at or after it. The caller checked
    /// [`Self::fits`] just before (both callers branch on it), so only debug builds check again:
    /// every append reaches here twice (the live log and the durable image), and a second check
    /// each time cost about 1% of a data-plane run.
    pub(super) fn put(&mut self, batch: RecordBatch) {
        debug_assert!(self.fits(&batch), "batch {batch:?} does not fit {self:?}");
        self.truncate_to(batch.base_offset);
        self.log_end_offset = batch.end_offset();
        self.batches.push(batch);
        self.assert_dense();
    }

    /// Drops every record at `offset` or later; below the log start, empties the log at `offset`.
    pub(super) fn truncate_to(&mut self, offset: u64) {
        if offset >= self.log_end_offset {
            return;
        }
        if offset <= self.log_start_offset {
            self.start_at(offset);
            return;
        }
        let holding = self.batch_index(offset);
        self.batches.truncate(holding + 1);
        let last = &self.batches[holding];
        if last.base_offset == offset {
            self.batches.pop();
        } else {
            self.batches[holding] = last.slice(last.base_offset, offset);
        }
        self.log_end_offset = offset;
        self.assert_dense();
    }

    /// Empties the log and restarts it at `log_start_offset`.
    pub(super) fn start_at(&mut self, log_start_offset: u64) {
        self.batches.clear();
        self.log_start_offset = log_start_offset;
        self.log_end_offset = log_start_offset;
    }

    /// Deletes every record below `offset`; past the log end, empties the log at `offset`.
    pub(super) fn advance_start(&mut self, offset: u64) {
        if offset <= self.log_start_offset {
            return;
        }
        if offset >= self.log_end_offset {
            self.start_at(offset);
            return;
        }
        let holding = self.batch_index(offset);
        self.batches.drain(..holding);
        let first = &self.batches[0];
        if first.base_offset < offset {
            self.batches[0] = first.slice(offset, first.end_offset());
        }
        self.log_start_offset = offset;
        self.assert_dense();
    }

    fn assert_dense(&self) {
        debug_assert!(self.log_start_offset <= self.log_end_offset);
        debug_assert_eq!(
            self.batches
                .first()
                .map_or(self.log_end_offset, |batch| batch.base_offset),
            self.log_start_offset,
            "the first batch starts at the log start offset"
        );
        debug_assert_eq!(
            self.batches
                .last()
                .map_or(self.log_start_offset, |batch| batch.end_offset()),
            self.log_end_offset,
            "the last batch ends at the log end offset"
        );
    }

    /// Asserts every invariant over every batch (linear in the log: for tests and recovery).
    pub(super) fn assert_invariants(&self) {
        assert!(self.log_start_offset <= self.log_end_offset);
        let mut expected_base = self.log_start_offset;
        let mut previous_epoch = 0;
        for batch in &self.batches {
            assert!(!batch.records.is_empty(), "empty batch in the log");
            assert_eq!(
                batch.base_offset, expected_base,
                "offsets must be dense: batch at {} where {expected_base} was expected",
                batch.base_offset
            );
            assert!(
                batch.leader_epoch >= previous_epoch,
                "leader epochs must not decrease: {} after {previous_epoch} at offset {}",
                batch.leader_epoch,
                batch.base_offset
            );
            expected_base = batch.end_offset();
            previous_epoch = batch.leader_epoch;
        }
        assert_eq!(
            expected_base, self.log_end_offset,
            "batches end at the log end"
        );
    }
}

/// What a partition's disk durably holds: its batches and its high watermark checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LogImage {
    pub(super) batch_log: BatchLog,
    pub(super) high_watermark_checkpoint: u64,
}

impl LogImage {
    /// Applies one write (see the module docs for writes that are ignored).
    pub fn apply(&mut self, write: &LogWrite) {
        match write {
            LogWrite::Append { batch } => {
                if self.batch_log.fits(batch) {
                    self.batch_log.put(batch.clone());
                }
            }
            LogWrite::TruncateTo { offset } => self.batch_log.truncate_to(*offset),
            LogWrite::StartAt { log_start_offset } => self.batch_log.start_at(*log_start_offset),
            LogWrite::AdvanceLogStart { offset } => self.batch_log.advance_start(*offset),
            LogWrite::CheckpointHighWatermark { high_watermark } => {
                self.high_watermark_checkpoint = *high_watermark;
            }
        }
    }

    /// [`Self::apply`] for a write the caller no longer needs: an appended batch moves in.
    pub fn apply_owned(&mut self, write: LogWrite) {
        match write {
            LogWrite::Append { batch } => {
                if self.batch_log.fits(&batch) {
                    self.batch_log.put(batch);
                }
            }
            other => self.apply(&other),
        }
    }

    pub fn log_start_offset(&self) -> u64 {
        self.batch_log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> u64 {
        self.batch_log.log_end_offset()
    }

    /// The batches, dense from the log start offset to the log end offset.
    pub fn batches(&self) -> &[RecordBatch] {
        self.batch_log.batches()
    }

    /// The last checkpointed high watermark, possibly above the log end offset.
    pub fn high_watermark_checkpoint(&self) -> u64 {
        self.high_watermark_checkpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::Record;

    fn batch(base_offset: u64, leader_epoch: u64, count: u64) -> RecordBatch {
        let records: Vec<Record> = (0..count)
            .map(|index| Record {
                key: None,
                value: base_offset * 1000 + index,
            })
            .collect();
        RecordBatch::new(base_offset, leader_epoch, records)
    }

    fn append(image: &mut LogImage, batch: RecordBatch) {
        image.apply(&LogWrite::Append { batch });
    }

    fn offsets_and_epochs(image: &LogImage) -> Vec<(u64, u64, u64)> {
        image
            .batches()
            .iter()
            .map(|batch| (batch.base_offset, batch.end_offset(), batch.leader_epoch))
            .collect()
    }

    #[test]
    fn appends_build_dense_batches() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 3));
        append(&mut image, batch(3, 2, 2));
        assert_eq!(offsets_and_epochs(&image), vec![(0, 3, 1), (3, 5, 2)]);
        assert_eq!((image.log_start_offset(), image.log_end_offset()), (0, 5));
        image.batch_log.assert_invariants();
    }

    #[test]
    fn batch_index_gallops_to_the_same_answer_as_a_binary_search() {
        for batches in 0..40u64 {
            let mut image = LogImage::default();
            image.apply(&LogWrite::StartAt {
                log_start_offset: 5,
            });
            let mut base_offset = 5;
            for index in 0..batches {
                let count = 1 + index % 3;
                append(&mut image, batch(base_offset, 1, count));
                base_offset += count;
            }
            let log = &image.batch_log;
            for offset in 0..base_offset + 3 {
                let expected = log
                    .batches()
                    .partition_point(|batch| batch.end_offset() <= offset);
                assert_eq!(log.batch_index(offset), expected, "offset {offset}");
            }
        }
    }

    #[test]
    fn append_inside_the_log_replaces_the_tail() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 5));
        append(&mut image, batch(2, 3, 1));
        assert_eq!(offsets_and_epochs(&image), vec![(0, 2, 1), (2, 3, 3)]);
    }

    #[test]
    fn append_past_the_end_is_ignored_as_a_lost_earlier_write() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 2));
        append(&mut image, batch(5, 1, 2));
        assert_eq!(image.log_end_offset(), 2);
    }

    #[test]
    fn append_of_an_older_epoch_is_ignored_as_a_lost_truncation() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 4, 2));
        append(&mut image, batch(2, 3, 2));
        assert_eq!(offsets_and_epochs(&image), vec![(0, 2, 4)]);
        // Replacing the whole tail with an older epoch is consistent.
        append(&mut image, batch(0, 3, 1));
        assert_eq!(offsets_and_epochs(&image), vec![(0, 1, 3)]);
    }

    #[test]
    fn truncate_cuts_inside_a_batch_and_below_the_start_restarts() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 4));
        append(&mut image, batch(4, 1, 4));
        image.apply(&LogWrite::TruncateTo { offset: 6 });
        assert_eq!(offsets_and_epochs(&image), vec![(0, 4, 1), (4, 6, 1)]);
        image.apply(&LogWrite::TruncateTo { offset: 4 });
        assert_eq!(offsets_and_epochs(&image), vec![(0, 4, 1)]);
        image.apply(&LogWrite::TruncateTo { offset: 9 });
        assert_eq!(image.log_end_offset(), 4);
        image.apply(&LogWrite::AdvanceLogStart { offset: 2 });
        image.apply(&LogWrite::TruncateTo { offset: 1 });
        assert!(image.batches().is_empty());
        assert_eq!((image.log_start_offset(), image.log_end_offset()), (1, 1));
    }

    #[test]
    fn advance_log_start_deletes_below_and_cuts_the_first_batch() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 4));
        append(&mut image, batch(4, 2, 4));
        image.apply(&LogWrite::AdvanceLogStart { offset: 5 });
        assert_eq!(offsets_and_epochs(&image), vec![(5, 8, 2)]);
        assert_eq!(image.batches()[0].records[0].value, 4001);
        image.apply(&LogWrite::AdvanceLogStart { offset: 3 });
        assert_eq!(image.log_start_offset(), 5);
        image.apply(&LogWrite::AdvanceLogStart { offset: 10 });
        assert_eq!((image.log_start_offset(), image.log_end_offset()), (10, 10));
        image.batch_log.assert_invariants();
    }

    #[test]
    fn start_at_empties_the_log_and_checkpoint_is_kept_as_written() {
        let mut image = LogImage::default();
        append(&mut image, batch(0, 1, 4));
        image.apply(&LogWrite::CheckpointHighWatermark { high_watermark: 9 });
        image.apply(&LogWrite::StartAt {
            log_start_offset: 20,
        });
        assert_eq!((image.log_start_offset(), image.log_end_offset()), (20, 20));
        assert_eq!(image.high_watermark_checkpoint(), 9);
    }
}
