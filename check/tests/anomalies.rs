//! Self-tests of the history checker: for every anomaly, two hand-built histories that must fire
//! it and two near-misses that must not (STYLE.md habit 7: every checker has a test that makes it
//! fire). Each test says what shape it traps.

mod support;

use check::history::AnomalyKind::*;
use support::{History, Txn, assert_clean, assert_fires, assert_silent};

// ---------------------------------------------------------------- lost-write

/// An acknowledged record below one that was read, never read itself.
#[test]
fn lost_write_fires_when_an_earlier_acknowledged_record_is_never_read() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(1, 2)])]);
    let report = history.check_default();
    assert_fires(&report, LostWrite);
    assert!(!report.valid);
}

/// Different consumers read the records on either side; nobody read the middle one (truncated
/// by a bad failover, say).
#[test]
fn lost_write_fires_when_the_middle_record_vanishes_between_two_readers() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 1)]);
    history.send_ok(0, &[("k", 3, 2)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(2, &[("k", &[(2, 3)])]);
    assert_fires(&history.check_default(), LostWrite);
}

/// A record above everything read is unseen, not lost.
#[test]
fn lost_write_stays_silent_when_the_unread_record_is_the_latest() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    let report = history.check_default();
    assert_silent(&report, LostWrite);
    assert_fires(&report, Unseen);
}

/// Sparse offsets (transaction markers at 1 and 2) hide nothing.
#[test]
fn lost_write_stays_silent_over_sparse_offsets() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 3)]);
    history.poll_ok(1, &[("k", &[(0, 1), (3, 2)])]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- unseen

/// The configuration of a run whose consumers drained every key: unseen records are violations.
fn drained() -> check::CheckConfig {
    check::CheckConfig {
        drained: true,
        ..Default::default()
    }
}

#[test]
fn unseen_fires_for_an_acknowledged_record_nobody_polled() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    let report = history.check_default();
    assert_fires(&report, Unseen);
    // Not drained: expected, not a violation.
    assert!(report.valid);
}

#[test]
fn unseen_fires_for_the_tail_above_the_last_read_and_is_a_violation_when_drained() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    let report = history.check(&drained());
    assert_fires(&report, Unseen);
    assert!(!report.valid);
}

#[test]
fn unseen_stays_silent_when_everything_was_read() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)])]);
    assert_clean(&history.check_default());
}

/// Failed and indeterminate sends were never acknowledged: not reading them is fine.
#[test]
fn unseen_stays_silent_for_failed_and_indeterminate_sends() {
    let mut history = History::new();
    history.send_fail(0, &[("k", 1)]);
    history.send_info(2, &[("k", 2)]);
    assert_clean(&history.check_default());
}

/// An indeterminate transaction one of whose records was read committed; its other record,
/// never read by consumers that drained everything, is unseen (a torn transaction).
#[test]
fn unseen_fires_for_the_unread_record_of_an_indeterminate_transaction_that_committed() {
    let mut history = History::new();
    let txn = Txn {
        sends: vec![("k1", 1, 0), ("k2", 2, 0)],
        ..Txn::default()
    };
    history.txn(0, None, "info", txn);
    history.poll_ok(1, &[("k1", &[(0, 1)])]);
    let report = history.check(&drained());
    assert_fires(&report, Unseen);
    assert!(!report.valid);
}

/// An indeterminate transaction read whole, or not at all (it may have aborted), is not torn.
#[test]
fn unseen_stays_silent_for_an_indeterminate_transaction_read_whole_or_not_at_all() {
    let txn = || Txn {
        sends: vec![("k1", 1, 0), ("k2", 2, 0)],
        ..Txn::default()
    };
    let mut whole = History::new();
    whole.txn(0, None, "info", txn());
    whole.poll_ok(1, &[("k1", &[(0, 1)]), ("k2", &[(0, 2)])]);
    assert_clean(&whole.check(&drained()));
    let mut unread = History::new();
    unread.txn(0, None, "info", txn());
    assert_clean(&unread.check(&drained()));
}

// ---------------------------------------------------------------- duplicate

/// One poll sees the same value twice at two offsets (a retried batch appended twice).
#[test]
fn duplicate_fires_for_a_value_at_two_offsets_in_one_poll() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 1)])]);
    assert_fires(&history.check_default(), Duplicate);
}

#[test]
fn duplicate_fires_when_a_poll_sees_an_acknowledged_value_elsewhere() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2), (2, 1)])]);
    assert_fires(&history.check_default(), Duplicate);
}

