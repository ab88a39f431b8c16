//! Fetch sessions: a follower fetches every partition it follows from one leader in one request,
//! as Kafka's replica fetcher thread sends one FetchRequest per leader broker.
//!
//! Why: with one fetch per partition, every append woke one parked fetch and cost each follower
//! an answer, a sync and the next fetch. A session's answer carries whatever arrived for any of
//! its partitions since the last one, and the follower syncs it all at once.
//!
//! Follower side: a partition ready to fetch (after an answer, a divergence search, a back-off
//! or a time-out) asks for a fetch from its leader ([`Node::want_replica_fetch`]). At the end of
//! the step one request goes to each leader asked for, naming every partition that follows it in
//! the fetching phase and is ready or already in flight. That request becomes each one's request
//! in flight: it supersedes the previous one, whose late answer is ignored. An answer to the
//! request in flight starts the next one, whatever it carries. Under `every-batch`
//! it goes out once the appends are synced: its fetch offsets acknowledge them.
//!
//! Leader side: each partition is handled as a lone fetch would be (KIP-320 fencing, the
//! follower's progress noted, a read up to the LEO). If any has data or an error, the request is
//! answered at once; else it is parked until one of its partitions has data, its leadership
//! ends, or its wait is over. The answer leaves out the partitions with nothing new (no records,
//! no error, no HW above the one the follower knows), as Kafka's incremental fetch sessions do:
//! those stay in flight at the follower, which sends its next request on any answer.
//!
//! Invariants: a leader holds at most one parked session per follower (a new one supersedes it,
//! and names every partition the old one did) and at most `limits.parked_fetches_max` in all; an
//! answer has one result per partition asked, in the request's order.

use crate::disk::Waiter;
use crate::message::{
    Message, ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse, ReplicaFetchResult,
};
use crate::node::Node;
use crate::perturb::Site;
use crate::replica::leader::{
    Reader, fetch_answerable, fetch_data, led_replica_mut, read_fetch, record_follower_fetch,
};
use crate::replica::{FollowerPhase, ReplicaRole};
use crate::storage::PartitionKey;

/// A follower's session with nothing to return yet.
#[derive(Clone, Debug)]
pub(crate) struct ParkedSession {
    pub(crate) from: u32,
    pub(crate) request: ReplicaFetchRequest,
    pub(crate) deadline_ns: u64,
}

/// What a session's partition showed when it arrived.
enum Noted {
    /// An error: answer at once.
    Error,
    /// The follower's progress was noted; `changed` if it could change the HW or the ISR.
    Progress { answerable: bool, changed: bool },
}

fn key_of(partition: &ReplicaFetchPartition) -> PartitionKey {
    (partition.topic.clone(), partition.partition)
}

impl Node {
    // Leader side.

    pub(crate) fn on_replica_fetch(&mut self, from: u32, request: ReplicaFetchRequest) {
        let mut answerable = false;
        let mut progressed = self.replicas.take_keys();
        for partition in &request.partitions {
            let key = key_of(partition);
            match self.note_session_partition(&key, request.replica, partition) {
                Noted::Error => answerable = true,
                Noted::Progress {
                    answerable: now,
                    changed,
                } => {
                    answerable |= now;
                    if changed {
                        progressed.push(key);
                    }
                }
            }
        }
        if answerable {
            self.answer_session(from, &request);
        } else {
            self.park_session(from, request);
        }
        for key in &progressed {
            self.on_leader_changed(key);
        }
        self.replicas.return_keys(progressed);
    }

    /// Checks one partition of a session and notes the follower's progress.
    fn note_session_partition(
        &mut self,
        key: &PartitionKey,
        follower: u32,
        partition: &ReplicaFetchPartition,
    ) -> Noted {
        let serve_stale = self.config.bugs.ignore_stale_follower_epoch;
        let epoch = Some(partition.current_leader_epoch);
        let now_ns = self.now_ns();
        // One lookup in the common case; the error path looks again to name the error.
        let found = self.replicas.partitions.get_mut(key);
        let Some(replica) = led_replica_mut(found, epoch, serve_stale) else {
            let checked = self.check_leader_noting_fences(key, epoch, serve_stale);
            assert!(
                checked.is_err(),
                "{key:?}: refused, then accepted on a second look"
            );
            return Noted::Error;
        };
        let fetch_offset = partition.fetch_offset;
        let changed = record_follower_fetch(replica, follower, fetch_offset, now_ns);
        Noted::Progress {
            answerable: fetch_answerable(replica, Reader::Follower, fetch_offset),
            changed,
        }
    }

