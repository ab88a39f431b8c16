//! One run of one scenario under one seed: the phases, the checks, the report.
//!
//! Phases, as in TigerBeetle's VOPR and Jepsen:
//! 1. **Fault phase** (`fault_phase`): the workload runs while the script's faults and the
//!    nemesis's fire; the state monitors check every node snapshot after every step.
//! 2. **Heal**: every fault still in force is cleared; producers have stopped.
//! 3. **Liveness phase** (`liveness_phase`): the cluster must converge and the consumers drain
//!    every partition to its high watermark; a cluster that does not is a liveness violation.
//! 4. **Checks**: the history (with a final dump of every replica's log) goes to `check`; a run
//!    that acknowledged or consumed nothing is vacuous and fails rather than passing.
//!
//! The run never reads a wall clock: the caller measures wall time and fills it in.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use check::history::{AnomalyKind, CheckConfig, Operation};
use check::state::StateViolation;

use crate::cluster::ClusterSimulation;
use crate::logging::SimulatedTimeFormat;
use crate::process::NodeId;
use crate::runner::faults::FaultExecutor;
use crate::runner::history::HistoryRecorder;
use crate::runner::nemesis;
use crate::runner::report::{RunReport, Violation, ViolationSource};
use crate::runner::workload::{self, Workload};
use crate::scenario::{Acks, Fault, Scenario, Target};
use crate::seed::{Stream, stream};
use crate::simulation::SimulationConfig;

/// How often the liveness phase looks whether the consumers have drained.
const DRAIN_CHECK_INTERVAL_NS: u64 = 100_000_000;
/// Once drained, how long the run goes on so that the polls that read the last records complete
/// (a consumer's position moves when a fetch answers; its poll completes a little later).
const DRAIN_SETTLE_NS: u64 = 1_000_000_000;
/// Witnesses kept per violation in the report.
const WITNESSES_PER_VIOLATION_MAX: usize = 8;
/// The event budget of a run, per simulated second of its phases: about sixteen times what a
/// 3-broker cluster under a 1,000 records/s load processes. A run past its budget is a message
/// or timer storm (a livelock is a finding too), and stopping it keeps a campaign from stalling
/// on one seed.
pub const EVENTS_PER_SIMULATED_SECOND_MAX: u64 = 200_000;

#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Keep the run's log (info level, stamped with simulated time) and its history as
    /// `history.jsonl` lines, for an artifact folder. Without it both stay empty: a campaign
    /// runs a failing seed again with them on, and serialising every passing seed's history
    /// would cost it throughput.
    pub capture_log: bool,
    /// A lower event budget than the scenario's own ([`events_max`]), for tests of the budget
    /// itself; `None` in every run a user can reproduce.
    pub events_max: Option<u64>,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: RunReport,
    /// Empty unless [`RunOptions::capture_log`] was set.
    pub history_lines: Vec<String>,
    pub log: String,
}

