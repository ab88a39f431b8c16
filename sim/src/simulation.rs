//! The simulation: nodes, the event queue, and the network, disk and clock models around them.
//!
//! One [`Simulation`] runs on one thread under one seed. It pops the earliest event, turns it into
//! an [`Input`] for one node, steps that node, and executes the commands the node issued. Faults
//! (crash, restart, pause, partition, clock changes, disk faults) are methods the driver calls
//! between steps; each is folded into the trace digest like any event.
//!
//! Invariants:
//! - Simulated time never goes backwards; events pop in (time, insertion sequence) order.
//! - A crashed node has no process, no timers and no deferred inputs; everything addressed to an
//!   earlier incarnation of a node (messages in flight, timers, disk completions) is dropped.
//! - A paused node is stepped never: its inputs wait in order and are handed over on resume.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, DRIFT_PPM_MAX};
use crate::counters::Counters;
use crate::digest::{DigestTrail, TraceDigest};
use crate::disk::{Disk, DiskConfig};
use crate::logging;
use crate::network::{Network, NetworkConfig, Route};
use crate::process::{Command, Context, DiskError, Input, NodeId, Process, Storage};
use crate::queue::EventQueue;
use crate::seed::{Stream, stream};

/// The most nodes a simulation holds (links are a dense node-by-node matrix).
pub const NODES_MAX: usize = 512;

/// Initial clock skew, drawn per node from the clock stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Each node's clock starts off by a value uniform in [-offset_max_ns, offset_max_ns].
    pub offset_max_ns: u64,
    /// Each node's clock drifts by a value uniform in [-drift_max_ppm, drift_max_ppm].
    pub drift_max_ppm: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulationConfig {
    pub seed: u64,
    pub network: NetworkConfig,
    pub disk: DiskConfig,
    pub clock: ClockConfig,
    /// Call `Process::check_invariants` after every step.
    pub check_invariants: bool,
    /// The most inputs a paused node accumulates before it drops further messages (counted);
    /// its timers and disk completions are always kept.
    pub deferred_inputs_max: usize,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            seed: 0,
            network: NetworkConfig::default(),
            disk: DiskConfig::default(),
            clock: ClockConfig::default(),
            check_invariants: cfg!(debug_assertions),
            deferred_inputs_max: 1 << 20,
        }
    }
}

impl SimulationConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.network.validate().map_err(ConfigError)?;
        self.disk.validate().map_err(ConfigError)?;
        if self.clock.drift_max_ppm > DRIFT_PPM_MAX as u64 {
            return Err(ConfigError(format!(
                "clock.drift_max_ppm: {} is above the limit {DRIFT_PPM_MAX}",
                self.clock.drift_max_ppm
            )));
        }
        if self.clock.offset_max_ns > i64::MAX as u64 {
            return Err(ConfigError("clock.offset_max_ns: too large".to_string()));
        }
        if self.deferred_inputs_max == 0 {
            return Err(ConfigError(
                "deferred_inputs_max: must be positive".to_string(),
            ));
        }
        Ok(())
    }
}

