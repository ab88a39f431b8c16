//! TxnOffsetCommit: offsets a transactional producer commits for a group inside its transaction
//! (KIP-98's consume-transform-produce), so that the records it consumed count as processed if,
//! and only if, what it produced from them commits.
//!
//! - **Where they go**: one batch of the group's offsets partition, stamped with the producer's id
//!   and epoch and marked as transactional data, appended with the coordinator's origin (its
//!   producer epoch is checked, its sequence numbers are not: [`Node::produce_batch_to_self`]).
//!   It is answered once the high watermark passes it, as a plain commit is.
//! - **When they take effect**: the producer first asked its transaction coordinator to add the
//!   group's offsets partition to the transaction (AddOffsetsToTxn), so the transaction's end
//!   writes its marker there too. The replay ([`super::offsets`]) holds the offsets until then,
//!   applies them on a commit marker and drops them on an abort marker; meanwhile an OffsetFetch
//!   of their partitions is answered UNSTABLE_OFFSET_COMMIT.
//! - **Fencing**: a zombie instance of the transactional id is refused at the append
//!   (INVALID_PRODUCER_EPOCH: the offsets partition holds a marker of a newer epoch), and a member
//!   that is no longer current in the group's generation is refused before it (KIP-447; zoo 11's
//!   `accept_stale_generation_commits` accepts it, as it accepts a plain commit).

use crate::group::coordinator::CommitAnswer;
use crate::log::{BatchTransaction, ProducerSequence, ProducerStamp};
use crate::message::group::TxnOffsetCommitRequest;
use crate::node::Node;

impl Node {
    pub(crate) fn on_txn_offset_commit(&mut self, from: u32, request: TxnOffsetCommitRequest) {
        let sequence = ProducerSequence {
            producer_id: request.producer_id,
            producer_epoch: request.producer_epoch,
            batch_first_sequence: 0,
            base_sequence: 0,
            // The request's part in the transaction is set apart, as a producer's is.
            transaction: BatchTransaction::None,
        };
        let answer = CommitAnswer {
            from,
            request_id: request.request_id,
            group: request.group,
            transactional: true,
        };
        let member = (request.member_id, request.generation);
        let stamp = ProducerStamp(Some(sequence));
        self.commit(answer, member, &request.offsets, stamp);
    }
}

#[cfg(test)]
mod tests {
    //! Node 0 coordinates group `g` (one member, holding `t/0`); a transactional producer commits
    //! the member's offsets inside its transactions, and node 1, standing for the transaction
    //! coordinator, writes their markers. Each test says which guarantee it traps.

    use super::*;
    use crate::config::BugsConfig;
    use crate::group::coordinator::offsets_key;
    use crate::group::test_support::{LEADER_EPOCH, coordinator_with};
    use crate::log::{TransactionMarker, TransactionOutcome};
    use crate::message::group::{
        AssignorKind, CommittedOffset, GroupError, JoinGroupRequest, JoinedGroup,
        OffsetFetchRequest, RebalanceProtocol,
    };
    use crate::message::{
        Message, ReplicaFetchPartition, ReplicaFetchRequest, WriteTxnMarkersRequest,
    };
    use crate::metadata::image::{PartitionState, TopicState};
    use crate::node::Output;

    const CLIENT: u32 = 9;
    const PRODUCER_ID: u64 = 40;

