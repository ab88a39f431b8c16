//! Cluster configuration, its limits, and its validation.
//!
//! A [`ClusterConfig`] is shared by every node of a cluster (behind an `Arc`). It is validated once,
//! when it is built ([`ClusterConfig::validate`]); code that holds a validated config may rely on
//! every documented relation between its fields (odd voter count, election timeout longer than the
//! heartbeat, replication factors within the broker count, ...).
//!
//! Node ids are dense: brokers are `0..brokers`, and the controller voters are the first
//! `controllers` of them (`0..controllers`), as in KRaft's combined mode.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::group::config::{GroupsConfig, GroupsConfigError};
use crate::log::{FlushPolicy, LogBugs, LogLimits, LogLimitsError};
use crate::txn::config::{TransactionsConfig, TransactionsConfigError};

/// Most brokers a cluster may have.
pub const BROKERS_MAX: u32 = 64;
/// Most controller voters a cluster may have.
pub const CONTROLLERS_MAX: u32 = 9;
/// Most partitions of one topic.
pub const TOPIC_PARTITIONS_MAX: u32 = 1024;
/// Longest topic name, in bytes.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Configuration shared by every node of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Number of brokers (every node is a broker). Node ids are `0..brokers`.
    pub brokers: u32,
    /// Number of controller voters: node ids `0..controllers`. Odd, at least 1.
    pub controllers: u32,
    /// Topics the first active controller creates at bootstrap.
    pub topics: Vec<TopicConfig>,
    /// Timeouts and intervals.
    pub timing: TimingConfig,
    /// Bounds on the controller's resources.
    pub limits: LimitsConfig,
    /// Allow electing a partition leader from outside the ISR when no ISR member is alive
    /// (Kafka's `unclean.leader.election.enable`). Off by default: it can lose acknowledged data.
    pub unclean_leader_election: bool,
    /// When partition logs are synced (`every-batch` by default; `never` as Kafka's default).
    pub flush: FlushPolicy,
    /// Test-only switches that plant bugs. All off by default.
    pub bugs: BugsConfig,
    /// Consumer groups, when the cluster serves them (see [`ClusterConfig::with_groups`]).
    pub groups: Option<GroupsConfig>,
    /// Transactions, when the cluster serves transactional producers (see
    /// [`ClusterConfig::with_transactions`]). Absent by default.
    #[serde(default)]
    pub transactions: Option<TransactionsConfig>,
    /// Brokers take legal but rare paths on purpose ([`crate::perturb`]). Off by default.
    #[serde(default)]
    pub perturbations: bool,
}

/// A topic created at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopicConfig {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
}

/// Timeouts and intervals, in nanoseconds of each node's local clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimingConfig {
    /// How often a Raft leader sends AppendEntries (heartbeats) to every node.
    pub raft_heartbeat_interval_ns: u64,
    /// A follower that has not heard from a leader for this long (plus jitter) starts a pre-vote.
    /// A leader that has not heard from a majority for this long steps down (check quorum).
    pub election_timeout_ns: u64,
    /// Random extra delay added to each election timeout, drawn uniformly in `0..=jitter`.
    pub election_jitter_ns: u64,
    /// How often a broker heartbeats to the active controller (or retries its registration).
    pub broker_heartbeat_interval_ns: u64,
    /// A broker the active controller has not heard from for this long is fenced.
    pub broker_session_timeout_ns: u64,
    /// Period of a broker's data-plane tick: parked fetches expire, lagging followers leave the
    /// ISR, produce requests time out, lost replication requests are sent again.
    pub replica_tick_interval_ns: u64,
    /// A follower that has not caught up with its leader's log end offset for this long leaves
    /// the ISR (Kafka's `replica.lag.time.max.ms`).
    pub replica_lag_time_max_ns: u64,
    /// Longest a leader holds a fetch that has nothing to return yet (Kafka's `fetch.max.wait.ms`).
    pub fetch_wait_max_ns: u64,
    /// How often a broker writes the high watermark of every replica whose HW moved since its
    /// last checkpoint (Kafka's `replica.high-watermark.checkpoint.interval.ms`).
    pub high_watermark_checkpoint_interval_ns: u64,
    /// A follower sends a replication request again if it has no answer after this long.
    pub replica_request_timeout_ns: u64,
    /// An acks=all produce request not acknowledged after this long is answered
    /// REQUEST_TIMED_OUT (Kafka's produce `timeout.ms`).
    pub produce_timeout_ns: u64,
}

