//! Runs a campaign's jobs on threads: resume, determinism audit, failure artifacts.
//!
//! Workers take the next pending job of the shard from one shared iterator, run it (twice when
//! audited), write the failure's artifact if it failed, then append its record. The order in
//! which seeds finish depends on the threads; what each seed concludes does not.
//!
//! A seed whose run panics (a broken invariant in the broker or the simulator) is recorded as a
//! failure of kind `state/panic` rather than ending the campaign: a planted bug may well trip an
//! assertion, and that is a finding.

use std::borrow::Cow;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audit;
use crate::campaign::job_set::JobSet;
use crate::campaign::record::{CampaignConfig, CampaignFolder, FolderError, SeedRecord, Source};
use crate::campaign::schedule::Job;
use crate::campaign::summary::Summary;
use crate::campaign::{SeedRun, SeedRunner, bugs, generate};
use crate::digest;
use crate::runner::artifact::{self, Artifact, SCENARIO_FILE};
use crate::runner::report::{RunReport, Violation, ViolationSource};
use crate::scenario::Scenario;

/// How a campaign runs on this machine (nothing here changes what a seed concludes).
#[derive(Clone, Copy, Debug)]
pub struct Execution {
    /// Worker threads.
    pub threads: usize,
    /// Stop taking new seeds after this much wall time.
    pub time_budget: Option<std::time::Duration>,
    /// The wall clock, as time elapsed since an arbitrary start: read for the time budget and
    /// each seed's wall time, never inside a run. Handed in by the CLI, so the simulator crate
    /// itself never reads a clock.
    pub clock: fn() -> std::time::Duration,
}

/// Told of every finished seed (a progress bar, a test).
pub trait Observer: Sync {
    fn seed_finished(&self, record: &SeedRecord);
}

/// An observer that does nothing.
#[derive(Debug)]
pub struct Quiet;

impl Observer for Quiet {
    fn seed_finished(&self, _record: &SeedRecord) {}
}

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Artifact(#[from] artifact::ArtifactError),
    #[error("{0}")]
    Scenario(String),
}

/// The scenario of each source: loaded (bug switches and perturbations on) for a file, `None`
/// for the generator.
pub fn load_sources(config: &CampaignConfig) -> Result<Vec<Option<Scenario>>, CampaignError> {
    config
        .sources
        .iter()
        .map(|source| match source {
            Source::Generated => Ok(None),
            Source::File { path } => {
                let mut scenario = Scenario::load(Path::new(path))
                    .map_err(|error| CampaignError::Scenario(error.to_string()))?;
                apply_switches(&mut scenario, config)?;
                Ok(Some(scenario))
            }
        })
        .collect()
}

/// Turns on, in `scenario`, the bug switches and the perturbations `config` names for every
/// scenario.
fn apply_switches(scenario: &mut Scenario, config: &CampaignConfig) -> Result<(), CampaignError> {
    for name in &config.bugs {
        bugs::enable(&mut scenario.cluster.bugs, name).map_err(CampaignError::Scenario)?;
    }
    scenario.cluster.perturbations |= config.perturbations;
    Ok(())
}

/// Runs every pending job of the shard (those not in `done`), appending a record for each;
/// returns the summary of the new records (holding none of them: see `summary`).
pub fn run<R: SeedRunner>(
    folder: &CampaignFolder,
    config: &CampaignConfig,
    scenarios: &[Option<Scenario>],
    done: &JobSet,
    execution: Execution,
    runner: &R,
    observer: &dyn Observer,
) -> Result<Summary, CampaignError> {
    assert_eq!(scenarios.len(), config.sources.len());
    assert!(execution.threads >= 1, "a campaign needs a thread");
    let schedule = config.schedule();
    let pending: Box<dyn Iterator<Item = u64> + Send + '_> = Box::new(
        schedule
            .shard_indices()
            .filter(move |&job| !done.contains(job)),
    );
    let pending = Mutex::new(pending);
    let clock = execution.clock;
    let deadline = execution.time_budget.map(|budget| clock() + budget);
    let stop = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let finished = Mutex::new(Summary::default());
    let worker = || {
        loop {
            let out_of_time = deadline.is_some_and(|deadline| clock() >= deadline);
            if out_of_time || stop.load(Ordering::SeqCst) {
                return;
            }
            let next = pending.lock().expect("no panic holding the lock").next();
            let Some(index) = next else { return };
            let job = schedule.job(index);
            match run_job(folder, config, scenarios, job, runner, clock) {
                Ok(record) => {
                    observer.seed_finished(&record);
                    let mut summary = finished.lock().expect("unpoisoned");
                    summary.add_record(&folder.path, &record);
                }
                Err(error) => {
                    stop.store(true, Ordering::SeqCst);
                    first_error.lock().expect("unpoisoned").get_or_insert(error);
                }
            }
        }
    };
    // Threads outside any simulation: each runs whole seeds, one simulation at a time.
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|scope| {
        for _ in 0..execution.threads {
            scope.spawn(worker);
        }
    });
    if let Some(error) = first_error.into_inner().expect("unpoisoned") {
        return Err(error);
    }
    Ok(finished.into_inner().expect("unpoisoned"))
}

