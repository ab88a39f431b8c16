//! The contract between the simulator and what it runs.
//!
//! A process is a sans-IO state machine: the simulator hands it one [`Input`] at a time together
//! with a [`Context`] (its local clock reading, its own seeded random stream, and an output
//! buffer), and the process answers only by issuing outputs through that context. An output is
//! the process's own type ([`Process::Output`]): the simulator turns each into a [`Command`] as
//! it executes it, in order, after the step, so a process with its own output type (the broker)
//! writes its outputs once, with no second buffer of commands. It never
//! reads a clock, draws OS randomness, sleeps or touches a socket; so the same seed replays the
//! same run.
//!
//! Durable state is a [`Storage`] image changed only by the writes the process issues. A write is
//! pending (it sits in the page cache) until a later sync completes; a crash discards what is
//! pending, and a restarted process is rebuilt from the durable image alone.

use std::fmt;
use std::hash::Hash;

use rand_chacha::ChaCha8Rng;

/// A node of the simulation: brokers first, then clients. Dense, so it indexes vectors.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "n{}", self.0)
    }
}

/// What a simulated node does. Implemented by the broker's adapter and by the test protocols.
pub trait Process: Sized + 'static {
    /// What nodes send each other. `Hash` feeds the trace digest, so derive it.
    type Message: Clone + fmt::Debug + Hash;
    /// The durable image of the node's disk.
    type Storage: Storage;
    /// What the node reports to its driver (history entries, counters); never sent anywhere.
    type Observation: fmt::Debug;
    /// What a step emits: [`Command`] itself, or the process's own type, turned into commands
    /// by [`Process::command`].
    type Output: From<Command<Self>>;

    /// Handles one input. All effects go through `context`.
    fn step(&mut self, input: Input<Self::Message>, context: &mut Context<'_, Self>);

    /// The command an output stands for.
    fn command(output: Self::Output) -> Command<Self>;

    /// Asserts the node's local invariants; the simulator calls it after every step when
    /// `SimulationConfig::check_invariants` is on. Panics on a broken invariant.
    fn check_invariants(&self) {}

    /// A timer key's name for the event trace (`Replica` reads better than `6`); `None` leaves
    /// the key as it is.
    fn timer_name(_timer: u64) -> Option<String> {
        None
    }
}

/// A durable disk image and the writes that change it.
pub trait Storage: Clone + Default + fmt::Debug + 'static {
    type Write: Clone + fmt::Debug + Hash;

    fn apply(&mut self, write: &Self::Write);

    /// Applies a write the disk no longer needs: an image may move its parts in instead of
    /// cloning them.
    fn apply_owned(&mut self, write: Self::Write) {
        self.apply(&write);
    }
}

/// One thing that happens to a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input<M> {
    /// The first input after boot or restart.
    Start,
    Message {
        from: NodeId,
        message: M,
    },
    TimerFired {
        timer: u64,
    },
    /// The write issued with `tag` was rejected by the disk and will never be durable.
    DiskWriteFailed {
        tag: u64,
    },
    /// The sync issued with `tag` finished. On `Ok`, every write issued before the sync is
    /// durable; on `Err`, the pending writes it covered are lost (as after a failed fsync).
    DiskSyncDone {
        tag: u64,
        result: Result<(), DiskError>,
    },
}

/// An injected disk fault, handed to the node as an ordinary input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DiskError {
    #[error("disk sync failed (injected fault)")]
    SyncFailed,
}

/// A command a process issues while handling an input.
#[derive(Debug)]
pub enum Command<P: Process> {
    Send {
        to: NodeId,
        message: P::Message,
    },
    SetTimer {
        timer: u64,
        deadline_ns: u64,
    },
    CancelTimer {
        timer: u64,
    },
    Write {
        tag: u64,
        write: <P::Storage as Storage>::Write,
    },
    Sync {
        tag: u64,
    },
    Observe(P::Observation),
}

/// The node's window on the world during one step.
pub struct Context<'a, P: Process> {
    node: NodeId,
    now_ns: u64,
    rng: &'a mut ChaCha8Rng,
    outputs: &'a mut Vec<P::Output>,
}

impl<P: Process> fmt::Debug for Context<'_, P> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Context")
            .field("node", &self.node)
            .field("now_ns", &self.now_ns)
            .finish_non_exhaustive()
    }
}

impl<'a, P: Process> Context<'a, P> {
    pub(crate) fn new(
        node: NodeId,
        now_ns: u64,
        rng: &'a mut ChaCha8Rng,
        outputs: &'a mut Vec<P::Output>,
    ) -> Self {
        Context {
            node,
            now_ns,
            rng,
            outputs,
        }
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The node's local clock: simulated time through its offset, drift and jumps.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The node's own random stream, derived from the run's seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }

    /// The random stream and the output buffer at once, for a process that emits its own
    /// outputs while drawing randomness.
    pub fn rng_and_outputs(&mut self) -> (&mut ChaCha8Rng, &mut Vec<P::Output>) {
        (self.rng, self.outputs)
    }

    fn issue(&mut self, command: Command<P>) {
        self.outputs.push(P::Output::from(command));
    }

    pub fn send(&mut self, to: NodeId, message: P::Message) {
        self.issue(Command::Send { to, message });
    }

    /// Fires `TimerFired { timer }` once the local clock reaches `deadline_ns`. Setting a timer
    /// key that is already set replaces it.
    pub fn set_timer(&mut self, timer: u64, deadline_ns: u64) {
        self.issue(Command::SetTimer { timer, deadline_ns });
    }

    pub fn cancel_timer(&mut self, timer: u64) {
        self.issue(Command::CancelTimer { timer });
    }

    /// Queues a write in the page cache: pending until a later sync completes.
    pub fn write(&mut self, tag: u64, write: <P::Storage as Storage>::Write) {
        self.issue(Command::Write { tag, write });
    }

    /// Makes every write issued so far durable, answered by `DiskSyncDone { tag }`.
    pub fn sync(&mut self, tag: u64) {
        self.issue(Command::Sync { tag });
    }

    pub fn observe(&mut self, observation: P::Observation) {
        self.issue(Command::Observe(observation));
    }
}