#[test]
fn duplicate_stays_silent_for_distinct_values() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)])]);
    assert_clean(&history.check_default());
}

/// The same record observed by its acknowledgement and by two consumers is one record.
#[test]
fn duplicate_stays_silent_for_one_record_observed_three_times() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(2, &[("k", &[(0, 1)])]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- inconsistent-offsets

#[test]
fn inconsistent_offsets_fire_for_two_acknowledgements_of_one_offset() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(1, &[("k", 2, 0)]);
    assert_fires(&history.check_default(), InconsistentOffsets);
}

/// Two consumers read different values at one offset (replicas diverged below the HW).
#[test]
fn inconsistent_offsets_fire_for_two_polls_disagreeing() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_info(3, &[("k", 2)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(2, &[("k", &[(0, 2)])]);
    assert_fires(&history.check_default(), InconsistentOffsets);
}

#[test]
fn inconsistent_offsets_stay_silent_when_everyone_agrees() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(2, &[("k", &[(0, 1)])]);
    assert_clean(&history.check_default());
}

/// An indeterminate send's offset proves nothing: its record may have been truncated and the
/// offset reused by an acknowledged one.
#[test]
fn inconsistent_offsets_stay_silent_for_an_indeterminate_sends_offset() {
    let mut history = History::new();
    history.send_invoke(0, &[("k", 1)]);
    history.line(
        0,
        "info",
        "send",
        serde_json::json!([["send", "k", [0, 1]]]),
        None,
    );
    history.send_ok(1, &[("k", 2, 0)]);
    history.poll_ok(2, &[("k", &[(0, 2)])]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- G1a

#[test]
fn aborted_read_fires_for_a_failed_send_that_was_read() {
    let mut history = History::new();
    history.send_fail(0, &[("k", 1)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    assert_fires(&history.check_default(), AbortedRead);
}

#[test]
fn aborted_read_fires_for_an_aborted_transaction_that_was_read() {
    let mut history = History::new();
    let txn = Txn {
        sends: vec![("k", 1, 0), ("j", 2, 0)],
        ..Default::default()
    };
    history.txn(0, None, "fail", txn);
    history.poll_ok(1, &[("j", &[(0, 2)])]);
    assert_fires(&history.check_default(), AbortedRead);
}

/// An indeterminate send whose value is read counts as committed.
#[test]
fn aborted_read_stays_silent_for_an_indeterminate_send_that_was_read() {
    let mut history = History::new();
    history.send_info(0, &[("k", 1)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    assert_clean(&history.check_default());
}

#[test]
fn aborted_read_stays_silent_when_the_failed_value_is_never_read() {
    let mut history = History::new();
    history.send_fail(0, &[("k", 1)]);
    history.send_ok(0, &[("k", 2, 0)]);
    history.poll_ok(1, &[("k", &[(0, 2)])]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- precommitted-read

/// A transaction that sees its own write before it committed.
#[test]
fn precommitted_read_fires_for_a_transaction_reading_its_own_write() {
    let mut history = History::new();
    let txn = Txn {
        polls: vec![("k", vec![(0, 1)])],
        sends: vec![("k", 1, 0)],
        ..Default::default()
    };
    history.txn(0, None, "ok", txn);
    assert_fires(&history.check_default(), PrecommittedRead);
}

/// A poll completes with a value before anyone invoked its send.
#[test]
fn precommitted_read_fires_for_a_read_from_the_future() {
    let mut history = History::new();
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.send_ok(0, &[("k", 1, 0)]);
    assert_fires(&history.check_default(), PrecommittedRead);
}

/// The read completes while the send is still in flight: the record was committed, the
/// acknowledgement merely late.
#[test]
fn precommitted_read_stays_silent_for_a_read_concurrent_with_its_send() {
    let mut history = History::new();
    history.send_invoke(0, &[("k", 1)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.send_complete(0, &[("k", 1, 0)]);
    assert_clean(&history.check_default());
}

#[test]
fn precommitted_read_stays_silent_for_a_transaction_reading_an_earlier_one() {
    let mut history = History::new();
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("k", 1, 0)],
            ..Default::default()
        },
    );
    history.txn(
        1,
        None,
        "ok",
        Txn {
            polls: vec![("k", vec![(0, 1)])],
            ..Default::default()
        },
    );
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- poll-skip

#[test]
fn poll_skip_fires_when_a_consumer_jumps_over_a_record() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(1, &[("k", &[(2, 3)])]);
    history.poll_ok(2, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    let report = history.check_default();
    assert_fires(&report, PollSkip);
    assert_eq!(report.violations, vec![PollSkip]);
}

/// Offsets are sparse, so the skip is judged against the version order, not offset + 1.
#[test]
fn poll_skip_fires_over_sparse_offsets_when_an_observed_record_is_skipped() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 2)]);
    history.send_ok(0, &[("k", 3, 5)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(1, &[("k", &[(5, 3)])]);
    history.poll_ok(2, &[("k", &[(0, 1), (2, 2)])]);
    assert_fires(&history.check_default(), PollSkip);
}

/// Offsets 1 and 2 hold transaction markers nobody observes: 0 then 3 is no skip.
#[test]
fn poll_skip_stays_silent_over_unobserved_offsets() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 3)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(1, &[("k", &[(3, 2)])]);
    assert_clean(&history.check_default());
}

/// Without acks=all, an acknowledged offset may be truncated and reused by a record a
/// `read_committed` consumer never sees (a marker, an aborted record): skipping an offset only an
/// acknowledgement names is no skip, but skipping one another consumer read is.
#[test]
fn poll_skip_under_acks_1_counts_only_records_some_poll_read() {
    let config = check::CheckConfig {
        acks: check::history::Acks::Leader,
        ..check::CheckConfig::default()
    };
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(1, &[("k", &[(2, 3)])]);
    assert_silent(&history.check(&config), PollSkip);
    history.poll_ok(2, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    assert_fires(&history.check(&config), PollSkip);
}

/// The key left the consumer's assignment and came back: its position restarts.
#[test]
fn poll_skip_stays_silent_across_an_assignment_that_changed_the_keys() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
    history.assign(1, None, &["k"]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.assign(1, None, &["j"]);
    history.assign(1, None, &["k"]);
    history.poll_ok(1, &[("k", &[(2, 3)])]);
    history.poll_ok(2, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    assert_clean(&history.check_default());
}

/// A member that polled offset 0, then was handed the key again by a rebalance.
fn rebalanced_member(history: &mut History) {
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
    history.subscribe(1, "g", &["k"]);
    history.rebalance(1, "g", 1, &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(0, 1)])]);
    history.rebalance(1, "g", 2, &["k"]);
    history.poll_ok_in(1, "g", &[("k", &[(2, 3)])]);
    history.poll_ok(2, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
}

/// An eager rebalance revokes every key: the member resumes from a committed offset (another
/// member may have moved it), so a jump is no skip.
#[test]
fn poll_skip_stays_silent_across_an_eager_rebalance() {
    let mut history = History::new();
    rebalanced_member(&mut history);
    assert_clean(&history.check_default());
}

/// Under cooperative rebalancing a kept key keeps its position, so the jump is a real skip,
/// under `assign` and under `subscribe` alike: only what a rebalance moved is excused.
#[test]
fn poll_skip_on_a_key_kept_by_a_cooperative_rebalance_is_a_violation_under_subscribe() {
    let mut history = History::new();
    rebalanced_member(&mut history);
    let cooperative = check::CheckConfig {
        rebalance_protocol: check::history::RebalanceProtocol::Cooperative,
        ..Default::default()
    };
    let report = history.check(&cooperative);
    assert_fires(&report, PollSkip);
    assert!(!report.valid, "a violation under assign");
    let subscribe = check::CheckConfig {
        consumer_mode: check::history::ConsumerMode::Subscribe,
        ..cooperative
    };
    let report = history.check(&subscribe);
    assert_fires(&report, PollSkip);
    assert!(
        !report.valid,
        "a kept key's skip is real under subscribe too"
    );
    let eager_subscribe = check::CheckConfig {
        rebalance_protocol: check::history::RebalanceProtocol::Eager,
        ..subscribe
    };
    assert_clean(&history.check(&eager_subscribe));
}

// ---------------------------------------------------------------- nonmonotonic-poll

#[test]
fn nonmonotonic_poll_fires_when_a_consumer_goes_back() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(1, 2)])]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    assert_fires(&history.check_default(), NonmonotonicPoll);
}

