//! The unclean-election switch (issue 3, section 3): when every ISR member of a partition is gone,
//! the partition stays leaderless by default (its last ISR member stays in the ISR, waiting to
//! return), and only with `unclean_leader_election` does a live replica from outside the ISR
//! lead, with the ISR reset to just it.
//!
//! 5 brokers, 3 of them voters; partition `orders/2` has replicas 2, 3 and 4. After random pauses
//! and partitions (healed), brokers 3 and 4 crash and are fenced (the ISR shrinks to [2]), then
//! broker 2 crashes (the ISR stays [2], leaderless), then broker 3 restarts and registers.

use broker::ClusterConfig;
use check::state::StateViolation;
use sim::SimulationConfig;
use sim::cluster::{ClusterSimulation, FaultKind, RandomFaults};

const SEEDS: u64 = 200;
const MS: u64 = 1_000_000;

fn ok<T>(seed: u64, result: Result<T, StateViolation>) -> T {
    result.unwrap_or_else(|violation| panic!("seed {seed}: {violation}"))
}

/// `orders/2` in the active controller's committed metadata: (leader, ISR).
fn partition_2(cluster: &ClusterSimulation) -> Option<(Option<u32>, Vec<u32>)> {
    let controller = cluster.broker(cluster.active_controller()?)?;
    let state = controller.metadata().partition("orders", 2)?;
    Some((state.leader, state.isr.clone()))
}

/// Runs one seed; returns `orders/2`'s final (leader, ISR).
fn lose_the_whole_isr(seed: u64, unclean_leader_election: bool) -> (Option<u32>, Vec<u32>) {
    let config = ClusterConfig {
        brokers: 5,
        controllers: 3,
        unclean_leader_election,
        ..ClusterConfig::default()
    };
    let simulation = SimulationConfig {
        seed,
        ..SimulationConfig::default()
    };
    let mut cluster = ClusterSimulation::new(config, simulation, Vec::new()).expect("valid config");
    let mut faults = RandomFaults::new(seed, &[FaultKind::Pause, FaultKind::Partition], 1);
    ok(seed, faults.run(&mut cluster, 1_500 * MS));
    faults.heal_all(&mut cluster);
    ok(seed, cluster.run_until(3_000 * MS));
    assert!(cluster.is_settled(), "seed {seed}: not settled");
    assert_eq!(
        partition_2(&cluster).expect("settled").1.len(),
        3,
        "seed {seed}: full ISR first"
    );

    cluster.crash(3);
    cluster.crash(4);
    let shrunk = ok(
        seed,
        cluster.run_until_condition(6_000 * MS, |cluster| {
            partition_2(cluster) == Some((Some(2), vec![2]))
        }),
    );
    assert!(
        shrunk.is_some(),
        "seed {seed}: ISR of orders/2 never shrank to [2]"
    );
    cluster.crash(2);
    let leaderless = ok(
        seed,
        cluster.run_until_condition(9_000 * MS, |cluster| {
            partition_2(cluster) == Some((None, vec![2]))
        }),
    );
    assert!(
        leaderless.is_some(),
        "seed {seed}: orders/2 did not go leaderless"
    );
    cluster.restart(3);
    let registered = ok(
        seed,
        cluster.run_until_condition(12_000 * MS, |cluster| {
            let Some(controller) = cluster
                .active_controller()
                .and_then(|id| cluster.broker(id))
            else {
                return false;
            };
            controller.metadata().is_active(3)
        }),
    );
    assert!(
        registered.is_some(),
        "seed {seed}: restarted broker 3 never registered"
    );
    ok(seed, cluster.run_until(cluster.now_ns() + 1_000 * MS));
    partition_2(&cluster).expect("an active controller")
}

#[test]
fn without_unclean_election_a_partition_waits_for_its_last_isr_member() {
    for seed in 0..SEEDS {
        let (leader, isr) = lose_the_whole_isr(seed, false);
        assert_eq!((leader, isr), (None, vec![2]), "seed {seed}");
    }
}

#[test]
fn with_unclean_election_a_live_replica_outside_the_isr_leads() {
    for seed in 0..SEEDS {
        let (leader, isr) = lose_the_whole_isr(seed, true);
        assert_eq!((leader, isr), (Some(3), vec![3]), "seed {seed}");
    }
}
