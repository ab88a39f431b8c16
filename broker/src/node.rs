//! The node: one broker of the cluster (and, for ids below `controllers`, a controller voter), as a
//! value with a step function.
//!
//! [`Node::step`] turns one [`Input`] at the node's local time into [`Output`]s: messages to send,
//! timers to set, disk writes and syncs, observations. It never reads a clock, draws randomness of
//! its own, or blocks. The handlers live in the modules of their concern as further `impl Node`
//! blocks: [`crate::raft`] (election, replication), [`crate::controller`] (the active controller's
//! request handling), [`crate::broker`] (registration, heartbeats, ISR maintenance, metadata
//! answers), [`crate::replica`] (the data plane), `crate::group::coordinator` (group coordinators
//! of the offsets partitions this broker leads, reconciled after every step),
//! `crate::txn::coordinator` (transaction coordinators of the transaction state partitions it
//! leads, likewise; their timers run on the data-plane tick).
//!
//! Invariants checked by [`Node::check_invariants`]: commit index <= last log index; the applied
//! metadata index equals the commit index; a candidate or leader voted for itself in its term; a
//! leader's followers never match past its log; the active controller's proposed image is the
//! committed image plus exactly the uncommitted entries; the image invariants
//! ([`crate::metadata::image`]).

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng;
use rand::RngCore;

use crate::broker::BrokerSession;
use crate::config::ClusterConfig;
use crate::controller::ControllerState;
use crate::dedup::{RequestWindows, WindowLimits, initial_request_id};
use crate::disk::{DISK_RETRY_INTERVAL_NS, DiskTracker, SyncUrgency, Waiter};
use crate::group::coordinator::GroupCoordinators;
use crate::message::Message;
use crate::metadata::image::MetadataImage;
use crate::perturb::{Perturbations, Site};
use crate::raft::{RaftState, Role};
use crate::replica::Replicas;
use crate::storage::{Storage, StorageWrite};
use crate::txn::coordinator::TransactionCoordinators;

/// Timers of a node. Setting a timer again replaces its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// A voter that has not heard from a leader starts a pre-vote.
    Election,
    /// A leader sends AppendEntries, checks its quorum, and runs the controller's periodic work.
    RaftHeartbeat,
    /// A broker heartbeats to the active controller (or registers) and maintains its ISRs.
    BrokerHeartbeat,
    /// A client's retry or script timer.
    Client,
    /// A node rewrites its state some time after a disk fault.
    DiskRetry,
    /// The data-plane tick: parked fetches expire, ISRs shrink, requests are retried; transaction
    /// coordinators resend markers and abort transactions past their timeout.
    Replica,
}

impl Timer {
    /// The key the driver stores the timer under.
    pub fn key(self) -> u64 {
        match self {
            Timer::Election => 1,
            Timer::RaftHeartbeat => 2,
            Timer::BrokerHeartbeat => 3,
            Timer::Client => 4,
            Timer::DiskRetry => 5,
            Timer::Replica => 6,
        }
    }

    /// The timer stored under `key`.
    pub fn from_key(key: u64) -> Option<Timer> {
        match key {
            1 => Some(Timer::Election),
            2 => Some(Timer::RaftHeartbeat),
            3 => Some(Timer::BrokerHeartbeat),
            4 => Some(Timer::Client),
            5 => Some(Timer::DiskRetry),
            6 => Some(Timer::Replica),
            _ => None,
        }
    }
}

/// What happens to a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// First input after the node was built (boot or restart).
    Start,
    Message {
        from: u32,
        message: Message,
    },
    TimerFired(Timer),
    /// A write was not applied; later writes may or may not have been.
    DiskWriteFailed {
        tag: u64,
    },
    /// A sync completed; on failure the writes it covered may be lost.
    DiskSyncDone {
        tag: u64,
        succeeded: bool,
    },
}

/// What a node asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    Send {
        to: u32,
        message: Message,
    },
    SetTimer {
        timer: Timer,
        deadline_ns: u64,
    },
    CancelTimer {
        timer: Timer,
    },
    /// Put a write in the page cache: pending until a later sync succeeds.
    DiskWrite {
        tag: u64,
        write: StorageWrite,
    },
    /// Make every write issued so far durable; answered by [`Input::DiskSyncDone`].
    DiskSync {
        tag: u64,
    },
    Observe(Observation),
}

