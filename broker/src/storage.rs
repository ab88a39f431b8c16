//! The durable disk image of a node and the writes that change it.
//!
//! The driver holds a [`Storage`] per node and applies the node's [`StorageWrite`]s to it once they
//! are synced; a node restarted from a [`Storage`] ([`crate::Node::new`]) sees only what was synced.
//!
//! Invariants of the image: the metadata log is a gap-free sequence of entries `1..=len`; a write
//! that would leave a gap (because an earlier write was lost to a disk fault) is ignored, so the
//! image always holds a consistent prefix. Partition logs keep theirs the same way
//! ([`LogImage::apply`]). The node learns of every lost write
//! ([`crate::Input::DiskWriteFailed`] or a failed sync) and rewrites its whole state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::log::{LogImage, LogWrite};
use crate::raft::log::Entry;
use crate::topic::TopicName;

/// A data partition's name: `(topic, partition)`.
pub type PartitionKey = (TopicName, u32);

/// Raft state that must survive a crash: the current term and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<u32>,
}

/// A node's durable image: Raft hard state and the metadata log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Storage {
    pub hard_state: HardState,
    /// Metadata log entries `1..=len`: entry `i` is `metadata_log[i - 1]`.
    pub metadata_log: Vec<Entry>,
    /// The partition logs this broker holds a replica of.
    pub logs: BTreeMap<PartitionKey, LogImage>,
}

/// One write a node issues. Writes are applied in the order they are issued.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StorageWrite {
    /// Replace the hard state.
    HardState(HardState),
    /// Put `entries` at indexes `index..`, dropping every entry at `index` or later first.
    /// `index` is at most `len + 1` of the image (otherwise the write is ignored: see module docs).
    MetadataLogAppend { index: u64, entries: Vec<Entry> },
    /// Change one partition log.
    Log {
        topic: TopicName,
        partition: u32,
        write: LogWrite,
    },
    /// Replace the whole image (issued after a disk fault lost earlier writes).
    Rewrite {
        hard_state: HardState,
        metadata_log: Vec<Entry>,
        logs: BTreeMap<PartitionKey, LogImage>,
    },
}

impl Storage {
    /// Applies one write to the image.
    pub fn apply(&mut self, write: &StorageWrite) {
        match write {
            StorageWrite::HardState(hard_state) => {
                self.hard_state = *hard_state;
            }
            StorageWrite::MetadataLogAppend { index, entries } => {
                self.append_metadata(*index, entries.iter().cloned());
            }
            StorageWrite::Log {
                topic,
                partition,
                write,
            } => {
                let key = (topic.clone(), *partition);
                self.logs.entry(key).or_default().apply(write);
            }
            StorageWrite::Rewrite {
                hard_state,
                metadata_log,
                logs,
            } => {
                self.hard_state = *hard_state;
                self.metadata_log.clone_from(metadata_log);
                self.logs.clone_from(logs);
            }
        }
        self.assert_terms_monotonic();
    }

    /// Applies one write the caller no longer needs, moving its parts into the image (no copy of
    /// a topic name, an appended batch, metadata entries or a rewritten image). Same effect as
    /// [`Storage::apply`].
    pub fn apply_owned(&mut self, write: StorageWrite) {
        match write {
            StorageWrite::Log {
                topic,
                partition,
                write,
            } => {
                self.logs
                    .entry((topic, partition))
                    .or_default()
                    .apply_owned(write);
            }
            StorageWrite::MetadataLogAppend { index, entries } => {
                self.append_metadata(index, entries);
            }
            StorageWrite::Rewrite {
                hard_state,
                metadata_log,
                logs,
            } => {
                self.hard_state = hard_state;
                self.metadata_log = metadata_log;
                self.logs = logs;
            }
            StorageWrite::HardState(hard_state) => self.hard_state = hard_state,
        }
        self.assert_terms_monotonic();
    }

    /// Puts `entries` at indexes `index..` of the metadata log, dropping what was there from
    /// `index` on; ignored if `index` is past the end (an earlier write was lost: the image
    /// keeps its consistent prefix).
    fn append_metadata(&mut self, index: u64, entries: impl IntoIterator<Item = Entry>) {
        assert!(index >= 1, "metadata log indexes start at 1");
        let length = self.metadata_log.len() as u64;
        if index > length + 1 {
            return;
        }
        self.metadata_log.truncate((index - 1) as usize);
        self.metadata_log.extend(entries);
    }

    fn assert_terms_monotonic(&self) {
        debug_assert!(
            self.metadata_log
                .windows(2)
                .all(|pair| pair[0].term <= pair[1].term),
            "metadata log terms must not decrease"
        );
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::metadata::record::MetadataRecord;

    fn entry(term: u64) -> Entry {
        Entry {
            term,
            record: MetadataRecord::LeaderNoOp { leader: 0 }.into(),
        }
    }

    #[test]
    fn append_truncates_then_extends() {
        let mut storage = Storage::default();
        storage.apply(&StorageWrite::MetadataLogAppend {
            index: 1,
            entries: vec![entry(1), entry(1)],
        });
        storage.apply(&StorageWrite::MetadataLogAppend {
            index: 2,
            entries: vec![entry(2)],
        });
        assert_eq!(storage.metadata_log, vec![entry(1), entry(2)]);
    }

    /// A write of any kind, small enough that sequences overlap, truncate and leave gaps.
    fn any_write() -> impl Strategy<Value = StorageWrite> {
        // An entry's term is its index: terms never decrease along the log, whatever lands where.
        let append =
            (1..5u64, 1..3u64).prop_map(|(index, count)| StorageWrite::MetadataLogAppend {
                index,
                entries: (index..index + count).map(entry).collect(),
            });
        let hard_state = (1..4u64, proptest::option::of(0..3u32))
            .prop_map(|(term, voted_for)| StorageWrite::HardState(HardState { term, voted_for }));
        let log = (0..2u32, 0..4u64, 0..3u8).prop_map(|(partition, offset, kind)| {
            let write = match kind {
                0 => LogWrite::Append {
                    batch: crate::log::RecordBatch::new(offset, 1, vec![Default::default()]),
                },
                1 => LogWrite::TruncateTo { offset },
                _ => LogWrite::CheckpointHighWatermark {
                    high_watermark: offset,
                },
            };
            StorageWrite::Log {
                topic: TopicName::new("t"),
                partition,
                write,
            }
        });
        let rewrite = Just(StorageWrite::Rewrite {
            hard_state: HardState::default(),
            metadata_log: vec![entry(1)],
            logs: BTreeMap::new(),
        });
        prop_oneof![4 => append, 2 => hard_state, 4 => log, 1 => rewrite]
    }

    proptest! {
        /// The disk model applies synced writes owned; the node's recovery tests apply them
        /// borrowed. Both must build the same image.
        #[test]
        fn owned_and_borrowed_writes_build_the_same_image(
            writes in proptest::collection::vec(any_write(), 0..24)
        ) {
            let mut borrowed = Storage::default();
            let mut owned = Storage::default();
            for write in writes {
                borrowed.apply(&write);
                owned.apply_owned(write);
                prop_assert_eq!(&borrowed, &owned);
            }
        }
    }

    #[test]
    fn append_leaving_a_gap_is_ignored() {
        let mut storage = Storage::default();
        storage.apply(&StorageWrite::MetadataLogAppend {
            index: 2,
            entries: vec![entry(1)],
        });
        assert!(storage.metadata_log.is_empty());
    }
}
