//! `trial fuzz`, `trial merge` and `trial shrink` from the outside: a killed campaign resumes
//! without losing or repeating a seed, shards merge into the whole, bad input exits 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sim::campaign::record::{SeedRecord, read_config, read_records};

mod support;

fn trial() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trial"))
}

fn temporary(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("trial-fuzz-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .display()
        .to_string()
}

fn by_job(records: Vec<SeedRecord>) -> BTreeMap<u64, (u64, String)> {
    let count = records.len();
    let map: BTreeMap<u64, (u64, String)> = records
        .into_iter()
        .map(|record| (record.job, (record.seed, record.digest)))
        .collect();
    assert_eq!(map.len(), count, "a job is recorded twice");
    map
}

const SEEDS: u64 = 60;

#[test]
fn a_killed_campaign_resumes_without_losing_or_repeating_a_seed() {
    let out = temporary("killed");
    let mut child = trial()
        .args(["fuzz", "--generate", "--jobs", "2", "--out"])
        .arg(&out)
        .args(["--seeds", &SEEDS.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seeds_file = out.join("seeds.jsonl");
    let lines = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    // Eleven lines begun: the first ten are whole (the eleventh may be torn by the kill).
    while lines(&seeds_file) < 11 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = read_records(&out, &read_config(&out).unwrap(), false)
        .unwrap()
        .len() as u64;
    assert!(done_before >= 10);
    assert!(
        done_before < SEEDS,
        "killed mid-way: {done_before} of {SEEDS} done"
    );
    // A torn last line, as a kill in the middle of a write would leave.
    let mut text = std::fs::read_to_string(&seeds_file).unwrap();
    text.push_str("{\"job\":9999,\"scena");
    std::fs::write(&seeds_file, text).unwrap();

    let resumed = trial()
        .args(["fuzz", "--resume", "--jobs", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        resumed.status.code() == Some(0) || resumed.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        stdout.contains(&format!("this session: {} seeds", SEEDS - done_before)),
        "only the missing seeds ran: {stdout}"
    );
    let resumed_records = by_job(read_records(&out, &read_config(&out).unwrap(), false).unwrap());
    assert_eq!(
        resumed_records.keys().copied().collect::<Vec<_>>(),
        (0..SEEDS).collect::<Vec<_>>()
    );

    let whole = temporary("whole");
    let status = trial()
        .args(["fuzz", "--generate", "--jobs", "2", "--out"])
        .arg(&whole)
        .args(["--seeds", &SEEDS.to_string()])
        .output()
        .unwrap()
        .status;
    assert!(status.code().is_some_and(|code| code <= 1));
    assert_eq!(
        by_job(read_records(&whole, &read_config(&whole).unwrap(), false).unwrap()),
        resumed_records,
        "an interrupted and resumed campaign ran exactly the seeds of an uninterrupted one"
    );
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&whole).unwrap();
}

#[test]
fn shards_of_a_campaign_merge_into_one_summary() {
    let root = temporary("shards");
    let mut folders = Vec::new();
    for index in 0..2 {
        let folder = root.join(format!("shard-{index}"));
        let output = trial()
            .args(["fuzz", &scenario("leader-crash-after-ack.toml")])
            .args(["--seeds", "6", "--campaign-seed", "0x5eed", "--jobs", "2"])
            .args(["--shard", &format!("{index}/2"), "--out"])
            .arg(&folder)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        folders.push(folder);
    }
    let merged = trial()
        .args(["merge", "--json", "--require", "crashes"])
        .args(&folders)
        .output()
        .unwrap();
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merged.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(summary["summary"]["runs"], 6);
    assert_eq!(summary["shards_missing"], serde_json::json!([]));
    let partial = trial().arg("merge").arg(&folders[0]).output().unwrap();
    assert_eq!(
        partial.status.code(),
        Some(1),
        "a missing shard is reported"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_input_exits_2_and_names_what_is_wrong() {
    let out = temporary("bad");
    let malformed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/malformed/replication-above-brokers.toml");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "fuzz".into(),
                "no-such-file.toml".into(),
                "--seeds".into(),
                "1".into(),
            ],
            "no-such-file.toml",
        ),
        (
            vec![
                "fuzz".into(),
                malformed.display().to_string(),
                "--seeds".into(),
                "1".into(),
            ],
            "replication_factor",
        ),
        (
            vec![
                "fuzz".into(),
                "--generate".into(),
                "--seeds".into(),
                "1".into(),
                "--shard".into(),
                "2/2".into(),
            ],
            "shard",
        ),
        (
            vec![
                "fuzz".into(),
                "--generate".into(),
                "--seeds".into(),
                "1".into(),
                "--bug".into(),
                "no-such-bug".into(),
            ],
            "no-such-bug",
        ),
        (vec!["fuzz".into(), "--generate".into()], "--seeds"),
        (
            vec![
                "fuzz".into(),
                "--generate".into(),
                "--seeds".into(),
                "1".into(),
                "--jobs".into(),
                "0".into(),
            ],
            "--jobs",
        ),
        (
            vec![
                "fuzz".into(),
                "--generate".into(),
                "--time-budget".into(),
                "0s".into(),
            ],
            "--time-budget",
        ),
        (vec!["fuzz".into(), "--resume".into()], "campaign.json"),
        (
            vec!["merge".into(), "/nonexistent-campaign".into()],
            "campaign.json",
        ),
        (
            vec!["shrink".into(), "/nonexistent-artifact".into()],
            "nonexistent-artifact",
        ),
    ];
    for (index, (arguments, named)) in cases.into_iter().enumerate() {
        let folder = out.join(index.to_string());
        let mut command = trial();
        command.args(&arguments);
        if arguments[0] == "fuzz" {
            command.arg("--out").arg(&folder);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{arguments:?} must name {named:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// A campaign folder edited by hand (or damaged in transfer) is bad input for merge and resume:
/// exit 2 with the file, line and field, never a panic on a shard of zero.
#[test]
fn a_damaged_campaign_folder_exits_2_naming_file_line_and_field() {
    let folder = temporary("damaged");
    std::fs::create_dir_all(&folder).unwrap();
    let campaign = "{\n  \"sources\": [{\"kind\": \"generated\"}],\n  \"seeds\": 4,\n  \
                    \"campaign_seed\": 1,\n  \"shard\": {\"index\": 0, \"count\": 0},\n  \
                    \"audit_parts\": 0\n}\n";
    std::fs::write(folder.join("campaign.json"), campaign).unwrap();
    let path = folder.join("campaign.json").display().to_string();
    for arguments in [vec!["merge"], vec!["fuzz", "--resume", "--out"]] {
        let output = trial().args(&arguments).arg(&folder).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{path}:5: field shard: count 0 is not in 1..=")),
            "{arguments:?}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

/// `trial shrink` on a failing artifact writes a smaller one; the reproduce line it prints fails
/// again (under the seed the shrunk scenario fails under, which may not be the original's), and
/// `trial replay` reproduces the shrunk artifact's digest.
#[test]
fn a_shrunk_failure_fails_again_from_its_printed_command_and_replays() {
    let bugs = sim::scenario::Bugs {
        elect_outside_isr: true,
        ..Default::default()
    };
    let (scenario, path) = support::with_bugs("shrink-cli", "lagging-replica-restart.toml", bugs);
    let report = support::first_failure(&scenario, &path, 20).expect("a failure in 20 seeds");
    let root = temporary("shrink");
    let (artifact, shrunk) = (root.join("artifact"), root.join("shrunk"));
    let run = trial()
        .arg("run")
        .arg(&path)
        .args(["--seed", &report.seed.to_string(), "--out"])
        .arg(&artifact)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let shrink = trial()
        .arg("shrink")
        .arg(&artifact)
        .args(["--runs-max", "60", "--out"])
        .arg(&shrunk)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shrink.stdout);
    assert_eq!(shrink.status.code(), Some(0), "{stdout}");
    let command = stdout
        .lines()
        .find_map(|line| line.strip_prefix("reproduce: cargo run --release -- "))
        .expect("a reproduce line");
    let again = trial().args(command.split(' ')).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{command} fails again");
    let replay = trial().arg("replay").arg(&shrunk).output().unwrap();
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("identical to the recorded run"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn perturbations_turn_on_in_every_scenario_of_a_campaign_and_are_recorded() {
    let perturbed = temporary("perturbed");
    let campaign = |out: &Path, extra: &[&str]| {
        trial()
            .args([
                "fuzz",
                &scenario("leader-crash-after-ack.toml"),
                "--seeds",
                "3",
            ])
            .args(["--jobs", "2", "--require", "perturbed_fetch_answered_early"])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let output = campaign(&perturbed, &["--perturbations"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let config = read_config(&perturbed).unwrap();
    assert!(config.perturbations, "campaign.json records the flag");

    let plain = temporary("plain");
    let output = campaign(&plain, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("perturbed_fetch_answered_early"),
        "the required site never fired without the flag: {stdout}"
    );
    std::fs::remove_dir_all(&perturbed).unwrap();
    std::fs::remove_dir_all(&plain).unwrap();
}
