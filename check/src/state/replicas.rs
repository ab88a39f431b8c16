//! The data plane: records below each replica's high watermark are identical on every replica
//! holding them and never change once below a high watermark; the leader's high watermark never
//! decreases within a leader epoch; at most one replica claims leadership per (topic, partition,
//! leader epoch).
//!
//! Source: Kafka's replication design (consumers read only below the high watermark, which is
//! therefore committed), KIP-101 and KIP-279 (truncation by leader epoch, so that committed records
//! never diverge), KIP-320 (fencing by leader epoch).
//!
//! The monitor keeps, per partition, every committed record it saw (offset -> record) and, per
//! replica, the offset below which its log was already verified. Each observation re-checks the
//! last verified record (a cheap sentinel against rewritten logs) and scans only the records
//! newly below the replica's high watermark. A replica that does not hold an offset (deleted below
//! its log start offset, or a gap) is excused: the invariant is about the records it holds.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::StateViolation;

/// The identity of a record in a partition's log: its offset, the leader epoch it was appended
/// in, and a digest of its key, value and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordId {
    pub offset: u64,
    pub leader_epoch: u64,
    pub digest: u64,
}

impl fmt::Display for RecordId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "record(offset {}, leader epoch {}, digest {:#018x})",
            self.offset, self.leader_epoch, self.digest
        )
    }
}

/// One replica of one partition, as the simulator sees it after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSnapshot {
    pub node: u32,
    pub topic: String,
    pub partition: u32,
    pub leader_epoch: u64,
    pub is_leader: bool,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// The records held, in increasing offset order (offsets may be sparse).
    pub records: Vec<RecordId>,
}

impl ReplicaSnapshot {
    /// The offset the next appended record would get.
    pub fn log_end_offset(&self) -> u64 {
        self.records
            .last()
            .map_or(self.log_start_offset, |record| record.offset + 1)
    }
}

/// A record first seen below a high watermark, and the replica that showed it.
#[derive(Debug, Clone, Copy)]
struct CommittedRecord {
    record: RecordId,
    node: u32,
}

/// The leader of one leader epoch and the highest high watermark it reported.
#[derive(Debug, Clone, Copy)]
struct EpochLeader {
    node: u32,
    /// `None` after the leader restarted: its next report sets a new baseline.
    high_watermark: Option<u64>,
}

/// How far one replica's log was verified.
#[derive(Debug, Clone, Copy, Default)]
struct ReplicaProgress {
    /// Records with offsets below this were verified against the committed records.
    verified_offset: u64,
    /// The offset of the last record verified, if any: re-checked on each observation.
    sentinel_offset: Option<u64>,
}

#[derive(Debug, Default)]
struct PartitionState {
    committed: BTreeMap<u64, CommittedRecord>,
    leader_by_epoch: BTreeMap<u64, EpochLeader>,
    progress_by_node: BTreeMap<u32, ReplicaProgress>,
}

/// Checks the data plane across a whole run.
#[derive(Debug, Default)]
pub struct ReplicaMonitor {
    /// topic -> partition -> state.
    partitions: BTreeMap<String, BTreeMap<u32, PartitionState>>,
}

impl ReplicaMonitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every replica after a step. Returns the first violation found.
    pub fn observe(
        &mut self,
        time_ns: u64,
        replicas: &[ReplicaSnapshot],
    ) -> Result<(), StateViolation> {
        for replica in replicas {
            let state = self.partition_state(&replica.topic, replica.partition);
            check_high_watermark_within_log(time_ns, replica)?;
            state.observe_leadership(time_ns, replica)?;
            state.observe_records(time_ns, replica)?;
        }
        Ok(())
    }

    /// A restarted node may lead again in the same leader epoch with a high watermark recovered
    /// from its checkpoint (lower than before): forget its high watermark baselines and re-verify
    /// its logs from the start.
    pub fn node_restarted(&mut self, node: u32) {
        for state in self.partitions.values_mut().flat_map(BTreeMap::values_mut) {
            state.progress_by_node.remove(&node);
            for leader in state.leader_by_epoch.values_mut() {
                if leader.node == node {
                    leader.high_watermark = None;
                }
            }
        }
    }

    fn partition_state(&mut self, topic: &str, partition: u32) -> &mut PartitionState {
        let by_partition = if self.partitions.contains_key(topic) {
            self.partitions.get_mut(topic).expect("checked just above")
        } else {
            self.partitions.entry(topic.to_string()).or_default()
        };
        by_partition.entry(partition).or_default()
    }
}