    /// The coordinator, with group `g` formed by one member that holds `t/0`.
    fn coordinating(bugs: BugsConfig) -> (Node, JoinedGroup) {
        let mut node = coordinator_with(bugs);
        let partition = PartitionState {
            replicas: vec![0, 1, 2],
            isr: vec![0, 1, 2],
            leader: Some(1),
            leader_epoch: 1,
            partition_epoch: 1,
        };
        let topic = TopicState {
            min_insync_replicas: 1,
            partitions: vec![partition],
        };
        node.image.topics.insert("t".to_owned(), topic);
        let join = JoinGroupRequest {
            request_id: 1,
            group: "g".to_owned(),
            member_id: None,
            topics: vec!["t".to_owned()],
            protocol: RebalanceProtocol::Eager,
            assignor: AssignorKind::Range,
            session_timeout_ns: 10_000_000_000,
            rebalance_timeout_ns: 10_000_000_000,
            owned: Vec::new(),
        };
        node.on_join_group(CLIENT, join);
        settle(&mut node);
        let joined = match &answers(&mut node)[..] {
            [Message::JoinGroupResponse(response)] => response.result.clone().expect("joined"),
            other => panic!("one JoinGroup answer expected: {other:?}"),
        };
        assert_eq!(joined.assignment, vec![("t".to_owned(), 0)]);
        (node, joined)
    }

    /// The end of a step: the messages the node sent itself, and the coordinators' replay.
    fn settle(node: &mut Node) {
        node.drain_loopback();
        node.reconcile_coordinators();
        node.drain_loopback();
        node.check_coordinator_invariants();
    }

    /// The leader's disk and both followers hold the offsets partition to its end.
    fn replicate(node: &mut Node) {
        let key = offsets_key(0);
        let end_offset = node.replicas.partitions[&key].log.log_end_offset();
        node.on_log_durable(key.clone(), LEADER_EPOCH, end_offset);
        for follower in [1, 2] {
            let request = ReplicaFetchRequest {
                request_id: 1,
                replica: follower,
                partitions: vec![ReplicaFetchPartition {
                    topic: key.0.clone(),
                    partition: 0,
                    current_leader_epoch: LEADER_EPOCH,
                    fetch_offset: end_offset,
                    high_watermark: 0,
                }],
                records_max: 100,
            };
            node.on_replica_fetch(follower, request);
        }
        settle(node);
    }

    /// What the client was sent since the last look.
    fn answers(node: &mut Node) -> Vec<Message> {
        std::mem::take(&mut node.effects.output)
            .into_iter()
            .filter_map(|output| match output {
                Output::Send {
                    to: CLIENT,
                    message,
                } => Some(message),
                _ => None,
            })
            .collect()
    }

    /// The producer (in `epoch`) commits `offset` for `t/0` inside its transaction, as `member`;
    /// the answer once replicated.
    fn txn_offset_commit(
        node: &mut Node,
        member: &JoinedGroup,
        epoch: u16,
        offset: u64,
    ) -> Result<(), GroupError> {
        let request = TxnOffsetCommitRequest {
            request_id: 10 + offset,
            transactional_id: "processor".to_owned(),
            group: "g".to_owned(),
            producer_id: PRODUCER_ID,
            producer_epoch: epoch,
            member_id: member.member_id,
            generation: member.generation,
            offsets: vec![(
                "t".to_owned(),
                0,
                CommittedOffset {
                    offset,
                    leader_epoch: Some(1),
                },
            )],
        };
        node.on_txn_offset_commit(CLIENT, request);
        settle(node);
        replicate(node);
        match &answers(node)[..] {
            [Message::TxnOffsetCommitResponse(response)] => response.result.clone(),
            other => panic!("one TxnOffsetCommit answer expected: {other:?}"),
        }
    }

    /// Node 1, the transaction coordinator, ends the producer's transaction of `epoch` in
    /// `epoch + 1` (KIP-890): the marker, replicated.
    fn end_transaction(node: &mut Node, epoch: u16, outcome: TransactionOutcome) {
        let marker = TransactionMarker {
            producer_id: PRODUCER_ID,
            producer_epoch: epoch + 1,
            outcome,
            coordinator_epoch: 1,
        };
        let request = WriteTxnMarkersRequest {
            request_id: 100 + u64::from(epoch),
            marker,
            partitions: vec![offsets_key(0)],
        };
        node.on_message(1, Message::WriteTxnMarkers(request));
        settle(node);
        replicate(node);
    }

