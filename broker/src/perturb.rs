//! Perturbations: legal but rare behaviours a broker takes on purpose, so that simulated runs
//! reach the paths a real cluster takes only under load or bad luck (FoundationDB's BUGGIFY).
//!
//! Each [`Site`] is a place where a correct broker may act otherwise than it usually does: serve
//! a fetch fewer records than it could, answer a fetch before its wait is over, refuse a produce
//! as busy, sync without waiting for the sync in flight, elect another in-sync replica, drop a
//! follower that is behind from the ISR early, rebalance a stable group, skip a high watermark
//! checkpoint, time a produce out early. Every one of them is something Kafka's brokers also do
//! (under `fetch.max.bytes`, a full purgatory, a loaded disk, a different controller, a shorter
//! `replica.lag.time.max.ms`, a change of group metadata, a longer checkpoint interval, a shorter
//! produce timeout), so no
//! guarantee may depend on their absence: a violation found in a perturbed run is a bug like any
//! other.
//!
//! Off by default (`ClusterConfig::perturbations`). When on, a node at each start draws which
//! sites are armed for this incarnation (each with probability [`ARMED_RATIO`]), and an armed site
//! fires with probability [`FIRE_RATIO`] each time it is reached (more often for a site whose
//! occasions are rare: [`Site::fire_ratio`]). Runs thus differ in which
//! unusual paths they take, and take them often enough to matter, as FoundationDB's are.
//!
//! Determinism: the draws come from the node's own perturbation generator, seeded at start from
//! one draw of the generator its driver hands it. Drawing whether a site fires never shifts the
//! node's other draws (election jitter). Off, nothing is drawn, so a run without perturbations
//! is the run it was before they existed. Each firing is reported as
//! [`crate::node::Observation::Perturbed`], so a campaign can show which sites its runs reached.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Chance that a site is armed for one incarnation of a node (numerator, denominator).
pub const ARMED_RATIO: (u32, u32) = (1, 4);
/// Chance that an armed site fires each time it is reached (numerator, denominator), but for
/// sites reached rarely ([`Site::fire_ratio`]).
pub const FIRE_RATIO: (u32, u32) = (1, 4);

/// A place where a broker may take a legal but unusual path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// A leader refuses a produce with its in-flight limit's retriable error, before appending,
    /// as a broker whose purgatory is full would.
    ProduceRefusedBusy,
    /// A leader serves a fetch fewer records than it holds (as `fetch.max.bytes` would).
    FetchFewerRecords,
    /// A leader answers a fetch with nothing new at once instead of holding it: a fetch's wait
    /// is a bound, not a promise.
    FetchAnsweredEarly,
    /// Partition data syncs at once instead of sharing the next sync after the one in flight.
    SyncWithoutGroupCommit,
    /// The active controller elects a partition leader among the eligible in-sync replicas at
    /// random, not the first in replica order.
    LeaderElectedAtRandom,
    /// A leader takes an in-sync follower that is behind its log end to have lagged too long, as
    /// under a shorter `replica.lag.time.max.ms`, and asks to shrink the ISR.
    IsrShrunkEarly,
    /// A group coordinator starts a rebalance of a stable group on a member's heartbeat, as a
    /// change of the group's metadata would.
    RebalanceTriggered,
    /// A broker skips a round of high watermark checkpoints, as under a longer
    /// `replica.high-watermark.checkpoint.interval.ms`: a restart recovers an older HW.
    HighWatermarkCheckpointSkipped,
    /// A leader answers an acks=all produce still waiting for its ISR with REQUEST_TIMED_OUT
    /// before its deadline, as under a shorter produce `timeout.ms`: the producer learns nothing
    /// of its outcome, and the batch may yet be committed.
    ProduceTimedOutEarly,
}

impl Site {
    /// Every site, in declaration order.
    pub const ALL: [Site; 9] = [
        Site::ProduceRefusedBusy,
        Site::FetchFewerRecords,
        Site::FetchAnsweredEarly,
        Site::SyncWithoutGroupCommit,
        Site::LeaderElectedAtRandom,
        Site::IsrShrunkEarly,
        Site::RebalanceTriggered,
        Site::HighWatermarkCheckpointSkipped,
        Site::ProduceTimedOutEarly,
    ];

    /// The site's name in reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            Site::ProduceRefusedBusy => "produce-refused-busy",
            Site::FetchFewerRecords => "fetch-fewer-records",
            Site::FetchAnsweredEarly => "fetch-answered-early",
            Site::SyncWithoutGroupCommit => "sync-without-group-commit",
            Site::LeaderElectedAtRandom => "leader-elected-at-random",
            Site::IsrShrunkEarly => "isr-shrunk-early",
            Site::RebalanceTriggered => "rebalance-triggered",
            Site::HighWatermarkCheckpointSkipped => "high-watermark-checkpoint-skipped",
            Site::ProduceTimedOutEarly => "produce-timed-out-early",
        }
    }

    /// Chance that the site fires each time it is reached when armed: [`FIRE_RATIO`], more for
    /// a site whose occasions are rare (a partition election happens a few times a run, on one
    /// node; a checkpoint round once per interval), so that it fires in more than one run in
    /// sixteen, and less for one whose firings cost the history knowledge.
    pub fn fire_ratio(self) -> (u32, u32) {
        match self {
            Site::LeaderElectedAtRandom => (1, 1),
            Site::HighWatermarkCheckpointSkipped => (1, 2),
            // Reached for every waiting produce at every tick, and each firing makes a send's
            // outcome unknown (which weakens what the history can show): rarer.
            Site::ProduceTimedOutEarly => (1, 16),
            Site::ProduceRefusedBusy
            | Site::FetchFewerRecords
            | Site::FetchAnsweredEarly
            | Site::SyncWithoutGroupCommit
            | Site::IsrShrunkEarly
            | Site::RebalanceTriggered => FIRE_RATIO,
        }
    }

    #[inline]
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A node's perturbations: which sites are armed, the generator that decides firings, and the
/// firings not yet reported.
#[derive(Clone, Debug, Default)]
pub(crate) struct Perturbations {
    /// `None` while perturbations are off (or before the node started).
    generator: Option<ChaCha8Rng>,
    /// One bit per [`Site`] armed in this incarnation.
    armed: u32,
    /// Sites that fired during the current step, reported at its end.
    fired: Vec<Site>,
    /// Every armed site fires every time (tests of the sites).
    #[cfg(test)]
    always: bool,
}

