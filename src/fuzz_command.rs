//! `trial fuzz`: a campaign of many seeds over scenario files or generated scenarios
//! (`sim::campaign`).
//!
//! Exit codes: 0 no failure (and every `--require`d event seen), 1 a failure found (or a
//! required event never seen), 2 bad input (a bad scenario file, flag or campaign folder: the
//! message names the file, line and field). The progress bar goes to stderr on a terminal only;
//! the summary goes to stdout (`--json`: one JSON object), also saved as `DIR/summary.json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use sim::campaign::SimulationRunner;
use sim::campaign::execute::{self, Execution, Observer};
use sim::campaign::record::{
    self, CampaignConfig, CampaignFolder, Recorded, SUMMARY_FILE, SeedRecord, Source,
};
use sim::campaign::schedule::{AUDIT_PARTS, AUDIT_PARTS_DEFAULT, Shard};
use sim::campaign::summary::Summary;
use sim::scenario::Duration;

/// Run a campaign of seeds: exit 0 no failure, 1 failures found, 2 bad input.
#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Scenario files to run seeds of (each runs every seed).
    pub scenarios: Vec<PathBuf>,
    /// Also run a generated scenario per seed (swarm testing: cluster, workload, faults).
    #[arg(long)]
    pub generate: bool,
    /// Seeds per source over the whole campaign (all shards).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Stop taking new seeds after this much wall time, like `90s` or `10m`.
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<Duration>,
    /// Worker threads (default: every core), 1 to 1024. Each simulation is single-threaded.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=JOBS_MAX))]
    pub jobs: Option<usize>,
    /// The campaign folder: campaign.json, seeds.jsonl, failures/, summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the campaign in --out: skips every recorded seed.
    #[arg(long)]
    pub resume: bool,
    /// The campaign's seed: with the shard, it decides every seed run (decimal or 0x-hex).
    #[arg(long, default_value = "0", value_parser = parse_seed)]
    pub campaign_seed: u64,
    /// Run shard k of n (0-based): jobs k, k+n, k+2n, ...
    #[arg(long, default_value = "0/1")]
    pub shard: Shard,
    /// The share of seeds run twice to compare digests (0 to 1).
    #[arg(long, value_parser = parse_audit_ratio)]
    pub audit_ratio: Option<u32>,
    /// Fail the campaign if no run counted this event (a counter name; repeatable).
    #[arg(long = "require", value_name = "EVENT")]
    pub required: Vec<String>,
    /// Turn a broker bug switch on in every scenario (repeatable), e.g. elect-outside-isr.
    #[arg(long = "bug", value_name = "SWITCH")]
    pub bugs: Vec<String>,
    /// Turn perturbations on in every scenario: brokers take legal but rare paths on purpose
    /// (generated scenarios otherwise have them one seed in two).
    #[arg(long)]
    pub perturbations: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_seed(text: &str) -> Result<u64, String> {
    sim::parse_seed(text).map_err(|error| error.to_string())
}

/// A ratio in [0, 1] to parts per 10,000.
fn parse_audit_ratio(text: &str) -> Result<u32, String> {
    let ratio: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number from 0 to 1"))?;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(format!("{text:?} is not a number from 0 to 1"));
    }
    Ok((ratio * f64::from(AUDIT_PARTS)).round() as u32)
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("trial fuzz: {message}");
    ExitCode::from(2)
}

/// Runs `trial fuzz`.
pub fn run(args: &FuzzArgs) -> ExitCode {
    let (folder, config, scenarios, recorded) = match open(args) {
        Ok(opened) => opened,
        Err(message) => return bad_input(message),
    };
    let execution = Execution {
        threads: args
            .jobs
            .unwrap_or_else(default_threads)
            .clamp(1, JOBS_MAX as usize),
        time_budget: args
            .time_budget
            .map(|budget| std::time::Duration::from_nanos(budget.ns)),
        clock: campaign_clock,
    };
    let progress = Progress::new(&config, recorded.summary.runs);
    let started = wall_now();
    let result = execute::run(
        &folder,
        &config,
        &scenarios,
        &recorded.jobs,
        execution,
        &SimulationRunner,
        &progress,
    );
    progress.bar.finish_and_clear();
    let this_session = match result {
        Ok(summary) => summary,
        Err(error) => return bad_input(error),
    };
    let elapsed = started.elapsed();
    report(args, &folder.path, recorded.summary, this_session, elapsed)
}

