//! A campaign's summary, from its records: runs, failures with their reproduce lines, audits,
//! and the coverage of rare events.
//!
//! Coverage counts, for each counter of `RunStats` (elections, truncations, ISR changes,
//! retries, dropped messages, crashes, ...), how many runs saw it happen at least once. A
//! required event that no run saw fails the campaign: a campaign in which it never happened did
//! not test it. The same summary serves one campaign folder and merged shards.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::campaign::record::SeedRecord;

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

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub runs: u64,
    pub passes: u64,
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
    /// Adds the records of the campaign folder `folder`.
    pub fn add(&mut self, folder: &Path, records: &[SeedRecord]) {
        for record in records {
            self.add_record(folder, record);
        }
        self.failures.sort_by(|left, right| {
            (&left.scenario_path, left.seed).cmp(&(&right.scenario_path, right.seed))
        });
    }

    fn add_record(&mut self, folder: &Path, record: &SeedRecord) {
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
        let artifact = record
            .artifact
            .as_ref()
            .map(|artifact| folder.join(artifact).display().to_string());
        let reproduce = match &artifact {
            Some(artifact) => format!(
                "cargo run --release -- run {artifact}/{} --seed {}",
                crate::runner::artifact::SCENARIO_FILE,
                record.seed
            ),
            None => format!(
                "cargo run --release -- run {} --seed {}",
                record.scenario_path, record.seed
            ),
        };
        self.failures.push(FailureEntry {
            scenario: record.scenario.clone(),
            scenario_path: record.scenario_path.clone(),
            seed: record.seed,
            violations: record.violations.clone(),
            replay: artifact
                .as_ref()
                .map(|artifact| format!("cargo run --release -- replay {artifact}")),
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
        self.failures.is_empty() && self.missing_required.is_empty()
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} runs: {} passed, {} failed; {} audited, {} determinism mismatches; {:.1} s simulated",
            self.runs,
            self.passes,
            self.failures.len(),
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
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::{RunReport, Violation, ViolationSource};

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
        summary.add(Path::new("out"), &records);
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
