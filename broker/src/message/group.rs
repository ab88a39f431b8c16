//! The consumer-group wire types: JoinGroup, Heartbeat, LeaveGroup, OffsetCommit, TxnOffsetCommit
//! and OffsetFetch, with their errors (Kafka's group protocol, KIP-429 for cooperative rebalancing).
//!
//! Every request names its group and goes to the group's coordinator: the leader of the group's
//! partition of the internal offsets topic ([`crate::group::offsets_partition_for_group`]). A
//! broker that does not lead that partition answers NOT_COORDINATOR; one that leads it but has not
//! replayed it yet answers COORDINATOR_LOAD_IN_PROGRESS. The assignor runs at the coordinator (as
//! in KIP-848), so a JoinGroup answer carries the member's assignment and there is no SyncGroup
//! round trip.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How a group moves partitions between members.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceProtocol {
    /// Every member revokes every partition before it rejoins.
    #[default]
    Eager,
    /// A member keeps what it is assigned again; a partition moves only after its owner revoked
    /// it in an earlier generation (KIP-429).
    Cooperative,
}

/// Which deterministic assignor the coordinator runs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AssignorKind {
    /// Kafka's RangeAssignor: per topic, contiguous ranges in member order.
    #[default]
    Range,
    /// Balanced, and keeps every partition with its previous owner where balance allows.
    Sticky,
}

/// A topic partition, as `(topic, partition)`.
pub type TopicPartition = (String, u32);

/// Joins (or rejoins) a group. The answer waits until the rebalance completes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JoinGroupRequest {
    pub request_id: u64,
    pub group: String,
    /// `None` for a new member; the coordinator assigns one.
    pub member_id: Option<u64>,
    pub topics: Vec<String>,
    pub protocol: RebalanceProtocol,
    pub assignor: AssignorKind,
    pub session_timeout_ns: u64,
    pub rebalance_timeout_ns: u64,
    /// The partitions the member still owns (cooperative: it keeps consuming them meanwhile).
    pub owned: Vec<TopicPartition>,
}

/// The member's place in the new generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JoinedGroup {
    pub member_id: u64,
    pub generation: u64,
    /// Sorted.
    pub assignment: Vec<TopicPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JoinGroupResponse {
    pub request_id: u64,
    pub group: String,
    pub result: Result<JoinedGroup, GroupError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub request_id: u64,
    pub group: String,
    pub member_id: u64,
    pub generation: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub request_id: u64,
    pub group: String,
    pub result: Result<(), GroupError>,
}

/// A member leaves at once (no answer: a lost leave ends with the member's session).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaveGroupRequest {
    pub group: String,
    pub member_id: u64,
}

/// A committed position: the offset of the next record to consume, and the leader epoch of the
/// record before it (KIP-320; `None` when the member consumed nothing there). A consumer that
/// starts from it ignores metadata naming a leader of an older epoch: that leader is a zombie whose
/// log may end below the offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub offset: u64,
    pub leader_epoch: Option<u64>,
}

/// Commits offsets for the member's generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetCommitRequest {
    pub request_id: u64,
    pub group: String,
    pub member_id: u64,
    pub generation: u64,
    pub offsets: Vec<(String, u32, CommittedOffset)>,
}

/// `Ok` once the commit is on the whole ISR of the offsets partition (like acks=all).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetCommitResponse {
    pub request_id: u64,
    pub group: String,
    pub result: Result<(), GroupError>,
}

/// A member's question for the committed offsets of partitions it was assigned. It names the
/// member and its generation (as KIP-848's OffsetFetch names the member epoch), so that only the
/// coordinator that issued that generation answers: a deposed coordinator that does not know it
/// yet would answer from a table missing the latest commits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetFetchRequest {
    pub request_id: u64,
    pub group: String,
    pub member_id: u64,
    pub generation: u64,
    pub partitions: Vec<TopicPartition>,
}

/// The committed offset of each asked partition (`None`: nothing committed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetFetchResponse {
    pub request_id: u64,
    pub group: String,
    pub result: Result<Vec<(String, u32, Option<CommittedOffset>)>, GroupError>,
}

/// A transactional producer's offsets for `group`, committed inside its open transaction (KIP-98
/// consume-transform-produce): they take effect when, and only if, the transaction commits.
/// Sent to the group's coordinator after AddOffsetsToTxn put the group's offsets partition in the
/// transaction. Fenced twice: by the producer's epoch (a zombie instance of the transactional id
/// must not commit), and, as KIP-447 adds, by the group generation of the member whose records
/// the transaction processed (a member that lost its partitions in a rebalance must not commit
/// offsets for them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxnOffsetCommitRequest {
    pub request_id: u64,
    pub transactional_id: String,
    pub group: String,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub member_id: u64,
    pub generation: u64,
    pub offsets: Vec<(String, u32, CommittedOffset)>,
}

/// `Ok` once the offsets are on the whole ISR of the offsets partition, pending the transaction's
/// outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxnOffsetCommitResponse {
    pub request_id: u64,
    pub group: String,
    pub result: Result<(), GroupError>,
}

/// Why a coordinator refused a group request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum GroupError {
    #[error("NOT_COORDINATOR")]
    NotCoordinator,
    #[error("COORDINATOR_LOAD_IN_PROGRESS")]
    CoordinatorLoadInProgress,
    #[error("UNKNOWN_MEMBER_ID")]
    UnknownMemberId,
    #[error("ILLEGAL_GENERATION")]
    IllegalGeneration,
    #[error("REBALANCE_IN_PROGRESS")]
    RebalanceInProgress,
    #[error("INCONSISTENT_GROUP_PROTOCOL")]
    InconsistentGroupProtocol,
    #[error("INVALID_SESSION_TIMEOUT")]
    InvalidSessionTimeout,
    #[error("GROUP_MAX_SIZE_REACHED")]
    GroupMaxSizeReached,
    /// The coordinator holds `groups.groups_max` groups already.
    #[error("too many groups at the coordinator")]
    GroupsMaxReached,
    /// The commit names too many partitions, or none.
    #[error("INVALID_COMMIT_OFFSET_SIZE")]
    InvalidCommitOffsetSize,
    /// The commit's append failed or timed out: it may or may not have been written.
    #[error("REQUEST_TIMED_OUT")]
    RequestTimedOut,
    /// The commit was not appended (not enough replicas, in-flight limit): retriable.
    #[error("COORDINATOR_NOT_AVAILABLE")]
    CoordinatorNotAvailable,
    /// An OffsetFetch names a partition whose commit is appended but not yet committed, or
    /// committed inside a transaction that has not ended: retry after a backoff.
    #[error("UNSTABLE_OFFSET_COMMIT")]
    UnstableOffsetCommit,
    /// A TxnOffsetCommit from an epoch of its producer older than one the offsets partition
    /// holds: a newer instance of the transactional id fenced it.
    #[error("INVALID_PRODUCER_EPOCH")]
    InvalidProducerEpoch,
}

impl GroupError {
    /// Whether the client should find the coordinator again.
    pub fn is_coordinator_error(&self) -> bool {
        matches!(
            self,
            GroupError::NotCoordinator
                | GroupError::CoordinatorLoadInProgress
                | GroupError::CoordinatorNotAvailable
        )
    }
}
