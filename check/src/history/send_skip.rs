//! `int-send-skip`: the records one operation sends to a key are contiguous in the key's version
//! order (nothing else lands between them). Kafka does not promise this, even inside a
//! transaction: other producers' records interleave. It is a violation only for a configuration
//! that demands isolated writes.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, int-send-skip), which found it normal
//! for Kafka's transactions.

use super::anomaly::{AnomalyKind, Findings, OrderWitness, Witness};
use super::consumer_position::{Step, records_between};
use super::context::Context;

/// Judges one step of the walk (see [`super::check_model`], which walks once for all).
pub fn judge(context: &Context, step: &Step, findings: &mut Findings) {
    if !step.is_internal() || step.current.index <= step.previous.index + 1 {
        return;
    }
    findings.add(AnomalyKind::InternalSendSkip, || {
        let order = context.orders.of(step.key);
        let (skipped, skipped_count) =
            records_between(order, step.previous.index, step.current.index);
        let operation = context.operation(step.current.event);
        Witness::Order(OrderWitness {
            process: operation.process,
            key: context.key_name(step.key),
            previous_operation: operation,
            operation,
            from: step.previous.record,
            to: step.current.record,
            skipped,
            skipped_count,
        })
    });
}
