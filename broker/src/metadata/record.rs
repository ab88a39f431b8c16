//! Records of the metadata log.
//!
//! Every record states the full new value it sets, with its epochs, so that applying it is a
//! check-and-assign and a reader of the log needs no other context.

use serde::{Deserialize, Serialize};

/// One record of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// Appended by each new Raft leader, so that entries of earlier terms commit with it.
    LeaderNoOp { leader: u32 },
    /// The topics of the cluster configuration, written once by the first active controller.
    Bootstrap { topics: Vec<TopicRecord> },
    /// A topic created at run time.
    CreateTopic(TopicRecord),
    /// A broker (re-)registered. Its broker epoch is the log index of this record.
    RegisterBroker {
        broker: u32,
        incarnation: u64,
        broker_epoch: u64,
    },
    /// A broker's session expired: it may not lead or join an ISR until it registers again.
    FenceBroker { broker: u32, broker_epoch: u64 },
    /// A partition's new leader, leader epoch, ISR and partition epoch.
    PartitionChange(PartitionChange),
}

/// A topic and the initial state of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub min_insync_replicas: u32,
    /// Replicas of each partition, the preferred leader first.
    pub replicas: Vec<Vec<u32>>,
}

/// The new state of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic: String,
    pub partition: u32,
    pub leader: Option<u32>,
    /// Bumped whenever the leader changes.
    pub leader_epoch: u64,
    pub isr: Vec<u32>,
    /// Bumped by every change to the partition.
    pub partition_epoch: u64,
}
