//! The data-plane wire types: produce, fetch (followers and consumers), OffsetsForLeaderEpoch and
//! ListOffsets, with their errors.
//!
//! A produce names every partition the producer sends to that leader, and a follower's fetch
//! every partition the follower fetches from that leader (one request per leader broker, as
//! Kafka's producer and replica fetcher send, so that one request or answer carries whatever is
//! ready for any of them); the other requests name one partition. Fetches carry the sender's view
//! of the leader epoch where Kafka's do (KIP-320): the leader answers FENCED_LEADER_EPOCH to an
//! older epoch and UNKNOWN_LEADER_EPOCH to a newer one, so that no replica acts on a stale view.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::log::{
    AbortedTransaction, BatchTransaction, ProducerStamp, RecordBatch, SharedRecords,
    TransactionMarker,
};
use crate::topic::TopicName;

/// How many acknowledgements a producer waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acks {
    /// `acks=0`: no answer at all.
    None,
    /// `acks=1`: after the leader's own (synced, per the flush policy) append.
    Leader,
    /// `acks=all`: once the high watermark passes the batch, with at least
    /// `min.insync.replicas` in the ISR.
    All,
}

/// Appends records to partitions this broker leads: one request per leader broker, carrying a
/// batch for each partition of the producer's that it leads, as Kafka's producer drains its
/// accumulator per broker. Each partition names at most once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProduceRequest {
    pub request_id: u64,
    pub acks: Acks,
    pub partitions: Vec<ProducePartition>,
}

/// One partition's batch in a [`ProduceRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProducePartition {
    pub topic: TopicName,
    pub partition: u32,
    /// Shared with the producer's pending operation and, once appended, with the log.
    pub records: SharedRecords,
    /// An idempotent producer's id, epoch and the sequence number of the first record.
    #[serde(default, skip_serializing_if = "ProducerStamp::is_none")]
    pub producer: ProducerStamp,
    /// [`BatchTransaction::Data`] for a transactional producer's records (which carry its stamp);
    /// a producer never sends a marker.
    #[serde(default, skip_serializing_if = "BatchTransaction::is_none")]
    pub transaction: BatchTransaction,
}

/// A transaction coordinator has a partition leader end a producer's transaction in some of the
/// partitions it leads (Kafka's WriteTxnMarkers): the leader appends the marker to each, and
/// answers once the high watermark passes every marker (markers are written with acks=all).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteTxnMarkersRequest {
    pub request_id: u64,
    pub marker: TransactionMarker,
    /// Each partition at most once.
    pub partitions: Vec<(TopicName, u32)>,
}

/// The answer to a [`WriteTxnMarkersRequest`]: each partition's marker offset or error, in the
/// request's order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteTxnMarkersResponse {
    pub request_id: u64,
    pub partitions: Vec<ProducePartitionResult>,
}

/// An idempotent producer asks any broker for a producer id (Kafka's InitProducerId without a
/// transactional id). Ids are unique across the cluster and its restarts: a broker hands out
/// ids under its broker epoch, which the controller never gives twice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InitProducerIdRequest {
    pub request_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InitProducerIdResponse {
    pub request_id: u64,
    /// The producer id and epoch.
    pub result: Result<(u64, u16), DataError>,
}

/// The answer to a [`ProduceRequest`], sent once every partition's outcome is known: a result
/// for each partition asked, in its order (the base offset of the appended batch, or the error).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProduceResponse {
    pub request_id: u64,
    pub partitions: Vec<ProducePartitionResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProducePartitionResult {
    pub topic: TopicName,
    pub partition: u32,
    pub result: Result<u64, DataError>,
}

/// A consumer's fetch: it reads below the high watermark, or under `read_committed` below the
/// last stable offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FetchRequest {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    /// The sender's leader epoch (`None`: a client that does not know it; no fencing).
    pub current_leader_epoch: Option<u64>,
    pub fetch_offset: u64,
    pub records_max: u64,
    #[serde(default, skip_serializing_if = "IsolationLevel::is_read_uncommitted")]
    pub isolation: IsolationLevel,
}

/// What a consumer may read of transactions (Kafka's `isolation.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationLevel {
    /// Everything below the high watermark, open and aborted transactions' records included.
    #[default]
    ReadUncommitted,
    /// Below the last stable offset, without aborted transactions' records.
    ReadCommitted,
}

