//! The transaction coordinator inside a [`Node`]: one [`StatePartition`] per partition of the
//! transaction state topic this broker leads.
//!
//! - **Who coordinates**: the leader of the transactional id's state partition, in its leader
//!   epoch. After every step, [`Node::reconcile_transaction_coordinators`] drops the state of
//!   partitions this broker no longer leads (or leads in a newer epoch) and starts loading those
//!   it newly leads: NOT_COORDINATOR elsewhere, COORDINATOR_LOAD_IN_PROGRESS until loaded.
//! - **The state lives in the log**: every transition is one batch appended to the state
//!   partition through the ordinary produce path with acks=all (sent to this node itself), and a
//!   request is answered only once the high watermark passed it. The in-memory table is only a
//!   replay of the log up to the high watermark ([`super::records::scan_transitions`]); the
//!   coordinator acts on what it replays, never on what it asked to write: a PrepareCommit is
//!   answered and its markers sent only once replicated, so a new coordinator finishes it. A new
//!   coordinator serves once it has replayed everything its log held when it took over. Zoo 9
//!   (`forget_transactions_on_coordinator_failover`) skips that replay.
//! - **One transition at a time per id**: while a write of an id is in flight, its requests are
//!   answered CONCURRENT_TRANSACTIONS, so every transition is computed from the replay of all
//!   earlier ones. A write whose outcome is unknown (timed out after its append) keeps the id
//!   busy until the replay passed everything the log held when the outcome was learnt: it may
//!   still land, and a transition computed without it could contradict it.
//! - **Every EndTxn ends its transaction in a new producer epoch** (KIP-890 part 2,
//!   [`super::state`]): the answer hands the producer that epoch (or a new producer id once the
//!   epochs run out), a retry is answered the same, and a stale copy is fenced. Zoo 8
//!   (`end_transactions_without_epoch_bump`) keeps the epoch.
//! - **Markers** ([`super::markers`]): once a `Prepare*` transition is replayed (and the
//!   partition loaded), the coordinator has every touched partition's leader write the marker,
//!   retries until each did, then writes `Complete*`.
//! - **Timeouts**: an `Ongoing` transaction open longer than its timeout, by this broker's clock
//!   since the replay showed it open, is aborted under a bumped epoch (checked on the data-plane
//!   tick), which fences the producer that left it open. Zoo 7
//!   (`keep_producer_epoch_on_transaction_timeout`) keeps the epoch.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::broker::BrokerSession;
use crate::group::{OFFSETS_TOPIC, offsets_partition_for_group};
use crate::message::txn::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitTxnProducerIdRequest,
    InitTxnProducerIdResponse, TxnError,
};
use crate::message::{DataError, Message, ProduceResponse};
use crate::node::{Node, Observation};
use crate::storage::PartitionKey;
use crate::topic::TopicName;
use crate::txn::config::TransactionsConfig;
use crate::txn::markers::MarkerProgress;
use crate::txn::records::{
    DecodeError, TopicCodes, decode_transition, encode_transition, scan_transitions,
    transaction_key,
};
use crate::txn::state::{
    EndEpoch, InitTransition, TransactionMetadata, TransactionState, add_partitions,
    end_transaction, init_producer_id,
};
use crate::txn::{TRANSACTION_STATE_TOPIC, transaction_partition_for};

/// Every state partition this broker coordinates, and its writes in flight.
#[derive(Debug, Default)]
pub(crate) struct TransactionCoordinators {
    pub(crate) partitions: BTreeMap<u32, StatePartition>,
    /// Transitions appended and waiting for the high watermark: produce request id -> write.
    pending_writes: BTreeMap<u64, PendingWrite>,
    /// State partition -> the leader epoch its last coordinator on this broker resigned in, and
    /// the first marker attempt it did not use (see [`super::markers`]).
    retired: BTreeMap<u32, (u64, u64)>,
    /// The replicas' roles version the coordinators were last brought in line with.
    roles_reconciled: Option<u64>,
    /// The topic codes of the metadata image, with the image's applied index and topic count
    /// they were taken at: interning the names takes a lock per topic, so they are taken again
    /// only when the image changed.
    topic_codes: Option<((u64, usize), Arc<TopicCodes>)>,
}