#[test]
fn nonmonotonic_poll_fires_when_a_consumer_rereads_a_record() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)])]);
    history.poll_ok(1, &[("k", &[(1, 2)])]);
    assert_fires(&history.check_default(), NonmonotonicPoll);
}

#[test]
fn nonmonotonic_poll_stays_silent_after_a_reassignment() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.assign(1, None, &["k"]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)])]);
    history.assign(1, None, &[]);
    history.assign(1, None, &["k"]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    assert_clean(&history.check_default());
}

/// An aborted transaction rewinds the consumer to its committed offsets.
#[test]
fn nonmonotonic_poll_stays_silent_after_an_aborted_transaction() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.txn(
        1,
        None,
        "ok",
        Txn {
            polls: vec![("k", vec![(0, 1)])],
            ..Default::default()
        },
    );
    history.txn(
        1,
        None,
        "fail",
        Txn {
            polls: vec![("k", vec![(1, 2)])],
            sends: vec![("out", 10, 0)],
            ..Default::default()
        },
    );
    history.txn(
        1,
        None,
        "ok",
        Txn {
            polls: vec![("k", vec![(1, 2)])],
            ..Default::default()
        },
    );
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- int-poll-skip

#[test]
fn internal_poll_skip_fires_for_a_gap_inside_one_poll() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("k", 3, 2)]);
    history.poll_ok(1, &[("k", &[(0, 1), (2, 3)])]);
    history.poll_ok(2, &[("k", &[(0, 1), (1, 2), (2, 3)])]);
    assert_fires(&history.check_default(), InternalPollSkip);
}