impl Perturbations {
    /// Arms this incarnation's sites from `seed`.
    pub(crate) fn start(&mut self, seed: u64) {
        let mut generator = ChaCha8Rng::seed_from_u64(seed);
        self.armed = Site::ALL
            .iter()
            .filter(|_| generator.random_ratio(ARMED_RATIO.0, ARMED_RATIO.1))
            .fold(0, |armed, site| armed | site.bit());
        self.generator = Some(generator);
    }

    /// Whether `site` fires this time. Never draws for a site that is not armed: with
    /// perturbations off, one test of a bit.
    #[inline]
    pub(crate) fn fires(&mut self, site: Site) -> bool {
        if self.armed & site.bit() == 0 {
            return false;
        }
        self.draw(site)
    }

    #[inline(never)]
    fn draw(&mut self, site: Site) -> bool {
        let generator = self.generator.as_mut().expect("armed only once started");
        let (numerator, denominator) = site.fire_ratio();
        let fires = generator.random_ratio(numerator, denominator);
        #[cfg(test)]
        let fires = fires || self.always;
        if fires {
            self.fired.push(site);
        }
        fires
    }

    /// A draw in `0..bound` for a site that fired (which record count, which replica).
    pub(crate) fn choose(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "a choice among nothing");
        let generator = self.generator.as_mut().expect("a site fired");
        generator.random_range(0..bound)
    }

    /// Whether a site fired since the last [`Perturbations::take_fired`].
    #[inline]
    pub(crate) fn any_fired(&self) -> bool {
        !self.fired.is_empty()
    }

    /// The sites that fired since the last call.
    pub(crate) fn take_fired(&mut self) -> impl Iterator<Item = Site> + '_ {
        self.fired.drain(..)
    }

    /// Whether `site` is armed in this incarnation (for a site that must look around before it
    /// knows whether it has an occasion to fire).
    #[inline]
    pub(crate) fn is_armed(&self, site: Site) -> bool {
        self.armed & site.bit() != 0
    }

    /// Arms every site (tests that need a site to fire).
    #[cfg(test)]
    pub(crate) fn arm_all(&mut self, seed: u64) {
        self.generator = Some(ChaCha8Rng::seed_from_u64(seed));
        self.armed = Site::ALL.iter().fold(0, |armed, site| armed | site.bit());
    }

    /// Arms `site` alone, to fire every time it is reached.
    #[cfg(test)]
    pub(crate) fn fire_always(&mut self, site: Site) {
        self.generator = Some(ChaCha8Rng::seed_from_u64(0));
        self.armed = site.bit();
        self.always = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_nothing_fires_and_nothing_is_drawn() {
        let mut perturbations = Perturbations::default();
        for site in Site::ALL {
            assert!(!perturbations.fires(site));
        }
        assert!(perturbations.generator.is_none());
        assert_eq!(perturbations.take_fired().count(), 0);
    }

    #[test]
    fn armed_sites_vary_by_seed_and_fire_about_a_quarter_of_the_time() {
        let armed_counts: Vec<usize> = (0..64)
            .map(|seed| {
                let mut perturbations = Perturbations::default();
                perturbations.start(seed);
                Site::ALL
                    .iter()
                    .filter(|site| perturbations.is_armed(**site))
                    .count()
            })
            .collect();
        assert!(armed_counts.contains(&0));
        assert!(armed_counts.iter().any(|count| *count >= 2));

        let mut perturbations = Perturbations::default();
        perturbations.arm_all(7);
        let fired = (0..4000)
            .filter(|_| perturbations.fires(Site::FetchFewerRecords))
            .count();
        assert!((800..1200).contains(&fired), "fired {fired} times of 4000");
        assert_eq!(perturbations.take_fired().count(), fired);
    }

    #[test]
    fn the_same_seed_arms_and_fires_the_same_way() {
        let run = |seed| {
            let mut perturbations = Perturbations::default();
            perturbations.start(seed);
            let fired: Vec<bool> = (0..200)
                .map(|index| perturbations.fires(Site::ALL[index % Site::ALL.len()]))
                .collect();
            (perturbations.armed, fired)
        };
        assert_eq!(run(11), run(11));
        let mut runs: Vec<_> = (0..16).map(run).collect();
        runs.sort();
        runs.dedup();
        assert!(runs.len() > 1, "every seed perturbed the same way");
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = Site::ALL.iter().map(|site| site.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Site::ALL.len());
    }
}
