//! A duplicating network: half of all messages are delivered twice, under random crashes, pauses
//! and partitions. Kafka runs over TCP, which never delivers a request twice, and Trial's brokers
//! model that (`broker::dedup`): a node drops a request it already handled from the same sender.
//! So no record is appended twice, and every other data-plane guarantee holds (no acknowledged
//! record lost, replicas identical below the HW, no read record disappears, convergence).
//!
//! The same seeds with the `handle_duplicate_requests` switch (no deduplication) append
//! duplicated produce requests twice: the check can fail.

mod data_plane;

use broker::BugsConfig;
use data_plane::*;
use sim::SimulationConfig;
use sim::cluster::ClusterSimulation;
use sim::distribution::Ratio;
use sim::network::NetworkConfig;

const SEEDS: u64 = 20;
const FAULT_PHASE_END_NS: u64 = 4_000 * MS;
const CONVERGENCE_BOUND_NS: u64 = 10_000 * MS;

/// Runs one seed on a network that duplicates half of its messages; returns the problems and
/// how many duplicated requests the brokers dropped.
fn run(seed: u64, bugs: BugsConfig) -> (Problems, u64) {
    let partitions = 3;
    let simulation = SimulationConfig {
        seed,
        network: NetworkConfig {
            duplication: Ratio::new(1, 2),
            ..NetworkConfig::default()
        },
        ..SimulationConfig::default()
    };
    let mut cluster = ClusterSimulation::with_clients(
        config(partitions, bugs),
        simulation,
        clients(partitions, 2, 100, FAULT_PHASE_END_NS),
    )
    .expect("valid config");
    let Aftermath { converged, events } =
        fault_heal_and_drain(&mut cluster, seed, FAULT_PHASE_END_NS, CONVERGENCE_BOUND_NS);
    let mut problems = check_duplicates(&cluster);
    if !converged {
        problems.push(format!("no convergence within {CONVERGENCE_BOUND_NS} ns"));
    }
    problems.extend(check_logs(&cluster, &events));
    problems.extend(check_reads(&cluster, &events));
    let (_, acknowledged, _) = summary(&events);
    if acknowledged == 0 {
        problems.push("nothing acknowledged: a vacuous run".to_owned());
    }
    (problems, cluster.counters().duplicate_requests_dropped)
}

#[test]
fn no_record_is_appended_twice_on_a_duplicating_network() {
    let mut dropped_total = 0;
    for seed in 0..SEEDS {
        let (problems, dropped) = run(seed, BugsConfig::default());
        assert!(problems.is_empty(), "seed {seed}: {problems:?}");
        dropped_total += dropped;
    }
    assert!(
        dropped_total > 0,
        "no duplicated request reached a broker: the test tested nothing"
    );
}

#[test]
fn without_deduplication_a_duplicated_produce_is_appended_twice() {
    let bugs = BugsConfig {
        handle_duplicate_requests: true,
        ..BugsConfig::default()
    };
    let caught = (0..SEEDS).find_map(|seed| {
        let (problems, _) = run(seed, bugs.clone());
        problems
            .into_iter()
            .find(|problem| problem.starts_with("duplicate:"))
            .map(|problem| (seed, problem))
    });
    let (seed, problem) = caught.expect("some seed appends a record twice");
    println!("seed {seed}: {problem}");
}
