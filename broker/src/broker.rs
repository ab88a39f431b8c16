//! The broker side of every node: registration and heartbeats to the active controller, following
//! the metadata log, asking for ISR changes for the partitions it leads, and answering metadata
//! requests from its own (possibly stale) image. Also the read-only snapshots a driver takes.
//!
//! A broker holds a broker epoch only between seeing its registration (for this incarnation)
//! committed and learning it was fenced or is stale; without one it registers again.
//!
//! Producer ids (InitProducerId) are handed out under the broker epoch: the controller never
//! gives an epoch twice, to any broker or incarnation, so ids are unique across the cluster and
//! its restarts without a round trip to the controller (Kafka's brokers take blocks of ids from
//! the controller instead; the guarantee is the same).
//!
//! ISR changes are asked by partition leaders from the data plane ([`crate::replica`]), once a
//! follower has caught up with the leader's log.

use crate::message::{
    ControllerError, DataError, InitProducerIdRequest, InitProducerIdResponse, Message,
    MetadataResponse, PartitionMetadata,
};
use crate::metadata::image::MetadataImage;
use crate::metadata::record::MetadataRecord;
use crate::node::{Node, Timer};
use crate::raft::Role;

/// A broker's registration with the controller.
#[derive(Clone, Debug, Default)]
pub(crate) struct BrokerSession {
    /// Drawn at every start: tells the controller a restarted broker from a retrying one.
    pub(crate) incarnation: u64,
    /// The current broker epoch, if registered and not known to be fenced.
    pub(crate) broker_epoch: Option<u64>,
    /// Highest broker epoch ever seen for this incarnation.
    pub(crate) broker_epoch_highest: u64,
    /// The broker epoch the last producer id was handed out under, and how many were.
    pub(crate) producer_ids_handed: (u64, u64),
}

/// Producer ids a broker hands out per broker epoch: an id is `broker_epoch << 20 | n`.
pub const PRODUCER_IDS_PER_BROKER_EPOCH: u64 = 1 << 20;

/// A node's view of one partition (from its committed metadata image).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionView {
    pub topic: String,
    pub partition: u32,
    pub replicas: Vec<u32>,
    pub leader: Option<u32>,
    pub leader_epoch: u64,
    pub isr: Vec<u32>,
    pub partition_epoch: u64,
}

/// A node's Raft state, for cluster-wide checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuorumState {
    pub node: u32,
    /// The durable term and vote: the node may already act in a newer term whose sync is pending
    /// (only to reject requests; it grants votes and leads only in durable terms).
    pub term: u64,
    pub voted_for: Option<u32>,
    pub is_leader: bool,
    /// Entries `1..=commit_index` are known committed.
    pub commit_index: u64,
    /// `(term, digest)` of entry `i` (1-based) at position `i - 1`.
    pub log: Vec<(u64, u64)>,
}

/// A cheap summary of everything [`Node::quorum_state`], [`Node::partition_views`] and
/// [`Node::broker_epochs`] report: when it has not changed, neither have they (the metadata views
/// change only when a record is applied; the log only at its end, by Raft's log matching), so a
/// driver may skip re-checking the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateFingerprint {
    pub hard_state: crate::storage::HardState,
    pub is_leader: bool,
    pub commit_index: u64,
    pub last_log_index: u64,
    pub last_log_digest: u64,
    pub applied_index: u64,
}

impl BrokerSession {
    /// A current broker epoch is a log index (from 1) and never above the highest seen.
    fn assert_consistent(&self) {
        if let Some(broker_epoch) = self.broker_epoch {
            assert!(
                broker_epoch <= self.broker_epoch_highest,
                "broker epoch above the highest seen"
            );
            assert!(broker_epoch > 0, "broker epochs are log indexes, from 1");
        }
    }
}

impl Node {
    pub(crate) fn arm_broker_heartbeat(&mut self) {
        self.set_timer(
            Timer::BrokerHeartbeat,
            self.config.timing.broker_heartbeat_interval_ns,
        );
    }

    pub(crate) fn on_broker_heartbeat_timer(&mut self) {
        self.arm_broker_heartbeat();
        let Some(controller) = self.raft.leader else {
            return;
        };
        let message = match self.broker.broker_epoch {
            None => Message::RegisterBroker {
                broker: self.id,
                incarnation: self.broker.incarnation,
            },
            Some(broker_epoch) => Message::BrokerHeartbeat {
                broker: self.id,
                broker_epoch,
            },
        };
        self.send(controller, message);
    }

    pub(crate) fn on_broker_heartbeat_response(&mut self, result: Result<(), ControllerError>) {
        if let Err(ControllerError::StaleBrokerEpoch { broker_epoch, .. }) = result
            && self.broker.broker_epoch == Some(broker_epoch)
        {
            self.broker.broker_epoch = None; // Register again on the next heartbeat.
        }
    }

    /// Takes the epoch only if this broker's own image already holds that registration, current
    /// and unfenced. The answer may outrun the metadata log (a fresh registration, answered
    /// before this broker applied it) or trail it (a late or duplicated answer for an epoch since
    /// fenced). Acting on either would let a restarted broker lead a partition in an epoch its
    /// image still names from before the crash, appending records at offsets its previous
    /// incarnation had already filled in that same epoch (as Kafka, a broker stays fenced until
    /// it has caught up with its own registration). A fresh registration is taken when applied.
    pub(crate) fn on_register_broker_response(&mut self, broker_epoch: u64) {
        let current = self
            .image
            .brokers
            .get(&self.id)
            .is_some_and(|registration| {
                registration.incarnation == self.broker.incarnation
                    && registration.broker_epoch == broker_epoch
                    && !registration.fenced
            });
        if self.broker.broker_epoch.is_none() && current {
            self.broker.broker_epoch = Some(broker_epoch);
            self.broker.broker_epoch_highest = self.broker.broker_epoch_highest.max(broker_epoch);
        }
        self.broker.assert_consistent();
    }

