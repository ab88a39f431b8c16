//! Produce at the leader: one request per producer and leader broker, a batch per partition.
//!
//! A producer sends a leader one request carrying a batch for each of its partitions that the
//! broker leads, as Kafka's producer drains its accumulator per broker. Each partition is
//! appended or refused on its own; the request is answered once every partition's outcome is
//! known, with a result per partition in request order (Kafka's DelayedProduce also waits for all
//! of its partitions).
//!
//! - acks=0: nothing is answered.
//! - A partition refused at once (not leader, unknown partition, not enough replicas, the
//!   in-flight limit, a bad batch, named twice) has its error at once.
//! - An appended partition waits as a [`PendingProduce`] in its leader state until acks=1's sync
//!   or acks=all's HW passes the batch ([`Node::answer_pending_produces`]), until its timeout,
//!   or until this broker stops leading it. The last two answer REQUEST_TIMED_OUT: the batch may
//!   yet be committed (a new leader may hold it), so the outcome is unknown. Kafka answers
//!   NOT_LEADER_OR_FOLLOWER when leadership moves, which only its idempotent producer may retry
//!   safely; Trial's producers are not idempotent, so they must not retry it.
//! - All partitions are appended before any fetch session is woken: a follower's parked session
//!   is answered once, with every partition of the request.
//!
//! Transaction markers (Kafka's WriteTxnMarkers, sent by a transaction coordinator) take the same
//! path as an acks=all produce: each partition's marker is appended as a control batch and waits
//! as a pending produce for the HW; the request is answered with a [`WriteTxnMarkersResponse`].
//! A marker from a coordinator older than the producer's last one is refused
//! (TRANSACTION_COORDINATOR_FENCED), and so is one for an epoch older than the producer's, or
//! in the epoch of its open transaction's records: under KIP-890 part 2 a transaction's marker is
//! in a bumped epoch, so such a marker is a late one of an earlier transaction
//! (INVALID_PRODUCER_EPOCH).
//!
//! Invariants ([`Node::check_produce_invariants`]): a request in progress has a pending produce,
//! in the leader state of its partition, for exactly each of its unresolved partitions; so
//! requests in progress are bounded by the leaders' `limits.produce_in_flight_max`.

use crate::log::Record;
use crate::log::{AppendError, Appended, MarkerVerdict, TransactionMarker};
use crate::log::{
    BatchTransaction, ProducerSequence, ProducerStamp, ProducerStates, SequenceVerdict,
    SharedRecords,
};
use crate::message::data::Acks;
use crate::message::{
    DataError, Message, ProducePartition, ProducePartitionResult, ProduceRequest, ProduceResponse,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use crate::node::{Node, Observation, Output};
use crate::perturb::{Perturbations, Site};
use crate::replica::{LeaderState, PendingProduce, Replica, ReplicaRole};
use crate::storage::PartitionKey;
use crate::topic::TopicName;

/// A produce request with a partition still unresolved.
#[derive(Clone, Debug)]
pub(crate) struct ProduceInProgress {
    pub(crate) from: u32,
    pub(crate) request_id: u64,
    pub(crate) answer: AnswerAs,
    /// Each partition of the request, in its order, with its outcome once known.
    pub(crate) partitions: Vec<(PartitionKey, Option<Result<u64, DataError>>)>,
    /// How many outcomes are still unknown; the request is answered when none is.
    pub(crate) unresolved: usize,
}

/// Which response a request in progress is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerAs {
    Produce,
    TxnMarkers,
}

/// A batch a coordinator appends to an internal partition it leads ([`Node::produce_to_self`]).
#[derive(Debug)]
pub(crate) struct SelfProduced {
    pub(crate) records: Vec<Record>,
    pub(crate) producer: ProducerStamp,
    pub(crate) transaction: BatchTransaction,
}

