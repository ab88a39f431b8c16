//! What a consumer makes of a fetch answer's batches: which records its application sees.
//!
//! Markers (control batches) take an offset each and are never returned. Under `read_committed`
//! the answer also lists the aborted transactions its batches may hold records of, by producer
//! and first offset; as Kafka's consumer does, walking the batches in offset order, a producer
//! counts as aborted from its aborted transaction's first offset until its abort marker, and its
//! transactional records meanwhile are dropped. The consumer's position moves past every offset
//! all the same, so that it never fetches them again.

use crate::log::{AbortedTransaction, BatchTransaction, Record, RecordBatch, TransactionOutcome};

/// Every offset of `batches` in order, with the record the application sees there, if any.
/// `aborted` may come in any order: the consumer takes them by first offset (Kafka's keeps
/// them in a priority queue).
pub(crate) fn delivered_records<'a>(
    batches: &'a [RecordBatch],
    aborted: &[AbortedTransaction],
) -> impl Iterator<Item = (u64, Option<&'a Record>)> + 'a {
    let mut by_first_offset = aborted.to_vec();
    by_first_offset.sort_unstable_by_key(|aborted| (aborted.first_offset, aborted.producer_id));
    let mut upcoming = by_first_offset.into_iter().peekable();
    let mut aborting: Vec<u64> = Vec::new();
    batches.iter().flat_map(move |batch| {
        while let Some(next) = upcoming.next_if(|next| next.first_offset <= batch.last_offset()) {
            if !aborting.contains(&next.producer_id) {
                aborting.push(next.producer_id);
            }
        }
        let visible = match batch.transaction() {
            BatchTransaction::None => true,
            BatchTransaction::Data => {
                let producer = batch.producer.0.map(|sequence| sequence.producer_id);
                !producer.is_some_and(|producer| aborting.contains(&producer))
            }
            BatchTransaction::Marker => {
                let marker = batch.transaction_marker().expect("a marker");
                if marker.outcome == TransactionOutcome::Abort {
                    aborting.retain(|producer| *producer != marker.producer_id);
                }
                false
            }
        };
        batch
            .records_with_offsets()
            .map(move |(offset, record)| (offset, visible.then_some(record)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::TransactionMarker;

    fn record(value: u64) -> Record {
        Record { key: None, value }
    }

    fn data(base_offset: u64, producer_id: u64, values: &[u64]) -> RecordBatch {
        let records: Vec<Record> = values.iter().map(|value| record(*value)).collect();
        RecordBatch::transactional(base_offset, producer_id, records)
    }

    fn marker(offset: u64, producer_id: u64, outcome: TransactionOutcome) -> RecordBatch {
        let marker = TransactionMarker {
            producer_id,
            producer_epoch: 0,
            outcome,
            coordinator_epoch: 0,
        };
        RecordBatch::marker(offset, 1, marker)
    }

    fn seen(batches: &[RecordBatch], aborted: &[AbortedTransaction]) -> Vec<(u64, Option<u64>)> {
        delivered_records(batches, aborted)
            .map(|(offset, record)| (offset, record.map(|record| record.value)))
            .collect()
    }

    #[test]
    fn markers_take_offsets_and_are_never_seen() {
        let batches = [
            RecordBatch::new(0, 1, vec![record(10)]),
            data(1, 7, &[11]),
            marker(2, 7, TransactionOutcome::Commit),
        ];
        assert_eq!(
            seen(&batches, &[]),
            vec![(0, Some(10)), (1, Some(11)), (2, None)]
        );
    }

    #[test]
    fn an_aborted_producer_is_dropped_until_its_abort_marker() {
        // Producer 7 aborts 1..3 and commits 6; producer 8 commits 3.
        let batches = [
            RecordBatch::new(0, 1, vec![record(10)]),
            data(1, 7, &[11, 12]),
            data(3, 8, &[13]),
            marker(4, 7, TransactionOutcome::Abort),
            marker(5, 8, TransactionOutcome::Commit),
            data(6, 7, &[16]),
            marker(7, 7, TransactionOutcome::Commit),
        ];
        let aborted = [AbortedTransaction {
            producer_id: 7,
            first_offset: 1,
        }];
        assert_eq!(
            seen(&batches, &aborted),
            vec![
                (0, Some(10)),
                (1, None),
                (2, None),
                (3, Some(13)),
                (4, None),
                (5, None),
                (6, Some(16)),
                (7, None),
            ]
        );
        assert_eq!(
            seen(&batches, &[])[1..3],
            [(1, Some(11)), (2, Some(12))],
            "read_uncommitted sees aborted records"
        );
    }

    #[test]
    fn aborted_transactions_are_taken_by_first_offset_in_any_order() {
        // Producer 9 aborts 0, producer 3 aborts 1: listed by producer id, not first offset.
        let batches = [
            data(0, 9, &[10]),
            data(1, 3, &[11]),
            marker(2, 3, TransactionOutcome::Abort),
            marker(3, 9, TransactionOutcome::Abort),
        ];
        let aborted = [
            AbortedTransaction {
                producer_id: 3,
                first_offset: 1,
            },
            AbortedTransaction {
                producer_id: 9,
                first_offset: 0,
            },
        ];
        assert_eq!(
            seen(&batches, &aborted),
            vec![(0, None), (1, None), (2, None), (3, None)]
        );
    }

    #[test]
    fn a_read_that_starts_inside_an_aborted_transaction_drops_its_rest() {
        let batches = [data(5, 7, &[15]), marker(6, 7, TransactionOutcome::Abort)];
        let aborted = [AbortedTransaction {
            producer_id: 7,
            first_offset: 2,
        }];
        assert_eq!(seen(&batches, &aborted), vec![(5, None), (6, None)]);
    }
}
