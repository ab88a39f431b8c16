//! One commit of a group consumer in transactional mode: its offsets committed inside a
//! transaction of their own (KIP-98's consume-transform-produce, with nothing produced yet).
//!
//! Three requests, each retried until its phase's deadline: AddOffsetsToTxn to the transaction
//! coordinator (the group's offsets partition joins the transaction), TxnOffsetCommit to the group
//! coordinator (the offsets, fenced by the producer's epoch and the member's generation), then
//! EndTxn to the transaction coordinator. The outcome the history records:
//! - EndTxn(commit) answered: `ok`, and the offsets took effect;
//! - AddOffsetsToTxn refused for good or not answered in time: nothing was written, `fail`;
//! - TxnOffsetCommit refused for good (a fenced generation or epoch) or not answered in time:
//!   the transaction is aborted (EndTxn(abort)), `fail`. An unanswered TxnOffsetCommit may yet
//!   land, but the abort marker (in a new epoch, KIP-890) fences it or drops it;
//! - EndTxn(commit) refused INVALID_TXN_STATE (the coordinator aborted the transaction, on its
//!   timeout say): `fail`;
//! - EndTxn(commit) unanswered until the deadline, or refused otherwise for good: `info`.
//!
//! - a transaction drawn to abort (the workload exercises aborts) ends with EndTxn(abort) once
//!   its offsets are written: `fail`, and its offsets must never take effect.
//!
//! EndTxn's answer hands over the producer id and epoch of the next transaction
//! ([`Reaction::Adopt`]).

use super::transaction::{Completion, Judged, PhaseRequest, Reaction, judge_answer};
use crate::dedup::RequestIds;
use crate::log::TransactionOutcome;
use crate::message::Message;
use crate::message::group::{CommittedOffset, GroupError, TxnOffsetCommitRequest};
use crate::message::txn::{AddOffsetsToTxnRequest, EndTxnRequest, TxnError};
use crate::node::Output;

/// Where an offsets transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// AddOffsetsToTxn, to the transaction coordinator.
    AddingOffsets,
    /// TxnOffsetCommit, to the group coordinator.
    CommittingOffsets,
    /// EndTxn with this outcome, to the transaction coordinator.
    Ending(TransactionOutcome),
    /// Decided: the history event to record.
    Done(Completion),
}

/// Who commits: the transactional id and its producer id and epoch, the group, and the member
/// in its generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committer {
    pub(crate) transactional_id: String,
    pub(crate) producer_id: u64,
    pub(crate) epoch: u16,
    pub(crate) group: String,
    pub(crate) member_id: u64,
    pub(crate) generation: u64,
}

/// One offsets transaction. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct OffsetsTransaction {
    phase: Phase,
    committer: Committer,
    offsets: Vec<(String, u32, CommittedOffset)>,
    /// The phase's request.
    request: PhaseRequest,
    /// How long each phase may take.
    phase_timeout_ns: u64,
    /// End with EndTxn(abort) even once the offsets are written.
    abort_drawn: bool,
}

