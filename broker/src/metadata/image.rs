//! The metadata image: what a node knows of the cluster, built by applying committed metadata
//! records in log order.
//!
//! Invariants (checked by [`MetadataImage::check_invariants`], and the record-level ones asserted as
//! each record is applied):
//! - every partition's ISR is non-empty, free of duplicates and a subset of its replicas;
//! - a partition's leader, if any, is in its ISR and is a registered, unfenced broker;
//! - leader epochs, partition epochs and broker epochs never decrease; a leader change bumps the
//!   leader epoch; every partition change bumps the partition epoch;
//! - a broker epoch is the log index of the broker's registration record.

use std::collections::BTreeMap;

use super::record::{MetadataRecord, PartitionChange, TopicRecord};

/// A broker's registration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerRegistration {
    pub incarnation: u64,
    pub broker_epoch: u64,
    pub fenced: bool,
}

/// A partition's replicas, leader and ISR.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionState {
    /// The preferred leader first.
    pub replicas: Vec<u32>,
    pub isr: Vec<u32>,
    pub leader: Option<u32>,
    pub leader_epoch: u64,
    pub partition_epoch: u64,
}

/// A topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicState {
    pub min_insync_replicas: u32,
    pub partitions: Vec<PartitionState>,
}

/// The cluster metadata as of `applied_index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MetadataImage {
    /// Index of the last record applied.
    pub applied_index: u64,
    pub bootstrapped: bool,
    pub topics: BTreeMap<String, TopicState>,
    pub brokers: BTreeMap<u32, BrokerRegistration>,
}

