//! What a TCP connection gives a broker: a request is handled at most once.
//!
//! Kafka runs over TCP, which never delivers a request twice. The simulated network may (its
//! `duplication` ratio), and a request handled twice is not harmless: a duplicated produce request
//! would be appended at two offsets, a duplicated create-topic request answered TOPIC_EXISTS. So a
//! node remembers, per sender, the ids of the last `limits.request_window_max` requests it handled
//! ([`crate::Message::request_id`]) and drops a request whose id it has already seen from that
//! sender, before any handler sees it.
//!
//! The contract with senders: a sender never sends two different requests with one id (a retry
//! is a new request with a fresh id, as it is a new message on a TCP stream), and its ids do not
//! repeat across its restarts: each incarnation starts its ids at a random initial number, like
//! TCP's initial sequence numbers ([`initial_request_id`]), so ids of an old incarnation still in
//! flight never collide with the new one's (the chance is about `window / 2^62` per restart).
//!
//! Limits and what they cost: a duplicate is dropped only while its original is among the last
//! `limits.request_window_max` requests of its sender, and only for the last
//! `limits.request_senders_max` senders (the least recently heard is forgotten first). The
//! simulated network delivers a duplicate within one latency draw of the original, far inside
//! the default window. The windows live in memory: a restarted node forgets them, but the network
//! drops every message addressed to a previous incarnation (a TCP connection does not survive
//! its server's restart), so no duplicate of a request it handled can reach the new incarnation.
//!
//! Responses are not deduplicated here: every client and follower handles only the answer to the
//! request it awaits and ignores any other (a duplicate, or a late answer to a retried request).

use std::collections::{BTreeMap, VecDeque};

/// The request ids a node has seen, per sender.
#[derive(Debug, Default)]
pub(crate) struct RequestWindows {
    senders: BTreeMap<u32, SenderWindow>,
    /// Bumped at every admitted request: orders the senders by their latest request.
    heard_next: u64,
}

/// The last request ids of one sender, oldest first, and the same ids sorted.
///
/// A sender counts its ids up, so they mostly arrive in increasing order: a new id goes at the
/// back of `sorted` and the oldest leaves from its front, each without moving the others (a
/// reordered id costs a shift of the few ids it lands among). No allocation once the window is
/// full, unlike a tree set's node per id.
#[derive(Debug, Default)]
struct SenderWindow {
    order: VecDeque<u64>,
    sorted: VecDeque<u64>,
    heard: u64,
}

impl SenderWindow {
    fn contains(&self, request_id: u64) -> bool {
        // The common case, a fresh id above every id seen, without a search.
        if self.sorted.back().is_none_or(|&newest| newest < request_id) {
            return false;
        }
        self.sorted.binary_search(&request_id).is_ok()
    }

    fn insert(&mut self, request_id: u64) {
        self.order.push_back(request_id);
        // The common case, a fresh id above every id seen: at the back, without a search.
        if self.sorted.back().is_none_or(|&newest| newest < request_id) {
            self.sorted.push_back(request_id);
            return;
        }
        let position = self.sorted.partition_point(|&seen| seen < request_id);
        debug_assert!(
            self.sorted.get(position) != Some(&request_id),
            "inserted once"
        );
        self.sorted.insert(position, request_id);
    }

    /// Forgets the oldest id. Returns false if the window was empty.
    fn forget_oldest(&mut self) -> bool {
        let Some(oldest) = self.order.pop_front() else {
            return false;
        };
        // The common case, ids heard in increasing order: the oldest is the smallest.
        if self.sorted.front() == Some(&oldest) {
            self.sorted.pop_front();
            return true;
        }
        let position = self
            .sorted
            .binary_search(&oldest)
            .expect("the window's order and sorted ids hold the same ids");
        self.sorted.remove(position);
        true
    }
}

/// How a node admits requests: the bounds of [`crate::LimitsConfig`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowLimits {
    pub(crate) request_window_max: u32,
    pub(crate) request_senders_max: u32,
}

