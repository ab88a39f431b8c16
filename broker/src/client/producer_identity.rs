//! An idempotent producer's identity: its producer id and epoch, asked of any broker
//! (InitProducerId), and the next sequence number of each partition under it (KIP-98).
//!
//! The producer numbers each partition's records from 0 under one id, and retries a batch with
//! its numbers unchanged, so that the leader appends it once. Once the producer cannot tell
//! whether a batch was appended (it gave up on it) or a leader refused its numbers, the numbers
//! that follow are uncertain: it [`ProducerIdentity::renew`]s, asking for a fresh id and starting
//! every partition at 0 again (Kafka's producer bumps its epoch instead, KIP-360, to the same
//! effect: nothing of the old numbering carries over).
//!
//! A transactional producer asks its transaction coordinator instead, under its transactional id
//! (the leader of the id's transaction state partition, [`crate::txn::transaction_partition_for`]):
//! each answer bumps the id's epoch, which fences every older instance and aborts a transaction
//! the id left open. Renewing then means asking the coordinator again, for the next epoch. The
//! end of each transaction also hands the producer a new epoch (KIP-890 part 2), which it
//! [`ProducerIdentity::adopt`]s: the partitions then expect its numbers from 0 again.

use std::collections::BTreeMap;

use crate::dedup::RequestIds;
use crate::log::{ProducerSequence, ProducerStamp};
use crate::message::txn::{InitTxnProducerIdRequest, InitTxnProducerIdResponse, TxnError};
use crate::message::{InitProducerIdRequest, InitProducerIdResponse, Message};
use crate::node::Output;
use crate::txn::transaction_partition_for;

/// A transactional producer's id, and where its coordinator lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TransactionalId {
    pub(crate) id: String,
    /// The coordinator aborts a transaction of this producer open longer than this.
    pub(crate) transaction_timeout_ns: u64,
    /// The partition of the transaction state topic that holds the id.
    pub(crate) state_partition: u32,
}

