//! Trial's deterministic discrete-event simulator.
//!
//! One seed drives a whole run: the same seed, the same scenario and the same program logic give
//! the same trace digest, in any process, in debug and in release. Nodes are sans-IO
//! [`Process`]es; the simulator owns everything they would otherwise touch: the network, their
//! clocks, their disks, their randomness and time itself.
//!
//! Map of the modules:
//! - [`process`]: the contract with what runs: `Process`, `Storage`, `Input`, `Context`.
//! - [`simulation`]: the engine: event loop, node slots, and the fault verbs
//!   (`crash`/`restart`, `pause`/`resume`, `partition`/`heal`, `cut`/`repair`,
//!   `hold`/`release`, clock and disk faults).
//! - [`queue`]: the event queue, totally ordered by (time, insertion sequence).
//! - [`network`]: directed links, cut or held; latency, loss, duplication, reordering.
//! - [`clock`]: per-node offset, drift and jumps; local deadlines to simulated time.
//! - [`disk`]: durable image plus pending writes; sync, crash, torn writes, injected errors.
//! - [`distribution`]: integer ratios and latency distributions.
//! - [`seed`]: seed parsing and the per-concern random streams.
//! - [`digest`]: the 64-bit trace digest.
//! - [`audit`]: the determinism audit (same seed twice, same digest).
//! - [`counters`]: what happened in a run, counted.
//! - [`runner`]: fault script execution and the swarm nemesis.
//! - [`campaign`]: many seeds on threads: generated scenarios, audit, shrinking, sharding.
//! - [`scenario`]: scenario files: cluster, workload, fault script, nemesis; strict parsing.
//! - [`logging`]: `tracing` output stamped with simulated time and node name.

pub mod audit;
pub mod campaign;
pub mod clock;
pub mod cluster;
pub mod counters;
pub mod digest;
pub mod disk;
pub mod distribution;
pub mod json;
pub mod logging;
pub mod network;
pub mod process;
pub mod queue;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod simulation;

pub use counters::Counters;
pub use digest::{TraceDigest, format_digest};
pub use disk::DiskConfig;
pub use distribution::{Latency, Ratio};
pub use network::NetworkConfig;
pub use process::{Command, Context, DiskError, Input, NodeId, Process, Storage};
pub use seed::{Stream, parse_seed};
pub use simulation::{ClockConfig, ConfigError, Simulation, SimulationConfig};
