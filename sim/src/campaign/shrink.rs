//! Shrinking: a failing scenario made small while the same kind of violation persists.
//!
//! Greedy and deterministic: from the current scenario, the candidate reductions are listed in
//! a fixed order, biggest first (drop the nemesis, drop halves then quarters ... then single
//! faults, shorten the phases, move the faults earlier, drop topics, producers and consumers,
//! fewer processes, lower rates and key spaces, fewer partitions, replicas and brokers). A
//! consumer process goes with the faults naming it (and a group's coordinator faults with the
//! group's last process); later consumers' targets move down, so a fault aimed at a group member
//! follows it. Each valid candidate runs with the current seed; the first whose first violation
//! still has the same source and kind becomes the current scenario, and the list of the new
//! scenario is tried from the same position on, wrapping around: a kind of reduction that
//! worked once often works again (another halving of a rate), and the bigger ones before it,
//! which just failed, wait for their turn instead of being retried first. Under a budget of
//! 300 runs, the planted-bug failures of `ci/switch-campaigns.sh` shrank to as few records
//! offered as with a restart at the top, or up to 85 times fewer; trying the other seeds one
//! at a time over the whole list took them further still, from up to 2,035 records to 30.
//!
//! A seed is fragile: any change to the scenario moves every later random draw, so many a
//! failure stops showing under its own seed as soon as anything is removed, and the shrink
//! would stop at a scenario still full of what does not matter. When no candidate keeps the
//! violation under the current seed, the list is tried again under [`SEEDS_WHEN_STUCK`] other
//! seeds (derived from the current one), the whole list under one seed before the next: a seed
//! under which this scenario fails tends to fail many of its reductions too, so this finds one
//! sooner than trying every seed on each candidate in turn. A candidate that fails the same way
//! becomes the current scenario, with that seed. The shrunk artifact records the seed it fails
//! under, and its reproduce line names it.
//!
//! The search stops when no candidate keeps the violation under any seed tried, or after
//! `runs_max` runs. The same runner and inputs always give the same result.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::campaign::SeedRunner;
use crate::campaign::execute::run_caught;
use crate::campaign::record::violation_label;
use crate::campaign::schedule::seed_of;
use crate::network::NetworkConfig;
use crate::runner::artifact::{self, Artifact, ArtifactError, SCENARIO_FILE};
use crate::runner::report::{RunReport, ViolationSource, replay_command, reproduce_command};
use crate::scenario::{Duration, Fault, Scenario, Target};

/// The default bound on runs of one shrink.
pub const RUNS_MAX_DEFAULT: u64 = 2_000;
/// Other seeds a candidate is run under once the shrink is stuck under its current seed.
pub const SEEDS_WHEN_STUCK: u64 = 31;
/// Phases are never shortened below this.
const PHASE_NS_MIN: u64 = 1_000_000_000;

pub const SUMMARY_FILE: &str = "shrink.txt";
pub const SUMMARY_JSON_FILE: &str = "shrink.json";

/// The violation that must persist: its source and kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Goal {
    pub source: ViolationSource,
    pub kind: String,
}

impl Goal {
    /// The first violation of a failing report.
    pub fn of(report: &RunReport) -> Option<Goal> {
        report.violations.first().map(|violation| Goal {
            source: violation.source,
            kind: violation.kind.clone(),
        })
    }

    /// Whether `report` still fails first with this violation. A candidate that shows it only
    /// behind another (a liveness phase shortened until the consumers cannot drain, say) fails
    /// for a different reason first, and its artifact would lead with the wrong violation.
    pub fn is_met_by(&self, report: &RunReport) -> bool {
        report
            .violations
            .first()
            .is_some_and(|violation| violation.source == self.source && violation.kind == self.kind)
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&violation_label(self.source, &self.kind))
    }
}

/// How big a scenario is, in the units shrinking reduces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    pub faults: usize,
    /// Records the producers offer over the fault phase (processes x rate x seconds).
    pub records: u64,
    pub producers: u32,
    pub consumers: u32,
    pub topics: usize,
    pub partitions: u32,
    pub brokers: u32,
    pub fault_phase: String,
    pub liveness_phase: String,
}

impl Size {
    pub fn of(scenario: &Scenario) -> Size {
        let producers = &scenario.workload.producers;
        let records = producers
            .iter()
            .map(|producer| {
                u64::from(producer.count)
                    * u64::from(producer.rate_per_second)
                    * scenario.fault_phase.ns
                    / 1_000_000_000
            })
            .sum();
        Size {
            faults: scenario.faults.len(),
            records,
            producers: producers.iter().map(|producer| producer.count).sum(),
            consumers: scenario.workload.consumers.iter().map(|c| c.count).sum(),
            topics: scenario.cluster.topics.len(),
            partitions: scenario.cluster.topics.iter().map(|t| t.partitions).sum(),
            brokers: scenario.cluster.brokers,
            fault_phase: scenario.fault_phase.to_string(),
            liveness_phase: scenario.liveness_phase.to_string(),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} faults, ~{} records offered, {} producers, {} consumers, {} topics, {} partitions, \
             {} brokers, fault phase {}, liveness {}",
            self.faults,
            self.records,
            self.producers,
            self.consumers,
            self.topics,
            self.partitions,
            self.brokers,
            self.fault_phase,
            self.liveness_phase
        )
    }
}

