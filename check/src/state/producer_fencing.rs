//! Zombie fencing at the partitions: once a replica's log holds a producer id at some epoch, it
//! never holds a later batch of that producer id from an older epoch.
//!
//! Why: a producer epoch is how Kafka fences a zombie (KIP-98). A new instance of a
//! transactional id, or a coordinator aborting a timed-out transaction, bumps the epoch, and the
//! abort markers carry the new one; from then on a leader refuses the old epoch's batches
//! (INVALID_PRODUCER_EPOCH), so whatever the zombie still sends cannot land in a transaction it
//! is not part of. A leader appends a batch only after checking its epoch against the producer
//! state its own log determines, and followers copy the leader's log, so no replica's log can
//! show an older epoch after a newer one: if one does, a leader let a fenced producer write.
//!
//! The check runs over whole logs (the runner's final check), one replica at a time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateViolation;

/// One stamped batch of a replica's log, in log order: an idempotent or transactional
/// producer's records, or a transaction marker (which carries the epoch its coordinator wrote it
/// under).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerBatch {
    pub offset: u64,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub marker: bool,
}

/// A replica's log, for [`check_producer_fencing`].
#[derive(Debug, Clone, Copy)]
pub struct FencingSubject<'a> {
    pub time_ns: u64,
    pub node: u32,
    pub topic: &'a str,
    pub partition: u32,
}

/// Checks that no batch of `batches` (one replica's stamped batches, in log order) carries an
/// older epoch of its producer id than a batch or marker before it.
pub fn check_producer_fencing(
    subject: FencingSubject<'_>,
    batches: impl IntoIterator<Item = ProducerBatch>,
) -> Result<(), StateViolation> {
    // Producer id -> the newest epoch the log showed, and where it first showed it.
    let mut newest: BTreeMap<u64, (u16, u64)> = BTreeMap::new();
    for batch in batches {
        let (epoch, since_offset) = *newest
            .entry(batch.producer_id)
            .or_insert((batch.producer_epoch, batch.offset));
        if batch.producer_epoch > epoch {
            newest.insert(batch.producer_id, (batch.producer_epoch, batch.offset));
        } else if batch.producer_epoch < epoch && !batch.marker {
            return Err(StateViolation::FencedProducerWrite {
                time_ns: subject.time_ns,
                node: subject.node,
                topic: subject.topic.to_owned(),
                partition: subject.partition,
                offset: batch.offset,
                producer_id: batch.producer_id,
                producer_epoch: batch.producer_epoch,
                fencing_epoch: epoch,
                fencing_offset: since_offset,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: FencingSubject<'static> = FencingSubject {
        time_ns: 9,
        node: 2,
        topic: "orders",
        partition: 1,
    };

    fn data(offset: u64, producer_id: u64, producer_epoch: u16) -> ProducerBatch {
        ProducerBatch {
            offset,
            producer_id,
            producer_epoch,
            marker: false,
        }
    }

    fn marker(offset: u64, producer_id: u64, producer_epoch: u16) -> ProducerBatch {
        ProducerBatch {
            marker: true,
            ..data(offset, producer_id, producer_epoch)
        }
    }

    #[test]
    fn epochs_that_never_go_back_per_producer_pass() {
        let log = [
            data(0, 7, 0),
            data(1, 8, 3),
            marker(2, 7, 1),
            data(3, 7, 1),
            data(4, 8, 3),
            data(5, 7, 2),
        ];
        assert_eq!(check_producer_fencing(SUBJECT, log), Ok(()));
    }

    #[test]
    fn a_batch_of_a_fenced_epoch_after_the_fencing_marker_is_reported_with_both() {
        let log = [data(0, 7, 0), marker(1, 7, 1), data(2, 8, 0), data(3, 7, 0)];
        assert_eq!(
            check_producer_fencing(SUBJECT, log),
            Err(StateViolation::FencedProducerWrite {
                time_ns: 9,
                node: 2,
                topic: "orders".to_owned(),
                partition: 1,
                offset: 3,
                producer_id: 7,
                producer_epoch: 0,
                fencing_epoch: 1,
                fencing_offset: 1,
            })
        );
    }

    #[test]
    fn a_batch_of_an_older_epoch_after_a_newer_batch_is_reported_too() {
        let log = [data(0, 7, 2), data(1, 7, 1)];
        assert!(matches!(
            check_producer_fencing(SUBJECT, log),
            Err(StateViolation::FencedProducerWrite {
                offset: 1,
                fencing_epoch: 2,
                fencing_offset: 0,
                ..
            })
        ));
    }
}
