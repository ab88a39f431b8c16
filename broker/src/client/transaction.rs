//! One operation of a transactional producer, as its transaction coordinator sees it (KIP-98).
//!
//! Every operation is one transaction: AddPartitionsToTxn for its partitions, then its records
//! (stamped, transactional, acks=all: the producer's parts), then EndTxn. The outcome the history
//! records:
//! - every record acknowledged and EndTxn(commit) answered: `ok`;
//! - EndTxn(abort) answered, drawn or after a part failed for sure: `fail`;
//! - a part whose outcome is unknown (it may yet land, even after the abort marker): aborted
//!   like a failed one, `fail`. The coordinator ends every transaction in a new epoch (KIP-890
//!   part 2) and writes the markers in it, so the partitions refuse the stray batch if it lands
//!   after them;
//! - AddPartitionsToTxn refused for good or not answered before the deadline: nothing was sent,
//!   `fail`;
//! - EndTxn(commit) refused INVALID_TXN_STATE: under the producer's own epoch the coordinator
//!   has nothing open and no commit decided (it would answer a retried commit OK), so the
//!   transaction was aborted (timed out, say): `fail`;
//! - EndTxn(commit) unanswered until the deadline or refused otherwise for good (a fenced epoch
//!   may have committed first): `info`.
//!
//! A transaction that can never commit (the producer never asked to) is `fail`, whatever else
//! went wrong: only EndTxn(commit) commits.
//!
//! EndTxn's answer names the producer id and epoch the next transaction runs under: the
//! producer adopts them ([`Reaction::Adopt`]), numbering every partition from 0 again.

use crate::dedup::RequestIds;
use crate::log::TransactionOutcome;
use crate::message::Message;
use crate::message::txn::{AddPartitionsToTxnRequest, EndTxnRequest, TxnError};
use crate::node::Output;
use crate::topic::TopicName;

/// Where a transactional operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// AddPartitionsToTxn for the operation's partitions; the records wait.
    AddingPartitions,
    /// The records are on their way (the producer's parts).
    Producing,
    /// EndTxn with this outcome.
    Ending(TransactionOutcome),
    /// Decided: the history event to record.
    Done(Completion),
}

/// How a transactional operation completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    Committed,
    Aborted,
    Unknown,
}

/// What the producer must do after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reaction {
    Nothing,
    /// The coordinator moved (NOT_COORDINATOR): refresh the metadata.
    RefreshMetadata,
    /// The producer's epoch is no longer usable: ask for a new one.
    Renew,
    /// A newer instance of the transactional id fenced the producer: ask for a new epoch, but
    /// only after the restart backoff (see [`super::producer::ProducerConfig`]).
    Fenced,
    /// The transaction ended: run the next one as this producer id and epoch.
    Adopt {
        producer_id: u64,
        epoch: u16,
    },
}

/// One operation's transaction. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Transaction {
    phase: Phase,
    partitions: Vec<u32>,
    /// The phase's request to the coordinator.
    request: PhaseRequest,
    /// Abort even if every record is acknowledged (the workload exercises aborts).
    abort_drawn: bool,
}

