//! Merging the folders of a sharded campaign into one summary.
//!
//! The folders must be shards of one campaign: the same config but for the shard index, each
//! index at most once. Missing shards and shards that stopped early are reported, not hidden:
//! a merged summary says how much of the campaign it covers.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::campaign::record::{self, CampaignConfig, FolderError};
use crate::campaign::summary::Summary;

#[derive(Debug, Serialize)]
pub struct Merged {
    pub summary: Summary,
    pub shard_count: u32,
    /// Shard indices with a folder.
    pub shards_present: Vec<u32>,
    /// Shard indices without one.
    pub shards_missing: Vec<u32>,
    /// Folders that ran fewer seeds than their shard holds (stopped or timed out).
    pub shards_incomplete: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error("{path}: not a shard of the same campaign as {first} ({difference})")]
    Mismatch {
        path: PathBuf,
        first: PathBuf,
        difference: String,
    },
    #[error("{path}: shard {shard} is already merged from another folder")]
    DuplicateShard { path: PathBuf, shard: String },
    #[error("no folder to merge")]
    Empty,
}

/// Merges the campaign folders `folders`.
pub fn merge(folders: &[PathBuf]) -> Result<Merged, MergeError> {
    let first = folders.first().ok_or(MergeError::Empty)?;
    let base = record::read_config(first)?;
    let mut summary = Summary::default();
    let mut present = BTreeSet::new();
    let mut incomplete = Vec::new();
    for folder in folders {
        let config = record::read_config(folder)?;
        if let Some(difference) = difference(&base, &config) {
            return Err(MergeError::Mismatch {
                path: folder.clone(),
                first: first.clone(),
                difference,
            });
        }
        if !present.insert(config.shard.index) {
            return Err(MergeError::DuplicateShard {
                path: folder.clone(),
                shard: config.shard.to_string(),
            });
        }
        let jobs = record::for_each_record(folder, &config, false, |record| {
            summary.add_record(folder, &record)
        })?;
        let expected = config.schedule().shard_jobs();
        if expected.is_some_and(|expected| jobs.len() < expected) {
            incomplete.push(format!(
                "{} (shard {}: {} of {} seeds)",
                folder.display(),
                config.shard,
                jobs.len(),
                expected.unwrap_or(0)
            ));
        }
    }
    Ok(Merged {
        summary,
        shard_count: base.shard.count,
        shards_missing: (0..base.shard.count)
            .filter(|index| !present.contains(index))
            .collect(),
        shards_present: present.into_iter().collect(),
        shards_incomplete: incomplete,
    })
}

fn difference(base: &CampaignConfig, other: &CampaignConfig) -> Option<String> {
    let checks = [
        (base.sources != other.sources, "sources"),
        (base.seeds != other.seeds, "seeds"),
        (base.campaign_seed != other.campaign_seed, "campaign seed"),
        (base.shard.count != other.shard.count, "shard count"),
        (base.audit_parts != other.audit_parts, "audit ratio"),
        (base.bugs != other.bugs, "bug switches"),
    ];
    checks
        .iter()
        .find(|(differs, _)| *differs)
        .map(|(_, what)| format!("its {what} differ"))
}

impl Merged {
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "merged shards {:?} of {}",
            self.shards_present, self.shard_count
        )];
        if !self.shards_missing.is_empty() {
            lines.push(format!("missing shards: {:?}", self.shards_missing));
        }
        for shard in &self.shards_incomplete {
            lines.push(format!("incomplete: {shard}"));
        }
        lines.push(self.summary.text());
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::execute::{self, Execution, Quiet};
    use crate::campaign::fake;
    use crate::campaign::job_set::JobSet;
    use crate::campaign::record::{CampaignFolder, Source};
    use crate::campaign::schedule::Shard;

    #[test]
    fn shards_merge_into_the_whole_campaign() {
        let root = std::env::temp_dir().join(format!("trial-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let config = |shard| CampaignConfig {
            sources: vec![Source::Generated],
            seeds: Some(60),
            campaign_seed: 9,
            shard,
            audit_parts: 0,
            bugs: Vec::new(),
            perturbations: false,
        };
        let execution = Execution {
            threads: 2,
            time_budget: None,
            clock: execute::tests::fake_clock,
        };
        let run = |shard: Shard, folder: &PathBuf| {
            let config = config(shard);
            let sources = execute::load_sources(&config).unwrap();
            let campaign = CampaignFolder::create(folder, &config).unwrap();
            let runner = fake::crash_b2_runner;
            execute::run(
                &campaign,
                &config,
                &sources,
                &JobSet::new(shard),
                execution,
                &runner,
                &Quiet,
            )
            .unwrap()
        };
        let whole = run(Shard::WHOLE, &root.join("whole"));
        let mut folders = Vec::new();
        for index in 0..3 {
            let folder = root.join(format!("shard-{index}"));
            run(Shard { index, count: 3 }, &folder);
            folders.push(folder);
        }
        let merged = merge(&folders[..2]).unwrap();
        assert_eq!(merged.shards_missing, [2]);
        let merged = merge(&folders).unwrap();
        assert!(merged.shards_missing.is_empty() && merged.shards_incomplete.is_empty());
        assert_eq!(merged.summary.runs, 60);
        assert_eq!(merged.summary.failed, whole.failed);
        assert_eq!(merged.summary.failures.len() as u64, whole.failed);
        assert!(matches!(
            merge(&[folders[0].clone(), folders[0].clone()]),
            Err(MergeError::DuplicateShard { .. })
        ));
        assert!(matches!(
            merge(&[folders[0].clone(), root.join("whole")]),
            Err(MergeError::Mismatch { .. })
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