/// Why a leader stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResignReason {
    /// It saw a higher term.
    HigherTerm,
    /// It had not heard from a majority for an election timeout.
    CheckQuorum,
}

/// Events worth counting, reported to the driver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Observation {
    /// This voter started an election (after a successful pre-vote) for `term`.
    ElectionStarted {
        term: u64,
    },
    /// This voter became the Raft leader of `term`.
    ControllerElected {
        term: u64,
    },
    /// This leader committed its first entry: it is now the active controller.
    ControllerActivated {
        term: u64,
    },
    ControllerResigned {
        term: u64,
        reason: ResignReason,
    },
    /// The active controller proposed a registration.
    BrokerRegistered {
        broker: u32,
        broker_epoch: u64,
    },
    /// The active controller proposed fencing a broker whose session expired.
    BrokerFenced {
        broker: u32,
        broker_epoch: u64,
    },
    /// The active controller proposed a new partition leader (or none).
    PartitionLeaderElected {
        topic: String,
        partition: u32,
        leader: Option<u32>,
        leader_epoch: u64,
    },
    /// The active controller proposed a new ISR.
    IsrChanged {
        topic: String,
        partition: u32,
        isr: Vec<u32>,
    },
    /// The active controller refused to append to a full metadata log.
    MetadataLogFull,
    /// A disk write or sync failed; the node will rewrite its whole state.
    DiskFault,
    /// An admin client's final answer to one command.
    AdminReply(Message),
    /// A replica started leading a partition in `leader_epoch`.
    ReplicaBecameLeader {
        topic: String,
        partition: u32,
        leader_epoch: u64,
    },
    /// A follower cut its log back (or reset it past its end): its log end offset went from
    /// `from_offset` to `to_offset`.
    Truncated {
        topic: String,
        partition: u32,
        from_offset: u64,
        to_offset: u64,
        cause: TruncationCause,
    },
    /// A leader asked the controller to shrink the ISR of a partition to `isr`.
    IsrShrinkRequested {
        topic: String,
        partition: u32,
        isr: Vec<u32>,
    },
    /// A leader asked the controller to expand the ISR of a partition to `isr`.
    IsrExpandRequested {
        topic: String,
        partition: u32,
        isr: Vec<u32>,
    },
    /// A leader's high watermark advanced.
    HighWatermarkAdvanced,
    /// A leader refused a request with a stale leader epoch (FENCED_LEADER_EPOCH).
    FencedRequest,
    /// A request this node had already handled arrived again (a network duplicate) and was
    /// dropped ([`crate::dedup`]).
    DuplicateRequestDropped,
    /// A leader found an idempotent producer's retried batch in its log and acknowledges it at
    /// the offsets of its first append instead of appending it again (KIP-98).
    ProduceDeduplicated,
    /// A client reports something it did (producers and consumers: history events, retries).
    Client(crate::client::ClientReport),
    /// A group coordinator completed a rebalance of `group`: `generation` has `members`.
    GroupRebalanced {
        group: String,
        generation: u64,
        members: usize,
    },
    /// A group coordinator refused a commit to `group` from a stale generation or an unknown
    /// member.
    CommitFenced {
        group: String,
        generation: u64,
    },
    /// A broker started coordinating the groups of an offsets partition (it replays the
    /// partition first).
    CoordinatorStarted {
        partition: u32,
    },
    /// A broker started coordinating the transactional ids of a transaction state partition (it
    /// replays the partition first).
    TransactionCoordinatorStarted {
        partition: u32,
    },
    /// A transaction coordinator answered a starting instance of a transactional id
    /// (InitProducerId) under a new epoch, which fences every older one. With `aborted_open`,
    /// the id had a transaction open: it is aborted under that epoch, and the instance must ask
    /// again once the abort is marked.
    ProducerEpochGranted {
        producer_id: u64,
        producer_epoch: u16,
        aborted_open: bool,
    },
    /// A transaction coordinator aborted a transaction open longer than its timeout, fencing
    /// the producer's epoch (`producer_epoch` is the bumped one).
    TransactionTimedOut {
        producer_id: u64,
        producer_epoch: u16,
    },
    /// A transaction coordinator decided a transaction's outcome at the producer's EndTxn
    /// (`producer_epoch` is the epoch it ran under), and gave the producer
    /// `next_producer_id` at `next_producer_epoch` for its next one: the next epoch (KIP-890
    /// part 2), or the same one under zoo 8's planted bug.
    TransactionEnded {
        producer_id: u64,
        producer_epoch: u16,
        outcome: crate::log::TransactionOutcome,
        next_producer_id: u64,
        next_producer_epoch: u16,
    },
    /// A transaction coordinator completed a transaction: every partition holds its marker.
    TransactionCompleted {
        producer_id: u64,
        producer_epoch: u16,
        outcome: crate::log::TransactionOutcome,
    },
    /// A perturbation site fired: the node took a legal but rare path on purpose.
    Perturbed(Site),
}

