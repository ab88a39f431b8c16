//! Leader election: election timeouts with jitter, pre-vote, votes persisted before they are
//! granted, and the transitions between follower, pre-candidate, candidate and leader.
//!
//! Pre-vote (Raft thesis §9.6): a voter whose election timer fires first asks the other voters
//! whether they would vote for it in the next term, without changing any term. A voter grants a
//! pre-vote only if it is not itself the leader, has not heard from a leader for an election
//! timeout, and the candidate's log is at least as up to date. Only with a majority of pre-votes
//! does the voter bump its term and ask for real votes; so a node isolated in a minority never
//! bumps its term and never disrupts the majority when it returns.

use std::collections::{BTreeMap, BTreeSet};

use super::{LeaderState, Progress, Role};
use crate::disk::Waiter;
use crate::message::Message;
use crate::metadata::record::MetadataRecord;
use crate::node::{Node, Observation, ResignReason, Timer};

impl Node {
    /// Arms the election timer at an election timeout plus this step's jitter: the first arming
    /// in a step takes the jitter drawn ahead, later ones in the same step reuse it.
    pub(crate) fn reset_election_timer(&mut self) {
        debug_assert!(self.is_voter());
        let effects = &mut self.effects;
        let jitter_ns = *effects.step_jitter_ns.get_or_insert_with(|| {
            effects
                .jitter_ns
                .take()
                .expect("a jitter is drawn at the start of every step that lacks one")
        });
        let delay_ns = self.config.timing.election_timeout_ns + jitter_ns;
        self.set_timer(Timer::Election, delay_ns);
    }

    pub(crate) fn on_election_timeout(&mut self) {
        assert!(self.is_voter(), "only voters arm the election timer");
        if self.raft.is_leader() {
            return; // Leaders check their quorum on the heartbeat timer instead.
        }
        self.start_pre_vote();
    }

    fn start_pre_vote(&mut self) {
        self.raft.role = Role::PreCandidate {
            granted: BTreeSet::from([self.id]),
        };
        self.raft.leader = None;
        self.raft.leader_contact_ns = None;
        self.reset_election_timer();
        let request = Message::PreVoteRequest {
            term: self.raft.term + 1,
            candidate: self.id,
            last_log_index: self.raft.log.last_index(),
            last_log_term: self.raft.log.last_term(),
        };
        self.send_to_other_voters(&request);
        self.maybe_win_pre_vote();
    }

    fn send_to_other_voters(&mut self, message: &Message) {
        let voters: Vec<u32> = self
            .config
            .voters()
            .filter(|voter| *voter != self.id)
            .collect();
        for voter in voters {
            self.send(voter, message.clone());
        }
    }

    /// Whether this node heard from a live leader within an election timeout.
    fn in_leader_lease(&self) -> bool {
        if self.raft.is_leader() {
            return true;
        }
        let timeout_ns = self.config.timing.election_timeout_ns;
        self.raft.leader.is_some()
            && self
                .raft
                .leader_contact_ns
                .is_some_and(|contact_ns| self.now_ns().saturating_sub(contact_ns) < timeout_ns)
    }

    pub(crate) fn on_pre_vote_request(
        &mut self,
        from: u32,
        term: u64,
        candidate: u32,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let granted = from == candidate
            && self.config.is_voter(candidate)
            && self.is_voter()
            && term > self.raft.term
            && !self.in_leader_lease()
            && self.raft.log.is_up_to_date(last_log_term, last_log_index);
        self.send(
            from,
            Message::PreVoteResponse {
                term: self.raft.term,
                granted,
            },
        );
    }

    pub(crate) fn on_pre_vote_response(&mut self, from: u32, term: u64, granted: bool) {
        if !granted && term > self.raft.term {
            self.become_follower(term, None);
            return;
        }
        let Role::PreCandidate { granted: voters } = &mut self.raft.role else {
            return;
        };
        if granted && self.config.is_voter(from) {
            voters.insert(from);
            self.maybe_win_pre_vote();
        }
    }

    fn maybe_win_pre_vote(&mut self) {
        let Role::PreCandidate { granted } = &self.raft.role else {
            return;
        };
        if granted.len() >= self.config.quorum_size() {
            self.start_election();
        }
    }

    fn start_election(&mut self) {
        assert!(
            matches!(self.raft.role, Role::PreCandidate { .. }),
            "elections start from a won pre-vote"
        );
        self.raft.term += 1;
        self.raft.voted_for = Some(self.id);
        self.raft.role = Role::Candidate {
            granted: BTreeSet::new(),
        };
        self.raft.leader = None;
        self.persist_hard_state();
        self.when_durable(Waiter::SelfVote {
            term: self.raft.term,
        });
        self.reset_election_timer();
        self.observe(Observation::ElectionStarted {
            term: self.raft.term,
        });
        let request = Message::VoteRequest {
            term: self.raft.term,
            candidate: self.id,
            last_log_index: self.raft.log.last_index(),
            last_log_term: self.raft.log.last_term(),
        };
        self.send_to_other_voters(&request);
    }

    pub(crate) fn on_self_vote_durable(&mut self, term: u64) {
        let current_term = self.raft.term;
        let Role::Candidate { granted } = &mut self.raft.role else {
            return;
        };
        if term == current_term {
            granted.insert(self.id);
            self.maybe_win_election();
        }
    }

