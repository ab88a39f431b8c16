//! A client's cache of partition leaders, refreshed by asking brokers in turn.
//!
//! Brokers answer from their own committed image, which may be stale; the cache keeps the
//! freshest answer (highest metadata index) and never goes back to an older one.

use std::collections::BTreeMap;

use crate::message::{Message, MetadataResponse};

/// Partition leaders and leader epochs as last learned.
#[derive(Debug)]
pub struct MetadataCache {
    brokers: u32,
    metadata_index: u64,
    /// (topic, partition) -> (leader, leader epoch).
    /// topic -> partition -> (leader, leader epoch); by topic first so that a lookup borrows.
    leaders: BTreeMap<String, BTreeMap<u32, (Option<u32>, u64)>>,
    partition_counts: BTreeMap<String, u32>,
    /// The refresh in flight: its request id and when it was sent.
    in_flight: Option<(u64, u64)>,
    broker_next: u32,
}

impl MetadataCache {
    pub fn new(brokers: u32) -> MetadataCache {
        assert!(brokers > 0, "a cluster has brokers");
        MetadataCache {
            brokers,
            metadata_index: 0,
            leaders: BTreeMap::new(),
            partition_counts: BTreeMap::new(),
            in_flight: None,
            broker_next: 0,
        }
    }

    /// The leader and its epoch, if known.
    pub fn leader(&self, topic: &str, partition: u32) -> Option<(u32, u64)> {
        let (leader, epoch) = self.leaders.get(topic)?.get(&partition)?;
        leader.map(|leader| (leader, *epoch))
    }

    /// How many partitions `topic` has, if known.
    pub fn partitions(&self, topic: &str) -> Option<u32> {
        self.partition_counts.get(topic).copied()
    }

    /// A refresh request to the next broker, unless one is in flight younger than `timeout_ns`.
    pub fn refresh(
        &mut self,
        now_ns: u64,
        request_id: u64,
        timeout_ns: u64,
    ) -> Option<(u32, Message)> {
        if let Some((_, sent_ns)) = self.in_flight
            && sent_ns + timeout_ns > now_ns
        {
            return None;
        }
        let to = self.broker_next;
        self.broker_next = (self.broker_next + 1) % self.brokers;
        self.in_flight = Some((request_id, now_ns));
        Some((to, Message::MetadataRequest { request_id }))
    }

    /// Whether a refresh is in flight.
    pub fn refreshing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Learns from an answer; returns whether it was the awaited one.
    pub fn on_response(&mut self, response: &MetadataResponse) -> bool {
        let awaited = self
            .in_flight
            .is_some_and(|(request_id, _)| request_id == response.request_id);
        if awaited {
            self.in_flight = None;
        }
        if response.metadata_index < self.metadata_index {
            return awaited;
        }
        self.metadata_index = response.metadata_index;
        for partition in &response.partitions {
            if !self.leaders.contains_key(&partition.topic) {
                self.leaders
                    .insert(partition.topic.clone(), BTreeMap::new());
            }
            self.leaders
                .get_mut(&partition.topic)
                .expect("inserted above")
                .insert(
                    partition.partition,
                    (partition.leader, partition.leader_epoch),
                );
            let count = self
                .partition_counts
                .entry(partition.topic.clone())
                .or_insert(0);
            *count = (*count).max(partition.partition + 1);
        }
        awaited
    }

    /// Forgets the leader of a partition (after NOT_LEADER and the like).
    pub fn invalidate(&mut self, topic: &str, partition: u32) {
        if let Some(entry) = self
            .leaders
            .get_mut(topic)
            .and_then(|partitions| partitions.get_mut(&partition))
        {
            entry.0 = None;
        }
    }

    /// When the refresh in flight times out, if one is.
    pub fn deadline_ns(&self, timeout_ns: u64) -> Option<u64> {
        self.in_flight.map(|(_, sent_ns)| sent_ns + timeout_ns)
    }
}