/// What one partition of a request appends.
enum Appending {
    Batch {
        records: SharedRecords,
        producer: ProducerStamp,
        transaction: BatchTransaction,
    },
    /// A batch of a producer's transaction that a coordinator of this broker writes to an
    /// internal partition it leads (a request it sent itself: a TxnOffsetCommit's offsets).
    CoordinatorBatch {
        records: SharedRecords,
        producer: ProducerSequence,
    },
    Marker(TransactionMarker),
}

impl Node {
    pub(crate) fn on_produce(&mut self, from: u32, request: ProduceRequest) {
        let request_id = request.request_id;
        let acks = request.acks;
        let keys: Vec<PartitionKey> = request
            .partitions
            .iter()
            .map(|part| (part.topic.clone(), part.partition))
            .collect();
        let produce = if acks != Acks::None {
            self.start_produce(from, request_id, &keys, AnswerAs::Produce)
        } else {
            None
        };
        let from_coordinator = from == self.id;
        let appending = request
            .partitions
            .into_iter()
            .map(move |part| match part.producer.0 {
                Some(producer)
                    if from_coordinator && part.transaction == BatchTransaction::Data =>
                {
                    Appending::CoordinatorBatch {
                        records: part.records,
                        producer,
                    }
                }
                _ => Appending::Batch {
                    records: part.records,
                    producer: part.producer,
                    transaction: part.transaction,
                },
            });
        self.append_parts(&keys, produce, acks, appending);
    }

    /// A coordinator's write to the internal partition `topic/partition` it leads: `records`
    /// appended through the ordinary produce path with acks=all (a request to itself), answered
    /// by a [`ProduceResponse`] with `request_id` once the high watermark passes them.
    pub(crate) fn produce_to_self(
        &mut self,
        request_id: u64,
        topic: TopicName,
        partition: u32,
        records: Vec<Record>,
    ) {
        let batch = SelfProduced {
            records,
            producer: ProducerStamp::NONE,
            transaction: BatchTransaction::None,
        };
        self.produce_batch_to_self(request_id, topic, partition, batch);
    }

    /// [`Node::produce_to_self`] for a batch stamped with a producer's transaction (a group
    /// coordinator's TxnOffsetCommit). Appended with the coordinator's origin: its producer's
    /// epoch is checked (a fenced producer's offsets are refused), its sequence numbers are not
    /// (Kafka's `AppendOrigin.COORDINATOR`; a retried TxnOffsetCommit writes the same offsets
    /// again, which changes nothing).
    pub(crate) fn produce_batch_to_self(
        &mut self,
        request_id: u64,
        topic: TopicName,
        partition: u32,
        batch: SelfProduced,
    ) {
        let produce = ProduceRequest {
            request_id,
            acks: Acks::All,
            partitions: vec![ProducePartition {
                topic,
                partition,
                records: batch.records.into(),
                producer: batch.producer,
                transaction: batch.transaction,
            }],
        };
        self.send(self.id, Message::Produce(produce));
    }

    /// A coordinator's markers: appended and answered as an acks=all produce is.
    pub(crate) fn on_write_txn_markers(&mut self, from: u32, request: WriteTxnMarkersRequest) {
        let keys: Vec<PartitionKey> = request.partitions;
        let produce = self.start_produce(from, request.request_id, &keys, AnswerAs::TxnMarkers);
        let marker = request.marker;
        let appending = (0..keys.len()).map(|_| Appending::Marker(marker));
        self.append_parts(&keys, produce, Acks::All, appending);
    }

