//! The event queue, totally ordered by (simulated time in ns, insertion sequence).
//!
//! Ties in time are broken by the order events were scheduled, never by memory layout or hash
//! order, so the order of processing is a pure function of the seed.

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
    heap: BinaryHeap<Reverse<u128>>,
    payloads: Vec<Option<E>>,
    free_payloads: Vec<u32>,
    next_sequence: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            payloads: Vec::new(),
            free_payloads: Vec::new(),
            next_sequence: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, time_ns: u64, event: E) {
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
        self.heap
            .push(Reverse((u128::from(time_ns) << 64) | u128::from(order)));
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let Reverse(key) = self.heap.pop()?;
        let time_ns = (key >> 64) as u64;
        let slot = (key as u64 & ((1 << SLOT_BITS) - 1)) as usize;
        let event = self.payloads[slot]
            .take()
            .expect("a queued slot holds its event");
        self.free_payloads.push(slot as u32);
        Some((time_ns, event))
    }

    pub fn peek_time_ns(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(key)| (*key >> 64) as u64)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
