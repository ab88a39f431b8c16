//! `trial shrink ARTIFACT_DIR`: reduce a failing run while the same kind of violation persists
//! (`sim::campaign::shrink`), and write the smallest scenario found as a replayable artifact
//! folder (`ARTIFACT_DIR/shrunk/` or `--out`) with `shrink.txt` saying what was removed. The
//! shrunk scenario may fail under another seed than the original (when nothing more could go
//! under the original's); its artifact and reproduce line carry that seed.
//!
//! Exit codes: 0 shrunk and written, 1 the recorded failure no longer reproduces (the run
//! passes, or fails otherwise), 2 bad input (not an artifact folder, a damaged `run.json` or a
//! `seed` file that disagrees with it, named with line and field; an occupied output).

use std::path::PathBuf;
use std::process::ExitCode;

use sim::campaign::SimulationRunner;
use sim::campaign::shrink::{self, Goal, RUNS_MAX_DEFAULT, ShrinkError};
use sim::runner::artifact;

/// Shrink a failing artifact folder: exit 0 shrunk, 1 the failure does not reproduce, 2 bad input.
#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// An artifact folder (from `trial run --out`, or a campaign's `failures/`).
    pub artifact: PathBuf,
    /// Where to write the shrunk artifact folder (default: ARTIFACT/shrunk).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The most runs the search may spend.
    #[arg(long, default_value_t = RUNS_MAX_DEFAULT)]
    pub runs_max: u64,
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("trial shrink: {message}");
    ExitCode::from(2)
}

/// Runs `trial shrink`.
pub fn run(args: &ShrinkArgs) -> ExitCode {
    let recorded = match artifact::read(&args.artifact) {
        Ok(recorded) => recorded,
        Err(error) => return bad_input(error),
    };
    let Some(goal) = Goal::of(&recorded.report) else {
        return bad_input(format!(
            "{}: the recorded run passed: nothing to shrink",
            args.artifact.display()
        ));
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.artifact.join("shrunk"));
    let occupied = std::fs::read_dir(&out).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return bad_input(format!(
            "{}: already exists and is not empty; choose another --out",
            out.display()
        ));
    }
    let seed = recorded.report.seed;
    eprintln!(
        "shrinking {} under seed {seed}, keeping {goal} ...",
        args.artifact.display()
    );
    let shrunk = shrink::shrink(
        &recorded.scenario,
        seed,
        Some(goal),
        &SimulationRunner,
        args.runs_max,
    );
    let shrunk = match shrunk {
        Ok(shrunk) => shrunk,
        Err(error @ ShrinkError::DoesNotReproduce { .. })
        | Err(error @ ShrinkError::NoViolation) => {
            eprintln!("trial shrink: {error}");
            return ExitCode::from(1);
        }
    };
    if let Err(error) = shrink::write(&out, &shrunk, &SimulationRunner) {
        return bad_input(error);
    }
    out!("{}", shrunk.text());
    outln!("written to {}", out.display());
    out!("{}", shrunk.commands(&out));
    ExitCode::SUCCESS
}