    /// Reacts to a committed record: learns this broker's own registration and fencing.
    pub(crate) fn on_record_applied(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                broker_epoch,
            } if *broker == self.id
                && *incarnation == self.broker.incarnation
                && *broker_epoch > self.broker.broker_epoch_highest =>
            {
                self.broker.broker_epoch_highest = *broker_epoch;
                self.broker.broker_epoch = Some(*broker_epoch);
            }
            MetadataRecord::FenceBroker {
                broker,
                broker_epoch,
            } if *broker == self.id && self.broker.broker_epoch == Some(*broker_epoch) => {
                self.broker.broker_epoch = None;
            }
            _ => {}
        }
        self.broker.assert_consistent();
    }

    pub(crate) fn on_metadata_request(&mut self, from: u32, request_id: u64) {
        let brokers = self
            .image
            .brokers
            .iter()
            .filter(|(_, registration)| !registration.fenced)
            .map(|(broker, registration)| (*broker, registration.broker_epoch))
            .collect();
        let partitions = self
            .partition_views()
            .into_iter()
            .map(|view| PartitionMetadata {
                topic: view.topic,
                partition: view.partition,
                replicas: view.replicas,
                isr: view.isr,
                leader: view.leader,
                leader_epoch: view.leader_epoch,
            })
            .collect();
        let response = MetadataResponse {
            request_id,
            metadata_index: self.image.applied_index,
            controller: self.raft.leader,
            brokers,
            partitions,
        };
        self.send(from, Message::MetadataResponse(response));
    }

    /// This node's Raft state (voters and learners alike).
    pub fn quorum_state(&self) -> QuorumState {
        let log = self
            .raft
            .log
            .entries()
            .iter()
            .zip(self.raft.log.digests())
            .map(|(entry, digest)| (entry.term, *digest))
            .collect();
        QuorumState {
            node: self.id,
            term: self.raft.hard_state_durable.term,
            voted_for: self.raft.hard_state_durable.voted_for,
            is_leader: matches!(self.raft.role, Role::Leader(_)),
            commit_index: self.raft.commit_index,
            log,
        }
    }

    /// A summary of this node's reported state (see [`StateFingerprint`]).
    pub fn state_fingerprint(&self) -> StateFingerprint {
        StateFingerprint {
            hard_state: self.raft.hard_state_durable,
            is_leader: self.raft.is_leader(),
            commit_index: self.raft.commit_index,
            last_log_index: self.raft.log.last_index(),
            last_log_digest: self.raft.log.digests().last().copied().unwrap_or(0),
            applied_index: self.image.applied_index,
        }
    }

    /// Every partition as this node's committed metadata describes it, in (topic, partition) order.
    pub fn partition_views(&self) -> Vec<PartitionView> {
        self.image
            .partitions()
            .map(|(topic, partition, state)| PartitionView {
                topic: topic.to_owned(),
                partition,
                replicas: state.replicas.clone(),
                leader: state.leader,
                leader_epoch: state.leader_epoch,
                isr: state.isr.clone(),
                partition_epoch: state.partition_epoch,
            })
            .collect()
    }

    /// Every registered broker's epoch as this node's committed metadata records it.
    pub fn broker_epochs(&self) -> Vec<(u32, u64)> {
        self.image
            .brokers
            .iter()
            .map(|(broker, registration)| (*broker, registration.broker_epoch))
            .collect()
    }

    /// This node's committed metadata.
    pub fn metadata(&self) -> &MetadataImage {
        &self.image
    }

    /// The Raft leader (active or soon-active controller) as far as this node knows.
    pub fn controller_hint(&self) -> Option<u32> {
        self.raft.leader
    }

    /// The current Raft term, possibly newer than the durable one of [`Node::quorum_state`].
    pub fn current_term(&self) -> u64 {
        self.raft.term
    }

    /// This broker's current broker epoch, if registered.
    pub fn broker_epoch(&self) -> Option<u64> {
        self.broker.broker_epoch
    }
}

impl BrokerSession {
    /// A producer id never handed out before, by any broker or incarnation: `broker_epoch << 20
    /// | n`, the `n`th id handed out under this broker epoch. `None` without a broker epoch, or
    /// once the epoch's [`PRODUCER_IDS_PER_BROKER_EPOCH`] ids are all handed out. Shared by
    /// idempotent producers (InitProducerId) and transaction coordinators (a new transactional
    /// id's producer).
    pub(crate) fn allocate_producer_id(&mut self) -> Option<u64> {
        let broker_epoch = self.broker_epoch?;
        let (epoch_handed, handed) = &mut self.producer_ids_handed;
        if *epoch_handed != broker_epoch {
            (*epoch_handed, *handed) = (broker_epoch, 0);
        }
        if *handed >= PRODUCER_IDS_PER_BROKER_EPOCH {
            return None;
        }
        *handed += 1;
        Some((broker_epoch << 20) | (*handed - 1))
    }
}

impl Node {
    /// Hands an idempotent producer a fresh id, epoch 0.
    pub(crate) fn on_init_producer_id(&mut self, from: u32, request: InitProducerIdRequest) {
        let result = match self.broker.allocate_producer_id() {
            Some(producer_id) => Ok((producer_id, 0)),
            None => Err(DataError::ProducerIdsUnavailable),
        };
        let response = InitProducerIdResponse {
            request_id: request.request_id,
            result,
        };
        self.send(from, Message::InitProducerIdResponse(response));
    }
}
