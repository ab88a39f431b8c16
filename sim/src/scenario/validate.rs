//! The semantic rules of a scenario, checked after parsing. Each problem names its field.
//!
//! Serde already rejects unknown fields, wrong types and malformed durations, targets and
//! ratios. These rules reject what parses but cannot run: impossible values (a replication
//! factor above the broker count, a fault on a broker that does not exist), contradictions
//! (times out of order, a fault after the fault phase) and anything past a named limit.

use std::collections::BTreeSet;

use crate::clock::DRIFT_PPM_MAX;
use crate::scenario::locate::FieldPath;
use crate::scenario::{Consumer, ConsumerMode, Duration, Fault, Producer, Scenario, Target, Topic};

#[path = "validate_groups.rs"]
mod groups;

pub const BROKERS_MAX: u32 = 64;
pub const CONTROLLERS_MAX: u32 = 9;
pub const PARTITIONS_MAX: u32 = 1024;
pub const TOPICS_MAX: usize = 64;
pub const PROCESSES_PER_SHAPE_MAX: u32 = 64;
pub const RATE_PER_SECOND_MAX: u32 = 100_000;
pub const KEYS_MAX: u32 = 1_000_000;
pub const FAULTS_MAX: usize = 10_000;
/// The shortest transaction timeout a scenario may set (Kafka's clients accept 1 ms; shorter
/// than a round trip, every transaction would time out).
pub const TRANSACTION_TIMEOUT_MIN_NS: u64 = 100_000_000;
/// The longest phase, in simulated nanoseconds (one hour).
pub const PHASE_NS_MAX: u64 = 3_600_000_000_000;
/// The longest transactional id a scenario may set.
pub const TRANSACTIONAL_ID_BYTES_MAX: usize = 64;

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: FieldPath,
    pub message: String,
}

type Checked = Result<(), Problem>;

fn fail(path: FieldPath, message: impl Into<String>) -> Checked {
    Err(Problem {
        path,
        message: message.into(),
    })
}

fn ensure(
    condition: bool,
    path: impl FnOnce() -> FieldPath,
    message: impl FnOnce() -> String,
) -> Checked {
    if condition {
        Ok(())
    } else {
        fail(path(), message())
    }
}

pub fn scenario(scenario: &Scenario) -> Checked {
    let root = FieldPath::root();
    header(scenario, &root)?;
    cluster(scenario, &root.key("cluster"))?;
    scenario
        .network
        .validate()
        .or_else(|message| fail(root.key("network"), message))?;
    workload(scenario, &root.key("workload"))?;
    for (index, fault) in scenario.faults.iter().enumerate() {
        self::fault(scenario, index, fault, &root.key("faults").index(index))?;
    }
    groups::worker_schedule(scenario, &root.key("faults"))?;
    nemesis(scenario, &root.key("nemesis"))
}

fn header(scenario: &Scenario, root: &FieldPath) -> Checked {
    let name_ok = !scenario.name.is_empty()
        && scenario
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ensure(
        name_ok,
        || root.key("name"),
        || {
            format!(
                "{:?} must be non-empty lowercase letters, digits and '-'",
                scenario.name
            )
        },
    )?;
    ensure(
        !scenario.why.trim().is_empty(),
        || root.key("why"),
        || "say why the scenario exists: the failure it is meant to provoke".to_string(),
    )?;
    for (field, phase) in [
        ("fault_phase", scenario.fault_phase),
        ("liveness_phase", scenario.liveness_phase),
    ] {
        ensure(
            phase.ns > 0 && phase.ns <= PHASE_NS_MAX,
            || root.key(field),
            || format!("{phase} must be positive and at most 1h"),
        )?;
    }
    Ok(())
}

