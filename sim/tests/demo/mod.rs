//! The demo protocol: ping/echo with a durable log, small enough to read at once, used to prove
//! that each model of the simulator does what it claims.
//!
//! Every node pings each of its peers every `ping_interval_ns` of its local time (a timer), and
//! echoes every ping it receives. A node with `log_pings` appends each ping's sequence number to
//! its durable log and syncs every `sync_every` appends. Everything a node sees is reported as a
//! [`Seen`] observation, so tests can count deliveries, timer firings and recoveries.

#![allow(dead_code)]

use std::rc::Rc;

use sim::{Command, Context, Input, NodeId, Process, Simulation, SimulationConfig, Storage};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Ping { sequence: u64 },
    Echo { sequence: u64 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingLog {
    pub entries: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Append(pub u64);

impl Storage for PingLog {
    type Write = Append;
    fn apply(&mut self, write: &Append) {
        self.entries.push(write.0);
    }
}

/// What a demo node saw, reported to the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Started {
        recovered: Vec<u64>,
    },
    Ping {
        from: NodeId,
        sequence: u64,
    },
    Echo {
        from: NodeId,
        sequence: u64,
    },
    Timer {
        local_ns: u64,
    },
    /// A sync issued when the log held `log_length` entries finished.
    Synced {
        log_length: u64,
        succeeded: bool,
    },
    WriteFailed {
        sequence: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Role {
    pub peers: Vec<NodeId>,
    /// Zero: never ping.
    pub ping_interval_ns: u64,
    pub log_pings: bool,
    pub sync_every: u64,
}

impl Role {
    pub fn idle() -> Role {
        Role {
            peers: Vec::new(),
            ping_interval_ns: 0,
            log_pings: false,
            sync_every: 1,
        }
    }

    pub fn pinging(peers: Vec<NodeId>, ping_interval_ns: u64) -> Role {
        Role {
            peers,
            ping_interval_ns,
            ..Role::idle()
        }
    }
}

const PING_TIMER: u64 = 1;

#[derive(Debug)]
pub struct DemoNode {
    role: Role,
    next_sequence: u64,
    log: Vec<u64>,
    unsynced: u64,
}

impl DemoNode {
    pub fn new(role: Role, recovered: &PingLog) -> DemoNode {
        DemoNode {
            role,
            next_sequence: 0,
            log: recovered.entries.clone(),
            unsynced: 0,
        }
    }

    pub fn log(&self) -> &[u64] {
        &self.log
    }

    fn arm(&self, context: &mut Context<'_, Self>) {
        if self.role.ping_interval_ns > 0 {
            let deadline_ns = context.now_ns() + self.role.ping_interval_ns;
            context.set_timer(PING_TIMER, deadline_ns);
        }
    }

    fn ping_peers(&mut self, context: &mut Context<'_, Self>) {
        for &peer in &self.role.peers {
            context.send(
                peer,
                Message::Ping {
                    sequence: self.next_sequence,
                },
            );
            self.next_sequence += 1;
        }
    }

    fn record(&mut self, sequence: u64, context: &mut Context<'_, Self>) {
        self.log.push(sequence);
        context.write(sequence, Append(sequence));
        self.unsynced += 1;
        if self.unsynced >= self.role.sync_every {
            self.unsynced = 0;
            context.sync(self.log.len() as u64);
        }
    }
}

impl Process for DemoNode {
    type Message = Message;
    type Storage = PingLog;
    type Observation = Seen;
    type Output = Command<Self>;

    fn command(output: Command<Self>) -> Command<Self> {
        output
    }

    fn step(&mut self, input: Input<Message>, context: &mut Context<'_, Self>) {
        match input {
            Input::Start => {
                context.observe(Seen::Started {
                    recovered: self.log.clone(),
                });
                self.arm(context);
            }
            Input::TimerFired { .. } => {
                context.observe(Seen::Timer {
                    local_ns: context.now_ns(),
                });
                self.ping_peers(context);
                self.arm(context);
            }
            Input::Message {
                from,
                message: Message::Ping { sequence },
            } => {
                context.observe(Seen::Ping { from, sequence });
                if self.role.log_pings {
                    self.record(sequence, context);
                }
                context.send(from, Message::Echo { sequence });
            }
            Input::Message {
                from,
                message: Message::Echo { sequence },
            } => {
                context.observe(Seen::Echo { from, sequence });
            }
            Input::DiskSyncDone { tag, result } => {
                context.observe(Seen::Synced {
                    log_length: tag,
                    succeeded: result.is_ok(),
                });
            }
            Input::DiskWriteFailed { tag } => context.observe(Seen::WriteFailed { sequence: tag }),
        }
    }

    fn check_invariants(&self) {
        assert!(
            self.unsynced < self.role.sync_every.max(1),
            "sync overdue: {self:?}"
        );
    }
}

pub fn names(count: usize) -> Vec<String> {
    (1..=count).map(|index| format!("d{index}")).collect()
}

/// A simulation of demo nodes with the given roles.
pub fn simulation(config: SimulationConfig, roles: Vec<Role>) -> Simulation<DemoNode> {
    let roles = Rc::new(roles);
    let names = names(roles.len());
    Simulation::new(config, names, move |node, storage| {
        DemoNode::new(roles[node.index()].clone(), storage)
    })
    .expect("valid demo configuration")
}

/// Every node pings every other node every `ping_interval_ns`.
pub fn full_mesh(
    config: SimulationConfig,
    count: usize,
    ping_interval_ns: u64,
) -> Simulation<DemoNode> {
    let roles = (0..count as u32)
        .map(|node| {
            let peers = (0..count as u32)
                .filter(|&peer| peer != node)
                .map(NodeId)
                .collect();
            Role::pinging(peers, ping_interval_ns)
        })
        .collect();
    simulation(config, roles)
}

pub const MILLISECOND_NS: u64 = 1_000_000;
pub const SECOND_NS: u64 = 1_000_000_000;
