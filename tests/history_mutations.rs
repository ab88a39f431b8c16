//! Errors for the world, never a panic: recorded histories with random values swapped in.
//!
//! Each case takes the start of a history the simulator recorded (a producer, consumers, a
//! consumer group, crashes) and changes it ([`support::mutate`]): edge numbers in times,
//! offsets, values and processes, odd strings for types, functions and keys, removed fields,
//! duplicated or swapped lines and micro-operations, and sometimes a cut in the middle of a
//! line. The checker must then either reject the text with an error naming a line of it (and a
//! field that line could have), or check it, under every configuration, without a panic.

use std::sync::OnceLock;

use check::{CheckConfig, check_history};
use proptest::prelude::*;
use serde_json::Value;
use sim::runner::run::{RunOptions, run};

mod support;

use support::mutate::{apply, cases, json_lines, mutation, names_a_place_in};

/// Lines taken from the start of each recorded history: enough for every kind of operation,
/// few enough that a case checks in well under a millisecond.
const LINES_MAX: usize = 160;

/// Recorded histories (one JSON value per line, header first), recorded once per test process.
fn histories() -> &'static [Vec<Value>] {
    static HISTORIES: OnceLock<Vec<Vec<Value>>> = OnceLock::new();
    HISTORIES.get_or_init(|| {
        let recordings = [
            ("leader-crash-after-ack.toml", 1),
            ("group-coordinator-crash.toml", 2),
            ("lossy-network.toml", 3),
        ];
        recordings
            .iter()
            .map(|(name, seed)| {
                let scenario = support::library(name);
                let options = RunOptions {
                    capture_log: true,
                    ..RunOptions::default()
                };
                let outcome = run(&scenario, name, *seed, options);
                outcome
                    .history_lines
                    .iter()
                    .take(LINES_MAX)
                    .map(|line| serde_json::from_str(line).expect("the simulator writes JSON"))
                    .collect()
            })
            .collect()
    })
}

/// The format's own words, keys and odd strings.
fn history_strings() -> BoxedStrategy<String> {
    let words = prop::sample::select(vec![
        "",
        "invoke",
        "ok",
        "fail",
        "info",
        "send",
        "poll",
        "txn",
        "assign",
        "subscribe",
        "crash",
        "commit",
        "orders/0",
        "orders/9",
        "orders",
        "/",
        "a/b/c",
        "-1",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => words, 1 => "[a-z0-9/_-]{0,8}"].boxed()
}

/// The configurations the checker runs under: defaults, and every promise declared.
fn configs() -> [CheckConfig; 2] {
    let promised = CheckConfig {
        drained: true,
        exactly_once: true,
        ..CheckConfig::default()
    };
    [CheckConfig::default(), promised]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_history_is_rejected_at_one_of_its_lines_or_checked_without_a_panic(
        history in any::<usize>(),
        mutations in proptest::collection::vec(mutation(history_strings()), 1..4),
        cut in proptest::option::weighted(0.1, any::<usize>()),
    ) {
        let histories = histories();
        let mut root = Value::Array(histories[history % histories.len()].clone());
        let applied: Vec<String> = mutations.iter().map(|mutation| apply(&mut root, mutation)).collect();
        let lines = root.as_array().expect("the history stays an array of lines");
        let text = json_lines(lines, cut);
        for config in configs() {
            let checked = std::panic::catch_unwind(|| check_history(text.as_bytes(), &config));
            prop_assert!(checked.is_ok(), "{applied:?} (cut at {cut:?}) panicked the checker");
            let Ok(Err(error)) = checked else { continue };
            let line = usize::try_from(error.line()).expect("a line number fits");
            prop_assert!((1..=lines.len() + 1).contains(&line), "{error}: no such line ({applied:?})");
            if let (Some(field), Some(value)) = (error.field(), lines.get(line - 1)) {
                prop_assert!(names_a_place_in(value, field), "{error}: no such place ({applied:?})");
            }
        }
    }
}
