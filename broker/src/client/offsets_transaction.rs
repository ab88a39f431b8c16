//! One commit of a group consumer in transactional mode: its offsets committed inside a
//! transaction of their own, with the records its processing produced, if it produces any
//! (KIP-98's consume-transform-produce: Kafka's `sendOffsetsToTransaction`).
//!
//! When the commit carries output records, two phases come first: AddPartitionsToTxn to the
//! transaction coordinator (the output partitions join the transaction), then one batch per
//! output partition to its leader (acks=all, stamped with the producer id and epoch: a batch
//! resent after an error or a time-out carries the same stamp, so it is appended once). A batch
//! refused for good, or a phase whose batches are not all appended by its deadline, aborts the
//! transaction: a batch that lands after the abort marker is refused (the marker is in a new
//! epoch, KIP-890), and one that landed before it is aborted with the rest.
//!
//! Then three requests, each retried until its phase's deadline: AddOffsetsToTxn to the
//! transaction coordinator (the group's offsets partition joins the transaction),
//! TxnOffsetCommit to the group coordinator (the offsets, fenced by the producer's epoch and the
//! member's generation), then EndTxn to the transaction coordinator. The outcome the history
//! records:
//! - EndTxn(commit) answered: `ok`, and the offsets and output records took effect;
//! - AddPartitionsToTxn or AddOffsetsToTxn refused for good or not answered in time: nothing
//!   took effect, `fail`;
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
use crate::log::{BatchTransaction, ProducerStamp, SharedRecords, TransactionOutcome};
use crate::message::group::{CommittedOffset, GroupError, TxnOffsetCommitRequest};
use crate::message::txn::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, TxnError,
};
use crate::message::{Acks, Message, ProducePartition, ProduceRequest, ProduceResponse};
use crate::node::Output;
use crate::topic::TopicName;

/// Where an offsets transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// AddPartitionsToTxn for the output partitions, to the transaction coordinator.
    AddingPartitions,
    /// The output batches, each to its partition's leader.
    Producing,
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

/// One output partition's records in the transaction.
#[derive(Clone, Debug)]
pub(crate) struct OutputBatch {
    pub(crate) partition: u32,
    pub(crate) records: SharedRecords,
    /// The producer id, epoch and first sequence number: the same on every attempt.
    pub(crate) producer: ProducerStamp,
    pub(crate) status: BatchStatus,
}

/// Where an output batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchStatus {
    /// To be sent (again) once `retry_at_ns` has come.
    Due {
        retry_at_ns: u64,
    },
    InFlight {
        request_id: u64,
        sent_ns: u64,
    },
    Appended {
        base_offset: u64,
    },
}

/// The records a transactional commit produces: the output topic and one batch per partition.
#[derive(Clone, Debug)]
pub(crate) struct Outputs {
    pub(crate) topic: TopicName,
    pub(crate) batches: Vec<OutputBatch>,
}

impl Outputs {
    /// A commit that produces nothing (its topic is never named: no partition joins).
    pub(crate) fn none() -> Self {
        Outputs {
            topic: TopicName::from(""),
            batches: Vec::new(),
        }
    }

    /// Batches ready to go at `now_ns`: of each partition, the first not yet appended, once
    /// its backoff is over. A partition's batches go one at a time, in sequence order: a
    /// leader refuses a batch whose sequence does not follow the last it appended.
    fn due(&self, now_ns: u64) -> Vec<usize> {
        let mut due = Vec::new();
        for (index, batch) in self.batches.iter().enumerate() {
            let earlier_pending = self.batches[..index].iter().any(|earlier| {
                earlier.partition == batch.partition
                    && !matches!(earlier.status, BatchStatus::Appended { .. })
            });
            let ready =
                matches!(batch.status, BatchStatus::Due { retry_at_ns } if retry_at_ns <= now_ns);
            if ready && !earlier_pending {
                due.push(index);
            }
        }
        due
    }

    fn all_appended(&self) -> bool {
        self.batches
            .iter()
            .all(|batch| matches!(batch.status, BatchStatus::Appended { .. }))
    }
}

