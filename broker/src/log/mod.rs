//! The partition log: what one replica of one data partition stores, and the pure decisions of
//! Kafka's replication protocol that depend only on that log (KAFKA.md, "Data replication").
//!
//! Pure data structures and functions: no I/O, clocks, randomness or threads. Every change returns
//! the [`LogWrite`] the node must persist; the node sends it to disk and the driver applies it to
//! the durable [`LogImage`], from which [`PartitionLog::recover`] rebuilds the log after a restart.
//!
//! Module map:
//! - [`record`]: [`Record`] and [`RecordBatch`] (records at dense offsets, stamped with the leader
//!   epoch that appended them).
//! - [`epoch_cache`]: [`EpochCache`], leader epoch -> start offset, and the answer to
//!   OffsetsForLeaderEpoch ([`EpochEndOffset`]).
//! - [`partition`]: [`PartitionLog`]: append (as leader or follower), read, truncate, high
//!   watermark, recovery, and one round of the divergence search.
//! - [`producers`]: [`ProducerStates`], the idempotent producers' last batches (KIP-98).
//! - [`transactions`]: [`TransactionStates`], open and ended transactions and the last stable
//!   offset (KIP-98).
//! - [`divergence`]: the follower's truncation decision from the leader's answer (KIP-279).
//! - [`image`]: [`LogWrite`] and [`LogImage`], the durable side.
//! - [`flush`]: [`FlushPolicy`], when an append must be synced before it is acknowledged.
//! - [`bugs`]: [`LogBugs`], the planted truncation bugs (zoo #1 and #2), and [`FollowerStart`].
//! - [`limits`]: [`LogLimits`], named and validated bounds.
//!
//! Invariants, and why:
//! - Offsets are dense and increasing from the log start offset to the log end offset (LEO):
//!   consumers and checkers name records by offset, and "per-partition ordering" means exactly this.
//! - Leader epochs never decrease along a log, and each replica's epoch cache is what its batches
//!   imply. The epochs are the log's history of leaders: two logs agree up to an offset exactly
//!   when their epoch histories agree there (Raft's log matching, carried over by KIP-101).
//! - After a change of leader a follower truncates at the epoch divergence point, found by asking
//!   the leader where its epochs end (KIP-101), round after round until the follower knows the
//!   epoch the leader answers (KIP-279); never at its local high watermark, which lags the
//!   leader's and may drop committed records. Fetches and truncation requests carry the current
//!   leader epoch so stale ones are fenced (KIP-320); that check lives in the node, since it needs
//!   the partition's current epoch from the metadata, not the log.
//! - `log start offset <= high watermark <= LEO` on every replica: nothing below the HW is exposed
//!   unless the replica holds it. A recovered HW is the checkpoint clamped into that range.
//!
//! Fault model: the disk may lose unsynced writes on a crash, or any write on an injected fault;
//! [`LogImage::apply`] keeps a consistent prefix in both cases. Network answers may be stale or
//! duplicated: the follower-side functions return errors for them rather than panicking.

pub mod bugs;
pub mod divergence;
pub mod epoch_cache;
pub mod flush;
pub mod image;
pub mod limits;
pub mod partition;
pub mod producers;
pub mod record;
pub mod transactions;

#[cfg(test)]
mod tests;

pub use bugs::{FollowerStart, LogBugs};
pub use divergence::{
    DivergenceError, DivergenceNext, DivergenceRound, TruncationStep, truncation_step,
};
pub use epoch_cache::{EpochCache, EpochEndOffset, EpochEntry};
pub use flush::FlushPolicy;
pub use image::{LogImage, LogWrite};
pub use limits::{LogLimits, LogLimitsError};
pub use partition::{AppendError, Appended, PartitionLog, ReadError};
pub use producers::{PRODUCER_BATCHES_REMEMBERED, ProducerStates, SequenceVerdict};
pub use record::{
    BatchTransaction, ProducerSequence, ProducerStamp, Record, RecordBatch, SharedRecords,
    TransactionMarker, TransactionOutcome,
};
pub use transactions::{AbortedTransaction, EndedTransaction, MarkerVerdict, TransactionStates};
