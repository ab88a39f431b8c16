//! A client's cache of partition leaders, refreshed by asking brokers in turn.
//!
//! Brokers answer from their own committed image, which may be stale; the cache keeps the
//! freshest answer (highest metadata index) and never goes back to an older one. A client that
//! read data or a committed offset of a newer leader epoch than the cache names
//! ([`MetadataCache::note_leader_epoch`]) treats the cached leader as unknown, as Kafka's clients
//! do since KIP-320: a zombie leader of an older epoch may hold a shorter log.

use std::collections::BTreeMap;

use crate::dedup::RequestIds;
use crate::message::{Message, MetadataResponse};
use crate::node::Output;

/// Partition leaders and leader epochs as last learned.
#[derive(Debug)]
pub struct MetadataCache {
    brokers: u32,
    metadata_index: u64,
    /// topic -> partition -> (leader, leader epoch); by topic first so that a lookup borrows.
    leaders: BTreeMap<String, BTreeMap<u32, (Option<u32>, u64)>>,
    /// topic -> partition -> the highest leader epoch seen in data or committed offsets.
    epoch_floors: BTreeMap<String, BTreeMap<u32, u64>>,
    partition_counts: BTreeMap<String, u32>,
    /// The refresh in flight: its request id and when it was sent.
    in_flight: Option<(u64, u64)>,
    /// When the last refresh was sent, answered or not: at most one per backoff.
    last_sent_ns: Option<u64>,
    broker_next: u32,
}

impl MetadataCache {
    pub fn new(brokers: u32) -> MetadataCache {
        assert!(brokers > 0, "a cluster has brokers");
        MetadataCache {
            brokers,
            metadata_index: 0,
            leaders: BTreeMap::new(),
            epoch_floors: BTreeMap::new(),
            partition_counts: BTreeMap::new(),
            in_flight: None,
            last_sent_ns: None,
            broker_next: 0,
        }
    }

    /// The leader and its epoch, if known and not older than an epoch the client has seen.
    pub fn leader(&self, topic: &str, partition: u32) -> Option<(u32, u64)> {
        let (leader, epoch) = self.leaders.get(topic)?.get(&partition)?;
        let floor = self
            .epoch_floors
            .get(topic)
            .and_then(|partitions| partitions.get(&partition));
        if floor.is_some_and(|floor| floor > epoch) {
            return None;
        }
        leader.map(|leader| (leader, *epoch))
    }

    /// The client saw `epoch` as the leader epoch of `topic/partition` (in records it read, or
    /// a committed offset): a cached leader of an older epoch is stale from now on.
    pub fn note_leader_epoch(&mut self, topic: &str, partition: u32, epoch: u64) {
        if !self.epoch_floors.contains_key(topic) {
            self.epoch_floors.insert(topic.to_owned(), BTreeMap::new());
        }
        let partitions = self.epoch_floors.get_mut(topic).expect("inserted above");
        let floor = partitions.entry(partition).or_insert(epoch);
        *floor = (*floor).max(epoch);
    }

    /// How many partitions `topic` has, if known.
    pub fn partitions(&self, topic: &str) -> Option<u32> {
        self.partition_counts.get(topic).copied()
    }

    /// A refresh request to the next broker, unless one was sent less than `backoff_ns` ago,
    /// answered or not. As Kafka's clients back off `retry.backoff.ms` between metadata
    /// requests: a client waiting for a topic to appear polls for it, it does not send its next
    /// request the moment an answer without it arrives. A refresh in flight longer than that is
    /// presumed lost and sent again (to the next broker); so is one "sent" in the local future,
    /// after the clock stepped back.
    pub fn refresh(
        &mut self,
        now_ns: u64,
        request_id: u64,
        backoff_ns: u64,
    ) -> Option<(u32, Message)> {
        if let Some(sent_ns) = self.last_sent_ns
            && sent_ns <= now_ns
            && now_ns < sent_ns.saturating_add(backoff_ns)
        {
            return None;
        }
        let to = self.broker_next;
        self.broker_next = (self.broker_next + 1) % self.brokers;
        self.in_flight = Some((request_id, now_ns));
        self.last_sent_ns = Some(now_ns);
        Some((to, Message::MetadataRequest { request_id }))
    }

