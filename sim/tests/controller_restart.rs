//! A restarted node recovers its Raft state from its disk (issue 3, section 5).
//!
//! Each run crashes random voters while random pauses and partitions run, and restarts them after
//! a random delay. Crashes tear the page cache (a seeded prefix of the pending writes survives),
//! and short windows of failing writes or failing syncs hit random voters (the node must rewrite
//! its state before it acknowledges anything again). Right after each restart the rebuilt node must hold exactly what its disk
//! durably held (term, vote, metadata log), and never less than it had declared durable before
//! the crash: a term it synced is never forgotten, nor the vote it cast in it. After healing,
//! every node catches up with the active controller's commit index. The cluster-wide monitors
//! (terms never decrease, committed entries never change) run after every step.

use broker::ClusterConfig;
use check::state::StateViolation;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::cluster::{ClusterCounters, ClusterSimulation, FaultKind, RandomFaults};
use sim::{DiskConfig, NodeId, SimulationConfig};

const SEEDS: u64 = 200;
const MS: u64 = 1_000_000;
const FAULT_PHASE_NS: u64 = 4_000 * MS;
const CATCH_UP_BOUND_NS: u64 = 4_000 * MS;

fn ok<T>(seed: u64, result: Result<T, StateViolation>) -> T {
    result.unwrap_or_else(|violation| panic!("seed {seed}: {violation}"))
}

/// A voter down since some time, with what it had declared durable before the crash.
struct Down {
    node: u32,
    restart_ns: u64,
    term: u64,
    voted_for: Option<u32>,
}

