//! Transactions at a partition leader (KIP-98): a transactional producer's records hold the last
//! stable offset (LSO) at their first offset until the coordinator's marker is written and
//! replicated; `read_committed` fetches read below the LSO and learn the aborted transactions,
//! `read_uncommitted` ones read below the HW as before; a marker waits for the HW like an acks=all
//! produce, and is refused from a deposed coordinator or for a fenced producer epoch; a marker of
//! a bumped epoch fences the producer's older instance.

use crate::log::{
    AbortedTransaction, BatchTransaction, ProducerSequence, ProducerStamp, Record,
    TransactionMarker, TransactionOutcome,
};
use crate::message::{
    Acks, DataError, FetchData, FetchRequest, IsolationLevel, Message, ProducePartition,
    ProduceRequest, WriteTxnMarkersRequest,
};
use crate::node::Node;
use crate::replica::test_support::{key, leader, t0_session, take_sends};
use crate::topic::TopicName;

const PRODUCER_ID: u64 = 7;
const PRODUCER_NODE: u32 = 9;
const COORDINATOR_NODE: u32 = 8;
const CONSUMER_NODE: u32 = 10;

/// An acks=all request of `values` for t/0.
fn request(
    request_id: u64,
    values: &[u64],
    producer: ProducerStamp,
    transaction: BatchTransaction,
) -> ProduceRequest {
    let records: Vec<Record> = values
        .iter()
        .map(|&value| Record { key: None, value })
        .collect();
    ProduceRequest {
        request_id,
        acks: Acks::All,
        partitions: vec![ProducePartition {
            topic: TopicName::new("t"),
            partition: 0,
            records: records.into(),
            producer,
            transaction,
        }],
    }
}

/// The transactional producer's batch of `values`, numbered from `first_sequence` in `epoch`.
fn transactional(
    request_id: u64,
    epoch: u16,
    first_sequence: u32,
    values: &[u64],
) -> ProduceRequest {
    let stamp = ProducerStamp(Some(ProducerSequence {
        producer_id: PRODUCER_ID,
        producer_epoch: epoch,
        batch_first_sequence: first_sequence,
        base_sequence: first_sequence,
        transaction: BatchTransaction::None,
    }));
    request(request_id, values, stamp, BatchTransaction::Data)
}

/// A plain producer's record `value`.
fn plain(request_id: u64, value: u64) -> ProduceRequest {
    request(
        request_id,
        &[value],
        ProducerStamp::NONE,
        BatchTransaction::None,
    )
}

fn marker(
    outcome: TransactionOutcome,
    producer_epoch: u16,
    coordinator_epoch: u64,
) -> TransactionMarker {
    TransactionMarker {
        producer_id: PRODUCER_ID,
        producer_epoch,
        outcome,
        coordinator_epoch,
    }
}

fn write_marker(node: &mut Node, request_id: u64, marker: TransactionMarker) {
    let request = WriteTxnMarkersRequest {
        request_id,
        marker,
        partitions: vec![key(0)],
    };
    node.on_write_txn_markers(COORDINATOR_NODE, request);
}

/// Both followers and the leader's disk hold t/0 up to `end_offset`: the HW moves there.
fn replicate(node: &mut Node, end_offset: u64) {
    let leader_epoch = node.replicas.partitions[&key(0)].leader_epoch;
    node.on_log_durable(key(0), leader_epoch, end_offset);
    for follower in [1, 2] {
        node.on_replica_fetch(follower, t0_session(follower, end_offset, 100));
    }
    assert_eq!(
        node.replicas.partitions[&key(0)].log.high_watermark(),
        end_offset
    );
}

/// One answer for t/0: the request id, and the result.
type Answer = (u64, Result<u64, DataError>);

