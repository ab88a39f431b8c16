//! Walks each producer process's acknowledged sends of each key in completion order and hands
//! every pair of successive sends (within one operation, or across two) to an analysis. Only
//! `ok` operations count: an indeterminate send's offset proves nothing.

use std::collections::BTreeMap;

use super::anomaly::Record;
use super::consumer_position::{Position, Step};
use super::context::Context;
use super::model::{EventId, KeyId, Outcome};

/// Calls `visit` with each step of each process's acknowledged sends.
pub fn walk_sends(context: &Context, mut visit: impl FnMut(Step)) {
    let model = context.model;
    let mut positions: Vec<BTreeMap<KeyId, Position>> =
        vec![BTreeMap::new(); model.process_count()];
    for (event_id, event) in model.events.iter().enumerate() {
        if event.outcome() != Outcome::Ok {
            continue;
        }
        let by_key = &mut positions[event.process_slot as usize];
        for send in model.sends_of(event) {
            let offset = send.offset.expect("ok sends carry offsets");
            let index = context
                .orders
                .of(send.key)
                .index_of(offset)
                .expect("every acknowledged offset is in the version order");
            let current = Position {
                index,
                record: Record {
                    offset,
                    value: send.value,
                },
                event: event_id as EventId,
            };
            if let Some(previous) = by_key.insert(send.key, current) {
                visit(Step {
                    key: send.key,
                    previous,
                    current,
                });
            }
        }
    }
}