impl Transaction {
    pub(crate) fn new(
        partitions: Vec<u32>,
        abort_drawn: bool,
        now_ns: u64,
        deadline_ns: u64,
    ) -> Self {
        assert!(!partitions.is_empty(), "a transaction sends records");
        Transaction {
            phase: Phase::AddingPartitions,
            partitions,
            request: PhaseRequest::start(now_ns, deadline_ns),
            abort_drawn,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// The records are resolved: end the transaction as they allow.
    pub(crate) fn records_resolved(
        &mut self,
        all_acknowledged: bool,
        now_ns: u64,
        deadline_ns: u64,
    ) {
        assert_eq!(
            self.phase,
            Phase::Producing,
            "records resolve while producing"
        );
        let outcome = if all_acknowledged && !self.abort_drawn {
            TransactionOutcome::Commit
        } else {
            TransactionOutcome::Abort
        };
        self.start(Phase::Ending(outcome), now_ns, deadline_ns);
    }

    fn start(&mut self, phase: Phase, now_ns: u64, deadline_ns: u64) {
        self.phase = phase;
        self.request = PhaseRequest::start(now_ns, deadline_ns);
    }

    /// Gives up a phase past its deadline; returns what to do then. A request to the
    /// coordinator unanswered after `timeout_ns` goes again once the coordinator is looked up
    /// anew (Kafka's client looks its coordinator up again after a request to it fails).
    pub(crate) fn expire(&mut self, now_ns: u64, timeout_ns: u64) -> Reaction {
        let unanswered = self.request.forget_unanswered(now_ns, timeout_ns);
        if !self.request.expired(now_ns) {
            return if unanswered {
                Reaction::RefreshMetadata
            } else {
                Reaction::Nothing
            };
        }
        match self.phase {
            Phase::AddingPartitions | Phase::Ending(TransactionOutcome::Abort) => {
                self.phase = Phase::Done(Completion::Aborted);
                Reaction::Renew
            }
            Phase::Ending(TransactionOutcome::Commit) => {
                self.phase = Phase::Done(Completion::Unknown);
                Reaction::Renew
            }
            Phase::Producing | Phase::Done(_) => Reaction::Nothing,
        }
    }

    /// Sends the phase's request to `coordinator` if one is due.
    pub(crate) fn request_if_due(
        &mut self,
        now_ns: u64,
        coordinator: Option<u32>,
        producer: TransactionalProducer<'_>,
        request_ids: &mut RequestIds,
        output: &mut Vec<Output>,
    ) {
        let Some(coordinator) = coordinator.filter(|_| self.request.is_due(now_ns)) else {
            return;
        };
        let request_id = request_ids.next_id();
        let message = match self.phase {
            Phase::AddingPartitions => Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                request_id,
                transactional_id: producer.transactional_id.to_owned(),
                producer_id: producer.producer_id,
                producer_epoch: producer.epoch,
                partitions: self
                    .partitions
                    .iter()
                    .map(|partition| (producer.topic.clone(), *partition))
                    .collect(),
            }),
            Phase::Ending(outcome) => Message::EndTxn(EndTxnRequest {
                request_id,
                transactional_id: producer.transactional_id.to_owned(),
                producer_id: producer.producer_id,
                producer_epoch: producer.epoch,
                outcome,
            }),
            Phase::Producing | Phase::Done(_) => return,
        };
        self.request.sent(request_id, now_ns);
        output.push(Output::Send {
            to: coordinator,
            message,
        });
    }

    /// The coordinator's answer to request `request_id`: an EndTxn's success names the producer
    /// id and epoch to go on with.
    pub(crate) fn on_answer(
        &mut self,
        request_id: u64,
        result: Result<Option<(u64, u16)>, &TxnError>,
        now_ns: u64,
        backoff_ns: u64,
    ) -> Reaction {
        if !self.request.answered(request_id) {
            return Reaction::Nothing; // Late: an answer to a request already given up on.
        }
        let ending = match self.phase {
            Phase::Ending(outcome) => Some(outcome),
            _ => None,
        };
        match judge_answer(result, ending) {
            Judged::Added => {
                self.phase = Phase::Producing;
                Reaction::Nothing
            }
            Judged::Retry(reaction) => {
                self.request.back_off(now_ns + backoff_ns);
                reaction
            }
            Judged::Over(completion, reaction) => {
                self.phase = Phase::Done(completion);
                reaction
            }
        }
    }

    /// When [`Self::request_if_due`] or [`Self::expire`] next has something to do.
    pub(crate) fn deadline_ns(&self, timeout_ns: u64) -> Option<u64> {
        match self.phase {
            Phase::AddingPartitions | Phase::Ending(_) => Some(self.request.next_ns(timeout_ns)),
            Phase::Producing | Phase::Done(_) => None,
        }
    }
}

/// The one request a transaction's phase has in flight at a time, its retry backoff, and the
/// phase's deadline: what every client transaction keeps per phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PhaseRequest {
    /// (request id, sent at).
    in_flight: Option<(u64, u64)>,
    /// No request before this time.
    retry_at_ns: u64,
    /// The phase gives up at this time.
    deadline_ns: u64,
}

impl PhaseRequest {
    /// A phase that may send at once and gives up at `deadline_ns`.
    pub(crate) fn start(now_ns: u64, deadline_ns: u64) -> Self {
        PhaseRequest {
            in_flight: None,
            retry_at_ns: now_ns,
            deadline_ns,
        }
    }

    /// Forgets a request unanswered after `timeout_ns` (it goes again, once due); returns
    /// whether there was one: its coordinator may have moved or stopped.
    pub(crate) fn forget_unanswered(&mut self, now_ns: u64, timeout_ns: u64) -> bool {
        let unanswered = self
            .in_flight
            .is_some_and(|(_, sent_ns)| sent_ns + timeout_ns <= now_ns);
        if unanswered {
            self.in_flight = None;
        }
        unanswered
    }