/// The answers sent to `to` since the last look.
fn answers_to(node: &mut Node, to: u32) -> Vec<Answer> {
    let mut answers = Vec::new();
    for (receiver, message) in take_sends(node) {
        let (request_id, partitions) = match message {
            Message::ProduceResponse(response) => (response.request_id, response.partitions),
            Message::WriteTxnMarkersResponse(response) => {
                (response.request_id, response.partitions)
            }
            _ => continue,
        };
        if receiver == to {
            let [answer] = partitions.as_slice() else {
                panic!("one partition per request: {partitions:?}");
            };
            answers.push((request_id, answer.result.clone()));
        }
    }
    answers
}

/// A consumer's fetch of t/0 from offset 0, and the data it is answered with at once (`None` if
/// the fetch was parked).
fn fetch(node: &mut Node, isolation: IsolationLevel) -> Option<FetchData> {
    take_sends(node);
    let request = FetchRequest {
        request_id: 50,
        topic: TopicName::new("t"),
        partition: 0,
        current_leader_epoch: None,
        fetch_offset: 0,
        records_max: 100,
        isolation,
    };
    node.on_fetch(CONSUMER_NODE, request);
    take_sends(node)
        .into_iter()
        .find_map(|(to, message)| match message {
            Message::FetchResponse(response) if to == CONSUMER_NODE => {
                Some(response.result.expect("a leader's answer"))
            }
            _ => None,
        })
}

fn offsets(data: &FetchData) -> Vec<u64> {
    data.batches
        .iter()
        .flat_map(|batch| batch.base_offset..batch.end_offset())
        .collect()
}

fn last_stable_offset(node: &Node) -> u64 {
    node.replicas.partitions[&key(0)].log.last_stable_offset()
}

#[test]
fn an_open_transaction_holds_the_stable_offset_until_its_marker_is_replicated() {
    let mut node = leader();
    node.on_produce(PRODUCER_NODE, plain(1, 10));
    node.on_produce(PRODUCER_NODE, transactional(2, 0, 0, &[11, 12]));
    node.on_produce(PRODUCER_NODE, plain(3, 13));
    replicate(&mut node, 4);
    assert_eq!(
        answers_to(&mut node, PRODUCER_NODE),
        [(1, Ok(0)), (2, Ok(1)), (3, Ok(3))]
    );
    assert_eq!(last_stable_offset(&node), 1, "the transaction starts at 1");

    let uncommitted = fetch(&mut node, IsolationLevel::ReadUncommitted).expect("data below the HW");
    assert_eq!(offsets(&uncommitted), [0, 1, 2, 3]);
    let committed = fetch(&mut node, IsolationLevel::ReadCommitted).expect("data below the LSO");
    assert_eq!(offsets(&committed), [0], "only below the LSO");

    write_marker(&mut node, 4, marker(TransactionOutcome::Commit, 1, 0));
    assert_eq!(
        last_stable_offset(&node),
        1,
        "the marker is not replicated yet"
    );
    assert!(
        answers_to(&mut node, COORDINATOR_NODE).is_empty(),
        "waits for the HW"
    );
    replicate(&mut node, 5);
    assert_eq!(answers_to(&mut node, COORDINATOR_NODE), [(4, Ok(4))]);
    assert_eq!(last_stable_offset(&node), 5);
    let committed = fetch(&mut node, IsolationLevel::ReadCommitted).expect("data below the LSO");
    assert_eq!(offsets(&committed), [0, 1, 2, 3, 4]);
    assert!(committed.aborted.is_empty());
    let last = committed.batches.last().expect("batches");
    assert!(
        last.is_control() && last.base_offset == 4,
        "the marker at 4"
    );
    node.check_produce_invariants();
}

#[test]
fn a_read_committed_fetch_of_an_aborted_transaction_lists_it() {
    let mut node = leader();
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10, 11]));
    write_marker(&mut node, 2, marker(TransactionOutcome::Abort, 1, 0));
    replicate(&mut node, 3);
    let committed = fetch(&mut node, IsolationLevel::ReadCommitted).expect("data below the LSO");
    assert_eq!(offsets(&committed), [0, 1, 2]);
    assert_eq!(
        committed.aborted.as_slice(),
        [AbortedTransaction {
            producer_id: PRODUCER_ID,
            first_offset: 0
        }]
    );
    let uncommitted = fetch(&mut node, IsolationLevel::ReadUncommitted).expect("data");
    assert!(
        uncommitted.aborted.is_empty(),
        "read_uncommitted is told nothing"
    );
}

