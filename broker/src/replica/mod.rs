//! Partition replicas: the data plane of a broker (KAFKA.md, "Data replication").
//!
//! A broker holds a [`Replica`] of every partition whose replica list names it. The committed
//! metadata image decides its role: the leader named there leads in the image's leader epoch; the
//! others follow that leader. A replica acts only while its broker holds a broker epoch (it is
//! registered for this incarnation and not fenced): the registration record comes after every
//! change that took the broker out of leaderships and ISRs, so a broker never acts on the stale
//! metadata it replays after a restart.
//!
//! - [`leader`]: produce, fetch serving (followers and consumers, parked fetches), the high
//!   watermark (minimum log end offset over the ISR), ISR shrink and expansion requests,
//!   OffsetsForLeaderEpoch and ListOffsets answers, KIP-320 fencing.
//! - [`follower`]: becoming a follower (the truncation decision of [`crate::log::LogBugs`], the
//!   KIP-279 divergence search), the fetch loop, the high watermark learned from the leader.
//! - [`produce`]: produce requests, one per producer and leader broker, answered once every
//!   partition's outcome is known.
//! - [`fetch_session`]: a follower's fetches of every partition it follows from one leader, in
//!   one request per leader, served and parked as a whole.
//! - [`role`]: reconciling replicas with the metadata image, and the periodic tick.
//!
//! Invariants (asserted in [`crate::Node::check_invariants`]): every log's own invariants
//! (`log start <= HW <= LEO`, dense offsets); a leader is in its ISR; a leader's durable end offset
//! never passes its LEO; a leader holds at most `limits.produce_in_flight_max` produce requests and
//! `limits.parked_fetches_max` parked consumer fetches per partition, and at most one parked
//! fetch session per follower.
//!
//! Durability: appends go to disk as [`crate::StorageWrite::Log`]. Under `flush = "every-batch"` a
//! leader counts its own copy towards the HW (and answers acks=1) only once synced, and a follower
//! syncs before the fetch that reports its new LEO. The tick checkpoints every replica's high
//! watermark that moved, once per `timing.high_watermark_checkpoint_interval_ns` (Kafka's
//! periodic checkpoint), in the background: it syncs with the next append, and nothing waits for
//! it, so a follower that learned only a new HW fetches again at once. A follower learns a new HW lazily, from the
//! answer to its next fetch: a parked fetch completes on new data or at the end of its wait, not
//! on a HW change (Kafka's delayed fetch). A disk fault makes the node rewrite its whole
//! state, logs included, and hold every durability-dependent action until that rewrite is synced
//! (see `disk`): the replica keeps serving reads and appends meanwhile, but nothing new becomes
//! acknowledged or counted, like a Kafka broker whose log directory stalls. A broker whose disk
//! keeps failing therefore stops making progress on acknowledgements but never acknowledges what
//! is not durable.

pub mod fetch_session;
pub mod follower;
#[cfg(test)]
mod idempotence_tests;
pub mod leader;
pub(crate) mod partition_map;
#[cfg(test)]
mod perturbation_tests;
pub mod produce;
pub mod role;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod transaction_tests;

use std::collections::BTreeMap;

use crate::log::{LogImage, PartitionLog, ProducerStates};
use crate::message::data::Acks;
use crate::message::{DataError, FetchRequest};
use crate::storage::PartitionKey;
use crate::topic::TopicName;
use partition_map::PartitionMap;

/// Every replica this broker holds, and the logs recovered from disk not yet opened.
#[derive(Debug, Default)]
pub(crate) struct Replicas {
    pub(crate) partitions: PartitionMap<Replica>,
    /// Logs read from disk at start, opened when the metadata first names the partition.
    pub(crate) recovered: BTreeMap<PartitionKey, LogImage>,
    pub(crate) request_id_next: u64,
    /// The metadata index and broker epoch the roles were last reconciled with.
    pub(crate) reconciled: Option<(u64, Option<u64>)>,
    /// Counts the changes of any replica's role or leader epoch (they happen only in
    /// `role::reconcile_replica`): what depends on roles alone, such as which offsets partitions
    /// this broker coordinates, is re-derived only when it moved.
    pub(crate) roles_version: u64,
    /// The keys of `partitions`, in order, for the tick (reused: no copies per tick).
    pub(crate) tick_keys: Vec<PartitionKey>,
    /// Followers' fetch sessions this leader holds until it has data for them, at most one per
    /// follower ([`fetch_session`]).
    pub(crate) parked_sessions: Vec<fetch_session::ParkedSession>,
    /// The leaders a partition asked to fetch from during this step, ascending and without
    /// duplicates: each gets one session request at its end. A vector kept between steps (a
    /// step wants one or two leaders), not a set allocated anew each step.
    pub(crate) sessions_wanted: Vec<u32>,
    /// An empty vector whose capacity a handler borrows for the partition keys it collects
    /// within one call ([`Replicas::take_keys`]), so that a busy leader does not allocate one
    /// per request.
    pub(crate) keys_spare: Vec<PartitionKey>,
    /// The same for the produces a partition answers at once: (local id, position, result).
    pub(crate) produce_answers_spare: Vec<(u64, usize, Result<u64, DataError>)>,
    /// Produce requests with a partition still unresolved, by a local id ([`produce`]).
    pub(crate) produces: BTreeMap<u64, produce::ProduceInProgress>,
    /// The local id of the last produce request noted.
    pub(crate) produce_next: u64,
    /// When the tick last checkpointed the high watermarks (`role::checkpoint_high_watermarks`).
    pub(crate) checkpointed_at_ns: u64,
}