    /// The member's committed offset of `t/0`, as an OffsetFetch answers it.
    fn committed(node: &mut Node, member: &JoinedGroup) -> Result<Option<u64>, GroupError> {
        let request = OffsetFetchRequest {
            request_id: 5,
            group: "g".to_owned(),
            member_id: member.member_id,
            generation: member.generation,
            partitions: vec![("t".to_owned(), 0)],
        };
        node.on_offset_fetch(CLIENT, request);
        match &answers(node)[..] {
            [Message::OffsetFetchResponse(response)] => response.result.clone().map(|offsets| {
                let [(_, _, committed)] = &offsets[..] else {
                    panic!("one partition asked: {offsets:?}")
                };
                committed.map(|committed| committed.offset)
            }),
            other => panic!("one OffsetFetch answer expected: {other:?}"),
        }
    }

    #[test]
    fn offsets_committed_in_a_transaction_take_effect_only_with_its_commit() {
        let (mut node, member) = coordinating(BugsConfig::default());
        assert_eq!(txn_offset_commit(&mut node, &member, 0, 5), Ok(()));
        assert_eq!(
            committed(&mut node, &member),
            Err(GroupError::UnstableOffsetCommit),
            "a new owner must not start below offsets the open transaction may commit"
        );
        end_transaction(&mut node, 0, TransactionOutcome::Commit);
        assert_eq!(committed(&mut node, &member), Ok(Some(5)));

        assert_eq!(txn_offset_commit(&mut node, &member, 1, 9), Ok(()));
        end_transaction(&mut node, 1, TransactionOutcome::Abort);
        assert_eq!(
            committed(&mut node, &member),
            Ok(Some(5)),
            "an aborted transaction's offsets never take effect"
        );
    }

    #[test]
    fn a_fenced_producer_epoch_commits_no_offsets() {
        let (mut node, member) = coordinating(BugsConfig::default());
        assert_eq!(txn_offset_commit(&mut node, &member, 0, 5), Ok(()));
        end_transaction(&mut node, 0, TransactionOutcome::Commit);
        assert_eq!(
            txn_offset_commit(&mut node, &member, 0, 7),
            Err(GroupError::InvalidProducerEpoch),
            "epoch 0 ended: a zombie of it must not commit"
        );
        assert_eq!(committed(&mut node, &member), Ok(Some(5)));
    }

    #[test]
    fn a_member_of_an_older_generation_commits_no_offsets_unless_zoo_11_is_planted() {
        let (mut node, member) = coordinating(BugsConfig::default());
        let stale = JoinedGroup {
            generation: member.generation - 1,
            ..member.clone()
        };
        assert_eq!(
            txn_offset_commit(&mut node, &stale, 0, 5),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(committed(&mut node, &member), Ok(None));

        let planted = BugsConfig {
            accept_stale_generation_commits: true,
            ..BugsConfig::default()
        };
        let (mut node, member) = coordinating(planted);
        let stale = JoinedGroup {
            generation: member.generation - 1,
            ..member.clone()
        };
        assert_eq!(txn_offset_commit(&mut node, &stale, 0, 5), Ok(()));
        end_transaction(&mut node, 0, TransactionOutcome::Commit);
        assert_eq!(committed(&mut node, &member), Ok(Some(5)));
    }

    #[test]
    fn a_new_coordinator_replays_an_open_transactions_offsets_as_unstable() {
        let (mut node, member) = coordinating(BugsConfig::default());
        assert_eq!(txn_offset_commit(&mut node, &member, 0, 5), Ok(()));
        node.resign_coordinator(0);
        node.start_coordinator(0, LEADER_EPOCH);
        settle(&mut node);
        let offsets = &node.groups.partitions[&0].offsets;
        assert_eq!(offsets.open_transactions(), 1, "the replay holds them");
        end_transaction(&mut node, 0, TransactionOutcome::Commit);
        assert_eq!(node.groups.partitions[&0].offsets.open_transactions(), 0);
    }
}
