//! A campaign's summary, from its records: runs, failures with their reproduce lines, audits,
//! and the coverage of rare events.
//!
//! Coverage counts, for each counter of `RunStats` (elections, truncations, ISR changes,
//! retries, dropped messages, crashes, ...), how many runs saw it happen at least once. A
//! required event that no run saw fails the campaign: a campaign in which it never happened did
//! not test it. The same summary serves one campaign folder and merged shards.
//!
//! A summary is built one record at a time and holds no record: a campaign of millions of seeds
//! (a day on many cores) is summarised in the memory of a few. It lists at most
//! [`FAILURES_LISTED_MAX`] failures, the first by (scenario, seed), whatever order the records
//! came in, and counts them all.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::campaign::record::SeedRecord;
use crate::runner::report::{replay_command, reproduce_command};

/// One failure, with how to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureEntry {
    pub scenario: String,
    pub scenario_path: String,
    pub seed: u64,
    pub violations: Vec<String>,
    /// The artifact folder, as a path from where the campaign was read.
    pub artifact: Option<String>,
    /// `cargo run --release -- run SCENARIO --seed N`.
    pub reproduce: String,
    /// `cargo run --release -- replay ARTIFACT`: re-runs and confirms the digest.
    pub replay: Option<String>,
}

/// The most failures a summary lists with their reproduce lines; `seeds.jsonl` has them all.
pub const FAILURES_LISTED_MAX: usize = 1_000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub runs: u64,
    pub passes: u64,
    /// Runs that failed: `failures` lists the first [`FAILURES_LISTED_MAX`] of them.
    #[serde(default)]
    pub failed: u64,
    pub audited: u64,
    pub audit_mismatches: u64,
    pub simulated_ns: u64,
    /// Wall time summed over seeds (threads overlap: not the campaign's elapsed time).
    pub seed_wall_ns: u64,
    /// Counter name to the number of runs in which it was above zero.
    pub coverage: BTreeMap<String, u64>,
    pub failures: Vec<FailureEntry>,
    /// Required events no run saw.
    pub missing_required: Vec<String>,
}

impl Summary {
    /// Adds `other`'s runs (another part of the same campaign) to these.
    pub fn absorb(&mut self, other: Summary) {
        self.runs += other.runs;
        self.passes += other.passes;
        self.failed += other.failed;
        self.audited += other.audited;
        self.audit_mismatches += other.audit_mismatches;
        self.simulated_ns = self.simulated_ns.saturating_add(other.simulated_ns);
        self.seed_wall_ns = self.seed_wall_ns.saturating_add(other.seed_wall_ns);
        for (name, runs) in other.coverage {
            *self.coverage.entry(name).or_default() += runs;
        }
        for failure in other.failures {
            self.list_failure(failure);
        }
    }

    /// Lists `failure` in (scenario, seed) order if it is among the first
    /// [`FAILURES_LISTED_MAX`].
    fn list_failure(&mut self, failure: FailureEntry) {
        let key = (failure.scenario_path.as_str(), failure.seed);
        let at = self
            .failures
            .partition_point(|listed| (listed.scenario_path.as_str(), listed.seed) < key);
        if at < FAILURES_LISTED_MAX {
            self.failures.insert(at, failure);
            self.failures.truncate(FAILURES_LISTED_MAX);
        }
    }

    /// Adds one record of the campaign folder `folder`.
    pub fn add_record(&mut self, folder: &Path, record: &SeedRecord) {
        self.runs += 1;
        // Read back from files: a corrupt figure saturates a total instead of overflowing it.
        self.simulated_ns = self.simulated_ns.saturating_add(record.simulated_ns);
        self.seed_wall_ns = self.seed_wall_ns.saturating_add(record.wall_ns);
        if record.audited {
            self.audited += 1;
        }
        let mismatch = record
            .violations
            .iter()
            .any(|label| label.starts_with("determinism/"));
        if mismatch {
            self.audit_mismatches += 1;
        }
        for (name, count) in &record.counters {
            *self.coverage.entry(name.clone()).or_default() += u64::from(*count > 0);
        }
        if !record.failed() {
            self.passes += 1;
            return;
        }
        self.failed += 1;
        let artifact = record
            .artifact
            .as_ref()
            .map(|artifact| folder.join(artifact).display().to_string());
        let reproduce = match &artifact {
            Some(artifact) => reproduce_command(
                &format!("{artifact}/{}", crate::runner::artifact::SCENARIO_FILE),
                record.seed,
            ),
            None => reproduce_command(&record.scenario_path, record.seed),
        };
        self.list_failure(FailureEntry {
            scenario: record.scenario.clone(),
            scenario_path: record.scenario_path.clone(),
            seed: record.seed,
            violations: record.violations.clone(),
            replay: artifact.as_deref().map(replay_command),
            artifact,
            reproduce,
        });
    }

