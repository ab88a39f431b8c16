//! Self-tests of the exactly-once verdict per consumer group: `duplicate-consumption` and
//! `lost-consumption`, two histories that fire each and two near-misses each.

mod support;

use check::CheckConfig;
use check::history::AnomalyKind::*;
use support::{History, Txn, assert_clean, assert_fires, assert_silent};

fn exactly_once() -> CheckConfig {
    CheckConfig {
        exactly_once: true,
        ..Default::default()
    }
}

fn exactly_once_drained() -> CheckConfig {
    CheckConfig {
        exactly_once: true,
        drained: true,
        ..Default::default()
    }
}

/// Three records acknowledged on key `k`.
fn three_records(history: &mut History) {
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
}

// ---------------------------------------------------------------- duplicate-consumption

/// Two members each poll and commit the same record (bug zoo 12: a partition handed to a new
/// member before its old owner revoked it).
#[test]
fn duplicate_consumption_fires_for_two_members_committing_the_same_record() {
    let mut history = History::new();
    three_records(&mut history);
    history.assign(1, Some("g"), &["k"]);
    history.assign(2, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.commit_ok(1, "g", &[("k", 3)]);
    history.poll_ok_in(2, "g", &[("k", &[(0, 1)])]);
    history.commit_ok(2, "g", &[("k", 1)]);
    let report = history.check(&exactly_once());
    assert_fires(&report, DuplicateConsumption);
    assert!(!report.valid);
    let witness = serde_json::to_value(&report.anomalies[&DuplicateConsumption][0]).unwrap();
    assert_eq!(witness["value"], 1);
    assert_eq!(witness["processed_by"].as_array().unwrap().len(), 2);
}

/// Two committed transactions consumed the same record.
#[test]
fn duplicate_consumption_fires_for_two_committed_transactions() {
    let mut history = History::new();
    three_records(&mut history);
    let consume = Txn {
        polls: vec![("k", vec![(0, 1), (1, 2), (2, 3)])],
        commits: vec![("k", 3)],
        ..Default::default()
    };
    history.txn(1, Some("g"), "ok", consume.clone());
    history.txn(2, Some("g"), "ok", consume);
    assert_fires(&history.check(&exactly_once()), DuplicateConsumption);
}

/// A poll never covered by a commit before the key moved away is not processed, so the next
/// owner's processing is the only one.
#[test]
fn duplicate_consumption_stays_silent_when_the_first_poll_was_never_committed() {
    let mut history = History::new();
    three_records(&mut history);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2)])]);
    history.assign(1, Some("g"), &[]);
    history.commit_ok(1, "g", &[("k", 2)]);
    history.assign(2, Some("g"), &["k"]);
    history.poll_ok_in(2, "g", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    let report = history.check(&exactly_once_drained());
    assert_silent(&report, DuplicateConsumption);
    assert_silent(&report, LostConsumption);
}

/// An aborted transaction's polls are not processed.
#[test]
fn duplicate_consumption_stays_silent_after_an_aborted_transaction() {
    let mut history = History::new();
    three_records(&mut history);
    let consume = Txn {
        polls: vec![("k", vec![(0, 1), (1, 2), (2, 3)])],
        commits: vec![("k", 3)],
        ..Default::default()
    };
    history.txn(1, Some("g"), "fail", consume.clone());
    history.txn(2, Some("g"), "ok", consume);
    assert_clean(&history.check(&exactly_once_drained()));
}

// ---------------------------------------------------------------- lost-consumption