fn cluster(scenario: &Scenario, path: &FieldPath) -> Checked {
    let cluster = &scenario.cluster;
    ensure(
        (1..=BROKERS_MAX).contains(&cluster.brokers),
        || path.key("brokers"),
        || format!("{} brokers: must be 1 to {BROKERS_MAX}", cluster.brokers),
    )?;
    ensure(
        cluster.controllers % 2 == 1,
        || path.key("controllers"),
        || {
            format!(
                "{} controllers: a quorum must have an odd size",
                cluster.controllers
            )
        },
    )?;
    let controllers_max = CONTROLLERS_MAX.min(cluster.brokers);
    ensure(
        cluster.controllers <= controllers_max,
        || path.key("controllers"),
        || {
            format!(
                "{} controllers: at most {controllers_max} (brokers and the quorum limit)",
                cluster.controllers
            )
        },
    )?;
    ensure(
        !cluster.topics.is_empty(),
        || path.key("topics"),
        || "at least one topic".to_string(),
    )?;
    ensure(
        cluster.topics.len() <= TOPICS_MAX,
        || path.key("topics"),
        || format!("{} topics: at most {TOPICS_MAX}", cluster.topics.len()),
    )?;
    for (index, topic) in cluster.topics.iter().enumerate() {
        let topic_path = path.key("topics").index(index);
        let duplicate = cluster.topics[..index]
            .iter()
            .any(|earlier| earlier.name == topic.name);
        ensure(
            !duplicate,
            || topic_path.key("name"),
            || format!("topic {:?} is defined twice", topic.name),
        )?;
        self::topic(topic, cluster.brokers, &topic_path)?;
    }
    Ok(())
}

fn topic(topic: &Topic, brokers: u32, path: &FieldPath) -> Checked {
    let name_ok = !topic.name.is_empty()
        && topic.name.len() <= 249
        && topic
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    ensure(
        name_ok,
        || path.key("name"),
        || format!("{:?} is not a topic name ([A-Za-z0-9._-])", topic.name),
    )?;
    ensure(
        !topic.name.starts_with("__"),
        || path.key("name"),
        || {
            format!(
                "{:?}: names starting with \"__\" are internal topics",
                topic.name
            )
        },
    )?;
    ensure(
        (1..=PARTITIONS_MAX).contains(&topic.partitions),
        || path.key("partitions"),
        || {
            format!(
                "{} partitions: must be 1 to {PARTITIONS_MAX}",
                topic.partitions
            )
        },
    )?;
    ensure(
        (1..=brokers).contains(&topic.replication_factor),
        || path.key("replication_factor"),
        || {
            format!(
                "replication factor {} must be 1 to the broker count ({brokers})",
                topic.replication_factor
            )
        },
    )?;
    ensure(
        (1..=topic.replication_factor).contains(&topic.min_insync_replicas),
        || path.key("min_insync_replicas"),
        || {
            format!(
                "min_insync_replicas {} must be 1 to the replication factor ({})",
                topic.min_insync_replicas, topic.replication_factor
            )
        },
    )
}

fn workload(scenario: &Scenario, path: &FieldPath) -> Checked {
    let workload = &scenario.workload;
    ensure(
        !workload.producers.is_empty(),
        || path.key("producers"),
        || "at least one producer: a run that produces nothing proves nothing".to_string(),
    )?;
    for (index, producer) in workload.producers.iter().enumerate() {
        self::producer(scenario, producer, &path.key("producers").index(index))?;
    }
    ensure(
        !workload.consumers.is_empty(),
        || path.key("consumers"),
        || "at least one consumer: a run that consumes nothing proves nothing".to_string(),
    )?;
    for (index, consumer) in workload.consumers.iter().enumerate() {
        self::consumer(
            scenario,
            index,
            consumer,
            &path.key("consumers").index(index),
        )?;
    }
    Ok(())
}

fn producer(scenario: &Scenario, producer: &Producer, path: &FieldPath) -> Checked {
    known_topic(scenario, &producer.topic, &path.key("topic"))?;
    process_count(producer.count, path)?;
    ensure(
        (1..=RATE_PER_SECOND_MAX).contains(&producer.rate_per_second),
        || path.key("rate_per_second"),
        || {
            format!(
                "{} must be 1 to {RATE_PER_SECOND_MAX}",
                producer.rate_per_second
            )
        },
    )?;
    ensure(
        producer.keys <= KEYS_MAX,
        || path.key("keys"),
        || format!("{} keys: at most {KEYS_MAX}", producer.keys),
    )?;
    ensure(
        !producer.idempotent || producer.acks == crate::scenario::Acks::All,
        || path.key("idempotent"),
        || {
            "an idempotent producer needs acks = \"all\" (as Kafka's enable.idempotence)"
                .to_string()
        },
    )?;
    ensure(
        !producer.transactional || producer.acks == crate::scenario::Acks::All,
        || path.key("transactional"),
        || "a transactional producer needs acks = \"all\" (as Kafka's)".to_string(),
    )?;
    ensure(
        producer.transactional || producer.abort_one_in == 0,
        || path.key("abort_one_in"),
        || "abort_one_in needs transactional = true".to_string(),
    )?;
    transaction_timeout(producer, path)?;
    shared_transactional_id(producer, path)
}

