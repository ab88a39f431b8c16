//! The group coordinator inside a [`Node`]: one [`OffsetsPartition`] per partition of the offsets
//! topic this broker leads.
//!
//! - **Who coordinates**: the leader of the group's offsets partition, in its leader epoch. After
//!   every step, [`Node::reconcile_coordinators`] drops the state of partitions this broker no
//!   longer leads (or leads in a newer epoch) and starts loading those it newly leads.
//! - **Committed offsets live in the log**: a commit is one batch appended to the offsets
//!   partition through the ordinary produce path with acks=all (sent to this node itself), and
//!   answered when the high watermark covers it. The in-memory table is only a replay of the log
//!   up to the high watermark, so a new coordinator rebuilds it from its replica; it serves once
//!   it has applied everything its log held when it took over (COORDINATOR_LOAD_IN_PROGRESS
//!   until then). Zoo 12b (`drop_group_state_on_failover`) skips that replay.
//! - **Membership lives in memory**, as in Kafka: after a failover, members find the new
//!   coordinator, are told UNKNOWN_MEMBER_ID and join again. Generations and member ids carry the
//!   leader epoch in their high 32 bits, so they grow across failovers and are never reused. A
//!   broker can also stop and start coordinating within one leader epoch (it lost its broker
//!   epoch, its replicas went offline, and it regained it before the controller moved the
//!   leadership): the new coordinator hands out ids above every id the old one did
//!   ([`GroupCoordinators::retired`]), or a member of the old one would share its id with a new
//!   member, and an old generation would be current again.
//! - **Fencing**: a commit must come from a current member in the current generation (zoo 11,
//!   `accept_stale_generation_commits`, accepts any).
//! - **Commits inside transactions** ([`super::transactional`]) take the same path, stamped with
//!   their producer's transaction; the replay ([`super::offsets`]) holds them until the
//!   transaction's marker reaches the offsets partition.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::group::config::OFFSETS_TOPIC;
use crate::group::offsets::CommittedOffsets;
use crate::group::state::Group;
use crate::group::{
    commit_key, commit_record_value, committed_offset_of, offsets_partition_for_group,
};
use crate::log::{BatchTransaction, ProducerStamp, Record};
use crate::message::group::{
    CommittedOffset, GroupError, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, TxnOffsetCommitResponse,
};
use crate::message::{DataError, Message, ProduceResponse};
use crate::node::{Node, Observation};
use crate::perturb::Site;
use crate::replica::produce::SelfProduced;
use crate::storage::PartitionKey;
use crate::topic::TopicName;

/// Every offsets partition this broker coordinates, and its commits in flight.
#[derive(Debug, Default)]
pub(crate) struct GroupCoordinators {
    pub(crate) partitions: BTreeMap<u32, OffsetsPartition>,
    /// Commits appended and waiting for the high watermark: produce request id -> client.
    pending_commits: BTreeMap<u64, PendingCommit>,
    /// Offsets partition -> the leader epoch its last coordinator on this broker resigned in,
    /// and the first id (member id or generation) that coordinator never handed out.
    retired: BTreeMap<u32, (u64, u64)>,
    /// The replicas' roles version (`Replicas::roles_version`) the coordinators were last
    /// brought in line with: whether this broker coordinates an offsets partition, and in which
    /// leader epoch, follows from the roles alone.
    roles_reconciled: Option<u64>,
}

/// The coordinator of one offsets partition, in one leader epoch.
#[derive(Debug)]
pub(crate) struct OffsetsPartition {
    leader_epoch: u64,
    /// The log end offset when this broker took over: it serves once applied this far.
    loaded_end_offset: u64,
    /// The next log offset to apply to `offsets`.
    applied_offset: u64,
    /// The committed offsets, replayed from the log.
    pub(super) offsets: CommittedOffsets,
    groups: BTreeMap<String, Group>,
    /// Every member id and generation of this coordinator is above this.
    ids_base: u64,
    member_id_next: u64,
}

/// Who asked for a commit, and how to answer.
#[derive(Debug)]
pub(super) struct CommitAnswer {
    pub(super) from: u32,
    pub(super) request_id: u64,
    pub(super) group: String,
    /// A TxnOffsetCommit (answered as one), not an OffsetCommit.
    pub(super) transactional: bool,
}

/// A commit appended and waiting for the high watermark.
#[derive(Debug)]
struct PendingCommit {
    answer: CommitAnswer,
    partition: u32,
    /// The commit keys ([`commit_key`]) it writes: an OffsetFetch of one of them waits for it.
    keys: Vec<u64>,
}

