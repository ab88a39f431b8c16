//! Data-plane benchmark (issue 4): 3 brokers, one topic of 6 partitions with replication 3, two
//! acks=all producers at 1,000 records per simulated second in total, two consumers, 60 simulated
//! seconds, no faults.
//!
//! Run with `cargo bench -p sim --bench data_plane`. Prints wall time per run and events per wall
//! second: without monitors (the simulation alone), with the quorum and leadership monitors, and
//! with the replica monitor too (what tests run after every step). The topic is created once
//! every broker is registered, so each broker leads two partitions. The harness times itself with
//! the wall clock; the simulations it times never read it.

use broker::message::{Acks, IsolationLevel};
use broker::{ClusterConfig, TopicConfig};
use sim::SimulationConfig;
use sim::cluster::{ClientSpecs, ClusterSimulation, ConsumerSpec, ProducerSpec};

/// The allocator the `trial` binary runs with, so that the benchmark measures what campaigns get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Timed runs per mode; `DATA_PLANE_RUNS=1` makes one (for a profiler such as callgrind).
fn runs() -> u64 {
    std::env::var("DATA_PLANE_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5)
}
const SECOND_NS: u64 = 1_000_000_000;
const TOPIC: &str = "orders";

fn cluster(seed: u64) -> ClusterSimulation {
    let config = ClusterConfig {
        topics: vec![TopicConfig {
            name: TOPIC.to_owned(),
            partitions: 6,
            replication_factor: 3,
            min_insync_replicas: 2,
        }],
        ..ClusterConfig::default()
    };
    let producer = |process| ProducerSpec {
        topic: TOPIC.to_owned(),
        acks: Acks::All,
        rate_per_second: 500,
        keys: 64,
        stop_at_ns: u64::MAX,
        process,
        idempotent: false,
        transactional: false,
        abort_one_in: 0,
        transaction_timeout_ns: None,
        transactional_id: None,
    };
    let consumer = |process, partitions| ConsumerSpec {
        topic: TOPIC.to_owned(),
        partitions,
        process,
        isolation: IsolationLevel::ReadUncommitted,
    };
    let clients = ClientSpecs {
        producers: vec![producer(0), producer(1)],
        consumers: vec![consumer(10, vec![0, 1, 2]), consumer(11, vec![3, 4, 5])],
    };
    let simulation = SimulationConfig {
        seed,
        check_invariants: false,
        ..SimulationConfig::default()
    };
    ClusterSimulation::with_clients(config, simulation, clients).expect("valid config")
}

/// Which monitors run after every step.
#[derive(Clone, Copy, Debug)]
enum Monitors {
    None,
    QuorumAndLeadership,
    All,
}

/// What one run did: events by kind, and records acknowledged to the producers.
#[derive(Clone, Copy, Debug, Default)]
struct RunTotals {
    events: u64,
    messages: u64,
    syncs: u64,
    timers: u64,
    acknowledged: u64,
    /// Send operations that completed `ok` (each carries one or more records).
    operations: u64,
}

impl RunTotals {
    fn add(&mut self, other: RunTotals) {
        self.events += other.events;
        self.messages += other.messages;
        self.syncs += other.syncs;
        self.timers += other.timers;
        self.acknowledged += other.acknowledged;
        self.operations += other.operations;
    }
}

fn one_run(seed: u64, monitors: Monitors) -> RunTotals {
    let mut cluster = cluster(seed);
    cluster.set_monitors(!matches!(monitors, Monitors::None));
    cluster.set_replica_monitor(matches!(monitors, Monitors::All));
    let mut acknowledged = 0;
    let mut operations = 0;
    for second in 1..=60 {
        cluster
            .run_until(second * SECOND_NS)
            .unwrap_or_else(|violation| panic!("seed {seed}: {violation}"));
        for (_, event) in cluster.drain_client_events() {
            if let (broker::client::EventKind::Ok, broker::client::ClientOperation::Send(sent)) =
                (event.kind, &event.operation)
            {
                acknowledged += sent.len() as u64;
                operations += 1;
            }
        }
    }
    let counters = cluster.simulation().counters();
    RunTotals {
        events: counters.events,
        messages: counters.messages_delivered,
        syncs: counters.disk_syncs,
        timers: counters.timers_fired,
        acknowledged,
        operations,
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark harness times itself"
)]
fn measure(monitors: Monitors) {
    let _ = one_run(u64::MAX, monitors);
    let started = std::time::Instant::now();
    let mut totals = RunTotals::default();
    let runs = runs();
    for seed in 0..runs {
        totals.add(one_run(seed, monitors));
    }
    let wall_ns = started.elapsed().as_nanos() as u64;
    println!(
        "data_plane (monitors: {monitors:?}): {runs} runs of 60 simulated s, 3 brokers, 6 partitions \
         x RF 3, 2 producers at 1,000 records/s in total, 2 consumers: {} events and {} \
         acknowledged records per run, {:.1} ms wall per run, {:.2} M events per wall second",
        totals.events / runs,
        totals.acknowledged / runs,
        wall_ns as f64 / runs as f64 / 1e6,
        totals.events as f64 / (wall_ns as f64 / 1e9) / 1e6
    );
    let per_record = |count: u64| count as f64 / totals.acknowledged.max(1) as f64;
    println!(
        "  per acknowledged record: {:.1} events = {:.1} messages + {:.1} disk syncs + {:.2} \
         timers; {:.1} events per acknowledged operation ({} per run); {:.0} ns wall per event",
        per_record(totals.events),
        per_record(totals.messages),
        per_record(totals.syncs),
        per_record(totals.timers),
        totals.events as f64 / totals.operations.max(1) as f64,
        totals.operations / runs,
        wall_ns as f64 / totals.events.max(1) as f64
    );
}

/// Wall time by kind of event and kind of receiving node (b: broker, p: producer, c: consumer),
/// one run without monitors: where a run's time goes. Each step is timed alone, which adds the
/// clock reads to every event, so the total exceeds a plain run's.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark harness times itself"
)]
fn breakdown() {
    let mut cluster = cluster(0);
    cluster.set_monitors(false);
    let mut by_kind: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for second in 1..=60 {
        let until_ns = second * SECOND_NS;
        while cluster
            .simulation()
            .next_event_ns()
            .is_some_and(|next_ns| next_ns <= until_ns)
        {
            let (node, kind) = cluster
                .simulation()
                .next_event_summary()
                .expect("an event is due");
            let role: String = cluster
                .simulation()
                .name(node)
                .chars()
                .take_while(|character| character.is_alphabetic())
                .collect();
            let started = std::time::Instant::now();
            cluster.step().expect("no monitors");
            let wall_ns = started.elapsed().as_nanos() as u64;
            let entry = by_kind.entry(format!("{kind} at {role}")).or_default();
            entry.0 += 1;
            entry.1 += wall_ns;
        }
        cluster.run_until(until_ns).expect("no monitors");
        cluster.drain_client_events();
    }
    let mut rows: Vec<_> = by_kind.into_iter().collect();
    rows.sort_by_key(|(_, (_, wall_ns))| std::cmp::Reverse(*wall_ns));
    let total_ns: u64 = rows.iter().map(|(_, (_, wall_ns))| wall_ns).sum();
    println!(
        "data_plane breakdown (one run, no monitors, each step timed): {:.1} ms stepping",
        total_ns as f64 / 1e6
    );
    println!(
        "  {:>8} {:>9} {:>8} {:>6}  event",
        "events", "wall ms", "ns each", "share"
    );
    for (kind, (events, wall_ns)) in rows {
        println!(
            "  {events:>8} {:>9.1} {:>8} {:>5.1}%  {kind}",
            wall_ns as f64 / 1e6,
            wall_ns / events.max(1),
            100.0 * wall_ns as f64 / total_ns.max(1) as f64
        );
    }
}

/// `cargo bench -p sim --bench data_plane -- none` (or `leadership`, `all`)
/// measures one mode; `-- breakdown` shows where one run's time goes, by kind of event.
fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|argument| !argument.starts_with("--"))
        .collect();
    for (name, monitors) in [
        ("none", Monitors::None),
        ("leadership", Monitors::QuorumAndLeadership),
        ("all", Monitors::All),
    ] {
        if filter.is_empty() || filter.iter().any(|wanted| wanted == name) {
            measure(monitors);
        }
    }
    if filter.iter().any(|wanted| wanted == "breakdown") {
        breakdown();
    }
}
