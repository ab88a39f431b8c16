//! Errors for the world, never a panic: campaign and artifact folders with random values
//! swapped in.
//!
//! Folders travel: shards of a campaign are copied to one machine for `trial merge`, a killed
//! campaign is continued with `trial fuzz --resume`, and artifacts are attached to bug reports
//! and edited before `trial replay` or `trial shrink`. Each case writes a folder as Trial
//! writes it, changes it ([`support::mutate`]: edge numbers, odd strings, wrong types, removed
//! fields, duplicated or swapped entries, sometimes a cut in the middle of a line), and reads it
//! back the way those commands do. The folder must then either be refused with an error naming
//! the file, a line of it and a field that line could have, or be read and used without a
//! panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use serde_json::Value;
use sim::campaign::execute::load_sources;
use sim::campaign::merge::merge;
use sim::campaign::record::{
    CAMPAIGN_FILE, CampaignConfig, CampaignFolder, FolderError, SEEDS_FILE, SeedRecord, Source,
    read_config, read_records,
};
use sim::campaign::schedule::Shard;
use sim::campaign::shrink::Goal;
use sim::json::JsonError;
use sim::runner::artifact::{self, Artifact, ArtifactError, REPORT_FILE, SEED_FILE};
use sim::runner::report::{RunReport, Violation, ViolationSource};

mod support;

use support::mutate::{apply, cases, json_lines, mutation, names_a_place_in};

/// A fresh folder for one case.
fn case_folder(kind: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let case = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "trial-folder-mutations-{kind}-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn failing_report(scenario_path: &str, seed: u64) -> RunReport {
    let mut report = RunReport::new("controller-crash", scenario_path, seed, seed ^ 0xfeed);
    report.digest_trail = (0..3)
        .map(|second| format!("{:016x}", seed ^ second))
        .collect();
    report.add_violation(Violation {
        source: ViolationSource::History,
        kind: "lost-write".to_owned(),
        description: "acknowledged, never read".to_owned(),
        witnesses: vec![serde_json::json!({"index": 3, "value": 7})],
    });
    report
}

/// Shard 1 of 2 of a two-source campaign with a bug switch and perturbations, as `campaign.json` and the lines of
/// `seeds.jsonl` (every third job failed, with its artifact folder).
fn campaign() -> &'static (Value, Vec<Value>) {
    static CAMPAIGN: OnceLock<(Value, Vec<Value>)> = OnceLock::new();
    CAMPAIGN.get_or_init(|| {
        let scenario =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/controller-crash.toml");
        let config = CampaignConfig {
            sources: vec![
                Source::File {
                    path: scenario.display().to_string(),
                },
                Source::Generated,
            ],
            seeds: Some(6),
            campaign_seed: 5,
            shard: Shard { index: 1, count: 2 },
            audit_parts: 500,
            bugs: vec!["elect-outside-isr".to_owned()],
            perturbations: true,
        };
        let schedule = config.schedule();
        let records = schedule
            .shard_indices()
            .map(|index| {
                let job = schedule.job(index);
                let path = config.sources[job.source].label().to_owned();
                let mut record = if index % 3 == 0 {
                    let mut record =
                        SeedRecord::new(index, &failing_report(&path, job.seed), job.audited);
                    record.artifact = Some(format!("failures/job-{index}"));
                    record
                } else {
                    SeedRecord::new(
                        index,
                        &RunReport::new("s", &path, job.seed, index),
                        job.audited,
                    )
                };
                record.counters.insert("elections".to_owned(), index);
                serde_json::to_value(record).expect("a record serialises")
            })
            .collect();
        (
            serde_json::to_value(config).expect("a config serialises"),
            records,
        )
    })
}

