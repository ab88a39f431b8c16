//! Messages between nodes, and between clients and nodes.
//!
//! Six families (the data plane's types live in [`data`], the consumer groups' in [`group`], the
//! transaction coordinator's in [`txn`]): Raft among the controller voters (and to the non-voting
//! brokers, which follow the metadata log as learners), broker-to-controller requests
//! (registration, heartbeats, ISR changes), client/admin requests that any node answers
//! (metadata, possibly stale) or that only the active controller serves (create topic, elect
//! leaders), the data plane (produce, fetch, and the markers a transaction coordinator has
//! partition leaders write), group requests that only a group's coordinator serves (join,
//! heartbeat, leave, offset commit and fetch, and the offsets a transaction commits), and
//! transactional producers' requests that only their transaction coordinator serves
//! (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn).

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod data;
pub mod group;
pub mod txn;

pub use data::{
    AbortedTransactions, Acks, DataError, FetchData, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, IsolationLevel, ListOffsetsRequest,
    ListOffsetsResponse, OffsetSpec, OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse,
    ProducePartition, ProducePartitionResult, ProduceRequest, ProduceResponse,
    ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse, ReplicaFetchResult,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};

use crate::config::{TopicConfig, TopicError};
use crate::raft::log::Entry;

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    // Raft.
    /// Would you vote for me in `term` (my current term + 1)? Changes nothing at the receiver.
    PreVoteRequest {
        term: u64,
        candidate: u32,
        last_log_index: u64,
        last_log_term: u64,
    },
    /// `term` is the responder's current term.
    PreVoteResponse {
        term: u64,
        granted: bool,
    },
    VoteRequest {
        term: u64,
        candidate: u32,
        last_log_index: u64,
        last_log_term: u64,
    },
    VoteResponse {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        leader: u32,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    },
    /// On success `index` is the responder's match index; on failure, the next index to try.
    AppendEntriesResponse {
        term: u64,
        success: bool,
        index: u64,
    },

    // Broker to active controller.
    RegisterBroker {
        broker: u32,
        incarnation: u64,
    },
    /// Sent when the broker is already registered with this incarnation (a retry): its epoch.
    RegisterBrokerResponse {
        broker_epoch: u64,
    },
    BrokerHeartbeat {
        broker: u32,
        broker_epoch: u64,
    },
    BrokerHeartbeatResponse {
        result: Result<(), ControllerError>,
    },
    AlterPartition(AlterPartitionRequest),
    AlterPartitionResponse {
        topic: String,
        partition: u32,
        result: Result<(), ControllerError>,
    },

    // Clients and admins.
    /// Any node answers from its own (possibly stale) metadata image.
    MetadataRequest {
        request_id: u64,
    },
    MetadataResponse(MetadataResponse),
    CreateTopic {
        request_id: u64,
        topic: TopicConfig,
    },
    CreateTopicResponse {
        request_id: u64,
        result: Result<(), ControllerError>,
    },
    /// Move each listed partition's leadership to its preferred replica (the first one), if that
    /// replica is alive and in the ISR. An empty list means every partition.
    ElectPreferredLeaders {
        request_id: u64,
        partitions: Vec<(String, u32)>,
    },
    ElectPreferredLeadersResponse {
        request_id: u64,
        result: Result<Vec<ElectionResult>, ControllerError>,
    },

    // Data plane: followers and clients to partition leaders.
    Produce(ProduceRequest),
    ProduceResponse(ProduceResponse),
    Fetch(FetchRequest),
    /// Boxed: the largest answer by far, it would make every message that much larger to move.
    FetchResponse(Box<FetchResponse>),
    ReplicaFetch(ReplicaFetchRequest),
    ReplicaFetchResponse(ReplicaFetchResponse),
    OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest),
    OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse),
    ListOffsets(ListOffsetsRequest),
    ListOffsetsResponse(ListOffsetsResponse),
    InitProducerId(InitProducerIdRequest),
    InitProducerIdResponse(InitProducerIdResponse),
    /// Transaction coordinators to partition leaders.
    WriteTxnMarkers(WriteTxnMarkersRequest),
    WriteTxnMarkersResponse(WriteTxnMarkersResponse),

    // Transactional producers to their transaction coordinator ([`txn`]).
    InitTxnProducerId(txn::InitTxnProducerIdRequest),
    InitTxnProducerIdResponse(txn::InitTxnProducerIdResponse),
    AddPartitionsToTxn(txn::AddPartitionsToTxnRequest),
    AddPartitionsToTxnResponse(txn::AddPartitionsToTxnResponse),
    EndTxn(txn::EndTxnRequest),
    EndTxnResponse(txn::EndTxnResponse),

    // Consumer groups: members to their group's coordinator ([`group`]).
    JoinGroup(Box<group::JoinGroupRequest>),
    JoinGroupResponse(group::JoinGroupResponse),
    Heartbeat(group::HeartbeatRequest),
    HeartbeatResponse(group::HeartbeatResponse),
    LeaveGroup(group::LeaveGroupRequest),
    OffsetCommit(group::OffsetCommitRequest),
    OffsetCommitResponse(group::OffsetCommitResponse),
    OffsetFetch(group::OffsetFetchRequest),
    OffsetFetchResponse(group::OffsetFetchResponse),

    // Consume-transform-produce: a transactional producer's consumed offsets, committed inside
    // its transaction. Last, so that the variants before keep the trace digests they had.
    AddOffsetsToTxn(txn::AddOffsetsToTxnRequest),
    AddOffsetsToTxnResponse(txn::AddOffsetsToTxnResponse),
    TxnOffsetCommit(Box<group::TxnOffsetCommitRequest>),
    TxnOffsetCommitResponse(group::TxnOffsetCommitResponse),
}

