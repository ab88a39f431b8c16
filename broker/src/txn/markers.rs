//! The marker sender: a coordinator has every partition of a `Prepare*` transaction written its
//! marker by that partition's leader (Kafka's WriteTxnMarkers), then writes `Complete*`.
//!
//! - The partitions are grouped by their current leader in the node's metadata image: one
//!   request per leader. A partition without a leader, refused (not leader, not enough replicas,
//!   timed out, ...) or unanswered after `marker_request_timeout_ns` is sent again after
//!   `marker_retry_backoff_ns`, to whatever leader the metadata then names.
//! - **Coordinator epochs**: a marker carries `leader_epoch << 32 | attempt`, where `leader_epoch`
//!   is the state partition's and `attempt` counts this coordinator's marker requests. A
//!   partition refuses a marker below the last one it took for the producer, so a marker
//!   request that was sent again (its first copy delayed, not lost) can never land late: the
//!   copy that was answered carries a higher attempt. Without it, the delayed copy could end the
//!   producer's next transaction in that partition (zoo 8, torn transactions): a marker carries
//!   the epoch its transaction's end handed over, which is also the epoch of the producer's
//!   next batches there, so the partition could not tell it was late. A coordinator of a newer leader epoch is above every
//!   attempt of an older one.
//! - TRANSACTION_COORDINATOR_FENCED from a newer leader epoch means a newer coordinator exists:
//!   this one stops (it will resign once its metadata shows it). From its own leader epoch it
//!   means an earlier incarnation of this coordinator (a restarted broker) used higher attempts:
//!   it continues above them. INVALID_PRODUCER_EPOCH means the partition holds a newer epoch of
//!   the producer than this transaction's: the marker can never be written, so it stops too (as
//!   Kafka does).
//!
//! Limits: at most `marker_requests_max` requests in flight per broker.

use std::collections::BTreeMap;

use crate::log::{TransactionMarker, TransactionOutcome};
use crate::message::{DataError, Message, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use crate::node::Node;
use crate::topic::TopicName;
use crate::txn::state::TransactionMetadata;

/// Bits of a marker's coordinator epoch that count attempts within one leader epoch.
const ATTEMPT_BITS: u32 = 32;
const ATTEMPT_MASK: u64 = (1 << ATTEMPT_BITS) - 1;

/// The markers one `Prepare*` transaction still owes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MarkerProgress {
    producer_id: u64,
    producer_epoch: u16,
    outcome: TransactionOutcome,
    /// Partitions whose leader has not acknowledged the marker yet, sorted.
    unwritten: Vec<(TopicName, u32)>,
    /// Requests in flight: request id -> what it asked for.
    in_flight: BTreeMap<u64, InFlightMarkers>,
    /// Partitions not in flight are sent from this time on.
    retry_at_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlightMarkers {
    partitions: Vec<(TopicName, u32)>,
    sent_at_ns: u64,
}

/// A marker request to send: the transaction's key, the leader, and its partitions there.
struct PlannedRequest {
    key: u64,
    leader: u32,
    partitions: Vec<(TopicName, u32)>,
}

/// What an answer to a marker request tells the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Written,
    Retry,
    /// Continue above this attempt: an earlier incarnation of this coordinator used it.
    RetryAbove(u64),
    /// A newer coordinator, or a newer producer epoch, exists.
    Stop,
}

impl MarkerProgress {
    pub(crate) fn new(metadata: &TransactionMetadata) -> MarkerProgress {
        let outcome = metadata
            .state
            .outcome()
            .filter(|_| metadata.state.is_prepared());
        MarkerProgress {
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            outcome: outcome.expect("markers of a prepared transaction"),
            unwritten: metadata.partitions.clone(),
            in_flight: BTreeMap::new(),
            retry_at_ns: 0,
        }
    }

    pub(crate) fn in_flight_requests(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight.keys().copied()
    }

    /// Whether every marker is written.
    pub(crate) fn is_done(&self) -> bool {
        self.unwritten.is_empty() && self.in_flight.is_empty()
    }

    /// The partitions to send now: unwritten, not in flight, and past the backoff.
    fn due_partitions(&self, now_ns: u64) -> Vec<(TopicName, u32)> {
        if now_ns < self.retry_at_ns {
            return Vec::new();
        }
        self.unwritten
            .iter()
            .filter(|partition| {
                !self
                    .in_flight
                    .values()
                    .any(|sent| sent.partitions.contains(partition))
            })
            .cloned()
            .collect()
    }

