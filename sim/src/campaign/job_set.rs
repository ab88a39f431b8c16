//! The set of jobs a campaign folder recorded, held as ranges.
//!
//! Resume skips the recorded jobs, and reading a folder refuses a job recorded twice: both need
//! the set. A shard's jobs are `index, index + count, ...`, and a campaign takes them in that
//! order, so what it recorded is a prefix of them with a few holes (the seeds in flight when it
//! stopped). Held as ranges of positions in the shard (`job / count`), millions of recorded
//! jobs take a few ranges, where a set of single jobs took tens of bytes each.
//!
//! Invariants: ranges are disjoint, not adjacent (touching ranges merge), and `len` is the
//! number of jobs they hold.

use std::collections::BTreeMap;

use crate::campaign::schedule::Shard;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSet {
    shard: Shard,
    /// First position to last position, both included.
    ranges: BTreeMap<u64, u64>,
    len: u64,
}

impl JobSet {
    /// An empty set of `shard`'s jobs.
    pub fn new(shard: Shard) -> JobSet {
        JobSet {
            shard,
            ranges: BTreeMap::new(),
            len: 0,
        }
    }

    fn position(&self, job: u64) -> u64 {
        assert!(
            self.shard.holds(job),
            "job {job} is not one of shard {}'s",
            self.shard
        );
        job / u64::from(self.shard.count)
    }

    /// Adds `job` (one of the shard's); false if it was already in.
    pub fn insert(&mut self, job: u64) -> bool {
        let position = self.position(job);
        let before = self.ranges.range(..=position).next_back();
        let first = match before {
            Some((_, &last)) if last >= position => return false,
            Some((&first, &last)) if last + 1 == position => first,
            _ => position,
        };
        let last = match position
            .checked_add(1)
            .and_then(|next| self.ranges.remove(&next))
        {
            Some(last) => last,
            None => position,
        };
        self.ranges.insert(first, last);
        self.len += 1;
        true
    }

    pub fn contains(&self, job: u64) -> bool {
        let position = self.position(job);
        self.ranges
            .range(..=position)
            .next_back()
            .is_some_and(|(_, &last)| last >= position)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ranges hold the jobs (for tests of the layout).
    #[cfg(test)]
    fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_prefix_with_holes_takes_a_range_per_run() {
        let shard = Shard { index: 2, count: 3 };
        let mut jobs = JobSet::new(shard);
        for position in (0..100_000u64).filter(|position| position % 50_000 != 7) {
            assert!(jobs.insert(position * 3 + 2));
        }
        assert_eq!((jobs.len(), jobs.ranges()), (99_998, 3));
        assert!(!jobs.insert(2), "already in");
        assert!(jobs.contains(5) && !jobs.contains(7 * 3 + 2) && !jobs.contains(300_002));
        assert!(jobs.insert(7 * 3 + 2));
        assert_eq!(jobs.ranges(), 2, "the hole closed and its ranges merged");
        let mut edge = JobSet::new(Shard::WHOLE);
        assert!(edge.insert(u64::MAX) && edge.insert(u64::MAX - 1) && !edge.insert(u64::MAX));
        assert_eq!((edge.len(), edge.ranges()), (2, 1));
    }

    proptest! {
        #[test]
        fn it_holds_exactly_what_a_set_holds(jobs in proptest::collection::vec(0u64..200, 0..300)) {
            let (mut set, mut ranges) = (BTreeSet::new(), JobSet::new(Shard::WHOLE));
            for job in jobs {
                prop_assert_eq!(set.insert(job), ranges.insert(job));
            }
            prop_assert_eq!(set.len() as u64, ranges.len());
            for job in 0..210 {
                prop_assert_eq!(set.contains(&job), ranges.contains(job));
            }
        }
    }
}
