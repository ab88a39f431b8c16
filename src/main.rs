//! `trial`: deterministic simulation testing for Kafka-like brokers.
//!
//! A thin shell over the library crates: argument parsing, output and exit codes. Exit codes are
//! the contract: 0 pass (or valid), 1 a violation (or anomaly) found, 2 bad input, which is
//! always reported with the file, line and field at fault and never a panic.
//!
//! - `trial check HISTORY`: judges a history file ([`check_command`]).

mod check_command;

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
    /// Check a history file (JSON Lines, shared/design/HISTORY.md) for anomalies.
    Check(check_command::CheckArgs),
}

fn main() -> ExitCode {
    sim::logging::init_from_env();
    match Cli::parse().command {
        Command::Check(args) => check_command::run(&args),
    }
}