/// A configuration the simulator refuses, with the offending field named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid simulation configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Debug)]
enum Event<M> {
    Deliver {
        from: NodeId,
        to: NodeId,
        incarnation: u64,
        message: M,
    },
    Timer {
        node: NodeId,
        incarnation: u64,
        timer: u64,
        generation: u64,
    },
    SyncDone {
        node: NodeId,
        incarnation: u64,
        tag: u64,
        sequence_end: u64,
    },
    /// An input ready to hand over: boot, a rejected write, or one deferred by a pause.
    Input {
        node: NodeId,
        incarnation: u64,
        input: Input<M>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Timer {
    timer: u64,
    deadline_local_ns: u64,
    generation: u64,
}

struct Slot<P: Process> {
    name: String,
    process: Option<P>,
    incarnation: u64,
    paused: bool,
    deferred: VecDeque<Input<P::Message>>,
    clock: Clock,
    timers: Vec<Timer>,
    disk: Disk<P::Storage>,
    rng: ChaCha8Rng,
}

/// Tags folded into the digest for actions that are not inputs.
mod action {
    pub const INPUT: u64 = 1;
    pub const DROP: u64 = 2;
    pub const CRASH: u64 = 3;
    pub const RESTART: u64 = 4;
    pub const PAUSE: u64 = 5;
    pub const RESUME: u64 = 6;
    pub const NETWORK: u64 = 7;
    pub const CLOCK: u64 = 8;
    pub const DISK: u64 = 9;
}

type Factory<P> = Box<dyn Fn(NodeId, &<P as Process>::Storage) -> P>;

pub struct Simulation<P: Process> {
    config: SimulationConfig,
    now_ns: u64,
    queue: EventQueue<Event<P::Message>>,
    slots: Vec<Slot<P>>,
    network: Network<P::Message>,
    network_rng: ChaCha8Rng,
    disk_rng: ChaCha8Rng,
    factory: Factory<P>,
    digest: TraceDigest,
    trail: DigestTrail,
    counters: Counters,
    observations: Vec<(u64, NodeId, P::Observation)>,
    /// One step's outputs, reused from step to step (empty between steps).
    outputs: Vec<P::Output>,
    next_timer_generation: u64,
    last_stepped_node: Option<NodeId>,
}

impl<P: Process> fmt::Debug for Simulation<P> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("now_ns", &self.now_ns)
            .field("nodes", &self.slots.len())
            .field("queued_events", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl<P: Process> Simulation<P> {
    /// Builds every node with `factory` from an empty disk, and boots it at time zero.
    pub fn new(
        config: SimulationConfig,
        names: Vec<String>,
        factory: impl Fn(NodeId, &P::Storage) -> P + 'static,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        validate_names(&names)?;
        let mut clock_rng = stream(config.seed, Stream::Clock);
        let slots = names
            .into_iter()
            .enumerate()
            .map(|(index, name)| {
                let node = NodeId(index as u32);
                let clock = initial_clock(&config.clock, &mut clock_rng);
                Slot {
                    process: Some(factory(node, &P::Storage::default())),
                    name,
                    incarnation: 0,
                    paused: false,
                    deferred: VecDeque::new(),
                    clock,
                    timers: Vec::new(),
                    disk: Disk::new(config.disk.pending_writes_max),
                    rng: stream(config.seed, Stream::Node(node)),
                }
            })
            .collect::<Vec<_>>();
        let names: Vec<String> = slots.iter().map(|slot| slot.name.clone()).collect();
        logging::register_node_names(&names);
        let mut simulation = Simulation {
            network: Network::new(config.network, slots.len()),
            network_rng: stream(config.seed, Stream::Network),
            disk_rng: stream(config.seed, Stream::Disk),
            config,
            now_ns: 0,
            queue: EventQueue::default(),
            slots,
            factory: Box::new(factory),
            digest: TraceDigest::new(),
            trail: DigestTrail::default(),
            counters: Counters::default(),
            observations: Vec::new(),
            outputs: Vec::new(),
            next_timer_generation: 0,
            last_stepped_node: None,
        };
        for index in 0..simulation.slots.len() {
            simulation.push_input(NodeId(index as u32), Input::Start);
        }
        Ok(simulation)
    }

    pub fn config(&self) -> &SimulationConfig {
        &self.config
    }

    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    pub fn name(&self, node: NodeId) -> &str {
        &self.slots[node.index()].name
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + use<P> {
        (0..self.slots.len() as u32).map(NodeId)
    }

    /// The node's process, or `None` while it is crashed.
    pub fn node(&self, node: NodeId) -> Option<&P> {
        self.slots[node.index()].process.as_ref()
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.slots[node.index()].process.is_some()
    }

    pub fn is_paused(&self, node: NodeId) -> bool {
        self.slots[node.index()].paused
    }

    /// What the node's disk would give back after a crash right now.
    pub fn durable_storage(&self, node: NodeId) -> &P::Storage {
        self.slots[node.index()].disk.durable()
    }

    /// The node's local clock reading now.
    pub fn local_time_ns(&self, node: NodeId) -> u64 {
        self.slots[node.index()].clock.local_at(self.now_ns)
    }

    /// How far the node's clock reads below the highest reading it showed before a step back
    /// (see [`crate::clock::Clock::behind_highest_ns`]).
    pub fn clock_behind_highest_ns(&self, node: NodeId) -> u64 {
        self.slots[node.index()]
            .clock
            .behind_highest_ns(self.now_ns)
    }

    pub fn digest(&self) -> u64 {
        self.digest.value()
    }

    /// The digest at the end of every simulated second so far ([`DigestTrail`]).
    pub fn digest_trail(&self) -> &DigestTrail {
        &self.trail
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn network(&self) -> &Network<P::Message> {
        &self.network
    }

    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// When the next event is due, if any: a driver that checks after every step uses it to stop
    /// exactly at a deadline.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.queue.peek_time_ns()
    }

    /// The node the next event goes to and what it is, for profiling tools such as the
    /// data-plane benchmark's breakdown: a message's variant name (the first word of its `Debug`),
    /// `timer`, `disk sync done`, or the input's name. Stale timers and messages to a crashed
    /// node are described too, though stepping them hands the node nothing.
    pub fn next_event_summary(&self) -> Option<(NodeId, String)> {
        let first_word = |text: String| -> String {
            text.split(|character: char| !character.is_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        Some(match self.queue.peek()? {
            Event::Deliver { to, message, .. } => (*to, first_word(format!("{message:?}"))),
            Event::Timer { node, .. } => (*node, "timer".to_owned()),
            Event::SyncDone { node, .. } => (*node, "disk sync done".to_owned()),
            Event::Input { node, input, .. } => (*node, first_word(format!("{input:?}"))),
        })
    }

    /// The node the last `step` handed an input to (`None` if it processed no input: a dropped
    /// message, a stale timer). Drivers re-check only that node's state.
    pub fn last_stepped_node(&self) -> Option<NodeId> {
        self.last_stepped_node
    }

    /// Everything the nodes observed since the last drain, in order: (simulated time, node, what).
    pub fn drain_observations(&mut self) -> Vec<(u64, NodeId, P::Observation)> {
        std::mem::take(&mut self.observations)
    }

    /// Whether the nodes observed anything since the last drain (most steps observe nothing: a
    /// driver that drains after every step checks this first).
    pub fn has_observations(&self) -> bool {
        !self.observations.is_empty()
    }

    /// [`Simulation::drain_observations`] without an allocation per drain: swaps the
    /// observations with `into`, which must be empty (a driver reuses one buffer).
    pub fn swap_observations(&mut self, into: &mut Vec<(u64, NodeId, P::Observation)>) {
        assert!(into.is_empty(), "swap_observations into a non-empty buffer");
        std::mem::swap(&mut self.observations, into);
    }

    /// Processes the earliest event. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some((time_ns, event)) = self.queue.pop() else {
            return false;
        };
        assert!(
            time_ns >= self.now_ns,
            "event at {time_ns} ns scheduled in the past"
        );
        self.now_ns = time_ns;
        self.last_stepped_node = None;
        self.dispatch(event);
        true
    }

    /// Processes every event due at or before `time_ns`, then sets the clock to `time_ns`.
    pub fn run_until(&mut self, time_ns: u64) {
        while self
            .queue
            .peek_time_ns()
            .is_some_and(|next| next <= time_ns)
        {
            self.step();
        }
        self.now_ns = self.now_ns.max(time_ns);
    }

    fn dispatch(&mut self, event: Event<P::Message>) {
        match event {
            Event::Deliver {
                from,
                to,
                incarnation,
                message,
            } => {
                self.deliver_message(from, to, incarnation, message);
            }
            Event::Timer {
                node,
                incarnation,
                timer,
                generation,
            } => {
                self.fire_timer(node, incarnation, timer, generation);
            }
            Event::SyncDone {
                node,
                incarnation,
                tag,
                sequence_end,
            } => {
                self.complete_sync(node, incarnation, tag, sequence_end);
            }
            Event::Input {
                node,
                incarnation,
                input,
            } => {
                if self.slots[node.index()].incarnation == incarnation {
                    self.offer(node, input);
                }
            }
        }
    }

    fn deliver_message(&mut self, from: NodeId, to: NodeId, incarnation: u64, message: P::Message) {
        let slot = &self.slots[to.index()];
        if self.network.is_cut(from, to) {
            self.counters.messages_dropped_cut += 1;
            self.fold_action(action::DROP, &[from.0.into(), to.0.into()]);
            self.trace_drop(to, from, "the link was cut while it was in flight");
        } else if slot.incarnation != incarnation || slot.process.is_none() {
            self.counters.messages_dropped_crashed += 1;
            self.fold_action(action::DROP, &[from.0.into(), to.0.into()]);
            self.trace_drop(to, from, "the receiver crashed while it was in flight");
        } else {
            self.counters.messages_delivered += 1;
            self.offer(to, Input::Message { from, message });
        }
    }

    /// Logs (at trace level, target [`logging::EVENTS_TARGET`]) the input a node is handed: a
    /// message with its sender's name, anything else as it is.
    fn trace_input(&self, input: &Input<P::Message>) {
        if tracing::enabled!(target: logging::EVENTS_TARGET, tracing::Level::TRACE) {
            match input {
                Input::Message { from, message } => {
                    let sender = &self.slots[from.index()].name;
                    tracing::trace!(target: logging::EVENTS_TARGET, "from {sender}: {message:?}");
                }
                Input::TimerFired { timer } => {
                    let name = P::timer_name(*timer).unwrap_or_else(|| timer.to_string());
                    tracing::trace!(target: logging::EVENTS_TARGET, "timer {name} fired");
                }
                other => tracing::trace!(target: logging::EVENTS_TARGET, "{other:?}"),
            }
        }
    }

    /// Logs (at trace level, target [`logging::EVENTS_TARGET`]) a message `to` never got.
    fn trace_drop(&self, to: NodeId, from: NodeId, why: &str) {
        if tracing::enabled!(target: logging::EVENTS_TARGET, tracing::Level::TRACE) {
            logging::set_context(self.now_ns, Some(to.0));
            let sender = &self.slots[from.index()].name;
            tracing::trace!(target: logging::EVENTS_TARGET, "dropped a message from {sender}: {why}");
        }
    }

    fn fire_timer(&mut self, node: NodeId, incarnation: u64, timer: u64, generation: u64) {
        let slot = &mut self.slots[node.index()];
        if slot.incarnation != incarnation {
            return;
        }
        let Some(position) = slot
            .timers
            .iter()
            .position(|set| set.timer == timer && set.generation == generation)
        else {
            return; // Replaced or cancelled since.
        };
        slot.timers.swap_remove(position);
        self.counters.timers_fired += 1;
        self.offer(node, Input::TimerFired { timer });
    }

    fn complete_sync(&mut self, node: NodeId, incarnation: u64, tag: u64, sequence_end: u64) {
        let slot = &mut self.slots[node.index()];
        if slot.incarnation != incarnation {
            return; // The crash already discarded what this sync covered.
        }
        let (succeeded, outcome) = slot.disk.complete_sync(sequence_end);
        self.counters.disk_writes_lost += outcome.lost;
        let result = if succeeded {
            Ok(())
        } else {
            self.counters.disk_syncs_failed += 1;
            Err(DiskError::SyncFailed)
        };
        self.offer(node, Input::DiskSyncDone { tag, result });
    }

    /// Hands `input` to the node now, or queues it while the node is paused. Past
    /// `deferred_inputs_max` a paused node's messages are dropped, as a full socket buffer
    /// drops them; its timers and disk completions never are (a stopped process gets them when
    /// it resumes), and they are bounded by what the node itself armed and issued.
    fn offer(&mut self, node: NodeId, input: Input<P::Message>) {
        let deferred_inputs_max = self.config.deferred_inputs_max;
        let slot = &mut self.slots[node.index()];
        debug_assert!(
            slot.process.is_some(),
            "input offered to crashed node {}",
            slot.name
        );
        if !slot.paused {
            self.step_node(node, input);
        } else if slot.deferred.len() < deferred_inputs_max
            || !matches!(input, Input::Message { .. })
        {
            slot.deferred.push_back(input);
        } else {
            self.counters.messages_dropped_overflow += 1;
        }
    }

    fn step_node(&mut self, node: NodeId, input: Input<P::Message>) {
        self.trail.note(self.now_ns, &self.digest);
        self.digest.fold(action::INPUT);
        self.digest.fold(self.now_ns);
        self.digest.fold(node.0.into());
        input.hash(&mut self.digest);
        self.counters.events += 1;
        self.last_stepped_node = Some(node);
        logging::set_context(self.now_ns, Some(node.0));
        self.trace_input(&input);
        let mut outputs = std::mem::take(&mut self.outputs);
        let slot = &mut self.slots[node.index()];
        let local_ns = slot.clock.local_at(self.now_ns);
        let process = slot.process.as_mut().expect("only live nodes are stepped");
        process.step(
            input,
            &mut Context::new(node, local_ns, &mut slot.rng, &mut outputs),
        );
        if self.config.check_invariants {
            process.check_invariants();
        }
        for output in outputs.drain(..) {
            self.execute(node, P::command(output));
        }
        self.outputs = outputs;
    }

    fn execute(&mut self, node: NodeId, command: Command<P>) {
        match command {
            Command::Send { to, message } => self.send(node, to, message),
            Command::SetTimer { timer, deadline_ns } => self.set_timer(node, timer, deadline_ns),
            Command::CancelTimer { timer } => {
                self.slots[node.index()]
                    .timers
                    .retain(|set| set.timer != timer);
            }
            Command::Write { tag, write } => self.write(node, tag, write),
            Command::Sync { tag } => self.sync(node, tag),
            Command::Observe(observation) => {
                self.observations.push((self.now_ns, node, observation));
            }
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, message: P::Message) {
        assert!(
            to.index() < self.slots.len(),
            "{from} sent to unknown node {to}"
        );
        self.counters.messages_sent += 1;
        self.route(from, to, message);
    }

    /// Puts a message on the wire: the network model chooses its fate.
    fn route(&mut self, from: NodeId, to: NodeId, message: P::Message) {
        let incarnation = self.slots[to.index()].incarnation;
        if self.slots[to.index()].process.is_none() {
            self.counters.messages_dropped_crashed += 1;
            return;
        }
        match self
            .network
            .route(from, to, self.now_ns, &mut self.network_rng)
        {
            Route::Cut => self.counters.messages_dropped_cut += 1,
            Route::Lost => self.counters.messages_dropped_lost += 1,
            Route::Held => {
                if self.network.enqueue_held(from, to, message) {
                    self.counters.messages_held += 1;
                } else {
                    self.counters.messages_dropped_overflow += 1;
                }
            }
            Route::Deliver {
                at_ns,
                duplicate_at_ns,
                reordered,
            } => {
                self.counters.messages_reordered += u64::from(reordered);
                if let Some(duplicate_at_ns) = duplicate_at_ns {
                    self.counters.messages_duplicated += 1;
                    let copy = message.clone();
                    let event = Event::Deliver {
                        from,
                        to,
                        incarnation,
                        message: copy,
                    };
                    self.queue.push(duplicate_at_ns, event);
                }
                self.queue.push(
                    at_ns,
                    Event::Deliver {
                        from,
                        to,
                        incarnation,
                        message,
                    },
                );
            }
        }
    }

    /// Sets (or replaces) a timer. Setting it again to the deadline it already has changes
    /// nothing: its queued event stands (nodes re-arm their timers on every step).
    fn set_timer(&mut self, node: NodeId, timer: u64, deadline_local_ns: u64) {
        let unchanged = self.slots[node.index()]
            .timers
            .iter()
            .any(|set| set.timer == timer && set.deadline_local_ns == deadline_local_ns);
        if !unchanged {
            self.arm_timer(node, timer, deadline_local_ns);
        }
    }

    /// Queues a timer's event at the simulated time its local deadline maps to, replacing any
    /// earlier event of the same timer.
    fn arm_timer(&mut self, node: NodeId, timer: u64, deadline_local_ns: u64) {
        let generation = self.next_timer_generation;
        self.next_timer_generation += 1;
        let slot = &mut self.slots[node.index()];
        slot.timers.retain(|set| set.timer != timer);
        slot.timers.push(Timer {
            timer,
            deadline_local_ns,
            generation,
        });
        let at_ns = slot.clock.simulated_at(deadline_local_ns, self.now_ns);
        let incarnation = slot.incarnation;
        self.queue.push_timer(
            at_ns,
            Event::Timer {
                node,
                incarnation,
                timer,
                generation,
            },
        );
    }

    /// Re-derives the simulated firing time of every timer of `node` after a clock change.
    fn reschedule_timers(&mut self, node: NodeId) {
        let timers = self.slots[node.index()].timers.clone();
        for timer in timers {
            self.arm_timer(node, timer.timer, timer.deadline_local_ns);
        }
    }

    fn write(&mut self, node: NodeId, tag: u64, write: <P::Storage as Storage>::Write) {
        self.counters.disk_writes += 1;
        if !self.slots[node.index()].disk.write(write) {
            self.counters.disk_writes_failed += 1;
            self.push_input(node, Input::DiskWriteFailed { tag });
        }
    }

    fn sync(&mut self, node: NodeId, tag: u64) {
        self.counters.disk_syncs += 1;
        let latency_ns = self.config.disk.sync_latency.sample(&mut self.disk_rng);
        let slot = &self.slots[node.index()];
        let event = Event::SyncDone {
            node,
            incarnation: slot.incarnation,
            tag,
            sequence_end: slot.disk.next_sequence(),
        };
        self.queue.push(self.now_ns + latency_ns, event);
    }

    fn push_input(&mut self, node: NodeId, input: Input<P::Message>) {
        let incarnation = self.slots[node.index()].incarnation;
        self.queue.push(
            self.now_ns,
            Event::Input {
                node,
                incarnation,
                input,
            },
        );
    }

    fn fold_action(&mut self, tag: u64, arguments: &[u64]) {
        self.trail.note(self.now_ns, &self.digest);
        self.digest.fold(tag);
        self.digest.fold(self.now_ns);
        arguments
            .iter()
            .for_each(|&argument| self.digest.fold(argument));
    }
}

/// Faults: the driver's verbs, in pairs.
impl<P: Process> Simulation<P> {
    /// Kills the node's process. Its disk keeps only the durable image (or a torn prefix of the
    /// pending writes, if so configured); in-flight messages to it and its timers are dropped.
    /// Returns false if it was already down.
    pub fn crash(&mut self, node: NodeId) -> bool {
        let torn = self.config.disk.torn_writes_on_crash;
        let slot = &mut self.slots[node.index()];
        if slot.process.take().is_none() {
            return false;
        }
        slot.incarnation += 1;
        slot.paused = false;
        slot.timers.clear();
        slot.deferred.clear();
        let outcome = slot.disk.crash(torn, &mut self.disk_rng);
        logging::set_context(self.now_ns, Some(node.0));
        tracing::info!(node = %slot.name, lost_writes = outcome.lost, "crash");
        self.counters.crashes += 1;
        self.counters.disk_writes_lost += outcome.lost;
        self.fold_action(
            action::CRASH,
            &[node.0.into(), outcome.made_durable, outcome.lost],
        );
        true
    }

    /// Rebuilds a crashed node from its durable disk image and boots it. Returns false if it was
    /// up.
    pub fn restart(&mut self, node: NodeId) -> bool {
        let slot = &mut self.slots[node.index()];
        if slot.process.is_some() {
            return false;
        }
        slot.incarnation += 1;
        slot.process = Some((self.factory)(node, slot.disk.durable()));
        logging::set_context(self.now_ns, Some(node.0));
        tracing::info!(node = %slot.name, "restart");
        self.counters.restarts += 1;
        self.fold_action(action::RESTART, &[node.0.into()]);
        self.push_input(node, Input::Start);
        true
    }

    /// Stops stepping the node (a long GC pause, SIGSTOP): its inputs and timers wait.
    pub fn pause(&mut self, node: NodeId) -> bool {
        let slot = &mut self.slots[node.index()];
        if slot.process.is_none() || slot.paused {
            return false;
        }
        slot.paused = true;
        self.counters.pauses += 1;
        self.fold_action(action::PAUSE, &[node.0.into()]);
        true
    }

    /// Hands a paused node everything that waited, in order, now.
    pub fn resume(&mut self, node: NodeId) -> bool {
        let slot = &mut self.slots[node.index()];
        if !slot.paused {
            return false;
        }
        slot.paused = false;
        let deferred = std::mem::take(&mut slot.deferred);
        self.counters.resumes += 1;
        self.fold_action(action::RESUME, &[node.0.into(), deferred.len() as u64]);
        deferred
            .into_iter()
            .for_each(|input| self.push_input(node, input));
        true
    }

    /// Cuts one direction of one link.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.network.cut(from, to);
        self.fold_action(action::NETWORK, &[1, from.0.into(), to.0.into()]);
    }

    pub fn repair(&mut self, from: NodeId, to: NodeId) {
        self.network.repair(from, to);
        self.fold_action(action::NETWORK, &[2, from.0.into(), to.0.into()]);
    }

    /// Cuts every link, both ways, between nodes of different groups. Nodes in no group keep
    /// their links.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        for (index, group) in groups.iter().enumerate() {
            for other in &groups[index + 1..] {
                for &left in group {
                    for &right in other.iter().filter(|&&right| right != left) {
                        self.cut(left, right);
                        self.cut(right, left);
                    }
                }
            }
        }
        self.counters.partitions += 1;
    }

    /// Repairs every cut link.
    pub fn heal(&mut self) {
        self.network.repair_all();
        self.fold_action(action::NETWORK, &[3]);
    }

    /// Holds the traffic on one direction of a link until `release`.
    pub fn hold(&mut self, from: NodeId, to: NodeId) {
        self.network.hold(from, to);
        self.fold_action(action::NETWORK, &[4, from.0.into(), to.0.into()]);
    }

    /// Opens a held link: what it held goes on the wire now, in order.
    pub fn release(&mut self, from: NodeId, to: NodeId) {
        let held = self.network.release(from, to);
        self.fold_action(
            action::NETWORK,
            &[5, from.0.into(), to.0.into(), held.len() as u64],
        );
        held.into_iter()
            .for_each(|message| self.route(from, to, message));
    }

    /// Replaces the network's rates (latency, loss, duplication, reordering).
    pub fn set_network_config(&mut self, config: NetworkConfig) -> Result<(), ConfigError> {
        config.validate().map_err(ConfigError)?;
        self.network.config = config;
        self.fold_action(action::NETWORK, &[6]);
        Ok(())
    }

    /// Sets the node's clock to read simulated time plus `offset_ns`.
    pub fn set_clock_offset(&mut self, node: NodeId, offset_ns: i64) {
        self.slots[node.index()]
            .clock
            .set_offset(self.now_ns, offset_ns);
        self.clock_changed(node, 1, offset_ns);
    }

    pub fn set_clock_drift_ppm(&mut self, node: NodeId, drift_ppm: i64) {
        self.slots[node.index()]
            .clock
            .set_drift_ppm(self.now_ns, drift_ppm);
        self.clock_changed(node, 2, drift_ppm);
    }

    /// Steps the node's clock by `delta_ns` at once; timers set in local time move with it.
    pub fn jump_clock(&mut self, node: NodeId, delta_ns: i64) {
        self.slots[node.index()].clock.jump(self.now_ns, delta_ns);
        self.clock_changed(node, 3, delta_ns);
    }

    fn clock_changed(&mut self, node: NodeId, kind: u64, amount: i64) {
        self.counters.clock_changes += 1;
        self.fold_action(action::CLOCK, &[kind, node.0.into(), amount as u64]);
        self.reschedule_timers(node);
    }

    /// While on, the node's writes are rejected.
    pub fn set_write_faults(&mut self, node: NodeId, on: bool) {
        self.slots[node.index()].disk.write_faults = on;
        self.fold_action(action::DISK, &[1, node.0.into(), u64::from(on)]);
    }

    /// While on, the node's syncs fail and lose the writes they covered.
    pub fn set_sync_faults(&mut self, node: NodeId, on: bool) {
        self.slots[node.index()].disk.sync_faults = on;
        self.fold_action(action::DISK, &[2, node.0.into(), u64::from(on)]);
    }
}

fn validate_names(names: &[String]) -> Result<(), ConfigError> {
    if names.is_empty() || names.len() > NODES_MAX {
        return Err(ConfigError(format!(
            "nodes: {} given, between 1 and {NODES_MAX} required",
            names.len()
        )));
    }
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(ConfigError(format!("nodes[{index}]: empty name")));
        }
        if names[..index].contains(name) {
            return Err(ConfigError(format!(
                "nodes[{index}]: duplicate name {name:?}"
            )));
        }
    }
    Ok(())
}

fn initial_clock(config: &ClockConfig, rng: &mut impl Rng) -> Clock {
    let offset_max_ns = config.offset_max_ns as i64;
    let drift_max_ppm = config.drift_max_ppm as i64;
    let offset_ns = if offset_max_ns == 0 {
        0
    } else {
        rng.random_range(-offset_max_ns..=offset_max_ns)
    };
    let drift_ppm = if drift_max_ppm == 0 {
        0
    } else {
        rng.random_range(-drift_max_ppm..=drift_max_ppm)
    };
    Clock::new(offset_ns, drift_ppm)
}
