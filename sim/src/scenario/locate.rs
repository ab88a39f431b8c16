//! From an error to a line: byte offsets and field paths located in the scenario's text.
//!
//! Serde errors come with a byte span; semantic errors come with a field path
//! (`faults[2].target`). Both are turned into a 1-based line by walking the document as parsed
//! by `toml_edit`, which keeps every item's span.

use std::fmt;
use std::ops::Range;

use toml_edit::{ImDocument, Item, Table};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field's path in the document, like `cluster.topics[0].replication_factor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    pub fn key(&self, key: &str) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        FieldPath(segments)
    }

    pub fn index(&self, index: usize) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => write!(formatter, "{key}")?,
                Segment::Key(key) => write!(formatter, ".{key}")?,
                Segment::Index(index) => write!(formatter, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The 1-based line holding byte `offset`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// The line of the deepest item along `path` that exists in the text.
pub fn line_of_field(text: &str, path: &FieldPath) -> Option<usize> {
    let document = ImDocument::parse(text).ok()?;
    let mut item = document.as_item();
    let mut span = None;
    for segment in &path.0 {
        let next = match segment {
            Segment::Key(key) => item.get(key.as_str()),
            Segment::Index(index) => item.get(*index),
        };
        let Some(next) = next else { break };
        item = next;
        span = item.span().or(span);
    }
    span.map(|span| line_of(text, span.start))
}

/// Where a located path may end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// At any field: the value an error is about.
    Field,
    /// At a table (or an inline table's key): where a missing field belongs.
    Table,
}

/// The path of the deepest field whose key or value covers byte `offset`.
pub fn field_at(text: &str, offset: usize) -> Option<String> {
    path_at(text, offset, Ending::Field)
}

/// The path of the deepest table covering byte `offset`, `None` for the document's root.
pub fn table_at(text: &str, offset: usize) -> Option<String> {
    path_at(text, offset, Ending::Table)
}

fn path_at(text: &str, offset: usize, ending: Ending) -> Option<String> {
    let document = ImDocument::parse(text).ok()?;
    let mut path = FieldPath::root();
    descend_table(document.as_table(), offset, ending, &mut path);
    (!path.0.is_empty()).then(|| path.to_string())
}

/// Locates a serde error: its line and field. Serde reports some errors on a whole table (for
/// an internally tagged enum such as a fault, or a missing field); where the message quotes the
/// offending value, the value is found inside that table, and a missing field is named under
/// its table.
pub fn serde_error(
    text: &str,
    span: Range<usize>,
    message: &str,
) -> (Option<usize>, Option<String>) {
    let whole_document = span.start == 0 && span.end >= text.trim_end().len();
    let quoted = message
        .strip_prefix('"')
        .and_then(|rest| rest.split('"').next());
    let offset = quoted
        .and_then(|value| text.get(span.clone())?.find(&format!("\"{value}\"")))
        .map_or(span.start, |found| span.start + found);
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match missing {
        // Serde spans the table the field is missing from (part of the root, for a top-level
        // field): the field is named under that table, never under a key the span starts at.
        Some(missing) => Some(
            table_at(text, offset)
                .filter(|_| !whole_document)
                .map_or_else(|| missing.to_string(), |table| format!("{table}.{missing}")),
        ),
        None if whole_document => None,
        None => field_at(text, offset),
    };
    (Some(line_of(text, offset)), field)
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|span| span.contains(&offset))
}

fn descend_table(table: &Table, offset: usize, ending: Ending, path: &mut FieldPath) {
    for (key, item) in table.iter() {
        let on_key = covers(table.key(key).and_then(|key| key.span()), offset);
        if !on_key && !item_contains(item, offset) {
            continue;
        }
        if ending == Ending::Table && !is_table(item) {
            return;
        }
        *path = path.key(key);
        if !on_key {
            descend_item(item, offset, ending, path);
        }
        return;
    }
}

/// A table, an array of tables or an inline table.
fn is_table(item: &Item) -> bool {
    matches!(
        item,
        Item::Table(_) | Item::ArrayOfTables(_) | Item::Value(toml_edit::Value::InlineTable(_))
    )
}

fn table_contains(table: &Table, offset: usize) -> bool {
    covers(table.span(), offset)
        || table.iter().any(|(key, child)| {
            covers(table.key(key).and_then(|key| key.span()), offset)
                || item_contains(child, offset)
        })
}

fn item_contains(item: &Item, offset: usize) -> bool {
    match item {
        Item::Table(table) => table_contains(table, offset),
        Item::ArrayOfTables(array) => array.iter().any(|table| table_contains(table, offset)),
        _ => covers(item.span(), offset),
    }
}

fn descend_item(item: &Item, offset: usize, ending: Ending, path: &mut FieldPath) {
    match item {
        Item::Table(table) => descend_table(table, offset, ending, path),
        Item::ArrayOfTables(array) => {
            let found = array
                .iter()
                .enumerate()
                .find(|(_, table)| table_contains(table, offset));
            if let Some((index, table)) = found {
                *path = path.index(index);
                descend_table(table, offset, ending, path);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n[cluster]\nbrokers = 3\n\n[[faults]]\nat = \"1s\"\n\n[[faults]]\nat = \"2s\"\ntarget = \"b9\"\n";

    #[test]
    fn paths_locate_their_lines() {
        let path = FieldPath::root().key("faults").index(1).key("target");
        assert_eq!(path.to_string(), "faults[1].target");
        assert_eq!(line_of_field(TEXT, &path), Some(10));
        assert_eq!(
            line_of_field(TEXT, &FieldPath::root().key("cluster").key("brokers")),
            Some(3)
        );
        let missing = FieldPath::root().key("faults").index(0).key("target");
        assert!(
            line_of_field(TEXT, &missing).is_some(),
            "falls back to the nearest parent"
        );
    }

    #[test]
    fn offsets_name_their_fields() {
        let offset = TEXT.find("\"b9\"").unwrap();
        assert_eq!(line_of(TEXT, offset), 10);
        assert_eq!(field_at(TEXT, offset).as_deref(), Some("faults[1].target"));
        let offset = TEXT.find("brokers").unwrap();
        assert_eq!(field_at(TEXT, offset).as_deref(), Some("cluster.brokers"));
    }

    #[test]
    fn offsets_name_their_tables() {
        assert_eq!(
            table_at(TEXT, 0),
            None,
            "the first key is in the root table"
        );
        let offset = TEXT.find("brokers").unwrap();
        assert_eq!(table_at(TEXT, offset).as_deref(), Some("cluster"));
        let offset = TEXT.find("\"b9\"").unwrap();
        assert_eq!(table_at(TEXT, offset).as_deref(), Some("faults[1]"));
    }

    /// A missing top-level field belongs to the root, even where serde's span starts at the
    /// document's first key.
    #[test]
    fn a_missing_field_is_named_under_its_table() {
        let root_span = 0..TEXT.find("[cluster]").unwrap();
        let (_, field) = serde_error(TEXT, root_span, "missing field `why`");
        assert_eq!(field.as_deref(), Some("why"));
        let start = TEXT.find("[[faults]]\nat = \"2s\"").unwrap();
        let (_, field) = serde_error(TEXT, start..TEXT.len(), "missing field `action`");
        assert_eq!(field.as_deref(), Some("faults[1].action"));
    }
}
