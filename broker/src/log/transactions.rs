//! The transactions of one partition replica's log (KIP-98): which producers have one open, how
//! the ended ones ended, and the last stable offset (LSO) that `read_committed` consumers read
//! below.
//!
//! A transaction opens in a partition with its producer's first transactional batch there, and
//! ends with the marker the coordinator has the leader write ([`TransactionMarker`]). A
//! `read_committed` consumer reads below the LSO: the high watermark, or the first offset of the
//! earliest transaction that is still open or whose marker the high watermark has not passed,
//! whichever is lower. Below the LSO every transaction's outcome is known and replicated, so the
//! consumer can drop the aborted ones' records: a fetch answer lists the aborted transactions its
//! records overlap ([`AbortedTransaction`]), as Kafka's does.
//!
//! Invariants, and why:
//! - The state is a pure function of the log's batches ([`TransactionStates::from_batches`]):
//!   every append goes through [`TransactionStates::note`] (leader or follower), and truncation
//!   and recovery rebuild it, so a replica that becomes leader knows every transaction its log
//!   holds, and a truncated marker reopens its transaction.
//! - A producer has at most one open transaction per partition, and the ended ones are kept in
//!   marker order (their marker offsets increase).
//! - `LSO <= HW`, and no open transaction starts below the LSO: a `read_committed` consumer never
//!   reads a record whose transaction may still abort.
//! - The coordinator epoch a partition took a producer's last marker from never decreases
//!   (zoo 8: a delayed marker of a deposed coordinator must not end a newer transaction).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{BatchTransaction, RecordBatch, TransactionMarker, TransactionOutcome};

/// Every transaction a partition replica's log holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionStates {
    /// Producer id -> the offset of its open transaction's first record in this log.
    open: BTreeMap<u64, u64>,
    /// Transactions ended by a marker, in marker order.
    ended: Vec<EndedTransaction>,
    /// Producer id -> the coordinator epoch of the last marker written for it.
    coordinator_epochs: BTreeMap<u64, u64>,
}

/// A transaction that a marker ended, as one partition's log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndedTransaction {
    pub producer_id: u64,
    pub first_offset: u64,
    pub marker_offset: u64,
    pub outcome: TransactionOutcome,
}

/// An aborted transaction a fetch answer's records overlap: a `read_committed` consumer drops the
/// producer's transactional records from `first_offset` up to the producer's next marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbortedTransaction {
    pub producer_id: u64,
    pub first_offset: u64,
}

/// Why a partition leader refuses to write a marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerVerdict {
    Write,
    /// The marker's coordinator epoch is below the one of the producer's last marker
    /// (TRANSACTION_COORDINATOR_FENCED).
    CoordinatorFenced {
        current: u64,
    },
}

impl TransactionStates {
    /// The state a log of `batches` implies.
    pub fn from_batches(batches: &[RecordBatch]) -> Self {
        let mut states = TransactionStates::default();
        for batch in batches {
            states.note(batch);
        }
        states
    }

    /// Forgets every transaction (the log was emptied).
    pub fn clear(&mut self) {
        *self = TransactionStates::default();
    }

    /// Records a batch appended at the log end.
    pub fn note(&mut self, batch: &RecordBatch) {
        match batch.transaction() {
            BatchTransaction::None => {}
            BatchTransaction::Data => {
                let producer = batch
                    .producer
                    .0
                    .expect("a transaction's records carry their producer's stamp");
                self.open
                    .entry(producer.producer_id)
                    .or_insert(batch.base_offset);
            }
            BatchTransaction::Marker => {
                let marker = batch.transaction_marker().expect("a marker");
                self.note_marker(batch.base_offset, &marker);
            }
        }
    }