/// Bounds on the controller's resources.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// Most entries the metadata log may hold. There are no snapshots: once the log is full, the
    /// active controller rejects every proposal (including the no-op of a new leader) with
    /// [`crate::ProposeError::MetadataLogFull`], and the metadata stops changing.
    pub metadata_log_entries_max: u64,
    /// Most entries in one AppendEntries message.
    pub append_entries_max: u64,
    /// Most topics the cluster may hold (bootstrap and created).
    pub topics_max: u32,
    /// Bounds on each partition log (batch, fetch and log sizes, in records).
    pub log: LogLimits,
    /// Most produce requests a partition leader holds waiting for acknowledgement; beyond it a
    /// request is refused with a retriable error before it is appended.
    pub produce_in_flight_max: u32,
    /// Most fetches a partition leader holds parked waiting for data.
    pub parked_fetches_max: u32,
    /// Most request ids a node remembers per sender to drop duplicated requests, as a TCP
    /// connection would ([`crate::dedup`]): a duplicate arriving after this many newer requests
    /// of its sender is handled again.
    pub request_window_max: u32,
    /// Most senders whose request ids a node remembers; the least recently heard is forgotten.
    pub request_senders_max: u32,
}

/// Test-only switches that plant bugs, so that the checkers can be shown to fire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BugsConfig {
    /// A voter grants a vote to a second candidate in a term in which it already voted.
    pub grant_two_votes_per_term: bool,
    /// Zoo 1: a follower truncates to its local high watermark instead of the epoch divergence
    /// point.
    pub truncate_to_high_watermark: bool,
    /// Zoo 2: a follower skips truncation when the new leader is the one it followed before.
    pub skip_truncation_when_leader_unchanged: bool,
    /// Zoo 3: a leader serves fetches that carry a stale leader epoch (no KIP-320 fencing).
    pub ignore_stale_follower_epoch: bool,
    /// Zoo 4a: the controller elects a partition leader in replica order, ignoring the ISR.
    pub elect_outside_isr: bool,
    /// Zoo 4b: a leader re-admits an active replica into the ISR without waiting for it to catch
    /// up with its log.
    pub readmit_stale_broker: bool,
    /// Zoo 5: a leader's high watermark is its own log end offset, not the minimum over the ISR.
    pub high_watermark_at_leader_end: bool,
    /// Zoo 11: a group coordinator accepts offset commits from stale generations and unknown
    /// members.
    pub accept_stale_generation_commits: bool,
    /// Zoo 12a: a cooperative group assigns a partition to its new owner in the same generation
    /// that revokes it from the old one.
    pub assign_before_revoke: bool,
    /// Zoo 12b: a new group coordinator starts from empty state instead of replaying the offsets
    /// partition.
    pub drop_group_state_on_failover: bool,
    /// Zoo 6: a new leader starts with no idempotent-producer state instead of rebuilding it from
    /// its log, and takes an unknown producer's batch at any sequence number, so a batch retried
    /// across a change of leader is appended twice.
    pub lose_producer_state_on_leader_change: bool,
    /// Zoo 10: a leader serves `read_committed` fetches up to the high watermark, ignoring open
    /// transactions (its last stable offset is its HW), so consumers read records of
    /// transactions that are still open, and may yet abort.
    pub last_stable_offset_at_high_watermark: bool,
    /// Not TCP: a node handles a duplicated request again (no [`crate::dedup`] window), so a
    /// duplicated produce request is appended twice. Shows the duplication tests can fail.
    pub handle_duplicate_requests: bool,
    /// Zoo 9: a new transaction coordinator starts from empty state instead of replaying the
    /// transaction state partition, so a transaction whose commit was answered but whose markers
    /// were not all written is never completed (its partitions stay open, their last stable
    /// offset stuck), and its transactional id starts afresh under a new producer id.
    #[serde(default)]
    pub forget_transactions_on_coordinator_failover: bool,
    /// Zoo 7: a transaction coordinator aborts a transaction that outlived its timeout under the
    /// producer's current epoch instead of a bumped one, so the producer is not fenced: paused
    /// past its timeout, it comes back a zombie whose late records land after the abort markers,
    /// outside any transaction the coordinator knows, to be committed by its next transaction on
    /// those partitions (or to hold their last stable offset back for good).
    #[serde(default)]
    pub keep_producer_epoch_on_transaction_timeout: bool,
    /// Zoo 8: a transaction coordinator ends a transaction under the producer's epoch, as
    /// Kafka's did before KIP-890 part 2 (transaction version 1), instead of a bumped one, while
    /// the producer relies on the bump: it ends a transaction with a batch of unknown fate (timed
    /// out, maybe still on its way) by a plain EndTxn(abort). The late batch lands after the
    /// abort marker, in the producer's next transaction on that partition, which commits it (a
    /// hanging transaction otherwise); and a delayed copy of an EndTxn, retried after a timeout,
    /// ends the producer's next transaction early.
    #[serde(default)]
    pub end_transactions_without_epoch_bump: bool,
    /// Zoo 7, at the partitions: a leader appends a transactional producer's batch whose epoch is
    /// older than the one its log holds, instead of refusing it (INVALID_PRODUCER_EPOCH), so a
    /// fenced producer keeps writing. Its late batch lands after the marker that fenced it,
    /// outside any transaction the coordinator knows, and the next transaction of the producer id
    /// on that partition commits it.
    pub accept_stale_producer_epoch: bool,
    /// Consume-transform-produce: a group coordinator applies the offsets of a TxnOffsetCommit
    /// as soon as its log holds them, as a plain commit's, instead of holding them until the
    /// transaction's commit marker. An aborted transaction's offsets then stand, and the next
    /// owner of a partition starts past records whose processing was aborted.
    pub transactional_offsets_before_marker: bool,
}

