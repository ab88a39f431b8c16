//! The strict, streaming history reader: one line at a time from a `BufRead`, never holding the
//! raw text of more than one line.
//!
//! Beyond each line's shape it enforces the history's rules: time never decreases, a process has
//! at most one operation outstanding, a completion matches its invocation (same `f`, same sends),
//! and a process is never used after an `info` (it crashed). A `crash` may also stand alone as an
//! `info` of an idle process.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use serde_json::{Map, Value};

use super::error::ReadError;
use super::fast_reader;
use super::operation::{
    Function, MicroOperation, Operation, OperationType, OperationValue, PartitionDump, PolledKey,
};

/// The longest line the reader accepts (a poll returning a whole partition is a few MiB).
pub const LINE_BYTES_MAX: u64 = 256 << 20;

/// The only history format version this reader knows.
pub const HISTORY_FORMAT_VERSION: u64 = 1;

const FIELDS_KNOWN: [&str; 8] = [
    "index", "time", "process", "type", "f", "group", "value", "error",
];

#[derive(Debug)]
enum ProcessState {
    Idle,
    Outstanding {
        function: Function,
        value: OperationValue,
        line: u64,
    },
    Crashed {
        line: u64,
    },
}

/// Reads and validates a history line by line. Yields each operation; completions whose value
/// is `null` (for `fail` and `info`, or `ok` of `assign`, `subscribe` and `commit`) carry their
/// invocation's value instead.
#[derive(Debug)]
pub struct HistoryReader<R> {
    input: R,
    line_text: String,
    line_number: u64,
    seen_operation: bool,
    validator: HistoryValidator,
    failed: bool,
}

/// The history's rules across lines: indices increase, time never decreases, a process has at
/// most one operation outstanding, completions match their invocations, crashed processes stay
/// crashed. [`HistoryReader`] applies it to every line; a simulator may apply it to operations it
/// built in memory (see [`check_operations`](super::check_operations)).
#[derive(Debug, Default)]
pub struct HistoryValidator {
    next_index: u64,
    last_time_ns: u64,
    processes: BTreeMap<u64, ProcessState>,
    /// Every value sent so far, and the line of its invocation (values are sent at most once).
    sent_values: BTreeMap<i64, u64>,
}

impl<R: BufRead> HistoryReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input,
            line_text: String::new(),
            line_number: 0,
            seen_operation: false,
            validator: HistoryValidator::default(),
            failed: false,
        }
    }

    /// Reads the next operation, skipping blank lines and the optional header.
    pub fn read_operation(&mut self) -> Result<Option<Operation>, ReadError> {
        loop {
            self.line_text.clear();
            self.line_number += 1;
            let line = self.line_number;
            let bytes = (&mut self.input)
                .take(LINE_BYTES_MAX + 1)
                .read_line(&mut self.line_text)
                .map_err(|source| ReadError::Io { line, source })?;
            if bytes == 0 {
                return Ok(None);
            }
            if bytes as u64 > LINE_BYTES_MAX {
                return Err(sequence(
                    line,
                    format!("longer than the limit of {LINE_BYTES_MAX} bytes"),
                ));
            }
            if self.line_text.trim().is_empty() {
                continue;
            }
            // Well-formed sends, polls, transactions and commits take the typed fast path;
            // anything it does not accept is judged (and explained) by the detailed path.
            let parsed = match fast_reader::parse_line(&self.line_text) {
                Some(parsed) => parsed,
                None => {
                    let object = parse_object(line, &self.line_text)?;
                    if object.contains_key("history_format") {
                        self.read_header(line, &object)?;
                        continue;
                    }
                    parse_line(line, &object)?
                }
            };
            let operation = self.validator.accept(line, parsed)?;
            self.seen_operation = true;
            return Ok(Some(operation));
        }
    }

    fn read_header(&self, line: u64, object: &Map<String, Value>) -> Result<(), ReadError> {
        if self.seen_operation {
            return Err(sequence(
                line,
                "the `history_format` header must be the first line",
            ));
        }
        if object.len() != 1 {
            return Err(sequence(line, "the header holds only `history_format`"));
        }
        let version = unsigned(line, "history_format", &object["history_format"])?;
        if version != HISTORY_FORMAT_VERSION {
            return Err(field(
                line,
                "history_format",
                format!(
                    "unsupported version {version} (this reader knows {HISTORY_FORMAT_VERSION})"
                ),
            ));
        }
        Ok(())
    }
}

