//! The cluster-wide quorum check is live: with the test-only bug `grant_two_votes_per_term` (a
//! voter grants a second candidate a vote in a term it already voted in), two candidates of one
//! term can both win, and the `QuorumMonitor` reports `TwoQuorumLeaders` for some seed in a
//! bounded range. The same seeds pass with the switch off.
//!
//! A small election jitter makes simultaneous candidacies (and so split votes) common, and random
//! crashes, pauses and partitions force many elections.

use broker::ClusterConfig;
use check::state::StateViolation;
use sim::SimulationConfig;
use sim::cluster::{ClusterSimulation, FaultKind, RandomFaults};

const SEEDS: u64 = 200;
const MS: u64 = 1_000_000;
const RUN_NS: u64 = 4_000 * MS;

fn run(seed: u64, bug_planted: bool) -> Result<(), StateViolation> {
    let mut config = ClusterConfig {
        brokers: 5,
        controllers: 5,
        ..ClusterConfig::default()
    };
    config.timing.election_jitter_ns = 5 * MS;
    config.bugs.grant_two_votes_per_term = bug_planted;
    let simulation = SimulationConfig {
        seed,
        ..SimulationConfig::default()
    };
    let mut cluster = ClusterSimulation::new(config, simulation, Vec::new()).expect("valid config");
    let kinds = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];
    let mut faults = RandomFaults::new(seed, &kinds, 2);
    faults.run(&mut cluster, RUN_NS)
}

#[test]
fn the_quorum_monitor_catches_a_voter_granting_two_votes_per_term() {
    let caught: Vec<(u64, StateViolation)> = (0..SEEDS)
        .filter_map(|seed| run(seed, true).err().map(|violation| (seed, violation)))
        .collect();
    let (seed, violation) = caught
        .first()
        .expect("some seed must expose the planted bug");
    println!(
        "grant_two_votes_per_term: caught in {} of {SEEDS} seeds, first seed {seed}: {violation}",
        caught.len()
    );
    assert!(
        caught
            .iter()
            .all(|(_, violation)| matches!(violation, StateViolation::TwoQuorumLeaders { .. })),
        "the planted bug shows as two leaders in a term first: {caught:?}"
    );
}

#[test]
fn the_same_seeds_pass_without_the_bug() {
    for seed in 0..SEEDS {
        run(seed, false).unwrap_or_else(|violation| panic!("seed {seed}: {violation}"));
    }
}
