//! The coordinator's deterministic assignors: pure functions from the members (sorted by member
//! id), their subscriptions and the topics' partition counts to an assignment.
//!
//! Guarantees (tested in `broker/tests/group_assignor.rs`): every partition of a topic some
//! member subscribes to goes to exactly one member that subscribes to it; nothing else is
//! assigned; the same inputs give the same assignment; with one subscription shared by all,
//! member counts differ by at most one. The sticky assignor also keeps every partition with its
//! previous owner while that owner stays within its share (so a balanced previous assignment is
//! kept whole, and a member that joins takes partitions only from those above their share).

use std::collections::BTreeMap;

use crate::message::group::{AssignorKind, TopicPartition};

/// One member as the assignor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignorMember {
    pub member_id: u64,
    /// Sorted, distinct.
    pub topics: Vec<String>,
    /// What it held before (sticky input).
    pub previous: Vec<TopicPartition>,
}

/// Member id -> its partitions, sorted. Every member appears, possibly with nothing.
pub type Assignment = BTreeMap<u64, Vec<TopicPartition>>;

/// Runs `kind` over `members` and the partition counts of `topics` (topics absent from it are
/// unknown and assigned to nobody).
pub fn assign(
    kind: AssignorKind,
    members: &[AssignorMember],
    topics: &BTreeMap<String, u32>,
) -> Assignment {
    assert!(
        members
            .windows(2)
            .all(|pair| pair[0].member_id < pair[1].member_id),
        "assignor members must be sorted by distinct member id"
    );
    let assignment = match kind {
        AssignorKind::Range => assign_range(members, topics),
        AssignorKind::Sticky => assign_sticky(members, topics),
    };
    debug_assert_valid(members, topics, &assignment);
    assignment
}

fn empty_assignment(members: &[AssignorMember]) -> Assignment {
    members
        .iter()
        .map(|member| (member.member_id, Vec::new()))
        .collect()
}

/// Kafka's RangeAssignor: for each topic, the subscribed members in id order take contiguous
/// ranges, the first `partitions % members` one partition more.
fn assign_range(members: &[AssignorMember], topics: &BTreeMap<String, u32>) -> Assignment {
    let mut assignment = empty_assignment(members);
    for (topic, &partitions) in topics {
        let subscribed: Vec<u64> = members
            .iter()
            .filter(|member| member.topics.contains(topic))
            .map(|member| member.member_id)
            .collect();
        if subscribed.is_empty() {
            continue;
        }
        let count = subscribed.len() as u32;
        let (base, extra) = (partitions / count, partitions % count);
        let mut next = 0;
        for (position, member_id) in subscribed.iter().enumerate() {
            let take = base + u32::from((position as u32) < extra);
            let owned = assignment.get_mut(member_id).expect("every member listed");
            owned.extend((next..next + take).map(|partition| (topic.clone(), partition)));
            next += take;
        }
        assert_eq!(next, partitions, "range assignor covers every partition");
    }
    for owned in assignment.values_mut() {
        owned.sort();
    }
    assignment
}

/// Keeps previous owners up to their share (`floor(partitions / members)`, one more for the first
/// `partitions % members` members that reach it), then gives each remaining partition to the
/// eligible member holding the fewest (lowest id on ties).
fn assign_sticky(members: &[AssignorMember], topics: &BTreeMap<String, u32>) -> Assignment {
    let mut assignment = empty_assignment(members);
    let all: Vec<TopicPartition> = topics
        .iter()
        .filter(|(topic, _)| members.iter().any(|member| member.topics.contains(topic)))
        .flat_map(|(topic, &partitions)| (0..partitions).map(move |p| (topic.clone(), p)))
        .collect();
    if members.is_empty() {
        return assignment;
    }
    let share = all.len() / members.len();
    let mut extra_shares = all.len() % members.len();
    let mut previous_owner: BTreeMap<&TopicPartition, u64> = BTreeMap::new();
    for member in members {
        for owned in &member.previous {
            previous_owner.entry(owned).or_insert(member.member_id);
        }
    }
    let mut unassigned = Vec::new();
    for partition in &all {
        let owner = previous_owner.get(partition).copied().filter(|owner| {
            let member = members.iter().find(|member| member.member_id == *owner);
            member.is_some_and(|member| member.topics.contains(&partition.0))
        });
        let Some(owner) = owner else {
            unassigned.push(partition.clone());
            continue;
        };
        let held = assignment[&owner].len();
        let keeps = held < share || (held == share && extra_shares > 0);
        if !keeps {
            unassigned.push(partition.clone());
            continue;
        }
        if held == share {
            extra_shares -= 1;
        }
        assignment
            .get_mut(&owner)
            .expect("member")
            .push(partition.clone());
    }
    for partition in unassigned {
        let least_loaded = members
            .iter()
            .filter(|member| member.topics.contains(&partition.0))
            .min_by_key(|member| (assignment[&member.member_id].len(), member.member_id))
            .expect("a partition is listed only if some member subscribes to its topic");
        assignment
            .get_mut(&least_loaded.member_id)
            .expect("member")
            .push(partition);
    }
    for owned in assignment.values_mut() {
        owned.sort();
    }
    assignment
}

/// Asserts the assignor guarantees (module docs) in debug builds.
fn debug_assert_valid(
    members: &[AssignorMember],
    topics: &BTreeMap<String, u32>,
    assignment: &Assignment,
) {
    if !cfg!(debug_assertions) {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    for member in members {
        for partition in &assignment[&member.member_id] {
            assert!(
                member.topics.contains(&partition.0),
                "member {} assigned {partition:?} outside its subscription",
                member.member_id
            );
            assert!(
                seen.insert(partition.clone()),
                "{partition:?} assigned twice"
            );
        }
    }
    let expected: usize = topics
        .iter()
        .filter(|(topic, _)| members.iter().any(|member| member.topics.contains(topic)))
        .map(|(_, partitions)| *partitions as usize)
        .sum();
    assert_eq!(
        seen.len(),
        expected,
        "some subscribed partition is unassigned"
    );
}