/// Runs one seed; returns the number of restarts and the cluster's counters.
fn restart_recovers_raft_state(
    brokers: u32,
    controllers: u32,
    seed: u64,
) -> (u64, ClusterCounters) {
    let config = ClusterConfig {
        brokers,
        controllers,
        ..ClusterConfig::default()
    };
    let disk = DiskConfig {
        torn_writes_on_crash: true,
        ..DiskConfig::default()
    };
    let simulation = SimulationConfig {
        seed,
        disk,
        ..SimulationConfig::default()
    };
    let mut cluster = ClusterSimulation::new(config, simulation, Vec::new()).expect("valid config");
    let mut faults = RandomFaults::new(seed, &[FaultKind::Pause, FaultKind::Partition], 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut next_crash_ns = rng.random_range(200 * MS..800 * MS);
    let mut down: Option<Down> = None;
    // (node, end, writes rather than syncs)
    let mut disk_faults: Option<(u32, u64, bool)> = None;
    let mut next_disk_fault_ns = rng.random_range(200 * MS..1_000 * MS);
    let mut restarts = 0;
    while cluster.now_ns() < FAULT_PHASE_NS {
        ok(seed, cluster.step());
        faults.tick(&mut cluster);
        let now_ns = cluster.now_ns();
        if let Some(crashed) = down.take_if(|crashed| crashed.restart_ns <= now_ns) {
            check_recovery(&mut cluster, &crashed, seed);
            restarts += 1;
        }
        if let Some((node, _, writes)) = disk_faults.take_if(|(_, end_ns, _)| *end_ns <= now_ns) {
            set_disk_faults(&mut cluster, node, writes, false);
        }
        if disk_faults.is_none() && now_ns >= next_disk_fault_ns {
            let node = rng.random_range(0..controllers);
            let writes = rng.random_range(0..2u32) == 0;
            set_disk_faults(&mut cluster, node, writes, true);
            let end_ns = now_ns + rng.random_range(20 * MS..300 * MS);
            disk_faults = Some((node, end_ns, writes));
            next_disk_fault_ns = now_ns + rng.random_range(300 * MS..1_000 * MS);
        }
        if down.is_none() && now_ns >= next_crash_ns {
            let node = rng.random_range(0..controllers);
            let state = cluster
                .broker(node)
                .expect("only one crash at a time")
                .quorum_state();
            cluster.crash(node);
            let restart_ns = now_ns + rng.random_range(50 * MS..700 * MS);
            down = Some(Down {
                node,
                restart_ns,
                term: state.term,
                voted_for: state.voted_for,
            });
            next_crash_ns = restart_ns + rng.random_range(100 * MS..600 * MS);
        }
    }
    if let Some(crashed) = down.take() {
        check_recovery(&mut cluster, &crashed, seed);
        restarts += 1;
    }
    if let Some((node, _, writes)) = disk_faults {
        set_disk_faults(&mut cluster, node, writes, false);
    }
    faults.heal_all(&mut cluster);
    let caught_up = ok(
        seed,
        cluster.run_until_condition(cluster.now_ns() + CATCH_UP_BOUND_NS, |cluster| {
            let Some(controller) = cluster
                .active_controller()
                .and_then(|id| cluster.broker(id))
            else {
                return false;
            };
            let commit_index = controller.quorum_state().commit_index;
            cluster.is_settled()
                && cluster
                    .live_brokers()
                    .all(|node| node.quorum_state().commit_index == commit_index)
        }),
    );
    assert!(
        caught_up.is_some(),
        "seed {seed}: nodes did not catch up after healing"
    );
    (restarts, cluster.counters())
}

/// Turns failing writes (or failing syncs) on or off for `node`.
fn set_disk_faults(cluster: &mut ClusterSimulation, node: u32, writes: bool, on: bool) {
    let simulation = cluster.simulation_mut();
    if writes {
        simulation.set_write_faults(NodeId(node), on);
    } else {
        simulation.set_sync_faults(NodeId(node), on);
    }
}

/// Restarts `crashed` and checks the rebuilt node against its disk and its pre-crash promises.
fn check_recovery(cluster: &mut ClusterSimulation, crashed: &Down, seed: u64) {
    let node = crashed.node;
    let disk = cluster.simulation().durable_storage(NodeId(node)).0.clone();
    assert!(cluster.restart(node));
    let recovered = cluster.broker(node).expect("restarted").quorum_state();
    assert_eq!(
        recovered.term, disk.hard_state.term,
        "seed {seed}: node {node} term differs from its disk"
    );
    assert_eq!(
        recovered.voted_for, disk.hard_state.voted_for,
        "seed {seed}: node {node} vote differs from its disk"
    );
    let disk_terms: Vec<u64> = disk.metadata_log.iter().map(|entry| entry.term).collect();
    let recovered_terms: Vec<u64> = recovered.log.iter().map(|(term, _)| *term).collect();
    assert_eq!(
        recovered_terms, disk_terms,
        "seed {seed}: node {node} log differs from its disk"
    );
    assert_eq!(recovered.commit_index, 0, "the commit index is volatile");
    assert!(
        recovered.term >= crashed.term,
        "seed {seed}: node {node} forgot durable term {}",
        crashed.term
    );
    if recovered.term == crashed.term {
        assert_eq!(
            recovered.voted_for, crashed.voted_for,
            "seed {seed}: node {node} forgot its durable vote"
        );
    }
}

fn assert_restarts_recover(brokers: u32, controllers: u32) {
    let mut counters = ClusterCounters::default();
    let mut restarts = 0;
    for seed in 0..SEEDS {
        let (seed_restarts, seed_counters) =
            restart_recovers_raft_state(brokers, controllers, seed);
        restarts += seed_restarts;
        counters.disk_faults += seed_counters.disk_faults;
    }
    assert!(
        restarts >= 2 * SEEDS,
        "too few restarts ({restarts}) to test recovery"
    );
    let disk_faults = counters.disk_faults;
    assert!(
        disk_faults >= SEEDS,
        "too few disk faults handled ({disk_faults})"
    );
}

#[test]
fn a_restarted_node_recovers_its_raft_state_from_disk_in_3_nodes() {
    assert_restarts_recover(3, 3);
}

#[test]
fn a_restarted_node_recovers_its_raft_state_from_disk_in_5_nodes() {
    assert_restarts_recover(5, 5);
}
