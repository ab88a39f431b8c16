//! The reader's fast path: a typed serde parse of the common lines (sends, polls, transactions,
//! commits, assignments, rebalances, and lines whose value is `null`) with no intermediate JSON
//! tree. It accepts a subset
//! of what the detailed path accepts, never more: any line it does not accept, for whatever
//! reason, goes to the detailed path, which either accepts it too or explains the error with its
//! line and field. Both paths produce the same [`ParsedLine`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::operation::{Function, MicroOperation, OperationType, OperationValue, PolledKey};
use super::reader::ParsedLine;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastLine<'a> {
    #[serde(default)]
    index: Option<u64>,
    time: u64,
    process: u64,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    group: Option<Cow<'a, str>>,
    #[serde(default)]
    value: FastValue,
    #[serde(default)]
    #[allow(dead_code)]
    error: Option<IgnoredAny>,
}

/// Parses a line the fast way, or returns `None` to leave it to the detailed path.
pub(crate) fn parse_line(text: &str) -> Option<ParsedLine> {
    let fast: FastLine = serde_json::from_str(text).ok()?;
    let kind = OperationType::from_name(&fast.kind)?;
    let function = Function::from_name(&fast.f)?;
    let value = match (fast.value, function) {
        (FastValue::Null, _) => OperationValue::Null,
        (FastValue::Micro(micro), Function::Send | Function::Poll | Function::Txn) => {
            if !micro_operations_allowed(function, kind, &micro) {
                return None;
            }
            OperationValue::Micro(micro)
        }
        (FastValue::Keys(keys), Function::Assign | Function::Subscribe) => {
            OperationValue::Keys(keys)
        }
        (FastValue::Map(entries), Function::Commit) => {
            OperationValue::Offsets(offsets_of(entries)?)
        }
        (FastValue::Map(entries), Function::Rebalance) => rebalance_of(entries)?,
        _ => return None,
    };
    Some(ParsedLine {
        index: fast.index,
        time_ns: fast.time,
        process: fast.process,
        kind,
        function,
        group: fast.group.map(Cow::into_owned),
        value,
    })
}

/// A commit's `{key: offset}`, if every value is an offset.
fn offsets_of(entries: Vec<(String, MapValue)>) -> Option<Vec<(String, u64)>> {
    entries
        .into_iter()
        .map(|(key, value)| match value {
            MapValue::Offset(offset) => Some((key, offset)),
            MapValue::Keys(_) => None,
        })
        .collect()
}

/// A rebalance's `{"assigned": [...], "generation": g}` and nothing else.
fn rebalance_of(entries: Vec<(String, MapValue)>) -> Option<OperationValue> {
    match <[_; 2]>::try_from(entries).ok()? {
        [
            (assigned_name, MapValue::Keys(assigned)),
            (generation_name, MapValue::Offset(generation)),
        ] if assigned_name == "assigned" && generation_name == "generation" => {
            Some(OperationValue::Rebalance {
                generation,
                assigned,
            })
        }
        _ => None,
    }
}

/// The detailed path's rules for micro-operations, as a yes/no.
pub(crate) fn micro_operations_allowed(
    function: Function,
    kind: OperationType,
    micro_operations: &[MicroOperation],
) -> bool {
    !micro_operations.is_empty()
        && micro_operations.iter().all(|micro_operation| {
            let tag_allowed = match micro_operation {
                MicroOperation::Send { .. } => function != Function::Poll,
                MicroOperation::Poll { .. } => function != Function::Send,
                MicroOperation::Commit { .. } => function == Function::Txn,
            };
            let shape_allowed = match (micro_operation, kind) {
                (MicroOperation::Send { offset, .. }, OperationType::Invoke) => offset.is_none(),
                (MicroOperation::Send { offset, .. }, OperationType::Ok) => offset.is_some(),
                (MicroOperation::Poll { keys }, OperationType::Invoke) => keys.is_none(),
                (MicroOperation::Poll { keys }, OperationType::Ok) => keys.is_some(),
                _ => true,
            };
            tag_allowed && shape_allowed
        })
}

#[derive(Default)]
enum FastValue {
    #[default]
    Null,
    Micro(Vec<MicroOperation>),
    /// A list of strings (also an empty list).
    Keys(Vec<String>),
    /// An object whose values are offsets or lists of strings, sorted by key.
    Map(Vec<(String, MapValue)>),
}

enum MapValue {
    Offset(u64),
    Keys(Vec<String>),
}

impl<'de> Deserialize<'de> for MapValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MapValueVisitor)
    }
}

struct MapValueVisitor;

impl<'de> Visitor<'de> for MapValueVisitor {
    type Value = MapValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an offset or a list of keys")
    }

    fn visit_u64<E: de::Error>(self, offset: u64) -> Result<MapValue, E> {
        Ok(MapValue::Offset(offset))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MapValue, A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = seq.next_element::<String>()? {
            keys.push(key);
        }
        Ok(MapValue::Keys(keys))
    }
}

/// An element of a list value: a micro-operation or a key.
enum Element {
    Micro(MicroOperation),
    Key(String),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a micro-operation or a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Element, E> {
        Ok(Element::Key(key.to_string()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Element, E> {
        Ok(Element::Key(key))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        FastMicroVisitor
            .visit_seq(seq)
            .map(|FastMicro(micro_operation)| Element::Micro(micro_operation))
    }
}

impl<'de> Deserialize<'de> for FastValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FastValueVisitor)
    }
}

