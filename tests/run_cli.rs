//! `trial run` and `trial replay` as a user meets them: the summary line, exit codes, artifact
//! folders that replay to the same digest, and malformed scenarios rejected with exit code 2 and
//! the line and field named, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trial(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trial"))
        .args(arguments)
        .output()
        .expect("trial runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repository(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn scratch_directory(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("trial-run-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

fn summary_line(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or_default()
}

#[test]
fn a_passing_run_ends_with_the_summary_line_and_exits_zero() {
    let output = trial(&[
        "run",
        &repository("scenarios/leader-crash-after-ack.toml"),
        "--seed",
        "0x7",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    let line = summary_line(&stdout);
    assert!(line.starts_with("seed=7 digest="), "{line}");
    assert!(line.ends_with(" verdict=pass"), "{line}");
    let digest = line
        .split("digest=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(digest.len(), 16);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn json_output_carries_the_contract_fields() {
    let output = trial(&[
        "run",
        &repository("scenarios/controller-crash.toml"),
        "--seed",
        "3",
        "--json",
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    for field in [
        "scenario",
        "seed",
        "digest",
        "verdict",
        "violations",
        "stats",
    ] {
        assert!(report.get(field).is_some(), "missing {field}: {report}");
    }
    for field in ["counters", "events", "simulated_ns", "wall_ns"] {
        assert!(
            report["stats"].get(field).is_some(),
            "missing stats.{field}: {report}"
        );
    }
    assert_eq!(report["seed"], 3);
    assert!(report["stats"]["events"].as_u64().unwrap() > 0);
}

#[test]
fn a_recorded_run_replays_to_the_same_digest() {
    let directory = scratch_directory("replay");
    let out = directory.display().to_string();
    let output = trial(&[
        "run",
        &repository("scenarios/rolling-restart.toml"),
        "--seed",
        "11",
        "--out",
        &out,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let recorded_line = summary_line(&text(&output.stdout)).to_string();
    for file in [
        "scenario.toml",
        "seed",
        "history.jsonl",
        "run.json",
        "log.txt",
    ] {
        assert!(directory.join(file).is_file(), "artifact lacks {file}");
    }
    let log = std::fs::read_to_string(directory.join("log.txt")).unwrap();
    assert!(
        log.contains("s b"),
        "the log is stamped with simulated time and node: {log:.200}"
    );
    let history = std::fs::read_to_string(directory.join("history.jsonl")).unwrap();
    assert!(history.lines().count() > 100);
    let replay = trial(&["replay", &out]);
    let stderr = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("identical to the recorded run"), "{stderr}");
    assert_eq!(summary_line(&text(&replay.stdout)), recorded_line);
    let checked = trial(&[
        "check",
        &directory.join("history.jsonl").display().to_string(),
    ]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "the recorded history passes trial check: {}",
        text(&checked.stdout)
    );
    let again = trial(&[
        "run",
        &repository("scenarios/rolling-restart.toml"),
        "--out",
        &out,
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing artifact folder is never overwritten"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}

/// A replay that does not reproduce says where it strayed: the simulated second, from the
/// digest trail, and the first log line that differs. (The recorded scenario is edited here, as
/// a change of code would change the run.)
#[test]
fn a_replay_that_strays_names_the_second_and_the_log_line() {
    let directory = scratch_directory("stray");
    let out = directory.display().to_string();
    let scenario = repository("scenarios/leader-crash-after-ack.toml");
    let recorded = trial(&["run", &scenario, "--seed", "7", "--out", &out]);
    assert_eq!(
        recorded.status.code(),
        Some(0),
        "{}",
        text(&recorded.stderr)
    );
    let report = std::fs::read_to_string(directory.join("run.json")).unwrap();
    assert!(report.contains("\"digest_trail\""), "{report:.300}");
    let edited = directory.join("scenario.toml");
    let text_of_scenario = std::fs::read_to_string(&edited).unwrap();
    let crash_at_8s = "action = \"crash\"\nat = \"8s\"";
    assert!(text_of_scenario.contains(crash_at_8s), "{text_of_scenario}");
    let moved = text_of_scenario.replace(crash_at_8s, "action = \"crash\"\nat = \"8100ms\"");
    std::fs::write(&edited, moved).unwrap();
    let replay = trial(&["replay", &out]);
    let stderr = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "they agree through 8 s of simulated time and first differ between 8 s and 9 s"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("the logs first differ at line"), "{stderr}");
    assert!(stderr.contains("  recorded:    8.000000000s"), "{stderr}");
    let _ = std::fs::remove_dir_all(&directory);
}

/// Debugging a failure from its artifact: the log is plain text, tells the cluster's story (who
/// led, who truncated what and why) with brokers named as the scenario names them, and the
/// violation says which node is which broker.
#[test]
fn a_failing_runs_artifact_tells_the_story_with_brokers_named_alike() {
    let directory = scratch_directory("timeline");
    std::fs::create_dir_all(&directory).unwrap();
    let scenario = directory.join("planted.toml");
    let mut text_of_scenario =
        std::fs::read_to_string(repository("scenarios/fast-double-failover.toml")).unwrap();
    text_of_scenario.push_str("\n[cluster.bugs]\ntruncate_to_high_watermark = true\n");
    std::fs::write(&scenario, text_of_scenario).unwrap();
    let out = directory.join("artifact");
    let failure = (0..50).find_map(|seed| {
        let seed = seed.to_string();
        let arguments = ["run", scenario.to_str().unwrap(), "--seed", &seed, "--out"];
        let _ = std::fs::remove_dir_all(&out);
        let output = trial(&[&arguments[..], &[out.to_str().unwrap()]].concat());
        (output.status.code() == Some(1)).then_some(output)
    });
    let output = failure.expect("the planted zoo 1 bug fails some seed in 0..50");
    let stdout = text(&output.stdout);
    let first = stdout
        .lines()
        .find(|line| line.contains("first: [State]"))
        .unwrap_or_else(|| panic!("a state violation: {stdout}"));
    let legend = first.rsplit_once(" (").expect("a legend").1;
    for pair in legend.trim_end_matches(')').split(", ") {
        let (node, name) = pair
            .strip_prefix("node ")
            .and_then(|rest| rest.split_once(" is "))
            .unwrap_or_else(|| panic!("'node N is bM' in {first}"));
        let number: u32 = node.parse().unwrap();
        assert_eq!(name, format!("b{}", number + 1), "{first}");
    }
    let report = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(report.contains("\"node_names\""), "{report:.300}");
    // Without an artifact too, the failure tells its partition's story (from a second run with
    // its log kept).
    let seed = std::fs::read_to_string(out.join("seed")).unwrap();
    let again = trial(&["run", scenario.to_str().unwrap(), "--seed", seed.trim()]);
    let story = text(&again.stdout);
    assert!(
        story.contains("what happened to orders/"),
        "the story of the violated partition: {story}"
    );
    assert!(story.contains("-     fault: crash b"), "{story}");
    assert!(story.contains("controller: proposes b"), "{story}");
    assert!(summary_line(&story).ends_with("verdict=fail"), "{story}");

    let log = std::fs::read_to_string(out.join("log.txt")).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colour codes in a file"
    );
    assert!(
        log.contains("INFO timeline: controller: proposes b"),
        "{log}"
    );
    assert!(log.contains(": leads in leader epoch "), "{log}");
    assert!(
        log.contains("truncated to its high watermark (bug switch"),
        "the planted truncation shows: {log}"
    );
    assert!(
        log.lines()
            .last()
            .unwrap_or_default()
            .contains("WARN violation: ["),
        "the log ends with the violations found: {log}"
    );
    for line in log
        .lines()
        .filter(|line| line.contains("sim::runner::faults"))
    {
        let node = line.split_whitespace().nth(1);
        assert_eq!(
            node,
            Some("-"),
            "a fault line names no stepped node: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn malformed_scenarios_exit_two_naming_the_line_and_field() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut checked = 0;
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        let text_of_file = std::fs::read_to_string(&path).unwrap();
        let output = trial(&["run", &path.display().to_string()]);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            path.display()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let line = text_of_file
            .lines()
            .find_map(|line| line.strip_prefix("# expect-line: "))
            .unwrap();
        assert!(
            stderr.contains(&format!("{}:{line}", path.display())),
            "{stderr} names line {line}"
        );
        if let Some(field) = text_of_file
            .lines()
            .find_map(|line| line.strip_prefix("# expect-field: "))
        {
            assert!(
                stderr.contains(&format!("field `{field}`")),
                "{stderr} names field {field}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 12);
}

#[test]
fn bad_command_lines_exit_two() {
    assert_eq!(
        trial(&[
            "run",
            &repository("scenarios/ingest.toml"),
            "--seed",
            "0xZZ"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(trial(&["run", "/nonexistent.toml"]).status.code(), Some(2));
    assert_eq!(
        trial(&["replay", "/nonexistent-folder"]).status.code(),
        Some(2)
    );
    assert_eq!(trial(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_with_its_exit_code() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trial"))
        .args([
            "run",
            &repository("scenarios/controller-crash.toml"),
            "--seed",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the run prints anything, as `trial run ... | head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
