//! The leader side of a partition: produce, fetch serving, the high watermark, the ISR.
//!
//! - HW = the minimum log end offset over the ISR, the leader's own counted only once synced
//!   (under `every-batch`). Members of every ISR asked of the controller in the current partition
//!   epoch count too (the "maximal ISR" of KIP-497): any of those requests may still commit, and
//!   a replica must never join the ISR with less than the HW. They are kept on the replica, so a
//!   leader that goes offline and leads again in the same epoch still counts them. The HW never
//!   decreases within an epoch ([`crate::log::PartitionLog::advance_high_watermark`] asserts it).
//! - A follower's fetch offset is its acknowledgement: it syncs before it fetches.
//! - acks=all is answered once the HW passes the batch; if the ISR is then below
//!   `min.insync.replicas`, the answer is NOT_ENOUGH_REPLICAS_AFTER_APPEND (the outcome is unknown).
//! - KIP-320: a request with an older leader epoch is answered FENCED_LEADER_EPOCH, a newer one
//!   UNKNOWN_LEADER_EPOCH (zoo 3 switch: stale follower fetches are served).
//! - A follower leaves the ISR after `timing.replica_lag_time_max_ns` without catching up with the
//!   leader's LEO and joins once caught up (zoo 4b switch: joins at once). Joins are checked after
//!   every change to the partition, leaves by the periodic tick (Kafka's ISR expiration task).

use crate::BugsConfig;
use crate::disk::Waiter;
use crate::message::data::{AbortedTransactions, FetchData};
use crate::message::{
    AlterPartitionRequest, DataError, FetchRequest, FetchResponse, IsolationLevel,
    ListOffsetsRequest, ListOffsetsResponse, Message, OffsetSpec, OffsetsForLeaderEpochRequest,
    OffsetsForLeaderEpochResponse,
};
use crate::node::{Node, Observation};
use crate::perturb::Site;
use crate::replica::produce::produce_answerable;
use crate::replica::{FollowerProgress, LeaderState, ParkedFetch, Replica, ReplicaRole};
use crate::storage::{PartitionKey, StorageWrite};

/// What [`Node::on_leader_changed`] found to do at its one lookup. Answering produces and
/// completing fetches changes neither the HW nor what the ISR's settledness depends on (the
/// followers' progress, the clock, the controller), so both hold until the ISR step.
struct LeaderWork {
    /// The HW to advance to, if above the current one.
    high_watermark: Option<u64>,
    /// [`Node::isr_settled`]: no ISR change to request.
    isr_settled: bool,
}

impl Node {
    fn leader_hint(&self, key: &PartitionKey) -> Option<u32> {
        self.image
            .partition(&key.0, key.1)
            .and_then(|state| state.leader)
    }

    /// Ok if this broker leads `key` in `request_epoch` (when given), else the error.
    pub(crate) fn check_leader(
        &self,
        key: &PartitionKey,
        request_epoch: Option<u64>,
        serve_stale: bool,
    ) -> Result<(), DataError> {
        self.led_replica(key, request_epoch, serve_stale)
            .map(|_| ())
    }

    /// [`Node::check_leader`], returning the replica (one lookup for callers that read it).
    pub(crate) fn led_replica(
        &self,
        key: &PartitionKey,
        request_epoch: Option<u64>,
        serve_stale: bool,
    ) -> Result<&Replica, DataError> {
        let Some(replica) = self.replicas.partitions.get(key) else {
            if self.image.partition(&key.0, key.1).is_none() {
                return Err(DataError::UnknownTopicOrPartition);
            }
            return Err(DataError::NotLeader {
                leader_hint: self.leader_hint(key),
            });
        };
        match check_led(replica, request_epoch, serve_stale) {
            Ok(()) => Ok(replica),
            Err(Some(error)) => Err(error),
            Err(None) => Err(DataError::NotLeader {
                leader_hint: self.leader_hint(key),
            }),
        }
    }

    /// [`Node::check_leader`] for a request arriving now: a fenced epoch is observed.
    pub(crate) fn check_leader_noting_fences(
        &mut self,
        key: &PartitionKey,
        request_epoch: Option<u64>,
        serve_stale: bool,
    ) -> Result<(), DataError> {
        let checked = self.check_leader(key, request_epoch, serve_stale);
        if matches!(checked, Err(DataError::FencedLeaderEpoch { .. })) {
            self.observe(Observation::FencedRequest);
        }
        checked
    }

