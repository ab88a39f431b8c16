//! Sans-IO clients: a producer, an assign-mode consumer and a group consumer, each one history
//! process.
//!
//! - [`history`]: the events clients report ([`ClientEvent`]), mirroring HISTORY.md.
//! - [`partitioner`]: the producer's deterministic partitioner (FNV-1a over the key's bytes,
//!   round-robin for unkeyed records).
//! - [`producer`]: batches, retries of definite failures with a metadata refresh, per-request
//!   timeouts, an in-flight limit; never retries an indeterminate outcome (so, without
//!   idempotence, it never writes a value twice).
//!   A transactional producer makes each operation one transaction (`transaction`).
//! - [`consumer`]: an assign-mode fetch loop that follows leader changes and resets to the
//!   earliest offset on OFFSET_OUT_OF_RANGE.
//! - `silent_leaders`: which partitions' leaders left the consumers' fetches unanswered for
//!   their request timeout, to be looked up again.
//! - `fetched`: which records of a fetch answer a consumer's application sees (never
//!   transaction markers; under `read_committed`, no aborted transaction's records).
//! - [`group_consumer`]: a subscribe-mode consumer in a group: joins and rejoins on rebalances,
//!   commits (auto, manual, or transactional: each commit a transaction of its own,
//!   `offsets_transaction`), resumes from committed offsets, `auto.offset.reset`.
//! - [`metadata`]: the clients' cache of partition leaders, refreshed from any broker.
//!
//! Clients speak [`crate::Message`] with brokers, keep timers on [`crate::Timer::Client`], and
//! report through [`crate::Observation::Client`]. They have no disk.

pub mod consumer;
mod fetched;
pub mod group_consumer;
pub mod history;
pub mod metadata;
mod offsets_transaction;
pub mod partitioner;
pub mod producer;
mod producer_identity;
mod silent_leaders;
mod transaction;

pub use consumer::{Consumer, ConsumerConfig};
pub use group_consumer::{
    CommitMode, GroupConsumer, GroupConsumerConfig, OffsetReset, TransactionalCommits,
    TransformOutput,
};
pub use history::{ClientEvent, ClientOperation, EventKind, PolledRecords, SentRecord};
pub use producer::{Producer, ProducerConfig};

/// What a client reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientReport {
    /// A history event.
    Event(ClientEvent),
    /// A producer sent a request again after a definite, retriable failure.
    ProduceRetry,
    /// A send completed with an unknown outcome (timeout, or NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    IndeterminateProduce,
}
