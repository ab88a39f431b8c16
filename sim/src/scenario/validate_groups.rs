//! The consumer-group rules of a scenario: group consumers' settings, consumer and coordinator
//! targets, and the worker pool's schedule (`add-consumer`, `remove-consumer`).

use std::collections::BTreeMap;

use super::{Checked, ensure, known_topic};
use crate::scenario::locate::FieldPath;
use crate::scenario::{CommitMode, Consumer, ConsumerMode, Fault, Scenario, Target};

/// The shortest and longest session timeout a scenario may ask for.
pub const SESSION_TIMEOUT_NS_MIN: u64 = 200_000_000;
pub const SESSION_TIMEOUT_NS_MAX: u64 = 60_000_000_000;
/// Most topics one group consumer subscribes to.
pub const SUBSCRIBED_TOPICS_MAX: usize = 16;

pub(super) fn subscribe_consumer(
    scenario: &Scenario,
    index: usize,
    consumer: &Consumer,
    path: &FieldPath,
) -> Checked {
    let group = consumer.group.as_deref().unwrap_or("");
    let name_ok = !group.is_empty()
        && group.len() <= 249
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    ensure(
        name_ok,
        || path.key("group"),
        || format!("mode \"subscribe\" needs a group name of [A-Za-z0-9._-], got {group:?}"),
    )?;
    ensure(
        consumer.topics.len() < SUBSCRIBED_TOPICS_MAX,
        || path.key("topics"),
        || format!("at most {SUBSCRIBED_TOPICS_MAX} topics per consumer"),
    )?;
    let topics = consumer.all_topics();
    for (position, topic) in consumer.topics.iter().enumerate() {
        known_topic(scenario, topic, &path.key("topics").index(position))?;
        ensure(
            !topics[..=position].contains(topic),
            || path.key("topics").index(position),
            || format!("topic {topic:?} is listed twice"),
        )?;
    }
    if let Some(timeout) = consumer.session_timeout {
        ensure(
            (SESSION_TIMEOUT_NS_MIN..=SESSION_TIMEOUT_NS_MAX).contains(&timeout.ns),
            || path.key("session_timeout"),
            || format!("{timeout} must be 200ms to 60s"),
        )?;
    }
    ensure(
        consumer.abort_one_in == 0 || consumer.commit == Some(CommitMode::Transactional),
        || path.key("abort_one_in"),
        || "aborts are of transactional commits: it needs commit = \"transactional\"".to_owned(),
    )?;
    if let Some(output) = &consumer.output {
        transform_output(scenario, consumer, output, &path.key("output"))?;
    }
    let first_of_group = scenario.workload.consumers[..index]
        .iter()
        .find(|earlier| earlier.group == consumer.group);
    if let Some(first) = first_of_group {
        let same = (first.protocol, first.assignor) == (consumer.protocol, consumer.assignor);
        ensure(
            same,
            || path.key("protocol"),
            || {
                format!(
                    "group {group:?}: every consumer of a group uses the same protocol and assignor"
                )
            },
        )?;
    }
    Ok(())
}

/// A worker's output: it writes in the transactions of its commits, to a topic of the cluster,
/// and no chain of workers leads back to a topic it reads (each record consumed would make
/// another, for ever).
fn transform_output(
    scenario: &Scenario,
    consumer: &Consumer,
    output: &str,
    path: &FieldPath,
) -> Checked {
    ensure(
        consumer.commit == Some(CommitMode::Transactional),
        || path.clone(),
        || {
            "a worker writes its output in its commits' transactions: it needs commit = \"transactional\"".to_owned()
        },
    )?;
    known_topic(scenario, output, path)?;
    let mut reached = vec![output.to_owned()];
    let mut next = 0;
    while next < reached.len() {
        let topic = reached[next].clone();
        next += 1;
        ensure(
            !consumer.all_topics().contains(&topic),
            || path.clone(),
            || {
                format!(
                    "output {output:?} leads back to topic {topic:?}, which this consumer reads: the workers would write for ever"
                )
            },
        )?;
        for worker in &scenario.workload.consumers {
            if let Some(further) = &worker.output
                && worker.all_topics().contains(&topic)
                && !reached.contains(further)
            {
                reached.push(further.clone());
            }
        }
    }
    Ok(())
}

