//! The campaign folder.
//!
//! ```text
//! DIR/campaign.json   what the campaign is: sources, seeds, campaign seed, shard, audit, bugs
//! DIR/seeds.jsonl     one line per finished seed, appended and flushed as each seed finishes
//! DIR/failures/NAME/  one artifact folder per failure (runner::artifact), replayable
//! DIR/summary.json    the summary, written when the campaign stops
//! ```
//!
//! Invariants: a line is appended only after its failure artifact (if any) is complete, so a
//! recorded failure always has its folder; a line is written with one `write` call, so a killed
//! campaign leaves at most one torn last line, which [`CampaignFolder::resume`] cuts off. Each
//! job index appears at most once: resume skips the recorded ones and reruns only the jobs that
//! were in flight.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::campaign::bugs;
use crate::campaign::job_set::JobSet;
use crate::campaign::schedule::{AUDIT_PARTS, Schedule, Shard};
use crate::campaign::summary::Summary;
use crate::json::{self, JsonError};
use crate::runner::report::{RunReport, Verdict};

pub const CAMPAIGN_FILE: &str = "campaign.json";
pub const SEEDS_FILE: &str = "seeds.jsonl";
pub const FAILURES_FOLDER: &str = "failures";
pub const SUMMARY_FILE: &str = "summary.json";

/// Where a campaign's scenarios come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Source {
    /// A scenario file, by the path given.
    File { path: String },
    /// A scenario generated from each seed (`campaign::generate`).
    Generated,
}

impl Source {
    pub fn label(&self) -> &str {
        match self {
            Source::File { path } => path,
            Source::Generated => "generated",
        }
    }
}

/// What a campaign is: everything that decides which jobs it runs and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignConfig {
    pub sources: Vec<Source>,
    /// Seeds per source over the whole campaign; `None`: until the time budget ends.
    pub seeds: Option<u64>,
    pub campaign_seed: u64,
    pub shard: Shard,
    /// Audited seeds per 10,000.
    pub audit_parts: u32,
    /// Bug switches turned on in every scenario, by name.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// Perturbations (`broker::perturb`) turned on in every scenario, generated ones included
    /// (which otherwise have them one seed in two).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub perturbations: bool,
}

impl CampaignConfig {
    /// Refuses what no campaign can run: no source, no seeds, more jobs than a `u64` numbers,
    /// an audit ratio above 1, an unknown bug switch. Returns the field at fault and why. The
    /// flags are checked by the same rules, and so is a `campaign.json` read back.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let problem = |field: &str, message: String| Err((field.to_owned(), message));
        if self.sources.is_empty() {
            return problem(
                "sources",
                "a campaign needs a scenario file or the generator".into(),
            );
        }
        match self.seeds {
            Some(0) => return problem("seeds", "must be at least 1".into()),
            Some(seeds) if seeds.checked_mul(self.sources.len() as u64).is_none() => {
                return problem(
                    "seeds",
                    format!(
                        "{seeds} seeds of {} sources are more jobs than a campaign numbers",
                        self.sources.len()
                    ),
                );
            }
            _ => {}
        }
        if self.audit_parts > AUDIT_PARTS {
            return problem(
                "audit_parts",
                format!("{} is above {AUDIT_PARTS} (a ratio of 1)", self.audit_parts),
            );
        }
        for (index, name) in self.bugs.iter().enumerate() {
            bugs::enable(&mut Default::default(), name)
                .or_else(|message| problem(&format!("bugs[{index}]"), message))?;
        }
        Ok(())
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            campaign_seed: self.campaign_seed,
            shard: self.shard,
            sources: self.sources.len(),
            seeds: self.seeds,
            audit_parts: self.audit_parts,
        }
    }
}

/// One finished seed: a line of `seeds.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRecord {
    /// The job's index in the whole campaign.
    pub job: u64,
    pub scenario: String,
    pub scenario_path: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub digest: String,
    /// `source/kind` of each violation, in order.
    #[serde(default)]
    pub violations: Vec<String>,
    pub counters: BTreeMap<String, u64>,
    pub events: u64,
    pub simulated_ns: u64,
    pub wall_ns: u64,
    /// Whether the seed was run twice for the determinism audit.
    pub audited: bool,
    /// The failure's artifact folder, relative to the campaign folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