    /// Appends each partition's part of a request (`produce`: its id, `None` under acks=0) and
    /// wakes what the appends concern.
    fn append_parts(
        &mut self,
        keys: &[PartitionKey],
        produce: Option<u64>,
        acks: Acks,
        parts: impl Iterator<Item = Appending>,
    ) {
        let mut appended = self.replicas.take_keys();
        for (position, part) in parts.enumerate() {
            let key = &keys[position];
            // Requests name a handful of partitions: a scan beats a set.
            let result = if !keys[..position].contains(key) {
                // acks=0: nothing waits for an acknowledgement.
                let pending = produce.map(|produce| PendingProduce {
                    produce,
                    position,
                    acks,
                    base_offset: 0,
                    end_offset: 0,
                    deadline_ns: self.now_ns() + self.config.timing.produce_timeout_ns,
                });
                match part {
                    Appending::Batch {
                        records,
                        producer,
                        transaction,
                    } => self.append_produce(key, pending, records, producer, transaction),
                    Appending::CoordinatorBatch { records, producer } => {
                        self.append_coordinator_batch(key, pending, records, producer)
                    }
                    Appending::Marker(marker) => self.append_marker(key, pending, marker),
                }
            } else {
                Err(DataError::InvalidBatch {
                    reason: "a partition named twice in one request".to_owned(),
                })
            };
            match (result, produce) {
                (Ok(()), _) => appended.push(key.clone()),
                (Err(error), Some(produce)) => self.resolve_produce(produce, position, Err(error)),
                (Err(_), None) => {}
            }
        }
        for key in &appended {
            self.wake_parked_sessions(key);
        }
        for key in &appended {
            self.on_leader_changed(key);
        }
        self.replicas.return_keys(appended);
    }

    /// Notes a request whose answer waits for each of its partitions, under a fresh local id
    /// (a request handled twice, as without deduplication, is two requests). Answered at once,
    /// with no id, if it names no partition.
    fn start_produce(
        &mut self,
        from: u32,
        request_id: u64,
        keys: &[PartitionKey],
        answer: AnswerAs,
    ) -> Option<u64> {
        let progress = ProduceInProgress {
            from,
            request_id,
            answer,
            partitions: keys.iter().map(|key| (key.clone(), None)).collect(),
            unresolved: keys.len(),
        };
        if keys.is_empty() {
            self.answer_produce(progress);
            return None;
        }
        self.replicas.produce_next += 1;
        let produce = self.replicas.produce_next;
        self.replicas.produces.insert(produce, progress);
        Some(produce)
    }

    /// Validates and appends one partition's batch; queues its acknowledgement (`pending`, with
    /// the offsets filled in) unless acks=0.
    fn append_produce(
        &mut self,
        key: &PartitionKey,
        pending: Option<PendingProduce>,
        records: SharedRecords,
        producer: ProducerStamp,
        transaction: BatchTransaction,
    ) -> Result<(), DataError> {
        let lose_state = self.config.bugs.lose_producer_state_on_leader_change;
        let planted = PlantedSequenceBugs {
            accept_unknown: lose_state,
            accept_stale_epoch: self.config.bugs.accept_stale_producer_epoch,
        };
        self.append_at_leader(key, pending, |replica, leader_epoch| {
            check_transaction_part(producer, transaction)?;
            if let Some(sequence) = producer.0 {
                let states = match &replica.role {
                    ReplicaRole::Leader(leader) if lose_state => &leader.producers_seen,
                    _ => replica.log.producers(),
                };
                if let Some(offsets) =
                    check_sequence(states, sequence, records.len() as u64, planted)?
                {
                    // A retried batch the log holds: acknowledged as its first append would be.
                    return Ok(LeaderAppend::Duplicate(offsets));
                }
            }
            let appended =
                replica
                    .log
                    .append_stamped_as_leader(leader_epoch, records, producer, transaction);
            Ok(LeaderAppend::Appended(appended.map_err(invalid_batch)?))
        })
    }

    /// Appends a coordinator's batch of `producer`'s transaction (Kafka's
    /// `AppendOrigin.COORDINATOR`): its producer epoch is checked, its sequence numbers are not
    /// (a retried TxnOffsetCommit writes the same offsets again, which changes nothing).
    fn append_coordinator_batch(
        &mut self,
        key: &PartitionKey,
        pending: Option<PendingProduce>,
        records: SharedRecords,
        producer: ProducerSequence,
    ) -> Result<(), DataError> {
        let planted = PlantedSequenceBugs {
            accept_unknown: false,
            accept_stale_epoch: self.config.bugs.accept_stale_producer_epoch,
        };
        self.append_at_leader(key, pending, |replica, leader_epoch| {
            check_coordinator_epoch(replica.log.producers(), producer, planted)?;
            let stamp = ProducerStamp(Some(producer));
            let appended = replica.log.append_stamped_as_leader(
                leader_epoch,
                records,
                stamp,
                BatchTransaction::Data,
            );
            Ok(LeaderAppend::Appended(appended.map_err(invalid_batch)?))
        })
    }