#[test]
fn internal_poll_skip_fires_for_a_gap_inside_one_transaction() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 4), ("k", 3, 9)]);
    history.txn(
        1,
        None,
        "ok",
        Txn {
            polls: vec![("k", vec![(0, 1), (9, 3)])],
            ..Default::default()
        },
    );
    assert_fires(&history.check_default(), InternalPollSkip);
}

#[test]
fn internal_poll_skip_stays_silent_over_sparse_offsets() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 7)]);
    history.poll_ok(1, &[("k", &[(0, 1), (7, 2)])]);
    assert_clean(&history.check_default());
}

#[test]
fn internal_poll_skip_stays_silent_for_two_contiguous_keys() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1), ("j", 3, 0), ("j", 4, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)]), ("j", &[(0, 3), (1, 4)])]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- int-nonmonotonic-poll

#[test]
fn internal_nonmonotonic_poll_fires_for_records_out_of_order_in_one_poll() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(1, 2), (0, 1)])]);
    assert_fires(&history.check_default(), InternalNonmonotonicPoll);
}

#[test]
fn internal_nonmonotonic_poll_fires_for_a_record_repeated_in_one_poll() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.poll_ok(1, &[("k", &[(0, 1), (0, 1)])]);
    assert_fires(&history.check_default(), InternalNonmonotonicPoll);
}

#[test]
fn internal_nonmonotonic_poll_stays_silent_for_records_in_order() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(0, 1), (1, 2)])]);
    assert_clean(&history.check_default());
}

/// Order is per key: a later key's lower offsets are not a regression.
#[test]
fn internal_nonmonotonic_poll_stays_silent_across_keys() {
    let mut history = History::new();
    history.send_ok(0, &[("a", 1, 5), ("b", 2, 0)]);
    history.poll_ok(1, &[("a", &[(5, 1)]), ("b", &[(0, 2)])]);
    let report = history.check_default();
    assert_silent(&report, InternalNonmonotonicPoll);
    assert_silent(&report, NonmonotonicPoll);
}

// ---------------------------------------------------------------- nonmonotonic-send

#[test]
fn nonmonotonic_send_fires_when_a_later_send_lands_earlier() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 1)]);
    history.send_ok(0, &[("k", 2, 0)]);
    assert_fires(&history.check_default(), NonmonotonicSend);
}

#[test]
fn nonmonotonic_send_fires_for_transactions_of_one_producer() {
    let mut history = History::new();
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("k", 1, 8)],
            ..Default::default()
        },
    );
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("k", 2, 3)],
            ..Default::default()
        },
    );
    assert_fires(&history.check_default(), NonmonotonicSend);
}

#[test]
fn nonmonotonic_send_stays_silent_for_two_producers() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 1)]);
    history.send_ok(1, &[("k", 2, 0)]);
    assert_clean(&history.check_default());
}

