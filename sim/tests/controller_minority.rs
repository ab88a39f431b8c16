//! A minority partition cannot elect a controller, and an isolated minority does not disrupt the
//! majority when it returns (issue 3, section 5).
//!
//! Each run: random faults, heal, settle; then a random minority (which may hold the active
//! controller) is cut off for 3 s. While it is: no node of the minority becomes leader of a term
//! newer than the one at the cut, and no minority node moves to a term newer than any node held at
//! the cut (pre-vote: a node that cannot reach a majority never bumps its term); the majority has an active controller. After
//! healing, the cluster settles again, and the majority's controller keeps its term (the returning
//! minority did not force an election). The cluster-wide monitors run after every step.

use broker::ClusterConfig;
use check::state::StateViolation;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::SimulationConfig;
use sim::cluster::{ClusterSimulation, FaultKind, RandomFaults};

const SEEDS: u64 = 200;
const MS: u64 = 1_000_000;
const FAULT_PHASE_NS: u64 = 1_500 * MS;
const SETTLE_BOUND_NS: u64 = 4_000 * MS;
const PARTITION_NS: u64 = 3_000 * MS;

/// The value of a step that must not have broken a cluster-wide invariant.
fn ok<T>(seed: u64, result: Result<T, StateViolation>) -> T {
    result.unwrap_or_else(|violation| panic!("seed {seed}: {violation}"))
}

fn minority_cannot_elect(nodes: u32, seed: u64) {
    let config = ClusterConfig {
        brokers: nodes,
        controllers: nodes,
        ..ClusterConfig::default()
    };
    let simulation = SimulationConfig {
        seed,
        ..SimulationConfig::default()
    };
    let mut cluster = ClusterSimulation::new(config, simulation, Vec::new()).expect("valid config");
    let kinds = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];
    let mut faults = RandomFaults::new(seed, &kinds, (nodes as usize - 1) / 2);
    ok(seed, faults.run(&mut cluster, FAULT_PHASE_NS));
    faults.heal_all(&mut cluster);
    let deadline_ns = cluster.now_ns() + SETTLE_BOUND_NS;
    let settled = ok(
        seed,
        cluster.run_until_condition(deadline_ns, ClusterSimulation::is_settled),
    );
    assert!(
        settled.is_some(),
        "seed {seed}: not settled before the partition"
    );

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..nodes).collect();
    order.shuffle(&mut rng);
    let minority_size = rng.random_range(1..=(nodes as usize - 1) / 2);
    let (minority, majority) = order.split_at(minority_size);
    // Terms may still become durable after the cut, but none newer than any node holds now.
    let term_at_cut = cluster
        .live_brokers()
        .map(|node| node.current_term())
        .max()
        .expect("live brokers");
    cluster.partition(&[minority.to_vec(), majority.to_vec()]);
    let cut_ns = cluster.now_ns();

    while cluster.now_ns() < cut_ns + PARTITION_NS {
        ok(seed, cluster.step());
        for id in minority {
            let node = cluster.broker(*id).expect("up");
            assert!(
                node.current_term() <= term_at_cut,
                "seed {seed}: minority node {id} moved to a new term"
            );
            let state = node.quorum_state();
            assert!(
                !(state.is_leader && state.term > term_at_cut),
                "seed {seed}: minority node {id} elected"
            );
        }
    }
    // Check quorum: by now any controller in the minority has stepped down.
    for id in minority {
        assert!(
            !cluster.broker(*id).expect("up").is_active_controller(),
            "seed {seed}: minority {id} still active"
        );
    }
    let controller = cluster
        .active_controller()
        .unwrap_or_else(|| panic!("seed {seed}: majority has no controller"));
    assert!(majority.contains(&controller));
    let controller_term = cluster.broker(controller).expect("up").quorum_state().term;

    cluster.heal();
    let deadline_ns = cluster.now_ns() + SETTLE_BOUND_NS;
    let settled = ok(
        seed,
        cluster.run_until_condition(deadline_ns, ClusterSimulation::is_settled),
    );
    assert!(
        settled.is_some(),
        "seed {seed}: not settled after healing the partition"
    );
    let after = cluster.active_controller().expect("settled");
    assert_eq!(
        (
            after,
            cluster.broker(after).expect("up").quorum_state().term
        ),
        (controller, controller_term),
        "seed {seed}: the returning minority disrupted the majority's controller"
    );
}

#[test]
fn a_minority_partition_cannot_elect_in_3_nodes() {
    (0..SEEDS).for_each(|seed| minority_cannot_elect(3, seed));
}

#[test]
fn a_minority_partition_cannot_elect_in_5_nodes() {
    (0..SEEDS).for_each(|seed| minority_cannot_elect(5, seed));
}
