//! `unseen`: every acknowledged record is eventually read. Records above the highest record any
//! poll read of their key are not lost (nothing later was read), but unseen; at the end of a run
//! whose consumers drained every key there must be none.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, unseen: "acknowledged writes which were
//! never observed by any poll"), which judges it after a final drain phase.

use super::anomaly::{AnomalyKind, Findings, MissingWrite, RecordRead, Witness};
use super::context::Context;
use super::model::KeyId;

pub fn analyse(
    context: &Context,
    highest: &[Option<(usize, RecordRead)>],
    findings: &mut Findings,
) {
    for (key, highest_read) in highest.iter().enumerate() {
        let key = key as KeyId;
        let order = context.orders.of(key);
        let first_unread = highest_read.as_ref().map_or(0, |(index, _)| index + 1);
        for index in first_unread..order.len() {
            for entry in order.entries_at(index) {
                debug_assert!(!context.was_read(key, entry.value) || highest_read.is_some());
                if context.was_read(key, entry.value) {
                    continue;
                }
                findings.add(AnomalyKind::Unseen, || {
                    Witness::MissingWrite(MissingWrite {
                        key: context.key_name(key),
                        offset: entry.offset,
                        value: entry.value,
                        writer: context
                            .writer_of(entry.value)
                            .map(|writer| context.operation(writer)),
                        highest_read: None,
                        replicas: context.replica_copies(key, entry.value),
                    })
                });
            }
        }
    }
}
