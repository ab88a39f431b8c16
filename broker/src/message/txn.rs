//! The transaction coordinator's wire types (KIP-98): InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, with their errors. Markers, which coordinators send partition
//! leaders, are data-plane requests ([`super::data::WriteTxnMarkersRequest`]).
//!
//! Every request names its transactional id and goes to its coordinator: the leader of the id's
//! partition of the internal transaction state topic
//! ([`crate::txn::transaction_partition_for`]), found from the metadata as for groups. A broker
//! that does not lead that partition answers NOT_COORDINATOR; one that leads it but has not
//! replayed it yet answers COORDINATOR_LOAD_IN_PROGRESS.
//!
//! A transactional producer's life: InitProducerId (the coordinator bumps the id's epoch, which
//! fences every older instance, and aborts a transaction the id left open), then per transaction
//! AddPartitionsToTxn before its first record to a partition, the records (stamped, transactional,
//! acks=all), and EndTxn to commit or abort. EndTxn is answered once the coordinator has durably
//! decided (PrepareCommit or PrepareAbort in its log) under the next epoch, which the answer
//! hands the producer; it then has every partition's leader write the marker in that epoch, and
//! retries until each did.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::log::TransactionOutcome;
use crate::topic::TopicName;

/// A transactional producer's InitProducerId: its id and a fresh epoch for `transactional_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InitTxnProducerIdRequest {
    pub request_id: u64,
    pub transactional_id: String,
    /// The coordinator aborts a transaction of this producer open longer than this.
    pub transaction_timeout_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InitTxnProducerIdResponse {
    pub request_id: u64,
    /// The producer id and the new epoch.
    pub result: Result<(u64, u16), TxnError>,
}

/// Adds partitions to the producer's transaction (opening one if none is open).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddPartitionsToTxnRequest {
    pub request_id: u64,
    pub transactional_id: String,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub partitions: Vec<(TopicName, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddPartitionsToTxnResponse {
    pub request_id: u64,
    pub result: Result<(), TxnError>,
}

/// Adds the offsets partition of `group` to the producer's transaction (opening one if none is
/// open), so that offsets the producer then commits for the group with TxnOffsetCommit
/// ([`super::group::TxnOffsetCommitRequest`]) get the transaction's marker. The producer names
/// the group, not the partition: which partition of the offsets topic holds a group is the
/// brokers' business (Kafka's AddOffsetsToTxn).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddOffsetsToTxnRequest {
    pub request_id: u64,
    pub transactional_id: String,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub group: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddOffsetsToTxnResponse {
    pub request_id: u64,
    pub result: Result<(), TxnError>,
}

/// Commits or aborts the producer's open transaction. The coordinator ends it in a new epoch
/// (KIP-890 part 2), which the answer hands the producer for its next transaction. A retry is
/// answered as the first copy was, as long as no transaction began since.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndTxnRequest {
    pub request_id: u64,
    pub transactional_id: String,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub outcome: TransactionOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndTxnResponse {
    pub request_id: u64,
    /// The producer id and epoch to run the next transaction under.
    pub result: Result<(u64, u16), TxnError>,
}

/// Why a transaction coordinator refused a request. [`TxnError::is_retriable`] says whether the
/// same request may succeed later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum TxnError {
    /// This broker does not coordinate the transactional id: refresh the metadata.
    #[error("NOT_COORDINATOR")]
    NotCoordinator,
    /// The coordinator is replaying its transaction log.
    #[error("COORDINATOR_LOAD_IN_PROGRESS")]
    CoordinatorLoadInProgress,
    /// The coordinator cannot write its transaction log now (too few in-sync replicas, its
    /// limits): try again later.
    #[error("COORDINATOR_NOT_AVAILABLE")]
    CoordinatorNotAvailable,
    /// The id's previous transaction is still being completed.
    #[error("CONCURRENT_TRANSACTIONS")]
    ConcurrentTransactions,
    /// A newer instance of the producer (a higher epoch) holds the transactional id.
    #[error("PRODUCER_FENCED")]
    ProducerFenced,
    /// The producer id is not the transactional id's.
    #[error("INVALID_PRODUCER_ID_MAPPING")]
    InvalidProducerIdMapping,
    /// The request does not fit the transaction's state (EndTxn with none open, or with the
    /// other outcome than the one already decided).
    #[error("INVALID_TXN_STATE")]
    InvalidTxnState,
    /// The request breaks a limit (too many partitions, transactional ids or a timeout above the
    /// maximum).
    #[error("INVALID_REQUEST: {reason}")]
    InvalidRequest { reason: String },
}

impl TxnError {
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TxnError::NotCoordinator
                | TxnError::CoordinatorLoadInProgress
                | TxnError::CoordinatorNotAvailable
                | TxnError::ConcurrentTransactions
        )
    }
}
