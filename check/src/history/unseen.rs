//! `unseen`: every acknowledged record is eventually read. Records above the highest record any
//! poll read of their key are not lost (nothing later was read), but unseen; at the end of a run
//! whose consumers drained every key there must be none.
//!
//! A transaction is atomic, so a transaction whose commit was never acknowledged (`info`) but one
//! of whose records was read committed: every other record of it counts as acknowledged too, and
//! must be read as well. One left unread is a torn transaction (some partitions got its commit
//! marker, others an abort or none), reported as `unseen` with no offset, as its producer never
//! learnt one.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, unseen: "acknowledged writes which were
//! never observed by any poll"), which judges it after a final drain phase.

use super::anomaly::{AnomalyKind, Findings, MissingWrite, RecordRead, Witness};
use super::context::Context;
use super::model::{KeyId, Outcome};
use super::operation::Function;

pub fn analyse(
    context: &Context,
    highest: &[Option<(usize, RecordRead)>],
    findings: &mut Findings,
) {
    analyse_acknowledged(context, highest, findings);
    analyse_torn_transactions(context, findings);
}

/// Acknowledged records (and records read) above the highest record read of their key.
fn analyse_acknowledged(
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
                        offset: Some(entry.offset),
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

/// Records never read of indeterminate transactions that committed (another record of theirs was
/// read). `ok` transactions' records are acknowledged at offsets: [`analyse_acknowledged`]'s.
fn analyse_torn_transactions(context: &Context, findings: &mut Findings) {
    let model = context.model;
    for (event_id, event) in model.events.iter().enumerate() {
        let indeterminate = matches!(event.outcome(), Outcome::Info | Outcome::Pending);
        if event.function() != Function::Txn || !indeterminate {
            continue;
        }
        if !context.is_committed(event_id as u32) {
            continue;
        }
        for send in model.sends_of(event) {
            if context.was_read(send.key, send.value) {
                continue;
            }
            findings.add(AnomalyKind::Unseen, || {
                Witness::MissingWrite(MissingWrite {
                    key: context.key_name(send.key),
                    offset: None,
                    value: send.value,
                    writer: Some(event.operation),
                    highest_read: None,
                    replicas: context.replica_copies(send.key, send.value),
                })
            });
        }
    }
}
