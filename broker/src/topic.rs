//! [`TopicName`]: a topic's name, cheap to clone and to compare.
//!
//! Every data-plane message, partition key, log write and disk waiter names its topic; as a
//! `String` each copy was an allocation and each map lookup a `memcmp`, and as an `Arc<str>` each
//! copy and drop was an atomic reference count update (about 4% of the data-plane benchmark). A
//! `TopicName` is a `&'static str` to the one interned copy of its name: a clone copies a
//! pointer, and two names compare equal by address without reading the bytes. Names are interned
//! per process (a set behind a mutex, touched only when a name is made from a string, never when
//! one is cloned) and live as long as the process: the set only grows, by the distinct names a
//! process uses (a handful per scenario), as it did when it held `Arc`s.
//!
//! Invariants: a `TopicName` behaves exactly like the `str` it holds; interning only decides which
//! allocation it points to, never an answer. `Eq`, `Ord` and `Hash` agree
//! with `str`'s (the pointer check is a shortcut to the same answer), and `Debug`, `Display`,
//! `Serialize` and `Deserialize` read and write a plain string, so trace digests, histories and
//! serialized formats are those of `String`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every name made so far, one allocation each (see module docs).
static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// A topic's name (see module docs).
#[derive(Clone)]
pub struct TopicName(&'static str);

impl TopicName {
    /// The interned name: the same allocation for every equal `name`.
    pub fn new(name: &str) -> Self {
        let mut interned = INTERNED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = interned.get(name) {
            return TopicName(existing);
        }
        let created: &'static str = Box::leak(Box::from(name));
        interned.insert(created);
        TopicName(created)
    }

    pub fn as_str(&self) -> &str {
        self.0
    }
}

impl Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl From<&str> for TopicName {
    fn from(name: &str) -> Self {
        TopicName::new(name)
    }
}

impl From<String> for TopicName {
    fn from(name: String) -> Self {
        TopicName::new(&name)
    }
}

impl From<&String> for TopicName {
    fn from(name: &String) -> Self {
        TopicName::new(name)
    }
}

impl From<TopicName> for String {
    fn from(name: TopicName) -> Self {
        name.0.to_owned()
    }
}

impl PartialEq for TopicName {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl Eq for TopicName {}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for TopicName {
    fn eq(&self, other: &String) -> bool {
        self.0 == other.as_str()
    }
}

impl PartialEq<TopicName> for String {
    fn eq(&self, other: &TopicName) -> bool {
        self.as_str() == other.0
    }
}

impl PartialEq<TopicName> for str {
    fn eq(&self, other: &TopicName) -> bool {
        self == other.0
    }
}

impl PartialEq<TopicName> for &str {
    fn eq(&self, other: &TopicName) -> bool {
        *self == other.0
    }
}

impl Ord for TopicName {
    fn cmp(&self, other: &Self) -> Ordering {
        if std::ptr::eq(self.0, other.0) {
            return Ordering::Equal;
        }
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl PartialOrd for TopicName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for TopicName {
    /// Hashes like the `str` (and the `String`) it holds.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, formatter)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, formatter)
    }
}

impl Serialize for TopicName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for TopicName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(TopicName::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(value: &impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn behaves_like_the_string_it_holds() {
        let orders = TopicName::from("orders");
        let other_orders = TopicName::from("orders".to_string());
        assert_eq!(orders, other_orders);
        assert!(std::ptr::eq(orders.0, other_orders.0), "interned");
        assert_eq!(hash_of(&orders), hash_of(&"orders".to_string()));
        assert_eq!(format!("{orders:?}"), format!("{:?}", "orders"));
        assert_eq!(orders.to_string(), "orders");
        for (left, right) in [("a", "b"), ("ab", "a"), ("orders", "orders"), ("", "x")] {
            assert_eq!(
                TopicName::from(left).cmp(&TopicName::from(right)),
                left.cmp(right)
            );
        }
        let json = serde_json::to_string(&orders).expect("serializes");
        assert_eq!(json, "\"orders\"");
        let back: TopicName = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, orders);
    }
}