impl BugsConfig {
    /// The switches the partition log acts on.
    pub fn log_bugs(&self) -> LogBugs {
        LogBugs {
            truncate_to_high_watermark: self.truncate_to_high_watermark,
            skip_truncation_when_leader_unchanged: self.skip_truncation_when_leader_unchanged,
        }
    }
}

impl Default for TimingConfig {
    fn default() -> Self {
        Self {
            raft_heartbeat_interval_ns: 50_000_000,
            election_timeout_ns: 300_000_000,
            election_jitter_ns: 300_000_000,
            broker_heartbeat_interval_ns: 100_000_000,
            broker_session_timeout_ns: 600_000_000,
            replica_tick_interval_ns: 10_000_000,
            replica_lag_time_max_ns: 1_000_000_000,
            fetch_wait_max_ns: 100_000_000,
            high_watermark_checkpoint_interval_ns: 5_000_000_000,
            replica_request_timeout_ns: 300_000_000,
            produce_timeout_ns: 1_500_000_000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            metadata_log_entries_max: 100_000,
            append_entries_max: 64,
            topics_max: 64,
            log: LogLimits::default(),
            produce_in_flight_max: 256,
            parked_fetches_max: 64,
            request_window_max: 1024,
            request_senders_max: 256,
        }
    }
}

impl Default for ClusterConfig {
    /// Three brokers, all three controller voters, one topic `orders` of 3 partitions with
    /// replication factor 3 and `min.insync.replicas` 2.
    fn default() -> Self {
        Self {
            brokers: 3,
            controllers: 3,
            topics: vec![TopicConfig {
                name: "orders".to_owned(),
                partitions: 3,
                replication_factor: 3,
                min_insync_replicas: 2,
            }],
            timing: TimingConfig::default(),
            limits: LimitsConfig::default(),
            unclean_leader_election: false,
            flush: FlushPolicy::default(),
            bugs: BugsConfig::default(),
            groups: None,
            transactions: None,
            perturbations: false,
        }
    }
}

