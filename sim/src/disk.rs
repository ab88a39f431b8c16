//! The disk model: a durable image plus writes pending in the page cache.
//!
//! Fault model:
//! - A write is pending until a sync issued after it completes; only then is it in the durable
//!   image. A crash discards every pending write, or, when `torn_writes_on_crash` is on, keeps a
//!   seeded prefix of them (the writes that happened to reach the platter).
//! - While write faults are on, a write is rejected: it never reaches the page cache and the node
//!   is told (`DiskWriteFailed`).
//! - While sync faults are on, a completing sync fails and the pending writes it covered are
//!   dropped (as Linux does after a failed fsync). The node is told (`DiskSyncDone` with `Err`).
//!
//! Invariant: `pending` holds exactly the writes with sequence numbers
//! `pending_first_sequence .. pending_first_sequence + pending.len()`, in issue order.

use std::collections::VecDeque;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::distribution::Latency;
use crate::process::Storage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// How long an fsync takes.
    pub sync_latency: Latency,
    /// On a crash, keep a seeded prefix of the pending writes instead of none.
    pub torn_writes_on_crash: bool,
    /// The most writes that may wait in the page cache; one more is a bug in the node (it must
    /// sync). Bounds memory.
    pub pending_writes_max: usize,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            sync_latency: Latency::Uniform {
                min_ns: 100_000,
                max_ns: 2_000_000,
            },
            torn_writes_on_crash: false,
            pending_writes_max: 1 << 20,
        }
    }
}

impl DiskConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.sync_latency.validate("disk.sync_latency")?;
        if self.pending_writes_max == 0 {
            return Err("disk.pending_writes_max: must be positive".to_string());
        }
        Ok(())
    }
}

/// What happened to pending writes at a crash or a sync.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub made_durable: u64,
    pub lost: u64,
}

#[derive(Clone, Debug)]
pub struct Disk<S: Storage> {
    durable: S,
    pending: VecDeque<S::Write>,
    pending_first_sequence: u64,
    pending_writes_max: usize,
    /// While set, writes are rejected.
    pub write_faults: bool,
    /// While set, syncs fail and drop what they covered.
    pub sync_faults: bool,
}

impl<S: Storage> Disk<S> {
    pub fn new(pending_writes_max: usize) -> Self {
        Disk {
            durable: S::default(),
            pending: VecDeque::new(),
            pending_first_sequence: 0,
            pending_writes_max,
            write_faults: false,
            sync_faults: false,
        }
    }

    /// What survives a crash right now.
    pub fn durable(&self) -> &S {
        &self.durable
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The sequence number the next write will get; a sync covers every write below it.
    pub fn next_sequence(&self) -> u64 {
        self.pending_first_sequence + self.pending.len() as u64
    }

    /// Queues a write. Returns false if a write fault rejected it.
    pub fn write(&mut self, write: S::Write) -> bool {
        if self.write_faults {
            return false;
        }
        assert!(
            self.pending.len() < self.pending_writes_max,
            "node exceeded disk.pending_writes_max ({}) without syncing",
            self.pending_writes_max
        );
        self.pending.push_back(write);
        true
    }

    /// Completes a sync that covers every write with a sequence number below `sequence_end`.
    /// Returns whether it succeeded and what happened to the writes it covered.
    pub fn complete_sync(&mut self, sequence_end: u64) -> (bool, WriteOutcome) {
        let covered = sequence_end.saturating_sub(self.pending_first_sequence);
        let covered = covered.min(self.pending.len() as u64);
        let succeeded = !self.sync_faults;
        for _ in 0..covered {
            let write = self
                .pending
                .pop_front()
                .expect("covered writes are pending");
            if succeeded {
                self.durable.apply_owned(write);
            }
        }
        self.pending_first_sequence += covered;
        let outcome = if succeeded {
            WriteOutcome {
                made_durable: covered,
                lost: 0,
            }
        } else {
            WriteOutcome {
                made_durable: 0,
                lost: covered,
            }
        };
        (succeeded, outcome)
    }

    /// Loses the page cache: pending writes vanish, or a seeded prefix of them survives when
    /// `torn` is set. Write and sync faults belong to the disk and outlive the crash.
    pub fn crash(&mut self, torn: bool, rng: &mut impl Rng) -> WriteOutcome {
        let pending = self.pending.len() as u64;
        let survivors = if torn && pending > 0 {
            rng.random_range(0..=pending)
        } else {
            0
        };
        for _ in 0..survivors {
            let write = self.pending.pop_front().expect("survivors are pending");
            self.durable.apply_owned(write);
        }
        let lost = self.pending.len() as u64;
        self.pending_first_sequence += pending;
        self.pending.clear();
        WriteOutcome {
            made_durable: survivors,
            lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::seed::{Stream, stream};

    use super::*;

    #[derive(Clone, Debug, Default, PartialEq)]
    struct Log(Vec<u32>);

    impl Storage for Log {
        type Write = u32;
        fn apply(&mut self, write: &u32) {
            self.0.push(*write);
        }
    }

    #[test]
    fn only_synced_writes_survive_a_crash() {
        let mut disk = Disk::<Log>::new(16);
        let mut rng = stream(0, Stream::Disk);
        disk.write(1);
        disk.write(2);
        let sync_end = disk.next_sequence();
        disk.write(3);
        assert_eq!(
            disk.complete_sync(sync_end),
            (
                true,
                WriteOutcome {
                    made_durable: 2,
                    lost: 0
                }
            )
        );
        assert_eq!(disk.durable(), &Log(vec![1, 2]));
        assert_eq!(
            disk.crash(false, &mut rng),
            WriteOutcome {
                made_durable: 0,
                lost: 1
            }
        );
        assert_eq!(disk.durable(), &Log(vec![1, 2]));
        assert_eq!(disk.next_sequence(), 3);
    }

    #[test]
    fn a_failed_sync_drops_what_it_covered() {
        let mut disk = Disk::<Log>::new(16);
        disk.write(1);
        disk.sync_faults = true;
        let (succeeded, outcome) = disk.complete_sync(disk.next_sequence());
        assert!(!succeeded);
        assert_eq!(outcome.lost, 1);
        disk.sync_faults = false;
        disk.write(2);
        assert!(disk.complete_sync(disk.next_sequence()).0);
        assert_eq!(disk.durable(), &Log(vec![2]));
    }

    #[test]
    fn rejected_writes_never_reach_the_cache() {
        let mut disk = Disk::<Log>::new(16);
        disk.write_faults = true;
        assert!(!disk.write(1));
        assert_eq!(disk.pending_count(), 0);
    }

    #[test]
    fn torn_crashes_keep_a_prefix() {
        let mut rng = stream(3, Stream::Disk);
        let mut kept_some = false;
        for _ in 0..50 {
            let mut disk = Disk::<Log>::new(16);
            (1..=5).for_each(|value| assert!(disk.write(value)));
            let outcome = disk.crash(true, &mut rng);
            let survived = &disk.durable().0;
            assert_eq!(survived.as_slice(), &[1, 2, 3, 4, 5][..survived.len()]);
            assert_eq!(outcome.made_durable + outcome.lost, 5);
            kept_some |= !survived.is_empty();
        }
        assert!(kept_some);
    }
}