/// How many consumer processes the workload runs.
fn consumer_processes(scenario: &Scenario) -> u32 {
    scenario
        .workload
        .consumers
        .iter()
        .map(|consumer| consumer.count)
        .sum()
}

/// The consumer shape of process `c<index + 1>`.
pub fn consumer_shape(scenario: &Scenario, index: u32) -> Option<&Consumer> {
    let mut first = 0;
    for consumer in &scenario.workload.consumers {
        if index < first + consumer.count {
            return Some(consumer);
        }
        first += consumer.count;
    }
    None
}

pub(super) fn target(scenario: &Scenario, target: &Target, path: &FieldPath) -> Checked {
    match target {
        Target::Consumer(index) => ensure(
            *index < consumer_processes(scenario),
            || path.clone(),
            || {
                format!(
                    "{target} does not exist: the workload has c1 to c{}",
                    consumer_processes(scenario)
                )
            },
        ),
        Target::Coordinator { group } => ensure(
            scenario
                .workload
                .consumers
                .iter()
                .any(|consumer| consumer.group.as_deref() == Some(group)),
            || path.clone(),
            || format!("{target}: no consumer of the workload is in group {group:?}"),
        ),
        _ => Ok(()),
    }
}

/// Consumers are crashed, restarted, paused, resumed, added and removed; brokers and producers
/// are not added or removed.
pub(super) fn target_allowed(fault: &Fault, target: &Target, path: &FieldPath) -> Checked {
    let consumer_action = matches!(
        fault,
        Fault::Crash { .. }
            | Fault::Restart { .. }
            | Fault::Pause { .. }
            | Fault::Resume { .. }
            | Fault::AddConsumer { .. }
            | Fault::RemoveConsumer { .. }
    );
    let schedule_action = matches!(
        fault,
        Fault::AddConsumer { .. } | Fault::RemoveConsumer { .. }
    );
    ensure(
        !target.is_consumer() || consumer_action,
        || path.clone(),
        || format!("{} cannot target a consumer ({target})", fault.action()),
    )?;
    ensure(
        target.is_consumer() || !schedule_action,
        || path.clone(),
        || {
            format!(
                "{} targets a consumer (c1, c2, ...), not {target}",
                fault.action()
            )
        },
    )
}

/// Each consumer is added and removed at most once, added before removed; only group consumers
/// are; every group keeps a consumer that is never removed (someone must drain it).
pub(super) fn worker_schedule(scenario: &Scenario, path: &FieldPath) -> Checked {
    let mut added: BTreeMap<u32, usize> = BTreeMap::new();
    let mut removed: BTreeMap<u32, usize> = BTreeMap::new();
    for (position, fault) in scenario.faults.iter().enumerate() {
        let (schedule, Target::Consumer(index)) = (match fault {
            Fault::AddConsumer { target, .. } => (&mut added, target),
            Fault::RemoveConsumer { target, .. } => (&mut removed, target),
            _ => continue,
        }) else {
            continue;
        };
        let fault_path = path.index(position);
        let shape = consumer_shape(scenario, *index).expect("target validated");
        ensure(
            shape.mode == ConsumerMode::Subscribe,
            || fault_path.key("target"),
            || format!("{} applies to group consumers only", fault.action()),
        )?;
        ensure(
            schedule.insert(*index, position).is_none(),
            || fault_path.key("target"),
            || format!("c{} has two {} actions", index + 1, fault.action()),
        )?;
        if let Fault::AddConsumer { .. } = fault {
            ensure(
                !removed.contains_key(index),
                || fault_path.key("at"),
                || format!("c{} is added after it was removed", index + 1),
            )?;
        }
    }
    let mut kept: BTreeMap<&str, bool> = BTreeMap::new();
    let mut index = 0;
    for consumer in &scenario.workload.consumers {
        for _ in 0..consumer.count {
            if let Some(group) = consumer.group.as_deref() {
                *kept.entry(group).or_default() |= !removed.contains_key(&index);
            }
            index += 1;
        }
    }
    if let Some((group, _)) = kept.iter().find(|(_, kept)| !**kept) {
        let position = *removed.values().max().expect("a group lost every consumer");
        return ensure(
            false,
            || path.index(position).key("target"),
            || format!("group {group:?} loses every consumer: keep one to drain it"),
        );
    }
    Ok(())
}