/// A contradiction or an out-of-bounds value in a [`ClusterConfig`]. Each names the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("brokers must be in 1..={max}, got {value}")]
    BrokersOutOfRange { value: u32, max: u32 },
    #[error("controllers must be odd (a quorum of even size tolerates no more faults), got {0}")]
    ControllersEven(u32),
    #[error("controllers must be in 1..={max} and at most brokers ({brokers}), got {value}")]
    ControllersOutOfRange { value: u32, brokers: u32, max: u32 },
    #[error(
        "timing.election_timeout_ns ({election_timeout_ns}) must be longer than \
         timing.raft_heartbeat_interval_ns ({raft_heartbeat_interval_ns})"
    )]
    ElectionTimeoutNotAboveHeartbeat {
        election_timeout_ns: u64,
        raft_heartbeat_interval_ns: u64,
    },
    #[error(
        "timing.broker_session_timeout_ns ({broker_session_timeout_ns}) must be longer than \
         timing.broker_heartbeat_interval_ns ({broker_heartbeat_interval_ns})"
    )]
    SessionTimeoutNotAboveHeartbeat {
        broker_session_timeout_ns: u64,
        broker_heartbeat_interval_ns: u64,
    },
    #[error("timing.{field} must be positive")]
    ZeroInterval { field: &'static str },
    #[error("limits.{field} must be positive")]
    ZeroLimit { field: &'static str },
    #[error("topics: {count} topics exceed limits.topics_max ({max})")]
    TooManyTopics { count: usize, max: u32 },
    #[error("topics: {0}")]
    Topic(#[from] TopicError),
    #[error("{0}")]
    LogLimits(#[from] LogLimitsError),
    #[error("{0}")]
    Groups(#[from] GroupsConfigError),
    #[error("{0}")]
    Transactions(#[from] TransactionsConfigError),
    #[error(
        "timing.replica_lag_time_max_ns ({replica_lag_time_max_ns}) must be longer than \
         timing.fetch_wait_max_ns ({fetch_wait_max_ns}): a parked follower would leave the ISR"
    )]
    LagNotAboveFetchWait {
        replica_lag_time_max_ns: u64,
        fetch_wait_max_ns: u64,
    },
}

/// A bad topic definition (bootstrap config or create-topic request).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum TopicError {
    #[error("topic name must be 1..={max} bytes of [A-Za-z0-9._-], got {name:?}", max = TOPIC_NAME_BYTES_MAX)]
    BadName { name: String },
    #[error("topic {name:?} is defined twice")]
    Duplicate { name: String },
    #[error("topic {name:?}: partitions must be in 1..={max}, got {value}", max = TOPIC_PARTITIONS_MAX)]
    PartitionsOutOfRange { name: String, value: u32 },
    #[error("topic {name:?}: replication_factor must be in 1..=brokers ({brokers}), got {value}")]
    ReplicationFactorOutOfRange {
        name: String,
        value: u32,
        brokers: u32,
    },
    #[error(
        "topic {name:?}: min_insync_replicas must be in 1..=replication_factor ({replication_factor}), got {value}"
    )]
    MinInsyncOutOfRange {
        name: String,
        value: u32,
        replication_factor: u32,
    },
}

impl ClusterConfig {
    /// Checks every field and every relation between fields. A config must pass before a node is
    /// built from it ([`crate::Node::new`] asserts it).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers == 0 || self.brokers > BROKERS_MAX {
            return Err(ConfigError::BrokersOutOfRange {
                value: self.brokers,
                max: BROKERS_MAX,
            });
        }
        if self.controllers == 0
            || self.controllers > CONTROLLERS_MAX
            || self.controllers > self.brokers
        {
            return Err(ConfigError::ControllersOutOfRange {
                value: self.controllers,
                brokers: self.brokers,
                max: CONTROLLERS_MAX,
            });
        }
        if self.controllers % 2 == 0 {
            return Err(ConfigError::ControllersEven(self.controllers));
        }
        self.timing.validate()?;
        self.limits.validate()?;
        if self.topics.len() > self.limits.topics_max as usize {
            return Err(ConfigError::TooManyTopics {
                count: self.topics.len(),
                max: self.limits.topics_max,
            });
        }
        for (position, topic) in self.topics.iter().enumerate() {
            topic.validate(self.brokers)?;
            if self.topics[..position]
                .iter()
                .any(|earlier| earlier.name == topic.name)
            {
                return Err(TopicError::Duplicate {
                    name: topic.name.clone(),
                }
                .into());
            }
        }
        if let Some(groups) = &self.groups {
            groups.validate(self.limits.log.batch_records_max, &self.topics)?;
        }
        if let Some(transactions) = &self.transactions {
            transactions.validate(
                self.limits.log.batch_records_max,
                self.limits.metadata_log_entries_max,
                &self.topics,
            )?;
        }
        Ok(())
    }

    /// This config serving consumer groups: `groups` and its offsets topic added.
    pub fn with_groups(mut self, groups: GroupsConfig) -> ClusterConfig {
        self.topics.push(groups.offsets_topic());
        self.groups = Some(groups);
        self
    }

    /// This config serving transactional producers: `transactions` and its state topic added.
    pub fn with_transactions(mut self, transactions: TransactionsConfig) -> ClusterConfig {
        self.topics.push(transactions.state_topic());
        self.transactions = Some(transactions);
        self
    }

    /// Whether `node` is a controller voter.
    pub fn is_voter(&self, node: u32) -> bool {
        node < self.controllers
    }

    /// The controller voters, in id order.
    pub fn voters(&self) -> impl Iterator<Item = u32> + '_ {
        0..self.controllers
    }

    /// Every node (every node is a broker), in id order.
    pub fn nodes(&self) -> impl Iterator<Item = u32> + '_ {
        0..self.brokers
    }

    /// Votes (or acknowledgements) needed for a majority of the voters.
    pub fn quorum_size(&self) -> usize {
        self.controllers as usize / 2 + 1
    }
}

