//! The typed violations the state monitors report.

use serde::Serialize;

use super::quorum::EntryId;
use super::replicas::RecordId;

/// A broken state invariant, with the context needed to debug it: the simulated time, the nodes
/// involved, the term or epoch, the index or offset, and the two conflicting values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StateViolation {
    /// Two controller quorum members claimed leadership of the same term (Raft election safety).
    #[error(
        "at {time_ns} ns: two controller leaders in term {term}: node {first_node} and node {second_node}"
    )]
    TwoQuorumLeaders {
        time_ns: u64,
        term: u64,
        first_node: u32,
        second_node: u32,
    },
    /// A member's entry at or below its commit index differs from the cluster's committed entry
    /// (Raft state machine safety; log matching).
    #[error(
        "at {time_ns} ns: node {node} holds {found} at committed index {index}, but the entry committed there (first seen on node {committed_by_node}) is {committed}"
    )]
    CommittedEntryDiverged {
        time_ns: u64,
        node: u32,
        index: u64,
        committed: EntryId,
        committed_by_node: u32,
        found: EntryId,
    },
    /// A leader's log lacks an entry committed before its term (Raft leader completeness): it
    /// was elected without the committed entries, so it will overwrite them.
    #[error(
        "at {time_ns} ns: node {node} leads term {term} without committed entry {index} ({committed}, first seen committed on node {committed_by_node})"
    )]
    LeaderMissingCommittedEntry {
        time_ns: u64,
        node: u32,
        term: u64,
        index: u64,
        committed: EntryId,
        committed_by_node: u32,
    },
    /// A member claims a commit index beyond the end of its own log.
    #[error(
        "at {time_ns} ns: node {node} has commit index {commit_index} beyond its log of {log_length} entries"
    )]
    CommitIndexBeyondLog {
        time_ns: u64,
        node: u32,
        commit_index: u64,
        log_length: u64,
    },
    /// A member's current term went backwards (terms are persisted before use in Raft).
    #[error("at {time_ns} ns: node {node}'s term decreased from {previous_term} to {term}")]
    QuorumTermDecreased {
        time_ns: u64,
        node: u32,
        previous_term: u64,
        term: u64,
    },
    /// Two brokers were named leader of one partition in the same leader epoch.
    #[error(
        "at {time_ns} ns: {topic}/{partition} leader epoch {leader_epoch} has two leaders: broker {first_leader} (seen by node {first_seen_by}) and broker {second_leader} (seen by node {second_seen_by})"
    )]
    TwoPartitionLeaders {
        time_ns: u64,
        topic: String,
        partition: u32,
        leader_epoch: u64,
        first_leader: u32,
        first_seen_by: u32,
        second_leader: u32,
        second_seen_by: u32,
    },
    /// A partition's leader is not a member of its in-sync replica set.
    #[error(
        "at {time_ns} ns: node {node} sees broker {leader} lead {topic}/{partition} in leader epoch {leader_epoch} outside its ISR {isr:?}"
    )]
    LeaderOutsideIsr {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        leader: u32,
        leader_epoch: u64,
        isr: Vec<u32>,
    },
    /// A node's view of a partition's leader epoch went backwards without a restart.
    #[error(
        "at {time_ns} ns: node {node}'s leader epoch of {topic}/{partition} decreased from {previous_leader_epoch} to {leader_epoch}"
    )]
    LeaderEpochDecreased {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        previous_leader_epoch: u64,
        leader_epoch: u64,
    },
    /// A node's view of a broker's registration epoch went backwards without a restart.
    #[error(
        "at {time_ns} ns: node {node}'s broker epoch of broker {broker} decreased from {previous_broker_epoch} to {broker_epoch}"
    )]
    BrokerEpochDecreased {
        time_ns: u64,
        node: u32,
        broker: u32,
        previous_broker_epoch: u64,
        broker_epoch: u64,
    },
    /// A record below a replica's high watermark differs from the record committed at that offset
    /// (first seen below the high watermark of another replica, or of the same one earlier).
    #[error(
        "at {time_ns} ns: node {node} holds {found} at offset {offset} of {topic}/{partition} below its high watermark, but the record committed there (first seen on node {committed_by_node}) is {committed}"
    )]
    CommittedRecordDiverged {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        offset: u64,
        committed: RecordId,
        committed_by_node: u32,
        found: RecordId,
    },
    /// A replica's high watermark points past records it does not hold.
    #[error(
        "at {time_ns} ns: node {node}'s high watermark {high_watermark} of {topic}/{partition} is beyond its log end offset {log_end_offset}"
    )]
    HighWatermarkBeyondLog {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        high_watermark: u64,
        log_end_offset: u64,
    },
    /// The leader's high watermark went backwards within one leader epoch.
    #[error(
        "at {time_ns} ns: leader node {node}'s high watermark of {topic}/{partition} decreased from {previous_high_watermark} to {high_watermark} in leader epoch {leader_epoch}"
    )]
    HighWatermarkDecreased {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        leader_epoch: u64,
        previous_high_watermark: u64,
        high_watermark: u64,
    },
    /// Two replicas claimed leadership of one partition in the same leader epoch.
    #[error(
        "at {time_ns} ns: {topic}/{partition} leader epoch {leader_epoch} is claimed by two replicas: node {first_node} and node {second_node}"
    )]
    TwoReplicaLeaders {
        time_ns: u64,
        topic: String,
        partition: u32,
        leader_epoch: u64,
        first_node: u32,
        second_node: u32,
    },
    /// A replica's records are not in strictly increasing offset order.
    #[error(
        "at {time_ns} ns: node {node}'s log of {topic}/{partition} has offset {offset} after offset {previous_offset}"
    )]
    RecordsOutOfOrder {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        previous_offset: u64,
        offset: u64,
    },
    /// A replica's log holds a batch of a producer epoch older than one it showed before: a
    /// leader appended a write of a fenced producer (a zombie; KIP-98).
    #[error(
        "at {time_ns} ns: node {node}'s log of {topic}/{partition} holds a batch of producer {producer_id} epoch {producer_epoch} at offset {offset}, after epoch {fencing_epoch} fenced it at offset {fencing_offset}"
    )]
    FencedProducerWrite {
        time_ns: u64,
        node: u32,
        topic: String,
        partition: u32,
        offset: u64,
        producer_id: u64,
        producer_epoch: u16,
        fencing_epoch: u16,
        fencing_offset: u64,
    },
}

