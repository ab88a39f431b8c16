//! The history of a group run passes `trial check` under the group flags, and the same history
//! with one commit moved backwards, or with one record dropped from a poll within an
//! assignment (a real skip, not one a rebalance excuses), fails it: the history format carries
//! what the group checks need (`subscribe`, `rebalance`, `commit`, each operation's `group`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trial(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trial"))
        .args(arguments)
        .output()
        .expect("run trial")
}

fn check(history: &Path) -> Output {
    trial(&[
        "check",
        history.to_str().unwrap(),
        "--consumer-mode",
        "subscribe",
        "--at-least-once",
        "--drained",
        "--json",
    ])
}

/// Rewrites the last `ok` commit of the history to commit offset 0 for every key.
fn rewind_last_commit(history: &str) -> String {
    let mut lines: Vec<serde_json::Value> = history
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines
        .iter_mut()
        .rev()
        .find(|line| line["f"] == "commit" && line["type"] == "ok")
        .expect("the run committed");
    for offset in last["value"].as_object_mut().unwrap().values_mut() {
        *offset = serde_json::json!(0);
    }
    lines.iter().map(|line| line.to_string() + "\n").collect()
}

/// Drops the first record of a key from an `ok` poll whose process read the same key in its
/// previous `ok` poll, with no `subscribe` or `rebalance` of that process in between: a skip
/// within one assignment.
fn skip_within_an_assignment(history: &str) -> String {
    let mut lines: Vec<serde_json::Value> = history
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut last_polled_keys: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    let mut target = None;
    for (index, line) in lines.iter().enumerate() {
        if line["type"] != "ok" {
            continue;
        }
        let process = line["process"].as_u64().unwrap();
        if line["f"] == "subscribe" || line["f"] == "rebalance" {
            last_polled_keys.remove(&process);
        }
        if line["f"] != "poll" {
            continue;
        }
        let reads = line["value"][0][1].as_object().unwrap();
        let previous = last_polled_keys.get(&process).cloned().unwrap_or_default();
        if let Some(key) = reads.iter().find_map(|(key, records)| {
            (previous.contains(key) && records.as_array().unwrap().len() >= 2).then(|| key.clone())
        }) {
            target = Some((index, key));
            break;
        }
        last_polled_keys.insert(process, reads.keys().cloned().collect());
    }
    let (index, key) = target.expect("a member polled one key twice within an assignment");
    lines[index]["value"][0][1][&key]
        .as_array_mut()
        .unwrap()
        .remove(0);
    lines.iter().map(|line| line.to_string() + "\n").collect()
}

fn violations(report: &Output) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    json["violations"].clone()
}

#[test]
fn a_group_run_history_passes_check_and_a_rewound_commit_or_a_real_skip_fails_it() {
    let out: PathBuf =
        std::env::temp_dir().join(format!("trial-group-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/fanout.toml");
    let run = trial(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let history = out.join("history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    for function in ["subscribe", "rebalance", "commit"] {
        assert!(
            text.contains(&format!("\"f\":\"{function}\"")),
            "the history records {function}"
        );
    }
    let report = check(&history);
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report.status.code(), Some(0), "{json}");
    assert_eq!(json["valid"], true);
    let rewound = out.join("rewound.jsonl");
    std::fs::write(&rewound, rewind_last_commit(&text)).unwrap();
    let report = check(&rewound);
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report.status.code(), Some(1), "{json}");
    assert!(
        json["violations"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("committed-offset-regression")),
        "{json}"
    );
    let skipped = out.join("skipped.jsonl");
    std::fs::write(&skipped, skip_within_an_assignment(&text)).unwrap();
    let report = check(&skipped);
    assert_eq!(report.status.code(), Some(1));
    assert!(
        violations(&report)
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("poll-skip")),
        "a skip within an assignment is reported: {}",
        violations(&report)
    );
    std::fs::remove_dir_all(&out).unwrap();
}
