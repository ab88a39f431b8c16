//! The workload of a scenario: which clients run, with which history process ids, and how to
//! tell that they are done.
//!
//! Producers come first (process ids 0..), then consumers; the final replica dump uses the next
//! id. A consumer shape of `count` consumers in assign mode splits its topic's partitions
//! round-robin: consumer `j` reads every partition `p` with `p % count == j`. Subscribe-mode
//! consumers join their groups instead ([`groups`]).

use std::collections::BTreeMap;

use check::history::{MicroOperation, Operation, OperationType, OperationValue};
use serde::Serialize;

use crate::cluster::{ClusterSimulation, ConsumerSpec, ProducerSpec};
use crate::runner::history::history_key;
use broker::admin::AdminCommand;
use broker::client::{ClientEvent, ClientOperation, EventKind, GroupConsumerConfig};
use broker::topic::TopicName;

use crate::scenario::{Acks, ConsumerMode, Fault, Isolation, Scenario};

#[path = "workload_groups.rs"]
pub mod groups;
use crate::simulation::SimulationConfig;

#[derive(Clone, Debug)]
pub struct Workload {
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    /// Subscribe-mode consumers (a scenario's consumers are all assign or all subscribe).
    pub group_consumers: Vec<GroupConsumerConfig>,
    /// Every topic's partition count.
    pub partitions: BTreeMap<String, u32>,
}

impl Workload {
    pub fn of(scenario: &Scenario) -> Workload {
        let mut process = 0;
        let mut producers = Vec::new();
        for shape in &scenario.workload.producers {
            for _ in 0..shape.count {
                producers.push(ProducerSpec {
                    topic: shape.topic.clone(),
                    acks: broker_acks(shape.acks),
                    rate_per_second: u64::from(shape.rate_per_second),
                    keys: u64::from(shape.keys),
                    stop_at_ns: scenario.fault_phase.ns,
                    process,
                    idempotent: shape.idempotent,
                    transactional: shape.transactional,
                    abort_one_in: shape.abort_one_in,
                    transaction_timeout_ns: shape.transaction_timeout.map(|timeout| timeout.ns),
                    transactional_id: shape.transactional_id.clone(),
                });
                process += 1;
            }
        }
        let mut consumers = Vec::new();
        let group_consumers = groups::group_consumers(scenario, process);
        for shape in &scenario.workload.consumers {
            if shape.mode == ConsumerMode::Subscribe {
                continue;
            }
            let partitions = scenario
                .topic(&shape.topic)
                .expect("validated topic")
                .partitions;
            for index in 0..shape.count {
                let assigned = (0..partitions)
                    .filter(|partition| partition % shape.count == index)
                    .collect();
                consumers.push(ConsumerSpec {
                    topic: shape.topic.clone(),
                    partitions: assigned,
                    process,
                    isolation: isolation_level(shape.isolation),
                });
                process += 1;
            }
        }
        Workload {
            producers,
            consumers,
            group_consumers,
            partitions: scenario
                .cluster
                .topics
                .iter()
                .map(|topic| (topic.name.clone(), topic.partitions))
                .collect(),
        }
    }

    /// The name the cluster gives the client of history process `process` (`p1`, `c2`, ...),
    /// as the log and the scenario's client targets name it.
    pub fn process_name(&self, process: u64) -> Option<String> {
        let producer = self
            .producers
            .iter()
            .position(|producer| producer.process == process);
        if let Some(index) = producer {
            return Some(format!("p{}", index + 1));
        }
        let consumer = self
            .consumers
            .iter()
            .position(|consumer| consumer.process == process);
        if let Some(index) = consumer {
            return Some(consumer_name(index));
        }
        let mut groups = self.group_consumers.iter();
        let index = groups.position(|consumer| consumer.process == process)?;
        Some(consumer_name(self.consumers.len() + index))
    }

    /// How many history processes the clients use.
    pub fn process_count(&self) -> u64 {
        (self.producers.len() + self.consumers.len() + self.group_consumers.len()) as u64
    }

    /// Whether every consumer has read every assigned partition up to its high watermark (and
    /// every group has committed every partition of its topics that far), and past every record
    /// acknowledged to a producer (`acknowledged_ends`: a partition's new leader may not know
    /// the HW its predecessor acknowledged at yet).
    pub fn drained(
        &self,
        cluster: &ClusterSimulation,
        acknowledged_ends: &AcknowledgedEnds,
    ) -> bool {
        let mut high_watermarks = cluster.high_watermarks();
        for ((topic, partition), &acknowledged_end) in acknowledged_ends {
            let key = history_key(topic.as_str(), *partition);
            if let Some(high_watermark) = high_watermarks.get_mut(&key) {
                *high_watermark = (*high_watermark).max(acknowledged_end);
            }
        }
        let positions = cluster.consumer_positions();
        let group_consumers = &self.group_consumers;
        if !groups::groups_drained(
            group_consumers,
            &self.partitions,
            &high_watermarks,
            &positions,
        ) {
            return false;
        }
        self.consumers.iter().enumerate().all(|(index, consumer)| {
            let name = consumer_name(index);
            consumer.partitions.iter().all(|&partition| {
                let key = history_key(&consumer.topic, partition);
                let Some(&high_watermark) = high_watermarks.get(&key) else {
                    return false;
                };
                let position = positions
                    .get(&name)
                    .and_then(|positions| positions.get(&key));
                position.is_some_and(|&position| position >= high_watermark)
            })
        })
    }

