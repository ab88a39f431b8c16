//! Limits and configuration validation (issue 3, acceptance).
//!
//! - Contradictory cluster configurations are refused before any node is built, with an error that
//!   names the field (zero or even voter counts, an election timeout not above the heartbeat, a
//!   session timeout not above the broker heartbeat, a replication factor above the broker count).
//! - The metadata log is bounded by `limits.metadata_log_entries_max`: once full, the active
//!   controller refuses every proposal (counted as `metadata_log_full`) and no node's log ever
//!   exceeds the bound (asserted by `Node::check_invariants` after every step), while the quorum
//!   stays safe under random faults.
//! - A topic created at run time through the admin client gets replicas and leaders.

use broker::admin::AdminCommand;
use broker::message::Message;
use broker::{ClusterConfig, TopicConfig};
use check::state::StateViolation;
use sim::SimulationConfig;
use sim::cluster::harness::ClusterError;
use sim::cluster::{ClusterSimulation, FaultKind, RandomFaults};

const SEEDS: u64 = 200;
const MS: u64 = 1_000_000;

fn ok<T>(seed: u64, result: Result<T, StateViolation>) -> T {
    result.unwrap_or_else(|violation| panic!("seed {seed}: {violation}"))
}

fn refused(config: ClusterConfig) -> String {
    match ClusterSimulation::new(config, SimulationConfig::default(), Vec::new()) {
        Err(ClusterError::Cluster(error)) => error.to_string(),
        other => panic!("expected a cluster config error, got {other:?}"),
    }
}

#[test]
fn contradictory_configurations_are_refused_with_the_field_named() {
    let even = ClusterConfig {
        brokers: 4,
        controllers: 2,
        ..ClusterConfig::default()
    };
    assert!(refused(even).contains("controllers must be odd"));
    let zero = ClusterConfig {
        controllers: 0,
        ..ClusterConfig::default()
    };
    assert!(refused(zero).contains("controllers must be in 1..="));
    let mut short_election = ClusterConfig::default();
    short_election.timing.election_timeout_ns =
        short_election.timing.raft_heartbeat_interval_ns / 2;
    assert!(refused(short_election).contains("timing.election_timeout_ns"));
    let mut short_session = ClusterConfig::default();
    short_session.timing.broker_session_timeout_ns =
        short_session.timing.broker_heartbeat_interval_ns;
    assert!(refused(short_session).contains("timing.broker_session_timeout_ns"));
    let mut wide_topic = ClusterConfig::default();
    wide_topic.topics[0].replication_factor = 4;
    assert!(refused(wide_topic).contains("replication_factor"));
}

#[test]
fn a_full_metadata_log_refuses_proposals_and_stays_bounded() {
    let mut full_runs = 0;
    for seed in 0..SEEDS {
        let mut config = ClusterConfig::default();
        config.limits.metadata_log_entries_max = 12;
        let simulation = SimulationConfig {
            seed,
            ..SimulationConfig::default()
        };
        let mut cluster =
            ClusterSimulation::new(config, simulation, Vec::new()).expect("valid config");
        let kinds = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];
        let mut faults = RandomFaults::new(seed, &kinds, 1);
        ok(seed, faults.run(&mut cluster, 3_000 * MS));
        full_runs += u64::from(cluster.counters().metadata_log_full > 0);
        for node in cluster.live_brokers() {
            assert!(
                node.quorum_state().log.len() <= 12,
                "seed {seed}: node {} past the bound",
                node.id()
            );
        }
    }
    assert!(
        full_runs >= SEEDS / 2,
        "the bound should bite in most runs, bit in {full_runs}"
    );
}

#[test]
fn a_created_topic_gets_replicas_and_leaders() {
    for seed in 0..SEEDS {
        let config = ClusterConfig {
            brokers: 5,
            controllers: 3,
            ..ClusterConfig::default()
        };
        let topic = TopicConfig {
            name: "events".to_owned(),
            partitions: 4,
            replication_factor: 3,
            min_insync_replicas: 2,
        };
        let script = vec![(1_500 * MS, AdminCommand::CreateTopic(topic))];
        let simulation = SimulationConfig {
            seed,
            ..SimulationConfig::default()
        };
        let mut cluster = ClusterSimulation::new(config, simulation, script).expect("valid config");
        let kinds = [FaultKind::Pause, FaultKind::Partition];
        let mut faults = RandomFaults::new(seed, &kinds, 1);
        ok(seed, faults.run(&mut cluster, 1_500 * MS));
        faults.heal_all(&mut cluster);
        let created = ok(
            seed,
            cluster.run_until_condition(6_000 * MS, |cluster| {
                cluster.is_settled()
                    && cluster.live_brokers().all(|node| {
                        let metadata = node.metadata();
                        metadata.topics.get("events").is_some_and(|topic| {
                            topic.partitions.len() == 4
                                && topic.partitions.iter().all(|state| state.leader.is_some())
                        })
                    })
            }),
        );
        assert!(
            created.is_some(),
            "seed {seed}: topic events not created and led everywhere"
        );
        let replies = cluster.admin_replies();
        assert!(
            matches!(
                replies,
                [(_, Message::CreateTopicResponse { result: Ok(()), .. })]
            ),
            "seed {seed}: {replies:?}"
        );
    }
}
