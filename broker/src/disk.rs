//! Tracking of disk writes and syncs: what a node may only do once its writes are durable.
//!
//! A node issues writes ([`crate::Output::DiskWrite`]) and syncs ([`crate::Output::DiskSync`]);
//! every write issued before a sync is durable once that sync succeeds. Actions that depend on
//! durable state (granting a vote, counting the candidate's own vote, acknowledging entries to the
//! leader, counting the leader's own copy) wait as [`Waiter`]s on the newest sync. The first waiter
//! that finds writes unsynced reserves a sync, later waiters share it, and it is issued at the end
//! of a step, so that it covers every write of the step (a leader appending to several partitions,
//! or a follower to several from one fetch answer, syncs once, as Kafka flushes the log
//! directories it wrote at once).
//!
//! Group commit for partition data: a waiter that asks for [`SyncUrgency::GroupCommit`] (a
//! leader's own copy, a follower's next fetch) does not start a sync while another is in flight;
//! the sync it reserves is issued at the end of the step that learns the one in flight completed,
//! and every waiter meanwhile shares it. Under load a broker then syncs about once per sync
//! latency instead of once per append, as log stores do. The metadata quorum's waiters (votes,
//! terms, metadata entries) ask for [`SyncUrgency::Immediate`], as KRaft syncs its quorum state
//! and metadata log at once: elections must not wait behind data.
//!
//! Invariants: a waiter is released only by the success of a sync issued after every write that
//! preceded the waiter (except background writes, which nothing waits for); after a disk fault no
//! waiter is released until a full rewrite of the node's state has been synced; a sync is left
//! reserved at the end of a step only while another is in flight and no immediate waiter waits on
//! it.
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

/// Whether a waiter's sync may wait for the sync in flight (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncUrgency {
    /// Start a sync at the end of this step even if another is in flight.
    Immediate,
    /// Share the next sync, started once none is in flight.
    GroupCommit,
}

/// Tags writes and syncs, and holds the waiters.
#[derive(Debug, Default)]
pub(crate) struct DiskTracker {
    tag_next: u64,
    /// Whether writes were issued since the last sync was issued.
    writes_unsynced: bool,
    /// A sync reserved but not issued: issued at the end of the step
    /// ([`DiskTracker::issue_reserved_sync`]), or once the sync in flight completes. One sync
    /// covers every write issued before it, however many waiters asked for one.
    sync_reserved: Option<u64>,
    /// The newest sync issued and not yet completed, if any.
    sync_in_flight: Option<u64>,
    /// Whether an immediate waiter waits on the reserved sync: it is issued at the end of the
    /// step even while another is in flight.
    sync_reserved_immediate: bool,
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