#[test]
fn a_parked_read_committed_fetch_is_answered_when_the_stable_offset_moves() {
    let mut node = leader();
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10]));
    replicate(&mut node, 1);
    assert!(
        fetch(&mut node, IsolationLevel::ReadCommitted).is_none(),
        "parked: nothing is stable"
    );
    write_marker(&mut node, 2, marker(TransactionOutcome::Commit, 1, 0));
    replicate(&mut node, 2);
    let answered = take_sends(&mut node)
        .into_iter()
        .find_map(|(to, message)| match message {
            Message::FetchResponse(response) if to == CONSUMER_NODE => Some(*response),
            _ => None,
        });
    let data = answered.expect("answered").result.expect("data");
    assert_eq!(offsets(&data), [0, 1]);
}

#[test]
fn markers_from_a_deposed_coordinator_or_a_fenced_epoch_are_refused() {
    let mut node = leader();
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10]));
    write_marker(&mut node, 2, marker(TransactionOutcome::Abort, 1, 5));
    replicate(&mut node, 2);
    assert_eq!(answers_to(&mut node, COORDINATOR_NODE), [(2, Ok(1))]);

    write_marker(&mut node, 3, marker(TransactionOutcome::Commit, 1, 4));
    assert_eq!(
        answers_to(&mut node, COORDINATOR_NODE),
        [(
            3,
            Err(DataError::TransactionCoordinatorFenced { current: 5 })
        )]
    );
    write_marker(&mut node, 4, marker(TransactionOutcome::Commit, 0, 5));
    assert_eq!(
        answers_to(&mut node, COORDINATOR_NODE),
        [(4, Err(DataError::InvalidProducerEpoch { current: 1 }))]
    );
    assert_eq!(
        node.replicas.partitions[&key(0)].log.log_end_offset(),
        2,
        "nothing appended"
    );
}

/// A leader (with `config`) whose producer committed a transaction of epoch 0 with the marker
/// of epoch 1 (KIP-890 part 2), then opened the next one in epoch 1 with record 11; then a late
/// copy of the first transaction's commit marker arrives (from a deposed coordinator replaying
/// its PrepareCommit, campaign 110), with a newer coordinator epoch. Returns the answers given
/// at once, and the log end offset after it.
fn late_marker_during_the_next_transaction(config: crate::ClusterConfig) -> (Vec<Answer>, u64) {
    let mut node = crate::replica::test_support::node_configured(
        config,
        crate::replica::test_support::leader_role,
    );
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10]));
    write_marker(&mut node, 2, marker(TransactionOutcome::Commit, 1, 5));
    node.on_produce(PRODUCER_NODE, transactional(3, 1, 0, &[11]));
    replicate(&mut node, 3);
    take_sends(&mut node);
    write_marker(&mut node, 4, marker(TransactionOutcome::Commit, 1, 6));
    let answers = answers_to(&mut node, COORDINATOR_NODE);
    (
        answers,
        node.replicas.partitions[&key(0)].log.log_end_offset(),
    )
}

#[test]
fn a_late_marker_in_the_epoch_of_the_open_transaction_is_refused() {
    let (answers, log_end_offset) =
        late_marker_during_the_next_transaction(crate::ClusterConfig::default());
    assert_eq!(
        answers,
        [(4, Err(DataError::InvalidProducerEpoch { current: 1 }))],
        "it would commit record 11 with the first transaction's outcome"
    );
    assert_eq!(log_end_offset, 3, "nothing appended");
    let mut config = crate::ClusterConfig::default();
    config.bugs.end_transactions_without_epoch_bump = true;
    let (answers, log_end_offset) = late_marker_during_the_next_transaction(config);
    assert!(answers.is_empty(), "waits for the HW: {answers:?}");
    assert_eq!(
        log_end_offset, 4,
        "zoo 8: markers carry the records' epoch, so the partition takes it"
    );
}