impl Message {
    /// The id of a request a node answers at most once ([`crate::dedup`]): client and follower
    /// requests, whose senders use a fresh id for every request they send (retries included).
    /// `None` for the rest: Raft, broker-to-controller traffic and responses, which are
    /// idempotent (terms, log matching, broker and partition epochs) or matched to the request
    /// their receiver awaits.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Message::MetadataRequest { request_id }
            | Message::CreateTopic { request_id, .. }
            | Message::ElectPreferredLeaders { request_id, .. } => Some(*request_id),
            Message::Produce(request) => Some(request.request_id),
            Message::Fetch(request) => Some(request.request_id),
            Message::ReplicaFetch(request) => Some(request.request_id),
            Message::OffsetsForLeaderEpoch(request) => Some(request.request_id),
            Message::ListOffsets(request) => Some(request.request_id),
            Message::InitProducerId(request) => Some(request.request_id),
            Message::WriteTxnMarkers(request) => Some(request.request_id),
            Message::InitTxnProducerId(request) => Some(request.request_id),
            Message::AddPartitionsToTxn(request) => Some(request.request_id),
            Message::AddOffsetsToTxn(request) => Some(request.request_id),
            Message::EndTxn(request) => Some(request.request_id),
            Message::JoinGroup(request) => Some(request.request_id),
            Message::Heartbeat(request) => Some(request.request_id),
            Message::OffsetCommit(request) => Some(request.request_id),
            Message::TxnOffsetCommit(request) => Some(request.request_id),
            Message::OffsetFetch(request) => Some(request.request_id),
            // Listed one by one so that a new message kind must decide.
            Message::PreVoteRequest { .. }
            | Message::PreVoteResponse { .. }
            | Message::VoteRequest { .. }
            | Message::VoteResponse { .. }
            | Message::AppendEntries { .. }
            | Message::AppendEntriesResponse { .. }
            | Message::RegisterBroker { .. }
            | Message::RegisterBrokerResponse { .. }
            | Message::BrokerHeartbeat { .. }
            | Message::BrokerHeartbeatResponse { .. }
            | Message::AlterPartition(_)
            | Message::AlterPartitionResponse { .. }
            | Message::MetadataResponse(_)
            | Message::CreateTopicResponse { .. }
            | Message::ElectPreferredLeadersResponse { .. }
            | Message::ProduceResponse(_)
            | Message::FetchResponse(_)
            | Message::ReplicaFetchResponse(_)
            | Message::OffsetsForLeaderEpochResponse(_)
            | Message::ListOffsetsResponse(_)
            | Message::InitProducerIdResponse(_)
            | Message::WriteTxnMarkersResponse(_)
            | Message::InitTxnProducerIdResponse(_)
            | Message::AddPartitionsToTxnResponse(_)
            | Message::AddOffsetsToTxnResponse(_)
            | Message::EndTxnResponse(_)
            // Leaving twice is leaving once: the second finds no member.
            | Message::LeaveGroup(_)
            | Message::JoinGroupResponse(_)
            | Message::HeartbeatResponse(_)
            | Message::OffsetCommitResponse(_)
            | Message::TxnOffsetCommitResponse(_)
            | Message::OffsetFetchResponse(_) => None,
        }
    }
}

