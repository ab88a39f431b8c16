//! The transaction coordinator driven by hand inside one node: node 0 leads the one partition of
//! the transaction state topic (followers 1 and 2 catch up when a test says so), and its metadata
//! names `t/0`, led by broker 1, and `t/1`, led by broker 2, whose answers to markers the tests
//! write. Each test says which guarantee it traps.

use std::sync::Arc;

use crate::config::BugsConfig;
use crate::group::{GroupsConfig, OFFSETS_TOPIC};
use crate::log::{PartitionLog, TransactionOutcome};
use crate::message::txn::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitTxnProducerIdRequest,
    TxnError,
};
use crate::message::{
    DataError, Message, ProducePartitionResult, ReplicaFetchPartition, ReplicaFetchRequest,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use crate::metadata::image::{PartitionState, TopicState};
use crate::node::{Node, Observation, Output};
use crate::replica::Replica;
use crate::replica::test_support::{follower_role, leader_role};
use crate::storage::PartitionKey;
use crate::topic::TopicName;
use crate::txn::coordinator::state_topic;
use crate::txn::records::{encode_transition, transaction_key};
use crate::txn::state::{TransactionMetadata, TransactionState};
use crate::txn::{TRANSACTION_STATE_TOPIC, TransactionsConfig};
use crate::{ClusterConfig, Storage};

const LEADER_EPOCH: u64 = 3;
const BROKER_EPOCH: u64 = 5;
const CLIENT: u32 = 9;
const ID: &str = "payments-1";
const TIMEOUT_NS: u64 = 10_000_000_000;
/// The first producer id node 0 hands out under [`BROKER_EPOCH`].
const PRODUCER_ID: u64 = BROKER_EPOCH << 20;

use TransactionOutcome::{Abort, Commit};

fn cluster_config(bugs: BugsConfig) -> ClusterConfig {
    let mut config = ClusterConfig::default().with_transactions(TransactionsConfig::new(1, 3));
    config.bugs = bugs;
    config
}

fn empty_log() -> PartitionLog {
    PartitionLog::new(ClusterConfig::default().limits.log)
}

fn state_key() -> PartitionKey {
    (state_topic(), 0)
}

/// Node 0 leading the state partition in `leader_epoch` over `log` (see the module docs).
fn coordinator_over(log: PartitionLog, leader_epoch: u64, bugs: BugsConfig) -> Node {
    coordinator_configured(cluster_config(bugs), log, leader_epoch)
}

fn coordinator_configured(config: ClusterConfig, log: PartitionLog, leader_epoch: u64) -> Node {
    let mut node = Node::new(Arc::new(config), 0, &Storage::default());
    node.broker.broker_epoch = Some(BROKER_EPOCH);
    node.broker.broker_epoch_highest = BROKER_EPOCH;
    let led_by = |leader| PartitionState {
        replicas: vec![0, 1, 2],
        isr: vec![0, 1, 2],
        leader: Some(leader),
        leader_epoch: 1,
        partition_epoch: 1,
    };
    let topic = TopicState {
        min_insync_replicas: 1,
        partitions: vec![led_by(1), led_by(2)],
    };
    node.image.topics.insert("t".to_owned(), topic);
    if let Some(groups) = &node.config.groups {
        let offsets = TopicState {
            min_insync_replicas: 1,
            partitions: (0..groups.offsets_partitions).map(|_| led_by(2)).collect(),
        };
        node.image.topics.insert(OFFSETS_TOPIC.to_owned(), offsets);
    }
    let replica = Replica::new(log, leader_epoch, leader_role());
    node.replicas.partitions.insert(state_key(), replica);
    settle(&mut node);
    node
}

fn coordinator() -> Node {
    coordinator_over(empty_log(), LEADER_EPOCH, BugsConfig::default())
}

/// The end of a step: the messages the node sent itself, and the coordinators' reconciliation.
fn settle(node: &mut Node) {
    node.drain_loopback();
    node.reconcile_transaction_coordinators();
    node.drain_loopback();
    node.check_transaction_invariants();
}

fn deliver(node: &mut Node, from: u32, message: Message) {
    node.on_message(from, message);
    settle(node);
}

/// The leader's disk and both followers hold the state partition up to `end_offset`.
fn replicate_to(node: &mut Node, end_offset: u64) {
    let leader_epoch = node.replicas.partitions[&state_key()].leader_epoch;
    node.on_log_durable(state_key(), leader_epoch, end_offset);
    for follower in [1, 2] {
        let request = ReplicaFetchRequest {
            request_id: 1,
            replica: follower,
            partitions: vec![ReplicaFetchPartition {
                topic: state_topic(),
                partition: 0,
                current_leader_epoch: leader_epoch,
                fetch_offset: end_offset,
                high_watermark: 0,
            }],
            records_max: 100,
        };
        node.on_replica_fetch(follower, request);
    }
    settle(node);
    assert_eq!(state_log(node).high_watermark(), end_offset);
}

/// The state partition's high watermark reaches its log end.
fn replicate(node: &mut Node) {
    let end_offset = state_log(node).log_end_offset();
    replicate_to(node, end_offset);
}

fn state_log(node: &Node) -> &PartitionLog {
    &node.replicas.partitions[&state_key()].log
}

fn state_of(node: &Node) -> Option<TransactionMetadata> {
    let coordinator = &node.transactions.partitions[&0];
    let transaction = coordinator.transactions.get(&transaction_key(ID));
    transaction.map(|transaction| transaction.metadata.clone())
}

/// What the node sent (not to its followers) and observed since the last look.
#[derive(Debug, Default)]
struct Sent {
    to_client: Vec<Message>,
    markers: Vec<(u32, WriteTxnMarkersRequest)>,
    observations: Vec<Observation>,
}

fn take_sent(node: &mut Node) -> Sent {
    let mut sent = Sent::default();
    for output in std::mem::take(&mut node.effects.output) {
        match output {
            Output::Send {
                to: CLIENT,
                message,
            } => sent.to_client.push(message),
            Output::Send {
                to,
                message: Message::WriteTxnMarkers(request),
            } => sent.markers.push((to, request)),
            Output::Observe(observation) => sent.observations.push(observation),
            _ => {}
        }
    }
    sent
}

fn init_request(request_id: u64, timeout_ns: u64) -> Message {
    Message::InitTxnProducerId(InitTxnProducerIdRequest {
        request_id,
        transactional_id: ID.to_owned(),
        transaction_timeout_ns: timeout_ns,
    })
}

fn add_request(
    request_id: u64,
    producer_id: u64,
    epoch: u16,
    partitions: &[(&str, u32)],
) -> Message {
    Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        request_id,
        transactional_id: ID.to_owned(),
        producer_id,
        producer_epoch: epoch,
        partitions: partitions
            .iter()
            .map(|(topic, partition)| (TopicName::new(topic), *partition))
            .collect(),
    })
}

