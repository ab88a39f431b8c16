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

pub mod history;
pub mod state;

pub use history::{
    AnomalyKind, CheckConfig, ReadError, Report, Witness, check_history, check_operations,
};
