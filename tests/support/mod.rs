//! What several integration tests share: loading a library scenario, planting a bug switch,
//! finding the first failing seed, and checking that a failure's printed reproduce command fails
//! again identically.
#![allow(dead_code, reason = "each test file uses the part it needs")]

pub mod mutate;

use std::path::{Path, PathBuf};
use std::process::Command;

use sim::runner::report::{RunReport, Verdict};
use sim::runner::run::{RunOptions, run};
use sim::scenario::{Bugs, Scenario};

/// A scenario of the bundled library, `scenarios/NAME`.
pub fn library(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

/// `scenarios/FILE` with `bugs` planted and `label` in its name, written to a temporary file
/// (the reproduce command names it). Returns the scenario and the file.
pub fn with_bugs(label: &str, scenario_file: &str, bugs: Bugs) -> (Scenario, PathBuf) {
    let mut scenario = library(scenario_file);
    scenario.cluster.bugs = bugs;
    scenario.name = format!("{}-{label}", scenario.name);
    let path = std::env::temp_dir().join(format!("trial-bug-{label}-{}.toml", std::process::id()));
    std::fs::write(&path, scenario.to_toml()).unwrap();
    (scenario, path)
}

/// The report of the first seed below `seeds_max` whose run of `scenario` (from `path`) fails.
pub fn first_failure(scenario: &Scenario, path: &Path, seeds_max: u64) -> Option<RunReport> {
    let path_text = path.display().to_string();
    (0..seeds_max).find_map(|seed| {
        let report = run(scenario, &path_text, seed, RunOptions::default()).report;
        (report.verdict == Verdict::Fail).then_some(report)
    })
}

/// Runs the reproduce command `report` printed: it must fail again (exit 1) with the same
/// summary line (same seed, same digest).
pub fn assert_reproduce_command_fails_again(label: &str, report: &RunReport) {
    let summary = report.summary();
    let command = summary
        .lines()
        .find_map(|line| line.strip_prefix("reproduce: "))
        .expect("a reproduce line");
    let arguments: Vec<&str> = command
        .strip_prefix("cargo run --release -- ")
        .expect("cargo form")
        .split(' ')
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_trial"))
        .args(&arguments)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{label}: the reproduce command fails again: {stdout}"
    );
    assert_eq!(
        stdout.lines().last().unwrap(),
        report.summary_line(),
        "{label}: same seed, same digest"
    );
}