#[derive(Debug)]
pub struct Shrunk {
    pub goal: Goal,
    /// The seed the original failed under.
    pub original_seed: u64,
    /// The seed the shrunk scenario fails under: the original's, unless the shrink had to
    /// change it to go on.
    pub seed: u64,
    pub original: Scenario,
    pub scenario: Scenario,
    /// The last failing run, of `scenario`.
    pub report: RunReport,
    /// What was removed, in the order it was.
    pub removed: Vec<String>,
    pub runs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("the run does not fail: nothing to shrink")]
    NoViolation,
    #[error("seed {seed} no longer shows {goal}: the recorded failure does not reproduce")]
    DoesNotReproduce { seed: u64, goal: Goal },
}

/// Shrinks `scenario` under `seed` while a violation like `goal` (by default the first one the
/// scenario shows) persists.
pub fn shrink<R: SeedRunner>(
    scenario: &Scenario,
    seed: u64,
    goal: Option<Goal>,
    runner: &R,
    runs_max: u64,
) -> Result<Shrunk, ShrinkError> {
    let run = |candidate: &Scenario, seed: u64| {
        run_caught(runner, candidate, &candidate.name, seed, false).report
    };
    let report = run(scenario, seed);
    let goal = match goal {
        Some(goal) => goal,
        None => Goal::of(&report).ok_or(ShrinkError::NoViolation)?,
    };
    if !goal.is_met_by(&report) {
        return Err(ShrinkError::DoesNotReproduce { seed, goal });
    }
    let mut shrunk = Shrunk {
        goal,
        original_seed: seed,
        seed,
        original: scenario.clone(),
        scenario: scenario.clone(),
        report,
        removed: Vec::new(),
        runs: 1,
    };
    // The current seed first; only when no candidate keeps the violation under it, the other
    // seeds (see module docs).
    // Each pass starts at the kind of reduction that last worked (the same index of the new
    // list) and wraps around: one that worked once often works again (another halving of a
    // rate), and the bigger ones before it, which just failed, are tried last, not first.
    let mut start = 0;
    loop {
        let mut search = first_kept(&mut shrunk, &run, runs_max, start, false);
        if matches!(search, Search::Exhausted) {
            search = first_kept(&mut shrunk, &run, runs_max, start, true);
        }
        let Search::Kept(kept) = search else {
            break;
        };
        let Kept {
            what,
            candidate,
            seed,
            report,
            index,
        } = *kept;
        start = index;
        let under = if seed == shrunk.seed {
            String::new()
        } else {
            format!(
                " (under seed {seed}: seed {} no longer showed it)",
                shrunk.seed
            )
        };
        shrunk.removed.push(format!("{what}{under}"));
        shrunk.scenario = candidate;
        shrunk.report = report;
        shrunk.seed = seed;
    }
    Ok(shrunk)
}

/// A candidate that keeps the violation: what it removes, the smaller scenario, the seed it
/// fails under and its report.
struct Kept {
    what: String,
    candidate: Scenario,
    seed: u64,
    report: RunReport,
    /// Its index in the candidate list.
    index: usize,
}

/// How one pass over the candidates ended.
enum Search {
    Kept(Box<Kept>),
    /// No candidate keeps the violation under the seeds tried.
    Exhausted,
    /// `runs_max` runs are spent.
    OutOfRuns,
}

/// The first candidate from index `start` on (wrapping around) that keeps the goal: under the
/// current seed, or, when `stuck`, under [`SEEDS_WHEN_STUCK`] others derived from it, one seed
/// at a time over the whole list. Counts its runs.
fn first_kept(
    shrunk: &mut Shrunk,
    run: &impl Fn(&Scenario, u64) -> RunReport,
    runs_max: u64,
    start: usize,
    stuck: bool,
) -> Search {
    let seeds: Vec<u64> = if stuck {
        (1..=SEEDS_WHEN_STUCK)
            .map(|index| seed_of(shrunk.seed, index))
            .collect()
    } else {
        vec![shrunk.seed]
    };
    let candidates = candidates(&shrunk.scenario);
    let count = candidates.len();
    let mut order: Vec<(usize, (String, Scenario))> = candidates
        .into_iter()
        .enumerate()
        .filter(|(_, (_, candidate))| candidate.validate().is_ok())
        .collect();
    let first = order.partition_point(|(index, _)| *index < start.min(count));
    order.rotate_left(first);
    for &seed in &seeds {
        for (index, (what, candidate)) in &order {
            if shrunk.runs >= runs_max {
                return Search::OutOfRuns;
            }
            shrunk.runs += 1;
            let report = run(candidate, seed);
            if shrunk.goal.is_met_by(&report) {
                return Search::Kept(Box::new(Kept {
                    what: what.clone(),
                    candidate: candidate.clone(),
                    seed,
                    report,
                    index: *index,
                }));
            }
        }
    }
    Search::Exhausted
}

