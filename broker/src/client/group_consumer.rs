//! A sans-IO group consumer: one history process that subscribes to topics in a consumer group,
//! rejoins on every rebalance, and commits its offsets to the group's coordinator.
//!
//! Life: `subscribe` (at `start_at_ns`), then JoinGroup at the coordinator (the leader of the
//! group's offsets partition, from the metadata); each answer installs an assignment, recorded as
//! a `rebalance` operation. Newly assigned partitions start at the group's committed offset
//! (OffsetFetch), or, when nothing is committed, at the earliest or latest offset
//! (`auto.offset.reset`, via ListOffsets). Then a loop of `poll` and `commit` operations, one at
//! a time (a history process does one thing at a time), with heartbeats in the background.
//!
//! Commit modes: `auto` commits, before a poll, the positions earlier polls returned, once every
//! `auto_commit_interval_ns` (Kafka's at-least-once `enable.auto.commit`); `manual` commits the
//! positions right after each poll that returned records (commit after processing);
//! `transactional` commits as `manual` does, each commit inside a transaction of its own
//! (`super::offsets_transaction`: AddOffsetsToTxn, TxnOffsetCommit, EndTxn), under a producer id
//! and epoch asked of the transaction coordinator for the worker's transactional id. Either way a
//! member commits before it gives partitions up: under the eager protocol everything before it
//! rejoins, under the cooperative one the revoked partitions before it installs the assignment
//! that revokes them (so their next owner starts where this one stopped).
//!
//! Errors: REBALANCE_IN_PROGRESS: rejoin; ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID: the member
//! lost its partitions (no commit: they may already be someone else's) and rejoins (a new member
//! after UNKNOWN_MEMBER_ID; the history records the loss as a rebalance to no partitions);
//! coordinator errors: find the coordinator again. A partition whose fetches go unanswered for
//! `request_timeout_ns` has its leader looked up again (`super::silent_leaders`). A commit
//! answered REQUEST_TIMED_OUT (its append may or may not have landed) is sent again as is, as
//! Kafka's `commitSync` retries (the same offsets committed twice are harmless); it completes
//! `info` if it has no definite answer after `request_timeout_ns`, or if a retry is refused after
//! an attempt that may have landed.
//! After an `info` the history takes the process as crashed, so the consumer starts over as a
//! new one: it leaves the group and subscribes again as a new member, its partitions starting
//! from the committed offsets.
//! At `stop_at_ns` the member commits, leaves the group and stops (a scaled-down worker).

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, RngCore};

use super::ClientReport;
use super::fetched::delivered_records;
use super::history::SentRecord;
use super::history::{ClientEvent, ClientOperation, EventKind, PolledRecords};
use super::metadata::MetadataCache;
use super::offsets_transaction::{
    BatchStatus, Committer, OffsetsTransaction, OutputBatch, Outputs, Phase,
};
use super::producer::{PRODUCER_INDEXES_MAX, record_value};
use super::producer_identity::{ProducerIdentity, TransactionalId};
use super::silent_leaders::SilentLeaders;
use super::transaction::{Completion, Reaction};
use crate::dedup::RequestIds;
use crate::group::{OFFSETS_TOPIC, offsets_partition_for_group};
use crate::log::Record;
use crate::message::group::{
    AssignorKind, CommittedOffset, GroupError, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, JoinedGroup, LeaveGroupRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, RebalanceProtocol,
    TopicPartition, TxnOffsetCommitResponse,
};
use crate::message::txn::{InitTxnProducerIdResponse, TxnError};
use crate::message::{
    DataError, FetchRequest, FetchResponse, IsolationLevel, ListOffsetsRequest,
    ListOffsetsResponse, Message, OffsetSpec, ProduceResponse,
};
use crate::node::{Input, Observation, Output, Timer};
use crate::topic::TopicName;
use crate::txn::TRANSACTION_STATE_TOPIC;

/// When a group consumer commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommitMode {
    /// Before a poll, every `auto_commit_interval_ns`: what earlier polls returned.
    Auto,
    /// After every poll that returned records.
    Manual,
    /// As `Manual`, each commit inside a transaction of its own
    /// ([`GroupConsumerConfig::transactional`]): AddOffsetsToTxn, TxnOffsetCommit, EndTxn.
    Transactional,
}

/// What a group consumer's transactional commits run under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionalCommits {
    pub transactional_id: String,
    /// The coordinator aborts a transaction open longer than this.
    pub transaction_timeout_ns: u64,
    /// Partitions of the transaction state topic (where the coordinator lives).
    pub state_partitions: u32,
    /// Aborts one commit's transaction in this many on purpose (0: never). The offsets stay
    /// uncommitted, so the next turn commits them again in a new transaction.
    pub abort_one_in: u32,
    /// Where the worker writes what it makes of the records it consumes, if anywhere.
    pub output: Option<TransformOutput>,
}

/// The writer index of the first worker's output values: workers' indexes come after every
/// producer's (producers number theirs from 1).
pub const TRANSFORM_INDEX_FIRST: u64 = PRODUCER_INDEXES_MAX / 2;

/// A worker's output (consume-transform-produce): for each record it consumes, one record
/// written in the transaction that commits the consumed record's offset, so that the output
/// holds each input record's product exactly once, or, until it commits, not at all. A commit
/// that aborts leaves its records to the next one, which writes them again (new values).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransformOutput {
    pub topic: String,
    /// Partitions of the output topic: a record consumed from partition `p` goes to
    /// `p % partitions`, so each output partition keeps its input partitions' order.
    pub partitions: u32,
    /// The writer index of its values ([`record_value`]): unique among the run's writers.
    pub index: u64,
    /// Which build of the worker's node this is (as a producer's instance).
    pub instance: u32,
    /// Most records in one batch (the cluster's `batch_records_max`): a partition's records
    /// of one transaction go in consecutive batches of at most this many.
    pub batch_records_max: u64,
}

/// Where a partition without a committed offset starts (Kafka's `auto.offset.reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetReset {
    Earliest,
    Latest,
}

/// A group consumer's settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupConsumerConfig {
    pub process: u64,
    pub group: String,
    pub topics: Vec<String>,
    pub protocol: RebalanceProtocol,
    pub assignor: AssignorKind,
    pub commit_mode: CommitMode,
    pub offset_reset: OffsetReset,
    /// Partitions of the offsets topic (to find the coordinator).
    pub offsets_partitions: u32,
    pub session_timeout_ns: u64,
    pub heartbeat_interval_ns: u64,
    pub rebalance_timeout_ns: u64,
    pub auto_commit_interval_ns: u64,
    pub poll_timeout_ns: u64,
    pub fetch_records_max: u64,
    /// Most offsets one commit request names: the coordinator's limit
    /// ([`crate::group::GroupsConfig::commit_offsets_max`]). A commit of more goes out as
    /// consecutive requests, each an operation of its own.
    pub commit_offsets_max: u32,
    /// A commit or heartbeat unanswered this long is given up.
    pub request_timeout_ns: u64,
    pub retry_backoff_ns: u64,
    /// The consumer subscribes at this local time (a worker added later)...
    pub start_at_ns: u64,
    /// ...and leaves its group at this one (a worker removed).
    pub stop_at_ns: u64,
    /// What it reads of transactions (`read_uncommitted` by default, as Kafka's).
    pub isolation: IsolationLevel,
    /// Set under [`CommitMode::Transactional`], and only then.
    pub transactional: Option<TransactionalCommits>,
}

impl GroupConsumerConfig {
    pub fn new(process: u64, group: &str, topics: Vec<String>, offsets_partitions: u32) -> Self {
        GroupConsumerConfig {
            process,
            group: group.to_owned(),
            topics,
            protocol: RebalanceProtocol::Eager,
            assignor: AssignorKind::Range,
            commit_mode: CommitMode::Auto,
            offset_reset: OffsetReset::Earliest,
            offsets_partitions,
            session_timeout_ns: 1_500_000_000,
            heartbeat_interval_ns: 300_000_000,
            rebalance_timeout_ns: 3_000_000_000,
            auto_commit_interval_ns: 500_000_000,
            poll_timeout_ns: 250_000_000,
            fetch_records_max: 512,
            commit_offsets_max: 64,
            request_timeout_ns: 2_000_000_000,
            retry_backoff_ns: 50_000_000,
            start_at_ns: 0,
            stop_at_ns: u64::MAX,
            isolation: IsolationLevel::ReadUncommitted,
            transactional: None,
        }
    }
}

/// The one operation the process has open.
#[derive(Debug)]
enum Operation {
    Poll {
        /// Fetches awaiting answers: request id -> partition.
        in_flight: BTreeMap<u64, TopicPartition>,
        records: BTreeMap<TopicPartition, Vec<(u64, u64)>>,
        deadline_ns: u64,
    },
    /// A commit inside a transaction of its own ([`CommitMode::Transactional`]).
    TxnCommit {
        transaction: OffsetsTransaction,
        offsets: Vec<(String, u32, u64)>,
        /// The output records, in the transaction's batch order.
        sent: Vec<SentRecord>,
    },
    Commit {
        /// The request last sent, resent as is (under a fresh id) after an unknown outcome.
        request: OffsetCommitRequest,
        coordinator: u32,
        offsets: Vec<(String, u32, u64)>,
        deadline_ns: u64,
        /// An earlier attempt's outcome is unknown: it may have been applied.
        uncertain: bool,
    },
}

