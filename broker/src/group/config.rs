//! The consumer groups' configuration: the internal offsets topic and the coordinator's limits.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::TopicConfig;

/// The internal topic that holds committed offsets (Kafka's name).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Most partitions of the offsets topic.
pub const OFFSETS_PARTITIONS_MAX: u32 = 64;

/// Consumer groups: present when the cluster serves them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupsConfig {
    /// Partitions of [`OFFSETS_TOPIC`]; a group lives in partition `hash(group) % partitions`.
    pub offsets_partitions: u32,
    pub offsets_replication_factor: u32,
    pub offsets_min_insync_replicas: u32,
    /// Most groups one coordinator partition holds.
    pub groups_max: u32,
    /// Most members of one group (Kafka's `group.max.size`).
    pub members_per_group_max: u32,
    /// Most partitions one OffsetCommit names (at most the log's batch limit: one commit is one
    /// batch).
    pub commit_offsets_max: u32,
    /// Most commits a coordinator holds waiting for the high watermark; also the most open
    /// transactions whose commits (TxnOffsetCommit) one offsets partition holds.
    pub pending_commits_max: u32,
    /// The session timeouts a member may ask for (Kafka's `group.min/max.session.timeout.ms`).
    pub session_timeout_min_ns: u64,
    pub session_timeout_max_ns: u64,
    /// The longest rebalance timeout a member may ask for.
    pub rebalance_timeout_max_ns: u64,
}

impl GroupsConfig {
    /// Groups over `offsets_partitions` partitions replicated on up to three brokers.
    pub fn new(offsets_partitions: u32, brokers: u32) -> GroupsConfig {
        let replication_factor = brokers.clamp(1, 3);
        GroupsConfig {
            offsets_partitions,
            offsets_replication_factor: replication_factor,
            offsets_min_insync_replicas: replication_factor.min(2),
            groups_max: 256,
            members_per_group_max: 64,
            commit_offsets_max: 64,
            pending_commits_max: 256,
            session_timeout_min_ns: 100_000_000,
            session_timeout_max_ns: 60_000_000_000,
            rebalance_timeout_max_ns: 60_000_000_000,
        }
    }

    /// The offsets topic this configuration asks the controller to create at bootstrap.
    pub fn offsets_topic(&self) -> TopicConfig {
        TopicConfig {
            name: OFFSETS_TOPIC.to_owned(),
            partitions: self.offsets_partitions,
            replication_factor: self.offsets_replication_factor,
            min_insync_replicas: self.offsets_min_insync_replicas,
        }
    }

    /// Checks the limits; `batch_records_max` is the log's batch limit, `topics` the bootstrap
    /// topics, which must include exactly [`GroupsConfig::offsets_topic`].
    pub fn validate(
        &self,
        batch_records_max: u64,
        topics: &[TopicConfig],
    ) -> Result<(), GroupsConfigError> {
        if self.offsets_partitions == 0 || self.offsets_partitions > OFFSETS_PARTITIONS_MAX {
            return Err(GroupsConfigError::OffsetsPartitions(
                self.offsets_partitions,
            ));
        }
        let positive = [
            ("groups_max", self.groups_max),
            ("members_per_group_max", self.members_per_group_max),
            ("commit_offsets_max", self.commit_offsets_max),
            ("pending_commits_max", self.pending_commits_max),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(GroupsConfigError::ZeroLimit { field });
        }
        if u64::from(self.commit_offsets_max) > batch_records_max {
            return Err(GroupsConfigError::CommitAboveBatch {
                commit_offsets_max: self.commit_offsets_max,
                batch_records_max,
            });
        }
        if self.session_timeout_min_ns == 0
            || self.session_timeout_min_ns > self.session_timeout_max_ns
        {
            return Err(GroupsConfigError::SessionTimeouts);
        }
        if self.rebalance_timeout_max_ns == 0 {
            return Err(GroupsConfigError::ZeroLimit {
                field: "rebalance_timeout_max_ns",
            });
        }
        let declared = topics.iter().find(|topic| topic.name == OFFSETS_TOPIC);
        if declared != Some(&self.offsets_topic()) {
            return Err(GroupsConfigError::OffsetsTopicMissing);
        }
        Ok(())
    }
}

/// A bad [`GroupsConfig`]; each names the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum GroupsConfigError {
    #[error("groups.offsets_partitions must be in 1..={OFFSETS_PARTITIONS_MAX}, got {0}")]
    OffsetsPartitions(u32),
    #[error("groups.{field} must be positive")]
    ZeroLimit { field: &'static str },
    #[error(
        "groups.commit_offsets_max ({commit_offsets_max}) must be at most \
         limits.log.batch_records_max ({batch_records_max}): one commit is one batch"
    )]
    CommitAboveBatch {
        commit_offsets_max: u32,
        batch_records_max: u64,
    },
    #[error("groups.session_timeout_min_ns must be positive and at most session_timeout_max_ns")]
    SessionTimeouts,
    #[error("topics must include the offsets topic {OFFSETS_TOPIC} as groups describes it")]
    OffsetsTopicMissing,
}
