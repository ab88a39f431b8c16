//! Bug switches at the log level: wrong truncation decisions Trial plants to show its checkers fire.
//!
//! Both are off by default. The node passes its cluster's switches in and calls
//! [`LogBugs::follower_start`] whenever a replica becomes a follower (including right after a
//! restart), then does what it says; it never decides the truncation itself.
//! - `truncate_to_high_watermark` (KAFKA.md zoo #1, the pre-KIP-101 behaviour): truncate to the
//!   local high watermark instead of searching for the epoch divergence point. The follower's HW
//!   lags the leader's by one fetch, so this drops records that are committed; if the leader then
//!   fails over to this replica, they are gone from the cluster (KIP-101, scenario 1).
//! - `skip_truncation_when_leader_unchanged` (zoo #2): when the new leader is the broker the
//!   follower already followed (back-to-back elections), keep fetching as if nothing happened. The
//!   leader's log may have changed in the epochs between (it followed someone else and truncated),
//!   so the follower keeps records the leader no longer has, and two replicas hold different
//!   records at one offset.

use serde::{Deserialize, Serialize};

use super::partition::PartitionLog;

/// The log-level bug switches. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogBugs {
    /// Zoo #1: on becoming a follower or restarting, truncate to the local high watermark.
    pub truncate_to_high_watermark: bool,
    /// Zoo #2: skip truncation when the new leader is the previous one.
    pub skip_truncation_when_leader_unchanged: bool,
}

/// What a replica that becomes a follower does to its log before it fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FollowerStart {
    /// Search for the divergence point by leader epoch (the correct behaviour): send
    /// OffsetsForLeaderEpoch for `leader_epoch`, the log's latest epoch.
    SearchDivergence { leader_epoch: u64 },
    /// Nothing to search: the log has no record. Fetch from `fetch_offset`.
    Fetch { fetch_offset: u64 },
    /// Zoo #1: truncate to `offset` (the local high watermark), then fetch from there.
    TruncateToHighWatermark { offset: u64 },
    /// Zoo #2: keep the log as it is and fetch from `fetch_offset` (the log end offset).
    KeepLog { fetch_offset: u64 },
}

impl LogBugs {
    /// What a replica does when it starts following `leader_now`, having followed
    /// `leader_before` (`None` after a restart or when it led or followed nobody).
    pub fn follower_start(
        self,
        log: &PartitionLog,
        leader_before: Option<u32>,
        leader_now: u32,
    ) -> FollowerStart {
        if self.skip_truncation_when_leader_unchanged && leader_before == Some(leader_now) {
            return FollowerStart::KeepLog {
                fetch_offset: log.log_end_offset(),
            };
        }
        if self.truncate_to_high_watermark {
            return FollowerStart::TruncateToHighWatermark {
                offset: log.high_watermark(),
            };
        }
        match log.divergence_query() {
            Some(leader_epoch) => FollowerStart::SearchDivergence { leader_epoch },
            None => FollowerStart::Fetch {
                fetch_offset: log.log_end_offset(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::limits::LogLimits;
    use crate::log::record::Record;

    /// Three records in epoch 2, the high watermark at 1.
    fn log() -> PartitionLog {
        let mut log = PartitionLog::new(LogLimits::default());
        log.append_as_leader(2, vec![Record::default(); 3])
            .expect("room");
        log.advance_high_watermark(1);
        log
    }

    #[test]
    fn by_default_a_follower_searches_the_divergence_point() {
        let bugs = LogBugs::default();
        for leader_before in [None, Some(1), Some(2)] {
            assert_eq!(
                bugs.follower_start(&log(), leader_before, 1),
                FollowerStart::SearchDivergence { leader_epoch: 2 }
            );
        }
        let empty = PartitionLog::new(LogLimits::default());
        assert_eq!(
            bugs.follower_start(&empty, None, 1),
            FollowerStart::Fetch { fetch_offset: 0 }
        );
    }

    #[test]
    fn truncate_to_high_watermark_ignores_the_epochs() {
        let bugs = LogBugs {
            truncate_to_high_watermark: true,
            ..LogBugs::default()
        };
        assert_eq!(
            bugs.follower_start(&log(), None, 1),
            FollowerStart::TruncateToHighWatermark { offset: 1 }
        );
    }

    #[test]
    fn skip_truncation_only_when_the_leader_is_unchanged() {
        let bugs = LogBugs {
            skip_truncation_when_leader_unchanged: true,
            truncate_to_high_watermark: true,
        };
        assert_eq!(
            bugs.follower_start(&log(), Some(1), 1),
            FollowerStart::KeepLog { fetch_offset: 3 }
        );
        assert_eq!(
            bugs.follower_start(&log(), Some(0), 1),
            FollowerStart::TruncateToHighWatermark { offset: 1 }
        );
    }
}
