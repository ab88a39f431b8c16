//! Artifact folders: everything needed to understand and replay one run.
//!
//! ```text
//! DIR/scenario.toml   the scenario as Trial read it (written back, so it is self-contained)
//! DIR/seed            the seed, decimal
//! DIR/history.jsonl   the client history (shared/design/HISTORY.md)
//! DIR/run.json        the report: verdict, violations, counters, digest
//! DIR/log.txt         the run's log, stamped with simulated time and node
//! ```
//!
//! A folder is written whole or not at all: into a sibling temporary folder first, renamed into
//! place at the end, so an interrupted run never leaves a half-written artifact behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::is_formatted_digest;
use crate::json::{self, JsonError};
use crate::runner::report::{RunReport, Verdict};
use crate::scenario::Scenario;

pub const SCENARIO_FILE: &str = "scenario.toml";
pub const SEED_FILE: &str = "seed";
pub const HISTORY_FILE: &str = "history.jsonl";
pub const REPORT_FILE: &str = "run.json";
pub const LOG_FILE: &str = "log.txt";

/// What an artifact folder holds.
#[derive(Debug)]
pub struct Artifact<'a> {
    pub scenario: &'a Scenario,
    pub report: &'a RunReport,
    /// One JSON object per line.
    pub history_lines: &'a [String],
    pub log: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: already exists and is not empty; choose another --out folder")]
    Exists { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The folder's report does not read, or holds what no run writes: line and field named.
    #[error("{path}:{}: {error}", error.line)]
    Report { path: PathBuf, error: JsonError },
    #[error(
        "{directory}: not an artifact folder (it has no {SCENARIO_FILE}); replay and shrink take \
         a folder written by `trial run --out` or by a campaign, such as OUT/failures/NAME"
    )]
    NotArtifact { directory: PathBuf },
    /// The folder's scenario file is unreadable or invalid; the error names file, line and field.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the folder `directory` whole, or leaves nothing.
pub fn write(directory: &Path, artifact: &Artifact<'_>) -> Result<(), ArtifactError> {
    let occupied = std::fs::read_dir(directory).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(ArtifactError::Exists {
            path: directory.to_path_buf(),
        });
    }
    let staging = staging_path(directory);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io_error(&staging))?;
    let written = write_files(&staging, artifact);
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    let _ = std::fs::remove_dir(directory);
    std::fs::rename(&staging, directory).map_err(io_error(directory))
}

fn staging_path(directory: &Path) -> PathBuf {
    let name = directory
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    directory.with_file_name(format!(".{name}.partial"))
}

fn write_files(staging: &Path, artifact: &Artifact<'_>) -> Result<(), ArtifactError> {
    write_file(
        &staging.join(SCENARIO_FILE),
        artifact.scenario.to_toml().as_bytes(),
    )?;
    write_file(
        &staging.join(SEED_FILE),
        format!("{}\n", artifact.report.seed).as_bytes(),
    )?;
    let report = serde_json::to_string_pretty(artifact.report).expect("a report serialises");
    write_file(&staging.join(REPORT_FILE), format!("{report}\n").as_bytes())?;
    write_file(&staging.join(LOG_FILE), artifact.log.as_bytes())?;
    let path = staging.join(HISTORY_FILE);
    let file = std::fs::File::create(&path).map_err(io_error(&path))?;
    let mut writer = std::io::BufWriter::new(file);
    for line in artifact.history_lines {
        writeln!(writer, "{line}").map_err(io_error(&path))?;
    }
    writer.flush().map_err(io_error(&path))
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), ArtifactError> {
    std::fs::write(path, contents).map_err(io_error(path))
}

/// What `trial replay` needs from a folder: the scenario, the seed, and the recorded report.
#[derive(Debug)]
pub struct RecordedRun {
    pub scenario: Scenario,
    pub scenario_path: PathBuf,
    pub report: RunReport,
}

pub fn read(directory: &Path) -> Result<RecordedRun, ArtifactError> {
    let scenario_path = directory.join(SCENARIO_FILE);
    if !scenario_path.is_file() {
        return Err(ArtifactError::NotArtifact {
            directory: directory.to_path_buf(),
        });
    }
    let scenario = Scenario::load(&scenario_path)?;
    let report_path = directory.join(REPORT_FILE);
    let text = std::fs::read_to_string(&report_path).map_err(io_error(&report_path))?;
    let invalid = |error: JsonError| ArtifactError::Report {
        path: report_path.clone(),
        error,
    };
    let report: RunReport = json::parse(&text).map_err(invalid)?;
    check_report(&report)
        .map_err(|(field, message)| invalid(JsonError::invalid(&text, field, message)))?;
    check_seed_file(directory, report.seed)?;
    Ok(RecordedRun {
        scenario,
        scenario_path,
        report,
    })
}

/// Refuses a report no run writes: one whose digest, or a digest of its trail, is not 16 hex
/// digits (replay compares them), or whose verdict disagrees with its violations (shrink keeps
/// the first one).
fn check_report(report: &RunReport) -> Result<(), (&'static str, String)> {
    if !is_formatted_digest(&report.digest) {
        return Err((
            "digest",
            format!("{:?} is not 16 hex digits", report.digest),
        ));
    }
    if let Some(bad) = report
        .digest_trail
        .iter()
        .find(|digest| !is_formatted_digest(digest))
    {
        return Err(("digest_trail", format!("{bad:?} is not 16 hex digits")));
    }
    let failed = report.verdict == Verdict::Fail;
    if failed == report.violations.is_empty() {
        return Err((
            "verdict",
            format!(
                "{} with {} violations: a run fails exactly when it has one",
                report.verdict,
                report.violations.len()
            ),
        ));
    }
    Ok(())
}

