//! The leader epoch cache: for each leader epoch present in a log, the offset of its first record
//! (Kafka's `leader-epoch-checkpoint`, KIP-101).
//!
//! Invariants (asserted after every change):
//! - epochs strictly increase along the entries, and so do start offsets;
//! - the cache is exactly what the log's batches imply: one entry per epoch that has a record in
//!   the log, at the offset of its first record, the first entry clamped to the log start offset
//!   ([`EpochCache::from_batches`] builds it that way; the incremental updates keep it so, which the
//!   log's property tests check). So a non-empty log has a non-empty cache, and an empty log an
//!   empty cache.
//!
//! Why the epoch cache and not the high watermark decides truncation: the HW a follower knows lags
//! the leader's by a fetch, so truncating to it can drop committed records (KIP-101, scenario 1),
//! and after a leader crash it can sit above records the new leader never had (KIP-101, scenario
//! 2). The epoch cache instead names, for every epoch, where its records end, which is exactly the
//! point at which two replicas' histories diverge (KIP-279 makes the search iterate when the
//! follower does not know the leader's epoch).

use serde::{Deserialize, Serialize};

use super::record::RecordBatch;

/// The first offset of one leader epoch in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EpochEntry {
    pub leader_epoch: u64,
    pub start_offset: u64,
}

/// The answer to an OffsetsForLeaderEpoch request (KIP-101): the largest epoch the answering log
/// knows that is at most the requested one, and the offset just past that epoch's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EpochEndOffset {
    pub leader_epoch: u64,
    pub end_offset: u64,
}

