//! `trial run SCENARIO` and `trial replay DIR`: one seed of one scenario, and a recorded run
//! re-run to confirm it reproduces bit for bit.
//!
//! Exit codes: 0 the run passed, 1 it found a violation (or a replay's digest differs), 2 bad
//! input (the scenario or artifact folder at fault is named, with line and field).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::audit;
use sim::runner::artifact::{self, Artifact};
use sim::runner::report::{self, RunReport, Verdict};
use sim::runner::run::{RunOptions, RunOutcome, run};
use sim::runner::story;
use sim::scenario::Scenario;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The seed, decimal or 0x-hex.
    #[arg(long, env = "TRIAL_SEED", default_value = "0", value_parser = parse_seed)]
    pub seed: u64,
    /// Print the report as one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Write an artifact folder (scenario, seed, history.jsonl, run.json, log.txt) that
    /// `trial replay` re-runs. The folder must not exist or be empty.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// An artifact folder written by `trial run --out` or by a campaign.
    pub directory: PathBuf,
    /// Print the replayed report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_seed(text: &str) -> Result<u64, String> {
    sim::parse_seed(text).map_err(|error| error.to_string())
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Runs one seed and measures its wall time (the simulation itself never reads a clock).
#[allow(
    clippy::disallowed_methods,
    reason = "the CLI times the run; the simulation does not"
)]
pub fn timed_run(
    scenario: &Scenario,
    scenario_path: &str,
    seed: u64,
    options: RunOptions,
) -> RunOutcome {
    let started = std::time::Instant::now();
    let mut outcome = run(scenario, scenario_path, seed, options);
    outcome.report.stats.wall_ns = started.elapsed().as_nanos() as u64;
    outcome
}

/// Prints the report: one JSON object, or the summary for people, which tells the story of what
/// the first violation names from the run's `log` ([`story`]).
fn print_report(report: &RunReport, log: &str, json: bool) {
    if json {
        outln!(
            "{}",
            serde_json::to_string(report).expect("a report serialises")
        );
        return;
    }
    let subjects = report.violations.first().map(story::subjects);
    let told = story::story(log, subjects.as_deref().unwrap_or_default());
    outln!("{}", report.summary_with_story(&told));
}

fn verdict_code(verdict: Verdict) -> ExitCode {
    match verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(1),
    }
}

pub fn run_command(args: &RunArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => return bad_input(&error.to_string()),
    };
    if let Some(out) = &args.out {
        if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
            return bad_input(&format!(
                "{}: already exists and is not empty; choose another --out folder",
                out.display()
            ));
        }
    }
    let path = args.scenario.display().to_string();
    let options = RunOptions {
        capture_log: args.out.is_some(),
        ..RunOptions::default()
    };
    let mut outcome = timed_run(&scenario, &path, args.seed, options);
    let failed = outcome.report.verdict == Verdict::Fail;
    if failed && !options.capture_log && !args.json {
        outcome.log = log_of_failure(&scenario, &path, args.seed, &outcome.report);
    }
    if let Some(out) = &args.out {
        let artifact = Artifact {
            scenario: &scenario,
            report: &outcome.report,
            history_lines: &outcome.history_lines,
            log: &outcome.log,
        };
        if let Err(error) = artifact::write(out, &artifact) {
            return bad_input(&error.to_string());
        }
        eprintln!(
            "artifact: {} (replay: {})",
            out.display(),
            report::replay_command(&out.display().to_string())
        );
    }
    print_report(&outcome.report, &outcome.log, args.json);
    verdict_code(outcome.report.verdict)
}

/// A run that keeps its log (and history lines).
const LOGGED: RunOptions = RunOptions {
    capture_log: true,
    events_max: None,
};

/// The log of a failed run made without one, from the same seed run again with its log kept (a
/// passing run is not slowed by a log nobody reads). Empty, with a warning, if the second run
/// does not reproduce the first.
fn log_of_failure(scenario: &Scenario, path: &str, seed: u64, report: &RunReport) -> String {
    let again = run(scenario, path, seed, LOGGED);
    if again.report.digest != report.digest {
        eprintln!(
            "warning: seed {seed} ran again with digest {} instead of {}: the run is not deterministic",
            again.report.digest, report.digest
        );
        return String::new();
    }
    again.log
}

/// Says where a replay first strayed from its record: the simulated second, from the digest
/// trails, and the first log line that differs, if any does.
fn explain_divergence(directory: &Path, recorded: &RunReport, replayed: &RunOutcome) {
    if let Some(divergence) =
        audit::divergence(&recorded.digest_trail, &replayed.report.digest_trail)
    {
        eprintln!("replay: {divergence}");
    }
    let log_path = directory.join(artifact::LOG_FILE);
    let Ok(recorded_log) = std::fs::read_to_string(&log_path) else {
        return;
    };
    if let Some((number, recorded_line, replayed_line)) =
        audit::first_different_line(&recorded_log, &replayed.log)
    {
        eprintln!(
            "replay: the logs first differ at line {number} of {}:\n  recorded: {recorded_line}\n  replayed: {replayed_line}",
            log_path.display()
        );
    }
}

/// Re-runs a recorded run. Exit 1 if the digest differs (the run did not reproduce), otherwise
/// the replayed run's own verdict.
pub fn replay_command(args: &ReplayArgs) -> ExitCode {
    let recorded = match artifact::read(&args.directory) {
        Ok(recorded) => recorded,
        Err(error) => return bad_input(&error.to_string()),
    };
    let path = recorded.scenario_path.display().to_string();
    // The log is kept to show where a run that did not reproduce first strays from its record.
    let outcome = timed_run(&recorded.scenario, &path, recorded.report.seed, LOGGED);
    print_report(&outcome.report, &outcome.log, args.json);
    if outcome.report.digest != recorded.report.digest {
        eprintln!(
            "replay: digest {} differs from the recorded {}: the run did not reproduce (nondeterminism, or the code changed since)",
            outcome.report.digest, recorded.report.digest
        );
        explain_divergence(&args.directory, &recorded.report, &outcome);
        return ExitCode::from(1);
    }
    eprintln!(
        "replay: digest {} identical to the recorded run (verdict {})",
        outcome.report.digest, outcome.report.verdict
    );
    verdict_code(outcome.report.verdict)
}
