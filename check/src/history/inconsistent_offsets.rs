//! `inconsistent-offsets`: an offset of a key's log holds one record, whoever observes it. Two
//! values seen at one offset (by acknowledgements or polls) mean replicas diverged below what
//! was exposed, or a committed record was overwritten.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, inconsistent-offsets); Kafka's
//! replication design (a committed record is never truncated, KIP-101, KIP-279).

use super::anomaly::{AnomalyKind, Findings, InconsistentOffsetWitness, Observation, Witness};
use super::context::Context;
use super::model::KeyId;

pub fn analyse(context: &Context, findings: &mut Findings) {
    for (key, order) in context.orders.by_key.iter().enumerate() {
        for index in 0..order.len() {
            let entries = order.entries_at(index);
            if entries.len() < 2 {
                continue;
            }
            findings.add(AnomalyKind::InconsistentOffsets, || {
                Witness::InconsistentOffset(InconsistentOffsetWitness {
                    key: context.key_name(key as KeyId),
                    offset: order.offsets[index],
                    values: entries
                        .iter()
                        .map(|entry| Observation {
                            value: entry.value,
                            first_observed_by: context.operation(entry.first_observer),
                        })
                        .collect(),
                })
            });
        }
    }
}
