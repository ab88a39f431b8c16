//! Scripts aim faults at producers (`p<n>`) as at consumers: a paused producer sends nothing
//! until it is resumed, a crashed one leaves its open operation `info` and comes back, restarted,
//! as a new history process whose values never repeat its first instance's, and a held link
//! between a producer and a broker is named by both ends in the run's log. Every run must still
//! pass: the faults stress clients, not the brokers' guarantees.

use serde_json::Value;
use sim::runner::report::Verdict;
use sim::runner::run::{RunOptions, RunOutcome, run};
use sim::scenario::Scenario;

const SECOND_NS: u64 = 1_000_000_000;
const SEEDS: u64 = 4;
/// Producer `p1` records under history process 0 until it crashes (producers come first).
const FIRST_PRODUCER_PROCESS: u64 = 0;
/// Values of `p1` carry its index, 1, from bit 40 up; its instance takes bits 32 to 39.
const FIRST_PRODUCER_INDEX: u64 = 1;

/// How `p1` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    Plain,
    /// Each operation a transaction (one in four aborted); the consumer reads committed.
    Transactional,
}

/// Two producers, `p1` at a high rate (so that it almost always has an operation open) and `p2`,
/// and one consumer, then `faults` (TOML `[[faults]]` tables).
fn scenario(name: &str, writes: Writes, faults: &str) -> Scenario {
    let (transactional, isolation) = match writes {
        Writes::Plain => ("", ""),
        Writes::Transactional => (
            "transactional = true\nabort_one_in = 4",
            "isolation = \"read-committed\"",
        ),
    };
    let text = format!(
        r#"
name = "{name}"
why = "A producer the script aims faults at must come back without breaking the history."
fault_phase = "8s"
liveness_phase = "15s"

[cluster]
brokers = 3

[[cluster.topics]]
name = "orders"
partitions = 2
replication_factor = 3
min_insync_replicas = 2

[[workload.producers]]
topic = "orders"
rate_per_second = 400
keys = 8
{transactional}

[[workload.producers]]
topic = "orders"
rate_per_second = 50

[[workload.consumers]]
topic = "orders"
{isolation}
{faults}
"#
    );
    Scenario::parse(&text, &format!("{name}.toml")).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs `scenario` under `seed` with its history kept; the run must pass.
fn passing_run(scenario: &Scenario, seed: u64) -> RunOutcome {
    let options = RunOptions {
        capture_log: true,
        ..RunOptions::default()
    };
    let outcome = run(scenario, &scenario.name, seed, options);
    assert_eq!(
        outcome.report.verdict,
        Verdict::Pass,
        "{} seed {seed}: {}",
        scenario.name,
        outcome.report.summary()
    );
    outcome
}

/// One history operation: the fields the tests read.
#[derive(Debug)]
struct Operation {
    time_ns: u64,
    process: u64,
    kind: String,
    function: String,
    /// The values of a send's records (invocations and completions alike).
    values: Vec<u64>,
}

fn operations(outcome: &RunOutcome) -> Vec<Operation> {
    outcome
        .history_lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("the run writes JSON"))
        .filter(|line| line.get("index").is_some())
        .map(|line| Operation {
            time_ns: line["time"].as_u64().unwrap(),
            process: line["process"].as_u64().unwrap(),
            kind: line["type"].as_str().unwrap().to_owned(),
            function: line["f"].as_str().unwrap().to_owned(),
            values: sent_values(&line["value"]),
        })
        .collect()
}

/// `[["send", key, value], ...]` or `[["send", key, [offset, value]], ...]`: the values.
fn sent_values(value: &Value) -> Vec<u64> {
    let Some(micro_operations) = value.as_array() else {
        return Vec::new();
    };
    micro_operations
        .iter()
        .filter(|micro| micro[0] == "send")
        .map(|micro| match &micro[2] {
            Value::Array(offset_and_value) => offset_and_value[1].as_u64().unwrap(),
            value => value.as_u64().unwrap(),
        })
        .collect()
}

