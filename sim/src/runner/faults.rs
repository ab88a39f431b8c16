//! Fires scripted faults at a running cluster and undoes them at heal.
//!
//! Targets resolve at the moment a fault fires: `leader(topic/partition)` is the leader in the
//! active controller's metadata, `controller` the active controller, `random` a broker drawn from
//! the nemesis stream; `c<n>` and `p<n>` are the client nodes of those names. A target that
//! cannot be resolved (no active controller yet, a leaderless partition) skips the fault, and the
//! run's log says so: a script must not crash the harness.
//!
//! The executor remembers every fault still in force (crashed, paused, held, drifting, disk
//! faults, changed network rates) so that [`FaultExecutor::heal_everything`] can clear them all
//! before the liveness phase.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::cluster::ClusterSimulation;
use crate::logging;
use crate::network::NetworkConfig;
use crate::process::NodeId;
use crate::scenario::{Duration, Fault, Target};

/// A fault as it fired: when, and what it did in plain words (for the run's log).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FiredFault {
    pub at_ns: u64,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DiskFault {
    Syncs,
    Writes,
}

/// `syncs` or `writes`, as a fault line names what fails.
impl std::fmt::Display for DiskFault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            DiskFault::Syncs => "syncs",
            DiskFault::Writes => "writes",
        })
    }
}

#[derive(Debug)]
pub struct FaultExecutor {
    rng: ChaCha8Rng,
    base_network: NetworkConfig,
    /// Disk faults in force: (end time, broker, kind).
    disk_faults: BTreeSet<(u64, u32, DiskFault)>,
    /// Links held (from, to), by node id: brokers, or a producer and a broker.
    held_links: BTreeSet<(u32, u32)>,
    drifting: BTreeSet<u32>,
    fired: Vec<FiredFault>,
}

impl FaultExecutor {
    pub fn new(rng: ChaCha8Rng, base_network: NetworkConfig) -> FaultExecutor {
        FaultExecutor {
            rng,
            base_network,
            disk_faults: BTreeSet::new(),
            held_links: BTreeSet::new(),
            drifting: BTreeSet::new(),
            fired: Vec::new(),
        }
    }

    /// Every fault fired so far, in order.
    pub fn fired(&self) -> &[FiredFault] {
        &self.fired
    }

    /// When the next timed fault (a disk fault's duration) ends.
    pub fn next_expiry_ns(&self) -> Option<u64> {
        self.disk_faults.first().map(|(end_ns, _, _)| *end_ns)
    }

    /// Ends the disk faults whose duration is over.
    pub fn expire(&mut self, cluster: &mut ClusterSimulation) {
        let now_ns = cluster.now_ns();
        while let Some(&(end_ns, broker, kind)) = self.disk_faults.first() {
            if end_ns > now_ns {
                break;
            }
            self.disk_faults.pop_first();
            set_disk_fault(cluster, broker, kind, false);
            self.record(
                now_ns,
                format!("{} disk {kind} faults end", broker_name(broker)),
            );
        }
    }

    /// Fires one fault now.
    pub fn fire(&mut self, cluster: &mut ClusterSimulation, fault: &Fault) {
        let description = match self.apply(cluster, fault) {
            Ok(description) => description,
            Err(reason) => format!("skipped {}: {reason}", fault.action()),
        };
        self.record(cluster.now_ns(), description);
    }

    fn record(&mut self, at_ns: u64, description: String) {
        // The driver speaks, not the node stepped last: the line names no node.
        logging::set_context(at_ns, None);
        tracing::info!("fault: {description}");
        self.fired.push(FiredFault { at_ns, description });
    }