fn run_job<R: SeedRunner>(
    folder: &CampaignFolder,
    config: &CampaignConfig,
    scenarios: &[Option<Scenario>],
    job: Job,
    runner: &R,
    clock: fn() -> std::time::Duration,
) -> Result<SeedRecord, CampaignError> {
    let source = &config.sources[job.source];
    let scenario = match &scenarios[job.source] {
        Some(scenario) => Cow::Borrowed(scenario),
        None => {
            let mut generated = generate::generate(job.seed);
            apply_switches(&mut generated, config)?;
            Cow::Owned(generated)
        }
    };
    let started = clock();
    let mut report = run_caught(runner, &scenario, source.label(), job.seed, false).report;
    let elapsed = clock().saturating_sub(started);
    report.stats.wall_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    if job.audited {
        let again = run_caught(runner, &scenario, source.label(), job.seed, false).report;
        if again.digest != report.digest {
            report.add_violation(determinism_violation(job.seed, &report, &again));
        }
    }
    let mut record = SeedRecord::new(job.index, &report, job.audited);
    record.scenario_path = source.label().to_string();
    if record.failed() {
        record.artifact = Some(write_failure(folder, &scenario, report, runner)?);
    }
    folder.append(&record)?;
    Ok(record)
}

/// A determinism failure: the same seed gave two digests. The description says where the two
/// runs part, from their digest trails.
fn determinism_violation(seed: u64, first: &RunReport, second: &RunReport) -> Violation {
    let parted = audit::divergence(&first.digest_trail, &second.digest_trail)
        .map(|divergence| format!("; {divergence}"))
        .unwrap_or_default();
    let first_second = digest::first_different_second(&first.digest_trail, &second.digest_trail);
    Violation {
        source: ViolationSource::Determinism,
        kind: "digest-mismatch".to_string(),
        description: format!(
            "seed {seed} ran twice with digests {} and {}: something outside the seed reached \
             the run{parted}",
            first.digest, second.digest
        ),
        witnesses: vec![
            serde_json::json!({ "run": 1, "digest": first.digest }),
            serde_json::json!({ "run": 2, "digest": second.digest }),
            serde_json::json!({ "first_different_second": first_second }),
        ],
    }
}

/// Writes the failure's artifact folder (a fresh run with the log on, for its history and log)
/// and returns its path relative to the campaign folder.
fn write_failure<R: SeedRunner>(
    folder: &CampaignFolder,
    scenario: &Scenario,
    mut report: RunReport,
    runner: &R,
) -> Result<String, CampaignError> {
    let name = format!("{}-seed-{}", scenario.name, report.seed);
    let directory = folder.failure_path(&name);
    let scenario_path = directory.join(SCENARIO_FILE).display().to_string();
    let detailed = run_caught(runner, scenario, &scenario_path, report.seed, true);
    report.scenario_path = scenario_path;
    // A folder left by a campaign killed before it recorded this seed: same seed, same content.
    let _ = std::fs::remove_dir_all(&directory);
    artifact::write(
        &directory,
        &Artifact {
            scenario,
            report: &report,
            history_lines: &detailed.history_lines,
            log: &detailed.log,
        },
    )?;
    Ok(format!(
        "{}/{name}",
        crate::campaign::record::FAILURES_FOLDER
    ))
}