/// Every reduction of `scenario`, biggest first, each with what it removes.
fn candidates(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut candidates = Vec::new();
    let mut push = |what: String, candidate: Scenario| {
        if candidate != *scenario {
            candidates.push((what, candidate));
        }
    };
    if scenario.nemesis.is_some() {
        push("the nemesis".into(), with(scenario, |s| s.nemesis = None));
    }
    for (what, candidate) in fault_removals(scenario) {
        push(what, candidate);
    }
    for (what, candidate) in phase_cuts(scenario) {
        push(what, candidate);
    }
    for (what, candidate) in fault_time_cuts(scenario) {
        push(what, candidate);
    }
    for (what, candidate) in workload_cuts(scenario) {
        push(what, candidate);
    }
    for (what, candidate) in cluster_cuts(scenario) {
        push(what, candidate);
    }
    if scenario.network != NetworkConfig::default() {
        push(
            "the base network rates".into(),
            with(scenario, |s| s.network = NetworkConfig::default()),
        );
    }
    candidates
}

fn with(scenario: &Scenario, change: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut changed = scenario.clone();
    change(&mut changed);
    changed
}

/// Halves, quarters, ... then single faults, from the end of the script backwards (late faults
/// are the likelier to be irrelevant).
fn fault_removals(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let count = scenario.faults.len();
    let mut removals = Vec::new();
    if count == 0 {
        return removals;
    }
    let mut chunk = count.div_ceil(2);
    loop {
        let mut end = count;
        while end > 0 {
            let start = end.saturating_sub(chunk);
            let removed = &scenario.faults[start..end];
            let what = describe_faults(removed);
            removals.push((
                what,
                with(scenario, |s| {
                    s.faults.drain(start..end);
                }),
            ));
            end = start;
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    removals
}

fn describe_faults(faults: &[Fault]) -> String {
    let names: Vec<String> = faults
        .iter()
        .map(|fault| format!("{} at {}", fault.action(), fault.at()))
        .collect();
    if names.len() <= 4 {
        format!("fault {}", names.join(", "))
    } else {
        format!(
            "{} faults ({} .. {})",
            names.len(),
            names[0],
            names[names.len() - 1]
        )
    }
}

fn phase_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut cuts = Vec::new();
    let last_fault_ns = scenario.faults.iter().map(|fault| fault.at().ns).max();
    let floor_ns = last_fault_ns.unwrap_or(0).max(PHASE_NS_MIN);
    for shorter_ns in [scenario.fault_phase.ns / 2, floor_ns] {
        let shorter = Duration::from_ns(round_up_to_ms(shorter_ns.max(floor_ns)));
        if shorter < scenario.fault_phase {
            cuts.push((
                format!("fault phase {} -> {shorter}", scenario.fault_phase),
                with(scenario, |s| s.fault_phase = shorter),
            ));
        }
    }
    let liveness = Duration::from_ns(round_up_to_ms(
        (scenario.liveness_phase.ns / 2).max(PHASE_NS_MIN),
    ));
    if liveness < scenario.liveness_phase {
        cuts.push((
            format!("liveness phase {} -> {liveness}", scenario.liveness_phase),
            with(scenario, |s| s.liveness_phase = liveness),
        ));
    }
    cuts
}

/// The faults moved earlier, in the same order: each at half its time, or all shifted so the
/// first comes at half its time. Either lets a later phase cut end the fault phase sooner, and
/// a shorter fault phase offers fewer records.
fn fault_time_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let Some(first_ns) = scenario.faults.iter().map(|fault| fault.at().ns).min() else {
        return Vec::new();
    };
    let moved = |new_ns: &dyn Fn(u64) -> u64| {
        with(scenario, |s| {
            for fault in &mut s.faults {
                let at = fault.at_mut();
                *at = Duration::from_ns(new_ns(at.ns));
            }
        })
    };
    let mut cuts = vec![(
        "time: every fault at half its time".to_owned(),
        moved(&|ns| round_up_to_ms(ns / 2)),
    )];
    let shift_ns = first_ns / 2 / 1_000_000 * 1_000_000;
    if shift_ns > 0 {
        cuts.push((
            format!("time: every fault {} earlier", Duration::from_ns(shift_ns)),
            moved(&|ns| ns - shift_ns),
        ));
    }
    cuts
}

fn round_up_to_ms(ns: u64) -> u64 {
    ns.div_ceil(1_000_000) * 1_000_000
}

/// Cuts of the workload, tried in this order: a whole producer or consumer shape, then a
/// smaller producer (one process, half the rate, half the keys), then fewer consumer processes.
fn workload_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut cuts = shape_cuts(scenario);
    cuts.extend(producer_cuts(scenario));
    cuts.extend(consumer_process_cuts(scenario));
    cuts
}

