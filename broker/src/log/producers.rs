//! The idempotent producers' state of one partition replica (KIP-98): which batches each
//! producer last wrote, so that a leader appends a retried batch once.
//!
//! A producer numbers its records per partition from 0 and retries a batch with the same numbers.
//! The leader appends a batch only if it continues the producer's sequence; a batch it already
//! holds among the producer's last [`PRODUCER_BATCHES_REMEMBERED`] is a duplicate, answered with
//! the offset it was appended at; anything else is out of order and refused. A producer the
//! partition does not know may start only at sequence 0: its state may have been lost, and a
//! batch accepted at any other number might be one the log already holds.
//!
//! Invariants, and why:
//! - The state is a pure function of the log's batches ([`ProducerStates::from_batches`]):
//!   every replica appends through [`ProducerStates::note`] (leader or follower), and truncation
//!   and recovery rebuild it from the log, so a replica that becomes leader knows every producer
//!   its log holds (KAFKA.md: "producer state survives leader changes, rebuilt from the log").
//! - Per producer, the remembered batches are in log order and their sequence numbers increase.
//! - A batch cut into pieces between replicas is one remembered batch: pieces carry the number of
//!   the batch's first record ([`ProducerSequence::batch_first_sequence`]).
//! - A transaction marker carries its producer's epoch: a marker of a newer epoch (the coordinator
//!   fenced an older producer instance and aborted its transaction) makes the partition refuse
//!   the older epoch's batches, and the new epoch numbers its records from 0 again.

use std::collections::{BTreeMap, VecDeque};

use super::record::{ProducerSequence, RecordBatch, TransactionMarker};

/// How many of a producer's batches a partition remembers (Kafka's five: a producer has at most
/// five requests in flight per partition, `max.in.flight.requests.per.connection`).
pub const PRODUCER_BATCHES_REMEMBERED: usize = 5;

/// Every idempotent producer a partition replica's log holds a batch of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: BTreeMap<u64, ProducerState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ProducerState {
    epoch: u16,
    /// The last batches written, oldest first.
    batches: VecDeque<WrittenBatch>,
}

/// One batch of a producer's as the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WrittenBatch {
    first_sequence: u32,
    /// The number of the last record the log holds (all of the batch, unless only a piece of it
    /// was replicated here).
    last_sequence: u32,
    /// The offset of the batch's first record.
    base_offset: u64,
}

/// What a leader does with a producer's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// The batch continues the producer's sequence: append it.
    Append,
    /// The log holds the batch already, at `base_offset..end_offset`: answer with that.
    Duplicate { base_offset: u64, end_offset: u64 },
    /// The batch neither continues the sequence nor repeats a remembered batch
    /// (OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrder { expected: u32 },
    /// The producer is unknown here and the batch does not start its sequence
    /// (UNKNOWN_PRODUCER_ID).
    UnknownProducer,
    /// The producer's epoch is older than one the log holds (INVALID_PRODUCER_EPOCH).
    FencedEpoch { current: u16 },
}

impl ProducerStates {
    /// The state a log of `batches` implies.
    pub fn from_batches(batches: &[RecordBatch]) -> Self {
        let mut states = ProducerStates::default();
        for batch in batches {
            states.note(batch);
        }
        states
    }

    /// Forgets every producer (the log was emptied).
    pub fn clear(&mut self) {
        self.producers.clear();
    }

    /// How many producers the log holds batches of.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether the log holds no idempotent producer's batch.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Records a batch appended at the log end.
    pub fn note(&mut self, batch: &RecordBatch) {
        if let Some(marker) = batch.transaction_marker() {
            self.note_marker(&marker);
            return;
        }
        let Some(sequence) = batch.producer.0 else {
            return;
        };
        let state = self
            .producers
            .entry(sequence.producer_id)
            .or_insert(ProducerState {
                epoch: sequence.producer_epoch,
                batches: VecDeque::new(),
            });
        if sequence.producer_epoch < state.epoch {
            // Fenced at the leader: a log holds it only if written before the fence, or if the
            // leader ran zoo 7's planted `accept_stale_producer_epoch`.
            return;
        }
        if sequence.producer_epoch > state.epoch {
            state.epoch = sequence.producer_epoch;
            state.batches.clear();
        }
        let last_sequence = last_sequence(&sequence, batch.record_count());
        if let Some(last) = state.batches.back_mut()
            && last.first_sequence == sequence.batch_first_sequence
            && last.last_sequence.checked_add(1) == Some(sequence.base_sequence)
        {
            last.last_sequence = last_sequence; // The next piece of the same batch.
            return;
        }
        let skipped = u64::from(sequence.base_sequence - sequence.batch_first_sequence);
        state.batches.push_back(WrittenBatch {
            first_sequence: sequence.batch_first_sequence,
            last_sequence,
            base_offset: batch.base_offset.saturating_sub(skipped),
        });
        if state.batches.len() > PRODUCER_BATCHES_REMEMBERED {
            state.batches.pop_front();
        }
    }