/// Why a follower cut its log back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TruncationCause {
    /// To its own high watermark on becoming a follower: the zoo 1 switch
    /// `truncate_to_high_watermark`, never the broker's own behaviour.
    HighWatermark,
    /// To the divergence point found from its leader's epoch end offsets (KIP-101, KIP-279).
    Divergence,
    /// Its fetch offset was out of range at the leader: cut to the leader's log end, or reset
    /// to the leader's log start.
    OutOfRange,
}

/// Per-step context: the local time, an election jitter, and the outputs.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) now_ns: u64,
    /// A draw in `0..=election_jitter_ns` no election timer has used yet; `None` once one
    /// has, and a fresh one is drawn at the start of the next step. Drawn ahead rather than on
    /// every step because most steps (every data-plane message) arm no election timer; each
    /// arming still gets an independent draw, made at the start of its step or earlier.
    pub(crate) jitter_ns: Option<u64>,
    /// The jitter of this step's election timer, taken from `jitter_ns` by the first arming.
    pub(crate) step_jitter_ns: Option<u64>,
    pub(crate) output: Vec<Output>,
    /// Messages a node sends to itself, handled within the same step.
    pub(crate) loopback: VecDeque<Message>,
}

/// Most messages a node may send to itself in one step, besides two per partition of the
/// cluster ([`Node::loopback_max`]).
const LOOPBACK_BASE_MAX: usize = 64;

/// A broker node; voters also run the controller quorum.
#[derive(Debug)]
pub struct Node {
    pub(crate) config: Arc<ClusterConfig>,
    pub(crate) id: u32,
    pub(crate) raft: RaftState,
    /// Committed metadata, applied in log order.
    pub(crate) image: MetadataImage,
    /// Present while this node is the active controller.
    pub(crate) controller: Option<ControllerState>,
    pub(crate) broker: BrokerSession,
    pub(crate) disk: DiskTracker,
    pub(crate) effects: Effects,
    /// Partition replicas (the data plane).
    pub(crate) replicas: Replicas,
    /// Group coordinators of the offsets partitions this broker leads.
    pub(crate) groups: GroupCoordinators,
    /// Transaction coordinators of the transaction state partitions this broker leads.
    pub(crate) transactions: TransactionCoordinators,
    /// The metadata images [`Node::check_invariants`] checked last, by what identifies them: the
    /// committed image's applied index, and the active controller's term and proposed index. An
    /// image changes only by applying the next record (and a leader's log only grows within its
    /// term), so an image checked at the same indexes is the same image: it is not walked again.
    images_checked: Cell<Option<ImagesChecked>>,
    /// The requests handled lately, per sender: duplicates are dropped.
    pub(crate) requests_seen: RequestWindows,
    /// Which legal but rare paths this incarnation takes ([`crate::perturb`]).
    pub(crate) perturbations: Perturbations,
}

/// The indexes that identify the images a node checked (see `Node::images_checked`).
type ImagesChecked = (u64, Option<(u64, u64)>);

impl Node {
    /// Builds node `id` from its durable storage only (empty storage at first boot).
    ///
    /// Panics if `config` does not validate or `id` is not a broker of it: both are bugs of the
    /// driver, which must validate configs when it builds them.
    pub fn new(config: Arc<ClusterConfig>, id: u32, storage: &Storage) -> Node {
        if let Err(error) = config.validate() {
            panic!("Node::new with an invalid config: {error}");
        }
        assert!(
            id < config.brokers,
            "node {id} is not a broker of a {}-broker cluster",
            config.brokers
        );
        Node {
            raft: RaftState::recover(storage),
            config,
            id,
            image: MetadataImage::default(),
            controller: None,
            broker: BrokerSession::default(),
            disk: DiskTracker::default(),
            effects: Effects::default(),
            replicas: Replicas {
                recovered: storage.logs.clone(),
                ..Replicas::default()
            },
            groups: GroupCoordinators::default(),
            transactions: TransactionCoordinators::default(),
            images_checked: Cell::new(None),
            requests_seen: RequestWindows::default(),
            perturbations: Perturbations::default(),
        }
    }