/// Each producer shape, then each consumer shape, removed with the faults naming its processes.
fn shape_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut cuts = Vec::new();
    for (index, producer) in scenario.workload.producers.iter().enumerate() {
        cuts.push((
            format!(
                "producer {index} (topic {}) and the faults naming its processes",
                producer.topic
            ),
            with(scenario, |s| remove_producer_shape(s, index)),
        ));
    }
    for (index, consumer) in scenario.workload.consumers.iter().enumerate() {
        cuts.push((
            format!(
                "consumer {index} (topic {}) and the faults naming its processes",
                consumer.topic
            ),
            with(scenario, |s| remove_consumer_shape(s, index)),
        ));
    }
    cuts
}

/// Each producer shape made smaller: one process, half the rate, half the keys.
fn producer_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut cuts = Vec::new();
    for (index, producer) in scenario.workload.producers.iter().enumerate() {
        if producer.count > 1 {
            cuts.push((
                format!("producer {index}: count {} -> 1", producer.count),
                with(scenario, |s| set_producer_count_to_one(s, index)),
            ));
        }
        if producer.rate_per_second > 1 {
            let lower = producer.rate_per_second / 2;
            cuts.push((
                format!(
                    "producer {index}: rate {} -> {lower}/s",
                    producer.rate_per_second
                ),
                with(scenario, |s| {
                    s.workload.producers[index].rate_per_second = lower
                }),
            ));
        }
        if producer.keys > 1 {
            let fewer = producer.keys / 2;
            cuts.push((
                format!("producer {index}: keys {} -> {fewer}", producer.keys),
                with(scenario, |s| s.workload.producers[index].keys = fewer),
            ));
        }
    }
    cuts
}

/// Each consumer shape of several processes cut to one, then each of their processes alone.
fn consumer_process_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let consumers = &scenario.workload.consumers;
    let mut cuts = Vec::new();
    let mut first_process = 0;
    for (index, consumer) in consumers.iter().enumerate() {
        if consumer.count > 1 {
            cuts.push((
                format!("consumer {index}: count {} -> 1", consumer.count),
                with(scenario, |s| {
                    for process in (first_process + 1..first_process + consumer.count).rev() {
                        remove_consumer_process(s, process);
                    }
                }),
            ));
        }
        first_process += consumer.count;
    }
    // One process of a shape at a time: a group keeps the member a fault is aimed at.
    let mut process = 0;
    for consumer in consumers {
        for _ in 0..consumer.count {
            if consumer.count > 1 {
                cuts.push((
                    format!("consumer process c{} and the faults naming it", process + 1),
                    with(scenario, |s| remove_consumer_process(s, process)),
                ));
            }
            process += 1;
        }
    }
    cuts
}

/// Without producer shape `index`: faults naming its processes go, and later producers' targets
/// move down.
fn remove_producer_shape(scenario: &mut Scenario, index: usize) {
    let first = first_producer_process(scenario, index);
    let count = scenario.workload.producers[index].count;
    scenario.workload.producers.remove(index);
    remove_producer_processes(scenario, first, count);
}

/// Producer shape `index` keeps its first process only: faults naming the others go, and later
/// producers' targets move down.
fn set_producer_count_to_one(scenario: &mut Scenario, index: usize) {
    let first = first_producer_process(scenario, index);
    let count = scenario.workload.producers[index].count;
    assert!(count > 1, "a shape of one process keeps it");
    scenario.workload.producers[index].count = 1;
    remove_producer_processes(scenario, first + 1, count - 1);
}

/// The first producer process (`p<n>` is process `n - 1`) of producer shape `index`.
fn first_producer_process(scenario: &Scenario, index: usize) -> u32 {
    scenario.workload.producers[..index]
        .iter()
        .map(|producer| producer.count)
        .sum()
}

/// The workload lost producer processes `first..first + count`: faults naming them go, and
/// targets of later producers move down by `count`.
fn remove_producer_processes(scenario: &mut Scenario, first: u32, count: u32) {
    let removed = first..first + count;
    scenario.faults.retain(|fault| {
        fault.targets().iter().all(|(_, target)| match target {
            Target::Producer(index) => !removed.contains(index),
            _ => true,
        })
    });
    for fault in &mut scenario.faults {
        for (_, target) in fault.targets_mut() {
            if let Target::Producer(index) = target
                && *index >= removed.end
            {
                *index -= count;
            }
        }
    }
}

/// Without consumer shape `index`: its processes go as [`remove_consumer_process`] says.
fn remove_consumer_shape(scenario: &mut Scenario, index: usize) {
    let first: u32 = scenario.workload.consumers[..index]
        .iter()
        .map(|consumer| consumer.count)
        .sum();
    let count = scenario.workload.consumers[index].count;
    let shapes = scenario.workload.consumers.len();
    for process in (first..first + count).rev() {
        remove_consumer_process(scenario, process);
    }
    assert_eq!(
        scenario.workload.consumers.len() + 1,
        shapes,
        "the shape goes with its last process"
    );
}