struct FastValueVisitor;

impl<'de> Visitor<'de> for FastValueVisitor {
    type Value = FastValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("null, micro-operations or offsets")
    }

    fn visit_unit<E: de::Error>(self) -> Result<FastValue, E> {
        Ok(FastValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FastValue, A::Error> {
        let mut micro_operations = Vec::new();
        let mut keys = Vec::new();
        while let Some(element) = seq.next_element()? {
            match element {
                Element::Micro(micro_operation) => micro_operations.push(micro_operation),
                Element::Key(key) => keys.push(key),
            }
        }
        match (micro_operations.is_empty(), keys.is_empty()) {
            (true, _) => Ok(FastValue::Keys(keys)),
            (false, true) => Ok(FastValue::Micro(micro_operations)),
            (false, false) => Err(de::Error::custom("a list mixing keys and micro-operations")),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastValue, A::Error> {
        let mut entries: Vec<(String, MapValue)> = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        sort_unique_by_key(&mut entries, |(key, _)| key)?;
        Ok(FastValue::Map(entries))
    }
}

/// `{key: offset}`, sorted by key; a repeated key is left to the detailed path.
fn offsets_from<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<(String, u64)>, A::Error> {
    let mut offsets: Vec<(String, u64)> = Vec::new();
    while let Some((key, offset)) = map.next_entry::<String, u64>()? {
        offsets.push((key, offset));
    }
    sort_unique_by_key(&mut offsets, |(key, _)| key)?;
    Ok(offsets)
}

fn sort_unique_by_key<T, E: de::Error>(
    items: &mut [T],
    key: impl Fn(&T) -> &String,
) -> Result<(), E> {
    items.sort_by(|left, right| key(left).cmp(key(right)));
    if items.windows(2).any(|pair| key(&pair[0]) == key(&pair[1])) {
        return Err(E::custom("repeated key"));
    }
    Ok(())
}

struct FastMicro(MicroOperation);

impl<'de> Deserialize<'de> for FastMicro {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(FastMicroVisitor)
    }
}

struct FastMicroVisitor;

impl<'de> Visitor<'de> for FastMicroVisitor {
    type Value = FastMicro;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a micro-operation")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FastMicro, A::Error> {
        let tag: Cow<'de, str> = next(&mut seq)?;
        let micro_operation = match tag.as_ref() {
            "send" => {
                let key: String = next(&mut seq)?;
                let SendWritten { offset, value } = next(&mut seq)?;
                MicroOperation::Send { key, value, offset }
            }
            "poll" => {
                let keys = seq.next_element::<PollMap>()?.map(|PollMap(keys)| keys);
                MicroOperation::Poll { keys }
            }
            "commit" => {
                let OffsetsMap(offsets) = next(&mut seq)?;
                MicroOperation::Commit { offsets }
            }
            _ => return Err(de::Error::custom("unknown micro-operation")),
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("trailing element"));
        }
        Ok(FastMicro(micro_operation))
    }
}

fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom("missing element"))
}

/// A send's third element: `value` or `[offset, value]`.
struct SendWritten {
    offset: Option<u64>,
    value: i64,
}

impl<'de> Deserialize<'de> for SendWritten {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SendWrittenVisitor)
    }
}

struct SendWrittenVisitor;

impl<'de> Visitor<'de> for SendWrittenVisitor {
    type Value = SendWritten;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a value or [offset, value]")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<SendWritten, E> {
        Ok(SendWritten {
            offset: None,
            value,
        })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<SendWritten, E> {
        let value = i64::try_from(value).map_err(|_| E::custom("value out of range"))?;
        Ok(SendWritten {
            offset: None,
            value,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SendWritten, A::Error> {
        let offset: u64 = next(&mut seq)?;
        let value: i64 = next(&mut seq)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("trailing element"));
        }
        Ok(SendWritten {
            offset: Some(offset),
            value,
        })
    }
}

/// A poll's `{key: [[offset, value], ...]}`, sorted by key.
struct PollMap(Vec<PolledKey>);

impl<'de> Deserialize<'de> for PollMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PollMapVisitor)
    }
}

struct PollMapVisitor;

impl<'de> Visitor<'de> for PollMapVisitor {
    type Value = PollMap;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("{key: [[offset, value], ...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PollMap, A::Error> {
        let mut keys = Vec::new();
        while let Some((key, records)) = map.next_entry::<String, Vec<(u64, i64)>>()? {
            keys.push(PolledKey { key, records });
        }
        sort_unique_by_key(&mut keys, |polled| &polled.key)?;
        Ok(PollMap(keys))
    }
}

struct OffsetsMap(Vec<(String, u64)>);

impl<'de> Deserialize<'de> for OffsetsMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OffsetsMapVisitor)
    }
}

struct OffsetsMapVisitor;

impl<'de> Visitor<'de> for OffsetsMapVisitor {
    type Value = OffsetsMap;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("{key: next_offset}")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OffsetsMap, A::Error> {
        Ok(OffsetsMap(offsets_from(map)?))
    }
}