    /// Whether the phase is over: its deadline passed, and nothing is in flight.
    pub(crate) fn expired(&self, now_ns: u64) -> bool {
        self.deadline_ns <= now_ns && self.in_flight.is_none()
    }

    /// Whether a request may go now: none in flight, and the backoff over.
    pub(crate) fn is_due(&self, now_ns: u64) -> bool {
        self.in_flight.is_none() && self.retry_at_ns <= now_ns
    }

    pub(crate) fn sent(&mut self, request_id: u64, now_ns: u64) {
        self.in_flight = Some((request_id, now_ns));
    }

    /// Whether `request_id` answers the request in flight (which then is no longer): an answer
    /// to anything else is late.
    pub(crate) fn answered(&mut self, request_id: u64) -> bool {
        let current = self.in_flight.map(|(in_flight, _)| in_flight) == Some(request_id);
        if current {
            self.in_flight = None;
        }
        current
    }

    /// No request before `retry_at_ns`.
    pub(crate) fn back_off(&mut self, retry_at_ns: u64) {
        self.retry_at_ns = retry_at_ns;
    }

    /// When the phase next has something to do: its request times out, or it may send (or give
    /// up).
    pub(crate) fn next_ns(&self, timeout_ns: u64) -> u64 {
        match self.in_flight {
            Some((_, sent_ns)) => sent_ns + timeout_ns,
            None => self.retry_at_ns.min(self.deadline_ns),
        }
    }
}

/// What a transaction coordinator's answer means, whatever the client's phases: to a request
/// that adds partitions or offsets (`ending` is `None`), or to an EndTxn (`ending` its outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    /// Added: the transaction goes on.
    Added,
    /// Retriable: ask again after the backoff, once the reaction is done.
    Retry(Reaction),
    /// The transaction is over.
    Over(Completion, Reaction),
}

/// Judges a transaction coordinator's answer (see [`Judged`]): an EndTxn answered names the
/// producer id and epoch to go on with; EndTxn(commit) refused INVALID_TXN_STATE means that under
/// this very epoch the coordinator holds nothing open and no commit decided (a decided commit
/// answers a retry OK), so the transaction was aborted; any other refusal of a commit leaves its
/// outcome unknown (a fenced epoch may have committed it first), and of anything else aborts it.
pub(crate) fn judge_answer(
    result: Result<Option<(u64, u16)>, &TxnError>,
    ending: Option<TransactionOutcome>,
) -> Judged {
    match (result, ending) {
        (Ok(None), None) => Judged::Added,
        (Ok(Some((producer_id, epoch))), Some(outcome)) => {
            let completion = match outcome {
                TransactionOutcome::Commit => Completion::Committed,
                TransactionOutcome::Abort => Completion::Aborted,
            };
            Judged::Over(completion, Reaction::Adopt { producer_id, epoch })
        }
        (Err(error), _) if error.is_retriable() => {
            Judged::Retry(if error == &TxnError::NotCoordinator {
                Reaction::RefreshMetadata
            } else {
                Reaction::Nothing
            })
        }
        (Err(TxnError::InvalidTxnState), Some(TransactionOutcome::Commit)) => {
            Judged::Over(Completion::Aborted, Reaction::Renew)
        }
        (Err(error), ending) => {
            let completion = if ending == Some(TransactionOutcome::Commit) {
                Completion::Unknown
            } else {
                Completion::Aborted
            };
            let reaction = match error {
                TxnError::ProducerFenced => Reaction::Fenced,
                _ => Reaction::Renew,
            };
            Judged::Over(completion, reaction)
        }
        (Ok(answer), ending) => {
            unreachable!("answer {answer:?} to a request in flight (ending: {ending:?})")
        }
    }
}

