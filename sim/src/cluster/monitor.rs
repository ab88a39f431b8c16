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
//! up to its current high watermark (nothing above it is checked; a HW beyond the log shows as
//! a snapshot whose last record ends below the HW): the monitor verifies each record once, when it first falls below the HW, and
//! re-checks the sentinel every time; records it is not shown count as "not held", which it
//! excuses. The final comparison of whole logs is the runner's (`replica_logs`).
//!
//! Only the node the last step handed an input to is looked at: a node's state changes only
//! when it is stepped, so every other node would show the same snapshots again, and every
//! monitored property is about changes. Within that node, a replica whose log
//! ([`broker::log::PartitionLog::records_version`]), high watermark, log start, leader epoch and
//! role are as last shown is skipped for the same reason.
//!
//! Only controller voters are quorum members. Crashed nodes are skipped; a restarted node's
//! metadata views and replica progress start again from scratch
//! ([`ClusterMonitor::node_restarted`]). A node whose [`StateFingerprint`] (its quorum and
//! metadata state) has not changed since it was last checked is not shown again to the quorum
//! and leadership monitors: its snapshots are the same.

use broker::topic::TopicName;
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
    /// Snapshots of earlier steps, kept for their buffers: a new snapshot reuses one's topic
    /// string and records vector instead of allocating (formatting the topic and growing the
    /// records vector were about a quarter of what the replica monitor cost).
    spare_replicas: Vec<ReplicaSnapshot>,
    /// Per node, what each of its replicas showed last, in the order the node lists its
    /// replicas (so a step finds each at its position without a search; see [`ShownReplicas`]).
    shown_replicas: Vec<ShownReplicas>,
    replica_monitor_off: bool,
}

/// One node's replicas as last shown, kept in the node's (topic, partition) order: a node lists
/// its replicas in that order, and the list changes only when a partition is created or first
/// named, so each replica is almost always found at its position. Entries are never dropped
/// (as in a map) but by a restart.
#[derive(Debug, Default)]
struct ShownReplicas {
    entries: Vec<ShownEntry>,
}

#[derive(Debug)]
struct ShownEntry {
    topic: TopicName,
    partition: u32,
    shown: ShownReplica,
}

impl ShownReplicas {
    /// Records what the replica `topic/partition`, listed at `position`, shows `now`.
    fn record(
        &mut self,
        position: usize,
        topic: &TopicName,
        partition: u32,
        now: ShownReplica,
    ) -> Showing {
        // Topic names are interned: comparing them is a pointer check.
        let is_it = |entry: &ShownEntry| entry.partition == partition && entry.topic == *topic;
        if !self.entries.get(position).is_some_and(is_it) {
            // The list changed: bring the replica's entry (or a new one) to its position. The
            // replicas listed before it are at theirs already.
            assert!(
                position <= self.entries.len(),
                "earlier replicas are recorded"
            );
            match self.entries.iter().position(is_it) {
                Some(found) => {
                    let entry = self.entries.remove(found);
                    self.entries.insert(position, entry);
                }
                None => {
                    let entry = ShownEntry {
                        topic: topic.clone(),
                        partition,
                        shown: now,
                    };
                    self.entries.insert(position, entry);
                    return Showing::First;
                }
            }
        }
        let entry = &mut self.entries[position];
        if entry.shown == now {
            return Showing::Unchanged;
        }
        Showing::Changed {
            previous: std::mem::replace(&mut entry.shown, now),
        }
    }
}

/// How what a replica shows compares with what it showed last.
enum Showing {
    Unchanged,
    First,
    Changed { previous: ShownReplica },
}