impl StateViolation {
    /// The nodes and brokers the violation names (a broker's id is its node's), each once, in
    /// the order the description names them: a driver that names nodes can print who is who.
    pub fn nodes(&self) -> Vec<u32> {
        let named: Vec<u32> = match self {
            StateViolation::TwoQuorumLeaders {
                first_node,
                second_node,
                ..
            }
            | StateViolation::TwoReplicaLeaders {
                first_node,
                second_node,
                ..
            } => vec![*first_node, *second_node],
            StateViolation::CommittedEntryDiverged {
                node,
                committed_by_node,
                ..
            }
            | StateViolation::LeaderMissingCommittedEntry {
                node,
                committed_by_node,
                ..
            }
            | StateViolation::CommittedRecordDiverged {
                node,
                committed_by_node,
                ..
            } => vec![*node, *committed_by_node],
            StateViolation::CommitIndexBeyondLog { node, .. }
            | StateViolation::QuorumTermDecreased { node, .. }
            | StateViolation::LeaderEpochDecreased { node, .. }
            | StateViolation::HighWatermarkBeyondLog { node, .. }
            | StateViolation::HighWatermarkDecreased { node, .. }
            | StateViolation::RecordsOutOfOrder { node, .. }
            | StateViolation::FencedProducerWrite { node, .. } => vec![*node],
            StateViolation::TwoPartitionLeaders {
                first_leader,
                first_seen_by,
                second_leader,
                second_seen_by,
                ..
            } => vec![
                *first_leader,
                *first_seen_by,
                *second_leader,
                *second_seen_by,
            ],
            StateViolation::LeaderOutsideIsr {
                node, leader, isr, ..
            } => [*node, *leader]
                .into_iter()
                .chain(isr.iter().copied())
                .collect(),
            StateViolation::BrokerEpochDecreased { node, broker, .. } => vec![*node, *broker],
        };
        let mut nodes = Vec::with_capacity(named.len());
        for node in named {
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_once_each_in_the_order_the_description_names_them() {
        let outside = StateViolation::LeaderOutsideIsr {
            time_ns: 5,
            node: 2,
            topic: "orders".to_string(),
            partition: 1,
            leader: 0,
            leader_epoch: 3,
            isr: vec![1, 2],
        };
        assert_eq!(outside.nodes(), vec![2, 0, 1]);
        let two_leaders = StateViolation::TwoPartitionLeaders {
            time_ns: 5,
            topic: "orders".to_string(),
            partition: 1,
            leader_epoch: 3,
            first_leader: 4,
            first_seen_by: 4,
            second_leader: 5,
            second_seen_by: 0,
        };
        assert_eq!(two_leaders.nodes(), vec![4, 5, 0]);
        let decreased = StateViolation::QuorumTermDecreased {
            time_ns: 5,
            node: 1,
            previous_term: 4,
            term: 3,
        };
        assert_eq!(decreased.nodes(), vec![1]);
    }
}
