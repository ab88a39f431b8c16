//! Benchmark: the cost of one `observe` of each state monitor after a simulation step, on a
//! cluster whose logs keep growing (the monitors are incremental: the cost must not grow with
//! the logs).
//!
//! Run: `cargo bench -p check --bench state`.

use check::state::{
    BrokerEpochSnapshot, EntryId, LeadershipMonitor, PartitionViewSnapshot, QuorumMemberSnapshot,
    QuorumMonitor, RecordId, ReplicaMonitor, ReplicaSnapshot,
};

const NODES: u32 = 3;
const PARTITIONS: u32 = 32;
const STEPS: u64 = 20_000;

fn main() {
    quorum();
    leadership();
    replicas();
}

// Benchmarks time themselves: the wall clock is allowed here, never in check/src.
#[allow(clippy::disallowed_methods)]
fn timed(name: &str, mut step: impl FnMut(u64)) {
    let started = std::time::Instant::now();
    for time_ns in 0..STEPS {
        step(time_ns);
    }
    let elapsed = started.elapsed();
    println!(
        "{name}: {STEPS} observations in {:.3} s, {:.0} ns each",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / STEPS as f64
    );
}

/// Three members; the log grows by one entry a step and commits one step later.
fn quorum() {
    let mut monitor = QuorumMonitor::new();
    let mut members: Vec<QuorumMemberSnapshot> = (0..NODES)
        .map(|node| QuorumMemberSnapshot {
            node,
            term: 1,
            voted_for: Some(0),
            is_leader: node == 0,
            commit_index: 0,
            log: Vec::new(),
        })
        .collect();
    timed("quorum (3 members, log +1 entry a step)", |time_ns| {
        for member in &mut members {
            member.log.push(EntryId {
                term: 1,
                digest: time_ns,
            });
            member.commit_index = time_ns;
        }
        monitor
            .observe(time_ns, &members)
            .expect("a healthy quorum");
    });
}

/// Every node's view of every partition, and of every broker's epoch.
fn leadership() {
    let mut monitor = LeadershipMonitor::new();
    let views: Vec<PartitionViewSnapshot> = (0..NODES)
        .flat_map(|node| {
            (0..PARTITIONS).map(move |partition| PartitionViewSnapshot {
                node,
                topic: "orders".to_string(),
                partition,
                leader: Some(partition % NODES),
                leader_epoch: 1,
                isr: (0..NODES).collect(),
            })
        })
        .collect();
    let brokers: Vec<BrokerEpochSnapshot> = (0..NODES)
        .flat_map(|node| {
            (0..NODES).map(move |broker| BrokerEpochSnapshot {
                node,
                broker,
                broker_epoch: 1,
            })
        })
        .collect();
    timed("leadership (3 nodes x 32 partitions)", |time_ns| {
        monitor
            .observe(time_ns, &views, &brokers)
            .expect("healthy leadership");
    });
}

/// Three replicas of 32 partitions; each partition grows by one record a step.
fn replicas() {
    let mut monitor = ReplicaMonitor::new();
    let mut replicas: Vec<ReplicaSnapshot> = (0..NODES)
        .flat_map(|node| {
            (0..PARTITIONS).map(move |partition| ReplicaSnapshot {
                node,
                topic: "orders".to_string(),
                partition,
                leader_epoch: 1,
                is_leader: partition % NODES == node,
                high_watermark: 0,
                log_start_offset: 0,
                records: Vec::new(),
            })
        })
        .collect();
    timed(
        "replicas (3 x 32 replicas, +1 record each a step)",
        |time_ns| {
            for replica in &mut replicas {
                replica.records.push(RecordId {
                    offset: time_ns,
                    leader_epoch: 1,
                    digest: time_ns ^ u64::from(replica.partition),
                });
                replica.high_watermark = time_ns;
            }
            monitor
                .observe(time_ns, &replicas)
                .expect("healthy replicas");
        },
    );
}