#[test]
fn nonmonotonic_send_stays_silent_across_keys() {
    let mut history = History::new();
    history.send_ok(0, &[("a", 1, 5)]);
    history.send_ok(0, &[("b", 2, 0)]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- int-nonmonotonic-send

#[test]
fn internal_nonmonotonic_send_fires_inside_one_send() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 1), ("k", 2, 0)]);
    assert_fires(&history.check_default(), InternalNonmonotonicSend);
}

#[test]
fn internal_nonmonotonic_send_fires_inside_one_transaction() {
    let mut history = History::new();
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("k", 1, 4), ("k", 2, 2)],
            ..Default::default()
        },
    );
    assert_fires(&history.check_default(), InternalNonmonotonicSend);
}

#[test]
fn internal_nonmonotonic_send_stays_silent_in_order() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    assert_clean(&history.check_default());
}

#[test]
fn internal_nonmonotonic_send_stays_silent_across_keys() {
    let mut history = History::new();
    history.send_ok(0, &[("a", 1, 5), ("b", 2, 0)]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- int-send-skip

#[test]
fn internal_send_skip_fires_when_another_producer_interleaves() {
    let mut history = History::new();
    history.send_invoke(0, &[("k", 1), ("k", 3)]);
    history.send_ok(1, &[("k", 2, 1)]);
    history.send_complete(0, &[("k", 1, 0), ("k", 3, 2)]);
    let report = history.check_default();
    assert_fires(&report, InternalSendSkip);
    assert!(report.valid, "normal for Kafka");
}

#[test]
fn internal_send_skip_fires_inside_a_transaction_and_is_a_violation_when_writes_must_be_isolated() {
    let mut history = History::new();
    history.txn_invoke(
        0,
        None,
        &Txn {
            sends: vec![("k", 1, 0), ("k", 4, 3)],
            ..Default::default()
        },
    );
    history.send_ok(1, &[("k", 2, 1), ("k", 3, 2)]);
    history.txn_complete(
        0,
        None,
        "ok",
        &Txn {
            sends: vec![("k", 1, 0), ("k", 4, 3)],
            ..Default::default()
        },
    );
    let isolated = check::CheckConfig {
        kafka_transactions: false,
        ..Default::default()
    };
    let report = history.check(&isolated);
    assert_fires(&report, InternalSendSkip);
    assert!(!report.valid);
}

/// Offset 1 is a marker nobody observes: 0 then 2 is contiguous.
#[test]
fn internal_send_skip_stays_silent_over_unobserved_offsets() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 2)]);
    assert_clean(&history.check_default());
}

#[test]
fn internal_send_skip_stays_silent_for_contiguous_sends() {
    let mut history = History::new();
    history.send_ok(1, &[("k", 5, 0)]);
    history.send_ok(0, &[("k", 1, 1), ("k", 2, 2)]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- G0

fn crossed_writes(history: &mut History, second_kind: &str) {
    let first = Txn {
        sends: vec![("a", 1, 0), ("b", 2, 1)],
        ..Default::default()
    };
    let second = Txn {
        sends: vec![("a", 3, 1), ("b", 4, 0)],
        ..Default::default()
    };
    history.txn_invoke(0, None, &first);
    history.txn_invoke(1, None, &second);
    history.txn_complete(0, None, "ok", &first);
    history.txn_complete(1, None, second_kind, &second);
}

/// T1 wrote a before T2; T2 wrote b before T1.
#[test]
fn write_cycle_fires_for_two_transactions_crossing_on_two_keys() {
    let mut history = History::new();
    crossed_writes(&mut history, "ok");
    let report = history.check_default();
    assert_fires(&report, WriteCycle);
    assert_silent(&report, CyclicInformationFlow);
    assert!(report.valid, "G0 is normal for Kafka transactions");
}

#[test]
fn write_cycle_fires_for_three_transactions_in_a_ring() {
    let mut history = History::new();
    let t1 = Txn {
        sends: vec![("a", 1, 0), ("c", 6, 1)],
        ..Default::default()
    };
    let t2 = Txn {
        sends: vec![("a", 2, 1), ("b", 3, 0)],
        ..Default::default()
    };
    let t3 = Txn {
        sends: vec![("b", 4, 1), ("c", 5, 0)],
        ..Default::default()
    };
    history.txn_invoke(0, None, &t1);
    history.txn_invoke(1, None, &t2);
    history.txn_invoke(2, None, &t3);
    history.txn_complete(0, None, "ok", &t1);
    history.txn_complete(1, None, "ok", &t2);
    history.txn_complete(2, None, "ok", &t3);
    let isolated = check::CheckConfig {
        kafka_transactions: false,
        ..Default::default()
    };
    let report = history.check(&isolated);
    assert_fires(&report, WriteCycle);
    assert!(!report.valid);
    let witness = serde_json::to_value(&report.anomalies[&WriteCycle][0]).unwrap();
    assert_eq!(witness["cycle"].as_array().unwrap().len(), 3);
}

#[test]
fn write_cycle_stays_silent_for_transactions_in_one_order() {
    let mut history = History::new();
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("a", 1, 0), ("b", 2, 0)],
            ..Default::default()
        },
    );
    history.txn(
        1,
        None,
        "ok",
        Txn {
            sends: vec![("a", 3, 1), ("b", 4, 1)],
            ..Default::default()
        },
    );
    assert_clean(&history.check_default());
}

