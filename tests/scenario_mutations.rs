//! Errors for the world, never a panic: scenarios with random values swapped in.
//!
//! Each case takes a bundled or a generated scenario, written out whole (every default spelled,
//! so every field is there to mutate), and changes a few of its values ([`support::mutate`]):
//! edge numbers, odd durations, ratios and targets, the wrong type, a removed key, a duplicated
//! or swapped array entry. The text must then either be rejected with an error that names the
//! file and a field the document could have, or be accepted, read back identical once written,
//! and run a seed without a panic: a config that validation lets through is one the simulation
//! must handle. The swarm generator only writes valid scenarios; this test probes the edge of
//! validation itself.

use proptest::prelude::*;
use serde_json::Value;
use sim::campaign::generate::generate;
use sim::runner::run::{RunOptions, run};
use sim::scenario::Scenario;

mod support;

use support::mutate::{apply, cases, mutation, names_a_place_in};

/// A run's event budget here: enough to cross startup and the first faults, small enough that a
/// mutated rate or duration cannot make a case slow.
const EVENTS_MAX: u64 = 60_000;

/// What a case mutates: a bundled scenario (by its index in the sorted library, modulo its
/// size) or a generated one (with network faults, a nemesis, groups: the fields the bundled
/// files leave at their defaults).
#[derive(Clone, Debug)]
enum Base {
    Bundled(usize),
    Generated(u64),
}

impl Base {
    /// The base's name for failure messages, and its scenario.
    fn load(&self) -> (String, Scenario) {
        match self {
            Base::Bundled(index) => {
                let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
                let mut names: Vec<String> = std::fs::read_dir(directory)
                    .expect("scenarios/ exists")
                    .map(|entry| {
                        let entry = entry.expect("readable");
                        entry.file_name().to_string_lossy().into_owned()
                    })
                    .filter(|name| name.ends_with(".toml"))
                    .collect();
                names.sort();
                let name = names[index % names.len()].clone();
                let scenario = support::library(&name);
                (name, scenario)
            }
            Base::Generated(seed) => (format!("generated from {seed}"), generate(*seed)),
        }
    }
}

fn base() -> impl Strategy<Value = Base> {
    prop_oneof![
        any::<usize>().prop_map(Base::Bundled),
        any::<u64>().prop_map(Base::Generated),
    ]
}

/// Durations (the scenario's own unit syntax), ratios, targets and plain odd strings.
fn scenario_strings() -> BoxedStrategy<String> {
    let amounts = prop::sample::select(vec![
        "0".to_owned(),
        "1".to_owned(),
        "7".to_owned(),
        "1000".to_owned(),
        "1000000000".to_owned(),
        u64::MAX.to_string(),
        "-1".to_owned(),
        "1.5".to_owned(),
    ]);
    let units = prop::sample::select(vec!["ns", "us", "ms", "s", "m", "h", ""]);
    let durations = (amounts, units).prop_map(|(amount, unit)| format!("{amount}{unit}"));
    let words = prop::sample::select(vec![
        "",
        "1/0",
        "0/1",
        "1/1",
        "2/1",
        "1/3",
        "all",
        "random",
        "leader(orders/0)",
        "leader(nope/0)",
        "leader(orders/999)",
        "controller",
        "b0",
        "b1",
        "b99",
        "none",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => durations, 3 => words, 1 => "[a-z0-9/()_-]{0,12}"].boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_scenario_is_rejected_with_its_file_named_or_runs_without_a_panic(
        base in base(),
        mutations in proptest::collection::vec(mutation(scenario_strings()), 1..4),
        seed in any::<u64>(),
    ) {
        let (name, original) = base.load();
        let mut root: Value = toml::from_str(&original.to_toml()).expect("own output parses");
        let applied: Vec<String> = mutations.iter().map(|mutation| apply(&mut root, mutation)).collect();
        let Ok(text) = toml::to_string(&root) else {
            // A tree TOML cannot hold (a null, an integer above i64::MAX): nothing to test.
            return Ok(());
        };
        match Scenario::parse(&text, "mutated.toml") {
            Err(error) => {
                let shown = error.to_string();
                prop_assert!(shown.starts_with("mutated.toml"), "error without the file: {shown}");
                prop_assert!(!error.message.is_empty(), "empty error message: {shown}");
                if let Some(field) = &error.field {
                    prop_assert!(names_a_place_in(&root, field), "{shown}: no such place in {applied:?}");
                }
            }
            Ok(scenario) => {
                match Scenario::parse(&scenario.to_toml(), "written.toml") {
                    Ok(reparsed) => prop_assert_eq!(reparsed, scenario.clone()),
                    Err(error) => prop_assert!(false, "an accepted scenario does not read back: {error}"),
                }
                let options = RunOptions { events_max: Some(EVENTS_MAX), ..RunOptions::default() };
                let ran = std::panic::catch_unwind(|| run(&scenario, "mutated.toml", seed, options));
                prop_assert!(ran.is_ok(), "{name} with {applied:?} panicked at seed {seed}");
            }
        }
    }
}
