//! The controller quorum's Raft invariants: at most one leader per term, ever; every member's log
//! agrees with the cluster's committed prefix up to its own commit index; a committed entry never
//! changes; a member's term never decreases; a leader's log holds every entry committed before
//! its term (leader completeness).
//!
//! Source: Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm", section 5
//! (election safety, log matching, state machine safety); KIP-595 (KRaft's Raft).
//!
//! The monitor keeps the cluster's committed prefix (the longest prefix any member ever declared
//! committed) and, per member, how far its log was already verified against it. Each observation
//! re-checks the last verified entry of each member (a cheap sentinel: logs are rewritten by
//! truncating and appending, which replaces it), scans only the entries newly covered by its
//! commit index, and audits a few older entries in rotation, so that an entry changed in place is
//! caught within (entries / [`AUDIT_ENTRIES_PER_OBSERVATION`]) observations.
//! [`QuorumMonitor::audit`] checks everything at once (for a run's final checks). The commit index is volatile in Raft
//! and may drop after a restart; the verified mark then drops with it.
//!
//! Leader completeness needs the term in which an entry was committed, which snapshots do not
//! show; the monitor bounds it by the highest term any member had when the entry was first seen
//! committed. A leader whose term exceeds that bound must hold the entry; a stale leader of an
//! older term (still unaware it was deposed) is not judged.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::StateViolation;

/// The identity of a metadata log entry: the term it was appended in and a digest of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId {
    pub term: u64,
    pub digest: u64,
}

impl fmt::Display for EntryId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "entry(term {}, digest {:#018x})",
            self.term, self.digest
        )
    }
}

/// One live controller quorum member's state, as the simulator sees it after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumMemberSnapshot {
    pub node: u32,
    pub term: u64,
    pub voted_for: Option<u32>,
    pub is_leader: bool,
    /// Entries `1..=commit_index` are committed (Raft's 1-based indices).
    pub commit_index: u64,
    /// Entry `i` (1-based) is `log[i - 1]`.
    pub log: Vec<EntryId>,
}

/// How many already-verified entries of each member one observation re-checks, in rotation.
pub const AUDIT_ENTRIES_PER_OBSERVATION: u64 = 4;

/// Where one member's log was last verified against the committed prefix.
#[derive(Debug, Clone, Copy)]
struct MemberProgress {
    term: u64,
    /// Entries `1..=verified_index` of this member's log matched the committed prefix.
    verified_index: u64,
    /// The 1-based index where the next audit starts.
    audit_index: u64,
}

/// Checks the controller quorum's Raft invariants across a whole run.
#[derive(Debug, Default)]
pub struct QuorumMonitor {
    /// The leader of each term ever observed.
    leader_by_term: BTreeMap<u64, u32>,
    /// The cluster's committed prefix: entry `i` (1-based) is `committed[i - 1]`.
    committed: Vec<EntryId>,
    /// The node that first showed each committed entry (parallel to `committed`).
    committed_by_node: Vec<u32>,
    /// An upper bound on the term each entry was committed in (parallel to `committed`,
    /// non-decreasing): the highest term seen when it was first seen committed.
    commit_term_bound: Vec<u64>,
    /// The highest term any member ever had.
    term_max: u64,
    progress_by_node: BTreeMap<u32, MemberProgress>,
}

