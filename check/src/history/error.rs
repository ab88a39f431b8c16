//! Errors for bad input: each names the line (1-based) and, where there is one, the field.

/// Why a history could not be read. Every variant names the line; the CLI prefixes the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: cannot read: {source}")]
    Io {
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: invalid JSON: {message}")]
    Json { line: u64, message: String },
    #[error("line {line}: field `{field}`: {message}")]
    Field {
        line: u64,
        field: String,
        message: String,
    },
    /// The line is well formed but breaks the history's rules (pairing, time, crashed processes).
    #[error("line {line}: {message}")]
    Sequence { line: u64, message: String },
}

impl ReadError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> u64 {
        match self {
            Self::Io { line, .. }
            | Self::Json { line, .. }
            | Self::Field { line, .. }
            | Self::Sequence { line, .. } => *line,
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}
