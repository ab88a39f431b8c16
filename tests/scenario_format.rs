//! The scenario format is strict and round-trips. Each file in `tests/malformed/` is a scenario
//! with one mistake; its header says on which line and in which field the reader must report it.

use std::path::{Path, PathBuf};

use sim::scenario::Scenario;

struct Expectation {
    line: Option<usize>,
    field: Option<String>,
    message: String,
}

fn header_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("# expect-{key}:");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(str::trim)
}

fn expectation(text: &str) -> Expectation {
    Expectation {
        line: header_value(text, "line")
            .filter(|line| !line.is_empty())
            .map(|line| line.parse().unwrap()),
        field: header_value(text, "field").map(str::to_string),
        message: header_value(text, "message")
            .expect("every malformed file states its message")
            .to_string(),
    }
}

fn malformed_files() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .expect("tests/malformed exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_scenario_is_rejected_with_its_line_and_field() {
    let files = malformed_files();
    assert!(
        files.len() >= 12,
        "at least 12 malformed scenarios, found {}",
        files.len()
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = expectation(&text);
        let error =
            Scenario::load(&path).expect_err(&format!("{} must be rejected", path.display()));
        let shown = error.to_string();
        assert_eq!(error.line, expected.line, "{shown}");
        assert_eq!(error.field, expected.field, "{shown}");
        assert!(
            shown.contains(&expected.message),
            "{shown} should say {:?}",
            expected.message
        );
        assert!(
            shown.starts_with(&path.display().to_string()),
            "{shown} names the file"
        );
    }
}

#[test]
fn a_scenario_written_back_reads_back_identical() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenario-examples/every-fault.toml");
    let scenario = Scenario::load(&path).unwrap();
    assert_eq!(scenario.faults.len(), 20);
    let written = scenario.to_toml();
    let read_back = Scenario::parse(&written, "written-back.toml").unwrap();
    assert_eq!(read_back, scenario);
    assert_eq!(read_back.to_toml(), written, "writing is stable");
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let error = Scenario::load(Path::new("/nonexistent/scenario.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/scenario.toml: cannot read"),
        "{error}"
    );
}

#[test]
fn every_bundled_scenario_parses_round_trips_and_says_why() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "toml") {
            continue;
        }
        let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
        assert!(
            scenario.why.trim().len() > 40,
            "{}: say why it exists",
            path.display()
        );
        let read_back = Scenario::parse(&scenario.to_toml(), "written-back.toml").unwrap();
        assert_eq!(read_back, scenario, "{}", path.display());
        count += 1;
    }
    assert!(count >= 13, "the scenario library has {count} files");
}

/// Producers are fault targets (`p<n>`, counting every producer shape's `count`): crashed,
/// restarted, paused, resumed, and either end of a held link whose other end is a broker. The
/// rejections are in `tests/malformed/` (an unknown producer, a producer given to add-consumer or
/// isolate, a hold to a consumer, a release between two producers).
#[test]
fn producers_are_targets_of_crashes_pauses_and_held_links_to_brokers() {
    let text = r#"
name = "producer-targets"
why = "Every action a producer may be the target of, each end of a held link included."
fault_phase = "10s"

[cluster]
brokers = 3

[[cluster.topics]]
name = "orders"
partitions = 2
replication_factor = 3
min_insync_replicas = 2

[[workload.producers]]
topic = "orders"
rate_per_second = 100

[[workload.producers]]
topic = "orders"
rate_per_second = 100
count = 2

[[workload.consumers]]
topic = "orders"

[[faults]]
at = "1s"
action = "pause"
target = "p1"

[[faults]]
at = "2s"
action = "resume"
target = "p1"

[[faults]]
at = "3s"
action = "crash"
target = "p3"

[[faults]]
at = "4s"
action = "restart"
target = "p3"

[[faults]]
at = "5s"
action = "hold"
from = "p2"
to = "leader(orders/0)"

[[faults]]
at = "5s"
action = "hold"
from = "b1"
to = "p2"

[[faults]]
at = "6s"
action = "release"
from = "p2"
to = "leader(orders/0)"

[[faults]]
at = "6s"
action = "release"
from = "b1"
to = "p2"
"#;
    let scenario = Scenario::parse(text, "producer-targets.toml").unwrap_or_else(|error| {
        panic!("{error}");
    });
    let targets: Vec<String> = scenario
        .faults
        .iter()
        .flat_map(|fault| fault.targets())
        .map(|(_, target)| target.to_string())
        .collect();
    assert_eq!(
        targets,
        [
            "p1",
            "p1",
            "p3",
            "p3",
            "p2",
            "leader(orders/0)",
            "b1",
            "p2",
            "p2",
            "leader(orders/0)",
            "b1",
            "p2"
        ]
    );
    let read_back = Scenario::parse(&scenario.to_toml(), "written-back.toml").unwrap();
    assert_eq!(read_back, scenario);
}

/// Workers may chain (orders to shipments to invoices): only a chain that leads back to a topic
/// one of its workers reads is refused.
#[test]
fn a_chain_of_workers_is_accepted_and_a_loop_refused() {
    let stage = |topic: &str, group: &str, output: &str| {
        format!(
            "[[workload.consumers]]\ntopic = \"{topic}\"\nmode = \"subscribe\"\ngroup = \"{group}\"\n\
             commit = \"transactional\"\noutput = \"{output}\"\n"
        )
    };
    let topics: String = ["orders", "shipments", "invoices"]
        .iter()
        .map(|name| {
            format!(
                "[[cluster.topics]]\nname = \"{name}\"\npartitions = 2\nreplication_factor = 3\n\
                 min_insync_replicas = 2\n"
            )
        })
        .collect();
    let head = format!(
        "name = \"chain\"\nwhy = \"workers in a chain\"\nfault_phase = \"5s\"\n[cluster]\n\
         brokers = 3\n{topics}[[workload.producers]]\ntopic = \"orders\"\nrate_per_second = 10\n"
    );
    let chain = format!(
        "{head}{}{}",
        stage("orders", "shipping", "shipments"),
        stage("shipments", "billing", "invoices")
    );
    Scenario::parse(&chain, "chain.toml").expect("a chain is valid");
    let looped = format!("{chain}{}", stage("invoices", "returns", "orders"));
    let error = Scenario::parse(&looped, "loop.toml").expect_err("a loop is refused");
    assert!(
        error
            .to_string()
            .contains("the workers would write for ever"),
        "{error}"
    );
}