fn end_request(request_id: u64, epoch: u16, outcome: TransactionOutcome) -> Message {
    Message::EndTxn(EndTxnRequest {
        request_id,
        transactional_id: ID.to_owned(),
        producer_id: PRODUCER_ID,
        producer_epoch: epoch,
        outcome,
    })
}

/// The one answer the client got since the last look (`(0, 0)` for AddPartitionsToTxn);
/// the node's other outputs stay for [`take_sent`].
fn answer(node: &mut Node) -> Result<(u64, u16), TxnError> {
    let (to_client, others): (Vec<Output>, Vec<Output>) = std::mem::take(&mut node.effects.output)
        .into_iter()
        .partition(|output| matches!(output, Output::Send { to: CLIENT, .. }));
    node.effects.output = others;
    let [
        Output::Send {
            message: answer, ..
        },
    ] = &to_client[..]
    else {
        panic!("one answer expected: {to_client:?}");
    };
    match answer {
        Message::InitTxnProducerIdResponse(response) => response.result.clone(),
        Message::AddPartitionsToTxnResponse(response) => response.result.clone().map(|()| (0, 0)),
        Message::AddOffsetsToTxnResponse(response) => response.result.clone().map(|()| (0, 0)),
        Message::EndTxnResponse(response) => response.result.clone(),
        other => panic!("not a coordinator's answer: {other:?}"),
    }
}

/// Sends `message` and replicates what it appended: the answer.
fn replicated_answer(node: &mut Node, message: Message) -> Result<(u64, u16), TxnError> {
    deliver(node, CLIENT, message);
    replicate(node);
    answer(node)
}

/// InitProducerId and AddPartitionsToTxn of t/0 and t/1, replicated: open at epoch 0.
fn open_transaction(node: &mut Node) {
    let init = replicated_answer(node, init_request(1, TIMEOUT_NS));
    assert_eq!(init, Ok((PRODUCER_ID, 0)));
    let added = replicated_answer(node, add_request(2, PRODUCER_ID, 0, &[("t", 1), ("t", 0)]));
    assert_eq!(added, Ok((0, 0)));
}

/// [`open_transaction`], then its commit answered: the markers sent to the partitions' leaders.
fn committing(node: &mut Node) -> Vec<(u32, WriteTxnMarkersRequest)> {
    open_transaction(node);
    let committed = replicated_answer(node, end_request(3, 0, Commit));
    assert_eq!(committed, Ok((PRODUCER_ID, 1)), "the next epoch");
    take_sent(node).markers
}