/// Runs `scenario` under `seed`. `scenario_path` is how the user named the file (it goes into
/// the reproduce command).
pub fn run(scenario: &Scenario, scenario_path: &str, seed: u64, options: RunOptions) -> RunOutcome {
    if !options.capture_log {
        return run_phases(scenario, scenario_path, seed, options);
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Arc::clone(&buffer);
    // A file, not a terminal: no colour codes (set before the format, which keeps the flag).
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .event_format(SimulatedTimeFormat)
        .with_writer(move || LogWriter(Arc::clone(&writer)))
        .with_max_level(tracing::Level::INFO)
        .finish();
    let mut outcome = tracing::subscriber::with_default(subscriber, || {
        run_phases(scenario, scenario_path, seed, options)
    });
    outcome.log = String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned();
    outcome
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The state of one run as it goes.
struct Run<'a> {
    scenario: &'a Scenario,
    cluster: ClusterSimulation,
    executor: FaultExecutor,
    recorder: HistoryRecorder,
    /// (topic, partition) -> one past the highest offset acknowledged to an `acks=all` send.
    acknowledged_ends: workload::AcknowledgedEnds,
    workload: Workload,
    report: RunReport,
    events_max: u64,
}

/// Why a phase stopped early.
enum Stop {
    /// A state monitor fired.
    Violation(StateViolation),
    /// The run spent its event budget.
    Budget { events: u64 },
}

impl From<StateViolation> for Stop {
    fn from(violation: StateViolation) -> Self {
        Stop::Violation(violation)
    }
}

/// The event budget of `scenario`'s run (see [`EVENTS_PER_SIMULATED_SECOND_MAX`]).
pub fn events_max(scenario: &Scenario) -> u64 {
    let phases_ns = scenario.fault_phase.ns + scenario.liveness_phase.ns + DRAIN_SETTLE_NS;
    phases_ns.div_ceil(1_000_000_000) * EVENTS_PER_SIMULATED_SECOND_MAX
}

fn run_phases(
    scenario: &Scenario,
    scenario_path: &str,
    seed: u64,
    options: RunOptions,
) -> RunOutcome {
    let mut nemesis_rng = stream(seed, Stream::Nemesis);
    let mut report = RunReport::new(&scenario.name, scenario_path, seed, 0);
    let faults = fault_schedule(scenario, &mut nemesis_rng, &mut report);
    let workload = Workload::of(scenario);
    let simulation = SimulationConfig {
        seed,
        network: scenario.network,
        check_invariants: true,
        ..SimulationConfig::default()
    };
    let mut cluster = workload::build_cluster(scenario, &workload, simulation);
    // Where the scenario declares that acknowledged writes may be lost (every replica crashing
    // under flush = "never"), records below the high watermark may legitimately vanish: the
    // replica monitor would report the declared trade-off as a violation.
    cluster.set_replica_monitor(scenario.expect.acknowledged_writes_survive);
    let executor = FaultExecutor::new(nemesis_rng, scenario.network);
    let recorder = HistoryRecorder::new(workload.process_count() + 1);
    let mut run = Run {
        scenario,
        cluster,
        executor,
        recorder,
        acknowledged_ends: BTreeMap::new(),
        workload,
        report,
        events_max: options.events_max.unwrap_or_else(|| events_max(scenario)),
    };
    let phases = run.fault_phase(&faults).and_then(|()| run.heal_and_drain());
    let drained = match phases {
        Ok(drained) => drained,
        Err(Stop::Violation(violation)) => {
            run.add_state_violation(&violation);
            false
        }
        Err(Stop::Budget { events }) => {
            let violation = run.budget_violation(events);
            run.report.add_violation(violation);
            false
        }
    };
    run.finish(drained, options.capture_log)
}

/// The script's faults and the nemesis's, merged in time order (the script first on ties).
fn fault_schedule(
    scenario: &Scenario,
    rng: &mut rand_chacha::ChaCha8Rng,
    report: &mut RunReport,
) -> Vec<Fault> {
    let mut faults = scenario.faults.clone();
    if let Some(nemesis) = &scenario.nemesis {
        let plan = nemesis::plan(nemesis, scenario.cluster.brokers, scenario.fault_phase, rng);
        report.nemesis = Some(plan.to_string());
        faults.extend(plan.faults);
    }
    faults.sort_by_key(Fault::at);
    faults
}

impl Run<'_> {
    fn advance_to(&mut self, time_ns: u64) -> Result<(), Stop> {
        while let Some(expiry_ns) = self
            .executor
            .next_expiry_ns()
            .filter(|&expiry| expiry <= time_ns)
        {
            self.run_within_budget(expiry_ns)?;
            self.executor.expire(&mut self.cluster);
            self.record_client_events();
        }
        self.run_within_budget(time_ns)?;
        self.record_client_events();
        Ok(())
    }

    /// Runs the cluster to `time_ns`, stopping as soon as the events exceed the budget (checked
    /// after every step: a timer storm may never let simulated time move on). The trace is
    /// that of `run_until(time_ns)`.
    fn run_within_budget(&mut self, time_ns: u64) -> Result<(), Stop> {
        let events_max = self.events_max;
        let over_budget = self.cluster.run_until_condition(time_ns, |cluster| {
            cluster.simulation().counters().events > events_max
        })?;
        if over_budget.is_some() {
            let events = self.cluster.simulation().counters().events;
            return Err(Stop::Budget { events });
        }
        self.cluster.run_until(time_ns)?;
        Ok(())
    }

    fn budget_violation(&self, events: u64) -> Violation {
        let counters = self.cluster.simulation().counters();
        Violation {
            source: ViolationSource::Budget,
            kind: "event-budget-exceeded".to_string(),
            description: format!(
                "{events} events by simulated time {:.3} s, past the run's budget of {} \
                 ({EVENTS_PER_SIMULATED_SECOND_MAX} per simulated second): a message or timer \
                 storm; the run stopped there",
                self.cluster.now_ns() as f64 / 1e9,
                self.events_max
            ),
            witnesses: vec![serde_json::json!({
                "messages_sent": counters.messages_sent,
                "timers_fired": counters.timers_fired,
                "disk_writes": counters.disk_writes,
                "disk_syncs": counters.disk_syncs,
            })],
        }
    }

    /// Records the clients' events, noting acknowledged offsets for the drain condition. A
    /// scenario that allows acknowledged writes to be lost (`acknowledged_writes_survive =
    /// false`) notes none: a tail lost on every replica is never read, and waiting for it would
    /// make such a run fail not-drained.
    fn record_client_events(&mut self) {
        let note_acknowledged = self.scenario.expect.acknowledged_writes_survive;
        for (time_ns, event) in self.cluster.drain_client_events() {
            if note_acknowledged {
                self.workload
                    .note_acknowledged(&event, &mut self.acknowledged_ends);
            }
            self.recorder.record(time_ns, &event);
        }
    }

    fn fault_phase(&mut self, faults: &[Fault]) -> Result<(), Stop> {
        for fault in faults {
            self.advance_to(fault.at().ns)?;
            self.executor.fire(&mut self.cluster, fault);
            if let Fault::Crash { target, .. } = fault
                && let Some(process) = self.client_process(target)
            {
                self.recorder.crash_process(self.cluster.now_ns(), process);
            }
        }
        self.advance_to(self.scenario.fault_phase.ns)
    }

    /// The history process of the client `target` names, if it names one: producers come first
    /// (`p<n>` is process `n - 1`), then consumers.
    fn client_process(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Producer(index) => {
                let process = self.workload.producers[*index as usize].process;
                assert_eq!(process, u64::from(*index), "producers come first");
                Some(process)
            }
            Target::Consumer(index) => {
                Some(self.workload.producers.len() as u64 + u64::from(*index))
            }
            _ => None,
        }
    }

    /// Heals every fault, then runs the liveness phase until the consumers drain or it ends.
    /// Returns whether they drained.
    fn heal_and_drain(&mut self) -> Result<bool, Stop> {
        self.executor.heal_everything(&mut self.cluster);
        let end_ns = self.scenario.fault_phase.ns + self.scenario.liveness_phase.ns;
        while self.cluster.now_ns() < end_ns {
            let next_ns = (self.cluster.now_ns() + DRAIN_CHECK_INTERVAL_NS).min(end_ns);
            self.advance_to(next_ns)?;
            let sends_settled = !self.recorder.has_open_sends();
            if sends_settled
                && self
                    .workload
                    .drained(&self.cluster, &self.acknowledged_ends)
            {
                self.advance_to(self.cluster.now_ns() + DRAIN_SETTLE_NS)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reports a broken state invariant, naming its nodes as the scenario does.
    fn add_state_violation(&mut self, violation: &StateViolation) {
        let simulation = self.cluster.simulation();
        let violation = state_violation(violation, |node| simulation.name(NodeId(node)).to_owned());
        self.report.add_violation(violation);
    }

    fn finish(mut self, drained: bool, keep_history_lines: bool) -> RunOutcome {
        self.record_client_events();
        if let Some(violation) = self.cluster.fenced_producer_write() {
            self.add_state_violation(&violation);
        }
        let dump_process = self.workload.process_count();
        self.recorder.record_dump(
            self.cluster.now_ns(),
            dump_process,
            self.cluster.replica_logs(),
        );
        if !drained && self.report.violations.is_empty() {
            self.report.add_violation(Violation {
                source: ViolationSource::Liveness,
                kind: "not-drained".to_string(),
                description: format!(
                    "consumers did not read every partition to its high watermark within the {} liveness phase after heal",
                    self.scenario.liveness_phase
                ),
                witnesses: vec![self.workload.progress_json(&self.cluster)],
            });
        }
        let history_lines = if keep_history_lines {
            self.recorder.lines()
        } else {
            Vec::new()
        };
        // The run records nothing more: the checker takes the operations instead of a copy.
        let activity = workload::activity(self.recorder.operations());
        let operations = self.recorder.take_operations();
        self.check_history(drained, operations);
        self.check_vacuity(activity);
        self.fill_stats();
        RunOutcome {
            report: self.report,
            history_lines,
            log: String::new(),
        }
    }

    fn check_config(&self, drained: bool) -> CheckConfig {
        let all_acks_all = self
            .scenario
            .workload
            .producers
            .iter()
            .all(|producer| producer.acks == Acks::All);
        let mut config = CheckConfig {
            acks: if all_acks_all {
                check::history::Acks::All
            } else {
                check::history::Acks::Leader
            },
            drained,
            witnesses_per_anomaly_max: WITNESSES_PER_VIOLATION_MAX,
            ..CheckConfig::default()
        };
        if workload::groups::uses_groups(self.scenario) {
            self.group_check_config(&mut config);
        }
        if !self.scenario.expect.acknowledged_writes_survive {
            // The declared trade-off: a log tail that vanished on every replica is lost, and
            // its offsets are reused by later records; consumers that had read it see the
            // offsets again with other values.
            config.expected.extend([
                AnomalyKind::LostWrite,
                AnomalyKind::Unseen,
                AnomalyKind::InconsistentOffsets,
                AnomalyKind::NonmonotonicPoll,
                AnomalyKind::PollSkip,
            ]);
        }
        config
    }

    /// Group runs: keys come from rebalances; each group must read every record at least once,
    /// or exactly once where the scenario expects it.
    /// Each group is judged by its own protocol (the validator has a group's consumers share
    /// one; groups need not).
    fn group_check_config(&self, config: &mut CheckConfig) {
        config.consumer_mode = check::history::ConsumerMode::Subscribe;
        config.rebalance_protocol = check::history::RebalanceProtocol::Eager;
        for consumer in &self.scenario.workload.consumers {
            let cooperative =
                consumer.protocol == Some(crate::scenario::RebalanceProtocol::Cooperative);
            if let (Some(group), true) = (&consumer.group, cooperative) {
                let protocol = check::history::RebalanceProtocol::Cooperative;
                config.group_protocols.insert(group.clone(), protocol);
            }
        }
        config.exactly_once = self.scenario.expect.exactly_once;
        config.at_least_once = true;
    }

    fn check_history(&mut self, drained: bool, operations: Vec<Operation>) {
        let config = self.check_config(drained);
        let history = match check::history::check_operations(operations, &config) {
            Ok(history) => history,
            Err(error) => panic!("the simulator recorded a malformed history: {error}"),
        };
        for kind in &history.violations {
            let witnesses: Vec<serde_json::Value> = history
                .anomalies
                .get(kind)
                .into_iter()
                .flatten()
                .map(|witness| serde_json::to_value(witness).expect("witness json"))
                .collect();
            let (first, legend) = match witnesses.first() {
                Some(first) => (first.to_string(), self.process_legend(first)),
                None => (String::new(), String::new()),
            };
            self.report.add_violation(Violation {
                source: ViolationSource::History,
                kind: kind.name().to_string(),
                description: format!(
                    "seen {} time(s); first: {first}{legend}",
                    history.count(*kind)
                ),
                witnesses,
            });
        }
    }

    /// ` (process 2 is c1)`: which client each history process the witness names is, as the
    /// log and the scenario name clients; empty if it names none.
    fn process_legend(&self, witness: &serde_json::Value) -> String {
        let mut processes = Vec::new();
        processes_named(witness, &mut processes);
        let named: Vec<(u64, String)> = processes
            .into_iter()
            .filter_map(|process| Some((process, self.workload.process_name(process)?)))
            .collect();
        legend("process", &named)
    }

    fn check_vacuity(&mut self, activity: workload::Activity) {
        let reasons = [
            (activity.sends_invoked == 0, "no record was produced"),
            (
                activity.records_acknowledged == 0
                    && self
                        .scenario
                        .workload
                        .producers
                        .iter()
                        .any(|producer| producer.acks != Acks::None),
                "no record was acknowledged",
            ),
            (activity.records_polled == 0, "no record was consumed"),
        ];
        for (vacuous, reason) in reasons {
            if vacuous {
                self.report.add_violation(Violation {
                    source: ViolationSource::Vacuous,
                    kind: "vacuous".to_string(),
                    description: format!("{reason}: the run proves nothing"),
                    witnesses: vec![serde_json::to_value(activity).expect("activity json")],
                });
            }
        }
    }

    fn fill_stats(&mut self) {
        let simulation = self.cluster.simulation();
        self.report.digest = crate::digest::format_digest(simulation.digest());
        self.report.digest_trail = simulation.digest_trail().formatted();
        self.report.stats.simulated_ns = simulation.now_ns();
        self.report.stats.add_engine_counters(simulation.counters());
        self.report.stats.add_counters(&self.cluster.counters());
        self.report.faults = self
            .executor
            .fired()
            .iter()
            .map(|fired| (fired.at_ns, fired.description.clone()))
            .collect();
        let answers = self.cluster.admin_replies().iter();
        let answers = answers.map(|(at_ns, reply)| (*at_ns, describe_admin_reply(reply)));
        self.report.faults.extend(answers);
        self.report.faults.sort_by_key(|(at_ns, _)| *at_ns);
    }
}

/// An admin answer as the run's fault log shows it: which partitions moved where, and why the
/// others did not.
fn describe_admin_reply(reply: &broker::Message) -> String {
    let broker::Message::ElectPreferredLeadersResponse { result, .. } = reply else {
        return format!("admin answered {reply:?}");
    };
    let results = match result {
        Ok(results) => results,
        Err(error) => return format!("preferred leader election refused: {error}"),
    };
    let outcomes: Vec<String> = results
        .iter()
        .map(|election| {
            let partition = format!("{}/{}", election.topic, election.partition);
            match &election.result {
                Ok(leader) => format!("{partition} led by {}", Target::broker_name(*leader)),
                Err(error) => format!("{partition}: {error}"),
            }
        })
        .collect();
    format!("preferred leaders elected: {}", outcomes.join(", "))
}

/// ` (node 4 is b5, node 5 is b6)`: who each numbered `word` (node, process) is, by the name
/// the scenario and the log use; empty if `named` is.
fn legend<N: std::fmt::Display>(word: &str, named: &[(N, String)]) -> String {
    if named.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = named
        .iter()
        .map(|(number, name)| format!("{word} {number} is {name}"))
        .collect();
    format!(" ({})", pairs.join(", "))
}

/// Appends to `processes` every history process `value` names (a `process` field at any
/// depth), each once, in the order met.
fn processes_named(value: &serde_json::Value, processes: &mut Vec<u64>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (field, inner) in fields {
                match inner.as_u64() {
                    Some(process) if field == "process" => {
                        if !processes.contains(&process) {
                            processes.push(process);
                        }
                    }
                    _ => processes_named(inner, processes),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                processes_named(item, processes);
            }
        }
        _ => {}
    }
}

/// A state monitor's violation as the report shows it. The monitors name nodes by index; the
/// description ends by saying which node is which (`node 5 is b6`), as the scenario and the log
/// name them, and the witness carries the same as `node_names`.
fn state_violation(violation: &StateViolation, name: impl Fn(u32) -> String) -> Violation {
    let mut witness = serde_json::to_value(violation).expect("state violation json");
    let kind = witness
        .get("kind")
        .and_then(|kind| kind.as_str())
        .unwrap_or("state")
        .to_string();
    let names: Vec<(u32, String)> = violation
        .nodes()
        .into_iter()
        .map(|node| (node, name(node)))
        .collect();
    let legend = legend("node", &names);
    let node_names: serde_json::Map<String, serde_json::Value> = names
        .into_iter()
        .map(|(node, name)| (node.to_string(), serde_json::Value::String(name)))
        .collect();
    if let Some(object) = witness.as_object_mut() {
        object.insert("node_names".to_string(), node_names.into());
    }
    Violation {
        source: ViolationSource::State,
        kind,
        description: format!("{violation}{legend}"),
        witnesses: vec![witness],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_processes_a_witness_names_are_found_at_any_depth_once_each() {
        let witness = serde_json::json!({
            "key": "orders/0",
            "operation": {"process": 3, "f": "poll"},
            "previous_operation": {"process": 2, "f": "poll"},
            "others": [{"process": 3}, {"process": 0}],
            "process": 2,
        });
        let mut processes = Vec::new();
        processes_named(&witness, &mut processes);
        processes.sort_unstable();
        assert_eq!(processes, vec![0, 2, 3]);
        let mut none = Vec::new();
        processes_named(
            &serde_json::json!({"key": "orders/0", "offset": 4}),
            &mut none,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn a_state_violation_says_which_node_is_which_broker() {
        let violation = StateViolation::QuorumTermDecreased {
            time_ns: 1,
            node: 4,
            previous_term: 3,
            term: 2,
        };
        let reported = state_violation(&violation, |node| format!("b{}", node + 1));
        assert!(
            reported.description.ends_with(" (node 4 is b5)"),
            "{}",
            reported.description
        );
        assert_eq!(reported.witnesses[0]["node_names"]["4"], "b5");
    }
}
