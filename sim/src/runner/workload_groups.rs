//! The group side of a workload: group consumers built from the scenario (with the worker
//! pool's schedule), the cluster's groups configuration, and when the groups have drained.

use std::collections::{BTreeMap, BTreeSet};

use broker::client::group_consumer::TRANSFORM_INDEX_FIRST;
use broker::client::{
    CommitMode, GroupConsumerConfig, OffsetReset, TransactionalCommits, TransformOutput,
};
use broker::group::GroupsConfig;
use broker::log::LogLimits;
use broker::message::group::{AssignorKind, RebalanceProtocol};

use crate::runner::history::history_key;
use crate::runner::workload::TRANSACTION_STATE_PARTITIONS;
use crate::scenario::{self, ConsumerMode, Fault, Scenario, Target};

/// Partitions of the offsets topic in scenario runs.
pub const OFFSETS_PARTITIONS: u32 = 3;

/// The transaction timeout of a consumer's transactional commits. A member that stops or starts
/// over with a transaction open leaves its offsets unstable until the coordinator aborts it on
/// this timeout, and the group's new owners of those partitions wait for it (as in Kafka): it is
/// well below the shortest liveness phase (10 s), so that the group drains in it.
const TRANSACTION_TIMEOUT_NS: u64 = 4_000_000_000;

/// Whether the scenario's consumers join groups.
pub fn uses_groups(scenario: &Scenario) -> bool {
    scenario
        .workload
        .consumers
        .iter()
        .any(|consumer| consumer.mode == ConsumerMode::Subscribe)
}

pub fn groups_config(scenario: &Scenario) -> GroupsConfig {
    GroupsConfig::new(OFFSETS_PARTITIONS, scenario.cluster.brokers)
}

/// The group consumers (`c1..` in scenario order), process ids from `first_process`.
pub fn group_consumers(scenario: &Scenario, first_process: u64) -> Vec<GroupConsumerConfig> {
    let mut consumers = Vec::new();
    let mut index = 0u32;
    for shape in &scenario.workload.consumers {
        for _ in 0..shape.count {
            if shape.mode == ConsumerMode::Subscribe {
                let process = first_process + u64::from(index);
                consumers.push(group_consumer(scenario, shape, index, process));
            }
            index += 1;
        }
    }
    consumers
}

fn group_consumer(
    scenario: &Scenario,
    shape: &scenario::Consumer,
    index: u32,
    process: u64,
) -> GroupConsumerConfig {
    let group = shape
        .group
        .as_deref()
        .expect("validated: subscribe has a group");
    let mut config =
        GroupConsumerConfig::new(process, group, shape.all_topics(), OFFSETS_PARTITIONS);
    config.commit_offsets_max = groups_config(scenario).commit_offsets_max;
    config.protocol = match shape.protocol.unwrap_or_default() {
        scenario::RebalanceProtocol::Eager => RebalanceProtocol::Eager,
        scenario::RebalanceProtocol::Cooperative => RebalanceProtocol::Cooperative,
    };
    config.assignor = match shape.assignor.unwrap_or_default() {
        scenario::Assignor::Range => AssignorKind::Range,
        scenario::Assignor::Sticky => AssignorKind::Sticky,
    };
    config.commit_mode = match shape.commit.unwrap_or_default() {
        scenario::CommitMode::Auto => CommitMode::Auto,
        scenario::CommitMode::Manual => CommitMode::Manual,
        scenario::CommitMode::Transactional => {
            // One transactional id per worker, kept across its restarts: a restarted worker's
            // first transaction fences its previous instance (KIP-447: a group member's id).
            config.transactional = Some(TransactionalCommits {
                transactional_id: format!("{group}-c{}", index + 1),
                transaction_timeout_ns: TRANSACTION_TIMEOUT_NS,
                state_partitions: TRANSACTION_STATE_PARTITIONS,
                abort_one_in: shape.abort_one_in,
                output: shape.output.as_ref().map(|topic| TransformOutput {
                    topic: topic.clone(),
                    partitions: topic_partitions(scenario, topic),
                    index: TRANSFORM_INDEX_FIRST + u64::from(index),
                    instance: 0,
                    batch_records_max: LogLimits::default().batch_records_max,
                }),
            });
            CommitMode::Transactional
        }
    };
    config.offset_reset = match shape.auto_offset_reset.unwrap_or_default() {
        scenario::OffsetReset::Earliest => OffsetReset::Earliest,
        scenario::OffsetReset::Latest => OffsetReset::Latest,
    };
    config.isolation = super::isolation_level(shape.isolation);
    if let Some(timeout) = shape.session_timeout {
        config.session_timeout_ns = timeout.ns;
        config.heartbeat_interval_ns = timeout.ns / 5;
    }
    for fault in &scenario.faults {
        match fault {
            Fault::AddConsumer { at, target } if *target == Target::Consumer(index) => {
                config.start_at_ns = at.ns;
            }
            Fault::RemoveConsumer { at, target } if *target == Target::Consumer(index) => {
                config.stop_at_ns = at.ns;
            }
            _ => {}
        }
    }
    config
}

/// The partition count of `topic` (validated: a topic of the cluster).
fn topic_partitions(scenario: &Scenario, topic: &str) -> u32 {
    scenario
        .cluster
        .topics
        .iter()
        .find(|candidate| candidate.name == topic)
        .map(|found| found.partitions)
        .expect("validated: the output is a topic of the cluster")
}

/// Whether, for every group, every partition of its topics (`partitions`: topic -> count) is
/// assigned to a live member whose group has committed it up to its high watermark.
pub fn groups_drained(
    consumers: &[GroupConsumerConfig],
    partitions: &BTreeMap<String, u32>,
    high_watermarks: &BTreeMap<String, u64>,
    positions: &BTreeMap<String, BTreeMap<String, u64>>,
) -> bool {
    let mut committed: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (position, consumer) in consumers.iter().enumerate() {
        let name = format!("c{}", position + 1);
        for (key, offset) in positions.get(&name).into_iter().flatten() {
            committed.insert((consumer.group.as_str(), key.as_str()), *offset);
        }
    }
    let mut required: BTreeSet<(&str, String)> = BTreeSet::new();
    for consumer in consumers {
        for topic in &consumer.topics {
            for partition in 0..partitions.get(topic).copied().unwrap_or(0) {
                required.insert((consumer.group.as_str(), history_key(topic, partition)));
            }
        }
    }
    required.iter().all(|(group, key)| {
        let Some(high_watermark) = high_watermarks.get(key) else {
            return false;
        };
        committed
            .get(&(*group, key.as_str()))
            .is_some_and(|offset| offset >= high_watermark)
    })
}
