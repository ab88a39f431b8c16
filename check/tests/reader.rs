//! The strict reader: every malformed or rule-breaking line is an error that names its line
//! (and field), and well-formed histories are read whole.

use check::history::{Function, HistoryReader, OperationType, OperationValue, ReadError};
use check::{CheckConfig, check_history};

fn read_all(text: &str) -> Result<usize, ReadError> {
    let mut count = 0;
    for operation in HistoryReader::new(text.as_bytes()) {
        operation?;
        count += 1;
    }
    Ok(count)
}

fn error_of(text: &str) -> ReadError {
    read_all(text).expect_err("the history must be rejected")
}

const SEND_INVOKE: &str =
    r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1]]}"#;
const SEND_OK: &str =
    r#"{"time": 2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 1]]]}"#;

#[test]
fn a_valid_history_with_header_and_blank_lines_is_read() {
    let text = format!("{{\"history_format\": 1}}\n\n{SEND_INVOKE}\n{SEND_OK}\n\n");
    assert_eq!(read_all(&text).unwrap(), 2);
    let report = check_history(text.as_bytes(), &CheckConfig::default()).unwrap();
    assert_eq!(report.stats.sends, 1);
}

#[test]
fn indices_are_assigned_when_absent_and_null_completions_repeat_the_invocation() {
    let text = format!(
        "{SEND_INVOKE}\n{}\n",
        r#"{"time": 2, "process": 0, "type": "info", "f": "send", "value": null}"#
    );
    let operations: Vec<_> = HistoryReader::new(text.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(operations[1].index, 1);
    assert_eq!(operations[1].kind, OperationType::Info);
    assert_eq!(operations[1].function, Function::Send);
    assert!(matches!(&operations[1].value, OperationValue::Micro(micro) if micro.len() == 1));
}

/// The largest index leaves none for a next line: an error naming the field, not an overflow.
#[test]
fn the_largest_index_is_refused() {
    let text = format!(
        "{}\n",
        r#"{"index": 18446744073709551615, "time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1]]}"#
    );
    let error = error_of(&text);
    assert_eq!((error.line(), error.field()), (1, Some("index")), "{error}");
}

#[test]
fn unknown_f_names_line_and_field() {
    let error =
        error_of(r#"{"time": 1, "process": 0, "type": "invoke", "f": "produce", "value": null}"#);
    assert_eq!((error.line(), error.field()), (1, Some("f")));
    assert!(error.to_string().contains("produce"), "{error}");
}

#[test]
fn unknown_type_names_line_and_field() {
    let error = error_of(&format!(
        "{SEND_INVOKE}\n{}",
        r#"{"time": 2, "process": 0, "type": "done", "f": "send", "value": null}"#
    ));
    assert_eq!((error.line(), error.field()), (2, Some("type")));
}

#[test]
fn completion_without_invocation_is_rejected() {
    let error = error_of(SEND_OK);
    assert_eq!(error.line(), 1);
    assert!(
        error.to_string().contains("without an invocation"),
        "{error}"
    );
}

#[test]
fn two_outstanding_operations_of_one_process_are_rejected() {
    let second = r#"{"time": 2, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{second}"));
    assert_eq!(error.line(), 2);
    assert!(error.to_string().contains("outstanding"), "{error}");
}

#[test]
fn an_operation_after_info_is_rejected() {
    let info = r#"{"time": 2, "process": 0, "type": "info", "f": "send", "value": null}"#;
    let again =
        r#"{"time": 3, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 2]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{info}\n{again}"));
    assert_eq!(error.line(), 3);
    assert!(error.to_string().contains("crashed"), "{error}");
}

#[test]
fn a_standalone_crash_ends_a_process() {
    let crash = r#"{"time": 1, "process": 0, "type": "info", "f": "crash", "value": null}"#;
    assert_eq!(read_all(crash).unwrap(), 1);
    let error = error_of(&format!(
        "{crash}\n{}",
        SEND_INVOKE.replace("\"time\": 1", "\"time\": 2")
    ));
    assert_eq!(error.line(), 2);
}

#[test]
fn decreasing_time_is_rejected() {
    let late = r#"{"time": 0, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{late}"));
    assert_eq!((error.line(), error.field()), (2, Some("time")));
}

#[test]
fn an_ok_send_without_offset_names_the_nested_field() {
    let ok = r#"{"time": 2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", 1]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{ok}"));
    assert_eq!((error.line(), error.field()), (2, Some("value[0][2]")));
}

#[test]
fn a_malformed_poll_record_names_the_nested_field() {
    let invoke = r#"{"time": 1, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]]}"#;
    let ok = r#"{"time": 2, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"k": [[0, "x"]]}]]}"#;
    let error = error_of(&format!("{invoke}\n{ok}"));
    assert_eq!(
        (error.line(), error.field()),
        (2, Some("value[0][1].k[0][1]"))
    );
}

#[test]
fn a_completion_that_changes_the_sent_value_is_rejected() {
    let ok = r#"{"time": 2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 99]]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{ok}"));
    assert_eq!((error.line(), error.field()), (2, Some("value[0]")));
}

#[test]
fn a_completion_with_another_f_is_rejected() {
    let ok = r#"{"time": 2, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {}]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{ok}"));
    assert_eq!((error.line(), error.field()), (2, Some("f")));
}

#[test]
fn invalid_json_and_missing_fields_are_rejected() {
    assert_eq!(error_of("{\"time\": 1,").line(), 1);
    assert_eq!(error_of("[1, 2]").line(), 1);
    let error =
        error_of(r#"{"process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1]]}"#);
    assert_eq!(error.field(), Some("time"));
    let error = error_of(
        r#"{"time": 1, "process": -1, "type": "invoke", "f": "send", "value": [["send", "k", 1]]}"#,
    );
    assert_eq!(error.field(), Some("process"));
}

#[test]
fn unknown_fields_and_wrong_headers_are_rejected() {
    let error = error_of(
        r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1]], "colour": 1}"#,
    );
    assert_eq!(error.field(), Some("colour"));
    assert_eq!(
        error_of(r#"{"history_format": 2}"#).field(),
        Some("history_format")
    );
    let late_header = format!("{SEND_INVOKE}\n{{\"history_format\": 1}}");
    assert_eq!(error_of(&late_header).line(), 2);
}

#[test]
fn a_send_micro_operation_inside_a_poll_is_rejected() {
    let invoke =
        r#"{"time": 1, "process": 0, "type": "invoke", "f": "poll", "value": [["send", "k", 1]]}"#;
    assert_eq!(error_of(invoke).field(), Some("value[0][0]"));
}

#[test]
fn every_operation_kind_of_the_format_is_accepted() {
    let text = r#"{"history_format": 1}
{"index": 0, "time": 1, "process": 1, "type": "invoke", "f": "subscribe", "group": "g", "value": ["orders"]}
{"index": 1, "time": 2, "process": 1, "type": "ok", "f": "subscribe", "group": "g", "value": ["orders"]}
{"index": 2, "time": 3, "process": 1, "type": "invoke", "f": "rebalance", "group": "g", "value": null}
{"index": 3, "time": 4, "process": 1, "type": "ok", "f": "rebalance", "group": "g", "value": {"generation": 1, "assigned": ["orders/0"]}}
{"index": 4, "time": 5, "process": 2, "type": "invoke", "f": "txn", "value": [["send", "orders/0", 5], ["poll"], ["commit", {"orders/0": 0}]]}
{"index": 5, "time": 6, "process": 2, "type": "ok", "f": "txn", "value": [["send", "orders/0", [0, 5]], ["poll", {}], ["commit", {"orders/0": 0}]]}
{"index": 6, "time": 7, "process": 3, "type": "invoke", "f": "debug-topic-partitions", "value": null}
{"index": 7, "time": 8, "process": 3, "type": "ok", "f": "debug-topic-partitions", "value": {"b1": {"orders/0": [[0, 5]]}}}
{"index": 8, "time": 9, "process": 1, "type": "invoke", "f": "commit", "group": "g", "value": {"orders/0": 1}}
{"index": 9, "time": 10, "process": 1, "type": "fail", "f": "commit", "group": "g", "value": null, "error": "rebalance in progress"}
{"index": 10, "time": 11, "process": 4, "type": "invoke", "f": "crash", "value": null}
{"index": 11, "time": 12, "process": 4, "type": "info", "f": "crash", "value": null}
"#;
    assert_eq!(read_all(text).unwrap(), 12);
}

/// Values are sent at most once in a history (HISTORY.md): a second send of one is bad input.
#[test]
fn a_value_sent_twice_is_rejected() {
    let again = r#"{"time": 3, "process": 1, "type": "invoke", "f": "txn", "value": [["poll"], ["send", "j", 1]]}"#;
    let error = error_of(&format!("{SEND_INVOKE}\n{SEND_OK}\n{again}"));
    assert_eq!((error.line(), error.field()), (3, Some("value[1][2]")));
    assert!(
        error.to_string().contains("already sent at line 1"),
        "{error}"
    );
}