    /// Answers the partitions of `request` that have something new.
    fn answer_session(&mut self, to: u32, request: &ReplicaFetchRequest) {
        let records_max = self.perturbed_records_max(request.records_max);
        let partitions = request
            .partitions
            .iter()
            .filter_map(|partition| self.serve_session_partition(partition, records_max))
            .collect();
        let response = ReplicaFetchResponse {
            request_id: request.request_id,
            partitions,
        };
        self.send(to, Message::ReplicaFetchResponse(response));
    }

    /// The answer for one partition of a session, `None` if it has nothing new: no records, no
    /// error, and no HW above the one the follower knows.
    fn serve_session_partition(
        &self,
        partition: &ReplicaFetchPartition,
        records_max: u64,
    ) -> Option<ReplicaFetchResult> {
        let key = key_of(partition);
        let serve_stale = self.config.bugs.ignore_stale_follower_epoch;
        let epoch = Some(partition.current_leader_epoch);
        let result = self
            .led_replica(&key, epoch, serve_stale)
            .and_then(|replica| {
                let log = &replica.log;
                let offset = partition.fetch_offset;
                let news = offset != log.log_end_offset()
                    || log.high_watermark() > partition.high_watermark;
                if !news {
                    return Ok(None);
                }
                read_fetch(replica, Reader::Follower, offset, records_max)
                    .map(|served| Some(served.unwrap_or_else(|| fetch_data(replica, Vec::new()))))
            })
            .transpose()?;
        Some(ReplicaFetchResult {
            topic: key.0,
            partition: key.1,
            result,
        })
    }

    fn park_session(&mut self, from: u32, request: ReplicaFetchRequest) {
        let deadline_ns = self.now_ns() + self.config.timing.fetch_wait_max_ns;
        let parked_max = self.config.limits.parked_fetches_max as usize;
        let sessions = &mut self.replicas.parked_sessions;
        sessions.retain(|parked| parked.from != from);
        if sessions.len() >= parked_max || self.perturbations.fires(Site::FetchAnsweredEarly) {
            self.answer_session(from, &request);
            return;
        }
        sessions.push(ParkedSession {
            from,
            request,
            deadline_ns,
        });
    }

    /// Answers the parked sessions that name `key` and have an answer for it now: data, or an
    /// error (its leadership ended). Called when `key` gets records or loses its leader; a new
    /// HW alone answers nothing (Kafka's delayed fetch).
    pub(crate) fn wake_parked_sessions(&mut self, key: &PartitionKey) {
        if self.replicas.parked_sessions.is_empty() {
            return;
        }
        self.answer_parked_sessions(|node, session| {
            session.request.partitions.iter().any(|partition| {
                partition.topic == key.0
                    && partition.partition == key.1
                    && node.replicas.partitions.get(key).is_none_or(|replica| {
                        !replica.is_leader()
                            || fetch_answerable(replica, Reader::Follower, partition.fetch_offset)
                    })
            })
        });
    }

    /// Answers the parked sessions whose wait is over.
    pub(crate) fn expire_parked_sessions(&mut self) {
        let now_ns = self.now_ns();
        self.answer_parked_sessions(|_, session| session.deadline_ns <= now_ns);
    }

    /// Answers, in parking order, the parked sessions `due` picks; the rest stay parked. One
    /// pass, in place: sessions are few (one per follower), and this runs on every append.
    fn answer_parked_sessions(&mut self, due: impl Fn(&Node, &ParkedSession) -> bool) {
        let mut sessions = std::mem::take(&mut self.replicas.parked_sessions);
        let mut position = 0;
        while position < sessions.len() {
            if due(self, &sessions[position]) {
                let session = sessions.remove(position);
                self.answer_session(session.from, &session.request);
            } else {
                position += 1;
            }
        }
        debug_assert!(
            self.replicas.parked_sessions.is_empty(),
            "answering a session parks none"
        );
        self.replicas.parked_sessions = sessions;
    }

    /// Asserts the invariants of the module docs.
    pub(crate) fn check_session_invariants(&self) {
        let sessions = &self.replicas.parked_sessions;
        assert!(sessions.len() <= self.config.limits.parked_fetches_max as usize);
        for (position, session) in sessions.iter().enumerate() {
            assert!(
                sessions[..position]
                    .iter()
                    .all(|earlier| earlier.from != session.from),
                "node {}: two parked sessions of follower {}",
                self.id,
                session.from
            );
        }
        assert!(
            self.replicas.sessions_wanted.is_empty(),
            "node {}: a session request wanted but not sent by the end of the step",
            self.id
        );
    }

