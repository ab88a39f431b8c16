//! Fixtures for the replica unit tests: a broker node holding partitions `t/0` and `t/1` in one
//! role, built without a cluster around it, and helpers to drive it.

use std::sync::Arc;

use crate::log::{PartitionLog, ProducerStamp, ProducerStates, Record};
use crate::message::{
    Acks, Message, ProducePartition, ProduceRequest, ReplicaFetchPartition, ReplicaFetchRequest,
};
use crate::node::{Node, Output};
use crate::replica::{
    FollowerPhase, FollowerProgress, FollowerState, LeaderState, Replica, ReplicaRole,
};
use crate::storage::PartitionKey;
use crate::topic::TopicName;
use crate::{ClusterConfig, Storage};

pub(crate) const EPOCH: u64 = 1;

pub(crate) fn key(partition: u32) -> PartitionKey {
    (TopicName::new("t"), partition)
}

pub(crate) fn node_with(roles: impl Fn() -> ReplicaRole) -> Node {
    node_configured(ClusterConfig::default(), roles)
}

/// [`node_with`] under `config`.
pub(crate) fn node_configured(config: ClusterConfig, roles: impl Fn() -> ReplicaRole) -> Node {
    let mut node = Node::new(Arc::new(config), 0, &Storage::default());
    for partition in 0..2 {
        let replica = Replica::new(PartitionLog::new(node.config.limits.log), EPOCH, roles());
        node.replicas.partitions.insert(key(partition), replica);
    }
    node
}

/// Node 0 leading t/0 and t/1, with followers 1 and 2 in the ISR.
pub(crate) fn leader() -> Node {
    node_with(leader_role)
}

/// The role of a replica that leads, with followers 1 and 2 in the ISR.
pub(crate) fn leader_role() -> ReplicaRole {
    let progress = FollowerProgress {
        log_end_offset: None,
        last_caught_up_ns: 0,
    };
    ReplicaRole::Leader(LeaderState {
        isr: vec![0, 1, 2],
        min_insync_replicas: 1,
        followers: [(1, progress), (2, progress)].into_iter().collect(),
        durable_end_offset: 0,
        pending: Vec::new(),
        parked: Vec::new(),
        isr_requested: None,
        producers_seen: ProducerStates::default(),
    })
}

/// Node 0 following leader 1 for t/0 and t/1.
pub(crate) fn follower() -> Node {
    node_with(follower_role)
}

/// The role of a replica fetching from leader 1.
pub(crate) fn follower_role() -> ReplicaRole {
    ReplicaRole::Follower(FollowerState {
        leader: 1,
        phase: FollowerPhase::Fetching,
        in_flight: None,
        fetch_wanted: true,
        sent_at_ns: 0,
    })
}

pub(crate) fn take_sends(node: &mut Node) -> Vec<(u32, Message)> {
    std::mem::take(&mut node.effects.output)
        .into_iter()
        .filter_map(|output| match output {
            Output::Send { to, message } => Some((to, message)),
            _ => None,
        })
        .collect()
}

/// A produce request with one record (value 42) for each of `partitions` of `t`, in that order.
pub(crate) fn produce_request(request_id: u64, acks: Acks, partitions: &[u32]) -> ProduceRequest {
    let partitions = partitions
        .iter()
        .map(|&partition| ProducePartition {
            topic: TopicName::new("t"),
            partition,
            records: vec![Record {
                key: None,
                value: 42,
            }]
            .into(),
            producer: ProducerStamp::NONE,
            transaction: crate::log::BatchTransaction::None,
        })
        .collect();
    ProduceRequest {
        request_id,
        acks,
        partitions,
    }
}

/// A fetch session of follower `replica` for t/0 alone, from `fetch_offset`, in [`EPOCH`].
pub(crate) fn t0_session(replica: u32, fetch_offset: u64, records_max: u64) -> ReplicaFetchRequest {
    ReplicaFetchRequest {
        request_id: 5,
        replica,
        partitions: vec![ReplicaFetchPartition {
            topic: TopicName::new("t"),
            partition: 0,
            current_leader_epoch: EPOCH,
            fetch_offset,
            high_watermark: 0,
        }],
        records_max,
    }
}
