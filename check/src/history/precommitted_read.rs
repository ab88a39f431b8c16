//! `precommitted-read`: a value is read only after its write could have committed. Two reads
//! prove otherwise: a read that completed before its writer was even invoked, and a transaction
//! that reads a value it sends itself (under `read_committed`, a transaction's own records become
//! visible only when it commits, after all its polls).
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, precommitted-read); Kafka's
//! `read_committed` isolation (KIP-98).

use super::anomaly::{AnomalyKind, BadReadWitness, Findings, Witness};
use super::context::Context;
use super::model::EventId;

pub fn analyse(context: &Context, findings: &mut Findings) {
    let model = context.model;
    for (reader, event) in model.events.iter().enumerate() {
        let reader = reader as EventId;
        for read in model.reads_of(event) {
            let Some(writer) = context.writer_of(read.value) else {
                continue;
            };
            let Some(reason) = precommitted_reason(context, writer, reader) else {
                continue;
            };
            findings.add(AnomalyKind::PrecommittedRead, || {
                Witness::BadRead(BadReadWitness {
                    key: context.key_name(read.key),
                    offset: read.offset,
                    value: read.value,
                    writer: context.operation(writer),
                    reader: context.operation(reader),
                    reason,
                })
            });
        }
    }
}

fn precommitted_reason(
    context: &Context,
    writer: EventId,
    reader: EventId,
) -> Option<&'static str> {
    if writer == reader {
        return Some("a transaction read its own uncommitted write");
    }
    let read_completed = context.operation(reader).index?;
    let write_invoked = context.operation(writer).invoke_index;
    (read_completed < write_invoked).then_some("the read completed before the write was invoked")
}
