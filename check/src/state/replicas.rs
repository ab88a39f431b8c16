//! The data plane: records below each replica's high watermark are identical on every replica
//! holding them and never change once below a high watermark; the leader's high watermark never
//! decreases within a leader epoch; at most one replica claims leadership per (topic, partition,
//! leader epoch).
//!
//! Source: Kafka's replication design (consumers read only below the high watermark, which is
//! therefore committed), KIP-101 and KIP-279 (truncation by leader epoch, so that committed records
//! never diverge), KIP-320 (fencing by leader epoch).
//!
//! The monitor keeps, per partition, every committed record it saw (by offset) and, per
//! replica, the offset below which its log was already verified. Each observation re-checks the
//! last verified record (a cheap sentinel: logs are rewritten by truncating and appending, which
//! replaces it), scans only the records newly below the replica's high watermark, and audits a
//! few older verified records in rotation, so that a record changed in place is caught within
//! (records / [`AUDIT_RECORDS_PER_OBSERVATION`]) observations. [`ReplicaMonitor::audit`] checks
//! everything at once (for a run's final checks). A replica that does not hold an offset (deleted below
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

/// How many already-verified records of each replica one observation re-checks, in rotation.
pub const AUDIT_RECORDS_PER_OBSERVATION: usize = 4;

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
    /// The last record verified, if any: re-checked on each observation.
    sentinel: Option<Sentinel>,
    /// The position in the replica's records where the next audit starts.
    audit_position: usize,
}

/// The last verified record of a replica, with where it was found (hints that make the next
/// observation's lookups O(1) when the log only grew).
#[derive(Debug, Clone, Copy)]
struct Sentinel {
    offset: u64,
    /// Its index in the replica's `records`.
    position: usize,
    /// Its index in the partition's committed records.
    committed_position: usize,
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Every record seen below a high watermark, by increasing offset (sparse offsets allowed).
    /// Appends are the common case; a lookup is a binary search over contiguous memory.
    committed: Vec<CommittedRecord>,
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

