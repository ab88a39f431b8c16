//! A leader appends each batch of an idempotent producer once (KIP-98): a retried batch is
//! acknowledged at the offsets of its first append, a batch out of the producer's sequence is
//! refused before any append, and a replica that becomes leader knows the producers its log
//! holds, unless zoo 6's switch makes it forget them. Brokers hand out producer ids unique
//! under their broker epoch.
//!
//! The leaders here run `flush = "never"` with acks=1, so that an appended batch is answered
//! within the same step.

use crate::ClusterConfig;
use crate::log::{FlushPolicy, ProducerSequence, ProducerStamp, Record, RecordBatch};
use crate::message::{
    Acks, DataError, InitProducerIdRequest, Message, ProducePartition, ProduceRequest,
};
use crate::node::{Node, Observation, Output};
use crate::replica::ReplicaRole;
use crate::replica::test_support::{EPOCH, follower, key, leader_role, node_configured};
use crate::topic::TopicName;

const PRODUCER: u64 = 7;

fn config(lose_producer_state: bool) -> ClusterConfig {
    let mut config = ClusterConfig {
        flush: FlushPolicy::Never,
        ..ClusterConfig::default()
    };
    config.bugs.lose_producer_state_on_leader_change = lose_producer_state;
    config
}

fn stamp(producer_id: u64, first_sequence: u32) -> ProducerStamp {
    ProducerStamp(Some(ProducerSequence {
        producer_id,
        producer_epoch: 0,
        batch_first_sequence: first_sequence,
        base_sequence: first_sequence,
    }))
}

fn records(values: &[u64]) -> Vec<Record> {
    values
        .iter()
        .map(|&value| Record { key: None, value })
        .collect()
}

/// Sends `values` to t/0 under `producer` (acks=1) and returns the answer for t/0.
fn produce(
    node: &mut Node,
    request_id: u64,
    producer: ProducerStamp,
    values: &[u64],
) -> Result<u64, DataError> {
    let request = ProduceRequest {
        request_id,
        acks: Acks::Leader,
        partitions: vec![ProducePartition {
            topic: TopicName::new("t"),
            partition: 0,
            records: records(values).into(),
            producer,
        }],
    };
    node.on_produce(9, request);
    let answers: Vec<_> = std::mem::take(&mut node.effects.output)
        .into_iter()
        .filter_map(|output| match output {
            Output::Send {
                message: Message::ProduceResponse(response),
                ..
            } if response.request_id == request_id => Some(response),
            _ => None,
        })
        .collect();
    let [answer] = answers.as_slice() else {
        panic!("one answer to request {request_id}, got {answers:?}");
    };
    answer.partitions[0].result.clone()
}

fn log_values(node: &Node) -> Vec<u64> {
    let log = &node.replicas.partitions[&key(0)].log;
    log.batches()
        .iter()
        .flat_map(|batch| batch.records.iter().map(|record| record.value))
        .collect()
}

#[test]
fn a_retried_batch_is_acknowledged_at_its_first_offsets_and_not_appended_again() {
    let mut node = node_configured(config(false), leader_role);
    assert_eq!(produce(&mut node, 1, stamp(PRODUCER, 0), &[10, 11]), Ok(0));
    assert_eq!(produce(&mut node, 2, ProducerStamp::NONE, &[20]), Ok(2));
    node.on_produce(
        9,
        ProduceRequest {
            request_id: 3,
            acks: Acks::Leader,
            partitions: vec![ProducePartition {
                topic: TopicName::new("t"),
                partition: 0,
                records: records(&[10, 11]).into(),
                producer: stamp(PRODUCER, 0),
            }],
        },
    );
    let output = std::mem::take(&mut node.effects.output);
    assert!(
        output
            .iter()
            .any(|output| matches!(output, Output::Observe(Observation::ProduceDeduplicated))),
        "the deduplication is observed: {output:?}"
    );
    node.effects.output = output;
    assert_eq!(produce(&mut node, 4, stamp(PRODUCER, 2), &[12]), Ok(3));
    assert_eq!(log_values(&node), vec![10, 11, 20, 12]);
}