/// A partition leader's answer to `request`: `result` for each partition.
fn acknowledge(
    node: &mut Node,
    (leader, request): &(u32, WriteTxnMarkersRequest),
    result: Result<u64, DataError>,
) {
    let partitions = request
        .partitions
        .iter()
        .map(|(topic, partition)| ProducePartitionResult {
            topic: topic.clone(),
            partition: *partition,
            result: result.clone(),
        })
        .collect();
    let response = WriteTxnMarkersResponse {
        request_id: request.request_id,
        partitions,
    };
    deliver(node, *leader, Message::WriteTxnMarkersResponse(response));
}

/// Who was sent which marker: (leader, partitions, outcome, producer epoch, coordinator epoch).
fn summary(
    markers: &[(u32, WriteTxnMarkersRequest)],
) -> Vec<(u32, Vec<u32>, TransactionOutcome, u16, u64)> {
    markers
        .iter()
        .map(|(leader, request)| {
            let partitions = request.partitions.iter().map(|(_, p)| *p).collect();
            let marker = request.marker;
            assert_eq!(marker.producer_id, PRODUCER_ID);
            (
                *leader,
                partitions,
                marker.outcome,
                marker.producer_epoch,
                marker.coordinator_epoch,
            )
        })
        .collect()
}

fn coordinator_epoch(leader_epoch: u64, attempt: u64) -> u64 {
    leader_epoch << 32 | attempt
}

#[test]
fn a_commit_is_answered_once_replicated_then_marked_everywhere_and_completed() {
    let mut node = coordinator();
    let started = take_sent(&mut node).observations;
    assert_eq!(
        started,
        [Observation::TransactionCoordinatorStarted { partition: 0 }]
    );
    deliver(&mut node, CLIENT, init_request(1, TIMEOUT_NS));
    assert_eq!(
        state_log(&node).log_end_offset(),
        4,
        "one batch: header, timeout, end and next producer"
    );
    assert!(
        take_sent(&mut node).to_client.is_empty(),
        "not replicated yet"
    );
    replicate(&mut node);
    assert_eq!(answer(&mut node), Ok((PRODUCER_ID, 0)));
    let added = replicated_answer(
        &mut node,
        add_request(2, PRODUCER_ID, 0, &[("t", 1), ("t", 0)]),
    );
    assert_eq!(added, Ok((0, 0)));

    deliver(&mut node, CLIENT, end_request(3, 0, Commit));
    let before = take_sent(&mut node);
    assert!(
        before.to_client.is_empty() && before.markers.is_empty(),
        "neither answered nor marked before the decision is replicated"
    );
    replicate(&mut node);
    assert_eq!(
        answer(&mut node),
        Ok((PRODUCER_ID, 1)),
        "the commit is answered with the next epoch"
    );
    let decided = take_sent(&mut node);
    assert_eq!(
        summary(&decided.markers),
        [
            (1, vec![0], Commit, 1, coordinator_epoch(LEADER_EPOCH, 0)),
            (2, vec![1], Commit, 1, coordinator_epoch(LEADER_EPOCH, 1)),
        ],
        "one request per leader, in the next epoch, which fences the transaction's"
    );
    assert_eq!(
        state_of(&node).map(|state| state.state),
        Some(TransactionState::PrepareCommit)
    );

    acknowledge(&mut node, &decided.markers[0], Ok(10));
    let end_offset = state_log(&node).log_end_offset();
    acknowledge(&mut node, &decided.markers[1], Ok(20));
    assert_eq!(
        state_log(&node).log_end_offset(),
        end_offset + 4,
        "the completion is written once every marker is"
    );
    replicate(&mut node);
    let completed = take_sent(&mut node).observations;
    assert!(completed.contains(&Observation::TransactionCompleted {
        producer_id: PRODUCER_ID,
        producer_epoch: 1,
        outcome: Commit,
    }));
    let state = state_of(&node).expect("known");
    assert_eq!(state.state, TransactionState::CompleteCommit);
    assert!(state.partitions.is_empty());
}

#[test]
fn a_retried_end_txn_is_answered_without_a_write_and_the_other_outcome_is_refused() {
    let mut node = coordinator();
    let markers = committing(&mut node);
    let end_offset = state_log(&node).log_end_offset();
    deliver(&mut node, CLIENT, end_request(4, 0, Commit));
    assert_eq!(
        answer(&mut node),
        Ok((PRODUCER_ID, 1)),
        "a retry while marking"
    );
    deliver(&mut node, CLIENT, end_request(5, 0, Abort));
    assert_eq!(answer(&mut node), Err(TxnError::InvalidTxnState));
    assert_eq!(state_log(&node).log_end_offset(), end_offset, "no write");
    for request in &markers {
        acknowledge(&mut node, request, Ok(1));
    }
    replicate(&mut node);
    deliver(&mut node, CLIENT, end_request(6, 0, Commit));
    assert_eq!(
        answer(&mut node),
        Ok((PRODUCER_ID, 1)),
        "a retry once complete"
    );
    assert_eq!(
        take_sent(&mut node).markers.len(),
        0,
        "no markers for a retry"
    );
}