    /// Writes a change of `key`'s log. A high watermark checkpoint goes in the background: no
    /// acknowledgement waits for it (see [`crate::disk::DiskTracker::write_in_background`]).
    pub(crate) fn write_log(&mut self, key: &PartitionKey, write: crate::log::LogWrite) {
        let background = matches!(write, crate::log::LogWrite::CheckpointHighWatermark { .. });
        let write = StorageWrite::Log {
            topic: key.0.clone(),
            partition: key.1,
            write,
        };
        if background {
            self.disk
                .write_in_background(write, &mut self.effects.output);
        } else {
            self.write(write);
        }
    }

    /// Counts the leader's own copy up to `end_offset` once every write so far is synced.
    pub(crate) fn when_log_durable(
        &mut self,
        key: &PartitionKey,
        leader_epoch: u64,
        end_offset: u64,
    ) {
        self.when_durable_in_group(Waiter::LogDurable {
            topic: key.0.clone(),
            partition: key.1,
            leader_epoch,
            end_offset,
        });
    }

    pub(crate) fn on_log_durable(&mut self, key: PartitionKey, leader_epoch: u64, end_offset: u64) {
        let Some(replica) = self.replicas.partitions.get_mut(&key) else {
            return;
        };
        if replica.leader_epoch != leader_epoch {
            return;
        }
        let log_end_offset = replica.log.log_end_offset();
        if let Some(leader) = replica.leader_state() {
            // A truncation cannot happen while leading, so the synced prefix is still the log's.
            leader.durable_end_offset = leader
                .durable_end_offset
                .max(end_offset.min(log_end_offset));
            self.on_leader_changed(&key);
        }
    }

    /// After any change to a led partition: advance the HW, answer what can be answered, ask
    /// for ISR changes.
    pub(crate) fn on_leader_changed(&mut self, key: &PartitionKey) {
        let Some(work) = self.leader_work(key) else {
            return;
        };
        if let Some(high_watermark) = work.high_watermark {
            self.advance_high_watermark(key, high_watermark);
        }
        self.answer_pending_produces(key);
        self.complete_parked_fetches(key, false);
        if !work.isr_settled {
            self.request_isr_change(key);
        }
    }

    /// What [`Node::on_leader_changed`] has to do, `None` if nothing: a higher HW, a produce to
    /// answer, a parked fetch to complete or an ISR change to consider. One lookup and no writes:
    /// most fetches change nothing (the follower's LEO did not move), and then each of the four
    /// steps would return without effect.
    fn leader_work(&self, key: &PartitionKey) -> Option<LeaderWork> {
        let replica = self.replicas.partitions.get(key)?;
        let ReplicaRole::Leader(leader) = &replica.role else {
            return None;
        };
        let log = &replica.log;
        let high_watermark = log.high_watermark();
        let candidate = if self.config.bugs.high_watermark_at_leader_end {
            log.log_end_offset()
        } else {
            high_watermark_candidate(leader, &replica.isr_requested_members, self.id)
        };
        let pending = candidate > high_watermark
            || leader.pending.iter().any(|pending| {
                produce_answerable(pending, high_watermark, leader.durable_end_offset)
            })
            || leader.parked.iter().any(|fetch| {
                let reader = self.consumer_reader(fetch.request.isolation);
                parked_fetch_answerable(fetch, reader, replica, false, self.now_ns())
            })
            || self.isr_may_grow(replica, leader);
        pending.then(|| LeaderWork {
            high_watermark: (candidate > high_watermark).then_some(candidate),
            isr_settled: self.isr_settled(replica, leader),
        })
    }

    fn advance_high_watermark(&mut self, key: &PartitionKey, high_watermark: u64) {
        let replica = self.replicas.partitions.get_mut(key).expect("leads");
        replica.log.advance_high_watermark(high_watermark);
        self.observe(Observation::HighWatermarkAdvanced);
    }

