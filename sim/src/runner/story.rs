//! The story of a failure: the lines of a run's log about what its first violation names (a
//! partition, and a consumer group), printed with the failure.
//!
//! Why: the first look at a failure should already show which faults fired, who led the
//! partition in which leader epoch, which replicas truncated what, how its ISR moved, and how
//! the group rebalanced, so that the whole log is opened to confirm a suspicion rather than to
//! find one. The story is the run's fault lines and the timeline lines
//! ([`crate::cluster::timeline`]) naming a subject, the last [`STORY_LINES_MAX`] of them.

use crate::cluster::timeline;
use crate::runner::report::Violation;

/// The most log lines a story shows (the last ones: nearest the violation).
pub const STORY_LINES_MAX: usize = 24;

/// The log target of fault lines.
const FAULTS_TARGET: &str = "sim::runner::faults";

/// What a violation's first witness names, as timeline lines name it: its partition
/// (`orders/3`: a history witness's `key`, or a state witness's `topic` and `partition`), its
/// group (`group ledger`), and the producer epochs it names (`producer 7 epoch 2`: the fenced
/// epoch and the one that fenced it, of a `fenced-producer-write`). Empty for violations about
/// none of them (liveness, vacuity, determinism, the controller quorum's state).
pub fn subjects(violation: &Violation) -> Vec<String> {
    let Some(witness) = violation.witnesses.first() else {
        return Vec::new();
    };
    let text = |field: &str| witness.get(field).and_then(|value| value.as_str());
    let mut subjects = Vec::new();
    if let Some(key) = text("key") {
        subjects.push(key.to_string());
    } else if let (Some(topic), Some(partition)) = (
        text("topic"),
        witness.get("partition").and_then(|value| value.as_u64()),
    ) {
        subjects.push(format!("{topic}/{partition}"));
    }
    if let Some(group) = text("group") {
        subjects.push(format!("group {group}"));
    }
    let number = |field: &str| witness.get(field).and_then(|value| value.as_u64());
    if let Some(producer_id) = number("producer_id") {
        for epoch in ["producer_epoch", "fencing_epoch"]
            .into_iter()
            .filter_map(number)
        {
            subjects.push(format!("producer {producer_id} epoch {epoch}"));
        }
    }
    subjects
}

/// The last [`STORY_LINES_MAX`] lines of `log` that tell the `subjects`' story: every fault, and
/// every timeline line naming a subject. Each keeps its time and node, and loses its level and
/// target (`   3.000000000s -     fault: crash b5 (leader(orders/3))`).
pub fn story(log: &str, subjects: &[String]) -> Vec<String> {
    let told: Vec<String> = log
        .lines()
        .filter_map(|line| {
            let (stamp, target, message) = split_line(line)?;
            let tells = target == FAULTS_TARGET
                || (target == timeline::TARGET
                    && subjects.iter().any(|subject| names(message, subject)));
            tells.then(|| format!("{stamp}{message}"))
        })
        .collect();
    let skipped = told.len().saturating_sub(STORY_LINES_MAX);
    told.into_iter().skip(skipped).collect()
}

/// A log line's stamp (time and node), target and message; `None` for a line not in the log's
/// format (see [`crate::logging::SimulatedTimeFormat`]).
fn split_line(line: &str) -> Option<(&str, &str, &str)> {
    let level_at = line.find(" INFO ").or_else(|| line.find(" WARN "))?;
    let (target, message) = line[level_at + " INFO ".len()..].split_once(": ")?;
    Some((&line[..level_at], target, message))
}

