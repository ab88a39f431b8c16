//! Engine benchmark: 3 demo nodes, 60 simulated seconds, a partition in the middle.
//!
//! Run with `cargo bench -p sim --bench engine`. Prints events per wall second and wall time per
//! run. The harness times itself with the wall clock; the simulations it times never read it.

#[path = "../tests/demo/mod.rs"]
mod demo;

use demo::{MILLISECOND_NS, Role, SECOND_NS};
use sim::{NodeId, SimulationConfig};

/// The allocator the `trial` binary runs with, so that the benchmark measures what campaigns get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: u64 = 10;

fn one_run(seed: u64) -> (u64, u64) {
    let roles = (0..3u32)
        .map(|node| {
            let peers = (0..3).filter(|&peer| peer != node).map(NodeId).collect();
            Role {
                log_pings: true,
                sync_every: 16,
                ..Role::pinging(peers, MILLISECOND_NS)
            }
        })
        .collect();
    let config = SimulationConfig {
        seed,
        check_invariants: false,
        ..SimulationConfig::default()
    };
    let mut simulation = demo::simulation(config, roles);
    for second in 1..=60 {
        if second == 26 {
            simulation.partition(&[vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]);
        }
        if second == 36 {
            simulation.heal();
        }
        // A driver consumes observations as it goes, as the scenario runner does.
        simulation.run_until(second * SECOND_NS);
        simulation.drain_observations().clear();
    }
    (simulation.counters().events, simulation.digest())
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark harness times itself"
)]
fn main() {
    let _ = one_run(u64::MAX);
    let started = std::time::Instant::now();
    let mut events = 0;
    for seed in 0..RUNS {
        events += one_run(seed).0;
    }
    let wall_ns = started.elapsed().as_nanos() as u64;
    let events_per_second = events as f64 / (wall_ns as f64 / 1e9);
    println!(
        "engine: {RUNS} runs of 60 simulated s, 3 nodes, partition at 25-35 s: {} events per run, \
         {:.2} ms wall per run, {:.1} M events per wall second",
        events / RUNS,
        wall_ns as f64 / RUNS as f64 / 1e6,
        events_per_second / 1e6
    );
}
