//! Node behaviour driven step by step by hand (no simulator): the safety rules of Raft that hinge
//! on the order of outputs (votes granted only after the sync, self-vote counted only after the
//! sync, stale terms rejected, hard state recovered from storage).

use std::sync::Arc;

use broker::message::Message;
use broker::node::{Input, Observation, Output, Timer};
use broker::{ClusterConfig, HardState, Node, Storage, StorageWrite};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Driven {
    node: Node,
    rng: ChaCha8Rng,
    storage: Storage,
    now_ns: u64,
}

impl Driven {
    fn new(config: ClusterConfig, id: u32, storage: Storage) -> Driven {
        let node = Node::new(Arc::new(config), id, &storage);
        let mut driven = Driven {
            node,
            rng: ChaCha8Rng::seed_from_u64(u64::from(id)),
            storage,
            now_ns: 1_000,
        };
        driven.step(Input::Start);
        driven
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut output = Vec::new();
        self.now_ns += 1_000;
        self.node
            .step(self.now_ns, input, &mut self.rng, &mut output);
        self.node.check_invariants();
        output
    }

    /// Applies every write in `output` and completes every sync in it, returning what follows.
    fn sync_all(&mut self, output: &[Output]) -> Vec<Output> {
        let mut after = Vec::new();
        for item in output {
            match item {
                Output::DiskWrite { write, .. } => self.storage.apply(write),
                Output::DiskSync { tag } => after.extend(self.step(Input::DiskSyncDone {
                    tag: *tag,
                    succeeded: true,
                })),
                _ => {}
            }
        }
        after
    }
}