/// The coordinator of one state partition, in one leader epoch.
#[derive(Debug)]
pub(crate) struct StatePartition {
    pub(crate) leader_epoch: u64,
    /// The log end offset when this broker took over: it serves once replayed this far.
    loaded_end_offset: u64,
    /// The next log offset to replay: always at the start of a transition.
    applied_offset: u64,
    /// Transaction key ([`transaction_key`]) -> its transaction, replayed from the log.
    pub(crate) transactions: BTreeMap<u64, Transaction>,
    /// Ids with a write whose outcome is not known yet.
    busy: BTreeMap<u64, Busy>,
    /// Markers owed by `Prepare*` transactions, by transaction key.
    pub(crate) markers: BTreeMap<u64, MarkerProgress>,
    /// Marker request id -> the transaction key it serves.
    pub(crate) marker_requests: BTreeMap<u64, u64>,
    /// The next marker attempt: markers carry `leader_epoch << 32 | attempt` as their
    /// coordinator epoch.
    pub(crate) marker_attempt_next: u64,
}

/// One transactional id's transaction, as replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transaction {
    pub(crate) metadata: TransactionMetadata,
    /// When this broker saw it open (local clock): the timeout counts from here.
    pub(crate) opened_at_ns: u64,
}

/// Why an id takes no new transition now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Busy {
    /// Its write awaits the high watermark.
    Writing,
    /// Its write's outcome is unknown: it may be in the log below this offset.
    Unresolved { until_offset: u64 },
}

/// A transition appended, and who waits for it.
#[derive(Debug)]
struct PendingWrite {
    partition: u32,
    key: u64,
    next: TransactionMetadata,
    answer: Answer,
}

/// Who a transition's write answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// The coordinator's own transition (completion, timeout).
    Nobody,
    /// InitProducerId: its producer id and epoch, or CONCURRENT_TRANSACTIONS when the write
    /// aborts the open transaction first.
    InitProducerId {
        from: u32,
        request_id: u64,
        aborts_open: bool,
    },
    AddPartitions {
        from: u32,
        request_id: u64,
    },
    AddOffsets {
        from: u32,
        request_id: u64,
    },
    EndTxn {
        from: u32,
        request_id: u64,
    },
}

impl StatePartition {
    pub(crate) fn is_loaded(&self) -> bool {
        self.applied_offset >= self.loaded_end_offset
    }

    /// The ids replayed, and those whose first transition is in flight: what the log may hold.
    fn ids_held(&self) -> usize {
        let unknown_busy = self.busy.keys();
        let unknown_busy = unknown_busy.filter(|key| !self.transactions.contains_key(key));
        self.transactions.len() + unknown_busy.count()
    }

    fn is_busy(&self, key: u64) -> bool {
        self.busy.contains_key(&key)
    }

    fn metadata(&self, key: u64) -> Option<&TransactionMetadata> {
        self.transactions
            .get(&key)
            .map(|transaction| &transaction.metadata)
    }

    /// Applies one replayed transition: the table, the timeout clock and the markers owed.
    fn apply(&mut self, now_ns: u64, key: u64, metadata: TransactionMetadata) {
        let previous = self.transactions.get(&key);
        if let Some(previous) = previous
            && previous.metadata.producer_id == metadata.producer_id
        {
            assert!(
                metadata.producer_epoch >= previous.metadata.producer_epoch,
                "producer {}: epoch {} replayed after {}",
                metadata.producer_id,
                metadata.producer_epoch,
                previous.metadata.producer_epoch
            );
        }
        let still_open = previous.filter(|previous| {
            previous.metadata.state == TransactionState::Ongoing
                && metadata.state == TransactionState::Ongoing
                && previous.metadata.producer_epoch == metadata.producer_epoch
        });
        let opened_at_ns = still_open.map_or(now_ns, |previous| previous.opened_at_ns);
        self.drop_markers(key);
        if metadata.state.is_prepared() {
            self.markers.insert(key, MarkerProgress::new(&metadata));
        }
        let transaction = Transaction {
            metadata,
            opened_at_ns,
        };
        self.transactions.insert(key, transaction);
    }

    /// Forgets the markers `key` owed, and its requests in flight (late answers are ignored).
    pub(crate) fn drop_markers(&mut self, key: u64) {
        if let Some(progress) = self.markers.remove(&key) {
            for request_id in progress.in_flight_requests() {
                let served = self.marker_requests.remove(&request_id);
                assert_eq!(served, Some(key), "marker request {request_id} indexed");
            }
        }
    }
}

