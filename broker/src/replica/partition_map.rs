//! [`PartitionMap`]: a node's replicas by partition key, found by topic, then by index.
//!
//! Why: every data-plane request looks its partitions up, several times along its path (a
//! follower's fetch names every partition the leader leads). In a `BTreeMap` keyed by
//! `(topic, partition)` each lookup walks the keys comparing tuples; here it finds the topic
//! among the few a node holds, then indexes the partition's slot. Lookups were about 6% of
//! the data-plane benchmark's instructions.
//!
//! Invariants: iteration is in key order (topic, then partition), exactly as the `BTreeMap` it
//! replaces, so everything derived from it stays deterministic; `len` counts the occupied slots;
//! a slot holds its own key; a partition index is below [`TOPIC_PARTITIONS_MAX`] (a topic's
//! bound), so a slot vector never grows past it.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::ops::Index;

use crate::config::TOPIC_PARTITIONS_MAX;
use crate::storage::PartitionKey;
use crate::topic::TopicName;

/// A map from partition keys to values, in key order (see module docs).
pub(crate) struct PartitionMap<V> {
    topics: BTreeMap<TopicName, Vec<Slot<V>>>,
    len: usize,
}

type Slot<V> = Option<(PartitionKey, V)>;

/// The entries in key order: every topic's slots, the empty ones skipped. A plain loop over the
/// two levels (no adapter chain through function pointers), so that it inlines into the loops
/// and searches that walk every replica (node invariants after every step, fetch sessions).
pub(crate) struct Iter<'map, V> {
    topics: btree_map::Values<'map, TopicName, Vec<Slot<V>>>,
    slots: std::slice::Iter<'map, Slot<V>>,
}

impl<'map, V> Iterator for Iter<'map, V> {
    type Item = (&'map PartitionKey, &'map V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.slots.next() {
                Some(Some((key, value))) => return Some((key, value)),
                Some(None) => {}
                None => self.slots = self.topics.next()?.iter(),
            }
        }
    }
}

/// [`Iter`], with the values mutable.
pub(crate) struct IterMut<'map, V> {
    topics: btree_map::ValuesMut<'map, TopicName, Vec<Slot<V>>>,
    slots: std::slice::IterMut<'map, Slot<V>>,
}

impl<'map, V> Iterator for IterMut<'map, V> {
    type Item = (&'map PartitionKey, &'map mut V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.slots.next() {
                Some(Some((key, value))) => return Some((&*key, value)),
                Some(None) => {}
                None => self.slots = self.topics.next()?.iter_mut(),
            }
        }
    }
}

impl<V> Default for PartitionMap<V> {
    fn default() -> Self {
        PartitionMap {
            topics: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for PartitionMap<V> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl<V> PartitionMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, key: &PartitionKey) -> Option<&V> {
        let slot = self.topics.get(&key.0)?.get(key.1 as usize)?;
        slot.as_ref().map(|(_, value)| value)
    }

    pub(crate) fn get_mut(&mut self, key: &PartitionKey) -> Option<&mut V> {
        let slot = self.topics.get_mut(&key.0)?.get_mut(key.1 as usize)?;
        slot.as_mut().map(|(_, value)| value)
    }

    pub(crate) fn contains_key(&self, key: &PartitionKey) -> bool {
        self.get(key).is_some()
    }

    /// Puts `value` at `key`, returning the value it replaces.
    pub(crate) fn insert(&mut self, key: PartitionKey, value: V) -> Option<V> {
        assert!(
            key.1 < TOPIC_PARTITIONS_MAX,
            "{key:?}: partition index at or above {TOPIC_PARTITIONS_MAX}"
        );
        let slots = self.topics.entry(key.0.clone()).or_default();
        let index = key.1 as usize;
        if slots.len() <= index {
            slots.resize_with(index + 1, || None);
        }
        let replaced = slots[index].replace((key, value)).map(|(_, value)| value);
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> Iter<'_, V> {
        Iter {
            topics: self.topics.values(),
            slots: [].iter(),
        }
    }

    /// Every entry, in key order, with its value mutable.
    pub(crate) fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut {
            topics: self.topics.values_mut(),
            slots: [].iter_mut(),
        }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &PartitionKey> {
        self.iter().map(|(key, _)| key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

impl<V> Index<&PartitionKey> for PartitionMap<V> {
    type Output = V;

    fn index(&self, key: &PartitionKey) -> &V {
        self.get(key)
            .unwrap_or_else(|| panic!("no replica of {key:?}"))
    }
}

impl<'map, V> IntoIterator for &'map PartitionMap<V> {
    type Item = (&'map PartitionKey, &'map V);
    type IntoIter = Iter<'map, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'map, V> IntoIterator for &'map mut PartitionMap<V> {
    type Item = (&'map PartitionKey, &'map mut V);
    type IntoIter = IterMut<'map, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(topic: &str, partition: u32) -> PartitionKey {
        (TopicName::from(topic), partition)
    }

    proptest! {
        /// Behaves as the `BTreeMap` it replaces: same answers, same order.
        #[test]
        fn behaves_like_a_btree_map(
            inserts in proptest::collection::vec((0..3u8, 0..40u32, any::<u16>()), 0..60),
            probes in proptest::collection::vec((0..4u8, 0..50u32), 0..20),
        ) {
            let topic = |index: u8| ["a", "b", "orders", "zz"][index as usize];
            let mut map = PartitionMap::default();
            let mut model = BTreeMap::new();
            for (topic_index, partition, value) in inserts {
                let key = key(topic(topic_index), partition);
                prop_assert_eq!(map.insert(key.clone(), value), model.insert(key, value));
            }
            prop_assert_eq!(map.len(), model.len());
            let entries: Vec<_> = map.iter().map(|(key, value)| (key.clone(), *value)).collect();
            let expected: Vec<_> = model.iter().map(|(key, value)| (key.clone(), *value)).collect();
            prop_assert_eq!(entries, expected);
            for (topic_index, partition) in probes {
                let key = key(topic(topic_index), partition);
                prop_assert_eq!(map.get(&key), model.get(&key));
                prop_assert_eq!(map.contains_key(&key), model.contains_key(&key));
            }
            for (_, value) in &mut map {
                *value = value.wrapping_add(1);
            }
            let bumped: Vec<u16> = map.values().copied().collect();
            let expected: Vec<u16> = model.values().map(|value| value.wrapping_add(1)).collect();
            prop_assert_eq!(bumped, expected);
        }
    }

    #[test]
    #[should_panic(expected = "partition index at or above")]
    fn a_partition_index_past_a_topics_bound_is_a_bug() {
        PartitionMap::default().insert(key("t", TOPIC_PARTITIONS_MAX), ());
    }
}
