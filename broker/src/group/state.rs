//! One consumer group at its coordinator: members, generations, rebalances. Pure: time comes in,
//! answers to send come out.
//!
//! Phases: `Stable` (a generation is in force) and `PreparingRebalance` (members are rejoining;
//! heartbeats answer REBALANCE_IN_PROGRESS). A rebalance starts when a member joins or rejoins,
//! leaves, or misses its session timeout. It completes when every member has rejoined, or at its
//! deadline (the longest rebalance timeout of the members) without those that did not: then the
//! generation is bumped, the assignor runs, and every waiting JoinGroup is answered.
//!
//! Invariants ([`Group::check_invariants`]): generations only grow; no member waits for a join
//! answer in `Stable`; the members' assignments are disjoint; at most `members_max` members.
//!
//! Cooperative protocol (KIP-429): a partition whose owner (as the members report in their joins)
//! is another member is withheld from its new owner for one generation, and a follow-up rebalance
//! starts at once; the owner revokes it when it learns its new assignment, before it rejoins. Zoo
//! 12a (`assign_before_revoke`) hands it over at once.

use std::collections::BTreeMap;

use crate::group::assignor::{AssignorMember, assign};
use crate::message::group::{
    AssignorKind, GroupError, JoinGroupRequest, JoinGroupResponse, JoinedGroup, RebalanceProtocol,
    TopicPartition,
};

/// Where a group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Stable,
    PreparingRebalance { deadline_ns: u64 },
}

/// One member, as its coordinator knows it.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    /// The client node that speaks for it.
    pub(crate) client: u32,
    pub(crate) topics: Vec<String>,
    pub(crate) session_timeout_ns: u64,
    pub(crate) rebalance_timeout_ns: u64,
    pub(crate) last_seen_ns: u64,
    /// The JoinGroup waiting for the rebalance to complete (its request id).
    pub(crate) pending_join: Option<u64>,
    /// What it reported owning when it joined (cooperative).
    pub(crate) owned: Vec<TopicPartition>,
    /// Its assignment in the current generation.
    pub(crate) assignment: Vec<TopicPartition>,
}

/// A group at its coordinator.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) protocol: RebalanceProtocol,
    pub(crate) assignor: AssignorKind,
    pub(crate) generation: u64,
    pub(crate) phase: Phase,
    pub(crate) members: BTreeMap<u64, Member>,
}

/// What a completed rebalance tells the members.
pub(crate) type JoinAnswers = Vec<(u32, JoinGroupResponse)>;

impl Group {
    pub(crate) fn new(
        protocol: RebalanceProtocol,
        assignor: AssignorKind,
        generation: u64,
    ) -> Group {
        Group {
            protocol,
            assignor,
            generation,
            phase: Phase::Stable,
            members: BTreeMap::new(),
        }
    }

    /// Registers a join (a new member gets `new_member_id`); the answer comes from
    /// [`Group::try_complete`].
    pub(crate) fn join(
        &mut self,
        now_ns: u64,
        from: u32,
        request: &JoinGroupRequest,
        new_member_id: u64,
        members_max: u32,
    ) -> Result<(), GroupError> {
        if !self.members.is_empty()
            && (self.protocol != request.protocol || self.assignor != request.assignor)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let member_id = match request.member_id {
            Some(member_id) if !self.members.contains_key(&member_id) => {
                return Err(GroupError::UnknownMemberId);
            }
            Some(member_id) => member_id,
            None if self.members.len() >= members_max as usize => {
                return Err(GroupError::GroupMaxSizeReached);
            }
            None => new_member_id,
        };
        self.protocol = request.protocol;
        self.assignor = request.assignor;
        let member = self.members.entry(member_id).or_insert_with(|| Member {
            client: from,
            topics: Vec::new(),
            session_timeout_ns: request.session_timeout_ns,
            rebalance_timeout_ns: request.rebalance_timeout_ns,
            last_seen_ns: now_ns,
            pending_join: None,
            owned: Vec::new(),
            assignment: Vec::new(),
        });
        let mut topics = request.topics.clone();
        topics.sort();
        topics.dedup();
        member.client = from;
        member.topics = topics;
        member.session_timeout_ns = request.session_timeout_ns;
        member.rebalance_timeout_ns = request.rebalance_timeout_ns;
        member.last_seen_ns = now_ns;
        member.pending_join = Some(request.request_id);
        member.owned = request.owned.clone();
        if self.phase == Phase::Stable {
            self.start_rebalance(now_ns);
        }
        Ok(())
    }