/// The state topic's name, interned once (see `group::coordinator::offsets_topic`).
pub(crate) fn state_topic() -> TopicName {
    static NAME: OnceLock<TopicName> = OnceLock::new();
    NAME.get_or_init(|| TopicName::new(TRANSACTION_STATE_TOPIC))
        .clone()
}

/// The abort of a transaction that outlived its timeout: under a bumped epoch, which fences the
/// producer it timed out (a zombie, paused or cut off, must not write on), or under the same
/// epoch with zoo 7's switch (`keep_epoch`).
fn timeout_abort(metadata: &TransactionMetadata, keep_epoch: bool) -> TransactionMetadata {
    let aborted = metadata.aborted_with_bumped_epoch();
    if keep_epoch {
        return TransactionMetadata {
            producer_epoch: metadata.producer_epoch,
            ..aborted
        };
    }
    aborted
}

/// A fresh producer id from `broker` (a new transactional id's, or one whose epochs ran out);
/// COORDINATOR_NOT_AVAILABLE while it has none to hand out.
fn producer_ids(broker: &mut BrokerSession) -> impl FnOnce() -> Result<u64, TxnError> + '_ {
    || {
        broker
            .allocate_producer_id()
            .ok_or(TxnError::CoordinatorNotAvailable)
    }
}

/// The replica key of state partition `partition`.
fn state_key(partition: u32) -> PartitionKey {
    (state_topic(), partition)
}

impl Node {
    /// Brings the coordinators in line with the state partitions this broker leads (when a
    /// replica's role changed since the last time), replays newly replicated transitions, and
    /// sends the markers they owe.
    pub(crate) fn reconcile_transaction_coordinators(&mut self) {
        let Some(config) = &self.config.transactions else {
            return;
        };
        let state_partitions = config.state_partitions;
        let roles_version = Some(self.replicas.roles_version);
        if self.transactions.roles_reconciled != roles_version {
            self.transactions.roles_reconciled = roles_version;
            for partition in 0..state_partitions {
                self.reconcile_transaction_coordinator(partition);
            }
        }
        let coordinated: Vec<u32> = self.transactions.partitions.keys().copied().collect();
        for partition in coordinated {
            if self.replay_transactions(partition) {
                self.send_due_markers(partition);
            }
        }
    }

    /// The leader epoch in which this broker leads state partition `partition`, if it does.
    fn state_leader_epoch(&self, partition: u32) -> Option<u64> {
        let replica = self.replicas.partitions.get(&state_key(partition))?;
        replica.is_leader().then_some(replica.leader_epoch)
    }

    fn reconcile_transaction_coordinator(&mut self, partition: u32) {
        let leading = self.state_leader_epoch(partition);
        let current = self.transactions.partitions.get(&partition);
        let current = current.map(|coordinator| coordinator.leader_epoch);
        if current == leading {
            return;
        }
        if current.is_some() {
            self.resign_transaction_coordinator(partition);
        }
        if let Some(leader_epoch) = leading {
            self.start_transaction_coordinator(partition, leader_epoch);
        }
    }

    /// Drops a partition's state; writes waiting on it are answered NOT_COORDINATOR (the
    /// replica dropped their produce requests; a new coordinator replays whatever landed).
    fn resign_transaction_coordinator(&mut self, partition: u32) {
        let coordinator = self.transactions.partitions.remove(&partition);
        let coordinator = coordinator.expect("coordinating");
        let retired = (coordinator.leader_epoch, coordinator.marker_attempt_next);
        self.transactions.retired.insert(partition, retired);
        let ended: Vec<u64> = self
            .transactions
            .pending_writes
            .iter()
            .filter(|(_, pending)| pending.partition == partition)
            .map(|(request_id, _)| *request_id)
            .collect();
        for request_id in ended {
            let pending = self.transactions.pending_writes.remove(&request_id);
            let pending = pending.expect("listed");
            self.answer_write(&pending, Err(TxnError::NotCoordinator));
        }
    }

