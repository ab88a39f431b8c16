//! Campaign benchmark (issue 7): seeds per minute through the real runner.
//!
//! Runs `SEEDS` seeds of a bundled 30-simulated-second, 3-broker scenario
//! (`scenarios/controller-crash.toml`: 15 s of faults with two controller crashes, a leader crash
//! and restarts, then 15 s of liveness) through [`sim::runner::run::run`], exactly what
//! `trial fuzz` runs for each seed: monitors on in the fault phase, node invariants after every
//! step, a recorded history and the history checkers. Prints seeds per minute on one core and
//! that rate times two (a campaign runs one simulation per core, with nothing shared).
//!
//! Run with `cargo bench -p sim --bench campaign` (`-- PATH` for another scenario, `-- --seeds N`
//! for another count). The harness times itself with the wall clock; the runs it times never
//! read it.

use sim::runner::run::{RunOptions, run};
use sim::scenario::Scenario;

/// The allocator the `trial` binary runs with, so that the benchmark measures what campaigns get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDS: u64 = 100;
const SCENARIO: &str = "controller-crash.toml";

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark harness times itself"
)]
fn main() {
    let mut arguments = std::env::args()
        .skip(1)
        .filter(|argument| argument != "--bench");
    let mut path = None;
    let mut seeds = SEEDS;
    while let Some(argument) = arguments.next() {
        if argument == "--seeds" {
            let count = arguments.next().expect("--seeds takes a count");
            seeds = count.parse().expect("--seeds takes a count");
        } else {
            path = Some(argument);
        }
    }
    let path =
        path.unwrap_or_else(|| format!("{}/../scenarios/{SCENARIO}", env!("CARGO_MANIFEST_DIR")));
    let scenario = Scenario::load(std::path::Path::new(&path))
        .unwrap_or_else(|error| panic!("{path}: {error}"));
    let _ = run(&scenario, &path, u64::MAX, RunOptions::default());
    let started = std::time::Instant::now();
    let mut events = 0;
    let mut failed = 0;
    for seed in 0..seeds {
        let outcome = run(&scenario, &path, seed, RunOptions::default());
        events += outcome.report.stats.events;
        failed += u64::from(!outcome.report.violations.is_empty());
    }
    let wall_s = started.elapsed().as_secs_f64();
    let per_minute = seeds as f64 / wall_s * 60.0;
    println!(
        "campaign ({}: {} simulated s per seed): {seeds} seeds ({failed} failed), {} events per \
         seed, {:.1} ms wall per seed, {:.0} seeds per minute on one core, {:.0} on two",
        scenario.name,
        (scenario.fault_phase.ns + scenario.liveness_phase.ns) / 1_000_000_000,
        events / seeds,
        wall_s * 1e3 / seeds as f64,
        per_minute,
        per_minute * 2.0
    );
}