/// Where the member stands in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Membership {
    /// Not subscribed yet, or stopped.
    Idle,
    /// Wants to (re)join; sends JoinGroup when it can.
    Rejoin,
    /// JoinGroup sent.
    Joining { request_id: u64, sent_ns: u64 },
    /// In generation `generation`.
    Member { generation: u64 },
}

/// The group consumer.
#[derive(Debug)]
pub struct GroupConsumer {
    config: GroupConsumerConfig,
    metadata: MetadataCache,
    request_ids: RequestIds,
    subscribed: bool,
    stopped: bool,
    member_id: Option<u64>,
    /// The generation of the last join answer (what commits and heartbeats carry).
    generation: u64,
    membership: Membership,
    /// The eager pre-join commit was made (or was not needed) for the rejoin under way.
    committed_before_rejoin: bool,
    /// A join answer waiting for the operation slot (and, cooperative, the revoke commit).
    pending_install: Option<JoinedGroup>,
    revoke_committed: bool,
    assignment: Vec<TopicPartition>,
    /// Fetch position per assigned partition, once known.
    positions: BTreeMap<TopicPartition, u64>,
    /// The leader epoch of the record before each position, where known: a commit carries it.
    position_epochs: BTreeMap<TopicPartition, u64>,
    /// The group's committed offset per assigned partition, as far as this member knows.
    committed: BTreeMap<TopicPartition, u64>,
    /// OffsetFetch or ListOffsets in flight: request id -> partitions.
    initializing: BTreeMap<u64, (Vec<TopicPartition>, u64)>,
    /// No OffsetFetch before this time: the coordinator answered UNSTABLE_OFFSET_COMMIT.
    offset_fetch_retry_at_ns: u64,
    heartbeat: Option<(u64, u64)>,
    next_heartbeat_ns: u64,
    last_commit_ns: u64,
    /// Offsets of a commit that did not fit in its first request, committed next, before
    /// anything else: a member of a wide topic may hold more partitions than one request names.
    /// Each offset gets one attempt, as a commit that fits in one request does.
    commit_queue: Vec<(String, u32, u64)>,
    operation: Option<Operation>,
    /// Partitions were lost (fenced): the history learns it, as a rebalance to nothing, once
    /// the open operation completes.
    loss_unrecorded: bool,
    /// The producer id and epoch transactional commits run under (transactional mode only).
    identity: Option<ProducerIdentity>,
    /// Whether the next transactional commit aborts on purpose, drawn at the start of a step
    /// while `abort_one_in` is set (see [`TransactionalCommits`]), and taken by the commit.
    abort_next: Option<bool>,
    /// With an output: per assigned partition, the records consumed whose products no
    /// committed transaction wrote yet, `(offset, value)` in offset order. A partition's are
    /// dropped when its position is set again (they will be consumed again) or it is lost.
    unproduced: BTreeMap<TopicPartition, Vec<(u64, u64)>>,
    /// The sequence of the next output value ([`record_value`]).
    output_sequence_next: u64,
    silent_leaders: SilentLeaders<(TopicName, u32)>,
}

impl GroupConsumer {
    pub fn new(config: GroupConsumerConfig, brokers: u32) -> GroupConsumer {
        assert!(config.offsets_partitions > 0 && !config.topics.is_empty());
        assert!(config.heartbeat_interval_ns < config.session_timeout_ns);
        assert!(
            config.commit_offsets_max > 0,
            "a commit names at least one offset"
        );
        assert_eq!(
            config.commit_mode == CommitMode::Transactional,
            config.transactional.is_some(),
            "transactional commits, and only they, name a transactional id"
        );
        let identity = config.transactional.as_ref().map(|commits| {
            let id = TransactionalId::new(
                &commits.transactional_id,
                commits.transaction_timeout_ns,
                commits.state_partitions,
            );
            ProducerIdentity::new_transactional(id, brokers)
        });
        GroupConsumer {
            config,
            metadata: MetadataCache::new(brokers),
            request_ids: RequestIds::default(),
            subscribed: false,
            stopped: false,
            member_id: None,
            generation: 0,
            membership: Membership::Idle,
            committed_before_rejoin: false,
            pending_install: None,
            revoke_committed: false,
            assignment: Vec::new(),
            positions: BTreeMap::new(),
            position_epochs: BTreeMap::new(),
            committed: BTreeMap::new(),
            initializing: BTreeMap::new(),
            offset_fetch_retry_at_ns: 0,
            heartbeat: None,
            next_heartbeat_ns: 0,
            last_commit_ns: 0,
            commit_queue: Vec::new(),
            operation: None,
            loss_unrecorded: false,
            identity,
            abort_next: None,
            unproduced: BTreeMap::new(),
            output_sequence_next: 0,
            silent_leaders: SilentLeaders::default(),
        }
    }

    /// The group's committed offset of each partition assigned to this member (what a drained
    /// group must have reached), as `(topic, partition, offset)`.
    pub fn positions(&self) -> Vec<(String, u32, u64)> {
        self.assignment
            .iter()
            .filter_map(|key| {
                let committed = self.committed.get(key)?;
                Some((key.0.clone(), key.1, *committed))
            })
            .collect()
    }

    /// The consumer's group.
    pub fn group(&self) -> &str {
        &self.config.group
    }

