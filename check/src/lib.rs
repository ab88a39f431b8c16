//! Trial's checkers: judgements over client histories and over node snapshots. This crate
//! depends on nothing of Trial's, so it checks histories recorded anywhere.
//!
//! - [`history`]: client-visible guarantees judged from a history (`shared/design/HISTORY.md`):
//!   Jepsen's Kafka anomalies, the exactly-once verdict per consumer group, configuration-aware
//!   verdicts. Entry point: [`check_history`].
//!   - [`history::reader`]: the strict streaming reader; [`history::model`]: the compact form.
//!   - one file per guarantee: see the [`history`] module's map.
//! - [`state`]: monitors over node snapshots taken after every simulation step.
//!   - [`state::quorum`]: the controller quorum's Raft invariants.
//!   - [`state::leadership`]: partition leadership and broker epochs as each node applied them.
//!   - [`state::replicas`]: records below the high watermark, leader high watermarks.
//!
//! Checking a history:
//!
//! ```
//! let history = r#"{"time": 1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "orders/0", 1]]}
//! {"time": 2, "process": 0, "type": "ok", "f": "send", "value": [["send", "orders/0", [0, 1]]]}
//! {"time": 3, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}
//! {"time": 4, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {"orders/0": [[0, 1]]}]]}
//! "#;
//! let config = check::CheckConfig { drained: true, ..Default::default() };
//! let report = check::check_history(history.as_bytes(), &config)?;
//! assert!(report.valid && report.anomalies.is_empty());
//! # Ok::<(), check::ReadError>(())
//! ```
//!
//! Watching node state after every simulation step:
//!
//! ```
//! use check::state::{EntryId, QuorumMemberSnapshot, QuorumMonitor};
//! let mut monitor = QuorumMonitor::new();
//! let leader = QuorumMemberSnapshot {
//!     node: 1, term: 1, voted_for: Some(1), is_leader: true, commit_index: 1,
//!     log: vec![EntryId { term: 1, digest: 0xfeed }],
//! };
//! monitor.observe(1_000_000, &[leader]).expect("one leader, one committed entry");
//! ```

pub mod history;
pub mod state;

pub use history::{
    AnomalyKind, CheckConfig, ReadError, Report, Witness, check_history, check_operations,
};