    /// A consumer's fetch: answered at once if there is data below the HW (or an error), else
    /// parked until there is or its wait is over. Followers fetch in sessions
    /// ([`crate::replica::fetch_session`]).
    pub(crate) fn on_fetch(&mut self, from: u32, request: FetchRequest) {
        let key = (request.topic.clone(), request.partition);
        if let Err(error) =
            self.check_leader_noting_fences(&key, request.current_leader_epoch, false)
        {
            self.answer_fetch(from, &key, &request, Err(error));
            return;
        }
        let records_max = self.perturbed_records_max(request.records_max);
        let reader = self.consumer_reader(request.isolation);
        let served = self.serve_fetch(&key, reader, request.fetch_offset, records_max);
        match served {
            Ok(Some(data)) => self.answer_fetch(from, &key, &request, Ok(data)),
            Ok(None) => self.park_fetch(&key, from, request),
            Err(error) => self.answer_fetch(from, &key, &request, Err(error)),
        }
        self.on_leader_changed(&key);
    }

    fn answer_fetch(
        &mut self,
        to: u32,
        key: &PartitionKey,
        request: &FetchRequest,
        result: Result<FetchData, DataError>,
    ) {
        debug_assert_eq!(request.partition, key.1);
        let response = FetchResponse {
            request_id: request.request_id,
            topic: key.0.clone(),
            partition: key.1,
            result,
        };
        self.send(to, Message::FetchResponse(Box::new(response)));
    }

    /// `records_max`, or fewer when [`Site::FetchFewerRecords`] fires (at least 1; a read
    /// still returns the first batch whatever its size).
    pub(crate) fn perturbed_records_max(&mut self, records_max: u64) -> u64 {
        if !self.perturbations.fires(Site::FetchFewerRecords) {
            return records_max;
        }
        let half = records_max.div_ceil(2).max(1);
        1 + self.perturbations.choose(half as usize) as u64
    }

    /// [`read_fetch`] of `key`'s replica.
    pub(crate) fn serve_fetch(
        &self,
        key: &PartitionKey,
        reader: Reader,
        fetch_offset: u64,
        records_max: u64,
    ) -> Result<Option<FetchData>, DataError> {
        read_fetch(
            &self.replicas.partitions[key],
            reader,
            fetch_offset,
            records_max,
        )
    }

    fn park_fetch(&mut self, key: &PartitionKey, from: u32, request: FetchRequest) {
        let deadline_ns = self.now_ns() + self.config.timing.fetch_wait_max_ns;
        let parked_max = self.config.limits.parked_fetches_max as usize;
        let replica = self.replicas.partitions.get_mut(key).expect("checked");
        let leader = replica.leader_state().expect("checked");
        // A retried fetch replaces the parked one of the same sender.
        leader.parked.retain(|parked| parked.from != from);
        if leader.parked.len() >= parked_max || self.perturbations.fires(Site::FetchAnsweredEarly) {
            let data = fetch_data(replica, Vec::new());
            self.answer_fetch(from, key, &request, Ok(data));
            return;
        }
        leader.parked.push(ParkedFetch {
            from,
            request,
            deadline_ns,
        });
    }

    /// Answers the parked fetches that now have data, and with `expire` also those whose wait is
    /// over. A new HW alone completes no fetch, a follower's included: as in Kafka's delayed
    /// fetch, a follower learns the HW from the answer to its next fetch that returns (data, or
    /// the end of its wait).
    pub(crate) fn complete_parked_fetches(&mut self, key: &PartitionKey, expire: bool) {
        let now_ns = self.now_ns();
        let Some(replica) = self.replicas.partitions.get_mut(key) else {
            return;
        };
        let ReplicaRole::Leader(leader) = &replica.role else {
            return;
        };
        // The common case, without taking the list apart: nothing to answer yet.
        if !leader.parked.iter().any(|fetch| {
            let reader = consumer_reader(fetch.request.isolation, &self.config.bugs);
            parked_fetch_answerable(fetch, reader, replica, expire, now_ns)
        }) {
            return;
        }
        let leader = replica.leader_state().expect("matched above");
        let parked = std::mem::take(&mut leader.parked);
        let mut keep = Vec::new();
        for fetch in parked {
            let request = &fetch.request;
            let served = self.serve_fetch(
                key,
                self.consumer_reader(request.isolation),
                request.fetch_offset,
                request.records_max,
            );
            match served {
                Ok(Some(data)) => self.answer_fetch(fetch.from, key, &fetch.request, Ok(data)),
                Ok(None) if expire && fetch.deadline_ns <= now_ns => {
                    let data = fetch_data(&self.replicas.partitions[key], Vec::new());
                    self.answer_fetch(fetch.from, key, &fetch.request, Ok(data));
                }
                Ok(None) => keep.push(fetch),
                Err(error) => self.answer_fetch(fetch.from, key, &fetch.request, Err(error)),
            }
        }
        let replica = self.replicas.partitions.get_mut(key).expect("present");
        if let Some(leader) = replica.leader_state() {
            leader.parked = keep;
        }
    }