/// Writes and prints the whole campaign's summary: what was recorded before this session, and
/// what this session ran.
fn report(
    args: &FuzzArgs,
    folder: &Path,
    mut summary: Summary,
    this_session: Summary,
    elapsed: std::time::Duration,
) -> ExitCode {
    let seeds_this_session = this_session.runs;
    summary.absorb(this_session);
    summary.require(&args.required);
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    let summary_path = folder.join(SUMMARY_FILE);
    if let Err(error) = std::fs::write(&summary_path, format!("{json}\n")) {
        return bad_input(format!("{}: {error}", summary_path.display()));
    }
    let per_minute = seeds_this_session as f64 * 60.0 / elapsed.as_secs_f64().max(1e-9);
    if args.json {
        outln!("{json}");
    } else {
        outln!("{}", summary.text());
        outln!(
            "this session: {} seeds in {:.1} s wall ({per_minute:.0} seeds/min); folder {}",
            seeds_this_session,
            elapsed.as_secs_f64(),
            folder.display()
        );
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

type Opened = (
    CampaignFolder,
    CampaignConfig,
    Vec<Option<sim::scenario::Scenario>>,
    Recorded,
);

/// Checks the flags, loads the scenarios, then creates (or reopens) the campaign folder: bad
/// input leaves no folder behind.
fn open(args: &FuzzArgs) -> Result<Opened, String> {
    let given = config_of(args)?;
    if args.resume {
        let (folder, config, recorded) = resume(&args.out, given)?;
        let scenarios = execute::load_sources(&config).map_err(|error| error.to_string())?;
        ensure_bounded(&config, args)?;
        return Ok((folder, config, scenarios, recorded));
    }
    let config = given.ok_or("name scenario files, or --generate")?;
    ensure_bounded(&config, args)?;
    let scenarios = execute::load_sources(&config).map_err(|error| error.to_string())?;
    let folder = CampaignFolder::create(&args.out, &config).map_err(|error| error.to_string())?;
    let recorded = Recorded::nothing(config.shard);
    Ok((folder, config, scenarios, recorded))
}

fn ensure_bounded(config: &CampaignConfig, args: &FuzzArgs) -> Result<(), String> {
    if config.seeds.is_none() && args.time_budget.is_none() {
        return Err("give --seeds N, --time-budget DURATION, or both".to_string());
    }
    if args.time_budget.is_some_and(|budget| budget.ns == 0) {
        return Err(
            "--time-budget: must be more than 0s (a campaign of no seeds proves nothing)"
                .to_string(),
        );
    }
    Ok(())
}

/// The config the flags describe; `None` when they name no source (a bare `--resume`).
fn config_of(args: &FuzzArgs) -> Result<Option<CampaignConfig>, String> {
    let mut sources: Vec<Source> = args
        .scenarios
        .iter()
        .map(|path| Source::File {
            path: path.display().to_string(),
        })
        .collect();
    if args.generate {
        sources.push(Source::Generated);
    }
    if sources.is_empty() {
        return Ok(None);
    }
    let config = CampaignConfig {
        sources,
        seeds: args.seeds,
        campaign_seed: args.campaign_seed,
        shard: args.shard,
        audit_parts: args.audit_ratio.unwrap_or(AUDIT_PARTS_DEFAULT),
        bugs: args.bugs.clone(),
        perturbations: args.perturbations,
    };
    config.validate().map_err(|(field, message)| {
        let flag = match field.as_str() {
            "seeds" => "--seeds",
            "audit_parts" => "--audit-ratio",
            bug if bug.starts_with("bugs") => "--bug",
            other => other,
        };
        format!("{flag}: {message}")
    })?;
    Ok(Some(config))
}

/// Reopens the folder; flags naming a campaign must name the recorded one.
fn resume(
    out: &Path,
    given: Option<CampaignConfig>,
) -> Result<(CampaignFolder, CampaignConfig, Recorded), String> {
    let (folder, config, recorded) = CampaignFolder::resume(out).map_err(|e| e.to_string())?;
    if let Some(given) = given
        && given != config
    {
        return Err(format!(
            "{}: the flags describe another campaign than the recorded one; \
             run `trial fuzz --resume --out {}` alone to continue it",
            out.join(record::CAMPAIGN_FILE).display(),
            out.display()
        ));
    }
    Ok((folder, config, recorded))
}

/// The most worker threads a campaign starts: far above any machine's cores, far below what
/// exhausts a process's threads.
const JOBS_MAX: u64 = 1024;

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}

/// Wall time of the campaign, for seeds per minute: outside any simulation.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// The campaign's wall clock: time since the first reading.
fn campaign_clock() -> std::time::Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(wall_now).elapsed()
}

/// The progress bar: on a terminal only.
struct Progress {
    bar: ProgressBar,
    failures: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new(config: &CampaignConfig, already_done: u64) -> Progress {
        let attended = std::io::stderr().is_terminal();
        let bar = match (attended, config.schedule().shard_jobs()) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(total)) => ProgressBar::new(total),
            (true, None) => ProgressBar::new_spinner(),
        };
        let template = "{elapsed_precise} [{bar:30}] {pos}/{len} seeds, {per_sec}, {msg}";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(already_done);
        bar.reset_eta();
        bar.set_message("0 failures");
        Progress {
            bar,
            failures: Default::default(),
        }
    }
}

impl Observer for Progress {
    fn seed_finished(&self, record: &SeedRecord) {
        if record.failed() {
            let failures = self
                .failures
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            self.bar.set_message(format!("{failures} failures"));
            self.bar.println(format!(
                "FAIL {} seed {}: {}",
                record.scenario,
                record.seed,
                record.violations.join(", ")
            ));
        }
        self.bar.inc(1);
    }
}
