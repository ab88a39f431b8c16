//! Every bundled scenario passes over 20 seeds, and each seed's digest is identical across two
//! runs: the scenario library is both a regression suite and a determinism check.

use std::path::{Path, PathBuf};

use sim::runner::report::Verdict;
use sim::runner::run::{RunOptions, run};
use sim::scenario::Scenario;

const SEEDS_PER_SCENARIO: u64 = 20;

fn bundled_scenarios() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    paths.sort();
    paths
}

/// Runs `SEEDS_PER_SCENARIO` seeds of one bundled scenario; each must pass and give the same
/// digest twice.
fn passes_with_stable_digests(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let scenario = Scenario::load(&path).unwrap();
    let name = format!("scenarios/{file}");
    let mut failures = Vec::new();
    for seed in 0..SEEDS_PER_SCENARIO {
        let first = run(&scenario, &name, seed, RunOptions::default()).report;
        if first.verdict != Verdict::Pass {
            failures.push(first.summary());
            continue;
        }
        let second = run(&scenario, &name, seed, RunOptions::default()).report;
        assert_eq!(
            first.digest, second.digest,
            "{name} seed {seed}: two runs, two digests"
        );
    }
    assert!(
        failures.is_empty(),
        "{} failing runs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_library_has_a_test_for_every_scenario() {
    let files: Vec<String> = bundled_scenarios()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, LIBRARY, "add a test below for every new scenario");
}

const LIBRARY: [&str; 31] = [
    "bridge-partition.toml",
    "clock-jump-leader.toml",
    "consume-transform-produce.toml",
    "controller-crash.toml",
    "crash-all-flush-every-batch.toml",
    "crash-all-flush-never.toml",
    "delayed-end-txn-copy.toml",
    "delayed-transactional-batch.toml",
    "fanout.toml",
    "fast-double-failover.toml",
    "group-consumer-rolling-restart.toml",
    "group-cooperative-scale.toml",
    "group-coordinator-crash.toml",
    "group-transactional-commits.toml",
    "group-worker-pool.toml",
    "group-zombie-consumer.toml",
    "idempotent-producer-failover.toml",
    "ingest.toml",
    "lagging-replica-restart.toml",
    "leader-crash-after-ack.toml",
    "lossy-network.toml",
    "majority-minority-split.toml",
    "minority-partition-leader.toml",
    "one-way-partition.toml",
    "preferred-leader-election.toml",
    "rolling-restart.toml",
    "transactions-under-failover.toml",
    "zombie-follower.toml",
    "zombie-leader-pause.toml",
    "zombie-producer-instance.toml",
    "zombie-transactional-producer.toml",
];

macro_rules! scenario_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                passes_with_stable_digests($file);
            }
        )*
    };
}

scenario_tests! {
    bridge_partition => "bridge-partition.toml",
    clock_jump_leader => "clock-jump-leader.toml",
    consume_transform_produce => "consume-transform-produce.toml",
    controller_crash => "controller-crash.toml",
    crash_all_flush_every_batch => "crash-all-flush-every-batch.toml",
    crash_all_flush_never => "crash-all-flush-never.toml",
    delayed_end_txn_copy => "delayed-end-txn-copy.toml",
    delayed_transactional_batch => "delayed-transactional-batch.toml",
    fanout => "fanout.toml",
    group_consumer_rolling_restart => "group-consumer-rolling-restart.toml",
    group_cooperative_scale => "group-cooperative-scale.toml",
    group_coordinator_crash => "group-coordinator-crash.toml",
    group_transactional_commits => "group-transactional-commits.toml",
    group_worker_pool => "group-worker-pool.toml",
    group_zombie_consumer => "group-zombie-consumer.toml",
    idempotent_producer_failover => "idempotent-producer-failover.toml",
    ingest => "ingest.toml",
    lagging_replica_restart => "lagging-replica-restart.toml",
    leader_crash_after_ack => "leader-crash-after-ack.toml",
    lossy_network => "lossy-network.toml",
    majority_minority_split => "majority-minority-split.toml",
    minority_partition_leader => "minority-partition-leader.toml",
    one_way_partition => "one-way-partition.toml",
    preferred_leader_election => "preferred-leader-election.toml",
    rolling_restart => "rolling-restart.toml",
    transactions_under_failover => "transactions-under-failover.toml",
    zombie_follower => "zombie-follower.toml",
    zombie_leader_pause => "zombie-leader-pause.toml",
    zombie_producer_instance => "zombie-producer-instance.toml",
    zombie_transactional_producer => "zombie-transactional-producer.toml",
}

/// The admin client's elections take effect: the fault log shows the controller's answers, and
/// the first one hands partitions to every broker again (the crash at 2 s took the crashed
/// broker's leaderships away, and nothing else gives them back).
#[test]
fn preferred_leader_elections_spread_the_leaders() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/preferred-leader-election.toml");
    let scenario = Scenario::load(&path).unwrap();
    let report = run(
        &scenario,
        "preferred-leader-election.toml",
        0,
        RunOptions::default(),
    )
    .report;
    let answers: Vec<&str> = report
        .faults
        .iter()
        .map(|(_, description)| description.as_str())
        .filter(|description| description.starts_with("preferred leaders elected: "))
        .collect();
    assert_eq!(
        answers.len(),
        2,
        "two elections answered: {:?}",
        report.faults
    );
    for broker in ["b1", "b2", "b3"] {
        assert!(
            answers[0].contains(&format!("led by {broker}")),
            "{broker} leads something after the first election: {}",
            answers[0]
        );
    }
}

/// Transactions of `zombie-producer-instance` seed `seed` that committed (`ok`), and the
/// producer epochs its coordinator granted to starting instances, with its producers'
/// transactional id as the scenario sets it or, with `shared` false, each producer's own.
fn committed_transactions_and_epochs_granted(shared: bool, seed: u64) -> (usize, u64) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/zombie-producer-instance.toml");
    let mut scenario = Scenario::load(&path).unwrap();
    if !shared {
        scenario.workload.producers[0].transactional_id = None;
    }
    let options = RunOptions {
        capture_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, "zombie-producer-instance.toml", seed, options);
    assert_eq!(
        outcome.report.verdict,
        Verdict::Pass,
        "{}",
        outcome.report.summary()
    );
    let transactions: Vec<serde_json::Value> = outcome
        .history_lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|operation| operation["f"] == "txn")
        .collect();
    let committed = transactions
        .iter()
        .filter(|operation| operation["type"] == "ok")
        .count();
    let granted = outcome.report.stats.counters["producer_epochs_granted"];
    (committed, granted)
}

/// Two producers under one transactional id are two instances that fence each other: each start
/// aborts the other's open transaction, and the fenced instance starts again after its restart
/// backoff (a new epoch each time), so mostly one instance at a time commits: far fewer
/// transactions commit than when each producer has its own id, under the same pauses.
#[test]
fn producers_that_share_a_transactional_id_fence_each_other() {
    for seed in 0..3 {
        let (shared_committed, shared_granted) =
            committed_transactions_and_epochs_granted(true, seed);
        let (own_committed, own_granted) = committed_transactions_and_epochs_granted(false, seed);
        assert!(
            4 * shared_committed < 3 * own_committed,
            "seed {seed}: {shared_committed} transactions committed under one id, \
             {own_committed} under two"
        );
        assert_eq!(own_granted, 2, "seed {seed}: one start per producer");
        assert!(
            shared_granted > 10,
            "seed {seed}: {shared_granted} epochs granted under one id: each fence is a start"
        );
    }
}