/// A leader (with `config`) that took the zombie's record 10 in epoch 0, then the abort marker
/// of epoch 1 that fenced it (a new instance took the transactional id), replicated; then the
/// zombie's next record, 11, in epoch 0.
fn zombie_writes_after_its_fence(config: crate::ClusterConfig) -> Node {
    let mut node = crate::replica::test_support::node_configured(
        config,
        crate::replica::test_support::leader_role,
    );
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10]));
    write_marker(&mut node, 2, marker(TransactionOutcome::Abort, 1, 0));
    replicate(&mut node, 2);
    take_sends(&mut node);
    node.on_produce(PRODUCER_NODE, transactional(3, 0, 1, &[11]));
    node
}

#[test]
fn a_marker_of_a_bumped_epoch_fences_the_zombie_producer() {
    let mut node = zombie_writes_after_its_fence(crate::ClusterConfig::default());
    assert_eq!(
        answers_to(&mut node, PRODUCER_NODE),
        [(3, Err(DataError::InvalidProducerEpoch { current: 1 }))]
    );
    node.on_produce(PRODUCER_NODE, transactional(4, 1, 0, &[12]));
    replicate(&mut node, 3);
    assert_eq!(answers_to(&mut node, PRODUCER_NODE), [(4, Ok(2))]);
}

#[test]
fn a_produce_may_not_carry_a_marker_or_unstamped_transactional_records() {
    let mut node = leader();
    let mut unstamped = plain(1, 10);
    unstamped.partitions[0].transaction = BatchTransaction::Data;
    let mut forged = plain(2, 11);
    forged.partitions[0].transaction = BatchTransaction::Marker;
    node.on_produce(PRODUCER_NODE, unstamped);
    node.on_produce(PRODUCER_NODE, forged);
    let answers = answers_to(&mut node, PRODUCER_NODE);
    assert!(
        answers
            .iter()
            .all(|(_, result)| matches!(result, Err(DataError::InvalidBatch { .. }))),
        "{answers:?}"
    );
    assert_eq!(answers.len(), 2);
    assert_eq!(node.replicas.partitions[&key(0)].log.log_end_offset(), 0);
}

/// Zoo 7 at the partitions: the fenced zombie's record is appended after the abort marker, in
/// a transaction no coordinator knows, which holds the last stable offset back.
#[test]
fn zoo_7_accepts_a_batch_from_a_fenced_producer_epoch() {
    let mut config = crate::ClusterConfig::default();
    config.bugs.accept_stale_producer_epoch = true;
    let mut node = zombie_writes_after_its_fence(config);
    replicate(&mut node, 3);
    assert_eq!(answers_to(&mut node, PRODUCER_NODE), [(3, Ok(2))]);
    assert_eq!(
        last_stable_offset(&node),
        2,
        "the zombie's record opens a transaction after the abort marker"
    );
}

#[test]
fn zoo_10_serves_read_committed_up_to_the_high_watermark() {
    let mut config = crate::ClusterConfig::default();
    config.bugs.last_stable_offset_at_high_watermark = true;
    let mut node = crate::replica::test_support::node_configured(
        config,
        crate::replica::test_support::leader_role,
    );
    node.on_produce(PRODUCER_NODE, transactional(1, 0, 0, &[10, 11]));
    replicate(&mut node, 2);
    assert_eq!(
        last_stable_offset(&node),
        0,
        "the log knows the transaction is open"
    );
    let committed = fetch(&mut node, IsolationLevel::ReadCommitted).expect("served anyway");
    assert_eq!(
        offsets(&committed),
        [0, 1],
        "records of an open transaction"
    );
}
