//! `trial`: deterministic simulation testing for Kafka-like brokers.
//!
//! A thin shell over the library crates: argument parsing, output and exit codes. Exit codes are
//! the contract: 0 pass (or valid), 1 a violation (or anomaly) found, 2 bad input, which is
//! always reported with the file, line and field at fault and never a panic.
//!
//! - `trial run SCENARIO --seed N`, `trial replay DIR`: one run, and a re-run of a recorded one
//!   ([`run_command`]).
//! - `trial check HISTORY`: judges a history file ([`check_command`]).
//! - `trial fuzz`: a campaign of many seeds ([`fuzz_command`]).
//! - `trial shrink ARTIFACT`: a failing run made small ([`shrink_command`]).
//! - `trial merge DIR...`: sharded campaign folders merged into one summary ([`merge_command`]).

/// `println!` for the commands' output, except that a closed stdout (`trial run ... | head`)
/// is not an error: the reader has what it wanted, the run goes on and keeps its exit code.
/// (`println!` panics on a broken pipe, and a panic is never how `trial` ends.)
macro_rules! outln {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($argument)*);
    }};
}

/// `print!` with [`outln!`]'s handling of a closed stdout.
macro_rules! out {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($argument)*);
    }};
}

mod check_command;
mod fuzz_command;
mod merge_command;
mod run_command;
mod shrink_command;

use std::process::ExitCode;

/// Campaigns step millions of simulated events, each allocating and freeing small messages:
/// mimalloc runs them markedly faster than the system allocator (see `sim/benches`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run a campaign of many seeds over scenario files or generated scenarios.
    Fuzz(fuzz_command::FuzzArgs),
    /// Shrink a failing artifact folder to the smallest scenario that still fails alike.
    Shrink(shrink_command::ShrinkArgs),
    /// Merge the folders of a sharded campaign into one summary.
    Merge(merge_command::MergeArgs),
}

fn main() -> ExitCode {
    sim::logging::init_from_env();
    match Cli::parse().command {
        Command::Run(args) => run_command::run_command(&args),
        Command::Replay(args) => run_command::replay_command(&args),
        Command::Check(args) => check_command::run(&args),
        Command::Fuzz(args) => fuzz_command::run(&args),
        Command::Shrink(args) => shrink_command::run(&args),
        Command::Merge(args) => merge_command::run(&args),
    }
}