    /// A marker moves its producer to the marker's epoch, if newer.
    fn note_marker(&mut self, marker: &TransactionMarker) {
        let state = self
            .producers
            .entry(marker.producer_id)
            .or_insert(ProducerState {
                epoch: marker.producer_epoch,
                batches: VecDeque::new(),
            });
        if marker.producer_epoch > state.epoch {
            state.epoch = marker.producer_epoch;
            state.batches.clear();
        }
    }

    /// The epoch the partition knows `producer_id` at, if it knows the producer.
    pub fn epoch_of(&self, producer_id: u64) -> Option<u16> {
        self.producers.get(&producer_id).map(|state| state.epoch)
    }

    /// What to do with a producer's whole batch of `record_count` records.
    pub fn verdict(&self, sequence: ProducerSequence, record_count: u64) -> SequenceVerdict {
        debug_assert_eq!(sequence.base_sequence, sequence.batch_first_sequence);
        let first = sequence.base_sequence;
        let Some(state) = self.producers.get(&sequence.producer_id) else {
            return if first == 0 {
                SequenceVerdict::Append
            } else {
                SequenceVerdict::UnknownProducer
            };
        };
        if sequence.producer_epoch < state.epoch {
            return SequenceVerdict::FencedEpoch {
                current: state.epoch,
            };
        }
        let expected = match state.batches.back() {
            Some(last) if sequence.producer_epoch == state.epoch => last.last_sequence + 1,
            _ => 0, // A new epoch starts its numbers again.
        };
        if first == expected {
            return SequenceVerdict::Append;
        }
        let last = last_sequence(&sequence, record_count);
        let repeated = state
            .batches
            .iter()
            .find(|written| written.first_sequence == first && written.last_sequence == last);
        match repeated {
            Some(written) if sequence.producer_epoch == state.epoch => SequenceVerdict::Duplicate {
                base_offset: written.base_offset,
                end_offset: written.base_offset + record_count,
            },
            _ => SequenceVerdict::OutOfOrder { expected },
        }
    }
}

