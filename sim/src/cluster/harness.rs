//! [`ClusterSimulation`]: a broker cluster on the engine, stepped with the cluster-wide monitors.
//!
//! Node names are `b1..bN` for brokers (node id `i` is `b{i+1}`), then producers `p1..` and
//! consumers `c1..` when built with clients, then `admin` for the admin client when a script is
//! given ([`ClusterSimulation::new`] builds brokers and the admin client only). Every fault verb
//! goes through this type so that the monitors learn of restarts. Faults of the runners target
//! brokers, and producers and consumers named by a scenario: a restarted client is built again
//! from its spec, a new instance (a producer writes its instance into its values).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use broker::admin::AdminCommand;
use broker::client::{
    ClientEvent, ClientReport, ConsumerConfig, GroupConsumerConfig, ProducerConfig,
};
use broker::log::{BatchTransaction, TransactionOutcome};
use broker::message::{Acks, IsolationLevel};
use broker::perturb::Site;
use broker::{ClusterConfig, Message, Node, Observation};
use check::state::{FencingSubject, ProducerBatch, StateViolation, check_producer_fencing};
use serde::Serialize;

use crate::cluster::member::{Member, MemberSpec};
use crate::cluster::monitor::ClusterMonitor;
use crate::cluster::timeline;
use crate::logging;
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
    /// Replicas that started leading a partition.
    pub replica_leaderships: u64,
    /// Follower truncations (divergence search, out-of-range resets, zoo switches).
    pub truncations: u64,
    /// ISR shrinks and expansions asked by partition leaders.
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    pub high_watermark_advances: u64,
    /// Requests refused FENCED_LEADER_EPOCH.
    pub fenced_requests: u64,
    /// Duplicated requests (from the network) a node dropped because it had handled them.
    pub duplicate_requests_dropped: u64,
    /// Retried batches of idempotent producers that a leader found in its log and acknowledged
    /// at their first offsets instead of appending them again.
    pub produce_duplicates_answered: u64,
    /// Produce requests sent again after a definite failure.
    pub produce_retries: u64,
    /// Sends completed with an unknown outcome.
    pub indeterminate_produces: u64,
    /// Group generations completed by coordinators.
    pub group_rebalances: u64,
    /// Offset commits refused for a stale generation or an unknown member.
    pub commits_fenced: u64,
    /// Offsets partitions a broker started coordinating (after a failover: replayed).
    pub coordinator_starts: u64,
    /// Transaction state partitions a broker started coordinating.
    pub transaction_coordinator_starts: u64,
    /// Transactions a coordinator completed (every marker written), by outcome.
    pub transactions_committed: u64,
    pub transactions_aborted: u64,
    /// Transactions a coordinator aborted for outliving their timeout.
    pub transactions_timed_out: u64,
    /// Producer epochs a coordinator granted to a starting instance of a transactional id (each
    /// fences the older epochs).
    pub producer_epochs_granted: u64,
    /// Transactions a producer's EndTxn ended in a new producer epoch (KIP-890 part 2; none
    /// under zoo 8's switch).
    pub transactions_ended_in_new_epoch: u64,
    /// Perturbation sites that fired ([`broker::perturb`]), one counter per site.
    pub perturbed_produce_refused_busy: u64,
    pub perturbed_fetch_fewer_records: u64,
    pub perturbed_fetch_answered_early: u64,
    pub perturbed_sync_without_group_commit: u64,
    pub perturbed_leader_elected_at_random: u64,
    pub perturbed_isr_shrunk_early: u64,
    pub perturbed_rebalance_triggered: u64,
    pub perturbed_high_watermark_checkpoint_skipped: u64,
    pub perturbed_produce_timed_out_early: u64,
}

impl ClusterCounters {
    /// The counter of perturbation `site`.
    fn perturbed(&mut self, site: Site) -> &mut u64 {
        match site {
            Site::ProduceRefusedBusy => &mut self.perturbed_produce_refused_busy,
            Site::FetchFewerRecords => &mut self.perturbed_fetch_fewer_records,
            Site::FetchAnsweredEarly => &mut self.perturbed_fetch_answered_early,
            Site::SyncWithoutGroupCommit => &mut self.perturbed_sync_without_group_commit,
            Site::LeaderElectedAtRandom => &mut self.perturbed_leader_elected_at_random,
            Site::IsrShrunkEarly => &mut self.perturbed_isr_shrunk_early,
            Site::RebalanceTriggered => &mut self.perturbed_rebalance_triggered,
            Site::HighWatermarkCheckpointSkipped => {
                &mut self.perturbed_high_watermark_checkpoint_skipped
            }
            Site::ProduceTimedOutEarly => &mut self.perturbed_produce_timed_out_early,
        }
    }
}

