//! Tracking of disk writes and syncs: what a node may only do once its writes are durable.
//!
//! A node issues writes ([`crate::Output::DiskWrite`]) and syncs ([`crate::Output::DiskSync`]);
//! every write issued before a sync is durable once that sync succeeds. Actions that depend on
//! durable state (granting a vote, counting the candidate's own vote, acknowledging entries to the
//! leader, counting the leader's own copy) wait as [`Waiter`]s on the newest sync. A node issues
//! at most one sync per step: the first waiter that finds writes unsynced reserves it, later
//! waiters of the step share it, and it is issued last, so that it covers every write of the step
//! (a leader appending to several partitions, or a follower to several from one fetch answer,
//! syncs once, as Kafka flushes the log directories it wrote at once).
//!
//! Invariants: a waiter is released only by the success of a sync issued after every write that
//! preceded the waiter (except background writes, which nothing waits for); after a disk fault no
//! waiter is released until a full rewrite of the node's state has been synced; no sync is left
//! reserved at the end of a step.
//!
//! Fault handling: a failed write or sync parks every waiter and marks a rewrite pending. The node
//! rewrites its whole state after [`DISK_RETRY_INTERVAL_NS`] (not at once: a disk that rejects
//! every write would otherwise make the node rewrite forever without time passing), then defers
//! the parked waiters on the rewrite's sync. Waiters that arrive meanwhile are parked too.

use std::collections::VecDeque;

use crate::message::Message;
use crate::node::Output;
use crate::storage::{HardState, StorageWrite};

/// An action deferred until the writes issued before it are durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Waiter {
    /// Send a message that promises durable state (a vote, an acknowledgement of entries).
    Send { to: u32, message: Message },
    /// The leader of `term` holds entries `1..=index` durably.
    LeaderDurable { term: u64, index: u64 },
    /// The candidate of `term` has durably voted for itself.
    SelfVote { term: u64 },
    /// This hard state is synced.
    HardStateDurable(HardState),
    /// A partition leader's log is synced up to `end_offset` (in `leader_epoch`).
    LogDurable {
        topic: crate::topic::TopicName,
        partition: u32,
        leader_epoch: u64,
        end_offset: u64,
    },
}

/// Tags writes and syncs, and holds the waiters.
#[derive(Debug, Default)]
pub(crate) struct DiskTracker {
    tag_next: u64,
    /// Whether writes were issued since the last sync was issued.
    writes_unsynced: bool,
    /// The newest sync in flight or reserved, if any.
    sync_newest: Option<u64>,
    /// A sync reserved during this step, issued at its end ([`DiskTracker::issue_reserved_sync`]):
    /// one sync covers every write of the step, however many waiters asked for one.
    sync_reserved: Option<u64>,
    /// Waiters with the tag of the sync that releases them, in issue order (so by tag: a waiter
    /// always waits on the newest sync).
    waiters: VecDeque<(u64, Waiter)>,
    /// Whether a fault happened and the node has not rewritten its state since.
    rewrite_pending: bool,
    /// Waiters held until the rewrite is issued.
    parked: Vec<Waiter>,
}

/// How long a node waits after a disk fault before rewriting its state.
pub(crate) const DISK_RETRY_INTERVAL_NS: u64 = 10_000_000;

/// Most waiters a node may hold: a bound on the work queued behind failing syncs. Beyond it new
/// waiters are dropped (see [`DiskTracker::when_durable`]).
pub(crate) const WAITERS_MAX: usize = 4096;

impl DiskTracker {
    fn tag(&mut self) -> u64 {
        self.tag_next += 1;
        self.tag_next
    }

    /// Issues a write.
    pub(crate) fn write(&mut self, write: StorageWrite, output: &mut Vec<Output>) {
        let tag = self.tag();
        output.push(Output::DiskWrite { tag, write });
        self.writes_unsynced = true;
    }

    /// Issues a write that no waiter depends on (a high watermark checkpoint, which Kafka writes
    /// in the background): it becomes durable with the next sync issued for any reason, and does
    /// not make the next waiter issue a sync of its own. Losing it is safe: a restarted replica
    /// recovers an older checkpoint, clamps it into its log, and truncates by leader epoch.
    pub(crate) fn write_in_background(&mut self, write: StorageWrite, output: &mut Vec<Output>) {
        let tag = self.tag();
        output.push(Output::DiskWrite { tag, write });
    }

