//! Raft over the metadata log, among the controller voters; the other brokers follow the log as
//! learners (they receive AppendEntries, never vote and never count toward a commit).
//!
//! - [`log`]: the in-memory log with per-entry digests.
//! - [`election`]: election timeouts, pre-vote, votes, becoming leader or follower.
//! - [`replication`]: AppendEntries, commit by majority, applying committed entries.
//!
//! Safety rules kept here (and asserted where they are relied upon):
//! - a vote is granted, and a candidate counts its own vote, only after the new term and vote are
//!   synced to disk;
//! - a follower acknowledges entries only after they are synced; a leader counts its own copy only
//!   once synced;
//! - a leader commits only entries of its own term by counting a majority of voters (entries of
//!   earlier terms commit with them: a new leader appends a no-op);
//! - requests from older terms are rejected; a leader that has not heard from a majority for an
//!   election timeout steps down (check quorum);
//! - a committed entry is never truncated.

pub mod election;
pub mod log;
pub mod replication;

use std::collections::{BTreeMap, BTreeSet};

use self::log::RaftLog;
use crate::storage::{HardState, Storage};

/// A voter's role in its current term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Follower,
    /// Asking for pre-votes for `term + 1`; `granted` holds the voters that granted (self included).
    PreCandidate {
        granted: BTreeSet<u32>,
    },
    /// `granted` holds the voters whose votes are durable at their end (self once synced).
    Candidate {
        granted: BTreeSet<u32>,
    },
    Leader(LeaderState),
}

/// What a leader knows of its followers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaderState {
    /// Every other node (voters and learners).
    pub(crate) progress: BTreeMap<u32, Progress>,
    /// Local time of the last response from each other voter in this term.
    pub(crate) last_ack_ns: BTreeMap<u32, u64>,
    /// The leader's own entries `1..=durable_index` are synced.
    pub(crate) durable_index: u64,
    /// Index of this term's no-op: once committed, the leader is the active controller.
    pub(crate) noop_index: Option<u64>,
    /// Entries appended since the last broadcast.
    pub(crate) entries_unsent: bool,
}

/// Replication progress of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Next entry to send.
    pub(crate) next_index: u64,
    /// Highest entry known to be durable at the follower and matching the leader's log.
    pub(crate) match_index: u64,
}

/// Raft state of one node.
#[derive(Clone, Debug)]
pub(crate) struct RaftState {
    pub(crate) term: u64,
    pub(crate) voted_for: Option<u32>,
    /// The newest hard state known to be synced (what a restart would recover, at least).
    pub(crate) hard_state_durable: HardState,
    pub(crate) log: RaftLog,
    pub(crate) commit_index: u64,
    pub(crate) role: Role,
    /// The leader of the current term, if known.
    pub(crate) leader: Option<u32>,
    /// Local time this node last heard from the leader of its term (for the pre-vote lease).
    pub(crate) leader_contact_ns: Option<u64>,
}

impl RaftState {
    /// Rebuilds the state from the durable image: term, vote and log survive; the commit index
    /// does not (it is learned again from the leader).
    ///
    /// The durable log may end in a term newer than the durable hard state: a failed sync can drop
    /// the write that adopted the term while a later sync makes the term's entries durable. The
    /// node then resumes in the log's term with no vote: it never durably voted in that term (a
    /// vote is sent only once a sync covering it succeeded with no fault since).
    pub(crate) fn recover(storage: &Storage) -> RaftState {
        let log = RaftLog::from_entries(&storage.metadata_log);
        let hard_state = if log.last_term() > storage.hard_state.term {
            HardState {
                term: log.last_term(),
                voted_for: None,
            }
        } else {
            storage.hard_state
        };
        assert!(log.last_term() <= hard_state.term);
        RaftState {
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            hard_state_durable: hard_state,
            log,
            commit_index: 0,
            role: Role::Follower,
            leader: None,
            leader_contact_ns: None,
        }
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }

    pub(crate) fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub(crate) fn leader_state_mut(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            Role::Leader(leader) => Some(leader),
            _ => None,
        }
    }
}