/// A producer of [`ClusterSimulation::with_clients`]. The `n`-th (from 1, named `p{n}`) has
/// index `n`: its values are `(n << 40) | (instance << 32) | sequence`, where `instance` counts
/// the restarts of its node (0 until the first), so a restarted producer never repeats a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProducerSpec {
    pub topic: String,
    pub acks: Acks,
    /// Records per simulated second.
    pub rate_per_second: u64,
    /// Keys uniform in `0..keys`; 0: unkeyed, round-robin.
    pub keys: u64,
    /// Local time at which it stops invoking new sends.
    pub stop_at_ns: u64,
    /// Its history process id.
    pub process: u64,
    /// An idempotent producer (KIP-98).
    pub idempotent: bool,
    /// A transactional producer (KIP-98), under transactional id `p{n}` (or
    /// [`ProducerSpec::transactional_id`]): each operation one transaction. Needs a cluster with
    /// transactions.
    pub transactional: bool,
    /// A transactional producer aborts one transaction in this many on purpose (0: never).
    pub abort_one_in: u32,
    /// A transactional producer's `transaction.timeout.ms` (`None`: the client's default).
    pub transaction_timeout_ns: Option<u64>,
    /// The transactional id, if not its own `p{n}`: producers that share one fence each other.
    pub transactional_id: Option<String>,
}

/// An assign-mode consumer of [`ClusterSimulation::with_clients`] (named `c{n}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsumerSpec {
    pub topic: String,
    pub partitions: Vec<u32>,
    pub process: u64,
    pub isolation: IsolationLevel,
}

/// The clients of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientSpecs {
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
}