    pub(crate) fn on_vote_request(
        &mut self,
        from: u32,
        term: u64,
        candidate: u32,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        if term > self.raft.term {
            self.become_follower(term, None);
        }
        let vote_free = match self.raft.voted_for {
            None => true,
            Some(voted) => voted == candidate || self.config.bugs.grant_two_votes_per_term,
        };
        let granted = from == candidate
            && self.config.is_voter(candidate)
            && self.is_voter()
            && term == self.raft.term
            && vote_free
            && self.raft.log.is_up_to_date(last_log_term, last_log_index);
        if !granted {
            self.send(
                from,
                Message::VoteResponse {
                    term: self.raft.term,
                    granted: false,
                },
            );
            return;
        }
        if self.raft.voted_for != Some(candidate) {
            self.raft.voted_for = Some(candidate);
            self.persist_hard_state();
        }
        self.reset_election_timer();
        // Granted only once the vote is on disk: a restarted voter must remember it.
        let response = Message::VoteResponse {
            term,
            granted: true,
        };
        self.when_durable(Waiter::Send {
            to: from,
            message: response,
        });
    }

    pub(crate) fn on_vote_response(&mut self, from: u32, term: u64, granted: bool) {
        if term > self.raft.term {
            self.become_follower(term, None);
            return;
        }
        let current_term = self.raft.term;
        let Role::Candidate { granted: voters } = &mut self.raft.role else {
            return;
        };
        if granted && term == current_term && self.config.is_voter(from) {
            voters.insert(from);
            self.maybe_win_election();
        }
    }

    fn maybe_win_election(&mut self) {
        let Role::Candidate { granted } = &self.raft.role else {
            return;
        };
        if granted.contains(&self.id) && granted.len() >= self.config.quorum_size() {
            self.become_leader();
        }
    }

    fn become_leader(&mut self) {
        assert!(
            self.raft.voted_for == Some(self.id) || self.config.bugs.grant_two_votes_per_term,
            "a leader voted for itself"
        );
        let next_index = self.raft.log.last_index() + 1;
        let progress = self
            .config
            .nodes()
            .filter(|node| *node != self.id)
            .map(|node| {
                (
                    node,
                    Progress {
                        next_index,
                        match_index: 0,
                    },
                )
            })
            .collect();
        let now_ns = self.now_ns();
        let last_ack_ns: BTreeMap<u32, u64> = self
            .config
            .voters()
            .filter(|voter| *voter != self.id)
            .map(|voter| (voter, now_ns))
            .collect();
        self.raft.role = Role::Leader(LeaderState {
            progress,
            last_ack_ns,
            durable_index: 0,
            noop_index: None,
            entries_unsent: false,
        });
        self.raft.leader = Some(self.id);
        self.cancel_timer(Timer::Election);
        self.set_timer(
            Timer::RaftHeartbeat,
            self.config.timing.raft_heartbeat_interval_ns,
        );
        self.observe(Observation::ControllerElected {
            term: self.raft.term,
        });
        let noop = MetadataRecord::LeaderNoOp { leader: self.id };
        match self.append_as_leader(noop) {
            Ok(index) => {
                self.raft
                    .leader_state_mut()
                    .expect("just elected")
                    .noop_index = Some(index)
            }
            Err(_) => self.observe(Observation::MetadataLogFull),
        }
        // Counts the leader's own copy of entries it inherited, once synced.
        let last_index = self.raft.log.last_index();
        self.when_durable(Waiter::LeaderDurable {
            term: self.raft.term,
            index: last_index,
        });
    }

    /// Adopts `term` (persisting it, with no vote, if it is new) and follows `leader`.
    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<u32>) {
        assert!(term >= self.raft.term, "terms never decrease");
        if term > self.raft.term {
            self.raft.term = term;
            self.raft.voted_for = None;
            self.persist_hard_state();
        }
        let was_leader = self.raft.is_leader();
        self.raft.role = Role::Follower;
        self.raft.leader = leader;
        if was_leader {
            self.resign(ResignReason::HigherTerm);
        }
    }

    /// Leaves leadership: drops the controller and re-arms the election timer.
    fn resign(&mut self, reason: ResignReason) {
        assert!(!self.raft.is_leader());
        self.controller = None;
        self.cancel_timer(Timer::RaftHeartbeat);
        self.reset_election_timer();
        self.observe(Observation::ControllerResigned {
            term: self.raft.term,
            reason,
        });
    }

    /// Check quorum: a leader that has not heard from a majority of voters within an election
    /// timeout steps down, so that a leader isolated in a minority stops acting as controller.
    pub(crate) fn check_quorum(&mut self) {
        let now_ns = self.now_ns();
        let timeout_ns = self.config.timing.election_timeout_ns;
        let Role::Leader(leader) = &self.raft.role else {
            return;
        };
        let recent = leader
            .last_ack_ns
            .values()
            .filter(|ack_ns| now_ns.saturating_sub(**ack_ns) < timeout_ns)
            .count()
            + 1;
        if recent < self.config.quorum_size() {
            self.raft.role = Role::Follower;
            self.raft.leader = None;
            self.resign(ResignReason::CheckQuorum);
        }
    }
}
