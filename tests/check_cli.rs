//! End-to-end tests of `trial check HISTORY [--json]` (ARCHITECTURE.md's CLI contract): exit 0 on
//! a valid history, 1 on one with violations (and `--json` lists them), 2 on malformed input with
//! file, line and field named.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(name)
}

fn trial_check(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trial"))
        .arg("check")
        .args(arguments)
        .output()
        .expect("run trial")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_history_exits_0() {
    let path = fixture("valid.jsonl");
    let output = trial_check(&[path.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("verdict=valid"));
}

#[test]
fn a_valid_history_with_json_says_valid() {
    let path = fixture("valid.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["valid"], true);
    assert_eq!(json["anomalies"], serde_json::json!({}));
    assert_eq!(json["stats"]["sends"], 4);
}

#[test]
fn a_history_with_anomalies_exits_1_and_json_lists_them() {
    let path = fixture("lost-write.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["valid"], false);
    assert_eq!(json["violations"], serde_json::json!(["lost-write"]));
    let lost = &json["anomalies"]["lost-write"][0];
    assert_eq!(lost["key"], "orders/0");
    assert_eq!(lost["value"], 1);
    assert_eq!(lost["offset"], 0);
    assert_eq!(lost["writer"]["index"], 1);
    // G0 is listed but expected for Kafka transactions.
    assert_eq!(json["anomaly_counts"]["G0"], 1);
}

#[test]
fn the_human_report_marks_violations_and_expected_anomalies() {
    let path = fixture("lost-write.jsonl");
    let output = trial_check(&[path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("lost-write: 1 (VIOLATION)"), "{stdout}");
    assert!(stdout.contains("G0: 1 (expected"), "{stdout}");
    assert!(
        stdout.contains("verdict=invalid violations=lost-write"),
        "{stdout}"
    );
}

#[test]
fn configuration_flags_change_the_verdict() {
    let path = fixture("lost-write.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--acks", "leader"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "acks=1 may lose acknowledged writes"
    );
    let output = trial_check(&[
        path.to_str().unwrap(),
        "--acks",
        "leader",
        "--isolated-writes",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "G0 is a violation when writes must be isolated"
    );
    let output = trial_check(&[path.to_str().unwrap(), "--expect", "lost-write"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn decreasing_time_exits_2_naming_file_line_and_field() {
    let path = fixture("malformed-time.jsonl");
    let output = trial_check(&[path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("malformed-time.jsonl: line 2: field `time`"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_value_exits_2_naming_the_nested_field() {
    let path = fixture("malformed-value.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("malformed-value.jsonl: line 3: field `value[0][1].orders/0[0][1]`"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_missing_file_and_an_unknown_anomaly_exit_2() {
    let output = trial_check(&["/nonexistent/history.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/history.jsonl"));
    let path = fixture("valid.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--expect", "G9"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("G9"));
}

#[test]
fn exactly_once_is_judged_only_when_declared() {
    let path = fixture("duplicate-consumption.jsonl");
    let output = trial_check(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["anomaly_counts"]["duplicate-consumption"], 2);
    let output = trial_check(&[path.to_str().unwrap(), "--json", "--exactly-once"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(
        json["violations"],
        serde_json::json!(["duplicate-consumption"])
    );
    let witness = &json["anomalies"]["duplicate-consumption"][0];
    assert_eq!(witness["group"], "g");
    assert_eq!(witness["processed_by"].as_array().unwrap().len(), 2);
}

#[test]
fn a_group_protocol_is_taken_and_a_malformed_one_exits_2() {
    let path = fixture("valid.jsonl");
    let path = path.to_str().unwrap();
    let output = trial_check(&[path, "--group-protocol", "workers=cooperative"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for bad in ["workers", "workers=sticky", "=eager"] {
        let output = trial_check(&[path, "--group-protocol", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            text(&output.stderr).contains("expected GROUP=eager or GROUP=cooperative"),
            "{bad}: {}",
            text(&output.stderr)
        );
    }
}