impl IsolationLevel {
    pub fn is_read_uncommitted(&self) -> bool {
        *self == IsolationLevel::ReadUncommitted
    }
}

/// Hashes to nothing for the default, so that runs without `read_committed` consumers keep the
/// trace digests they had before there were any.
impl std::hash::Hash for IsolationLevel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if *self == IsolationLevel::ReadCommitted {
            state.write_u8(1);
        }
    }
}

/// What a leader returns to a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FetchData {
    pub leader_epoch: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    pub batches: Vec<RecordBatch>,
    /// Under `read_committed`: the aborted transactions the batches may hold records of.
    #[serde(default, skip_serializing_if = "AbortedTransactions::is_empty")]
    pub aborted: AbortedTransactions,
}

/// The aborted transactions of a fetch answer, by first offset. One pointer wide, and allocated
/// only when there are some: every message is moved several times on its way, so a fetch answer
/// without transactions should not carry an empty list's three words. Hashes to nothing when
/// empty, so that runs without transactions keep their trace digests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
#[allow(
    clippy::box_collection,
    reason = "one word in every fetch answer, where a Vec or a boxed slice would take two or three"
)]
pub struct AbortedTransactions(Option<Box<Vec<AbortedTransaction>>>);

impl AbortedTransactions {
    pub fn new(aborted: Vec<AbortedTransaction>) -> Self {
        AbortedTransactions((!aborted.is_empty()).then(|| Box::new(aborted)))
    }

    pub fn as_slice(&self) -> &[AbortedTransaction] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl std::hash::Hash for AbortedTransactions {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if !self.is_empty() {
            self.as_slice().hash(state);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FetchResponse {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    pub result: Result<FetchData, DataError>,
}

/// A follower's fetch of every partition it fetches from one leader (a fetch session). The
/// leader answers all of them at once, as soon as one has data (or an error), else at the end
/// of its wait.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaFetchRequest {
    pub request_id: u64,
    pub replica: u32,
    pub partitions: Vec<ReplicaFetchPartition>,
    /// Most records returned per partition.
    pub records_max: u64,
}

/// One partition of a [`ReplicaFetchRequest`]: the follower's leader epoch, its LEO, and the HW
/// it knows (so that the leader can leave out what would tell it nothing, as Kafka's incremental
/// fetch sessions do, KIP-227).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaFetchPartition {
    pub topic: TopicName,
    pub partition: u32,
    pub current_leader_epoch: u64,
    pub fetch_offset: u64,
    pub high_watermark: u64,
}

/// The answer to a [`ReplicaFetchRequest`]: a result for each partition asked, in its order, that
/// has records, an error or a HW above the one the follower knows. A partition left out stays in
/// flight: the follower's next request names it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaFetchResponse {
    pub request_id: u64,
    pub partitions: Vec<ReplicaFetchResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaFetchResult {
    pub topic: TopicName,
    pub partition: u32,
    pub result: Result<FetchData, DataError>,
}

/// KIP-101: "where does your log of `leader_epoch` end?", asked by a new follower.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpochRequest {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    pub current_leader_epoch: u64,
    pub leader_epoch: u64,
}

/// The answer: the largest epoch `<= leader_epoch` the leader has and the offset it ends at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetsForLeaderEpochResponse {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    pub result: Result<(u64, u64), DataError>,
}

