//! Trial's sans-IO broker core: a KRaft-style controller quorum and broker metadata, as values with
//! step functions (no sockets, clocks, threads or OS randomness: the driver supplies time,
//! randomness and every input, and executes every output).
//!
//! Module map:
//! - [`config`]: the cluster configuration, its limits, and its validation.
//! - [`node`]: [`Node`], its [`Input`]s, [`Output`]s, timers and observations; the step function.
//! - [`raft`]: Raft over the metadata log among the controller voters (pre-vote, votes persisted
//!   before granted, log matching, majority commit, check quorum); other brokers are learners.
//! - [`metadata`]: metadata records, the image they build, replica assignment, and the active
//!   controller's decisions (pure functions).
//! - [`controller`]: the active controller: proposals, broker sessions, request handling.
//! - [`broker`]: the broker side: registration, heartbeats, ISR change requests, metadata answers,
//!   and the snapshots ([`QuorumState`], [`PartitionView`]) a driver checks cluster-wide.
//! - [`admin`]: a sans-IO admin client (create topic, preferred-leader election).
//! - [`log`]: the partition log: batches, epoch cache, high watermark, durable writes and
//!   recovery, epoch-based truncation (KIP-101, KIP-279).
//! - [`replica`]: partition replicas: leaders (produce, fetch serving, high watermark, ISR
//!   changes, KIP-320 fencing) and followers (divergence search, fetch loop), driven by the
//!   committed metadata.
//! - [`group`]: consumer groups: the coordinator (membership, rebalances, assignors), offsets
//!   committed as records of the internal offsets topic and replayed after failover, offsets
//!   committed inside a transaction (TxnOffsetCommit) taking effect with its commit marker.
//! - [`txn`]: transactions (KIP-98): the transaction coordinator (the leader of the id's
//!   partition of the internal transaction state topic): InitProducerId, AddPartitionsToTxn,
//!   AddOffsetsToTxn and EndTxn as transitions appended to that partition with acks=all and replayed after failover,
//!   commit and abort markers sent to every partition's leader, timeouts (the partition side is
//!   in [`log`] and [`replica`]). Absent unless `ClusterConfig::transactions` is set.
//! - [`client`]: sans-IO producer, assign-mode consumer, group consumer, and the history events
//!   they report.
//! - [`message`]: the wire protocol ([`message::data`]: the data plane's).
//! - [`storage`]: the durable disk image and its writes.
//! - [`topic`]: [`topic::TopicName`], a topic name cheap to clone and compare.
//! - [`perturb`]: legal but rare paths a broker takes on purpose in simulation (BUGGIFY).
//! - `disk`: which actions wait for which syncs (crate-private).
//! - `dedup`: TCP's at-most-once delivery, modelled: a node drops a request it already handled
//!   (per-sender windows of request ids, crate-private).
//! - [`digest`]: a stable FNV-1a digest for log entries.
//!
//! Limits: `limits.metadata_log_entries_max` (default 100,000) bounds the metadata log; there are
//! no snapshots, so a full log freezes the metadata (proposals are refused, see
//! [`config::LimitsConfig`]). Other bounds: `limits.append_entries_max` entries per AppendEntries,
//! `limits.topics_max` topics, [`config::BROKERS_MAX`], [`config::CONTROLLERS_MAX`],
//! [`config::TOPIC_PARTITIONS_MAX`], 4,096 actions waiting on syncs per node.
//!
//! The data plane: partition replicas live in the same [`Node`] ([`replica`]), driven by the
//! committed [`metadata`] image (a node leads the partitions whose view names it, with the view's
//! leader epoch); their logs live in [`Storage`] (one `LogImage` per partition) and reuse the
//! sync waiters of `disk`; produce, fetch, OffsetsForLeaderEpoch and ListOffsets extend
//! [`Message`]. Data-plane limits: `limits.log` (batch, fetch and log sizes),
//! `limits.produce_in_flight_max`, `limits.parked_fetches_max`; request deduplication:
//! `limits.request_window_max` ids per sender, `limits.request_senders_max` senders.

pub mod admin;
pub mod broker;
pub mod client;
pub mod config;
pub mod controller;
pub(crate) mod dedup;
pub mod digest;
pub(crate) mod disk;
pub mod group;
pub mod log;
pub mod message;
pub mod metadata;
pub mod node;
pub mod perturb;
pub mod raft;
pub mod replica;
pub mod storage;
pub mod topic;
pub mod txn;

pub use broker::{PartitionView, QuorumState, StateFingerprint};
pub use config::{BugsConfig, ClusterConfig, ConfigError, LimitsConfig, TimingConfig, TopicConfig};
pub use message::Message;
pub use node::{Input, Node, Observation, Output, Timer};
pub use raft::replication::ProposeError;
pub use storage::{HardState, Storage, StorageWrite};
