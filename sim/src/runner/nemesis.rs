//! The nemesis: random faults drawn from the seed, swarm style.
//!
//! Swarm testing (Groce et al., and TigerBeetle's VOPR): rather than every fault kind at a
//! middling rate in every run, each seed enables a random subset of the listed kinds, each at its
//! own random intensity. Some seeds hammer one mechanism, others mix two; over a campaign this
//! finds bugs that a uniform mix dilutes away.
//!
//! The plan is drawn up front as ordinary scenario [`Fault`]s with explicit brokers, so a run's
//! nemesis can be written out as a scenario file and shrunk like any script. Every fault has its
//! undo in the plan (a crash its restart, a partition its heal) unless the fault phase ends
//! first, in which case the heal phase undoes it.

use std::fmt;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::distribution::{Latency, Ratio};
use crate::scenario::{Duration, Fault, Nemesis, NemesisKind, SignedDuration, Target};

/// Mean gaps between two faults of one kind, one drawn per enabled kind.
const MEAN_GAPS_MS: [u64; 4] = [500, 1_000, 2_000, 5_000];
/// How long a fault lasts before its undo, at most.
const FAULT_DURATION_MS_MAX: u64 = 3_000;
/// The slowest of a network fault's slow packets (its latency's tail), drawn up to this: past
/// the clients' 2 s request timeout, so that a retry can overtake its first copy.
const SLOW_PACKET_MS_MAX: u64 = 3_000;

/// One enabled kind and its intensity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnabledKind {
    pub kind: NemesisKind,
    pub mean_gap_ms: u64,
}

/// What the nemesis chose for one seed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NemesisPlan {
    pub enabled: Vec<EnabledKind>,
    pub disabled: Vec<NemesisKind>,
    #[serde(skip)]
    pub faults: Vec<Fault>,
}

impl fmt::Display for NemesisPlan {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enabled: Vec<String> = self
            .enabled
            .iter()
            .map(|enabled| format!("{:?} every ~{}ms", enabled.kind, enabled.mean_gap_ms))
            .collect();
        write!(
            formatter,
            "nemesis: {} ({} faults)",
            enabled.join(", "),
            self.faults.len()
        )?;
        if !self.disabled.is_empty() {
            write!(formatter, "; off this seed: {:?}", self.disabled)?;
        }
        Ok(())
    }
}

/// Draws the nemesis plan for one seed over `fault_phase` on `brokers` brokers.
pub fn plan(
    nemesis: &Nemesis,
    brokers: u32,
    fault_phase: Duration,
    rng: &mut ChaCha8Rng,
) -> NemesisPlan {
    assert!(brokers >= 1 && !nemesis.kinds.is_empty());
    let mut enabled_kinds: Vec<NemesisKind> = nemesis
        .kinds
        .iter()
        .copied()
        .filter(|_| rng.random_ratio(1, 2))
        .collect();
    if enabled_kinds.is_empty() {
        enabled_kinds.push(nemesis.kinds[rng.random_range(0..nemesis.kinds.len())]);
    }
    let disabled = nemesis
        .kinds
        .iter()
        .copied()
        .filter(|kind| !enabled_kinds.contains(kind))
        .collect();
    let mut enabled = Vec::new();
    let mut faults = Vec::new();
    for kind in enabled_kinds {
        let mean_gap_ms = MEAN_GAPS_MS[rng.random_range(0..MEAN_GAPS_MS.len())];
        enabled.push(EnabledKind { kind, mean_gap_ms });
        let mut at_ms = 0;
        loop {
            at_ms += rng.random_range(mean_gap_ms / 2..=mean_gap_ms * 3 / 2);
            if at_ms * 1_000_000 >= fault_phase.ns {
                break;
            }
            faults.extend(faults_of(kind, at_ms, brokers, fault_phase, rng));
        }
    }
    faults.sort_by_key(Fault::at);
    NemesisPlan {
        enabled,
        disabled,
        faults,
    }
}

/// One fault of `kind` at `at_ms`, and its undo when it falls inside the fault phase.
fn faults_of(
    kind: NemesisKind,
    at_ms: u64,
    brokers: u32,
    fault_phase: Duration,
    rng: &mut ChaCha8Rng,
) -> Vec<Fault> {
    let at = Duration::from_ms(at_ms);
    let end = Duration::from_ms(at_ms + rng.random_range(100..=FAULT_DURATION_MS_MAX));
    let target = Target::Broker(rng.random_range(0..brokers));
    let (fault, undo) = match kind {
        NemesisKind::Crash => (
            Fault::Crash {
                at,
                target: target.clone(),
            },
            Some(Fault::Restart { at: end, target }),
        ),
        NemesisKind::Pause => (
            Fault::Pause {
                at,
                target: target.clone(),
            },
            Some(Fault::Resume { at: end, target }),
        ),
        NemesisKind::Partition => (
            partition_fault(at, brokers, rng),
            Some(Fault::Heal { at: end }),
        ),
        NemesisKind::Clock => (clock_fault(at, target, rng), None),
        NemesisKind::Disk => {
            let duration = Duration::from_ms(end.ns / 1_000_000 - at_ms);
            (disk_fault(at, target, duration, rng), None)
        }
        NemesisKind::Network => network_fault(at, end, brokers, rng),
    };
    let undo = undo.filter(|undo| undo.at() <= fault_phase);
    std::iter::once(fault).chain(undo).collect()
}

