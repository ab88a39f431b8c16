//! A run has an event budget: a message or timer storm stops the run with its own kind of
//! violation instead of stalling a campaign on one seed.

mod support;

use sim::runner::report::{Verdict, ViolationSource};
use sim::runner::run::{EVENTS_PER_SIMULATED_SECOND_MAX, RunOptions, events_max, run};
use support::library;

#[test]
fn the_budget_scales_with_the_phases() {
    let mut scenario = library("controller-crash.toml");
    let budget = events_max(&scenario);
    assert!(budget >= 30 * EVENTS_PER_SIMULATED_SECOND_MAX);
    scenario.liveness_phase =
        sim::scenario::Duration::from_secs(scenario.liveness_phase.ns / 1_000_000_000 * 2);
    assert!(events_max(&scenario) > budget);
}

#[test]
fn an_ordinary_run_stays_far_below_its_budget() {
    let scenario = library("controller-crash.toml");
    let report = run(
        &scenario,
        "scenarios/controller-crash.toml",
        0,
        RunOptions::default(),
    )
    .report;
    assert_eq!(report.verdict, Verdict::Pass, "{}", report.summary());
    assert!(
        report.stats.events * 10 < events_max(&scenario),
        "{} events against a budget of {}",
        report.stats.events,
        events_max(&scenario)
    );
}

#[test]
fn a_run_past_its_budget_stops_and_fails_with_a_budget_violation() {
    let scenario = library("controller-crash.toml");
    let path = "scenarios/controller-crash.toml";
    // A quarter of what the whole run takes: it must stop well before the end.
    let budget = run(&scenario, path, 0, RunOptions::default())
        .report
        .stats
        .events
        / 4;
    let options = RunOptions {
        events_max: Some(budget),
        ..RunOptions::default()
    };
    let report = run(&scenario, path, 0, options).report;
    assert_eq!(report.verdict, Verdict::Fail);
    let violation = &report.violations[0];
    assert_eq!(
        violation.source,
        ViolationSource::Budget,
        "{}",
        report.summary()
    );
    assert_eq!(violation.kind, "event-budget-exceeded");
    assert!(report.stats.events > budget);
    let phases_ns = scenario.fault_phase.ns + scenario.liveness_phase.ns;
    assert!(
        report.stats.simulated_ns < phases_ns / 2,
        "stopped early: {} ns simulated",
        report.stats.simulated_ns
    );
    assert!(report.summary().contains("event-budget-exceeded"));
}
