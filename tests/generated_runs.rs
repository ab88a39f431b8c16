//! Generated scenarios run through the real runner under proptest, which shrinks a failure to a
//! smaller scenario: fewer faults and a shorter fault phase.
//!
//! Two properties. With every bug switch off, a generated scenario passes (few cases: each is a
//! whole run; `trial fuzz --generate` covers thousands). With zoo 5 planted, proptest finds a
//! failing scenario and shrinks it, and the shrunk scenario still fails and is no larger than
//! the first failure found. Both use a fixed proptest RNG, so they are reproducible.

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use sim::campaign::generate::generate;
use sim::runner::report::{RunReport, Verdict};
use sim::runner::run::{RunOptions, run};
use sim::scenario::{Bugs, Duration, Scenario};

/// Proptest's choices: which generated scenario, which run seed, which of its faults to keep,
/// and a cap on its fault phase.
#[derive(Clone, Debug)]
struct Case {
    generation_seed: u64,
    run_seed: u64,
    /// Fault `i` is kept if `keep[i]`; faults past the end are dropped.
    keep: Vec<bool>,
    fault_phase_seconds_max: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    // The seeds do not shrink: a smaller seed is another scenario, not a smaller one.
    (
        any::<u64>().no_shrink(),
        any::<u64>().no_shrink(),
        proptest::collection::vec(any::<bool>(), 0..48),
        2u64..=8,
    )
        .prop_map(
            |(generation_seed, run_seed, keep, fault_phase_seconds_max)| Case {
                generation_seed,
                run_seed,
                keep,
                fault_phase_seconds_max,
            },
        )
}

/// The generated scenario of `case`, cut down as it says, with `bugs` planted.
fn scenario(case: &Case, bugs: Bugs) -> Scenario {
    let mut scenario = generate(case.generation_seed);
    let fault_phase_max = Duration::from_secs(case.fault_phase_seconds_max);
    scenario.fault_phase = scenario.fault_phase.min(fault_phase_max);
    let faults = std::mem::take(&mut scenario.faults);
    scenario.faults = faults
        .into_iter()
        .zip(&case.keep)
        .filter(|(fault, keep)| **keep && fault.at() < scenario.fault_phase)
        .map(|(fault, _)| fault)
        .collect();
    scenario.cluster.bugs = bugs;
    if let Err(problem) = scenario.validate() {
        panic!(
            "a cut-down generated scenario is invalid at {}: {}",
            problem.path, problem.message
        );
    }
    scenario
}

fn run_case(case: &Case, bugs: Bugs) -> RunReport {
    let scenario = scenario(case, bugs);
    run(
        &scenario,
        "generated.toml",
        case.run_seed,
        RunOptions::default(),
    )
    .report
}

fn deterministic_runner(cases: u32, shrink_iterations_max: u32) -> TestRunner {
    let config = Config {
        cases,
        max_shrink_iters: shrink_iterations_max,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[test]
fn generated_scenarios_pass_with_every_bug_switch_off() {
    let mut runner = deterministic_runner(6, 32);
    let result = runner.run(&cases(), |case| {
        let report = run_case(&case, Bugs::default());
        prop_assert_eq!(
            report.verdict,
            Verdict::Pass,
            "{}\n\nscenario:\n{}",
            report.summary(),
            scenario(&case, Bugs::default()).to_toml()
        );
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn proptest_shrinks_a_planted_bugs_failure_to_a_smaller_failing_scenario() {
    let bugs = Bugs {
        high_watermark_at_leader_end: true,
        ..Bugs::default()
    };
    let first_failure: RefCell<Option<Case>> = RefCell::new(None);
    let mut runner = deterministic_runner(64, 48);
    let result = runner.run(&cases(), |case| {
        let report = run_case(&case, bugs);
        if report.verdict == Verdict::Fail {
            first_failure
                .borrow_mut()
                .get_or_insert_with(|| case.clone());
        }
        prop_assert_eq!(report.verdict, Verdict::Pass);
        Ok(())
    });
    let minimal = match result {
        Err(TestError::Fail(_, minimal)) => minimal,
        other => panic!("zoo 5 planted, yet no failure in 64 generated scenarios: {other:?}"),
    };
    let first = first_failure.into_inner().expect("a failure was seen");
    let size = |case: &Case| {
        let scenario = scenario(case, bugs);
        (scenario.faults.len(), scenario.fault_phase)
    };
    let (first_faults, first_phase) = size(&first);
    let (minimal_faults, minimal_phase) = size(&minimal);
    println!(
        "first failure: {first_faults} faults, fault phase {first_phase}; shrunk: \
         {minimal_faults} faults, fault phase {minimal_phase}"
    );
    assert_eq!(
        run_case(&minimal, bugs).verdict,
        Verdict::Fail,
        "the shrunk case still fails"
    );
    assert!(minimal_faults <= first_faults && minimal_phase <= first_phase);
}