/// Without consumer process `c<process + 1>`: its shape counts one fewer (and goes at zero),
/// faults naming it go, later consumers' targets move down by one, and faults aimed at the
/// coordinator of a group no consumer is left in go.
fn remove_consumer_process(scenario: &mut Scenario, process: u32) {
    let consumers = &mut scenario.workload.consumers;
    let mut first = 0;
    let shape = consumers
        .iter()
        .position(|consumer| {
            first += consumer.count;
            process < first
        })
        .expect("the process exists");
    consumers[shape].count -= 1;
    if consumers[shape].count == 0 {
        consumers.remove(shape);
    }
    let groups: Vec<String> = consumers
        .iter()
        .filter_map(|consumer| consumer.group.clone())
        .collect();
    scenario.faults.retain(|fault| {
        fault.targets().iter().all(|(_, target)| match target {
            Target::Consumer(index) => *index != process,
            Target::Coordinator { group } => groups.contains(group),
            _ => true,
        })
    });
    for fault in &mut scenario.faults {
        for (_, target) in fault.targets_mut() {
            if let Target::Consumer(index) = target
                && *index > process
            {
                *index -= 1;
            }
        }
    }
}

fn cluster_cuts(scenario: &Scenario) -> Vec<(String, Scenario)> {
    let mut cuts = Vec::new();
    for topic in &scenario.cluster.topics {
        let name = topic.name.clone();
        cuts.push((
            format!("topic {name} with its producers, consumers and leader faults"),
            with(scenario, |s| remove_topic(s, &name)),
        ));
    }
    for (index, topic) in scenario.cluster.topics.iter().enumerate() {
        // Halving first: a wide generated topic (up to 128 partitions) shrinks in a few steps.
        let halved = (topic.partitions >= 4).then_some(topic.partitions / 2);
        let fewer = (topic.partitions > 1).then(|| topic.partitions - 1);
        for fewer in halved.into_iter().chain(fewer) {
            cuts.push((
                format!(
                    "topic {}: partitions {} -> {fewer}",
                    topic.name, topic.partitions
                ),
                with(scenario, |s| set_partitions(s, index, fewer)),
            ));
        }
        if topic.replication_factor > 1 {
            let fewer = topic.replication_factor - 1;
            cuts.push((
                format!(
                    "topic {}: replication factor {} -> {fewer}",
                    topic.name, topic.replication_factor
                ),
                with(scenario, |s| {
                    let topic = &mut s.cluster.topics[index];
                    topic.replication_factor = fewer;
                    topic.min_insync_replicas = topic.min_insync_replicas.min(fewer);
                }),
            ));
        }
    }
    if scenario.cluster.brokers > 1 {
        let fewer = scenario.cluster.brokers - 1;
        cuts.push((
            format!(
                "broker b{} and the faults naming it",
                scenario.cluster.brokers
            ),
            with(scenario, |s| remove_last_broker(s, fewer)),
        ));
    }
    cuts
}

fn names_topic(fault: &Fault, topic: &str) -> bool {
    fault.targets().iter().any(|(_, target)| match target {
        Target::Leader { topic: named, .. } | Target::Follower { topic: named, .. } => {
            named == topic
        }
        _ => false,
    })
}

/// Without topic `name`: its producers and leader faults go; a group consumer subscribed to
/// further topics keeps those, other consumers of it go with their faults.
fn remove_topic(scenario: &mut Scenario, name: &str) {
    scenario.cluster.topics.retain(|topic| topic.name != name);
    while let Some(index) = (scenario.workload.producers.iter()).position(|p| p.topic == name) {
        remove_producer_shape(scenario, index);
    }
    for consumer in &mut scenario.workload.consumers {
        consumer.topics.retain(|topic| topic != name);
        if consumer.topic == name && !consumer.topics.is_empty() {
            consumer.topic = consumer.topics.remove(0);
        }
    }
    while let Some(index) = (scenario.workload.consumers.iter()).position(|c| c.topic == name) {
        remove_consumer_shape(scenario, index);
    }
    scenario.faults.retain(|fault| !names_topic(fault, name));
}

/// Fewer partitions; leader targets beyond them move to the last partition kept.
fn set_partitions(scenario: &mut Scenario, index: usize, partitions: u32) {
    let name = scenario.cluster.topics[index].name.clone();
    scenario.cluster.topics[index].partitions = partitions;
    for fault in &mut scenario.faults {
        for (_, target) in fault.targets_mut() {
            if let Target::Leader { topic, partition }
            | Target::Follower {
                topic, partition, ..
            } = target
                && *topic == name
            {
                *partition = (*partition).min(partitions - 1);
            }
        }
    }
}

