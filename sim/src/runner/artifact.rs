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

use crate::runner::report::RunReport;
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
    let report: RunReport =
        serde_json::from_str(&text).map_err(|error| ArtifactError::Invalid {
            path: report_path.clone(),
            message: format!("line {}: {error}", error.line()),
        })?;
    Ok(RecordedRun {
        scenario,
        scenario_path,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "name = \"artifact\"\nwhy = \"test\"\nfault_phase = \"1s\"\n[cluster]\nbrokers = 1\ncontrollers = 1\n\
        [[cluster.topics]]\nname = \"t\"\npartitions = 1\nreplication_factor = 1\nmin_insync_replicas = 1\n\
        [[workload.producers]]\ntopic = \"t\"\nrate_per_second = 1\n[[workload.consumers]]\ntopic = \"t\"\n";

    #[test]
    fn a_folder_is_written_whole_and_read_back() {
        let scenario = Scenario::parse(SCENARIO, "artifact.toml").unwrap();
        let report = RunReport::new("artifact", "artifact.toml", 77, 0xfeed);
        let history = vec!["{\"index\":0}".to_string()];
        let directory =
            std::env::temp_dir().join(format!("trial-artifact-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let artifact = Artifact {
            scenario: &scenario,
            report: &report,
            history_lines: &history,
            log: "log\n",
        };
        write(&directory, &artifact).unwrap();
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
        let again = write(&directory, &artifact).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        assert!(
            !staging_path(&directory).exists(),
            "no partial folder left behind"
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
