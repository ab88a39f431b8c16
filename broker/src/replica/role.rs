//! Reconciling replicas with the committed metadata image, and the data-plane tick.
//!
//! A replica's role changes only here, and only towards what the image says: a newer leader
//! epoch (or a lost or regained broker epoch) ends the old role first: a leader drops its waiting
//! produce requests (their clients time out: the outcome is unknown) and answers its parked
//! fetches NOT_LEADER; then the new role starts. A change of ISR within an epoch only updates the
//! leader's copy.

use crate::log::PartitionLog;
use crate::log::ProducerStates;
use crate::message::{DataError, FetchResponse, Message};
use crate::node::{Node, Observation, Timer};
use crate::perturb::Site;
use crate::replica::{FollowerProgress, Followers, LeaderState, Replica, ReplicaRole, ReplicaView};
use crate::storage::PartitionKey;
use crate::topic::TopicName;

/// The role the metadata asks of this broker for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Desired {
    Offline,
    Leader,
    Follower(u32),
}

/// The metadata facts of one partition a replica acts on.
struct PartitionFacts {
    replicas: Vec<u32>,
    isr: Vec<u32>,
    leader: Option<u32>,
    leader_epoch: u64,
    partition_epoch: u64,
    min_insync_replicas: u32,
}

impl Node {
    pub(crate) fn arm_replica_tick(&mut self) {
        self.set_timer(Timer::Replica, self.config.timing.replica_tick_interval_ns);
    }

    pub(crate) fn on_replica_tick(&mut self) {
        self.arm_replica_tick();
        // Replicas are only ever added: the key list is rebuilt when their number changed.
        let mut keys = std::mem::take(&mut self.replicas.tick_keys);
        if keys.len() != self.replicas.partitions.len() {
            keys.clear();
            keys.extend(self.replicas.partitions.keys().cloned());
        }
        for key in &keys {
            self.tick_leader(key);
            self.tick_follower(key);
        }
        self.checkpoint_high_watermarks(&keys);
        self.replicas.tick_keys = keys;
        self.expire_parked_sessions();
    }

    /// Writes, in the background, the HW of every replica whose HW moved since its last
    /// checkpoint, once per `timing.high_watermark_checkpoint_interval_ns` (Kafka checkpoints
    /// periodically, not on every advance). A checkpoint older than the HW is safe: a restarted
    /// replica clamps it into its log, learns the HW again from its leader, and truncates by
    /// leader epoch, not to the checkpoint.
    fn checkpoint_high_watermarks(&mut self, keys: &[PartitionKey]) {
        let now_ns = self.now_ns();
        let interval_ns = self.config.timing.high_watermark_checkpoint_interval_ns;
        let last_ns = self.replicas.checkpointed_at_ns;
        // A local clock stepped back below the last checkpoint does not stop checkpoints.
        if now_ns >= last_ns && now_ns < last_ns.saturating_add(interval_ns) {
            return;
        }
        self.replicas.checkpointed_at_ns = now_ns;
        if self
            .perturbations
            .fires(Site::HighWatermarkCheckpointSkipped)
        {
            return;
        }
        for key in keys {
            let replica = self.replicas.partitions.get_mut(key).expect("listed");
            if let Some(write) = replica.log.checkpoint_high_watermark() {
                self.write_log(key, write);
            }
        }
    }

