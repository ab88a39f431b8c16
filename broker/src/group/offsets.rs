//! The committed offsets of one offsets partition, replayed from its log.
//!
//! Committed offsets are records of the group's offsets partition (KAFKA.md, "Consumer groups"),
//! and a coordinator's table is a replay of that log up to the high watermark. Three kinds of
//! batch reach it:
//! - **A commit** (OffsetCommit): its records take effect at once.
//! - **A transactional commit** (TxnOffsetCommit, KIP-98's consume-transform-produce): a batch
//!   stamped with its producer and marked as transactional data. Its records wait, per producer,
//!   for the end of the producer's transaction.
//! - **A transaction marker**, written by the transaction coordinator because AddOffsetsToTxn put
//!   this partition in the transaction. Commit moves the producer's waiting offsets into the
//!   table; abort drops them.
//!
//! Invariants, and why:
//! - The table is a pure function of the log prefix applied, whatever the steps it was applied
//!   in: a new coordinator replays the log from its start and must build the table the old one
//!   had, open transactions included (a failover must neither lose a committed transaction's
//!   offsets nor apply an aborted one's).
//! - The log's order decides between two commits of one key: a transaction's offset replaces
//!   the table's only if its record is later in the log (Kafka's
//!   `GroupMetadata.completePendingTxnOffsetCommit`). A plain commit appended after the
//!   transaction's record, but before its marker, stands.
//! - A key with a waiting transactional commit is unstable: an OffsetFetch of it is answered
//!   UNSTABLE_OFFSET_COMMIT (KIP-447's `require_stable`) until the marker comes. A new owner of the
//!   partition that started from the table's offset would read again what the transaction, once
//!   committed, marks as processed.
//!
//! The planted bug `transactional_offsets_before_marker` applies a transactional commit at once,
//! as a plain one: nothing waits, and an aborted transaction's offsets stand.

use std::collections::BTreeMap;

use crate::log::{BatchTransaction, RecordBatch, TransactionOutcome};

/// One commit record as the table holds it: its value ([`super::commit_record_value`]) and where
/// the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CommitRecord {
    value: u64,
    log_offset: u64,
}

/// The offsets one offsets partition's log commits, replayed batch by batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommittedOffsets {
    /// Commit key ([`super::commit_key`]) -> the commit in effect.
    committed: BTreeMap<u64, CommitRecord>,
    /// Producer id -> its open transaction's commits, by commit key.
    waiting: BTreeMap<u64, BTreeMap<u64, CommitRecord>>,
    /// The planted bug: transactional commits take effect at once (see the module docs).
    offsets_before_marker: bool,
}

impl CommittedOffsets {
    /// An empty table; `offsets_before_marker` plants the bug of the module docs.
    pub(crate) fn new(offsets_before_marker: bool) -> Self {
        CommittedOffsets {
            offsets_before_marker,
            ..CommittedOffsets::default()
        }
    }

    /// Applies the records of `batch` whose offsets are in `from..to`.
    pub(crate) fn apply(&mut self, batch: &RecordBatch, from: u64, to: u64) {
        if let Some(marker) = batch.transaction_marker() {
            if (from..to).contains(&batch.base_offset) {
                self.end_transaction(marker.producer_id, marker.outcome);
            }
            return;
        }
        let producer_id = match (batch.transaction(), batch.producer.0) {
            (BatchTransaction::Data, Some(sequence)) if !self.offsets_before_marker => {
                Some(sequence.producer_id)
            }
            _ => None,
        };
        for (log_offset, record) in batch.records_with_offsets() {
            if !(from..to).contains(&log_offset) {
                continue;
            }
            let key = record.key.expect("offset commit records are keyed");
            let commit = CommitRecord {
                value: record.value,
                log_offset,
            };
            match producer_id {
                Some(producer_id) => {
                    self.waiting
                        .entry(producer_id)
                        .or_default()
                        .insert(key, commit);
                }
                None => {
                    self.committed.insert(key, commit);
                }
            }
        }
    }

