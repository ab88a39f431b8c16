//! Deterministic replica assignment.
//!
//! Partition `p` of the `k`-th topic (counting from 0 in creation order) gets the replicas
//! `(k + p + i) mod brokers` for `i` in `0..replication_factor`: preferred leaders spread round-robin
//! over the brokers, and no partition lists a broker twice.

/// Replicas of every partition of a new topic.
pub fn assign_replicas(
    topic_ordinal: u32,
    partitions: u32,
    replication_factor: u32,
    brokers: u32,
) -> Vec<Vec<u32>> {
    assert!(brokers > 0 && replication_factor >= 1 && replication_factor <= brokers);
    let assignment: Vec<Vec<u32>> = (0..partitions)
        .map(|partition| {
            let start = (u64::from(topic_ordinal) + u64::from(partition)) % u64::from(brokers);
            (0..u64::from(replication_factor))
                .map(|offset| ((start + offset) % u64::from(brokers)) as u32)
                .collect()
        })
        .collect();
    debug_assert!(
        assignment
            .iter()
            .all(|replicas| !super::image::has_duplicates(replicas))
    );
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_preferred_leaders_round_robin() {
        assert_eq!(
            assign_replicas(0, 3, 3, 3),
            vec![vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]]
        );
        assert_eq!(assign_replicas(1, 2, 2, 5), vec![vec![1, 2], vec![2, 3]]);
    }
}