    /// Asks the controller to shrink or expand the ISR when the followers' progress calls for it.
    fn request_isr_change(&mut self, key: &PartitionKey) {
        let (Some(controller), Some(broker_epoch)) = (self.raft.leader, self.broker.broker_epoch)
        else {
            return;
        };
        if let Some(isr) = self.isr_to_request(key) {
            self.send_isr_request(key, controller, broker_epoch, isr);
        }
    }

    /// The ISR the followers' progress calls for, if it differs from the current one and was not
    /// asked for within the replica request timeout.
    fn isr_to_request(&self, key: &PartitionKey) -> Option<Vec<u32>> {
        let replica = self.replicas.partitions.get(key)?;
        let ReplicaRole::Leader(leader) = &replica.role else {
            return None;
        };
        // The common case, without building the ISR: every member stays and nobody joins.
        if self.isr_settled(replica, leader) {
            return None;
        }
        let log_end_offset = replica.log.log_end_offset();
        let mut isr: Vec<u32> = leader
            .isr
            .iter()
            .copied()
            .filter(|member| self.stays_in_sync(leader, *member))
            .collect();
        for (follower, progress) in leader.followers.iter() {
            if !isr.contains(follower) && self.joins_isr(*follower, progress, log_end_offset) {
                isr.push(*follower);
            }
        }
        if isr == leader.isr {
            return None;
        }
        let retry_ns = self.config.timing.replica_request_timeout_ns;
        if let Some((requested, at_ns)) = &leader.isr_requested
            && *requested == isr
            && at_ns + retry_ns > self.now_ns()
        {
            return None;
        }
        Some(isr)
    }

    /// Sends the controller an AlterPartition for `isr`, and notes it as requested: its members
    /// count towards the HW from now on (KIP-497's maximal ISR).
    fn send_isr_request(
        &mut self,
        key: &PartitionKey,
        controller: u32,
        broker_epoch: u64,
        isr: Vec<u32>,
    ) {
        let now_ns = self.now_ns();
        let replica = self
            .replicas
            .partitions
            .get_mut(key)
            .expect("led partition");
        let request = AlterPartitionRequest {
            broker: self.id,
            broker_epoch,
            topic: key.0.to_string(),
            partition: key.1,
            leader_epoch: replica.leader_epoch,
            partition_epoch: replica.partition_epoch,
            isr: isr.clone(),
        };
        for member in &isr {
            if let Err(position) = replica.isr_requested_members.binary_search(member) {
                replica.isr_requested_members.insert(position, *member);
            }
        }
        let leader = replica.leader_state().expect("leader");
        let (topic, partition, requested) = (key.0.to_string(), key.1, isr.clone());
        let observation = if isr.len() < leader.isr.len() {
            Observation::IsrShrinkRequested {
                topic,
                partition,
                isr: requested,
            }
        } else {
            Observation::IsrExpandRequested {
                topic,
                partition,
                isr: requested,
            }
        };
        leader.isr_requested = Some((isr, now_ns));
        self.observe(observation);
        self.send(controller, Message::AlterPartition(request));
    }

    /// Whether a follower outside the ISR qualifies to join it (and there is a controller and a
    /// broker epoch to ask with). Checked after every change, so that a follower joins as soon as
    /// it caught up, as Kafka's leader checks on each follower fetch; a member falling behind is
    /// a matter of time alone, found by the tick ([`Node::tick_leader`]).
    fn isr_may_grow(&self, replica: &Replica, leader: &LeaderState) -> bool {
        // The common case, without a look at any follower: the ISR holds every replica. It holds
        // the leader and no duplicate, and lies within the replicas (the metadata's invariants),
        // whose other members are exactly the followers.
        if leader.isr.len() == leader.followers.len() + 1 {
            debug_assert!(leader.followers.keys().all(|id| leader.isr.contains(id)));
            return false;
        }
        if self.raft.leader.is_none() || self.broker.broker_epoch.is_none() {
            return false;
        }
        let log_end_offset = replica.log.log_end_offset();
        leader.followers.iter().any(|(follower, progress)| {
            !leader.isr.contains(follower) && self.joins_isr(*follower, progress, log_end_offset)
        })
    }

