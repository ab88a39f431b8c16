//! Each data-plane perturbation site ([`crate::perturb`]) does what it says when it fires, and
//! what it does is legal: a retriable refusal before any append, a shorter read that still
//! starts at the fetch offset, an empty answer, one more sync, an ISR request that drops a
//! member that is behind, an unknown outcome for a batch that may yet commit. (The controller's
//! site is tested with the election itself, in
//! `metadata::controller` and the metadata property test.)

use crate::message::{Acks, DataError, Message, ReplicaFetchRequest, ReplicaFetchResponse};
use crate::node::{Node, Output};
use crate::perturb::Site;
use crate::replica::ReplicaRole;
use crate::replica::test_support::{key, leader, produce_request, t0_session, take_sends};

const SECOND_NS: u64 = 1_000_000_000;

fn produce_once(node: &mut Node, request_id: u64) {
    node.on_produce(9, produce_request(request_id, Acks::Leader, &[0]));
}

/// A session of follower 1 for t/0 alone, from `fetch_offset`.
fn session(fetch_offset: u64, records_max: u64) -> ReplicaFetchRequest {
    t0_session(1, fetch_offset, records_max)
}

fn session_answers(node: &mut Node) -> Vec<ReplicaFetchResponse> {
    take_sends(node)
        .into_iter()
        .filter_map(|(_, message)| match message {
            Message::ReplicaFetchResponse(response) => Some(response),
            _ => None,
        })
        .collect()
}

fn syncs_issued(node: &mut Node) -> usize {
    node.disk.issue_reserved_sync(&mut node.effects.output);
    std::mem::take(&mut node.effects.output)
        .iter()
        .filter(|output| matches!(output, Output::DiskSync { .. }))
        .count()
}

#[test]
fn a_produce_refused_as_busy_is_a_retriable_error_before_any_append() {
    let mut node = leader();
    node.perturbations.fire_always(Site::ProduceRefusedBusy);
    produce_once(&mut node, 7);
    let sends = take_sends(&mut node);
    let [(9, Message::ProduceResponse(response))] = sends.as_slice() else {
        panic!("one answer to the producer, got {sends:?}");
    };
    let error = response.partitions[0].result.clone().expect_err("refused");
    assert_eq!(error, DataError::ProduceInFlightLimit);
    assert!(error.is_retriable() && !error.is_indeterminate());
    assert_eq!(node.replicas.partitions[&key(0)].log.log_end_offset(), 0);
    assert_eq!(node.perturbations.take_fired().count(), 1);
}

#[test]
fn a_fetch_served_fewer_records_still_starts_at_its_offset() {
    let mut node = leader();
    for request_id in 0..10 {
        produce_once(&mut node, request_id);
    }
    let unperturbed = {
        node.on_replica_fetch(1, session(3, 4));
        session_answers(&mut node)
    };
    node.perturbations.fire_always(Site::FetchFewerRecords);
    node.on_replica_fetch(1, session(3, 4));
    let perturbed = session_answers(&mut node);
    let records = |answers: &[ReplicaFetchResponse]| {
        let data = answers[0].partitions[0].result.as_ref().expect("data");
        assert_eq!(
            data.batches[0].base_offset, 3,
            "a read starts at its offset"
        );
        data.batches
            .iter()
            .map(|batch| batch.record_count())
            .sum::<u64>()
    };
    assert_eq!(records(&unperturbed), 4);
    assert!(
        (1..=2).contains(&records(&perturbed)),
        "at most half of records_max, at least one batch"
    );
}

#[test]
fn a_fetch_with_nothing_new_is_answered_at_once_instead_of_parked() {
    let mut node = leader();
    node.on_replica_fetch(1, session(0, 100));
    assert!(session_answers(&mut node).is_empty(), "parked");
    assert_eq!(node.replicas.parked_sessions.len(), 1);

    node.perturbations.fire_always(Site::FetchAnsweredEarly);
    node.on_replica_fetch(1, session(0, 100));
    let answers = session_answers(&mut node);
    assert_eq!(answers.len(), 1, "answered at once");
    assert!(answers[0].partitions.is_empty(), "with nothing new");
    assert!(node.replicas.parked_sessions.is_empty());
}

#[test]
fn partition_data_syncs_without_waiting_for_the_sync_in_flight() {
    let mut node = leader();
    produce_once(&mut node, 1);
    assert_eq!(syncs_issued(&mut node), 1);
    produce_once(&mut node, 2);
    assert_eq!(
        syncs_issued(&mut node),
        0,
        "group commit: waits for the one in flight"
    );

    node.perturbations.fire_always(Site::SyncWithoutGroupCommit);
    produce_once(&mut node, 3);
    assert_eq!(
        syncs_issued(&mut node),
        1,
        "a second sync while one is in flight"
    );
}

#[test]
fn a_member_behind_the_log_end_leaves_the_isr_early_and_no_other() {
    let now_ns = 5 * SECOND_NS;
    let build = || {
        let mut node = leader();
        node.effects.now_ns = now_ns;
        node.raft.leader = Some(1);
        node.broker.broker_epoch = Some(1);
        produce_once(&mut node, 1);
        let ReplicaRole::Leader(leader) =
            &mut node.replicas.partitions.get_mut(&key(0)).unwrap().role
        else {
            unreachable!("leads")
        };
        for (follower, log_end_offset) in [(1, 1), (2, 0)] {
            let progress = leader.followers.get_mut(&follower).unwrap();
            progress.log_end_offset = Some(log_end_offset);
            progress.last_caught_up_ns = now_ns;
        }
        take_sends(&mut node);
        node
    };
    let isr_requests = |node: &mut Node| -> Vec<Vec<u32>> {
        node.tick_leader(&key(0));
        take_sends(node)
            .into_iter()
            .filter_map(|(_, message)| match message {
                Message::AlterPartition(request) => Some(request.isr),
                _ => None,
            })
            .collect()
    };
    assert!(
        isr_requests(&mut build()).is_empty(),
        "both within the lag limit"
    );

    let mut node = build();
    node.perturbations.fire_always(Site::IsrShrunkEarly);
    assert_eq!(
        isr_requests(&mut node),
        vec![vec![0, 1]],
        "follower 2, behind, leaves; follower 1, caught up, stays"
    );
}

#[test]
fn an_acks_all_produce_waiting_for_its_isr_times_out_early_with_an_unknown_outcome() {
    let produce_all = |node: &mut Node| {
        node.on_produce(9, produce_request(7, Acks::All, &[0]));
        take_sends(node);
    };
    let answers = |node: &mut Node| -> Vec<DataError> {
        node.expire_pending_produces(&key(0));
        take_sends(node)
            .into_iter()
            .filter_map(|(_, message)| match message {
                Message::ProduceResponse(response) => response.partitions[0].result.clone().err(),
                _ => None,
            })
            .collect()
    };
    let mut node = leader();
    produce_all(&mut node);
    assert!(answers(&mut node).is_empty(), "waits for followers 1 and 2");

    node.perturbations.fire_always(Site::ProduceTimedOutEarly);
    let errors = answers(&mut node);
    assert_eq!(errors, [DataError::RequestTimedOut]);
    assert!(
        errors[0].is_indeterminate(),
        "the batch is appended: it may yet commit"
    );
    assert_eq!(node.replicas.partitions[&key(0)].log.log_end_offset(), 1);
}
