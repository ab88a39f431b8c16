//! Log replication: AppendEntries (also the heartbeat), log matching, commit by majority, and
//! applying committed entries to the metadata image.
//!
//! The leader pipelines: it advances a follower's `next_index` as soon as it sends entries, and
//! falls back to the follower's hint when the follower rejects (its log is shorter or diverges at
//! `prev_log_index`). Followers acknowledge only what is synced. The leader commits index `n` only
//! if `n` is of its own term and a majority of voters (its own synced copy included) hold it.

use std::sync::Arc;

use super::Role;
use super::log::Entry;
use crate::disk::Waiter;
use crate::message::Message;
use crate::metadata::record::MetadataRecord;
use crate::node::{Node, Timer};
use crate::storage::StorageWrite;

/// Why the leader could not append to the metadata log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProposeError {
    #[error("the metadata log is full (limits.metadata_log_entries_max)")]
    MetadataLogFull,
    #[error("not the active controller")]
    NotController,
}

impl Node {
    /// Appends `record` to the leader's log (not yet synced, not yet sent).
    pub(crate) fn append_as_leader(&mut self, record: MetadataRecord) -> Result<u64, ProposeError> {
        assert!(self.raft.is_leader(), "only the leader appends");
        if self.raft.log.last_index() >= self.config.limits.metadata_log_entries_max {
            return Err(ProposeError::MetadataLogFull);
        }
        let index = self.raft.log.last_index() + 1;
        let entry = Entry {
            term: self.raft.term,
            record: Arc::new(record),
        };
        self.raft.log.append(std::slice::from_ref(&entry));
        self.write(StorageWrite::MetadataLogAppend {
            index,
            entries: vec![entry],
        });
        self.raft.leader_state_mut().expect("leader").entries_unsent = true;
        assert_eq!(self.raft.log.last_index(), index);
        Ok(index)
    }

    /// At the end of a step: sync and send whatever the leader appended during it.
    pub(crate) fn replicate_new_entries(&mut self) {
        let term = self.raft.term;
        let Some(leader) = self.raft.leader_state_mut() else {
            return;
        };
        if !leader.entries_unsent {
            return;
        }
        leader.entries_unsent = false;
        let index = self.raft.log.last_index();
        self.when_durable(Waiter::LeaderDurable { term, index });
        self.broadcast_append_entries();
    }

    pub(crate) fn on_raft_heartbeat_timer(&mut self) {
        if !self.raft.is_leader() {
            return;
        }
        self.check_quorum();
        if !self.raft.is_leader() {
            return;
        }
        self.set_timer(
            Timer::RaftHeartbeat,
            self.config.timing.raft_heartbeat_interval_ns,
        );
        self.broadcast_append_entries();
        self.on_controller_tick();
    }

    fn broadcast_append_entries(&mut self) {
        let nodes: Vec<u32> = self
            .config
            .nodes()
            .filter(|node| *node != self.id)
            .collect();
        for node in nodes {
            self.send_append_entries(node);
        }
    }

    /// Sends `to` the entries from its `next_index` (possibly none: a heartbeat).
    fn send_append_entries(&mut self, to: u32) {
        let entries_max = self.config.limits.append_entries_max;
        let last_index = self.raft.log.last_index();
        let Role::Leader(leader) = &mut self.raft.role else {
            panic!("only a leader sends AppendEntries")
        };
        let progress = leader
            .progress
            .get_mut(&to)
            .expect("progress for every other node");
        assert!(progress.next_index >= 1 && progress.next_index <= last_index + 1);
        let prev_log_index = progress.next_index - 1;
        let entries = self.raft.log.entries_from(progress.next_index, entries_max);
        progress.next_index += entries.len() as u64;
        let message = Message::AppendEntries {
            term: self.raft.term,
            leader: self.id,
            prev_log_index,
            prev_log_term: self
                .raft
                .log
                .term_at(prev_log_index)
                .expect("prev within the log"),
            entries,
            leader_commit: self.raft.commit_index,
        };
        self.send(to, message);
    }

    pub(crate) fn on_append_entries(
        &mut self,
        term: u64,
        leader: u32,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    ) {
        if term < self.raft.term {
            self.send(
                leader,
                Message::AppendEntriesResponse {
                    term: self.raft.term,
                    success: false,
                    index: 0,
                },
            );
            return;
        }
        if term > self.raft.term
            || !matches!(self.raft.role, Role::Follower)
            || self.raft.leader != Some(leader)
        {
            self.become_follower(term, Some(leader));
        }
        self.raft.leader_contact_ns = Some(self.now_ns());
        if self.is_voter() {
            self.reset_election_timer();
        }
        if !self.raft.log.matches(prev_log_index, prev_log_term) {
            let hint = prev_log_index.min(self.raft.log.last_index() + 1).max(1);
            self.send(
                leader,
                Message::AppendEntriesResponse {
                    term,
                    success: false,
                    index: hint,
                },
            );
            return;
        }
        let match_index = prev_log_index + entries.len() as u64;
        self.append_from_leader(prev_log_index, entries);
        let commit_index = leader_commit.min(match_index);
        if commit_index > self.raft.commit_index {
            self.raft.commit_index = commit_index;
            self.apply_committed();
        }
        let response = Message::AppendEntriesResponse {
            term,
            success: true,
            index: match_index,
        };
        self.when_durable(Waiter::Send {
            to: leader,
            message: response,
        });
    }