/// One offsets transaction. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct OffsetsTransaction {
    phase: Phase,
    committer: Committer,
    offsets: Vec<(String, u32, CommittedOffset)>,
    /// The records produced in the transaction; no batches when it produces none.
    outputs: Outputs,
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
        outputs: Outputs,
        abort_drawn: bool,
        now_ns: u64,
        phase_timeout_ns: u64,
    ) -> Self {
        assert!(!offsets.is_empty(), "a transaction commits offsets");
        assert!(
            outputs.batches.iter().all(|batch| !batch.records.is_empty()
                && !batch.producer.is_none()
                && matches!(batch.status, BatchStatus::Due { .. })),
            "output batches start due, stamped and not empty: {outputs:?}"
        );
        let phase = if outputs.batches.is_empty() {
            Phase::AddingOffsets
        } else {
            Phase::AddingPartitions
        };
        OffsetsTransaction {
            phase,
            committer,
            offsets,
            outputs,
            request: PhaseRequest::start(now_ns, now_ns + phase_timeout_ns),
            phase_timeout_ns,
            abort_drawn,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    fn start(&mut self, phase: Phase, now_ns: u64) {
        self.phase = phase;
        self.request = PhaseRequest::start(now_ns, now_ns + self.phase_timeout_ns);
    }

    /// Which coordinator the phase's request goes to: the transaction's (`true`) or the group's.
    pub(crate) fn asks_transaction_coordinator(&self) -> bool {
        !matches!(self.phase, Phase::CommittingOffsets | Phase::Producing)
    }

    /// Makes each output batch unanswered after `timeout_ns` due again (with its stamp: it is
    /// appended at most once); returns their partitions, whose leader may have moved or
    /// stopped (the caller looks them up again).
    pub(crate) fn forget_unanswered_batches(&mut self, now_ns: u64, timeout_ns: u64) -> Vec<u32> {
        let mut unanswered = Vec::new();
        if self.phase != Phase::Producing {
            return unanswered;
        }
        for batch in &mut self.outputs.batches {
            if matches!(batch.status, BatchStatus::InFlight { sent_ns, .. } if sent_ns + timeout_ns <= now_ns)
            {
                batch.status = BatchStatus::Due {
                    retry_at_ns: now_ns,
                };
                unanswered.push(batch.partition);
            }
        }
        unanswered
    }

    /// Gives up a phase past its deadline (or a request unanswered after `timeout_ns`); returns
    /// what to do then.
    pub(crate) fn expire(&mut self, now_ns: u64, timeout_ns: u64) -> Reaction {
        let unanswered = self.request.forget_unanswered(now_ns, timeout_ns);
        if !self.request.expired(now_ns) {
            // The transaction coordinator may have moved or stopped: look it up again. (The
            // group coordinator's heartbeats find a moved one.)
            let refresh = unanswered && self.asks_transaction_coordinator();
            return if refresh {
                Reaction::RefreshMetadata
            } else {
                Reaction::Nothing
            };
        }
        match self.phase {
            Phase::AddingPartitions
            | Phase::AddingOffsets
            | Phase::Ending(TransactionOutcome::Abort) => {
                self.phase = Phase::Done(Completion::Aborted);
                Reaction::Renew
            }
            Phase::Producing | Phase::CommittingOffsets => {
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
            Phase::AddingPartitions => Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                request_id,
                transactional_id: committer.transactional_id.clone(),
                producer_id: committer.producer_id,
                producer_epoch: committer.epoch,
                partitions: self
                    .outputs
                    .batches
                    .iter()
                    .map(|batch| (self.outputs.topic.clone(), batch.partition))
                    .collect(),
            }),
            Phase::Producing => return,
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

    /// The transaction coordinator's answer: to AddPartitionsToTxn or AddOffsetsToTxn
    /// (`Ok(None)`), or to EndTxn (the producer id and epoch to go on with).
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
            Judged::Added if self.phase == Phase::AddingPartitions => {
                self.start(Phase::Producing, now_ns);
                Reaction::Nothing
            }
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

impl OffsetsTransaction {
    /// Sends each output batch that is due to its partition's leader (`leader` names it, from
    /// the metadata), one request per batch. Returns whether a leader was unknown (the caller
    /// refreshes the metadata).
    pub(crate) fn produce_if_due(
        &mut self,
        now_ns: u64,
        leader: impl Fn(&str, u32) -> Option<u32>,
        request_ids: &mut RequestIds,
        output: &mut Vec<Output>,
    ) -> bool {
        if self.phase != Phase::Producing {
            return false;
        }
        let mut leader_unknown = false;
        for index in self.outputs.due(now_ns) {
            let topic = &self.outputs.topic;
            let batch = &mut self.outputs.batches[index];
            let Some(to) = leader(topic, batch.partition) else {
                leader_unknown = true;
                continue;
            };
            let request_id = request_ids.next_id();
            batch.status = BatchStatus::InFlight {
                request_id,
                sent_ns: now_ns,
            };
            let request = ProduceRequest {
                request_id,
                acks: Acks::All,
                partitions: vec![ProducePartition {
                    topic: topic.clone(),
                    partition: batch.partition,
                    records: batch.records.clone(),
                    producer: batch.producer,
                    transaction: BatchTransaction::Data,
                }],
            };
            output.push(Output::Send {
                to,
                message: Message::Produce(request),
            });
        }
        leader_unknown
    }

    /// A leader's answer to an output batch. Appended: once every batch is, the offsets follow.
    /// An error that a retry may mend (the leader moved, not enough replicas, an outcome not
    /// known) sends the batch again after the backoff, with its stamp; any other aborts the
    /// transaction. Returns the partitions whose leader the metadata must look up again.
    pub(crate) fn on_produce_answer(
        &mut self,
        response: &ProduceResponse,
        now_ns: u64,
        backoff_ns: u64,
    ) -> Vec<u32> {
        let mut stale = Vec::new();
        if self.phase != Phase::Producing {
            return stale;
        }
        for answer in &response.partitions {
            let Some(batch) = self.outputs.batches.iter_mut().find(|batch| {
                batch.partition == answer.partition
                    && matches!(batch.status, BatchStatus::InFlight { request_id, .. } if request_id == response.request_id)
            }) else {
                continue;
            };
            batch.status = match &answer.result {
                Ok(base_offset) => BatchStatus::Appended {
                    base_offset: *base_offset,
                },
                Err(error) if error.is_retriable() || error.is_indeterminate() => {
                    if error.is_stale_leader() {
                        stale.push(answer.partition);
                    }
                    BatchStatus::Due {
                        retry_at_ns: now_ns + backoff_ns,
                    }
                }
                Err(_) => {
                    self.start(Phase::Ending(TransactionOutcome::Abort), now_ns);
                    return stale;
                }
            };
        }
        if self.outputs.all_appended() {
            self.start(Phase::AddingOffsets, now_ns);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DataError;

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
        OffsetsTransaction::new(
            committer,
            offsets,
            Outputs::none(),
            abort_drawn,
            now_ns,
            100,
        )
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
        assert_eq!(
            transaction.expire(10, TIMEOUT_NS),
            Reaction::RefreshMetadata,
            "unanswered: the coordinator is looked up again"
        );
        let again = send(&mut transaction, 10, &mut ids);
        assert_ne!(again, add);
        assert_eq!(
            transaction.on_transaction_answer(add, Ok(None), 11, 5),
            Reaction::Nothing
        );
        assert_eq!(transaction.phase(), Phase::AddingOffsets, "late");
    }

    const LEADER: u32 = 5;

    /// A transaction that produces `batches` (partition, records) before its offsets.
    fn producing(now_ns: u64, batches: &[(u32, u64)]) -> OffsetsTransaction {
        let mut transaction = committing(now_ns);
        let mut sequences = std::collections::BTreeMap::new();
        let batches = batches
            .iter()
            .map(|&(partition, records)| {
                let first = sequences.entry(partition).or_insert(0);
                let stamp = crate::log::ProducerSequence {
                    producer_id: 7,
                    producer_epoch: 1,
                    batch_first_sequence: *first,
                    base_sequence: *first,
                    transaction: BatchTransaction::None,
                };
                *first += records as u32;
                OutputBatch {
                    partition,
                    records: (0..records)
                        .map(|value| crate::log::Record { key: None, value })
                        .collect(),
                    producer: ProducerStamp(Some(stamp)),
                    status: BatchStatus::Due { retry_at_ns: 0 },
                }
            })
            .collect();
        let outputs = Outputs {
            topic: TopicName::from("out"),
            batches,
        };
        transaction = OffsetsTransaction::new(
            transaction.committer.clone(),
            transaction.offsets.clone(),
            outputs,
            false,
            now_ns,
            100,
        );
        transaction
    }

    /// Sends the due output batches: `(request id, partition, first sequence)` of each.
    fn produce(
        transaction: &mut OffsetsTransaction,
        now_ns: u64,
        ids: &mut RequestIds,
    ) -> Vec<(u64, u32, u32)> {
        let mut output = Vec::new();
        let unknown = transaction.produce_if_due(now_ns, |_, _| Some(LEADER), ids, &mut output);
        assert!(!unknown);
        output
            .iter()
            .map(|sent| {
                let Output::Send {
                    to: LEADER,
                    message: Message::Produce(request),
                } = sent
                else {
                    panic!("a produce to the leader: {sent:?}");
                };
                assert_eq!(request.acks, Acks::All);
                let [partition] = request.partitions.as_slice() else {
                    panic!("one batch per request: {request:?}");
                };
                assert_eq!(partition.transaction, BatchTransaction::Data);
                let sequence = partition.producer.0.expect("stamped").base_sequence;
                (request.request_id, partition.partition, sequence)
            })
            .collect()
    }

    fn answer(request_id: u64, partition: u32, result: Result<u64, DataError>) -> ProduceResponse {
        ProduceResponse {
            request_id,
            partitions: vec![crate::message::ProducePartitionResult {
                topic: TopicName::from("out"),
                partition,
                result,
            }],
        }
    }

    #[test]
    fn output_partitions_are_added_then_each_partition_s_batches_go_in_sequence_order() {
        let mut ids = RequestIds::default();
        let mut transaction = producing(0, &[(0, 3), (0, 2), (1, 4)]);
        assert_eq!(transaction.phase(), Phase::AddingPartitions);
        assert!(produce(&mut transaction, 0, &mut ids).is_empty(), "not yet");
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        assert_eq!(transaction.phase(), Phase::Producing);
        let first = produce(&mut transaction, 1, &mut ids);
        let partitions: Vec<(u32, u32)> = first.iter().map(|&(_, p, s)| (p, s)).collect();
        assert_eq!(
            partitions,
            vec![(0, 0), (1, 0)],
            "one batch per partition at a time"
        );
        let stale = transaction.on_produce_answer(&answer(first[0].0, 0, Ok(10)), 2, 5);
        assert!(stale.is_empty());
        let second = produce(&mut transaction, 2, &mut ids);
        let partitions: Vec<(u32, u32)> = second.iter().map(|&(_, p, s)| (p, s)).collect();
        assert_eq!(
            partitions,
            vec![(0, 3)],
            "the next batch follows the appended one"
        );
        transaction.on_produce_answer(&answer(first[1].0, 1, Ok(20)), 3, 5);
        assert_eq!(transaction.phase(), Phase::Producing);
        transaction.on_produce_answer(&answer(second[0].0, 0, Ok(13)), 4, 5);
        assert_eq!(
            transaction.phase(),
            Phase::AddingOffsets,
            "every batch appended"
        );
        let appended: Vec<BatchStatus> = transaction
            .outputs()
            .batches
            .iter()
            .map(|batch| batch.status)
            .collect();
        assert_eq!(
            appended,
            vec![
                BatchStatus::Appended { base_offset: 10 },
                BatchStatus::Appended { base_offset: 13 },
                BatchStatus::Appended { base_offset: 20 },
            ]
        );
    }

    #[test]
    fn a_moved_leader_or_a_lost_answer_resends_the_same_batch_and_a_refused_one_aborts() {
        let mut ids = RequestIds::default();
        let mut transaction = producing(0, &[(0, 3)]);
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        let [(first, 0, 0)] = produce(&mut transaction, 1, &mut ids)[..] else {
            panic!("one batch");
        };
        let moved = DataError::NotLeader { leader_hint: None };
        let stale = transaction.on_produce_answer(&answer(first, 0, Err(moved)), 2, 5);
        assert_eq!(stale, vec![0], "the metadata is looked up again");
        assert!(
            produce(&mut transaction, 3, &mut ids).is_empty(),
            "backs off"
        );
        let [(again, 0, 0)] = produce(&mut transaction, 7, &mut ids)[..] else {
            panic!("the same batch, same sequence");
        };
        assert_ne!(again, first);
        assert_eq!(
            transaction.forget_unanswered_batches(50, TIMEOUT_NS),
            vec![0],
            "unanswered: the leader is looked up again"
        );
        let [(third, 0, 0)] = produce(&mut transaction, 50, &mut ids)[..] else {
            panic!("unanswered: sent again with its stamp");
        };
        let refused = DataError::InvalidBatch {
            reason: "test".to_owned(),
        };
        transaction.on_produce_answer(&answer(third, 0, Err(refused)), 51, 5);
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort)
        );
    }

    #[test]
    fn batches_not_all_appended_by_the_deadline_abort_the_transaction() {
        let mut ids = RequestIds::default();
        let mut transaction = producing(0, &[(0, 1), (1, 1)]);
        let add = send(&mut transaction, 0, &mut ids);
        transaction.on_transaction_answer(add, Ok(None), 1, 5);
        let sent = produce(&mut transaction, 1, &mut ids);
        transaction.on_produce_answer(&answer(sent[0].0, 0, Ok(0)), 2, 5);
        assert_eq!(
            transaction.forget_unanswered_batches(101, TIMEOUT_NS),
            vec![1]
        );
        assert_eq!(transaction.expire(101, TIMEOUT_NS), Reaction::Nothing);
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort)
        );
        let late = transaction.on_produce_answer(&answer(sent[1].0, 1, Ok(0)), 102, 5);
        assert!(late.is_empty());
        assert_eq!(
            transaction.phase(),
            Phase::Ending(TransactionOutcome::Abort),
            "a late answer changes nothing"
        );
    }
}
