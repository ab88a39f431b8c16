//! A leader appends an idempotent producer's batch once (KIP-98): a retried batch its log holds
//! is acknowledged at the offsets of its first append, once acks allow, and not appended again;
//! a batch that skips sequence numbers, an unknown producer's batch that does not start at 0 and
//! a fenced epoch's batch are refused before any append; a replica that replicated a producer's
//! batches as a follower recognises their retries once it leads, unless zoo 6's planted bug
//! (`bugs.lose_producer_state_on_leader_change`) makes it forget them. A broker hands out
//! producer ids only while it holds a broker epoch, a fresh one per request.

use crate::ClusterConfig;
use crate::log::{ProducerSequence, ProducerStamp, Record, RecordBatch};
use crate::message::{
    Acks, DataError, InitProducerIdRequest, Message, ProducePartition, ProduceRequest,
};
use crate::node::{Node, Observation, Output};
use crate::replica::test_support::{
    EPOCH, follower, follower_role, key, leader, leader_role, node_configured, produce_request,
    t0_session,
};
use crate::topic::TopicName;

const PRODUCER_ID: u64 = 7;

/// The node the producer (9) sends to and is answered by.
const PRODUCER_NODE: u32 = 9;

/// What a node output since the last look: the producer's answers, for t/0, by request id, and
/// how many retried batches it deduplicated.
#[derive(Debug, Default)]
struct Outcome {
    answers: Vec<(u64, Result<u64, DataError>)>,
    deduplicated: usize,
}

fn stamp(first_sequence: u32) -> ProducerStamp {
    stamp_in_epoch(0, first_sequence)
}

fn stamp_in_epoch(producer_epoch: u16, first_sequence: u32) -> ProducerStamp {
    ProducerStamp(Some(ProducerSequence {
        producer_id: PRODUCER_ID,
        producer_epoch,
        batch_first_sequence: first_sequence,
        base_sequence: first_sequence,
        transaction: crate::log::BatchTransaction::None,
    }))
}

fn records(values: &[u64]) -> Vec<Record> {
    values
        .iter()
        .map(|&value| Record { key: None, value })
        .collect()
}

/// A request carrying one stamped batch of `values` for t/0.
fn stamped_request(
    request_id: u64,
    acks: Acks,
    producer: ProducerStamp,
    values: &[u64],
) -> ProduceRequest {
    ProduceRequest {
        request_id,
        acks,
        partitions: vec![ProducePartition {
            topic: TopicName::new("t"),
            partition: 0,
            records: records(values).into(),
            producer,
            transaction: crate::log::BatchTransaction::None,
        }],
    }
}

/// Sends the batch of `values` numbered from `first_sequence` to t/0, acks=1.
fn produce(node: &mut Node, request_id: u64, first_sequence: u32, values: &[u64]) {
    let request = stamped_request(request_id, Acks::Leader, stamp(first_sequence), values);
    node.on_produce(PRODUCER_NODE, request);
}

fn outcome(node: &mut Node) -> Outcome {
    let mut outcome = Outcome::default();
    for output in std::mem::take(&mut node.effects.output) {
        match output {
            Output::Send {
                to,
                message: Message::ProduceResponse(response),
            } => {
                assert_eq!(to, PRODUCER_NODE, "answered to the producer");
                let [answer] = response.partitions.as_slice() else {
                    panic!("one partition per request: {response:?}");
                };
                outcome
                    .answers
                    .push((response.request_id, answer.result.clone()));
            }
            Output::Observe(Observation::ProduceDeduplicated) => outcome.deduplicated += 1,
            _ => {}
        }
    }
    outcome
}

/// The leader's log of t/0 is synced up to `end_offset` (acks=1 answers follow).
fn synced(node: &mut Node, end_offset: u64) {
    let leader_epoch = node.replicas.partitions[&key(0)].leader_epoch;
    node.on_log_durable(key(0), leader_epoch, end_offset);
}

fn values_in_log(node: &Node) -> Vec<u64> {
    let log = &node.replicas.partitions[&key(0)].log;
    log.records_from(log.log_start_offset())
        .map(|(_, _, record)| record.value)
        .collect()
}