/// Who asks: the producer's transactional id, id and epoch, and the topic it writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TransactionalProducer<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) producer_id: u64,
    pub(crate) epoch: u16,
    pub(crate) topic: &'a TopicName,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT_NS: u64 = 10;

    fn producer(topic: &TopicName) -> TransactionalProducer<'_> {
        TransactionalProducer {
            transactional_id: "tx",
            producer_id: 7,
            epoch: 1,
            topic,
        }
    }

    /// Sends the due request and returns its id.
    fn send(transaction: &mut Transaction, now_ns: u64, request_ids: &mut RequestIds) -> u64 {
        let topic = TopicName::new("t");
        let mut output = Vec::new();
        transaction.request_if_due(now_ns, Some(3), producer(&topic), request_ids, &mut output);
        let [Output::Send { to: 3, message }] = output.as_slice() else {
            panic!("one request to the coordinator: {output:?}");
        };
        message.request_id().expect("a request")
    }

    #[test]
    fn a_transaction_adds_its_partitions_produces_and_commits() {
        let mut request_ids = RequestIds::default();
        let mut transaction = Transaction::new(vec![0, 2], false, 0, 100);
        let add = send(&mut transaction, 0, &mut request_ids);
        assert_eq!(
            transaction.on_answer(add, Ok(None), 1, 5),
            Reaction::Nothing
        );
        assert_eq!(transaction.phase(), Phase::Producing);
        transaction.records_resolved(true, 2, 100);
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Commit)
        );
        let end = send(&mut transaction, 2, &mut request_ids);
        let next = transaction.on_answer(end, Ok(Some((7, 2))), 3, 5);
        assert_eq!(
            next,
            Reaction::Adopt {
                producer_id: 7,
                epoch: 2
            },
            "the next transaction runs in the epoch the end bumped to"
        );
        assert_eq!(transaction.phase(), Phase::Done(Completion::Committed));
    }

    #[test]
    fn a_drawn_abort_or_a_record_not_acknowledged_aborts() {
        let mut request_ids = RequestIds::default();
        for (acknowledged, abort_drawn) in [(true, true), (false, false)] {
            let mut transaction = Transaction::new(vec![0], abort_drawn, 0, 100);
            transaction.phase = Phase::Producing;
            transaction.records_resolved(acknowledged, 0, 100);
            assert_eq!(
                transaction.phase(),
                Phase::Ending(TransactionOutcome::Abort)
            );
            let end = send(&mut transaction, 0, &mut request_ids);
            let next = transaction.on_answer(end, Ok(Some((7, 2))), 1, 5);
            assert!(matches!(next, Reaction::Adopt { epoch: 2, .. }));
            assert_eq!(transaction.phase(), Phase::Done(Completion::Aborted));
        }
    }

    #[test]
    fn retriable_errors_back_off_and_a_lost_commit_is_unknown() {
        let mut request_ids = RequestIds::default();
        let mut transaction = Transaction::new(vec![0], false, 0, 100);
        transaction.phase = Phase::Producing;
        transaction.records_resolved(true, 0, 50);
        let end = send(&mut transaction, 0, &mut request_ids);
        let moved = transaction.on_answer(end, Err(&TxnError::NotCoordinator), 1, 5);
        assert_eq!(moved, Reaction::RefreshMetadata);
        assert_eq!(transaction.deadline_ns(TIMEOUT_NS), Some(6), "backs off");
        let retry = send(&mut transaction, 6, &mut request_ids);
        assert_ne!(retry, end);
        assert_eq!(transaction.expire(15, TIMEOUT_NS), Reaction::Nothing);
        assert_eq!(
            transaction.on_answer(end, Ok(Some((7, 2))), 15, 5),
            Reaction::Nothing,
            "late"
        );
        assert_eq!(transaction.expire(50, TIMEOUT_NS), Reaction::Renew);
        assert_eq!(transaction.phase(), Phase::Done(Completion::Unknown));
    }

    #[test]
    fn a_fenced_commit_is_unknown_an_invalid_state_commit_aborted_and_a_refused_add_aborted() {
        let mut request_ids = RequestIds::default();
        let mut adding = Transaction::new(vec![0], false, 0, 100);
        let add = send(&mut adding, 0, &mut request_ids);
        assert_eq!(
            adding.on_answer(add, Err(&TxnError::ProducerFenced), 1, 5),
            Reaction::Fenced
        );
        assert_eq!(adding.phase(), Phase::Done(Completion::Aborted));

        for (refusal, completion, reaction) in [
            (
                TxnError::ProducerFenced,
                Completion::Unknown,
                Reaction::Fenced,
            ),
            (
                TxnError::InvalidTxnState,
                Completion::Aborted,
                Reaction::Renew,
            ),
            (
                TxnError::InvalidProducerIdMapping,
                Completion::Unknown,
                Reaction::Renew,
            ),
        ] {
            let mut ending = Transaction::new(vec![0], false, 0, 100);
            ending.phase = Phase::Producing;
            ending.records_resolved(true, 0, 100);
            let end = send(&mut ending, 0, &mut request_ids);
            assert_eq!(ending.on_answer(end, Err(&refusal), 1, 5), reaction);
            assert_eq!(ending.phase(), Phase::Done(completion), "{refusal:?}");
        }
    }
}
