//! `nonmonotonic-poll` and `int-nonmonotonic-poll`: a consumer that keeps a key assigned reads
//! its records in log order: each read of a key by a process is later in the key's version order
//! than its previous one (within one poll: `int-nonmonotonic-poll`; across polls:
//! `nonmonotonic-poll`).
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, nonmonotonic-poll,
//! int-nonmonotonic-poll); Kafka's consumer contract (records of a partition arrive in offset
//! order).

use super::anomaly::{AnomalyKind, Findings, OrderWitness, Witness};
use super::consumer_position::Step;
use super::context::Context;

/// Judges one step of the walk (see [`super::check_model`], which walks once for all).
pub fn judge(context: &Context, step: &Step, findings: &mut Findings) {
    if step.current.index > step.previous.index {
        return;
    }
    let kind = if step.is_internal() {
        AnomalyKind::InternalNonmonotonicPoll
    } else {
        AnomalyKind::NonmonotonicPoll
    };
    findings.add(kind, || {
        let operation = context.operation(step.current.event);
        Witness::Order(OrderWitness {
            process: operation.process,
            key: context.key_name(step.key),
            previous_operation: context.operation(step.previous.event),
            operation,
            from: step.previous.record,
            to: step.current.record,
            skipped: Vec::new(),
            skipped_count: 0,
        })
    });
}