    /// Appends the entries after `prev_log_index` that the log lacks, truncating a divergent tail.
    fn append_from_leader(&mut self, prev_log_index: u64, entries: Vec<Entry>) {
        let first_new = entries.iter().enumerate().position(|(offset, entry)| {
            self.raft.log.term_at(prev_log_index + 1 + offset as u64) != Some(entry.term)
        });
        let Some(first_new) = first_new else { return };
        let index = prev_log_index + 1 + first_new as u64;
        if index <= self.raft.log.last_index() {
            assert!(
                index > self.raft.commit_index || self.config.bugs.grant_two_votes_per_term,
                "node {}: truncating committed entry {index} (commit {})",
                self.id,
                self.raft.commit_index
            );
            self.raft.log.truncate_from(index);
            self.raft.commit_index = self.raft.commit_index.min(index - 1);
        }
        let new_entries = entries[first_new..].to_vec();
        assert!(
            self.raft.log.last_index() + new_entries.len() as u64
                <= self.config.limits.metadata_log_entries_max,
            "a leader never sends past the metadata log bound"
        );
        self.raft.log.append(&new_entries);
        self.write(StorageWrite::MetadataLogAppend {
            index,
            entries: new_entries,
        });
    }

    pub(crate) fn on_append_entries_response(
        &mut self,
        from: u32,
        term: u64,
        success: bool,
        index: u64,
    ) {
        if term > self.raft.term {
            self.become_follower(term, None);
            return;
        }
        let now_ns = self.now_ns();
        let last_index = self.raft.log.last_index();
        if term < self.raft.term {
            return;
        }
        let Role::Leader(leader) = &mut self.raft.role else {
            return;
        };
        if let Some(ack_ns) = leader.last_ack_ns.get_mut(&from) {
            *ack_ns = now_ns;
        }
        let Some(progress) = leader.progress.get_mut(&from) else {
            return;
        };
        if success {
            assert!(
                index <= last_index,
                "follower {from} matches past the leader's log"
            );
            progress.match_index = progress.match_index.max(index);
            progress.next_index = progress.next_index.max(progress.match_index + 1);
        } else {
            progress.next_index = index.clamp(progress.match_index + 1, last_index + 1);
        }
        let behind = progress.next_index <= last_index;
        if success {
            self.advance_commit();
        }
        if behind && self.raft.is_leader() {
            self.send_append_entries(from);
        }
    }

    pub(crate) fn on_leader_durable(&mut self, term: u64, index: u64) {
        if term != self.raft.term {
            return;
        }
        let Some(leader) = self.raft.leader_state_mut() else {
            return;
        };
        leader.durable_index = leader.durable_index.max(index);
        self.advance_commit();
    }

    /// Commits the highest index of the current term held by a majority of voters.
    fn advance_commit(&mut self) {
        let Role::Leader(leader) = &self.raft.role else {
            return;
        };
        let mut matches: Vec<u64> = self
            .config
            .voters()
            .map(|voter| {
                if voter == self.id {
                    leader.durable_index
                } else {
                    leader.progress[&voter].match_index
                }
            })
            .collect();
        matches.sort_unstable_by(|left, right| right.cmp(left));
        let majority_index = matches[self.config.quorum_size() - 1];
        if majority_index <= self.raft.commit_index
            || self.raft.log.term_at(majority_index) != Some(self.raft.term)
        {
            return;
        }
        self.raft.commit_index = majority_index;
        self.apply_committed();
        self.maybe_activate_controller();
    }

    /// Applies every committed entry not yet applied, in log order.
    pub(crate) fn apply_committed(&mut self) {
        assert!(self.raft.commit_index <= self.raft.log.last_index());
        while self.image.applied_index < self.raft.commit_index {
            let index = self.image.applied_index + 1;
            let record = self.raft.log.entry(index).record.clone();
            self.image.apply(index, &record);
            self.on_record_applied(&record);
        }
        // (Above the commit index only if a planted bug truncated a committed entry.)
        assert!(self.image.applied_index >= self.raft.commit_index);
    }
}