    // Follower side.

    /// Asks for a fetch from `leader`, sent at the end of the step in that leader's session.
    pub(crate) fn want_replica_fetch(&mut self, leader: u32) {
        let wanted = &mut self.replicas.sessions_wanted;
        if let Err(position) = wanted.binary_search(&leader) {
            wanted.insert(position, leader);
        }
    }

    /// Sends one fetch to each leader asked for during this step.
    pub(crate) fn send_wanted_replica_fetches(&mut self) {
        if self.replicas.sessions_wanted.is_empty() {
            return;
        }
        let mut leaders = std::mem::take(&mut self.replicas.sessions_wanted);
        for &leader in &leaders {
            self.send_replica_fetch(leader);
        }
        assert!(
            self.replicas.sessions_wanted.is_empty(),
            "node {}: sending a session request wanted another",
            self.id
        );
        leaders.clear();
        self.replicas.sessions_wanted = leaders;
    }

    /// Sends `leader` a fetch of every partition following it in the fetching phase that is
    /// ready or in flight (a partition backing off after an error waits for its tick).
    fn send_replica_fetch(&mut self, leader: u32) {
        let request_id = self.next_request_id();
        let now_ns = self.now_ns();
        let mut partitions = Vec::with_capacity(self.replicas.partitions.len());
        for (key, replica) in &mut self.replicas.partitions {
            let ReplicaRole::Follower(follower) = &mut replica.role else {
                continue;
            };
            let included = follower.leader == leader
                && follower.phase == FollowerPhase::Fetching
                && (follower.fetch_wanted || follower.in_flight.is_some());
            if !included {
                continue;
            }
            follower.fetch_wanted = false;
            follower.in_flight = Some(request_id);
            follower.sent_at_ns = now_ns;
            partitions.push(ReplicaFetchPartition {
                topic: key.0.clone(),
                partition: key.1,
                current_leader_epoch: replica.leader_epoch,
                fetch_offset: replica.log.log_end_offset(),
                high_watermark: replica.log.high_watermark(),
            });
        }
        if partitions.is_empty() {
            return;
        }
        let request = ReplicaFetchRequest {
            request_id,
            replica: self.id,
            partitions,
            records_max: self.config.limits.log.fetch_records_max,
        };
        let message = Message::ReplicaFetch(request);
        if self.config.flush.must_sync_before_next_fetch() {
            self.when_durable_in_group(Waiter::Send {
                to: leader,
                message,
            });
        } else {
            self.send(leader, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{PartitionLog, Record};
    use crate::message::{Acks, DataError};
    use crate::node::Output;
    use crate::replica::test_support::{EPOCH, follower, key, leader, produce_request, take_sends};
    use crate::topic::TopicName;

    fn session(request_id: u64, epochs: [u64; 2]) -> ReplicaFetchRequest {
        let partitions = (0..2)
            .map(|partition| ReplicaFetchPartition {
                topic: TopicName::new("t"),
                partition,
                current_leader_epoch: epochs[partition as usize],
                fetch_offset: 0,
                high_watermark: 0,
            })
            .collect();
        ReplicaFetchRequest {
            request_id,
            replica: 1,
            partitions,
            records_max: 100,
        }
    }

    fn produce(node: &mut Node, partitions: &[u32]) {
        node.on_produce(9, produce_request(7, Acks::Leader, partitions));
    }

    fn session_answers(sends: &[(u32, Message)]) -> Vec<&ReplicaFetchResponse> {
        sends
            .iter()
            .filter_map(|(_, message)| match message {
                Message::ReplicaFetchResponse(response) => Some(response),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_session_with_nothing_new_parks_until_one_partition_gets_records() {
        let mut node = leader();
        node.on_replica_fetch(1, session(5, [EPOCH, EPOCH]));
        assert!(session_answers(&take_sends(&mut node)).is_empty());
        assert_eq!(node.replicas.parked_sessions.len(), 1);

        produce(&mut node, &[1]);
        let sends = take_sends(&mut node);
        let answers = session_answers(&sends);
        assert_eq!(answers.len(), 1, "one answer for the whole session");
        let answer = answers[0];
        assert_eq!(answer.request_id, 5);
        assert_eq!(answer.partitions.len(), 1, "t/0 has nothing new: left out");
        assert_eq!(answer.partitions[0].partition, 1);
        let data = answer.partitions[0].result.as_ref().expect("data");
        assert_eq!(data.batches.len(), 1);
        assert!(node.replicas.parked_sessions.is_empty());
    }

    #[test]
    fn a_new_session_from_the_same_follower_replaces_the_parked_one() {
        let mut node = leader();
        node.on_replica_fetch(1, session(5, [EPOCH, EPOCH]));
        node.on_replica_fetch(1, session(6, [EPOCH, EPOCH]));
        assert_eq!(node.replicas.parked_sessions.len(), 1);
        assert_eq!(node.replicas.parked_sessions[0].request.request_id, 6);
        node.on_replica_fetch(2, session(8, [EPOCH, EPOCH]));
        assert_eq!(node.replicas.parked_sessions.len(), 2, "one per follower");
    }

    #[test]
    fn a_stale_epoch_is_fenced_for_its_partition_alone_and_at_once() {
        let mut node = leader();
        node.on_replica_fetch(1, session(5, [EPOCH - 1, EPOCH]));
        let sends = take_sends(&mut node);
        let answers = session_answers(&sends);
        assert_eq!(answers.len(), 1, "an error is answered without waiting");
        let partitions = &answers[0].partitions;
        assert_eq!(partitions.len(), 1, "t/1 has nothing new: left out");
        assert!(matches!(
            partitions[0].result,
            Err(DataError::FencedLeaderEpoch { .. })
        ));
        assert!(node.replicas.parked_sessions.is_empty());
    }

    #[test]
    fn leaders_wanted_in_a_step_are_kept_once_each_in_order_and_asked_once() {
        let mut node = follower();
        for leader in [3, 1, 2, 1, 3] {
            node.want_replica_fetch(leader);
        }
        assert_eq!(node.replicas.sessions_wanted, vec![1, 2, 3]);
        node.send_wanted_replica_fetches();
        let sends = take_sends(&mut node);
        let requests: Vec<u32> = sends
            .iter()
            .filter(|(_, message)| matches!(message, Message::ReplicaFetch(_)))
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(
            requests,
            vec![1],
            "one request to leader 1; nothing follows 2 or 3"
        );
        assert!(node.replicas.sessions_wanted.is_empty());
    }

    #[test]
    fn a_follower_fetches_every_partition_of_a_leader_in_one_request() {
        let mut node = follower();
        node.want_replica_fetch(1);
        node.send_wanted_replica_fetches();
        let sends = take_sends(&mut node);
        let [(1, Message::ReplicaFetch(request))] = sends.as_slice() else {
            panic!("one session request to leader 1, got {sends:?}")
        };
        assert_eq!(request.partitions.len(), 2);

        // The answer carries records for t/0 only; t/1 stays in flight.
        let mut leader_log = PartitionLog::new(node.config.limits.log);
        let appended = leader_log
            .append_as_leader(
                EPOCH,
                vec![Record {
                    key: None,
                    value: 1,
                }],
            )
            .expect("room");
        let batches = leader_log
            .read(0, appended.log_end_offset, 10)
            .expect("in range");
        let data = crate::message::FetchData {
            leader_epoch: EPOCH,
            high_watermark: 0,
            log_start_offset: 0,
            log_end_offset: 1,
            batches,
            aborted: Default::default(),
        };
        let response = ReplicaFetchResponse {
            request_id: request.request_id,
            partitions: vec![ReplicaFetchResult {
                topic: TopicName::new("t"),
                partition: 0,
                result: Ok(data),
            }],
        };
        node.on_replica_fetch_response(1, response);
        node.send_wanted_replica_fetches();
        node.disk.issue_reserved_sync(&mut node.effects.output);
        let output = std::mem::take(&mut node.effects.output);
        assert!(
            output
                .iter()
                .any(|item| matches!(item, Output::DiskSync { .. })),
            "the append is synced before the next fetch acknowledges it"
        );
        assert!(
            !output
                .iter()
                .any(|item| matches!(item, Output::Send { .. })),
            "the next fetch waits for the sync"
        );
        assert_eq!(node.replicas.partitions[&key(0)].log.log_end_offset(), 1);
        let in_flight = |partition| match &node.replicas.partitions[&key(partition)].role {
            ReplicaRole::Follower(follower) => follower.in_flight,
            _ => None,
        };
        assert_ne!(in_flight(0), Some(request.request_id), "a new request");
        assert_eq!(
            in_flight(0),
            in_flight(1),
            "both partitions in the next request"
        );
    }
}
