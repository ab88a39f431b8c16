//! Transactions (KIP-98): the transaction coordinator (KAFKA.md, "Idempotent producers and
//! transactions").
//!
//! - [`config`]: [`TransactionsConfig`](config::TransactionsConfig): the state topic and the
//!   coordinator's limits.
//! - [`state`]: one transactional id's metadata and the transitions requests make it take
//!   (pure).
//! - [`records`]: a transition as records of the state partition, and the replay that reads them
//!   back (pure).
//! - [`coordinator`]: the coordinator inside a node: who coordinates (the leader of the id's
//!   state partition), transitions appended with acks=all and answered once replicated, replay
//!   after failover, timeouts.
//! - [`markers`]: the marker sender: every partition of a decided transaction gets its marker
//!   from its leader, then the coordinator writes the completion.
//!
//! A transactional id lives in partition [`transaction_partition_for`] of
//! [`TRANSACTION_STATE_TOPIC`]; the leader of that partition coordinates it. Clients find it from
//! the metadata (the partition's leader), as a FindCoordinator answer would tell them.
//!
//! The partition side of transactions (markers, the last stable offset, `read_committed` reads)
//! lives with the log ([`crate::log::transactions`]) and the leader
//! ([`crate::replica`]).

pub mod config;
pub(crate) mod coordinator;
pub(crate) mod markers;
pub mod records;
pub mod state;
#[cfg(test)]
mod tests;

pub use config::TransactionsConfig;

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