/// The format's own words and odd strings.
fn folder_strings() -> BoxedStrategy<String> {
    let words = prop::sample::select(vec![
        "",
        "pass",
        "fail",
        "file",
        "generated",
        "history",
        "determinism",
        "lost-write",
        "elect-outside-isr",
        "no-such-bug",
        "failures/job-1",
        "../outside",
        "/etc",
        "0000000000000000",
        "ffffffffffffffff",
        "-1",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => words, 1 => "[a-z0-9/_.-]{0,8}"].boxed()
}

/// `error` names a line of `lines` (1-based) and, if it names a field, one that line could have.
fn names_a_place(error: &JsonError, lines: &[&Value]) -> Result<(), TestCaseError> {
    prop_assert!(
        (1..=lines.len().max(1)).contains(&error.line),
        "{error}: line {} of {}",
        error.line,
        lines.len()
    );
    if let (Some(field), Some(value)) = (&error.field, lines.get(error.line - 1)) {
        prop_assert!(names_a_place_in(value, field), "{error}: no such place");
    }
    Ok(())
}

/// A folder merge refused: resume refuses it too, and changes nothing in it (not even the
/// repair of a torn last line).
fn resume_refuses_and_leaves_alone(folder: &Path) -> Result<(), TestCaseError> {
    let before = std::fs::read(folder.join(SEEDS_FILE)).unwrap();
    prop_assert!(CampaignFolder::resume(folder).is_err());
    prop_assert!(
        std::fs::read(folder.join(SEEDS_FILE)).unwrap() == before,
        "resume changed a refused folder"
    );
    prop_assert!(
        !folder.join("failures").exists(),
        "resume changed a refused folder"
    );
    Ok(())
}

/// Reads the folder as merge and resume do; what reads must also be usable.
fn read_campaign(
    folder: &Path,
    config_value: &Value,
    seeds: &[Value],
) -> Result<(), TestCaseError> {
    let config_lines = std::fs::read_to_string(folder.join(CAMPAIGN_FILE))
        .unwrap()
        .lines()
        .count();
    let config = match read_config(folder) {
        Ok(config) => config,
        Err(FolderError::Corrupt { path, error }) => {
            prop_assert!(path.ends_with(CAMPAIGN_FILE), "{error}");
            prop_assert!(
                (1..=config_lines).contains(&error.line),
                "{error}: line of {config_lines}"
            );
            // A pretty-printed file: the field is named against the whole document.
            prop_assert!(
                error
                    .field
                    .as_ref()
                    .is_none_or(|field| names_a_place_in(config_value, field)),
                "{error}"
            );
            return resume_refuses_and_leaves_alone(folder);
        }
        Err(error) => return Err(TestCaseError::fail(format!("{error}"))),
    };
    let records = match read_records(folder, &config, false) {
        Ok(records) => records,
        Err(FolderError::Corrupt { path, error }) => {
            prop_assert!(path.ends_with(SEEDS_FILE), "{error}");
            names_a_place(&error, &seeds.iter().collect::<Vec<_>>())?;
            return resume_refuses_and_leaves_alone(folder);
        }
        Err(error) => return Err(TestCaseError::fail(format!("{error}"))),
    };
    let merged =
        merge(&[folder.to_path_buf()]).map_err(|error| TestCaseError::fail(error.to_string()))?;
    prop_assert_eq!(merged.summary.runs, records.len() as u64);
    let _ = merged.text();
    let schedule = config.schedule();
    let _ = schedule.shard_jobs();
    for index in schedule.shard_indices().take(3) {
        let _ = schedule.job(index);
    }
    let _ = load_sources(&config);
    CampaignFolder::resume(folder).map_err(|error| TestCaseError::fail(error.to_string()))?;
    Ok(())
}

/// A folder's files: name and contents.
type Files = Vec<(std::ffi::OsString, Vec<u8>)>;

/// An artifact folder of a failing run, as `trial run --out` writes it: its `run.json` as a
/// document, and the folder's files, read back and the folder removed.
fn artifact_template() -> &'static (Value, Files) {
    static TEMPLATE: OnceLock<(Value, Files)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let scenario = support::library("controller-crash.toml");
        let report = failing_report("controller-crash.toml", 11);
        let folder = case_folder("artifact-template");
        let history = vec!["{\"index\":0}".to_owned()];
        let written = Artifact {
            scenario: &scenario,
            report: &report,
            history_lines: &history,
            log: "",
        };
        artifact::write(&folder, &written).expect("the template writes");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            files.push((entry.file_name(), std::fs::read(entry.path()).unwrap()));
        }
        std::fs::remove_dir_all(&folder).unwrap();
        (
            serde_json::to_value(&report).expect("a report serialises"),
            files,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_campaign_folder_is_refused_at_a_line_and_field_or_read_without_a_panic(
        mutations in proptest::collection::vec(mutation(folder_strings()), 1..4),
        in_config in proptest::collection::vec(any::<bool>(), 3),
        cut in proptest::option::weighted(0.1, any::<usize>()),
    ) {
        let (config, seeds) = campaign();
        let (mut config, mut seeds) = (config.clone(), Value::Array(seeds.clone()));
        let applied: Vec<String> = mutations
            .iter()
            .zip(&in_config)
            .map(|(mutation, in_config)| {
                apply(if *in_config { &mut config } else { &mut seeds }, mutation)
            })
            .collect();
        let lines = seeds.as_array().expect("the lines stay an array");
        let text = json_lines(lines, cut);
        let folder = case_folder("campaign");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(CAMPAIGN_FILE), serde_json::to_string_pretty(&config).unwrap()).unwrap();
        std::fs::write(folder.join(SEEDS_FILE), text).unwrap();
        let outcome = std::panic::catch_unwind(|| read_campaign(&folder, &config, lines));
        let _ = std::fs::remove_dir_all(&folder);
        match outcome {
            Ok(result) => result.map_err(|error| TestCaseError::fail(format!("{applied:?}: {error}")))?,
            Err(_) => prop_assert!(false, "{applied:?} (cut at {cut:?}) panicked"),
        }
    }

    #[test]
    fn a_mutated_artifact_report_is_refused_at_a_line_and_field_or_read_without_a_panic(
        mutations in proptest::collection::vec(mutation(folder_strings()), 1..4),
        seed_file in proptest::option::weighted(0.2, folder_strings()),
    ) {
        let (report, template) = artifact_template();
        let mut report = report.clone();
        let applied: Vec<String> = mutations.iter().map(|mutation| apply(&mut report, mutation)).collect();
        let folder = case_folder("artifact");
        std::fs::create_dir_all(&folder).unwrap();
        for (name, contents) in template {
            std::fs::write(folder.join(name), contents).unwrap();
        }
        let text = serde_json::to_string_pretty(&report).unwrap();
        std::fs::write(folder.join(REPORT_FILE), &text).unwrap();
        if let Some(seed) = &seed_file {
            std::fs::write(folder.join(SEED_FILE), seed).unwrap();
        }
        let outcome = std::panic::catch_unwind(|| artifact::read(&folder));
        let _ = std::fs::remove_dir_all(&folder);
        let Ok(read) = outcome else {
            return Err(TestCaseError::fail(format!("{applied:?} panicked")));
        };
        match read {
            Ok(recorded) => {
                prop_assert_eq!(Goal::of(&recorded.report).is_some(), !recorded.report.violations.is_empty());
            }
            Err(ArtifactError::Report { path, error }) => {
                prop_assert!(path.ends_with(REPORT_FILE), "{error}");
                prop_assert!((1..=text.lines().count()).contains(&error.line), "{error} ({applied:?})");
                prop_assert!(error.field.as_ref().is_none_or(|field| names_a_place_in(&report, field)), "{error} ({applied:?})");
            }
            Err(error @ ArtifactError::Invalid { .. }) => {
                // The seed file disagrees with the report (either may have changed): both named.
                let message = error.to_string();
                let seed_path = folder.join(SEED_FILE).display().to_string();
                prop_assert!(message.starts_with(&seed_path) && message.contains(REPORT_FILE), "{error} ({applied:?})");
            }
            Err(error) => prop_assert!(false, "{error} ({applied:?})"),
        }
    }
}
