//! The follower side: becoming a follower, the divergence search, the fetch loop.
//!
//! On becoming a follower the replica asks [`crate::log::LogBugs::follower_start`] what to do
//! (correctly: search the divergence point by leader epoch, KIP-101/KIP-279; with a zoo switch:
//! truncate to the local HW, or keep the log), then fetches from its LEO with its leader epoch.
//! One request is in flight at a time; answers to anything but it are ignored (the network may
//! duplicate or delay them). A request unanswered after `timing.replica_request_timeout_ns` is
//! sent again, as is one answered with a retriable error. Under `every-batch` a fetch goes out
//! only once the appended batches are synced: the fetch offset acknowledges them to the leader.
//! A follower's HW is `min(leader's HW, own LEO)`: it never exceeds its leader's.

use crate::log::{DivergenceNext, EpochEndOffset, FollowerStart, LogWrite};
use crate::message::data::FetchData;
use crate::message::{
    DataError, Message, OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse,
    ReplicaFetchResponse, ReplicaFetchResult,
};
use crate::node::{Node, Observation, TruncationCause};
use crate::replica::{FollowerPhase, FollowerState, ReplicaRole};
use crate::storage::PartitionKey;

impl Node {
    pub(crate) fn become_partition_follower(&mut self, key: &PartitionKey, leader: u32) {
        let bugs = self.config.bugs.log_bugs();
        let replica = self.replicas.partitions.get_mut(key).expect("opened");
        let start = bugs.follower_start(&replica.log, replica.followed_last, leader);
        replica.followed_last = Some(leader);
        let phase = match start {
            FollowerStart::SearchDivergence { .. } => FollowerPhase::Searching,
            FollowerStart::Fetch { .. } | FollowerStart::KeepLog { .. } => FollowerPhase::Fetching,
            FollowerStart::TruncateToHighWatermark { offset } => {
                let from_offset = replica.log.log_end_offset();
                if let Some(write) = replica.log.truncate_to(offset) {
                    self.truncated(key, from_offset, write, TruncationCause::HighWatermark);
                }
                FollowerPhase::Fetching
            }
        };
        let replica = self.replicas.partitions.get_mut(key).expect("opened");
        replica.role = ReplicaRole::Follower(FollowerState {
            leader,
            phase,
            in_flight: None,
            fetch_wanted: false,
            sent_at_ns: self.effects.now_ns,
        });
        self.send_follower_request(key);
    }

    fn follower_state(&mut self, key: &PartitionKey) -> Option<&mut FollowerState> {
        match &mut self.replicas.partitions.get_mut(key)?.role {
            ReplicaRole::Follower(follower) => Some(follower),
            _ => None,
        }
    }

    /// Sends the request of the follower's phase: a divergence question, or a fetch in the
    /// leader's session (sent at the end of the step).
    fn send_follower_request(&mut self, key: &PartitionKey) {
        let now_ns = self.now_ns();
        let replica = self.replicas.partitions.get_mut(key).expect("present");
        let leader_epoch = replica.leader_epoch;
        let query = replica.log.divergence_query();
        let ReplicaRole::Follower(follower) = &mut replica.role else {
            return;
        };
        let to = follower.leader;
        if follower.phase == FollowerPhase::Searching {
            if let Some(asked) = query {
                let request_id = self.next_request_id();
                let replica = self.replicas.partitions.get_mut(key).expect("present");
                let ReplicaRole::Follower(follower) = &mut replica.role else {
                    unreachable!("matched above")
                };
                follower.in_flight = Some(request_id);
                follower.sent_at_ns = now_ns;
                let request = OffsetsForLeaderEpochRequest {
                    request_id,
                    topic: key.0.clone(),
                    partition: key.1,
                    current_leader_epoch: leader_epoch,
                    leader_epoch: asked,
                };
                self.send(to, Message::OffsetsForLeaderEpoch(request));
                return;
            }
            follower.phase = FollowerPhase::Fetching;
        }
        follower.fetch_wanted = true;
        self.want_replica_fetch(to);
    }

    /// Whether `request_id` is the follower's outstanding request for `key`.
    fn awaited(&mut self, key: &PartitionKey, request_id: u64) -> bool {
        self.follower_state(key)
            .is_some_and(|follower| follower.in_flight == Some(request_id))
    }

    /// Reports a cut of `key`'s log from `from_offset` to where it ends now, and writes it. Only
    /// an out-of-range reset may move the end forward (to the leader's log start).
    fn truncated(
        &mut self,
        key: &PartitionKey,
        from_offset: u64,
        write: LogWrite,
        cause: TruncationCause,
    ) {
        let to_offset = self.replicas.partitions[key].log.log_end_offset();
        assert!(
            to_offset < from_offset || cause == TruncationCause::OutOfRange,
            "node {}: {key:?}: a {cause:?} truncation from {from_offset} to {to_offset} cut nothing",
            self.id
        );
        self.observe(Observation::Truncated {
            topic: key.0.to_string(),
            partition: key.1,
            from_offset,
            to_offset,
            cause,
        });
        self.write_log(key, write);
    }

