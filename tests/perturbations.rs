//! Perturbations (`broker::perturb`, `[cluster] perturbations = true`) change how a run goes,
//! never whether it passes: bundled scenarios pass with them on, every site fires in real runs
//! (a site that never fires perturbs nothing), a perturbed run replays to the same digest, and a
//! run without them draws nothing for them.

mod support;

use std::collections::BTreeMap;

use broker::perturb::Site;
use sim::runner::report::{RunReport, Verdict};
use sim::runner::run::{RunOptions, run};
use sim::scenario::Scenario;
use support::library;

/// Scenarios whose faults give every site its occasion: leader crashes and failovers (elections
/// with a choice of in-sync replicas), a lagging follower, a restarted cluster, a consumer group
/// whose coordinator crashes.
const SCENARIOS: [&str; 5] = [
    "leader-crash-after-ack.toml",
    "fast-double-failover.toml",
    "lagging-replica-restart.toml",
    "rolling-restart.toml",
    "group-coordinator-crash.toml",
];
const SEEDS_PER_SCENARIO: u64 = 10;

fn perturbed(file: &str) -> Scenario {
    let mut scenario = library(file);
    scenario.cluster.perturbations = true;
    scenario
}

fn run_seed(scenario: &Scenario, file: &str, seed: u64) -> RunReport {
    run(scenario, file, seed, RunOptions::default()).report
}

/// How often `site` fired in the run of `report`.
fn fired(report: &RunReport, site: Site) -> u64 {
    let counter = format!("perturbed_{}", site.name().replace('-', "_"));
    *report
        .stats
        .counters
        .get(&counter)
        .unwrap_or_else(|| panic!("no counter {counter} in the run's stats"))
}

#[test]
fn bundled_scenarios_pass_with_perturbations_and_every_site_fires() {
    let mut fired_total: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for file in SCENARIOS {
        let scenario = perturbed(file);
        for seed in 0..SEEDS_PER_SCENARIO {
            let report = run_seed(&scenario, file, seed);
            if report.verdict != Verdict::Pass {
                failures.push(report.summary());
            }
            for site in Site::ALL {
                *fired_total.entry(site.name()).or_default() += fired(&report, site);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} perturbed runs failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let runs = SCENARIOS.len() as u64 * SEEDS_PER_SCENARIO;
    for site in Site::ALL {
        assert!(
            fired_total[site.name()] > 0,
            "{} never fired in {runs} perturbed runs: {fired_total:?}",
            site.name()
        );
    }
}

#[test]
fn a_perturbed_run_differs_from_the_plain_one_and_replays_to_the_same_digest() {
    let file = "leader-crash-after-ack.toml";
    let plain = library(file);
    let perturbed = perturbed(file);
    let seed = (0..20)
        .find(|seed| {
            let report = run_seed(&perturbed, file, *seed);
            Site::ALL.iter().any(|site| fired(&report, *site) > 0)
        })
        .expect("some seed fires a site");
    let first = run_seed(&perturbed, file, seed);
    let second = run_seed(&perturbed, file, seed);
    assert_eq!(first.digest, second.digest, "seed {seed}: two digests");
    let plain_report = run_seed(&plain, file, seed);
    assert_ne!(plain_report.digest, first.digest, "seed {seed}");
    for site in Site::ALL {
        assert_eq!(
            fired(&plain_report, site),
            0,
            "{} fired while off",
            site.name()
        );
    }
}
