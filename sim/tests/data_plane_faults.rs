//! Issue 4's main acceptance: under random crashes (with restarts), pauses and partitions of the
//! brokers, with acks=all and default settings, no acknowledged record is ever missing from the
//! final logs, every replica holds identical records below the HW, each partition's offsets are
//! dense and increasing, and no record a consumer read disappears. The replica monitor (records
//! below the HW never change; one leader per epoch; a leader's HW never decreases) runs after
//! every step. After the fault phase everything is healed and the cluster must converge.

mod data_plane;

use broker::BugsConfig;
use data_plane::*;
use sim::cluster::ClusterCounters;

const SEEDS: u64 = 200;
/// Producers stop at the end of the fault phase; faults start once the cluster first settled.
const FAULT_PHASE_END_NS: u64 = 4_000 * MS;
const SETTLE_BOUND_NS: u64 = 2_000 * MS;
const CONVERGENCE_BOUND_NS: u64 = 10_000 * MS;

/// Runs one seed; returns its problems, its acknowledged sends and its counters.
fn run(seed: u64) -> (Problems, u64, ClusterCounters) {
    let partitions = 3;
    let mut cluster = cluster(
        config(partitions, BugsConfig::default()),
        seed,
        clients(partitions, 2, 100, FAULT_PHASE_END_NS),
    );
    let settled = cluster
        .run_until_condition(SETTLE_BOUND_NS, |cluster| {
            cluster.is_settled() && cluster.high_watermarks().len() == partitions as usize
        })
        .unwrap_or_else(|violation| panic!("seed {seed}: {violation}"));
    assert!(settled.is_some(), "seed {seed}: no first settlement");
    let Aftermath { converged, events } =
        fault_heal_and_drain(&mut cluster, seed, FAULT_PHASE_END_NS, CONVERGENCE_BOUND_NS);
    let mut problems = Vec::new();
    if !converged {
        problems.push(format!("no convergence within {CONVERGENCE_BOUND_NS} ns"));
    }
    problems.extend(check_logs(&cluster, &events));
    problems.extend(check_reads(&cluster, &events));
    let (_, acknowledged, _) = summary(&events);
    (problems, acknowledged, cluster.counters())
}

#[test]
fn acknowledged_records_survive_random_faults() {
    let mut failures = Vec::new();
    let mut total = ClusterCounters::default();
    let mut vacuous = 0;
    for seed in 0..SEEDS {
        let (problems, acknowledged, counters) = run(seed);
        if acknowledged == 0 {
            vacuous += 1;
        }
        if !problems.is_empty() {
            failures.push(format!(
                "seed {seed}: {}",
                problems[..problems.len().min(3)].join("; ")
            ));
        }
        total.truncations += counters.truncations;
        total.isr_shrinks += counters.isr_shrinks;
        total.isr_expands += counters.isr_expands;
        total.replica_leaderships += counters.replica_leaderships;
        total.indeterminate_produces += counters.indeterminate_produces;
        total.produce_retries += counters.produce_retries;
        total.fenced_requests += counters.fenced_requests;
    }
    println!("{SEEDS} seeds, {vacuous} without any acknowledged send, counters summed: {total:?}");
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Dense early faults can leave a seed without acknowledgements: with the leaders spread over
    // the brokers, a fault on any broker holds up most operations (each spans several
    // partitions) until a request times out. Most seeds must acknowledge something.
    assert!(vacuous * 5 < SEEDS, "{vacuous} seeds acknowledged nothing");
    // The faults bit: leaders moved, ISRs changed, followers truncated.
    assert!(total.replica_leaderships > 3 * SEEDS, "{total:?}");
    assert!(total.isr_shrinks > 0 && total.isr_expands > 0, "{total:?}");
    assert!(total.truncations > 0, "{total:?}");
}