impl HistoryValidator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates an operation built in memory as if it were line `line` of a history: its value
    /// must have the shape its `f` and `type` call for, and it must obey the rules across lines.
    /// Returns it with a `null` completion value filled in from its invocation.
    pub fn validate(&mut self, line: u64, operation: Operation) -> Result<Operation, ReadError> {
        if !value_shape_allowed(operation.function, operation.kind, &operation.value) {
            return Err(field(
                line,
                "value",
                format!(
                    "not the shape HISTORY.md gives `{}` with type `{}`",
                    operation.function,
                    operation.kind.name()
                ),
            ));
        }
        let parsed = ParsedLine {
            index: Some(operation.index),
            time_ns: operation.time_ns,
            process: operation.process,
            kind: operation.kind,
            function: operation.function,
            group: operation.group,
            value: operation.value,
        };
        self.accept(line, parsed)
    }

    /// Applies the rules across lines: indices increase, time never decreases, processes
    /// follow their state machine.
    fn accept(&mut self, line: u64, parsed: ParsedLine) -> Result<Operation, ReadError> {
        let index = self.accept_index(line, parsed.index)?;
        let time_ns = self.accept_time(line, parsed.time_ns)?;
        if parsed.kind == OperationType::Invoke {
            self.register_sent_values(line, &parsed.value)?;
        }
        let value = self.advance_process(
            line,
            parsed.process,
            parsed.kind,
            parsed.function,
            parsed.value,
        )?;
        Ok(Operation {
            index,
            time_ns,
            process: parsed.process,
            kind: parsed.kind,
            function: parsed.function,
            group: parsed.group,
            value,
        })
    }

    fn accept_index(&mut self, line: u64, index: Option<u64>) -> Result<u64, ReadError> {
        let index = match index {
            None => self.next_index,
            Some(index) if index < self.next_index => {
                return Err(field(
                    line,
                    "index",
                    format!(
                        "{index} does not increase (expected at least {})",
                        self.next_index
                    ),
                ));
            }
            Some(index) => index,
        };
        self.next_index = index.checked_add(1).ok_or_else(|| {
            field(
                line,
                "index",
                format!("{index} leaves no index for a next line"),
            )
        })?;
        Ok(index)
    }

    fn accept_time(&mut self, line: u64, time_ns: u64) -> Result<u64, ReadError> {
        if time_ns < self.last_time_ns {
            return Err(field(
                line,
                "time",
                format!(
                    "{time_ns} is before the previous line's {}",
                    self.last_time_ns
                ),
            ));
        }
        self.last_time_ns = time_ns;
        Ok(time_ns)
    }

    /// Each value is sent at most once in a whole history (HISTORY.md), which is what lets a
    /// value seen twice be called a duplicate.
    fn register_sent_values(&mut self, line: u64, value: &OperationValue) -> Result<(), ReadError> {
        let OperationValue::Micro(micro_operations) = value else {
            return Ok(());
        };
        for (position, micro_operation) in micro_operations.iter().enumerate() {
            let MicroOperation::Send { value, .. } = micro_operation else {
                continue;
            };
            if let Some(first_line) = self.sent_values.insert(*value, line) {
                return Err(field(
                    line,
                    &format!("value[{position}][2]"),
                    format!("value {value} was already sent at line {first_line}"),
                ));
            }
        }
        Ok(())
    }

    /// Applies the process state machine and returns the value with `null` completions filled
    /// in from the invocation.
    fn advance_process(
        &mut self,
        line: u64,
        process: u64,
        kind: OperationType,
        function: Function,
        value: OperationValue,
    ) -> Result<OperationValue, ReadError> {
        let state = self.processes.entry(process).or_insert(ProcessState::Idle);
        let previous = std::mem::replace(state, ProcessState::Idle);
        let (next, value) = transition(line, process, previous, kind, function, value)?;
        *state = next;
        Ok(value)
    }
}