impl OffsetsTransaction {
    pub(crate) fn new(
        committer: Committer,
        offsets: Vec<(String, u32, CommittedOffset)>,
        abort_drawn: bool,
        now_ns: u64,
        phase_timeout_ns: u64,
    ) -> Self {
        assert!(!offsets.is_empty(), "a transaction commits offsets");
        OffsetsTransaction {
            phase: Phase::AddingOffsets,
            committer,
            offsets,
            request: PhaseRequest::start(now_ns, now_ns + phase_timeout_ns),
            phase_timeout_ns,
            abort_drawn,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    fn start(&mut self, phase: Phase, now_ns: u64) {
        self.phase = phase;
        self.request = PhaseRequest::start(now_ns, now_ns + self.phase_timeout_ns);
    }

    /// Which coordinator the phase's request goes to: the transaction's (`true`) or the group's.
    pub(crate) fn asks_transaction_coordinator(&self) -> bool {
        !matches!(self.phase, Phase::CommittingOffsets)
    }

    /// Gives up a phase past its deadline (or a request unanswered after `timeout_ns`); returns
    /// what to do then.
    pub(crate) fn expire(&mut self, now_ns: u64, timeout_ns: u64) -> Reaction {
        if !self.request.expired(now_ns, timeout_ns) {
            return Reaction::Nothing;
        }
        match self.phase {
            Phase::AddingOffsets | Phase::Ending(TransactionOutcome::Abort) => {
                self.phase = Phase::Done(Completion::Aborted);
                Reaction::Renew
            }
            Phase::CommittingOffsets => {
                self.start(Phase::Ending(TransactionOutcome::Abort), now_ns);
                Reaction::Nothing
            }
            Phase::Ending(TransactionOutcome::Commit) => {
                self.phase = Phase::Done(Completion::Unknown);
                Reaction::Renew
            }
            Phase::Done(_) => Reaction::Nothing,
        }
    }

    /// Sends the phase's request to `coordinator` (the one [`Self::asks_transaction_coordinator`]
    /// names) if one is due.
    pub(crate) fn request_if_due(
        &mut self,
        now_ns: u64,
        coordinator: Option<u32>,
        request_ids: &mut RequestIds,
        output: &mut Vec<Output>,
    ) {
        let Some(coordinator) = coordinator.filter(|_| self.request.is_due(now_ns)) else {
            return;
        };
        let request_id = request_ids.next_id();
        let committer = &self.committer;
        let message = match self.phase {
            Phase::AddingOffsets => Message::AddOffsetsToTxn(AddOffsetsToTxnRequest {
                request_id,
                transactional_id: committer.transactional_id.clone(),
                producer_id: committer.producer_id,
                producer_epoch: committer.epoch,
                group: committer.group.clone(),
            }),
            Phase::CommittingOffsets => {
                Message::TxnOffsetCommit(Box::new(TxnOffsetCommitRequest {
                    request_id,
                    transactional_id: committer.transactional_id.clone(),
                    group: committer.group.clone(),
                    producer_id: committer.producer_id,
                    producer_epoch: committer.epoch,
                    member_id: committer.member_id,
                    generation: committer.generation,
                    offsets: self.offsets.clone(),
                }))
            }
            Phase::Ending(outcome) => Message::EndTxn(EndTxnRequest {
                request_id,
                transactional_id: committer.transactional_id.clone(),
                producer_id: committer.producer_id,
                producer_epoch: committer.epoch,
                outcome,
            }),
            Phase::Done(_) => return,
        };
        self.request.sent(request_id, now_ns);
        output.push(Output::Send {
            to: coordinator,
            message,
        });
    }

    /// The transaction coordinator's answer: to AddOffsetsToTxn (`Ok(None)`) or EndTxn (the
    /// producer id and epoch to go on with).
    pub(crate) fn on_transaction_answer(
        &mut self,
        request_id: u64,
        result: Result<Option<(u64, u16)>, &TxnError>,
        now_ns: u64,
        backoff_ns: u64,
    ) -> Reaction {
        if !self.request.answered(request_id) {
            return Reaction::Nothing;
        }
        let ending = match self.phase {
            Phase::Ending(outcome) => Some(outcome),
            _ => None,
        };
        match judge_answer(result, ending) {
            Judged::Added => {
                self.start(Phase::CommittingOffsets, now_ns);
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

    /// The group coordinator's answer to TxnOffsetCommit. A coordinator error or
    /// REQUEST_TIMED_OUT (the same offsets written twice change nothing) is retried; any other
    /// refusal aborts the transaction, and is returned for the member to handle (a fenced
    /// generation: it rejoins).
    pub(crate) fn on_offsets_answer(
        &mut self,
        request_id: u64,
        result: Result<(), &GroupError>,
        now_ns: u64,
        backoff_ns: u64,
    ) -> Option<GroupError> {
        if self.phase != Phase::CommittingOffsets || !self.request.answered(request_id) {
            return None;
        }
        match result {
            Ok(()) => {
                let outcome = if self.abort_drawn {
                    TransactionOutcome::Abort
                } else {
                    TransactionOutcome::Commit
                };
                self.start(Phase::Ending(outcome), now_ns);
                None
            }
            Err(error) if error.is_coordinator_error() || error == &GroupError::RequestTimedOut => {
                self.request.back_off(now_ns + backoff_ns);
                Some(error.clone())
            }
            Err(error) => {
                self.start(Phase::Ending(TransactionOutcome::Abort), now_ns);
                Some(error.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT_NS: u64 = 10;
    const TRANSACTION_COORDINATOR: u32 = 3;
    const GROUP_COORDINATOR: u32 = 4;

    fn committing(now_ns: u64) -> OffsetsTransaction {
        committing_drawn(now_ns, false)
    }

    fn committing_drawn(now_ns: u64, abort_drawn: bool) -> OffsetsTransaction {
        let committer = Committer {
            transactional_id: "tx".to_owned(),
            producer_id: 7,
            epoch: 1,
            group: "g".to_owned(),
            member_id: 11,
            generation: 12,
        };
        let offset = CommittedOffset {
            offset: 5,
            leader_epoch: Some(1),
        };
        let offsets = vec![("t".to_owned(), 0, offset)];
        OffsetsTransaction::new(committer, offsets, abort_drawn, now_ns, 100)
    }

    /// Sends the due request: its id, and which coordinator it went to.
    fn send(transaction: &mut OffsetsTransaction, now_ns: u64, ids: &mut RequestIds) -> u64 {
        let coordinator = if transaction.asks_transaction_coordinator() {
            TRANSACTION_COORDINATOR
        } else {
            GROUP_COORDINATOR
        };
        let mut output = Vec::new();
        transaction.request_if_due(now_ns, Some(coordinator), ids, &mut output);
        let [Output::Send { to, message }] = output.as_slice() else {
            panic!("one request: {output:?}");
        };
        assert_eq!(*to, coordinator);
        message.request_id().expect("a request")
    }

    #[test]
    fn offsets_are_added_committed_and_the_transaction_ended() {
        let mut ids = RequestIds::default();
        let mut transaction = committing(0);
        let add = send(&mut transaction, 0, &mut ids);
        assert_eq!(
            transaction.on_transaction_answer(add, Ok(None), 1, 5),
            Reaction::Nothing
        );
        assert_eq!(transaction.phase(), Phase::CommittingOffsets);
        let commit = send(&mut transaction, 1, &mut ids);
        assert_eq!(transaction.on_offsets_answer(commit, Ok(()), 2, 5), None);
        let end = send(&mut transaction, 2, &mut ids);
        assert_eq!(
            transaction.on_transaction_answer(end, Ok(Some((7, 2))), 3, 5),
            Reaction::Adopt {
                producer_id: 7,
                epoch: 2
            }
        );
        assert_eq!(transaction.phase(), Phase::Done(Completion::Committed));
    }

    #[test]
    fn a_transaction_drawn_to_abort_writes_its_offsets_then_aborts() {
        let mut ids = RequestIds::default();
        let mut transaction = committing_drawn(0, true);
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        let commit = send(&mut transaction, 1, &mut ids);
        assert_eq!(transaction.on_offsets_answer(commit, Ok(()), 2, 5), None);
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort)
        );
        let end = send(&mut transaction, 2, &mut ids);
        transaction.on_transaction_answer(end, Ok(Some((7, 2))), 3, 5);
        assert_eq!(transaction.phase(), Phase::Done(Completion::Aborted));
    }

    #[test]
    fn a_fenced_generation_aborts_and_a_timed_out_commit_is_retried() {
        let mut ids = RequestIds::default();
        let mut transaction = committing(0);
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        let commit = send(&mut transaction, 1, &mut ids);
        let timed_out =
            transaction.on_offsets_answer(commit, Err(&GroupError::RequestTimedOut), 2, 5);
        assert_eq!(timed_out, Some(GroupError::RequestTimedOut));
        assert_eq!(transaction.phase(), Phase::CommittingOffsets, "retried");
        let retry = send(&mut transaction, 7, &mut ids);
        let fenced =
            transaction.on_offsets_answer(retry, Err(&GroupError::IllegalGeneration), 8, 5);
        assert_eq!(
            fenced,
            Some(GroupError::IllegalGeneration),
            "the member rejoins"
        );
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort)
        );
        let end = send(&mut transaction, 8, &mut ids);
        transaction.on_transaction_answer(end, Ok(Some((7, 2))), 9, 5);
        assert_eq!(transaction.phase(), Phase::Done(Completion::Aborted));
    }

    #[test]
    fn an_unanswered_commit_phase_aborts_and_an_unanswered_end_is_unknown() {
        let mut ids = RequestIds::default();
        let mut transaction = committing(0);
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        send(&mut transaction, 1, &mut ids);
        assert_eq!(transaction.expire(50, TIMEOUT_NS), Reaction::Nothing);
        assert_eq!(transaction.phase(), Phase::CommittingOffsets, "not yet");
        assert_eq!(transaction.expire(101, TIMEOUT_NS), Reaction::Nothing);
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort)
        );

        let mut ending = committing(0);
        ending.start(Phase::Ending(TransactionOutcome::Commit), 0);
        send(&mut ending, 0, &mut ids);
        assert_eq!(ending.expire(100, TIMEOUT_NS), Reaction::Renew);
        assert_eq!(ending.phase(), Phase::Done(Completion::Unknown));
    }

    #[test]
    fn a_late_answer_changes_nothing() {
        let mut ids = RequestIds::default();
        let mut transaction = committing(0);
        let add = send(&mut transaction, 0, &mut ids);
        assert_eq!(transaction.expire(10, TIMEOUT_NS), Reaction::Nothing);
        let again = send(&mut transaction, 10, &mut ids);
        assert_ne!(again, add);
        assert_eq!(
            transaction.on_transaction_answer(add, Ok(None), 11, 5),
            Reaction::Nothing
        );
        assert_eq!(transaction.phase(), Phase::AddingOffsets, "late");
    }
}