    pub(crate) fn start_transaction_coordinator(&mut self, partition: u32, leader_epoch: u64) {
        let log = &self.replicas.partitions[&state_key(partition)].log;
        let applied_offset = if self.config.bugs.forget_transactions_on_coordinator_failover {
            log.log_end_offset()
        } else {
            log.log_start_offset()
        };
        let marker_attempt_next = match self.transactions.retired.get(&partition) {
            Some(&(retired_epoch, attempt_next)) if retired_epoch == leader_epoch => attempt_next,
            _ => 0,
        };
        let coordinator = StatePartition {
            leader_epoch,
            loaded_end_offset: log.log_end_offset(),
            applied_offset,
            transactions: BTreeMap::new(),
            busy: BTreeMap::new(),
            markers: BTreeMap::new(),
            marker_requests: BTreeMap::new(),
            marker_attempt_next,
        };
        self.transactions.partitions.insert(partition, coordinator);
        self.observe(Observation::TransactionCoordinatorStarted { partition });
    }

    /// Replays the state partition's transitions below the high watermark into the table.
    /// Returns whether anything was applied.
    fn replay_transactions(&mut self, partition: u32) -> bool {
        let now_ns = self.now_ns();
        let high_watermark = self.replicas.partitions[&state_key(partition)]
            .log
            .high_watermark();
        if self.transactions.partitions[&partition].applied_offset >= high_watermark {
            return false;
        }
        let topics = self.topic_codes();
        let log = &self.replicas.partitions[&state_key(partition)].log;
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("coordinating");
        let from_offset = coordinator.applied_offset.max(log.log_start_offset());
        let records = log
            .records_from(from_offset)
            .map(|(offset, _, record)| (offset, *record));
        let scanned = scan_transitions(
            records,
            from_offset,
            high_watermark,
            coordinator.loaded_end_offset,
        );
        let mut applied_offset = scanned.next_offset;
        for (start_offset, records) in &scanned.transitions {
            match decode_transition(records, &topics) {
                Ok((key, metadata)) => coordinator.apply(now_ns, key, metadata),
                Err(DecodeError::Malformed(_)) => {}
                // This broker's metadata is behind the coordinator that wrote it: wait.
                Err(DecodeError::UnknownTopicCode(_)) => {
                    applied_offset = *start_offset;
                    break;
                }
            }
        }
        let moved = applied_offset > coordinator.applied_offset;
        coordinator.applied_offset = applied_offset;
        coordinator.busy.retain(|_, busy| match busy {
            Busy::Writing => true,
            Busy::Unresolved { until_offset } => *until_offset > applied_offset,
        });
        moved
    }

    /// The codes of the metadata image's topics.
    fn topic_codes(&mut self) -> Arc<TopicCodes> {
        let version = (self.image.applied_index, self.image.topics.len());
        match &self.transactions.topic_codes {
            Some((taken, codes)) if *taken == version => codes.clone(),
            _ => {
                let codes = Arc::new(TopicCodes::of_image(&self.image));
                self.transactions.topic_codes = Some((version, codes.clone()));
                codes
            }
        }
    }

    /// The state partition of `transactional_id` if this broker coordinates it and has loaded
    /// it, and the id's transaction key.
    fn coordinator_of(&self, transactional_id: &str) -> Result<(u32, u64), TxnError> {
        let Some(config) = &self.config.transactions else {
            return Err(TxnError::NotCoordinator);
        };
        let partition = transaction_partition_for(transactional_id, config.state_partitions);
        let Some(coordinator) = self.transactions.partitions.get(&partition) else {
            return Err(TxnError::NotCoordinator);
        };
        if self.state_leader_epoch(partition) != Some(coordinator.leader_epoch) {
            return Err(TxnError::NotCoordinator);
        }
        if !coordinator.is_loaded() {
            return Err(TxnError::CoordinatorLoadInProgress);
        }
        let key = transaction_key(transactional_id);
        if coordinator.is_busy(key) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok((partition, key))
    }

    fn transactions_config(&self) -> &TransactionsConfig {
        self.config.transactions.as_ref().expect("coordinating")
    }

    pub(crate) fn on_init_txn_producer_id(&mut self, from: u32, request: InitTxnProducerIdRequest) {
        if let Err(error) = self.init_txn_producer_id(from, &request) {
            let response = InitTxnProducerIdResponse {
                request_id: request.request_id,
                result: Err(error),
            };
            self.send(from, Message::InitTxnProducerIdResponse(response));
        }
    }

