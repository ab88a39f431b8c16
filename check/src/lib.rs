//! Trial's checkers: judgements over client histories and over node snapshots.
//!
//! - [`state`]: monitors over node snapshots taken after every simulation step.
//!   - [`state::quorum`]: the controller quorum's Raft invariants.
//!   - [`state::leadership`]: partition leadership and broker epochs as each node applied them.
//!   - [`state::replicas`]: records below the high watermark, leader high watermarks.

pub mod state;
