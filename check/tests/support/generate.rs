//! Histories generated from a correct in-memory log model, for the property test and the
//! benchmark. Every run of the model is a legal Kafka execution, so the checker must find
//! nothing in it (drained, exactly-once, assign mode):
//!
//! - keys are logs; each append gets the next offset, and transactions leave a marker offset
//!   (and aborted transactions their invisible records) behind, so offsets are sparse;
//! - producers append at invocation and acknowledge later (a concurrent poll may see the record
//!   before the acknowledgement); some sends fail (no effect) or end `info` (effect or not, then
//!   the process is replaced);
//! - transactional producers apply all their records atomically at completion, or abort;
//! - free consumers (`assign`) read their keys from the start and change assignment;
//! - a consumer group's members poll their keys from their positions, usually commit right
//!   after, and resume keys from the group's committed offsets at a rebalance (eager), or keep
//!   the keys they are assigned again with their positions (cooperative);
//! - consume-transform-produce processes poll their own keys, send, and commit their offsets in
//!   one transaction that takes effect at once or aborts;
//! - a final drain reads every key to its end and commits the groups' offsets.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// One line of a generated history.
#[derive(Debug, Clone)]
pub struct Line {
    pub process: u64,
    pub kind: &'static str,
    pub f: &'static str,
    pub group: Option<&'static str>,
    pub value: Value,
}

/// The shape of a generated history.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub keys: usize,
    pub producers: usize,
    pub transactional_producers: usize,
    pub free_consumers: usize,
    pub group_members: usize,
    /// Consume-transform-produce processes: each polls its own keys, sends, and commits its
    /// offsets inside one transaction (group [`TRANSACTIONAL_GROUP`]).
    pub transactional_consumers: usize,
    /// Lines to generate before the final drain.
    pub lines: usize,
    /// The group's rebalance protocol: cooperative members keep the keys they are assigned
    /// again with their positions; eager members resume every key from its committed offset.
    pub cooperative: bool,
}

impl Shape {
    pub fn small() -> Self {
        Self {
            keys: 3,
            producers: 2,
            transactional_producers: 1,
            free_consumers: 2,
            group_members: 2,
            transactional_consumers: 1,
            lines: 200,
            cooperative: false,
        }
    }
}

pub const GROUP: &str = "g";
pub const TRANSACTIONAL_GROUP: &str = "tg";
/// The most records one poll returns (Kafka's `max.poll.records`, scaled down).
pub const POLL_RECORDS_MAX: usize = 8;
/// The most keys a free consumer assigns itself.
pub const ASSIGNED_KEYS_MAX: usize = 4;

#[derive(Debug, Default, Clone)]
struct KeyLog {
    /// Visible records: (offset, value).
    records: Vec<(u64, i64)>,
    next_offset: u64,
}

#[derive(Debug, Clone)]
enum Pending {
    Send {
        sends: Vec<(usize, i64, Option<u64>)>,
    },
    Poll,
    Txn {
        sends: Vec<(usize, i64)>,
    },
}

#[derive(Debug, Clone)]
struct Consumer {
    process: u64,
    keys: Vec<usize>,
    /// Key -> index into the key's visible records of the next record to read.
    positions: BTreeMap<usize, usize>,
}