    fn apply(&mut self, cluster: &mut ClusterSimulation, fault: &Fault) -> Result<String, String> {
        match fault {
            Fault::Crash { target, .. } => {
                self.on_broker(cluster, target, "crash", ClusterSimulation::crash)
            }
            Fault::Restart { target, .. } => {
                self.on_broker(cluster, target, "restart", ClusterSimulation::restart)
            }
            Fault::Pause { target, .. } => {
                self.on_broker(cluster, target, "pause", ClusterSimulation::pause)
            }
            Fault::Resume { target, .. } => {
                self.on_broker(cluster, target, "resume", ClusterSimulation::resume)
            }
            Fault::Partition { .. }
            | Fault::Isolate { .. }
            | Fault::OneWay { .. }
            | Fault::Bridge { .. }
            | Fault::RandomSplit { .. }
            | Fault::Heal { .. } => self.cut(cluster, fault),
            Fault::Hold { from, to, .. } | Fault::Release { from, to, .. } => {
                self.hold_or_release(cluster, fault, from, to)
            }
            Fault::ClockOffset { .. } | Fault::ClockDrift { .. } | Fault::ClockJump { .. } => {
                self.change_clock(cluster, fault)
            }
            Fault::DiskFailSyncs {
                target, duration, ..
            } => self.disk_fault(cluster, target, DiskFault::Syncs, duration.ns),
            Fault::DiskFailWrites {
                target, duration, ..
            } => self.disk_fault(cluster, target, DiskFault::Writes, duration.ns),
            Fault::Network {
                latency,
                loss,
                duplication,
                reordering,
                ..
            } => {
                let mut network = cluster.simulation().network().config;
                network.latency = latency.unwrap_or(network.latency);
                network.loss = loss.unwrap_or(network.loss);
                network.duplication = duplication.unwrap_or(network.duplication);
                network.reordering = reordering.unwrap_or(network.reordering);
                set_network(cluster, network)?;
                Ok(format!("network rates: {network}"))
            }
            Fault::NetworkReset { .. } => {
                set_network(cluster, self.base_network)?;
                Ok("network rates reset".to_string())
            }
            Fault::AddConsumer { target, .. } | Fault::RemoveConsumer { target, .. } => Ok(
                format!("{} {target} (on the workload's schedule)", fault.action()),
            ),
            Fault::ElectPreferredLeaders { .. } => {
                Ok("elect preferred leaders (the admin client's script)".to_string())
            }
        }
    }

    /// A partition of some shape, or the heal that repairs every cut link.
    fn cut(&mut self, cluster: &mut ClusterSimulation, fault: &Fault) -> Result<String, String> {
        match fault {
            Fault::Partition { groups, .. } => {
                let groups = self.resolve_groups(cluster, groups)?;
                cluster.partition(&groups);
                Ok(format!("partition {}", describe_groups(&groups)))
            }
            Fault::Isolate { target, .. } => {
                let broker = self.resolve(cluster, target)?;
                let rest = brokers(cluster).filter(|&other| other != broker).collect();
                cluster.partition(&[vec![broker], rest]);
                Ok(format!("isolate {} ({target})", broker_name(broker)))
            }
            Fault::OneWay { from, to, .. } => {
                let from = self.resolve_all(cluster, from)?;
                let to = self.resolve_all(cluster, to)?;
                cut_between(cluster, &from, &to);
                Ok(format!(
                    "one-way cut {} -> {}",
                    describe_group(&from),
                    describe_group(&to)
                ))
            }
            Fault::Bridge {
                left,
                bridge,
                right,
                ..
            } => {
                let left = self.resolve_all(cluster, left)?;
                let right = self.resolve_all(cluster, right)?;
                let bridge = self.resolve(cluster, bridge)?;
                cut_between(cluster, &left, &right);
                cut_between(cluster, &right, &left);
                let (left_names, right_names) = (describe_group(&left), describe_group(&right));
                Ok(format!(
                    "bridge {left_names} | {} | {right_names}",
                    broker_name(bridge)
                ))
            }
            Fault::RandomSplit { .. } => {
                let groups = self.random_split(cluster);
                cluster.partition(&groups);
                Ok(format!("random split {}", describe_groups(&groups)))
            }
            Fault::Heal { .. } => {
                cluster.heal();
                Ok("heal the network".to_string())
            }
            other => unreachable!("not a cut: {other:?}"),
        }
    }

    /// A clock's offset, drift or jump.
    fn change_clock(
        &mut self,
        cluster: &mut ClusterSimulation,
        fault: &Fault,
    ) -> Result<String, String> {
        match fault {
            Fault::ClockOffset { target, offset, .. } => {
                let broker = self.resolve(cluster, target)?;
                cluster
                    .simulation_mut()
                    .set_clock_offset(NodeId(broker), offset.ns);
                Ok(format!("clock of {} set {offset} off", broker_name(broker)))
            }
            Fault::ClockDrift { target, ppm, .. } => {
                let broker = self.resolve(cluster, target)?;
                cluster
                    .simulation_mut()
                    .set_clock_drift_ppm(NodeId(broker), *ppm);
                self.drifting.insert(broker);
                Ok(format!("clock of {} drifts {ppm} ppm", broker_name(broker)))
            }
            Fault::ClockJump { target, delta, .. } => {
                let broker = self.resolve(cluster, target)?;
                cluster
                    .simulation_mut()
                    .jump_clock(NodeId(broker), delta.ns);
                Ok(format!("clock of {} jumps {delta}", broker_name(broker)))
            }
            other => unreachable!("not a clock fault: {other:?}"),
        }
    }