    /// Brings every replica's role in line with the image, if the image or the broker epoch
    /// changed since the last time.
    pub(crate) fn reconcile_replicas(&mut self) {
        let now = (self.image.applied_index, self.broker.broker_epoch);
        if self.replicas.reconciled == Some(now) {
            return;
        }
        self.replicas.reconciled = Some(now);
        let facts: Vec<(PartitionKey, PartitionFacts)> = self
            .image
            .topics
            .iter()
            .flat_map(|(name, topic)| {
                topic
                    .partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, state)| state.replicas.contains(&self.id))
                    .map(move |(partition, state)| {
                        let facts = PartitionFacts {
                            replicas: state.replicas.clone(),
                            isr: state.isr.clone(),
                            leader: state.leader,
                            leader_epoch: state.leader_epoch,
                            partition_epoch: state.partition_epoch,
                            min_insync_replicas: topic.min_insync_replicas,
                        };
                        ((TopicName::from(name), partition as u32), facts)
                    })
            })
            .collect();
        for (key, facts) in facts {
            self.reconcile_replica(key, facts);
        }
    }

    fn desired_role(&self, facts: &PartitionFacts) -> Desired {
        if self.broker.broker_epoch.is_none() {
            return Desired::Offline;
        }
        match facts.leader {
            Some(leader) if leader == self.id => Desired::Leader,
            Some(leader) => Desired::Follower(leader),
            None => Desired::Offline,
        }
    }

    fn reconcile_replica(&mut self, key: PartitionKey, facts: PartitionFacts) {
        self.open_replica(&key);
        let desired = self.desired_role(&facts);
        let replica = self.replicas.partitions.get_mut(&key).expect("opened");
        let current = match &replica.role {
            ReplicaRole::Offline => Desired::Offline,
            ReplicaRole::Leader(_) => Desired::Leader,
            ReplicaRole::Follower(follower) => Desired::Follower(follower.leader),
        };
        assert!(
            facts.leader_epoch >= replica.leader_epoch,
            "{key:?}: the metadata's leader epoch went back"
        );
        let same_epoch = facts.leader_epoch == replica.leader_epoch;
        if replica.partition_epoch != facts.partition_epoch {
            replica.isr_requested_members.clear();
        }
        replica.partition_epoch = facts.partition_epoch;
        if same_epoch && current == desired {
            if let Some(leader) = replica.leader_state() {
                if leader.isr != facts.isr {
                    leader.isr = facts.isr;
                    leader.isr_requested = None;
                }
                self.on_leader_changed(&key);
            }
            return;
        }
        self.end_role(&key);
        self.replicas.roles_version += 1;
        let replica = self.replicas.partitions.get_mut(&key).expect("opened");
        replica.leader_epoch = facts.leader_epoch;
        match desired {
            Desired::Offline => {}
            Desired::Leader => self.become_partition_leader(&key, facts),
            Desired::Follower(leader) => self.become_partition_follower(&key, leader),
        }
    }

    /// Opens the replica's log: recovered from disk if this node holds one, else empty.
    fn open_replica(&mut self, key: &PartitionKey) {
        if self.replicas.partitions.contains_key(key) {
            return;
        }
        let limits = self.config.limits.log;
        let log = match self.replicas.recovered.remove(key) {
            Some(image) => PartitionLog::recover(&image, limits),
            None => PartitionLog::new(limits),
        };
        let replica = Replica::new(log, 0, ReplicaRole::Offline);
        self.replicas.partitions.insert(key.clone(), replica);
    }

    /// Ends the current role: a leader's waiting produces are dropped (their outcome is unknown
    /// to their clients, who time out) and its parked fetches are answered NOT_LEADER.
    fn end_role(&mut self, key: &PartitionKey) {
        let replica = self.replicas.partitions.get_mut(key).expect("opened");
        let role = std::mem::replace(&mut replica.role, ReplicaRole::Offline);
        if let ReplicaRole::Leader(leader) = role {
            for parked in leader.parked {
                let response = FetchResponse {
                    request_id: parked.request.request_id,
                    topic: key.0.clone(),
                    partition: key.1,
                    result: Err(DataError::NotLeader { leader_hint: None }),
                };
                self.send(parked.from, Message::FetchResponse(Box::new(response)));
            }
            self.wake_parked_sessions(key);
            self.abandon_pending_produces(leader.pending);
        }
    }

    fn become_partition_leader(&mut self, key: &PartitionKey, facts: PartitionFacts) {
        let now_ns = self.now_ns();
        let never = !self.config.flush.must_sync_before_acknowledge();
        let replica = self.replicas.partitions.get_mut(key).expect("opened");
        assert!(
            facts.isr.contains(&self.id),
            "{key:?}: the metadata names leader {} outside its ISR",
            self.id
        );
        let followers: Followers = facts
            .replicas
            .iter()
            .filter(|replica| **replica != self.id)
            .map(|replica| {
                let progress = FollowerProgress {
                    log_end_offset: None,
                    last_caught_up_ns: now_ns,
                };
                (*replica, progress)
            })
            .collect();
        let log_end_offset = replica.log.log_end_offset();
        let durable_end_offset = if never {
            log_end_offset
        } else {
            replica.log.high_watermark()
        };
        replica.role = ReplicaRole::Leader(LeaderState {
            isr: facts.isr,
            min_insync_replicas: facts.min_insync_replicas,
            followers,
            durable_end_offset,
            pending: Vec::new(),
            parked: Vec::new(),
            isr_requested: None,
            producers_seen: ProducerStates::default(),
        });
        replica.followed_last = None;
        let leader_epoch = replica.leader_epoch;
        self.observe(Observation::ReplicaBecameLeader {
            topic: key.0.to_string(),
            partition: key.1,
            leader_epoch,
        });
        self.when_log_durable(key, leader_epoch, log_end_offset);
    }

    /// Every replica of this broker, in (topic, partition) order.
    pub fn replicas(&self) -> impl Iterator<Item = ReplicaView<'_>> {
        self.replicas
            .partitions
            .iter()
            .map(|((topic, partition), replica)| ReplicaView {
                topic,
                partition: *partition,
                is_leader: replica.is_leader(),
                leader_epoch: replica.leader_epoch,
                log: &replica.log,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionFacts;
    use crate::log::{LogWrite, Record};
    use crate::message::Message;
    use crate::metadata::image::BrokerRegistration;
    use crate::node::{Node, Output};
    use crate::perturb::{Perturbations, Site};
    use crate::replica::ReplicaRole;
    use crate::replica::test_support::{EPOCH, key, leader, take_sends};
    use crate::storage::StorageWrite;

    /// Leader 0 of t/0 in [`EPOCH`], alone in its ISR, holding two records, synced.
    fn sole_member_with_two_records() -> Node {
        let mut node = leader();
        node.effects.now_ns = 5_000_000_000;
        node.raft.leader = Some(1);
        node.broker.broker_epoch = Some(1);
        let registration = BrokerRegistration {
            incarnation: 1,
            broker_epoch: 2,
            fenced: false,
        };
        node.image.brokers.insert(1, registration);
        append_two_records(&mut node, 7);
        let replica = node.replicas.partitions.get_mut(&key(0)).expect("t/0");
        let leader = replica.leader_state().expect("leads");
        leader.isr = vec![0];
        leader.durable_end_offset = 2;
        node
    }

    /// Appends two records of `value` to t/0 as its leader.
    fn append_two_records(node: &mut Node, value: u64) {
        let replica = node.replicas.partitions.get_mut(&key(0)).expect("t/0");
        let record = Record { key: None, value };
        replica
            .log
            .append_as_leader(EPOCH, vec![record; 2])
            .expect("room");
    }

    fn facts(isr: Vec<u32>, partition_epoch: u64) -> PartitionFacts {
        PartitionFacts {
            replicas: vec![0, 1, 2],
            isr,
            leader: Some(0),
            leader_epoch: EPOCH,
            partition_epoch,
            min_insync_replicas: 1,
        }
    }

    /// Found by campaign 108: a leader asked to add follower 1 to its ISR, then lost its broker
    /// epoch to a stale answer and went offline; the controller committed the addition, and the
    /// broker, its epoch back, led again in the same leader epoch before applying it. A fresh
    /// leader state without the request let the HW pass follower 1's log end, and follower 1,
    /// in the ISR, was elected without those records.
    #[test]
    fn a_leader_that_leads_again_in_its_epoch_still_counts_the_members_it_asked_for() {
        let mut node = sole_member_with_two_records();
        let now_ns = node.now_ns();
        let leader = node.replicas.partitions.get_mut(&key(0)).unwrap();
        let ReplicaRole::Leader(state) = &mut leader.role else {
            unreachable!("leads")
        };
        let progress = state.followers.get_mut(&1).expect("follower 1");
        progress.log_end_offset = Some(2);
        progress.last_caught_up_ns = now_ns;
        node.tick_leader(&key(0));
        let asked: Vec<Vec<u32>> = take_sends(&mut node)
            .into_iter()
            .filter_map(|(_, message)| match message {
                Message::AlterPartition(request) => Some(request.isr),
                _ => None,
            })
            .collect();
        assert_eq!(
            asked,
            vec![vec![0, 1]],
            "follower 1 caught up: asked to join"
        );

        node.broker.broker_epoch = None;
        node.reconcile_replica(key(0), facts(vec![0], 0));
        assert!(!node.replicas.partitions[&key(0)].is_leader(), "offline");
        node.broker.broker_epoch = Some(1);
        node.reconcile_replica(key(0), facts(vec![0], 0));
        append_two_records(&mut node, 8);
        node.replicas
            .partitions
            .get_mut(&key(0))
            .unwrap()
            .leader_state()
            .expect("leads again")
            .durable_end_offset = 4;
        node.on_leader_changed(&key(0));
        let log = &node.replicas.partitions[&key(0)].log;
        assert!(
            log.high_watermark() <= 2,
            "the HW passed follower 1's log end: {}",
            log.high_watermark()
        );

        node.reconcile_replica(key(0), facts(vec![0, 1], 1));
        assert!(
            node.replicas.partitions[&key(0)]
                .isr_requested_members
                .is_empty(),
            "a new partition epoch settles every request"
        );
    }

    /// The partitions of the HW checkpoints `node` wrote since the last call.
    fn checkpoints(node: &mut Node) -> Vec<(u32, u64)> {
        std::mem::take(&mut node.effects.output)
            .into_iter()
            .filter_map(|output| match output {
                Output::DiskWrite {
                    write:
                        StorageWrite::Log {
                            partition,
                            write: LogWrite::CheckpointHighWatermark { high_watermark },
                            ..
                        },
                    ..
                } => Some((partition, high_watermark)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_tick_checkpoints_moved_high_watermarks_once_per_interval() {
        let mut node = leader();
        let interval_ns = node.config.timing.high_watermark_checkpoint_interval_ns;
        let log = &mut node.replicas.partitions.get_mut(&key(1)).expect("t/1").log;
        let record = Record {
            key: None,
            value: 7,
        };
        log.append_as_leader(1, vec![record; 2]).expect("room");
        log.advance_high_watermark(2);

        node.effects.now_ns = interval_ns - 1;
        node.on_replica_tick();
        assert_eq!(checkpoints(&mut node), vec![], "not yet due");

        node.effects.now_ns = interval_ns;
        node.on_replica_tick();
        assert_eq!(checkpoints(&mut node), vec![(1, 2)], "t/0 did not move");

        node.effects.now_ns = 3 * interval_ns;
        node.on_replica_tick();
        assert_eq!(checkpoints(&mut node), vec![], "nothing moved since");
    }

    #[test]
    fn a_skipped_checkpoint_round_writes_nothing_and_the_next_one_catches_up() {
        let mut node = leader();
        let interval_ns = node.config.timing.high_watermark_checkpoint_interval_ns;
        let log = &mut node.replicas.partitions.get_mut(&key(1)).expect("t/1").log;
        log.append_as_leader(
            1,
            vec![
                Record {
                    key: None,
                    value: 7
                };
                2
            ],
        )
        .expect("room");
        log.advance_high_watermark(2);

        node.perturbations
            .fire_always(Site::HighWatermarkCheckpointSkipped);
        node.effects.now_ns = interval_ns;
        node.on_replica_tick();
        assert_eq!(checkpoints(&mut node), vec![], "the round is skipped");

        node.perturbations = Perturbations::default();
        node.effects.now_ns = 2 * interval_ns;
        node.on_replica_tick();
        assert_eq!(
            checkpoints(&mut node),
            vec![(1, 2)],
            "still moved: written next round"
        );
    }
}