/// A transaction committed under `end_epoch` (0 committed, its markers written), the producer's
/// next one open on t/0 under the epoch the commit handed over, and then the commit's first
/// copy, overtaken by its retry on the network, reaching the coordinator: its answer, and the
/// state it leaves.
fn a_delayed_commit_copy_in_the_next_transaction(
    bugs: BugsConfig,
) -> (u16, Result<(u64, u16), TxnError>, TransactionMetadata) {
    let mut node = coordinator_over(empty_log(), LEADER_EPOCH, bugs);
    open_transaction(&mut node);
    let committed = replicated_answer(&mut node, end_request(3, 0, Commit));
    let (_, next_epoch) = committed.expect("committed");
    for request in &take_sent(&mut node).markers {
        acknowledge(&mut node, request, Ok(1));
    }
    replicate(&mut node);
    let next = add_request(4, PRODUCER_ID, next_epoch, &[("t", 0)]);
    assert_eq!(replicated_answer(&mut node, next), Ok((0, 0)));
    deliver(&mut node, CLIENT, end_request(2, 0, Commit));
    replicate(&mut node);
    let answer = answer(&mut node);
    (next_epoch, answer, state_of(&node).expect("known"))
}

/// KIP-890 part 2: the commit handed the producer epoch 1, so the first transaction's delayed
/// EndTxn (epoch 0) is fenced and the next transaction stays open.
#[test]
fn a_delayed_copy_of_the_last_end_txn_is_fenced_by_the_epoch_the_end_handed_over() {
    let (next_epoch, answer, state) =
        a_delayed_commit_copy_in_the_next_transaction(BugsConfig::default());
    assert_eq!(next_epoch, 1);
    assert_eq!(answer, Err(TxnError::ProducerFenced));
    assert_eq!(
        (state.state, state.producer_epoch),
        (TransactionState::Ongoing, 1),
        "the next transaction is still open"
    );
}

/// Zoo 8's switch: both transactions run in epoch 0, so the delayed copy commits the next
/// transaction before any of its records was sent.
#[test]
fn zoo_8_a_delayed_copy_of_the_last_end_txn_ends_the_next_transaction() {
    let bugs = BugsConfig {
        end_transactions_without_epoch_bump: true,
        ..BugsConfig::default()
    };
    let (next_epoch, answer, state) = a_delayed_commit_copy_in_the_next_transaction(bugs);
    assert_eq!(next_epoch, 0);
    assert_eq!(answer, Ok((PRODUCER_ID, 0)));
    assert_eq!(state.state, TransactionState::PrepareCommit);
}

/// When a transaction's end would reach the last epoch of its producer id, the producer goes on
/// under a new id: the markers fence the old id's last epoch, the answer hands over the new id at
/// epoch 0, the completion moves the transactional id to it, and a retry of the EndTxn under the
/// old id is still answered.
#[test]
fn an_end_at_the_last_epoch_hands_the_producer_a_new_producer_id() {
    let old_id = PRODUCER_ID + 100; // Written by an earlier coordinator: never handed out here.
    let last_but_one = u16::MAX - 1;
    let empty = TransactionMetadata {
        producer_id: old_id,
        producer_epoch: last_but_one - 1,
        state: TransactionState::Empty,
        partitions: Vec::new(),
        timeout_ns: TIMEOUT_NS,
        ended_by: None,
        next_producer_id: None,
    };
    let mut log = empty_log();
    let records = encode_transition(transaction_key(ID), &empty);
    log.append_as_leader(LEADER_EPOCH, records)
        .expect("appended");
    let mut node = coordinator_over(log, LEADER_EPOCH, BugsConfig::default());
    replicate(&mut node);
    let init = replicated_answer(&mut node, init_request(1, TIMEOUT_NS));
    assert_eq!(init, Ok((old_id, last_but_one)));
    let add = add_request(2, old_id, last_but_one, &[("t", 0)]);
    assert_eq!(replicated_answer(&mut node, add), Ok((0, 0)));
    let end = |request_id| {
        Message::EndTxn(EndTxnRequest {
            request_id,
            transactional_id: ID.to_owned(),
            producer_id: old_id,
            producer_epoch: last_but_one,
            outcome: Commit,
        })
    };
    let new_id = PRODUCER_ID; // The first id this node hands out.
    assert_eq!(replicated_answer(&mut node, end(3)), Ok((new_id, 0)));
    let markers = take_sent(&mut node).markers;
    assert!(!markers.is_empty());
    for sent in &markers {
        let marker = sent.1.marker;
        assert_eq!(
            (marker.producer_id, marker.producer_epoch),
            (old_id, u16::MAX)
        );
        acknowledge(&mut node, sent, Ok(1));
    }
    replicate(&mut node);
    let completed = state_of(&node).expect("known");
    assert_eq!(completed.state, TransactionState::CompleteCommit);
    assert_eq!(
        (completed.producer_id, completed.producer_epoch),
        (new_id, 0)
    );
    deliver(&mut node, CLIENT, end(4));
    assert_eq!(
        answer(&mut node),
        Ok((new_id, 0)),
        "a retry under the old id"
    );
    let next = add_request(5, new_id, 0, &[("t", 1)]);
    assert_eq!(replicated_answer(&mut node, next), Ok((0, 0)));
}

