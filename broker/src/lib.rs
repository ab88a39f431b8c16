//! Trial's sans-IO broker core.
//!
//! Module map:
//! - [`log`]: the partition log: record batches, epoch cache, high watermark, durable writes and
//!   recovery, and the epoch-based truncation decisions (KIP-101, KIP-279).

pub mod log;
