//! `G1a` (aborted read): a value whose write definitely failed (a `fail` send, or a send inside
//! a `fail` transaction) is never read.
//!
//! Source: Adya's G1a, as checked by Jepsen's Kafka workload (`jepsen.tests.kafka`, G1a); Kafka's
//! `read_committed` isolation (KIP-98) hides aborted transactions' records.

use super::anomaly::{AnomalyKind, BadReadWitness, Findings, Witness};
use super::context::Context;
use super::model::Outcome;

pub fn analyse(context: &Context, findings: &mut Findings) {
    for read in context.distinct_reads() {
        let Some(writer) = context.writer_of(read.value) else {
            continue;
        };
        if context.event(writer).outcome() != Outcome::Fail {
            continue;
        }
        findings.add(AnomalyKind::AbortedRead, || {
            Witness::BadRead(BadReadWitness {
                key: context.key_name(read.key),
                offset: read.offset,
                value: read.value,
                writer: context.operation(writer),
                reader: context.operation(read.first_reader),
                reason: "the write failed",
            })
        });
    }
}
