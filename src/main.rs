//! `trial`: deterministic simulation testing for Kafka-like brokers.
//!
//! A thin shell over the library crates: argument parsing, output and exit codes. Exit codes are
//! the contract: 0 pass (or valid), 1 a violation (or anomaly) found, 2 bad input, which is
//! always reported with the file, line and field at fault and never a panic.
//!
//! - `trial run SCENARIO --seed N`, `trial replay DIR`: one run, and a re-run of a recorded one
//!   ([`run_command`]).
//! - `trial check HISTORY`: judges a history file ([`check_command`]).

mod check_command;
mod run_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "trial",
    version,
    about = "Deterministic simulation testing for Kafka-like brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one seed of a scenario; the last line is `seed=<N> digest=<16 hex> verdict=<pass|fail>`.
    Run(run_command::RunArgs),
    /// Re-run an artifact folder and confirm its digest is identical.
    Replay(run_command::ReplayArgs),
    /// Check a history file (JSON Lines, shared/design/HISTORY.md) for anomalies.
    Check(check_command::CheckArgs),
}

fn main() -> ExitCode {
    sim::logging::init_from_env();
    match Cli::parse().command {
        Command::Run(args) => run_command::run_command(&args),
        Command::Replay(args) => run_command::replay_command(&args),
        Command::Check(args) => check_command::run(&args),
    }
}
