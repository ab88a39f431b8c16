//! `poll-skip` and `int-poll-skip`: a consumer that keeps a key assigned reads its records
//! without gaps: two successive reads of a key by one process are adjacent in the key's version
//! order (within one poll: `int-poll-skip`; across two polls: `poll-skip`). Gaps in offsets that
//! nobody observed (transaction markers, aborted records) are not skips. Without acks=all, an
//! acknowledged offset no poll read is not a skip either: the record may have been truncated and
//! its offset reused by one that `read_committed` consumers never see (a marker, an aborted
//! record), so only records some poll read count.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, poll-skip, int-poll-skip); Kafka's
//! consumer contract (a consumer's position advances one record at a time).

use super::anomaly::{AnomalyKind, Findings, Witness};
use super::config::Acks;
use super::consumer_position::{Step, records_between};
use super::context::Context;

/// Judges one step of the walk (see [`super::check_model`], which walks once for all).
pub fn judge(context: &Context, acks: Acks, step: &Step, findings: &mut Findings) {
    if step.current.index <= step.previous.index + 1 {
        return;
    }
    if acks != Acks::All {
        let order = context.orders.of(step.key);
        let read_between = (step.previous.index + 1..step.current.index)
            .any(|index| order.entries_at(index).iter().any(|entry| entry.read));
        if !read_between {
            return;
        }
    }
    let kind = if step.is_internal() {
        AnomalyKind::InternalPollSkip
    } else {
        AnomalyKind::PollSkip
    };
    findings.add(kind, || witness(context, step));
}

fn witness(context: &Context, step: &Step) -> Witness {
    let order = context.orders.of(step.key);
    let (skipped, skipped_count) = records_between(order, step.previous.index, step.current.index);
    step.witness(context, skipped, skipped_count)
}