    /// Validates and appends one partition's transaction marker; queues its acknowledgement.
    fn append_marker(
        &mut self,
        key: &PartitionKey,
        pending: Option<PendingProduce>,
        marker: TransactionMarker,
    ) -> Result<(), DataError> {
        let bugs = &self.config.bugs;
        // KIP-890 part 2: a coordinator ends every transaction in a bumped epoch, so a marker
        // in the epoch of the producer's open transaction's records ends an earlier
        // transaction: a late copy, or one from a deposed coordinator replaying an old
        // PrepareCommit. Written, it would end the open transaction with another one's outcome
        // (zoo 8). The planted switches that end transactions without the bump skip this too.
        let bumped = !bugs.end_transactions_without_epoch_bump
            && !bugs.keep_producer_epoch_on_transaction_timeout;
        self.append_at_leader(key, pending, |replica, leader_epoch| {
            let log = &replica.log;
            if let MarkerVerdict::CoordinatorFenced { current } =
                log.transactions().marker_verdict(&marker)
            {
                return Err(DataError::TransactionCoordinatorFenced { current });
            }
            if let Some(current) = log.producers().epoch_of(marker.producer_id)
                && (marker.producer_epoch < current
                    || (bumped
                        && marker.producer_epoch == current
                        && log.transactions().is_open(marker.producer_id)))
            {
                return Err(DataError::InvalidProducerEpoch { current });
            }
            let appended = replica.log.append_marker_as_leader(leader_epoch, marker);
            Ok(LeaderAppend::Appended(appended.map_err(invalid_batch)?))
        })
    }

    /// One append at the leader of `key`: the checks every append passes (it leads, its ISR
    /// suffices for acks=all, it has room for one more pending produce), then `append` on the
    /// replica (looked up once: a produce is the data plane's hottest path), then the
    /// acknowledgement queued and the write persisted.
    fn append_at_leader(
        &mut self,
        key: &PartitionKey,
        pending: Option<PendingProduce>,
        append: impl FnOnce(&mut Replica, u64) -> Result<LeaderAppend, DataError>,
    ) -> Result<(), DataError> {
        self.check_leader(key, None, false)?;
        let in_flight_max = self.config.limits.produce_in_flight_max as usize;
        let lose_state = self.config.bugs.lose_producer_state_on_leader_change;
        let never = !self.config.flush.must_sync_before_acknowledge();
        let replica = self.replicas.partitions.get_mut(key).expect("checked");
        let leader_epoch = replica.leader_epoch;
        let ReplicaRole::Leader(leader) = &replica.role else {
            unreachable!("checked")
        };
        leader_may_append(
            leader,
            pending.as_ref(),
            in_flight_max,
            &mut self.perturbations,
        )?;
        match append(replica, leader_epoch)? {
            LeaderAppend::Duplicate((base_offset, end_offset)) => {
                if let (Some(mut pending), ReplicaRole::Leader(leader)) =
                    (pending, &mut replica.role)
                {
                    pending.base_offset = base_offset;
                    pending.end_offset = end_offset;
                    leader.pending.push(pending);
                }
                let deduplicated = Output::Observe(Observation::ProduceDeduplicated);
                self.effects.output.push(deduplicated);
            }
            LeaderAppend::Appended(appended) => {
                await_appended(replica, pending, &appended, never, lose_state);
                self.persist_appended(key, leader_epoch, appended, never);
            }
        }
        Ok(())
    }