impl PartitionState {
    fn observe_leadership(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
    ) -> Result<(), StateViolation> {
        if !replica.is_leader {
            return Ok(());
        }
        let leader = self
            .leader_by_epoch
            .entry(replica.leader_epoch)
            .or_insert(EpochLeader {
                node: replica.node,
                high_watermark: None,
            });
        if leader.node != replica.node {
            return Err(StateViolation::TwoReplicaLeaders {
                time_ns,
                topic: replica.topic.clone(),
                partition: replica.partition,
                leader_epoch: replica.leader_epoch,
                first_node: leader.node,
                second_node: replica.node,
            });
        }
        if let Some(previous) = leader.high_watermark
            && replica.high_watermark < previous
        {
            return Err(StateViolation::HighWatermarkDecreased {
                time_ns,
                node: replica.node,
                topic: replica.topic.clone(),
                partition: replica.partition,
                leader_epoch: replica.leader_epoch,
                previous_high_watermark: previous,
                high_watermark: replica.high_watermark,
            });
        }
        leader.high_watermark = Some(replica.high_watermark);
        Ok(())
    }

    fn observe_records(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
    ) -> Result<(), StateViolation> {
        let progress = *self.progress_by_node.entry(replica.node).or_default();
        let verified_offset = progress.verified_offset.min(replica.high_watermark);
        if let Some(sentinel_offset) = progress.sentinel_offset
            && sentinel_offset < verified_offset
        {
            self.check_sentinel(time_ns, replica, sentinel_offset)?;
        }
        let scan_from = verified_offset.max(replica.log_start_offset);
        let start = replica
            .records
            .partition_point(|record| record.offset < scan_from);
        let mut sentinel_offset = progress
            .sentinel_offset
            .filter(|&offset| offset < verified_offset);
        let mut previous_offset: Option<u64> = None;
        for record in replica.records[start..]
            .iter()
            .take_while(|record| record.offset < replica.high_watermark)
        {
            check_order(time_ns, replica, previous_offset, record.offset)?;
            self.check_record(time_ns, replica, record)?;
            previous_offset = Some(record.offset);
            sentinel_offset = Some(record.offset);
        }
        self.progress_by_node.insert(
            replica.node,
            ReplicaProgress {
                verified_offset: replica.high_watermark,
                sentinel_offset,
            },
        );
        Ok(())
    }

    fn check_sentinel(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        sentinel_offset: u64,
    ) -> Result<(), StateViolation> {
        let found = replica
            .records
            .binary_search_by_key(&sentinel_offset, |record| record.offset);
        match found {
            Ok(position) => self.check_record(time_ns, replica, &replica.records[position]),
            // Deleted below the log start offset, or not held: excused.
            Err(_) => Ok(()),
        }
    }

    /// Checks one record below the replica's high watermark against the committed record at its
    /// offset, recording it as committed when it is the first seen there.
    fn check_record(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        record: &RecordId,
    ) -> Result<(), StateViolation> {
        let committed = *self
            .committed
            .entry(record.offset)
            .or_insert(CommittedRecord {
                record: *record,
                node: replica.node,
            });
        if committed.record != *record {
            return Err(StateViolation::CommittedRecordDiverged {
                time_ns,
                node: replica.node,
                topic: replica.topic.clone(),
                partition: replica.partition,
                offset: record.offset,
                committed: committed.record,
                committed_by_node: committed.node,
                found: *record,
            });
        }
        Ok(())
    }
}

fn check_high_watermark_within_log(
    time_ns: u64,
    replica: &ReplicaSnapshot,
) -> Result<(), StateViolation> {
    let log_end_offset = replica.log_end_offset();
    if replica.high_watermark > log_end_offset {
        return Err(StateViolation::HighWatermarkBeyondLog {
            time_ns,
            node: replica.node,
            topic: replica.topic.clone(),
            partition: replica.partition,
            high_watermark: replica.high_watermark,
            log_end_offset,
        });
    }
    Ok(())
}