/// Whether `line` names `subject` itself, not a longer name it is part of (`orders/3` is not
/// named by `orders/30` nor by `old-orders/3`).
fn names(line: &str, subject: &str) -> bool {
    let part_of_a_name =
        |character: char| character.is_ascii_alphanumeric() || "-_.".contains(character);
    line.match_indices(subject).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + subject.len()..].chars().next();
        !before.is_some_and(part_of_a_name) && !after.is_some_and(part_of_a_name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::ViolationSource;

    const LOG: &[&str] = &[
        "   0.4s b1     INFO timeline: controller: proposes b5 to lead orders/3 in leader epoch 1",
        "   0.4s b1     INFO timeline: controller: proposes b2 to lead orders/30 in leader epoch 1",
        "   2.0s -      INFO sim::runner::faults: fault: crash b5 (leader(orders/3))",
        "   2.0s b5     INFO sim::simulation: crash node=b5 lost_writes=0",
        "   3.7s b6     INFO timeline: orders/3: log end offset 422 -> 413, truncated to the divergence point with its leader",
        "   3.7s b6     INFO timeline: orders/1: leads in leader epoch 2",
    ];

    fn violation(witness: serde_json::Value) -> Violation {
        Violation {
            source: ViolationSource::State,
            kind: "committed-record-diverged".to_string(),
            description: String::new(),
            witnesses: vec![witness],
        }
    }

    #[test]
    fn the_story_keeps_faults_and_the_partitions_own_timeline_lines() {
        let story = story(&LOG.join("\n"), &["orders/3".to_string()]);
        assert_eq!(
            story,
            vec![
                "   0.4s b1    controller: proposes b5 to lead orders/3 in leader epoch 1",
                "   2.0s -     fault: crash b5 (leader(orders/3))",
                "   3.7s b6    orders/3: log end offset 422 -> 413, truncated to the divergence point with its leader",
            ]
        );
    }

    #[test]
    fn the_story_keeps_the_last_lines_nearest_the_violation() {
        let many: String = (0..STORY_LINES_MAX + 5)
            .map(|second| format!("   {second}.0s b1     INFO timeline: orders/0: leads in leader epoch {second}\n"))
            .collect();
        let story = story(&many, &["orders/0".to_string()]);
        assert_eq!(story.len(), STORY_LINES_MAX);
        assert!(story[0].contains("leader epoch 5"), "{}", story[0]);
    }

    #[test]
    fn the_subjects_are_a_history_key_or_a_state_witness_partition_and_a_group() {
        let history = violation(serde_json::json!({"process": 2, "key": "orders/0"}));
        assert_eq!(subjects(&history), ["orders/0"]);
        let state = violation(serde_json::json!({"topic": "orders", "partition": 3, "node": 5}));
        assert_eq!(subjects(&state), ["orders/3"]);
        let group = violation(serde_json::json!({"group": "ledger", "key": "orders/1"}));
        assert_eq!(subjects(&group), ["orders/1", "group ledger"]);
        let quorum = violation(serde_json::json!({"term": 4, "first_node": 0}));
        assert!(subjects(&quorum).is_empty());
        let fenced = violation(serde_json::json!({
            "topic": "orders", "partition": 0, "producer_id": 7, "producer_epoch": 1,
            "fencing_epoch": 2
        }));
        assert_eq!(
            subjects(&fenced),
            ["orders/0", "producer 7 epoch 1", "producer 7 epoch 2"]
        );
        assert!(names(
            "transactions: producer 7 epoch 2: granted to a starting instance",
            "producer 7 epoch 2"
        ));
        assert!(!names(
            "transactions: producer 7 epoch 21: Commit complete",
            "producer 7 epoch 2"
        ));
    }

    #[test]
    fn a_subject_is_named_only_whole() {
        assert!(names("orders/3: leads in leader epoch 2", "orders/3"));
        assert!(names(
            "controller: proposes ISR [b1] for orders/3",
            "orders/3"
        ));
        assert!(!names("orders/30: leads in leader epoch 2", "orders/3"));
        assert!(!names("old-orders/3: leads in leader epoch 2", "orders/3"));
        assert!(names(
            "group ledger: generation 7 with 2 member(s)",
            "group ledger"
        ));
        assert!(!names(
            "group ledger2: generation 7 with 2 member(s)",
            "group ledger"
        ));
    }
}