impl Replicas {
    /// The spare key vector, empty, for one call to fill; hand it back with
    /// [`Replicas::return_keys`]. A nested call that takes it meanwhile gets a new one.
    pub(crate) fn take_keys(&mut self) -> Vec<PartitionKey> {
        debug_assert!(self.keys_spare.is_empty());
        std::mem::take(&mut self.keys_spare)
    }

    /// Keeps `keys`' capacity for the next [`Replicas::take_keys`].
    pub(crate) fn return_keys(&mut self, mut keys: Vec<PartitionKey>) {
        keys.clear();
        if keys.capacity() > self.keys_spare.capacity() {
            self.keys_spare = keys;
        }
    }
}

/// One replica of one partition.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) log: PartitionLog,
    /// The leader epoch of the metadata this replica acts on.
    pub(crate) leader_epoch: u64,
    pub(crate) partition_epoch: u64,
    pub(crate) role: ReplicaRole,
    /// The leader this replica followed last since the node started (zoo 2 compares with it).
    pub(crate) followed_last: Option<u32>,
    /// Every member of every ISR this replica asked of the controller, as leader, in the current
    /// partition epoch, sorted. Any one of those requests may still commit (a request retried or
    /// replaced after a timeout is not withdrawn), so a leader's HW counts them all, as Kafka's
    /// "maximal ISR" does (KIP-497): else a request replaced by a later one could commit after
    /// the HW passed a member's LEO, putting a replica that lacks committed records into the
    /// ISR. Kept here, not in the leader's state, because a leader that goes offline (its broker
    /// lost its epoch to a stale answer) and leads again in the same leader epoch finds its
    /// requests as open as it left them: with a fresh list it passed the LEO of a member its
    /// request had just added (campaign 108). Cleared when the partition epoch changes: the
    /// controller refuses requests naming an older one.
    pub(crate) isr_requested_members: Vec<u32>,
}

/// What a replica does.
#[derive(Debug)]
pub(crate) enum ReplicaRole {
    /// Neither leads nor follows (no leader, or this broker has no broker epoch).
    Offline,
    Leader(LeaderState),
    Follower(FollowerState),
}

/// A leader's view of its partition.
#[derive(Debug)]
pub(crate) struct LeaderState {
    /// The committed ISR (from the metadata).
    pub(crate) isr: Vec<u32>,
    pub(crate) min_insync_replicas: u32,
    pub(crate) followers: Followers,
    /// The end of this leader's own synced log (its LEO under `flush = "never"`).
    pub(crate) durable_end_offset: u64,
    pub(crate) pending: Vec<PendingProduce>,
    pub(crate) parked: Vec<ParkedFetch>,
    /// The ISR asked of the controller last, with the time it was asked; cleared by a metadata
    /// change. (Every member asked for in the partition epoch: [`Replica::isr_requested_members`].)
    pub(crate) isr_requested: Option<(Vec<u32>, u64)>,
    /// Zoo 6's planted bug only (`bugs.lose_producer_state_on_leader_change`): the producers
    /// this leader saw append while it leads, in place of the state its log implies.
    pub(crate) producers_seen: ProducerStates,
}

/// What a leader knows of each follower, in broker id order. A sorted vector: a partition has a
/// few replicas, so a lookup is a short scan, cheaper than a tree's (this is read after every
/// follower fetch, for the HW and the ISR). Invariant: ids strictly increase.
#[derive(Clone, Debug, Default)]
pub(crate) struct Followers(Vec<(u32, FollowerProgress)>);

impl Followers {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn get(&self, id: &u32) -> Option<&FollowerProgress> {
        self.0
            .iter()
            .find(|(follower, _)| follower == id)
            .map(|(_, progress)| progress)
    }

    pub(crate) fn get_mut(&mut self, id: &u32) -> Option<&mut FollowerProgress> {
        self.0
            .iter_mut()
            .find(|(follower, _)| follower == id)
            .map(|(_, progress)| progress)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &FollowerProgress)> {
        self.0.iter().map(|(id, progress)| (id, progress))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(id, _)| id)
    }
}

