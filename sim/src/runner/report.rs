//! What a run concludes: the verdict, the violations with their witnesses, the counters, and
//! the command that reproduces it.
//!
//! The report is the run's public face: `trial run` prints its summary (last line
//! `seed=<N> digest=<16 hex> verdict=<pass|fail>`) or, with `--json`, the report itself, and an
//! artifact folder keeps it as `run.json`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::digest::format_digest;
use crate::logging;
use crate::runner::story;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        })
    }
}

/// Where a violation was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationSource {
    /// A client-visible anomaly in the history.
    History,
    /// A state invariant over node snapshots, checked after every step.
    State,
    /// The cluster did not converge, or the consumers did not drain, after every fault healed.
    Liveness,
    /// The run proved nothing: it produced, acknowledged or consumed nothing.
    Vacuous,
    /// The same seed gave two digests.
    Determinism,
    /// The run processed more events than its budget allows (a message or timer storm).
    Budget,
}

/// One violation: what, and the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub source: ViolationSource,
    /// The anomaly or invariant name (`lost-write`, `divergent-replicas`, ...).
    pub kind: String,
    /// One sentence with the ids, offsets and values needed to start debugging.
    pub description: String,
    /// The operations, records or snapshots involved.
    #[serde(default)]
    pub witnesses: Vec<serde_json::Value>,
}

/// Everything a run counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Inputs processed by nodes.
    pub events: u64,
    pub simulated_ns: u64,
    /// Wall time of the run, measured by the caller (the simulator never reads a wall clock).
    pub wall_ns: u64,
    /// Engine counters (messages, drops, crashes, syncs, ...) and cluster counters (elections,
    /// truncations, ISR changes, ...), by name.
    pub counters: std::collections::BTreeMap<String, u64>,
}

impl RunStats {
    /// Adds every field of a serialisable counters struct under its own name.
    pub fn add_counters(&mut self, counters: &impl Serialize) {
        let value = serde_json::to_value(counters).expect("counters serialise");
        let Some(fields) = value.as_object() else {
            return;
        };
        for (name, count) in fields {
            if let Some(count) = count.as_u64() {
                *self.counters.entry(name.clone()).or_default() += count;
            }
        }
    }

    pub fn add_engine_counters(&mut self, counters: &Counters) {
        self.events = counters.events;
        self.add_counters(counters);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file the run was read from, as given.
    pub scenario_path: String,
    pub seed: u64,
    /// The trace digest, 16 hex digits.
    pub digest: String,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    pub stats: RunStats,
    /// What the nemesis chose for this seed, if the scenario has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<String>,
    /// The faults as they fired: (simulated ns, what happened).
    #[serde(default)]
    pub faults: Vec<(u64, String)>,
    /// The trace digest at the end of each simulated second ([`crate::digest::DigestTrail`]):
    /// a replay that differs names the first second it differs in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digest_trail: Vec<String>,
}

impl RunReport {
    pub fn new(scenario: &str, scenario_path: &str, seed: u64, digest: u64) -> RunReport {
        RunReport {
            scenario: scenario.to_string(),
            scenario_path: scenario_path.to_string(),
            seed,
            digest: format_digest(digest),
            verdict: Verdict::Pass,
            violations: Vec::new(),
            stats: RunStats::default(),
            nemesis: None,
            faults: Vec::new(),
            digest_trail: Vec::new(),
        }
    }

    /// Records a violation, and logs it where it was found: a log read alone shows the failure
    /// after the events that led to it.
    pub fn add_violation(&mut self, violation: Violation) {
        logging::clear_node();
        tracing::warn!(
            target: "violation",
            "[{:?}] {}: {}",
            violation.source,
            violation.kind,
            violation.description
        );
        self.verdict = Verdict::Fail;
        self.violations.push(violation);
    }

    /// The one line that reproduces this run.
    pub fn reproduce_command(&self) -> String {
        reproduce_command(&self.scenario_path, self.seed)
    }

    /// The last line of every summary.
    pub fn summary_line(&self) -> String {
        format!(
            "seed={} digest={} verdict={}",
            self.seed, self.digest, self.verdict
        )
    }

    /// The summary for people: what ran, what it counted, the first violation with its
    /// witnesses and the reproduce command, and the summary line last.
    pub fn summary(&self) -> String {
        self.summary_with_story(&[])
    }

    /// [`RunReport::summary`], with the story of what the first violation names (lines of the
    /// run's log, [`crate::runner::story`]) after its witnesses.
    pub fn summary_with_story(&self, story: &[String]) -> String {
        let mut lines = vec![format!(
            "scenario {} ({}), seed {}: {} events, {:.3} s simulated, {:.1} ms wall",
            self.scenario,
            self.scenario_path,
            self.seed,
            self.stats.events,
            self.stats.simulated_ns as f64 / 1e9,
            self.stats.wall_ns as f64 / 1e6
        )];
        if let Some(nemesis) = &self.nemesis {
            lines.push(nemesis.clone());
        }
        let counted: Vec<String> = self
            .stats
            .counters
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(name, count)| format!("{name}={count}"))
            .collect();
        lines.push(format!("counters: {}", counted.join(" ")));
        if let Some(first) = self.violations.first() {
            lines.push(format!(
                "{} violation(s); first: [{:?}] {}: {}",
                self.violations.len(),
                first.source,
                first.kind,
                first.description
            ));
            for witness in first.witnesses.iter().take(8) {
                lines.push(format!("  witness: {witness}"));
            }
            let subjects = story::subjects(first);
            if !subjects.is_empty() && !story.is_empty() {
                lines.push(format!(
                    "what happened to {} (faults, and the timeline lines naming it):",
                    subjects.join(" and ")
                ));
                lines.extend(story.iter().map(|line| format!("  {line}")));
            }
            lines.push(format!("reproduce: {}", self.reproduce_command()));
        }
        lines.push(self.summary_line());
        lines.join("\n")
    }
}

/// The one line that runs `seed` of the scenario file `scenario_path`.
pub fn reproduce_command(scenario_path: &str, seed: u64) -> String {
    format!(
        "cargo run --release -- run {} --seed {seed}",
        shell_quote(scenario_path)
    )
}

/// The one line that replays the artifact folder `directory` and confirms its digest.
pub fn replay_command(directory: &str) -> String {
    format!("cargo run --release -- replay {}", shell_quote(directory))
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_summary_ends_with_the_summary_line_and_carries_its_reproduction() {
        let mut report = RunReport::new("leader-crash", "scenarios/leader crash.toml", 42, 0xabc);
        report.stats.counters.insert("crashes".to_string(), 2);
        report.add_violation(Violation {
            source: ViolationSource::History,
            kind: "lost-write".to_string(),
            description: "value 17 acknowledged at orders/0 offset 4 is missing".to_string(),
            witnesses: vec![serde_json::json!({"index": 3})],
        });
        let summary = report.summary();
        assert!(
            summary.ends_with("seed=42 digest=0000000000000abc verdict=fail"),
            "{summary}"
        );
        assert!(summary.contains(
            "reproduce: cargo run --release -- run 'scenarios/leader crash.toml' --seed 42"
        ));
        assert!(summary.contains("lost-write: value 17"));
        assert!(summary.contains("crashes=2"));
    }

    #[test]
    fn a_report_round_trips_through_json() {
        let mut report = RunReport::new("x", "x.toml", 1, 2);
        report.stats.add_counters(&Counters {
            crashes: 3,
            ..Counters::default()
        });
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<RunReport>(&text).unwrap(), report);
        assert_eq!(report.stats.counters["crashes"], 3);
    }
}
