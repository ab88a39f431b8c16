//! Fault targets, resolved at the moment the fault fires.
//!
//! `b1`..`bN` name brokers; `leader(topic/partition)` is that partition's leader as the active
//! controller last decided it; `follower(topic/partition)` the first of its other replicas in
//! replica order (`follower(topic/partition, n)` the `n`-th, from 1), so that a script can aim at
//! one follower and then at the same or the other one; `controller` is the active controller;
//! `random` is a broker drawn from the nemesis stream. `c1`..`cN` name the workload's consumers
//! (in scenario order), for the crash, restart, pause, resume, add-consumer and remove-consumer
//! actions; `p1`..`pN` name its producers (in scenario order, `count` included), for crash,
//! restart, pause, resume and either end of a hold or release whose other end is a broker;
//! `coordinator(group)` is the broker leading the group's offsets partition (its group
//! coordinator).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Broker `b<index + 1>`.
    Broker(u32),
    Leader {
        topic: String,
        partition: u32,
    },
    /// The `index`-th (from 1) replica of the partition, in replica order, that is not its
    /// leader.
    Follower {
        topic: String,
        partition: u32,
        index: u32,
    },
    Controller,
    Random,
    /// Consumer `c<index + 1>` of the workload.
    Consumer(u32),
    /// Producer `p<index + 1>` of the workload.
    Producer(u32),
    /// The coordinator of a consumer group.
    Coordinator {
        group: String,
    },
}

impl Target {
    /// The broker index for a name like `b3`, if it is one.
    pub fn broker_index(name: &str) -> Option<u32> {
        numbered_index(name, 'b')
    }

    pub fn broker_name(index: u32) -> String {
        format!("b{}", index + 1)
    }

    /// The consumer index for a name like `c3`, if it is one.
    pub fn consumer_index(name: &str) -> Option<u32> {
        numbered_index(name, 'c')
    }

    /// The producer index for a name like `p3`, if it is one.
    pub fn producer_index(name: &str) -> Option<u32> {
        numbered_index(name, 'p')
    }

    /// Whether the target names a consumer rather than a broker.
    pub fn is_consumer(&self) -> bool {
        matches!(self, Target::Consumer(_))
    }

    /// Whether the target names a producer rather than a broker.
    pub fn is_producer(&self) -> bool {
        matches!(self, Target::Producer(_))
    }
}

/// The index (from 0) of a name like `b3` (`letter` then a number from 1 without leading
/// zeros), if `name` is one.
fn numbered_index(name: &str, letter: char) -> Option<u32> {
    let digits = name.strip_prefix(letter)?;
    if digits.starts_with('0') || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u32>()
        .ok()
        .filter(|&number| number > 0)
        .map(|number| number - 1)
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "controller" => return Ok(Target::Controller),
            "random" => return Ok(Target::Random),
            _ => {}
        }
        if let Some(index) = Target::broker_index(text) {
            return Ok(Target::Broker(index));
        }
        if let Some(index) = Target::consumer_index(text) {
            return Ok(Target::Consumer(index));
        }
        if let Some(index) = Target::producer_index(text) {
            return Ok(Target::Producer(index));
        }
        if let Some(group) = text
            .strip_prefix("coordinator(")
            .and_then(|rest| rest.strip_suffix(')'))
            .filter(|group| !group.is_empty())
        {
            return Ok(Target::Coordinator {
                group: group.to_string(),
            });
        }
        let inner = text
            .strip_prefix("leader(")
            .and_then(|rest| rest.strip_suffix(')'));
        let parsed = inner.and_then(|inner| {
            let (topic, partition) = inner.rsplit_once('/')?;
            Some(Target::Leader {
                topic: topic.to_string(),
                partition: partition.parse().ok()?,
            })
        });
        let parsed = parsed.or_else(|| parse_follower(text));
        parsed.ok_or_else(|| {
            format!(
                "{text:?} is not a target: expected a broker (b1, b2, ...), \
                 leader(topic/partition), follower(topic/partition), \
                 follower(topic/partition, n), controller, random, a consumer (c1, c2, ...), a \
                 producer (p1, p2, ...) or coordinator(group)"
            )
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(index) => write!(formatter, "b{}", index + 1),
            Target::Leader { topic, partition } => write!(formatter, "leader({topic}/{partition})"),
            Target::Follower {
                topic,
                partition,
                index: 1,
            } => write!(formatter, "follower({topic}/{partition})"),
            Target::Follower {
                topic,
                partition,
                index,
            } => write!(formatter, "follower({topic}/{partition}, {index})"),
            Target::Controller => formatter.write_str("controller"),
            Target::Random => formatter.write_str("random"),
            Target::Consumer(index) => write!(formatter, "c{}", index + 1),
            Target::Producer(index) => write!(formatter, "p{}", index + 1),
            Target::Coordinator { group } => write!(formatter, "coordinator({group})"),
        }
    }
}

/// `follower(topic/partition)` or `follower(topic/partition, n)` with `n >= 1`.
fn parse_follower(text: &str) -> Option<Target> {
    let inner = text.strip_prefix("follower(")?.strip_suffix(')')?;
    let (key, index) = match inner.split_once(", ") {
        Some((key, index)) if !index.starts_with('0') => (key, index.parse().ok()?),
        Some(_) => return None,
        None => (inner, 1),
    };
    let (topic, partition) = key.rsplit_once('/')?;
    Some(Target::Follower {
        topic: topic.to_string(),
        partition: partition.parse().ok()?,
        index,
    })
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for text in [
            "b1",
            "b12",
            "leader(orders/0)",
            "leader(a/b/3)",
            "follower(orders/0)",
            "follower(orders/0, 2)",
            "controller",
            "random",
            "c1",
            "c12",
            "p1",
            "p12",
            "coordinator(billing)",
        ] {
            let target: Target = text.parse().unwrap();
            assert_eq!(target.to_string(), text);
        }
        assert_eq!("b2".parse::<Target>(), Ok(Target::Broker(1)));
        assert_eq!("p1".parse::<Target>(), Ok(Target::Producer(0)));
        assert_eq!("p12".parse::<Target>(), Ok(Target::Producer(11)));
        for bad in [
            "b0",
            "b01",
            "x1",
            "leader(orders)",
            "leader(orders/x)",
            "follower(orders/0, 0)",
            "follower(orders/0, 01)",
            "follower(orders/0,2)",
            "follower(orders)",
            "leader orders/0",
            "c0",
            "p0",
            "p01",
            "p",
            "p1x",
            "p+1",
            "b+1",
            "coordinator()",
            "",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_target_is_told_that_producers_are_targets_too() {
        let error = "p0".parse::<Target>().unwrap_err();
        assert!(error.contains("a producer (p1, p2, ...)"), "{error}");
        assert!(error.contains("a consumer (c1, c2, ...)"), "{error}");
    }
}
