//! What clients report: one history event per invocation and per completion, mirroring
//! `shared/design/HISTORY.md` (the driver adds the time and converts to the history format).
//!
//! A client is one history process: after an `Invoke` comes exactly one `Ok`, `Fail` or `Info`
//! of the same process before its next `Invoke`.

use crate::topic::TopicName;

/// The type of a history event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Invoke,
    /// It happened.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

/// One record of a send: `offset` is `None` on invoke and where unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SentRecord {
    pub topic: TopicName,
    pub partition: u32,
    pub value: u64,
    pub offset: Option<u64>,
}

/// What one poll returned from one partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolledRecords {
    pub topic: TopicName,
    pub partition: u32,
    /// `(offset, value)`, in the order received.
    pub records: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOperation {
    /// Offsets `None` on invoke.
    Send(Vec<SentRecord>),
    /// A transactional producer's transaction: its sends, all committed (`ok`), aborted (`fail`)
    /// or unknown (`info`) together. Offsets `None` on invoke.
    Txn(Vec<SentRecord>),
    /// Empty on invoke.
    Poll(Vec<PolledRecords>),
    Assign(Vec<(String, u32)>),
    /// A group consumer's topics.
    Subscribe(Vec<String>),
    /// `None` on invoke; on `ok` the new generation and the assignment (sorted).
    Rebalance(Option<(u64, Vec<(String, u32)>)>),
    /// `(topic, partition, next offset)`: the same on invoke and completion.
    Commit(Vec<(String, u32, u64)>),
    /// A group consumer's offsets committed inside a transaction of their own, with the records
    /// its processing wrote in it, if any (HISTORY.md: a `txn` of `send` micro-operations then
    /// one `commit`). Offsets are `(topic, partition, next offset)`, the same on invoke and
    /// completion; the sends' offsets are `None` on invoke and where unknown.
    TxnCommit {
        sent: Vec<SentRecord>,
        offsets: Vec<(String, u32, u64)>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientEvent {
    pub process: u64,
    /// The consumer group, for a group consumer's events.
    pub group: Option<String>,
    pub kind: EventKind,
    pub operation: ClientOperation,
}
