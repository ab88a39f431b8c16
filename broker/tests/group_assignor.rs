//! The coordinator's assignors (`broker::group::assignor`) over random groups: every subscribed
//! partition goes to exactly one subscriber, the same input gives the same output, and with one
//! subscription shared by all the assignment is balanced and the sticky assignor keeps a
//! balanced previous assignment whole.

use std::collections::{BTreeMap, BTreeSet};

use broker::group::assignor::{AssignorMember, assign};
use broker::message::group::{AssignorKind, TopicPartition};
use proptest::prelude::*;

const TOPICS: [&str; 3] = ["a", "b", "c"];

fn topics_strategy() -> impl Strategy<Value = BTreeMap<String, u32>> {
    proptest::collection::vec(1u32..12, 3).prop_map(|counts| {
        TOPICS
            .iter()
            .zip(counts)
            .map(|(topic, count)| (topic.to_string(), count))
            .collect()
    })
}

/// Members with ids 1..=n, each subscribed to a non-empty subset of the topics.
fn members_strategy() -> impl Strategy<Value = Vec<AssignorMember>> {
    proptest::collection::vec(1u8..8, 1..8).prop_map(|masks| {
        masks
            .into_iter()
            .enumerate()
            .map(|(position, mask)| AssignorMember {
                member_id: position as u64 + 1,
                topics: TOPICS
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, topic)| topic.to_string())
                    .collect(),
                previous: Vec::new(),
            })
            .collect()
    })
}

fn kinds() -> [AssignorKind; 2] {
    [AssignorKind::Range, AssignorKind::Sticky]
}

fn assert_valid(
    members: &[AssignorMember],
    topics: &BTreeMap<String, u32>,
    assignment: &BTreeMap<u64, Vec<TopicPartition>>,
) {
    let mut owners: BTreeMap<TopicPartition, u64> = BTreeMap::new();
    for member in members {
        for partition in &assignment[&member.member_id] {
            assert!(
                member.topics.contains(&partition.0),
                "outside the subscription"
            );
            assert!(owners.insert(partition.clone(), member.member_id).is_none());
        }
    }
    for (topic, count) in topics {
        let subscribed = members.iter().any(|member| member.topics.contains(topic));
        for partition in 0..*count {
            let owned = owners.contains_key(&(topic.clone(), partition));
            assert_eq!(owned, subscribed, "{topic}/{partition}");
        }
    }
}

proptest! {
    #[test]
    fn every_subscribed_partition_has_exactly_one_subscribed_owner(
        members in members_strategy(),
        topics in topics_strategy(),
    ) {
        for kind in kinds() {
            let assignment = assign(kind, &members, &topics);
            assert_valid(&members, &topics, &assignment);
            prop_assert_eq!(&assignment, &assign(kind, &members, &topics), "deterministic");
        }
    }

    #[test]
    fn one_shared_subscription_is_balanced_and_sticky_keeps_it(
        member_count in 1usize..8,
        partitions in 1u32..24,
        joiners in 0usize..3,
    ) {
        let topics: BTreeMap<String, u32> = [("a".to_string(), partitions)].into();
        let member = |member_id: u64| AssignorMember {
            member_id,
            topics: vec!["a".to_string()],
            previous: Vec::new(),
        };
        let mut members: Vec<AssignorMember> = (1..=member_count as u64).map(member).collect();
        for kind in kinds() {
            let assignment = assign(kind, &members, &topics);
            let sizes: BTreeSet<usize> = assignment.values().map(Vec::len).collect();
            prop_assert!(sizes.last().unwrap() - sizes.first().unwrap() <= 1, "{kind:?} unbalanced");
        }
        let first = assign(AssignorKind::Sticky, &members, &topics);
        for member in &mut members {
            member.previous = first[&member.member_id].clone();
        }
        prop_assert_eq!(&assign(AssignorKind::Sticky, &members, &topics), &first);
        // New members take partitions; every old member keeps all but what it gives up.
        let old_count = members.len();
        members.extend((0..joiners).map(|extra| member((old_count + extra) as u64 + 1)));
        let after = assign(AssignorKind::Sticky, &members, &topics);
        assert_valid(&members, &topics, &after);
        let sizes: BTreeSet<usize> = after.values().map(Vec::len).collect();
        prop_assert!(sizes.last().unwrap() - sizes.first().unwrap() <= 1, "unbalanced after joins");
        let share = partitions as usize / members.len();
        for member in &members[..old_count] {
            let kept = after[&member.member_id]
                .iter()
                .filter(|partition| member.previous.contains(partition))
                .count();
            prop_assert!(kept >= member.previous.len().min(share), "sticky moved too much");
        }
    }
}

#[test]
fn range_gives_the_first_members_the_extra_partitions() {
    let topics: BTreeMap<String, u32> = [("a".to_string(), 5)].into();
    let members: Vec<AssignorMember> = (1..=2)
        .map(|member_id| AssignorMember {
            member_id,
            topics: vec!["a".to_string()],
            previous: Vec::new(),
        })
        .collect();
    let assignment = assign(AssignorKind::Range, &members, &topics);
    let a = |partition| ("a".to_string(), partition);
    assert_eq!(assignment[&1], vec![a(0), a(1), a(2)]);
    assert_eq!(assignment[&2], vec![a(3), a(4)]);
}
