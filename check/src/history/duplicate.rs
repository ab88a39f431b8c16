//! `duplicate`: each value is written to its key's log once, so it sits at one offset. (The
//! workload sends every value at most once; a value at two offsets was appended twice, for
//! example by a retried batch that deduplication missed.)
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, duplicate); Kafka's idempotent producer
//! (KIP-98) promises no duplicates from retries.

use super::anomaly::{AnomalyKind, DuplicateWitness, Findings, Witness};
use super::context::Context;
use super::model::KeyId;

pub fn analyse(context: &Context, findings: &mut Findings) {
    for (key, order) in context.orders.by_key.iter().enumerate() {
        let mut by_value: Vec<(i64, u64)> = order
            .entries
            .iter()
            .map(|entry| (entry.value, entry.offset))
            .collect();
        by_value.sort_unstable();
        for run in by_value.chunk_by(|left, right| left.0 == right.0) {
            if run.len() < 2 {
                continue;
            }
            let value = run[0].0;
            findings.add(AnomalyKind::Duplicate, || {
                Witness::Duplicate(DuplicateWitness {
                    key: context.key_name(key as KeyId),
                    value,
                    offsets: run.iter().map(|&(_, offset)| offset).collect(),
                    writer: context
                        .writer_of(value)
                        .map(|writer| context.operation(writer)),
                })
            });
        }
    }
}