/// Whether a value has the shape its `f` and `type` call for (what the parsers enforce).
fn value_shape_allowed(function: Function, kind: OperationType, value: &OperationValue) -> bool {
    match (function, value) {
        (_, OperationValue::Null) => true,
        (Function::Send | Function::Poll | Function::Txn, OperationValue::Micro(micro)) => {
            fast_reader::micro_operations_allowed(function, kind, micro)
        }
        (Function::Assign | Function::Subscribe, OperationValue::Keys(_))
        | (Function::Rebalance, OperationValue::Rebalance { .. })
        | (Function::Commit, OperationValue::Offsets(_))
        | (Function::DebugTopicPartitions, OperationValue::Dump(_)) => true,
        _ => false,
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Operation, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.read_operation().transpose();
        if matches!(result, Some(Err(_))) {
            self.failed = true;
        }
        result
    }
}

fn transition(
    line: u64,
    process: u64,
    previous: ProcessState,
    kind: OperationType,
    function: Function,
    value: OperationValue,
) -> Result<(ProcessState, OperationValue), ReadError> {
    match (previous, kind) {
        (ProcessState::Crashed { line: crashed_line }, _) => Err(sequence(
            line,
            format!("process {process} is used after it crashed (info at line {crashed_line})"),
        )),
        (ProcessState::Idle, OperationType::Invoke) => Ok((
            ProcessState::Outstanding {
                function,
                value: value.clone(),
                line,
            },
            value,
        )),
        (ProcessState::Idle, OperationType::Info) if function == Function::Crash => {
            Ok((ProcessState::Crashed { line }, value))
        }
        (ProcessState::Idle, _) => Err(sequence(
            line,
            format!(
                "process {process}: `{}` completion without an invocation",
                kind.name()
            ),
        )),
        (ProcessState::Outstanding { line: invoked, .. }, OperationType::Invoke) => Err(sequence(
            line,
            format!(
                "process {process} invokes again while its invocation at line {invoked} is outstanding"
            ),
        )),
        (
            ProcessState::Outstanding {
                function: invoked_function,
                value: invoked_value,
                line: invoked,
            },
            completion,
        ) => {
            if invoked_function != function {
                return Err(field(
                    line,
                    "f",
                    format!(
                        "`{function}` completes the `{invoked_function}` invoked at line {invoked}"
                    ),
                ));
            }
            let value = complete_value(line, function, completion, invoked_value, value)?;
            let next = if completion == OperationType::Info || function == Function::Crash {
                ProcessState::Crashed { line }
            } else {
                ProcessState::Idle
            };
            Ok((next, value))
        }
    }
}

/// Checks a completion's value against its invocation's and fills in a `null` completion.
fn complete_value(
    line: u64,
    function: Function,
    completion: OperationType,
    invoked: OperationValue,
    value: OperationValue,
) -> Result<OperationValue, ReadError> {
    match (value, invoked) {
        (OperationValue::Null, invoked) => {
            let may_repeat = completion != OperationType::Ok
                || matches!(
                    function,
                    Function::Assign | Function::Subscribe | Function::Commit | Function::Crash
                );
            if may_repeat {
                Ok(invoked)
            } else {
                Err(field(
                    line,
                    "value",
                    format!("an `ok` {function} must carry its results"),
                ))
            }
        }
        (OperationValue::Micro(completed), OperationValue::Micro(invoked)) => {
            check_micro_completion(line, &completed, &invoked)?;
            Ok(OperationValue::Micro(completed))
        }
        (value, _) => Ok(value),
    }
}

fn check_micro_completion(
    line: u64,
    completed: &[MicroOperation],
    invoked: &[MicroOperation],
) -> Result<(), ReadError> {
    if completed.len() != invoked.len() {
        return Err(field(
            line,
            "value",
            format!(
                "{} micro-operations complete an invocation of {}",
                completed.len(),
                invoked.len()
            ),
        ));
    }
    for (position, (completed, invoked)) in completed.iter().zip(invoked).enumerate() {
        let matches = match (completed, invoked) {
            (
                MicroOperation::Send { key, value, .. },
                MicroOperation::Send {
                    key: invoked_key,
                    value: invoked_value,
                    ..
                },
            ) => key == invoked_key && value == invoked_value,
            (MicroOperation::Poll { .. }, MicroOperation::Poll { .. }) => true,
            (MicroOperation::Commit { offsets }, MicroOperation::Commit { offsets: invoked }) => {
                offsets == invoked
            }
            _ => false,
        };
        if !matches {
            return Err(field(
                line,
                &format!("value[{position}]"),
                "does not match the invocation's micro-operation".to_string(),
            ));
        }
    }
    Ok(())
}

