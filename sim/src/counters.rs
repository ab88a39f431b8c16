//! Run counters: how often each interesting thing happened.
//!
//! A run in which no message was dropped, no node crashed and no sync failed tested nothing of
//! the fault model: campaigns read these counters to prove the faults bit.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Inputs handed to a node's `step`.
    pub events: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_dropped_cut: u64,
    pub messages_dropped_lost: u64,
    /// In flight to, or sent to, a node that was down (or restarted since).
    pub messages_dropped_crashed: u64,
    /// Dropped because a held link or a paused node's queue was full.
    pub messages_dropped_overflow: u64,
    pub messages_duplicated: u64,
    pub messages_reordered: u64,
    pub messages_held: u64,
    pub timers_fired: u64,
    pub disk_writes: u64,
    pub disk_writes_failed: u64,
    pub disk_syncs: u64,
    pub disk_syncs_failed: u64,
    /// Pending writes discarded by crashes and failed syncs.
    pub disk_writes_lost: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub pauses: u64,
    pub resumes: u64,
    pub partitions: u64,
    pub clock_changes: u64,
}
