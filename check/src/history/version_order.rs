//! The version order of each key: every `(offset, value)` pair anyone observed (an `ok` send's
//! acknowledged offset, or an `ok` poll), sorted by offset. As in Jepsen's Kafka workload, a
//! record's position in this dense order (its *index*) is what skips and order are judged
//! against, not `offset + 1`: offsets may be sparse (transaction markers and aborted records
//! occupy offsets nobody observes).
//!
//! Indeterminate sends' offsets are left out: the record may have been truncated, so its offset
//! proves nothing.

use super::model::{EventId, KeyId, Model, Outcome};

/// One distinct `(offset, value)` pair of a key, and the first operation that observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub value: i64,
    pub first_observer: EventId,
    /// Whether some poll read it (else only an acknowledgement names it).
    pub read: bool,
}

/// The version order of one key.
#[derive(Debug, Clone, Default)]
pub struct KeyOrder {
    /// Distinct observed offsets, increasing. Index `i` of the version order is `offsets[i]`.
    pub offsets: Vec<u64>,
    /// `entries[entry_starts[i]..entry_starts[i + 1]]` are the values seen at index `i`
    /// (more than one only at an inconsistent offset), by increasing value.
    pub entry_starts: Vec<u32>,
    pub entries: Vec<Entry>,
}

impl KeyOrder {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The index of `offset` in the version order, if anyone observed it.
    pub fn index_of(&self, offset: u64) -> Option<usize> {
        self.offsets.binary_search(&offset).ok()
    }

    /// The values observed at version order index `index`.
    pub fn entries_at(&self, index: usize) -> &[Entry] {
        let start = self.entry_starts[index] as usize;
        let end = self.entry_starts[index + 1] as usize;
        &self.entries[start..end]
    }
}

/// The version orders of all keys, by key id.
#[derive(Debug, Clone, Default)]
pub struct VersionOrders {
    pub by_key: Vec<KeyOrder>,
}

impl VersionOrders {
    pub fn build(model: &Model) -> Self {
        let observations = collect_observations(model);
        let mut by_key = vec![KeyOrder::default(); model.key_count()];
        for observation in observations {
            let (key, offset, value, first_observer, read) = observation;
            let order = &mut by_key[key as usize];
            if order.offsets.last() != Some(&offset) {
                order.entry_starts.push(order.entries.len() as u32);
                order.offsets.push(offset);
            }
            order.entries.push(Entry {
                offset,
                value,
                first_observer,
                read,
            });
        }
        for order in &mut by_key {
            order.entry_starts.push(order.entries.len() as u32);
            debug_assert!(order.offsets.windows(2).all(|pair| pair[0] < pair[1]));
        }
        Self { by_key }
    }

    pub fn of(&self, key: KeyId) -> &KeyOrder {
        &self.by_key[key as usize]
    }
}

/// Distinct `(key, offset, value)` triples with their first observer and whether a poll read
/// them, sorted.
fn collect_observations(model: &Model) -> Vec<(KeyId, u64, i64, EventId, bool)> {
    let mut observations = Vec::with_capacity(model.sends.len() + model.reads.len());
    for (event_id, event) in model.events.iter().enumerate() {
        if event.outcome() != Outcome::Ok {
            continue;
        }
        let event_id = event_id as EventId;
        for send in model.sends_of(event) {
            if let Some(offset) = send.offset {
                observations.push((send.key, offset, send.value, event_id, false));
            }
        }
        for read in model.reads_of(event) {
            observations.push((read.key, read.offset, read.value, event_id, true));
        }
    }
    observations.sort_unstable();
    observations.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0 && later.1 == earlier.1 && later.2 == earlier.2;
        if same {
            earlier.4 |= later.4; // Keep the first observer; note any read.
        }
        same
    });
    observations
}
