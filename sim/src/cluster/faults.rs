//! A seeded generator of random faults for cluster tests: crashes (then restarts), pauses (then
//! resumes) and network partitions (then heals), drawn from the run's nemesis stream.
//!
//! Each fault lasts a random duration and is then reverted; at most `concurrent_max` faults are
//! active at once, so a test can keep a majority reachable or not, as it needs.

use check::state::StateViolation;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::cluster::harness::ClusterSimulation;
use crate::seed::{Stream, stream};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Crash,
    Pause,
    Partition,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ActiveFault {
    Crashed(u32),
    Paused(u32),
    Partitioned,
}

/// Random faults for one run.
#[derive(Debug)]
pub struct RandomFaults {
    rng: ChaCha8Rng,
    kinds: Vec<FaultKind>,
    concurrent_max: usize,
    /// Gap between fault actions, drawn uniformly.
    gap_min_ns: u64,
    gap_max_ns: u64,
    /// How long a fault lasts, drawn uniformly.
    duration_min_ns: u64,
    duration_max_ns: u64,
    next_action_ns: u64,
    active: Vec<(u64, ActiveFault)>,
    /// Faults injected so far.
    pub injected: u64,
}

impl RandomFaults {
    /// Faults of `kinds`, at most `concurrent_max` at once, from `seed`'s nemesis stream.
    pub fn new(seed: u64, kinds: &[FaultKind], concurrent_max: usize) -> RandomFaults {
        assert!(!kinds.is_empty() && concurrent_max >= 1);
        RandomFaults {
            rng: stream(seed, Stream::Nemesis),
            kinds: kinds.to_vec(),
            concurrent_max,
            gap_min_ns: 100_000_000,
            gap_max_ns: 800_000_000,
            duration_min_ns: 200_000_000,
            duration_max_ns: 1_500_000_000,
            next_action_ns: 0,
            active: Vec::new(),
            injected: 0,
        }
    }

    /// Sets how long faults last (uniform in `min..=max`).
    pub fn with_durations(mut self, min_ns: u64, max_ns: u64) -> RandomFaults {
        assert!(min_ns <= max_ns);
        self.duration_min_ns = min_ns;
        self.duration_max_ns = max_ns;
        self
    }

    /// Reverts faults that are over and injects a new one when due. Call after every step.
    pub fn tick(&mut self, cluster: &mut ClusterSimulation) {
        let now_ns = cluster.now_ns();
        while let Some(position) = self.active.iter().position(|(end_ns, _)| *end_ns <= now_ns) {
            let (_, fault) = self.active.remove(position);
            revert(cluster, &fault);
        }
        if now_ns < self.next_action_ns {
            return;
        }
        self.next_action_ns = now_ns + self.rng.random_range(self.gap_min_ns..=self.gap_max_ns);
        if self.active.len() < self.concurrent_max {
            self.inject(cluster, now_ns);
        }
    }

    fn inject(&mut self, cluster: &mut ClusterSimulation, now_ns: u64) {
        let brokers = cluster.config().brokers;
        let kind = self.kinds[self.rng.random_range(0..self.kinds.len())];
        let node = self.rng.random_range(0..brokers);
        let busy = |fault: &ActiveFault| matches!(fault, ActiveFault::Crashed(id) | ActiveFault::Paused(id) if *id == node);
        if self.active.iter().any(|(_, fault)| busy(fault)) {
            return;
        }
        let fault = match kind {
            FaultKind::Crash => {
                cluster.crash(node);
                ActiveFault::Crashed(node)
            }
            FaultKind::Pause => {
                cluster.pause(node);
                ActiveFault::Paused(node)
            }
            FaultKind::Partition => {
                if self
                    .active
                    .iter()
                    .any(|(_, fault)| *fault == ActiveFault::Partitioned)
                {
                    return;
                }
                let groups = self.split(brokers);
                cluster.partition(&groups);
                ActiveFault::Partitioned
            }
        };
        let duration_ns = self
            .rng
            .random_range(self.duration_min_ns..=self.duration_max_ns);
        self.active.push((now_ns + duration_ns, fault));
        self.injected += 1;
    }

    /// Two non-empty groups of brokers.
    fn split(&mut self, brokers: u32) -> Vec<Vec<u32>> {
        assert!(brokers >= 2);
        let mut left: Vec<u32> = Vec::new();
        let mut right: Vec<u32> = Vec::new();
        for node in 0..brokers {
            if self.rng.random_bool(0.5) {
                left.push(node)
            } else {
                right.push(node)
            }
        }
        if left.is_empty() {
            left.push(right.remove(0));
        } else if right.is_empty() {
            right.push(left.remove(0));
        }
        vec![left, right]
    }

    /// Steps `cluster` until `until_ns`, ticking the faults after every step.
    pub fn run(
        &mut self,
        cluster: &mut ClusterSimulation,
        until_ns: u64,
    ) -> Result<(), StateViolation> {
        while cluster.now_ns() < until_ns {
            if !cluster.step()? {
                break;
            }
            self.tick(cluster);
        }
        Ok(())
    }

    /// Reverts every active fault.
    pub fn heal_all(&mut self, cluster: &mut ClusterSimulation) {
        for (_, fault) in std::mem::take(&mut self.active) {
            revert(cluster, &fault);
        }
        cluster.heal_all();
    }
}

fn revert(cluster: &mut ClusterSimulation, fault: &ActiveFault) {
    match fault {
        ActiveFault::Crashed(node) => {
            cluster.restart(*node);
        }
        ActiveFault::Paused(node) => {
            cluster.resume(*node);
        }
        ActiveFault::Partitioned => cluster.heal(),
    }
}
