//! `committed-offset-regression`: a consumer group's committed offset for a key never moves
//! backwards: a commit invoked after another commit of the group completed does not commit a
//! lower offset for the same key. (Concurrent commits are not ordered, so they are not judged.)
//!
//! Source: Kafka's consumer group protocol (offset commits fenced by the group generation,
//! KIP-447); a regression means a zombie member's commit was accepted, or committed offsets were
//! lost on coordinator failover, and the group re-reads records.

use super::anomaly::{AnomalyKind, Findings, OffsetRegressionWitness, Witness};
use super::context::Context;
use super::model::{EventId, GroupId, KeyId, Outcome};

/// `(group, key, commit event, next offset)`.
type Commit = (GroupId, KeyId, EventId, u64);

pub fn analyse(context: &Context, findings: &mut Findings) {
    let mut commits = collect_commits(context);
    commits.sort_by_key(|&(group, key, event, _)| (group, key, event));
    for run in commits.chunk_by(|left, right| (left.0, left.1) == (right.0, right.1)) {
        analyse_key(context, run, findings);
    }
}

fn collect_commits(context: &Context) -> Vec<Commit> {
    let model = context.model;
    let mut commits = Vec::new();
    for (event_id, event) in model.events.iter().enumerate() {
        let Some(group) = event.group else {
            continue;
        };
        if event.outcome() != Outcome::Ok {
            continue;
        }
        for commit in model.commits_of(event) {
            commits.push((group, commit.key, event_id as EventId, commit.next_offset));
        }
    }
    commits
}

/// `run` holds one (group, key)'s commits in completion order.
fn analyse_key(context: &Context, run: &[Commit], findings: &mut Findings) {
    let completions: Vec<u64> = run
        .iter()
        .map(|&(_, _, event, _)| {
            context
                .operation(event)
                .index
                .expect("ok operations completed")
        })
        .collect();
    // highest[i]: the commit with the highest offset among run[..=i].
    let mut highest: Vec<usize> = Vec::with_capacity(run.len());
    for position in 0..run.len() {
        let best = match highest.last() {
            Some(&best) if run[best].3 >= run[position].3 => best,
            _ => position,
        };
        highest.push(best);
    }
    for (position, &(group, key, event, offset)) in run.iter().enumerate() {
        let invoked = context.operation(event).invoke_index;
        let completed_before = completions.partition_point(|&completion| completion < invoked);
        if completed_before == 0 {
            continue;
        }
        let best = highest[completed_before - 1];
        debug_assert!(completed_before <= position);
        let (_, _, previous_event, previous_offset) = run[best];
        if offset >= previous_offset {
            continue;
        }
        findings.add(AnomalyKind::CommittedOffsetRegression, || {
            Witness::OffsetRegression(OffsetRegressionWitness {
                group: context.model.group_name(group).to_string(),
                key: context.key_name(key),
                previous_offset,
                previous_commit: context.operation(previous_event),
                offset,
                commit: context.operation(event),
            })
        });
    }
}