    fn init_txn_producer_id(
        &mut self,
        from: u32,
        request: &InitTxnProducerIdRequest,
    ) -> Result<(), TxnError> {
        let (partition, key) = self.coordinator_of(&request.transactional_id)?;
        let config = self.transactions_config();
        let timeout_max_ns = config.transaction_timeout_max_ns;
        let ids_max = config.transactional_ids_max as usize;
        if request.transaction_timeout_ns == 0 || request.transaction_timeout_ns > timeout_max_ns {
            return Err(TxnError::InvalidRequest {
                reason: format!(
                    "transaction timeout {} ns not in 1..={timeout_max_ns}",
                    request.transaction_timeout_ns
                ),
            });
        }
        let coordinator = &self.transactions.partitions[&partition];
        let current = coordinator.metadata(key);
        if current.is_none() && coordinator.ids_held() >= ids_max {
            return Err(TxnError::InvalidRequest {
                reason: format!("the coordinator holds transactional_ids_max ({ids_max}) ids"),
            });
        }
        let allocate = producer_ids(&mut self.broker);
        let transition = init_producer_id(current, request.transaction_timeout_ns, allocate)?;
        let (next, aborts_open) = match transition {
            InitTransition::Ready(next) => (next, false),
            InitTransition::AbortOpen(next) => (next, true),
        };
        let answer = Answer::InitProducerId {
            from,
            request_id: request.request_id,
            aborts_open,
        };
        self.begin_transition(partition, key, next, answer)
    }

    pub(crate) fn on_add_partitions_to_txn(
        &mut self,
        from: u32,
        request: AddPartitionsToTxnRequest,
    ) {
        let answer = Answer::AddPartitions {
            from,
            request_id: request.request_id,
        };
        let transition = self.add_partitions_to_txn(&request);
        self.begin_addition(answer, transition);
    }

    /// AddOffsetsToTxn: the group's offsets partition joins the transaction as any partition
    /// does, so that the transaction's end writes its marker there too; the offsets the producer
    /// commits for the group with TxnOffsetCommit wait for that marker.
    pub(crate) fn on_add_offsets_to_txn(&mut self, from: u32, request: AddOffsetsToTxnRequest) {
        let answer = Answer::AddOffsets {
            from,
            request_id: request.request_id,
        };
        let transition = self.add_offsets_to_txn(&request);
        self.begin_addition(answer, transition);
    }

    /// Writes the transition that adds partitions, or answers at once if none is needed or the
    /// request was refused.
    fn begin_addition(
        &mut self,
        answer: Answer,
        transition: Result<Option<(u32, u64, TransactionMetadata)>, TxnError>,
    ) {
        let result = transition.and_then(|write| match write {
            Some((partition, key, next)) => self.begin_transition(partition, key, next, answer),
            None => {
                self.answer(answer, Ok((0, 0)));
                Ok(())
            }
        });
        if let Err(error) = result {
            self.answer(answer, Err(error));
        }
    }

    /// The transition an AddOffsetsToTxn asks for, `None` if none is needed.
    fn add_offsets_to_txn(
        &self,
        request: &AddOffsetsToTxnRequest,
    ) -> Result<Option<(u32, u64, TransactionMetadata)>, TxnError> {
        let (partition, key) = self.coordinator_of(&request.transactional_id)?;
        let Some(groups) = &self.config.groups else {
            return Err(TxnError::InvalidRequest {
                reason: "AddOffsetsToTxn in a cluster without consumer groups".to_owned(),
            });
        };
        let offsets_partition =
            offsets_partition_for_group(&request.group, groups.offsets_partitions);
        let offsets = [(TopicName::new(OFFSETS_TOPIC), offsets_partition)];
        let coordinator = &self.transactions.partitions[&partition];
        let next = add_partitions(
            coordinator.metadata(key),
            request.producer_id,
            request.producer_epoch,
            &offsets,
            self.transactions_config().partitions_per_transaction_max,
        )?;
        Ok(next.map(|next| (partition, key, next)))
    }