/// Whether `value` was written by producer `p1`.
fn written_by_first_producer(value: u64) -> bool {
    value >> 40 == FIRST_PRODUCER_INDEX
}

/// The instance of the producer that wrote `value` (bits 32 to 39).
fn instance_of(value: u64) -> u64 {
    (value >> 32) & 0xff
}

/// No value is invoked twice: the history checkers tell records apart by value.
fn assert_values_unique(operations: &[Operation], seed: u64) {
    let mut invoked: Vec<u64> = operations
        .iter()
        .filter(|operation| operation.kind == "invoke")
        .flat_map(|operation| operation.values.iter().copied())
        .collect();
    let count = invoked.len();
    invoked.sort_unstable();
    invoked.dedup();
    assert_eq!(invoked.len(), count, "seed {seed}: a value was sent twice");
}

fn fault_lines(outcome: &RunOutcome) -> Vec<String> {
    outcome
        .report
        .faults
        .iter()
        .map(|(_, line)| line.clone())
        .collect()
}

#[test]
fn a_paused_producer_sends_nothing_until_resumed_and_the_run_passes() {
    let (pause_ns, resume_ns) = (2 * SECOND_NS, 5 * SECOND_NS);
    let scenario = scenario(
        "pause-a-producer",
        Writes::Plain,
        r#"
[[faults]]
at = "2s"
action = "pause"
target = "p1"

[[faults]]
at = "5s"
action = "resume"
target = "p1"
"#,
    );
    for seed in 0..SEEDS {
        let outcome = passing_run(&scenario, seed);
        let faults = fault_lines(&outcome);
        assert!(faults.contains(&"pause p1 (p1)".to_owned()), "{faults:?}");
        assert!(faults.contains(&"resume p1 (p1)".to_owned()), "{faults:?}");
        let operations = operations(&outcome);
        let of_first_producer = |operation: &&Operation| {
            operation
                .values
                .iter()
                .copied()
                .any(written_by_first_producer)
        };
        let during_pause = operations
            .iter()
            .filter(of_first_producer)
            .filter(|operation| operation.time_ns > pause_ns && operation.time_ns < resume_ns)
            .count();
        assert_eq!(during_pause, 0, "seed {seed}: a paused producer is silent");
        let acknowledged_after = operations
            .iter()
            .filter(of_first_producer)
            .filter(|operation| operation.time_ns > resume_ns && operation.kind == "ok")
            .count();
        assert!(
            acknowledged_after > 0,
            "seed {seed}: p1 goes on once resumed"
        );
        assert_values_unique(&operations, seed);
    }
}

#[test]
fn a_crashed_producer_leaves_its_operation_info_and_restarts_as_a_new_process_and_instance() {
    crash_and_restart_the_first_producer(Writes::Plain, "send");
}

/// A transactional producer restarted under its transactional id fences its first instance
/// (a new epoch) and aborts the transaction the crash left open; its own transactions commit.
#[test]
fn a_crashed_transactional_producer_leaves_its_transaction_info_and_its_restart_commits() {
    crash_and_restart_the_first_producer(Writes::Transactional, "txn");
}