    /// Notes the offsets of an `acks=all` send's acknowledgement in `acknowledged_ends`
    /// (`"topic/partition"` -> one past the highest such offset). Other acknowledgements are
    /// left out: an `acks=1` record may be lost with its leader, as Kafka allows. A worker
    /// writes its output with acks=all.
    pub fn note_acknowledged(&self, event: &ClientEvent, acknowledged_ends: &mut AcknowledgedEnds) {
        let records = match (event.kind, &event.operation) {
            (EventKind::Ok, ClientOperation::Send(records) | ClientOperation::Txn(records)) => {
                let acks_all = self.producers.iter().any(|producer| {
                    producer.process == event.process && producer.acks == broker::message::Acks::All
                });
                if !acks_all {
                    return;
                }
                records
            }
            (EventKind::Ok, ClientOperation::TxnCommit { sent, .. }) => sent,
            _ => return,
        };
        for record in records {
            if let Some(offset) = record.offset {
                let end = acknowledged_ends
                    .entry((record.topic.clone(), record.partition))
                    .or_insert(0);
                *end = (*end).max(offset + 1);
            }
        }
    }

    /// The final high watermarks and consumer positions, as a liveness witness.
    pub fn progress_json(&self, cluster: &ClusterSimulation) -> serde_json::Value {
        serde_json::json!({
            "high_watermarks": cluster.high_watermarks(),
            "consumer_positions": cluster.consumer_positions(),
        })
    }
}

/// The simulator's name for the consumer at `index` (the cluster names them `c1`, `c2`, ...).
fn consumer_name(index: usize) -> String {
    format!("c{}", index + 1)
}

/// Partitions of the transaction state topic in scenario runs: one, so that
/// `leader(__transaction_state/0)` names every transactional producer's coordinator.
pub const TRANSACTION_STATE_PARTITIONS: u32 = 1;

/// Whether the scenario has transactional producers or consumers that commit in transactions
/// (so the cluster runs transaction coordinators).
pub fn uses_transactions(scenario: &Scenario) -> bool {
    let workload = &scenario.workload;
    workload
        .producers
        .iter()
        .any(|producer| producer.transactional)
        || workload
            .consumers
            .iter()
            .any(|consumer| consumer.commit == Some(crate::scenario::CommitMode::Transactional))
}

/// The broker's name for a consumer's isolation level.
pub fn isolation_level(isolation: Isolation) -> broker::message::IsolationLevel {
    match isolation {
        Isolation::ReadUncommitted => broker::message::IsolationLevel::ReadUncommitted,
        Isolation::ReadCommitted => broker::message::IsolationLevel::ReadCommitted,
    }
}

fn broker_acks(acks: Acks) -> broker::message::data::Acks {
    match acks {
        Acks::None => broker::message::data::Acks::None,
        Acks::Leader => broker::message::data::Acks::Leader,
        Acks::All => broker::message::data::Acks::All,
    }
}

/// Builds the scenario's cluster with its clients.
pub fn build_cluster(
    scenario: &Scenario,
    workload: &Workload,
    simulation: SimulationConfig,
) -> ClusterSimulation {
    let config = cluster_config(scenario);
    let clients = crate::cluster::ClientSpecs {
        producers: workload.producers.clone(),
        consumers: workload.consumers.clone(),
    };
    let group_consumers = workload.group_consumers.clone();
    let admin_script = admin_script(scenario);
    match ClusterSimulation::with_every_client(
        config,
        simulation,
        clients,
        group_consumers,
        admin_script,
    ) {
        Ok(cluster) => cluster,
        Err(error) => panic!("a validated scenario must build a valid cluster: {error}"),
    }
}

/// What the admin client runs, and when: the scenario's `elect-preferred-leaders` faults. Empty
/// (no admin client) for a scenario without them.
fn admin_script(scenario: &Scenario) -> Vec<(u64, AdminCommand)> {
    scenario
        .faults
        .iter()
        .filter_map(|fault| match fault {
            Fault::ElectPreferredLeaders { at } => {
                Some((at.ns, AdminCommand::ElectPreferredLeaders(Vec::new())))
            }
            _ => None,
        })
        .collect()
}