/// One broker fewer: replication, min ISR and controllers follow; faults naming it go.
fn remove_last_broker(scenario: &mut Scenario, brokers: u32) {
    let cluster = &mut scenario.cluster;
    cluster.brokers = brokers;
    let mut controllers = cluster.controllers.min(brokers);
    if controllers % 2 == 0 {
        controllers -= 1;
    }
    cluster.controllers = controllers;
    for topic in &mut cluster.topics {
        topic.replication_factor = topic.replication_factor.min(brokers);
        topic.min_insync_replicas = topic.min_insync_replicas.min(topic.replication_factor);
    }
    scenario.faults.retain(|fault| {
        fault
            .targets()
            .iter()
            .all(|(_, target)| !matches!(target, Target::Broker(index) if *index >= brokers))
    });
}

/// Writes the shrunk scenario as an artifact folder (replayable, `scenario.toml` and `seed`
/// inside), with `shrink.txt` and `shrink.json` saying what was removed.
pub fn write<R: SeedRunner>(
    directory: &Path,
    shrunk: &Shrunk,
    runner: &R,
) -> Result<(), ArtifactError> {
    let scenario_path = directory.join(SCENARIO_FILE).display().to_string();
    let detailed = run_caught(runner, &shrunk.scenario, &scenario_path, shrunk.seed, true);
    let mut report = detailed.report.clone();
    report.scenario_path = scenario_path;
    artifact::write(
        directory,
        &Artifact {
            scenario: &shrunk.scenario,
            report: &report,
            history_lines: &detailed.history_lines,
            log: &detailed.log,
        },
    )?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArtifactError::Io { path, source }
    };
    let summary_path = directory.join(SUMMARY_FILE);
    std::fs::write(&summary_path, shrunk.text()).map_err(io(&summary_path))?;
    let json_path = directory.join(SUMMARY_JSON_FILE);
    let json = serde_json::json!({
        "goal": shrunk.goal.to_string(),
        "original_seed": shrunk.original_seed,
        "seed": shrunk.seed,
        "runs": shrunk.runs,
        "original": Size::of(&shrunk.original),
        "shrunk": Size::of(&shrunk.scenario),
        "removed": shrunk.removed,
    });
    let json = serde_json::to_string_pretty(&json).expect("json serialises");
    std::fs::write(&json_path, format!("{json}\n")).map_err(io(&json_path))
}

impl Shrunk {
    /// The commands that reproduce the shrunk failure written to `directory`: a run of its
    /// scenario under the seed it fails under, and a replay of the folder.
    pub fn commands(&self, directory: &Path) -> String {
        let scenario = directory.join(SCENARIO_FILE).display().to_string();
        format!(
            "reproduce: {}\nreplay:    {}\n",
            reproduce_command(&scenario, self.seed),
            replay_command(&directory.display().to_string())
        )
    }

