//! Random changes to a document tree, for tests that feed the world's inputs (scenario files,
//! histories) to Trial with edge values swapped in: it must reject them with an error that says
//! where, or handle them, and never panic.
//!
//! Documents are `serde_json::Value` trees (a TOML scenario converts both ways through serde).
//! A change picks a leaf or an array by position modulo their number, so every generated change
//! applies to any document.

use proptest::prelude::*;
use serde_json::{Number, Value};

/// Cases per mutation test: 256 by default (a few seconds in CI), `PROPTEST_CASES=N` for a
/// longer search. Debug builds are worth it: they also catch arithmetic overflow.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

/// One change to a document.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Puts the edge value of the leaf's own type there (most changes: those get past the
    /// parser to validation), or the `other` value, usually of another type.
    Replace {
        leaf: usize,
        edge: EdgeValues,
        keep_type: bool,
    },
    Remove {
        leaf: usize,
    },
    /// Appends a copy of one entry of an array.
    DuplicateEntry {
        array: usize,
        entry: usize,
    },
    /// Swaps two entries of an array.
    SwapEntries {
        array: usize,
        first: usize,
        second: usize,
    },
}

/// One edge value of each type, and one of any type.
#[derive(Clone, Debug)]
pub struct EdgeValues {
    integer: Number,
    string: String,
    float: f64,
    boolean: bool,
    other: Value,
}

impl EdgeValues {
    /// The value of `current`'s type.
    fn like(&self, current: &Value) -> Value {
        match current {
            Value::Number(number) if number.is_f64() => {
                Number::from_f64(self.float).map_or(Value::Null, Value::Number)
            }
            Value::Number(_) => Value::Number(self.integer.clone()),
            Value::String(_) => Value::String(self.string.clone()),
            Value::Bool(_) => Value::Bool(self.boolean),
            _ => self.other.clone(),
        }
    }
}

/// Integers at the edges of the widths Trial reads (TOML holds no integer above `i64::MAX`).
fn edge_integer() -> impl Strategy<Value = Number> {
    prop_oneof![
        prop::sample::select(vec![
            Number::from(0),
            Number::from(1),
            Number::from(-1),
            Number::from(2),
            Number::from(3),
            Number::from(255),
            Number::from(65_536),
            Number::from(u32::MAX),
            Number::from(u64::from(u32::MAX) + 1),
            Number::from(1u64 << 53),
            Number::from(i64::MAX),
            Number::from(u64::MAX),
            Number::from(i64::MIN),
        ]),
        any::<i64>().prop_map(Number::from),
        (0i64..100).prop_map(Number::from),
    ]
}

/// Edge values with `strings` for string leaves: each test knows its format's odd strings.
fn edge_values(strings: BoxedStrategy<String>) -> impl Strategy<Value = EdgeValues> {
    let float = prop::sample::select(vec![0.0f64, -1.0, 0.5, 1e300]);
    let other = prop_oneof![
        edge_integer().prop_map(Value::Number),
        strings.clone().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Array(Vec::new())),
        Just(Value::Object(serde_json::Map::new())),
    ];
    (edge_integer(), strings, float, any::<bool>(), other).prop_map(
        |(integer, string, float, boolean, other)| EdgeValues {
            integer,
            string,
            float,
            boolean,
            other,
        },
    )
}

/// Changes, with `strings` as the edge values of string leaves.
pub fn mutation(strings: BoxedStrategy<String>) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        8 => (any::<usize>(), edge_values(strings), prop::bool::weighted(0.85))
            .prop_map(|(leaf, edge, keep_type)| Mutation::Replace { leaf, edge, keep_type }),
        1 => any::<usize>().prop_map(|leaf| Mutation::Remove { leaf }),
        1 => (any::<usize>(), any::<usize>())
            .prop_map(|(array, entry)| Mutation::DuplicateEntry { array, entry }),
        1 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(array, first, second)| Mutation::SwapEntries { array, first, second }),
    ]
}

/// A path to a value: object keys and array indexes.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every leaf (arrays count as leaves too: they can be replaced whole) and every array.
fn collect_paths(
    value: &Value,
    path: &mut Vec<Step>,
    leaves: &mut Vec<Vec<Step>>,
    arrays: &mut Vec<Vec<Step>>,
) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                path.push(Step::Key(key.clone()));
                collect_paths(child, path, leaves, arrays);
                path.pop();
            }
        }
        Value::Array(entries) => {
            arrays.push(path.clone());
            if !path.is_empty() {
                leaves.push(path.clone());
            }
            for (index, child) in entries.iter().enumerate() {
                path.push(Step::Index(index));
                collect_paths(child, path, leaves, arrays);
                path.pop();
            }
        }
        _ => leaves.push(path.clone()),
    }
}

