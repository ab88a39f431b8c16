//! The cluster-wide state checks, run after every step: converts each live broker's snapshots
//! ([`broker::QuorumState`], [`broker::PartitionView`], broker epochs) into `check::state` types
//! and feeds the [`QuorumMonitor`] (at most one Raft leader per term, logs match the committed
//! prefix, committed entries never change, terms never decrease) and the [`LeadershipMonitor`]
//! (one leader per partition per leader epoch, leader in ISR, leader and broker epochs never
//! decrease per view).
//!
//! It also feeds the [`ReplicaMonitor`] (records below each replica's high watermark identical
//! on every replica and never changed; a leader's HW never decreasing within its epoch; one
//! leader per epoch). To keep a step cheap, each replica's snapshot holds only the records from
//! just below the high watermark it showed at the previous observation (the monitor's sentinel)
//! to its log end: the monitor verifies each record once, when it first falls below the HW, and
//! re-checks the sentinel every time; records it is not shown count as "not held", which it
//! excuses. The final comparison of whole logs is the runner's (`replica_logs`).
//!
//! Only controller voters are quorum members. Crashed nodes are skipped; a restarted node's
//! metadata views and replica progress start again from scratch
//! ([`ClusterMonitor::node_restarted`]). A node whose [`StateFingerprint`] (its quorum and
//! metadata state) has not changed since it was last checked is not shown again to the quorum
//! and leadership monitors: its snapshots are the same, and every monitored property is about
//! changes. Its replicas are shown every time (the fingerprint does not cover them).

use std::collections::BTreeMap;

use check::state::replicas::{RecordId, ReplicaMonitor, ReplicaSnapshot};
use check::state::{
    BrokerEpochSnapshot, EntryId, LeadershipMonitor, PartitionViewSnapshot, QuorumMemberSnapshot,
    QuorumMonitor, StateViolation,
};

use broker::StateFingerprint;

use crate::cluster::member::Member;
use crate::simulation::Simulation;

/// Both monitors, with reusable snapshot buffers.
#[derive(Debug, Default)]
pub struct ClusterMonitor {
    quorum: QuorumMonitor,
    leadership: LeadershipMonitor,
    /// Each node's state summary when last checked (`None`: down, or never checked): a node
    /// whose summary has not changed since is not snapshotted again (its snapshots are the same).
    fingerprints: Vec<Option<StateFingerprint>>,
    members: Vec<QuorumMemberSnapshot>,
    partitions: Vec<PartitionViewSnapshot>,
    brokers: Vec<BrokerEpochSnapshot>,
    replica_monitor: ReplicaMonitor,
    replicas: Vec<ReplicaSnapshot>,
    /// (node, topic, partition) -> the HW shown last.
    shown_high_watermarks: BTreeMap<(u32, String, u32), u64>,
    replica_monitor_off: bool,
}

impl ClusterMonitor {
    pub fn new() -> ClusterMonitor {
        ClusterMonitor::default()
    }

    /// Turns the replica monitor on (the default) or off.
    pub fn set_replica_monitor(&mut self, on: bool) {
        self.replica_monitor_off = !on;
    }

    /// A node restarted: it replays its metadata from the start.
    pub fn node_restarted(&mut self, node: u32) {
        self.leadership.node_restarted(node);
        if let Some(fingerprint) = self.fingerprints.get_mut(node as usize) {
            *fingerprint = None;
        }
        self.replica_monitor.node_restarted(node);
        self.shown_high_watermarks
            .retain(|(shown_node, _, _), _| *shown_node != node);
    }

    /// Checks every live broker of `simulation` now.
    pub fn observe(&mut self, simulation: &Simulation<Member>) -> Result<(), StateViolation> {
        self.members.clear();
        self.partitions.clear();
        self.brokers.clear();
        self.fingerprints.resize(simulation.node_count(), None);
        self.replicas.clear();
        for id in simulation.node_ids() {
            let Some(node) = simulation.node(id).and_then(Member::broker) else {
                self.fingerprints[id.index()] = None;
                continue;
            };
            if !self.replica_monitor_off {
                self.snapshot_replicas(node);
            }
            let fingerprint = Some(node.state_fingerprint());
            if self.fingerprints[id.index()] == fingerprint {
                continue;
            }
            self.fingerprints[id.index()] = fingerprint;
            if node.is_voter() {
                self.members.push(quorum_member(node));
            }
            self.partitions
                .extend(
                    node.partition_views()
                        .into_iter()
                        .map(|view| PartitionViewSnapshot {
                            node: id.0,
                            topic: view.topic,
                            partition: view.partition,
                            leader: view.leader,
                            leader_epoch: view.leader_epoch,
                            isr: view.isr,
                        }),
                );
            self.brokers.extend(
                node.broker_epochs()
                    .into_iter()
                    .map(|(broker, broker_epoch)| BrokerEpochSnapshot {
                        node: id.0,
                        broker,
                        broker_epoch,
                    }),
            );
        }
        let time_ns = simulation.now_ns();
        self.quorum.observe(time_ns, &self.members)?;
        self.leadership
            .observe(time_ns, &self.partitions, &self.brokers)?;
        self.replica_monitor.observe(time_ns, &self.replicas)
    }

    fn snapshot_replicas(&mut self, node: &broker::Node) {
        for replica in node.replicas() {
            let log = replica.log;
            let key = (node.id(), replica.topic.to_owned(), replica.partition);
            let shown = self.shown_high_watermarks.get(&key).copied().unwrap_or(0);
            let from_offset = shown
                .min(log.high_watermark())
                .saturating_sub(1)
                .max(log.log_start_offset());
            self.shown_high_watermarks.insert(key, log.high_watermark());
            let records = (from_offset..log.log_end_offset())
                .filter_map(|offset| {
                    let (leader_epoch, record) = log.record_at(offset)?;
                    Some(RecordId {
                        offset,
                        leader_epoch,
                        digest: record_digest(record.key, record.value),
                    })
                })
                .collect();
            self.replicas.push(ReplicaSnapshot {
                node: node.id(),
                topic: replica.topic.to_owned(),
                partition: replica.partition,
                leader_epoch: replica.leader_epoch,
                is_leader: replica.is_leader,
                high_watermark: log.high_watermark(),
                log_start_offset: log.log_start_offset(),
                records,
            });
        }
    }
}

fn quorum_member(node: &broker::Node) -> QuorumMemberSnapshot {
    let state = node.quorum_state();
    QuorumMemberSnapshot {
        node: state.node,
        term: state.term,
        voted_for: state.voted_for,
        is_leader: state.is_leader,
        commit_index: state.commit_index,
        log: state
            .log
            .into_iter()
            .map(|(term, digest)| EntryId { term, digest })
            .collect(),
    }
}

/// A stable digest of a record's key and value (FNV-1a over their little-endian bytes).
fn record_digest(key: Option<u64>, value: u64) -> u64 {
    let mut bytes = [0u8; 17];
    if let Some(key) = key {
        bytes[0] = 1;
        bytes[1..9].copy_from_slice(&key.to_le_bytes());
    }
    bytes[9..17].copy_from_slice(&value.to_le_bytes());
    broker::client::partitioner::fnv1a_64(&bytes)
}