    /// Whether the ISR needs no change request: there is no controller or broker epoch to ask
    /// with, or every member stays in sync and no follower qualifies to join.
    fn isr_settled(&self, replica: &Replica, leader: &LeaderState) -> bool {
        if self.raft.leader.is_none() || self.broker.broker_epoch.is_none() {
            return true;
        }
        leader
            .isr
            .iter()
            .all(|member| self.stays_in_sync(leader, *member))
            && !self.isr_may_grow(replica, leader)
    }

    /// Whether ISR `member` caught up with the leader within `replica_lag_time_max_ns` (the
    /// leader always does).
    fn stays_in_sync(&self, leader: &LeaderState, member: u32) -> bool {
        let lag_max_ns = self.config.timing.replica_lag_time_max_ns;
        member == self.id
            || leader.followers[&member].last_caught_up_ns + lag_max_ns > self.now_ns()
    }

    /// Whether `follower`, outside the ISR, qualifies to join it: caught up with the leader's
    /// `log_end_offset` lately (zoo 4b: at once), and an active broker.
    fn joins_isr(&self, follower: u32, progress: &FollowerProgress, log_end_offset: u64) -> bool {
        let lag_max_ns = self.config.timing.replica_lag_time_max_ns;
        let caught_up = progress
            .log_end_offset
            .is_some_and(|leo| leo >= log_end_offset)
            && progress.last_caught_up_ns + lag_max_ns > self.now_ns();
        (caught_up || self.config.bugs.readmit_stale_broker) && self.image.is_active(follower)
    }

    pub(crate) fn tick_leader(&mut self, key: &PartitionKey) {
        let leads = self
            .replicas
            .partitions
            .get(key)
            .is_some_and(Replica::is_leader);
        if !leads {
            return;
        }
        self.expire_pending_produces(key);
        self.complete_parked_fetches(key, true);
        self.perturb_follower_lag(key);
        self.request_isr_change(key);
    }

    /// [`Site::IsrShrunkEarly`]: an ISR follower behind the leader's log end is taken to have
    /// lagged past the lag limit, as under a shorter `replica.lag.time.max.ms`; the ISR request
    /// that follows removes it, and it rejoins once caught up. Drawn only when a follower is
    /// behind.
    fn perturb_follower_lag(&mut self, key: &PartitionKey) {
        if !self.perturbations.is_armed(Site::IsrShrunkEarly) {
            return;
        }
        let (id, now_ns) = (self.id, self.now_ns());
        let lag_max_ns = self.config.timing.replica_lag_time_max_ns;
        let Some(replica) = self.replicas.partitions.get_mut(key) else {
            return;
        };
        let log_end_offset = replica.log.log_end_offset();
        let Some(leader) = replica.leader_state() else {
            return;
        };
        let behind = leader.isr.iter().copied().find(|member| {
            *member != id
                && leader.followers[member]
                    .log_end_offset
                    .is_none_or(|offset| offset < log_end_offset)
        });
        let Some(behind) = behind else {
            return;
        };
        if !self.perturbations.fires(Site::IsrShrunkEarly) {
            return;
        }
        let progress = leader.followers.get_mut(&behind).expect("an ISR follower");
        progress.last_caught_up_ns = progress
            .last_caught_up_ns
            .min(now_ns.saturating_sub(lag_max_ns));
    }

    pub(crate) fn on_offsets_for_leader_epoch(
        &mut self,
        from: u32,
        request: OffsetsForLeaderEpochRequest,
    ) {
        let key = (request.topic.clone(), request.partition);
        let result = self
            .check_leader(&key, Some(request.current_leader_epoch), false)
            .map(|()| {
                let answer = self.replicas.partitions[&key]
                    .log
                    .end_offset_for_epoch(request.leader_epoch);
                (answer.leader_epoch, answer.end_offset)
            });
        let response = OffsetsForLeaderEpochResponse {
            request_id: request.request_id,
            topic: request.topic,
            partition: request.partition,
            result,
        };
        self.send(from, Message::OffsetsForLeaderEpochResponse(response));
    }

