//! `lost-write`: a record that was acknowledged (or read) is never lost, so once a poll reads a
//! record of a key, every earlier record of the key's version order was read by some poll too.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, lost-write): "some value was observed
//! by a poll, and some earlier value in the version order was never observed". Assumes, as
//! Jepsen does, that consumers read each key from the start of its log.

use super::anomaly::{AnomalyKind, Findings, MissingWrite, RecordRead, Witness};
use super::context::Context;
use super::model::KeyId;

/// The highest version-order index of each key that any poll read, with its record and reader.
pub fn highest_reads(context: &Context) -> Vec<Option<(usize, RecordRead)>> {
    let model = context.model;
    let mut highest: Vec<Option<(usize, RecordRead)>> = vec![None; model.key_count()];
    for event in &model.events {
        for read in model.reads_of(event) {
            let index = context
                .orders
                .of(read.key)
                .index_of(read.offset)
                .expect("every read offset is in the version order");
            let slot = &mut highest[read.key as usize];
            if slot
                .as_ref()
                .is_none_or(|(highest_index, _)| index > *highest_index)
            {
                *slot = Some((
                    index,
                    RecordRead {
                        offset: read.offset,
                        value: read.value,
                        reader: event.operation,
                    },
                ));
            }
        }
    }
    highest
}

pub fn analyse(
    context: &Context,
    highest: &[Option<(usize, RecordRead)>],
    findings: &mut Findings,
) {
    for (key, highest_read) in highest.iter().enumerate() {
        if let Some((highest_index, record)) = highest_read {
            analyse_key(context, key as KeyId, *highest_index, record, findings);
        }
    }
}

fn analyse_key(
    context: &Context,
    key: KeyId,
    highest_index: usize,
    highest_read: &RecordRead,
    findings: &mut Findings,
) {
    let order = context.orders.of(key);
    for index in 0..highest_index {
        for entry in order.entries_at(index) {
            if context.was_read(key, entry.value) {
                continue;
            }
            findings.add(AnomalyKind::LostWrite, || {
                Witness::MissingWrite(MissingWrite {
                    key: context.key_name(key),
                    offset: Some(entry.offset),
                    value: entry.value,
                    writer: context
                        .writer_of(entry.value)
                        .map(|writer| context.operation(writer)),
                    highest_read: Some(highest_read.clone()),
                    replicas: context.replica_copies(key, entry.value),
                })
            });
        }
    }
}
