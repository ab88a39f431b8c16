//! State checks over node snapshots.
//!
//! The simulator converts each node's in-memory state into the plain data types of this module
//! (this crate knows nothing of the broker or the simulator) and hands them to a monitor after
//! every step. Each monitor is stateful across a whole run and incremental: it remembers what it
//! already verified (committed prefixes, leaders per epoch) and only looks at what is new.
//!
//! - [`quorum`]: the controller quorum's Raft invariants (Raft paper, section 5; KIP-595).
//! - [`leadership`]: partition leadership as each broker applied it from the metadata log (KIP-500).
//! - [`replicas`]: the data plane: records below the high watermark (Kafka replication design,
//!   KIP-101, KIP-279).
//! - [`producer_fencing`]: no replica's log holds a fenced producer epoch's batch after the
//!   epoch that fenced it (KIP-98); checked over whole logs at the end of a run.

pub mod leadership;
pub mod producer_fencing;
pub mod quorum;
pub mod replicas;
mod violation;

pub use leadership::{BrokerEpochSnapshot, LeadershipMonitor, PartitionViewSnapshot};
pub use producer_fencing::{FencingSubject, ProducerBatch, check_producer_fencing};
pub use quorum::{EntryId, QuorumMemberSnapshot, QuorumMonitor};
pub use replicas::{RecordId, ReplicaMonitor, ReplicaSnapshot};
pub use violation::StateViolation;