impl TransactionalId {
    pub(crate) fn new(id: &str, transaction_timeout_ns: u64, state_partitions: u32) -> Self {
        TransactionalId {
            id: id.to_owned(),
            transaction_timeout_ns,
            state_partition: transaction_partition_for(id, state_partitions),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not idempotent: batches carry no stamp.
    Unneeded,
    /// Waiting for an id: a request in flight since `sent_ns`, or none before `retry_at_ns`.
    Wanted {
        in_flight: Option<(u64, u64)>,
        retry_at_ns: u64,
    },
    Known {
        producer_id: u64,
        epoch: u16,
    },
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct ProducerIdentity {
    state: State,
    /// Set for a transactional producer: ids come from its coordinator.
    transactional: Option<TransactionalId>,
    /// The next sequence number per partition under the current id.
    sequences: BTreeMap<u32, u32>,
    brokers: u32,
    /// Which broker the next InitProducerId goes to (round-robin: any broker answers).
    broker_next: u32,
}

impl ProducerIdentity {
    pub(crate) fn new(idempotent: bool, brokers: u32) -> Self {
        let state = if idempotent {
            State::Wanted {
                in_flight: None,
                retry_at_ns: 0,
            }
        } else {
            State::Unneeded
        };
        ProducerIdentity {
            state,
            transactional: None,
            sequences: BTreeMap::new(),
            brokers: brokers.max(1),
            broker_next: 0,
        }
    }

    /// A transactional producer's identity: idempotent, under `transactional`'s id.
    pub(crate) fn new_transactional(transactional: TransactionalId, brokers: u32) -> Self {
        ProducerIdentity {
            transactional: Some(transactional),
            ..ProducerIdentity::new(true, brokers)
        }
    }

    pub(crate) fn transactional(&self) -> Option<&TransactionalId> {
        self.transactional.as_ref()
    }

    /// The producer id and epoch, once known.
    pub(crate) fn known(&self) -> Option<(u64, u16)> {
        match self.state {
            State::Known { producer_id, epoch } => Some((producer_id, epoch)),
            State::Unneeded | State::Wanted { .. } => None,
        }
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        self.state != State::Unneeded
    }

    /// Whether batches can be stamped (an id is known, or none is needed).
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Unneeded | State::Known { .. })
    }

    /// The stamp of the next batch of `record_count` records to `partition`, numbering them.
    pub(crate) fn stamp(&mut self, partition: u32, record_count: usize) -> ProducerStamp {
        let State::Known { producer_id, epoch } = self.state else {
            debug_assert_eq!(
                self.state,
                State::Unneeded,
                "stamped before the id is known"
            );
            return ProducerStamp::NONE;
        };
        let next = self.sequences.entry(partition).or_insert(0);
        let first = *next;
        let count = u32::try_from(record_count).expect("a batch holds fewer than 2^32 records");
        *next = first
            .checked_add(count)
            .expect("a producer numbers fewer than 2^32 records per partition");
        ProducerStamp(Some(ProducerSequence {
            producer_id,
            producer_epoch: epoch,
            batch_first_sequence: first,
            base_sequence: first,
            transaction: crate::log::BatchTransaction::None,
        }))
    }

    /// Goes on as `producer_id` at `epoch`, the coordinator's answer to the end of a transaction:
    /// under a new epoch every partition is numbered from 0 again; under the same one (zoo 8's
    /// coordinator keeps it) the numbering goes on.
    pub(crate) fn adopt(&mut self, producer_id: u64, epoch: u16) {
        let State::Known {
            producer_id: held_id,
            epoch: held_epoch,
        } = self.state
        else {
            panic!("a transaction ended under no producer id: {:?}", self.state);
        };
        assert!(
            producer_id != held_id || epoch >= held_epoch,
            "producer {held_id}: handed epoch {epoch} below its epoch {held_epoch}"
        );
        if (producer_id, epoch) != (held_id, held_epoch) {
            self.state = State::Known { producer_id, epoch };
            self.sequences.clear();
        }
    }

    /// Forgets the id and the numbering; the next batch waits for a fresh id, asked for from
    /// `retry_at_ns` on.
    pub(crate) fn renew(&mut self, retry_at_ns: u64) {
        if self.is_idempotent() {
            self.state = State::Wanted {
                in_flight: None,
                retry_at_ns,
            };
            self.sequences.clear();
        }
    }

    /// Sends InitProducerId if an id is wanted and no request is in flight (or the last one
    /// timed out after `timeout_ns`): to any broker, or a transactional producer's to its
    /// `coordinator` (nothing is sent while it is unknown).
    pub(crate) fn request_if_due(
        &mut self,
        now_ns: u64,
        timeout_ns: u64,
        coordinator: Option<u32>,
        request_ids: &mut RequestIds,
        output: &mut Vec<Output>,
    ) {
        let State::Wanted {
            in_flight,
            retry_at_ns,
        } = self.state
        else {
            return;
        };
        let due = match in_flight {
            Some((_, sent_ns)) => sent_ns + timeout_ns <= now_ns,
            None => retry_at_ns <= now_ns,
        };
        if !due {
            return;
        }
        let (to, message) = match (&self.transactional, coordinator) {
            (None, _) => {
                let to = self.broker_next % self.brokers;
                self.broker_next = self.broker_next.wrapping_add(1);
                let request_id = request_ids.next_id();
                (
                    to,
                    Message::InitProducerId(InitProducerIdRequest { request_id }),
                )
            }
            (Some(_), None) => return,
            (Some(transactional), Some(coordinator)) => {
                let request = InitTxnProducerIdRequest {
                    request_id: request_ids.next_id(),
                    transactional_id: transactional.id.clone(),
                    transaction_timeout_ns: transactional.transaction_timeout_ns,
                };
                (coordinator, Message::InitTxnProducerId(request))
            }
        };
        let request_id = message.request_id().expect("a request");
        self.state = State::Wanted {
            in_flight: Some((request_id, now_ns)),
            retry_at_ns,
        };
        output.push(Output::Send { to, message });
    }

    /// Takes the id and epoch from the coordinator's answer to the request in flight; after an
    /// error, asks again after `backoff_ns`. Returns the error, if any (NOT_COORDINATOR calls for
    /// a metadata refresh).
    pub(crate) fn on_transactional_response(
        &mut self,
        now_ns: u64,
        response: &InitTxnProducerIdResponse,
        backoff_ns: u64,
    ) -> Option<TxnError> {
        let State::Wanted {
            in_flight: Some((request_id, _)),
            ..
        } = self.state
        else {
            return None;
        };
        if request_id != response.request_id {
            return None; // Late: an answer to a request already given up on.
        }
        match &response.result {
            Ok((producer_id, epoch)) => {
                self.state = State::Known {
                    producer_id: *producer_id,
                    epoch: *epoch,
                };
                None
            }
            Err(error) => {
                self.state = State::Wanted {
                    in_flight: None,
                    retry_at_ns: now_ns + backoff_ns,
                };
                Some(error.clone())
            }
        }
    }

    /// Takes the id from the answer to the request in flight; after an error, asks again
    /// (another broker) after `backoff_ns`.
    pub(crate) fn on_response(
        &mut self,
        now_ns: u64,
        response: &InitProducerIdResponse,
        backoff_ns: u64,
    ) {
        let State::Wanted {
            in_flight: Some((request_id, _)),
            ..
        } = self.state
        else {
            return;
        };
        if request_id != response.request_id {
            return; // Late: an answer to a request already given up on.
        }
        self.state = match response.result {
            Ok((producer_id, epoch)) => State::Known { producer_id, epoch },
            Err(_) => State::Wanted {
                in_flight: None,
                retry_at_ns: now_ns + backoff_ns,
            },
        };
    }

    /// Forgets a transactional id's request unanswered after `timeout_ns` and returns true: its
    /// coordinator may have moved or stopped (paused, cut off), so the caller looks it up again,
    /// and the request goes again once a coordinator is known, as Kafka's client looks its
    /// coordinator up again after a request to it fails. (Sent again to the same one, a
    /// request to a paused coordinator waited for it to wake, however long.) An idempotent
    /// producer's request goes to the next broker anyway.
    pub(crate) fn forget_unanswered(&mut self, now_ns: u64, timeout_ns: u64) -> bool {
        let State::Wanted {
            in_flight: Some((_, sent_ns)),
            ..
        } = self.state
        else {
            return false;
        };
        if self.transactional.is_none() || sent_ns + timeout_ns > now_ns {
            return false;
        }
        self.state = State::Wanted {
            in_flight: None,
            retry_at_ns: now_ns,
        };
        true
    }

    /// When [`Self::request_if_due`] next has something to do, if an id is wanted.
    pub(crate) fn deadline_ns(&self, timeout_ns: u64) -> Option<u64> {
        match self.state {
            State::Wanted {
                in_flight: Some((_, sent_ns)),
                ..
            } => Some(sent_ns + timeout_ns),
            State::Wanted { retry_at_ns, .. } => Some(retry_at_ns),
            State::Unneeded | State::Known { .. } => None,
        }
    }
}

/// Every InitProducerId in `output`: (to, request id). For tests.
#[cfg(test)]
pub(crate) fn init_producer_ids_sent(output: &[Output]) -> Vec<(u32, u64)> {
    output
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                to,
                message: Message::InitProducerId(request),
            } => Some((*to, request.request_id)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DataError;

    #[test]
    fn a_producer_that_is_not_idempotent_stamps_nothing_and_asks_nothing() {
        let mut identity = ProducerIdentity::new(false, 3);
        let mut output = Vec::new();
        identity.request_if_due(0, 10, None, &mut RequestIds::default(), &mut output);
        assert!(output.is_empty() && identity.is_ready());
        assert_eq!(identity.stamp(0, 3), ProducerStamp::NONE);
        identity.renew(5);
        assert!(identity.is_ready() && identity.deadline_ns(10).is_none());
    }

    #[test]
    fn numbers_each_partition_from_zero_under_an_id_and_again_after_renewal() {
        let mut identity = ProducerIdentity::new(true, 3);
        let mut request_ids = RequestIds::default();
        let mut output = Vec::new();
        assert!(!identity.is_ready());
        identity.request_if_due(0, 10, None, &mut request_ids, &mut output);
        let [(to, request_id)] = init_producer_ids_sent(&output)[..] else {
            panic!("one InitProducerId: {output:?}")
        };
        assert_eq!(to, 0);
        identity.on_response(
            1,
            &InitProducerIdResponse {
                request_id,
                result: Ok((77, 0)),
            },
            5,
        );
        assert!(identity.is_ready());
        let first = |stamp: ProducerStamp| stamp.0.map(|s| (s.producer_id, s.base_sequence));
        assert_eq!(first(identity.stamp(2, 3)), Some((77, 0)));
        assert_eq!(first(identity.stamp(2, 1)), Some((77, 3)));
        assert_eq!(first(identity.stamp(4, 2)), Some((77, 0)));
        identity.renew(2);
        assert!(!identity.is_ready());
        output.clear();
        identity.request_if_due(2, 10, None, &mut request_ids, &mut output);
        let [(to, request_id)] = init_producer_ids_sent(&output)[..] else {
            panic!("one InitProducerId: {output:?}")
        };
        assert_eq!(to, 1, "round-robin over the brokers");
        identity.on_response(
            3,
            &InitProducerIdResponse {
                request_id,
                result: Ok((78, 0)),
            },
            5,
        );
        assert_eq!(first(identity.stamp(2, 1)), Some((78, 0)));
    }

    #[test]
    fn a_new_epoch_from_the_end_of_a_transaction_numbers_every_partition_from_zero() {
        let mut identity = ProducerIdentity::new(true, 3);
        identity.state = State::Known {
            producer_id: 77,
            epoch: 3,
        };
        let next = |identity: &mut ProducerIdentity, partition| {
            let stamp = identity.stamp(partition, 2).0.expect("stamped");
            (stamp.producer_id, stamp.producer_epoch, stamp.base_sequence)
        };
        assert_eq!(next(&mut identity, 0), (77, 3, 0));
        assert_eq!(next(&mut identity, 0), (77, 3, 2));
        identity.adopt(77, 3);
        assert_eq!(next(&mut identity, 0), (77, 3, 4), "the same epoch goes on");
        identity.adopt(77, 4);
        assert_eq!(next(&mut identity, 0), (77, 4, 0));
        identity.adopt(91, 0);
        assert_eq!(
            next(&mut identity, 0),
            (91, 0, 0),
            "a new id after the last epoch"
        );
    }

    #[test]
    fn asks_again_after_a_timeout_or_an_error_and_ignores_late_answers() {
        let mut identity = ProducerIdentity::new(true, 2);
        let mut request_ids = RequestIds::default();
        let mut output = Vec::new();
        identity.request_if_due(0, 10, None, &mut request_ids, &mut output);
        let (_, first_request) = init_producer_ids_sent(&output)[0];
        identity.request_if_due(9, 10, None, &mut request_ids, &mut output);
        assert_eq!(
            init_producer_ids_sent(&output).len(),
            1,
            "not before the timeout"
        );
        assert_eq!(identity.deadline_ns(10), Some(10));
        identity.request_if_due(10, 10, None, &mut request_ids, &mut output);
        let (_, second_request) = init_producer_ids_sent(&output)[1];
        identity.on_response(
            11,
            &InitProducerIdResponse {
                request_id: first_request,
                result: Ok((5, 0)),
            },
            5,
        );
        assert!(!identity.is_ready(), "a late answer is ignored");
        identity.on_response(
            12,
            &InitProducerIdResponse {
                request_id: second_request,
                result: Err(DataError::ProducerIdsUnavailable),
            },
            5,
        );
        assert_eq!(
            identity.deadline_ns(10),
            Some(17),
            "backs off after an error"
        );
    }

    /// A transactional id's request unanswered past the timeout is forgotten (the caller looks
    /// its coordinator up again) and goes again to the coordinator named next; an idempotent
    /// producer's is never forgotten so (it asks the next broker anyway).
    #[test]
    fn an_unanswered_transactional_request_is_forgotten_and_asked_of_the_next_coordinator() {
        let id = TransactionalId::new("tx", 1_000, 1);
        let mut identity = ProducerIdentity::new_transactional(id, 3);
        let mut request_ids = RequestIds::default();
        let mut output = Vec::new();
        identity.request_if_due(0, 10, Some(2), &mut request_ids, &mut output);
        assert!(matches!(output.as_slice(), [Output::Send { to: 2, .. }]));
        assert!(!identity.forget_unanswered(9, 10), "not yet");
        assert!(identity.forget_unanswered(10, 10));
        assert!(!identity.forget_unanswered(11, 10), "forgotten once");
        output.clear();
        identity.request_if_due(11, 10, None, &mut request_ids, &mut output);
        assert!(output.is_empty(), "no coordinator known: it waits");
        identity.request_if_due(12, 10, Some(1), &mut request_ids, &mut output);
        assert!(matches!(output.as_slice(), [Output::Send { to: 1, .. }]));

        let mut idempotent = ProducerIdentity::new(true, 3);
        idempotent.request_if_due(0, 10, None, &mut request_ids, &mut output);
        assert!(!idempotent.forget_unanswered(20, 10));
    }
}
