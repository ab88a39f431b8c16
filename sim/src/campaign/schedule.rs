//! Which jobs a campaign runs: a pure function of (campaign seed, shard index, shard count).
//!
//! A job is one seed of one source (a scenario file, or the generator). Job `j` runs source
//! `j % sources` with seed [`seed_of`]`(campaign_seed, j / sources)`, so every source sees the
//! same seeds. Shard `k` of `n` runs the jobs `k, k + n, k + 2n, ...`: the shards of one campaign
//! partition its jobs exactly, whatever machine runs them and in whatever order.
//!
//! A fraction of jobs is audited (run twice, digests compared), chosen from the seed alone.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::campaign::mix;

/// Audit ratios are in parts per ten thousand (integer ratios, never floats).
pub const AUDIT_PARTS: u32 = 10_000;
/// 5%: the default share of audited seeds.
pub const AUDIT_PARTS_DEFAULT: u32 = 500;
/// The most shards a campaign may be split into.
pub const SHARDS_MAX: u32 = 1_000_000;

const AUDIT_SALT: u64 = 0x6175_6469_7420_2020;

/// One shard of a campaign: `index` of `count`, 0-based (`JOB_COMPLETION_INDEX` is too).
/// Invariant: `index < count <= SHARDS_MAX`, also for a shard read from a campaign folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard as a file holds it, before [`Shard::new`] checks it.
#[derive(Deserialize)]
struct ShardFields {
    index: u32,
    count: u32,
}

impl TryFrom<ShardFields> for Shard {
    type Error = String;
    fn try_from(fields: ShardFields) -> Result<Shard, String> {
        Shard::new(fields.index, fields.count)
    }
}

impl Shard {
    /// The whole campaign on one machine.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, if `index < count <= SHARDS_MAX`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > SHARDS_MAX {
            return Err(format!("count {count} is not in 1..={SHARDS_MAX}"));
        }
        if index >= count {
            return Err(format!("index {index} is not below count {count}"));
        }
        Ok(Shard { index, count })
    }

    /// Whether job `index` of the whole campaign is one of this shard's.
    pub fn holds(&self, job: u64) -> bool {
        job % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard: expected k/n with 0 <= k < n, like 3/8");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).map_err(|_| bad())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

/// The seed of the `seed_index`th seed of a campaign.
pub fn seed_of(campaign_seed: u64, seed_index: u64) -> u64 {
    mix(mix(campaign_seed) ^ seed_index)
}

/// Whether a seed is audited at `audit_parts` per [`AUDIT_PARTS`].
pub fn is_audited(seed: u64, audit_parts: u32) -> bool {
    assert!(audit_parts <= AUDIT_PARTS, "audit ratio above 1");
    mix(seed ^ AUDIT_SALT) % u64::from(AUDIT_PARTS) < u64::from(audit_parts)
}

/// One unit of work: a seed of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position in the whole campaign (all shards).
    pub index: u64,
    /// Which source (scenario file or generator) it runs.
    pub source: usize,
    pub seed: u64,
    pub audited: bool,
}

/// The jobs of a campaign, for one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub campaign_seed: u64,
    pub shard: Shard,
    pub sources: usize,
    /// Seeds per source over the whole campaign; `None` runs until stopped.
    pub seeds: Option<u64>,
    pub audit_parts: u32,
}

impl Schedule {
    pub fn job(&self, index: u64) -> Job {
        assert!(self.sources > 0, "a campaign needs a source");
        let sources = self.sources as u64;
        let seed = seed_of(self.campaign_seed, index / sources);
        Job {
            index,
            source: (index % sources) as usize,
            seed,
            audited: is_audited(seed, self.audit_parts),
        }
    }

    /// Jobs in the whole campaign, if bounded.
    pub fn campaign_jobs(&self) -> Option<u64> {
        self.seeds.map(|seeds| seeds * self.sources as u64)
    }

    /// Jobs of this shard, if bounded.
    pub fn shard_jobs(&self) -> Option<u64> {
        let total = self.campaign_jobs()?;
        let (index, count) = (u64::from(self.shard.index), u64::from(self.shard.count));
        Some(total.saturating_sub(index).div_ceil(count))
    }

    /// This shard's job indices in order, from `first` on (an index of this shard).
    pub fn shard_indices(&self) -> impl Iterator<Item = u64> + use<> {
        let limit = self.campaign_jobs().unwrap_or(u64::MAX);
        let step = u64::from(self.shard.count);
        (u64::from(self.shard.index)..limit).step_by(step as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn schedule(shard: Shard, seeds: u64) -> Schedule {
        Schedule {
            campaign_seed: 11,
            shard,
            sources: 3,
            seeds: Some(seeds),
            audit_parts: AUDIT_PARTS_DEFAULT,
        }
    }

    #[test]
    fn shards_partition_the_campaign_exactly() {
        let whole: Vec<Job> = schedule(Shard::WHOLE, 50)
            .shard_indices()
            .map(|index| schedule(Shard::WHOLE, 50).job(index))
            .collect();
        assert_eq!(whole.len(), 150);
        let mut union = Vec::new();
        for index in 0..7 {
            let shard = Shard { index, count: 7 };
            let part = schedule(shard, 50);
            let jobs: Vec<Job> = part.shard_indices().map(|job| part.job(job)).collect();
            assert_eq!(jobs.len() as u64, part.shard_jobs().unwrap());
            union.extend(jobs);
        }
        union.sort_by_key(|job| job.index);
        assert_eq!(union, whole);
    }

    #[test]
    fn seeds_depend_only_on_the_campaign_seed_and_position() {
        let one = schedule(Shard::WHOLE, 10);
        assert_eq!(one.job(4), one.job(4));
        assert_eq!(one.job(3).seed, one.job(5).seed, "sources share seeds");
        assert_ne!(one.job(3).seed, one.job(6).seed);
        let other = Schedule {
            campaign_seed: 12,
            ..one
        };
        assert_ne!(one.job(0).seed, other.job(0).seed);
        let distinct: BTreeSet<u64> = (0..10_000).map(|index| seed_of(0, index)).collect();
        assert_eq!(distinct.len(), 10_000);
    }

    #[test]
    fn about_the_audit_ratio_is_audited() {
        let audited = (0..20_000).filter(|&seed| is_audited(seed, 500)).count();
        assert!((800..1_200).contains(&audited), "{audited}");
        assert!((0..1_000).all(|seed| !is_audited(seed, 0)));
        assert!((0..1_000).all(|seed| is_audited(seed, AUDIT_PARTS)));
    }

    #[test]
    fn shards_parse_and_reject_nonsense() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard::WHOLE));
        for bad in ["8/8", "1/0", "x/2", "1", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let read = |text: &str| serde_json::from_str::<Shard>(text).map_err(|e| e.to_string());
        assert_eq!(
            read(r#"{"index": 2, "count": 3}"#),
            Ok(Shard { index: 2, count: 3 })
        );
        let error = read(r#"{"index": 3, "count": 3}"#).unwrap_err();
        assert!(error.starts_with("index 3 is not below count 3"), "{error}");
        assert!(read(r#"{"index": 0, "count": 0}"#).is_err());
    }
}
