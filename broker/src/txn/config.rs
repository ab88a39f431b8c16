//! The transactions' configuration: the internal transaction state topic and the coordinator's
//! limits.
//!
//! Every limit is bounded here so that the coordinator can rely on it: one state transition is
//! one batch of the state partition (`2 + partitions_per_transaction_max` records at most
//! `limits.log.batch_records_max`), and the record encoding ([`super::records`]) has room for
//! the partition count (12 bits), the timeout (48 bits) and the producer id (40 bits: producer
//! ids are `broker_epoch << 20 | n`, and broker epochs are metadata log indexes, so the metadata
//! log must stay below 2^20 entries).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::broker::PRODUCER_IDS_PER_BROKER_EPOCH;
use crate::config::TopicConfig;
use crate::txn::TRANSACTION_STATE_TOPIC;
use crate::txn::records::{PARTITION_COUNT_MAX, PRODUCER_ID_BITS, TIMEOUT_NS_MAX};

/// Most partitions of the transaction state topic.
pub const STATE_PARTITIONS_MAX: u32 = 64;

/// Transactions: present when the cluster serves transactional producers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransactionsConfig {
    /// Partitions of [`TRANSACTION_STATE_TOPIC`]; a transactional id lives in partition
    /// [`crate::txn::transaction_partition_for`].
    pub state_partitions: u32,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
    /// Most transactional ids one state partition holds.
    pub transactional_ids_max: u32,
    /// Most partitions one transaction may touch.
    pub partitions_per_transaction_max: u32,
    /// Most state transitions a broker holds waiting for the high watermark of its state
    /// partitions.
    pub pending_writes_max: u32,
    /// Most WriteTxnMarkers requests a broker's coordinators have in flight.
    pub marker_requests_max: u32,
    /// The longest transaction timeout a producer may ask for (Kafka's
    /// `transaction.max.timeout.ms`).
    pub transaction_timeout_max_ns: u64,
    /// How long a coordinator waits before sending a refused marker again.
    pub marker_retry_backoff_ns: u64,
    /// A marker request unanswered for this long is sent again (as a new request, with a newer
    /// coordinator epoch: see [`super::markers`]).
    pub marker_request_timeout_ns: u64,
}

/// The default longest transaction timeout (Kafka's `transaction.max.timeout.ms` is 15 minutes;
/// simulated runs are shorter).
pub const TRANSACTION_TIMEOUT_MAX_NS: u64 = 60_000_000_000;

impl TransactionsConfig {
    /// Transactions over `state_partitions` partitions replicated on up to three brokers.
    pub fn new(state_partitions: u32, brokers: u32) -> TransactionsConfig {
        let replication_factor = brokers.clamp(1, 3);
        TransactionsConfig {
            state_partitions,
            replication_factor,
            min_insync_replicas: replication_factor.min(2),
            transactional_ids_max: 256,
            partitions_per_transaction_max: 32,
            pending_writes_max: 256,
            marker_requests_max: 256,
            transaction_timeout_max_ns: TRANSACTION_TIMEOUT_MAX_NS,
            marker_retry_backoff_ns: 100_000_000,
            marker_request_timeout_ns: 3_000_000_000,
        }
    }

    /// The state topic this configuration asks the controller to create at bootstrap.
    pub fn state_topic(&self) -> TopicConfig {
        TopicConfig {
            name: TRANSACTION_STATE_TOPIC.to_owned(),
            partitions: self.state_partitions,
            replication_factor: self.replication_factor,
            min_insync_replicas: self.min_insync_replicas,
        }
    }