// ---- line and field parsing ----

/// One line's fields, parsed and checked on their own (before the rules across lines).
#[derive(Debug)]
pub(crate) struct ParsedLine {
    pub index: Option<u64>,
    pub time_ns: u64,
    pub process: u64,
    pub kind: OperationType,
    pub function: Function,
    pub group: Option<String>,
    pub value: OperationValue,
}

/// The detailed path: every field checked, every error named.
fn parse_line(line: u64, object: &Map<String, Value>) -> Result<ParsedLine, ReadError> {
    if let Some(name) = object
        .keys()
        .find(|name| !FIELDS_KNOWN.contains(&name.as_str()))
    {
        return Err(field(line, name, "unknown field".to_string()));
    }
    let index = match object.get("index") {
        None => None,
        Some(json) => Some(unsigned(line, "index", json)?),
    };
    let time_ns = unsigned(line, "time", required(line, object, "time")?)?;
    let process = unsigned(line, "process", required(line, object, "process")?)?;
    let kind = read_type(line, object)?;
    let function = read_function(line, object)?;
    let group = read_group(line, object)?;
    let value_json = object.get("value").unwrap_or(&Value::Null);
    let value = parse_value(line, function, kind, value_json)?;
    Ok(ParsedLine {
        index,
        time_ns,
        process,
        kind,
        function,
        group,
        value,
    })
}

fn parse_object(line: u64, text: &str) -> Result<Map<String, Value>, ReadError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ReadError::Json {
            line,
            message: "expected a JSON object".to_string(),
        }),
        Err(error) => Err(ReadError::Json {
            line,
            message: error.to_string(),
        }),
    }
}

fn field(line: u64, name: &str, message: String) -> ReadError {
    ReadError::Field {
        line,
        field: name.to_string(),
        message,
    }
}

fn sequence(line: u64, message: impl Into<String>) -> ReadError {
    ReadError::Sequence {
        line,
        message: message.into(),
    }
}

fn required<'a>(
    line: u64,
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a Value, ReadError> {
    object
        .get(name)
        .ok_or_else(|| field(line, name, "missing".to_string()))
}

fn unsigned(line: u64, name: &str, json: &Value) -> Result<u64, ReadError> {
    json.as_u64().ok_or_else(|| {
        field(
            line,
            name,
            format!("expected a non-negative integer, found {json}"),
        )
    })
}

fn integer(line: u64, name: &str, json: &Value) -> Result<i64, ReadError> {
    json.as_i64()
        .ok_or_else(|| field(line, name, format!("expected an integer, found {json}")))
}

fn string<'a>(line: u64, name: &str, json: &'a Value) -> Result<&'a str, ReadError> {
    json.as_str()
        .ok_or_else(|| field(line, name, format!("expected a string, found {json}")))
}

fn array<'a>(line: u64, name: &str, json: &'a Value) -> Result<&'a [Value], ReadError> {
    json.as_array().map(Vec::as_slice).ok_or_else(|| {
        field(
            line,
            name,
            format!("expected an array, found {}", brief(json)),
        )
    })
}

fn object<'a>(line: u64, name: &str, json: &'a Value) -> Result<&'a Map<String, Value>, ReadError> {
    json.as_object().ok_or_else(|| {
        field(
            line,
            name,
            format!("expected an object, found {}", brief(json)),
        )
    })
}

/// A short rendering of a JSON value for error messages.
fn brief(json: &Value) -> String {
    let text = json.to_string();
    const LENGTH_MAX: usize = 60;
    if text.len() <= LENGTH_MAX {
        return text;
    }
    let cut = (0..=LENGTH_MAX)
        .rev()
        .find(|&position| text.is_char_boundary(position))
        .unwrap_or(0);
    format!("{}...", &text[..cut])
}

fn read_type(line: u64, object: &Map<String, Value>) -> Result<OperationType, ReadError> {
    let name = string(line, "type", required(line, object, "type")?)?;
    OperationType::from_name(name).ok_or_else(|| {
        field(
            line,
            "type",
            format!("unknown type {name:?} (expected invoke, ok, fail or info)"),
        )
    })
}

