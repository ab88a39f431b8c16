//! The story of a failure: the lines of a run's log about the partition its first violation
//! names, printed with the failure.
//!
//! Why: the first look at a failure should already show which faults fired, who led the
//! partition in which leader epoch, which replicas truncated what, and how its ISR moved, so
//! that the whole log is opened to confirm a suspicion rather than to find one. The story is the
//! run's fault lines and the timeline lines ([`crate::cluster::timeline`]) naming the
//! partition, the last [`STORY_LINES_MAX`] of them.

use crate::cluster::timeline;
use crate::runner::report::Violation;

/// The most log lines a story shows (the last ones: nearest the violation).
pub const STORY_LINES_MAX: usize = 24;

/// The partition (`"topic/partition"`) a violation's first witness names: a history witness's
/// `key`, or a state witness's `topic` and `partition`. `None` for violations about no one
/// partition (liveness, vacuity, determinism, the quorum's state).
pub fn violated_partition(violation: &Violation) -> Option<String> {
    let witness = violation.witnesses.first()?;
    if let Some(key) = witness.get("key").and_then(|key| key.as_str()) {
        return Some(key.to_string());
    }
    let topic = witness.get("topic")?.as_str()?;
    let partition = witness.get("partition")?.as_u64()?;
    Some(format!("{topic}/{partition}"))
}

/// The log target of fault lines.
const FAULTS_TARGET: &str = "sim::runner::faults";

/// The last [`STORY_LINES_MAX`] lines of `log` that tell `partition`'s story: every fault, and
/// every timeline line naming the partition. Each keeps its time and node, and loses its level
/// and target (`   3.000000000s -     fault: crash b5 (leader(orders/3))`).
pub fn partition_story(log: &str, partition: &str) -> Vec<String> {
    let told: Vec<String> = log
        .lines()
        .filter_map(|line| {
            let (stamp, target, message) = split_line(line)?;
            let tells = target == FAULTS_TARGET
                || (target == timeline::TARGET && names_partition(message, partition));
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

/// Whether `line` names `partition` itself, not a longer one it is a prefix of (`orders/3` is
/// not named by `orders/30`).
fn names_partition(line: &str, partition: &str) -> bool {
    line.match_indices(partition).any(|(at, _)| {
        let after = line[at + partition.len()..].chars().next();
        !after.is_some_and(|next| next.is_ascii_digit())
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
        let story = partition_story(&LOG.join("\n"), "orders/3");
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
        let story = partition_story(&many, "orders/0");
        assert_eq!(story.len(), STORY_LINES_MAX);
        assert!(story[0].contains("leader epoch 5"), "{}", story[0]);
    }

    #[test]
    fn the_partition_comes_from_a_history_key_or_a_state_witness() {
        let history = violation(serde_json::json!({"process": 2, "key": "orders/0"}));
        assert_eq!(violated_partition(&history).as_deref(), Some("orders/0"));
        let state = violation(serde_json::json!({"topic": "orders", "partition": 3, "node": 5}));
        assert_eq!(violated_partition(&state).as_deref(), Some("orders/3"));
        let quorum = violation(serde_json::json!({"term": 4, "first_node": 0}));
        assert_eq!(violated_partition(&quorum), None);
    }
}