impl QuorumMonitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the live members after a step. Returns the first violation found.
    pub fn observe(
        &mut self,
        time_ns: u64,
        members: &[QuorumMemberSnapshot],
    ) -> Result<(), StateViolation> {
        let snapshot_term_max = members.iter().map(|member| member.term).max();
        self.term_max = self.term_max.max(snapshot_term_max.unwrap_or(0));
        for member in members {
            self.observe_term(time_ns, member)?;
            self.observe_leadership(time_ns, member)?;
            self.observe_log(time_ns, member)?;
        }
        Ok(())
    }

    /// The longest committed prefix observed so far.
    pub fn committed_prefix(&self) -> &[EntryId] {
        &self.committed
    }

    fn observe_term(
        &mut self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
    ) -> Result<(), StateViolation> {
        let progress = self
            .progress_by_node
            .entry(member.node)
            .or_insert(MemberProgress {
                term: member.term,
                verified_index: 0,
                audit_index: 1,
            });
        if member.term < progress.term {
            return Err(StateViolation::QuorumTermDecreased {
                time_ns,
                node: member.node,
                previous_term: progress.term,
                term: member.term,
            });
        }
        progress.term = member.term;
        Ok(())
    }

    fn observe_leadership(
        &mut self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
    ) -> Result<(), StateViolation> {
        if !member.is_leader {
            return Ok(());
        }
        let leader = *self
            .leader_by_term
            .entry(member.term)
            .or_insert(member.node);
        if leader != member.node {
            return Err(StateViolation::TwoQuorumLeaders {
                time_ns,
                term: member.term,
                first_node: leader,
                second_node: member.node,
            });
        }
        Ok(())
    }

    fn observe_log(
        &mut self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
    ) -> Result<(), StateViolation> {
        let log_length = member.log.len() as u64;
        if member.commit_index > log_length {
            return Err(StateViolation::CommitIndexBeyondLog {
                time_ns,
                node: member.node,
                commit_index: member.commit_index,
                log_length,
            });
        }
        let required_index = self.required_of_leader(time_ns, member)?;
        let limit_index = member.commit_index.max(required_index);
        let previously_verified = self.progress_by_node[&member.node].verified_index;
        let verified_index = previously_verified.min(limit_index);
        // Sentinel: the last entry verified earlier must still be the committed one.
        if verified_index > 0 {
            self.check_entry(time_ns, member, verified_index)?;
        }
        for index in verified_index + 1..=limit_index {
            self.check_entry(time_ns, member, index)?;
        }
        let audit_index = self.progress_by_node[&member.node].audit_index;
        let audit_index = self.audit_entries(time_ns, member, audit_index, limit_index)?;
        let progress = self
            .progress_by_node
            .get_mut(&member.node)
            .expect("observe_term registers every member first");
        progress.verified_index = limit_index;
        progress.audit_index = audit_index;
        Ok(())
    }

    /// Re-checks up to [`AUDIT_ENTRIES_PER_OBSERVATION`] verified entries (indices `1..=last`)
    /// from `start`, wrapping around; returns where the next audit starts.
    fn audit_entries(
        &mut self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
        start: u64,
        last: u64,
    ) -> Result<u64, StateViolation> {
        if last == 0 {
            return Ok(1);
        }
        let mut index = if (1..=last).contains(&start) {
            start
        } else {
            1
        };
        for _ in 0..AUDIT_ENTRIES_PER_OBSERVATION.min(last) {
            self.check_entry(time_ns, member, index)?;
            index = index % last + 1;
        }
        Ok(index)
    }

    /// Checks every member's whole verified log against the committed prefix, however long ago
    /// it was verified: O(entries). For a run's final checks; the per-step
    /// [`observe`](Self::observe) audits a few entries at a time.
    pub fn audit(
        &mut self,
        time_ns: u64,
        members: &[QuorumMemberSnapshot],
    ) -> Result<(), StateViolation> {
        self.observe(time_ns, members)?;
        for member in members {
            let verified_index = self.progress_by_node[&member.node].verified_index;
            for index in 1..=verified_index {
                self.check_entry(time_ns, member, index)?;
            }
        }
        Ok(())
    }

    /// For a leader, how many committed entries its log must hold (those committed before its
    /// term); 0 for a follower. Fails if its log is shorter than that.
    fn required_of_leader(
        &self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
    ) -> Result<u64, StateViolation> {
        if !member.is_leader {
            return Ok(0);
        }
        let required = self
            .commit_term_bound
            .partition_point(|&bound| bound < member.term);
        if required > member.log.len() {
            let index = member.log.len() + 1;
            return Err(StateViolation::LeaderMissingCommittedEntry {
                time_ns,
                node: member.node,
                term: member.term,
                index: index as u64,
                committed: self.committed[index - 1],
                committed_by_node: self.committed_by_node[index - 1],
            });
        }
        Ok(required as u64)
    }

    /// Checks `member`'s entry at 1-based `index` (at or below its commit index, or for a leader
    /// within the committed prefix) against the committed prefix, extending the prefix when the
    /// member is the first to commit `index`.
    fn check_entry(
        &mut self,
        time_ns: u64,
        member: &QuorumMemberSnapshot,
        index: u64,
    ) -> Result<(), StateViolation> {
        debug_assert!(index >= 1 && index <= member.log.len() as u64);
        let position = usize::try_from(index - 1).expect("index fits in memory");
        let found = member.log[position];
        if position == self.committed.len() {
            assert!(
                index <= member.commit_index,
                "only committed entries extend the prefix"
            );
            self.committed.push(found);
            self.committed_by_node.push(member.node);
            self.commit_term_bound.push(self.term_max);
            return Ok(());
        }
        assert!(
            position < self.committed.len(),
            "entries are verified in index order, so the prefix never has a gap"
        );
        let committed = self.committed[position];
        if committed != found {
            return Err(StateViolation::CommittedEntryDiverged {
                time_ns,
                node: member.node,
                index,
                committed,
                committed_by_node: self.committed_by_node[position],
                found,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64, digest: u64) -> EntryId {
        EntryId { term, digest }
    }

    fn member(
        node: u32,
        term: u64,
        is_leader: bool,
        commit_index: u64,
        log: &[EntryId],
    ) -> QuorumMemberSnapshot {
        QuorumMemberSnapshot {
            node,
            term,
            voted_for: Some(node),
            is_leader,
            commit_index,
            log: log.to_vec(),
        }
    }

    /// A healthy run: elections, replication, a follower catching up, a restart that drops the
    /// volatile commit index, and uncommitted tails that differ. Nothing fires.
    #[test]
    fn good_sequence_stays_quiet() {
        let mut monitor = QuorumMonitor::new();
        let a = entry(1, 10);
        let b = entry(1, 11);
        let c = entry(2, 12);
        monitor
            .observe(
                1,
                &[member(1, 1, true, 1, &[a]), member(2, 1, false, 0, &[a])],
            )
            .unwrap();
        // Node 2 has an uncommitted tail that differs from node 3's: allowed.
        monitor
            .observe(
                2,
                &[
                    member(1, 1, true, 2, &[a, b]),
                    member(2, 1, false, 1, &[a, entry(1, 99)]),
                    member(3, 1, false, 0, &[]),
                ],
            )
            .unwrap();
        // New term, new leader; node 2 restarted: commit index back to 0.
        monitor
            .observe(
                3,
                &[
                    member(2, 2, false, 0, &[a, b]),
                    member(3, 2, true, 3, &[a, b, c]),
                ],
            )
            .unwrap();
        monitor
            .observe(
                4,
                &[
                    member(2, 2, false, 3, &[a, b, c]),
                    member(3, 2, true, 3, &[a, b, c]),
                ],
            )
            .unwrap();
        assert_eq!(monitor.committed_prefix(), &[a, b, c]);
    }

    #[test]
    fn two_leaders_in_one_term_fire_even_at_different_times() {
        let mut monitor = QuorumMonitor::new();
        monitor.observe(1, &[member(1, 5, true, 0, &[])]).unwrap();
        monitor.observe(2, &[member(1, 5, false, 0, &[])]).unwrap();
        let violation = monitor
            .observe(3, &[member(2, 5, true, 0, &[])])
            .unwrap_err();
        assert_eq!(
            violation,
            StateViolation::TwoQuorumLeaders {
                time_ns: 3,
                term: 5,
                first_node: 1,
                second_node: 2
            }
        );
    }

    #[test]
    fn divergent_committed_entries_fire() {
        let mut monitor = QuorumMonitor::new();
        let violation = monitor
            .observe(
                7,
                &[
                    member(1, 1, true, 2, &[entry(1, 1), entry(1, 2)]),
                    member(2, 1, false, 2, &[entry(1, 1), entry(1, 3)]),
                ],
            )
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedEntryDiverged {
                node: 2,
                index: 2,
                committed_by_node: 1,
                ..
            }
        ));
        assert!(violation.to_string().contains("committed index 2"));
    }

    #[test]
    fn rewritten_committed_entry_fires_on_the_same_member() {
        let mut monitor = QuorumMonitor::new();
        monitor
            .observe(1, &[member(1, 1, true, 2, &[entry(1, 1), entry(1, 2)])])
            .unwrap();
        let violation = monitor
            .observe(
                2,
                &[member(
                    1,
                    1,
                    true,
                    3,
                    &[entry(1, 1), entry(1, 7), entry(1, 3)],
                )],
            )
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedEntryDiverged { index: 2, .. }
        ));
    }

    /// A leader elected without the committed entries (a vote granted to a candidate whose log
    /// is behind) breaks leader completeness.
    #[test]
    fn leader_without_committed_entries_fires() {
        let mut monitor = QuorumMonitor::new();
        let a = entry(1, 1);
        let b = entry(1, 2);
        monitor
            .observe(
                1,
                &[
                    member(1, 1, true, 2, &[a, b]),
                    member(2, 1, false, 2, &[a, b]),
                    member(3, 1, false, 0, &[a]),
                ],
            )
            .unwrap();
        let violation = monitor
            .observe(2, &[member(3, 2, true, 1, &[a])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::LeaderMissingCommittedEntry {
                node: 3,
                term: 2,
                index: 2,
                ..
            }
        ));
        // A new leader holding them, with its commit index still behind, is fine.
        let mut monitor = QuorumMonitor::new();
        monitor
            .observe(1, &[member(1, 1, true, 2, &[a, b])])
            .unwrap();
        monitor
            .observe(2, &[member(2, 2, true, 0, &[a, b, entry(2, 3)])])
            .unwrap();
        // But holding a different entry at a committed index is a divergence.
        let violation = monitor
            .observe(3, &[member(3, 3, true, 0, &[a, entry(1, 9)])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedEntryDiverged {
                node: 3,
                index: 2,
                ..
            }
        ));
    }

    /// A deposed leader of an older term that never learnt of entries committed after it was
    /// deposed is not judged by leader completeness.
    #[test]
    fn stale_leader_of_an_older_term_is_not_judged() {
        let mut monitor = QuorumMonitor::new();
        let a = entry(1, 1);
        monitor.observe(1, &[member(3, 3, true, 0, &[])]).unwrap();
        monitor
            .observe(
                2,
                &[member(1, 4, true, 1, &[a]), member(3, 3, true, 0, &[])],
            )
            .unwrap();
    }

    /// An entry changed in place, deep in a member's log, is caught by the rolling audit within
    /// one rotation, and by a full audit at once.
    #[test]
    fn entry_changed_in_place_is_caught_by_the_audits() {
        let log: Vec<EntryId> = (0..40).map(|digest| entry(1, digest)).collect();
        let mut changed = log.clone();
        changed[7] = entry(1, 700);
        let mut monitor = QuorumMonitor::new();
        monitor.observe(1, &[member(1, 1, true, 40, &log)]).unwrap();
        let violation = monitor
            .audit(2, &[member(1, 1, true, 40, &changed)])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedEntryDiverged { index: 8, .. }
        ));
        let mut monitor = QuorumMonitor::new();
        monitor.observe(1, &[member(1, 1, true, 40, &log)]).unwrap();
        let rotation = 40 / AUDIT_ENTRIES_PER_OBSERVATION + 1;
        let caught = (0..rotation).find_map(|round| {
            monitor
                .observe(2 + round, &[member(1, 1, true, 40, &changed)])
                .err()
        });
        assert!(matches!(
            caught,
            Some(StateViolation::CommittedEntryDiverged { index: 8, .. })
        ));
    }

    #[test]
    fn term_going_backwards_fires() {
        let mut monitor = QuorumMonitor::new();
        monitor.observe(1, &[member(1, 4, false, 0, &[])]).unwrap();
        let violation = monitor
            .observe(2, &[member(1, 3, false, 0, &[])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::QuorumTermDecreased {
                node: 1,
                previous_term: 4,
                term: 3,
                ..
            }
        ));
    }

    #[test]
    fn commit_index_beyond_log_fires() {
        let mut monitor = QuorumMonitor::new();
        let violation = monitor
            .observe(1, &[member(1, 1, true, 2, &[entry(1, 1)])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommitIndexBeyondLog { .. }
        ));
    }

    #[test]
    fn violation_serializes_with_its_kind() {
        let violation = StateViolation::TwoQuorumLeaders {
            time_ns: 1,
            term: 2,
            first_node: 3,
            second_node: 4,
        };
        let json = serde_json::to_value(&violation).unwrap();
        assert_eq!(json["kind"], "two-quorum-leaders");
        assert_eq!(json["term"], 2);
    }
}