/// Crashes `p1` (writing `function` operations) at 2.0013 s and restarts it at 4 s, over
/// [`SEEDS`] seeds.
fn crash_and_restart_the_first_producer(writes: Writes, function: &str) {
    let (crash_ns, restart_ns) = (2 * SECOND_NS + 1_300_000, 4 * SECOND_NS);
    let scenario = scenario(
        "crash-a-producer",
        writes,
        r#"
[[faults]]
at = "2001300us"
action = "crash"
target = "p1"

[[faults]]
at = "4s"
action = "restart"
target = "p1"
"#,
    );
    let mut crashes_with_an_open_operation = 0;
    for seed in 0..SEEDS {
        let outcome = passing_run(&scenario, seed);
        let faults = fault_lines(&outcome);
        assert!(faults.contains(&"crash p1 (p1)".to_owned()), "{faults:?}");
        assert!(faults.contains(&"restart p1 (p1)".to_owned()), "{faults:?}");
        let operations = operations(&outcome);
        let first_process: Vec<&Operation> = operations
            .iter()
            .filter(|operation| operation.process == FIRST_PRODUCER_PROCESS)
            .collect();
        assert!(
            first_process
                .iter()
                .all(|operation| operation.time_ns <= crash_ns),
            "seed {seed}: process 0 ends at the crash"
        );
        let invocations = first_process
            .iter()
            .filter(|operation| operation.kind == "invoke")
            .count();
        let last = first_process.last().expect("p1 sent before its crash");
        assert_eq!(last.time_ns, crash_ns, "seed {seed}: the crash is recorded");
        assert_eq!(last.kind, "info", "seed {seed}: a crash is indeterminate");
        if last.function == "crash" {
            assert_eq!(
                invocations * 2 + 1,
                first_process.len(),
                "seed {seed}: between operations, the crash stands alone"
            );
        } else {
            assert_eq!(last.function, function, "seed {seed}");
            assert_eq!(
                invocations * 2,
                first_process.len(),
                "seed {seed}: the open operation completes info at the crash"
            );
            crashes_with_an_open_operation += 1;
        }
        let after_restart: Vec<&Operation> = operations
            .iter()
            .filter(|operation| operation.time_ns >= restart_ns)
            .filter(|operation| {
                operation
                    .values
                    .iter()
                    .copied()
                    .any(written_by_first_producer)
            })
            .collect();
        assert!(
            after_restart
                .iter()
                .any(|operation| operation.kind == "ok" && operation.function == function),
            "seed {seed}: the restarted p1 has its {function}s acknowledged"
        );
        for operation in after_restart
            .iter()
            .filter(|operation| operation.function == function)
        {
            assert!(
                operation.process > FIRST_PRODUCER_PROCESS + 2,
                "seed {seed}: the restarted p1 records under a fresh process: {operation:?}"
            );
            let instances: Vec<u64> = operation.values.iter().map(|&v| instance_of(v)).collect();
            assert!(
                instances.iter().all(|&instance| instance == 1),
                "seed {seed}: the second instance writes instance 1: {operation:?}"
            );
        }
        assert_values_unique(&operations, seed);
    }
    assert!(
        crashes_with_an_open_operation > 0,
        "over {SEEDS} seeds the crash never caught an open send: the test proves nothing"
    );
}

#[test]
fn a_held_link_between_a_producer_and_a_broker_is_named_by_both_ends() {
    let scenario = scenario(
        "hold-a-producer",
        Writes::Plain,
        r#"
[[faults]]
at = "2s"
action = "hold"
from = "p1"
to = "leader(orders/0)"

[[faults]]
at = "2s"
action = "hold"
from = "leader(orders/1)"
to = "p2"

[[faults]]
at = "4s"
action = "release"
from = "p1"
to = "leader(orders/0)"
"#,
    );
    for seed in 0..SEEDS {
        let outcome = passing_run(&scenario, seed);
        let faults = fault_lines(&outcome);
        let named = |prefix: &str| {
            faults.iter().any(|line| {
                line.strip_prefix(prefix)
                    .and_then(|broker| broker.strip_prefix('b'))
                    .is_some_and(|number| number.parse::<u32>().is_ok())
            })
        };
        assert!(named("hold p1 -> "), "seed {seed}: {faults:?}");
        assert!(named("release p1 -> "), "seed {seed}: {faults:?}");
        let reverse = faults
            .iter()
            .any(|line| line.starts_with("hold b") && line.ends_with(" -> p2"));
        assert!(reverse, "seed {seed}: {faults:?}");
        assert_values_unique(&operations(&outcome), seed);
    }
}
