//! Faults a scenario script fires at simulated times.
//!
//! Every fault has a pair that undoes it (`crash`/`restart`, `pause`/`resume`,
//! partitions/`heal`, `hold`/`release`, `network`/`network-reset`, disk faults end after their
//! `duration`), and the run's heal phase undoes whatever the script left in place. Consumer
//! targets (`c<n>`) and producer targets (`p<n>`) may be crashed, restarted, paused and resumed
//! like brokers (a crashed client's open operation ends `info`, and restarted it is a new history
//! process); a producer may also be either end of a `hold`/`release` whose other end is a broker
//! (its batches, or the answers to them, wait). `add-consumer` and `remove-consumer` are a worker
//! pool's schedule (the workload reads them when it builds the consumers; a heal does not bring a
//! removed consumer back). `elect-preferred-leaders` is an operator's action with nothing to
//! undo: it only moves leadership between live replicas.

use serde::{Deserialize, Serialize};

use crate::distribution::{Latency, Ratio};
use crate::scenario::duration::{Duration, SignedDuration};
use crate::scenario::target::Target;

/// One scripted fault: what happens, and when (from the start of the run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    Crash {
        at: Duration,
        target: Target,
    },
    Restart {
        at: Duration,
        target: Target,
    },
    Pause {
        at: Duration,
        target: Target,
    },
    Resume {
        at: Duration,
        target: Target,
    },
    /// Cuts every link between brokers of different groups, both ways.
    Partition {
        at: Duration,
        groups: Vec<Vec<Target>>,
    },
    /// Cuts the target off from every other broker, both ways.
    Isolate {
        at: Duration,
        target: Target,
    },
    /// Cuts traffic from every broker of `from` to every broker of `to`; the reverse stays up.
    OneWay {
        at: Duration,
        from: Vec<Target>,
        to: Vec<Target>,
    },
    /// Two sides that cannot reach each other, and one broker that reaches both.
    Bridge {
        at: Duration,
        left: Vec<Target>,
        bridge: Target,
        right: Vec<Target>,
    },
    /// A majority and a minority drawn from the nemesis stream.
    RandomSplit {
        at: Duration,
    },
    /// Repairs every cut link.
    Heal {
        at: Duration,
    },
    /// Holds one direction of a link (its traffic queues) until `release`: between brokers, or
    /// between a producer and a broker.
    Hold {
        at: Duration,
        from: Target,
        to: Target,
    },
    Release {
        at: Duration,
        from: Target,
        to: Target,
    },
    ClockOffset {
        at: Duration,
        target: Target,
        offset: SignedDuration,
    },
    ClockDrift {
        at: Duration,
        target: Target,
        ppm: i64,
    },
    ClockJump {
        at: Duration,
        target: Target,
        delta: SignedDuration,
    },
    /// The target's syncs fail (and lose what they covered) for `duration`.
    DiskFailSyncs {
        at: Duration,
        target: Target,
        duration: Duration,
    },
    /// The target's writes are rejected for `duration`.
    DiskFailWrites {
        at: Duration,
        target: Target,
        duration: Duration,
    },
    /// Replaces the network's rates; fields left out keep their current value.
    Network {
        at: Duration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency: Option<Latency>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss: Option<Ratio>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duplication: Option<Ratio>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reordering: Option<Ratio>,
    },
    /// Back to the scenario's base network rates.
    NetworkReset {
        at: Duration,
    },
    /// A group consumer (`c<n>`) joins only at `at`: it is absent before (a worker added).
    AddConsumer {
        at: Duration,
        target: Target,
    },
    /// A group consumer commits, leaves its group at `at` and stays gone (a worker removed).
    RemoveConsumer {
        at: Duration,
        target: Target,
    },
    /// An operator's preferred-replica election over every partition (Kafka's
    /// `kafka-leader-election.sh --election-type preferred --all-topic-partitions`, what
    /// `auto.leader.rebalance.enable` does periodically): each partition whose first replica is
    /// alive, in the ISR and not leading moves its leadership there, deposing a live leader.
    /// The run's admin client sends it to the active controller at `at` on its own clock, and
    /// retries until a controller answers.
    ElectPreferredLeaders {
        at: Duration,
    },
}