    /// Notes which of `required` no run saw.
    pub fn require(&mut self, required: &[String]) {
        self.missing_required = required
            .iter()
            .filter(|name| self.coverage.get(*name).copied().unwrap_or(0) == 0)
            .cloned()
            .collect();
    }

    /// No failure, and every required event seen.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.missing_required.is_empty()
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} runs: {} passed, {} failed; {} audited, {} determinism mismatches; {:.1} s simulated",
            self.runs,
            self.passes,
            self.failed,
            self.audited,
            self.audit_mismatches,
            self.simulated_ns as f64 / 1e9
        )];
        let coverage: Vec<String> = self
            .coverage
            .iter()
            .map(|(name, runs)| format!("{name}={runs}"))
            .collect();
        lines.push(format!("runs that saw each event: {}", coverage.join(" ")));
        for name in &self.missing_required {
            let known = self.coverage.contains_key(name);
            lines.push(format!(
                "required event {name:?} never happened{}",
                if known {
                    ""
                } else {
                    " (no run counts it: see the names above)"
                }
            ));
        }
        for failure in &self.failures {
            lines.push(format!(
                "FAIL {} seed {}: {}",
                failure.scenario,
                failure.seed,
                failure.violations.join(", ")
            ));
            lines.push(format!("  reproduce: {}", failure.reproduce));
            if let Some(replay) = &failure.replay {
                lines.push(format!("  replay:    {replay}"));
            }
        }
        let unlisted = self.failed.saturating_sub(self.failures.len() as u64);
        if unlisted > 0 {
            lines.push(format!(
                "... and {unlisted} more failures, not listed: every one is a line of seeds.jsonl"
            ));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::{RunReport, Violation, ViolationSource};

    fn failed_record(seed: u64) -> SeedRecord {
        let mut report = RunReport::new("s", "s.toml", seed, seed);
        report.add_violation(Violation {
            source: ViolationSource::History,
            kind: "lost-write".into(),
            description: String::new(),
            witnesses: Vec::new(),
        });
        SeedRecord::new(seed, &report, false)
    }

    #[test]
    fn failures_are_all_counted_and_the_first_listed_whatever_their_order() {
        let count = 2 * FAILURES_LISTED_MAX as u64 + 500;
        let mut shuffled = Summary::default();
        for index in 0..count {
            // A permutation of 0..count (7919 is prime and does not divide it).
            shuffled.add_record(Path::new("out"), &failed_record(index * 7919 % count));
        }
        let (mut first_half, mut second_half) = (Summary::default(), Summary::default());
        for seed in 0..count {
            let half = if seed < count / 2 {
                &mut first_half
            } else {
                &mut second_half
            };
            half.add_record(Path::new("out"), &failed_record(seed));
        }
        second_half.absorb(first_half);
        assert_eq!(shuffled, second_half, "order does not change the summary");
        assert_eq!((shuffled.runs, shuffled.failed), (count, count));
        assert_eq!(shuffled.failures.len(), FAILURES_LISTED_MAX);
        let seeds: Vec<u64> = shuffled
            .failures
            .iter()
            .map(|failure| failure.seed)
            .collect();
        assert_eq!(seeds, (0..FAILURES_LISTED_MAX as u64).collect::<Vec<_>>());
        let unlisted = count - FAILURES_LISTED_MAX as u64;
        assert!(
            shuffled
                .text()
                .contains(&format!("... and {unlisted} more failures"))
        );
        assert!(!shuffled.passed());
    }

    #[test]
    fn coverage_counts_runs_and_required_events_fail_the_campaign() {
        let mut records = Vec::new();
        for seed in 0..4u64 {
            let mut report = RunReport::new("s", "s.toml", seed, seed);
            report.stats.counters.insert("elections".into(), seed);
            report.stats.counters.insert("truncations".into(), 0);
            if seed == 3 {
                report.add_violation(Violation {
                    source: ViolationSource::History,
                    kind: "lost-write".into(),
                    description: String::new(),
                    witnesses: Vec::new(),
                });
            }
            let mut record = SeedRecord::new(seed, &report, seed == 1);
            if seed == 3 {
                record.artifact = Some("failures/s-seed-3".into());
            }
            records.push(record);
        }
        let mut summary = Summary::default();
        for record in &records {
            summary.add_record(Path::new("out"), record);
        }
        summary.require(&["elections".into(), "truncations".into(), "nope".into()]);
        assert_eq!(summary.coverage["elections"], 3);
        assert_eq!(summary.coverage["truncations"], 0);
        assert_eq!(summary.missing_required, ["truncations", "nope"]);
        assert_eq!((summary.runs, summary.passes, summary.audited), (4, 3, 1));
        assert!(!summary.passed());
        let failure = &summary.failures[0];
        assert_eq!(
            failure.reproduce,
            "cargo run --release -- run out/failures/s-seed-3/scenario.toml --seed 3"
        );
        assert!(summary.text().contains("history/lost-write"));
    }
}