#[test]
fn a_batch_out_of_sequence_or_of_an_unknown_producer_is_refused_before_any_append() {
    let mut node = node_configured(config(false), leader_role);
    assert_eq!(produce(&mut node, 1, stamp(PRODUCER, 0), &[10, 11]), Ok(0));
    assert_eq!(
        produce(&mut node, 2, stamp(PRODUCER, 5), &[12]),
        Err(DataError::OutOfOrderSequence { expected: 2 })
    );
    assert_eq!(
        produce(&mut node, 3, stamp(PRODUCER + 1, 3), &[30]),
        Err(DataError::UnknownProducerId)
    );
    assert_eq!(produce(&mut node, 4, stamp(PRODUCER + 1, 0), &[30]), Ok(2));
    assert_eq!(log_values(&node), vec![10, 11, 30]);
}

/// Node 0 followed and replicated producer 7's batch, then became leader.
fn leader_after_following(lose_producer_state: bool) -> Node {
    let mut node = follower();
    let replica = node.replicas.partitions.get_mut(&key(0)).expect("t/0");
    let batch = RecordBatch::new(0, EPOCH, records(&[10, 11])).with_producer(stamp(PRODUCER, 0));
    replica.log.append_as_follower(batch).expect("appended");
    let mut leading = node_configured(config(lose_producer_state), leader_role);
    let led = leading.replicas.partitions.get_mut(&key(0)).expect("t/0");
    led.log = replica.log.clone();
    // As a leader under `flush = "never"` starts: its whole log counts as durable.
    let ReplicaRole::Leader(leader) = &mut led.role else {
        unreachable!("leads")
    };
    leader.durable_end_offset = led.log.log_end_offset();
    leading
}

#[test]
fn a_new_leader_knows_the_producers_its_log_replicated() {
    let mut node = leader_after_following(false);
    assert_eq!(produce(&mut node, 1, stamp(PRODUCER, 0), &[10, 11]), Ok(0));
    assert_eq!(log_values(&node), vec![10, 11]);
}

#[test]
fn zoo_6_a_new_leader_that_lost_producer_state_appends_a_retried_batch_again() {
    let mut node = leader_after_following(true);
    assert_eq!(produce(&mut node, 1, stamp(PRODUCER, 0), &[10, 11]), Ok(2));
    assert_eq!(log_values(&node), vec![10, 11, 10, 11], "a duplicate");
}

fn init_producer_id(node: &mut Node, request_id: u64) -> Result<(u64, u16), DataError> {
    node.on_init_producer_id(9, InitProducerIdRequest { request_id });
    let sends: Vec<_> = std::mem::take(&mut node.effects.output);
    match sends.as_slice() {
        [
            Output::Send {
                to: 9,
                message: Message::InitProducerIdResponse(response),
            },
        ] if response.request_id == request_id => response.result.clone(),
        other => panic!("one answer to request {request_id}, got {other:?}"),
    }
}

#[test]
fn producer_ids_are_handed_out_under_the_broker_epoch_only() {
    let mut node = node_configured(config(false), leader_role);
    node.broker.broker_epoch = None;
    assert_eq!(
        init_producer_id(&mut node, 1),
        Err(DataError::ProducerIdsUnavailable)
    );
    node.broker.broker_epoch = Some(5);
    let first = init_producer_id(&mut node, 2).expect("an id");
    let second = init_producer_id(&mut node, 3).expect("an id");
    assert_ne!(first.0, second.0);
    assert_eq!((first.0 >> 20, second.0 >> 20), (5, 5));
    assert_eq!((first.1, second.1), (0, 0));
    node.broker.broker_epoch = Some(9);
    let after_registering_again = init_producer_id(&mut node, 4).expect("an id");
    assert_eq!(after_registering_again.0, 9 << 20);
}