#[test]
fn an_older_epoch_or_another_producer_id_is_fenced() {
    let mut node = coordinator();
    assert_eq!(
        replicated_answer(&mut node, init_request(1, TIMEOUT_NS)),
        Ok((PRODUCER_ID, 0))
    );
    assert_eq!(
        replicated_answer(&mut node, init_request(2, TIMEOUT_NS)),
        Ok((PRODUCER_ID, 1)),
        "a new instance bumps the epoch"
    );
    deliver(
        &mut node,
        CLIENT,
        add_request(3, PRODUCER_ID, 0, &[("t", 0)]),
    );
    assert_eq!(
        answer(&mut node),
        Err(TxnError::ProducerFenced),
        "the zombie"
    );
    deliver(
        &mut node,
        CLIENT,
        add_request(4, PRODUCER_ID + 1, 1, &[("t", 0)]),
    );
    assert_eq!(answer(&mut node), Err(TxnError::InvalidProducerIdMapping));
    deliver(&mut node, CLIENT, end_request(5, 0, Commit));
    assert_eq!(answer(&mut node), Err(TxnError::ProducerFenced));
    assert_eq!(
        state_of(&node).map(|state| (state.producer_epoch, state.state)),
        Some((1, TransactionState::Empty))
    );
}

#[test]
fn init_aborts_the_open_transaction_under_a_bumped_epoch_and_its_retry_succeeds() {
    let mut node = coordinator();
    open_transaction(&mut node);
    let aborting = replicated_answer(&mut node, init_request(3, TIMEOUT_NS));
    assert_eq!(aborting, Err(TxnError::ConcurrentTransactions));
    let markers = take_sent(&mut node).markers;
    assert_eq!(
        summary(&markers),
        [
            (1, vec![0], Abort, 1, coordinator_epoch(LEADER_EPOCH, 0)),
            (2, vec![1], Abort, 1, coordinator_epoch(LEADER_EPOCH, 1)),
        ],
        "the abort fences epoch 0 in every partition it wrote to"
    );
    deliver(&mut node, CLIENT, init_request(4, TIMEOUT_NS));
    assert_eq!(
        answer(&mut node),
        Err(TxnError::ConcurrentTransactions),
        "while the abort is being marked"
    );
    for request in &markers {
        acknowledge(&mut node, request, Ok(1));
    }
    replicate(&mut node);
    take_sent(&mut node);
    assert_eq!(
        replicated_answer(&mut node, init_request(5, TIMEOUT_NS)),
        Ok((PRODUCER_ID, 2))
    );
    let granted: Vec<Observation> = take_sent(&mut node)
        .observations
        .into_iter()
        .filter(|observation| matches!(observation, Observation::ProducerEpochGranted { .. }))
        .collect();
    assert_eq!(
        granted,
        [Observation::ProducerEpochGranted {
            producer_id: PRODUCER_ID,
            producer_epoch: 2,
            aborted_open: false,
        }],
        "the timeline learns which epoch fenced the older ones"
    );
}

