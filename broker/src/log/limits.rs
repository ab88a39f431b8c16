//! Named bounds on a partition log, validated once when they are built.
//!
//! Relations a validated [`LogLimits`] guarantees (and the log relies on):
//! - every limit is positive;
//! - `fetch_records_max >= batch_records_max`: a read returns whole batches and always at least
//!   one, so a fetch can carry any batch and a reader always makes progress;
//! - `log_records_max >= batch_records_max`: an empty log accepts any valid batch.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bounds on one partition log, in records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogLimits {
    /// Most records in one batch (one produce request to one partition).
    pub batch_records_max: u64,
    /// Most records one read (a fetch, follower or consumer) returns.
    pub fetch_records_max: u64,
    /// Most records a log holds between its log start offset and its log end offset. An append
    /// past it is refused with [`crate::log::AppendError::LogFull`] (there is no retention).
    pub log_records_max: u64,
}

impl Default for LogLimits {
    /// Sized for Trial's scenarios: a few thousand records per simulated second cluster-wide.
    fn default() -> Self {
        Self {
            batch_records_max: 64,
            fetch_records_max: 512,
            log_records_max: 1_000_000,
        }
    }
}

/// A limit out of bounds or two limits that contradict each other. Each names the fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum LogLimitsError {
    #[error("limits.{field} must be positive")]
    Zero { field: &'static str },
    #[error(
        "limits.fetch_records_max ({fetch_records_max}) must be at least \
         limits.batch_records_max ({batch_records_max}): a fetch must carry any whole batch"
    )]
    FetchBelowBatch {
        fetch_records_max: u64,
        batch_records_max: u64,
    },
    #[error(
        "limits.log_records_max ({log_records_max}) must be at least \
         limits.batch_records_max ({batch_records_max}): an empty log must accept any batch"
    )]
    LogBelowBatch {
        log_records_max: u64,
        batch_records_max: u64,
    },
}

impl LogLimits {
    /// Checks every limit and the relations between them (see the module docs).
    pub fn validate(&self) -> Result<(), LogLimitsError> {
        let positive = [
            ("batch_records_max", self.batch_records_max),
            ("fetch_records_max", self.fetch_records_max),
            ("log_records_max", self.log_records_max),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(LogLimitsError::Zero { field });
        }
        if self.fetch_records_max < self.batch_records_max {
            return Err(LogLimitsError::FetchBelowBatch {
                fetch_records_max: self.fetch_records_max,
                batch_records_max: self.batch_records_max,
            });
        }
        if self.log_records_max < self.batch_records_max {
            return Err(LogLimitsError::LogBelowBatch {
                log_records_max: self.log_records_max,
                batch_records_max: self.batch_records_max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_valid() {
        assert_eq!(LogLimits::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_zero_limits_naming_the_field() {
        let limits = LogLimits {
            fetch_records_max: 0,
            ..LogLimits::default()
        };
        let error = limits.validate().unwrap_err();
        assert_eq!(
            error,
            LogLimitsError::Zero {
                field: "fetch_records_max"
            }
        );
        assert!(error.to_string().contains("fetch_records_max"));
    }

    #[test]
    fn rejects_a_fetch_smaller_than_a_batch() {
        let limits = LogLimits {
            batch_records_max: 10,
            fetch_records_max: 9,
            log_records_max: 100,
        };
        assert!(matches!(
            limits.validate(),
            Err(LogLimitsError::FetchBelowBatch { .. })
        ));
    }

    #[test]
    fn rejects_a_log_smaller_than_a_batch() {
        let limits = LogLimits {
            batch_records_max: 10,
            fetch_records_max: 10,
            log_records_max: 9,
        };
        assert!(matches!(
            limits.validate(),
            Err(LogLimitsError::LogBelowBatch { .. })
        ));
    }
}