    /// The member's assignment.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.assignment
    }

    pub fn step<R: RngCore + ?Sized>(
        &mut self,
        now_ns: u64,
        input: Input,
        rng: &mut R,
        output: &mut Vec<Output>,
    ) {
        match input {
            Input::Start => {
                // A fresh incarnation's request ids must not repeat its predecessor's.
                self.request_ids.start(rng.next_u64());
                self.refresh_metadata(now_ns, output);
            }
            Input::Message { message, .. } => self.on_message(now_ns, message, output),
            Input::TimerFired(_) | Input::DiskWriteFailed { .. } | Input::DiskSyncDone { .. } => {}
        }
        self.draw_abort(rng);
        if !self.stopped {
            self.advance(now_ns, output);
            self.arm_timer(now_ns, output);
        }
    }

    /// Draws whether the next transactional commit aborts, unless drawn already. Only consumers
    /// that abort draw, so the others' random streams are as they were.
    fn draw_abort<R: RngCore + ?Sized>(&mut self, rng: &mut R) {
        let abort_one_in = self
            .config
            .transactional
            .as_ref()
            .map_or(0, |commits| commits.abort_one_in);
        if abort_one_in > 0 && self.abort_next.is_none() {
            self.abort_next = Some(rng.random_range(0..abort_one_in) == 0);
        }
    }

    fn event(&self, kind: EventKind, operation: ClientOperation) -> Output {
        Output::Observe(Observation::Client(ClientReport::Event(ClientEvent {
            process: self.config.process,
            group: Some(self.config.group.clone()),
            kind,
            operation,
        })))
    }

    fn refresh_metadata(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let backoff_ns = self.config.retry_backoff_ns;
        self.metadata
            .request_refresh(now_ns, &mut self.request_ids, backoff_ns, output);
    }

    fn offsets_partition(&self) -> u32 {
        offsets_partition_for_group(&self.config.group, self.config.offsets_partitions)
    }

    /// The coordinator as the metadata names it (the offsets partition's leader).
    fn coordinator(&self) -> Option<u32> {
        let (leader, _) = self
            .metadata
            .leader(OFFSETS_TOPIC, self.offsets_partition())?;
        Some(leader)
    }

    fn forget_coordinator(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        self.metadata
            .invalidate(OFFSETS_TOPIC, self.offsets_partition());
        self.refresh_metadata(now_ns, output);
    }

    fn on_message(&mut self, now_ns: u64, message: Message, output: &mut Vec<Output>) {
        match message {
            Message::MetadataResponse(response) => {
                self.metadata.on_response(&response);
            }
            Message::FetchResponse(response) => self.on_fetch_response(now_ns, *response, output),
            Message::ListOffsetsResponse(response) => {
                self.on_list_offsets_response(now_ns, response, output)
            }
            Message::JoinGroupResponse(response) => self.on_join_response(now_ns, response, output),
            Message::HeartbeatResponse(response) => {
                self.on_heartbeat_response(now_ns, response, output)
            }
            Message::OffsetCommitResponse(response) => {
                self.on_commit_response(now_ns, response, output)
            }
            Message::OffsetFetchResponse(response) => {
                self.on_offset_fetch_response(now_ns, response, output)
            }
            Message::InitTxnProducerIdResponse(response) => {
                self.on_init_producer_id_response(now_ns, &response, output)
            }
            Message::AddOffsetsToTxnResponse(response) => {
                let result = response.result.as_ref().map(|()| None);
                self.on_transaction_answer(now_ns, response.request_id, result, output);
            }
            Message::AddPartitionsToTxnResponse(response) => {
                let result = response.result.as_ref().map(|()| None);
                self.on_transaction_answer(now_ns, response.request_id, result, output);
            }
            Message::ProduceResponse(response) => {
                self.on_produce_response(now_ns, &response, output)
            }
            Message::EndTxnResponse(response) => {
                let result = response.result.as_ref().map(|handed| Some(*handed));
                self.on_transaction_answer(now_ns, response.request_id, result, output);
            }
            Message::TxnOffsetCommitResponse(response) => {
                self.on_txn_offset_commit_response(now_ns, &response, output)
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ the main loop

    fn advance(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        if !self.subscribed {
            if now_ns < self.config.start_at_ns {
                return;
            }
            self.subscribe(output);
        }
        self.drive_transaction(now_ns, output);
        self.complete_operation(now_ns, output);
        self.send_heartbeat(now_ns, output);
        self.retry_stale_join(now_ns);
        self.initialize_positions(now_ns, output);
        if self.operation.is_some() {
            return;
        }
        if self.loss_unrecorded {
            self.loss_unrecorded = false;
            let rebalance = (self.generation, Vec::new());
            output.push(self.event(EventKind::Invoke, ClientOperation::Rebalance(None)));
            output.push(self.event(EventKind::Ok, ClientOperation::Rebalance(Some(rebalance))));
        }
        if !self.commit_queue.is_empty() {
            let queued = std::mem::take(&mut self.commit_queue);
            self.start_commit(now_ns, queued, output);
            return;
        }
        if now_ns >= self.config.stop_at_ns {
            self.stop(now_ns, output);
            return;
        }
        if self.pending_install.is_some() {
            self.install_when_revoked(now_ns, output);
            return;
        }
        if self.membership == Membership::Rejoin {
            self.rejoin(now_ns, output);
            return;
        }
        if matches!(self.membership, Membership::Member { .. }) && self.commit_due(now_ns) {
            self.start_commit(now_ns, self.dirty_offsets(None), output);
            return;
        }
        self.start_poll(now_ns, output);
    }

    fn subscribe(&mut self, output: &mut Vec<Output>) {
        self.subscribed = true;
        self.membership = Membership::Rejoin;
        let topics = self.config.topics.clone();
        output.push(self.event(
            EventKind::Invoke,
            ClientOperation::Subscribe(topics.clone()),
        ));
        output.push(self.event(EventKind::Ok, ClientOperation::Subscribe(topics)));
    }

    /// Tells the coordinator this member leaves (as a closed consumer does), if it is one.
    fn leave_group(&self, output: &mut Vec<Output>) {
        if let (Some(member_id), Some(coordinator)) = (self.member_id, self.coordinator()) {
            let request = LeaveGroupRequest {
                group: self.config.group.clone(),
                member_id,
            };
            output.push(Output::Send {
                to: coordinator,
                message: Message::LeaveGroup(request),
            });
        }
    }

    /// Commits what is uncommitted, leaves the group, and stops for good.
    fn stop(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let dirty = self.dirty_offsets(None);
        if !dirty.is_empty() && matches!(self.membership, Membership::Member { .. }) {
            self.start_commit(now_ns, dirty, output);
            return;
        }
        self.leave_group(output);
        self.stopped = true;
        self.membership = Membership::Idle;
        self.lose_partitions();
        output.push(Output::CancelTimer {
            timer: Timer::Client,
        });
    }

    /// Sends JoinGroup; under the eager protocol first commits and revokes everything.
    fn rejoin(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let eager = self.config.protocol == RebalanceProtocol::Eager;
        if eager && !self.committed_before_rejoin {
            self.committed_before_rejoin = true;
            let dirty = self.dirty_offsets(None);
            if !dirty.is_empty() && self.member_id.is_some() {
                self.start_commit(now_ns, dirty, output);
                return;
            }
        }
        if eager {
            self.lose_partitions();
        }
        let Some(coordinator) = self.coordinator() else {
            self.refresh_metadata(now_ns, output);
            return;
        };
        let request_id = self.request_ids.next_id();
        let request = JoinGroupRequest {
            request_id,
            group: self.config.group.clone(),
            member_id: self.member_id,
            topics: self.config.topics.clone(),
            protocol: self.config.protocol,
            assignor: self.config.assignor,
            session_timeout_ns: self.config.session_timeout_ns,
            rebalance_timeout_ns: self.config.rebalance_timeout_ns,
            owned: self.assignment.clone(),
        };
        output.push(Output::Send {
            to: coordinator,
            message: Message::JoinGroup(Box::new(request)),
        });
        self.membership = Membership::Joining {
            request_id,
            sent_ns: now_ns,
        };
    }

    /// A join unanswered past the rebalance timeout (and a request timeout) is sent again.
    fn retry_stale_join(&mut self, now_ns: u64) {
        if let Membership::Joining { sent_ns, .. } = self.membership
            && sent_ns + self.config.rebalance_timeout_ns + self.config.request_timeout_ns <= now_ns
        {
            self.membership = Membership::Rejoin;
        }
    }

    fn needs_rejoin(&mut self) {
        if matches!(self.membership, Membership::Member { .. }) {
            self.membership = Membership::Rejoin;
            self.committed_before_rejoin = false;
        }
    }

    /// Drops every partition without committing (it may be someone else's already).
    fn lose_partitions(&mut self) {
        self.assignment.clear();
        self.unproduced.clear();
        self.positions.clear();
        self.position_epochs.clear();
        self.committed.clear();
        self.initializing.clear();
    }

    fn on_join_response(
        &mut self,
        now_ns: u64,
        response: JoinGroupResponse,
        output: &mut Vec<Output>,
    ) {
        let Membership::Joining { request_id, .. } = self.membership else {
            return;
        };
        if request_id != response.request_id {
            return;
        }
        match response.result {
            Ok(joined) => {
                self.member_id = Some(joined.member_id);
                self.generation = joined.generation;
                self.membership = Membership::Member {
                    generation: joined.generation,
                };
                self.next_heartbeat_ns = now_ns + self.config.heartbeat_interval_ns;
                self.revoke_committed = false;
                self.pending_install = Some(joined);
            }
            Err(error) => {
                if error == GroupError::UnknownMemberId {
                    self.member_id = None;
                    self.loss_unrecorded |= !self.assignment.is_empty();
                    self.lose_partitions();
                }
                if error.is_coordinator_error() {
                    self.forget_coordinator(now_ns, output);
                }
                self.membership = Membership::Rejoin;
                self.committed_before_rejoin = true;
            }
        }
    }

    /// Installs a new assignment once the partitions it revokes are committed.
    fn install_when_revoked(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let joined = self.pending_install.as_ref().expect("pending");
        let kept: BTreeSet<&TopicPartition> = joined.assignment.iter().collect();
        let revoked: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|key| !kept.contains(key))
            .cloned()
            .collect();
        if !self.revoke_committed {
            self.revoke_committed = true;
            let dirty = self.dirty_offsets(Some(&revoked));
            if !dirty.is_empty() {
                self.start_commit(now_ns, dirty, output);
                return;
            }
        }
        let joined = self.pending_install.take().expect("pending");
        for key in &revoked {
            self.unproduced.remove(key);
            self.positions.remove(key);
            self.position_epochs.remove(key);
            self.committed.remove(key);
        }
        self.initializing.clear();
        self.assignment = joined.assignment.clone();
        let rebalance = (joined.generation, joined.assignment);
        output.push(self.event(EventKind::Invoke, ClientOperation::Rebalance(None)));
        output.push(self.event(EventKind::Ok, ClientOperation::Rebalance(Some(rebalance))));
        self.initialize_positions(now_ns, output);
    }

    // ------------------------------------------------------------------ heartbeats

    fn send_heartbeat(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let Membership::Member { generation } = self.membership else {
            return;
        };
        if let Some((_, sent_ns)) = self.heartbeat {
            if sent_ns + self.config.request_timeout_ns > now_ns {
                return;
            }
            // Unanswered: the coordinator may have moved.
            self.heartbeat = None;
            self.forget_coordinator(now_ns, output);
        }
        if now_ns < self.next_heartbeat_ns {
            return;
        }
        let (Some(member_id), Some(coordinator)) = (self.member_id, self.coordinator()) else {
            self.refresh_metadata(now_ns, output);
            return;
        };
        let request_id = self.request_ids.next_id();
        self.heartbeat = Some((request_id, now_ns));
        self.next_heartbeat_ns = now_ns + self.config.heartbeat_interval_ns;
        let request = HeartbeatRequest {
            request_id,
            group: self.config.group.clone(),
            member_id,
            generation,
        };
        output.push(Output::Send {
            to: coordinator,
            message: Message::Heartbeat(request),
        });
    }

    fn on_heartbeat_response(
        &mut self,
        now_ns: u64,
        response: HeartbeatResponse,
        output: &mut Vec<Output>,
    ) {
        if self.heartbeat.map(|(request_id, _)| request_id) != Some(response.request_id) {
            return;
        }
        self.heartbeat = None;
        if let Err(error) = response.result {
            self.on_group_error(now_ns, &error, output);
        }
    }

    /// What a heartbeat's or a commit's error means for the membership.
    fn on_group_error(&mut self, now_ns: u64, error: &GroupError, output: &mut Vec<Output>) {
        match error {
            GroupError::RebalanceInProgress => self.needs_rejoin(),
            GroupError::IllegalGeneration | GroupError::UnknownMemberId => {
                if *error == GroupError::UnknownMemberId {
                    self.member_id = None;
                }
                // Fenced: its generation is over, and its partitions may be another member's
                // already. A member waiting to rejoin (a rebalance began: cooperative members
                // keep their partitions meanwhile) loses them too, or it would rejoin claiming
                // them, and keep consuming them from its stale positions.
                if matches!(
                    self.membership,
                    Membership::Member { .. } | Membership::Rejoin
                ) {
                    self.loss_unrecorded |= !self.assignment.is_empty();
                    self.lose_partitions();
                    self.membership = Membership::Rejoin;
                    self.committed_before_rejoin = true;
                }
            }
            error if error.is_coordinator_error() => self.forget_coordinator(now_ns, output),
            _ => {}
        }
    }

    // ------------------------------------------------------------------ positions

    /// Asks for the committed offsets of assigned partitions without a position.
    fn initialize_positions(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        if self.pending_install.is_some() || now_ns < self.offset_fetch_retry_at_ns {
            return;
        }
        let timeout_ns = self.config.request_timeout_ns;
        self.initializing
            .retain(|_, (_, sent_ns)| *sent_ns + timeout_ns > now_ns);
        let busy: BTreeSet<&TopicPartition> = self
            .initializing
            .values()
            .flat_map(|(keys, _)| keys.iter())
            .collect();
        let missing: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|key| !self.positions.contains_key(*key) && !busy.contains(key))
            .cloned()
            .collect();
        // Partitions are assigned to a member only.
        let (false, Some(member_id)) = (missing.is_empty(), self.member_id) else {
            return;
        };
        let Some(coordinator) = self.coordinator() else {
            self.refresh_metadata(now_ns, output);
            return;
        };
        let request_id = self.request_ids.next_id();
        self.initializing
            .insert(request_id, (missing.clone(), now_ns));
        let request = OffsetFetchRequest {
            request_id,
            group: self.config.group.clone(),
            member_id,
            generation: self.generation,
            partitions: missing,
        };
        output.push(Output::Send {
            to: coordinator,
            message: Message::OffsetFetch(request),
        });
    }

    fn on_offset_fetch_response(
        &mut self,
        now_ns: u64,
        response: OffsetFetchResponse,
        output: &mut Vec<Output>,
    ) {
        if self.initializing.remove(&response.request_id).is_none() {
            return;
        }
        let offsets = match response.result {
            Ok(offsets) => offsets,
            Err(GroupError::UnstableOffsetCommit) => {
                self.offset_fetch_retry_at_ns = now_ns + self.config.retry_backoff_ns;
                return;
            }
            Err(error) => {
                self.on_group_error(now_ns, &error, output);
                return;
            }
        };
        for (topic, partition, offset) in offsets {
            let key = (topic, partition);
            if !self.assignment.contains(&key) {
                continue;
            }
            match offset {
                Some(CommittedOffset {
                    offset,
                    leader_epoch,
                }) => {
                    if let Some(epoch) = leader_epoch {
                        self.metadata.note_leader_epoch(&key.0, key.1, epoch);
                        self.position_epochs.insert(key.clone(), epoch);
                    }
                    self.unproduced.remove(&key);
                    self.positions.insert(key.clone(), offset);
                    self.committed.insert(key, offset);
                }
                None => self.reset_offset(now_ns, key, output),
            }
        }
    }

    /// No committed offset: start where `auto.offset.reset` says.
    fn reset_offset(&mut self, now_ns: u64, key: TopicPartition, output: &mut Vec<Output>) {
        let Some((leader, _)) = self.metadata.leader(&key.0, key.1) else {
            self.refresh_metadata(now_ns, output);
            return;
        };
        let spec = match self.config.offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
        };
        let request_id = self.request_ids.next_id();
        self.initializing
            .insert(request_id, (vec![key.clone()], now_ns));
        let request = ListOffsetsRequest {
            request_id,
            topic: key.0.into(),
            partition: key.1,
            spec,
        };
        output.push(Output::Send {
            to: leader,
            message: Message::ListOffsets(request),
        });
    }

    /// The offset `auto.offset.reset` asked for. A refusal (not the leader, a fenced or unknown
    /// epoch, an unknown partition) means this member's metadata is stale: it drops the
    /// partition's leader and refreshes, as after a failed fetch, so that the next attempt asks
    /// the right broker (asking the stale one again forever left the partition unread).
    fn on_list_offsets_response(
        &mut self,
        now_ns: u64,
        response: ListOffsetsResponse,
        output: &mut Vec<Output>,
    ) {
        let Some((keys, _)) = self.initializing.remove(&response.request_id) else {
            return;
        };
        let key = (String::from(response.topic), response.partition);
        match response.result {
            Ok(offset) if keys.contains(&key) && self.assignment.contains(&key) => {
                self.unproduced.remove(&key);
                self.positions.insert(key, offset);
            }
            Ok(_) => {}
            Err(_) => {
                self.metadata.invalidate(&key.0, key.1);
                self.refresh_metadata(now_ns, output);
            }
        }
    }

    // ------------------------------------------------------------------ commits

    /// Positions not yet committed (of `only`, when given).
    fn dirty_offsets(&self, only: Option<&[TopicPartition]>) -> Vec<(String, u32, u64)> {
        self.positions
            .iter()
            .filter(|(key, _)| only.is_none_or(|only| only.contains(key)))
            .filter(|(key, position)| self.committed.get(*key) != Some(position))
            .map(|(key, position)| (key.0.clone(), key.1, *position))
            .collect()
    }

    fn commit_due(&self, now_ns: u64) -> bool {
        let due = match self.config.commit_mode {
            CommitMode::Auto => self.last_commit_ns + self.config.auto_commit_interval_ns <= now_ns,
            CommitMode::Manual | CommitMode::Transactional => true,
        };
        due && !self.dirty_offsets(None).is_empty()
    }

    /// Invokes a commit of `offsets`: of the first `commit_offsets_max` of them, the rest
    /// queued for the next turns ([`GroupConsumer::commit_queue`]).
    fn start_commit(
        &mut self,
        now_ns: u64,
        mut offsets: Vec<(String, u32, u64)>,
        output: &mut Vec<Output>,
    ) {
        debug_assert!(!offsets.is_empty());
        debug_assert!(self.commit_queue.is_empty(), "a queued commit goes first");
        let request_max = self.config.commit_offsets_max as usize;
        if offsets.len() > request_max {
            self.commit_queue = offsets.split_off(request_max);
        }
        let generation = self.generation;
        let (Some(member_id), Some(coordinator)) = (self.member_id, self.coordinator()) else {
            self.refresh_metadata(now_ns, output);
            return;
        };
        if self.identity.is_some() {
            self.start_txn_commit(now_ns, (member_id, generation), offsets, output);
            return;
        }
        self.last_commit_ns = now_ns;
        let request_id = self.request_ids.next_id();
        output.push(self.event(EventKind::Invoke, ClientOperation::Commit(offsets.clone())));
        let with_epochs = self.with_epochs(&offsets);
        let request = OffsetCommitRequest {
            request_id,
            group: self.config.group.clone(),
            member_id,
            generation,
            offsets: with_epochs,
        };
        output.push(Output::Send {
            to: coordinator,
            message: Message::OffsetCommit(request.clone()),
        });
        self.operation = Some(Operation::Commit {
            request,
            coordinator,
            offsets,
            deadline_ns: now_ns + self.config.request_timeout_ns,
            uncertain: false,
        });
    }

    fn on_commit_response(
        &mut self,
        now_ns: u64,
        response: OffsetCommitResponse,
        output: &mut Vec<Output>,
    ) {
        let Some(Operation::Commit { request, .. }) = &self.operation else {
            return;
        };
        if request.request_id != response.request_id {
            return;
        }
        if response.result == Err(GroupError::RequestTimedOut) && self.resend_commit(now_ns, output)
        {
            return;
        }
        let Some(Operation::Commit {
            offsets, uncertain, ..
        }) = self.operation.take()
        else {
            unreachable!("matched above")
        };
        match response.result {
            Ok(()) => {
                self.note_committed(&offsets);
                output.push(self.event(EventKind::Ok, ClientOperation::Commit(offsets)));
            }
            Err(GroupError::RequestTimedOut) => {
                self.complete_unknown(now_ns, ClientOperation::Commit(offsets), output);
            }
            Err(error) if uncertain => {
                // A definite refusal of this attempt; an earlier one may still have landed.
                self.on_group_error(now_ns, &error, output);
                self.complete_unknown(now_ns, ClientOperation::Commit(offsets), output);
            }
            Err(error) => {
                output.push(self.event(EventKind::Fail, ClientOperation::Commit(offsets)));
                self.on_group_error(now_ns, &error, output);
            }
        }
    }

    /// The group's committed offsets now include `offsets` (of partitions still assigned).
    fn note_committed(&mut self, offsets: &[(String, u32, u64)]) {
        for (topic, partition, offset) in offsets {
            let key = (topic.clone(), *partition);
            if self.assignment.contains(&key) {
                self.committed.insert(key, *offset);
            }
        }
    }

    /// Completes a commit `info`. The history takes this process as crashed from then on
    /// (HISTORY.md), so the consumer carries on as a new process would, not with the crashed
    /// one's state: it leaves the group (as a closed consumer does), forgets its member id,
    /// partitions and positions, and subscribes again (recorded under its new process). It
    /// rejoins as a new member, and its partitions start from the group's committed offsets.
    fn complete_unknown(&mut self, now_ns: u64, commit: ClientOperation, output: &mut Vec<Output>) {
        output.push(self.event(EventKind::Info, commit));
        self.leave_group(output);
        self.member_id = None;
        self.lose_partitions();
        self.pending_install = None;
        self.commit_queue.clear();
        self.loss_unrecorded = false;
        self.heartbeat = None;
        self.membership = Membership::Idle;
        self.committed_before_rejoin = false;
        self.revoke_committed = false;
        self.subscribed = false;
        self.refresh_metadata(now_ns, output);
    }

    /// After an answer with an unknown outcome (REQUEST_TIMED_OUT: the coordinator's append may
    /// or may not have landed), sends the same commit again under a fresh id, as Kafka's
    /// `commitSync` retries: committing the same offsets twice is harmless. Returns false (and
    /// sends nothing) once the operation's deadline passed.
    fn resend_commit(&mut self, now_ns: u64, output: &mut Vec<Output>) -> bool {
        let request_id = self.request_ids.next_id();
        let Some(Operation::Commit {
            request,
            coordinator,
            deadline_ns,
            uncertain,
            ..
        }) = &mut self.operation
        else {
            unreachable!("a commit is open")
        };
        if *deadline_ns <= now_ns {
            return false;
        }
        *uncertain = true;
        request.request_id = request_id;
        output.push(Output::Send {
            to: *coordinator,
            message: Message::OffsetCommit(request.clone()),
        });
        true
    }

    /// The committed positions of `offsets`, with the leader epoch of the record before each.
    fn with_epochs(&self, offsets: &[(String, u32, u64)]) -> Vec<(String, u32, CommittedOffset)> {
        offsets
            .iter()
            .map(|(topic, partition, offset)| {
                let leader_epoch = self
                    .position_epochs
                    .get(&(topic.clone(), *partition))
                    .copied();
                let committed = CommittedOffset {
                    offset: *offset,
                    leader_epoch,
                };
                (topic.clone(), *partition, committed)
            })
            .collect()
    }

    // ------------------------------------------------------------------ transactional commits

    /// The transaction coordinator as the metadata names it (the leader of the transactional
    /// id's partition of the transaction state topic).
    fn transaction_coordinator(&self) -> Option<u32> {
        let identity = self.identity.as_ref()?;
        let partition = identity.transactional()?.state_partition;
        let (leader, _) = self.metadata.leader(TRANSACTION_STATE_TOPIC, partition)?;
        Some(leader)
    }

    fn forget_transaction_coordinator(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        if let Some(partition) = self
            .identity
            .as_ref()
            .and_then(|identity| identity.transactional())
            .map(|transactional| transactional.state_partition)
        {
            self.metadata.invalidate(TRANSACTION_STATE_TOPIC, partition);
        }
        self.refresh_metadata(now_ns, output);
    }

    /// Invokes a transactional commit of `offsets`, once the producer id and epoch are known
    /// (asked for meanwhile: the commit waits, as a commit waits for its coordinator).
    fn start_txn_commit(
        &mut self,
        now_ns: u64,
        (member_id, generation): (u64, u64),
        offsets: Vec<(String, u32, u64)>,
        output: &mut Vec<Output>,
    ) {
        let identity = self.identity.as_ref().expect("transactional");
        let Some((producer_id, epoch)) = identity.known() else {
            return; // drive_transaction asks for the id.
        };
        let transactional_id = identity.transactional().expect("transactional").id.clone();
        self.last_commit_ns = now_ns;
        let (outputs, sent) = self.outputs_of(&offsets);
        output.push(self.event(
            EventKind::Invoke,
            ClientOperation::TxnCommit {
                sent: sent.clone(),
                offsets: offsets.clone(),
            },
        ));
        let committer = Committer {
            transactional_id,
            producer_id,
            epoch,
            group: self.config.group.clone(),
            member_id,
            generation,
        };
        let with_epochs = self.with_epochs(&offsets);
        let abort_drawn = self.abort_next.take().unwrap_or(false);
        let transaction = OffsetsTransaction::new(
            committer,
            with_epochs,
            outputs,
            abort_drawn,
            now_ns,
            self.config.request_timeout_ns,
        );
        self.operation = Some(Operation::TxnCommit {
            transaction,
            offsets,
            sent,
        });
        self.drive_transaction(now_ns, output);
    }

    /// Asks for the producer id if it is wanted, and moves the open transactional commit on: its
    /// phase expires, or its next request goes out.
    fn drive_transaction(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let timeout_ns = self.config.request_timeout_ns;
        self.forget_unanswered(now_ns, timeout_ns, output);
        let transaction_coordinator = self.transaction_coordinator();
        let group_coordinator = self.coordinator();
        let Some(identity) = &mut self.identity else {
            return;
        };
        identity.request_if_due(
            now_ns,
            timeout_ns,
            transaction_coordinator,
            &mut self.request_ids,
            output,
        );
        if identity.transactional().is_some() && transaction_coordinator.is_none() {
            self.refresh_metadata(now_ns, output);
        }
        let Some(Operation::TxnCommit { transaction, .. }) = &mut self.operation else {
            return;
        };
        let reaction = transaction.expire(now_ns, timeout_ns);
        let coordinator = if transaction.asks_transaction_coordinator() {
            transaction_coordinator
        } else {
            group_coordinator
        };
        transaction.request_if_due(now_ns, coordinator, &mut self.request_ids, output);
        let metadata = &self.metadata;
        let leader_unknown = transaction.produce_if_due(
            now_ns,
            |topic, partition| metadata.leader(topic, partition).map(|(leader, _)| leader),
            &mut self.request_ids,
            output,
        );
        if leader_unknown {
            self.refresh_metadata(now_ns, output);
        }
        self.react(now_ns, reaction, output);
    }

    /// Forgets what the transactional commit asked and got no answer to within `timeout_ns`,
    /// and looks up again whom it asked (they may have moved or stopped): the producer id's
    /// request (its transaction coordinator), the output batches (their leaders). Each goes
    /// again once its addressee is known.
    fn forget_unanswered(&mut self, now_ns: u64, timeout_ns: u64, output: &mut Vec<Output>) {
        let id_unanswered = self
            .identity
            .as_mut()
            .is_some_and(|identity| identity.forget_unanswered(now_ns, timeout_ns));
        if id_unanswered {
            self.forget_transaction_coordinator(now_ns, output);
        }
        let Some(Operation::TxnCommit { transaction, .. }) = &mut self.operation else {
            return;
        };
        let batches = transaction.forget_unanswered_batches(now_ns, timeout_ns);
        if !batches.is_empty() {
            let topic = transaction.outputs().topic.clone();
            self.forget_leaders(now_ns, &topic, &batches, output);
        }
    }

    fn on_init_producer_id_response(
        &mut self,
        now_ns: u64,
        response: &InitTxnProducerIdResponse,
        output: &mut Vec<Output>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(identity) = &mut self.identity else {
            return;
        };
        if identity.on_transactional_response(now_ns, response, backoff_ns)
            == Some(TxnError::NotCoordinator)
        {
            self.forget_transaction_coordinator(now_ns, output);
        }
    }

    /// The transaction coordinator's answer to AddOffsetsToTxn or EndTxn.
    fn on_transaction_answer(
        &mut self,
        now_ns: u64,
        request_id: u64,
        result: Result<Option<(u64, u16)>, &TxnError>,
        output: &mut Vec<Output>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(Operation::TxnCommit { transaction, .. }) = &mut self.operation else {
            return;
        };
        let reaction = transaction.on_transaction_answer(request_id, result, now_ns, backoff_ns);
        self.react(now_ns, reaction, output);
    }

    /// A leader's answer to one of the commit's output batches.
    fn on_produce_response(
        &mut self,
        now_ns: u64,
        response: &ProduceResponse,
        output: &mut Vec<Output>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(Operation::TxnCommit { transaction, .. }) = &mut self.operation else {
            return;
        };
        let stale = transaction.on_produce_answer(response, now_ns, backoff_ns);
        if stale.is_empty() {
            return;
        }
        let topic = transaction.outputs().topic.clone();
        self.forget_leaders(now_ns, &topic, &stale, output);
    }

    /// Forgets the leaders of `partitions` of `topic` and asks for the metadata again.
    fn forget_leaders(
        &mut self,
        now_ns: u64,
        topic: &TopicName,
        partitions: &[u32],
        output: &mut Vec<Output>,
    ) {
        for partition in partitions {
            self.metadata.invalidate(topic, *partition);
        }
        self.refresh_metadata(now_ns, output);
    }

    fn on_txn_offset_commit_response(
        &mut self,
        now_ns: u64,
        response: &TxnOffsetCommitResponse,
        output: &mut Vec<Output>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(Operation::TxnCommit { transaction, .. }) = &mut self.operation else {
            return;
        };
        let result = response.result.as_ref().copied();
        let refusal =
            transaction.on_offsets_answer(response.request_id, result, now_ns, backoff_ns);
        match refusal {
            Some(GroupError::RequestTimedOut) | None => {}
            Some(error) => self.on_group_error(now_ns, &error, output),
        }
    }

    /// What the producer identity does after a transaction's answer.
    fn react(&mut self, now_ns: u64, reaction: Reaction, output: &mut Vec<Output>) {
        let Some(identity) = &mut self.identity else {
            return;
        };
        match reaction {
            Reaction::Nothing => {}
            Reaction::RefreshMetadata => self.forget_transaction_coordinator(now_ns, output),
            Reaction::Renew => identity.renew(now_ns),
            // Fenced by a newer instance of the id: ask again only after a session's time, as a
            // restarted application would (two live instances would fence each other in turn).
            Reaction::Fenced => identity.renew(now_ns + self.config.session_timeout_ns),
            Reaction::Adopt { producer_id, epoch } => identity.adopt(producer_id, epoch),
        }
    }

    /// Completes a decided transactional commit: `ok` with its offsets in effect, `fail`, or
    /// `info` (the consumer then starts over as a new process).
    fn complete_txn_commit(
        &mut self,
        now_ns: u64,
        completion: Completion,
        offsets: Vec<(String, u32, u64)>,
        sent: Vec<SentRecord>,
        output: &mut Vec<Output>,
    ) {
        match completion {
            Completion::Committed => {
                self.note_committed(&offsets);
                self.note_produced(&offsets);
                let commit = ClientOperation::TxnCommit { sent, offsets };
                output.push(self.event(EventKind::Ok, commit));
            }
            Completion::Aborted => {
                let commit = ClientOperation::TxnCommit { sent, offsets };
                output.push(self.event(EventKind::Fail, commit));
            }
            Completion::Unknown => {
                let commit = ClientOperation::TxnCommit { sent, offsets };
                self.complete_unknown(now_ns, commit, output);
            }
        }
    }

    // ------------------------------------------------------------------ the output

    /// Notes the records a poll returned as consumed and not yet produced (with an output).
    fn note_unproduced(&mut self, polled: &BTreeMap<TopicPartition, Vec<(u64, u64)>>) {
        if self.output().is_none() {
            return;
        }
        for (key, records) in polled {
            if records.is_empty() || !self.positions.contains_key(key) {
                continue;
            }
            let unproduced = self.unproduced.entry(key.clone()).or_default();
            let next = unproduced.last().map_or(0, |(offset, _)| offset + 1);
            unproduced.extend(records.iter().filter(|(offset, _)| *offset >= next));
        }
    }

    /// The records below the committed `offsets` are produced: forgets them.
    fn note_produced(&mut self, offsets: &[(String, u32, u64)]) {
        for (topic, partition, offset) in offsets {
            let key = (topic.clone(), *partition);
            if let Some(unproduced) = self.unproduced.get_mut(&key) {
                unproduced.retain(|(consumed, _)| consumed >= offset);
            }
        }
    }

    fn output(&self) -> Option<&TransformOutput> {
        self.config
            .transactional
            .as_ref()
            .and_then(|commits| commits.output.as_ref())
    }

    /// The output batches of a commit of `offsets` (one record, with a fresh value, for each
    /// record consumed below them and not yet produced), and the same records for the history.
    fn outputs_of(&mut self, offsets: &[(String, u32, u64)]) -> (Outputs, Vec<SentRecord>) {
        let Some(target) = self.output().cloned() else {
            return (Outputs::none(), Vec::new());
        };
        let topic = TopicName::from(&target.topic);
        let mut products: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for (input_topic, partition, offset) in offsets {
            let key = (input_topic.clone(), *partition);
            let consumed = self.unproduced.get(&key).map_or(0, |unproduced| {
                unproduced.iter().take_while(|(at, _)| at < offset).count()
            });
            let products = products.entry(partition % target.partitions).or_default();
            for _ in 0..consumed {
                let sequence = self.output_sequence_next;
                self.output_sequence_next += 1;
                let value = record_value(target.index, target.instance, sequence);
                products.push(Record { key: None, value });
            }
        }
        let identity = self.identity.as_mut().expect("transactional");
        let mut batches = Vec::new();
        let mut sent = Vec::new();
        let batch_records_max = usize::try_from(target.batch_records_max).unwrap_or(usize::MAX);
        for (partition, records) in products {
            sent.extend(records.iter().map(|record| SentRecord {
                topic: topic.clone(),
                partition,
                value: record.value,
                offset: None,
            }));
            for chunk in records.chunks(batch_records_max) {
                batches.push(OutputBatch {
                    partition,
                    producer: identity.stamp(partition, chunk.len()),
                    records: chunk.into(),
                    status: BatchStatus::Due { retry_at_ns: 0 },
                });
            }
        }
        (Outputs { topic, batches }, sent)
    }

    // ------------------------------------------------------------------ polls

    /// Completes the open operation if it is done (a poll) or timed out (a commit: `info`).
    fn complete_operation(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        match &self.operation {
            Some(Operation::Poll {
                in_flight,
                deadline_ns,
                ..
            }) if in_flight.is_empty() || *deadline_ns <= now_ns => {
                let Some(Operation::Poll { records, .. }) = self.operation.take() else {
                    unreachable!("matched above")
                };
                self.note_unproduced(&records);
                let polled = records
                    .into_iter()
                    .filter(|(_, records)| !records.is_empty())
                    .map(|((topic, partition), records)| PolledRecords {
                        topic: TopicName::from(topic),
                        partition,
                        records,
                    })
                    .collect();
                output.push(self.event(EventKind::Ok, ClientOperation::Poll(polled)));
            }
            Some(Operation::TxnCommit { transaction, .. })
                if matches!(transaction.phase(), Phase::Done(_)) =>
            {
                let Some(Operation::TxnCommit {
                    transaction,
                    offsets,
                    sent,
                }) = self.operation.take()
                else {
                    unreachable!("matched above")
                };
                let Phase::Done(completion) = transaction.phase() else {
                    unreachable!("matched above")
                };
                let sent = with_offsets(sent, &transaction);
                self.complete_txn_commit(now_ns, completion, offsets, sent, output);
            }
            Some(Operation::Commit { deadline_ns, .. }) if *deadline_ns <= now_ns => {
                let Some(Operation::Commit { offsets, .. }) = self.operation.take() else {
                    unreachable!("matched above")
                };
                self.forget_coordinator(now_ns, output);
                self.complete_unknown(now_ns, ClientOperation::Commit(offsets), output);
            }
            _ => {}
        }
    }

    /// Invokes a poll of every assigned partition with a position and a known leader.
    fn start_poll(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let timeout_ns = self.config.request_timeout_ns;
        for (topic, partition) in self.silent_leaders.take_silent(now_ns, timeout_ns) {
            self.metadata.invalidate(&topic, partition);
        }
        let ready: Vec<(TopicPartition, u32, u64, u64)> = self
            .positions
            .iter()
            .filter_map(|(key, position)| {
                let (leader, epoch) = self.metadata.leader(&key.0, key.1)?;
                Some((key.clone(), leader, epoch, *position))
            })
            .collect();
        if ready.len() < self.positions.len() {
            self.refresh_metadata(now_ns, output);
        }
        if ready.is_empty() {
            return;
        }
        output.push(self.event(EventKind::Invoke, ClientOperation::Poll(Vec::new())));
        let mut in_flight = BTreeMap::new();
        for (key, leader, epoch, position) in ready {
            let request_id = self.request_ids.next_id();
            let topic = TopicName::from(&key.0);
            self.silent_leaders.fetched(&(topic.clone(), key.1), now_ns);
            let request = FetchRequest {
                request_id,
                topic,
                partition: key.1,
                current_leader_epoch: Some(epoch),
                fetch_offset: position,
                records_max: self.config.fetch_records_max,
                isolation: self.config.isolation,
            };
            in_flight.insert(request_id, key);
            output.push(Output::Send {
                to: leader,
                message: Message::Fetch(request),
            });
        }
        self.operation = Some(Operation::Poll {
            in_flight,
            records: BTreeMap::new(),
            deadline_ns: now_ns + self.config.poll_timeout_ns,
        });
    }

    fn on_fetch_response(
        &mut self,
        now_ns: u64,
        response: FetchResponse,
        output: &mut Vec<Output>,
    ) {
        // Any answer shows the leader alive, one to an earlier poll too.
        self.silent_leaders
            .answered(&(response.topic.clone(), response.partition));
        let Some(Operation::Poll {
            in_flight, records, ..
        }) = &mut self.operation
        else {
            return;
        };
        let Some(key) = in_flight.remove(&response.request_id) else {
            return;
        };
        match response.result {
            Ok(data) => {
                let Some(position) = self.positions.get_mut(&key) else {
                    return; // Lost meanwhile.
                };
                let polled = records.entry(key.clone()).or_default();
                let mut delivered =
                    delivered_records(&data.batches, data.aborted.as_slice()).peekable();
                for batch in &data.batches {
                    let before = *position;
                    while let Some((offset, record)) =
                        delivered.next_if(|(offset, _)| *offset < batch.end_offset())
                    {
                        if offset == *position {
                            if let Some(record) = record {
                                polled.push((offset, record.value));
                            }
                            *position += 1;
                        }
                    }
                    if *position > before {
                        self.position_epochs.insert(key.clone(), batch.leader_epoch);
                    }
                    self.metadata
                        .note_leader_epoch(&key.0, key.1, batch.leader_epoch);
                }
            }
            Err(DataError::OffsetOutOfRange { .. }) => {
                self.unproduced.remove(&key);
                self.positions.remove(&key);
                self.position_epochs.remove(&key);
                self.reset_offset(now_ns, key, output);
            }
            Err(_) => {
                self.metadata.invalidate(&key.0, key.1);
                self.refresh_metadata(now_ns, output);
            }
        }
    }

    fn arm_timer(&self, now_ns: u64, output: &mut Vec<Output>) {
        let tick_ns = self
            .config
            .retry_backoff_ns
            .min(self.config.heartbeat_interval_ns);
        let mut deadline_ns = now_ns + tick_ns;
        if !self.subscribed && self.config.start_at_ns > now_ns {
            deadline_ns = self.config.start_at_ns;
        }
        match &self.operation {
            Some(Operation::Poll {
                deadline_ns: at, ..
            })
            | Some(Operation::Commit {
                deadline_ns: at, ..
            }) if *at > now_ns => {
                deadline_ns = deadline_ns.min(*at);
            }
            Some(_) => {}
            None => {}
        }
        if self.config.stop_at_ns > now_ns {
            deadline_ns = deadline_ns.min(self.config.stop_at_ns);
        }
        output.push(Output::SetTimer {
            timer: Timer::Client,
            deadline_ns: deadline_ns.max(now_ns + 1),
        });
    }
}

