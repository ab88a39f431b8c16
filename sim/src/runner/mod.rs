//! Running a scenario: the fault script and the nemesis against a cluster.
//!
//! - [`faults`]: fires scripted faults at a cluster, resolving targets when they fire, and
//!   undoes every fault still in force at heal.
//! - [`nemesis`]: swarm-style random fault plans drawn from the seed.

pub mod faults;
pub mod nemesis;

pub use faults::{FaultExecutor, FiredFault};
pub use nemesis::{NemesisPlan, plan};