/// Why a cluster could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster: {0}")]
    Cluster(#[from] broker::ConfigError),
    #[error(transparent)]
    Simulation(#[from] crate::simulation::ConfigError),
    #[error("clients: {0}")]
    Clients(String),
}

/// A cluster of brokers (and optionally an admin client) on the simulation engine.
#[derive(Debug)]
pub struct ClusterSimulation {
    simulation: Simulation<Member>,
    config: Arc<ClusterConfig>,
    monitor: ClusterMonitor,
    counters: ClusterCounters,
    admin_replies: Vec<(u64, Message)>,
    client_events: Vec<(u64, ClientEvent)>,
    monitors_off: bool,
    /// The buffer observations are drained into after every step (reused: no allocation).
    observations: Vec<(u64, NodeId, Observation)>,
}

impl ClusterSimulation {
    /// Builds the cluster. With a non-empty `admin_script`, an admin client runs it.
    pub fn new(
        config: ClusterConfig,
        simulation: SimulationConfig,
        admin_script: Vec<(u64, AdminCommand)>,
    ) -> Result<ClusterSimulation, ClusterError> {
        let clients = ClientSpecs::default();
        Self::with_every_client(config, simulation, clients, Vec::new(), admin_script)
    }

    /// Builds the cluster with producers `p1..` and consumers `c1..` (after the brokers).
    pub fn with_clients(
        config: ClusterConfig,
        simulation: SimulationConfig,
        clients: ClientSpecs,
    ) -> Result<ClusterSimulation, ClusterError> {
        Self::with_group_clients(config, simulation, clients, Vec::new())
    }

    /// Builds the cluster with producers `p1..`, then consumers `c1..`: the assign-mode ones of
    /// `clients`, then `group_consumers` (after the brokers).
    pub fn with_group_clients(
        config: ClusterConfig,
        simulation: SimulationConfig,
        clients: ClientSpecs,
        group_consumers: Vec<GroupConsumerConfig>,
    ) -> Result<ClusterSimulation, ClusterError> {
        Self::with_every_client(config, simulation, clients, group_consumers, Vec::new())
    }

    /// [`ClusterSimulation::with_group_clients`], and with a non-empty `admin_script` an admin
    /// client that runs it, last of all nodes: the other nodes keep the ids, clocks and
    /// generators they have without it.
    pub fn with_every_client(
        config: ClusterConfig,
        simulation: SimulationConfig,
        clients: ClientSpecs,
        group_consumers: Vec<GroupConsumerConfig>,
        admin_script: Vec<(u64, AdminCommand)>,
    ) -> Result<ClusterSimulation, ClusterError> {
        config.validate()?;
        let mut members = Vec::new();
        for (position, spec) in clients.producers.iter().enumerate() {
            let number = position as u64 + 1;
            check_topic(&config, &spec.topic, &[])?;
            if spec.rate_per_second == 0 {
                return Err(ClusterError::Clients(format!(
                    "producer p{number}: rate_per_second must be positive"
                )));
            }
            let mut producer = ProducerConfig::new(
                spec.process,
                number,
                &spec.topic,
                spec.acks,
                spec.rate_per_second,
            );
            producer.keys = spec.keys;
            producer.stop_at_ns = spec.stop_at_ns;
            producer.idempotent = spec.idempotent;
            if spec.transactional {
                let Some(transactions) = &config.transactions else {
                    return Err(ClusterError::Clients(format!(
                        "producer p{number}: a transactional producer needs a cluster with \
                         transactions"
                    )));
                };
                let transactional_id = spec.transactional_id.clone();
                producer.transactional_id =
                    Some(transactional_id.unwrap_or_else(|| format!("p{number}")));
                producer.transaction_state_partitions = transactions.state_partitions;
                producer.abort_one_in = spec.abort_one_in;
                if let Some(timeout_ns) = spec.transaction_timeout_ns {
                    producer.transaction_timeout_ns = timeout_ns;
                }
            }
            members.push((format!("p{number}"), MemberSpec::Producer(producer)));
        }
        for (position, spec) in clients.consumers.iter().enumerate() {
            check_topic(&config, &spec.topic, &spec.partitions)?;
            let mut consumer =
                ConsumerConfig::new(spec.process, &spec.topic, spec.partitions.clone());
            consumer.isolation = spec.isolation;
            members.push((format!("c{}", position + 1), MemberSpec::Consumer(consumer)));
        }
        if !group_consumers.is_empty() && config.groups.is_none() {
            return Err(ClusterError::Clients(
                "group consumers need a cluster with groups".to_string(),
            ));
        }
        for (position, consumer) in group_consumers.into_iter().enumerate() {
            for topic in &consumer.topics {
                check_topic(&config, topic, &[])?;
            }
            let number = clients.consumers.len() + position + 1;
            members.push((format!("c{number}"), MemberSpec::GroupConsumer(consumer)));
        }
        if !admin_script.is_empty() {
            members.push(("admin".to_owned(), MemberSpec::Admin(admin_script)));
        }
        Self::build(config, simulation, members)
    }

    fn build(
        config: ClusterConfig,
        simulation: SimulationConfig,
        clients: Vec<(String, MemberSpec)>,
    ) -> Result<ClusterSimulation, ClusterError> {
        config.validate()?;
        let config = Arc::new(config);
        let mut names: Vec<String> = (1..=config.brokers)
            .map(|number| format!("b{number}"))
            .collect();
        let mut specs = vec![MemberSpec::Broker; config.brokers as usize];
        for (name, spec) in clients {
            names.push(name);
            specs.push(spec);
        }
        let factory_config = Arc::clone(&config);
        // Builds per node so far: the next build's instance (a restart builds the node again).
        let builds: Vec<Cell<u32>> = specs.iter().map(|_| Cell::new(0)).collect();
        let factory = move |id: NodeId, storage: &_| {
            let instance = builds[id.index()].get();
            builds[id.index()].set(instance + 1);
            Member::build(&factory_config, id, storage, &specs[id.index()], instance)
        };
        let simulation = Simulation::new(simulation, names, factory)?;
        Ok(ClusterSimulation {
            simulation,
            config,
            monitor: ClusterMonitor::new(),
            counters: ClusterCounters::default(),
            admin_replies: Vec::new(),
            client_events: Vec::new(),
            monitors_off: false,
            observations: Vec::new(),
        })
    }

    /// Processes one event, then runs the monitors. `Ok(false)` when nothing is left to do.
    pub fn step(&mut self) -> Result<bool, StateViolation> {
        let stepped = self.simulation.step();
        self.count_observations();
        if !self.monitors_off {
            self.monitor.observe(&self.simulation)?;
        }
        Ok(stepped)
    }

    /// Turns the replica monitor (run after every step, on by default) on or off; benchmarks
    /// measure both.
    pub fn set_replica_monitor(&mut self, on: bool) {
        self.monitor.set_replica_monitor(on);
    }

    /// Turns every cluster-wide monitor (on by default) on or off: off only to measure what the
    /// simulation itself costs.
    pub fn set_monitors(&mut self, on: bool) {
        self.monitors_off = !on;
    }

    /// Steps every event due at or before `time_ns`, checking the monitors after each, then
    /// moves the clock to `time_ns`.
    pub fn run_until(&mut self, time_ns: u64) -> Result<(), StateViolation> {
        // Only events due by `time_ns`: a fault fired at `time_ns` lands before anything later,
        // and every event goes through the monitors.
        while self
            .simulation
            .next_event_ns()
            .is_some_and(|next_ns| next_ns <= time_ns)
        {
            self.step()?;
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
        while self
            .simulation
            .next_event_ns()
            .is_some_and(|next_ns| next_ns <= deadline_ns)
        {
            self.step()?;
            if condition(self) {
                return Ok(Some(self.now_ns()));
            }
        }
        Ok(None)
    }

    fn count_observations(&mut self) {
        if !self.simulation.has_observations() {
            return;
        }
        let mut observations = std::mem::take(&mut self.observations);
        self.simulation.swap_observations(&mut observations);
        if tracing::enabled!(target: timeline::TARGET, tracing::Level::INFO) {
            self.log_timeline(&observations);
        }
        for (time_ns, _node, observation) in observations.drain(..) {
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
                Observation::ReplicaBecameLeader { .. } => counters.replica_leaderships += 1,
                Observation::Truncated { .. } => counters.truncations += 1,
                Observation::IsrShrinkRequested { .. } => counters.isr_shrinks += 1,
                Observation::IsrExpandRequested { .. } => counters.isr_expands += 1,
                Observation::HighWatermarkAdvanced => counters.high_watermark_advances += 1,
                Observation::FencedRequest => counters.fenced_requests += 1,
                Observation::DuplicateRequestDropped => counters.duplicate_requests_dropped += 1,
                Observation::ProduceDeduplicated => counters.produce_duplicates_answered += 1,
                Observation::Client(ClientReport::ProduceRetry) => counters.produce_retries += 1,
                Observation::Client(ClientReport::IndeterminateProduce) => {
                    counters.indeterminate_produces += 1
                }
                Observation::Client(ClientReport::Event(event)) => {
                    self.client_events.push((time_ns, event))
                }
                Observation::GroupRebalanced { .. } => counters.group_rebalances += 1,
                Observation::CommitFenced { .. } => counters.commits_fenced += 1,
                Observation::CoordinatorStarted { .. } => counters.coordinator_starts += 1,
                Observation::TransactionCoordinatorStarted { .. } => {
                    counters.transaction_coordinator_starts += 1
                }
                Observation::TransactionCompleted { outcome, .. } => match outcome {
                    TransactionOutcome::Commit => counters.transactions_committed += 1,
                    TransactionOutcome::Abort => counters.transactions_aborted += 1,
                },
                Observation::TransactionTimedOut { .. } => counters.transactions_timed_out += 1,
                Observation::ProducerEpochGranted { .. } => counters.producer_epochs_granted += 1,
                Observation::TransactionEnded {
                    producer_id,
                    producer_epoch,
                    next_producer_id,
                    next_producer_epoch,
                    ..
                } => {
                    if (producer_id, producer_epoch) != (next_producer_id, next_producer_epoch) {
                        counters.transactions_ended_in_new_epoch += 1;
                    }
                }
                Observation::Perturbed(site) => *counters.perturbed(site) += 1,
            }
        }
        self.observations = observations;
    }

    /// Logs the timeline's lines for `observations` ([`timeline`]), each stamped with the node
    /// that observed it.
    fn log_timeline(&self, observations: &[(u64, NodeId, Observation)]) {
        let name = |broker: u32| self.simulation.name(NodeId(broker)).to_owned();
        for (time_ns, node, observation) in observations {
            if let Some(line) = timeline::describe(observation, name) {
                logging::set_context(*time_ns, Some(node.0));
                tracing::info!(target: timeline::TARGET, "{line}");
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

    /// The client history events reported since the last drain, in order, with their simulated
    /// times. The buffer left behind is as large as the one handed out: drivers drain at a steady
    /// pace, so it is refilled without growing (growing it from empty again cost about 1% of a
    /// data-plane run, in reallocations).
    pub fn drain_client_events(&mut self) -> Vec<(u64, ClientEvent)> {
        let capacity = self.client_events.len();
        std::mem::replace(&mut self.client_events, Vec::with_capacity(capacity))
    }

    /// Each partition's high watermark at its current leader: among live brokers leading it,
    /// the one with the highest leader epoch. Keys are `"topic/partition"`.
    pub fn high_watermarks(&self) -> BTreeMap<String, u64> {
        let mut leaders: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for node in self.live_brokers() {
            for replica in node.replicas().filter(|replica| replica.is_leader) {
                let key = format!("{}/{}", replica.topic, replica.partition);
                let entry = (replica.leader_epoch, replica.log.high_watermark());
                let current = leaders.entry(key).or_insert(entry);
                if entry.0 > current.0 {
                    *current = entry;
                }
            }
        }
        leaders
            .into_iter()
            .map(|(key, (_, high_watermark))| (key, high_watermark))
            .collect()
    }

    /// Each live consumer's positions (the offset of the next record it reads), by consumer name
    /// and `"topic/partition"`.
    pub fn consumer_positions(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.simulation
            .node_ids()
            .filter_map(|id| {
                let positions = self
                    .simulation
                    .node(id)?
                    .consumer_positions()?
                    .into_iter()
                    .map(|(topic, partition, position)| (format!("{topic}/{partition}"), position))
                    .collect();
                Some((self.simulation.name(id).to_owned(), positions))
            })
            .collect()
    }

    /// Every up broker's replicas (but the internal offsets topic's, whose values are offsets):
    /// broker name -> `"topic/partition"` -> `(offset, value)` of every record it holds (for the history's `debug-topic-partitions` dump and final checks).
    pub fn replica_logs(&self) -> BTreeMap<String, BTreeMap<String, Vec<(u64, u64)>>> {
        self.config
            .nodes()
            .filter_map(|id| {
                let node = self.broker(id)?;
                let logs = node
                    .replicas()
                    .filter(|replica| replica.topic != broker::group::OFFSETS_TOPIC)
                    .map(|replica| {
                        let records = replica
                            .log
                            .batches()
                            .iter()
                            .flat_map(|batch| batch.records_with_offsets())
                            .map(|(offset, record)| (offset, record.value))
                            .collect();
                        (format!("{}/{}", replica.topic, replica.partition), records)
                    })
                    .collect();
                Some((self.simulation.name(NodeId(id)).to_owned(), logs))
            })
            .collect()
    }

    /// The first up broker's replica whose log holds a batch of a fenced producer epoch after
    /// the epoch that fenced it ([`check::state::producer_fencing`]), if any: a final check
    /// over whole logs.
    pub fn fenced_producer_write(&self) -> Option<StateViolation> {
        self.config.nodes().find_map(|id| {
            let node = self.broker(id)?;
            node.replicas().find_map(|replica| {
                let subject = FencingSubject {
                    time_ns: self.now_ns(),
                    node: id,
                    topic: replica.topic.as_str(),
                    partition: replica.partition,
                };
                let batches = replica.log.batches().iter().filter_map(|batch| {
                    let sequence = batch.producer.0?;
                    Some(ProducerBatch {
                        offset: batch.base_offset,
                        producer_id: sequence.producer_id,
                        producer_epoch: sequence.producer_epoch,
                        marker: batch.transaction() == BatchTransaction::Marker,
                    })
                });
                check_producer_fencing(subject, batches).err()
            })
        })
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

    /// The node id of consumer `c<index + 1>`, if the cluster has it.
    pub fn consumer_node(&self, index: u32) -> Option<u32> {
        self.node_named(&format!("c{}", index + 1))
    }

    /// The node id of producer `p<index + 1>`, if the cluster has it.
    pub fn producer_node(&self, index: u32) -> Option<u32> {
        self.node_named(&format!("p{}", index + 1))
    }

    /// The node id of the node called `name`, if the cluster has one.
    fn node_named(&self, name: &str) -> Option<u32> {
        self.simulation
            .node_ids()
            .find(|id| self.simulation.name(*id) == name)
            .map(|id| id.0)
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

/// Checks that a client's topic (and partitions) exist in the bootstrap config.
fn check_topic(
    config: &ClusterConfig,
    topic: &str,
    partitions: &[u32],
) -> Result<(), ClusterError> {
    let Some(found) = config
        .topics
        .iter()
        .find(|candidate| candidate.name == topic)
    else {
        return Err(ClusterError::Clients(format!("unknown topic {topic:?}")));
    };
    if let Some(partition) = partitions
        .iter()
        .find(|partition| **partition >= found.partitions)
    {
        return Err(ClusterError::Clients(format!(
            "topic {topic:?} has no partition {partition}"
        )));
    }
    Ok(())
}