impl TimingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "raft_heartbeat_interval_ns",
                self.raft_heartbeat_interval_ns,
            ),
            ("election_timeout_ns", self.election_timeout_ns),
            (
                "broker_heartbeat_interval_ns",
                self.broker_heartbeat_interval_ns,
            ),
            ("broker_session_timeout_ns", self.broker_session_timeout_ns),
            ("replica_tick_interval_ns", self.replica_tick_interval_ns),
            ("replica_lag_time_max_ns", self.replica_lag_time_max_ns),
            ("fetch_wait_max_ns", self.fetch_wait_max_ns),
            (
                "high_watermark_checkpoint_interval_ns",
                self.high_watermark_checkpoint_interval_ns,
            ),
            (
                "replica_request_timeout_ns",
                self.replica_request_timeout_ns,
            ),
            ("produce_timeout_ns", self.produce_timeout_ns),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::ZeroInterval { field });
        }
        if self.election_timeout_ns <= self.raft_heartbeat_interval_ns {
            return Err(ConfigError::ElectionTimeoutNotAboveHeartbeat {
                election_timeout_ns: self.election_timeout_ns,
                raft_heartbeat_interval_ns: self.raft_heartbeat_interval_ns,
            });
        }
        if self.broker_session_timeout_ns <= self.broker_heartbeat_interval_ns {
            return Err(ConfigError::SessionTimeoutNotAboveHeartbeat {
                broker_session_timeout_ns: self.broker_session_timeout_ns,
                broker_heartbeat_interval_ns: self.broker_heartbeat_interval_ns,
            });
        }
        if self.replica_lag_time_max_ns <= self.fetch_wait_max_ns {
            return Err(ConfigError::LagNotAboveFetchWait {
                replica_lag_time_max_ns: self.replica_lag_time_max_ns,
                fetch_wait_max_ns: self.fetch_wait_max_ns,
            });
        }
        Ok(())
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.metadata_log_entries_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "metadata_log_entries_max",
            });
        }
        if self.append_entries_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "append_entries_max",
            });
        }
        if self.topics_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "topics_max",
            });
        }
        if self.produce_in_flight_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "produce_in_flight_max",
            });
        }
        if self.parked_fetches_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "parked_fetches_max",
            });
        }
        if self.request_window_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "request_window_max",
            });
        }
        if self.request_senders_max == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "request_senders_max",
            });
        }
        self.log.validate()?;
        Ok(())
    }
}

impl TopicConfig {
    /// Checks the topic against the cluster's broker count.
    pub fn validate(&self, brokers: u32) -> Result<(), TopicError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= TOPIC_NAME_BYTES_MAX
            && self
                .name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
        if !name_ok {
            return Err(TopicError::BadName {
                name: self.name.clone(),
            });
        }
        if self.partitions == 0 || self.partitions > TOPIC_PARTITIONS_MAX {
            return Err(TopicError::PartitionsOutOfRange {
                name: self.name.clone(),
                value: self.partitions,
            });
        }
        if self.replication_factor == 0 || self.replication_factor > brokers {
            return Err(TopicError::ReplicationFactorOutOfRange {
                name: self.name.clone(),
                value: self.replication_factor,
                brokers,
            });
        }
        if self.min_insync_replicas == 0 || self.min_insync_replicas > self.replication_factor {
            return Err(TopicError::MinInsyncOutOfRange {
                name: self.name.clone(),
                value: self.min_insync_replicas,
                replication_factor: self.replication_factor,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(ClusterConfig::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_zero_and_even_voter_counts() {
        let mut config = ClusterConfig {
            controllers: 0,
            ..ClusterConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::ControllersOutOfRange { value: 0, .. })
        ));
        config.controllers = 2;
        let error = config.validate().unwrap_err();
        assert_eq!(error, ConfigError::ControllersEven(2));
        assert!(error.to_string().contains("controllers must be odd"));
        config.brokers = 5;
        config.controllers = 4;
        assert_eq!(config.validate(), Err(ConfigError::ControllersEven(4)));
    }

    #[test]
    fn rejects_more_voters_than_brokers() {
        let config = ClusterConfig {
            controllers: 5,
            ..ClusterConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::ControllersOutOfRange {
                value: 5,
                brokers: 3,
                ..
            })
        ));
    }