fn sends(output: &[Output]) -> Vec<(u32, Message)> {
    output
        .iter()
        .filter_map(|item| match item {
            Output::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

fn vote_request(term: u64, candidate: u32) -> Input {
    Input::Message {
        from: candidate,
        message: Message::VoteRequest {
            term,
            candidate,
            last_log_index: 0,
            last_log_term: 0,
        },
    }
}

#[test]
fn a_vote_is_granted_only_after_its_sync() {
    let mut voter = Driven::new(ClusterConfig::default(), 1, Storage::default());
    let output = voter.step(vote_request(1, 0));
    assert!(
        sends(&output).is_empty(),
        "no answer before the vote is durable: {output:?}"
    );
    let voted = StorageWrite::HardState(HardState {
        term: 1,
        voted_for: Some(0),
    });
    assert!(
        output
            .iter()
            .any(|item| matches!(item, Output::DiskWrite { write, .. } if *write == voted))
    );
    let after = voter.sync_all(&output);
    assert_eq!(
        sends(&after),
        vec![(
            0,
            Message::VoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
    assert_eq!(
        voter.storage.hard_state,
        HardState {
            term: 1,
            voted_for: Some(0)
        }
    );
}

#[test]
fn a_second_candidate_in_the_same_term_is_refused_unless_the_bug_is_planted() {
    let mut voter = Driven::new(ClusterConfig::default(), 1, Storage::default());
    let output = voter.step(vote_request(1, 0));
    voter.sync_all(&output);
    let output = voter.step(vote_request(1, 2));
    assert_eq!(
        sends(&output),
        vec![(
            2,
            Message::VoteResponse {
                term: 1,
                granted: false
            }
        )]
    );

    let mut config = ClusterConfig::default();
    config.bugs.grant_two_votes_per_term = true;
    let mut buggy = Driven::new(config, 1, Storage::default());
    let output = buggy.step(vote_request(1, 0));
    buggy.sync_all(&output);
    let output = buggy.step(vote_request(1, 2));
    let after = buggy.sync_all(&output);
    assert_eq!(
        sends(&after),
        vec![(
            2,
            Message::VoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
}

#[test]
fn a_restarted_voter_remembers_its_vote() {
    let storage = Storage {
        hard_state: HardState {
            term: 3,
            voted_for: Some(0),
        },
        metadata_log: Vec::new(),
        ..Storage::default()
    };
    let mut voter = Driven::new(ClusterConfig::default(), 1, storage);
    assert_eq!(voter.node.quorum_state().term, 3);
    let output = voter.step(vote_request(3, 2));
    assert_eq!(
        sends(&output),
        vec![(
            2,
            Message::VoteResponse {
                term: 3,
                granted: false
            }
        )]
    );
}

#[test]
fn append_entries_from_an_older_term_are_rejected() {
    let storage = Storage {
        hard_state: HardState {
            term: 5,
            voted_for: None,
        },
        metadata_log: Vec::new(),
        ..Storage::default()
    };
    let mut follower = Driven::new(ClusterConfig::default(), 1, storage);
    let message = Message::AppendEntries {
        term: 4,
        leader: 0,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    };
    let output = follower.step(Input::Message { from: 0, message });
    assert_eq!(
        sends(&output),
        vec![(
            0,
            Message::AppendEntriesResponse {
                term: 5,
                success: false,
                index: 0
            }
        )]
    );
}

#[test]
fn a_single_voter_leads_only_after_its_self_vote_is_durable() {
    let config = ClusterConfig {
        brokers: 1,
        controllers: 1,
        topics: Vec::new(),
        ..ClusterConfig::default()
    };
    let mut node = Driven::new(config, 0, Storage::default());
    let output = node.step(Input::TimerFired(Timer::Election));
    assert!(output.contains(&Output::Observe(Observation::ElectionStarted { term: 1 })));
    assert!(
        !node.node.quorum_state().is_leader,
        "not a leader before the self vote is synced"
    );
    let output = node.sync_all(&output);
    assert!(output.contains(&Output::Observe(Observation::ControllerElected { term: 1 })));
    assert!(node.node.quorum_state().is_leader);
    assert!(
        !node.node.is_active_controller(),
        "the no-op is not committed yet"
    );
    let output = node.sync_all(&output);
    assert!(
        output.contains(&Output::Observe(Observation::ControllerActivated {
            term: 1
        }))
    );
    assert!(node.node.is_active_controller());
    // The bootstrap record is proposed at once, and commits with its sync.
    node.sync_all(&output);
    assert!(node.node.metadata().bootstrapped);
    assert_eq!(node.node.quorum_state().commit_index, 2);
}

/// The election timeout armed by `output`, if any: the delay past `now_ns`.
fn election_delay_ns(output: &[Output], now_ns: u64) -> Option<u64> {
    output.iter().find_map(|item| match item {
        Output::SetTimer {
            timer: Timer::Election,
            deadline_ns,
        } => Some(deadline_ns - now_ns),
        _ => None,
    })
}

#[test]
fn every_election_timeout_gets_a_fresh_jitter_even_after_steps_that_arm_none() {
    let config = ClusterConfig::default();
    let timeout_ns = config.timing.election_timeout_ns;
    let jitter_ns = config.timing.election_jitter_ns;
    let mut voter = Driven::new(config, 1, Storage::default());
    let mut delays_ns = Vec::new();
    for _ in 0..8 {
        // A step that arms no election timer: it must not use up or freeze the next jitter.
        let output = voter.step(Input::TimerFired(Timer::Replica));
        assert_eq!(election_delay_ns(&output, voter.now_ns), None);
        // A pre-vote that goes nowhere re-arms the election timer.
        let output = voter.step(Input::TimerFired(Timer::Election));
        let delay_ns = election_delay_ns(&output, voter.now_ns).expect("re-armed");
        assert!(
            (timeout_ns..=timeout_ns + jitter_ns).contains(&delay_ns),
            "delay {delay_ns} ns outside the timeout plus jitter"
        );
        delays_ns.push(delay_ns);
    }
    delays_ns.sort_unstable();
    delays_ns.dedup();
    assert!(
        delays_ns.len() >= 7,
        "8 draws from 300 M values should all differ, got {delays_ns:?}"
    );
}

#[test]
fn a_pre_vote_is_refused_while_the_leader_is_heard_from() {
    let mut follower = Driven::new(ClusterConfig::default(), 1, Storage::default());
    let heartbeat = Message::AppendEntries {
        term: 1,
        leader: 0,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    };
    let output = follower.step(Input::Message {
        from: 0,
        message: heartbeat,
    });
    follower.sync_all(&output);
    let request = Message::PreVoteRequest {
        term: 2,
        candidate: 2,
        last_log_index: 0,
        last_log_term: 0,
    };
    let output = follower.step(Input::Message {
        from: 2,
        message: request,
    });
    assert_eq!(
        sends(&output),
        vec![(
            2,
            Message::PreVoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
}

#[test]
#[should_panic(expected = "invalid config")]
fn a_node_refuses_an_invalid_config() {
    let config = ClusterConfig {
        controllers: 2,
        ..ClusterConfig::default()
    };
    let _ = Node::new(Arc::new(config), 0, &Storage::default());
}

#[test]
fn any_node_answers_metadata_requests_from_its_own_possibly_stale_image() {
    let mut follower = Driven::new(ClusterConfig::default(), 2, Storage::default());
    let output = follower.step(Input::Message {
        from: 7,
        message: Message::MetadataRequest { request_id: 5 },
    });
    let sent = sends(&output);
    let [(7, Message::MetadataResponse(response))] = sent.as_slice() else {
        panic!("one metadata response: {output:?}")
    };
    assert_eq!(
        (
            response.request_id,
            response.metadata_index,
            response.controller
        ),
        (5, 0, None)
    );
    assert!(
        response.partitions.is_empty(),
        "nothing committed is known yet: a stale, empty answer"
    );
}

#[test]
fn only_the_active_controller_serves_admin_requests() {
    let mut follower = Driven::new(ClusterConfig::default(), 1, Storage::default());
    let request = Message::ElectPreferredLeaders {
        request_id: 3,
        partitions: Vec::new(),
    };
    let output = follower.step(Input::Message {
        from: 9,
        message: request,
    });
    let refused = Message::ElectPreferredLeadersResponse {
        request_id: 3,
        result: Err(broker::message::ControllerError::NotController { leader_hint: None }),
    };
    assert_eq!(sends(&output), vec![(9, refused)]);
}

#[test]
fn a_durable_log_newer_than_the_durable_term_resumes_in_the_log_term_without_a_vote() {
    use broker::metadata::record::MetadataRecord;
    use broker::raft::log::Entry;
    // A failed sync dropped the write of term 5; a later sync made term 5's entries durable.
    let entry = Entry {
        term: 5,
        record: MetadataRecord::LeaderNoOp { leader: 0 }.into(),
    };
    let storage = Storage {
        hard_state: HardState {
            term: 4,
            voted_for: Some(2),
        },
        metadata_log: vec![entry],
        ..Storage::default()
    };
    let node = Driven::new(ClusterConfig::default(), 1, storage);
    let state = node.node.quorum_state();
    assert_eq!((state.term, state.voted_for), (5, None));
}

#[test]
fn a_registration_answer_ahead_of_the_image_gives_no_broker_epoch() {
    // A restarted broker's registration is answered before its metadata log reaches the record:
    // its image still names it leader from before the crash, so it must not act yet.
    let mut restarted = Driven::new(ClusterConfig::default(), 2, Storage::default());
    restarted.step(Input::Message {
        from: 0,
        message: Message::RegisterBrokerResponse { broker_epoch: 24 },
    });
    assert_eq!(restarted.node.broker_epoch(), None);
}