/// The `index`-th consumer: its topic, its isolation (read-committed beside transactional
/// producers), and the settings of its mode, which every consumer shares.
fn consumer(scenario: &Scenario, index: usize, consumer: &Consumer, path: &FieldPath) -> Checked {
    let workload = &scenario.workload;
    known_topic(scenario, &consumer.topic, &path.key("topic"))?;
    process_count(consumer.count, path)?;
    let transactional = workload
        .producers
        .iter()
        .any(|producer| producer.transactional);
    ensure(
        !transactional || consumer.isolation == crate::scenario::Isolation::ReadCommitted,
        || path.key("isolation"),
        || {
            "with transactional producers, consumers read \"read-committed\": a \
             read-uncommitted consumer sees aborted records, which the checkers report as G1a"
                .to_string()
        },
    )?;
    ensure(
        consumer.mode == workload.consumers[0].mode,
        || path.key("mode"),
        || "consumers are all \"assign\" or all \"subscribe\": do not mix modes".to_string(),
    )?;
    match consumer.mode {
        ConsumerMode::Assign => assign_consumer(consumer, path),
        ConsumerMode::Subscribe => groups::subscribe_consumer(scenario, index, consumer, path),
    }
}

/// An assign-mode consumer carries none of the group settings.
fn assign_consumer(consumer: &Consumer, path: &FieldPath) -> Checked {
    let group_fields = [
        ("group", consumer.group.is_some()),
        ("topics", !consumer.topics.is_empty()),
        ("protocol", consumer.protocol.is_some()),
        ("assignor", consumer.assignor.is_some()),
        ("commit", consumer.commit.is_some()),
        ("auto_offset_reset", consumer.auto_offset_reset.is_some()),
        ("session_timeout", consumer.session_timeout.is_some()),
        ("abort_one_in", consumer.abort_one_in != 0),
        ("output", consumer.output.is_some()),
    ];
    for (field, present) in group_fields {
        ensure(
            !present,
            || path.key(field),
            || format!("`{field}` is a group setting: it needs mode = \"subscribe\""),
        )?;
    }
    Ok(())
}

/// A transaction timeout only for a transactional producer, and within what its coordinator
/// accepts (`transaction.max.timeout.ms`), as a timeout it refuses would fail every operation.
fn transaction_timeout(producer: &Producer, path: &FieldPath) -> Checked {
    let Some(timeout) = producer.transaction_timeout else {
        return Ok(());
    };
    let path = || path.key("transaction_timeout");
    ensure(producer.transactional, path, || {
        "transaction_timeout needs transactional = true".to_string()
    })?;
    let maximum_ns = broker::txn::config::TRANSACTION_TIMEOUT_MAX_NS;
    ensure(
        (TRANSACTION_TIMEOUT_MIN_NS..=maximum_ns).contains(&timeout.ns),
        path,
        || {
            format!(
                "{timeout}: a transaction timeout is {} to {} (the coordinators' maximum)",
                Duration::from_ns(TRANSACTION_TIMEOUT_MIN_NS),
                Duration::from_ns(maximum_ns)
            )
        },
    )
}