/// The folder's `seed` file, where there is one, must hold the report's seed: replay and
/// shrink run the report's, and a hand-edited `seed` must not be silently ignored.
fn check_seed_file(directory: &Path, seed: u64) -> Result<(), ArtifactError> {
    let path = directory.join(SEED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(&path)(error)),
    };
    if text.trim().parse::<u64>() == Ok(seed) {
        return Ok(());
    }
    Err(ArtifactError::Invalid {
        path,
        message: format!(
            "line 1: holds {:?}, but {REPORT_FILE} records seed {seed}; replay runs the \
             recorded seed: run another with `trial run {SCENARIO_FILE} --seed N`",
            text.trim()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::format_digest;

    const SCENARIO: &str = "name = \"artifact\"\nwhy = \"test\"\nfault_phase = \"1s\"\n[cluster]\nbrokers = 1\ncontrollers = 1\n\
        [[cluster.topics]]\nname = \"t\"\npartitions = 1\nreplication_factor = 1\nmin_insync_replicas = 1\n\
        [[workload.producers]]\ntopic = \"t\"\nrate_per_second = 1\n[[workload.consumers]]\ntopic = \"t\"\n";

    /// The test scenario and a passing report of seed 77, and a fresh folder
    /// `trial-artifact-NAME-PID` they are written to with `history`.
    fn written(name: &str, history: &[String]) -> (Scenario, RunReport, PathBuf) {
        let scenario = Scenario::parse(SCENARIO, "artifact.toml").unwrap();
        let report = RunReport::new("artifact", "artifact.toml", 77, 0xfeed);
        let directory =
            std::env::temp_dir().join(format!("trial-artifact-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let artifact = Artifact {
            scenario: &scenario,
            report: &report,
            history_lines: history,
            log: "log\n",
        };
        write(&directory, &artifact).unwrap();
        (scenario, report, directory)
    }

    #[test]
    fn a_folder_is_written_whole_and_read_back() {
        let history = vec!["{\"index\":0}".to_string()];
        let (scenario, report, directory) = written("test", &history);
        let recorded = read(&directory).unwrap();
        assert_eq!(recorded.scenario, scenario);
        assert_eq!(recorded.report, report);
        assert_eq!(
            std::fs::read_to_string(directory.join(SEED_FILE)).unwrap(),
            "77\n"
        );
        assert_eq!(
            std::fs::read_to_string(directory.join(HISTORY_FILE)).unwrap(),
            "{\"index\":0}\n"
        );
        let artifact = Artifact {
            scenario: &scenario,
            report: &report,
            history_lines: &history,
            log: "",
        };
        let again = write(&directory, &artifact).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        assert!(
            !staging_path(&directory).exists(),
            "no partial folder left behind"
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_report_no_run_writes_or_a_seed_file_that_disagrees_is_refused() {
        let (_, _, directory) = written("checked", &[]);
        let report_path = directory.join(REPORT_FILE);
        let written = std::fs::read_to_string(&report_path).unwrap();
        let refused_at = |text: &str| match read(&directory) {
            Err(ArtifactError::Report { error, .. }) => {
                assert_eq!(text.lines().nth(error.line - 1).map(|line| line.contains(&format!("\"{}\"", error.field.clone().unwrap()))), Some(true), "{error}");
                error.field.unwrap()
            }
            other => panic!("{other:?}"),
        };
        let digest = written
            .replace("\"0000000000000000feed\"", "\"feed\"")
            .replace(&format_digest(0xfeed), "FEED");
        std::fs::write(&report_path, &digest).unwrap();
        assert_eq!(refused_at(&digest), "digest");
        let failing = written.replace("\"pass\"", "\"fail\"");
        std::fs::write(&report_path, &failing).unwrap();
        assert_eq!(refused_at(&failing), "verdict");
        let wrong_type = written.replace("\"seed\": 77", "\"seed\": \"77\"");
        std::fs::write(&report_path, &wrong_type).unwrap();
        assert_eq!(refused_at(&wrong_type), "seed");

        std::fs::write(&report_path, &written).unwrap();
        assert!(read(&directory).is_ok());
        std::fs::write(directory.join(SEED_FILE), "78\n").unwrap();
        let disagrees = read(&directory).unwrap_err().to_string();
        assert!(
            disagrees.contains("holds \"78\"") && disagrees.contains("seed 77"),
            "{disagrees}"
        );
        std::fs::remove_file(directory.join(SEED_FILE)).unwrap();
        assert!(
            read(&directory).is_ok(),
            "a folder without a seed file reads"
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_folder_without_a_scenario_or_with_a_bad_one_is_named_once() {
        let directory =
            std::env::temp_dir().join(format!("trial-artifact-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let missing = read(&directory).unwrap_err().to_string();
        assert!(missing.contains("not an artifact folder"), "{missing}");
        let folder = directory.display().to_string();
        assert_eq!(missing.matches(&folder).count(), 1, "{missing}");

        let scenario_path = directory.join(SCENARIO_FILE);
        std::fs::write(
            &scenario_path,
            "name = \"x\"\n[cluster]\nbrokers = \"three\"\n",
        )
        .unwrap();
        let invalid = read(&directory).unwrap_err().to_string();
        let file = scenario_path.display().to_string();
        assert!(invalid.starts_with(&format!("{file}:3:")), "{invalid}");
        assert_eq!(invalid.matches(&file).count(), 1, "{invalid}");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
