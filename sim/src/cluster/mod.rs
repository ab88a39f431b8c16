//! Glue that runs the broker's sans-IO nodes on the simulation engine, with the cluster-wide
//! state monitors of `check` after every step.
//!
//! - [`member`]: [`Member`], the [`crate::Process`] of a cluster: a broker node or an admin
//!   client; translates engine inputs and contexts to the broker's and back.
//! - [`monitor`]: converts node snapshots to `check::state` types and runs the quorum and
//!   leadership monitors.
//! - [`harness`]: [`ClusterSimulation`]: builds a cluster, steps it with the monitors, applies
//!   faults (telling the monitors of restarts), and counts the observations.
//! - [`faults`]: a seeded generator of random crashes, pauses and partitions for tests.

pub mod faults;
pub mod harness;
pub mod member;
pub mod monitor;
pub mod timeline;

pub use faults::{FaultKind, RandomFaults};
pub use harness::{ClientSpecs, ClusterCounters, ClusterSimulation, ConsumerSpec, ProducerSpec};
pub use member::{Member, MemberSpec, MemberStorage};
pub use monitor::ClusterMonitor;