/// Follower `replica` reports t/0's log end offset `fetch_offset` to the leader.
fn follower_fetches(node: &mut Node, replica: u32, fetch_offset: u64) {
    node.on_replica_fetch(replica, t0_session(replica, fetch_offset, 100));
}

#[test]
fn a_retried_batch_is_acknowledged_at_its_first_offsets_and_not_appended_again() {
    let mut node = leader();
    node.on_produce(PRODUCER_NODE, produce_request(1, Acks::Leader, &[0]));
    produce(&mut node, 2, 0, &[100, 101]);
    synced(&mut node, 3);
    assert_eq!(outcome(&mut node).answers, [(1, Ok(0)), (2, Ok(1))]);

    produce(&mut node, 3, 0, &[100, 101]);
    let retried = outcome(&mut node);
    assert_eq!(
        retried.answers,
        [(3, Ok(1))],
        "the first append's base offset"
    );
    assert_eq!(retried.deduplicated, 1);
    assert_eq!(values_in_log(&node), [42, 100, 101], "appended once");
    node.check_produce_invariants();
}

#[test]
fn a_retry_of_a_batch_not_yet_synced_waits_for_its_sync() {
    let mut node = leader();
    produce(&mut node, 1, 0, &[100, 101]);
    produce(&mut node, 2, 0, &[100, 101]);
    let before_sync = outcome(&mut node);
    assert!(before_sync.answers.is_empty(), "acks=1 waits for the sync");
    assert_eq!(before_sync.deduplicated, 1);

    synced(&mut node, 2);
    assert_eq!(outcome(&mut node).answers, [(1, Ok(0)), (2, Ok(0))]);
    assert_eq!(values_in_log(&node), [100, 101]);
    node.check_produce_invariants();
}

#[test]
fn an_acks_all_retry_is_answered_once_the_high_watermark_passes_the_batch() {
    let mut node = leader();
    for request_id in [1, 2] {
        let request = stamped_request(request_id, Acks::All, stamp(0), &[100, 101]);
        node.on_produce(PRODUCER_NODE, request);
    }
    synced(&mut node, 2);
    follower_fetches(&mut node, 1, 2);
    let one_follower = outcome(&mut node);
    assert!(
        one_follower.answers.is_empty(),
        "follower 2 lacks the batch"
    );
    assert_eq!(one_follower.deduplicated, 1);

    follower_fetches(&mut node, 2, 2);
    assert_eq!(node.replicas.partitions[&key(0)].log.high_watermark(), 2);
    assert_eq!(outcome(&mut node).answers, [(1, Ok(0)), (2, Ok(0))]);
    assert_eq!(values_in_log(&node), [100, 101]);
}

#[test]
fn a_batch_that_skips_a_sequence_number_is_refused_out_of_order() {
    let mut node = leader();
    produce(&mut node, 1, 0, &[100]);
    synced(&mut node, 1);
    outcome(&mut node);

    produce(&mut node, 2, 2, &[102]);
    let refused = outcome(&mut node);
    assert_eq!(
        refused.answers,
        [(2, Err(DataError::OutOfOrderSequence { expected: 1 }))]
    );
    assert_eq!(refused.deduplicated, 0);
    assert_eq!(values_in_log(&node), [100], "nothing appended");
    node.check_produce_invariants();
}

#[test]
fn an_unknown_producer_must_start_at_sequence_zero() {
    let mut node = leader();
    produce(&mut node, 1, 3, &[103]);
    assert_eq!(
        outcome(&mut node).answers,
        [(1, Err(DataError::UnknownProducerId))]
    );
    assert!(values_in_log(&node).is_empty(), "nothing appended");

    produce(&mut node, 2, 0, &[100]);
    synced(&mut node, 1);
    assert_eq!(outcome(&mut node).answers, [(2, Ok(0))]);
    assert_eq!(values_in_log(&node), [100]);
}

#[test]
fn a_batch_from_a_fenced_producer_epoch_is_refused() {
    let mut node = leader();
    let request = stamped_request(1, Acks::Leader, stamp_in_epoch(1, 0), &[100]);
    node.on_produce(PRODUCER_NODE, request);
    synced(&mut node, 1);
    outcome(&mut node);

    let request = stamped_request(2, Acks::Leader, stamp_in_epoch(0, 1), &[101]);
    node.on_produce(PRODUCER_NODE, request);
    assert_eq!(
        outcome(&mut node).answers,
        [(2, Err(DataError::InvalidProducerEpoch { current: 1 }))]
    );
    assert_eq!(values_in_log(&node), [100]);
}