fn last_sequence(sequence: &ProducerSequence, record_count: u64) -> u32 {
    debug_assert!(record_count > 0, "a record batch is never empty");
    let count = u32::try_from(record_count).expect("a batch holds fewer than 2^32 records");
    sequence
        .base_sequence
        .checked_add(count - 1)
        .expect("a producer numbers fewer than 2^32 records per partition")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{ProducerStamp, Record};

    fn stamp(producer_id: u64, first: u32) -> ProducerSequence {
        ProducerSequence {
            producer_id,
            producer_epoch: 0,
            batch_first_sequence: first,
            base_sequence: first,
            transaction: crate::log::BatchTransaction::None,
        }
    }

    fn batch(base_offset: u64, sequence: ProducerSequence, count: usize) -> RecordBatch {
        RecordBatch::new(base_offset, 1, vec![Record::default(); count])
            .with_producer(ProducerStamp(Some(sequence)))
    }

    #[test]
    fn a_new_producer_starts_at_zero_and_continues_its_sequence() {
        let mut states = ProducerStates::default();
        assert_eq!(states.verdict(stamp(7, 0), 2), SequenceVerdict::Append);
        assert_eq!(
            states.verdict(stamp(7, 2), 2),
            SequenceVerdict::UnknownProducer
        );
        states.note(&batch(0, stamp(7, 0), 2));
        assert_eq!(states.verdict(stamp(7, 2), 1), SequenceVerdict::Append);
        assert_eq!(
            states.verdict(stamp(7, 3), 1),
            SequenceVerdict::OutOfOrder { expected: 2 }
        );
    }

    #[test]
    fn a_retried_batch_is_a_duplicate_at_its_offset_while_remembered() {
        let mut states = ProducerStates::default();
        // Producer 7's batches of two records at offsets 10, 20, ...; another producer between.
        for index in 0..6u32 {
            states.note(&batch(10 * u64::from(index) + 10, stamp(7, 2 * index), 2));
            states.note(&batch(10 * u64::from(index) + 12, stamp(8, index), 1));
        }
        assert_eq!(
            states.verdict(stamp(7, 10), 2),
            SequenceVerdict::Duplicate {
                base_offset: 60,
                end_offset: 62
            }
        );
        assert_eq!(
            states.verdict(stamp(7, 2), 2),
            SequenceVerdict::Duplicate {
                base_offset: 20,
                end_offset: 22
            },
            "the fifth batch back is still remembered"
        );
        assert_eq!(
            states.verdict(stamp(7, 0), 2),
            SequenceVerdict::OutOfOrder { expected: 12 },
            "the sixth batch back is forgotten"
        );
        assert_eq!(
            states.verdict(stamp(7, 10), 1),
            SequenceVerdict::OutOfOrder { expected: 12 },
            "a batch that differs from the one remembered is not its duplicate"
        );
    }

    #[test]
    fn pieces_of_a_batch_are_one_batch() {
        let whole = batch(4, stamp(7, 0), 3);
        let mut states = ProducerStates::default();
        states.note(&whole.slice(4, 5));
        assert_eq!(
            states.verdict(stamp(7, 0), 3),
            SequenceVerdict::OutOfOrder { expected: 1 },
            "a batch held in part is neither appended again nor acknowledged"
        );
        states.note(&whole.slice(5, 7));
        assert_eq!(states, ProducerStates::from_batches(&[whole]));
        assert_eq!(
            states.verdict(stamp(7, 0), 3),
            SequenceVerdict::Duplicate {
                base_offset: 4,
                end_offset: 7
            }
        );
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_starts_again() {
        let mut states = ProducerStates::default();
        let newer = ProducerSequence {
            producer_epoch: 2,
            ..stamp(7, 0)
        };
        states.note(&batch(0, newer, 2));
        let older = ProducerSequence {
            producer_epoch: 1,
            ..stamp(7, 2)
        };
        assert_eq!(
            states.verdict(older, 1),
            SequenceVerdict::FencedEpoch { current: 2 }
        );
        let next = ProducerSequence {
            producer_epoch: 3,
            ..stamp(7, 0)
        };
        assert_eq!(states.verdict(next, 1), SequenceVerdict::Append);
    }

    #[test]
    fn a_marker_of_a_newer_epoch_fences_the_older_one() {
        use crate::log::record::{TransactionMarker, TransactionOutcome};
        let mut states = ProducerStates::default();
        states.note(&batch(0, stamp(7, 0), 2));
        let marker = |offset, producer_epoch| {
            RecordBatch::marker(
                offset,
                1,
                TransactionMarker {
                    producer_id: 7,
                    producer_epoch,
                    outcome: TransactionOutcome::Abort,
                    coordinator_epoch: 0,
                },
            )
        };
        states.note(&marker(2, 0));
        assert_eq!(
            states.verdict(stamp(7, 2), 1),
            SequenceVerdict::Append,
            "a marker of the same epoch keeps the sequence"
        );
        states.note(&marker(3, 1));
        assert_eq!(states.epoch_of(7), Some(1));
        assert_eq!(
            states.verdict(stamp(7, 2), 1),
            SequenceVerdict::FencedEpoch { current: 1 },
            "the zombie's next batch"
        );
        let bumped = ProducerSequence {
            producer_epoch: 1,
            ..stamp(7, 0)
        };
        assert_eq!(states.verdict(bumped, 1), SequenceVerdict::Append);
        states.note(&marker(4, 5));
        assert_eq!(states.epoch_of(8), None);
        assert_eq!(states.epoch_of(7), Some(5));
    }

    #[test]
    fn batches_without_a_stamp_change_nothing() {
        let mut states = ProducerStates::default();
        states.note(&RecordBatch::new(0, 1, vec![Record::default()]));
        assert!(states.is_empty());
    }
}