    fn note_marker(&mut self, marker_offset: u64, marker: &TransactionMarker) {
        if let Some(last) = self.ended.last() {
            assert!(
                last.marker_offset < marker_offset,
                "markers are noted in log order: {} then {marker_offset}",
                last.marker_offset
            );
        }
        let epoch = self
            .coordinator_epochs
            .entry(marker.producer_id)
            .or_insert(marker.coordinator_epoch);
        *epoch = (*epoch).max(marker.coordinator_epoch);
        // A marker for a producer with nothing open here ends a transaction that wrote nothing
        // to this partition: there is nothing to end.
        if let Some(first_offset) = self.open.remove(&marker.producer_id) {
            self.ended.push(EndedTransaction {
                producer_id: marker.producer_id,
                first_offset,
                marker_offset,
                outcome: marker.outcome,
            });
        }
    }

    /// Whether the leader may write `marker`.
    pub fn marker_verdict(&self, marker: &TransactionMarker) -> MarkerVerdict {
        match self.coordinator_epochs.get(&marker.producer_id) {
            Some(&current) if marker.coordinator_epoch < current => {
                MarkerVerdict::CoordinatorFenced { current }
            }
            _ => MarkerVerdict::Write,
        }
    }

    /// Whether `producer_id` has a transaction open in this log.
    pub fn is_open(&self, producer_id: u64) -> bool {
        self.open.contains_key(&producer_id)
    }

    /// How many transactions are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The transactions ended so far, in marker order.
    pub fn ended(&self) -> &[EndedTransaction] {
        &self.ended
    }