fn check_order(
    time_ns: u64,
    replica: &ReplicaSnapshot,
    previous_offset: Option<u64>,
    offset: u64,
) -> Result<(), StateViolation> {
    match previous_offset {
        Some(previous_offset) if previous_offset >= offset => {
            Err(StateViolation::RecordsOutOfOrder {
                time_ns,
                node: replica.node,
                topic: replica.topic.clone(),
                partition: replica.partition,
                previous_offset,
                offset,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: u64, leader_epoch: u64, digest: u64) -> RecordId {
        RecordId {
            offset,
            leader_epoch,
            digest,
        }
    }

    fn replica(
        node: u32,
        leader_epoch: u64,
        is_leader: bool,
        high_watermark: u64,
        records: &[RecordId],
    ) -> ReplicaSnapshot {
        ReplicaSnapshot {
            node,
            topic: "orders".to_string(),
            partition: 0,
            leader_epoch,
            is_leader,
            high_watermark,
            log_start_offset: 0,
            records: records.to_vec(),
        }
    }

    /// Replication with a lagging follower, a divergent uncommitted tail truncated after a
    /// failover (KIP-101), sparse offsets, and a follower learning the HW late. Nothing fires.
    #[test]
    fn good_sequence_stays_quiet() {
        let mut monitor = ReplicaMonitor::new();
        let a = record(0, 1, 100);
        let b = record(1, 1, 101);
        let marker = record(3, 1, 103);
        monitor
            .observe(
                1,
                &[
                    replica(1, 1, true, 1, &[a, b]),
                    replica(2, 1, false, 0, &[a]),
                ],
            )
            .unwrap();
        monitor
            .observe(
                2,
                &[
                    replica(1, 1, true, 4, &[a, b, marker, record(4, 1, 999)]),
                    replica(2, 1, false, 2, &[a, b, marker]),
                ],
            )
            .unwrap();
        // Failover: node 2 leads epoch 2; node 1's uncommitted offset 4 is replaced.
        let c = record(4, 2, 104);
        monitor
            .observe(
                3,
                &[
                    replica(2, 2, true, 5, &[a, b, marker, c]),
                    replica(1, 2, false, 5, &[a, b, marker, c]),
                ],
            )
            .unwrap();
    }

    #[test]
    fn divergent_records_below_high_watermark_fire() {
        let mut monitor = ReplicaMonitor::new();
        let violation = monitor
            .observe(
                1,
                &[
                    replica(1, 1, true, 2, &[record(0, 1, 1), record(1, 1, 2)]),
                    replica(2, 1, false, 2, &[record(0, 1, 1), record(1, 1, 3)]),
                ],
            )
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedRecordDiverged {
                node: 2,
                offset: 1,
                committed_by_node: 1,
                ..
            }
        ));
    }

    /// Bug zoo 1 shape: a committed record is replaced after a truncation and re-fetch.
    #[test]
    fn committed_record_replaced_later_fires() {
        let mut monitor = ReplicaMonitor::new();
        monitor
            .observe(1, &[replica(1, 1, true, 1, &[record(0, 1, 1)])])
            .unwrap();
        let violation = monitor
            .observe(2, &[replica(1, 2, true, 1, &[record(0, 2, 9)])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedRecordDiverged { offset: 0, .. }
        ));
    }

    #[test]
    fn leader_high_watermark_going_backwards_fires() {
        let mut monitor = ReplicaMonitor::new();
        let records = [record(0, 1, 1), record(1, 1, 2)];
        monitor
            .observe(1, &[replica(1, 1, true, 2, &records)])
            .unwrap();
        let violation = monitor
            .observe(2, &[replica(1, 1, true, 1, &records)])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::HighWatermarkDecreased {
                previous_high_watermark: 2,
                high_watermark: 1,
                ..
            }
        ));
        // After a restart the same epoch may report a lower baseline.
        let mut monitor = ReplicaMonitor::new();
        monitor
            .observe(1, &[replica(1, 1, true, 2, &records)])
            .unwrap();
        monitor.node_restarted(1);
        monitor
            .observe(2, &[replica(1, 1, true, 1, &records)])
            .unwrap();
    }

    #[test]
    fn two_leaders_in_one_epoch_fire() {
        let mut monitor = ReplicaMonitor::new();
        let violation = monitor
            .observe(
                1,
                &[replica(1, 3, true, 0, &[]), replica(2, 3, true, 0, &[])],
            )
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::TwoReplicaLeaders {
                leader_epoch: 3,
                first_node: 1,
                second_node: 2,
                ..
            }
        ));
    }

    #[test]
    fn high_watermark_beyond_log_fires() {
        let mut monitor = ReplicaMonitor::new();
        let violation = monitor
            .observe(1, &[replica(1, 1, true, 2, &[record(0, 1, 1)])])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::HighWatermarkBeyondLog { .. }
        ));
    }
}