/// What a replica showed at its last observation: if all of it is the same, so is its snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ShownReplica {
    records_version: u64,
    high_watermark: u64,
    log_start_offset: u64,
    leader_epoch: u64,
    is_leader: bool,
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
        if let Some(shown) = self.shown_replicas.get_mut(node as usize) {
            shown.entries.clear();
        }
    }

    /// Checks the broker `simulation` stepped last, if it is up (see the module docs).
    pub fn observe(&mut self, simulation: &Simulation<Member>) -> Result<(), StateViolation> {
        let Some(id) = simulation.last_stepped_node() else {
            return Ok(());
        };
        let Some(node) = simulation.node(id).and_then(Member::broker) else {
            return Ok(());
        };
        let time_ns = simulation.now_ns();
        self.spare_replicas.append(&mut self.replicas);
        if !self.replica_monitor_off {
            self.snapshot_replicas(node);
        }
        self.fingerprints.resize(simulation.node_count(), None);
        let fingerprint = Some(node.state_fingerprint());
        if self.fingerprints[id.index()] != fingerprint {
            self.fingerprints[id.index()] = fingerprint;
            self.snapshot_state(node);
            self.quorum.observe(time_ns, &self.members)?;
            self.leadership
                .observe(time_ns, &self.partitions, &self.brokers)?;
        }
        if self.replicas.is_empty() {
            return Ok(());
        }
        self.replica_monitor.observe(time_ns, &self.replicas)
    }

    /// Snapshots `node`'s quorum state, partition views and broker epochs.
    fn snapshot_state(&mut self, node: &broker::Node) {
        self.members.clear();
        self.partitions.clear();
        self.brokers.clear();
        if node.is_voter() {
            self.members.push(quorum_member(node));
        }
        let id = node.id();
        self.partitions
            .extend(
                node.partition_views()
                    .into_iter()
                    .map(|view| PartitionViewSnapshot {
                        node: id,
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
                    node: id,
                    broker,
                    broker_epoch,
                }),
        );
    }

    /// Snapshots every replica of `node` that changed since it was last shown.
    fn snapshot_replicas(&mut self, node: &broker::Node) {
        let index = node.id() as usize;
        if self.shown_replicas.len() <= index {
            self.shown_replicas
                .resize_with(index + 1, ShownReplicas::default);
        }
        for (position, replica) in node.replicas().enumerate() {
            let log = replica.log;
            let now = ShownReplica {
                records_version: log.records_version(),
                high_watermark: log.high_watermark(),
                log_start_offset: log.log_start_offset(),
                leader_epoch: replica.leader_epoch,
                is_leader: replica.is_leader,
            };
            let previous = match self.shown_replicas[index].record(
                position,
                replica.topic,
                replica.partition,
                now,
            ) {
                Showing::Unchanged => continue,
                Showing::First => None,
                Showing::Changed { previous } => Some(previous),
            };
            let shown = previous.map_or(0, |previous| previous.high_watermark);
            let from_offset = shown
                .min(log.high_watermark())
                .saturating_sub(1)
                .max(log.log_start_offset());
            let mut snapshot = self.spare_replicas.pop().unwrap_or_else(empty_snapshot);
            if snapshot.topic != replica.topic.as_str() {
                snapshot.topic.clear();
                snapshot.topic.push_str(replica.topic);
            }
            snapshot.node = node.id();
            snapshot.partition = replica.partition;
            snapshot.leader_epoch = replica.leader_epoch;
            snapshot.is_leader = replica.is_leader;
            snapshot.high_watermark = log.high_watermark();
            snapshot.log_start_offset = log.log_start_offset();
            // Up to the HW: the monitor checks nothing above it, and the record just below it
            // (shown whenever the HW is above the log start) still tells a HW beyond the log.
            snapshot.records.clear();
            snapshot.records.extend(
                log.records_from(from_offset)
                    .take_while(|(offset, _, _)| *offset < log.high_watermark())
                    .map(|(offset, leader_epoch, record)| RecordId {
                        offset,
                        leader_epoch,
                        digest: record_digest(record.key, record.value),
                    }),
            );
            self.replicas.push(snapshot);
        }
    }
}

/// A snapshot with empty buffers, filled in by [`ClusterMonitor::snapshot_replicas`].
fn empty_snapshot() -> ReplicaSnapshot {
    ReplicaSnapshot {
        node: 0,
        topic: String::new(),
        partition: 0,
        leader_epoch: 0,
        is_leader: false,
        high_watermark: 0,
        log_start_offset: 0,
        records: Vec::new(),
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