impl OffsetsPartition {
    fn is_loaded(&self) -> bool {
        self.applied_offset >= self.loaded_end_offset
    }

    /// Ids of this coordinator: the epoch in the high 32 bits, above those of an earlier
    /// coordinator of the same epoch on this broker.
    fn ids_base(&self) -> u64 {
        self.ids_base
    }

    /// The first id this coordinator has not handed out, as a member id or a generation.
    fn ids_next(&self) -> u64 {
        let generations = self.groups.values().map(|group| group.generation + 1);
        generations
            .max()
            .unwrap_or(0)
            .max(self.ids_base + self.member_id_next + 1)
    }
}

/// The offsets topic's name. Interning a name takes a lock and a search, and the coordinators
/// look their partitions up after every step of a broker: the name is interned once.
fn offsets_topic() -> TopicName {
    static NAME: OnceLock<TopicName> = OnceLock::new();
    NAME.get_or_init(|| TopicName::new(OFFSETS_TOPIC)).clone()
}

/// The replica key of offsets partition `partition`.
pub(super) fn offsets_key(partition: u32) -> PartitionKey {
    (offsets_topic(), partition)
}

impl Node {
    /// Brings the coordinators in line with the offsets partitions this broker leads (when a
    /// replica's role changed since the last time), replays newly committed offsets, and runs
    /// the groups' timers.
    pub(crate) fn reconcile_coordinators(&mut self) {
        let Some(groups) = &self.config.groups else {
            return;
        };
        let roles_version = Some(self.replicas.roles_version);
        if self.groups.roles_reconciled != roles_version {
            self.groups.roles_reconciled = roles_version;
            for partition in 0..groups.offsets_partitions {
                self.reconcile_coordinator(partition);
            }
        } else {
            debug_assert!(
                (0..groups.offsets_partitions).all(|partition| {
                    let current = self.groups.partitions.get(&partition);
                    current.map(|p| p.leader_epoch) == self.offsets_leader_epoch(partition)
                }),
                "node {}: a replica role changed without a new roles version",
                self.id
            );
        }
        let loaded: Vec<u32> = self.groups.partitions.keys().copied().collect();
        for partition in loaded {
            self.apply_committed_offsets(partition);
            self.run_group_timers(partition);
        }
    }

    /// The leader epoch in which this broker leads offsets partition `partition`, if it does.
    fn offsets_leader_epoch(&self, partition: u32) -> Option<u64> {
        let key = offsets_key(partition);
        let replica = self.replicas.partitions.get(&key)?;
        replica.is_leader().then_some(replica.leader_epoch)
    }

    fn reconcile_coordinator(&mut self, partition: u32) {
        let leading = self.offsets_leader_epoch(partition);
        let current = self
            .groups
            .partitions
            .get(&partition)
            .map(|p| p.leader_epoch);
        if current == leading {
            return;
        }
        if current.is_some() {
            self.resign_coordinator(partition);
        }
        if let Some(leader_epoch) = leading {
            self.start_coordinator(partition, leader_epoch);
        }
    }

    /// Drops a partition's groups; commits waiting on it end with an unknown outcome (the
    /// replica dropped their produce requests).
    pub(super) fn resign_coordinator(&mut self, partition: u32) {
        let coordinator = self
            .groups
            .partitions
            .remove(&partition)
            .expect("coordinating");
        let retired = (coordinator.leader_epoch, coordinator.ids_next());
        self.groups.retired.insert(partition, retired);
        let ended: Vec<u64> = self
            .groups
            .pending_commits
            .iter()
            .filter(|(_, pending)| pending.partition == partition)
            .map(|(request_id, _)| *request_id)
            .collect();
        for request_id in ended {
            let pending = self
                .groups
                .pending_commits
                .remove(&request_id)
                .expect("listed");
            self.answer_commit(pending.answer, Err(GroupError::RequestTimedOut));
        }
    }

