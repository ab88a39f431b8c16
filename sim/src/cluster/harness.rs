//! [`ClusterSimulation`]: a broker cluster on the engine, stepped with the cluster-wide monitors.
//!
//! Node names are `b1..bN` for brokers (node id `i` is `b{i+1}`) and `admin` for the admin client
//! when a script is given (node id `N`). Every fault verb goes through this type so that the
//! monitors learn of restarts.

use std::sync::Arc;

use broker::admin::AdminCommand;
use broker::{ClusterConfig, Message, Node, Observation};
use check::state::StateViolation;
use serde::Serialize;

use crate::cluster::member::Member;
use crate::cluster::monitor::ClusterMonitor;
use crate::process::NodeId;
use crate::simulation::{Simulation, SimulationConfig};

/// What the cluster did in a run, counted from the nodes' observations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCounters {
    /// Elections started after a won pre-vote.
    pub elections_started: u64,
    /// Voters that became Raft leader.
    pub controller_elections: u64,
    /// Leaders whose no-op committed (active controllers).
    pub controller_activations: u64,
    pub controller_resignations: u64,
    pub broker_registrations: u64,
    pub broker_fencings: u64,
    /// Partition leader changes proposed by an active controller.
    pub partition_leader_elections: u64,
    pub isr_changes: u64,
    pub metadata_log_full: u64,
    pub disk_faults: u64,
}