fn read_function(line: u64, object: &Map<String, Value>) -> Result<Function, ReadError> {
    let name = string(line, "f", required(line, object, "f")?)?;
    Function::from_name(name).ok_or_else(|| field(line, "f", format!("unknown f {name:?}")))
}

fn read_group(line: u64, object: &Map<String, Value>) -> Result<Option<String>, ReadError> {
    match object.get("group") {
        None | Some(Value::Null) => Ok(None),
        Some(json) => Ok(Some(string(line, "group", json)?.to_string())),
    }
}

fn parse_value(
    line: u64,
    function: Function,
    kind: OperationType,
    json: &Value,
) -> Result<OperationValue, ReadError> {
    if json.is_null() {
        return Ok(OperationValue::Null);
    }
    match function {
        Function::Send | Function::Poll | Function::Txn => {
            parse_micro_operations(line, function, kind, json).map(OperationValue::Micro)
        }
        Function::Assign | Function::Subscribe => {
            parse_keys(line, "value", json).map(OperationValue::Keys)
        }
        Function::Rebalance => parse_rebalance(line, json),
        Function::Commit => parse_offsets(line, "value", json).map(OperationValue::Offsets),
        Function::Crash => Err(field(
            line,
            "value",
            format!("a crash carries null, found {}", brief(json)),
        )),
        Function::DebugTopicPartitions => parse_dump(line, json).map(OperationValue::Dump),
    }
}

fn parse_keys(line: u64, name: &str, json: &Value) -> Result<Vec<String>, ReadError> {
    array(line, name, json)?
        .iter()
        .enumerate()
        .map(|(position, key)| {
            string(line, &format!("{name}[{position}]"), key).map(str::to_string)
        })
        .collect()
}

fn parse_rebalance(line: u64, json: &Value) -> Result<OperationValue, ReadError> {
    let map = object(line, "value", json)?;
    if let Some(name) = map
        .keys()
        .find(|name| !matches!(name.as_str(), "generation" | "assigned"))
    {
        return Err(field(
            line,
            &format!("value.{name}"),
            "unknown field".to_string(),
        ));
    }
    let generation_json = map
        .get("generation")
        .ok_or_else(|| field(line, "value.generation", "missing".to_string()))?;
    let generation = unsigned(line, "value.generation", generation_json)?;
    let assigned_json = map
        .get("assigned")
        .ok_or_else(|| field(line, "value.assigned", "missing".to_string()))?;
    let assigned = parse_keys(line, "value.assigned", assigned_json)?;
    Ok(OperationValue::Rebalance {
        generation,
        assigned,
    })
}

fn parse_offsets(line: u64, name: &str, json: &Value) -> Result<Vec<(String, u64)>, ReadError> {
    object(line, name, json)?
        .iter()
        .map(|(key, offset)| {
            let offset = unsigned(line, &format!("{name}.{key}"), offset)?;
            Ok((key.clone(), offset))
        })
        .collect()
}

fn parse_pairs(line: u64, name: &str, json: &Value) -> Result<Vec<(u64, i64)>, ReadError> {
    array(line, name, json)?
        .iter()
        .enumerate()
        .map(|(position, pair)| parse_pair(line, &format!("{name}[{position}]"), pair))
        .collect()
}

fn parse_pair(line: u64, name: &str, json: &Value) -> Result<(u64, i64), ReadError> {
    match array(line, name, json)? {
        [offset, value] => Ok((
            unsigned(line, &format!("{name}[0]"), offset)?,
            integer(line, &format!("{name}[1]"), value)?,
        )),
        _ => Err(field(
            line,
            name,
            format!("expected [offset, value], found {}", brief(json)),
        )),
    }
}

fn parse_dump(
    line: u64,
    json: &Value,
) -> Result<BTreeMap<String, BTreeMap<String, PartitionDump>>, ReadError> {
    let mut dump = BTreeMap::new();
    for (node, logs) in object(line, "value", json)? {
        let mut by_key = BTreeMap::new();
        for (key, pairs) in object(line, &format!("value.{node}"), logs)? {
            by_key.insert(
                key.clone(),
                parse_pairs(line, &format!("value.{node}.{key}"), pairs)?,
            );
        }
        dump.insert(node.clone(), by_key);
    }
    Ok(dump)
}

