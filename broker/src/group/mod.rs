//! Consumer groups: the group coordinator (KAFKA.md, "Consumer groups").
//!
//! - [`config`]: [`GroupsConfig`](config::GroupsConfig): the offsets topic and the limits.
//! - [`assignor`]: the deterministic range and sticky assignors (pure).
//! - [`state`]: one group's membership, generations and rebalances (pure).
//! - [`coordinator`]: the coordinator inside a node: who coordinates (the leader of the group's
//!   offsets partition), commits as records of that partition, replay after failover.
//!
//! A group lives in partition [`offsets_partition_for_group`] of
//! [`OFFSETS_TOPIC`](config::OFFSETS_TOPIC); its committed offsets are records keyed by
//! [`commit_key`] whose value is the offset. Clients find the coordinator from the metadata (the
//! partition's leader), as a FindCoordinator answer would tell them.

pub mod assignor;
pub mod config;
pub(crate) mod coordinator;
pub(crate) mod state;

pub use config::{GroupsConfig, OFFSETS_TOPIC};

use crate::digest::digest_of;

/// The offsets partition that holds `group` (a stable hash of its name, like Kafka's
/// `abs(group.hashCode) % partitions`).
pub fn offsets_partition_for_group(group: &str, offsets_partitions: u32) -> u32 {
    assert!(offsets_partitions > 0, "the offsets topic has partitions");
    (digest_of(group) % u64::from(offsets_partitions)) as u32
}

/// The record key of `group`'s committed offset for `topic/partition`.
pub fn commit_key(group: &str, topic: &str, partition: u32) -> u64 {
    digest_of(&(group, topic, partition))
}