    /// The transition an AddPartitionsToTxn asks for, `None` if none is needed.
    fn add_partitions_to_txn(
        &self,
        request: &AddPartitionsToTxnRequest,
    ) -> Result<Option<(u32, u64, TransactionMetadata)>, TxnError> {
        let (partition, key) = self.coordinator_of(&request.transactional_id)?;
        for (topic, topic_partition) in &request.partitions {
            if topic.as_str() == TRANSACTION_STATE_TOPIC || topic.as_str() == OFFSETS_TOPIC {
                return Err(TxnError::InvalidRequest {
                    reason: format!("internal topic {topic} in a transaction"),
                });
            }
            // The producer learnt of the partition from a broker whose metadata is ahead.
            if self.image.partition(topic, *topic_partition).is_none() {
                return Err(TxnError::CoordinatorNotAvailable);
            }
        }
        let coordinator = &self.transactions.partitions[&partition];
        let next = add_partitions(
            coordinator.metadata(key),
            request.producer_id,
            request.producer_epoch,
            &request.partitions,
            self.transactions_config().partitions_per_transaction_max,
        )?;
        Ok(next.map(|next| (partition, key, next)))
    }

    pub(crate) fn on_end_txn(&mut self, from: u32, request: EndTxnRequest) {
        let answer = Answer::EndTxn {
            from,
            request_id: request.request_id,
        };
        let result = self
            .coordinator_of(&request.transactional_id)
            .and_then(|(partition, key)| {
                let end_epoch = match self.config.bugs.end_transactions_without_epoch_bump {
                    true => EndEpoch::Keep,
                    false => EndEpoch::Bump,
                };
                let current = self.transactions.partitions[&partition].metadata(key);
                let allocate = producer_ids(&mut self.broker);
                match end_transaction(current, &request, end_epoch, allocate)? {
                    Some(next) => self.begin_transition(partition, key, next, answer),
                    None => {
                        let current = self.transactions.partitions[&partition].metadata(key);
                        let current = current.expect("an answered EndTxn's transaction");
                        self.answer(answer, Ok(current.current_producer()));
                        Ok(())
                    }
                }
            });
        if let Err(error) = result {
            self.answer(answer, Err(error));
        }
    }

    /// Appends the transition of `key` to `next` to its state partition (acks=all); `answer`
    /// learns the outcome once the high watermark passed it.
    fn begin_transition(
        &mut self,
        partition: u32,
        key: u64,
        next: TransactionMetadata,
        answer: Answer,
    ) -> Result<(), TxnError> {
        let pending_writes_max = self.transactions_config().pending_writes_max as usize;
        if self.transactions.pending_writes.len() >= pending_writes_max {
            return Err(TxnError::CoordinatorNotAvailable);
        }
        let coordinator = self.transactions.partitions.get_mut(&partition);
        let coordinator = coordinator.expect("coordinating");
        assert!(coordinator.is_loaded(), "a transition before the load");
        let previous = coordinator.busy.insert(key, Busy::Writing);
        assert_eq!(previous, None, "one transition at a time per id");
        let records = encode_transition(key, &next);
        let produce_id = self.next_request_id();
        let pending = PendingWrite {
            partition,
            key,
            next,
            answer,
        };
        self.transactions.pending_writes.insert(produce_id, pending);
        self.produce_to_self(produce_id, state_topic(), partition, records);
        Ok(())
    }

    /// Whether `response` answers a transition's append (else it is a group commit's).
    pub(crate) fn awaits_transition(&self, response: &ProduceResponse) -> bool {
        self.transactions
            .pending_writes
            .contains_key(&response.request_id)
    }

    /// The state partition's answer to a transition's append (only this node produces to it).
    pub(crate) fn on_transition_appended(&mut self, response: ProduceResponse) {
        let pending = self
            .transactions
            .pending_writes
            .remove(&response.request_id);
        let pending = pending.expect("awaited");
        let [appended] = &response.partitions[..] else {
            panic!("a transition's append names one partition: {response:?}");
        };
        assert!(
            appended.topic == TRANSACTION_STATE_TOPIC && appended.partition == pending.partition,
            "a transition's answer comes from the partition it was appended to: {response:?}"
        );
        let log_end_offset = self.replicas.partitions[&state_key(pending.partition)]
            .log
            .log_end_offset();
        let busy_after = match &appended.result {
            Ok(_) => None,
            Err(error) if error.is_indeterminate() => Some(Busy::Unresolved {
                until_offset: log_end_offset,
            }),
            Err(_) => None,
        };
        let result = match appended.result.clone() {
            Ok(_) => Ok(()),
            Err(DataError::NotLeader { .. } | DataError::FencedLeaderEpoch { .. }) => {
                Err(TxnError::NotCoordinator)
            }
            Err(_) => Err(TxnError::CoordinatorNotAvailable),
        };
        if result.is_ok() {
            self.replay_transactions(pending.partition);
            self.send_due_markers(pending.partition);
        }
        let coordinator = self.transactions.partitions.get_mut(&pending.partition);
        let coordinator = coordinator.expect("a resigning coordinator drops its writes");
        match busy_after {
            Some(busy) => coordinator.busy.insert(pending.key, busy),
            None => coordinator.busy.remove(&pending.key),
        };
        if result.is_ok() {
            assert_eq!(
                coordinator.metadata(pending.key),
                Some(&pending.next),
                "a transition answered once replayed"
            );
        }
        self.answer_write(&pending, result);
    }

