//! Running a scenario: the fault script and the nemesis against a cluster.
//!
//! - [`artifact`]: artifact folders, written whole or not at all, and read back for replay.
//! - [`faults`]: fires scripted faults at a cluster, resolving targets when they fire, and
//!   undoes every fault still in force at heal.
//! - [`nemesis`]: swarm-style random fault plans drawn from the seed.
//! - [`history`]: client events to a history (check's operations, `history.jsonl` lines).
//! - [`workload`]: the scenario's clients, their process ids, and when they are done.
//! - [`run`]: one run: fault phase, heal, liveness phase, checks.
//! - [`report`]: the verdict, violations, counters and the reproduce command.

pub mod artifact;
pub mod faults;
pub mod history;
pub mod nemesis;
pub mod report;
pub mod run;
pub mod story;
pub mod workload;

pub use faults::{FaultExecutor, FiredFault};
pub use nemesis::{NemesisPlan, plan};
pub use report::{RunReport, RunStats, Verdict, Violation, ViolationSource};