    /// Handles one input at local time `now_ns`, appending the node's requests to `output`.
    pub fn step<R: RngCore + ?Sized>(
        &mut self,
        now_ns: u64,
        input: Input,
        rng: &mut R,
        output: &mut Vec<Output>,
    ) {
        self.effects.now_ns = now_ns;
        self.effects.step_jitter_ns = None;
        if self.effects.jitter_ns.is_none() {
            let jitter_ns = rng.random_range(0..=self.config.timing.election_jitter_ns);
            self.effects.jitter_ns = Some(jitter_ns);
        }
        std::mem::swap(&mut self.effects.output, output);
        match input {
            Input::Start => {
                self.on_start(rng.next_u64());
                if self.config.perturbations {
                    self.perturbations.start(rng.next_u64());
                }
            }
            Input::Message { from, message } => {
                if self.admit(from, &message) {
                    self.on_message(from, message);
                }
            }
            Input::TimerFired(timer) => self.on_timer(timer),
            Input::DiskSyncDone {
                tag,
                succeeded: true,
            } => self.on_sync_succeeded(tag),
            Input::DiskWriteFailed { .. }
            | Input::DiskSyncDone {
                succeeded: false, ..
            } => self.on_disk_fault(),
        }
        self.drain_loopback();
        self.replicate_new_entries();
        self.reconcile_replicas();
        self.drain_loopback();
        self.reconcile_coordinators();
        self.reconcile_transaction_coordinators();
        self.drain_loopback();
        self.send_wanted_replica_fetches();
        self.disk.issue_reserved_sync(&mut self.effects.output);
        if self.perturbations.any_fired() {
            for site in self.perturbations.take_fired() {
                let observation = Observation::Perturbed(site);
                self.effects.output.push(Output::Observe(observation));
            }
        }
        std::mem::swap(&mut self.effects.output, output);
    }

    /// A fresh id for a request this node sends. Every kind of request shares this one
    /// sequence, which starts at a random point per incarnation ([`crate::dedup`]).
    pub(crate) fn next_request_id(&mut self) -> u64 {
        self.replicas.request_id_next += 1;
        self.replicas.request_id_next
    }

    fn on_start(&mut self, incarnation: u64) {
        self.broker.incarnation = incarnation;
        self.replicas.request_id_next = initial_request_id(incarnation);
        if self.is_voter() {
            self.reset_election_timer();
        }
        self.arm_broker_heartbeat();
        self.arm_replica_tick();
    }

