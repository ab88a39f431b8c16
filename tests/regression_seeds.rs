//! Replays every seed of `ci/regression-seeds.txt` and expects it to pass: each once showed a
//! failure (named in its comment) that a fix removed, and must not show it again.

use std::path::Path;

use sim::campaign::regression;

fn list() -> Vec<regression::RegressionSeed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ci/regression-seeds.txt"))
        .expect("ci/regression-seeds.txt exists");
    regression::parse(&text).unwrap_or_else(|error| panic!("ci/regression-seeds.txt: {error}"))
}

#[test]
fn every_regression_seed_names_an_existing_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in list() {
        let path = root.join(&entry.scenario_path);
        sim::scenario::Scenario::load(&path)
            .unwrap_or_else(|error| panic!("ci/regression-seeds.txt line {}: {error}", entry.line));
    }
}

#[test]
fn every_regression_seed_passes_now() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for entry in list() {
        let scenario = sim::scenario::Scenario::load(&root.join(&entry.scenario_path)).unwrap();
        let outcome = sim::runner::run::run(
            &scenario,
            &entry.scenario_path,
            entry.seed,
            sim::runner::run::RunOptions::default(),
        );
        if outcome.report.verdict != sim::runner::report::Verdict::Pass {
            failures.push(format!(
                "ci/regression-seeds.txt line {} (once: {}) fails again:\n{}",
                entry.line,
                entry.failure,
                outcome.report.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