fn parse_micro_operations(
    line: u64,
    function: Function,
    kind: OperationType,
    json: &Value,
) -> Result<Vec<MicroOperation>, ReadError> {
    let elements = array(line, "value", json)?;
    if elements.is_empty() {
        return Err(field(
            line,
            "value",
            "expected at least one micro-operation".to_string(),
        ));
    }
    elements
        .iter()
        .enumerate()
        .map(|(position, element)| {
            parse_micro_operation(line, &format!("value[{position}]"), function, kind, element)
        })
        .collect()
}

fn parse_micro_operation(
    line: u64,
    name: &str,
    function: Function,
    kind: OperationType,
    json: &Value,
) -> Result<MicroOperation, ReadError> {
    let parts = array(line, name, json)?;
    let Some(tag) = parts.first() else {
        return Err(field(line, name, "empty micro-operation".to_string()));
    };
    let tag = string(line, &format!("{name}[0]"), tag)?;
    let allowed = match function {
        Function::Send => tag == "send",
        Function::Poll => tag == "poll",
        _ => matches!(tag, "send" | "poll" | "commit"),
    };
    if !allowed {
        return Err(field(
            line,
            &format!("{name}[0]"),
            format!("a `{function}` cannot hold a {tag:?} micro-operation"),
        ));
    }
    match tag {
        "send" => parse_send(line, name, kind, parts),
        "poll" => parse_poll(line, name, kind, parts),
        _ => parse_commit(line, name, parts),
    }
}

fn parse_send(
    line: u64,
    name: &str,
    kind: OperationType,
    parts: &[Value],
) -> Result<MicroOperation, ReadError> {
    let [_, key, written] = parts else {
        return Err(field(
            line,
            name,
            "expected [\"send\", key, value]".to_string(),
        ));
    };
    let key = string(line, &format!("{name}[1]"), key)?.to_string();
    let written_name = format!("{name}[2]");
    let (offset, value) = if written.is_array() {
        let (offset, value) = parse_pair(line, &written_name, written)?;
        (Some(offset), value)
    } else {
        (None, integer(line, &written_name, written)?)
    };
    match (kind, offset) {
        (OperationType::Invoke, Some(_)) => Err(field(
            line,
            &written_name,
            "an invocation sends a value, not [offset, value]".to_string(),
        )),
        (OperationType::Ok, None) => Err(field(
            line,
            &written_name,
            "an `ok` send carries [offset, value]".to_string(),
        )),
        _ => Ok(MicroOperation::Send { key, value, offset }),
    }
}

fn parse_poll(
    line: u64,
    name: &str,
    kind: OperationType,
    parts: &[Value],
) -> Result<MicroOperation, ReadError> {
    match (parts, kind) {
        ([_], OperationType::Ok) => Err(field(
            line,
            name,
            "an `ok` poll carries {key: [[offset, value], ...]}".to_string(),
        )),
        ([_], _) => Ok(MicroOperation::Poll { keys: None }),
        ([_, _], OperationType::Invoke) => Err(field(
            line,
            name,
            "an invocation polls with [\"poll\"]".to_string(),
        )),
        ([_, polled], _) => {
            let polled_name = format!("{name}[1]");
            let keys = object(line, &polled_name, polled)?
                .iter()
                .map(|(key, pairs)| {
                    let records = parse_pairs(line, &format!("{polled_name}.{key}"), pairs)?;
                    Ok(PolledKey {
                        key: key.clone(),
                        records,
                    })
                })
                .collect::<Result<Vec<_>, ReadError>>()?;
            Ok(MicroOperation::Poll { keys: Some(keys) })
        }
        _ => Err(field(
            line,
            name,
            "expected [\"poll\"] or [\"poll\", {...}]".to_string(),
        )),
    }
}