    #[test]
    fn rejects_election_timeout_not_above_heartbeat() {
        let mut config = ClusterConfig::default();
        config.timing.election_timeout_ns = config.timing.raft_heartbeat_interval_ns;
        let error = config.validate().unwrap_err();
        assert!(matches!(
            error,
            ConfigError::ElectionTimeoutNotAboveHeartbeat { .. }
        ));
        assert!(error.to_string().contains("timing.election_timeout_ns"));
    }

    #[test]
    fn rejects_session_timeout_not_above_heartbeat() {
        let mut config = ClusterConfig::default();
        config.timing.broker_session_timeout_ns = 1;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::SessionTimeoutNotAboveHeartbeat { .. })
        ));
    }

    #[test]
    fn rejects_zero_intervals_and_limits() {
        let mut config = ClusterConfig::default();
        config.timing.raft_heartbeat_interval_ns = 0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::ZeroInterval {
                field: "raft_heartbeat_interval_ns"
            })
        );
        let mut config = ClusterConfig::default();
        config.limits.metadata_log_entries_max = 0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::ZeroLimit {
                field: "metadata_log_entries_max"
            })
        );
    }

    #[test]
    fn rejects_data_plane_limits_and_timings() {
        let mut config = ClusterConfig::default();
        config.limits.produce_in_flight_max = 0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::ZeroLimit {
                field: "produce_in_flight_max"
            })
        );
        for field in ["request_window_max", "request_senders_max"] {
            let mut config = ClusterConfig::default();
            match field {
                "request_window_max" => config.limits.request_window_max = 0,
                _ => config.limits.request_senders_max = 0,
            }
            assert_eq!(config.validate(), Err(ConfigError::ZeroLimit { field }));
        }
        let mut config = ClusterConfig::default();
        config.limits.log.fetch_records_max = 1;
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("fetch_records_max"));
        let mut config = ClusterConfig::default();
        config.timing.replica_lag_time_max_ns = config.timing.fetch_wait_max_ns;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::LagNotAboveFetchWait { .. })
        ));
        let mut config = ClusterConfig::default();
        config.timing.produce_timeout_ns = 0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::ZeroInterval {
                field: "produce_timeout_ns"
            })
        );
    }

    #[test]
    fn rejects_bad_topics() {
        let mut config = ClusterConfig::default();
        config.topics[0].replication_factor = 4;
        let error = config.validate().unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Topic(TopicError::ReplicationFactorOutOfRange { value: 4, .. })
        ));
        assert!(error.to_string().contains("replication_factor"));
        let mut config = ClusterConfig::default();
        config.topics[0].min_insync_replicas = 4;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Topic(TopicError::MinInsyncOutOfRange { .. }))
        ));
        let mut config = ClusterConfig::default();
        config.topics.push(config.topics[0].clone());
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Topic(TopicError::Duplicate { .. }))
        ));
        let mut config = ClusterConfig::default();
        config.topics[0].name = "a/b".to_owned();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Topic(TopicError::BadName { .. }))
        ));
        let mut config = ClusterConfig::default();
        config.topics[0].partitions = 0;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Topic(TopicError::PartitionsOutOfRange { .. }))
        ));
    }

    #[test]
    fn transactions_bring_their_state_topic_and_are_validated() {
        let transactions = TransactionsConfig::new(2, 3);
        let config = ClusterConfig::default().with_transactions(transactions.clone());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.topics.last(), Some(&transactions.state_topic()));
        let mut missing = config.clone();
        missing.topics.pop();
        assert_eq!(
            missing.validate(),
            Err(ConfigError::Transactions(
                TransactionsConfigError::StateTopicMissing
            ))
        );
        let mut long_log = config;
        long_log.limits.metadata_log_entries_max = 1 << 20;
        let error = long_log.validate().unwrap_err();
        assert!(error.to_string().contains("metadata_log_entries_max"));
    }
}