/// Non-transactional sends promise no atomicity: crossing is no cycle.
#[test]
fn write_cycle_stays_silent_for_crossing_plain_sends() {
    let mut history = History::new();
    history.send_invoke(0, &[("a", 1), ("b", 2)]);
    history.send_invoke(1, &[("a", 3), ("b", 4)]);
    history.send_complete(0, &[("a", 1, 0), ("b", 2, 1)]);
    history.send_complete(1, &[("a", 3, 1), ("b", 4, 0)]);
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- G1c

/// Each transaction read the other's write.
#[test]
fn cyclic_information_flow_fires_for_mutual_reads() {
    let mut history = History::new();
    let t1 = Txn {
        polls: vec![("b", vec![(0, 2)])],
        sends: vec![("a", 1, 0)],
        ..Default::default()
    };
    let t2 = Txn {
        polls: vec![("a", vec![(0, 1)])],
        sends: vec![("b", 2, 0)],
        ..Default::default()
    };
    history.txn_invoke(0, None, &t1);
    history.txn_invoke(1, None, &t2);
    history.txn_complete(0, None, "ok", &t1);
    history.txn_complete(1, None, "ok", &t2);
    let report = history.check_default();
    assert_fires(&report, CyclicInformationFlow);
    assert!(!report.valid);
}

/// T1 wrote a before T2 (ww) and read T2's write to b (wr).
#[test]
fn cyclic_information_flow_fires_for_a_write_write_and_a_write_read_edge() {
    let mut history = History::new();
    let t1 = Txn {
        polls: vec![("b", vec![(0, 3)])],
        sends: vec![("a", 1, 0)],
        ..Default::default()
    };
    let t2 = Txn {
        sends: vec![("a", 2, 1), ("b", 3, 0)],
        ..Default::default()
    };
    history.txn_invoke(0, None, &t1);
    history.txn_invoke(1, None, &t2);
    history.txn_complete(0, None, "ok", &t1);
    history.txn_complete(1, None, "ok", &t2);
    assert_fires(&history.check_default(), CyclicInformationFlow);
}

#[test]
fn cyclic_information_flow_stays_silent_for_a_one_way_read() {
    let mut history = History::new();
    history.txn(
        0,
        None,
        "ok",
        Txn {
            sends: vec![("a", 1, 0)],
            ..Default::default()
        },
    );
    history.txn(
        1,
        None,
        "ok",
        Txn {
            polls: vec![("a", vec![(0, 1)])],
            sends: vec![("b", 2, 0)],
            ..Default::default()
        },
    );
    assert_clean(&history.check_default());
}

/// A pure write-write cycle is G0, not G1c.
#[test]
fn cyclic_information_flow_stays_silent_for_a_pure_write_cycle() {
    let mut history = History::new();
    crossed_writes(&mut history, "ok");
    assert_silent(&history.check_default(), CyclicInformationFlow);
}

/// An aborted transaction is not a node: its crossing writes close no cycle.
#[test]
fn cycles_ignore_aborted_transactions() {
    let mut history = History::new();
    crossed_writes(&mut history, "fail");
    assert_clean(&history.check_default());
}

// ---------------------------------------------------------------- committed-offset-regression

#[test]
fn committed_offset_regression_fires_when_a_later_commit_goes_back() {
    let mut history = History::new();
    history.commit_ok(1, "g", &[("k", 5)]);
    history.commit_ok(2, "g", &[("k", 3)]);
    let report = history.check_default();
    assert_fires(&report, CommittedOffsetRegression);
    assert!(!report.valid);
}

#[test]
fn committed_offset_regression_fires_for_commits_inside_transactions() {
    let mut history = History::new();
    history.txn(
        1,
        Some("g"),
        "ok",
        Txn {
            commits: vec![("k", 9)],
            ..Default::default()
        },
    );
    history.txn(
        1,
        Some("g"),
        "ok",
        Txn {
            commits: vec![("k", 4)],
            ..Default::default()
        },
    );
    assert_fires(&history.check_default(), CommittedOffsetRegression);
}

/// Concurrent commits are not ordered.
#[test]
fn committed_offset_regression_stays_silent_for_concurrent_commits() {
    let mut history = History::new();
    history.commit_invoke(1, "g", &[("k", 5)]);
    history.commit_invoke(2, "g", &[("k", 3)]);
    history.commit_complete(1, "g", &[("k", 5)]);
    history.commit_complete(2, "g", &[("k", 3)]);
    assert_clean(&history.check_default());
}

#[test]
fn committed_offset_regression_stays_silent_across_groups() {
    let mut history = History::new();
    history.commit_ok(1, "g", &[("k", 5)]);
    history.commit_ok(2, "h", &[("k", 3)]);
    history.commit_ok(2, "h", &[("j", 7)]);
    assert_clean(&history.check_default());
}

/// Values far apart take the checker's sparse value index instead of its dense table.
#[test]
fn analyses_work_with_sparse_values() {
    let mut history = History::new();
    history.send_fail(0, &[("k", -4_000_000_000_000)]);
    history.send_ok(0, &[("k", 9_000_000_000_000, 1)]);
    history.poll_ok(
        1,
        &[("k", &[(0, -4_000_000_000_000), (1, 9_000_000_000_000)])],
    );
    let report = history.check_default();
    assert_fires(&report, AbortedRead);
    assert_eq!(
        report.anomaly_counts.len(),
        1,
        "{:?}",
        report.anomaly_counts
    );
}

/// Under acks=1 a failover may truncate an acknowledged record and reuse its offset: the loss is
/// listed, not a violation, and the acknowledged offset is not compared with what polls read.
#[test]
fn acks_leader_excuses_a_truncated_acknowledgement() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_ok(0, &[("k", 2, 0)]);
    history.send_ok(0, &[("k", 3, 1)]);
    history.poll_ok(1, &[("k", &[(0, 2), (1, 3)])]);
    let leader = check::CheckConfig {
        acks: check::history::Acks::Leader,
        ..Default::default()
    };
    let report = history.check(&leader);
    assert_fires(&report, LostWrite);
    assert_fires(&report, NonmonotonicSend);
    assert_silent(&report, InconsistentOffsets);
    assert!(report.valid, "{:?}", report.violations);
    let report = history.check_default();
    assert_fires(&report, InconsistentOffsets);
    assert!(!report.valid);
}