/// A member polled record 1, lost the key before committing; the next owner started after it.
#[test]
fn lost_consumption_fires_for_a_record_skipped_by_the_next_owner() {
    let mut history = History::new();
    three_records(&mut history);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1)])]);
    history.assign(1, Some("g"), &[]);
    history.assign(2, Some("g"), &["k"]);
    history.poll_ok_in(2, "g", &[("k", &[(1, 2), (2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    let report = history.check(&exactly_once());
    assert_fires(&report, LostConsumption);
    let witness = serde_json::to_value(&report.anomalies[&LostConsumption][0]).unwrap();
    assert_eq!(witness["value"], 1);
    let polled_by = witness["polled_by"].as_array().unwrap();
    assert_eq!(polled_by.len(), 1, "member 1's poll read it: {witness}");
    assert_eq!(polled_by[0]["process"], 1);
    assert_eq!(polled_by[0]["f"], "poll");
}

/// In a drained run every committed record must be processed: polls never committed are lost.
#[test]
fn lost_consumption_fires_in_a_drained_run_for_polls_never_committed() {
    let mut history = History::new();
    three_records(&mut history);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    let report = history.check(&exactly_once_drained());
    assert_fires(&report, LostConsumption);
    assert_eq!(report.count(LostConsumption), 3);
}

#[test]
fn lost_consumption_stays_silent_when_the_next_owner_starts_from_the_commit() {
    let mut history = History::new();
    three_records(&mut history);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1)])]);
    history.commit_ok(1, "g", &[("k", 1)]);
    history.assign(1, Some("g"), &[]);
    history.assign(2, Some("g"), &["k"]);
    history.poll_ok_in(2, "g", &[("k", &[(1, 2), (2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    assert_clean(&history.check(&exactly_once_drained()));
}

/// Under acks=1 an acknowledged record the leader lost in a failover (its offset reused by
/// another record) is not owed to the group; under acks=all it is. Found by generated group
/// runs with an acks=1 producer, which failed `lost-consumption` with every bug switch off.
#[test]
fn lost_consumption_stays_silent_under_acks_1_for_an_acknowledged_record_nobody_read() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.send_ok(0, &[("k", 3, 1), ("k", 4, 2)]);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 3), (2, 4)])]);
    history.commit_ok(1, "g", &[("k", 3)]);
    let acks_leader = CheckConfig {
        acks: check::history::Acks::Leader,
        ..exactly_once_drained()
    };
    let report = history.check(&acks_leader);
    assert_silent(&report, LostConsumption);
    assert_fires(&history.check(&exactly_once_drained()), LostConsumption);
}

/// Under acks=1 a record someone read is still owed: the group skipping it is a loss.
#[test]
fn lost_consumption_fires_under_acks_1_for_a_record_another_reader_saw() {
    let mut history = History::new();
    three_records(&mut history);
    history.poll_ok(3, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (2, 3)])]);
    history.commit_ok(1, "g", &[("k", 3)]);
    let acks_leader = CheckConfig {
        acks: check::history::Acks::Leader,
        ..exactly_once_drained()
    };
    let report = history.check(&acks_leader);
    assert_fires(&report, LostConsumption);
    assert_eq!(report.count(LostConsumption), 1);
    let witness = serde_json::to_value(&report.anomalies[&LostConsumption][0]).unwrap();
    assert_eq!(
        witness["polled_by"],
        serde_json::json!([]),
        "no member of the group read it"
    );
}

/// Three records on `k`; member 1 polls the first two and commits `next_offset` with an
/// unknown outcome (so it is crashed); `k` moves to member 2.
fn two_polls_then_an_unknown_commit(next_offset: u64) -> History {
    let mut history = History::new();
    three_records(&mut history);
    history.assign(1, Some("g"), &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2)])]);
    history.commit_info(1, "g", &[("k", next_offset)]);
    history.assign(2, Some("g"), &["k"]);
    history
}