/// The broker configuration a scenario describes.
pub fn cluster_config(scenario: &Scenario) -> broker::ClusterConfig {
    let cluster = &scenario.cluster;
    let bugs = &cluster.bugs;
    let mut config = broker::ClusterConfig {
        brokers: cluster.brokers,
        controllers: cluster.controllers,
        topics: cluster
            .topics
            .iter()
            .map(|topic| broker::TopicConfig {
                name: topic.name.clone(),
                partitions: topic.partitions,
                replication_factor: topic.replication_factor,
                min_insync_replicas: topic.min_insync_replicas,
            })
            .collect(),
        unclean_leader_election: cluster.unclean_leader_election,
        perturbations: cluster.perturbations,
        flush: match cluster.flush {
            crate::scenario::Flush::EveryBatch => broker::log::FlushPolicy::EveryBatch,
            crate::scenario::Flush::Never => broker::log::FlushPolicy::Never,
        },
        bugs: broker::BugsConfig {
            truncate_to_high_watermark: bugs.truncate_to_high_watermark,
            skip_truncation_when_leader_unchanged: bugs.skip_truncation_when_leader_unchanged,
            ignore_stale_follower_epoch: bugs.ignore_stale_follower_epoch,
            elect_outside_isr: bugs.elect_outside_isr,
            readmit_stale_broker: bugs.readmit_stale_broker,
            high_watermark_at_leader_end: bugs.high_watermark_at_leader_end,
            grant_two_votes_per_term: bugs.grant_two_votes_per_term,
            accept_stale_generation_commits: bugs.accept_stale_generation_commits,
            assign_before_revoke: bugs.assign_before_revoke,
            drop_group_state_on_failover: bugs.drop_group_state_on_failover,
            lose_producer_state_on_leader_change: bugs.lose_producer_state_on_leader_change,
            last_stable_offset_at_high_watermark: bugs.last_stable_offset_at_high_watermark,
            forget_transactions_on_coordinator_failover: bugs
                .forget_transactions_on_coordinator_failover,
            keep_producer_epoch_on_transaction_timeout: bugs
                .keep_producer_epoch_on_transaction_timeout,
            end_transactions_without_epoch_bump: bugs.end_transactions_without_epoch_bump,
            accept_stale_producer_epoch: bugs.accept_stale_producer_epoch,
            transactional_offsets_before_marker: bugs.transactional_offsets_before_marker,
            // Not a scenario switch: only the duplication tests turn dedup off.
            handle_duplicate_requests: false,
        },
        ..broker::ClusterConfig::default()
    };
    if groups::uses_groups(scenario) {
        config = config.with_groups(groups::groups_config(scenario));
    }
    if uses_transactions(scenario) {
        let transactions = broker::txn::TransactionsConfig::new(
            TRANSACTION_STATE_PARTITIONS,
            scenario.cluster.brokers,
        );
        config = config.with_transactions(transactions);
    }
    config
}

/// Per partition, the end of the records acknowledged to `acks=all` producers so far. Keyed by
/// (topic, partition), not by the history's "topic/partition" string: it is updated for every
/// acknowledged record, and read only at the liveness phase's drain checks.
pub type AcknowledgedEnds = BTreeMap<(TopicName, u32), u64>;

/// How much the workload did: a run that did nothing proves nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub sends_invoked: u64,
    pub records_acknowledged: u64,
    pub records_polled: u64,
}

pub fn activity(operations: &[Operation]) -> Activity {
    let mut activity = Activity::default();
    for operation in operations {
        let OperationValue::Micro(micro_operations) = &operation.value else {
            continue;
        };
        for micro in micro_operations {
            match (operation.kind, micro) {
                (OperationType::Invoke, MicroOperation::Send { .. }) => activity.sends_invoked += 1,
                (
                    OperationType::Ok,
                    MicroOperation::Send {
                        offset: Some(_), ..
                    },
                ) => activity.records_acknowledged += 1,
                (OperationType::Ok, MicroOperation::Poll { keys: Some(keys) }) => {
                    activity.records_polled +=
                        keys.iter().map(|key| key.records.len() as u64).sum::<u64>();
                }
                _ => {}
            }
        }
    }
    activity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::NodeId;

    /// The names [`Workload::process_name`] gives are the cluster's own, for assign-mode and
    /// group consumers alike.
    #[test]
    fn process_names_are_the_clusters_node_names() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/");
        for file in ["leader-crash-after-ack.toml", "group-zombie-consumer.toml"] {
            let scenario = Scenario::load(std::path::Path::new(&format!("{root}{file}"))).unwrap();
            let workload = Workload::of(&scenario);
            let cluster = build_cluster(&scenario, &workload, SimulationConfig::default());
            let simulation = cluster.simulation();
            let names: Vec<&str> = simulation
                .node_ids()
                .map(|node| simulation.name(node))
                .collect();
            for process in 0..workload.process_count() {
                let name = workload.process_name(process).unwrap();
                assert!(
                    names.contains(&name.as_str()),
                    "{file}: {name} in {names:?}"
                );
                let node = NodeId(scenario.cluster.brokers + process as u32);
                assert_eq!(simulation.name(node), name, "{file}: process {process}");
            }
            assert_eq!(workload.process_name(workload.process_count()), None);
        }
    }
}