    /// A retriable error: wait, then send again (the metadata may bring a new epoch meanwhile).
    fn back_off(&mut self, key: &PartitionKey) {
        let now_ns = self.now_ns();
        if let Some(follower) = self.follower_state(key) {
            follower.in_flight = None;
            follower.sent_at_ns = now_ns;
        }
    }

    pub(crate) fn on_offsets_for_leader_epoch_response(
        &mut self,
        response: OffsetsForLeaderEpochResponse,
    ) {
        let key = (response.topic.clone(), response.partition);
        if !self.awaited(&key, response.request_id) {
            return;
        }
        let Ok((leader_epoch, end_offset)) = response.result else {
            self.back_off(&key);
            return;
        };
        let replica = self.replicas.partitions.get_mut(&key).expect("awaited");
        let Some(asked) = replica.log.divergence_query() else {
            self.set_phase_and_send(&key, FollowerPhase::Fetching);
            return;
        };
        let answer = EpochEndOffset {
            leader_epoch,
            end_offset,
        };
        let from_offset = replica.log.log_end_offset();
        match replica.log.resolve_divergence(asked, answer) {
            Ok(round) => {
                if let Some(write) = round.write {
                    self.truncated(&key, from_offset, write, TruncationCause::Divergence);
                }
                let phase = match round.next {
                    DivergenceNext::Ask { .. } => FollowerPhase::Searching,
                    DivergenceNext::Fetch { .. } => FollowerPhase::Fetching,
                };
                self.set_phase_and_send(&key, phase);
            }
            Err(_) => self.back_off(&key),
        }
    }

    fn set_phase_and_send(&mut self, key: &PartitionKey, phase: FollowerPhase) {
        if let Some(follower) = self.follower_state(key) {
            follower.phase = phase;
        }
        self.send_follower_request(key);
    }

    /// An answer from `leader`: each partition it names is handled; if it answers the request in
    /// flight, the next one goes out at the end of the step (with the partitions left out).
    pub(crate) fn on_replica_fetch_response(
        &mut self,
        leader: u32,
        response: ReplicaFetchResponse,
    ) {
        let request_id = response.request_id;
        let current = self.replicas.partitions.values().any(|replica| {
            matches!(&replica.role, ReplicaRole::Follower(follower)
                if follower.leader == leader && follower.in_flight == Some(request_id))
        });
        for fetched in response.partitions {
            self.on_partition_fetched(request_id, fetched);
        }
        if current {
            self.want_replica_fetch(leader);
        }
    }

    fn on_partition_fetched(&mut self, request_id: u64, fetched: ReplicaFetchResult) {
        let ReplicaFetchResult {
            topic,
            partition,
            result,
        } = fetched;
        let key = (topic, partition);
        if !self.awaited(&key, request_id) {
            return;
        }
        if let Some(follower) = self.follower_state(&key) {
            follower.in_flight = None;
        }
        match result {
            Ok(data) => {
                self.append_fetched(&key, data);
                self.send_follower_request(&key);
            }
            Err(DataError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            }) => {
                let replica = self.replicas.partitions.get_mut(&key).expect("awaited");
                let from_offset = replica.log.log_end_offset();
                if let Some(write) = replica
                    .log
                    .reset_out_of_range(log_start_offset, log_end_offset)
                {
                    self.truncated(&key, from_offset, write, TruncationCause::OutOfRange);
                }
                self.send_follower_request(&key);
            }
            Err(_) => self.back_off(&key),
        }
    }

    /// Appends what the leader returned, then learns its HW (checkpointed by the tick).
    fn append_fetched(&mut self, key: &PartitionKey, data: FetchData) {
        for batch in data.batches {
            let replica = self.replicas.partitions.get_mut(key).expect("awaited");
            match replica.log.append_as_follower(batch) {
                Ok(write) => self.write_log(key, write),
                Err(_) => break, // A stale or duplicated answer: fetch again from the LEO.
            }
        }
        let replica = self.replicas.partitions.get_mut(key).expect("awaited");
        replica.log.follow_high_watermark(data.high_watermark);
        assert!(
            replica.log.high_watermark() <= data.high_watermark.max(replica.log.log_start_offset()),
            "{key:?}: a follower's HW exceeds its leader's"
        );
    }

    pub(crate) fn tick_follower(&mut self, key: &PartitionKey) {
        let now_ns = self.now_ns();
        let timeout_ns = self.config.timing.replica_request_timeout_ns;
        let backoff_ns = self.config.timing.fetch_wait_max_ns;
        let Some(follower) = self.follower_state(key) else {
            return;
        };
        let wait_ns = if follower.in_flight.is_some() {
            timeout_ns
        } else {
            backoff_ns
        };
        if follower.sent_at_ns + wait_ns <= now_ns {
            self.send_follower_request(key);
        }
    }
}