/// A commit with an unknown outcome may have landed: the polls below it may have been
/// processed, so the member's successor (a new process: the client carried on) committing past
/// them without reading them again is no loss. Found by perturbed generated runs: an offsets
/// partition's ISR shrank under a commit's append, the commit completed `info`, and the group
/// consumer carried on from its position.
#[test]
fn lost_consumption_stays_silent_for_polls_covered_by_a_commit_of_unknown_outcome() {
    let mut history = two_polls_then_an_unknown_commit(2);
    history.commit_ok(2, "g", &[("k", 2)]);
    history.poll_ok_in(2, "g", &[("k", &[(2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    assert_clean(&history.check(&exactly_once_drained()));
}

/// ... but a poll above the unknown commit's offset was not even possibly processed.
#[test]
fn lost_consumption_fires_for_a_poll_above_a_commit_of_unknown_outcome() {
    let mut history = two_polls_then_an_unknown_commit(1);
    history.poll_ok_in(2, "g", &[("k", &[(2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    let report = history.check(&exactly_once_drained());
    assert_fires(&report, LostConsumption);
    let witness = serde_json::to_value(&report.anomalies[&LostConsumption][0]).unwrap();
    assert_eq!(witness["value"], 2);
}

/// Nor is reading such a poll again a duplicate: the unknown commit may not have landed.
#[test]
fn duplicate_consumption_stays_silent_when_a_commit_of_unknown_outcome_is_read_again() {
    let mut history = two_polls_then_an_unknown_commit(2);
    history.poll_ok_in(2, "g", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.commit_ok(2, "g", &[("k", 3)]);
    assert_clean(&history.check(&exactly_once_drained()));
}

/// A transaction of unknown outcome that commits offsets counts as a commit of unknown outcome:
/// the polls below its offsets may have been processed. Found by the first runs of group members
/// committing in transactions: the transaction coordinator crashed under an EndTxn, the member's
/// commit completed `info`, and its successor started from the offsets the transaction did commit.
#[test]
fn lost_consumption_stays_silent_for_polls_covered_by_a_transaction_of_unknown_outcome() {
    for (kind, lost) in [("info", false), ("fail", true)] {
        let mut history = History::new();
        three_records(&mut history);
        history.assign(1, Some("g"), &["k"]);
        history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2)])]);
        let commit = Txn {
            commits: vec![("k", 2)],
            ..Default::default()
        };
        history.txn(1, Some("g"), kind, commit);
        history.assign(2, Some("g"), &["k"]);
        history.poll_ok_in(2, "g", &[("k", &[(2, 3)])]);
        history.commit_ok(2, "g", &[("k", 3)]);
        let report = history.check(&exactly_once_drained());
        if lost {
            assert_fires(&report, LostConsumption);
        } else {
            assert_clean(&report);
        }
    }
}

/// Not drained: records above the highest processed one are not yet owed.
#[test]
fn lost_consumption_stays_silent_for_the_tail_of_an_undrained_run() {
    let mut history = History::new();
    three_records(&mut history);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2)])]);
    history.commit_ok(1, "g", &[("k", 1)]);
    let report = history.check(&exactly_once());
    assert_silent(&report, LostConsumption);
    assert!(report.valid);
}

/// Without `exactly_once` the verdict is reported but not a violation.
#[test]
fn consumption_anomalies_are_not_violations_without_exactly_once() {
    let mut history = History::new();
    three_records(&mut history);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.commit_ok(1, "g", &[("k", 3)]);
    history.poll_ok_in(2, "g", &[("k", &[(0, 1)])]);
    history.commit_ok(2, "g", &[("k", 1)]);
    let report = history.check_default();
    assert_fires(&report, DuplicateConsumption);
    assert!(!report.violations.contains(&DuplicateConsumption));
}

/// A cooperative member polls record 1, keeps its key through a rebalance, then commits past
/// it; an eager group in the same run polls and commits on its own.
fn a_cooperative_group_beside_an_eager_one() -> History {
    let mut history = History::new();
    three_records(&mut history);
    history.rebalance(1, "workers", 1, &["k"]);
    history.poll_ok_in(1, "workers", &[("k", &[(0, 1)])]);
    history.rebalance(1, "workers", 2, &["k"]);
    history.poll_ok_in(1, "workers", &[("k", &[(1, 2), (2, 3)])]);
    history.commit_ok(1, "workers", &[("k", 3)]);
    history.rebalance(2, "auditors", 1, &["k"]);
    history.poll_ok_in(2, "auditors", &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    history.commit_ok(2, "auditors", &[("k", 3)]);
    history
}

/// Each group is judged by its own protocol: the cooperative member's poll before its
/// rebalance is processed by the commit after it. Judged eager (as a run of mixed protocols
/// once was), that poll is forgotten at the rebalance and its record reported lost (found by
/// generated runs with a worker group and a reader group of different protocols).
#[test]
fn lost_consumption_stays_silent_for_a_cooperative_group_beside_an_eager_one() {
    let history = a_cooperative_group_beside_an_eager_one();
    let mut config = exactly_once_drained();
    config.group_protocols.insert(
        "workers".to_owned(),
        check::history::RebalanceProtocol::Cooperative,
    );
    assert_clean(&history.check(&config));
    assert_fires(&history.check(&exactly_once_drained()), LostConsumption);
}
