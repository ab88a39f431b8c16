//! Partitions whose leader has gone silent: fetched, and not answered since.
//!
//! Why: a consumer's poll ends at its deadline whether or not every fetch was answered, and the
//! next poll fetches again from the leader the metadata names. A leader that is paused or cut
//! off never answers. If leadership moved meanwhile, a consumer that kept asking the silent
//! broker read nothing of the partition until that broker woke and refused. Kafka's consumer
//! drops a connection whose request went unanswered past `request.timeout.ms` and asks for the
//! metadata again; a consumer here forgets the leader of a partition whose fetches went
//! unanswered for its request timeout, and the next poll looks the leader up.
//!
//! Invariant: one entry per partition ever fetched (so the list is bounded by the partitions a
//! consumer reads), holding the time of its earliest fetch not answered since, if any.

/// The silence of each partition a consumer fetched.
#[derive(Debug)]
pub(crate) struct SilentLeaders<K> {
    /// Per partition: when the earliest fetch not answered since was sent, `None` if answered.
    partitions: Vec<(K, Option<u64>)>,
}

impl<K> Default for SilentLeaders<K> {
    fn default() -> Self {
        SilentLeaders {
            partitions: Vec::new(),
        }
    }
}

impl<K: PartialEq + Clone> SilentLeaders<K> {
    /// A fetch of `key` was sent at `now_ns`: the partition is silent from now, unless it
    /// already was.
    pub(crate) fn fetched(&mut self, key: &K, now_ns: u64) {
        match self.partitions.iter_mut().find(|(held, _)| held == key) {
            Some((_, since_ns)) => {
                since_ns.get_or_insert(now_ns);
            }
            None => self.partitions.push((key.clone(), Some(now_ns))),
        }
    }

    /// The leader of `key` answered a fetch (records, nothing, or an error; in time for its poll
    /// or not).
    pub(crate) fn answered(&mut self, key: &K) {
        if let Some((_, since_ns)) = self.partitions.iter_mut().find(|(held, _)| held == key) {
            *since_ns = None;
        }
    }

    /// Every partition unanswered for `timeout_ns` or longer, each counted answered again: its
    /// leader is to be looked up, and its next fetch starts a new wait.
    pub(crate) fn take_silent(&mut self, now_ns: u64, timeout_ns: u64) -> Vec<K> {
        let mut silent = Vec::new();
        for (key, since_ns) in &mut self.partitions {
            if since_ns.is_some_and(|since_ns| since_ns + timeout_ns <= now_ns) {
                *since_ns = None;
                silent.push(key.clone());
            }
        }
        silent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT_NS: u64 = 100;

    #[test]
    fn a_partition_unanswered_for_the_timeout_is_silent_once() {
        let mut leaders = SilentLeaders::default();
        leaders.fetched(&7u32, 10);
        leaders.fetched(&7, 50); // Still unanswered: the wait runs from the first fetch.
        assert!(leaders.take_silent(109, TIMEOUT_NS).is_empty());
        assert_eq!(leaders.take_silent(110, TIMEOUT_NS), vec![7]);
        assert!(
            leaders.take_silent(500, TIMEOUT_NS).is_empty(),
            "taken once; the next fetch starts a new wait"
        );
    }

    #[test]
    fn an_answer_ends_the_wait() {
        let mut leaders = SilentLeaders::default();
        leaders.fetched(&1u32, 0);
        leaders.fetched(&2, 0);
        leaders.answered(&1);
        assert_eq!(leaders.take_silent(TIMEOUT_NS, TIMEOUT_NS), vec![2]);
        leaders.fetched(&1, 60);
        assert!(leaders.take_silent(150, TIMEOUT_NS).is_empty());
        assert_eq!(leaders.take_silent(160, TIMEOUT_NS), vec![1]);
    }
}