    fn answer_write(&mut self, pending: &PendingWrite, result: Result<(), TxnError>) {
        let next = &pending.next;
        if result.is_ok() && pending.answer == Answer::Nobody {
            self.observe_own_transition(next);
        }
        if result.is_ok()
            && let Answer::EndTxn { .. } = pending.answer
        {
            let (producer_id, producer_epoch) = next
                .ended_by
                .unwrap_or((next.producer_id, next.producer_epoch));
            let (next_producer_id, next_producer_epoch) = next.current_producer();
            self.observe(Observation::TransactionEnded {
                producer_id,
                producer_epoch,
                outcome: next.state.outcome().expect("an EndTxn decides"),
                next_producer_id,
                next_producer_epoch,
            });
        }
        self.answer(pending.answer, result.map(|()| next.current_producer()));
    }

    fn observe_own_transition(&mut self, next: &TransactionMetadata) {
        let outcome = next.state.outcome();
        if let (Some(outcome), false) = (outcome, next.state.is_prepared()) {
            self.observe(Observation::TransactionCompleted {
                producer_id: next.producer_id,
                producer_epoch: next.producer_epoch,
                outcome,
            });
        }
    }

    /// Answers a request: `result` holds the producer id and epoch the producer holds after the
    /// transition.
    fn answer(&mut self, answer: Answer, result: Result<(u64, u16), TxnError>) {
        match answer {
            Answer::Nobody => {}
            Answer::InitProducerId {
                from,
                request_id,
                aborts_open,
            } => {
                if let Ok((producer_id, producer_epoch)) = result {
                    self.observe(Observation::ProducerEpochGranted {
                        producer_id,
                        producer_epoch,
                        aborted_open: aborts_open,
                    });
                }
                let result = match result {
                    Ok(_) if aborts_open => Err(TxnError::ConcurrentTransactions),
                    result => result,
                };
                let response = InitTxnProducerIdResponse { request_id, result };
                self.send(from, Message::InitTxnProducerIdResponse(response));
            }
            Answer::AddPartitions { from, request_id } => {
                let result = result.map(|_| ());
                let response = AddPartitionsToTxnResponse { request_id, result };
                self.send(from, Message::AddPartitionsToTxnResponse(response));
            }
            Answer::AddOffsets { from, request_id } => {
                let result = result.map(|_| ());
                let response = AddOffsetsToTxnResponse { request_id, result };
                self.send(from, Message::AddOffsetsToTxnResponse(response));
            }
            Answer::EndTxn { from, request_id } => {
                let response = EndTxnResponse { request_id, result };
                self.send(from, Message::EndTxnResponse(response));
            }
        }
    }

    /// The data-plane tick's share: resends markers, retries completions, aborts transactions
    /// open past their timeout.
    pub(crate) fn on_transaction_tick(&mut self) {
        if self.config.transactions.is_none() {
            return;
        }
        let coordinated: Vec<u32> = self.transactions.partitions.keys().copied().collect();
        for partition in coordinated {
            if !self.transactions.partitions[&partition].is_loaded() {
                continue;
            }
            self.expire_marker_requests(partition);
            self.complete_marked_transactions(partition);
            self.abort_timed_out_transactions(partition);
            self.send_due_markers(partition);
        }
    }

