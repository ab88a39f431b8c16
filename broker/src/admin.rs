//! A sans-IO admin client: runs a script of admin commands (create topic, preferred-leader
//! election) against whichever node is the active controller, retrying until it gets an answer
//! other than "not the controller". Each final answer is reported as
//! [`Observation::AdminReply`].
//!
//! Its outputs are [`Output::Send`], [`Output::SetTimer`] (always [`Timer::Client`]) and
//! [`Output::Observe`]; it has no disk.

use std::collections::VecDeque;

use rand::{Rng, RngCore};

use crate::config::TopicConfig;
use crate::dedup::initial_request_id;
use crate::message::{ControllerError, Message};
use crate::node::{Input, Observation, Output, Timer};

/// One admin command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AdminCommand {
    CreateTopic(TopicConfig),
    /// An empty list means every partition.
    ElectPreferredLeaders(Vec<(String, u32)>),
}

/// How long the client waits for an answer before sending again.
pub const ADMIN_RETRY_INTERVAL_NS: u64 = 100_000_000;

/// An admin client with a script of `(local time, command)`, run in order.
#[derive(Debug)]
pub struct AdminClient {
    brokers: u32,
    script: VecDeque<(u64, AdminCommand)>,
    /// The command being run, with the request id of its first attempt: every attempt has a
    /// fresh id (a node drops a request id it has seen, see `crate::dedup`), and an answer to
    /// any attempt of the command is its answer.
    current: Option<(u64, AdminCommand)>,
    controller_hint: Option<u32>,
    request_id_next: u64,
}

impl AdminClient {
    /// A client of a cluster of `brokers` nodes (ids `0..brokers`).
    pub fn new(brokers: u32, mut script: Vec<(u64, AdminCommand)>) -> AdminClient {
        assert!(brokers > 0);
        script.sort_by_key(|(at_ns, _)| *at_ns);
        AdminClient {
            brokers,
            script: script.into(),
            current: None,
            controller_hint: None,
            request_id_next: 1,
        }
    }

    /// Whether every command of the script has been answered.
    pub fn is_done(&self) -> bool {
        self.current.is_none() && self.script.is_empty()
    }

    pub fn step<R: RngCore + ?Sized>(
        &mut self,
        now_ns: u64,
        input: Input,
        rng: &mut R,
        output: &mut Vec<Output>,
    ) {
        match input {
            Input::Start => {
                self.request_id_next = initial_request_id(rng.next_u64());
                self.arm_for_next(now_ns, output);
            }
            Input::TimerFired(_) => self.on_timer(now_ns, rng, output),
            Input::Message { message, .. } => self.on_reply(now_ns, message, output),
            Input::DiskWriteFailed { .. } | Input::DiskSyncDone { .. } => {}
        }
    }

    fn arm_for_next(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        if let Some((at_ns, _)) = self.script.front() {
            output.push(Output::SetTimer {
                timer: Timer::Client,
                deadline_ns: (*at_ns).max(now_ns),
            });
        }
    }

    fn on_timer<R: RngCore + ?Sized>(
        &mut self,
        now_ns: u64,
        rng: &mut R,
        output: &mut Vec<Output>,
    ) {
        if self.current.is_none() {
            match self.script.front() {
                Some((at_ns, _)) if *at_ns <= now_ns => {
                    let (_, command) = self.script.pop_front().expect("front exists");
                    self.current = Some((self.request_id_next, command));
                }
                _ => return self.arm_for_next(now_ns, output),
            }
        }
        let (_, command) = self.current.clone().expect("a command in flight");
        let request_id = self.request_id_next;
        self.request_id_next += 1;
        let to = self
            .controller_hint
            .take()
            .unwrap_or_else(|| rng.random_range(0..self.brokers));
        let message = match command {
            AdminCommand::CreateTopic(topic) => Message::CreateTopic { request_id, topic },
            AdminCommand::ElectPreferredLeaders(partitions) => Message::ElectPreferredLeaders {
                request_id,
                partitions,
            },
        };
        output.push(Output::Send { to, message });
        output.push(Output::SetTimer {
            timer: Timer::Client,
            deadline_ns: now_ns + ADMIN_RETRY_INTERVAL_NS,
        });
    }

    fn on_reply(&mut self, now_ns: u64, message: Message, output: &mut Vec<Output>) {
        let (request_id, result_is_not_controller) = match &message {
            Message::CreateTopicResponse { request_id, result } => {
                (*request_id, not_controller(result))
            }
            Message::ElectPreferredLeadersResponse { request_id, result } => {
                (*request_id, not_controller(result))
            }
            _ => return,
        };
        if self
            .current
            .as_ref()
            .is_none_or(|(first, _)| !(*first..self.request_id_next).contains(&request_id))
        {
            return; // A late answer to an earlier command, or a duplicate.
        }
        if let Some(hint) = result_is_not_controller {
            self.controller_hint = hint; // Retried when the timer fires.
            return;
        }
        self.current = None;
        output.push(Output::Observe(Observation::AdminReply(message)));
        self.arm_for_next(now_ns, output);
    }
}

/// `Some(hint)` if `result` says "not the controller".
fn not_controller<T>(result: &Result<T, ControllerError>) -> Option<Option<u32>> {
    match result {
        Err(ControllerError::NotController { leader_hint }) => Some(*leader_hint),
        _ => None,
    }
}
