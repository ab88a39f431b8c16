//! Consumer groups: the group coordinator (KAFKA.md, "Consumer groups").
//!
//! - [`config`]: [`GroupsConfig`](config::GroupsConfig): the offsets topic and the limits.
//! - [`assignor`]: the deterministic range and sticky assignors (pure).
//! - [`state`]: one group's membership, generations and rebalances (pure).
//! - [`coordinator`]: the coordinator inside a node: who coordinates (the leader of the group's
//!   offsets partition), commits as records of that partition, replay after failover.
//! - `offsets`: the committed offsets replayed from an offsets partition's log, offsets
//!   committed inside transactions included (pure).
//! - `transactional`: TxnOffsetCommit, offsets a transactional producer commits inside its
//!   transaction (KIP-98's consume-transform-produce, fenced by generation as KIP-447 adds).
//!
//! A group lives in partition [`offsets_partition_for_group`] of
//! [`OFFSETS_TOPIC`](config::OFFSETS_TOPIC); its committed offsets are records keyed by
//! [`commit_key`] whose value packs the offset and its leader epoch ([`commit_record_value`]).
//! Clients find the coordinator from the metadata (the
//! partition's leader), as a FindCoordinator answer would tell them.

pub mod assignor;
pub mod config;
pub(crate) mod coordinator;
pub(crate) mod offsets;
pub(crate) mod state;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod transactional;

pub use config::{GroupsConfig, OFFSETS_TOPIC};

use crate::digest::digest_of;
use crate::message::group::CommittedOffset;

/// The offsets partition that holds `group` (a stable hash of its name, like Kafka's
/// `abs(group.hashCode) % partitions`).
pub fn offsets_partition_for_group(group: &str, offsets_partitions: u32) -> u32 {
    assert!(offsets_partitions > 0, "the offsets topic has partitions");
    (digest_of(group) % u64::from(offsets_partitions)) as u32
}

/// Bits of a commit record's value that hold the offset; the leader epoch plus one (0: none)
/// sits above them. Logs hold far fewer than 2^40 records (`limits.log.log_records_max`).
const COMMIT_OFFSET_BITS: u32 = 40;
const COMMIT_OFFSET_MASK: u64 = (1 << COMMIT_OFFSET_BITS) - 1;

/// The value of the record that commits `committed`.
pub fn commit_record_value(committed: CommittedOffset) -> u64 {
    assert!(
        committed.offset <= COMMIT_OFFSET_MASK,
        "committed offset {} above 2^40",
        committed.offset
    );
    let epoch_bits = committed.leader_epoch.map_or(0, |epoch| epoch + 1);
    assert!(
        epoch_bits < 1 << (64 - COMMIT_OFFSET_BITS),
        "committed leader epoch {:?} above 2^24",
        committed.leader_epoch
    );
    epoch_bits << COMMIT_OFFSET_BITS | committed.offset
}

/// The committed position a commit record's value holds ([`commit_record_value`]'s inverse).
pub fn committed_offset_of(value: u64) -> CommittedOffset {
    let epoch_bits = value >> COMMIT_OFFSET_BITS;
    CommittedOffset {
        offset: value & COMMIT_OFFSET_MASK,
        leader_epoch: epoch_bits.checked_sub(1),
    }
}

/// The record key of `group`'s committed offset for `topic/partition`.
pub fn commit_key(group: &str, topic: &str, partition: u32) -> u64 {
    digest_of(&(group, topic, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_record_values_round_trip() {
        for committed in [
            CommittedOffset {
                offset: 0,
                leader_epoch: None,
            },
            CommittedOffset {
                offset: 0,
                leader_epoch: Some(0),
            },
            CommittedOffset {
                offset: 107,
                leader_epoch: Some(3),
            },
            CommittedOffset {
                offset: COMMIT_OFFSET_MASK,
                leader_epoch: Some((1 << 24) - 2),
            },
        ] {
            assert_eq!(
                committed_offset_of(commit_record_value(committed)),
                committed
            );
        }
        let plain = commit_record_value(CommittedOffset {
            offset: 5,
            leader_epoch: None,
        });
        assert_eq!(plain, 5, "no epoch: the value is the offset");
    }
}
