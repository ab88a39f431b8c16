//! Reading the JSON files Trial writes and reads back: campaign folders (`campaign.json`,
//! `seeds.jsonl`) and artifact reports (`run.json`).
//!
//! These files travel: shards of a campaign are merged on another machine, artifacts are
//! attached to bug reports and edited by hand. A file that does not read is an input error, and
//! the error says where: the line, and the field by its path (`shard.count`,
//! `violations[0].source`), as scenario files and histories do. `serde_json` alone gives only a
//! line and column; `serde_path_to_error` adds the path.

use serde::de::DeserializeOwned;

/// Why a JSON text did not read as a `T`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|field| format!("field {field}: ")).unwrap_or_default())]
pub struct JsonError {
    /// 1-based line of the text.
    pub line: usize,
    /// The field's path, when the error is inside one.
    pub field: Option<String>,
    pub message: String,
}

impl JsonError {
    /// A value that read but is not allowed: named by its field, at the line where the field's
    /// key first appears in `text` (line 1 if it does not: a missing field).
    pub fn invalid(text: &str, field: &str, message: String) -> JsonError {
        let last = field.rsplit('.').next().unwrap_or(field);
        let key = last.split('[').next().unwrap_or(last);
        let quoted = format!("\"{key}\"");
        let line = text
            .lines()
            .position(|line| line.contains(&quoted))
            .map_or(1, |index| index + 1);
        JsonError {
            line,
            field: Some(field.to_owned()),
            message,
        }
    }
}

/// `text` as one `T`, nothing after it but whitespace.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        JsonError {
            line: inner.line().max(1),
            field: (path != ".").then_some(path),
            message: inner.to_string(),
        }
    })?;
    deserializer.end().map_err(|error| JsonError {
        line: error.line().max(1),
        field: None,
        message: error.to_string(),
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only reading is tested")]
    struct Outer {
        name: String,
        inner: Inner,
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only reading is tested")]
    struct Inner {
        count: u32,
    }

    #[test]
    fn an_error_names_its_line_and_the_field_by_path() {
        let text = "{\n  \"name\": \"x\",\n  \"inner\": {\"count\": 1},\n  \"list\": [\n    {\"count\": -1}\n  ]\n}";
        let error = parse::<Outer>(text).unwrap_err();
        assert_eq!(error.line, 5);
        assert_eq!(error.field.as_deref(), Some("list[0].count"));
        assert!(
            error
                .to_string()
                .starts_with("field list[0].count: invalid value"),
            "{error}"
        );
        let missing = parse::<Outer>("{\"name\": \"x\", \"list\": []}").unwrap_err();
        assert!(
            missing.message.contains("missing field `inner`"),
            "{missing}"
        );
        let trailing = parse::<BTreeMap<String, u32>>("{\"a\": 1}\n{").unwrap_err();
        assert_eq!((trailing.line, trailing.field), (2, None));
        assert!(
            parse::<Outer>("{\"name\": \"x\", \"inner\": {\"count\": 2}, \"list\": []}").is_ok()
        );
    }

    #[test]
    fn an_invalid_value_is_named_at_its_key_line() {
        let text = "{\n  \"shard\": {\n    \"index\": 4,\n    \"count\": 3\n  }\n}";
        let error = JsonError::invalid(text, "shard.count", "too small".to_owned());
        assert_eq!(error.line, 4);
        assert_eq!(error.to_string(), "field shard.count: too small");
        assert_eq!(JsonError::invalid(text, "shard[0]", String::new()).line, 2);
        assert_eq!(JsonError::invalid(text, "bugs[0]", String::new()).line, 1);
    }
}