/// The one body of [`Fault::at`] and [`Fault::at_mut`]: the same match, over a shared or a
/// unique reference.
macro_rules! fault_time {
    ($fault:expr) => {
        match $fault {
            Fault::Crash { at, .. }
            | Fault::Restart { at, .. }
            | Fault::Pause { at, .. }
            | Fault::Resume { at, .. }
            | Fault::Partition { at, .. }
            | Fault::Isolate { at, .. }
            | Fault::OneWay { at, .. }
            | Fault::Bridge { at, .. }
            | Fault::RandomSplit { at }
            | Fault::Heal { at }
            | Fault::Hold { at, .. }
            | Fault::Release { at, .. }
            | Fault::ClockOffset { at, .. }
            | Fault::ClockDrift { at, .. }
            | Fault::ClockJump { at, .. }
            | Fault::DiskFailSyncs { at, .. }
            | Fault::DiskFailWrites { at, .. }
            | Fault::Network { at, .. }
            | Fault::NetworkReset { at }
            | Fault::AddConsumer { at, .. }
            | Fault::RemoveConsumer { at, .. }
            | Fault::ElectPreferredLeaders { at } => at,
        }
    };
}

/// The one body of [`Fault::targets`] and [`Fault::targets_mut`]: the same match, over shared or
/// unique references (`$iter` is `iter` or `iter_mut`).
macro_rules! named_targets {
    ($fault:expr, $iter:ident) => {
        match $fault {
            Fault::Crash { target, .. }
            | Fault::Restart { target, .. }
            | Fault::Pause { target, .. }
            | Fault::Resume { target, .. }
            | Fault::Isolate { target, .. }
            | Fault::ClockOffset { target, .. }
            | Fault::ClockDrift { target, .. }
            | Fault::ClockJump { target, .. }
            | Fault::DiskFailSyncs { target, .. }
            | Fault::DiskFailWrites { target, .. }
            | Fault::AddConsumer { target, .. }
            | Fault::RemoveConsumer { target, .. } => vec![("target", target)],
            Fault::Partition { groups, .. } => groups
                .$iter()
                .flatten()
                .map(|target| ("groups", target))
                .collect(),
            Fault::OneWay { from, to, .. } => {
                let from = from.$iter().map(|target| ("from", target));
                from.chain(to.$iter().map(|target| ("to", target)))
                    .collect()
            }
            Fault::Bridge {
                left,
                bridge,
                right,
                ..
            } => {
                let mut targets: Vec<_> = left.$iter().map(|target| ("left", target)).collect();
                targets.push(("bridge", bridge));
                targets.extend(right.$iter().map(|target| ("right", target)));
                targets
            }
            Fault::Hold { from, to, .. } | Fault::Release { from, to, .. } => {
                vec![("from", from), ("to", to)]
            }
            Fault::RandomSplit { .. }
            | Fault::Heal { .. }
            | Fault::Network { .. }
            | Fault::NetworkReset { .. }
            | Fault::ElectPreferredLeaders { .. } => Vec::new(),
        }
    };
}

impl Fault {
    /// The `action` name, as written in scenario files.
    pub fn action(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::Partition { .. } => "partition",
            Fault::Isolate { .. } => "isolate",
            Fault::OneWay { .. } => "one-way",
            Fault::Bridge { .. } => "bridge",
            Fault::RandomSplit { .. } => "random-split",
            Fault::Heal { .. } => "heal",
            Fault::Hold { .. } => "hold",
            Fault::Release { .. } => "release",
            Fault::ClockOffset { .. } => "clock-offset",
            Fault::ClockDrift { .. } => "clock-drift",
            Fault::ClockJump { .. } => "clock-jump",
            Fault::DiskFailSyncs { .. } => "disk-fail-syncs",
            Fault::DiskFailWrites { .. } => "disk-fail-writes",
            Fault::Network { .. } => "network",
            Fault::NetworkReset { .. } => "network-reset",
            Fault::AddConsumer { .. } => "add-consumer",
            Fault::RemoveConsumer { .. } => "remove-consumer",
            Fault::ElectPreferredLeaders { .. } => "elect-preferred-leaders",
        }
    }

    pub fn at(&self) -> Duration {
        *fault_time!(self)
    }

    /// [`Fault::at`], to move it (the shrinker moves faults earlier).
    pub fn at_mut(&mut self) -> &mut Duration {
        fault_time!(self)
    }

    /// Every target the fault names, with the field that names it.
    pub fn targets(&self) -> Vec<(&'static str, &Target)> {
        named_targets!(self, iter)
    }

    /// [`Fault::targets`], to rewrite them (the shrinker retargets faults at a smaller cluster).
    pub fn targets_mut(&mut self) -> Vec<(&'static str, &mut Target)> {
        named_targets!(self, iter_mut)
    }
}
