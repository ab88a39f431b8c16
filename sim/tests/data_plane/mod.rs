//! Shared helpers of the data-plane tests: building a cluster with clients, and the plain
//! checks of issue 4 over the client events and the final replica logs.

#![allow(dead_code)]

use std::collections::BTreeMap;

use broker::client::{ClientEvent, ClientOperation, EventKind};
use broker::message::{Acks, IsolationLevel};
use broker::{BugsConfig, ClusterConfig, TopicConfig};
use sim::SimulationConfig;
use sim::cluster::{
    ClientSpecs, ClusterSimulation, ConsumerSpec, FaultKind, ProducerSpec, RandomFaults,
};

pub const MS: u64 = 1_000_000;
pub const TOPIC: &str = "orders";

/// Three brokers (all voters), `orders` with `partitions` partitions, RF 3, min ISR 2.
pub fn config(partitions: u32, bugs: BugsConfig) -> ClusterConfig {
    ClusterConfig {
        topics: vec![TopicConfig {
            name: TOPIC.to_owned(),
            partitions,
            replication_factor: 3,
            min_insync_replicas: 2,
        }],
        bugs,
        ..ClusterConfig::default()
    }
}

/// `producers` acks=all producers (`rate` records/s each, stopping at `stop_at_ns`) and one
/// consumer over every partition.
pub fn clients(partitions: u32, producers: u64, rate: u64, stop_at_ns: u64) -> ClientSpecs {
    ClientSpecs {
        producers: (0..producers)
            .map(|index| ProducerSpec {
                topic: TOPIC.to_owned(),
                acks: Acks::All,
                rate_per_second: rate,
                keys: 16,
                stop_at_ns,
                process: index,
                idempotent: false,
                transactional: false,
                abort_one_in: 0,
                transaction_timeout_ns: None,
                transactional_id: None,
            })
            .collect(),
        consumers: vec![ConsumerSpec {
            topic: TOPIC.to_owned(),
            partitions: (0..partitions).collect(),
            process: 100,
            isolation: IsolationLevel::ReadUncommitted,
        }],
    }
}

pub fn cluster(config: ClusterConfig, seed: u64, clients: ClientSpecs) -> ClusterSimulation {
    let simulation = SimulationConfig {
        seed,
        ..SimulationConfig::default()
    };
    ClusterSimulation::with_clients(config, simulation, clients).expect("valid config")
}

/// What went wrong in a run, in words (empty: nothing).
pub type Problems = Vec<String>;

/// Records acknowledged (`ok` sends): `(key, offset, value)`.
pub fn acknowledged(events: &[(u64, ClientEvent)]) -> Vec<(String, u64, u64)> {
    let mut acknowledged = Vec::new();
    for (_, event) in events {
        if event.kind != EventKind::Ok {
            continue;
        }
        if let ClientOperation::Send(records) = &event.operation {
            for record in records {
                let offset = record.offset.expect("an ok send has offsets");
                let key = format!("{}/{}", record.topic, record.partition);
                acknowledged.push((key, offset, record.value));
            }
        }
    }
    acknowledged
}

/// Every replica's log of every partition, and the agreed committed prefix (below the HW).
pub fn check_logs(cluster: &ClusterSimulation, events: &[(u64, ClientEvent)]) -> Problems {
    let mut problems = Vec::new();
    let logs = cluster.replica_logs();
    let high_watermarks = cluster.high_watermarks();
    // Dense, increasing offsets on every replica.
    for (broker, partitions) in &logs {
        for (key, records) in partitions {
            for pair in records.windows(2) {
                if pair[1].0 != pair[0].0 + 1 {
                    problems.push(format!(
                        "{broker} {key}: offsets {} then {}",
                        pair[0].0, pair[1].0
                    ));
                }
            }
        }
    }
    // Identical records below the leader's HW on every replica.
    for (key, high_watermark) in &high_watermarks {
        let mut reference: Option<(&String, &[(u64, u64)])> = None;
        for (broker, partitions) in &logs {
            let Some(records) = partitions.get(key) else {
                continue;
            };
            let below: &[(u64, u64)] = &records[..records
                .iter()
                .take_while(|(offset, _)| offset < high_watermark)
                .count()];
            match reference {
                None => reference = Some((broker, below)),
                Some((first, expected)) => {
                    if expected != below {
                        let at = expected
                            .iter()
                            .zip(below)
                            .find(|(left, right)| left != right)
                            .map(|(left, _)| left.0)
                            .unwrap_or(expected.len().min(below.len()) as u64);
                        problems.push(format!(
                            "{key}: {first} and {broker} differ below the HW {high_watermark} (at offset {at})"
                        ));
                    }
                }
            }
        }
    }
    // No acknowledged record missing: every acked (offset, value) is in the leader's log.
    let mut leader_logs: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for partitions in logs.values() {
        for (key, records) in partitions {
            let high_watermark = high_watermarks.get(key).copied().unwrap_or(0);
            let entry = leader_logs.entry(key.clone()).or_default();
            for (offset, value) in records
                .iter()
                .filter(|(offset, _)| *offset < high_watermark)
            {
                entry.insert(*offset, *value);
            }
        }
    }
    for (key, offset, value) in acknowledged(events) {
        let found = leader_logs
            .get(&key)
            .and_then(|records| records.get(&offset));
        if found != Some(&value) {
            problems.push(format!(
                "lost acknowledged record: {key} offset {offset} value {value} (found {found:?})"
            ));
        }
    }
    problems
}