    fn on_broker(
        &mut self,
        cluster: &mut ClusterSimulation,
        target: &Target,
        verb: &str,
        action: fn(&mut ClusterSimulation, u32) -> bool,
    ) -> Result<String, String> {
        let node = self.resolve(cluster, target)?;
        let changed = action(cluster, node);
        let note = if changed { "" } else { " (no change)" };
        let name = cluster.simulation().name(NodeId(node));
        Ok(format!("{verb} {name} ({target}){note}"))
    }

    fn hold_or_release(
        &mut self,
        cluster: &mut ClusterSimulation,
        fault: &Fault,
        from: &Target,
        to: &Target,
    ) -> Result<String, String> {
        let from = self.resolve(cluster, from)?;
        let to = self.resolve(cluster, to)?;
        // Node names, not broker names: an end may be a producer.
        let simulation = cluster.simulation();
        let (from_name, to_name) = (
            simulation.name(NodeId(from)).to_owned(),
            simulation.name(NodeId(to)).to_owned(),
        );
        if matches!(fault, Fault::Hold { .. }) {
            cluster.simulation_mut().hold(NodeId(from), NodeId(to));
            self.held_links.insert((from, to));
            Ok(format!("hold {from_name} -> {to_name}"))
        } else {
            cluster.simulation_mut().release(NodeId(from), NodeId(to));
            self.held_links.remove(&(from, to));
            Ok(format!("release {from_name} -> {to_name}"))
        }
    }

    fn disk_fault(
        &mut self,
        cluster: &mut ClusterSimulation,
        target: &Target,
        kind: DiskFault,
        duration_ns: u64,
    ) -> Result<String, String> {
        let broker = self.resolve(cluster, target)?;
        set_disk_fault(cluster, broker, kind, true);
        self.disk_faults
            .insert((cluster.now_ns() + duration_ns, broker, kind));
        Ok(format!(
            "{} disk {kind} fail for {}",
            broker_name(broker),
            Duration::from_ns(duration_ns)
        ))
    }

    /// The node a target names right now (a broker, a consumer for `c<n>`, a producer for
    /// `p<n>`).
    pub fn resolve(&mut self, cluster: &ClusterSimulation, target: &Target) -> Result<u32, String> {
        match target {
            Target::Broker(index) => Ok(*index),
            Target::Controller => cluster
                .active_controller()
                .ok_or_else(|| "no active controller".to_string()),
            Target::Leader { topic, partition } => leader_of(cluster, topic, *partition),
            Target::Follower {
                topic,
                partition,
                index,
            } => follower_of(cluster, topic, *partition, *index),
            Target::Random => Ok(self.rng.random_range(0..cluster.config().brokers)),
            Target::Consumer(index) => cluster
                .consumer_node(*index)
                .ok_or_else(|| format!("{target} is not a consumer of this cluster")),
            Target::Producer(index) => cluster
                .producer_node(*index)
                .ok_or_else(|| format!("{target} is not a producer of this cluster")),
            Target::Coordinator { group } => {
                let groups = cluster
                    .config()
                    .groups
                    .as_ref()
                    .ok_or_else(|| "the cluster has no consumer groups".to_string())?;
                let partition =
                    broker::group::offsets_partition_for_group(group, groups.offsets_partitions);
                leader_of(cluster, broker::group::OFFSETS_TOPIC, partition)
            }
        }
    }

    fn resolve_all(
        &mut self,
        cluster: &ClusterSimulation,
        targets: &[Target],
    ) -> Result<Vec<u32>, String> {
        targets
            .iter()
            .map(|target| self.resolve(cluster, target))
            .collect()
    }

    fn resolve_groups(
        &mut self,
        cluster: &ClusterSimulation,
        groups: &[Vec<Target>],
    ) -> Result<Vec<Vec<u32>>, String> {
        groups
            .iter()
            .map(|group| self.resolve_all(cluster, group))
            .collect()
    }

    /// A random minority (at least one broker) and the majority.
    fn random_split(&mut self, cluster: &ClusterSimulation) -> Vec<Vec<u32>> {
        let mut shuffled: Vec<u32> = brokers(cluster).collect();
        shuffled.shuffle(&mut self.rng);
        let minority_max = ((shuffled.len() - 1) / 2).max(1);
        let minority = self.rng.random_range(1..=minority_max);
        let majority = shuffled.split_off(minority);
        vec![shuffled, majority]
    }

