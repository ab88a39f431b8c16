//! Scenario files: a cluster, a workload, a script of faults, and what the checks expect.
//!
//! The format is TOML read with serde, strictly: unknown fields, impossible values and
//! contradictions are errors that name the file, the line and the field ([`ScenarioError`]).
//! Trial writes scenarios back (the fuzzer and the shrinker do), and the format round-trips: a
//! scenario written by [`Scenario::to_toml`] reads back identical.
//!
//! Map: [`duration`] (`"30s"`-style durations), [`target`] (fault targets), [`fault`] (the fault
//! script), [`validate`] (the semantic rules), [`locate`] (from a field path to a line).

pub mod duration;
pub mod fault;
pub mod locate;
pub mod target;
pub mod validate;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use duration::{Duration, SignedDuration};
pub use fault::Fault;
pub use target::Target;

use crate::network::NetworkConfig;

/// One scenario file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short identifier, `[a-z0-9-]`.
    pub name: String,
    /// Why the scenario exists: the failure it is meant to provoke.
    pub why: String,
    /// How long the workload runs under faults.
    pub fault_phase: Duration,
    /// After every fault is healed, how long the cluster has to converge and consumers to drain.
    #[serde(default = "default_liveness_phase")]
    pub liveness_phase: Duration,
    pub cluster: Cluster,
    /// The network's base rates (latency, loss, duplication, reordering).
    #[serde(default, skip_serializing_if = "is_default_network")]
    pub network: NetworkConfig,
    pub workload: Workload,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<Nemesis>,
    #[serde(default)]
    pub expect: Expect,
}

fn default_liveness_phase() -> Duration {
    Duration::from_secs(20)
}

fn is_default_network(network: &NetworkConfig) -> bool {
    *network == NetworkConfig::default()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub brokers: u32,
    /// Controller quorum voters (combined mode: the first `controllers` brokers). Odd.
    #[serde(default = "default_controllers")]
    pub controllers: u32,
    #[serde(default)]
    pub flush: Flush,
    /// Kafka's `unclean.leader.election.enable`. Off by default: it can lose acknowledged data.
    #[serde(default)]
    pub unclean_leader_election: bool,
    /// Planted bugs (KAFKA.md's zoo). All off by default.
    #[serde(default)]
    pub bugs: Bugs,
    /// Brokers take legal but rare paths on purpose (`broker::perturb::Site` lists them: short
    /// fetches, early answers, busy refusals, early ISR shrinks, other in-sync leaders, ...).
    /// Off by default; a correct broker passes with it on.
    #[serde(default, skip_serializing_if = "is_false")]
    pub perturbations: bool,
    pub topics: Vec<Topic>,
}

fn default_controllers() -> u32 {
    3
}

/// When a broker syncs its log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flush {
    /// Sync before acknowledging (Trial's default).
    #[default]
    EveryBatch,
    /// Never sync explicitly; rely on replication (Kafka's default). A correlated crash of every
    /// replica can lose acknowledged records: a documented trade-off.
    Never,
}