    /// The newest sync reserved or in flight, if any: the one a new waiter waits on.
    fn sync_newest(&self) -> Option<u64> {
        self.sync_reserved.or(self.sync_in_flight)
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

    /// Defers `waiter` until every write issued so far is durable (reserving a sync if needed,
    /// issued as `urgency` says). Returns the waiter back when that is already the case.
    pub(crate) fn when_durable(&mut self, waiter: Waiter, urgency: SyncUrgency) -> Option<Waiter> {
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
            self.writes_unsynced = false;
        }
        if urgency == SyncUrgency::Immediate && self.sync_reserved.is_some() {
            self.sync_reserved_immediate = true;
        }
        match self.sync_newest() {
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

    /// Issues the reserved sync, if any, unless it may wait for the one in flight; it covers
    /// every write issued so far. A node calls it last in every step.
    pub(crate) fn issue_reserved_sync(&mut self, output: &mut Vec<Output>) {
        if self.sync_in_flight.is_some() && !self.sync_reserved_immediate {
            return;
        }
        if let Some(tag) = self.sync_reserved.take() {
            output.push(Output::DiskSync { tag });
            self.sync_in_flight = Some(tag);
            self.sync_reserved_immediate = false;
            self.writes_unsynced = false;
        }
    }

    /// Whether a sync is reserved and nothing will issue it (never so between steps): none is
    /// in flight, or an immediate waiter waits on it.
    pub(crate) fn sync_stranded(&self) -> bool {
        self.sync_reserved.is_some()
            && (self.sync_in_flight.is_none() || self.sync_reserved_immediate)
    }

    /// A sync succeeded: the waiters of it and of every earlier sync are released, one by one,
    /// by [`DiskTracker::next_released`], and a sync reserved meanwhile may now be issued.
    pub(crate) fn sync_succeeded(&mut self, tag: u64) {
        if self.sync_in_flight == Some(tag) {
            self.sync_in_flight = None;
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
        self.sync_reserved = None;
        self.sync_reserved_immediate = false;
        // A sync still in flight no longer matters (its waiters are parked): the rewrite must
        // not wait for it.
        self.sync_in_flight = None;
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
        assert_eq!(
            disk.when_durable(waiter.clone(), SyncUrgency::Immediate),
            Some(waiter.clone())
        );
        disk.write(StorageWrite::HardState(HardState::default()), &mut output);
        assert_eq!(
            disk.when_durable(waiter.clone(), SyncUrgency::Immediate),
            None
        );
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

    /// The tags of the syncs `output` issues.
    fn syncs(output: &[Output]) -> Vec<u64> {
        output
            .iter()
            .filter_map(|item| match item {
                Output::DiskSync { tag } => Some(*tag),
                _ => None,
            })
            .collect()
    }

    fn write_hard_state(disk: &mut DiskTracker, output: &mut Vec<Output>) {
        disk.write(StorageWrite::HardState(HardState::default()), output);
    }

    /// A leader's own copy of partition `t/0` up to `end_offset`.
    fn log_durable(end_offset: u64) -> Waiter {
        Waiter::LogDurable {
            topic: crate::topic::TopicName::new("t"),
            partition: 0,
            leader_epoch: 1,
            end_offset,
        }
    }

    /// A step that writes, waits for durability with `urgency`, and ends.
    fn write_and_wait(
        disk: &mut DiskTracker,
        output: &mut Vec<Output>,
        waiter: Waiter,
        urgency: SyncUrgency,
    ) {
        write_hard_state(disk, output);
        assert_eq!(disk.when_durable(waiter, urgency), None);
        disk.issue_reserved_sync(output);
        assert!(!disk.sync_stranded());
    }

    #[test]
    fn a_group_commit_waits_for_the_sync_in_flight_then_covers_every_write_since() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        let group = SyncUrgency::GroupCommit;
        write_and_wait(&mut disk, &mut output, log_durable(1), group);
        let first = syncs(&output);
        assert_eq!(
            first.len(),
            1,
            "with none in flight, the sync is issued at once"
        );

        // Two more steps append and wait while the first sync is in flight: no second sync yet.
        write_and_wait(&mut disk, &mut output, log_durable(2), group);
        write_and_wait(&mut disk, &mut output, log_durable(3), group);
        assert_eq!(syncs(&output), first, "at most one group commit in flight");

        // The first sync releases only its own waiter; the step that learns so issues the next.
        disk.sync_succeeded(first[0]);
        assert_eq!(disk.next_released(first[0]), Some(log_durable(1)));
        assert_eq!(disk.next_released(first[0]), None);
        disk.issue_reserved_sync(&mut output);
        let issued = syncs(&output);
        assert_eq!(
            issued.len(),
            2,
            "the deferred sync is issued once the first completes"
        );
        let second = issued[1];
        disk.sync_succeeded(second);
        assert_eq!(disk.next_released(second), Some(log_durable(2)));
        assert_eq!(disk.next_released(second), Some(log_durable(3)));
        assert_eq!(disk.waiting(), 0);

        // Nothing written since the second sync was issued: nothing more to issue.
        disk.issue_reserved_sync(&mut output);
        assert_eq!(syncs(&output).len(), 2);
    }

    #[test]
    fn an_immediate_waiter_starts_a_sync_even_while_one_is_in_flight() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        let group = SyncUrgency::GroupCommit;
        write_and_wait(&mut disk, &mut output, log_durable(1), group);
        write_and_wait(&mut disk, &mut output, log_durable(2), group);
        assert_eq!(syncs(&output).len(), 1);
        // A vote (no write of its own this step) joins the deferred sync and makes it immediate.
        assert_eq!(
            disk.when_durable(Waiter::SelfVote { term: 1 }, SyncUrgency::Immediate),
            None
        );
        assert!(
            disk.sync_stranded(),
            "must be issued by the end of the step"
        );
        disk.issue_reserved_sync(&mut output);
        let issued = syncs(&output);
        assert_eq!(
            issued.len(),
            2,
            "issued at once, with the first still in flight"
        );
        disk.sync_succeeded(issued[1]);
        assert_eq!(disk.next_released(issued[1]), Some(log_durable(1)));
        assert_eq!(disk.next_released(issued[1]), Some(log_durable(2)));
        assert_eq!(
            disk.next_released(issued[1]),
            Some(Waiter::SelfVote { term: 1 })
        );
        // The first sync completing late changes nothing.
        disk.sync_succeeded(issued[0]);
        assert_eq!(disk.next_released(issued[0]), None);
        assert_eq!(disk.waiting(), 0);
    }

    #[test]
    fn a_fault_does_not_hold_the_rewrite_behind_a_sync_in_flight() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        write_and_wait(
            &mut disk,
            &mut output,
            log_durable(1),
            SyncUrgency::GroupCommit,
        );
        assert_eq!(syncs(&output).len(), 1);
        assert!(disk.fault(), "a write failed while the sync was in flight");
        let parked = disk.begin_rewrite().expect("a rewrite is pending");
        write_hard_state(&mut disk, &mut output);
        for waiter in parked {
            assert_eq!(disk.when_durable(waiter, SyncUrgency::GroupCommit), None);
        }
        disk.issue_reserved_sync(&mut output);
        assert_eq!(
            syncs(&output).len(),
            2,
            "the rewrite's sync is issued at once"
        );
    }

    #[test]
    fn a_fault_parks_waiters_until_the_rewrite() {
        let mut disk = DiskTracker::default();
        let mut output = Vec::new();
        disk.write(StorageWrite::HardState(HardState::default()), &mut output);
        let first = Waiter::SelfVote { term: 1 };
        assert_eq!(
            disk.when_durable(first.clone(), SyncUrgency::Immediate),
            None
        );
        assert!(disk.fault(), "the first fault starts a rewrite");
        assert!(!disk.fault(), "a second fault joins it");
        let second = Waiter::SelfVote { term: 2 };
        assert_eq!(
            disk.when_durable(second.clone(), SyncUrgency::Immediate),
            None,
            "parked, not released"
        );
        assert_eq!(disk.begin_rewrite(), Some(vec![first, second]));
        assert_eq!(disk.begin_rewrite(), None);
    }
}