/// Which offset a [`ListOffsetsRequest`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the end of what consumers may read).
    Latest,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListOffsetsRequest {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    pub spec: OffsetSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListOffsetsResponse {
    pub request_id: u64,
    pub topic: TopicName,
    pub partition: u32,
    pub result: Result<u64, DataError>,
}

/// Why a data-plane request failed. [`DataError::is_retriable`] says whether the same request may
/// succeed later; [`DataError::is_indeterminate`] whether a produce may have been appended anyway.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum DataError {
    #[error("NOT_LEADER_OR_FOLLOWER (leader hint {leader_hint:?})")]
    NotLeader { leader_hint: Option<u32> },
    #[error("NOT_ENOUGH_REPLICAS: ISR {isr} below min.insync.replicas {min_insync}")]
    NotEnoughReplicas { isr: u32, min_insync: u32 },
    #[error("NOT_ENOUGH_REPLICAS_AFTER_APPEND: the ISR shrank below min.insync.replicas")]
    NotEnoughReplicasAfterAppend,
    #[error("FENCED_LEADER_EPOCH: request epoch {requested} below the current {current}")]
    FencedLeaderEpoch { requested: u64, current: u64 },
    #[error("UNKNOWN_LEADER_EPOCH: request epoch {requested} above the current {current}")]
    UnknownLeaderEpoch { requested: u64, current: u64 },
    #[error("OFFSET_OUT_OF_RANGE: valid offsets are {log_start_offset}..={log_end_offset}")]
    OffsetOutOfRange {
        log_start_offset: u64,
        log_end_offset: u64,
    },
    #[error("UNKNOWN_TOPIC_OR_PARTITION")]
    UnknownTopicOrPartition,
    #[error("REQUEST_TIMED_OUT")]
    RequestTimedOut,
    /// The leader holds `limits.produce_in_flight_max` requests already; nothing was appended.
    #[error("too many produce requests in flight at the leader")]
    ProduceInFlightLimit,
    /// The batch breaks a limit (`limits.log.batch_records_max`, empty, or a full log).
    #[error("RECORD_BATCH_TOO_LARGE or invalid batch: {reason}")]
    InvalidBatch { reason: String },
    /// An idempotent producer's batch neither continues its sequence nor repeats one of its last
    /// batches; nothing was appended.
    #[error("OUT_OF_ORDER_SEQUENCE_NUMBER: expected sequence {expected}")]
    OutOfOrderSequence { expected: u32 },
    /// The partition holds no state of the producer and the batch does not start its sequence;
    /// nothing was appended.
    #[error("UNKNOWN_PRODUCER_ID")]
    UnknownProducerId,
    /// The producer's epoch is older than the partition's; nothing was appended.
    #[error("INVALID_PRODUCER_EPOCH: the partition is at producer epoch {current}")]
    InvalidProducerEpoch { current: u16 },
    /// The broker cannot hand out producer ids (not registered yet, or out of ids for its epoch).
    #[error("COORDINATOR_NOT_AVAILABLE: no producer id to hand out")]
    ProducerIdsUnavailable,
    /// A marker from a transaction coordinator older than one the partition took a marker of
    /// the producer's from; nothing was appended.
    #[error(
        "TRANSACTION_COORDINATOR_FENCED: the partition took a marker of coordinator epoch {current}"
    )]
    TransactionCoordinatorFenced { current: u64 },
}

impl DataError {
    /// Whether the request may succeed if sent again (possibly after a metadata refresh).
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            DataError::InvalidBatch { .. }
                | DataError::OutOfOrderSequence { .. }
                | DataError::UnknownProducerId
                | DataError::InvalidProducerEpoch { .. }
                | DataError::TransactionCoordinatorFenced { .. }
        )
    }

    /// Whether the error means the client sent to a broker that does not lead the partition
    /// (at the epoch it named): its metadata must look the leader up again.
    pub fn is_stale_leader(&self) -> bool {
        matches!(
            self,
            DataError::NotLeader { .. }
                | DataError::FencedLeaderEpoch { .. }
                | DataError::UnknownLeaderEpoch { .. }
                | DataError::UnknownTopicOrPartition
        )
    }

    /// Whether a produce answered with this error may have been appended (and may yet become
    /// committed): the client must record the outcome as unknown and must not retry it.
    pub fn is_indeterminate(&self) -> bool {
        matches!(
            self,
            DataError::NotEnoughReplicasAfterAppend | DataError::RequestTimedOut
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_after_append_errors_are_indeterminate() {
        assert!(DataError::RequestTimedOut.is_indeterminate());
        assert!(DataError::NotEnoughReplicasAfterAppend.is_indeterminate());
        let definite = DataError::NotEnoughReplicas {
            isr: 1,
            min_insync: 2,
        };
        assert!(!definite.is_indeterminate() && definite.is_retriable());
        let invalid = DataError::InvalidBatch {
            reason: "empty".to_owned(),
        };
        assert!(!invalid.is_retriable() && !invalid.is_indeterminate());
    }
}