impl SeedRecord {
    pub fn new(job: u64, report: &RunReport, audited: bool) -> SeedRecord {
        SeedRecord {
            job,
            scenario: report.scenario.clone(),
            scenario_path: report.scenario_path.clone(),
            seed: report.seed,
            verdict: report.verdict,
            digest: report.digest.clone(),
            violations: report
                .violations
                .iter()
                .map(|violation| violation_label(violation.source, &violation.kind))
                .collect(),
            counters: report.stats.counters.clone(),
            events: report.stats.events,
            simulated_ns: report.stats.simulated_ns,
            wall_ns: report.stats.wall_ns,
            audited,
            artifact: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.verdict == Verdict::Fail
    }

    /// Refuses a record its campaign could not have written: a job of another shard, a seed
    /// that is not its job's, a malformed digest, an artifact outside `failures/`. Returns the
    /// field at fault and why.
    pub fn validate(&self, schedule: &Schedule) -> Result<(), (&'static str, String)> {
        let in_campaign = schedule.campaign_jobs().is_none_or(|jobs| self.job < jobs);
        if !in_campaign || !schedule.shard.holds(self.job) {
            return Err((
                "job",
                format!("job {} is not one of shard {}'s", self.job, schedule.shard),
            ));
        }
        let seed = schedule.job(self.job).seed;
        if self.seed != seed {
            return Err((
                "seed",
                format!("{} is not the seed of job {} ({seed})", self.seed, self.job),
            ));
        }
        if !crate::digest::is_formatted_digest(&self.digest) {
            return Err(("digest", format!("{:?} is not 16 hex digits", self.digest)));
        }
        if let Some(artifact) = &self.artifact {
            let path = Path::new(artifact);
            let inside = path.starts_with(FAILURES_FOLDER)
                && path
                    .components()
                    .all(|part| matches!(part, std::path::Component::Normal(_)));
            if !inside {
                return Err((
                    "artifact",
                    format!("{artifact:?} is not a folder under {FAILURES_FOLDER}/"),
                ));
            }
        }
        Ok(())
    }
}

/// `history/lost-write`: a violation's source and kind, as the campaign names them.
pub fn violation_label(source: crate::runner::report::ViolationSource, kind: &str) -> String {
    let source = serde_json::to_value(source).expect("a source serialises");
    format!("{}/{kind}", source.as_str().unwrap_or("?"))
}

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: already holds a campaign; pass --resume to continue it, or another --out")]
    Exists { path: PathBuf },
    /// Resume and merge both need a campaign folder.
    #[error("{path}: not a campaign folder ({CAMPAIGN_FILE} is missing)")]
    NotCampaign { path: PathBuf },
    #[error("{path}:{}: {error}", error.line)]
    Corrupt { path: PathBuf, error: JsonError },
}

