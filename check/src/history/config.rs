//! What the run under test promises, so that the report can tell expected anomalies from
//! violations. Every anomaly seen is reported; only those the configuration rules out fail it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::anomaly::AnomalyKind;

/// The producers' acknowledgement mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acks {
    /// `acks=all`: an acknowledged write is on the whole ISR; losing it is a violation.
    #[default]
    All,
    /// `acks=1`: acknowledged by the leader alone; a failover may lose it and reuse its offset,
    /// so `lost-write`, `unseen` and send order are not violations, and acknowledged offsets are
    /// not compared for `inconsistent-offsets`.
    Leader,
    /// `acks=0`: never acknowledged.
    None,
}

/// How consumers get their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerMode {
    /// `assign`: each consumer reads the keys it chose; positions never jump.
    #[default]
    Assign,
    /// `subscribe`: the group assigns keys; a rebalance resets positions to committed offsets,
    /// so skips and re-reads across a rebalance are expected (and excused), those within one
    /// assignment are not.
    Subscribe,
}

/// How a consumer group rebalances (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceProtocol {
    /// Every rebalance revokes every partition; members resume from committed offsets.
    #[default]
    Eager,
    /// A member keeps the partitions it is assigned again, with their positions.
    Cooperative,
}

/// The configuration a history is judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckConfig {
    pub acks: Acks,
    pub consumer_mode: ConsumerMode,
    /// The protocol groups rebalance by, unless `group_protocols` names theirs.
    pub rebalance_protocol: RebalanceProtocol,
    /// Groups that rebalance by another protocol than `rebalance_protocol` (a run's groups
    /// need not share one): judging a cooperative group as eager forgets, at each rebalance,
    /// the polls its members go on to commit, and reports their records lost.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group_protocols: BTreeMap<String, RebalanceProtocol>,
    /// Kafka's transactions make writes atomic but not isolated: `G0` and `int-send-skip` are
    /// normal. Set to `false` to demand serializable writes.
    pub kafka_transactions: bool,
    /// Whether every consumer group must process each record exactly once.
    pub exactly_once: bool,
    /// Whether every consumer group must read each record at least once (Kafka's auto-commit
    /// semantics): a record counts as consumed by a group once a member polled it, and only
    /// `lost-consumption` is a violation (`duplicate-consumption` is listed, not failed).
    pub at_least_once: bool,
    /// Whether the consumers drained every key at the end (a liveness phase): then every
    /// acknowledged record must have been read (`unseen` is a violation) and every group must
    /// have processed all of them.
    pub drained: bool,
    /// Further anomalies the run declares expected.
    pub expected: BTreeSet<AnomalyKind>,
    /// How many witnesses the report keeps per anomaly (all are counted).
    pub witnesses_per_anomaly_max: usize,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            acks: Acks::All,
            consumer_mode: ConsumerMode::Assign,
            rebalance_protocol: RebalanceProtocol::Eager,
            group_protocols: BTreeMap::new(),
            kafka_transactions: true,
            exactly_once: false,
            at_least_once: false,
            drained: false,
            expected: BTreeSet::new(),
            witnesses_per_anomaly_max: 64,
        }
    }
}

impl CheckConfig {
    /// The protocol `group` rebalances by (`None`: a process in no group).
    pub fn protocol_of(&self, group: Option<&str>) -> RebalanceProtocol {
        group
            .and_then(|group| self.group_protocols.get(group))
            .copied()
            .unwrap_or(self.rebalance_protocol)
    }

    /// Whether seeing `kind` fails a run with this configuration.
    pub fn is_violation(&self, kind: AnomalyKind) -> bool {
        if self.expected.contains(&kind) {
            return false;
        }
        match kind {
            AnomalyKind::LostWrite => self.acks == Acks::All,
            AnomalyKind::Unseen => self.acks == Acks::All && self.drained,
            // Under `subscribe` too: the walk over each process's reads already forgets a
            // position wherever a rebalance may have moved it (consumer_position.rs), so a skip
            // or re-read it still sees happened within one assignment: a real one.
            AnomalyKind::PollSkip | AnomalyKind::NonmonotonicPoll => true,
            // Without acks=all an acknowledged offset may be truncated and reused.
            AnomalyKind::NonmonotonicSend | AnomalyKind::InternalNonmonotonicSend => {
                self.acks == Acks::All
            }
            AnomalyKind::WriteCycle | AnomalyKind::InternalSendSkip => !self.kafka_transactions,
            AnomalyKind::DuplicateConsumption => self.exactly_once,
            AnomalyKind::LostConsumption => self.exactly_once || self.at_least_once,
            AnomalyKind::Duplicate
            | AnomalyKind::InconsistentOffsets
            | AnomalyKind::AbortedRead
            | AnomalyKind::PrecommittedRead
            | AnomalyKind::InternalPollSkip
            | AnomalyKind::InternalNonmonotonicPoll
            | AnomalyKind::CyclicInformationFlow
            | AnomalyKind::CommittedOffsetRegression => true,
        }
    }
}