/// Node 0 following leader 1 for t/0 and t/1, with `config` (`test_support::follower`'s node).
fn node_configured_follower(config: ClusterConfig) -> Node {
    node_configured(config, follower_role)
}

/// A follower of t/0 that replicated the producer's batches 0 (`[100]`) and 1 (`[101, 102]`)
/// from the leader of [`EPOCH`], then became leader in the next epoch, as the metadata would
/// make it: a leader state that knows nothing yet, its log synced up to its end.
fn follower_become_leader(mut node: Node) -> Node {
    let replica = node.replicas.partitions.get_mut(&key(0)).expect("t/0");
    let first = RecordBatch::new(0, EPOCH, records(&[100])).with_producer(stamp(0));
    let second = RecordBatch::new(1, EPOCH, records(&[101, 102])).with_producer(stamp(1));
    for batch in [first, second] {
        replica
            .log
            .append_as_follower(batch)
            .expect("at the log end");
    }
    assert_eq!(replica.log.producers().len(), 1, "the producer is known");
    replica.leader_epoch = EPOCH + 1;
    replica.role = leader_role();
    synced(&mut node, 3);
    outcome(&mut node);
    node
}

#[test]
fn a_follower_that_becomes_leader_recognises_a_batch_it_replicated() {
    let mut node = follower_become_leader(follower());
    produce(&mut node, 1, 1, &[101, 102]);
    let retried = outcome(&mut node);
    assert_eq!(retried.answers, [(1, Ok(1))], "at the replicated offsets");
    assert_eq!(retried.deduplicated, 1);
    assert_eq!(values_in_log(&node), [100, 101, 102], "appended once");
}

#[test]
fn zoo_6_a_new_leader_that_lost_producer_state_appends_a_retried_batch_twice() {
    let mut config = ClusterConfig::default();
    config.bugs.lose_producer_state_on_leader_change = true;
    let mut node = follower_become_leader(node_configured_follower(config));
    produce(&mut node, 1, 1, &[101, 102]);
    synced(&mut node, 5);
    let retried = outcome(&mut node);
    assert_eq!(retried.answers, [(1, Ok(3))], "appended at the log end");
    assert_eq!(retried.deduplicated, 0);
    assert_eq!(
        values_in_log(&node),
        [100, 101, 102, 101, 102],
        "two copies of the retried batch"
    );
}

fn init_producer_id(node: &mut Node, request_id: u64) -> Result<(u64, u16), DataError> {
    node.on_init_producer_id(PRODUCER_NODE, InitProducerIdRequest { request_id });
    let outputs = std::mem::take(&mut node.effects.output);
    let [
        Output::Send {
            to: PRODUCER_NODE,
            message: Message::InitProducerIdResponse(response),
        },
    ] = outputs.as_slice()
    else {
        panic!("one answer to the producer, got {outputs:?}");
    };
    assert_eq!(response.request_id, request_id);
    response.result.clone()
}

#[test]
fn producer_ids_are_handed_out_only_under_a_broker_epoch_and_never_twice() {
    let mut node = leader();
    node.broker.broker_epoch = None;
    assert_eq!(
        init_producer_id(&mut node, 1),
        Err(DataError::ProducerIdsUnavailable)
    );

    let broker_epoch = 3;
    node.broker.broker_epoch = Some(broker_epoch);
    let (first, first_epoch) = init_producer_id(&mut node, 2).expect("an id");
    let (second, second_epoch) = init_producer_id(&mut node, 3).expect("an id");
    assert_ne!(first, second);
    assert_eq!((first >> 20, second >> 20), (broker_epoch, broker_epoch));
    assert_eq!((first_epoch, second_epoch), (0, 0));

    node.broker.broker_epoch = Some(broker_epoch + 1);
    let (after_registering_again, _) = init_producer_id(&mut node, 4).expect("an id");
    assert_eq!(
        after_registering_again,
        (broker_epoch + 1) << 20,
        "counts from 0 again"
    );
}