    /// What the shrink found, for people.
    pub fn text(&self) -> String {
        let mut lines = vec![
            format!(
                "shrunk {} under seed {} keeping {} in {} runs",
                self.original.name, self.original_seed, self.goal, self.runs
            ),
            format!("original: {}", Size::of(&self.original)),
            format!("shrunk:   {}", Size::of(&self.scenario)),
            format!("removed ({} steps):", self.removed.len()),
        ];
        lines.extend(self.removed.iter().map(|what| format!("  - {what}")));
        if self.seed != self.original_seed {
            lines.push(format!(
                "the shrunk scenario fails under seed {}",
                self.seed
            ));
        }
        lines.push(String::new());
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{SeedRun, fake, generate::generate};

    #[test]
    fn shrinking_keeps_the_violation_and_drops_what_does_not_matter() {
        let seed = (0..).map(|n| n * 7).find(|&seed| {
            generate(seed).faults.iter().any(fake::crashes_b2) && generate(seed).faults.len() > 4
        });
        let seed = seed.unwrap();
        let original = generate(seed);
        let shrunk = shrink(&original, seed, None, &fake::crash_b2_runner, 10_000).unwrap();
        assert_eq!(shrunk.goal.to_string(), "history/lost-write");
        assert_eq!(shrunk.scenario.faults.len(), 1, "{}", shrunk.text());
        assert!(matches!(
            shrunk.scenario.faults[0],
            Fault::Crash {
                target: Target::Broker(1),
                ..
            }
        ));
        assert_eq!(shrunk.scenario.cluster.brokers, 2, "b3.. go, b2 stays");
        assert_eq!(shrunk.scenario.workload.producers.len(), 1);
        assert_eq!(shrunk.scenario.workload.producers[0].rate_per_second, 1);
        assert!(shrunk.scenario.validate().is_ok());
        let again = shrink(&original, seed, None, &fake::crash_b2_runner, 10_000).unwrap();
        assert_eq!(
            again.scenario, shrunk.scenario,
            "shrinking is deterministic"
        );
        assert_eq!(again.removed, shrunk.removed);
    }

    /// A wide generated topic shrinks by halves: a few runs, not one per partition.
    #[test]
    fn a_wide_topic_shrinks_by_halves() {
        let seed = (0..)
            .map(|n| n * 7)
            .find(|&seed| {
                let scenario = generate(seed);
                let topics = &scenario.cluster.topics;
                topics.len() == 1
                    && topics[0].partitions >= 64
                    && scenario.faults.iter().any(fake::crashes_b2)
            })
            .expect("a seed with one wide topic that crashes b2");
        let original = generate(seed);
        let width = original.cluster.topics[0].partitions;
        let shrunk = shrink(&original, seed, None, &fake::crash_b2_runner, 10_000).unwrap();
        assert_eq!(
            shrunk.scenario.cluster.topics[0].partitions,
            1,
            "{}",
            shrunk.text()
        );
        let steps = shrunk
            .removed
            .iter()
            .filter(|step| step.contains("partitions"))
            .count();
        assert!(
            steps <= 10,
            "{width} partitions took {steps} steps:\n{}",
            shrunk.text()
        );
    }

    /// Fails (seeds divisible by 7) when a consumer is paused while another consumer runs: a
    /// zombie needs someone to take its partitions.
    fn zombie_runner(scenario: &Scenario, path: &str, seed: u64, _log: bool) -> SeedRun {
        let processes: u32 = scenario.workload.consumers.iter().map(|c| c.count).sum();
        let pauses_a_consumer = scenario.faults.iter().any(|fault| {
            matches!(
                fault,
                Fault::Pause {
                    target: Target::Consumer(_),
                    ..
                }
            )
        });
        let fails = pauses_a_consumer && processes >= 2 && seed % 7 == 0;
        SeedRun::from_report(fake::report(scenario, path, seed, fails))
    }

    #[test]
    fn shrinking_a_group_scenario_drops_members_and_keeps_the_fault_on_its_member() {
        let pauses_the_last_of_four = |scenario: &Scenario| {
            scenario.workload.consumers.iter().any(|c| c.count == 4)
                && scenario.faults.iter().any(|fault| {
                    matches!(
                        fault,
                        Fault::Pause {
                            target: Target::Consumer(3),
                            ..
                        }
                    )
                })
        };
        let seed = (0..)
            .map(|n| n * 7)
            .find(|&seed| pauses_the_last_of_four(&generate(seed)))
            .unwrap();
        let original = generate(seed);
        let shrunk = shrink(&original, seed, None, &zombie_runner, 10_000).unwrap();
        assert!(shrunk.scenario.validate().is_ok());
        let consumers = &shrunk.scenario.workload.consumers;
        assert_eq!(consumers.len(), 1, "{}", shrunk.text());
        assert_eq!(
            consumers[0].count,
            2,
            "two members of four: {}",
            shrunk.text()
        );
        assert_eq!(shrunk.scenario.faults.len(), 1, "{}", shrunk.text());
        assert!(
            matches!(
                shrunk.scenario.faults[0],
                Fault::Pause {
                    target: Target::Consumer(0 | 1),
                    ..
                }
            ),
            "the pause follows its member down to c1 or c2: {}",
            shrunk.text()
        );
    }

    #[test]
    fn removing_a_consumer_process_retargets_later_consumers_and_drops_orphaned_coordinator_faults()
    {
        let mut scenario = Scenario::parse(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scenarios/group-coordinator-crash.toml"
            ))
            .unwrap(),
            "group-coordinator-crash.toml",
        )
        .unwrap();
        remove_consumer_process(&mut scenario, 1);
        assert_eq!(scenario.workload.consumers[0].count, 2);
        assert_eq!(
            scenario.faults[0],
            Fault::AddConsumer {
                at: Duration::from_secs(3),
                target: Target::Consumer(1),
            },
            "c3 became c2"
        );
        assert!(scenario.validate().is_ok());
        remove_consumer_shape(&mut scenario, 0);
        assert!(scenario.workload.consumers.is_empty());
        assert!(
            scenario
                .faults
                .iter()
                .all(|fault| fault.action() == "restart"),
            "the add-consumer and the coordinator crashes went with the group: {:?}",
            scenario.faults
        );
    }

    #[test]
    fn removing_producers_drops_the_faults_naming_them_and_retargets_later_producers() {
        let mut scenario = Scenario::parse(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scenarios/leader-crash-after-ack.toml"
            ))
            .unwrap(),
            "leader-crash-after-ack.toml",
        )
        .unwrap();
        let mut second = scenario.workload.producers[0].clone();
        second.count = 3;
        scenario.workload.producers.push(second);
        let producers: u32 = scenario.workload.producers.iter().map(|p| p.count).sum();
        let pause = |index| Fault::Pause {
            at: Duration::from_secs(1),
            target: Target::Producer(index),
        };
        scenario.faults = (0..producers).map(pause).collect();
        assert!(scenario.validate().is_ok());
        let first_of_second = first_producer_process(&scenario, 1);

        let mut fewer = scenario.clone();
        set_producer_count_to_one(&mut fewer, 1);
        let kept: Vec<Fault> = (0..=first_of_second).map(pause).collect();
        assert_eq!(
            fewer.faults, kept,
            "the second shape's other processes went"
        );
        assert!(fewer.validate().is_ok());

        remove_producer_shape(&mut scenario, 0);
        let moved: Vec<Fault> = (0..3).map(pause).collect();
        assert_eq!(scenario.faults, moved, "p{} became p1", first_of_second + 1);
        assert!(scenario.validate().is_ok());
    }

    #[test]
    fn the_goal_is_met_only_while_it_is_the_first_violation() {
        let scenario = generate(1);
        let violation = |source, kind: &str| crate::runner::report::Violation {
            source,
            kind: kind.to_owned(),
            description: String::new(),
            witnesses: Vec::new(),
        };
        let mut original = fake::report(&scenario, "s.toml", 1, false);
        original.add_violation(violation(ViolationSource::History, "lost-write"));
        let goal = Goal::of(&original).expect("a failing report");
        assert!(goal.is_met_by(&original));
        let mut behind_another = fake::report(&scenario, "s.toml", 1, false);
        behind_another.add_violation(violation(ViolationSource::Liveness, "not-drained"));
        behind_another.add_violation(violation(ViolationSource::History, "lost-write"));
        assert!(
            !goal.is_met_by(&behind_another),
            "a shorter liveness phase that cannot drain changes what the failure says"
        );
        let passing = fake::report(&scenario, "s.toml", 1, false);
        assert!(!goal.is_met_by(&passing));
    }

    /// Fails when the scenario crashes b2 and either still has four faults or more, or runs
    /// under an even seed: under an odd seed, removing faults stops the failure.
    fn fragile_runner(scenario: &Scenario, path: &str, seed: u64, _log: bool) -> SeedRun {
        let crashes_b2 = scenario.faults.iter().any(fake::crashes_b2);
        let fails = crashes_b2 && (scenario.faults.len() >= 4 || seed % 2 == 0);
        SeedRun::from_report(fake::report(scenario, path, seed, fails))
    }

    #[test]
    fn a_shrink_stuck_under_its_seed_goes_on_under_another() {
        let seed = (1..)
            .step_by(2)
            .find(|&seed| {
                let scenario = generate(seed);
                scenario.faults.iter().any(fake::crashes_b2) && scenario.faults.len() > 6
            })
            .unwrap();
        let original = generate(seed);
        let shrunk = shrink(&original, seed, None, &fragile_runner, 10_000).unwrap();
        assert_eq!(shrunk.scenario.faults.len(), 1, "{}", shrunk.text());
        assert_eq!(shrunk.original_seed, seed);
        assert_eq!(shrunk.seed % 2, 0, "an even seed took it on");
        assert!(
            shrunk
                .text()
                .contains(&format!("fails under seed {}", shrunk.seed)),
            "{}",
            shrunk.text()
        );
        let commands = shrunk.commands(Path::new("out"));
        assert!(
            commands.contains(&format!("run out/scenario.toml --seed {}\n", shrunk.seed)),
            "{commands}"
        );
        let changed = shrunk
            .removed
            .iter()
            .filter(|what| what.contains("under seed"));
        assert_eq!(
            changed.count(),
            1,
            "the seed changed once: {:?}",
            shrunk.removed
        );
        let again = shrink(&original, seed, None, &fragile_runner, 10_000).unwrap();
        assert_eq!((again.seed, again.removed), (shrunk.seed, shrunk.removed));
    }

    #[test]
    fn a_late_fault_moves_early_and_the_fault_phase_ends_soon_after() {
        let late = |scenario: &Scenario| {
            scenario
                .faults
                .iter()
                .any(|fault| fake::crashes_b2(fault) && fault.at().ns > 4_000_000_000)
        };
        let seed = (0..).find(|&seed| late(&generate(seed))).unwrap();
        let any_seed = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            let crashes_b2 = scenario.faults.iter().any(fake::crashes_b2);
            SeedRun::from_report(fake::report(scenario, path, seed, crashes_b2))
        };
        let shrunk = shrink(&generate(seed), seed, None, &any_seed, 10_000).unwrap();
        assert_eq!(shrunk.scenario.faults.len(), 1, "{}", shrunk.text());
        assert!(
            shrunk.scenario.faults[0].at().ns <= 1_000_000,
            "{}",
            shrunk.text()
        );
        assert_eq!(
            shrunk.scenario.fault_phase.ns,
            PHASE_NS_MIN,
            "{}",
            shrunk.text()
        );
        assert!(shrunk.removed.iter().any(|what| what.starts_with("time: ")));
    }

    #[test]
    fn a_passing_run_has_nothing_to_shrink_and_the_budget_bounds_runs() {
        let passing = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            SeedRun::from_report(fake::report(scenario, path, seed, false))
        };
        assert!(matches!(
            shrink(&generate(1), 1, None, &passing, 100),
            Err(ShrinkError::NoViolation)
        ));
        let always = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            SeedRun::from_report(fake::report(scenario, path, seed, true))
        };
        let bounded = shrink(&generate(1), 1, None, &always, 5).unwrap();
        assert_eq!(bounded.runs, 5);
    }
}