    /// Writes `Complete*` for every transaction whose markers are all written (again, if an
    /// earlier attempt failed).
    pub(crate) fn complete_marked_transactions(&mut self, partition: u32) {
        let coordinator = &self.transactions.partitions[&partition];
        let completed: Vec<(u64, TransactionMetadata)> = coordinator
            .markers
            .iter()
            .filter(|(key, progress)| progress.is_done() && !coordinator.is_busy(**key))
            .map(|(key, _)| {
                let metadata = coordinator
                    .metadata(*key)
                    .expect("markers of a transaction");
                (*key, metadata.completed())
            })
            .collect();
        for (key, next) in completed {
            if self
                .begin_transition(partition, key, next, Answer::Nobody)
                .is_err()
            {
                return; // No room for a write: the tick tries again.
            }
        }
    }

    fn abort_timed_out_transactions(&mut self, partition: u32) {
        let now_ns = self.now_ns();
        let keep_epoch = self.config.bugs.keep_producer_epoch_on_transaction_timeout;
        let coordinator = &self.transactions.partitions[&partition];
        let timed_out: Vec<(u64, TransactionMetadata)> = coordinator
            .transactions
            .iter()
            .filter(|(key, transaction)| {
                let metadata = &transaction.metadata;
                metadata.state == TransactionState::Ongoing
                    && now_ns >= transaction.opened_at_ns.saturating_add(metadata.timeout_ns)
                    && !coordinator.is_busy(**key)
            })
            .map(|(key, transaction)| (*key, timeout_abort(&transaction.metadata, keep_epoch)))
            .collect();
        for (key, next) in timed_out {
            let observation = Observation::TransactionTimedOut {
                producer_id: next.producer_id,
                producer_epoch: next.producer_epoch,
            };
            if self
                .begin_transition(partition, key, next, Answer::Nobody)
                .is_err()
            {
                return;
            }
            self.observe(observation);
        }
    }

    /// Most messages the coordinators may send this node itself in one step: each write is
    /// one produce and one answer, each marker request (to partitions this node leads) one
    /// request and one answer.
    pub(crate) fn transaction_loopback_max(&self) -> usize {
        self.config.transactions.as_ref().map_or(0, |config| {
            2 * (config.pending_writes_max as usize + config.marker_requests_max as usize)
        })
    }

    /// Asserts the coordinators' invariants: each leads its partition in its epoch, never
    /// replays past the high watermark, holds its ids within their limit, and has a write in
    /// flight for exactly the ids it holds busy writing; markers are owed only by `Prepare*`
    /// transactions.
    pub(crate) fn check_transaction_invariants(&self) {
        let Some(config) = &self.config.transactions else {
            assert!(
                self.transactions.partitions.is_empty(),
                "coordinating without transactions"
            );
            return;
        };
        let forgotten = self.config.bugs.forget_transactions_on_coordinator_failover;
        let pending = &self.transactions.pending_writes;
        assert!(pending.len() <= config.pending_writes_max as usize);
        let mut marker_requests = 0;
        for (partition, coordinator) in &self.transactions.partitions {
            assert_eq!(
                self.state_leader_epoch(*partition),
                Some(coordinator.leader_epoch),
                "node {}: coordinates state partition {partition} without leading it",
                self.id
            );
            let log = &self.replicas.partitions[&state_key(*partition)].log;
            assert!(
                forgotten || coordinator.applied_offset <= log.high_watermark(),
                "node {}: state partition {partition} replayed to {} past its HW {}",
                self.id,
                coordinator.applied_offset,
                log.high_watermark()
            );
            assert!(coordinator.transactions.len() <= config.transactional_ids_max as usize);
            for transaction in coordinator.transactions.values() {
                transaction.metadata.check_invariants();
            }
            let writing = coordinator
                .busy
                .iter()
                .filter(|(_, busy)| **busy == Busy::Writing)
                .map(|(key, _)| *key);
            let written = pending
                .values()
                .filter(|write| write.partition == *partition)
                .map(|write| write.key);
            assert!(
                writing.eq(written.collect::<std::collections::BTreeSet<u64>>()),
                "node {}: state partition {partition}: busy ids and writes disagree",
                self.id
            );
            marker_requests += coordinator.marker_requests.len();
            for (key, progress) in &coordinator.markers {
                let metadata = coordinator
                    .metadata(*key)
                    .expect("markers of a transaction");
                progress.check_invariants(metadata);
            }
        }
        assert!(marker_requests <= config.marker_requests_max as usize);
    }
}