/// Switches that plant the bug zoo's bugs (KAFKA.md, entries 1 to 12) and the
/// controller quorum's double vote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// 1: truncate to the local high watermark instead of the epoch divergence point.
    pub truncate_to_high_watermark: bool,
    /// 2: skip truncation when the new leader is the same broker as before.
    pub skip_truncation_when_leader_unchanged: bool,
    /// 3: the leader accepts fetches carrying a stale leader epoch.
    pub ignore_stale_follower_epoch: bool,
    /// 4a: elect a leader from outside the ISR.
    pub elect_outside_isr: bool,
    /// 4b: re-admit a rebooted broker with a stale epoch into the ISR.
    pub readmit_stale_broker: bool,
    /// 5: advance the high watermark to the leader's log end offset.
    pub high_watermark_at_leader_end: bool,
    /// The controller quorum's planted bug (not a zoo entry): a voter grants a second vote in a
    /// term it already voted in, so one term can elect two active controllers.
    pub grant_two_votes_per_term: bool,
    /// 11: the group coordinator accepts offset commits from stale generations.
    pub accept_stale_generation_commits: bool,
    /// 12a: a cooperative group hands a partition over before its owner revoked it.
    pub assign_before_revoke: bool,
    /// 12b: a new group coordinator drops the group state instead of replaying the offsets log.
    pub drop_group_state_on_failover: bool,
    /// 6: a new leader starts without the idempotent producers' state (instead of rebuilding it
    /// from its log) and takes an unknown producer's batch at any sequence number.
    pub lose_producer_state_on_leader_change: bool,
    /// 10: the leader serves `read_committed` consumers up to the high watermark, ignoring open
    /// transactions.
    pub last_stable_offset_at_high_watermark: bool,
    /// 9: a new transaction coordinator starts empty instead of replaying its transaction log.
    pub forget_transactions_on_coordinator_failover: bool,
    /// 7: a transaction coordinator aborts a timed-out transaction under the producer's current
    /// epoch instead of bumping it, so the producer it timed out is not fenced.
    pub keep_producer_epoch_on_transaction_timeout: bool,
    /// 8: a transaction coordinator ends transactions under the producer's epoch (no KIP-890
    /// part 2 bump), so a late batch, or a late copy of an EndTxn, acts on the producer's next
    /// transaction.
    pub end_transactions_without_epoch_bump: bool,
    /// 7, at the partitions: a leader appends batches of a fenced producer epoch instead of
    /// refusing them, so a fenced producer keeps writing.
    pub accept_stale_producer_epoch: bool,
    /// Consume-transform-produce (not a zoo entry): a group coordinator applies offsets
    /// committed inside a transaction before its commit marker, so an aborted transaction's
    /// offsets stand.
    pub transactional_offsets_before_marker: bool,
}

impl Bugs {
    pub fn any(&self) -> bool {
        *self != Bugs::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    #[serde(default)]
    pub producers: Vec<Producer>,
    #[serde(default)]
    pub consumers: Vec<Consumer>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Acks {
    #[serde(rename = "0")]
    None,
    #[serde(rename = "1")]
    Leader,
    #[default]
    #[serde(rename = "all")]
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    pub topic: String,
    /// How many producer processes of this shape.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub acks: Acks,
    /// Records per simulated second, per producer.
    pub rate_per_second: u32,
    /// Distinct keys; 0 sends unkeyed records (round-robin over partitions).
    #[serde(default)]
    pub keys: u32,
    /// Idempotent producers (KIP-98): batches numbered per partition, unknown outcomes retried,
    /// each batch appended once.
    #[serde(default, skip_serializing_if = "is_false")]
    pub idempotent: bool,
    /// Transactional producers (KIP-98): each operation is one transaction under the producer's
    /// own transactional id, committed or aborted as a whole. Needs acks = "all", and every
    /// consumer reading `read-committed`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub transactional: bool,
    /// A transactional producer aborts one transaction in this many on purpose (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub abort_one_in: u32,
    /// How long a transactional producer's transaction may stay open before its coordinator
    /// aborts it (Kafka's `transaction.timeout.ms`; default 20 s, at most 60 s). A producer
    /// paused for longer comes back a zombie its coordinator must have fenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_timeout: Option<Duration>,
    /// The transactional id the shape's producers share (default: each its own, `p<n>`). Two
    /// producers under one id are two instances of one application: each instance that starts
    /// (or starts again after being fenced) fences the other, whose open transaction its
    /// coordinator aborts (KIP-98's zombie fencing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactional_id: Option<String>,
}

/// What a consumer reads of transactions (Kafka's `isolation.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Everything below the high watermark, aborted transactions' records included.
    #[default]
    ReadUncommitted,
    /// Below the last stable offset, without aborted transactions' records.
    ReadCommitted,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerMode {
    /// The consumer reads an explicit set of partitions.
    #[default]
    Assign,
    /// The consumer joins a group that assigns partitions to it.
    Subscribe,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub topic: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub mode: ConsumerMode,
    /// The consumer group, for `subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Further topics the group consumer subscribes to (`subscribe` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// The group's rebalance protocol (`subscribe` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<RebalanceProtocol>,
    /// The group's assignor (`subscribe` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignor: Option<Assignor>,
    /// When the group consumer commits (`subscribe` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitMode>,
    /// Where a partition without a committed offset starts (`subscribe` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_offset_reset: Option<OffsetReset>,
    /// The member's session timeout (`subscribe` only; default 1.5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Duration>,
    /// What the consumer reads of transactions (default `read-uncommitted`, as Kafka's).
    #[serde(default, skip_serializing_if = "is_default")]
    pub isolation: Isolation,
    /// Under `commit = "transactional"`: the consumer aborts one commit's transaction in this
    /// many on purpose (0: never), and commits the same offsets again in the next.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub abort_one_in: u32,
    /// Under `commit = "transactional"`: the topic the worker writes to, one record for each
    /// record it consumes, in the transaction that commits the consumed record's offset
    /// (consume-transform-produce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Consumer {
    /// Every topic a consumer reads: `topic`, then `topics`.
    pub fn all_topics(&self) -> Vec<String> {
        let mut topics = vec![self.topic.clone()];
        topics.extend(self.topics.iter().cloned());
        topics
    }
}

/// How a group rebalances (KIP-429).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining.
    #[default]
    Eager,
    /// Partitions move only after their owner revoked them.
    Cooperative,
}

/// The coordinator's assignor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignor {
    #[default]
    Range,
    Sticky,
}