impl RequestWindows {
    /// Records request `request_id` of `from`. False if it was seen already: drop it.
    pub(crate) fn admit(&mut self, from: u32, request_id: u64, limits: WindowLimits) -> bool {
        assert!(limits.request_window_max > 0 && limits.request_senders_max > 0);
        if !self.senders.contains_key(&from) {
            self.forget_senders_beyond(limits.request_senders_max as usize - 1);
        }
        self.heard_next += 1;
        let heard = self.heard_next;
        let window = self.senders.entry(from).or_default();
        if window.contains(request_id) {
            return false;
        }
        window.heard = heard;
        window.insert(request_id);
        if window.order.len() > limits.request_window_max as usize {
            let forgot = window.forget_oldest();
            assert!(forgot, "longer than the window");
        }
        assert_eq!(window.order.len(), window.sorted.len());
        assert!(window.order.len() <= limits.request_window_max as usize);
        assert!(self.senders.len() <= limits.request_senders_max as usize);
        true
    }

    /// Forgets the least recently heard senders until at most `senders_max` remain.
    fn forget_senders_beyond(&mut self, senders_max: usize) {
        while self.senders.len() > senders_max {
            let quietest = self
                .senders
                .iter()
                .min_by_key(|(_, window)| window.heard)
                .map(|(sender, _)| *sender)
                .expect("more senders than the bound");
            self.senders.remove(&quietest);
        }
    }
}

/// The ids a client gives its requests: a fresh one for every request (retries included),
/// starting at a random point per incarnation ([`RequestIds::start`]), as the contract above
/// asks of every sender.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestIds {
    last: u64,
}

impl RequestIds {
    /// A new incarnation starts counting from `initial_request_id(draw)`.
    pub(crate) fn start(&mut self, draw: u64) {
        self.last = initial_request_id(draw);
    }

    /// A fresh id.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}

/// The first request id of a sender's incarnation, from a random draw: below 2^62, so that
/// counting up from it never overflows, and unlikely to be near any earlier incarnation's ids.
pub(crate) fn initial_request_id(draw: u64) -> u64 {
    draw >> 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WindowLimits = WindowLimits {
        request_window_max: 3,
        request_senders_max: 2,
    };

    #[test]
    fn a_request_is_admitted_once_per_sender() {
        let mut windows = RequestWindows::default();
        assert!(windows.admit(7, 10, LIMITS));
        assert!(!windows.admit(7, 10, LIMITS), "a duplicate is dropped");
        assert!(
            windows.admit(8, 10, LIMITS),
            "another sender's id is its own"
        );
        assert!(windows.admit(7, 11, LIMITS));
        assert!(!windows.admit(7, 11, LIMITS));
    }

    #[test]
    fn the_window_is_bounded_and_forgets_the_oldest_ids() {
        let mut windows = RequestWindows::default();
        for id in 1..=4 {
            assert!(windows.admit(7, id, LIMITS));
        }
        assert!(!windows.admit(7, 4, LIMITS));
        assert!(!windows.admit(7, 2, LIMITS), "still in the window");
        assert!(
            windows.admit(7, 1, LIMITS),
            "beyond the window: forgotten (the documented limit)"
        );
    }

    #[test]
    fn reordered_ids_are_admitted_once_and_forgotten_in_arrival_order() {
        let mut windows = RequestWindows::default();
        for id in [5, 3, 4] {
            assert!(windows.admit(7, id, LIMITS));
        }
        for id in [3, 4, 5] {
            assert!(!windows.admit(7, id, LIMITS), "{id} is in the window");
        }
        assert!(windows.admit(7, 1, LIMITS), "below every id seen, but new");
        assert!(
            windows.admit(7, 5, LIMITS),
            "5 arrived first: forgotten first, though not the smallest"
        );
        assert!(!windows.admit(7, 1, LIMITS));
        assert!(!windows.admit(7, 4, LIMITS));
    }

    #[test]
    fn the_least_recently_heard_sender_is_forgotten_first() {
        let mut windows = RequestWindows::default();
        assert!(windows.admit(1, 5, LIMITS));
        assert!(windows.admit(2, 5, LIMITS));
        assert!(!windows.admit(1, 5, LIMITS), "sender 1 is still known");
        assert!(windows.admit(1, 6, LIMITS), "sender 1 heard last");
        assert!(
            windows.admit(3, 5, LIMITS),
            "a third sender: 2 is forgotten"
        );
        assert!(!windows.admit(1, 6, LIMITS));
        assert!(windows.admit(2, 5, LIMITS), "sender 2 was forgotten");
    }

    #[test]
    fn initial_request_ids_leave_room_to_count() {
        assert_eq!(initial_request_id(u64::MAX), u64::MAX >> 2);
        assert!(initial_request_id(u64::MAX).checked_add(1 << 61).is_some());
    }
}
