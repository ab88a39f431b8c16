//! Anomaly names (Jepsen's Kafka workload's, plus Trial's exactly-once verdict) and their typed
//! witnesses. A witness carries the ids needed to debug: operations (by history index and
//! process), keys, offsets and values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::OperationRef;

/// Every anomaly the history checker can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AnomalyKind {
    #[serde(rename = "lost-write")]
    LostWrite,
    #[serde(rename = "unseen")]
    Unseen,
    #[serde(rename = "duplicate")]
    Duplicate,
    #[serde(rename = "inconsistent-offsets")]
    InconsistentOffsets,
    /// Aborted read.
    #[serde(rename = "G1a")]
    AbortedRead,
    #[serde(rename = "precommitted-read")]
    PrecommittedRead,
    #[serde(rename = "poll-skip")]
    PollSkip,
    #[serde(rename = "nonmonotonic-poll")]
    NonmonotonicPoll,
    #[serde(rename = "int-poll-skip")]
    InternalPollSkip,
    #[serde(rename = "int-nonmonotonic-poll")]
    InternalNonmonotonicPoll,
    #[serde(rename = "nonmonotonic-send")]
    NonmonotonicSend,
    #[serde(rename = "int-nonmonotonic-send")]
    InternalNonmonotonicSend,
    #[serde(rename = "int-send-skip")]
    InternalSendSkip,
    /// Write cycle: a cycle of write-write dependencies between committed transactions.
    #[serde(rename = "G0")]
    WriteCycle,
    /// Cyclic information flow: a cycle of write-write and write-read dependencies with at least
    /// one write-read edge.
    #[serde(rename = "G1c")]
    CyclicInformationFlow,
    #[serde(rename = "duplicate-consumption")]
    DuplicateConsumption,
    #[serde(rename = "lost-consumption")]
    LostConsumption,
    #[serde(rename = "committed-offset-regression")]
    CommittedOffsetRegression,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 18] = [
        Self::LostWrite,
        Self::Unseen,
        Self::Duplicate,
        Self::InconsistentOffsets,
        Self::AbortedRead,
        Self::PrecommittedRead,
        Self::PollSkip,
        Self::NonmonotonicPoll,
        Self::InternalPollSkip,
        Self::InternalNonmonotonicPoll,
        Self::NonmonotonicSend,
        Self::InternalNonmonotonicSend,
        Self::InternalSendSkip,
        Self::WriteCycle,
        Self::CyclicInformationFlow,
        Self::DuplicateConsumption,
        Self::LostConsumption,
        Self::CommittedOffsetRegression,
    ];

    /// The name used in reports (Jepsen's where Jepsen has one).
    pub fn name(self) -> &'static str {
        match self {
            Self::LostWrite => "lost-write",
            Self::Unseen => "unseen",
            Self::Duplicate => "duplicate",
            Self::InconsistentOffsets => "inconsistent-offsets",
            Self::AbortedRead => "G1a",
            Self::PrecommittedRead => "precommitted-read",
            Self::PollSkip => "poll-skip",
            Self::NonmonotonicPoll => "nonmonotonic-poll",
            Self::InternalPollSkip => "int-poll-skip",
            Self::InternalNonmonotonicPoll => "int-nonmonotonic-poll",
            Self::NonmonotonicSend => "nonmonotonic-send",
            Self::InternalNonmonotonicSend => "int-nonmonotonic-send",
            Self::InternalSendSkip => "int-send-skip",
            Self::WriteCycle => "G0",
            Self::CyclicInformationFlow => "G1c",
            Self::DuplicateConsumption => "duplicate-consumption",
            Self::LostConsumption => "lost-consumption",
            Self::CommittedOffsetRegression => "committed-offset-regression",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// An unknown anomaly name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown anomaly {0:?}")]
pub struct UnknownAnomaly(pub String);

impl FromStr for AnomalyKind {
    type Err = UnknownAnomaly;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownAnomaly(name.to_string()))
    }
}

/// A record of a key's log: where it sits and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Record {
    pub offset: u64,
    pub value: i64,
}

/// A record and the operation that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRead {
    pub offset: u64,
    pub value: i64,
    pub reader: OperationRef,
}

/// A value an operation observed (or acknowledged) at some offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub value: i64,
    pub first_observed_by: OperationRef,
}