    /// Checks every record every replica holds below its high watermark against the committed
    /// records, however long ago it was verified: O(records). For a run's final checks; the
    /// per-step [`observe`](Self::observe) audits a few records at a time.
    pub fn audit(
        &mut self,
        time_ns: u64,
        replicas: &[ReplicaSnapshot],
    ) -> Result<(), StateViolation> {
        for replica in replicas {
            self.observe(time_ns, std::slice::from_ref(replica))?;
            let state = self.partition_state(&replica.topic, replica.partition);
            state.audit_all(time_ns, replica)?;
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

    /// Verifies the replica's records below its high watermark: the sentinel, the records new
    /// since the last observation, and a few older ones in rotation.
    fn observe_records(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
    ) -> Result<(), StateViolation> {
        let progress = *self.progress_by_node.entry(replica.node).or_default();
        let verified_offset = progress.verified_offset.min(replica.high_watermark);
        let previous = progress
            .sentinel
            .filter(|sentinel| sentinel.offset < verified_offset);
        let rechecked = match previous {
            Some(previous) => self.recheck_sentinel(time_ns, replica, previous)?,
            None => None,
        };
        let scan_from = verified_offset.max(replica.log_start_offset);
        let start = match rechecked {
            Some(sentinel)
                if replica
                    .records
                    .get(sentinel.position + 1)
                    .is_none_or(|record| record.offset >= scan_from) =>
            {
                sentinel.position + 1
            }
            _ => replica
                .records
                .partition_point(|record| record.offset < scan_from),
        };
        let scanned = self.scan_new_records(time_ns, replica, start, rechecked)?;
        // The records known, in this snapshot, to be verified (up to this sentinel): the
        // audit's range.
        let audit_position = match scanned.or(rechecked) {
            Some(verified) => {
                self.audit_records(time_ns, replica, progress.audit_position, verified)?
            }
            None => 0,
        };
        self.progress_by_node.insert(
            replica.node,
            ReplicaProgress {
                verified_offset: replica.high_watermark,
                sentinel: scanned.or(rechecked).or(previous),
                audit_position,
            },
        );
        Ok(())
    }

    /// The last record verified earlier must still be the committed one. Returns where it is
    /// now, or `None` if the replica no longer holds it (deleted below its log start: excused).
    fn recheck_sentinel(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        previous: Sentinel,
    ) -> Result<Option<Sentinel>, StateViolation> {
        let Some(position) = locate(&replica.records, previous.offset, previous.position) else {
            return Ok(None);
        };
        let committed_position =
            self.check_record(time_ns, replica, position, previous.committed_position)?;
        Ok(Some(Sentinel {
            offset: previous.offset,
            position,
            committed_position,
        }))
    }

    /// Verifies the records from `start` up to the high watermark; returns the last one.
    fn scan_new_records(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        start: usize,
        sentinel: Option<Sentinel>,
    ) -> Result<Option<Sentinel>, StateViolation> {
        let mut last = None;
        let mut previous_offset: Option<u64> = None;
        let mut committed_hint = sentinel.map_or(0, |sentinel| sentinel.committed_position + 1);
        for position in start..replica.records.len() {
            let record = replica.records[position];
            if record.offset >= replica.high_watermark {
                break;
            }
            check_order(time_ns, replica, previous_offset, record.offset)?;
            let committed_position =
                self.check_record(time_ns, replica, position, committed_hint)?;
            previous_offset = Some(record.offset);
            committed_hint = committed_position + 1;
            last = Some(Sentinel {
                offset: record.offset,
                position,
                committed_position,
            });
        }
        Ok(last)
    }

    /// Re-checks up to [`AUDIT_RECORDS_PER_OBSERVATION`] verified records (positions up to
    /// `verified`'s) from position `start`, wrapping around; returns where the next audit starts.
    fn audit_records(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        start: usize,
        verified: Sentinel,
    ) -> Result<usize, StateViolation> {
        let end = verified.position + 1;
        // Where record `position` is among the committed records if both are dense (the usual
        // case; otherwise the lookup searches): a hint, so a snapshot that holds only the last
        // few records is audited without a binary search per record.
        let hint = |position: usize| {
            (verified.committed_position + position).wrapping_sub(verified.position)
        };
        let mut position = if start < end { start } else { 0 };
        for _ in 0..AUDIT_RECORDS_PER_OBSERVATION.min(end) {
            if replica.records[position].offset >= replica.log_start_offset {
                self.check_record(time_ns, replica, position, hint(position))?;
            }
            position += 1;
            if position == end {
                position = 0;
            }
        }
        Ok(position)
    }

    /// Checks every record the replica holds below its high watermark.
    fn audit_all(&mut self, time_ns: u64, replica: &ReplicaSnapshot) -> Result<(), StateViolation> {
        let start = replica
            .records
            .partition_point(|record| record.offset < replica.log_start_offset);
        let mut hint = usize::MAX;
        for position in start..replica.records.len() {
            if replica.records[position].offset >= replica.high_watermark {
                break;
            }
            hint = self.check_record(time_ns, replica, position, hint.wrapping_add(1))?;
        }
        Ok(())
    }

    /// Where a record at `offset` is, or would go, among the committed records; `hint` is the
    /// likely answer (checked first).
    fn committed_position(&self, offset: u64, hint: usize) -> usize {
        if let Some(committed) = self.committed.get(hint)
            && committed.record.offset == offset
        {
            return hint;
        }
        match self.committed.last() {
            Some(last) if last.record.offset < offset => self.committed.len(),
            None => 0,
            Some(_) => self
                .committed
                .partition_point(|committed| committed.record.offset < offset),
        }
    }

    /// Checks the replica's record at `position` (below its high watermark) against the
    /// committed record at its offset, recording it as committed when it is the first seen
    /// there. Returns its index among the committed records.
    fn check_record(
        &mut self,
        time_ns: u64,
        replica: &ReplicaSnapshot,
        position: usize,
        committed_hint: usize,
    ) -> Result<usize, StateViolation> {
        let record = replica.records[position];
        let committed_position = self.committed_position(record.offset, committed_hint);
        let committed = match self.committed.get(committed_position) {
            Some(committed) if committed.record.offset == record.offset => *committed,
            _ => {
                let first = CommittedRecord {
                    record,
                    node: replica.node,
                };
                self.committed.insert(committed_position, first);
                first
            }
        };
        if committed.record != record {
            return Err(StateViolation::CommittedRecordDiverged {
                time_ns,
                node: replica.node,
                topic: replica.topic.clone(),
                partition: replica.partition,
                offset: record.offset,
                committed: committed.record,
                committed_by_node: committed.node,
                found: record,
            });
        }
        Ok(committed_position)
    }
}

/// The index of the record at `offset` in `records`, trying `hint` first.
fn locate(records: &[RecordId], offset: u64, hint: usize) -> Option<usize> {
    if records
        .get(hint)
        .is_some_and(|record| record.offset == offset)
    {
        return Some(hint);
    }
    records
        .binary_search_by_key(&offset, |record| record.offset)
        .ok()
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

    /// Records deleted from the front shift every position: the monitor's position hints go
    /// stale and it must still find and check the last verified record.
    #[test]
    fn rewrite_is_caught_after_the_log_start_moves() {
        let records: Vec<RecordId> = (0..4).map(|offset| record(offset, 1, offset)).collect();
        let mut trimmed = replica(1, 1, true, 5, &records[2..]);
        trimmed.records.push(record(4, 1, 4));
        trimmed.log_start_offset = 2;
        let mut monitor = ReplicaMonitor::new();
        monitor
            .observe(1, &[replica(1, 1, true, 4, &records)])
            .unwrap();
        monitor.observe(2, &[trimmed.clone()]).unwrap();
        let mut monitor = ReplicaMonitor::new();
        monitor
            .observe(1, &[replica(1, 1, true, 4, &records)])
            .unwrap();
        trimmed.records[1] = record(3, 1, 99);
        let violation = monitor.observe(2, &[trimmed]).unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedRecordDiverged { offset: 3, .. }
        ));
    }

    /// A lagging follower with sparse offsets is checked record by record against what the
    /// leader committed, in the middle of the committed records.
    #[test]
    fn lagging_follower_is_checked_in_the_middle_of_the_committed_records() {
        let leader_records = [
            record(0, 1, 0),
            record(2, 1, 2),
            record(5, 1, 5),
            record(6, 1, 6),
        ];
        let mut monitor = ReplicaMonitor::new();
        monitor
            .observe(1, &[replica(1, 1, true, 7, &leader_records)])
            .unwrap();
        monitor
            .observe(2, &[replica(2, 1, false, 3, &leader_records[..2])])
            .unwrap();
        let diverged = [record(0, 1, 0), record(2, 1, 2), record(5, 1, 55)];
        let violation = monitor
            .observe(3, &[replica(2, 1, false, 6, &diverged)])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::CommittedRecordDiverged {
                node: 2,
                offset: 5,
                committed_by_node: 1,
                ..
            }
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