    /// Checks the limits against the log's batch limit, the metadata log's size (producer ids
    /// must fit in 40 bits) and the bootstrap `topics`, which must include exactly
    /// [`TransactionsConfig::state_topic`].
    pub fn validate(
        &self,
        batch_records_max: u64,
        metadata_log_entries_max: u64,
        topics: &[TopicConfig],
    ) -> Result<(), TransactionsConfigError> {
        if self.state_partitions == 0 || self.state_partitions > STATE_PARTITIONS_MAX {
            return Err(TransactionsConfigError::StatePartitions(
                self.state_partitions,
            ));
        }
        let positive = [
            (
                "transactional_ids_max",
                u64::from(self.transactional_ids_max),
            ),
            (
                "partitions_per_transaction_max",
                u64::from(self.partitions_per_transaction_max),
            ),
            ("pending_writes_max", u64::from(self.pending_writes_max)),
            ("marker_requests_max", u64::from(self.marker_requests_max)),
            (
                "transaction_timeout_max_ns",
                self.transaction_timeout_max_ns,
            ),
            ("marker_retry_backoff_ns", self.marker_retry_backoff_ns),
            ("marker_request_timeout_ns", self.marker_request_timeout_ns),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(TransactionsConfigError::ZeroLimit { field });
        }
        if u64::from(self.partitions_per_transaction_max) > PARTITION_COUNT_MAX
            || u64::from(self.partitions_per_transaction_max) + 2 > batch_records_max
        {
            return Err(TransactionsConfigError::PartitionsAboveBatch {
                partitions_per_transaction_max: self.partitions_per_transaction_max,
                batch_records_max,
            });
        }
        if self.transaction_timeout_max_ns > TIMEOUT_NS_MAX {
            return Err(TransactionsConfigError::TimeoutAboveEncoding(
                self.transaction_timeout_max_ns,
            ));
        }
        let producer_ids_end = metadata_log_entries_max
            .saturating_add(1)
            .saturating_mul(PRODUCER_IDS_PER_BROKER_EPOCH);
        if producer_ids_end > 1 << PRODUCER_ID_BITS {
            return Err(TransactionsConfigError::ProducerIdsAboveEncoding {
                metadata_log_entries_max,
            });
        }
        let declared = topics
            .iter()
            .find(|topic| topic.name == TRANSACTION_STATE_TOPIC);
        if declared != Some(&self.state_topic()) {
            return Err(TransactionsConfigError::StateTopicMissing);
        }
        Ok(())
    }
}

/// A bad [`TransactionsConfig`]; each names the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TransactionsConfigError {
    #[error("transactions.state_partitions must be in 1..={STATE_PARTITIONS_MAX}, got {0}")]
    StatePartitions(u32),
    #[error("transactions.{field} must be positive")]
    ZeroLimit { field: &'static str },
    #[error(
        "transactions.partitions_per_transaction_max ({partitions_per_transaction_max}) plus 2 \
         must be at most limits.log.batch_records_max ({batch_records_max}) and the count at \
         most {PARTITION_COUNT_MAX}: one state transition is one batch"
    )]
    PartitionsAboveBatch {
        partitions_per_transaction_max: u32,
        batch_records_max: u64,
    },
    #[error("transactions.transaction_timeout_max_ns must be at most {TIMEOUT_NS_MAX}, got {0}")]
    TimeoutAboveEncoding(u64),
    #[error(
        "limits.metadata_log_entries_max ({metadata_log_entries_max}) must stay below 2^20 with \
         transactions: producer ids (broker epoch << 20) must fit in 40 bits"
    )]
    ProducerIdsAboveEncoding { metadata_log_entries_max: u64 },
    #[error(
        "topics must include the transaction state topic {TRANSACTION_STATE_TOPIC} as \
         transactions describes it"
    )]
    StateTopicMissing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> (TransactionsConfig, Vec<TopicConfig>) {
        let config = TransactionsConfig::new(4, 3);
        let topics = vec![config.state_topic()];
        (config, topics)
    }

    #[test]
    fn the_default_limits_validate_and_each_bad_one_is_named() {
        let (config, topics) = valid();
        assert_eq!(config.validate(1024, 100_000, &topics), Ok(()));
        assert_eq!(
            config.validate(1024, 100_000, &[]),
            Err(TransactionsConfigError::StateTopicMissing)
        );
        let mut zero = config.clone();
        zero.marker_retry_backoff_ns = 0;
        assert_eq!(
            zero.validate(1024, 100_000, &topics),
            Err(TransactionsConfigError::ZeroLimit {
                field: "marker_retry_backoff_ns"
            })
        );
        assert!(matches!(
            config.validate(33, 100_000, &topics),
            Err(TransactionsConfigError::PartitionsAboveBatch { .. })
        ));
        assert_eq!(config.validate(34, 100_000, &topics), Ok(()));
        assert!(matches!(
            config.validate(1024, 1 << 20, &topics),
            Err(TransactionsConfigError::ProducerIdsAboveEncoding { .. })
        ));
        let mut long = config.clone();
        long.transaction_timeout_max_ns = TIMEOUT_NS_MAX + 1;
        assert!(matches!(
            long.validate(1024, 100_000, &topics),
            Err(TransactionsConfigError::TimeoutAboveEncoding(_))
        ));
        let mut none = config;
        none.state_partitions = 0;
        assert_eq!(
            none.validate(1024, 100_000, &topics),
            Err(TransactionsConfigError::StatePartitions(0))
        );
    }
}