/// The model and the history it writes.
#[derive(Debug)]
pub struct Generator {
    random: ChaCha8Rng,
    shape: Shape,
    logs: Vec<KeyLog>,
    next_value: i64,
    next_process: u64,
    pub lines: Vec<Line>,
    /// Producer slot -> (process, outstanding operation).
    producers: Vec<(u64, Option<Pending>)>,
    transactional: Vec<(u64, Option<Pending>)>,
    free_consumers: Vec<(Consumer, bool)>,
    members: Vec<Consumer>,
    /// Transactional consumers and their outstanding transaction's completion, if any.
    transactional_consumers: Vec<(Consumer, Option<(&'static str, Value)>)>,
    /// Key -> the group's committed position (index into visible records).
    committed: BTreeMap<usize, usize>,
    generation: u64,
}

pub fn key_name(key: usize) -> String {
    format!("t/{key}")
}

impl Generator {
    pub fn new(seed: u64, shape: Shape) -> Self {
        let mut generator = Self {
            random: ChaCha8Rng::seed_from_u64(seed),
            shape,
            logs: vec![KeyLog::default(); shape.keys],
            next_value: 0,
            next_process: 0,
            lines: Vec::with_capacity(shape.lines + 1024),
            producers: Vec::new(),
            transactional: Vec::new(),
            free_consumers: Vec::new(),
            members: Vec::new(),
            transactional_consumers: Vec::new(),
            committed: BTreeMap::new(),
            generation: 0,
        };
        for _ in 0..shape.producers {
            let process = generator.new_process();
            generator.producers.push((process, None));
        }
        for _ in 0..shape.transactional_producers {
            let process = generator.new_process();
            generator.transactional.push((process, None));
        }
        for _ in 0..shape.free_consumers {
            let process = generator.new_process();
            let consumer = Consumer {
                process,
                keys: Vec::new(),
                positions: BTreeMap::new(),
            };
            generator.free_consumers.push((consumer, false));
        }
        for slot in 0..shape.transactional_consumers {
            let process = generator.new_process();
            let keys = (0..shape.keys)
                .filter(|key| key % shape.transactional_consumers == slot)
                .collect();
            let consumer = Consumer {
                process,
                keys,
                positions: BTreeMap::new(),
            };
            generator.transactional_consumers.push((consumer, None));
        }
        for _ in 0..shape.group_members {
            let process = generator.new_process();
            generator.members.push(Consumer {
                process,
                keys: Vec::new(),
                positions: BTreeMap::new(),
            });
        }
        generator
    }

    /// Generates the whole history: random steps, then completion of everything and a drain.
    pub fn generate(seed: u64, shape: Shape) -> Vec<Line> {
        let mut generator = Self::new(seed, shape);
        for member in 0..generator.members.len() {
            let process = generator.members[member].process;
            generator.emit(process, "invoke", "subscribe", Some(GROUP), json!(["t"]));
            generator.emit(process, "ok", "subscribe", Some(GROUP), json!(["t"]));
        }
        generator.rebalance();
        for slot in 0..generator.transactional_consumers.len() {
            let consumer = generator.transactional_consumers[slot].0.clone();
            let names: Vec<String> = consumer.keys.iter().map(|&key| key_name(key)).collect();
            let group = Some(TRANSACTIONAL_GROUP);
            generator.emit(consumer.process, "invoke", "assign", group, json!(names));
            generator.emit(consumer.process, "ok", "assign", group, json!(names));
        }
        while generator.lines.len() < shape.lines {
            generator.step();
        }
        generator.finish();
        generator.lines
    }

    fn new_process(&mut self) -> u64 {
        self.next_process += 1;
        self.next_process - 1
    }

    fn new_value(&mut self) -> i64 {
        self.next_value += 1;
        self.next_value
    }

    fn emit(
        &mut self,
        process: u64,
        kind: &'static str,
        f: &'static str,
        group: Option<&'static str>,
        value: Value,
    ) {
        self.lines.push(Line {
            process,
            kind,
            f,
            group,
            value,
        });
    }

    fn step(&mut self) {
        let choice = self.random.random_range(0..100u32);
        match choice {
            0..35 if !self.producers.is_empty() => {
                let slot = self.random.random_range(0..self.producers.len());
                self.step_producer(slot);
            }
            35..45 if !self.transactional.is_empty() => {
                let slot = self.random.random_range(0..self.transactional.len());
                self.step_transactional(slot);
            }
            45..75 if !self.free_consumers.is_empty() => {
                let slot = self.random.random_range(0..self.free_consumers.len());
                self.step_free_consumer(slot);
            }
            75..90 if !self.members.is_empty() => {
                let member = self.random.random_range(0..self.members.len());
                self.step_member(member);
            }
            90..97 if !self.transactional_consumers.is_empty() => {
                let slot = self
                    .random
                    .random_range(0..self.transactional_consumers.len());
                self.step_transactional_consumer(slot);
            }
            97..100 if !self.members.is_empty() => self.rebalance(),
            _ => {}
        }
    }

    // ---- producers ----

    fn append(&mut self, key: usize, value: i64) -> u64 {
        let log = &mut self.logs[key];
        let offset = log.next_offset;
        log.records.push((offset, value));
        log.next_offset += 1;
        offset
    }

    fn step_producer(&mut self, slot: usize) {
        let (process, pending) = self.producers[slot].clone();
        match pending {
            None => {
                let count = self.random.random_range(1..=3usize);
                let mut sends = Vec::new();
                for _ in 0..count {
                    let key = self.random.random_range(0..self.shape.keys);
                    sends.push((key, self.new_value()));
                }
                let invoked: Vec<Value> = sends
                    .iter()
                    .map(|&(key, value)| json!(["send", key_name(key), value]))
                    .collect();
                self.emit(process, "invoke", "send", None, json!(invoked));
                let outcome = self.random.random_range(0..100u32);
                let applied = outcome >= 5 && !(outcome < 8 && self.random.random_bool(0.5));
                let sends = sends
                    .into_iter()
                    .map(|(key, value)| (key, value, applied.then(|| self.append(key, value))))
                    .collect();
                self.producers[slot].1 = Some(Pending::Send { sends });
                if outcome < 5 {
                    self.emit(process, "fail", "send", None, Value::Null);
                    self.producers[slot].1 = None;
                } else if outcome < 8 {
                    self.emit(process, "info", "send", None, Value::Null);
                    self.producers[slot] = (self.new_process(), None);
                }
            }
            Some(Pending::Send { sends }) => {
                let completed: Vec<Value> = sends
                    .iter()
                    .map(|&(key, value, offset)| {
                        json!(["send", key_name(key), [offset.expect("applied"), value]])
                    })
                    .collect();
                self.emit(process, "ok", "send", None, json!(completed));
                self.producers[slot].1 = None;
            }
            Some(_) => unreachable!("producers only send"),
        }
    }

    fn step_transactional(&mut self, slot: usize) {
        let (process, pending) = self.transactional[slot].clone();
        match pending {
            None => {
                let count = self.random.random_range(1..=4usize);
                let mut sends = Vec::new();
                for _ in 0..count {
                    let key = self.random.random_range(0..self.shape.keys);
                    sends.push((key, self.new_value()));
                }
                let invoked: Vec<Value> = sends
                    .iter()
                    .map(|&(key, value)| json!(["send", key_name(key), value]))
                    .collect();
                self.emit(process, "invoke", "txn", None, json!(invoked));
                self.transactional[slot].1 = Some(Pending::Txn { sends });
            }
            Some(Pending::Txn { sends }) => {
                let commit = self.random.random_range(0..100u32) >= 10;
                let mut touched: Vec<usize> = sends.iter().map(|&(key, _)| key).collect();
                touched.sort_unstable();
                touched.dedup();
                if commit {
                    let completed: Vec<Value> = sends
                        .iter()
                        .map(|&(key, value)| {
                            let offset = self.append(key, value);
                            json!(["send", key_name(key), [offset, value]])
                        })
                        .collect();
                    self.emit(process, "ok", "txn", None, json!(completed));
                } else {
                    // Aborted records occupy offsets but are never visible.
                    for &(key, _) in &sends {
                        self.logs[key].next_offset += 1;
                    }
                    self.emit(process, "fail", "txn", None, Value::Null);
                }
                // The commit or abort marker.
                for key in touched {
                    self.logs[key].next_offset += 1;
                }
                self.transactional[slot].1 = None;
            }
            Some(_) => unreachable!("transactional producers only run transactions"),
        }
    }

    // ---- consumers ----

    /// Reads a few records (at most [`POLL_RECORDS_MAX`] in all) from the consumer's keys,
    /// starting at a random one of them, from its positions.
    fn read(&mut self, consumer: &mut Consumer) -> Value {
        let mut polled = serde_json::Map::new();
        let mut budget = self.random.random_range(0..=POLL_RECORDS_MAX);
        let start = self.random.random_range(0..consumer.keys.len().max(1));
        for turn in 0..consumer.keys.len() {
            let key = consumer.keys[(start + turn) % consumer.keys.len()];
            let position = consumer.positions.entry(key).or_insert(0);
            let available = &self.logs[key].records[*position..];
            let count = budget.min(available.len());
            if count == 0 {
                continue;
            }
            budget -= count;
            let records: Vec<Value> = available[..count]
                .iter()
                .map(|&(offset, value)| json!([offset, value]))
                .collect();
            *position += count;
            polled.insert(key_name(key), json!(records));
        }
        json!([["poll", Value::Object(polled)]])
    }

    /// A few distinct keys, sorted.
    fn random_keys(&mut self) -> Vec<usize> {
        let count = self
            .random
            .random_range(0..=ASSIGNED_KEYS_MAX.min(self.shape.keys));
        let mut keys: Vec<usize> = (0..count)
            .map(|_| self.random.random_range(0..self.shape.keys))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn step_free_consumer(&mut self, slot: usize) {
        let (mut consumer, polling) = self.free_consumers[slot].clone();
        if polling {
            let value = self.read(&mut consumer);
            self.emit(consumer.process, "ok", "poll", None, value);
            self.free_consumers[slot] = (consumer, false);
            return;
        }
        if self.random.random_range(0..100u32) < 15 {
            let keys = self.random_keys();
            let names: Vec<String> = keys.iter().map(|&key| key_name(key)).collect();
            self.emit(consumer.process, "invoke", "assign", None, json!(names));
            self.emit(consumer.process, "ok", "assign", None, json!(names));
            // Retained keys keep their position; new keys start from the beginning.
            consumer.positions.retain(|key, _| keys.contains(key));
            consumer.keys = keys;
            self.free_consumers[slot] = (consumer, false);
            return;
        }
        self.emit(consumer.process, "invoke", "poll", None, json!([["poll"]]));
        self.free_consumers[slot] = (consumer, true);
    }

    fn step_member(&mut self, member: usize) {
        let mut consumer = self.members[member].clone();
        let process = consumer.process;
        self.emit(process, "invoke", "poll", Some(GROUP), json!([["poll"]]));
        let value = self.read(&mut consumer);
        self.emit(process, "ok", "poll", Some(GROUP), value.clone());
        if self.random.random_range(0..100u32) < 85 {
            // Commit the keys this poll read (the others keep their committed offsets).
            let read: Vec<usize> = consumer
                .keys
                .iter()
                .copied()
                .filter(|&key| value[0][1].get(key_name(key)).is_some())
                .collect();
            self.commit(&consumer, &read);
        }
        self.members[member] = consumer;
    }

    fn commit(&mut self, consumer: &Consumer, keys: &[usize]) {
        let mut offsets = serde_json::Map::new();
        for &key in keys {
            let position = consumer.positions.get(&key).copied().unwrap_or(0);
            offsets.insert(key_name(key), json!(self.next_offset_at(key, position)));
            self.committed.insert(key, position);
        }
        if offsets.is_empty() {
            return;
        }
        let value = Value::Object(offsets);
        self.emit(
            consumer.process,
            "invoke",
            "commit",
            Some(GROUP),
            value.clone(),
        );
        self.emit(consumer.process, "ok", "commit", Some(GROUP), value);
    }

    /// The Kafka offset to commit for a position (an index into the visible records): the next
    /// visible record's offset, or one past the last one read.
    fn next_offset_at(&self, key: usize, position: usize) -> u64 {
        let records = &self.logs[key].records;
        match records.get(position) {
            Some(&(offset, _)) => offset,
            None => records.last().map_or(0, |&(offset, _)| offset + 1),
        }
    }

    /// Deals the keys among the group's members. Keys resume from the group's committed
    /// position, except, under the cooperative protocol, keys a member keeps.
    fn rebalance(&mut self) {
        self.generation += 1;
        let member_count = self.members.len();
        let mut owners: Vec<Vec<usize>> = vec![Vec::new(); member_count];
        for key in 0..self.shape.keys {
            owners[self.random.random_range(0..member_count)].push(key);
        }
        for (member, keys) in owners.into_iter().enumerate() {
            let mut consumer = self.members[member].clone();
            let cooperative = self.shape.cooperative;
            consumer
                .positions
                .retain(|key, _| cooperative && keys.contains(key));
            for &key in &keys {
                let committed = self.committed.get(&key).copied().unwrap_or(0);
                consumer.positions.entry(key).or_insert(committed);
            }
            consumer.keys = keys;
            let names: Vec<String> = consumer.keys.iter().map(|&key| key_name(key)).collect();
            self.emit(
                consumer.process,
                "invoke",
                "rebalance",
                Some(GROUP),
                Value::Null,
            );
            self.emit(
                consumer.process,
                "ok",
                "rebalance",
                Some(GROUP),
                json!({"generation": self.generation, "assigned": names}),
            );
            self.members[member] = consumer;
        }
    }

    // ---- consume-transform-produce ----

    /// Invokes a transaction (its reads, sends and commit take effect at once, or it aborts), or
    /// completes the outstanding one.
    fn step_transactional_consumer(&mut self, slot: usize) {
        let (mut consumer, pending) = self.transactional_consumers[slot].clone();
        let group = Some(TRANSACTIONAL_GROUP);
        if let Some((kind, value)) = pending {
            self.emit(consumer.process, kind, "txn", group, value);
            self.transactional_consumers[slot].1 = None;
            return;
        }
        let commit = self.random.random_range(0..100u32) >= 10;
        let mut reader = consumer.clone();
        let polled = self.read(&mut reader);
        let count = self.random.random_range(0..=2usize);
        let sends: Vec<(usize, i64)> = (0..count)
            .map(|_| {
                (
                    self.random.random_range(0..self.shape.keys),
                    self.new_value(),
                )
            })
            .collect();
        let read_keys: Vec<usize> = reader
            .keys
            .iter()
            .copied()
            .filter(|&key| polled[0][1].get(key_name(key)).is_some())
            .collect();
        let mut offsets = serde_json::Map::new();
        for &key in &read_keys {
            let position = reader.positions[&key];
            offsets.insert(key_name(key), json!(self.next_offset_at(key, position)));
        }
        let mut invoked = vec![json!(["poll"])];
        invoked.extend(
            sends
                .iter()
                .map(|&(key, value)| json!(["send", key_name(key), value])),
        );
        let commit_micro = (!offsets.is_empty()).then(|| json!(["commit", Value::Object(offsets)]));
        invoked.extend(commit_micro.clone());
        self.emit(consumer.process, "invoke", "txn", group, json!(invoked));
        let completion = if commit {
            let mut completed = vec![polled[0].clone()];
            for &(key, value) in &sends {
                let offset = self.append(key, value);
                completed.push(json!(["send", key_name(key), [offset, value]]));
            }
            completed.extend(commit_micro);
            consumer.positions = reader.positions;
            ("ok", json!(completed))
        } else {
            for &(key, _) in &sends {
                self.logs[key].next_offset += 1;
            }
            ("fail", Value::Null)
        };
        let mut touched: Vec<usize> = sends.iter().map(|&(key, _)| key).collect();
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            self.logs[key].next_offset += 1;
        }
        self.transactional_consumers[slot] = (consumer, Some(completion));
    }

    /// A final committed transaction that reads the rest of the consumer's keys.
    fn drain_transactional_consumer(&mut self, slot: usize) {
        let mut consumer = self.transactional_consumers[slot].0.clone();
        let group = Some(TRANSACTIONAL_GROUP);
        let polled = self.drain(&mut consumer);
        let mut offsets = serde_json::Map::new();
        for &key in &consumer.keys {
            let position = consumer.positions[&key];
            offsets.insert(key_name(key), json!(self.next_offset_at(key, position)));
        }
        let mut invoked = vec![json!(["poll"])];
        let mut completed = vec![polled[0].clone()];
        if !offsets.is_empty() {
            let commit = json!(["commit", Value::Object(offsets)]);
            invoked.push(commit.clone());
            completed.push(commit);
        }
        self.emit(consumer.process, "invoke", "txn", group, json!(invoked));
        self.emit(consumer.process, "ok", "txn", group, json!(completed));
        self.transactional_consumers[slot].0 = consumer;
    }

    // ---- the end ----

    /// Completes everything outstanding, then drains every key with a fresh free consumer and
    /// with the group.
    fn finish(&mut self) {
        for slot in 0..self.producers.len() {
            if self.producers[slot].1.is_some() {
                self.step_producer(slot);
            }
        }
        for slot in 0..self.transactional.len() {
            if self.transactional[slot].1.is_some() {
                self.step_transactional(slot);
            }
        }
        for slot in 0..self.free_consumers.len() {
            if self.free_consumers[slot].1 {
                self.step_free_consumer(slot);
            }
        }
        for slot in 0..self.transactional_consumers.len() {
            if self.transactional_consumers[slot].1.is_some() {
                self.step_transactional_consumer(slot);
            }
        }
        for slot in 0..self.transactional_consumers.len() {
            self.drain_transactional_consumer(slot);
        }
        let all_keys: Vec<usize> = (0..self.shape.keys).collect();
        let mut drainer = Consumer {
            process: self.new_process(),
            keys: all_keys,
            positions: BTreeMap::new(),
        };
        let names: Vec<String> = drainer.keys.iter().map(|&key| key_name(key)).collect();
        self.emit(drainer.process, "invoke", "assign", None, json!(names));
        self.emit(drainer.process, "ok", "assign", None, json!(names));
        self.emit(drainer.process, "invoke", "poll", None, json!([["poll"]]));
        let value = self.drain(&mut drainer);
        self.emit(drainer.process, "ok", "poll", None, value);
        for member in 0..self.members.len() {
            let mut consumer = self.members[member].clone();
            self.emit(
                consumer.process,
                "invoke",
                "poll",
                Some(GROUP),
                json!([["poll"]]),
            );
            let value = self.drain(&mut consumer);
            self.emit(consumer.process, "ok", "poll", Some(GROUP), value);
            let keys = consumer.keys.clone();
            self.commit(&consumer, &keys);
            self.members[member] = consumer;
        }
    }

    fn drain(&mut self, consumer: &mut Consumer) -> Value {
        let mut polled = serde_json::Map::new();
        for &key in &consumer.keys {
            let position = consumer.positions.entry(key).or_insert(0);
            let records: Vec<Value> = self.logs[key].records[*position..]
                .iter()
                .map(|&(offset, value)| json!([offset, value]))
                .collect();
            *position = self.logs[key].records.len();
            polled.insert(key_name(key), json!(records));
        }
        json!([["poll", Value::Object(polled)]])
    }
}

/// Writes lines as a JSON Lines history (time advances 1 µs per line).
pub fn to_text(lines: &[Line]) -> String {
    let mut text = String::with_capacity(lines.len() * 96);
    for (index, line) in lines.iter().enumerate() {
        text.push_str(&line_json(index, line).to_string());
        text.push('\n');
    }
    text
}

pub fn line_json(index: usize, line: &Line) -> Value {
    let mut json = json!({
        "index": index,
        "time": index as u64 * 1000,
        "process": line.process,
        "type": line.kind,
        "f": line.f,
        "value": line.value,
    });
    if let Some(group) = line.group {
        json["group"] = json!(group);
    }
    json
}

// ---- fault injection ----

/// Whether the line is an `ok` poll, or an `ok` transaction that starts with its poll (as the
/// generator writes them): either way its records are in `value[0][1]`.
fn reads_records(line: &Line) -> bool {
    line.kind == "ok" && (line.f == "poll" || (line.f == "txn" && line.value[0][0] == "poll"))
}

/// Where polls read records: (line, key name, position in the key's list, offset, value).
fn poll_records(lines: &[Line]) -> Vec<(usize, String, usize, u64, i64)> {
    let mut found = Vec::new();
    for (position, line) in lines.iter().enumerate() {
        if !reads_records(line) {
            continue;
        }
        for (key, records) in line.value[0][1].as_object().expect("poll map") {
            for (index, record) in records.as_array().expect("records").iter().enumerate() {
                let offset = record[0].as_u64().expect("offset");
                let value = record[1].as_i64().expect("value");
                found.push((position, key.clone(), index, offset, value));
            }
        }
    }
    found
}

/// Removes one record, read and acknowledged, from every poll, choosing one below another
/// record that stays read: the result must show a `lost-write`. Returns false if none fits.
pub fn drop_record(lines: &mut [Line], choice: usize) -> bool {
    let records = poll_records(lines);
    let acknowledged = acknowledged_values(lines);
    let mut candidates: Vec<(String, i64)> = records
        .iter()
        .filter(|(_, key, _, offset, value)| {
            acknowledged.contains(value)
                && records
                    .iter()
                    .any(|(_, other, _, later, _)| other == key && later > offset)
        })
        .map(|(_, key, _, _, value)| (key.clone(), *value))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    if candidates.is_empty() {
        return false;
    }
    let (key, value) = candidates[choice % candidates.len()].clone();
    for line in lines.iter_mut().filter(|line| reads_records(line)) {
        if let Some(records) = line.value[0][1].get_mut(&key).and_then(Value::as_array_mut) {
            records.retain(|record| record[1].as_i64() != Some(value));
        }
    }
    true
}

/// Swaps two adjacent records of one key inside one poll: an `int-nonmonotonic-poll`.
pub fn swap_pair(lines: &mut [Line], choice: usize) -> bool {
    let records = poll_records(lines);
    let candidates: Vec<(usize, String, usize)> = records
        .iter()
        .filter(|(line, key, index, _, _)| {
            records
                .iter()
                .any(|(other_line, other_key, other_index, _, _)| {
                    other_line == line && other_key == key && *other_index == index + 1
                })
        })
        .map(|(line, key, index, _, _)| (*line, key.clone(), *index))
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let (line, key, index) = candidates[choice % candidates.len()].clone();
    let records = lines[line].value[0][1][&key]
        .as_array_mut()
        .expect("records");
    records.swap(index, index + 1);
    true
}

/// Makes a poll read an already-read value again at a new offset past the end of its key: a
/// `duplicate`.
pub fn duplicate_value(lines: &mut [Line], choice: usize) -> bool {
    let records = poll_records(lines);
    if records.is_empty() {
        return false;
    }
    let (_, key, _, _, value) = records[choice % records.len()].clone();
    let end_offset = max_offset(lines, &key) + 1;
    // The drainer's poll is the last free poll: it read every key to its end.
    let Some(drain) = lines
        .iter()
        .rposition(|line| line.kind == "ok" && line.f == "poll" && line.group.is_none())
    else {
        return false;
    };
    let records = lines[drain].value[0][1][&key]
        .as_array_mut()
        .expect("the drainer reads every key");
    records.push(json!([end_offset, value]));
    true
}

fn max_offset(lines: &[Line], key: &str) -> u64 {
    let mut highest = 0;
    for line in lines.iter().filter(|line| line.kind == "ok") {
        for micro in line.value.as_array().into_iter().flatten() {
            if micro[0] == "send" && micro[1] == key {
                highest = highest.max(micro[2][0].as_u64().unwrap_or(0));
            }
            if micro[0] == "poll" {
                for record in micro[1][key].as_array().into_iter().flatten() {
                    highest = highest.max(record[0].as_u64().unwrap_or(0));
                }
            }
        }
    }
    highest
}

fn acknowledged_values(lines: &[Line]) -> Vec<i64> {
    let mut values = Vec::new();
    for line in lines
        .iter()
        .filter(|line| line.kind == "ok" && (line.f == "send" || line.f == "txn"))
    {
        for micro in line.value.as_array().into_iter().flatten() {
            if micro[0] == "send" {
                values.push(micro[2][1].as_i64().expect("value"));
            }
        }
    }
    values.sort_unstable();
    values
}