/// Opens a transaction at epoch 0, lets it time out, and returns the epoch its abort markers
/// carry and the answer to the timed-out instance's EndTxn(commit) once the abort is complete.
fn time_out_a_transaction(bugs: BugsConfig) -> (u16, Result<(u64, u16), TxnError>) {
    let mut node = coordinator_over(empty_log(), LEADER_EPOCH, bugs);
    open_transaction(&mut node);
    let open_end_offset = state_log(&node).log_end_offset();
    node.effects.now_ns = TIMEOUT_NS - 1;
    node.on_transaction_tick();
    settle(&mut node);
    assert_eq!(
        state_log(&node).log_end_offset(),
        open_end_offset,
        "not yet"
    );
    node.effects.now_ns = TIMEOUT_NS;
    node.on_transaction_tick();
    settle(&mut node);
    let timed_out = take_sent(&mut node).observations;
    let abort_epoch = timed_out
        .iter()
        .find_map(|observation| match observation {
            Observation::TransactionTimedOut {
                producer_id: PRODUCER_ID,
                producer_epoch,
            } => Some(*producer_epoch),
            _ => None,
        })
        .expect("the transaction timed out");
    replicate(&mut node);
    let markers = take_sent(&mut node).markers;
    assert_eq!(summary(&markers).len(), 2);
    assert!(
        summary(&markers)
            .iter()
            .all(|(_, _, outcome, epoch, _)| *outcome == Abort && *epoch == abort_epoch)
    );
    for request in &markers {
        acknowledge(&mut node, request, Ok(1));
    }
    replicate(&mut node);
    deliver(&mut node, CLIENT, end_request(6, 0, Commit));
    (abort_epoch, answer(&mut node))
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_under_a_bumped_epoch() {
    let (abort_epoch, commit) = time_out_a_transaction(BugsConfig::default());
    assert_eq!(abort_epoch, 1, "the abort fences epoch 0");
    assert_eq!(
        commit,
        Err(TxnError::ProducerFenced),
        "the timed-out instance cannot commit"
    );
}

#[test]
fn zoo_7_a_timeout_abort_that_keeps_the_epoch_leaves_the_producer_unfenced() {
    let bugs = BugsConfig {
        keep_producer_epoch_on_transaction_timeout: true,
        ..BugsConfig::default()
    };
    let (abort_epoch, commit) = time_out_a_transaction(bugs);
    assert_eq!(abort_epoch, 0, "the markers leave epoch 0 writing");
    assert_eq!(
        commit,
        Err(TxnError::InvalidTxnState),
        "the zombie is told only that nothing is open"
    );
}

/// A coordinator's state partition log after a commit it answered, whose markers it sent but
/// never heard back about.
fn log_of_an_answered_commit() -> PartitionLog {
    let mut node = coordinator();
    assert_eq!(committing(&mut node).len(), 2);
    // A follower that fetched one record at a time holds every batch in pieces.
    let mut pieces = empty_log();
    for batch in state_log(&node).batches() {
        for offset in batch.base_offset..batch.end_offset() {
            pieces
                .append_as_follower(batch.slice(offset, offset + 1))
                .expect("appended");
        }
    }
    pieces
}

#[test]
fn a_new_coordinator_replays_an_answered_commit_and_finishes_its_markers() {
    let log = log_of_an_answered_commit();
    let end_offset = log.log_end_offset();
    let mut node = coordinator_over(log, LEADER_EPOCH + 1, BugsConfig::default());
    deliver(&mut node, CLIENT, init_request(1, TIMEOUT_NS));
    assert_eq!(answer(&mut node), Err(TxnError::CoordinatorLoadInProgress));
    replicate_to(&mut node, end_offset - 1);
    assert_eq!(
        state_of(&node).map(|state| state.state),
        Some(TransactionState::Ongoing),
        "the decision's last record is not replicated: it is not replayed"
    );
    assert!(take_sent(&mut node).markers.is_empty(), "still loading");
    replicate(&mut node);
    let markers = take_sent(&mut node).markers;
    assert_eq!(
        summary(&markers),
        [
            (
                1,
                vec![0],
                Commit,
                1,
                coordinator_epoch(LEADER_EPOCH + 1, 0)
            ),
            (
                2,
                vec![1],
                Commit,
                1,
                coordinator_epoch(LEADER_EPOCH + 1, 1)
            ),
        ],
        "the new coordinator finishes the commit"
    );
    for request in &markers {
        acknowledge(&mut node, request, Ok(1));
    }
    replicate(&mut node);
    assert_eq!(
        state_of(&node).map(|state| state.state),
        Some(TransactionState::CompleteCommit)
    );
}

#[test]
fn zoo_9_a_coordinator_that_forgets_never_completes_the_answered_commit() {
    let bugs = BugsConfig {
        forget_transactions_on_coordinator_failover: true,
        ..BugsConfig::default()
    };
    let mut node = coordinator_over(log_of_an_answered_commit(), LEADER_EPOCH + 1, bugs);
    node.broker.broker_epoch = Some(BROKER_EPOCH + 1);
    replicate(&mut node);
    node.effects.now_ns = 60_000_000_000;
    node.on_transaction_tick();
    settle(&mut node);
    assert!(
        take_sent(&mut node).markers.is_empty(),
        "the commit's markers are never written"
    );
    assert_eq!(state_of(&node), None, "forgotten");
    assert_eq!(
        replicated_answer(&mut node, init_request(1, TIMEOUT_NS)),
        Ok(((BROKER_EPOCH + 1) << 20, 0)),
        "the id starts afresh under a new producer id"
    );
}

#[test]
fn refused_or_unanswered_markers_are_sent_again_as_newer_attempts() {
    let backoff_ns = TransactionsConfig::new(1, 3).marker_retry_backoff_ns;
    let request_timeout_ns = TransactionsConfig::new(1, 3).marker_request_timeout_ns;
    let mut node = coordinator();
    let first = committing(&mut node);
    acknowledge(
        &mut node,
        &first[0],
        Err(DataError::NotLeader { leader_hint: None }),
    );
    assert!(
        take_sent(&mut node).markers.is_empty(),
        "not before the backoff"
    );
    // Broker 2 now leads t/0 too.
    node.image.topics.get_mut("t").expect("t").partitions[0].leader = Some(2);
    node.effects.now_ns = backoff_ns;
    node.on_transaction_tick();
    settle(&mut node);
    let resent = take_sent(&mut node).markers;
    assert_eq!(
        summary(&resent),
        [(2, vec![0], Commit, 1, coordinator_epoch(LEADER_EPOCH, 2))],
        "to the new leader, as a newer attempt: t/1's request is still in flight"
    );
    acknowledge(&mut node, &resent[0], Ok(3));
    node.effects.now_ns = request_timeout_ns;
    node.on_transaction_tick();
    settle(&mut node);
    let unanswered = take_sent(&mut node).markers;
    assert_eq!(
        summary(&unanswered),
        [(2, vec![1], Commit, 1, coordinator_epoch(LEADER_EPOCH, 3))],
        "t/1 went unanswered: sent again"
    );
    let written = state_log(&node).log_end_offset();
    acknowledge(&mut node, &first[1], Ok(4));
    assert_eq!(
        state_log(&node).log_end_offset(),
        written,
        "the late answer to the first request is ignored"
    );
    acknowledge(&mut node, &unanswered[0], Ok(4));
    assert_eq!(state_log(&node).log_end_offset(), written + 4, "completed");
}

#[test]
fn markers_stop_when_a_newer_coordinator_wrote_one() {
    let mut node = coordinator();
    let markers = committing(&mut node);
    let newer = coordinator_epoch(LEADER_EPOCH + 1, 0);
    acknowledge(
        &mut node,
        &markers[0],
        Err(DataError::TransactionCoordinatorFenced { current: newer }),
    );
    acknowledge(&mut node, &markers[1], Ok(5));
    node.effects.now_ns = 60_000_000_000;
    node.on_transaction_tick();
    settle(&mut node);
    assert!(
        take_sent(&mut node).markers.is_empty(),
        "this coordinator stopped"
    );
    assert_eq!(
        state_of(&node).map(|state| state.state),
        Some(TransactionState::PrepareCommit),
        "the newer coordinator completes it"
    );

    let mut node = coordinator();
    let markers = committing(&mut node);
    let own_earlier_incarnation = coordinator_epoch(LEADER_EPOCH, 40);
    acknowledge(
        &mut node,
        &markers[0],
        Err(DataError::TransactionCoordinatorFenced {
            current: own_earlier_incarnation,
        }),
    );
    node.effects.now_ns = 60_000_000_000;
    node.on_transaction_tick();
    settle(&mut node);
    assert_eq!(
        summary(&take_sent(&mut node).markers),
        [
            (1, vec![0], Commit, 1, coordinator_epoch(LEADER_EPOCH, 41)),
            (2, vec![1], Commit, 1, coordinator_epoch(LEADER_EPOCH, 42)),
        ],
        "above the attempts of its own leader epoch's earlier incarnation (t/1 went \
         unanswered meanwhile)"
    );
}

#[test]
fn a_write_of_unknown_outcome_keeps_the_id_busy_until_the_replay_passes_it() {
    let produce_timeout_ns = ClusterConfig::default().timing.produce_timeout_ns;
    let mut node = coordinator();
    open_transaction(&mut node);
    deliver(&mut node, CLIENT, end_request(3, 0, Commit));
    node.effects.now_ns = produce_timeout_ns;
    node.expire_pending_produces(&state_key());
    settle(&mut node);
    assert_eq!(answer(&mut node), Err(TxnError::CoordinatorNotAvailable));
    deliver(&mut node, CLIENT, end_request(4, 0, Abort));
    assert_eq!(
        answer(&mut node),
        Err(TxnError::ConcurrentTransactions),
        "the commit may still land: no abort may be decided from the state before it"
    );
    replicate(&mut node);
    assert_eq!(take_sent(&mut node).markers.len(), 2, "it landed");
    deliver(&mut node, CLIENT, end_request(5, 0, Commit));
    assert_eq!(answer(&mut node), Ok((PRODUCER_ID, 1)), "a retry");
}

#[test]
fn only_the_loaded_leader_of_the_state_partition_coordinates() {
    let mut node = coordinator();
    open_transaction(&mut node);
    deliver(&mut node, CLIENT, end_request(3, 0, Commit));
    node.replicas
        .partitions
        .get_mut(&state_key())
        .expect("held")
        .role = follower_role();
    node.replicas.roles_version += 1;
    settle(&mut node);
    assert_eq!(
        answer(&mut node),
        Err(TxnError::NotCoordinator),
        "a write in flight ends with the leadership"
    );
    deliver(&mut node, CLIENT, init_request(4, TIMEOUT_NS));
    assert_eq!(answer(&mut node), Err(TxnError::NotCoordinator));
    assert!(node.transactions.partitions.is_empty());
}

#[test]
fn add_partitions_refuses_internal_topics_and_waits_for_unknown_ones() {
    let mut node = coordinator();
    assert_eq!(
        replicated_answer(&mut node, init_request(1, TIMEOUT_NS)),
        Ok((PRODUCER_ID, 0))
    );
    deliver(
        &mut node,
        CLIENT,
        add_request(2, PRODUCER_ID, 0, &[("t", 7)]),
    );
    assert_eq!(answer(&mut node), Err(TxnError::CoordinatorNotAvailable));
    let internal = [(TRANSACTION_STATE_TOPIC, 0)];
    deliver(&mut node, CLIENT, add_request(3, PRODUCER_ID, 0, &internal));
    assert!(matches!(
        answer(&mut node),
        Err(TxnError::InvalidRequest { .. })
    ));
    deliver(&mut node, CLIENT, init_request(4, 0));
    assert!(matches!(
        answer(&mut node),
        Err(TxnError::InvalidRequest { .. })
    ));
}

#[test]
fn the_ids_a_partition_holds_are_bounded_counting_those_in_flight() {
    let mut config = cluster_config(BugsConfig::default());
    config
        .transactions
        .as_mut()
        .expect("configured")
        .transactional_ids_max = 1;
    let mut node = coordinator_configured(config, empty_log(), LEADER_EPOCH);
    deliver(&mut node, CLIENT, init_request(1, TIMEOUT_NS));
    let other = InitTxnProducerIdRequest {
        request_id: 2,
        transactional_id: "payments-2".to_owned(),
        transaction_timeout_ns: TIMEOUT_NS,
    };
    deliver(&mut node, CLIENT, Message::InitTxnProducerId(other.clone()));
    assert!(
        matches!(answer(&mut node), Err(TxnError::InvalidRequest { .. })),
        "the first id is not replicated yet, but counts"
    );
    replicate(&mut node);
    assert_eq!(answer(&mut node), Ok((PRODUCER_ID, 0)));
    assert_eq!(
        replicated_answer(&mut node, init_request(3, TIMEOUT_NS)),
        Ok((PRODUCER_ID, 1)),
        "a known id is not a new one"
    );
    let retried = InitTxnProducerIdRequest {
        request_id: 4,
        ..other
    };
    deliver(&mut node, CLIENT, Message::InitTxnProducerId(retried));
    assert!(matches!(
        answer(&mut node),
        Err(TxnError::InvalidRequest { .. })
    ));
}

/// Consume-transform-produce: AddOffsetsToTxn names a group, and the coordinator puts that group's
/// partition of the offsets topic in the transaction, so the transaction's end marks it too.
/// Without it, offsets committed inside the transaction would never take effect (or never be
/// dropped).
#[test]
fn add_offsets_puts_the_groups_offsets_partition_in_the_transaction_and_its_end_marks_it() {
    let mut config = cluster_config(BugsConfig::default());
    let groups = GroupsConfig::new(1, 3);
    config.topics.push(groups.offsets_topic());
    config.groups = Some(groups);
    let mut node = coordinator_configured(config, empty_log(), LEADER_EPOCH);
    open_transaction(&mut node);
    let add_offsets = |producer_epoch| {
        Message::AddOffsetsToTxn(AddOffsetsToTxnRequest {
            request_id: 4,
            transactional_id: ID.to_owned(),
            producer_id: PRODUCER_ID,
            producer_epoch,
            group: "g".to_owned(),
        })
    };
    assert_eq!(replicated_answer(&mut node, add_offsets(0)), Ok((0, 0)));
    let offsets = (TopicName::new(OFFSETS_TOPIC), 0);
    let partitions = state_of(&node).expect("open").partitions;
    assert!(partitions.contains(&offsets), "{partitions:?}");

    let committed = replicated_answer(&mut node, end_request(5, 0, Commit));
    assert_eq!(committed, Ok((PRODUCER_ID, 1)));
    let markers = take_sent(&mut node).markers;
    let to_offsets_leader: Vec<_> = markers
        .iter()
        .filter(|(_, request)| request.partitions.contains(&offsets))
        .map(|(leader, request)| (*leader, request.marker.outcome))
        .collect();
    assert_eq!(to_offsets_leader, [(2, Commit)], "{markers:?}");

    assert_eq!(
        replicated_answer(&mut node, add_offsets(0)),
        Err(TxnError::ProducerFenced),
        "the ended epoch is fenced"
    );
}