/// Leader epoch -> start offset, for every epoch in a log. See the module docs for invariants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    /// The cache a log of `batches` (the first starting at `log_start_offset`) implies.
    pub fn from_batches<'a>(
        log_start_offset: u64,
        batches: impl IntoIterator<Item = &'a RecordBatch>,
    ) -> Self {
        let mut cache = Self::default();
        for batch in batches {
            assert!(
                batch.base_offset >= log_start_offset,
                "batch at {} below the log start offset {log_start_offset}",
                batch.base_offset
            );
            cache.assign(batch.leader_epoch, batch.base_offset);
        }
        cache
    }

    /// Every entry, epochs increasing.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The epoch of the last record of the log, if the log has any record.
    pub fn latest_epoch(&self) -> Option<u64> {
        self.entries.last().map(|entry| entry.leader_epoch)
    }

    /// Records that a batch of `leader_epoch` was appended at `start_offset`. A batch of the
    /// latest epoch changes nothing; a batch of a newer epoch opens an entry. Panics if the epoch
    /// goes backwards or the offset does not move forward: the log checks both before appending.
    pub fn assign(&mut self, leader_epoch: u64, start_offset: u64) {
        if let Some(latest) = self.entries.last() {
            assert!(
                leader_epoch >= latest.leader_epoch,
                "leader epoch {leader_epoch} at offset {start_offset} below the latest epoch {} \
                 (which starts at {})",
                latest.leader_epoch,
                latest.start_offset
            );
            assert!(
                start_offset >= latest.start_offset,
                "offset {start_offset} below the start {} of the latest epoch",
                latest.start_offset
            );
            if leader_epoch == latest.leader_epoch {
                return;
            }
            assert!(
                start_offset > latest.start_offset,
                "epoch {leader_epoch} would start where epoch {} starts ({start_offset}), leaving \
                 it without records",
                latest.leader_epoch
            );
        }
        self.entries.push(EpochEntry {
            leader_epoch,
            start_offset,
        });
        self.assert_invariants();
    }

    /// Forgets every epoch that starts at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: u64) {
        let kept = self
            .entries
            .partition_point(|entry| entry.start_offset < end_offset);
        self.entries.truncate(kept);
        debug_assert!(
            self.entries
                .last()
                .is_none_or(|entry| entry.start_offset < end_offset)
        );
    }

    /// Forgets every epoch that ends at or before `start_offset` and moves the start of the epoch
    /// that holds `start_offset` up to it (records below it were deleted). The caller clears the
    /// cache instead when no record remains.
    pub fn truncate_from_start(&mut self, start_offset: u64) {
        let starting_at_or_before = self
            .entries
            .partition_point(|entry| entry.start_offset <= start_offset);
        if starting_at_or_before == 0 {
            return;
        }
        self.entries.drain(..starting_at_or_before - 1);
        self.entries[0].start_offset = start_offset;
        self.assert_invariants();
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The epoch of the record at `offset`, given that the log holds it.
    pub fn epoch_at(&self, offset: u64) -> Option<u64> {
        let starting_at_or_before = self
            .entries
            .partition_point(|entry| entry.start_offset <= offset);
        starting_at_or_before
            .checked_sub(1)
            .map(|index| self.entries[index].leader_epoch)
    }

    /// Answers OffsetsForLeaderEpoch for `requested_epoch` over a log ending at `log_end_offset`,
    /// as Kafka's `LeaderEpochFileCache.endOffsetFor` does:
    /// - at or above the latest epoch: `(latest epoch, log end offset)`;
    /// - otherwise, with a known epoch at most the requested one: `(largest such epoch, start
    ///   offset of the next higher epoch)`;
    /// - below every known epoch: `(requested epoch, start offset of the first epoch)`, so the
    ///   asker drops everything from there;
    /// - `None` when the cache is empty (the log has no record).
    ///
    /// One deliberate difference: Kafka answers "undefined" for an epoch above the latest one,
    /// which it never meets because a new Kafka leader writes its epoch into the cache at its log
    /// end offset when elected. Here the cache holds only epochs that have records, and the answer
    /// above the latest epoch is the one that entry would give: `(latest epoch, log end offset)`.
    pub fn end_offset_for_epoch(
        &self,
        requested_epoch: u64,
        log_end_offset: u64,
    ) -> Option<EpochEndOffset> {
        let latest = self.entries.last()?;
        assert!(
            log_end_offset > latest.start_offset,
            "log end offset {log_end_offset} at or below the start {} of the latest epoch {}",
            latest.start_offset,
            latest.leader_epoch
        );
        if requested_epoch >= latest.leader_epoch {
            return Some(EpochEndOffset {
                leader_epoch: latest.leader_epoch,
                end_offset: log_end_offset,
            });
        }
        let higher = self
            .entries
            .partition_point(|entry| entry.leader_epoch <= requested_epoch);
        debug_assert!(
            higher < self.entries.len(),
            "the latest epoch is above the request"
        );
        let end_offset = self.entries[higher].start_offset;
        let leader_epoch = match higher.checked_sub(1) {
            Some(floor) => self.entries[floor].leader_epoch,
            None => requested_epoch,
        };
        debug_assert!(leader_epoch <= requested_epoch);
        Some(EpochEndOffset {
            leader_epoch,
            end_offset,
        })
    }

    fn assert_invariants(&self) {
        for pair in self.entries.windows(2) {
            assert!(
                pair[0].leader_epoch < pair[1].leader_epoch
                    && pair[0].start_offset < pair[1].start_offset,
                "epoch cache entries must strictly increase: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::Record;

    fn entry(leader_epoch: u64, start_offset: u64) -> EpochEntry {
        EpochEntry {
            leader_epoch,
            start_offset,
        }
    }

    fn answer(leader_epoch: u64, end_offset: u64) -> Option<EpochEndOffset> {
        Some(EpochEndOffset {
            leader_epoch,
            end_offset,
        })
    }

    /// Epoch 1 at 0..5, epoch 3 at 5..8, epoch 6 at 8..log end.
    fn three_epochs() -> EpochCache {
        let mut cache = EpochCache::default();
        cache.assign(1, 0);
        cache.assign(1, 3);
        cache.assign(3, 5);
        cache.assign(6, 8);
        cache
    }

    #[test]
    fn assign_opens_an_entry_per_new_epoch_only() {
        let cache = three_epochs();
        assert_eq!(cache.entries(), &[entry(1, 0), entry(3, 5), entry(6, 8)]);
        assert_eq!(cache.latest_epoch(), Some(6));
        assert!(!cache.is_empty());
    }

    #[test]
    #[should_panic(expected = "below the latest epoch")]
    fn assign_of_an_older_epoch_is_a_bug() {
        let mut cache = three_epochs();
        cache.assign(5, 10);
    }

    #[test]
    #[should_panic(expected = "without records")]
    fn assign_of_a_new_epoch_at_the_same_offset_is_a_bug() {
        let mut cache = three_epochs();
        cache.assign(7, 8);
    }

    #[test]
    fn from_batches_matches_incremental_assignment() {
        let record = Record::default();
        let batches = [
            RecordBatch::new(2, 1, vec![record; 3]),
            RecordBatch::new(5, 1, vec![record; 1]),
            RecordBatch::new(6, 4, vec![record; 2]),
        ];
        let cache = EpochCache::from_batches(2, &batches);
        assert_eq!(cache.entries(), &[entry(1, 2), entry(4, 6)]);
    }

    #[test]
    fn truncate_from_end_drops_epochs_starting_at_or_after() {
        let mut cache = three_epochs();
        cache.truncate_from_end(9);
        assert_eq!(cache.latest_epoch(), Some(6));
        cache.truncate_from_end(8);
        assert_eq!(cache.entries(), &[entry(1, 0), entry(3, 5)]);
        cache.truncate_from_end(1);
        assert_eq!(cache.entries(), &[entry(1, 0)]);
        cache.truncate_from_end(0);
        assert!(cache.is_empty());
    }

    #[test]
    fn truncate_from_start_keeps_the_epoch_holding_the_new_start() {
        let mut cache = three_epochs();
        cache.truncate_from_start(0);
        assert_eq!(cache.entries()[0], entry(1, 0));
        cache.truncate_from_start(6);
        assert_eq!(cache.entries(), &[entry(3, 6), entry(6, 8)]);
        cache.truncate_from_start(8);
        assert_eq!(cache.entries(), &[entry(6, 8)]);
        cache.truncate_from_start(20);
        assert_eq!(cache.entries(), &[entry(6, 20)]);
    }

    #[test]
    fn epoch_at_names_the_epoch_of_each_offset() {
        let cache = three_epochs();
        assert_eq!(cache.epoch_at(0), Some(1));
        assert_eq!(cache.epoch_at(4), Some(1));
        assert_eq!(cache.epoch_at(5), Some(3));
        assert_eq!(cache.epoch_at(100), Some(6));
        let mut later = three_epochs();
        later.truncate_from_start(6);
        assert_eq!(later.epoch_at(5), None);
    }

    #[test]
    fn end_offset_for_epoch_answers_like_kafka() {
        let cache = three_epochs();
        let log_end_offset = 11;
        // The latest epoch ends at the log end offset.
        assert_eq!(cache.end_offset_for_epoch(6, log_end_offset), answer(6, 11));
        // A known older epoch ends where the next one starts.
        assert_eq!(cache.end_offset_for_epoch(3, log_end_offset), answer(3, 8));
        assert_eq!(cache.end_offset_for_epoch(1, log_end_offset), answer(1, 5));
        // An unknown epoch between two known ones: the largest known below it.
        assert_eq!(cache.end_offset_for_epoch(2, log_end_offset), answer(1, 5));
        assert_eq!(cache.end_offset_for_epoch(5, log_end_offset), answer(3, 8));
        // Below every known epoch: the requested epoch, ending where the first known one starts.
        let mut trimmed = three_epochs();
        trimmed.truncate_from_start(6);
        assert_eq!(
            trimmed.end_offset_for_epoch(1, log_end_offset),
            answer(1, 6)
        );
        // Above the latest: what the entry of a newly elected leader would answer.
        assert_eq!(cache.end_offset_for_epoch(9, log_end_offset), answer(6, 11));
        // No record, no epoch.
        assert_eq!(EpochCache::default().end_offset_for_epoch(4, 0), None);
    }
}