/// Failed syncs or failed writes, one in two, for `duration`.
fn disk_fault(at: Duration, target: Target, duration: Duration, rng: &mut ChaCha8Rng) -> Fault {
    if rng.random_ratio(1, 2) {
        Fault::DiskFailSyncs {
            at,
            target,
            duration,
        }
    } else {
        Fault::DiskFailWrites {
            at,
            target,
            duration,
        }
    }
}

/// A stalled link (one time in three, with two brokers or more), or lossy, duplicating and
/// reordering rates; with the undo at `end`.
fn network_fault(
    at: Duration,
    end: Duration,
    brokers: u32,
    rng: &mut ChaCha8Rng,
) -> (Fault, Option<Fault>) {
    if brokers >= 2 && rng.random_ratio(1, 3) {
        // A stalled link: one direction's traffic queues, then arrives all at once.
        let (from, to) = two_brokers(brokers, rng);
        let (from, to) = (Target::Broker(from), Target::Broker(to));
        let release = Fault::Release {
            at: end,
            from: from.clone(),
            to: to.clone(),
        };
        return (Fault::Hold { at, from, to }, Some(release));
    }
    let loss = Some(Ratio::new(rng.random_range(1..=20), 100));
    // Brokers drop a request they already handled, as TCP would (`broker::dedup`).
    let duplication = Some(Ratio::new(rng.random_range(0..=10), 100));
    let reordering = Some(Ratio::new(rng.random_range(0..=10), 100));
    let fault = Fault::Network {
        at,
        latency: slow_packets(rng),
        loss,
        duplication,
        reordering,
    };
    (fault, Some(Fault::NetworkReset { at: end }))
}

/// In half the network faults, a long latency tail: a few packets in a thousand are late by up
/// to [`SLOW_PACKET_MS_MAX`], longer than a request timeout, so that requests are retried while
/// their first copy is still on its way and lands after the retry (a stale EndTxn, a stale
/// fetch). Otherwise the scenario's latency stays.
fn slow_packets(rng: &mut ChaCha8Rng) -> Option<Latency> {
    if !rng.random_ratio(1, 2) {
        return None;
    }
    Some(Latency::LongTail {
        min_ns: 1_000_000,
        max_ns: 5_000_000,
        tail: Ratio::new(rng.random_range(1..=10), 1_000),
        tail_max_ns: rng.random_range(500..=SLOW_PACKET_MS_MAX) * 1_000_000,
    })
}

fn clock_fault(at: Duration, target: Target, rng: &mut ChaCha8Rng) -> Fault {
    if rng.random_ratio(1, 2) {
        let magnitude_ns = rng.random_range(1..=10_000) * 1_000_000i64;
        let delta = SignedDuration {
            ns: if rng.random_ratio(1, 2) {
                magnitude_ns
            } else {
                -magnitude_ns
            },
        };
        Fault::ClockJump { at, target, delta }
    } else {
        Fault::ClockDrift {
            at,
            target,
            ppm: rng.random_range(-100_000..=100_000),
        }
    }
}

/// A cut of the brokers' links: two groups (half the time), traffic lost one way only, or two
/// sides joined by a bridge broker that reaches both (Jepsen's nemeses).
fn partition_fault(at: Duration, brokers: u32, rng: &mut ChaCha8Rng) -> Fault {
    let shape = match brokers {
        1 => 0,
        2 => rng.random_range(0..3),
        _ => rng.random_range(0..4),
    };
    match shape {
        0 | 1 => Fault::Partition {
            at,
            groups: random_groups(brokers, rng),
        },
        2 => {
            let [from, to] =
                <[Vec<Target>; 2]>::try_from(random_groups(brokers, rng)).expect("two groups");
            if rng.random_ratio(1, 2) {
                Fault::OneWay { at, from, to }
            } else {
                Fault::OneWay {
                    at,
                    from: to,
                    to: from,
                }
            }
        }
        _ => {
            let mut shuffled: Vec<u32> = (0..brokers).collect();
            shuffled.shuffle(rng);
            let bridge = Target::Broker(shuffled.pop().expect("three brokers"));
            let right_count = rng.random_range(1..shuffled.len());
            let right = shuffled.split_off(shuffled.len() - right_count);
            let side = |brokers: Vec<u32>| brokers.into_iter().map(Target::Broker).collect();
            Fault::Bridge {
                at,
                left: side(shuffled),
                bridge,
                right: side(right),
            }
        }
    }
}

