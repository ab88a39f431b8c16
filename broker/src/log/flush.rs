//! When a partition log must be synced: the cluster's flush policy.
//!
//! Kafka by default does not fsync on append (`flush.messages` is unbounded) and relies on
//! replication for durability; a crash then loses the unsynced tail, and correlated crashes can
//! lose acknowledged records. Trial's default is the safe one, `every-batch`: nothing is
//! acknowledged, to a producer or to a leader, before it is on disk.

use serde::{Deserialize, Serialize};

/// The cluster's flush policy (`flush = "every-batch" | "never"` in a scenario).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlushPolicy {
    /// Sync each appended batch before it is acknowledged (the default).
    #[default]
    EveryBatch,
    /// Never sync for the sake of an acknowledgement; rely on replication (Kafka's default).
    Never,
}

impl FlushPolicy {
    /// Whether a leader must sync an append before it acknowledges it to the producer (acks=1,
    /// or acks=all once the high watermark passes it).
    pub fn must_sync_before_acknowledge(self) -> bool {
        match self {
            FlushPolicy::EveryBatch => true,
            FlushPolicy::Never => false,
        }
    }

    /// Whether a follower must sync the batches it appended before its next fetch. The next fetch
    /// reports the follower's log end offset to the leader, which counts it towards the high
    /// watermark: it is the follower's acknowledgement.
    pub fn must_sync_before_next_fetch(self) -> bool {
        self.must_sync_before_acknowledge()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_batch_is_the_default_and_syncs_before_every_acknowledgement() {
        let policy = FlushPolicy::default();
        assert_eq!(policy, FlushPolicy::EveryBatch);
        assert!(policy.must_sync_before_acknowledge());
        assert!(policy.must_sync_before_next_fetch());
    }

    #[test]
    fn never_relies_on_replication() {
        assert!(!FlushPolicy::Never.must_sync_before_acknowledge());
        assert!(!FlushPolicy::Never.must_sync_before_next_fetch());
    }
}