/// An ISR change a partition leader asks of the active controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlterPartitionRequest {
    pub broker: u32,
    pub broker_epoch: u64,
    pub topic: String,
    pub partition: u32,
    /// The requester's leader epoch and partition epoch: the change applies to exactly this state.
    pub leader_epoch: u64,
    pub partition_epoch: u64,
    pub isr: Vec<u32>,
}

/// The outcome of a preferred-leader election for one partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ElectionResult {
    pub topic: String,
    pub partition: u32,
    pub result: Result<u32, ControllerError>,
}

/// A node's view of the cluster, as of its `metadata_index`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetadataResponse {
    pub request_id: u64,
    /// The responder's applied metadata index: larger is fresher.
    pub metadata_index: u64,
    /// The active controller as far as the responder knows.
    pub controller: Option<u32>,
    /// Registered, unfenced brokers with their broker epochs.
    pub brokers: Vec<(u32, u64)>,
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition in a [`MetadataResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionMetadata {
    pub topic: String,
    pub partition: u32,
    pub replicas: Vec<u32>,
    pub isr: Vec<u32>,
    pub leader: Option<u32>,
    pub leader_epoch: u64,
}

/// Why the active controller refused a request. Every variant except the last two is retriable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum ControllerError {
    #[error("not the active controller (try {leader_hint:?})")]
    NotController { leader_hint: Option<u32> },
    #[error("broker {broker} has no registration with epoch {broker_epoch}: register again")]
    StaleBrokerEpoch { broker: u32, broker_epoch: u64 },
    #[error("unknown topic partition {topic}/{partition}")]
    UnknownTopicOrPartition { topic: String, partition: u32 },
    #[error("broker is not the leader of the partition")]
    NotLeader,
    #[error("leader epoch {requested} is not the current {current}")]
    FencedLeaderEpoch { requested: u64, current: u64 },
    #[error("partition epoch {requested} is not the current {current}")]
    InvalidUpdateVersion { requested: u64, current: u64 },
    #[error("replica {0} is not an active broker and cannot join the ISR")]
    IneligibleReplica(u32),
    #[error("preferred leader is not an active member of the ISR")]
    PreferredLeaderNotAvailable,
    #[error("the metadata log is full")]
    MetadataLogFull,
    #[error("invalid ISR: must contain the leader, lie within the replicas and have no duplicates")]
    InvalidIsr,
    #[error("the cluster holds limits.topics_max topics")]
    TopicLimitReached,
    #[error("topic already exists")]
    TopicExists,
    #[error("invalid topic: {0}")]
    InvalidTopic(TopicError),
}

#[cfg(test)]
mod tests {
    use super::Message;

    /// A message is moved whole several times on its way (into the event queue, out of it, into
    /// its handler), so its size is a cost of every event of the data plane: a new variant larger
    /// than the rest grew every message by 40% and the data-plane benchmark by 6%. The large
    /// variants are boxed (FetchResponse, JoinGroup, TxnOffsetCommit).
    #[test]
    fn every_message_is_at_most_80_bytes_to_move() {
        let size = size_of::<Message>();
        assert!(
            size <= 80,
            "Message is {size} bytes: box its largest variant"
        );
    }
}
