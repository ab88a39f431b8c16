//! Writes operations back as history lines (`shared/design/HISTORY.md`), so that a simulator
//! that records [`Operation`]s produces files `trial check` and the [`reader`](super::reader)
//! accept. Reading what this writes gives back the same operations.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::operation::{MicroOperation, Operation, OperationValue};
use super::reader::HISTORY_FORMAT_VERSION;

/// Writes the optional first line, `{"history_format": 1}`.
pub fn write_header<W: Write>(writer: &mut W) -> io::Result<()> {
    writeln!(
        writer,
        "{}",
        json!({ "history_format": HISTORY_FORMAT_VERSION })
    )
}

/// Writes one operation as one line.
pub fn write_operation<W: Write>(writer: &mut W, operation: &Operation) -> io::Result<()> {
    serde_json::to_writer(&mut *writer, &operation_json(operation))?;
    writer.write_all(b"\n")
}

/// The JSON object of one history line.
pub fn operation_json(operation: &Operation) -> Value {
    let mut line = json!({
        "index": operation.index,
        "time": operation.time_ns,
        "process": operation.process,
        "type": operation.kind.name(),
        "f": operation.function.name(),
        "value": value_json(&operation.value),
    });
    if let Some(group) = &operation.group {
        line["group"] = json!(group);
    }
    line
}

fn value_json(value: &OperationValue) -> Value {
    match value {
        OperationValue::Null => Value::Null,
        OperationValue::Micro(micro_operations) => {
            Value::Array(micro_operations.iter().map(micro_json).collect())
        }
        OperationValue::Keys(keys) => json!(keys),
        OperationValue::Rebalance {
            generation,
            assigned,
        } => json!({ "generation": generation, "assigned": assigned }),
        OperationValue::Offsets(offsets) => offsets_json(offsets),
        OperationValue::Dump(dump) => {
            let nodes: Map<String, Value> = dump
                .iter()
                .map(|(node, logs)| {
                    let keys: Map<String, Value> = logs
                        .iter()
                        .map(|(key, records)| (key.clone(), records_json(records)))
                        .collect();
                    (node.clone(), Value::Object(keys))
                })
                .collect();
            Value::Object(nodes)
        }
    }
}

fn micro_json(micro_operation: &MicroOperation) -> Value {
    match micro_operation {
        MicroOperation::Send {
            key,
            value,
            offset: None,
        } => json!(["send", key, value]),
        MicroOperation::Send {
            key,
            value,
            offset: Some(offset),
        } => json!(["send", key, [offset, value]]),
        MicroOperation::Poll { keys: None } => json!(["poll"]),
        MicroOperation::Poll { keys: Some(keys) } => {
            let polled: Map<String, Value> = keys
                .iter()
                .map(|polled| (polled.key.clone(), records_json(&polled.records)))
                .collect();
            json!(["poll", polled])
        }
        MicroOperation::Commit { offsets } => json!(["commit", offsets_json(offsets)]),
    }
}

fn offsets_json(offsets: &[(String, u64)]) -> Value {
    Value::Object(
        offsets
            .iter()
            .map(|(key, offset)| (key.clone(), json!(offset)))
            .collect(),
    )
}

fn records_json(records: &[(u64, i64)]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|(offset, value)| json!([offset, value]))
            .collect(),
    )
}