/// A transactional id set by hand only for a transactional producer, short and plain, and not of
/// the form `p<n>`: those are the producers' own ids, and sharing one by accident would make
/// two producers fence each other unasked.
fn shared_transactional_id(producer: &Producer, path: &FieldPath) -> Checked {
    let Some(id) = &producer.transactional_id else {
        return Ok(());
    };
    let path = || path.key("transactional_id");
    ensure(producer.transactional, path, || {
        "transactional_id needs transactional = true".to_string()
    })?;
    let plain = |character: char| character.is_ascii_alphanumeric() || "-_.".contains(character);
    ensure(
        (1..=TRANSACTIONAL_ID_BYTES_MAX).contains(&id.len()) && id.chars().all(plain),
        path,
        || {
            format!(
                "{id:?}: a transactional id is 1 to {TRANSACTIONAL_ID_BYTES_MAX} letters, digits, \
                 '-', '_' or '.'"
            )
        },
    )?;
    let own_id = id.strip_prefix('p').is_some_and(|number| {
        !number.is_empty() && number.chars().all(|character| character.is_ascii_digit())
    });
    ensure(!own_id, path, || {
        format!("{id:?}: ids p<n> are the producers' own; pick another name to share")
    })
}

/// `topic`, named at `path` (a `topic` field or an entry of a `topics` list), is a cluster topic.
fn known_topic(scenario: &Scenario, topic: &str, path: &FieldPath) -> Checked {
    ensure(
        scenario.topic(topic).is_some(),
        || path.clone(),
        || format!("unknown topic {topic:?}: not among cluster.topics"),
    )
}

fn process_count(count: u32, path: &FieldPath) -> Checked {
    ensure(
        (1..=PROCESSES_PER_SHAPE_MAX).contains(&count),
        || path.key("count"),
        || format!("count {count} must be 1 to {PROCESSES_PER_SHAPE_MAX}"),
    )
}

fn fault(scenario: &Scenario, index: usize, fault: &Fault, path: &FieldPath) -> Checked {
    ensure(
        index < FAULTS_MAX,
        || path.clone(),
        || format!("more than {FAULTS_MAX} faults"),
    )?;
    let at = fault.at();
    ensure(
        at <= scenario.fault_phase,
        || path.key("at"),
        || format!("{at} is after the fault phase ({})", scenario.fault_phase),
    )?;
    if index > 0 {
        let previous = scenario.faults[index - 1].at();
        ensure(
            at >= previous,
            || path.key("at"),
            || {
                format!(
                    "faults out of order: {at} comes after faults[{}] at {previous}",
                    index - 1
                )
            },
        )?;
    }
    for (field, target) in fault.targets() {
        self::target(scenario, target, &path.key(field))?;
        producer_target_allowed(fault, target, &path.key(field))?;
        groups::target_allowed(fault, target, &path.key(field))?;
    }
    fault_arguments(fault, path)
}

fn target(scenario: &Scenario, target: &Target, path: &FieldPath) -> Checked {
    match target {
        Target::Broker(index) => ensure(
            *index < scenario.cluster.brokers,
            || path.clone(),
            || {
                format!(
                    "{target} does not exist: the cluster has b1 to b{}",
                    scenario.cluster.brokers
                )
            },
        ),
        Target::Leader { topic, partition } => {
            let internal = crate::runner::workload::uses_transactions(scenario)
                && topic == broker::txn::TRANSACTION_STATE_TOPIC
                && *partition < crate::runner::workload::TRANSACTION_STATE_PARTITIONS;
            let exists = internal
                || scenario
                    .topic(topic)
                    .is_some_and(|known| *partition < known.partitions);
            ensure(
                exists,
                || path.clone(),
                || format!("{target}: no such topic partition"),
            )
        }
        Target::Follower {
            topic,
            partition,
            index,
        } => {
            let known = scenario
                .topic(topic)
                .filter(|known| *partition < known.partitions);
            ensure(
                known.is_some(),
                || path.clone(),
                || format!("{target}: no such topic partition"),
            )?;
            let followers = known.map_or(0, |known| known.replication_factor - 1);
            ensure(
                (1..=followers).contains(index),
                || path.clone(),
                || {
                    format!(
                        "{target}: the partition has {followers} follower(s) (replication factor \
                         minus the leader)"
                    )
                },
            )
        }
        Target::Controller | Target::Random => Ok(()),
        Target::Producer(index) => ensure(
            *index < producer_processes(scenario),
            || path.clone(),
            || {
                format!(
                    "{target} does not exist: the workload has p1 to p{}",
                    producer_processes(scenario)
                )
            },
        ),
        Target::Consumer(_) | Target::Coordinator { .. } => groups::target(scenario, target, path),
    }
}