    /// [`MetadataCache::refresh`] with the next of `request_ids`, sent through `output`: what
    /// every client does when it needs newer metadata.
    pub(crate) fn request_refresh(
        &mut self,
        now_ns: u64,
        request_ids: &mut RequestIds,
        backoff_ns: u64,
        output: &mut Vec<Output>,
    ) {
        let request_id = request_ids.next_id();
        if let Some((to, message)) = self.refresh(now_ns, request_id, backoff_ns) {
            output.push(Output::Send { to, message });
        }
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

/// Metadata answers and requests for the clients' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::message::{Message, MetadataResponse, PartitionMetadata};
    use crate::node::Output;

    /// Metadata answering `request_id` at `metadata_index`: partition 0 of `topic` is led by
    /// `leader` in `leader_epoch`.
    pub(crate) fn partition_led_by(
        request_id: u64,
        metadata_index: u64,
        topic: &str,
        leader: Option<u32>,
        leader_epoch: u64,
    ) -> MetadataResponse {
        MetadataResponse {
            request_id,
            metadata_index,
            controller: None,
            brokers: Vec::new(),
            partitions: vec![PartitionMetadata {
                topic: topic.to_owned(),
                partition: 0,
                replicas: vec![0, 1, 2],
                isr: vec![0, 1, 2],
                leader,
                leader_epoch,
            }],
        }
    }

    /// The id of the first metadata request in `output`, if any.
    pub(crate) fn metadata_request(output: &[Output]) -> Option<u64> {
        output.iter().find_map(|output| match output {
            Output::Send {
                message: Message::MetadataRequest { request_id },
                ..
            } => Some(*request_id),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::partition_led_by;
    use super::*;

    fn answer(metadata_index: u64, leader: u32, leader_epoch: u64) -> MetadataResponse {
        partition_led_by(0, metadata_index, "t", Some(leader), leader_epoch)
    }

    #[test]
    fn refreshes_are_one_per_backoff_answered_or_not() {
        const BACKOFF_NS: u64 = 50;
        let mut cache = MetadataCache::new(3);
        let Some((0, Message::MetadataRequest { request_id })) =
            cache.refresh(1_000, 7, BACKOFF_NS)
        else {
            panic!("the first refresh goes to broker 0");
        };
        assert_eq!(cache.refresh(1_010, 8, BACKOFF_NS), None, "one in flight");
        let mut answered = answer(1, 2, 1);
        answered.request_id = request_id;
        assert!(cache.on_response(&answered));
        assert!(!cache.refreshing());
        assert_eq!(
            cache.refresh(1_020, 8, BACKOFF_NS),
            None,
            "answered, but less than a backoff ago: no new request yet"
        );
        assert!(
            matches!(cache.refresh(1_050, 8, BACKOFF_NS), Some((1, _))),
            "a backoff after the last request, to the next broker"
        );
        assert!(
            matches!(cache.refresh(1_100, 9, BACKOFF_NS), Some((2, _))),
            "unanswered for a backoff: presumed lost, sent again"
        );
        assert!(
            matches!(cache.refresh(900, 10, BACKOFF_NS), Some((0, _))),
            "the clock stepped back: the last request is not in the future"
        );
    }

    #[test]
    fn a_leader_older_than_an_epoch_seen_is_unknown_until_newer_metadata() {
        let mut cache = MetadataCache::new(3);
        cache.on_response(&answer(5, 2, 1));
        assert_eq!(cache.leader("t", 0), Some((2, 1)));
        cache.note_leader_epoch("t", 0, 2);
        assert_eq!(cache.leader("t", 0), None, "b2 at epoch 1 is a zombie");
        cache.note_leader_epoch("t", 0, 1);
        assert_eq!(cache.leader("t", 0), None, "the floor never goes down");
        cache.on_response(&answer(6, 0, 2));
        assert_eq!(cache.leader("t", 0), Some((0, 2)));
        assert_eq!(cache.leader("t", 1), None, "never named");
    }
}
