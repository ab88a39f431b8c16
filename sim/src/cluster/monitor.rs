//! The cluster-wide state checks, run after every step: converts each live broker's snapshots
//! ([`broker::QuorumState`], [`broker::PartitionView`], broker epochs) into `check::state` types
//! and feeds the [`QuorumMonitor`] (at most one Raft leader per term, logs match the committed
//! prefix, committed entries never change, terms never decrease) and the [`LeadershipMonitor`]
//! (one leader per partition per leader epoch, leader in ISR, leader and broker epochs never
//! decrease per view).
//!
//! Only controller voters are quorum members. Crashed nodes are skipped; a restarted node's
//! metadata views start again from scratch ([`ClusterMonitor::node_restarted`]). A node whose
//! [`StateFingerprint`] has not changed since it was last checked is skipped: its snapshots are
//! the same, and every monitored property is about changes.

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
}

impl ClusterMonitor {
    pub fn new() -> ClusterMonitor {
        ClusterMonitor::default()
    }

    /// A node restarted: it replays its metadata from the start.
    pub fn node_restarted(&mut self, node: u32) {
        self.leadership.node_restarted(node);
        if let Some(fingerprint) = self.fingerprints.get_mut(node as usize) {
            *fingerprint = None;
        }
    }

    /// Checks every live broker of `simulation` now.
    pub fn observe(&mut self, simulation: &Simulation<Member>) -> Result<(), StateViolation> {
        self.members.clear();
        self.partitions.clear();
        self.brokers.clear();
        self.fingerprints.resize(simulation.node_count(), None);
        for id in simulation.node_ids() {
            let Some(node) = simulation.node(id).and_then(Member::broker) else {
                self.fingerprints[id.index()] = None;
                continue;
            };
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
            .observe(time_ns, &self.partitions, &self.brokers)
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