    /// Sends a leader's append to disk, and (unless the flush policy never syncs) has the
    /// leader's own copy counted once it is durable.
    fn persist_appended(
        &mut self,
        key: &PartitionKey,
        leader_epoch: u64,
        appended: Appended,
        never: bool,
    ) {
        let log_end_offset = appended.log_end_offset;
        self.write_log(key, appended.write);
        if !never {
            self.when_log_durable(key, leader_epoch, log_end_offset);
        }
    }

    /// Answers every pending produce of `key` that its acks allow: acks=1 once the leader's log
    /// is durable past the batch, acks=all once the HW is (NOT_ENOUGH_REPLICAS_AFTER_APPEND if
    /// the ISR then is below `min.insync.replicas`).
    pub(crate) fn answer_pending_produces(&mut self, key: &PartitionKey) {
        let Some(replica) = self.replicas.partitions.get_mut(key) else {
            return;
        };
        let high_watermark = replica.log.high_watermark();
        let Some(leader) = replica.leader_state() else {
            return;
        };
        let enough = leader.isr.len() as u32 >= leader.min_insync_replicas;
        let durable = leader.durable_end_offset;
        let mut answers = std::mem::take(&mut self.replicas.produce_answers_spare);
        leader.pending.retain(|pending| {
            if !produce_answerable(pending, high_watermark, durable) {
                return true;
            }
            let result = match pending.acks {
                Acks::All if !enough => Err(DataError::NotEnoughReplicasAfterAppend),
                _ => Ok(pending.base_offset),
            };
            answers.push((pending.produce, pending.position, result));
            false
        });
        for (produce, position, result) in answers.drain(..) {
            self.resolve_produce(produce, position, result);
        }
        self.replicas.produce_answers_spare = answers;
    }

    /// Times out the pending produces of `key` past their deadline (and, when
    /// [`Site::ProduceTimedOutEarly`] fires, an acks=all one before it).
    pub(crate) fn expire_pending_produces(&mut self, key: &PartitionKey) {
        let now_ns = self.now_ns();
        let Some(leader) = self
            .replicas
            .partitions
            .get_mut(key)
            .and_then(|replica| replica.leader_state())
        else {
            return;
        };
        let mut expired = Vec::new();
        let perturbations = &mut self.perturbations;
        leader.pending.retain(|pending| {
            let keep = pending.deadline_ns > now_ns
                && !(pending.acks == Acks::All && perturbations.fires(Site::ProduceTimedOutEarly));
            if !keep {
                expired.push(pending.clone());
            }
            keep
        });
        self.abandon_pending_produces(expired);
    }

    /// Answers REQUEST_TIMED_OUT for produces whose outcome this leader will not learn: their
    /// wait ended, or the leadership did.
    pub(crate) fn abandon_pending_produces(&mut self, pending: Vec<PendingProduce>) {
        for pending in pending {
            let result = Err(DataError::RequestTimedOut);
            self.resolve_produce(pending.produce, pending.position, result);
        }
    }

    /// Records one partition's outcome; answers the request once it has them all.
    fn resolve_produce(&mut self, produce: u64, position: usize, result: Result<u64, DataError>) {
        let id = self.id;
        let progress = self
            .replicas
            .produces
            .get_mut(&produce)
            .unwrap_or_else(|| panic!("node {id}: produce {produce} not in progress"));
        let (key, outcome) = &mut progress.partitions[position];
        assert!(
            outcome.is_none(),
            "node {id}: {key:?} of produce {produce} resolved twice"
        );
        *outcome = Some(result);
        progress.unresolved -= 1;
        if progress.unresolved == 0 {
            let progress = self.replicas.produces.remove(&produce).expect("present");
            self.answer_produce(progress);
        }
    }

