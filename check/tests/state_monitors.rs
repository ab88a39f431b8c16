//! Property tests of the replica monitor: healthy replication (a leader appending with sparse
//! offsets, followers fetching at their own pace, high watermarks following the ISR's progress,
//! the log start moving up) never fires; changing one record below a follower's high watermark
//! in place is caught by a full audit at once, and by per-step observation within one rotation
//! of its rolling audit.

use check::state::replicas::AUDIT_RECORDS_PER_OBSERVATION;
use check::state::{RecordId, ReplicaMonitor, ReplicaSnapshot, StateViolation};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FOLLOWERS: u32 = 2;

/// One step of a healthy partition: the replicas' snapshots after it.
struct Partition {
    random: ChaCha8Rng,
    leader: Vec<RecordId>,
    next_offset: u64,
    /// Per follower: how many of the leader's records it holds, and its high watermark.
    followers: Vec<(usize, u64)>,
    log_start_offset: u64,
}

impl Partition {
    fn new(seed: u64) -> Self {
        Self {
            random: ChaCha8Rng::seed_from_u64(seed),
            leader: Vec::new(),
            next_offset: 0,
            followers: vec![(0, 0); FOLLOWERS as usize],
            log_start_offset: 0,
        }
    }

    fn leader_high_watermark(&self) -> u64 {
        let held = self
            .followers
            .iter()
            .map(|&(held, _)| held)
            .min()
            .unwrap_or(0);
        match held {
            0 => self.log_start_offset.min(self.next_offset),
            held => self.leader[held - 1].offset + 1,
        }
    }

    fn step(&mut self) {
        for _ in 0..self.random.random_range(0..3) {
            // Sparse offsets: a transaction marker now and then.
            self.next_offset += self.random.random_range(0..2);
            self.leader.push(RecordId {
                offset: self.next_offset,
                leader_epoch: 1,
                digest: self.next_offset.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            });
            self.next_offset += 1;
        }
        let leader_high_watermark = self.leader_high_watermark();
        for follower in 0..self.followers.len() {
            if self.random.random_bool(0.5) {
                let (held, _) = self.followers[follower];
                let fetched = self.random.random_range(held..=self.leader.len());
                let own_end = if fetched == 0 {
                    0
                } else {
                    self.leader[fetched - 1].offset + 1
                };
                self.followers[follower] = (fetched, leader_high_watermark.min(own_end));
            }
        }
        if self.random.random_bool(0.05) {
            self.log_start_offset = self.log_start_offset.max(self.leader_high_watermark() / 2);
        }
    }

    fn snapshots(&self) -> Vec<ReplicaSnapshot> {
        let visible = |records: &[RecordId]| -> Vec<RecordId> {
            records
                .iter()
                .copied()
                .filter(|record| record.offset >= self.log_start_offset)
                .collect()
        };
        let mut snapshots = vec![ReplicaSnapshot {
            node: 0,
            topic: "orders".to_string(),
            partition: 0,
            leader_epoch: 1,
            is_leader: true,
            high_watermark: self.leader_high_watermark().max(self.log_start_offset),
            log_start_offset: self.log_start_offset,
            records: visible(&self.leader),
        }];
        for (follower, &(held, high_watermark)) in self.followers.iter().enumerate() {
            snapshots.push(ReplicaSnapshot {
                node: follower as u32 + 1,
                topic: "orders".to_string(),
                partition: 0,
                leader_epoch: 1,
                is_leader: false,
                high_watermark: high_watermark.max(self.log_start_offset.min(high_watermark)),
                log_start_offset: self.log_start_offset.min(high_watermark),
                records: visible(&self.leader[..held]),
            });
        }
        snapshots
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn healthy_replication_never_fires(seed in any::<u64>(), steps in 1usize..300) {
        let mut partition = Partition::new(seed);
        let mut monitor = ReplicaMonitor::new();
        for time_ns in 0..steps as u64 {
            partition.step();
            let snapshots = partition.snapshots();
            prop_assert!(monitor.observe(time_ns, &snapshots).is_ok(), "seed {seed} step {time_ns}: {:?}", monitor.observe(time_ns, &snapshots));
        }
    }

    #[test]
    fn a_changed_record_below_a_followers_high_watermark_fires(seed in any::<u64>(), steps in 20usize..300, choice in any::<usize>()) {
        let mut partition = Partition::new(seed);
        let mut monitor = ReplicaMonitor::new();
        for time_ns in 0..steps as u64 {
            partition.step();
            monitor.observe(time_ns, &partition.snapshots()).expect("healthy so far");
        }
        let mut snapshots = partition.snapshots();
        let follower = &mut snapshots[1 + choice % FOLLOWERS as usize];
        let below: Vec<usize> = (0..follower.records.len())
            .filter(|&position| follower.records[position].offset < follower.high_watermark)
            .collect();
        prop_assume!(!below.is_empty());
        let position = below[choice % below.len()];
        follower.records[position].digest ^= 1;
        let held = follower.records.len();
        // Per-step observation catches it within a rotation of the audit.
        let rotation = held / AUDIT_RECORDS_PER_OBSERVATION + 2;
        let caught = (0..rotation).find_map(|round| monitor.observe(steps as u64 + round as u64, &snapshots).err());
        prop_assert!(matches!(caught, Some(StateViolation::CommittedRecordDiverged { .. })), "{caught:?}");
    }

    #[test]
    fn a_full_audit_catches_a_changed_record_at_once(seed in any::<u64>(), steps in 20usize..300, choice in any::<usize>()) {
        let mut partition = Partition::new(seed);
        let mut monitor = ReplicaMonitor::new();
        for time_ns in 0..steps as u64 {
            partition.step();
            monitor.observe(time_ns, &partition.snapshots()).expect("healthy so far");
        }
        let mut snapshots = partition.snapshots();
        prop_assert!(monitor.audit(steps as u64, &snapshots).is_ok());
        let follower = &mut snapshots[1 + choice % FOLLOWERS as usize];
        let below: Vec<usize> = (0..follower.records.len())
            .filter(|&position| follower.records[position].offset < follower.high_watermark)
            .collect();
        prop_assume!(!below.is_empty());
        let position = below[choice % below.len()];
        follower.records[position].digest ^= 1;
        let violation = monitor.audit(steps as u64, &snapshots);
        prop_assert!(matches!(violation, Err(StateViolation::CommittedRecordDiverged { .. })), "{violation:?}");
    }
}