impl FromIterator<(u32, FollowerProgress)> for Followers {
    /// Sorted by id; panics on an id given twice (a replica list never names a broker twice).
    fn from_iter<I: IntoIterator<Item = (u32, FollowerProgress)>>(entries: I) -> Self {
        let mut followers: Vec<(u32, FollowerProgress)> = entries.into_iter().collect();
        followers.sort_by_key(|(id, _)| *id);
        assert!(
            followers.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "a follower named twice"
        );
        Followers(followers)
    }
}

impl std::ops::Index<&u32> for Followers {
    type Output = FollowerProgress;

    fn index(&self, id: &u32) -> &FollowerProgress {
        self.get(id)
            .unwrap_or_else(|| panic!("broker {id} is not a follower"))
    }
}

/// What a leader knows of one follower.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FollowerProgress {
    /// The fetch offset of its latest fetch (its LEO then), if it fetched in this epoch.
    pub(crate) log_end_offset: Option<u64>,
    /// When it last fetched at or past the leader's LEO.
    pub(crate) last_caught_up_ns: u64,
}

/// One partition of a produce request, appended and waiting for its acknowledgement.
#[derive(Clone, Debug)]
pub(crate) struct PendingProduce {
    /// The local id of its request (see [`Replicas::produces`]).
    pub(crate) produce: u64,
    /// The partition's position in the request.
    pub(crate) position: usize,
    pub(crate) acks: Acks,
    pub(crate) base_offset: u64,
    pub(crate) end_offset: u64,
    pub(crate) deadline_ns: u64,
}

/// A consumer's fetch with nothing to return yet.
#[derive(Clone, Debug)]
pub(crate) struct ParkedFetch {
    pub(crate) from: u32,
    pub(crate) request: FetchRequest,
    pub(crate) deadline_ns: u64,
}

/// A follower's replication loop.
#[derive(Clone, Debug)]
pub(crate) struct FollowerState {
    pub(crate) leader: u32,
    pub(crate) phase: FollowerPhase,
    /// The request awaiting an answer, if any.
    pub(crate) in_flight: Option<u64>,
    /// Whether the partition asked for a fetch in its leader's next session request.
    pub(crate) fetch_wanted: bool,
    /// When the last request was sent or the last error answer arrived.
    pub(crate) sent_at_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FollowerPhase {
    /// Searching the divergence point: asking about the log's latest epoch.
    Searching,
    Fetching,
}

impl Replica {
    /// A replica of `log` in `leader_epoch`, in `role`, in partition epoch 0, having followed
    /// no one and asked for no ISR change.
    pub(crate) fn new(log: PartitionLog, leader_epoch: u64, role: ReplicaRole) -> Self {
        Replica {
            log,
            leader_epoch,
            partition_epoch: 0,
            role,
            followed_last: None,
            isr_requested_members: Vec::new(),
        }
    }

    pub(crate) fn is_leader(&self) -> bool {
        matches!(self.role, ReplicaRole::Leader(_))
    }

    pub(crate) fn leader_state(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            ReplicaRole::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    /// Asserts the replica's invariants (see module docs).
    pub(crate) fn check_invariants(&self, node: u32, key: &PartitionKey, limits_in_flight: u32) {
        self.log.check_invariants();
        if let ReplicaRole::Leader(leader) = &self.role {
            assert!(
                leader.isr.contains(&node),
                "{key:?}: leader {node} not in its ISR {:?}",
                leader.isr
            );
            assert!(
                leader.durable_end_offset <= self.log.log_end_offset(),
                "{key:?}: durable end offset {} past the LEO {}",
                leader.durable_end_offset,
                self.log.log_end_offset()
            );
            assert!(leader.pending.len() <= limits_in_flight as usize);
            for pending in &leader.pending {
                assert!(pending.end_offset <= self.log.log_end_offset());
            }
        }
    }
}

/// A read-only view of one replica, for drivers and checkers.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaView<'a> {
    pub topic: &'a TopicName,
    pub partition: u32,
    pub is_leader: bool,
    /// The leader epoch the replica acts on.
    pub leader_epoch: u64,
    pub log: &'a PartitionLog,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(log_end_offset: u64) -> FollowerProgress {
        FollowerProgress {
            log_end_offset: Some(log_end_offset),
            last_caught_up_ns: 0,
        }
    }

    #[test]
    fn followers_iterate_in_id_order_and_find_each_id() {
        let followers: Followers = [(5, progress(50)), (1, progress(10)), (3, progress(30))]
            .into_iter()
            .collect();
        let ids: Vec<u32> = followers.keys().copied().collect();
        assert_eq!(ids, vec![1, 3, 5]);
        assert_eq!(followers.len(), 3);
        assert_eq!(followers[&3].log_end_offset, Some(30));
        assert!(followers.get(&2).is_none());
    }

    #[test]
    #[should_panic(expected = "a follower named twice")]
    fn a_follower_named_twice_is_a_bug() {
        let _: Followers = [(1, progress(0)), (1, progress(1))].into_iter().collect();
    }
}