/// When a group consumer commits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// Kafka's `enable.auto.commit`: before a poll, what earlier polls returned (at-least-once).
    #[default]
    Auto,
    /// After each poll that returned records (commit after processing).
    Manual,
    /// As `manual`, each commit inside a transaction of its own (AddOffsetsToTxn,
    /// TxnOffsetCommit, EndTxn: consume-transform-produce with nothing produced yet). The
    /// cluster then runs transaction coordinators.
    Transactional,
}

/// Kafka's `auto.offset.reset`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetReset {
    #[default]
    Earliest,
    Latest,
}

fn one() -> u32 {
    1
}

/// Random faults drawn from the seed, swarm style: each seed enables a random subset of `kinds`
/// at random intensities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nemesis {
    pub kinds: Vec<NemesisKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// Cut links, healed later: two groups (half the time), one way only, or a bridge.
    Partition,
    /// Crash a broker, restart it later.
    Crash,
    /// Pause a broker, resume it later.
    Pause,
    /// Step a broker's clock, or make it drift.
    Clock,
    /// Fail a broker's syncs, or reject its writes, for a while.
    Disk,
    /// Loss, duplication and reordering rates (and in half of them slow packets: a long latency
    /// tail) for a while, or one link held then released.
    Network,
}

/// What the checks expect of this scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Every record acknowledged with acks=all survives. Off only where the scenario documents a
    /// trade-off that loses them (every replica crashing under `flush = "never"`); then the
    /// consequences of a vanished log tail (lost-write, unseen, inconsistent-offsets,
    /// nonmonotonic-poll, poll-skip) are reported but expected, and the replica monitor (records
    /// below the high watermark never change) is off.
    pub acknowledged_writes_survive: bool,
    /// Every consumer group processes each record exactly once (a record is processed when a
    /// member polled it and committed past it before giving the partition up). Only where the
    /// protocol allows no redelivery: manual commits, and no consumer or coordinator failures.
    /// Otherwise groups are judged at-least-once: every record read by each group, duplicates
    /// listed but expected.
    #[serde(skip_serializing_if = "is_false")]
    pub exactly_once: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            acknowledged_writes_survive: true,
            exactly_once: false,
        }
    }
}

/// A scenario file Trial refuses, located as precisely as the error allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based.
    pub line: Option<usize>,
    /// The field's path, like `faults[2].target`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(formatter, ": field `{field}`")?;
        }
        write!(formatter, ": {}", self.message)
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
            file: file.clone(),
            line: None,
            field: None,
            message: format!("cannot read: {error}"),
        })?;
        Scenario::parse(&text, &file)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| {
            let message = error.message().trim().to_string();
            let (line, field) = match error.span() {
                Some(span) => locate::serde_error(text, span, &message),
                None => (None, None),
            };
            ScenarioError {
                file: file.to_string(),
                line,
                field,
                message,
            }
        })?;
        if let Err(problem) = scenario.validate() {
            return Err(ScenarioError {
                file: file.to_string(),
                line: locate::line_of_field(text, &problem.path),
                field: Some(problem.path.to_string()),
                message: problem.message,
            });
        }
        Ok(scenario)
    }

    /// Writes the scenario as TOML that [`Scenario::parse`] reads back identical.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario always serialises")
    }

    /// Checks every semantic rule; the first problem found, with its field path.
    pub fn validate(&self) -> Result<(), validate::Problem> {
        validate::scenario(self)
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.cluster.topics.iter().find(|topic| topic.name == name)
    }
}
