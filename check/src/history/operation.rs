//! The typed form of one history line (see `shared/design/HISTORY.md`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// What a line records: an invocation or one of the three completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationType {
    Invoke,
    /// It happened.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Indeterminate: it may or may not have happened.
    Info,
}

impl OperationType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Invoke => "invoke",
            Self::Ok => "ok",
            Self::Fail => "fail",
            Self::Info => "info",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "invoke" => Some(Self::Invoke),
            "ok" => Some(Self::Ok),
            "fail" => Some(Self::Fail),
            "info" => Some(Self::Info),
            _ => None,
        }
    }
}

/// The operation's function (`f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    Send,
    Poll,
    Txn,
    Assign,
    Subscribe,
    Rebalance,
    Commit,
    Crash,
    DebugTopicPartitions,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Poll => "poll",
            Self::Txn => "txn",
            Self::Assign => "assign",
            Self::Subscribe => "subscribe",
            Self::Rebalance => "rebalance",
            Self::Commit => "commit",
            Self::Crash => "crash",
            Self::DebugTopicPartitions => "debug-topic-partitions",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "send" => Some(Self::Send),
            "poll" => Some(Self::Poll),
            "txn" => Some(Self::Txn),
            "assign" => Some(Self::Assign),
            "subscribe" => Some(Self::Subscribe),
            "rebalance" => Some(Self::Rebalance),
            "commit" => Some(Self::Commit),
            "crash" => Some(Self::Crash),
            "debug-topic-partitions" => Some(Self::DebugTopicPartitions),
            _ => None,
        }
    }

    /// Whether the value is a list of micro-operations.
    pub fn has_micro_operations(self) -> bool {
        matches!(self, Self::Send | Self::Poll | Self::Txn)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The records one poll returned for one key, in the order the consumer received them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolledKey {
    pub key: String,
    /// `(offset, value)` pairs.
    pub records: Vec<(u64, i64)>,
}

/// One element of a `send`, `poll` or `txn` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MicroOperation {
    /// `["send", key, value]`, or `["send", key, [offset, value]]` once the offset is known.
    Send {
        key: String,
        value: i64,
        offset: Option<u64>,
    },
    /// `["poll"]` on invocation; `["poll", {key: [[offset, value], ...]}]` on completion.
    Poll { keys: Option<Vec<PolledKey>> },
    /// `["commit", {key: next_offset}]`: offsets committed inside a transaction.
    Commit { offsets: Vec<(String, u64)> },
}

/// A partition log as read directly from a node's replica: `(offset, value)` pairs.
pub type PartitionDump = Vec<(u64, i64)>;

/// The `value` of a line, typed by its `f` and `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OperationValue {
    /// `null`: a crash, an invocation that carries nothing, or a completion that repeats nothing.
    Null,
    /// `send`, `poll` and `txn`.
    Micro(Vec<MicroOperation>),
    /// `assign`: keys; `subscribe`: topics.
    Keys(Vec<String>),
    /// `rebalance` on completion.
    Rebalance {
        generation: u64,
        assigned: Vec<String>,
    },
    /// `commit`: key -> the offset of the next record to consume.
    Offsets(Vec<(String, u64)>),
    /// `debug-topic-partitions`: node -> key -> log.
    Dump(BTreeMap<String, BTreeMap<String, PartitionDump>>),
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    pub index: u64,
    pub time_ns: u64,
    pub process: u64,
    pub kind: OperationType,
    pub function: Function,
    pub group: Option<String>,
    pub value: OperationValue,
}