fn value_at<'a>(root: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(root, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::Index(index) => &mut value[*index],
    })
}

fn describe(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => format!(".{key}"),
            Step::Index(index) => format!("[{index}]"),
        })
        .collect()
}

/// Applies `mutation`; says what it did, like `replace .cluster.brokers with 0`.
pub fn apply(root: &mut Value, mutation: &Mutation) -> String {
    let (mut leaves, mut arrays) = (Vec::new(), Vec::new());
    collect_paths(root, &mut Vec::new(), &mut leaves, &mut arrays);
    match mutation {
        Mutation::Replace {
            leaf,
            edge,
            keep_type,
        } => {
            let Some(path) = leaves.get(leaf % leaves.len().max(1)) else {
                return "nothing (no leaf)".to_owned();
            };
            let slot = value_at(root, path);
            *slot = if *keep_type {
                edge.like(slot)
            } else {
                edge.other.clone()
            };
            format!("replace {} with {slot}", describe(path))
        }
        Mutation::Remove { leaf } => {
            let Some(path) = leaves.get(leaf % leaves.len().max(1)) else {
                return "nothing (no leaf)".to_owned();
            };
            let (last, parent) = path.split_last().expect("a leaf below the root");
            match (value_at(root, parent), last) {
                (Value::Object(object), Step::Key(key)) => {
                    object.remove(key);
                }
                (Value::Array(entries), Step::Index(index)) => {
                    entries.remove(*index);
                }
                _ => unreachable!("paths follow the tree"),
            }
            format!("remove {}", describe(path))
        }
        Mutation::DuplicateEntry { array, entry } => {
            let Some((path, entries)) = array_at(root, &arrays, *array) else {
                return "nothing (no entries)".to_owned();
            };
            let index = entry % entries.len();
            entries.push(entries[index].clone());
            format!("append a copy of {path}[{index}]")
        }
        Mutation::SwapEntries {
            array,
            first,
            second,
        } => {
            let Some((path, entries)) = array_at(root, &arrays, *array) else {
                return "nothing (no entries)".to_owned();
            };
            let (first, second) = (first % entries.len(), second % entries.len());
            entries.swap(first, second);
            format!("swap {path}[{first}] and [{second}]")
        }
    }
}

/// The `choice`th array (modulo their number) and its description, if it has entries.
fn array_at<'a>(
    root: &'a mut Value,
    arrays: &[Vec<Step>],
    choice: usize,
) -> Option<(String, &'a mut Vec<Value>)> {
    let path = arrays.get(choice % arrays.len().max(1))?;
    let entries = value_at(root, path).as_array_mut().expect("an array");
    (!entries.is_empty()).then(|| (describe(path), entries))
}

/// Whether `field` (like `faults[2].target`) could be a field of `root`: no part of it that
/// the document has is a plain value with something below it (as `name.why` would be).
pub fn names_a_place_in(root: &Value, field: &str) -> bool {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let mut pieces = part.split('[');
        steps.push(Step::Key(pieces.next().unwrap_or_default().to_owned()));
        for index in pieces {
            match index.trim_end_matches(']').parse() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => return false,
            }
        }
    }
    let mut value = root;
    for (position, step) in steps.iter().enumerate() {
        let next = match (step, value) {
            (Step::Key(key), Value::Object(object)) => object.get(key),
            (Step::Index(index), Value::Array(entries)) => entries.get(*index),
            _ => return false,
        };
        match next {
            Some(next) => value = next,
            // A key the document lacks (a missing field, or a table the mutation removed) may
            // be named; an entry past an array's end only as the last step.
            None => return matches!(step, Step::Key(_)) || position + 1 == steps.len(),
        }
    }
    true
}

/// `lines` as JSON lines, cut at byte `cut` (modulo the length, moved back to a character
/// boundary) when given: a file a killed writer or a broken transfer left behind.
pub fn json_lines(lines: &[Value], cut: Option<usize>) -> String {
    let mut text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    if let Some(cut) = cut {
        let mut at = cut % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}
