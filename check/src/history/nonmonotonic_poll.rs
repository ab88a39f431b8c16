//! `nonmonotonic-poll` and `int-nonmonotonic-poll`: a consumer that keeps a key assigned reads
//! its records in log order: each read of a key by a process is later in the key's version order
//! than its previous one (within one poll: `int-nonmonotonic-poll`; across polls:
//! `nonmonotonic-poll`).
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, nonmonotonic-poll,
//! int-nonmonotonic-poll); Kafka's consumer contract (records of a partition arrive in offset
//! order).

use super::anomaly::{AnomalyKind, Findings};
use super::consumer_position::{Step, judge_going_back};
use super::context::Context;

/// Judges one step of the walk (see [`super::check_model`], which walks once for all).
pub fn judge(context: &Context, step: &Step, findings: &mut Findings) {
    let kinds = [
        AnomalyKind::InternalNonmonotonicPoll,
        AnomalyKind::NonmonotonicPoll,
    ];
    judge_going_back(context, step, findings, kinds);
}