/// How many producer processes the workload runs (`p1` to `p<n>`).
fn producer_processes(scenario: &Scenario) -> u32 {
    scenario
        .workload
        .producers
        .iter()
        .map(|producer| producer.count)
        .sum()
}

/// Producers are crashed, restarted, paused and resumed, and their links to brokers held and
/// released; nothing else aims at them (a partition or a clock fault is a broker's).
fn producer_target_allowed(fault: &Fault, target: &Target, path: &FieldPath) -> Checked {
    let producer_action = matches!(
        fault,
        Fault::Crash { .. }
            | Fault::Restart { .. }
            | Fault::Pause { .. }
            | Fault::Resume { .. }
            | Fault::Hold { .. }
            | Fault::Release { .. }
    );
    ensure(
        !target.is_producer() || producer_action,
        || path.clone(),
        || {
            format!(
                "{} cannot target a producer ({target}): only crash, restart, pause, resume, \
                 hold and release do",
                fault.action()
            )
        },
    )
}

/// A held link with a producer at one end has a broker at the other: clients do not talk to
/// each other, so a link between two of them carries nothing to hold.
fn held_link(from: &Target, to: &Target, path: &FieldPath) -> Checked {
    let client = |target: &Target| target.is_producer() || target.is_consumer();
    ensure(
        !(client(from) && client(to)),
        || path.key("to"),
        || {
            format!(
                "{from} -> {to} joins two clients: a held link with a producer at one end has a \
                 broker at the other"
            )
        },
    )
}

fn fault_arguments(fault: &Fault, path: &FieldPath) -> Checked {
    match fault {
        Fault::Partition { groups, .. } => {
            ensure(
                groups.len() >= 2,
                || path.key("groups"),
                || "a partition needs at least two groups".to_string(),
            )?;
            let mut seen = BTreeSet::new();
            for target in groups.iter().flatten() {
                ensure(
                    seen.insert(target.to_string()),
                    || path.key("groups"),
                    || format!("{target} is in two groups"),
                )?;
            }
            Ok(())
        }
        Fault::OneWay { from, to, .. } => {
            ensure(
                !from.is_empty() && !to.is_empty(),
                || path.clone(),
                || "from and to must be non-empty".to_string(),
            )?;
            let overlap = from.iter().find(|target| to.contains(target));
            ensure(
                overlap.is_none(),
                || path.key("to"),
                || format!("{} is on both sides", overlap.unwrap()),
            )
        }
        Fault::Bridge {
            left,
            bridge,
            right,
            ..
        } => {
            ensure(
                !left.is_empty() && !right.is_empty(),
                || path.clone(),
                || "both sides must be non-empty".to_string(),
            )?;
            let on_a_side = left.contains(bridge) || right.contains(bridge);
            ensure(
                !on_a_side,
                || path.key("bridge"),
                || format!("the bridge {bridge} cannot be on a side"),
            )
        }
        Fault::Hold { from, to, .. } | Fault::Release { from, to, .. } => held_link(from, to, path),
        Fault::ClockDrift { ppm, .. } => ensure(
            ppm.unsigned_abs() <= DRIFT_PPM_MAX.unsigned_abs(),
            || path.key("ppm"),
            || format!("{ppm} ppm: drift must be within ±{DRIFT_PPM_MAX}"),
        ),
        Fault::DiskFailSyncs { duration, .. } | Fault::DiskFailWrites { duration, .. } => ensure(
            duration.ns > 0,
            || path.key("duration"),
            || "must be positive".to_string(),
        ),
        Fault::Network {
            latency: Some(latency),
            ..
        } => latency
            .validate("latency")
            .or_else(|message| fail(path.key("latency"), message)),
        _ => Ok(()),
    }
}

fn nemesis(scenario: &Scenario, path: &FieldPath) -> Checked {
    let Some(nemesis) = &scenario.nemesis else {
        return Ok(());
    };
    ensure(
        !nemesis.kinds.is_empty(),
        || path.key("kinds"),
        || "list at least one kind".to_string(),
    )?;
    let distinct: BTreeSet<_> = nemesis.kinds.iter().collect();
    ensure(
        distinct.len() == nemesis.kinds.len(),
        || path.key("kinds"),
        || "a kind is listed twice".to_string(),
    )
}
