//! Each planted bug of KAFKA.md's zoo (entries 1 to 5) makes its matching library scenario fail
//! within 200 seeds, and the failure prints a command that reproduces it exactly.

use std::path::Path;
use std::process::Command;

use sim::runner::report::Verdict;
use sim::runner::run::{RunOptions, run};
use sim::scenario::{Bugs, Scenario};

const SEEDS_MAX: u64 = 200;

fn library(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap()
}

/// Runs seeds of `scenario` with `bugs` planted until one fails; checks the printed reproduce
/// command reproduces that failure (same digest, exit code 1). Returns the failing seed.
fn first_failure(label: &str, scenario_file: &str, bugs: Bugs) -> u64 {
    let mut scenario = library(scenario_file);
    scenario.cluster.bugs = bugs;
    scenario.name = format!("{}-{label}", scenario.name);
    let path = std::env::temp_dir().join(format!("trial-bug-{label}-{}.toml", std::process::id()));
    std::fs::write(&path, scenario.to_toml()).unwrap();
    let path_text = path.display().to_string();
    let failing = (0..SEEDS_MAX).find_map(|seed| {
        let report = run(&scenario, &path_text, seed, RunOptions::default()).report;
        (report.verdict == Verdict::Fail).then_some(report)
    });
    let report = failing
        .unwrap_or_else(|| panic!("{label}: no failure in {SEEDS_MAX} seeds of {scenario_file}"));
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
    std::fs::remove_file(&path).unwrap();
    report.seed
}

#[test]
fn zoo_1_truncate_to_high_watermark() {
    first_failure(
        "truncate-to-hw",
        "fast-double-failover.toml",
        Bugs {
            truncate_to_high_watermark: true,
            ..Bugs::default()
        },
    );
}

#[test]
fn zoo_2_skip_truncation_when_leader_unchanged() {
    let bugs = Bugs {
        skip_truncation_when_leader_unchanged: true,
        ..Bugs::default()
    };
    first_failure("skip-truncation", "zombie-follower.toml", bugs);
}

#[test]
fn zoo_3_ignore_stale_follower_epoch() {
    first_failure(
        "stale-follower",
        "zombie-follower.toml",
        Bugs {
            ignore_stale_follower_epoch: true,
            ..Bugs::default()
        },
    );
}

#[test]
fn zoo_4_elect_outside_isr() {
    first_failure(
        "outside-isr",
        "lagging-replica-restart.toml",
        Bugs {
            elect_outside_isr: true,
            ..Bugs::default()
        },
    );
}

#[test]
fn zoo_4_readmit_stale_broker() {
    first_failure(
        "readmit-stale",
        "lagging-replica-restart.toml",
        Bugs {
            readmit_stale_broker: true,
            ..Bugs::default()
        },
    );
}

#[test]
fn zoo_5_high_watermark_at_leader_end() {
    first_failure(
        "hw-at-leo",
        "leader-crash-after-ack.toml",
        Bugs {
            high_watermark_at_leader_end: true,
            ..Bugs::default()
        },
    );
}

/// Not a zoo entry: the controller quorum's planted double vote, which can elect two active
/// controllers in one term; the quorum monitor sees it.
#[test]
fn controller_grants_two_votes_per_term() {
    first_failure(
        "two-votes",
        "controller-crash.toml",
        Bugs {
            grant_two_votes_per_term: true,
            ..Bugs::default()
        },
    );
}
