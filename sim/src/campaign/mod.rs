//! Campaigns: many seeds, swarm faults, determinism audits, shrinking and sharding.
//!
//! This is the one layer of `sim` that runs outside a simulation: it reads the wall clock (time
//! budgets, wall time per seed) and runs seeds on threads, each simulation single-threaded and
//! deterministic on its own. Every such use is marked `#[allow(clippy::disallowed_methods)]`
//! with its reason. Nothing here feeds wall time or thread order into a run: a seed's verdict
//! and digest depend only on (scenario, seed).
//!
//! The campaign logic is generic over a [`SeedRunner`], so scheduling, resume, sharding, audit
//! and shrinking are tested with fake runners, without simulations.
//!
//! Map:
//! - [`schedule`]: which (scenario, seed) jobs a campaign and a shard run: a pure function of
//!   (campaign seed, shard index, shard count).
//! - [`generate`]: scenarios drawn from a seed, swarm style, always valid.
//! - [`bugs`]: turning the broker's bug switches on by name.
//! - [`record`]: the campaign folder: `campaign.json`, `seeds.jsonl` (append + flush per seed),
//!   `failures/`.
//! - [`execute`]: runs a campaign on threads, with resume, audit and failure artifacts.
//! - [`merge`]: the folders of a sharded campaign merged into one summary.
//! - [`summary`]: a campaign's (or merged shards') summary: failures, audits, rare-event coverage.
//! - [`shrink`]: deterministic reduction of a failing scenario while its violation persists.
//! - [`regression`]: the regression seed list (`ci/regression-seeds.txt`).

pub mod bugs;
pub mod execute;
pub mod generate;
pub mod job_set;
pub mod merge;
pub mod record;
pub mod regression;
pub mod schedule;
pub mod shrink;
pub mod summary;

use crate::runner::report::RunReport;
use crate::scenario::Scenario;

/// What one run of one seed gives back.
#[derive(Clone, Debug)]
pub struct SeedRun {
    pub report: RunReport,
    /// The history, one JSON object per line.
    pub history_lines: Vec<String>,
    /// The log, stamped with simulated time; empty unless asked for.
    pub log: String,
}

impl SeedRun {
    /// A run that kept no history and no log.
    pub fn from_report(report: RunReport) -> SeedRun {
        SeedRun {
            report,
            history_lines: Vec::new(),
            log: String::new(),
        }
    }
}

/// Runs one seed of one scenario, deterministically in (scenario, seed).
///
/// `scenario_path` only names the scenario in the report; `capture_log` asks for the log (a
/// campaign asks only when it writes a failure's artifact).
pub trait SeedRunner: Sync {
    fn run(
        &self,
        scenario: &Scenario,
        scenario_path: &str,
        seed: u64,
        capture_log: bool,
    ) -> SeedRun;
}

impl<F> SeedRunner for F
where
    F: Fn(&Scenario, &str, u64, bool) -> SeedRun + Sync,
{
    fn run(
        &self,
        scenario: &Scenario,
        scenario_path: &str,
        seed: u64,
        capture_log: bool,
    ) -> SeedRun {
        self(scenario, scenario_path, seed, capture_log)
    }
}

/// The 64-bit finaliser of SplitMix64: a bijection that spreads nearby inputs apart.
pub(crate) fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod fake {
    //! Fake runners for the campaign's unit tests: verdicts as a function of (scenario, seed).

    use super::*;
    use crate::runner::report::{Violation, ViolationSource};
    use crate::scenario::{Fault, Target};

    /// A report whose digest is a function of (scenario name, seed), and that fails when
    /// `fails` says so, with a `lost-write`.
    pub fn report(scenario: &Scenario, path: &str, seed: u64, fails: bool) -> RunReport {
        let name_hash = scenario
            .name
            .bytes()
            .fold(0u64, |hash, byte| mix(hash ^ u64::from(byte)));
        let mut report = RunReport::new(&scenario.name, path, seed, mix(name_hash ^ seed));
        report.stats.counters.insert("crashes".into(), seed % 3);
        report.stats.counters.insert("elections".into(), 1);
        report.stats.counters.insert("truncations".into(), 0);
        if fails {
            report.add_violation(Violation {
                source: ViolationSource::History,
                kind: "lost-write".into(),
                description: "fake".into(),
                witnesses: Vec::new(),
            });
        }
        report
    }

    /// Whether `fault` crashes b2.
    pub fn crashes_b2(fault: &Fault) -> bool {
        matches!(
            fault,
            Fault::Crash {
                target: Target::Broker(1),
                ..
            }
        )
    }

    /// Fails when the scenario crashes b2 and the seed is divisible by 7.
    pub fn crash_b2_runner(scenario: &Scenario, path: &str, seed: u64, _log: bool) -> SeedRun {
        let crashes_b2 = scenario.faults.iter().any(crashes_b2);
        SeedRun::from_report(report(scenario, path, seed, crashes_b2 && seed % 7 == 0))
    }
}

/// Runs seeds in the simulator.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimulationRunner;

impl SeedRunner for SimulationRunner {
    fn run(
        &self,
        scenario: &Scenario,
        scenario_path: &str,
        seed: u64,
        capture_log: bool,
    ) -> SeedRun {
        let options = crate::runner::run::RunOptions {
            capture_log,
            ..Default::default()
        };
        let outcome = crate::runner::run::run(scenario, scenario_path, seed, options);
        SeedRun {
            report: outcome.report,
            history_lines: outcome.history_lines,
            log: outcome.log,
        }
    }
}
