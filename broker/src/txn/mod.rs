//! Transactions (KIP-98): the transaction coordinator.
//!
//! A transactional id lives in partition [`transaction_partition_for`] of
//! [`TRANSACTION_STATE_TOPIC`]; the leader of that partition coordinates it. Clients find it from
//! the metadata (the partition's leader), as a FindCoordinator answer would tell them.
//!
//! The partition side of transactions (markers, the last stable offset, `read_committed` reads)
//! lives with the log ([`crate::log::transactions`]) and the leader
//! ([`crate::replica`]).

use crate::digest::digest_of;

/// The internal topic that holds the transaction coordinators' state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The transaction state partition that holds `transactional_id` (a stable hash of it, like
/// Kafka's `abs(transactionalId.hashCode) % partitions`).
pub fn transaction_partition_for(transactional_id: &str, state_partitions: u32) -> u32 {
    assert!(
        state_partitions > 0,
        "the transaction state topic has partitions"
    );
    (digest_of(&("transaction", transactional_id)) % u64::from(state_partitions)) as u32
}