    /// Defers `waiter` until every write issued so far is durable (reserving a sync, issued at
    /// the end of the step, if needed). Returns the waiter back when that is already the case.
    pub(crate) fn when_durable(&mut self, waiter: Waiter) -> Option<Waiter> {
        if self.rewrite_pending {
            if self.parked.len() < WAITERS_MAX {
                self.parked.push(waiter);
            }
            return None;
        }
        if self.writes_unsynced {
            let tag = match self.sync_reserved {
                Some(tag) => tag,
                None => self.tag(),
            };
            self.sync_reserved = Some(tag);
            self.sync_newest = Some(tag);
            self.writes_unsynced = false;
        }
        match self.sync_newest {
            Some(tag) => {
                // While syncs keep failing, waiters pile up; past the bound the newest are
                // dropped: an unsent acknowledgement or an uncounted copy is always safe.
                if self.waiters.len() < WAITERS_MAX {
                    assert!(
                        self.waiters.back().is_none_or(|(last, _)| *last <= tag),
                        "waiters wait in tag order"
                    );
                    self.waiters.push_back((tag, waiter));
                }
                None
            }
            None => Some(waiter),
        }
    }

    /// Issues the sync reserved during this step, if any; it covers every write of the step. A
    /// node calls it last in every step.
    pub(crate) fn issue_reserved_sync(&mut self, output: &mut Vec<Output>) {
        if let Some(tag) = self.sync_reserved.take() {
            output.push(Output::DiskSync { tag });
            self.writes_unsynced = false;
        }
    }

    /// Whether a sync is reserved but not issued (never so between steps).
    pub(crate) fn sync_reserved(&self) -> bool {
        self.sync_reserved.is_some()
    }

    /// A sync succeeded: the waiters of it and of every earlier sync are released, one by one,
    /// by [`DiskTracker::next_released`].
    pub(crate) fn sync_succeeded(&mut self, tag: u64) {
        if self.sync_newest == Some(tag) {
            self.sync_newest = None;
        }
    }

    /// The next waiter the sync `tag` releases, oldest first. Waiters wait in tag order (a waiter
    /// always waits on the newest sync), and a waiter added while they are released waits on a
    /// later sync, so it is not released by this one.
    pub(crate) fn next_released(&mut self, tag: u64) -> Option<Waiter> {
        match self.waiters.front() {
            Some((waiting_on, _)) if *waiting_on <= tag => {
                self.waiters.pop_front().map(|(_, waiter)| waiter)
            }
            _ => None,
        }
    }

    /// A write or sync failed: earlier writes may be lost. Parks every waiter until the rewrite.
    /// Returns whether this fault started a pending rewrite (so the caller arms its retry).
    pub(crate) fn fault(&mut self) -> bool {
        self.sync_newest = None;
        self.sync_reserved = None;
        self.writes_unsynced = false;
        let waiters = self.waiters.drain(..).map(|(_, waiter)| waiter);
        self.parked.extend(waiters);
        self.parked.truncate(WAITERS_MAX);
        let started = !self.rewrite_pending;
        self.rewrite_pending = true;
        started
    }

    /// The retry is due: returns the parked waiters if a rewrite is pending. The caller issues the
    /// rewrite, then defers the waiters again.
    pub(crate) fn begin_rewrite(&mut self) -> Option<Vec<Waiter>> {
        if !self.rewrite_pending {
            return None;
        }
        self.rewrite_pending = false;
        assert!(
            self.waiters.is_empty(),
            "waiters are parked while a rewrite is pending"
        );
        Some(std::mem::take(&mut self.parked))
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len() + self.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiter_released_only_by_a_later_sync() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        let waiter = Waiter::SelfVote { term: 1 };
        assert_eq!(disk.when_durable(waiter.clone()), Some(waiter.clone()));
        disk.write(StorageWrite::HardState(HardState::default()), &mut output);
        assert_eq!(disk.when_durable(waiter.clone()), None);
        assert!(
            !matches!(output.last(), Some(Output::DiskSync { .. })),
            "the sync waits for the end of the step"
        );
        disk.issue_reserved_sync(&mut output);
        let Some(Output::DiskSync { tag }) = output.last().cloned() else {
            panic!("sync issued")
        };
        disk.sync_succeeded(tag - 1);
        assert_eq!(disk.next_released(tag - 1), None);
        disk.sync_succeeded(tag);
        assert_eq!(disk.next_released(tag), Some(waiter));
        assert_eq!(disk.next_released(tag), None);
        assert_eq!(disk.waiting(), 0);
    }

    #[test]
    fn a_fault_parks_waiters_until_the_rewrite() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        disk.write(StorageWrite::HardState(HardState::default()), &mut output);
        let first = Waiter::SelfVote { term: 1 };
        assert_eq!(disk.when_durable(first.clone()), None);
        assert!(disk.fault(), "the first fault starts a rewrite");
        assert!(!disk.fault(), "a second fault joins it");
        let second = Waiter::SelfVote { term: 2 };
        assert_eq!(
            disk.when_durable(second.clone()),
            None,
            "parked, not released"
        );
        assert_eq!(disk.begin_rewrite(), Some(vec![first, second]));
        assert_eq!(disk.begin_rewrite(), None);
    }
}