    /// A marker ends `producer_id`'s transaction: its commits take effect, or vanish.
    fn end_transaction(&mut self, producer_id: u64, outcome: TransactionOutcome) {
        let Some(commits) = self.waiting.remove(&producer_id) else {
            return; // The transaction committed no offsets here.
        };
        if outcome == TransactionOutcome::Abort {
            return;
        }
        for (key, commit) in commits {
            let current = self.committed.get(&key);
            if current.is_none_or(|current| current.log_offset < commit.log_offset) {
                self.committed.insert(key, commit);
            }
        }
    }

    /// The committed value of `key` ([`super::committed_offset_of`] decodes it), if any.
    pub(crate) fn get(&self, key: u64) -> Option<u64> {
        self.committed.get(&key).map(|commit| commit.value)
    }

    /// Whether an open transaction holds a commit of `key`.
    pub(crate) fn is_unstable(&self, key: u64) -> bool {
        self.waiting
            .values()
            .any(|commits| commits.contains_key(&key))
    }

    /// How many producers' transactions hold commits not yet ended.
    pub(crate) fn open_transactions(&self) -> usize {
        self.waiting.len()
    }

    /// Whether `producer_id`'s open transaction holds commits here.
    pub(crate) fn holds_transaction_of(&self, producer_id: u64) -> bool {
        self.waiting.contains_key(&producer_id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::log::{Record, TransactionMarker};

    const PRODUCER: u64 = 7;

    fn commit(base_offset: u64, key: u64, value: u64) -> RecordBatch {
        RecordBatch::new(
            base_offset,
            1,
            vec![Record {
                key: Some(key),
                value,
            }],
        )
    }

    fn transactional(base_offset: u64, producer_id: u64, commits: &[(u64, u64)]) -> RecordBatch {
        let records = commits
            .iter()
            .map(|&(key, value)| Record {
                key: Some(key),
                value,
            })
            .collect();
        RecordBatch::transactional(base_offset, producer_id, records)
    }

    fn marker(base_offset: u64, producer_id: u64, outcome: TransactionOutcome) -> RecordBatch {
        let marker = TransactionMarker {
            producer_id,
            producer_epoch: 1,
            outcome,
            coordinator_epoch: 0,
        };
        RecordBatch::marker(base_offset, 1, marker)
    }

    fn replay(batches: &[RecordBatch]) -> CommittedOffsets {
        let mut offsets = CommittedOffsets::default();
        for batch in batches {
            offsets.apply(batch, 0, u64::MAX);
        }
        offsets
    }

    #[test]
    fn a_transactions_commits_wait_for_its_marker_then_take_effect() {
        let log = [
            commit(0, 1, 10),
            transactional(1, PRODUCER, &[(1, 20), (2, 30)]),
        ];
        let open = replay(&log);
        assert_eq!(open.get(1), Some(10), "the plain commit stands meanwhile");
        assert_eq!(open.get(2), None);
        assert!(open.is_unstable(1) && open.is_unstable(2) && !open.is_unstable(3));
        assert_eq!(open.open_transactions(), 1);

        let committed = replay(&[
            log[0].clone(),
            log[1].clone(),
            marker(3, PRODUCER, TransactionOutcome::Commit),
        ]);
        assert_eq!((committed.get(1), committed.get(2)), (Some(20), Some(30)));
        assert!(!committed.is_unstable(1) && committed.open_transactions() == 0);
    }

    #[test]
    fn an_aborted_transactions_commits_never_take_effect() {
        let offsets = replay(&[
            commit(0, 1, 10),
            transactional(1, PRODUCER, &[(1, 20)]),
            marker(2, PRODUCER, TransactionOutcome::Abort),
        ]);
        assert_eq!(offsets.get(1), Some(10));
        assert!(!offsets.is_unstable(1) && offsets.open_transactions() == 0);
    }

    #[test]
    fn the_planted_bug_applies_a_transactions_commits_at_once_and_keeps_them_after_an_abort() {
        let log = [
            commit(0, 1, 10),
            transactional(1, PRODUCER, &[(1, 20)]),
            marker(2, PRODUCER, TransactionOutcome::Abort),
        ];
        let mut offsets = CommittedOffsets::new(true);
        for batch in &log[..2] {
            offsets.apply(batch, 0, u64::MAX);
        }
        assert_eq!(offsets.get(1), Some(20), "at once, before the marker");
        assert!(!offsets.is_unstable(1) && offsets.open_transactions() == 0);
        offsets.apply(&log[2], 0, u64::MAX);
        assert_eq!(offsets.get(1), Some(20), "the abort does not undo it");
        assert_eq!(
            replay(&log).get(1),
            Some(10),
            "without the bug, the abort drops it"
        );
    }

    #[test]
    fn a_plain_commit_later_in_the_log_stands_against_the_transactions() {
        let offsets = replay(&[
            transactional(0, PRODUCER, &[(1, 20)]),
            commit(1, 1, 40),
            marker(2, PRODUCER, TransactionOutcome::Commit),
        ]);
        assert_eq!(offsets.get(1), Some(40), "the log's order decides");
    }

    #[test]
    fn producers_transactions_end_apart() {
        let offsets = replay(&[
            transactional(0, PRODUCER, &[(1, 20)]),
            transactional(1, PRODUCER + 1, &[(2, 30)]),
            marker(2, PRODUCER + 1, TransactionOutcome::Commit),
        ]);
        assert_eq!((offsets.get(1), offsets.get(2)), (None, Some(30)));
        assert!(offsets.is_unstable(1) && !offsets.is_unstable(2));
    }

    /// One entry of a generated offsets log.
    #[derive(Clone, Debug)]
    enum Entry {
        Commit { key: u64, value: u64 },
        Transactional { producer: u64, key: u64, value: u64 },
        Marker { producer: u64, commit: bool },
    }

    fn entry() -> impl Strategy<Value = Entry> {
        prop_oneof![
            (0..4u64, 0..100u64).prop_map(|(key, value)| Entry::Commit { key, value }),
            (0..3u64, 0..4u64, 0..100u64).prop_map(|(producer, key, value)| {
                Entry::Transactional {
                    producer,
                    key,
                    value,
                }
            }),
            (0..3u64, any::<bool>())
                .prop_map(|(producer, commit)| Entry::Marker { producer, commit }),
        ]
    }

    fn log_of(entries: &[Entry]) -> Vec<RecordBatch> {
        (0..)
            .zip(entries)
            .map(|(offset, entry)| match *entry {
                Entry::Commit { key, value } => commit(offset, key, value),
                Entry::Transactional {
                    producer,
                    key,
                    value,
                } => transactional(offset, producer, &[(key, value)]),
                Entry::Marker { producer, commit } => {
                    let outcome = if commit {
                        TransactionOutcome::Commit
                    } else {
                        TransactionOutcome::Abort
                    };
                    marker(offset, producer, outcome)
                }
            })
            .collect()
    }

    proptest! {
        /// A coordinator applies its log a high watermark at a time; a new one replays it whole.
        /// Both must hold the same table.
        #[test]
        fn replay_in_any_steps_gives_the_same_table(
            entries in prop::collection::vec(entry(), 0..40),
            cuts in prop::collection::vec(0..40u64, 0..6),
        ) {
            let log = log_of(&entries);
            let whole = replay(&log);
            let mut bounds: Vec<u64> = cuts.into_iter().chain([0, log.len() as u64]).collect();
            bounds.sort_unstable();
            let mut stepped = CommittedOffsets::default();
            for step in bounds.windows(2) {
                for batch in &log {
                    stepped.apply(batch, step[0], step[1]);
                }
            }
            prop_assert_eq!(stepped, whole);
        }
    }
}