fn corrupt(path: &Path) -> impl FnOnce(JsonError) -> FolderError + '_ {
    move |error| FolderError::Corrupt {
        path: path.to_path_buf(),
        error,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FolderError + '_ {
    move |source| FolderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a campaign folder already holds: the jobs it recorded, and their summary.
#[derive(Debug)]
pub struct Recorded {
    pub jobs: JobSet,
    pub summary: Summary,
}

impl Recorded {
    /// Nothing yet, of a campaign whose shard is `shard`.
    pub fn nothing(shard: Shard) -> Recorded {
        Recorded {
            jobs: JobSet::new(shard),
            summary: Summary::default(),
        }
    }
}

/// An open campaign folder, appending to `seeds.jsonl`.
#[derive(Debug)]
pub struct CampaignFolder {
    pub path: PathBuf,
    seeds: Mutex<File>,
}

impl CampaignFolder {
    /// Starts a new campaign in `path`, which must not hold one already.
    pub fn create(path: &Path, config: &CampaignConfig) -> Result<CampaignFolder, FolderError> {
        if path.join(CAMPAIGN_FILE).exists() || path.join(SEEDS_FILE).exists() {
            return Err(FolderError::Exists {
                path: path.to_path_buf(),
            });
        }
        std::fs::create_dir_all(path.join(FAILURES_FOLDER)).map_err(io_error(path))?;
        let config_path = path.join(CAMPAIGN_FILE);
        let text = serde_json::to_string_pretty(config).expect("a config serialises");
        std::fs::write(&config_path, format!("{text}\n")).map_err(io_error(&config_path))?;
        Self::open_seeds(path)
    }

    /// Reopens a campaign: its config and what it recorded. A torn last line (a campaign
    /// killed while writing it) is cut off.
    pub fn resume(path: &Path) -> Result<(CampaignFolder, CampaignConfig, Recorded), FolderError> {
        let config = read_config(path)?;
        let mut summary = Summary::default();
        let jobs = for_each_record(path, &config, true, |record| {
            summary.add_record(path, &record)
        })?;
        std::fs::create_dir_all(path.join(FAILURES_FOLDER)).map_err(io_error(path))?;
        Ok((Self::open_seeds(path)?, config, Recorded { jobs, summary }))
    }

    fn open_seeds(path: &Path) -> Result<CampaignFolder, FolderError> {
        let seeds_path = path.join(SEEDS_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&seeds_path)
            .map_err(io_error(&seeds_path))?;
        Ok(CampaignFolder {
            path: path.to_path_buf(),
            seeds: Mutex::new(file),
        })
    }

    /// Appends one record, in one write, and flushes it.
    pub fn append(&self, record: &SeedRecord) -> Result<(), FolderError> {
        let mut line = serde_json::to_string(record).expect("a record serialises");
        line.push('\n');
        let seeds_path = self.path.join(SEEDS_FILE);
        let mut file = self
            .seeds
            .lock()
            .expect("no writer panics holding the lock");
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(io_error(&seeds_path))
    }

    pub fn failure_path(&self, name: &str) -> PathBuf {
        self.path.join(FAILURES_FOLDER).join(name)
    }
}

/// The campaign's config.
pub fn read_config(path: &Path) -> Result<CampaignConfig, FolderError> {
    let config_path = path.join(CAMPAIGN_FILE);
    if !config_path.exists() {
        return Err(FolderError::NotCampaign {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let config: CampaignConfig = json::parse(&text).map_err(corrupt(&config_path))?;
    config.validate().map_err(|(field, message)| {
        corrupt(&config_path)(JsonError::invalid(&text, &field, message))
    })?;
    Ok(config)
}

/// The longest line `seeds.jsonl` may hold: a record is about 2 KB.
pub const SEED_LINE_BYTES_MAX: u64 = 1 << 20;

/// Every record of `seeds.jsonl` of the campaign `config`, checked against it and handed to
/// `each` as it is read: nothing is held but the set of jobs seen, which is returned. With
/// `repair`, a torn last line is cut off the file once every record read; without, it is
/// ignored.
pub fn for_each_record(
    path: &Path,
    config: &CampaignConfig,
    repair: bool,
    mut each: impl FnMut(SeedRecord),
) -> Result<JobSet, FolderError> {
    let seeds_path = path.join(SEEDS_FILE);
    let mut jobs = JobSet::new(config.shard);
    let file = match File::open(&seeds_path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(jobs),
        Err(error) => return Err(io_error(&seeds_path)(error)),
    };
    let mut reader = BufReader::new(file);
    let schedule = config.schedule();
    let (mut text, mut complete_bytes, mut number) = (String::new(), 0, 0);
    let torn = loop {
        number += 1;
        let at_line = |error: JsonError| {
            corrupt(&seeds_path)(JsonError {
                line: number,
                ..error
            })
        };
        let line = match next_line(&mut reader, &mut text).map_err(|error| match error {
            LineError::Io(error) => io_error(&seeds_path)(error),
            LineError::Invalid(message) => at_line(JsonError {
                line: number,
                field: None,
                message,
            }),
        })? {
            Line::Complete(bytes) => {
                complete_bytes += bytes;
                text.trim_end_matches(['\n', '\r'])
            }
            Line::Torn => break true,
            Line::End => break false,
        };
        let record = checked_record(line, &schedule, &mut jobs).map_err(at_line)?;
        each(record);
    };
    // Only a folder that read whole is repaired: one refused is left as it was.
    if repair && torn {
        let file = OpenOptions::new()
            .write(true)
            .open(&seeds_path)
            .map_err(io_error(&seeds_path))?;
        file.set_len(complete_bytes)
            .map_err(io_error(&seeds_path))?;
    }
    Ok(jobs)
}

/// What [`next_line`] read into its buffer.
enum Line {
    /// A line and its newline, this many bytes.
    Complete(u64),
    /// The end of the file, after a last line without its newline (a writer killed mid-line).
    Torn,
    End,
}

enum LineError {
    Io(std::io::Error),
    /// Not a line of text: too long, or not UTF-8.
    Invalid(String),
}

/// Reads the next line of `reader` into `text` (cleared first), at most
/// [`SEED_LINE_BYTES_MAX`] bytes of it.
fn next_line(reader: &mut impl BufRead, text: &mut String) -> Result<Line, LineError> {
    text.clear();
    let read = match reader.take(SEED_LINE_BYTES_MAX + 1).read_line(text) {
        Ok(read) => read as u64,
        Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
            return Err(LineError::Invalid("not UTF-8 text".to_owned()));
        }
        Err(error) => return Err(LineError::Io(error)),
    };
    if read > SEED_LINE_BYTES_MAX {
        return Err(LineError::Invalid(format!(
            "longer than {SEED_LINE_BYTES_MAX} bytes"
        )));
    }
    Ok(match (read, text.ends_with('\n')) {
        (0, _) => Line::End,
        (_, true) => Line::Complete(read),
        (_, false) => Line::Torn,
    })
}

/// The record `line` holds, if its campaign (`schedule`) could have written it and its job is
/// not in `jobs` yet (it is added).
fn checked_record(
    line: &str,
    schedule: &Schedule,
    jobs: &mut JobSet,
) -> Result<SeedRecord, JsonError> {
    let record: SeedRecord = json::parse(line)?;
    let problem = record.validate(schedule).err().or_else(|| {
        (!jobs.insert(record.job)).then(|| ("job", format!("job {} is recorded twice", record.job)))
    });
    match problem {
        Some((field, message)) => Err(JsonError::invalid(line, field, message)),
        None => Ok(record),
    }
}

/// [`for_each_record`], collected: for small campaigns and tests.
pub fn read_records(
    path: &Path,
    config: &CampaignConfig,
    repair: bool,
) -> Result<Vec<SeedRecord>, FolderError> {
    let mut records = Vec::new();
    for_each_record(path, config, repair, |record| records.push(record))?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::RunReport;

    fn temporary(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("trial-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn a_folder_without_a_campaign_is_named_as_such_for_resume_and_merge() {
        let path = temporary("not-campaign");
        std::fs::create_dir_all(&path).unwrap();
        let error = read_config(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: not a campaign folder (campaign.json is missing)",
                path.display()
            )
        );
        std::fs::remove_dir_all(&path).unwrap();
    }

    fn config() -> CampaignConfig {
        CampaignConfig {
            sources: vec![Source::Generated],
            seeds: Some(10),
            campaign_seed: 1,
            shard: Shard::WHOLE,
            audit_parts: 0,
            bugs: Vec::new(),
            perturbations: false,
        }
    }

    #[test]
    fn a_config_no_campaign_can_run_is_refused_with_its_field() {
        assert_eq!(config().validate(), Ok(()));
        let field_of = |change: fn(&mut CampaignConfig)| {
            let mut config = config();
            change(&mut config);
            config.validate().unwrap_err().0
        };
        assert_eq!(field_of(|config| config.sources.clear()), "sources");
        assert_eq!(field_of(|config| config.seeds = Some(0)), "seeds");
        let overflow = |config: &mut CampaignConfig| {
            config.sources.push(Source::Generated);
            config.seeds = Some(u64::MAX / 2 + 1);
        };
        assert_eq!(field_of(overflow), "seeds");
        assert_eq!(
            field_of(|config| config.audit_parts = 10_001),
            "audit_parts"
        );
        let unknown = |config: &mut CampaignConfig| {
            config.bugs = vec!["elect-outside-isr".into(), "no-such-bug".into()];
        };
        assert_eq!(field_of(unknown), "bugs[1]");
    }

    #[test]
    fn a_record_its_campaign_could_not_have_written_is_refused_at_its_line_and_field() {
        let path = temporary("foreign-record");
        let config = CampaignConfig {
            shard: Shard { index: 1, count: 2 },
            ..config()
        };
        let schedule = config.schedule();
        let good = |job: u64| {
            let report = RunReport::new("s", "s.toml", schedule.job(job).seed, job);
            SeedRecord::new(job, &report, false)
        };
        // (field at fault, job of the second record, change to it); job 1 is the first record's.
        type Change = fn(&mut SeedRecord);
        let bad: [(&str, u64, Change); 6] = [
            ("job", 3, |record| record.job = 2),
            ("job", 3, |record| record.job = 11),
            ("seed", 3, |record| record.seed ^= 1),
            ("digest", 3, |record| record.digest = "F00".into()),
            ("artifact", 3, |record| {
                record.artifact = Some("../elsewhere".into())
            }),
            ("job", 1, |_| {}),
        ];
        for (field, job, change) in bad {
            let _ = std::fs::remove_dir_all(&path);
            let folder = CampaignFolder::create(&path, &config).unwrap();
            folder.append(&good(1)).unwrap();
            let mut record = good(job);
            change(&mut record);
            folder.append(&record).unwrap();
            let error = read_records(&path, &config, false).unwrap_err();
            let FolderError::Corrupt { error, .. } = error else {
                panic!("{error}");
            };
            assert_eq!(
                (error.line, error.field.as_deref()),
                (2, Some(field)),
                "{error}"
            );
        }
        let folder = CampaignFolder::create(&temporary("good-records"), &config).unwrap();
        folder.append(&good(1)).unwrap();
        let mut failed = good(3);
        failed.artifact = Some("failures/s-3".into());
        folder.append(&failed).unwrap();
        assert_eq!(read_records(&folder.path, &config, false).unwrap().len(), 2);
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::remove_dir_all(&folder.path).unwrap();
    }

    #[test]
    fn a_line_too_long_or_not_text_is_refused_at_its_line() {
        let path = temporary("long-line");
        CampaignFolder::create(&path, &config()).unwrap();
        let line = "x".repeat(SEED_LINE_BYTES_MAX as usize + 10);
        std::fs::write(path.join(SEEDS_FILE), format!("{line}\n")).unwrap();
        let error = read_records(&path, &config(), false)
            .unwrap_err()
            .to_string();
        assert!(error.ends_with(":1: longer than 1048576 bytes"), "{error}");
        std::fs::write(path.join(SEEDS_FILE), b"{\"job\": \xff}\n").unwrap();
        let error = read_records(&path, &config(), false)
            .unwrap_err()
            .to_string();
        assert!(error.ends_with(":1: not UTF-8 text"), "{error}");
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_off_on_resume() {
        let path = temporary("torn");
        let folder = CampaignFolder::create(&path, &config()).unwrap();
        for job in 0..3 {
            let seed = config().schedule().job(job).seed;
            let report = RunReport::new("s", "s.toml", seed, job);
            folder
                .append(&SeedRecord::new(job, &report, false))
                .unwrap();
        }
        drop(folder);
        let seeds = path.join(SEEDS_FILE);
        let mut text = std::fs::read_to_string(&seeds).unwrap();
        text.push_str("{\"job\":3,\"scen");
        std::fs::write(&seeds, text).unwrap();
        assert!(matches!(
            CampaignFolder::create(&path, &config()),
            Err(FolderError::Exists { .. })
        ));
        let (_, again, records) = CampaignFolder::resume(&path).unwrap();
        assert_eq!(again, config());
        assert!((0..3).all(|job| records.jobs.contains(job)) && records.jobs.len() == 3);
        assert_eq!(records.summary.runs, 3);
        assert!(std::fs::read_to_string(&seeds).unwrap().ends_with("}\n"));
        std::fs::remove_dir_all(&path).unwrap();
    }
}