/// Even under acks=1, two polls that disagree about an offset saw diverged committed data.
#[test]
fn acks_leader_still_fires_inconsistent_offsets_between_polls() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0)]);
    history.send_info(2, &[("k", 2)]);
    history.poll_ok(1, &[("k", &[(0, 1)])]);
    history.poll_ok(3, &[("k", &[(0, 2)])]);
    let leader = check::CheckConfig {
        acks: check::history::Acks::Leader,
        ..Default::default()
    };
    let report = history.check(&leader);
    assert_fires(&report, InconsistentOffsets);
    assert!(!report.valid);
}

/// A `debug-topic-partitions` dump explains a loss: the witness names the replicas that still
/// hold the lost value (here only b2, which lost leadership before it replicated).
#[test]
fn lost_write_witness_names_the_replicas_holding_the_value() {
    let mut history = History::new();
    history.send_ok(0, &[("k", 1, 0), ("k", 2, 1)]);
    history.poll_ok(1, &[("k", &[(1, 2)])]);
    history.invoke(2, "debug-topic-partitions", serde_json::Value::Null);
    history.line(
        2,
        "ok",
        "debug-topic-partitions",
        serde_json::json!({"b1": {"k": [[0, 9], [1, 2]]}, "b2": {"k": [[0, 1]]}}),
        None,
    );
    let report = history.check_default();
    let witness = serde_json::to_value(&report.anomalies[&LostWrite][0]).unwrap();
    assert_eq!(witness["value"], 1);
    assert_eq!(
        witness["replicas"],
        serde_json::json!([{"node": "b2", "offset": 0}])
    );
}