    pub(crate) fn on_list_offsets(&mut self, from: u32, request: ListOffsetsRequest) {
        let key = (request.topic.clone(), request.partition);
        let result = self.check_leader(&key, None, false).map(|()| {
            let log = &self.replicas.partitions[&key].log;
            match request.spec {
                OffsetSpec::Earliest => log.log_start_offset(),
                OffsetSpec::Latest => log.high_watermark(),
            }
        });
        let response = ListOffsetsResponse {
            request_id: request.request_id,
            topic: request.topic,
            partition: request.partition,
            result,
        };
        self.send(from, Message::ListOffsetsResponse(response));
    }
}

/// Who reads a partition: a follower reads up to the leader's LEO, a consumer up to the HW, or
/// under `read_committed` up to the last stable offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reader {
    Follower,
    Consumer(IsolationLevel),
    /// Zoo 10's planted bug: a `read_committed` consumer served up to the HW.
    StableAtHighWatermark,
}

/// The reader a consumer fetch of `isolation` is served as.
pub(crate) fn consumer_reader(isolation: IsolationLevel, bugs: &BugsConfig) -> Reader {
    match isolation {
        IsolationLevel::ReadCommitted if bugs.last_stable_offset_at_high_watermark => {
            Reader::StableAtHighWatermark
        }
        isolation => Reader::Consumer(isolation),
    }
}

impl Node {
    fn consumer_reader(&self, isolation: IsolationLevel) -> Reader {
        consumer_reader(isolation, &self.config.bugs)
    }
}

impl Reader {
    fn end_offset(self, log: &crate::log::PartitionLog) -> u64 {
        match self {
            Reader::Follower => log.log_end_offset(),
            Reader::Consumer(IsolationLevel::ReadUncommitted) | Reader::StableAtHighWatermark => {
                log.high_watermark()
            }
            Reader::Consumer(IsolationLevel::ReadCommitted) => log.last_stable_offset(),
        }
    }
}

/// Ok if `replica` leads in `request_epoch` (when given); else the error, `None` for
/// NOT_LEADER (whose leader hint the caller reads from the metadata).
fn check_led(
    replica: &Replica,
    request_epoch: Option<u64>,
    serve_stale: bool,
) -> Result<(), Option<DataError>> {
    if let Some(requested) = request_epoch {
        let current = replica.leader_epoch;
        if requested < current && !serve_stale {
            return Err(Some(DataError::FencedLeaderEpoch { requested, current }));
        }
        if requested > current {
            return Err(Some(DataError::UnknownLeaderEpoch { requested, current }));
        }
    }
    if !replica.is_leader() {
        return Err(None);
    }
    Ok(())
}

/// [`check_led`] for a request arriving now, on the replica found by the caller's one lookup;
/// `None` if the caller must answer with [`Node::check_leader_noting_fences`]'s error.
pub(crate) fn led_replica_mut(
    replica: Option<&mut Replica>,
    request_epoch: Option<u64>,
    serve_stale: bool,
) -> Option<&mut Replica> {
    let replica = replica?;
    check_led(replica, request_epoch, serve_stale).ok()?;
    Some(replica)
}

/// Notes a follower's LEO (its fetch offset) and when it last caught up, on a replica that
/// leads. Returns whether that may move the HW or the ISR: its LEO moved, or it is outside the
/// ISR (and may join it).
pub(crate) fn record_follower_fetch(
    replica: &mut Replica,
    follower: u32,
    fetch_offset: u64,
    now_ns: u64,
) -> bool {
    let log_end_offset = replica.log.log_end_offset();
    if fetch_offset > log_end_offset {
        return false; // Answered OFFSET_OUT_OF_RANGE; not a valid LEO of this log.
    }
    let leader = replica.leader_state().expect("checked");
    let in_sync = leader.isr.contains(&follower);
    let Some(progress) = leader.followers.get_mut(&follower) else {
        return false;
    };
    let moved = progress.log_end_offset != Some(fetch_offset);
    progress.log_end_offset = Some(fetch_offset);
    if fetch_offset >= log_end_offset {
        progress.last_caught_up_ns = now_ns;
    }
    moved || !in_sync
}