/// Two different brokers, in a random order.
fn two_brokers(brokers: u32, rng: &mut ChaCha8Rng) -> (u32, u32) {
    let from = rng.random_range(0..brokers);
    let to = (from + rng.random_range(1..brokers)) % brokers;
    (from, to)
}

/// Two groups: a random minority (or a single isolated broker) and the rest.
fn random_groups(brokers: u32, rng: &mut ChaCha8Rng) -> Vec<Vec<Target>> {
    let mut shuffled: Vec<u32> = (0..brokers).collect();
    shuffled.shuffle(rng);
    let minority = rng.random_range(1..=((brokers.max(2) - 1) / 2).max(1)) as usize;
    let majority = shuffled.split_off(minority.min(shuffled.len()));
    [shuffled, majority]
        .into_iter()
        .map(|group| group.into_iter().map(Target::Broker).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{Stream, stream};

    fn all_kinds() -> Nemesis {
        use NemesisKind::*;
        Nemesis {
            kinds: vec![Partition, Crash, Pause, Clock, Disk, Network],
        }
    }

    #[test]
    fn plans_are_a_function_of_the_seed() {
        let phase = Duration::from_secs(30);
        let first = plan(&all_kinds(), 5, phase, &mut stream(9, Stream::Nemesis));
        let again = plan(&all_kinds(), 5, phase, &mut stream(9, Stream::Nemesis));
        assert_eq!(first, again);
        assert_eq!(first.faults, again.faults);
    }

    #[test]
    fn seeds_enable_different_subsets_and_every_fault_fits_the_phase() {
        let phase = Duration::from_secs(20);
        let mut subsets = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let drawn = plan(&all_kinds(), 3, phase, &mut stream(seed, Stream::Nemesis));
            assert!(!drawn.enabled.is_empty());
            assert!(drawn.faults.iter().all(|fault| fault.at() <= phase));
            assert!(
                drawn
                    .faults
                    .windows(2)
                    .all(|pair| pair[0].at() <= pair[1].at())
            );
            let targets_ok = drawn
                .faults
                .iter()
                .flat_map(|fault| fault.targets())
                .all(|(_, target)| matches!(target, Target::Broker(index) if *index < 3));
            assert!(targets_ok, "explicit brokers only");
            subsets.insert(format!(
                "{:?}",
                drawn
                    .enabled
                    .iter()
                    .map(|kind| kind.kind)
                    .collect::<Vec<_>>()
            ));
        }
        assert!(
            subsets.len() >= 20,
            "swarm: many different subsets, got {}",
            subsets.len()
        );
    }

    /// Some network faults keep the scenario's latency and some add slow packets, late past a
    /// request timeout at worst, so that retries overtake first copies.
    #[test]
    fn half_the_network_faults_bring_slow_packets() {
        let network = Nemesis {
            kinds: vec![NemesisKind::Network],
        };
        let phase = Duration::from_secs(20);
        let (mut plain, mut slow, mut late_past_timeout) = (0, 0, 0);
        for seed in 0..64 {
            let drawn = plan(&network, 3, phase, &mut stream(seed, Stream::Nemesis));
            for fault in &drawn.faults {
                match fault {
                    Fault::Network { latency: None, .. } => plain += 1,
                    Fault::Network {
                        latency: Some(Latency::LongTail { tail_max_ns, .. }),
                        ..
                    } => {
                        slow += 1;
                        assert!(*tail_max_ns <= SLOW_PACKET_MS_MAX * 1_000_000);
                        late_past_timeout += usize::from(*tail_max_ns > 2_000_000_000);
                    }
                    Fault::Network { latency, .. } => panic!("unexpected latency {latency:?}"),
                    _ => {}
                }
            }
        }
        assert!(plain > 0 && slow > 0, "{plain} plain, {slow} slow");
        assert!(
            late_past_timeout > 0,
            "some tails outlast a 2 s request timeout"
        );
    }

    #[test]
    fn a_plan_written_as_a_scenario_script_validates() {
        let phase = Duration::from_secs(10);
        let drawn = plan(&all_kinds(), 3, phase, &mut stream(3, Stream::Nemesis));
        let text = format!(
            "name = \"nemesis\"\nwhy = \"test\"\nfault_phase = \"10s\"\n[cluster]\nbrokers = 3\n\
             [[cluster.topics]]\nname = \"t\"\npartitions = 1\nreplication_factor = 3\nmin_insync_replicas = 2\n\
             [[workload.producers]]\ntopic = \"t\"\nrate_per_second = 1\n[[workload.consumers]]\ntopic = \"t\"\n{}",
            toml::to_string(&FaultList {
                faults: drawn.faults.clone()
            })
            .unwrap()
        );
        let scenario = crate::scenario::Scenario::parse(&text, "nemesis.toml").unwrap();
        assert_eq!(scenario.faults, drawn.faults);
    }

    #[derive(serde::Serialize)]
    struct FaultList {
        faults: Vec<Fault>,
    }
}
