//! `nonmonotonic-send` and `int-nonmonotonic-send`: one producer's acknowledged records of a key
//! land in the log in the order it sent them: each is later in the key's version order than the
//! producer's previous one (within one operation: `int-nonmonotonic-send`; across operations:
//! `nonmonotonic-send`).
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, nonmonotonic-send,
//! int-nonmonotonic-send); Kafka's ordering guarantee per producer and partition (KIP-98 keeps it
//! under retries for idempotent producers).

use super::anomaly::{AnomalyKind, Findings};
use super::consumer_position::{Step, judge_going_back};
use super::context::Context;

/// Judges one step of the walk (see [`super::check_model`], which walks once for all).
pub fn judge(context: &Context, step: &Step, findings: &mut Findings) {
    let kinds = [
        AnomalyKind::InternalNonmonotonicSend,
        AnomalyKind::NonmonotonicSend,
    ];
    judge_going_back(context, step, findings, kinds);
}