/// The output records with the offsets their batches were appended at, where known. `sent`
/// lists each partition's records in the order of its batches.
fn with_offsets(mut sent: Vec<SentRecord>, transaction: &OffsetsTransaction) -> Vec<SentRecord> {
    let mut records = sent.iter_mut();
    for batch in &transaction.outputs().batches {
        let base_offset = match batch.status {
            BatchStatus::Appended { base_offset } => Some(base_offset),
            _ => None,
        };
        let mine = records.by_ref().take(batch.records.len());
        for (index, record) in mine.enumerate() {
            debug_assert_eq!(record.partition, batch.partition);
            record.offset = base_offset.map(|base| base + index as u64);
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::metadata::testing::partition_led_by;
    use crate::message::FetchData;

    const COORDINATOR: u32 = 2;
    const DEADLINE_NS: u64 = 1_000;

    /// A member with a commit of `t/0` at offset 5 open, sent as request 7.
    fn committing() -> GroupConsumer {
        let config = GroupConsumerConfig::new(3, "g", vec!["t".to_owned()], 1);
        let mut consumer = GroupConsumer::new(config, 3);
        let committed = CommittedOffset {
            offset: 5,
            leader_epoch: Some(1),
        };
        consumer.operation = Some(Operation::Commit {
            request: OffsetCommitRequest {
                request_id: 7,
                group: "g".to_owned(),
                member_id: 1,
                generation: 1,
                offsets: vec![("t".to_owned(), 0, committed)],
            },
            coordinator: COORDINATOR,
            offsets: vec![("t".to_owned(), 0, 5)],
            deadline_ns: DEADLINE_NS,
            uncertain: false,
        });
        consumer
    }

    fn answer(
        consumer: &mut GroupConsumer,
        now_ns: u64,
        request_id: u64,
        result: Result<(), GroupError>,
    ) -> Vec<Output> {
        let response = OffsetCommitResponse {
            request_id,
            group: "g".to_owned(),
            result,
        };
        let mut output = Vec::new();
        consumer.on_commit_response(now_ns, response, &mut output);
        output
    }

    /// The commit requests in `output`.
    fn resent(output: &[Output]) -> Vec<&OffsetCommitRequest> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Send {
                    to: COORDINATOR,
                    message: Message::OffsetCommit(request),
                } => Some(request),
                _ => None,
            })
            .collect()
    }

    /// The kinds of the commit events in `output`.
    fn completions(output: &[Output]) -> Vec<EventKind> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Observe(Observation::Client(ClientReport::Event(event))) => {
                    Some(event.kind)
                }
                _ => None,
            })
            .collect()
    }

    /// A transactional worker writing to `out` (2 partitions, batches of at most 2 records),
    /// member 1 of generation 1, assigned `t/0` and `t/1` with committed offset 0, its producer
    /// id 7 at epoch 1 known.
    fn worker() -> GroupConsumer {
        let mut config = GroupConsumerConfig::new(3, "g", vec!["t".to_owned()], 1);
        config.commit_mode = CommitMode::Transactional;
        config.transactional = Some(TransactionalCommits {
            transactional_id: "g-c1".to_owned(),
            transaction_timeout_ns: 1_000,
            state_partitions: 1,
            abort_one_in: 0,
            output: Some(TransformOutput {
                topic: "out".to_owned(),
                partitions: 2,
                index: TRANSFORM_INDEX_FIRST,
                instance: 0,
                batch_records_max: 2,
            }),
        });
        let mut consumer = GroupConsumer::new(config, 3);
        let identity = consumer.identity.as_mut().expect("transactional");
        let mut ids = RequestIds::default();
        let mut output = Vec::new();
        identity.request_if_due(0, 10, Some(COORDINATOR), &mut ids, &mut output);
        let [Output::Send { message, .. }] = output.as_slice() else {
            panic!("asks for an id: {output:?}");
        };
        let response = InitTxnProducerIdResponse {
            request_id: message.request_id().expect("a request"),
            result: Ok((7, 1)),
        };
        identity.on_transactional_response(0, &response, 10);
        consumer.member_id = Some(1);
        consumer.generation = 1;
        for partition in [0, 1] {
            let key = ("t".to_owned(), partition);
            consumer.assignment.push(key.clone());
            consumer.positions.insert(key.clone(), 0);
            consumer.committed.insert(key, 0);
        }
        consumer
    }

    /// The output batches of the open transactional commit: (partition, values, first sequence).
    fn output_batches(consumer: &GroupConsumer) -> Vec<(u32, Vec<u64>, u32)> {
        let Some(Operation::TxnCommit { transaction, .. }) = &consumer.operation else {
            panic!("a transactional commit is open");
        };
        transaction
            .outputs()
            .batches
            .iter()
            .map(|batch| {
                let values = batch.records.iter().map(|record| record.value).collect();
                let sequence = batch.producer.0.expect("stamped").base_sequence;
                (batch.partition, values, sequence)
            })
            .collect()
    }

    /// A worker's commit writes one new record for each record consumed below the offsets it
    /// commits, in batches of at most `batch_records_max` numbered in sequence; once committed,
    /// those records are produced, and the next commit writes only what was consumed since.
    #[test]
    fn a_worker_commit_writes_one_record_per_consumed_record_in_numbered_batches() {
        let mut consumer = worker();
        let polled = BTreeMap::from([
            (("t".to_owned(), 0), vec![(0, 100), (1, 101), (2, 102)]),
            (("t".to_owned(), 1), vec![(0, 200)]),
        ]);
        consumer.note_unproduced(&polled);
        consumer.note_unproduced(&polled); // A poll returning them again adds nothing.
        let offsets = vec![("t".to_owned(), 0, 2), ("t".to_owned(), 1, 1)];
        let mut output = Vec::new();
        consumer.start_txn_commit(0, (1, 1), offsets.clone(), &mut output);
        let value = |sequence| record_value(TRANSFORM_INDEX_FIRST, 0, sequence);
        assert_eq!(
            output_batches(&consumer),
            vec![(0, vec![value(0), value(1)], 0), (1, vec![value(2)], 0)],
            "offsets 0 and 1 of t/0 to out/0, offset 0 of t/1 to out/1; t/0's 2 not yet"
        );
        let Some(Operation::TxnCommit {
            transaction, sent, ..
        }) = consumer.operation.take()
        else {
            panic!("open");
        };
        let sent_values: Vec<(u32, u64)> = sent.iter().map(|r| (r.partition, r.value)).collect();
        assert_eq!(
            sent_values,
            vec![(0, value(0)), (0, value(1)), (1, value(2))]
        );
        assert!(
            with_offsets(sent, &transaction)
                .iter()
                .all(|r| r.offset.is_none())
        );
        consumer.note_produced(&offsets);
        let left: Vec<_> = consumer.unproduced.values().cloned().collect();
        assert_eq!(left, vec![vec![(2, 102)], vec![]]);

        let offsets = vec![("t".to_owned(), 0, 3)];
        consumer.start_txn_commit(1, (1, 1), offsets, &mut output);
        assert_eq!(
            output_batches(&consumer),
            vec![(0, vec![value(3)], 2)],
            "the same epoch numbers on from the last batch"
        );
    }

    /// A partition's records consumed but not produced are dropped when its position is set
    /// again (they will be consumed again) or it is lost.
    #[test]
    fn a_partition_lost_or_repositioned_forgets_its_unproduced_records() {
        let mut consumer = worker();
        let polled = BTreeMap::from([
            (("t".to_owned(), 0), vec![(0, 100)]),
            (("t".to_owned(), 1), vec![(0, 200)]),
        ]);
        consumer.note_unproduced(&polled);
        let response = ListOffsetsResponse {
            request_id: 9,
            topic: TopicName::from("t"),
            partition: 0,
            result: Ok(0),
        };
        consumer
            .initializing
            .insert(9, (vec![("t".to_owned(), 0)], 0));
        consumer.on_list_offsets_response(0, response, &mut Vec::new());
        assert_eq!(
            consumer.unproduced.keys().collect::<Vec<_>>(),
            vec![&("t".to_owned(), 1)]
        );
        consumer.lose_partitions();
        assert!(consumer.unproduced.is_empty());
    }

    /// A member waiting to rejoin (a rebalance began; a cooperative member keeps its partitions
    /// meanwhile) that learns it was fenced loses its partitions: rejoining, it must not claim
    /// them, nor consume them from its old positions (found by a generated campaign: the
    /// member's commit moved the group's offset back).
    #[test]
    fn a_member_fenced_while_waiting_to_rejoin_loses_its_partitions() {
        for fence in [GroupError::UnknownMemberId, GroupError::IllegalGeneration] {
            let mut consumer = committing();
            let key = ("t".to_owned(), 0);
            consumer.member_id = Some(1);
            consumer.generation = 1;
            consumer.assignment = vec![key.clone()];
            consumer.positions.insert(key.clone(), 5);
            consumer.membership = Membership::Rejoin;
            let output = answer(&mut consumer, 10, 7, Err(fence.clone()));
            assert_eq!(completions(&output), [EventKind::Fail], "{fence:?}");
            assert!(
                consumer.assignment.is_empty() && consumer.positions.is_empty(),
                "{fence:?}: the partitions are lost"
            );
            assert!(consumer.loss_unrecorded, "the history learns of the loss");
            assert_eq!(consumer.membership, Membership::Rejoin);
        }
    }

    #[test]
    fn a_commit_with_an_unknown_outcome_is_sent_again_and_completes_with_the_retry() {
        let mut consumer = committing();
        let output = answer(&mut consumer, 10, 7, Err(GroupError::RequestTimedOut));
        assert!(completions(&output).is_empty(), "still open");
        let [request] = resent(&output)[..] else {
            panic!("one commit sent again: {output:?}");
        };
        assert_ne!(request.request_id, 7, "under a fresh id");
        assert_eq!(
            (request.generation, request.offsets[0].2.offset),
            (1, 5),
            "the same commit"
        );
        let retry_id = request.request_id;
        assert!(
            answer(&mut consumer, 11, 7, Ok(())).is_empty(),
            "a stale id"
        );
        let output = answer(&mut consumer, 12, retry_id, Ok(()));
        assert_eq!(completions(&output), [EventKind::Ok]);
        assert!(consumer.operation.is_none());
    }

    #[test]
    fn a_refusal_is_a_failure_unless_an_earlier_attempt_may_have_landed() {
        let mut consumer = committing();
        let output = answer(
            &mut consumer,
            10,
            7,
            Err(GroupError::CoordinatorNotAvailable),
        );
        assert_eq!(completions(&output), [EventKind::Fail]);

        let mut consumer = committing();
        let output = answer(&mut consumer, 10, 7, Err(GroupError::RequestTimedOut));
        let retry_id = resent(&output)[0].request_id;
        let output = answer(
            &mut consumer,
            11,
            retry_id,
            Err(GroupError::CoordinatorNotAvailable),
        );
        assert_eq!(completions(&output), [EventKind::Info]);
    }

    #[test]
    fn an_unknown_outcome_past_the_deadline_completes_info_and_the_consumer_starts_over() {
        let mut consumer = committing();
        consumer.member_id = Some(1);
        consumer.assignment = vec![("t".to_owned(), 0)];
        consumer.positions.insert(("t".to_owned(), 0), 5);
        let output = answer(
            &mut consumer,
            DEADLINE_NS,
            7,
            Err(GroupError::RequestTimedOut),
        );
        assert!(resent(&output).is_empty());
        assert_eq!(completions(&output), [EventKind::Info]);
        assert_eq!(consumer.member_id, None, "a new member");
        assert!(consumer.assignment.is_empty() && consumer.positions.is_empty());

        // The new process subscribes again (its history starts over), then rejoins.
        let mut output = Vec::new();
        consumer.advance(DEADLINE_NS + 1, &mut output);
        assert_eq!(completions(&output), [EventKind::Invoke, EventKind::Ok]);
        assert!(matches!(
            &output[..2],
            [
                Output::Observe(Observation::Client(ClientReport::Event(ClientEvent {
                    operation: ClientOperation::Subscribe(_),
                    ..
                }))),
                ..
            ]
        ));
    }

    /// A member with a position in `t/0`, whose metadata names broker 2 its leader.
    fn polling() -> GroupConsumer {
        let config = GroupConsumerConfig::new(3, "g", vec!["t".to_owned()], 1);
        let mut consumer = GroupConsumer::new(config, 3);
        consumer
            .metadata
            .on_response(&partition_led_by(0, 1, "t", Some(2), 1));
        consumer.positions.insert(("t".to_owned(), 0), 0);
        consumer
    }

    /// Starts a poll at `now_ns` (the one before it ended); returns the brokers fetched from
    /// and whether the member asked for metadata.
    fn poll_at(consumer: &mut GroupConsumer, now_ns: u64) -> (Vec<u32>, bool) {
        consumer.operation = None;
        let mut output = Vec::new();
        consumer.start_poll(now_ns, &mut output);
        let mut fetched_from = Vec::new();
        let mut asks_metadata = false;
        for output in &output {
            match output {
                Output::Send {
                    to,
                    message: Message::Fetch(_),
                } => fetched_from.push(*to),
                Output::Send {
                    message: Message::MetadataRequest { .. },
                    ..
                } => asks_metadata = true,
                _ => {}
            }
        }
        (fetched_from, asks_metadata)
    }

    /// The request id of the open poll's one fetch.
    fn open_fetch(consumer: &GroupConsumer) -> u64 {
        let Some(Operation::Poll { in_flight, .. }) = &consumer.operation else {
            panic!("a poll is open");
        };
        let [request_id] = in_flight.keys().copied().collect::<Vec<_>>()[..] else {
            panic!("one fetch: {in_flight:?}");
        };
        request_id
    }

    /// Answers fetch `request_id` of `t/0` at `now_ns`, with nothing new.
    fn answer_fetch(consumer: &mut GroupConsumer, request_id: u64, now_ns: u64) {
        let data = FetchData {
            leader_epoch: 1,
            high_watermark: 0,
            log_start_offset: 0,
            log_end_offset: 0,
            batches: Vec::new(),
            aborted: Default::default(),
        };
        let response = FetchResponse {
            request_id,
            topic: TopicName::from("t"),
            partition: 0,
            result: Ok(data),
        };
        consumer.on_fetch_response(now_ns, response, &mut Vec::new());
    }

    /// A member whose partition's leader leaves its fetches unanswered for the request timeout
    /// looks the leader up before it fetches that partition again. Any answer restarts the wait,
    /// one that comes after its poll ended too (the leader is alive, only slow).
    #[test]
    fn a_member_whose_leader_stays_silent_looks_it_up_before_fetching_again() {
        let mut consumer = polling();
        let timeout_ns = consumer.config.request_timeout_ns;
        assert_eq!(poll_at(&mut consumer, 0), (vec![2], false));
        let answered = open_fetch(&consumer);
        answer_fetch(&mut consumer, answered, 10);
        assert_eq!(poll_at(&mut consumer, 20), (vec![2], false));
        let late = open_fetch(&consumer);
        assert_eq!(poll_at(&mut consumer, 30), (vec![2], false));
        answer_fetch(&mut consumer, late, 40);
        assert_eq!(poll_at(&mut consumer, 50), (vec![2], false));
        assert_eq!(
            poll_at(&mut consumer, 49 + timeout_ns),
            (vec![2], false),
            "silent since 50 only: the late answer counts"
        );
        assert_eq!(poll_at(&mut consumer, 50 + timeout_ns), (vec![], true));
    }
}