    fn answer_produce(&mut self, progress: ProduceInProgress) {
        let answer = progress.answer;
        let partitions = progress
            .partitions
            .into_iter()
            .map(|((topic, partition), result)| ProducePartitionResult {
                topic,
                partition,
                result: result.expect("every partition resolved"),
            })
            .collect();
        let request_id = progress.request_id;
        let message = match answer {
            AnswerAs::Produce => Message::ProduceResponse(ProduceResponse {
                request_id,
                partitions,
            }),
            AnswerAs::TxnMarkers => Message::WriteTxnMarkersResponse(WriteTxnMarkersResponse {
                request_id,
                partitions,
            }),
        };
        self.send(progress.from, message);
    }

    /// Asserts the module's invariants.
    pub(crate) fn check_produce_invariants(&self) {
        let mut pending_total = 0;
        for (key, replica) in &self.replicas.partitions {
            let ReplicaRole::Leader(leader) = &replica.role else {
                continue;
            };
            for pending in &leader.pending {
                pending_total += 1;
                let progress = self
                    .replicas
                    .produces
                    .get(&pending.produce)
                    .unwrap_or_else(|| {
                        panic!(
                            "node {}: a pending produce of {key:?} without its request",
                            self.id
                        )
                    });
                let (named, outcome) = &progress.partitions[pending.position];
                assert!(
                    named == key && outcome.is_none(),
                    "node {}: pending produce of {key:?} at position {} names {named:?} \
                     (resolved: {})",
                    self.id,
                    pending.position,
                    outcome.is_some()
                );
            }
        }
        let unresolved_total: usize = self
            .replicas
            .produces
            .values()
            .map(|progress| {
                assert!(
                    progress.unresolved > 0,
                    "node {}: a finished produce kept",
                    self.id
                );
                progress.unresolved
            })
            .sum();
        assert_eq!(
            unresolved_total, pending_total,
            "node {}: unresolved produce partitions without a pending produce",
            self.id
        );
    }
}

/// Whether a pending produce can be answered: acks=1 once the leader's log is durable past it,
/// acks=all once the HW passed it.
pub(crate) fn produce_answerable(
    pending: &PendingProduce,
    high_watermark: u64,
    durable_end_offset: u64,
) -> bool {
    match pending.acks {
        Acks::Leader => durable_end_offset >= pending.end_offset,
        Acks::All => high_watermark >= pending.end_offset,
        Acks::None => false,
    }
}

/// What an append at a leader did.
enum LeaderAppend {
    Appended(Appended),
    /// A retried batch the log holds at these offsets: nothing appended.
    Duplicate((u64, u64)),
}

fn invalid_batch(error: AppendError) -> DataError {
    DataError::InvalidBatch {
        reason: error.to_string(),
    }
}

/// The checks every append at a leader passes first: its ISR is large enough for acks=all, and
/// it has room for one more pending produce.
fn leader_may_append(
    leader: &LeaderState,
    pending: Option<&PendingProduce>,
    in_flight_max: usize,
    perturbations: &mut Perturbations,
) -> Result<(), DataError> {
    let isr = leader.isr.len() as u32;
    let acks_all = pending.is_some_and(|pending| pending.acks == Acks::All);
    if acks_all && isr < leader.min_insync_replicas {
        return Err(DataError::NotEnoughReplicas {
            isr,
            min_insync: leader.min_insync_replicas,
        });
    }
    if leader.pending.len() >= in_flight_max || perturbations.fires(Site::ProduceRefusedBusy) {
        return Err(DataError::ProduceInFlightLimit);
    }
    Ok(())
}

/// After an append at the leader of `replica`: queue its acknowledgement, note what the flush
/// policy and zoo 6's switch need.
fn await_appended(
    replica: &mut Replica,
    pending: Option<PendingProduce>,
    appended: &Appended,
    never: bool,
    lose_state: bool,
) {
    let ReplicaRole::Leader(leader) = &mut replica.role else {
        unreachable!("appended as leader")
    };
    if never {
        leader.durable_end_offset = appended.log_end_offset;
    }
    if lose_state {
        let batch = replica.log.batches().last().expect("just appended");
        leader.producers_seen.note(batch);
    }
    if let Some(mut pending) = pending {
        pending.base_offset = appended.base_offset;
        pending.end_offset = appended.log_end_offset;
        leader.pending.push(pending);
    }
}

