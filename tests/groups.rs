//! Consumer groups over many seeds: every group scenario of the library passes seeds 20 to 199
//! (`tests/scenarios.rs` runs seeds 0 to 19 twice, for determinism), and each group bug switch
//! (KAFKA.md's zoo 11, 12a and 12b, and transactional offsets applied before their marker) makes
//! its matching scenario fail within 500 seeds, with a reproduce command that fails again
//! identically and a failure `trial shrink` reduces.

mod support;

use sim::campaign::SimulationRunner;
use sim::campaign::shrink::{self, Size};
use sim::runner::report::Verdict;
use sim::runner::run::{RunOptions, RunOutcome, run};
use sim::scenario::Bugs;
use support::library;

/// Seeds 0..20 run in `tests/scenarios.rs`.
const SEEDS: std::ops::Range<u64> = 20..200;
const BUG_SEEDS_MAX: u64 = 500;
/// Runs one shrink may spend here (a full shrink may take thousands).
const SHRINK_RUNS_MAX: u64 = 40;

fn passes_seeds(file: &str) {
    let scenario = library(file);
    let name = format!("scenarios/{file}");
    let failures: Vec<String> = SEEDS
        .filter_map(|seed| {
            let report = run(&scenario, &name, seed, RunOptions::default()).report;
            (report.verdict != Verdict::Pass).then(|| report.summary())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing runs of {name}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn group_worker_pool_passes_200_seeds() {
    passes_seeds("group-worker-pool.toml");
}

#[test]
fn group_zombie_consumer_passes_200_seeds() {
    passes_seeds("group-zombie-consumer.toml");
}

#[test]
fn group_coordinator_crash_passes_200_seeds() {
    passes_seeds("group-coordinator-crash.toml");
}

#[test]
fn group_consumer_rolling_restart_passes_200_seeds() {
    passes_seeds("group-consumer-rolling-restart.toml");
}

#[test]
fn group_cooperative_scale_passes_200_seeds() {
    passes_seeds("group-cooperative-scale.toml");
}

#[test]
fn group_transactional_commits_passes_200_seeds() {
    passes_seeds("group-transactional-commits.toml");
}

/// Runs `seed` of the library's `file`, which must pass; returns the outcome and the history's
/// operations.
fn passing_history(file: &str, seed: u64) -> (RunOutcome, Vec<serde_json::Value>) {
    let options = RunOptions {
        capture_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&library(file), file, seed, options);
    assert_eq!(
        outcome.report.verdict,
        Verdict::Pass,
        "{}",
        outcome.report.summary()
    );
    let operations = outcome
        .history_lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .collect();
    (outcome, operations)
}

/// Members in transactional mode commit only inside transactions of their own: the history
/// holds `txn` operations of one `commit` micro-operation and no plain `commit`, most of them
/// committed, and the transaction coordinators ended them (so their markers reached the offsets
/// partition). Without this, the scenario could pass while committing as `manual` does.
#[test]
fn transactional_members_commit_inside_transactions() {
    let (outcome, operations) = passing_history("group-transactional-commits.toml", 3);
    let completed: Vec<serde_json::Value> = operations
        .into_iter()
        .filter(|operation| operation["group"] == "shipping" && operation["type"] != "invoke")
        .collect();
    let plain_commits = completed.iter().filter(|op| op["f"] == "commit").count();
    let transactional: Vec<&serde_json::Value> =
        completed.iter().filter(|op| op["f"] == "txn").collect();
    let committed = transactional.iter().filter(|op| op["type"] == "ok").count();
    assert_eq!(plain_commits, 0, "no commit outside a transaction");
    assert!(
        transactional.iter().all(|op| op["value"][0][0] == "commit"),
        "each transaction commits offsets"
    );
    assert!(committed > 50, "{committed} transactional commits");
    let aborted = transactional
        .iter()
        .filter(|op| op["type"] == "fail")
        .count();
    assert!(
        aborted * 6 > committed,
        "members abort one commit in three: {aborted} aborted, {committed} committed"
    );
    let ended = outcome.report.stats.counters["transactions_committed"];
    assert!(
        ended >= committed as u64,
        "{ended} ended, {committed} committed"
    );
}

#[test]
fn consume_transform_produce_passes_200_seeds() {
    passes_seeds("consume-transform-produce.toml");
}

/// Workers write their output inside their commits' transactions: each `txn` of the shipping
/// group sends shipments then commits orders' offsets; a committed one's shipments have
/// offsets, and the auditing group (read_committed) reads every committed shipment and no
/// aborted one. Without this, the scenario could pass with workers writing nothing.
#[test]
fn workers_write_their_output_inside_their_commits() {
    let (_, operations) = passing_history("consume-transform-produce.toml", 3);
    let shipped = |outcome: &str| -> std::collections::BTreeSet<u64> {
        operations
            .iter()
            .filter(|op| op["group"] == "shipping" && op["f"] == "txn" && op["type"] == outcome)
            .flat_map(|op| op["value"].as_array().unwrap().clone())
            .filter(|micro| micro[0] == "send")
            .map(|micro| {
                assert_eq!(
                    micro[1].as_str().unwrap().split('/').next(),
                    Some("shipments")
                );
                // [offset, value] once appended; the value alone where the offset is unknown.
                micro[2][1].as_u64().or(micro[2].as_u64()).unwrap()
            })
            .collect()
    };
    let (committed, aborted) = (shipped("ok"), shipped("fail"));
    let offsets_known = operations
        .iter()
        .filter(|op| op["group"] == "shipping" && op["f"] == "txn" && op["type"] == "ok")
        .flat_map(|op| op["value"].as_array().unwrap().clone())
        .filter(|micro| micro[0] == "send")
        .all(|micro| micro[2][0].is_u64());
    assert!(offsets_known, "a committed shipment's offset is known");
    let audited: std::collections::BTreeSet<u64> = operations
        .iter()
        .filter(|op| op["group"] == "auditing" && op["f"] == "poll" && op["type"] == "ok")
        .flat_map(|op| {
            let keys = op["value"][0][1].as_object().unwrap().clone();
            keys.into_values()
                .flat_map(|pairs| pairs.as_array().unwrap().clone())
                .map(|pair| pair[1].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        committed.len() > 200,
        "{} shipments committed",
        committed.len()
    );
    assert!(
        !aborted.is_empty(),
        "workers abort one transaction in three"
    );
    assert!(
        committed.is_subset(&audited),
        "every committed shipment is read"
    );
    assert!(aborted.is_disjoint(&audited), "no aborted shipment is read");
}

/// Zoo 10 seen through a worker's output: the last stable offset at the HW lets the
/// read_committed auditors read shipments of transactions still open, then aborted.
#[test]
fn zoo_10_aborted_output_read_by_a_downstream_group_is_caught() {
    let bugs = Bugs {
        last_stable_offset_at_high_watermark: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "last-stable-offset-at-high-watermark-output",
        "consume-transform-produce.toml",
        bugs,
        "G1a",
    );
}

#[test]
fn fanout_passes_200_seeds() {
    passes_seeds("fanout.toml");
}

/// Runs seeds of `scenario_file` with `bugs` planted until one fails with `kind`; checks the
/// printed reproduce command fails again with the same digest, and that shrinking keeps the
/// violation while making the scenario smaller. Returns the failing seed.
fn caught_and_shrunk(label: &str, scenario_file: &str, bugs: Bugs, kind: &str) -> u64 {
    let (scenario, path) = support::with_bugs(label, scenario_file, bugs);
    let report = support::first_failure(&scenario, &path, BUG_SEEDS_MAX)
        .unwrap_or_else(|| panic!("{label}: no failure in {BUG_SEEDS_MAX} seeds"));
    assert_eq!(
        report.violations[0].kind,
        kind,
        "{label}: the planted bug shows as {kind}: {}",
        report.summary()
    );
    support::assert_reproduce_command_fails_again(label, &report);
    std::fs::remove_file(&path).unwrap();
    let shrunk = shrink::shrink(
        &scenario,
        report.seed,
        None,
        &SimulationRunner,
        SHRINK_RUNS_MAX,
    )
    .unwrap();
    let (before, after) = (Size::of(&scenario), Size::of(&shrunk.scenario));
    assert!(
        !shrunk.removed.is_empty() && shrunk.goal.is_met_by(&shrunk.report),
        "{label}: shrinking removed nothing (before {before}, after {after})"
    );
    println!(
        "{label}: seed {}, shrunk from {before} to {after}",
        report.seed
    );
    report.seed
}

#[test]
fn zoo_11_stale_generation_commit_is_caught() {
    let bugs = Bugs {
        accept_stale_generation_commits: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "stale-generation",
        "group-zombie-consumer.toml",
        bugs,
        "committed-offset-regression",
    );
}

/// Zoo 11 inside transactions: the zombie member's TxnOffsetCommit of a stale generation is
/// accepted, and its transaction commits offsets for partitions the group gave another member.
#[test]
fn zoo_11_stale_generation_transactional_commit_is_caught() {
    let bugs = Bugs {
        accept_stale_generation_commits: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "stale-generation-transactional",
        "group-transactional-commits.toml",
        bugs,
        "duplicate-consumption",
    );
}

/// Offsets of a transaction applied before its marker: a member's commit drawn to abort (or
/// refused) still moves the group's offsets, and the partition's next owner starts past records
/// whose processing was aborted.
#[test]
fn transactional_offsets_applied_before_the_marker_are_caught() {
    let bugs = Bugs {
        transactional_offsets_before_marker: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "offsets-before-marker",
        "group-transactional-commits.toml",
        bugs,
        "lost-consumption",
    );
}

#[test]
fn zoo_12a_assign_before_revoke_is_caught() {
    let bugs = Bugs {
        assign_before_revoke: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "assign-before-revoke",
        "group-cooperative-scale.toml",
        bugs,
        "duplicate-consumption",
    );
}

#[test]
fn zoo_12b_dropped_group_state_is_caught() {
    let bugs = Bugs {
        drop_group_state_on_failover: true,
        ..Bugs::default()
    };
    caught_and_shrunk(
        "drop-group-state",
        "group-coordinator-crash.toml",
        bugs,
        "committed-offset-regression",
    );
}