fn parse_commit(line: u64, name: &str, parts: &[Value]) -> Result<MicroOperation, ReadError> {
    let [_, offsets] = parts else {
        return Err(field(
            line,
            name,
            "expected [\"commit\", {key: next_offset}]".to_string(),
        ));
    };
    let offsets = parse_offsets(line, &format!("{name}[1]"), offsets)?;
    Ok(MicroOperation::Commit { offsets })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path accepts a subset of what the detailed path accepts, and both read the same
    /// thing from it.
    #[test]
    fn fast_and_detailed_paths_agree() {
        let lines = [
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1], ["send", "j", -2]]}"#,
            r#"{"index": 3, "time": 2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 1]], ["send", "j", [7, -2]]]}"#,
            r#"{"time": 1, "process": 0, "type": "info", "f": "send", "value": [["send", "k", [0, 1]], ["send", "j", 2]]}"#,
            r#"{"time": 1, "process": 0, "type": "fail", "f": "send", "value": null, "error": {"code": 7}}"#,
            r#"{"time": 1, "process": 1, "type": "invoke", "f": "poll", "group": "g", "value": [["poll"]]}"#,
            r#"{"time": 1, "process": 1, "type": "ok", "f": "poll", "group": "g", "value": [["poll", {"z": [[3, 4]], "a": [[0, 1], [2, 3]], "m": []}]]}"#,
            r#"{"time": 1, "process": 2, "type": "ok", "f": "txn", "value": [["poll", {"a": [[0, 1]]}], ["send", "b", [1, 5]], ["commit", {"b": 9, "a": 1}]]}"#,
            r#"{"time": 1, "process": 2, "type": "invoke", "f": "commit", "group": "g", "value": {"k": 4, "a": 2}}"#,
            r#"{"time": 1, "process": 2, "type": "invoke", "f": "rebalance", "group": null, "value": null}"#,
            r#"{"time": 1, "process": 2, "type": "info", "f": "crash"}"#,
            r#"{"time": 1, "process": 2, "type": "invoke", "f": "send", "value": [["send", "k\u00e9", 1]]}"#,
            r#"{"time": 1, "process": 2, "type": "ok", "f": "assign", "value": ["b", "a"]}"#,
            r#"{"time": 1, "process": 2, "type": "invoke", "f": "assign", "value": []}"#,
            r#"{"time": 1, "process": 2, "type": "ok", "f": "subscribe", "group": "g", "value": ["orders"]}"#,
            r#"{"time": 1, "process": 2, "type": "ok", "f": "rebalance", "group": "g", "value": {"generation": 2, "assigned": ["a/1", "a/0"]}}"#,
            r#"{"time": 1, "process": 2, "type": "ok", "f": "commit", "group": "g", "value": {}}"#,
        ];
        for text in lines {
            let fast =
                fast_reader::parse_line(text).unwrap_or_else(|| panic!("fast path refused {text}"));
            let detailed = parse_line(1, &parse_object(1, text).unwrap()).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{detailed:?}"), "{text}");
        }
    }

    /// Lines the detailed path rejects (or handles alone) never pass the fast path.
    #[test]
    fn fast_path_refuses_what_it_must_not_judge() {
        let lines = [
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", [0, 1]]]}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", 1]]}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "poll", "value": [["poll"]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "poll", "value": [["poll", {}]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": []}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["poll"]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "poll", "value": [["commit", {}]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 1, 2]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 9223372036854775808]]}"#,
            r#"{"time": 1, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]], "extra": 1}"#,
            r#"{"time": -1, "process": 0, "type": "invoke", "f": "poll", "value": [["poll"]]}"#,
            r#"{"time": 1, "process": 0, "type": "begin", "f": "poll", "value": [["poll"]]}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "poll", "value": [["poll", {"a": [], "a": []}]]}"#,
            r#"{"history_format": 1}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "rebalance", "value": {"generation": 2, "assigned": [], "extra": 1}}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "rebalance", "value": {"generation": [], "assigned": []}}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "rebalance", "value": {"assigned": []}}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "assign", "value": ["a", ["send", "k", 1]]}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "assign", "value": {"a": 1}}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "commit", "value": {"a": ["b"]}}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "commit", "value": ["a"]}"#,
            r#"{"time": 1, "process": 0, "type": "info", "f": "crash", "value": []}"#,
            r#"{"time": 1, "process": 0, "type": "ok", "f": "debug-topic-partitions", "value": {"b1": {"a": [[0, 1]]}}}"#,
        ];
        for text in lines {
            assert!(
                fast_reader::parse_line(text).is_none(),
                "fast path accepted {text}"
            );
        }
    }
}
