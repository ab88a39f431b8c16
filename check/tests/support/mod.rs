//! A small builder of histories for the checker's self-tests: it writes JSON Lines exactly as
//! HISTORY.md describes, so every test also goes through the strict reader.

#![allow(dead_code)]

pub mod generate;

use check::history::{AnomalyKind, CheckConfig, Report, check_history};
use serde_json::{Value, json};

/// A history under construction. Time advances by 1 ms per line.
#[derive(Debug, Default)]
pub struct History {
    pub lines: Vec<String>,
    time_ns: u64,
}

/// A transaction's parts: polls first (key -> records), then sends (key, value, offset), then
/// commits (key, next offset).
#[derive(Debug, Default, Clone)]
pub struct Txn<'a> {
    pub polls: Vec<(&'a str, Vec<(u64, i64)>)>,
    pub sends: Vec<(&'a str, i64, u64)>,
    pub commits: Vec<(&'a str, u64)>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn line(&mut self, process: u64, kind: &str, f: &str, value: Value, group: Option<&str>) {
        self.time_ns += 1_000_000;
        let mut line =
            json!({"time": self.time_ns, "process": process, "type": kind, "f": f, "value": value});
        if let Some(group) = group {
            line["group"] = json!(group);
        }
        self.lines.push(line.to_string());
    }

    pub fn invoke(&mut self, process: u64, f: &str, value: Value) {
        self.line(process, "invoke", f, value, None);
    }

    // ---- sends ----

    pub fn send_invoke(&mut self, process: u64, sends: &[(&str, i64)]) {
        let value: Vec<Value> = sends
            .iter()
            .map(|(key, value)| json!(["send", key, value]))
            .collect();
        self.invoke(process, "send", json!(value));
    }

    pub fn send_complete(&mut self, process: u64, sends: &[(&str, i64, u64)]) {
        let value: Vec<Value> = sends
            .iter()
            .map(|(key, value, offset)| json!(["send", key, [offset, value]]))
            .collect();
        self.line(process, "ok", "send", json!(value), None);
    }

    /// An acknowledged send of `(key, value, offset)` records.
    pub fn send_ok(&mut self, process: u64, sends: &[(&str, i64, u64)]) {
        let invoked: Vec<(&str, i64)> = sends.iter().map(|&(key, value, _)| (key, value)).collect();
        self.send_invoke(process, &invoked);
        self.send_complete(process, sends);
    }

    pub fn send_fail(&mut self, process: u64, sends: &[(&str, i64)]) {
        self.send_invoke(process, sends);
        self.line(process, "fail", "send", Value::Null, None);
    }

    pub fn send_info(&mut self, process: u64, sends: &[(&str, i64)]) {
        self.send_invoke(process, sends);
        self.line(process, "info", "send", Value::Null, None);
    }

    // ---- consumers ----

    pub fn poll_invoke(&mut self, process: u64, group: Option<&str>) {
        self.line(process, "invoke", "poll", json!([["poll"]]), group);
    }

    pub fn poll_complete(
        &mut self,
        process: u64,
        group: Option<&str>,
        keys: &[(&str, &[(u64, i64)])],
    ) {
        self.line(
            process,
            "ok",
            "poll",
            json!([["poll", polled(keys)]]),
            group,
        );
    }

    pub fn poll_ok(&mut self, process: u64, keys: &[(&str, &[(u64, i64)])]) {
        self.poll_invoke(process, None);
        self.poll_complete(process, None, keys);
    }

    pub fn poll_ok_in(&mut self, process: u64, group: &str, keys: &[(&str, &[(u64, i64)])]) {
        self.poll_invoke(process, Some(group));
        self.poll_complete(process, Some(group), keys);
    }

    pub fn assign(&mut self, process: u64, group: Option<&str>, keys: &[&str]) {
        self.line(process, "invoke", "assign", json!(keys), group);
        self.line(process, "ok", "assign", json!(keys), group);
    }

    pub fn subscribe(&mut self, process: u64, group: &str, topics: &[&str]) {
        self.line(process, "invoke", "subscribe", json!(topics), Some(group));
        self.line(process, "ok", "subscribe", json!(topics), Some(group));
    }

    pub fn rebalance(&mut self, process: u64, group: &str, generation: u64, keys: &[&str]) {
        self.line(process, "invoke", "rebalance", Value::Null, Some(group));
        self.line(
            process,
            "ok",
            "rebalance",
            json!({"generation": generation, "assigned": keys}),
            Some(group),
        );
    }

    pub fn commit_invoke(&mut self, process: u64, group: &str, offsets: &[(&str, u64)]) {
        self.line(
            process,
            "invoke",
            "commit",
            offsets_json(offsets),
            Some(group),
        );
    }

    pub fn commit_complete(&mut self, process: u64, group: &str, offsets: &[(&str, u64)]) {
        self.line(process, "ok", "commit", offsets_json(offsets), Some(group));
    }

    pub fn commit_ok(&mut self, process: u64, group: &str, offsets: &[(&str, u64)]) {
        self.commit_invoke(process, group, offsets);
        self.commit_complete(process, group, offsets);
    }

    /// A commit whose outcome is unknown: the process is crashed afterwards.
    pub fn commit_info(&mut self, process: u64, group: &str, offsets: &[(&str, u64)]) {
        self.commit_invoke(process, group, offsets);
        self.line(
            process,
            "info",
            "commit",
            offsets_json(offsets),
            Some(group),
        );
    }

    // ---- transactions ----

    pub fn txn_invoke(&mut self, process: u64, group: Option<&str>, txn: &Txn) {
        let mut value: Vec<Value> = txn.polls.iter().map(|_| json!(["poll"])).collect();
        value.extend(
            txn.sends
                .iter()
                .map(|(key, value, _)| json!(["send", key, value])),
        );
        value.extend(
            txn.commits
                .iter()
                .map(|&(key, offset)| json!(["commit", {key: offset}])),
        );
        self.line(process, "invoke", "txn", json!(value), group);
    }

    pub fn txn_complete(&mut self, process: u64, group: Option<&str>, kind: &str, txn: &Txn) {
        if kind != "ok" {
            self.line(process, kind, "txn", Value::Null, group);
            return;
        }
        let mut value: Vec<Value> = txn
            .polls
            .iter()
            .map(|(key, records)| json!(["poll", {*key: records.iter().map(|(o, v)| json!([o, v])).collect::<Vec<_>>()}]))
            .collect();
        value.extend(
            txn.sends
                .iter()
                .map(|(key, value, offset)| json!(["send", key, [offset, value]])),
        );
        value.extend(
            txn.commits
                .iter()
                .map(|&(key, offset)| json!(["commit", {key: offset}])),
        );
        self.line(process, "ok", "txn", json!(value), group);
    }

    pub fn txn(&mut self, process: u64, group: Option<&str>, kind: &str, txn: Txn) {
        self.txn_invoke(process, group, &txn);
        self.txn_complete(process, group, kind, &txn);
    }

    // ---- checking ----

    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    pub fn check(&self, config: &CheckConfig) -> Report {
        let text = self.text();
        check_history(text.as_bytes(), config).unwrap_or_else(|error| panic!("{error}\n{text}"))
    }

    pub fn check_default(&self) -> Report {
        self.check(&CheckConfig::default())
    }
}

pub fn polled(keys: &[(&str, &[(u64, i64)])]) -> Value {
    let mut map = serde_json::Map::new();
    for (key, records) in keys {
        let pairs: Vec<Value> = records
            .iter()
            .map(|(offset, value)| json!([offset, value]))
            .collect();
        map.insert(key.to_string(), json!(pairs));
    }
    Value::Object(map)
}

fn offsets_json(offsets: &[(&str, u64)]) -> Value {
    let mut map = serde_json::Map::new();
    for (key, offset) in offsets {
        map.insert(key.to_string(), json!(offset));
    }
    Value::Object(map)
}

/// Asserts `report` saw `kind`, printing the report otherwise.
pub fn assert_fires(report: &Report, kind: AnomalyKind) {
    assert!(
        report.count(kind) > 0,
        "expected {kind}, got {}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

/// Asserts `report` did not see `kind`.
pub fn assert_silent(report: &Report, kind: AnomalyKind) {
    assert_eq!(
        report.count(kind),
        0,
        "did not expect {kind}: {}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

/// Asserts `report` saw no anomaly, ignoring `unseen` (many tests only send, and nobody polls).
pub fn assert_clean(report: &Report) {
    assert!(
        report
            .anomaly_counts
            .keys()
            .all(|&kind| kind == AnomalyKind::Unseen),
        "expected no anomaly: {}",
        serde_json::to_string_pretty(report).unwrap()
    );
}
