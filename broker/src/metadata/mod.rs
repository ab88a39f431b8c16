//! The metadata state machine (KRaft-style): records, the image they build, replica assignment,
//! and the active controller's decisions.
//!
//! - [`record`]: the records of the metadata log.
//! - [`image`]: the state built by applying committed records in log order, on every node.
//! - [`assignment`]: deterministic replica assignment for new topics.
//! - [`controller`]: what the active controller proposes (bootstrap, registration, fencing,
//!   partition leader election, ISR changes) and how it validates requests.

pub mod assignment;
pub mod controller;
pub mod image;
pub mod record;