    /// Clears every fault still in force: the network healed and back to its base rates, held
    /// links released, disk faults ended, drift stopped, paused brokers resumed, crashed ones
    /// restarted, and clocks stepped back stepped forward again to the highest reading they had
    /// shown. A clock stepped back holds every timer set before the step by as much: left so, a
    /// broker stepped back 17 s in all just before the heal stayed deaf to its timers (no
    /// heartbeat, no registration, no election) through most of the liveness phase. Offsets
    /// otherwise stay: a clock ahead or behind simulated time delays nothing by itself.
    pub fn heal_everything(&mut self, cluster: &mut ClusterSimulation) {
        for (from, to) in std::mem::take(&mut self.held_links) {
            cluster.simulation_mut().release(NodeId(from), NodeId(to));
        }
        for (_, broker, kind) in std::mem::take(&mut self.disk_faults) {
            set_disk_fault(cluster, broker, kind, false);
        }
        for broker in std::mem::take(&mut self.drifting) {
            cluster
                .simulation_mut()
                .set_clock_drift_ppm(NodeId(broker), 0);
        }
        for broker in brokers(cluster) {
            let behind_ns = cluster.simulation().clock_behind_highest_ns(NodeId(broker));
            if behind_ns > 0 {
                let delta_ns = i64::try_from(behind_ns).expect("a step fits in i64");
                cluster
                    .simulation_mut()
                    .jump_clock(NodeId(broker), delta_ns);
            }
        }
        set_network(cluster, self.base_network).expect("the base network was validated");
        cluster.heal_all();
        self.record(cluster.now_ns(), "heal everything".to_string());
    }
}

fn brokers(cluster: &ClusterSimulation) -> impl Iterator<Item = u32> + use<> {
    0..cluster.config().brokers
}

fn broker_name(broker: u32) -> String {
    Target::broker_name(broker)
}

fn describe_group(group: &[u32]) -> String {
    let names: Vec<String> = group.iter().map(|&broker| broker_name(broker)).collect();
    format!("[{}]", names.join(" "))
}

fn describe_groups(groups: &[Vec<u32>]) -> String {
    groups
        .iter()
        .map(|group| describe_group(group))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn cut_between(cluster: &mut ClusterSimulation, from: &[u32], to: &[u32]) {
    for &source in from {
        for &destination in to.iter().filter(|&&destination| destination != source) {
            cluster
                .simulation_mut()
                .cut(NodeId(source), NodeId(destination));
        }
    }
}

fn set_network(cluster: &mut ClusterSimulation, network: NetworkConfig) -> Result<(), String> {
    cluster
        .simulation_mut()
        .set_network_config(network)
        .map_err(|error| error.to_string())
}

fn set_disk_fault(cluster: &mut ClusterSimulation, broker: u32, kind: DiskFault, on: bool) {
    match kind {
        DiskFault::Syncs => cluster.simulation_mut().set_sync_faults(NodeId(broker), on),
        DiskFault::Writes => cluster
            .simulation_mut()
            .set_write_faults(NodeId(broker), on),
    }
}

/// The leader of `topic/partition` in the active controller's metadata.
/// The `index`-th (from 1) replica of `topic/partition`, in replica order, other than its leader
/// in the active controller's metadata.
fn follower_of(
    cluster: &ClusterSimulation,
    topic: &str,
    partition: u32,
    index: u32,
) -> Result<u32, String> {
    assert!(index >= 1, "follower indexes count from 1 (validated)");
    let state = partition_state(cluster, topic, partition)?;
    let leader = state
        .leader
        .ok_or_else(|| format!("{topic}/{partition} has no leader"))?;
    state
        .replicas
        .iter()
        .copied()
        .filter(|replica| *replica != leader)
        .nth(index as usize - 1)
        .ok_or_else(|| format!("{topic}/{partition} has no follower {index}"))
}

fn leader_of(cluster: &ClusterSimulation, topic: &str, partition: u32) -> Result<u32, String> {
    partition_state(cluster, topic, partition)?
        .leader
        .ok_or_else(|| format!("{topic}/{partition} has no leader"))
}

/// `topic/partition` in the active controller's metadata.
fn partition_state(
    cluster: &ClusterSimulation,
    topic: &str,
    partition: u32,
) -> Result<broker::metadata::image::PartitionState, String> {
    let controller = cluster
        .active_controller()
        .ok_or_else(|| "no active controller".to_string())?;
    let node = cluster
        .broker(controller)
        .expect("the active controller is live");
    let state = node
        .metadata()
        .partitions()
        .find(|(name, index, _)| *name == topic && *index == partition)
        .map(|(_, _, state)| state.clone())
        .ok_or_else(|| format!("{topic}/{partition} is not created yet"))?;
    Ok(state)
}
