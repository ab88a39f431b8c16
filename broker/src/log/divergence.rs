//! The follower side of epoch-based truncation (KIP-101, made iterative by KIP-279).
//!
//! A replica that becomes a follower (or restarts) does not know where its log stops agreeing with
//! the new leader's. It asks the leader, with an OffsetsForLeaderEpoch request, for the end offset
//! of its own latest epoch; the leader answers with the largest epoch it knows at most that one and
//! where that epoch ends in its log ([`crate::log::EpochCache::end_offset_for_epoch`]). Then:
//! - if the follower knows the answered epoch, both logs agree up to the end of that epoch in the
//!   shorter of the two: truncate to `min(leader's end offset, own end offset for that epoch)`, and
//!   the search is over;
//! - if it does not (the leader answered an older epoch the follower skipped), the follower's
//!   records from its first epoch above the answered one cannot be the leader's: truncate to the
//!   end of the largest own epoch below it, and ask again with the new latest epoch (KIP-279: a
//!   single round could leave divergent records of an epoch the leader never saw).
//!
//! The request also carries the follower's current leader epoch (KIP-320), so a broker that is no
//! longer the leader, or not yet, refuses to answer (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH)
//! instead of answering from a log that is not the current leader's; the node checks that against
//! its metadata before it calls [`crate::log::PartitionLog::end_offset_for_epoch`].
//!
//! Each round lowers the follower's latest epoch strictly or ends the search, so the search ends
//! within as many rounds as the follower's log has epochs. After it, the follower's log is a prefix
//! of the leader's (the property tests check this against random epoch histories), and it fetches
//! from its log end offset. This module is the pure decision; [`crate::log::PartitionLog`] applies
//! it ([`crate::log::PartitionLog::resolve_divergence`]).

use thiserror::Error;

use super::epoch_cache::{EpochCache, EpochEndOffset};
use super::image::LogWrite;

/// What one answer of the leader tells the follower to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TruncationStep {
    /// Truncate to `truncate_to`: the logs agree below it. The search is over.
    Complete { truncate_to: u64 },
    /// Truncate to `truncate_to`, then ask again with the new latest epoch.
    Continue { truncate_to: u64 },
}

/// Where a follower's search stands after a round: what it sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DivergenceNext {
    /// Send another OffsetsForLeaderEpoch request for `leader_epoch`.
    Ask { leader_epoch: u64 },
    /// The log is a prefix of the leader's: fetch from `fetch_offset` (the log end offset).
    Fetch { fetch_offset: u64 },
}

/// The outcome of one round: the truncation to persist, if any, and what to do next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DivergenceRound {
    pub write: Option<LogWrite>,
    pub next: DivergenceNext,
}

/// An answer the follower cannot use. Both come from the network (a delayed or duplicated answer),
/// so the node drops the answer and asks again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum DivergenceError {
    /// The answer is to a question about `requested_epoch`, but the log's latest epoch is now
    /// `latest_epoch` (the log changed since it asked).
    #[error("answer for epoch {requested_epoch} but the latest epoch is {latest_epoch:?}")]
    StaleAnswer {
        requested_epoch: u64,
        latest_epoch: Option<u64>,
    },
    /// The leader answered an epoch above the one asked about, which a leader never does.
    #[error("asked about epoch {requested_epoch}, answered epoch {answered_epoch}")]
    AnswerAboveRequest {
        requested_epoch: u64,
        answered_epoch: u64,
    },
}

/// The follower's decision for the leader's `answer`, given its own epoch cache and log end offset
/// (Kafka's `AbstractFetcherThread.getOffsetTruncationState`).
pub fn truncation_step(
    own_epochs: &EpochCache,
    own_log_end_offset: u64,
    answer: EpochEndOffset,
) -> TruncationStep {
    let Some(own) = own_epochs.end_offset_for_epoch(answer.leader_epoch, own_log_end_offset) else {
        // No record, so nothing can diverge: at most come down to the leader's end.
        return TruncationStep::Complete {
            truncate_to: answer.end_offset.min(own_log_end_offset),
        };
    };
    debug_assert!(own.end_offset <= own_log_end_offset);
    if own.leader_epoch == answer.leader_epoch {
        TruncationStep::Complete {
            truncate_to: own.end_offset.min(answer.end_offset),
        }
    } else {
        debug_assert!(own.leader_epoch < answer.leader_epoch, "a floor lookup");
        TruncationStep::Continue {
            truncate_to: own.end_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u64, u64)]) -> EpochCache {
        let mut cache = EpochCache::default();
        for (leader_epoch, start_offset) in entries {
            cache.assign(*leader_epoch, *start_offset);
        }
        cache
    }

    fn answer(leader_epoch: u64, end_offset: u64) -> EpochEndOffset {
        EpochEndOffset {
            leader_epoch,
            end_offset,
        }
    }

    #[test]
    fn same_epoch_truncates_to_the_shorter_end() {
        // Follower: epoch 1 at 0..10, epoch 2 at 10..15. Leader's epoch 2 ends at 12.
        let own = cache(&[(1, 0), (2, 10)]);
        assert_eq!(
            truncation_step(&own, 15, answer(2, 12)),
            TruncationStep::Complete { truncate_to: 12 }
        );
        // The leader's epoch 2 goes on past the follower's end: nothing to drop.
        assert_eq!(
            truncation_step(&own, 15, answer(2, 40)),
            TruncationStep::Complete { truncate_to: 15 }
        );
        // The leader ended epoch 1 where the follower did.
        assert_eq!(
            truncation_step(&own, 15, answer(1, 10)),
            TruncationStep::Complete { truncate_to: 10 }
        );
    }

    #[test]
    fn unknown_answered_epoch_truncates_to_the_lower_epoch_and_continues() {
        // Follower: epoch 1 at 0..10, epoch 3 at 10..15. The leader skipped epoch 3 but has an
        // epoch 2 the follower never saw, ending at 20.
        let own = cache(&[(1, 0), (3, 10)]);
        assert_eq!(
            truncation_step(&own, 15, answer(2, 20)),
            TruncationStep::Continue { truncate_to: 10 }
        );
    }

    #[test]
    fn answered_epoch_below_every_own_epoch_truncates_to_the_answer() {
        // Follower's log starts at 5 in epoch 4; the leader's epoch 1 ends at 7.
        let own = cache(&[(4, 5)]);
        assert_eq!(
            truncation_step(&own, 9, answer(1, 7)),
            TruncationStep::Complete { truncate_to: 5 }
        );
    }

    #[test]
    fn empty_follower_comes_down_to_the_leader_end_at_most() {
        let own = EpochCache::default();
        assert_eq!(
            truncation_step(&own, 0, answer(3, 7)),
            TruncationStep::Complete { truncate_to: 0 }
        );
        assert_eq!(
            truncation_step(&own, 9, answer(3, 7)),
            TruncationStep::Complete { truncate_to: 7 }
        );
    }
}
