//! `trial merge DIR...`: the folders of a sharded campaign (`trial fuzz --shard k/n`) merged
//! into one summary, with a reproduce line per failure (`sim::campaign::merge`).
//!
//! Exit codes: 0 no failure and every shard present and complete, 1 failures, a required event
//! never seen, or shards missing or incomplete, 2 bad input (a folder that is not a campaign,
//! shards of different campaigns, a `campaign.json` or `seeds.jsonl` line that does not read or
//! that its campaign could not have written, named with its line and field).

use std::path::PathBuf;
use std::process::ExitCode;

use sim::campaign::merge;

/// Merge sharded campaign folders: exit 0 clean, 1 failures or missing shards, 2 bad input.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Campaign folders, one per shard.
    #[arg(required = true)]
    pub folders: Vec<PathBuf>,
    /// Fail if no run counted this event (a counter name; repeatable).
    #[arg(long = "require", value_name = "EVENT")]
    pub required: Vec<String>,
    /// Print the merged summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `trial merge`.
pub fn run(args: &MergeArgs) -> ExitCode {
    let mut merged = match merge::merge(&args.folders) {
        Ok(merged) => merged,
        Err(error) => {
            eprintln!("trial merge: {error}");
            return ExitCode::from(2);
        }
    };
    merged.summary.require(&args.required);
    if args.json {
        let json = serde_json::to_string_pretty(&merged).expect("a summary serialises");
        outln!("{json}");
    } else {
        outln!("{}", merged.text());
    }
    let complete = merged.shards_missing.is_empty() && merged.shards_incomplete.is_empty();
    if merged.summary.passed() && complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
