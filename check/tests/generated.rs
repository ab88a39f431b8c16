//! Property tests over histories generated from a correct in-memory log model (see
//! `support/generate.rs`): the checker finds nothing in them, and finds the matching anomaly
//! once one fault is injected (a dropped record, a swapped pair, a duplicated value).

mod support;

use check::history::{AnomalyKind, RebalanceProtocol};
use check::{CheckConfig, Report, check_history};
use proptest::prelude::*;
use support::generate::{Generator, Shape, drop_record, duplicate_value, swap_pair, to_text};

/// What the model promises: acks=all, drained, exactly-once for its group, assign-mode free
/// consumers (the group's rebalances hand keys over at committed offsets, which the checker
/// does not count as skips because the keys changed).
fn config(cooperative: bool) -> CheckConfig {
    CheckConfig {
        drained: true,
        exactly_once: true,
        rebalance_protocol: if cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        },
        ..Default::default()
    }
}

fn check(lines: &[support::generate::Line], cooperative: bool) -> Report {
    let text = to_text(lines);
    check_history(text.as_bytes(), &config(cooperative)).unwrap_or_else(|error| panic!("{error}"))
}

fn shape(keys: usize, lines: usize, cooperative: bool) -> Shape {
    Shape {
        keys,
        lines,
        cooperative,
        ..Shape::small()
    }
}

/// 96 cases by default; `PROPTEST_CASES=N` for a longer search.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn correct_histories_fire_nothing(seed in any::<u64>(), keys in 1usize..5, lines in 20usize..400, cooperative in any::<bool>()) {
        let history = Generator::generate(seed, shape(keys, lines, cooperative));
        let report = check(&history, cooperative);
        prop_assert!(
            report.anomaly_counts.is_empty(),
            "seed {seed}: {}",
            serde_json::to_string_pretty(&report).unwrap()
        );
    }

    #[test]
    fn a_dropped_record_is_a_lost_write(seed in any::<u64>(), keys in 1usize..5, choice in any::<usize>()) {
        let mut history = Generator::generate(seed, shape(keys, 300, false));
        prop_assume!(drop_record(&mut history, choice));
        let report = check(&history, false);
        prop_assert!(report.count(AnomalyKind::LostWrite) > 0, "seed {seed}: {:?}", report.anomaly_counts);
        prop_assert!(!report.valid);
    }

    #[test]
    fn a_swapped_pair_is_an_internal_nonmonotonic_poll(seed in any::<u64>(), keys in 1usize..5, choice in any::<usize>()) {
        let mut history = Generator::generate(seed, shape(keys, 300, true));
        prop_assume!(swap_pair(&mut history, choice));
        let report = check(&history, true);
        prop_assert!(report.count(AnomalyKind::InternalNonmonotonicPoll) > 0, "seed {seed}: {:?}", report.anomaly_counts);
        prop_assert!(!report.valid);
    }

    #[test]
    fn a_duplicated_value_is_a_duplicate(seed in any::<u64>(), keys in 1usize..5, choice in any::<usize>()) {
        let mut history = Generator::generate(seed, shape(keys, 300, false));
        prop_assume!(duplicate_value(&mut history, choice));
        let report = check(&history, false);
        prop_assert!(report.count(AnomalyKind::Duplicate) > 0, "seed {seed}: {:?}", report.anomaly_counts);
        prop_assert!(!report.valid);
    }
}

/// The generator exercises what it claims to: sparse offsets, failures, info sends,
/// transactions, rebalances and commits all occur in a typical history.
#[test]
fn generated_histories_exercise_the_interesting_cases() {
    let text = to_text(&Generator::generate(7, shape(3, 3000, false)));
    for needle in [
        r#""type":"fail""#,
        r#""type":"info""#,
        r#""f":"txn""#,
        r#""f":"rebalance""#,
        r#""f":"commit""#,
        r#""f":"assign""#,
        r#""f":"txn","group":"tg""#,
        r#"["commit","#,
    ] {
        assert!(text.contains(needle), "no {needle} in a generated history");
    }
    let report = check_history(text.as_bytes(), &config(false)).unwrap();
    assert!(
        report.anomaly_counts.is_empty(),
        "{:?}",
        report.anomaly_counts
    );
    assert!(report.stats.reads > 100);
}
