//! `inconsistent-offsets`: an offset of a key's log holds one record, whoever observes it. Two
//! values seen at one offset (by acknowledgements or polls) mean replicas diverged below what
//! was exposed, or a committed record was overwritten.
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`, inconsistent-offsets); Kafka's
//! replication design (a committed record is never truncated, KIP-101, KIP-279).
//!
//! Under `acks=1` or `acks=0` an acknowledgement promises nothing about the offset (the leader
//! may lose the record in a failover and reuse the offset), so only values that polls read are
//! compared.

use super::anomaly::{AnomalyKind, Findings, InconsistentOffsetWitness, Observation, Witness};
use super::config::Acks;
use super::context::Context;
use super::model::KeyId;

pub fn analyse(context: &Context, acks: Acks, findings: &mut Findings) {
    for (key, order) in context.orders.by_key.iter().enumerate() {
        let key = key as KeyId;
        for index in 0..order.len() {
            let entries = order.entries_at(index);
            let compared = if acks == Acks::All {
                entries.len()
            } else {
                entries
                    .iter()
                    .filter(|entry| context.was_read(key, entry.value))
                    .count()
            };
            if compared < 2 {
                continue;
            }
            findings.add(AnomalyKind::InconsistentOffsets, || {
                Witness::InconsistentOffset(InconsistentOffsetWitness {
                    key: context.key_name(key),
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