    fn marker(&self, coordinator_epoch: u64) -> TransactionMarker {
        TransactionMarker {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            outcome: self.outcome,
            coordinator_epoch,
        }
    }

    /// Asserts that the progress serves `metadata` and sends only its unwritten partitions.
    pub(crate) fn check_invariants(&self, metadata: &TransactionMetadata) {
        assert!(metadata.state.is_prepared(), "markers owed by {metadata:?}");
        assert_eq!(
            (self.producer_id, self.producer_epoch, Some(self.outcome)),
            (
                metadata.producer_id,
                metadata.producer_epoch,
                metadata.state.outcome()
            ),
            "markers of another transaction"
        );
        for partition in &self.unwritten {
            assert!(metadata.partitions.contains(partition));
        }
        for sent in self.in_flight.values() {
            assert!(
                sent.partitions
                    .iter()
                    .all(|partition| self.unwritten.contains(partition)),
                "a written partition in flight"
            );
        }
    }
}

/// What the answer for one partition means, to a coordinator of `leader_epoch`.
fn verdict(result: &Result<u64, DataError>, leader_epoch: u64) -> Verdict {
    match result {
        Ok(_) => Verdict::Written,
        Err(DataError::TransactionCoordinatorFenced { current })
            if current >> ATTEMPT_BITS > leader_epoch =>
        {
            Verdict::Stop
        }
        Err(DataError::TransactionCoordinatorFenced { current }) => {
            Verdict::RetryAbove(current & ATTEMPT_MASK)
        }
        Err(DataError::InvalidProducerEpoch { .. }) => Verdict::Stop,
        Err(_) => Verdict::Retry,
    }
}

impl Node {
    /// Sends the markers of `partition`'s transactions that are due, one request per leader.
    pub(crate) fn send_due_markers(&mut self, partition: u32) {
        let now_ns = self.now_ns();
        let config = self.config.transactions.as_ref().expect("coordinating");
        let backoff_ns = config.marker_retry_backoff_ns;
        let requests_max = config.marker_requests_max as usize;
        let coordinator = &self.transactions.partitions[&partition];
        if !coordinator.is_loaded() {
            return; // A `Prepare*` replayed now may be completed further in the log.
        }
        let mut planned: Vec<PlannedRequest> = Vec::new();
        let mut leaderless: Vec<u64> = Vec::new();
        for (key, progress) in &coordinator.markers {
            let mut by_leader: BTreeMap<u32, Vec<(TopicName, u32)>> = BTreeMap::new();
            for (topic, topic_partition) in progress.due_partitions(now_ns) {
                let state = self.image.partition(&topic, topic_partition);
                match state.and_then(|state| state.leader) {
                    Some(leader) => by_leader
                        .entry(leader)
                        .or_default()
                        .push((topic, topic_partition)),
                    None => leaderless.push(*key),
                }
            }
            planned.extend(
                by_leader
                    .into_iter()
                    .map(|(leader, partitions)| PlannedRequest {
                        key: *key,
                        leader,
                        partitions,
                    }),
            );
        }
        let mut in_flight = self.marker_requests_in_flight();
        for request in planned {
            if in_flight >= requests_max {
                leaderless.push(request.key); // No room: wait as for a leader.
                continue;
            }
            in_flight += 1;
            self.send_markers(partition, request);
        }
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("coordinating");
        for key in leaderless {
            let progress = coordinator.markers.get_mut(&key).expect("planned");
            progress.retry_at_ns = now_ns.saturating_add(backoff_ns);
        }
    }

    fn marker_requests_in_flight(&self) -> usize {
        let coordinators = self.transactions.partitions.values();
        coordinators
            .map(|coordinator| coordinator.marker_requests.len())
            .sum()
    }

