//! The in-memory metadata log of a node (a mirror of what it has written to disk, including writes
//! not yet synced).
//!
//! Invariants: indexes start at 1 and are gap-free; terms never decrease along the log; every entry
//! carries a digest computed when it was appended (so snapshots need not rehash the log).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::digest_of;
use crate::metadata::record::MetadataRecord;

/// One entry of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that appended it.
    pub term: u64,
    /// Shared, not copied: an entry sits in the log, its disk write and durable image, and
    /// every AppendEntries that carries it. Hashes, compares and serialises as the record.
    pub record: Arc<MetadataRecord>,
}

/// The metadata log with a cached digest per entry.
#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    entries: Vec<Entry>,
    digests: Vec<u64>,
}

impl RaftLog {
    /// Rebuilds the log from the durable image.
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut log = Self::default();
        log.append(entries);
        log
    }

    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(0, |entry| entry.term)
    }

    /// The term of entry `index`; index 0 (before the log) has term 0; `None` past the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.entries
            .get((index - 1) as usize)
            .map(|entry| entry.term)
    }

    pub fn entry(&self, index: u64) -> &Entry {
        assert!(
            index >= 1 && index <= self.last_index(),
            "entry {index} outside 1..={}",
            self.last_index()
        );
        &self.entries[(index - 1) as usize]
    }

    /// Entries `start..=last`, at most `count_max` of them.
    pub fn entries_from(&self, start: u64, count_max: u64) -> Vec<Entry> {
        assert!(start >= 1 && start <= self.last_index() + 1);
        let begin = (start - 1) as usize;
        let end = (begin as u64 + count_max).min(self.last_index()) as usize;
        self.entries[begin..end].to_vec()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn digests(&self) -> &[u64] {
        &self.digests
    }

    /// Whether the log holds an entry at `index` with `term` (log matching).
    pub fn matches(&self, index: u64, term: u64) -> bool {
        self.term_at(index) == Some(term)
    }

    /// Drops entries `index..`.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(index >= 1);
        self.entries.truncate((index - 1) as usize);
        self.digests.truncate((index - 1) as usize);
    }

    pub fn append(&mut self, entries: &[Entry]) {
        for entry in entries {
            assert!(
                entry.term >= self.last_term(),
                "terms never decrease along the log"
            );
            self.digests.push(digest_of(entry));
            self.entries.push(entry.clone());
        }
        debug_assert_eq!(self.entries.len(), self.digests.len());
    }

    /// Whether a log ending at (`last_term`, `last_index`) is at least as up to date as this one.
    pub fn is_up_to_date(&self, last_term: u64, last_index: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}
