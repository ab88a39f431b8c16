//! The event queue, totally ordered by (simulated time in ns, insertion sequence).
//!
//! Ties in time are broken by the order events were scheduled, never by memory layout or hash
//! order, so the order of processing is a pure function of the seed.
//!
//! Two lanes, one order. Timers go in their own lane ([`EventQueue::push_timer`]): they are set
//! far ahead and mostly replaced before they fire, so in a busy run nearly all queued events are
//! stale timers. Keeping them apart keeps the lane that messages and disk completions pass
//! through small, and a pop compares the two lanes' earliest keys. Keys are unique across lanes
//! (one sequence counter), so events pop in exactly the order one heap would give.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bits of a key that hold the payload's slot; the sequence number takes the bits above them.
const SLOT_BITS: u32 = 24;
/// The most events queued at once (slots are 24-bit).
pub const QUEUED_EVENTS_MAX: usize = 1 << SLOT_BITS;
/// The most events one queue ever takes (sequence numbers are 40-bit).
pub const PUSHED_EVENTS_MAX: u64 = 1 << (64 - SLOT_BITS);

/// The heap orders 16-byte keys, `time << 64 | sequence << 24 | slot`: one integer comparison
/// orders by time then insertion sequence (sequences are unique, so the slot bits never
/// decide). Payloads sit still in a slab, so sifting moves 16 bytes, not a whole event.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// Keys of everything but timers.
    heap: BinaryHeap<Reverse<u128>>,
    /// Keys of timers.
    timer_heap: BinaryHeap<Reverse<u128>>,
    payloads: Vec<Option<E>>,
    free_payloads: Vec<u32>,
    next_sequence: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            timer_heap: BinaryHeap::new(),
            payloads: Vec::new(),
            free_payloads: Vec::new(),
            next_sequence: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, time_ns: u64, event: E) {
        let key = self.key(time_ns, event);
        self.heap.push(Reverse(key));
    }

    /// [`EventQueue::push`] for a timer: ordered the same, kept in the timer lane.
    pub fn push_timer(&mut self, time_ns: u64, event: E) {
        let key = self.key(time_ns, event);
        self.timer_heap.push(Reverse(key));
    }

    /// Stores the payload and returns its key: `time << 64 | sequence << 24 | slot`.
    fn key(&mut self, time_ns: u64, event: E) -> u128 {
        let sequence = self.next_sequence;
        assert!(sequence < PUSHED_EVENTS_MAX, "pushed_events_max exceeded");
        self.next_sequence += 1;
        let slot = match self.free_payloads.pop() {
            Some(slot) => {
                debug_assert!(self.payloads[slot as usize].is_none());
                self.payloads[slot as usize] = Some(event);
                slot
            }
            None => {
                assert!(
                    self.payloads.len() < QUEUED_EVENTS_MAX,
                    "queued_events_max exceeded"
                );
                self.payloads.push(Some(event));
                (self.payloads.len() - 1) as u32
            }
        };
        let order = (sequence << SLOT_BITS) | u64::from(slot);
        (u128::from(time_ns) << 64) | u128::from(order)
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let (_, in_timer_lane) = self.earliest()?;
        let lane = if in_timer_lane {
            &mut self.timer_heap
        } else {
            &mut self.heap
        };
        let Reverse(key) = lane.pop().expect("the earliest key's lane holds it");
        let time_ns = (key >> 64) as u64;
        let slot = (key as u64 & ((1 << SLOT_BITS) - 1)) as usize;
        let event = self.payloads[slot]
            .take()
            .expect("a queued slot holds its event");
        self.free_payloads.push(slot as u32);
        Some((time_ns, event))
    }

    /// The earliest event, left in place.
    pub fn peek(&self) -> Option<&E> {
        let (key, _) = self.earliest()?;
        let slot = (key as u64 & ((1 << SLOT_BITS) - 1)) as usize;
        self.payloads[slot].as_ref()
    }

    pub fn peek_time_ns(&self) -> Option<u64> {
        self.earliest().map(|(key, _)| (key >> 64) as u64)
    }

    /// The earliest key of both lanes, and whether it is in the timer lane.
    fn earliest(&self) -> Option<(u128, bool)> {
        let event = self.heap.peek().map(|Reverse(key)| *key);
        let timer = self.timer_heap.peek().map(|Reverse(key)| *key);
        match (event, timer) {
            (Some(event), Some(timer)) => Some((event.min(timer), timer < event)),
            (Some(event), None) => Some((event, false)),
            (None, timer) => timer.map(|timer| (timer, true)),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.timer_heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.timer_heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_insertion() {
        let mut queue = EventQueue::default();
        queue.push(20, "late");
        queue.push(10, "first at ten");
        queue.push(10, "second at ten");
        queue.push(5, "early");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![
                (5, "early"),
                (10, "first at ten"),
                (10, "second at ten"),
                (20, "late")
            ]
        );
    }

    #[test]
    fn timers_interleave_with_events_as_one_heap_would() {
        let mut queue = EventQueue::default();
        queue.push_timer(10, "timer at ten, first");
        queue.push(10, "event at ten, second");
        queue.push_timer(10, "timer at ten, third");
        queue.push(3, "event at three");
        queue.push_timer(30, "timer at thirty");
        queue.push_timer(1, "timer at one");
        assert_eq!(queue.len(), 6);
        assert_eq!(queue.peek_time_ns(), Some(1));
        assert_eq!(
            queue.peek(),
            Some(&"timer at one"),
            "peek leaves it in place"
        );
        assert_eq!(queue.len(), 6);
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![
                (1, "timer at one"),
                (3, "event at three"),
                (10, "timer at ten, first"),
                (10, "event at ten, second"),
                (10, "timer at ten, third"),
                (30, "timer at thirty")
            ]
        );
        assert!(queue.is_empty() && queue.peek_time_ns().is_none());
    }
}