/// An acknowledged (or read) record that no poll ever saw although a later record of its key was
/// read (`lost-write`), or that no poll saw at all (`unseen`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingWrite {
    pub key: String,
    /// `None` for a record of a transaction known committed only because another of its records
    /// was read (its producer never learnt the offsets).
    pub offset: Option<u64>,
    pub value: i64,
    pub writer: Option<OperationRef>,
    /// For `lost-write`: the highest record of the key that was read.
    pub highest_read: Option<RecordRead>,
    /// Where the value sits in the replicas' logs, from a `debug-topic-partitions` dump (empty
    /// without one, or if no replica holds it: then it was truncated everywhere).
    pub replicas: Vec<ReplicaCopy>,
}

/// A copy of a record in one node's log, from a `debug-topic-partitions` dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaCopy {
    pub node: String,
    pub offset: u64,
}

/// One value at several offsets of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateWitness {
    pub key: String,
    pub value: i64,
    pub offsets: Vec<u64>,
    pub writer: Option<OperationRef>,
}

/// Several values at one offset of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InconsistentOffsetWitness {
    pub key: String,
    pub offset: u64,
    pub values: Vec<Observation>,
}

/// A read of a value whose write had not (or never) committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadReadWitness {
    pub key: String,
    pub offset: u64,
    pub value: i64,
    pub writer: OperationRef,
    pub reader: OperationRef,
    pub reason: &'static str,
}

/// Two successive records of one key, seen by one process (in one operation, or in two
/// successive operations), that are out of order or skip records of the key's version order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderWitness {
    pub process: u64,
    pub key: String,
    /// The operation holding `from`; equal to `operation` for the `int-` anomalies.
    pub previous_operation: OperationRef,
    pub operation: OperationRef,
    pub from: Record,
    pub to: Record,
    /// For skips: the records of the version order strictly between `from` and `to`
    /// (at most [`SKIPPED_SHOWN_MAX`]).
    pub skipped: Vec<Record>,
    pub skipped_count: u64,
}

/// How many skipped records a witness lists.
pub const SKIPPED_SHOWN_MAX: usize = 16;

/// A dependency between two committed transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub from: OperationRef,
    pub to: OperationRef,
    /// `ww` (write-write: `to` wrote the next version of `key` after `from`'s) or `wr`
    /// (write-read: `to` read a value `from` wrote).
    pub kind: &'static str,
    pub key: String,
    pub value: i64,
}

/// A cycle of dependencies between committed transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleWitness {
    pub cycle: Vec<Dependency>,
}

/// A value a consumer group processed other than exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumptionWitness {
    pub group: String,
    pub key: String,
    pub offset: u64,
    pub value: i64,
    pub writer: Option<OperationRef>,
    /// The operations that processed it (each a poll covered by a commit, or a transaction).
    pub processed_by: Vec<OperationRef>,
    /// For `lost-consumption`: the group's polls that read it, none of them processed (no
    /// commit of the member covered it before its assignment changed, or the commit failed).
    /// Empty: no member of the group read it.
    pub polled_by: Vec<OperationRef>,
    /// For `lost-consumption`: the highest record of the key the group processed.
    pub highest_processed: Option<Record>,
}

/// A group's committed offset for a key moved backwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffsetRegressionWitness {
    pub group: String,
    pub key: String,
    pub previous_offset: u64,
    pub previous_commit: OperationRef,
    pub offset: u64,
    pub commit: OperationRef,
}

/// Evidence for one anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Witness {
    MissingWrite(MissingWrite),
    Duplicate(DuplicateWitness),
    InconsistentOffset(InconsistentOffsetWitness),
    BadRead(BadReadWitness),
    Order(OrderWitness),
    Cycle(CycleWitness),
    Consumption(ConsumptionWitness),
    OffsetRegression(OffsetRegressionWitness),
}

/// Everything found, per anomaly: how many, and the first witnesses up to a limit.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    witnesses_per_anomaly_max: usize,
    pub by_kind: BTreeMap<AnomalyKind, Found>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub count: u64,
    pub witnesses: Vec<Witness>,
}

impl Findings {
    pub fn new(witnesses_per_anomaly_max: usize) -> Self {
        Self {
            witnesses_per_anomaly_max,
            by_kind: BTreeMap::new(),
        }
    }

    /// Records one occurrence of `kind`; builds the witness only while under the limit.
    pub fn add(&mut self, kind: AnomalyKind, witness: impl FnOnce() -> Witness) {
        let found = self.by_kind.entry(kind).or_default();
        found.count += 1;
        if found.witnesses.len() < self.witnesses_per_anomaly_max {
            found.witnesses.push(witness());
        }
    }

    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.by_kind.get(&kind).map_or(0, |found| found.count)
    }
}