impl MetadataImage {
    /// Applies the record at `index` (the next one: `applied_index + 1`).
    pub fn apply(&mut self, index: u64, record: &MetadataRecord) {
        assert_eq!(
            index,
            self.applied_index + 1,
            "records are applied in log order, without gaps"
        );
        match record {
            MetadataRecord::LeaderNoOp { .. } => {}
            MetadataRecord::Bootstrap { topics } => self.apply_bootstrap(topics),
            MetadataRecord::CreateTopic(topic) => self.apply_create_topic(topic),
            MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                broker_epoch,
            } => {
                assert_eq!(
                    *broker_epoch, index,
                    "a broker epoch is the index of its registration record"
                );
                self.apply_register_broker(*broker, *incarnation, *broker_epoch);
            }
            MetadataRecord::FenceBroker {
                broker,
                broker_epoch,
            } => self.apply_fence_broker(*broker, *broker_epoch),
            MetadataRecord::PartitionChange(change) => self.apply_partition_change(change),
        }
        self.applied_index = index;
    }

    fn apply_bootstrap(&mut self, topics: &[TopicRecord]) {
        assert!(!self.bootstrapped, "bootstrap is written once");
        self.bootstrapped = true;
        for topic in topics {
            self.apply_create_topic(topic);
        }
    }

    fn apply_create_topic(&mut self, topic: &TopicRecord) {
        assert!(
            !self.topics.contains_key(&topic.name),
            "topic {:?} created twice",
            topic.name
        );
        assert!(!topic.replicas.is_empty());
        let partitions = topic
            .replicas
            .iter()
            .map(|replicas| {
                assert!(!replicas.is_empty() && !has_duplicates(replicas));
                PartitionState {
                    replicas: replicas.clone(),
                    isr: replicas.clone(),
                    leader: None,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            })
            .collect();
        let state = TopicState {
            min_insync_replicas: topic.min_insync_replicas,
            partitions,
        };
        self.topics.insert(topic.name.clone(), state);
    }

    fn apply_register_broker(&mut self, broker: u32, incarnation: u64, broker_epoch: u64) {
        if let Some(previous) = self.brokers.get(&broker) {
            assert!(
                broker_epoch > previous.broker_epoch,
                "broker epochs never decrease"
            );
            // A first registration may find the broker in bootstrap ISRs; a later one may not.
            self.assert_broker_leads_nothing_unless_last(broker);
        }
        let registration = BrokerRegistration {
            incarnation,
            broker_epoch,
            fenced: false,
        };
        self.brokers.insert(broker, registration);
    }

    fn apply_fence_broker(&mut self, broker: u32, broker_epoch: u64) {
        let registration = self
            .brokers
            .get_mut(&broker)
            .expect("only a registered broker is fenced");
        assert_eq!(
            registration.broker_epoch, broker_epoch,
            "fencing names the current broker epoch"
        );
        assert!(!registration.fenced, "a broker is fenced once per epoch");
        registration.fenced = true;
        self.assert_broker_leads_nothing_unless_last(broker);
    }

    /// Before a broker is fenced or re-registered, the controller moved leadership off it and
    /// removed it from every ISR it was not the last member of.
    fn assert_broker_leads_nothing_unless_last(&self, broker: u32) {
        for (name, topic) in &self.topics {
            for (partition, state) in topic.partitions.iter().enumerate() {
                assert_ne!(
                    state.leader,
                    Some(broker),
                    "{name}/{partition}: broker {broker} still leads"
                );
                assert!(
                    !state.isr.contains(&broker) || state.isr.len() == 1,
                    "{name}/{partition}: broker {broker} still in ISR {:?}",
                    state.isr
                );
            }
        }
    }

    fn apply_partition_change(&mut self, change: &PartitionChange) {
        let topic = self
            .topics
            .get(&change.topic)
            .expect("partition change of an existing topic");
        let state = topic
            .partitions
            .get(change.partition as usize)
            .expect("partition change of an existing partition");
        assert_eq!(
            change.partition_epoch,
            state.partition_epoch + 1,
            "each change bumps the partition epoch"
        );
        assert!(
            change.leader_epoch >= state.leader_epoch,
            "leader epochs never decrease"
        );
        assert_eq!(
            change.leader != state.leader,
            change.leader_epoch > state.leader_epoch,
            "the leader epoch is bumped exactly when the leader changes"
        );
        assert!(!change.isr.is_empty() && !has_duplicates(&change.isr));
        assert!(
            change
                .isr
                .iter()
                .all(|member| state.replicas.contains(member)),
            "ISR within replicas"
        );
        if let Some(leader) = change.leader {
            assert!(
                change.isr.contains(&leader),
                "a partition leader is in its ISR"
            );
            assert!(
                self.is_active(leader),
                "a partition leader is a registered, unfenced broker"
            );
        }
        let state = self.partition_mut(&change.topic, change.partition);
        state.leader = change.leader;
        state.leader_epoch = change.leader_epoch;
        state.isr.clone_from(&change.isr);
        state.partition_epoch = change.partition_epoch;
    }

    fn partition_mut(&mut self, topic: &str, partition: u32) -> &mut PartitionState {
        let topic = self.topics.get_mut(topic).expect("existing topic");
        &mut topic.partitions[partition as usize]
    }

    /// The partition's state, if it exists.
    pub fn partition(&self, topic: &str, partition: u32) -> Option<&PartitionState> {
        self.topics.get(topic)?.partitions.get(partition as usize)
    }

    /// Every partition, in (topic, partition) order.
    pub fn partitions(&self) -> impl Iterator<Item = (&str, u32, &PartitionState)> {
        self.topics.iter().flat_map(|(name, topic)| {
            topic
                .partitions
                .iter()
                .enumerate()
                .map(move |(index, state)| (name.as_str(), index as u32, state))
        })
    }

    /// Whether `broker` is registered and not fenced.
    pub fn is_active(&self, broker: u32) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|registration| !registration.fenced)
    }

    /// Checks the image-wide invariants (see module docs). Panics on a violation.
    pub fn check_invariants(&self) {
        for (name, partition, state) in self.partitions() {
            assert!(!state.isr.is_empty(), "{name}/{partition}: empty ISR");
            assert!(
                !has_duplicates(&state.isr),
                "{name}/{partition}: duplicate in ISR"
            );
            assert!(
                state
                    .isr
                    .iter()
                    .all(|member| state.replicas.contains(member)),
                "{name}/{partition}: ISR outside replicas"
            );
            if let Some(leader) = state.leader {
                assert!(
                    state.isr.contains(&leader),
                    "{name}/{partition}: leader {leader} not in ISR {:?}",
                    state.isr
                );
                assert!(
                    self.is_active(leader),
                    "{name}/{partition}: leader {leader} fenced or unregistered"
                );
            }
        }
        for (broker, registration) in &self.brokers {
            assert!(
                registration.broker_epoch <= self.applied_index,
                "broker {broker}: epoch past the applied index"
            );
        }
    }
}

pub(crate) fn has_duplicates(members: &[u32]) -> bool {
    members
        .iter()
        .enumerate()
        .any(|(position, member)| members[..position].contains(member))
}