/// Why a cluster could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster: {0}")]
    Cluster(#[from] broker::ConfigError),
    #[error(transparent)]
    Simulation(#[from] crate::simulation::ConfigError),
}

/// A cluster of brokers (and optionally an admin client) on the simulation engine.
#[derive(Debug)]
pub struct ClusterSimulation {
    simulation: Simulation<Member>,
    config: Arc<ClusterConfig>,
    monitor: ClusterMonitor,
    counters: ClusterCounters,
    admin_replies: Vec<(u64, Message)>,
}

impl ClusterSimulation {
    /// Builds the cluster. With a non-empty `admin_script`, an admin client runs it.
    pub fn new(
        config: ClusterConfig,
        simulation: SimulationConfig,
        admin_script: Vec<(u64, AdminCommand)>,
    ) -> Result<ClusterSimulation, ClusterError> {
        config.validate()?;
        let config = Arc::new(config);
        let mut names: Vec<String> = (1..=config.brokers)
            .map(|number| format!("b{number}"))
            .collect();
        if !admin_script.is_empty() {
            names.push("admin".to_owned());
        }
        let factory_config = Arc::clone(&config);
        let factory = move |id: NodeId, storage: &_| {
            Member::build(&factory_config, id, storage, &admin_script)
        };
        let simulation = Simulation::new(simulation, names, factory)?;
        Ok(ClusterSimulation {
            simulation,
            config,
            monitor: ClusterMonitor::new(),
            counters: ClusterCounters::default(),
            admin_replies: Vec::new(),
        })
    }

    /// Processes one event, then runs the monitors. `Ok(false)` when nothing is left to do.
    pub fn step(&mut self) -> Result<bool, StateViolation> {
        let stepped = self.simulation.step();
        self.count_observations();
        self.monitor.observe(&self.simulation)?;
        Ok(stepped)
    }

    /// Steps until simulated time reaches `time_ns` (the last event processed may lie just past
    /// it: the engine offers no peek at the next event's time).
    pub fn run_until(&mut self, time_ns: u64) -> Result<(), StateViolation> {
        while self.simulation.now_ns() < time_ns {
            if !self.step()? {
                break;
            }
        }
        self.simulation.run_until(time_ns);
        Ok(())
    }

    /// Steps until `condition` holds (checked after every step) or `deadline_ns` passes. Returns
    /// the simulated time at which it first held.
    pub fn run_until_condition(
        &mut self,
        deadline_ns: u64,
        mut condition: impl FnMut(&ClusterSimulation) -> bool,
    ) -> Result<Option<u64>, StateViolation> {
        if condition(self) {
            return Ok(Some(self.now_ns()));
        }
        while self.simulation.now_ns() < deadline_ns {
            if !self.step()? {
                break;
            }
            if condition(self) {
                return Ok(Some(self.now_ns()));
            }
        }
        Ok(None)
    }

    fn count_observations(&mut self) {
        for (time_ns, _node, observation) in self.simulation.drain_observations() {
            let counters = &mut self.counters;
            match observation {
                Observation::ElectionStarted { .. } => counters.elections_started += 1,
                Observation::ControllerElected { .. } => counters.controller_elections += 1,
                Observation::ControllerActivated { .. } => counters.controller_activations += 1,
                Observation::ControllerResigned { .. } => counters.controller_resignations += 1,
                Observation::BrokerRegistered { .. } => counters.broker_registrations += 1,
                Observation::BrokerFenced { .. } => counters.broker_fencings += 1,
                Observation::PartitionLeaderElected { .. } => {
                    counters.partition_leader_elections += 1
                }
                Observation::IsrChanged { .. } => counters.isr_changes += 1,
                Observation::MetadataLogFull => counters.metadata_log_full += 1,
                Observation::DiskFault => counters.disk_faults += 1,
                Observation::AdminReply(message) => self.admin_replies.push((time_ns, message)),
            }
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.simulation.now_ns()
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn counters(&self) -> ClusterCounters {
        self.counters
    }

    /// The admin client's final answers so far, with their simulated times.
    pub fn admin_replies(&self) -> &[(u64, Message)] {
        &self.admin_replies
    }

    pub fn simulation(&self) -> &Simulation<Member> {
        &self.simulation
    }

    /// The engine, for verbs this type does not wrap. Use [`ClusterSimulation::restart`] for
    /// restarts, so that the monitors learn of them.
    pub fn simulation_mut(&mut self) -> &mut Simulation<Member> {
        &mut self.simulation
    }

    /// Broker `id`, if it is up.
    pub fn broker(&self, id: u32) -> Option<&Node> {
        self.simulation.node(NodeId(id)).and_then(Member::broker)
    }

    /// Brokers that are up and not paused.
    pub fn live_brokers(&self) -> impl Iterator<Item = &Node> {
        self.config
            .nodes()
            .filter(|id| !self.simulation.is_paused(NodeId(*id)))
            .filter_map(|id| self.broker(id))
    }

    /// The live active controller with the highest term (a deposed one may not know it yet).
    pub fn active_controller(&self) -> Option<u32> {
        self.live_brokers()
            .filter(|node| node.is_active_controller())
            .max_by_key(|node| node.quorum_state().term)
            .map(Node::id)
    }

    /// Whether the cluster has converged: exactly one live active controller, every live broker
    /// registered, and every partition led in the controller's committed metadata.
    pub fn is_settled(&self) -> bool {
        let mut controllers = self
            .live_brokers()
            .filter(|node| node.is_active_controller());
        let (Some(controller), None) = (controllers.next(), controllers.next()) else {
            return false;
        };
        let metadata = controller.metadata();
        metadata.bootstrapped
            && self
                .live_brokers()
                .all(|node| node.broker_epoch().is_some())
            && metadata
                .partitions()
                .all(|(_, _, state)| state.leader.is_some())
    }

    pub fn crash(&mut self, id: u32) -> bool {
        self.simulation.crash(NodeId(id))
    }

    /// Restarts a crashed node from its disk; its metadata views start over.
    pub fn restart(&mut self, id: u32) -> bool {
        let restarted = self.simulation.restart(NodeId(id));
        if restarted {
            self.monitor.node_restarted(id);
        }
        restarted
    }

    pub fn pause(&mut self, id: u32) -> bool {
        self.simulation.pause(NodeId(id))
    }

    pub fn resume(&mut self, id: u32) -> bool {
        self.simulation.resume(NodeId(id))
    }

    /// Cuts every link between the groups (node ids), both ways.
    pub fn partition(&mut self, groups: &[Vec<u32>]) {
        let groups: Vec<Vec<NodeId>> = groups
            .iter()
            .map(|group| group.iter().copied().map(NodeId).collect())
            .collect();
        self.simulation.partition(&groups);
    }

    pub fn heal(&mut self) {
        self.simulation.heal();
    }

    /// Clears every fault: heals the network, resumes paused nodes, restarts crashed ones.
    pub fn heal_all(&mut self) {
        self.heal();
        for id in 0..self.simulation.node_count() as u32 {
            self.resume(id);
            if !self.simulation.is_up(NodeId(id)) {
                self.restart(id);
            }
        }
    }
}