/// Runs a seed; a panic becomes a `state/panic` failure instead of ending the campaign.
pub fn run_caught<R: SeedRunner>(
    runner: &R,
    scenario: &Scenario,
    scenario_path: &str,
    seed: u64,
    capture_log: bool,
) -> SeedRun {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run(scenario, scenario_path, seed, capture_log)
    }));
    attempt.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string());
        let mut report = RunReport::new(&scenario.name, scenario_path, seed, 0);
        report.add_violation(Violation {
            source: ViolationSource::State,
            kind: "panic".to_string(),
            description: format!("the run panicked: {message}"),
            witnesses: Vec::new(),
        });
        SeedRun::from_report(report)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::campaign::fake;
    use crate::campaign::record::read_records;
    use crate::campaign::schedule::Shard;

    fn temporary(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("trial-execute-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    fn config(seeds: u64, shard: Shard) -> CampaignConfig {
        CampaignConfig {
            sources: vec![Source::Generated],
            seeds: Some(seeds),
            campaign_seed: 3,
            shard,
            audit_parts: 1_000,
            bugs: Vec::new(),
            perturbations: false,
        }
    }

    /// A clock that advances one millisecond per reading: budgets run out deterministically.
    pub(crate) fn fake_clock() -> std::time::Duration {
        static READINGS: AtomicU64 = AtomicU64::new(0);
        std::time::Duration::from_millis(READINGS.fetch_add(1, Ordering::SeqCst))
    }

    fn execution() -> Execution {
        Execution {
            threads: 3,
            time_budget: None,
            clock: fake_clock,
        }
    }

    /// The folder's records, by job.
    fn records_by_job(path: &Path, config: &CampaignConfig) -> Vec<SeedRecord> {
        let mut records = read_records(path, config, false).unwrap();
        records.sort_by_key(|record| record.job);
        records
    }

    /// Counts runs, to show a resumed campaign runs only the seeds it had not recorded.
    struct Counting {
        runs: AtomicU64,
    }

    impl SeedRunner for Counting {
        fn run(&self, scenario: &Scenario, path: &str, seed: u64, log: bool) -> SeedRun {
            self.runs.fetch_add(1, Ordering::SeqCst);
            fake::crash_b2_runner(scenario, path, seed, log)
        }
    }

    #[test]
    fn an_interrupted_campaign_resumes_without_losing_or_repeating_a_seed() {
        let path = temporary("resume");
        let config = config(120, Shard::WHOLE);
        let sources = load_sources(&config).unwrap();
        let folder = CampaignFolder::create(&path, &config).unwrap();
        let runner = Counting {
            runs: AtomicU64::new(0),
        };
        let summary = run(
            &folder,
            &config,
            &sources,
            &JobSet::new(config.shard),
            execution(),
            &runner,
            &Quiet,
        )
        .unwrap();
        assert_eq!(summary.runs, 120);
        assert!(summary.failed > 0, "the fake runner finds something");
        let all = records_by_job(&path, &config);
        assert_eq!(all.len(), 120);
        assert_eq!(
            all.iter().filter(|record| record.failed()).count() as u64,
            summary.failed
        );
        drop(folder);
        // Interrupt: keep the first 50 lines and a torn 51st.
        let seeds = path.join(crate::campaign::record::SEEDS_FILE);
        let text = std::fs::read_to_string(&seeds).unwrap();
        let kept: Vec<&str> = text.lines().take(50).collect();
        let torn = &text.lines().nth(50).unwrap()[..10];
        std::fs::write(&seeds, format!("{}\n{torn}", kept.join("\n"))).unwrap();
        let (folder, again, recorded) = CampaignFolder::resume(&path).unwrap();
        assert_eq!(again, config);
        assert_eq!((recorded.jobs.len(), recorded.summary.runs), (50, 50));
        let runs_before = runner.runs.load(Ordering::SeqCst);
        let rest = run(
            &folder,
            &config,
            &sources,
            &recorded.jobs,
            execution(),
            &runner,
            &Quiet,
        )
        .unwrap();
        assert_eq!(rest.runs, 70);
        assert_eq!(
            runner.runs.load(Ordering::SeqCst) - runs_before,
            70 + rest.audited + rest.failed,
            "only the missing seeds ran"
        );
        let final_records = records_by_job(&path, &config);
        let jobs: BTreeSet<u64> = final_records.iter().map(|record| record.job).collect();
        assert_eq!(final_records.len(), 120, "no duplicates");
        assert_eq!(jobs, (0..120).collect());
        let mut whole = recorded.summary;
        whole.absorb(rest);
        assert_eq!((whole.runs, whole.failed), (summary.runs, summary.failed));
        assert_eq!(
            whole.failures, summary.failures,
            "the same failures, listed alike"
        );
        for (before, after) in all.iter().zip(&final_records) {
            assert_eq!((before.seed, &before.digest), (after.seed, &after.digest));
        }
        for record in final_records.iter().filter(|record| record.failed()) {
            let artifact = path.join(record.artifact.as_ref().unwrap());
            let recorded = artifact::read(&artifact).unwrap();
            assert_eq!(recorded.report.seed, record.seed);
        }
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_nondeterministic_runner_is_caught_by_the_audit() {
        let path = temporary("audit");
        let mut config = config(40, Shard::WHOLE);
        config.audit_parts = crate::campaign::schedule::AUDIT_PARTS;
        let sources = load_sources(&config).unwrap();
        let folder = CampaignFolder::create(&path, &config).unwrap();
        let calls = AtomicU64::new(0);
        let leaky = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let mut report = fake::report(scenario, path, seed, false);
            report.digest_trail = vec![format!("{seed:016x}"); 3];
            if seed % 5 == 0 {
                report.digest = format!("{call:016x}");
                report.digest_trail[1] = format!("{call:016x}");
            }
            SeedRun::from_report(report)
        };
        run(
            &folder,
            &config,
            &sources,
            &JobSet::new(config.shard),
            execution(),
            &leaky,
            &Quiet,
        )
        .unwrap();
        for record in &records_by_job(&path, &config) {
            let mismatched = record.violations == ["determinism/digest-mismatch"];
            assert_eq!(mismatched, record.seed % 5 == 0, "{record:?}");
            if mismatched {
                let artifact = artifact::read(&path.join(record.artifact.as_ref().unwrap()));
                let description = &artifact.unwrap().report.violations[0].description;
                assert!(
                    description.ends_with(
                        "they agree through 1 s of simulated time and first differ between 1 s and 2 s"
                    ),
                    "the report says where the runs part: {description}"
                );
            }
        }
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_panicking_run_is_a_failure_not_the_end_of_the_campaign() {
        let path = temporary("panic");
        let config = config(10, Shard { index: 1, count: 2 });
        let sources = load_sources(&config).unwrap();
        let folder = CampaignFolder::create(&path, &config).unwrap();
        let panicky = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            assert!(seed % 2 == 0, "odd seed {seed}");
            SeedRun::from_report(fake::report(scenario, path, seed, false))
        };
        let no_job = JobSet::new(config.shard);
        run(
            &folder,
            &config,
            &sources,
            &no_job,
            execution(),
            &panicky,
            &Quiet,
        )
        .unwrap();
        let records = records_by_job(&path, &config);
        assert_eq!(records.len(), 5);
        assert!(records.iter().all(|record| record.job % 2 == 1));
        for record in &records {
            assert_eq!(record.failed(), record.seed % 2 == 1);
        }
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_time_budget_stops_an_unbounded_campaign() {
        let path = temporary("budget");
        let mut config = config(1, Shard::WHOLE);
        config.seeds = None;
        let sources = load_sources(&config).unwrap();
        let folder = CampaignFolder::create(&path, &config).unwrap();
        let slow = |scenario: &Scenario, path: &str, seed: u64, _log: bool| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            SeedRun::from_report(fake::report(scenario, path, seed, false))
        };
        let execution = Execution {
            threads: 2,
            time_budget: Some(std::time::Duration::from_millis(100)),
            clock: fake_clock,
        };
        run(
            &folder,
            &config,
            &sources,
            &JobSet::new(config.shard),
            execution,
            &slow,
            &Quiet,
        )
        .unwrap();
        let records = records_by_job(&path, &config);
        assert!(records.len() >= 4, "{}", records.len());
        let jobs: Vec<u64> = records.iter().map(|record| record.job).collect();
        assert_eq!(jobs, (0..records.len() as u64).collect::<Vec<_>>());
        std::fs::remove_dir_all(&path).unwrap();
    }
}