    /// The last stable offset under `high_watermark`: below it every transaction has ended and
    /// its marker is replicated.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        let mut stable = high_watermark;
        for &first_offset in self.open.values() {
            stable = stable.min(first_offset);
        }
        // Markers increase along `ended`: those the HW has not passed are at its end.
        for ended in self.ended.iter().rev() {
            if ended.marker_offset < high_watermark {
                break;
            }
            stable = stable.min(ended.first_offset);
        }
        stable
    }

    /// The aborted transactions that records in `from_offset..end_offset` may belong to, in
    /// order of first offset: those that start below `end_offset` and end at or after
    /// `from_offset`.
    pub fn aborted_overlapping(
        &self,
        from_offset: u64,
        end_offset: u64,
    ) -> Vec<AbortedTransaction> {
        let first_ending_after = self
            .ended
            .partition_point(|ended| ended.marker_offset < from_offset);
        let mut aborted: Vec<AbortedTransaction> = self.ended[first_ending_after..]
            .iter()
            .filter(|ended| {
                ended.outcome == TransactionOutcome::Abort && ended.first_offset < end_offset
            })
            .map(|ended| AbortedTransaction {
                producer_id: ended.producer_id,
                first_offset: ended.first_offset,
            })
            .collect();
        aborted.sort_unstable_by_key(|aborted| (aborted.first_offset, aborted.producer_id));
        aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::Record;

    fn data(base_offset: u64, producer_id: u64, count: usize) -> RecordBatch {
        RecordBatch::transactional(base_offset, producer_id, vec![Record::default(); count])
    }

    fn marker(offset: u64, producer_id: u64, outcome: TransactionOutcome) -> RecordBatch {
        marker_from(offset, producer_id, outcome, 0)
    }

    fn marker_from(
        offset: u64,
        producer_id: u64,
        outcome: TransactionOutcome,
        coordinator_epoch: u64,
    ) -> RecordBatch {
        RecordBatch::marker(
            offset,
            1,
            TransactionMarker {
                producer_id,
                producer_epoch: 0,
                outcome,
                coordinator_epoch,
            },
        )
    }

    fn plain(base_offset: u64, count: usize) -> RecordBatch {
        RecordBatch::new(base_offset, 1, vec![Record::default(); count])
    }

    #[test]
    fn the_stable_offset_stops_at_the_first_open_transaction() {
        // 0..2 plain, 2..4 producer 7 (open), 4 plain, 5..6 producer 8 (open).
        let log = [plain(0, 2), data(2, 7, 2), plain(4, 1), data(5, 8, 1)];
        let states = TransactionStates::from_batches(&log);
        assert_eq!(states.open_count(), 2);
        assert_eq!(states.last_stable_offset(6), 2);
        assert_eq!(states.last_stable_offset(1), 1, "never above the HW");
    }

    #[test]
    fn an_ended_transaction_is_stable_once_the_high_watermark_passes_its_marker() {
        let log = [
            data(0, 7, 2),
            plain(2, 1),
            marker(3, 7, TransactionOutcome::Commit),
            plain(4, 1),
        ];
        let states = TransactionStates::from_batches(&log);
        assert!(!states.is_open(7));
        assert_eq!(
            states.last_stable_offset(3),
            0,
            "the marker is not replicated"
        );
        assert_eq!(states.last_stable_offset(4), 4);
        assert_eq!(states.last_stable_offset(5), 5);
    }

    #[test]
    fn a_transaction_opens_once_and_later_batches_join_it() {
        let log = [
            data(0, 7, 1),
            data(1, 7, 1),
            marker(2, 7, TransactionOutcome::Abort),
        ];
        let states = TransactionStates::from_batches(&log);
        assert_eq!(
            states.ended(),
            &[EndedTransaction {
                producer_id: 7,
                first_offset: 0,
                marker_offset: 2,
                outcome: TransactionOutcome::Abort,
            }]
        );
    }

    #[test]
    fn aborted_transactions_are_listed_where_they_overlap_the_read() {
        let log = [
            data(0, 7, 2),                            // 0..2 aborted
            data(2, 8, 1),                            // 2 committed
            marker(3, 7, TransactionOutcome::Abort),  // 3
            marker(4, 8, TransactionOutcome::Commit), // 4
            data(5, 7, 1),                            // 5 aborted
            marker(6, 7, TransactionOutcome::Abort),  // 6
        ];
        let states = TransactionStates::from_batches(&log);
        let aborted = |from, end| {
            states
                .aborted_overlapping(from, end)
                .iter()
                .map(|aborted| (aborted.producer_id, aborted.first_offset))
                .collect::<Vec<_>>()
        };
        assert_eq!(aborted(0, 7), vec![(7, 0), (7, 5)]);
        assert_eq!(aborted(1, 3), vec![(7, 0)]);
        assert_eq!(aborted(4, 5), Vec::<(u64, u64)>::new());
        assert_eq!(aborted(4, 7), vec![(7, 5)]);
        assert_eq!(aborted(6, 7), vec![(7, 5)], "the marker itself is in range");
        assert_eq!(aborted(7, 9), Vec::<(u64, u64)>::new());
    }

    #[test]
    fn aborted_transactions_are_listed_by_first_offset_whatever_their_producers() {
        let log = [
            data(0, 9, 1),
            data(1, 3, 1),
            marker(2, 3, TransactionOutcome::Abort),
            marker(3, 9, TransactionOutcome::Abort),
        ];
        let states = TransactionStates::from_batches(&log);
        let firsts: Vec<(u64, u64)> = states
            .aborted_overlapping(0, 4)
            .iter()
            .map(|aborted| (aborted.first_offset, aborted.producer_id))
            .collect();
        assert_eq!(firsts, [(0, 9), (1, 3)]);
    }

    #[test]
    fn a_marker_for_nothing_open_ends_nothing_but_counts_its_coordinator() {
        let states =
            TransactionStates::from_batches(&[marker_from(0, 7, TransactionOutcome::Abort, 3)]);
        assert!(states.ended().is_empty());
        let stale = TransactionMarker {
            producer_id: 7,
            producer_epoch: 0,
            outcome: TransactionOutcome::Commit,
            coordinator_epoch: 2,
        };
        assert_eq!(
            states.marker_verdict(&stale),
            MarkerVerdict::CoordinatorFenced { current: 3 }
        );
        let current = TransactionMarker {
            coordinator_epoch: 3,
            ..stale
        };
        assert_eq!(states.marker_verdict(&current), MarkerVerdict::Write);
        let other_producer = TransactionMarker {
            producer_id: 8,
            ..stale
        };
        assert_eq!(states.marker_verdict(&other_producer), MarkerVerdict::Write);
    }

    #[test]
    fn truncating_a_marker_reopens_its_transaction() {
        let log = [data(0, 7, 2), marker(2, 7, TransactionOutcome::Commit)];
        let truncated = TransactionStates::from_batches(&log[..1]);
        assert!(truncated.is_open(7));
        assert_eq!(truncated.last_stable_offset(2), 0);
    }
}
