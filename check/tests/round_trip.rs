//! The writer and the reader agree: writing operations and reading them back gives the same
//! operations, and `check_operations` (a simulator's in-memory path) judges them exactly as
//! `check_history` judges the file.

mod support;

use check::history::{HistoryReader, Operation, write_header, write_operation};
use check::{CheckConfig, check_history, check_operations};
use support::generate::{Generator, Shape, to_text};

fn read(text: &[u8]) -> Vec<Operation> {
    HistoryReader::new(text)
        .collect::<Result<_, _>>()
        .expect("a well-formed history")
}

#[test]
fn written_operations_read_back_identical() {
    let shape = Shape {
        lines: 2_000,
        ..Shape::small()
    };
    let original = read(to_text(&Generator::generate(11, shape)).as_bytes());
    let mut written = Vec::new();
    write_header(&mut written).unwrap();
    for operation in &original {
        write_operation(&mut written, operation).unwrap();
    }
    assert_eq!(read(&written), original);
}

#[test]
fn in_memory_and_file_checks_agree() {
    let shape = Shape {
        lines: 1_000,
        ..Shape::small()
    };
    let text = to_text(&Generator::generate(12, shape));
    let config = CheckConfig {
        drained: true,
        ..Default::default()
    };
    let from_file = check_history(text.as_bytes(), &config).unwrap();
    let from_memory = check_operations(read(text.as_bytes()), &config).unwrap();
    assert_eq!(from_file, from_memory);
}

#[test]
fn every_kind_of_value_is_written_in_the_format() {
    let text = r#"{"index": 0, "time": 1, "process": 1, "type": "invoke", "f": "rebalance", "group": "g", "value": null}
{"index": 1, "time": 2, "process": 1, "type": "ok", "f": "rebalance", "group": "g", "value": {"generation": 3, "assigned": ["a/0"]}}
{"index": 2, "time": 3, "process": 2, "type": "invoke", "f": "debug-topic-partitions", "value": null}
{"index": 3, "time": 4, "process": 2, "type": "ok", "f": "debug-topic-partitions", "value": {"b1": {"a/0": [[0, 5]]}}}
{"index": 4, "time": 5, "process": 3, "type": "invoke", "f": "txn", "value": [["send", "a/0", 6], ["poll"], ["commit", {"a/0": 1}]]}
{"index": 5, "time": 6, "process": 3, "type": "ok", "f": "txn", "value": [["send", "a/0", [1, 6]], ["poll", {"a/0": [[0, 5]]}], ["commit", {"a/0": 1}]]}
{"index": 6, "time": 7, "process": 4, "type": "info", "f": "crash", "value": null}
"#;
    let operations = read(text.as_bytes());
    let mut written = Vec::new();
    for operation in &operations {
        write_operation(&mut written, operation).unwrap();
    }
    assert_eq!(read(&written), operations);
    let written = String::from_utf8(written).unwrap();
    assert!(
        written.contains(r#""value":{"assigned":["a/0"],"generation":3}"#),
        "{written}"
    );
    assert!(written.contains(r#"["poll",{"a/0":[[0,5]]}]"#), "{written}");
}

/// A simulator's in-memory operations get the reader's errors, named by position.
#[test]
fn in_memory_operations_are_validated() {
    let text = r#"{"index": 0, "time": 5, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1]]}
{"index": 1, "time": 6, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 1]]]}
"#;
    let mut operations = read(text.as_bytes());
    operations[1].time_ns = 4;
    let error = check_operations(operations.clone(), &CheckConfig::default()).unwrap_err();
    assert_eq!((error.line(), error.field()), (2, Some("time")));
    operations[1].time_ns = 6;
    operations[1].value = check::history::OperationValue::Keys(vec!["k".to_string()]);
    let error = check_operations(operations, &CheckConfig::default()).unwrap_err();
    assert_eq!((error.line(), error.field()), (2, Some("value")));
    let mut unpaired = read(text.as_bytes());
    unpaired.remove(0);
    let error = check_operations(unpaired, &CheckConfig::default()).unwrap_err();
    assert!(
        error.to_string().contains("without an invocation"),
        "{error}"
    );
}

/// The same history gives the same report, byte for byte (ordered maps and sorted witnesses
/// only), including its witnesses of injected anomalies.
#[test]
fn reports_are_deterministic() {
    let shape = Shape {
        lines: 1_500,
        ..Shape::small()
    };
    let mut lines = Generator::generate(13, shape);
    assert!(support::generate::drop_record(&mut lines, 3));
    assert!(support::generate::swap_pair(&mut lines, 5));
    let text = to_text(&lines);
    let config = CheckConfig {
        drained: true,
        exactly_once: true,
        ..Default::default()
    };
    let first = serde_json::to_string(&check_history(text.as_bytes(), &config).unwrap()).unwrap();
    let second = serde_json::to_string(&check_history(text.as_bytes(), &config).unwrap()).unwrap();
    assert_eq!(first, second);
    assert!(
        first.contains("lost-write") && first.contains("int-nonmonotonic-poll"),
        "{first}"
    );
}