    pub(super) fn start_coordinator(&mut self, partition: u32, leader_epoch: u64) {
        let key = offsets_key(partition);
        let log = &self.replicas.partitions[&key].log;
        let applied_offset = if self.config.bugs.drop_group_state_on_failover {
            log.log_end_offset()
        } else {
            log.log_start_offset()
        };
        let ids_base = match self.groups.retired.get(&partition) {
            Some(&(retired_epoch, ids_next)) if retired_epoch == leader_epoch => ids_next,
            _ => leader_epoch << 32,
        };
        assert!(
            ids_base >> 32 == leader_epoch,
            "offsets partition {partition}: the ids of leader epoch {leader_epoch} ran out"
        );
        let coordinator = OffsetsPartition {
            leader_epoch,
            loaded_end_offset: log.log_end_offset(),
            applied_offset,
            offsets: CommittedOffsets::new(self.config.bugs.transactional_offsets_before_marker),
            groups: BTreeMap::new(),
            ids_base,
            member_id_next: 0,
        };
        self.groups.partitions.insert(partition, coordinator);
        self.observe(Observation::CoordinatorStarted { partition });
    }

    /// Replays the offsets partition's records below the high watermark into the table.
    fn apply_committed_offsets(&mut self, partition: u32) {
        let key = offsets_key(partition);
        let log = &self.replicas.partitions[&key].log;
        let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
        let high_watermark = log.high_watermark();
        if coordinator.applied_offset >= high_watermark {
            return;
        }
        let from = coordinator.applied_offset.max(log.log_start_offset());
        let batches = log.batches();
        let first = batches.partition_point(|batch| batch.end_offset() <= from);
        for batch in &batches[first..] {
            if batch.base_offset >= high_watermark {
                break;
            }
            coordinator.offsets.apply(batch, from, high_watermark);
        }
        coordinator.applied_offset = high_watermark;
    }

    /// Expires sessions and completes rebalances whose members all rejoined or timed out.
    fn run_group_timers(&mut self, partition: u32) {
        let now_ns = self.now_ns();
        let assign_before_revoke = self.config.bugs.assign_before_revoke;
        let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
        for group in coordinator.groups.values_mut() {
            group.expire(now_ns);
        }
        // Groups are independent: expiring them all before completing any changes no outcome,
        // and the topics (a map built anew) are only read when a rebalance may complete.
        if !coordinator.groups.values().any(Group::is_rebalancing) {
            return;
        }
        let topics = self.topic_partition_counts();
        let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
        let mut answers = Vec::new();
        let mut rebalanced = Vec::new();
        for (name, group) in &mut coordinator.groups {
            let joined = group.try_complete(now_ns, name, &topics, assign_before_revoke);
            if !joined.is_empty() {
                rebalanced.push(Observation::GroupRebalanced {
                    group: name.clone(),
                    generation: group.generation,
                    members: joined.len(),
                });
            }
            answers.extend(joined);
        }
        for observation in rebalanced {
            self.observe(observation);
        }
        for (to, response) in answers {
            self.send(to, Message::JoinGroupResponse(response));
        }
    }

    fn topic_partition_counts(&self) -> BTreeMap<String, u32> {
        self.image
            .topics
            .iter()
            .filter(|(name, _)| name.as_str() != OFFSETS_TOPIC)
            .map(|(name, topic)| (name.clone(), topic.partitions.len() as u32))
            .collect()
    }

