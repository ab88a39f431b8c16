//! The event queue, totally ordered by (simulated time in ns, insertion sequence).
//!
//! Ties in time are broken by the order events were scheduled, never by memory layout or hash
//! order, so the order of processing is a pure function of the seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The heap orders small keys; payloads sit still in a slab, so sifting moves 24 bytes, not a
/// whole event.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
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
        self.next_sequence += 1;
        let slot = match self.free_payloads.pop() {
            Some(slot) => {
                debug_assert!(self.payloads[slot as usize].is_none());
                self.payloads[slot as usize] = Some(event);
                slot
            }
            None => {
                self.payloads.push(Some(event));
                u32::try_from(self.payloads.len() - 1).expect("fewer than 2^32 queued events")
            }
        };
        self.heap.push(Reverse((time_ns, sequence, slot)));
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let Reverse((time_ns, _, slot)) = self.heap.pop()?;
        let event = self.payloads[slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free_payloads.push(slot);
        Some((time_ns, event))
    }

    pub fn peek_time_ns(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((time_ns, _, _))| *time_ns)
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