/// Whether a fetch by `reader` from `fetch_offset` has an answer now: data to return (see
/// `serve_fetch`) or an offset out of range.
pub(crate) fn fetch_answerable(replica: &Replica, reader: Reader, fetch_offset: u64) -> bool {
    let log = &replica.log;
    let log_end_offset = log.log_end_offset();
    fetch_offset < reader.end_offset(log).min(log_end_offset)
        || fetch_offset < log.log_start_offset()
        || fetch_offset > log_end_offset
}

/// Whether a parked consumer fetch can be answered now: it has an answer, or (with `expire`)
/// its wait is over.
fn parked_fetch_answerable(
    fetch: &ParkedFetch,
    reader: Reader,
    replica: &Replica,
    expire: bool,
    now_ns: u64,
) -> bool {
    fetch_answerable(replica, reader, fetch.request.fetch_offset)
        || (expire && fetch.deadline_ns <= now_ns)
}

/// The minimum LEO over the maximal ISR (the committed ISR plus every member asked for in this
/// partition epoch, `requested`), the leader's own counted as its synced end.
fn high_watermark_candidate(leader: &LeaderState, requested: &[u32], id: u32) -> u64 {
    leader
        .isr
        .iter()
        .chain(requested)
        .map(|member| {
            if *member == id {
                leader.durable_end_offset
            } else {
                leader
                    .followers
                    .get(member)
                    .and_then(|progress| progress.log_end_offset)
                    .unwrap_or(0)
            }
        })
        .min()
        .unwrap_or(0)
}

/// The data to return now to `reader` reading `replica` from `fetch_offset`, `None` if there is
/// nothing yet (park it): a follower reads up to the LEO, a consumer up to the HW.
pub(crate) fn read_fetch(
    replica: &Replica,
    reader: Reader,
    fetch_offset: u64,
    records_max: u64,
) -> Result<Option<FetchData>, DataError> {
    let log = &replica.log;
    let batches = log
        .read(fetch_offset, reader.end_offset(log), records_max.max(1))
        .map_err(|_| DataError::OffsetOutOfRange {
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
        })?;
    if batches.is_empty() {
        return Ok(None);
    }
    let mut data = fetch_data(replica, Vec::new());
    if matches!(
        reader,
        Reader::Consumer(IsolationLevel::ReadCommitted) | Reader::StableAtHighWatermark
    ) {
        data.aborted = AbortedTransactions::new(log.aborted_in(&batches));
    }
    data.batches = batches;
    Ok(Some(data))
}

pub(crate) fn fetch_data(replica: &Replica, batches: Vec<crate::log::RecordBatch>) -> FetchData {
    FetchData {
        leader_epoch: replica.leader_epoch,
        high_watermark: replica.log.high_watermark(),
        log_start_offset: replica.log.log_start_offset(),
        log_end_offset: replica.log.log_end_offset(),
        batches,
        aborted: AbortedTransactions::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::ProducerStates;
    use crate::replica::FollowerProgress;

    fn leader(isr: Vec<u32>, follower_ends: &[(u32, u64)]) -> LeaderState {
        let followers: crate::replica::Followers = follower_ends
            .iter()
            .map(|(follower, end)| {
                let progress = FollowerProgress {
                    log_end_offset: Some(*end),
                    last_caught_up_ns: 0,
                };
                (*follower, progress)
            })
            .collect();
        LeaderState {
            isr,
            min_insync_replicas: 1,
            followers,
            durable_end_offset: 210,
            pending: Vec::new(),
            parked: Vec::new(),
            isr_requested: None,
            producers_seen: ProducerStates::default(),
        }
    }

    #[test]
    fn the_high_watermark_waits_for_every_member_asked_for_in_the_partition_epoch() {
        // Found by a campaign: leader 0 asked for ISR [0, 2] when 2 had caught up at 209, then
        // for [0, 1] once 2 fell behind. The first request committed after the HW reached 210,
        // and 2 joined the ISR without offset 209, later leading and losing it.
        let mut state = leader(vec![0], &[(1, 210), (2, 209)]);
        state.isr_requested = Some((vec![0, 1], 0));
        assert_eq!(
            high_watermark_candidate(&state, &[0, 1], 0),
            210,
            "the last request alone"
        );
        assert_eq!(high_watermark_candidate(&state, &[0, 1, 2], 0), 209);
    }
}