/// A producer's batch may be a transaction's records (stamped), never a marker: markers come
/// from coordinators, through [`Node::on_write_txn_markers`].
fn check_transaction_part(
    producer: ProducerStamp,
    transaction: BatchTransaction,
) -> Result<(), DataError> {
    let reason = match transaction {
        BatchTransaction::None => return Ok(()),
        BatchTransaction::Data if producer.0.is_some() => return Ok(()),
        BatchTransaction::Data => "transactional records without a producer id",
        BatchTransaction::Marker => "a transaction marker in a produce request",
    };
    Err(DataError::InvalidBatch {
        reason: reason.to_owned(),
    })
}

/// The planted bugs that change how a leader judges a producer's batch.
#[derive(Clone, Copy, Debug)]
struct PlantedSequenceBugs {
    /// Zoo 6: a producer the leader does not know starts at any sequence number.
    accept_unknown: bool,
    /// Zoo 7 at the partitions: a batch of a fenced (older) producer epoch is appended.
    accept_stale_epoch: bool,
}

/// Checks an idempotent producer's batch against the producers a leader knows: `None` to append
/// it, the offsets it sits at if the log holds it already, or the error to answer.
fn check_sequence(
    states: &ProducerStates,
    sequence: ProducerSequence,
    record_count: u64,
    planted: PlantedSequenceBugs,
) -> Result<Option<(u64, u64)>, DataError> {
    if sequence.base_sequence != sequence.batch_first_sequence {
        return Err(DataError::InvalidBatch {
            reason: "a producer's batch starts at its first sequence number".to_owned(),
        });
    }
    match states.verdict(sequence, record_count) {
        SequenceVerdict::Append => Ok(None),
        SequenceVerdict::Duplicate {
            base_offset,
            end_offset,
        } => Ok(Some((base_offset, end_offset))),
        SequenceVerdict::UnknownProducer if planted.accept_unknown => Ok(None),
        SequenceVerdict::UnknownProducer => Err(DataError::UnknownProducerId),
        SequenceVerdict::OutOfOrder { expected } => Err(DataError::OutOfOrderSequence { expected }),
        SequenceVerdict::FencedEpoch { .. } if planted.accept_stale_epoch => Ok(None),
        SequenceVerdict::FencedEpoch { current } => {
            Err(DataError::InvalidProducerEpoch { current })
        }
    }
}