    /// The offsets partition of `group` if this broker coordinates it and has loaded it.
    fn coordinator_for(&self, group: &str) -> Result<u32, GroupError> {
        let Some(groups) = &self.config.groups else {
            return Err(GroupError::NotCoordinator);
        };
        let partition = offsets_partition_for_group(group, groups.offsets_partitions);
        let Some(coordinator) = self.groups.partitions.get(&partition) else {
            return Err(GroupError::NotCoordinator);
        };
        if self.offsets_leader_epoch(partition) != Some(coordinator.leader_epoch) {
            return Err(GroupError::NotCoordinator);
        }
        if !coordinator.is_loaded() {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        Ok(partition)
    }

    pub(crate) fn on_join_group(&mut self, from: u32, request: JoinGroupRequest) {
        if let Err(error) = self.join_group(from, &request) {
            let response = JoinGroupResponse {
                request_id: request.request_id,
                group: request.group,
                result: Err(error),
            };
            self.send(from, Message::JoinGroupResponse(response));
            return;
        }
        let partition = self.coordinator_for(&request.group).expect("joined");
        self.run_group_timers(partition);
    }

    fn join_group(&mut self, from: u32, request: &JoinGroupRequest) -> Result<(), GroupError> {
        let partition = self.coordinator_for(&request.group)?;
        let limits = self.config.groups.clone().expect("coordinating");
        let timeouts_ok = (limits.session_timeout_min_ns..=limits.session_timeout_max_ns)
            .contains(&request.session_timeout_ns)
            && request.rebalance_timeout_ns <= limits.rebalance_timeout_max_ns;
        if !timeouts_ok {
            return Err(GroupError::InvalidSessionTimeout);
        }
        let now_ns = self.now_ns();
        let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
        if !coordinator.groups.contains_key(&request.group) {
            if coordinator.groups.len() >= limits.groups_max as usize {
                return Err(GroupError::GroupsMaxReached);
            }
            let group = Group::new(request.protocol, request.assignor, coordinator.ids_base());
            coordinator.groups.insert(request.group.clone(), group);
        }
        coordinator.member_id_next += 1;
        let new_member_id = coordinator.ids_base() + coordinator.member_id_next;
        let group = coordinator.groups.get_mut(&request.group).expect("present");
        group.join(
            now_ns,
            from,
            request,
            new_member_id,
            limits.members_per_group_max,
        )
    }

    pub(crate) fn on_heartbeat(&mut self, from: u32, request: HeartbeatRequest) {
        let now_ns = self.now_ns();
        let result = self.coordinator_for(&request.group).and_then(|partition| {
            let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
            let Some(group) = coordinator.groups.get_mut(&request.group) else {
                return Err(GroupError::UnknownMemberId);
            };
            group.heartbeat(now_ns, request.member_id, request.generation)?;
            if self.perturbations.fires(Site::RebalanceTriggered) {
                group.trigger_rebalance(now_ns);
                return Err(GroupError::RebalanceInProgress);
            }
            Ok(())
        });
        let response = HeartbeatResponse {
            request_id: request.request_id,
            group: request.group,
            result,
        };
        self.send(from, Message::HeartbeatResponse(response));
    }

    pub(crate) fn on_leave_group(&mut self, request: LeaveGroupRequest) {
        let now_ns = self.now_ns();
        let Ok(partition) = self.coordinator_for(&request.group) else {
            return;
        };
        let coordinator = self.groups.partitions.get_mut(&partition).expect("loaded");
        if let Some(group) = coordinator.groups.get_mut(&request.group) {
            group.leave(now_ns, request.member_id);
        }
        self.run_group_timers(partition);
    }

    pub(crate) fn on_offset_commit(&mut self, from: u32, request: OffsetCommitRequest) {
        let answer = CommitAnswer {
            from,
            request_id: request.request_id,
            group: request.group,
            transactional: false,
        };
        let member = (request.member_id, request.generation);
        self.commit(answer, member, &request.offsets, ProducerStamp::NONE);
    }

    /// Validates, fences and appends a commit to the offsets partition (acks=all), plain or (with
    /// `producer`'s stamp) inside a transaction; answers a refusal at once.
    pub(super) fn commit(
        &mut self,
        answer: CommitAnswer,
        (member_id, generation): (u64, u64),
        offsets: &[(String, u32, CommittedOffset)],
        producer: ProducerStamp,
    ) {
        let checked = self
            .check_commit(&answer.group, member_id, generation, offsets)
            .and_then(|partition| match producer.0 {
                Some(sequence) if !self.may_hold_transaction(partition, sequence.producer_id) => {
                    Err(GroupError::CoordinatorNotAvailable)
                }
                _ => Ok(partition),
            });
        match checked {
            Ok(partition) => self.append_commit_batch(answer, partition, offsets, producer),
            Err(error) => self.answer_commit(answer, Err(error)),
        }
    }

    /// The checks every commit passes, plain or transactional: this broker coordinates the group,
    /// the commit's size is within the limits, its member is current in its generation (zoo 11,
    /// `accept_stale_generation_commits`, accepts any), and there is room for one more pending
    /// commit. The offsets partition of the group, if it passes.
    fn check_commit(
        &mut self,
        group_name: &str,
        member_id: u64,
        generation: u64,
        offsets: &[(String, u32, CommittedOffset)],
    ) -> Result<u32, GroupError> {
        let partition = self.coordinator_for(group_name)?;
        let limits = self.config.groups.clone().expect("coordinating");
        if offsets.is_empty() || offsets.len() > limits.commit_offsets_max as usize {
            return Err(GroupError::InvalidCommitOffsetSize);
        }
        if !self.config.bugs.accept_stale_generation_commits {
            let coordinator = &self.groups.partitions[&partition];
            let group = coordinator
                .groups
                .get(group_name)
                .ok_or(GroupError::UnknownMemberId)?;
            let fenced = group.check_member(member_id, generation);
            if fenced.is_err() {
                self.observe(Observation::CommitFenced {
                    group: group_name.to_owned(),
                    generation,
                });
            }
            fenced?;
        }
        if self.groups.pending_commits.len() >= limits.pending_commits_max as usize {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        Ok(partition)
    }

    /// Whether offsets partition `partition` may take offsets of `producer_id`'s transaction: its
    /// replay holds some already, or holds fewer open transactions than
    /// `groups.pending_commits_max` (which bounds the transactions a replay holds as it bounds the
    /// commits in flight).
    fn may_hold_transaction(&self, partition: u32, producer_id: u64) -> bool {
        let limits = self.config.groups.as_ref().expect("coordinating");
        let offsets = &self.groups.partitions[&partition].offsets;
        offsets.holds_transaction_of(producer_id)
            || offsets.open_transactions() < limits.pending_commits_max as usize
    }

    /// Appends `offsets` as one batch of offsets partition `partition` (stamped with `producer`'s
    /// transaction, if any), answered once the high watermark passes it.
    fn append_commit_batch(
        &mut self,
        answer: CommitAnswer,
        partition: u32,
        offsets: &[(String, u32, CommittedOffset)],
        producer: ProducerStamp,
    ) {
        let records: Vec<Record> = offsets
            .iter()
            .map(|(topic, topic_partition, committed)| Record {
                key: Some(commit_key(&answer.group, topic, *topic_partition)),
                value: commit_record_value(*committed),
            })
            .collect();
        let pending = PendingCommit {
            answer,
            partition,
            keys: records.iter().filter_map(|record| record.key).collect(),
        };
        let produce_id = self.next_request_id();
        self.groups.pending_commits.insert(produce_id, pending);
        let transaction = if producer.is_none() {
            BatchTransaction::None
        } else {
            BatchTransaction::Data
        };
        let batch = SelfProduced {
            records,
            producer,
            transaction,
        };
        self.produce_batch_to_self(produce_id, offsets_topic(), partition, batch);
    }

    /// The offsets partition's answer to a commit's append (only this node produces to it).
    pub(crate) fn on_commit_appended(&mut self, response: ProduceResponse) {
        let Some(pending) = self.groups.pending_commits.remove(&response.request_id) else {
            return;
        };
        let [appended] = &response.partitions[..] else {
            panic!("a commit's append names one partition: {response:?}");
        };
        assert!(
            appended.topic == OFFSETS_TOPIC && appended.partition == pending.partition,
            "a commit's answer comes from the partition it was appended to: {response:?}"
        );
        let result = match appended.result.clone() {
            Ok(_) => Ok(()),
            Err(error) if error.is_indeterminate() => Err(GroupError::RequestTimedOut),
            Err(DataError::NotLeader { .. } | DataError::FencedLeaderEpoch { .. }) => {
                Err(GroupError::NotCoordinator)
            }
            Err(DataError::InvalidProducerEpoch { .. }) => Err(GroupError::InvalidProducerEpoch),
            Err(_) => Err(GroupError::CoordinatorNotAvailable),
        };
        self.answer_commit(pending.answer, result);
    }

    fn answer_commit(&mut self, answer: CommitAnswer, result: Result<(), GroupError>) {
        let (request_id, group) = (answer.request_id, answer.group);
        let message = if answer.transactional {
            let response = TxnOffsetCommitResponse {
                request_id,
                group,
                result,
            };
            Message::TxnOffsetCommitResponse(response)
        } else {
            let response = OffsetCommitResponse {
                request_id,
                group,
                result,
            };
            Message::OffsetCommitResponse(response)
        };
        self.send(answer.from, message);
    }

    /// Answers with the committed offsets, or UNSTABLE_OFFSET_COMMIT while a commit of one of
    /// the partitions is appended but not yet committed, or committed inside a transaction that
    /// has not ended: answering the offset before it would let a new owner start below a commit
    /// that then lands (KIP-447's `require_stable`, which Kafka's consumer always sets; it
    /// retries after a backoff).
    pub(crate) fn on_offset_fetch(&mut self, from: u32, request: OffsetFetchRequest) {
        let keys: Vec<u64> = request
            .partitions
            .iter()
            .map(|(topic, topic_partition)| commit_key(&request.group, topic, *topic_partition))
            .collect();
        let appending = self.commit_pending_for(&request.group, &keys);
        let result = self.coordinator_for(&request.group).and_then(|partition| {
            self.check_fetching_member(partition, &request)?;
            let coordinator = &self.groups.partitions[&partition];
            let in_transaction = keys.iter().any(|key| coordinator.offsets.is_unstable(*key));
            if appending || in_transaction {
                return Err(GroupError::UnstableOffsetCommit);
            }
            let offsets = request
                .partitions
                .iter()
                .zip(&keys)
                .map(|((topic, topic_partition), key)| {
                    let committed = coordinator.offsets.get(*key);
                    (
                        topic.clone(),
                        *topic_partition,
                        committed.map(committed_offset_of),
                    )
                })
                .collect();
            Ok(offsets)
        });
        let response = OffsetFetchResponse {
            request_id: request.request_id,
            group: request.group,
            result,
        };
        self.send(from, Message::OffsetFetchResponse(response));
    }

    /// Whether this coordinator may answer `request`: it issued the member's generation, and the
    /// member is current in it. A generation from a newer leader epoch (its high 32 bits) means a
    /// newer coordinator exists: NOT_COORDINATOR, so that the member finds it.
    fn check_fetching_member(
        &self,
        partition: u32,
        request: &OffsetFetchRequest,
    ) -> Result<(), GroupError> {
        let coordinator = &self.groups.partitions[&partition];
        if request.generation >> 32 > coordinator.leader_epoch {
            return Err(GroupError::NotCoordinator);
        }
        let group = coordinator
            .groups
            .get(&request.group)
            .ok_or(GroupError::UnknownMemberId)?;
        group.check_member(request.member_id, request.generation)
    }

    /// Whether a commit of `group` that writes one of the commit keys `fetched` awaits its append.
    fn commit_pending_for(&self, group: &str, fetched: &[u64]) -> bool {
        self.groups.pending_commits.values().any(|pending| {
            pending.answer.group == group && pending.keys.iter().any(|key| fetched.contains(key))
        })
    }

    /// Asserts the coordinators' invariants: each leads its partition in its epoch, never
    /// applies past the high watermark, and holds its groups within their limits.
    pub(crate) fn check_coordinator_invariants(&self) {
        let Some(limits) = &self.config.groups else {
            assert!(
                self.groups.partitions.is_empty(),
                "coordinating without groups"
            );
            return;
        };
        let dropped = self.config.bugs.drop_group_state_on_failover;
        assert!(self.groups.pending_commits.len() <= limits.pending_commits_max as usize);
        for (partition, coordinator) in &self.groups.partitions {
            assert_eq!(
                self.offsets_leader_epoch(*partition),
                Some(coordinator.leader_epoch),
                "node {}: coordinates offsets partition {partition} without leading it",
                self.id
            );
            let key = offsets_key(*partition);
            let high_watermark = self.replicas.partitions[&key].log.high_watermark();
            assert!(
                dropped || coordinator.applied_offset <= high_watermark,
                "node {}: offsets partition {partition} applied to {} past its HW {high_watermark}",
                self.id,
                coordinator.applied_offset
            );
            assert!(coordinator.groups.len() <= limits.groups_max as usize);
            for (name, group) in &coordinator.groups {
                group.check_invariants(name, limits.members_per_group_max);
                assert!(
                    group.generation >= coordinator.ids_base(),
                    "group {name}: generation below its coordinator's ids"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::test_support::{LEADER_EPOCH, coordinator};
    use crate::node::Output;

    fn offset_fetch(node: &mut Node, generation: u64) -> Result<(), GroupError> {
        let request = OffsetFetchRequest {
            request_id: 5,
            group: "g".to_owned(),
            member_id: generation,
            generation,
            partitions: vec![("t".to_owned(), 0)],
        };
        node.on_offset_fetch(9, request);
        let answers: Vec<_> = std::mem::take(&mut node.effects.output)
            .into_iter()
            .filter_map(|output| match output {
                Output::Send {
                    to: 9,
                    message: Message::OffsetFetchResponse(response),
                } => Some(response.result.map(|_| ())),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), 1, "one answer");
        answers.into_iter().next().expect("one")
    }

    #[test]
    fn a_coordinator_refuses_offset_fetches_of_generations_it_did_not_issue() {
        let mut node = coordinator();
        let newer = ((LEADER_EPOCH + 1) << 32) | 1;
        assert_eq!(
            offset_fetch(&mut node, newer),
            Err(GroupError::NotCoordinator),
            "a newer coordinator issued it: this one is deposed"
        );
        let own = (LEADER_EPOCH << 32) | 1;
        assert_eq!(
            offset_fetch(&mut node, own),
            Err(GroupError::UnknownMemberId),
            "not a member of any group here"
        );
    }
}