    /// Whether a message from the network is handled: not a request already handled.
    fn admit(&mut self, from: u32, message: &Message) -> bool {
        let Some(request_id) = message.request_id() else {
            return true;
        };
        if self.config.bugs.handle_duplicate_requests {
            return true;
        }
        let limits = WindowLimits {
            request_window_max: self.config.limits.request_window_max,
            request_senders_max: self.config.limits.request_senders_max,
        };
        let admitted = self.requests_seen.admit(from, request_id, limits);
        if !admitted {
            self.observe(Observation::DuplicateRequestDropped);
        }
        admitted
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timeout(),
            Timer::RaftHeartbeat => self.on_raft_heartbeat_timer(),
            Timer::BrokerHeartbeat => self.on_broker_heartbeat_timer(),
            Timer::DiskRetry => self.on_disk_retry(),
            Timer::Replica => {
                self.on_replica_tick();
                self.on_transaction_tick();
            }
            Timer::Client => {} // Never armed by a node.
        }
    }

    pub(crate) fn on_message(&mut self, from: u32, message: Message) {
        match message {
            Message::PreVoteRequest {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => {
                self.on_pre_vote_request(from, term, candidate, last_log_index, last_log_term);
            }
            Message::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted)
            }
            Message::VoteRequest {
                term,
                candidate,
                last_log_index,
                last_log_term,
            } => {
                self.on_vote_request(from, term, candidate, last_log_index, last_log_term);
            }
            Message::VoteResponse { term, granted } => self.on_vote_response(from, term, granted),
            Message::AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                self.on_append_entries(
                    term,
                    leader,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                );
            }
            Message::AppendEntriesResponse {
                term,
                success,
                index,
            } => {
                self.on_append_entries_response(from, term, success, index);
            }
            Message::RegisterBroker {
                broker,
                incarnation,
            } => self.on_register_broker(from, broker, incarnation),
            Message::BrokerHeartbeat {
                broker,
                broker_epoch,
            } => self.on_broker_heartbeat(from, broker, broker_epoch),
            Message::RegisterBrokerResponse { broker_epoch } => {
                self.on_register_broker_response(broker_epoch)
            }
            Message::BrokerHeartbeatResponse { result } => {
                self.on_broker_heartbeat_response(result)
            }
            Message::AlterPartition(request) => self.on_alter_partition(from, request),
            Message::AlterPartitionResponse { .. } => {} // The outcome shows in the metadata log.
            Message::MetadataRequest { request_id } => self.on_metadata_request(from, request_id),
            Message::CreateTopic { request_id, topic } => {
                self.on_create_topic(from, request_id, topic)
            }
            Message::ElectPreferredLeaders {
                request_id,
                partitions,
            } => {
                self.on_elect_preferred_leaders(from, request_id, partitions);
            }
            Message::Produce(request) => self.on_produce(from, request),
            Message::WriteTxnMarkers(request) => self.on_write_txn_markers(from, request),
            Message::Fetch(request) => self.on_fetch(from, request),
            Message::ReplicaFetch(request) => self.on_replica_fetch(from, request),
            Message::ReplicaFetchResponse(response) => {
                self.on_replica_fetch_response(from, response)
            }
            Message::OffsetsForLeaderEpoch(request) => {
                self.on_offsets_for_leader_epoch(from, request)
            }
            Message::OffsetsForLeaderEpochResponse(response) => {
                self.on_offsets_for_leader_epoch_response(response)
            }
            Message::ListOffsets(request) => self.on_list_offsets(from, request),
            Message::InitProducerId(request) => self.on_init_producer_id(from, request),
            Message::ProduceResponse(response) if self.awaits_transition(&response) => {
                self.on_transition_appended(response)
            }
            Message::ProduceResponse(response) => self.on_commit_appended(response),
            Message::JoinGroup(request) => self.on_join_group(from, *request),
            Message::Heartbeat(request) => self.on_heartbeat(from, request),
            Message::LeaveGroup(request) => self.on_leave_group(request),
            Message::OffsetCommit(request) => self.on_offset_commit(from, request),
            Message::TxnOffsetCommit(request) => self.on_txn_offset_commit(from, *request),
            Message::OffsetFetch(request) => self.on_offset_fetch(from, request),
            Message::MetadataResponse(_)
            | Message::CreateTopicResponse { .. }
            | Message::ElectPreferredLeadersResponse { .. }
            | Message::FetchResponse(_)
            | Message::ListOffsetsResponse(_)
            | Message::InitProducerIdResponse(_)
            | Message::JoinGroupResponse(_)
            | Message::HeartbeatResponse(_)
            | Message::OffsetCommitResponse(_)
            | Message::TxnOffsetCommitResponse(_)
            | Message::OffsetFetchResponse(_) => {} // Meant for clients.
            Message::WriteTxnMarkersResponse(response) => self.on_markers_written(response),
            Message::InitTxnProducerId(request) => self.on_init_txn_producer_id(from, request),
            Message::AddPartitionsToTxn(request) => self.on_add_partitions_to_txn(from, request),
            Message::AddOffsetsToTxn(request) => self.on_add_offsets_to_txn(from, request),
            Message::EndTxn(request) => self.on_end_txn(from, request),
            Message::InitTxnProducerIdResponse(_)
            | Message::AddPartitionsToTxnResponse(_)
            | Message::AddOffsetsToTxnResponse(_)
            | Message::EndTxnResponse(_) => {} // Meant for clients.
        }
    }

    pub(crate) fn drain_loopback(&mut self) {
        let mut handled = 0;
        while let Some(message) = self.effects.loopback.pop_front() {
            handled += 1;
            if handled > LOOPBACK_BASE_MAX {
                let loopback_max = self.loopback_max();
                assert!(
                    handled <= loopback_max,
                    "node {}: loopback_max ({loopback_max}) exceeded: it keeps messaging itself \
                     (now {message:?})",
                    self.id
                );
            }
            self.on_message(self.id, message);
        }
    }

    /// Most messages the node may send to itself in one step: two per partition of the
    /// cluster, plus [`LOOPBACK_BASE_MAX`] for the rest, plus the transaction coordinators'
    /// bound (their writes and marker requests, [`Node::transaction_loopback_max`]). A leader that hosts the active
    /// controller may ask it to change the ISR of every partition it leads in one step (once a
    /// follower is fenced, say), and the controller answers each request in the same step, as
    /// soon as it has proposed the change or refused it. Beyond this bound the node is messaging
    /// itself in a loop: a bug.
    fn loopback_max(&self) -> usize {
        let partitions: usize = self
            .image
            .topics
            .values()
            .map(|topic| topic.partitions.len())
            .sum();
        2 * partitions + LOOPBACK_BASE_MAX + self.transaction_loopback_max()
    }

    fn on_sync_succeeded(&mut self, tag: u64) {
        self.disk.sync_succeeded(tag);
        while let Some(waiter) = self.disk.next_released(tag) {
            self.release(waiter);
        }
    }

    /// A write or sync failed: rewrite everything this node holds, then defer the waiters again.
    fn on_disk_fault(&mut self) {
        self.observe(Observation::DiskFault);
        if self.disk.fault() {
            self.set_timer(Timer::DiskRetry, DISK_RETRY_INTERVAL_NS);
        }
    }

    /// Rewrites everything this node holds after a disk fault, then defers the parked waiters.
    fn on_disk_retry(&mut self) {
        let Some(waiters) = self.disk.begin_rewrite() else {
            return;
        };
        let mut logs = self.replicas.recovered.clone();
        for (key, replica) in &self.replicas.partitions {
            logs.insert(key.clone(), replica.log.image().clone());
        }
        let write = StorageWrite::Rewrite {
            hard_state: self.raft.hard_state(),
            metadata_log: self.raft.log.entries().to_vec(),
            logs,
        };
        self.write(write);
        for waiter in waiters {
            self.when_durable(waiter);
        }
    }

    /// Runs `waiter` once every write issued so far is durable, syncing at the end of this step
    /// if needed (the metadata quorum's waiters: see [`crate::disk`]).
    pub(crate) fn when_durable(&mut self, waiter: Waiter) {
        if let Some(waiter) = self.disk.when_durable(waiter, SyncUrgency::Immediate) {
            self.release(waiter);
        }
    }

    /// [`Node::when_durable`] for partition data: shares the next sync, started once the one in
    /// flight completes (group commit, see [`crate::disk`]).
    pub(crate) fn when_durable_in_group(&mut self, waiter: Waiter) {
        let urgency = if self.perturbations.fires(Site::SyncWithoutGroupCommit) {
            SyncUrgency::Immediate
        } else {
            SyncUrgency::GroupCommit
        };
        if let Some(waiter) = self.disk.when_durable(waiter, urgency) {
            self.release(waiter);
        }
    }

    fn release(&mut self, waiter: Waiter) {
        match waiter {
            Waiter::Send { to, message } => self.send(to, message),
            Waiter::LeaderDurable { term, index } => self.on_leader_durable(term, index),
            Waiter::SelfVote { term } => self.on_self_vote_durable(term),
            Waiter::LogDurable {
                topic,
                partition,
                leader_epoch,
                end_offset,
            } => self.on_log_durable((topic, partition), leader_epoch, end_offset),
            Waiter::HardStateDurable(hard_state) => {
                assert!(
                    hard_state.term >= self.raft.hard_state_durable.term,
                    "durable terms never decrease"
                );
                self.raft.hard_state_durable = hard_state;
            }
        }
    }

    /// Writes the current term and vote, and tracks when they become durable.
    pub(crate) fn persist_hard_state(&mut self) {
        let hard_state = self.raft.hard_state();
        self.write(StorageWrite::HardState(hard_state));
        self.when_durable(Waiter::HardStateDurable(hard_state));
    }

    pub(crate) fn write(&mut self, write: StorageWrite) {
        self.disk.write(write, &mut self.effects.output);
    }

    pub(crate) fn send(&mut self, to: u32, message: Message) {
        if to == self.id {
            self.effects.loopback.push_back(message);
        } else {
            self.effects.output.push(Output::Send { to, message });
        }
    }

    pub(crate) fn set_timer(&mut self, timer: Timer, delay_ns: u64) {
        let deadline_ns = self.effects.now_ns.saturating_add(delay_ns);
        self.effects
            .output
            .push(Output::SetTimer { timer, deadline_ns });
    }

    pub(crate) fn cancel_timer(&mut self, timer: Timer) {
        self.effects.output.push(Output::CancelTimer { timer });
    }

    pub(crate) fn observe(&mut self, observation: Observation) {
        self.effects.output.push(Output::Observe(observation));
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.effects.now_ns
    }

    /// This node's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether this node is a controller voter.
    pub fn is_voter(&self) -> bool {
        self.config.is_voter(self.id)
    }

    /// The cluster configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The controller quorum's invariants: the Raft log, term, vote and role agree, and an
    /// active controller leads the quorum.
    fn check_quorum_invariants(&self) {
        let raft = &self.raft;
        let bugs_planted = self.config.bugs.grant_two_votes_per_term;
        assert!(
            raft.commit_index <= raft.log.last_index() || bugs_planted,
            "node {}: commit index {} past the last log index {}",
            self.id,
            raft.commit_index,
            raft.log.last_index()
        );
        assert!(raft.log.entries().len() as u64 <= self.config.limits.metadata_log_entries_max);
        assert!(
            raft.log.last_term() <= raft.term,
            "node {}: log term past the current term",
            self.id
        );
        assert!(
            raft.hard_state_durable.term <= raft.term,
            "node {}: durable term past the current term",
            self.id
        );
        if !bugs_planted {
            assert_eq!(
                self.image.applied_index, raft.commit_index,
                "node {}: applied != committed",
                self.id
            );
        }
        match &raft.role {
            Role::Candidate { .. } | Role::Leader(_) => {
                assert!(
                    raft.voted_for == Some(self.id) || bugs_planted,
                    "node {}: candidate or leader without self vote",
                    self.id
                );
                assert!(self.is_voter());
            }
            Role::PreCandidate { .. } => assert!(self.is_voter()),
            Role::Follower => assert!(
                self.controller.is_none(),
                "node {}: follower with a controller",
                self.id
            ),
        }
        if let Role::Leader(leader) = &raft.role {
            assert_eq!(raft.leader, Some(self.id));
            for (node, progress) in &leader.progress {
                assert!(
                    progress.match_index <= raft.log.last_index(),
                    "follower {node} matches past the leader's log"
                );
                assert!(progress.match_index < progress.next_index);
            }
            assert!(leader.durable_index <= raft.log.last_index());
        }
        if let Some(controller) = &self.controller {
            assert!(
                matches!(raft.role, Role::Leader(_)),
                "node {}: controller without leadership",
                self.id
            );
            assert_eq!(
                controller.proposed.applied_index,
                raft.log.last_index(),
                "proposed image lags the log"
            );
        }
    }

    /// Asserts the node-local invariants (see module docs). Panics with context on a violation.
    pub fn check_invariants(&self) {
        self.check_quorum_invariants();
        let images = (
            self.image.applied_index,
            self.controller
                .as_ref()
                .map(|controller| (self.raft.term, controller.proposed.applied_index)),
        );
        if self.images_checked.get() != Some(images) {
            if let Some(controller) = &self.controller {
                controller.proposed.check_invariants();
            }
            self.image.check_invariants();
            self.images_checked.set(Some(images));
        }
        self.check_coordinator_invariants();
        self.check_transaction_invariants();
        assert!(self.disk.waiting() <= crate::disk::WAITERS_MAX);
        for (key, replica) in &self.replicas.partitions {
            replica.check_invariants(self.id, key, self.config.limits.produce_in_flight_max);
            if replica.is_leader() {
                assert!(
                    self.broker.broker_epoch.is_some(),
                    "{key:?}: node {} leads without a broker epoch",
                    self.id
                );
            }
        }
        self.check_session_invariants();
        self.check_produce_invariants();
        assert!(
            !self.disk.sync_stranded(),
            "node {}: a sync reserved, none in flight, and none issued by the end of the step",
            self.id
        );
    }
}