    fn start_rebalance(&mut self, now_ns: u64) {
        let timeout_ns = self
            .members
            .values()
            .map(|member| member.rebalance_timeout_ns)
            .max()
            .unwrap_or(0);
        self.phase = Phase::PreparingRebalance {
            deadline_ns: now_ns + timeout_ns,
        };
    }

    /// Starts a rebalance of a stable group, as a change of its members' metadata would in
    /// Kafka (the perturbation [`crate::perturb::Site::RebalanceTriggered`]): every member
    /// learns it from its next heartbeat and rejoins.
    pub(crate) fn trigger_rebalance(&mut self, now_ns: u64) {
        if self.phase == Phase::Stable {
            self.start_rebalance(now_ns);
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        now_ns: u64,
        member_id: u64,
        generation: u64,
    ) -> Result<(), GroupError> {
        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        member.last_seen_ns = now_ns;
        if matches!(self.phase, Phase::PreparingRebalance { .. }) {
            return Err(GroupError::RebalanceInProgress);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self, now_ns: u64, member_id: u64) {
        if self.members.remove(&member_id).is_some() {
            self.start_rebalance(now_ns);
        }
    }

    /// Whether `member_id` is a member in the current `generation` (Kafka fences commits and,
    /// since KIP-848, offset fetches on both).
    pub(crate) fn check_member(&self, member_id: u64, generation: u64) -> Result<(), GroupError> {
        if !self.members.contains_key(&member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// Whether a rebalance is in progress (what [`Group::try_complete`] may complete).
    pub(crate) fn is_rebalancing(&self) -> bool {
        matches!(self.phase, Phase::PreparingRebalance { .. })
    }

    /// Removes members whose session expired (those waiting on a join are alive); a removal
    /// starts a rebalance.
    pub(crate) fn expire(&mut self, now_ns: u64) {
        let before = self.members.len();
        self.members.retain(|_, member| {
            member.pending_join.is_some()
                || member.last_seen_ns + member.session_timeout_ns > now_ns
        });
        if self.members.len() < before {
            self.start_rebalance(now_ns);
        }
    }

    /// Completes the rebalance if every member rejoined or its deadline passed.
    pub(crate) fn try_complete(
        &mut self,
        now_ns: u64,
        group: &str,
        topics: &BTreeMap<String, u32>,
        assign_before_revoke: bool,
    ) -> JoinAnswers {
        let Phase::PreparingRebalance { deadline_ns } = self.phase else {
            return Vec::new();
        };
        let all_joined = self
            .members
            .values()
            .all(|member| member.pending_join.is_some());
        if !all_joined && now_ns < deadline_ns {
            return Vec::new();
        }
        self.members
            .retain(|_, member| member.pending_join.is_some());
        self.generation += 1;
        self.phase = Phase::Stable;
        let (assignment, withheld) = self.compute_assignment(topics, assign_before_revoke);
        let mut answers = Vec::new();
        for (member_id, member) in &mut self.members {
            let request_id = member.pending_join.take().expect("every member joined");
            member.assignment = assignment[member_id].clone();
            member.owned = member.assignment.clone();
            member.last_seen_ns = now_ns;
            let joined = JoinedGroup {
                member_id: *member_id,
                generation: self.generation,
                assignment: member.assignment.clone(),
            };
            let response = JoinGroupResponse {
                request_id,
                group: group.to_owned(),
                result: Ok(joined),
            };
            answers.push((member.client, response));
        }
        if withheld {
            self.start_rebalance(now_ns);
        }
        answers
    }

    /// The assignor's target, and under the cooperative protocol the target minus what another
    /// member still owns (returns whether anything was withheld).
    fn compute_assignment(
        &self,
        topics: &BTreeMap<String, u32>,
        assign_before_revoke: bool,
    ) -> (BTreeMap<u64, Vec<TopicPartition>>, bool) {
        let cooperative = self.protocol == RebalanceProtocol::Cooperative;
        let members: Vec<AssignorMember> = self
            .members
            .iter()
            .map(|(member_id, member)| AssignorMember {
                member_id: *member_id,
                topics: member.topics.clone(),
                previous: if cooperative {
                    member.owned.clone()
                } else {
                    member.assignment.clone()
                },
            })
            .collect();
        let mut target = assign(self.assignor, &members, topics);
        if !cooperative || assign_before_revoke {
            return (target, false);
        }
        let mut withheld = false;
        for (member_id, partitions) in &mut target {
            partitions.retain(|partition| {
                let owned_elsewhere = self.members.iter().any(|(other_id, other)| {
                    other_id != member_id && other.owned.contains(partition)
                });
                withheld |= owned_elsewhere;
                !owned_elsewhere
            });
        }
        (target, withheld)
    }

    /// Asserts the module's invariants.
    pub(crate) fn check_invariants(&self, group: &str, members_max: u32) {
        assert!(
            self.members.len() <= members_max as usize,
            "group {group}: {} members past members_per_group_max",
            self.members.len()
        );
        let mut assigned = std::collections::BTreeSet::new();
        for (member_id, member) in &self.members {
            if self.phase == Phase::Stable {
                assert!(
                    member.pending_join.is_none(),
                    "group {group}: member {member_id} waits on a join in a stable generation"
                );
            }
            for partition in &member.assignment {
                assert!(
                    assigned.insert(partition),
                    "group {group}: {partition:?} assigned to two members in generation {}",
                    self.generation
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_NS: u64 = 1_000;
    const REBALANCE_NS: u64 = 5_000;

    fn join(member_id: Option<u64>, owned: &[u32]) -> JoinGroupRequest {
        JoinGroupRequest {
            request_id: 7,
            group: "g".to_owned(),
            member_id,
            topics: vec!["t".to_owned()],
            protocol: RebalanceProtocol::Cooperative,
            assignor: AssignorKind::Sticky,
            session_timeout_ns: SESSION_NS,
            rebalance_timeout_ns: REBALANCE_NS,
            owned: owned.iter().map(|p| ("t".to_owned(), *p)).collect(),
        }
    }

    fn topics() -> BTreeMap<String, u32> {
        [("t".to_owned(), 4)].into()
    }

    fn assignment_of(answers: &JoinAnswers, member_id: u64) -> Vec<u32> {
        answers
            .iter()
            .filter_map(|(_, response)| response.result.as_ref().ok())
            .find(|joined| joined.member_id == member_id)
            .map(|joined| joined.assignment.iter().map(|(_, p)| *p).collect())
            .expect("answered")
    }

    /// One member holds everything; a second joins.
    fn two_members(group: &mut Group, assign_before_revoke: bool) -> JoinAnswers {
        group.join(0, 1, &join(None, &[]), 1, 8).unwrap();
        let answers = group.try_complete(0, "g", &topics(), assign_before_revoke);
        assert_eq!(assignment_of(&answers, 1), vec![0, 1, 2, 3]);
        group.join(10, 2, &join(None, &[]), 2, 8).unwrap();
        group
            .join(10, 1, &join(Some(1), &[0, 1, 2, 3]), 0, 8)
            .unwrap();
        group.try_complete(10, "g", &topics(), assign_before_revoke)
    }

    #[test]
    fn a_triggered_rebalance_makes_every_member_rejoin_into_the_next_generation() {
        let mut group = Group::new(RebalanceProtocol::Eager, AssignorKind::Range, 0);
        group.join(0, 1, &join(None, &[]), 1, 8).unwrap();
        group.try_complete(0, "g", &topics(), false);
        let generation = group.generation;
        assert_eq!(group.heartbeat(1, 1, generation), Ok(()));

        group.trigger_rebalance(2);
        assert_eq!(
            group.heartbeat(3, 1, generation),
            Err(GroupError::RebalanceInProgress)
        );
        group.trigger_rebalance(4);
        assert!(
            matches!(
                group.phase,
                Phase::PreparingRebalance { deadline_ns } if deadline_ns == 2 + REBALANCE_NS
            ),
            "a rebalance in progress is not restarted"
        );
        group.join(5, 1, &join(Some(1), &[]), 0, 8).unwrap();
        let answers = group.try_complete(5, "g", &topics(), false);
        assert_eq!(assignment_of(&answers, 1), vec![0, 1, 2, 3]);
        assert_eq!(group.generation, generation + 1);
        assert_eq!(
            group.heartbeat(6, 1, generation),
            Err(GroupError::IllegalGeneration)
        );
    }

    #[test]
    fn cooperative_withholds_a_partition_until_its_owner_revoked_it() {
        let mut group = Group::new(RebalanceProtocol::Cooperative, AssignorKind::Sticky, 0);
        let answers = two_members(&mut group, false);
        assert_eq!(assignment_of(&answers, 1), vec![0, 1]);
        assert!(
            assignment_of(&answers, 2).is_empty(),
            "2 and 3 are still 1's"
        );
        assert!(matches!(group.phase, Phase::PreparingRebalance { .. }));
        // Member 1 revoked 2 and 3; both rejoin; now they move.
        group.join(20, 1, &join(Some(1), &[0, 1]), 0, 8).unwrap();
        group.join(20, 2, &join(Some(2), &[]), 0, 8).unwrap();
        let answers = group.try_complete(20, "g", &topics(), false);
        assert_eq!(assignment_of(&answers, 2), vec![2, 3]);
        assert_eq!(group.generation, 3);
        group.check_invariants("g", 8);
    }

    #[test]
    fn zoo_12a_hands_the_partition_over_at_once() {
        let mut group = Group::new(RebalanceProtocol::Cooperative, AssignorKind::Sticky, 0);
        let answers = two_members(&mut group, true);
        assert_eq!(assignment_of(&answers, 2), vec![2, 3]);
        assert_eq!(group.phase, Phase::Stable);
    }

    #[test]
    fn a_silent_member_expires_and_its_stale_commits_are_fenced() {
        let mut group = Group::new(RebalanceProtocol::Eager, AssignorKind::Range, 0);
        let mut request = join(None, &[]);
        request.protocol = RebalanceProtocol::Eager;
        request.assignor = AssignorKind::Range;
        group.join(0, 1, &request, 1, 8).unwrap();
        group.join(0, 2, &request, 2, 8).unwrap();
        group.try_complete(0, "g", &topics(), false);
        assert_eq!(group.check_member(1, 1), Ok(()));
        group.heartbeat(900, 2, 1).unwrap();
        group.expire(SESSION_NS + 1);
        assert!(
            !group.members.contains_key(&1),
            "member 1 missed its session"
        );
        assert_eq!(
            group.heartbeat(SESSION_NS + 2, 2, 1),
            Err(GroupError::RebalanceInProgress)
        );
        request.member_id = Some(2);
        group.join(SESSION_NS + 3, 2, &request, 0, 8).unwrap();
        group.try_complete(SESSION_NS + 3, "g", &topics(), false);
        assert_eq!(group.check_member(1, 1), Err(GroupError::UnknownMemberId));
        assert_eq!(group.check_member(2, 1), Err(GroupError::IllegalGeneration));
        assert_eq!(group.check_member(2, 2), Ok(()));
    }

    #[test]
    fn a_rebalance_completes_at_its_deadline_without_the_missing() {
        let mut group = Group::new(RebalanceProtocol::Cooperative, AssignorKind::Sticky, 0);
        group.join(0, 1, &join(None, &[]), 1, 8).unwrap();
        group.join(0, 2, &join(None, &[]), 2, 8).unwrap();
        group.try_complete(0, "g", &topics(), false);
        group.join(10, 3, &join(None, &[]), 3, 8).unwrap();
        // Members 1 and 2 heartbeat but never rejoin.
        assert!(
            group
                .try_complete(REBALANCE_NS, "g", &topics(), false)
                .is_empty()
        );
        let answers = group.try_complete(REBALANCE_NS + 10, "g", &topics(), false);
        assert_eq!(assignment_of(&answers, 3), vec![0, 1, 2, 3]);
        assert_eq!(group.members.len(), 1);
        assert_eq!(
            group.join(0, 1, &join(Some(1), &[]), 0, 8),
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn the_group_size_is_bounded() {
        let mut group = Group::new(RebalanceProtocol::Cooperative, AssignorKind::Sticky, 0);
        group.join(0, 1, &join(None, &[]), 1, 1).unwrap();
        assert_eq!(
            group.join(0, 2, &join(None, &[]), 2, 1),
            Err(GroupError::GroupMaxSizeReached)
        );
    }
}