    /// Sends the planned request, as a new attempt.
    fn send_markers(&mut self, partition: u32, request: PlannedRequest) {
        let PlannedRequest {
            key,
            leader,
            partitions,
        } = request;
        let now_ns = self.now_ns();
        let request_id = self.next_request_id();
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("coordinating");
        let attempt = coordinator.marker_attempt_next;
        assert!(
            attempt <= ATTEMPT_MASK && coordinator.leader_epoch < 1 << (64 - ATTEMPT_BITS),
            "state partition {partition}: marker attempts of leader epoch {} ran out",
            coordinator.leader_epoch
        );
        coordinator.marker_attempt_next += 1;
        let coordinator_epoch = coordinator.leader_epoch << ATTEMPT_BITS | attempt;
        coordinator.marker_requests.insert(request_id, key);
        let progress = coordinator.markers.get_mut(&key).expect("planned");
        let marker = progress.marker(coordinator_epoch);
        let sent = InFlightMarkers {
            partitions: partitions.clone(),
            sent_at_ns: now_ns,
        };
        progress.in_flight.insert(request_id, sent);
        let request = WriteTxnMarkersRequest {
            request_id,
            marker,
            partitions,
        };
        self.send(leader, Message::WriteTxnMarkers(request));
    }

    /// A partition leader's answer to a marker request: written partitions are done; the rest
    /// wait for the backoff, or the transaction's markers stop. Once all are written, the
    /// coordinator writes `Complete*`.
    pub(crate) fn on_markers_written(&mut self, response: WriteTxnMarkersResponse) {
        let request_id = response.request_id;
        let served = self
            .transactions
            .partitions
            .iter()
            .find_map(|(partition, c)| {
                let key = c.marker_requests.get(&request_id)?;
                Some((*partition, *key))
            });
        let Some((partition, key)) = served else {
            return; // A late answer to a request sent again, or of a resigned coordinator.
        };
        let now_ns = self.now_ns();
        let config = self.config.transactions.as_ref().expect("coordinating");
        let backoff_ns = config.marker_retry_backoff_ns;
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("found");
        coordinator.marker_requests.remove(&request_id);
        let progress = coordinator.markers.get_mut(&key).expect("indexed");
        let sent = progress.in_flight.remove(&request_id).expect("indexed");
        assert_eq!(
            response.partitions.len(),
            sent.partitions.len(),
            "a marker answer names every partition asked: {response:?}"
        );
        let mut stop = false;
        for answered in &response.partitions {
            let answered_partition = (answered.topic.clone(), answered.partition);
            assert!(sent.partitions.contains(&answered_partition));
            match verdict(&answered.result, coordinator.leader_epoch) {
                Verdict::Written => progress
                    .unwritten
                    .retain(|unwritten| *unwritten != answered_partition),
                Verdict::Retry => progress.retry_at_ns = now_ns.saturating_add(backoff_ns),
                Verdict::RetryAbove(attempt) => {
                    coordinator.marker_attempt_next =
                        coordinator.marker_attempt_next.max(attempt + 1);
                    progress.retry_at_ns = now_ns.saturating_add(backoff_ns);
                }
                Verdict::Stop => stop = true,
            }
        }
        if stop {
            coordinator.drop_markers(key);
        } else if progress.is_done() {
            self.complete_marked_transactions(partition);
        }
    }

    /// Forgets marker requests unanswered for `marker_request_timeout_ns`: their partitions are
    /// sent again, as new attempts.
    pub(crate) fn expire_marker_requests(&mut self, partition: u32) {
        let now_ns = self.now_ns();
        let config = self.config.transactions.as_ref().expect("coordinating");
        let timeout_ns = config.marker_request_timeout_ns;
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("coordinating");
        for progress in coordinator.markers.values_mut() {
            progress.in_flight.retain(|request_id, sent| {
                let alive = now_ns < sent.sent_at_ns.saturating_add(timeout_ns);
                if !alive {
                    coordinator.marker_requests.remove(request_id);
                }
                alive
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_answers_stop_only_for_a_newer_leader_epoch() {
        let fenced = |current| Err(DataError::TransactionCoordinatorFenced { current });
        assert_eq!(verdict(&fenced(4 << 32 | 9), 3), Verdict::Stop);
        assert_eq!(verdict(&fenced(3 << 32 | 9), 3), Verdict::RetryAbove(9));
        let epoch = Err(DataError::InvalidProducerEpoch { current: 2 });
        assert_eq!(verdict(&epoch, 3), Verdict::Stop);
        let moved = Err(DataError::NotLeader { leader_hint: None });
        assert_eq!(verdict(&moved, 3), Verdict::Retry);
        assert_eq!(verdict(&Ok(17), 3), Verdict::Written);
    }
}