/// Records a consumer read that are no longer in the committed log at their offset.
pub fn check_reads(cluster: &ClusterSimulation, events: &[(u64, ClientEvent)]) -> Problems {
    let logs = cluster.replica_logs();
    let high_watermarks = cluster.high_watermarks();
    let mut committed: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for partitions in logs.values() {
        for (key, records) in partitions {
            let high_watermark = high_watermarks.get(key).copied().unwrap_or(0);
            let entry = committed.entry(key.clone()).or_default();
            for (offset, value) in records
                .iter()
                .filter(|(offset, _)| *offset < high_watermark)
            {
                entry.insert(*offset, *value);
            }
        }
    }
    let mut problems = Vec::new();
    for (_, event) in events {
        let ClientOperation::Poll(polled) = &event.operation else {
            continue;
        };
        for partition in polled {
            let key = format!("{}/{}", partition.topic, partition.partition);
            for (offset, value) in &partition.records {
                let found = committed.get(&key).and_then(|records| records.get(offset));
                if found != Some(value) {
                    problems.push(format!(
                        "read record disappeared: {key} offset {offset} value {value} (now {found:?})"
                    ));
                }
            }
        }
    }
    problems
}

/// What a seed's random faults left: whether the cluster converged after the heal, and the
/// client events of the whole run.
pub struct Aftermath {
    pub converged: bool,
    pub events: Vec<(u64, ClientEvent)>,
}

/// Runs random crashes (with restarts), pauses and partitions of one broker at a time until
/// `fault_phase_end_ns`, heals everything, lets the cluster converge (within
/// `convergence_bound_ns`) and the consumers drain what is committed (half a second). A
/// monitor's violation panics, naming the seed.
pub fn fault_heal_and_drain(
    cluster: &mut ClusterSimulation,
    seed: u64,
    fault_phase_end_ns: u64,
    convergence_bound_ns: u64,
) -> Aftermath {
    let kinds = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];
    let mut faults = RandomFaults::new(seed, &kinds, 1);
    faults
        .run(cluster, fault_phase_end_ns)
        .unwrap_or_else(|violation| panic!("seed {seed}: {violation}"));
    faults.heal_all(cluster);
    let deadline_ns = cluster.now_ns() + convergence_bound_ns;
    let converged = heal_and_converge(cluster, deadline_ns);
    cluster
        .run_until(cluster.now_ns() + 500 * MS)
        .unwrap_or_else(|violation| panic!("seed {seed}: {violation}"));
    Aftermath {
        converged,
        events: cluster.drain_client_events(),
    }
}

/// Heals everything and runs until every partition has a leader whose HW equals every live
/// replica's LEO (converged), or `deadline_ns`.
pub fn heal_and_converge(cluster: &mut ClusterSimulation, deadline_ns: u64) -> bool {
    cluster.heal_all();
    cluster
        .run_until_condition(deadline_ns, converged)
        .unwrap_or_else(|violation| panic!("{violation}"))
        .is_some()
}

/// Whether every partition's replicas all hold the leader's log up to its LEO and the HW is
/// there too.
pub fn converged(cluster: &ClusterSimulation) -> bool {
    if !cluster.is_settled() {
        return false;
    }
    let logs = cluster.replica_logs();
    let high_watermarks = cluster.high_watermarks();
    let Some(first) = logs.values().next() else {
        return false;
    };
    first.keys().all(|key| {
        let Some(high_watermark) = high_watermarks.get(key) else {
            return false;
        };
        logs.values().all(|partitions| {
            partitions.get(key).is_some_and(|records| {
                records.last().map_or(0, |(offset, _)| offset + 1) == *high_watermark
            })
        })
    })
}

/// Counts the operations by kind: (invoked sends, ok sends, polls with records).
pub fn summary(events: &[(u64, ClientEvent)]) -> (u64, u64, u64) {
    let mut sends = 0;
    let mut ok = 0;
    let mut polls = 0;
    for (_, event) in events {
        match (&event.operation, event.kind) {
            (ClientOperation::Send(_), EventKind::Invoke) => sends += 1,
            (ClientOperation::Send(_), EventKind::Ok) => ok += 1,
            (ClientOperation::Poll(polled), EventKind::Ok) if !polled.is_empty() => polls += 1,
            _ => {}
        }
    }
    (sends, ok, polls)
}

/// Values held at two offsets of one replica's log: a record appended twice (every value is
/// sent once by the workload, HISTORY.md).
pub fn check_duplicates(cluster: &ClusterSimulation) -> Problems {
    let mut problems = Vec::new();
    for (broker, partitions) in &cluster.replica_logs() {
        for (key, records) in partitions {
            let mut offsets: BTreeMap<u64, u64> = BTreeMap::new();
            for (offset, value) in records {
                if let Some(first) = offsets.insert(*value, *offset) {
                    problems.push(format!(
                        "duplicate: {broker} {key} holds value {value} at offsets {first} and {offset}"
                    ));
                }
            }
        }
    }
    problems
}