/// Checks the producer epoch of a batch a coordinator appends for a producer's transaction: a
/// fenced (older) epoch is refused, as [`check_sequence`] refuses it (zoo 7's planted switch
/// accepts it here too); the sequence numbers are not checked.
fn check_coordinator_epoch(
    states: &ProducerStates,
    sequence: ProducerSequence,
    planted: PlantedSequenceBugs,
) -> Result<(), DataError> {
    match states.epoch_of(sequence.producer_id) {
        Some(current) if sequence.producer_epoch < current && !planted.accept_stale_epoch => {
            Err(DataError::InvalidProducerEpoch { current })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ReplicaFetchPartition, ReplicaFetchRequest};
    use crate::replica::test_support::{EPOCH, key, leader, produce_request, take_sends};
    use crate::topic::TopicName;

    fn produce_answers(sends: &[(u32, Message)]) -> Vec<&ProduceResponse> {
        sends
            .iter()
            .filter_map(|(to, message)| match message {
                Message::ProduceResponse(response) => {
                    assert_eq!(*to, 9, "answered to the producer");
                    Some(response)
                }
                _ => None,
            })
            .collect()
    }

    fn results(response: &ProduceResponse) -> Vec<(u32, Result<u64, DataError>)> {
        response
            .partitions
            .iter()
            .map(|answer| (answer.partition, answer.result.clone()))
            .collect()
    }

    #[test]
    fn a_request_is_answered_once_every_partition_is_acknowledged_in_its_order() {
        let mut node = leader();
        node.on_produce(9, produce_request(7, Acks::Leader, &[1, 0]));
        node.check_produce_invariants();
        assert!(
            produce_answers(&take_sends(&mut node)).is_empty(),
            "not synced"
        );

        node.on_log_durable(key(1), EPOCH, 1);
        node.check_produce_invariants();
        assert!(
            produce_answers(&take_sends(&mut node)).is_empty(),
            "t/0 unsynced"
        );

        node.on_log_durable(key(0), EPOCH, 1);
        let sends = take_sends(&mut node);
        let answers = produce_answers(&sends);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].request_id, 7);
        assert_eq!(results(answers[0]), vec![(1, Ok(0)), (0, Ok(0))]);
        assert!(node.replicas.produces.is_empty());
        node.check_produce_invariants();
    }

    #[test]
    fn a_refused_partition_waits_for_the_rest_of_its_request() {
        let mut node = leader();
        node.on_produce(9, produce_request(7, Acks::Leader, &[0, 5, 0]));
        assert!(produce_answers(&take_sends(&mut node)).is_empty());
        node.on_log_durable(key(0), EPOCH, 1);
        let sends = take_sends(&mut node);
        let answers = produce_answers(&sends);
        assert_eq!(answers.len(), 1);
        let results = results(answers[0]);
        assert_eq!(results[0], (0, Ok(0)));
        assert_eq!(results[1], (5, Err(DataError::UnknownTopicOrPartition)));
        assert!(
            matches!(results[2], (0, Err(DataError::InvalidBatch { .. }))),
            "a partition named twice is refused: {results:?}"
        );
        assert_eq!(node.replicas.partitions[&key(0)].log.log_end_offset(), 1);
    }

    #[test]
    fn partitions_whose_wait_ends_are_answered_timed_out() {
        let mut node = leader();
        node.on_produce(9, produce_request(7, Acks::All, &[0, 1]));
        node.effects.now_ns = node.config.timing.produce_timeout_ns;
        node.expire_pending_produces(&key(0));
        node.check_produce_invariants();
        assert!(
            produce_answers(&take_sends(&mut node)).is_empty(),
            "t/1 waits"
        );
        node.expire_pending_produces(&key(1));
        let sends = take_sends(&mut node);
        let answers = produce_answers(&sends);
        assert_eq!(
            results(answers[0]),
            vec![
                (0, Err(DataError::RequestTimedOut)),
                (1, Err(DataError::RequestTimedOut))
            ]
        );
    }

    #[test]
    fn acks_zero_is_never_answered() {
        let mut node = leader();
        node.on_produce(9, produce_request(7, Acks::None, &[0, 1, 5]));
        assert!(produce_answers(&take_sends(&mut node)).is_empty());
        assert!(node.replicas.produces.is_empty());
        assert_eq!(node.replicas.partitions[&key(1)].log.log_end_offset(), 1);
        node.check_produce_invariants();
    }

    #[test]
    fn a_parked_session_is_answered_once_with_every_partition_of_a_request() {
        let mut node = leader();
        let partitions = (0..2)
            .map(|partition| ReplicaFetchPartition {
                topic: TopicName::new("t"),
                partition,
                current_leader_epoch: EPOCH,
                fetch_offset: 0,
                high_watermark: 0,
            })
            .collect();
        let session = ReplicaFetchRequest {
            request_id: 5,
            replica: 1,
            partitions,
            records_max: 100,
        };
        node.on_replica_fetch(1, session);
        assert_eq!(node.replicas.parked_sessions.len(), 1);
        node.on_produce(9, produce_request(7, Acks::All, &[0, 1]));
        let sends = take_sends(&mut node);
        let answers: Vec<_> = sends
            .iter()
            .filter_map(|(_, message)| match message {
                Message::ReplicaFetchResponse(response) => Some(response),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), 1, "one answer to the session");
        assert_eq!(answers[0].partitions.len(), 2, "with both partitions");
    }
}
