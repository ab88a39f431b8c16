//! `trial check HISTORY [--json]`: judge a history file (`shared/design/HISTORY.md`) recorded
//! anywhere, with the `check` crate.
//!
//! Exit codes: 0 the history is valid for the declared configuration, 1 it holds violations,
//! 2 bad input (unreadable file, malformed line: the message names file, line and field; an
//! unknown anomaly name). The human report goes to stdout, errors to stderr; `--json` prints one
//! JSON object: `{"history", "valid", "anomalies": {name: [witness, ...]}, "anomaly_counts",
//! "violations", "stats", "config"}`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use check::history::{Acks, AnomalyKind, ConsumerMode, RebalanceProtocol};
use check::{CheckConfig, Report, check_history};

/// How many witnesses per anomaly the human report prints.
const WITNESSES_SHOWN_MAX: usize = 3;
/// Bytes read from the history file at a time.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Check a history file (HISTORY.md) for anomalies: exit 0 valid, 1 violations, 2 bad input.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history file: JSON Lines, one operation per line (HISTORY.md).
    pub history: PathBuf,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// The producers' acks: losing acknowledged writes is a violation only under `all`.
    #[arg(long, value_enum, default_value_t = AcksArgument::All)]
    pub acks: AcksArgument,
    /// How consumers got their keys: under `subscribe`, skips and re-reads across polls are
    /// expected (rebalances reset positions to committed offsets).
    #[arg(long, value_enum, default_value_t = ConsumerModeArgument::Assign)]
    pub consumer_mode: ConsumerModeArgument,
    /// The group's rebalance protocol: `eager` revokes every key at each rebalance, so positions
    /// restart from committed offsets; `cooperative` keeps the keys a member keeps.
    #[arg(long, value_enum, default_value_t = RebalanceProtocolArgument::Eager)]
    pub rebalance_protocol: RebalanceProtocolArgument,
    /// A group that rebalances by another protocol than `--rebalance-protocol`, as
    /// `GROUP=eager` or `GROUP=cooperative` (repeatable).
    #[arg(long = "group-protocol", value_name = "GROUP=PROTOCOL")]
    pub group_protocols: Vec<String>,
    /// Demand serializable writes: `G0` and `int-send-skip` become violations (Kafka's
    /// transactions allow both).
    #[arg(long)]
    pub isolated_writes: bool,
    /// Every consumer group must process each record exactly once.
    #[arg(long)]
    pub exactly_once: bool,
    /// Every consumer group must read each record at least once (auto-commit semantics): a
    /// record a group never polled is a `lost-consumption`; duplicates are expected.
    #[arg(long)]
    pub at_least_once: bool,
    /// The consumers drained every key at the end: unread acknowledged records are violations.
    #[arg(long)]
    pub drained: bool,
    /// An anomaly the run expects (repeatable), e.g. `--expect G0`.
    #[arg(long = "expect", value_name = "ANOMALY")]
    pub expected: Vec<String>,
    /// How many witnesses the report keeps per anomaly (all are counted).
    #[arg(long, default_value_t = 64)]
    pub witnesses_max: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcksArgument {
    All,
    Leader,
    None,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebalanceProtocolArgument {
    Eager,
    Cooperative,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerModeArgument {
    Assign,
    Subscribe,
}

/// Runs `trial check`.
pub fn run(args: &CheckArgs) -> ExitCode {
    let config = match config_of(args) {
        Ok(config) => config,
        Err(message) => return bad_input(&message),
    };
    let file = match File::open(&args.history) {
        Ok(file) => file,
        Err(error) => {
            return bad_input(&format!("{}: cannot open: {error}", args.history.display()));
        }
    };
    let input = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let report = match check_history(input, &config) {
        Ok(report) => report,
        Err(error) => return bad_input(&format!("{}: {error}", args.history.display())),
    };
    if args.json {
        print_json(args, &config, &report);
    } else {
        print_human(args, &config, &report);
    }
    if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn config_of(args: &CheckArgs) -> Result<CheckConfig, String> {
    let expected = args
        .expected
        .iter()
        .map(|name| {
            name.parse::<AnomalyKind>()
                .map_err(|error| error.to_string())
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(CheckConfig {
        acks: match args.acks {
            AcksArgument::All => Acks::All,
            AcksArgument::Leader => Acks::Leader,
            AcksArgument::None => Acks::None,
        },
        consumer_mode: match args.consumer_mode {
            ConsumerModeArgument::Assign => ConsumerMode::Assign,
            ConsumerModeArgument::Subscribe => ConsumerMode::Subscribe,
        },
        rebalance_protocol: protocol_of(args.rebalance_protocol),
        group_protocols: args
            .group_protocols
            .iter()
            .map(|pair| group_protocol(pair))
            .collect::<Result<_, _>>()?,
        kafka_transactions: !args.isolated_writes,
        exactly_once: args.exactly_once,
        at_least_once: args.at_least_once,
        drained: args.drained,
        expected,
        witnesses_per_anomaly_max: args.witnesses_max,
    })
}

fn protocol_of(argument: RebalanceProtocolArgument) -> RebalanceProtocol {
    match argument {
        RebalanceProtocolArgument::Eager => RebalanceProtocol::Eager,
        RebalanceProtocolArgument::Cooperative => RebalanceProtocol::Cooperative,
    }
}

/// `GROUP=PROTOCOL` of `--group-protocol`.
fn group_protocol(pair: &str) -> Result<(String, RebalanceProtocol), String> {
    let refused =
        || format!("--group-protocol {pair:?}: expected GROUP=eager or GROUP=cooperative");
    let (group, protocol) = pair.split_once('=').ok_or_else(refused)?;
    let protocol = match protocol {
        "eager" => RebalanceProtocolArgument::Eager,
        "cooperative" => RebalanceProtocolArgument::Cooperative,
        _ => return Err(refused()),
    };
    if group.is_empty() {
        return Err(refused());
    }
    Ok((group.to_owned(), protocol_of(protocol)))
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("trial check: {message}");
    ExitCode::from(2)
}

fn print_json(args: &CheckArgs, config: &CheckConfig, report: &Report) {
    let mut json = serde_json::to_value(report).expect("reports serialize");
    json["history"] = serde_json::json!(args.history.display().to_string());
    json["config"] = serde_json::to_value(config).expect("configs serialize");
    outln!("{json}");
}

fn print_human(args: &CheckArgs, config: &CheckConfig, report: &Report) {
    let stats = &report.stats;
    outln!(
        "history {}: {} operations ({} ok, {} fail, {} info, {} pending), {} processes, {} keys, {} sends, {} reads, {} commits",
        args.history.display(),
        stats.operations,
        stats.ok,
        stats.fail,
        stats.info,
        stats.pending,
        stats.processes,
        stats.keys,
        stats.sends,
        stats.reads,
        stats.commits,
    );
    for (kind, witnesses) in &report.anomalies {
        let verdict = if config.is_violation(*kind) {
            "VIOLATION"
        } else {
            "expected under this configuration"
        };
        outln!("{kind}: {} ({verdict})", report.count(*kind));
        for witness in witnesses.iter().take(WITNESSES_SHOWN_MAX) {
            outln!(
                "  {}",
                serde_json::to_string(witness).expect("witnesses serialize")
            );
        }
    }
    let violations: Vec<&str> = report.violations.iter().map(|kind| kind.name()).collect();
    if report.valid {
        outln!("verdict=valid");
    } else {
        outln!("verdict=invalid violations={}", violations.join(","));
    }
}
