//! A transactional id's state as records of its state partition (pure encoding and decoding).
//!
//! Every transition is one batch: records all keyed by [`transaction_key`] of the id, each
//! value tagged in its top 4 bits with its kind:
//! - the header: state (4 bits), producer epoch (16 bits), producer id (40 bits);
//! - the timeout: how many partition records follow (12 bits) and the timeout in ns (48 bits);
//! - who ended the last transaction ([`TransactionMetadata::ended_by`]): a presence bit, the
//!   epoch (16 bits) and the producer id (40 bits);
//! - the next producer id ([`TransactionMetadata::next_producer_id`]): a presence bit and the id
//!   (40 bits);
//! - one per partition: the topic's 32-bit code ([`topic_code`]) and the partition (28 bits).
//!
//! Why tags and a count rather than positions in the batch: a follower may hold a batch in
//! pieces (a fetch answered with fewer records than a batch holds), and the high watermark may
//! fall inside a batch, so a replay cannot rely on batch boundaries. It reads the records as a
//! stream ([`scan_transitions`]): a transition counts once its last record is read, a header
//! abandons an unfinished transition before it (the piece of a batch a previous leader never
//! finished replicating: never acknowledged, so never acted on), and records that fit no
//! transition are skipped (nothing but coordinators writes there; they would be a stranger's).
//!
//! Topics are coded, not named, so the decoder resolves codes through the topics of the node's
//! metadata image ([`TopicCodes`]), asserting that no two of them share a code.

use std::collections::BTreeMap;

use crate::digest::digest_of;
use crate::log::Record;
use crate::metadata::image::MetadataImage;
use crate::topic::TopicName;
use crate::txn::state::{TransactionMetadata, TransactionState};

/// Bits of a producer id in the header record.
pub const PRODUCER_ID_BITS: u32 = 40;
/// Most partition records a transition holds (12 bits).
pub const PARTITION_COUNT_MAX: u64 = (1 << 12) - 1;
/// The longest timeout the timeout record holds (48 bits, about 78 hours).
pub const TIMEOUT_NS_MAX: u64 = (1 << 48) - 1;
/// The partition number's bits in a partition record.
const PARTITION_BITS: u32 = 28;

const KIND_SHIFT: u32 = 60;
const KIND_HEADER: u64 = 1;
const KIND_TIMEOUT: u64 = 2;
const KIND_PARTITION: u64 = 3;
const KIND_ENDED_BY: u64 = 4;
const KIND_NEXT_PRODUCER: u64 = 5;
/// The records of a transition before its partition records.
const FIXED_RECORDS: usize = 4;
/// The presence bit of an optional field's record.
const PRESENT_SHIFT: u32 = 56;

/// The record key of a transactional id's transitions.
pub fn transaction_key(transactional_id: &str) -> u64 {
    digest_of(&("transactional-id", transactional_id))
}

/// The 32-bit code of a topic in partition records.
pub fn topic_code(topic: &str) -> u32 {
    let digest = digest_of(&("topic", topic));
    (digest ^ (digest >> 32)) as u32
}

/// Topic codes back to the names of the topics a metadata image holds.
#[derive(Debug, Default)]
pub struct TopicCodes(BTreeMap<u32, TopicName>);

impl TopicCodes {
    /// The codes of every topic in `image`. Panics if two share a code: their partitions could
    /// not be told apart in the state partition.
    pub fn of_image(image: &MetadataImage) -> TopicCodes {
        TopicCodes::of_topics(image.topics.keys().map(String::as_str))
    }

    pub fn of_topics<'a>(topics: impl Iterator<Item = &'a str>) -> TopicCodes {
        let mut codes = BTreeMap::new();
        for topic in topics {
            if let Some(other) = codes.insert(topic_code(topic), TopicName::new(topic)) {
                panic!("topics {other} and {topic} share the transaction record code");
            }
        }
        TopicCodes(codes)
    }

    fn topic(&self, code: u32) -> Option<&TopicName> {
        self.0.get(&code)
    }
}

fn state_code(state: TransactionState) -> u64 {
    match state {
        TransactionState::Empty => 0,
        TransactionState::Ongoing => 1,
        TransactionState::PrepareCommit => 2,
        TransactionState::PrepareAbort => 3,
        TransactionState::CompleteCommit => 4,
        TransactionState::CompleteAbort => 5,
    }
}

fn state_of_code(code: u64) -> Option<TransactionState> {
    Some(match code {
        0 => TransactionState::Empty,
        1 => TransactionState::Ongoing,
        2 => TransactionState::PrepareCommit,
        3 => TransactionState::PrepareAbort,
        4 => TransactionState::CompleteCommit,
        5 => TransactionState::CompleteAbort,
        _ => return None,
    })
}

fn kind_of(record: &Record) -> u64 {
    record.value >> KIND_SHIFT
}

fn low_bits(value: u64, bits: u32) -> u64 {
    value & ((1 << bits) - 1)
}

/// The records of the transition of `key` to `metadata`: one batch.
pub fn encode_transition(key: u64, metadata: &TransactionMetadata) -> Vec<Record> {
    metadata.check_invariants();
    let producer_ids = [Some(metadata.producer_id), metadata.next_producer_id];
    let ended_by = metadata.ended_by.map(|(producer_id, _)| producer_id);
    for producer_id in producer_ids.into_iter().chain([ended_by]).flatten() {
        assert!(
            producer_id < 1 << PRODUCER_ID_BITS,
            "producer id {producer_id} above 2^40"
        );
    }
    assert!(metadata.timeout_ns <= TIMEOUT_NS_MAX);
    let count = metadata.partitions.len() as u64;
    assert!(count <= PARTITION_COUNT_MAX);
    let header = KIND_HEADER << KIND_SHIFT
        | state_code(metadata.state) << 56
        | u64::from(metadata.producer_epoch) << PRODUCER_ID_BITS
        | metadata.producer_id;
    let timeout = KIND_TIMEOUT << KIND_SHIFT | count << 48 | metadata.timeout_ns;
    let ended_by = KIND_ENDED_BY << KIND_SHIFT
        | metadata.ended_by.map_or(0, |(producer_id, epoch)| {
            1 << PRESENT_SHIFT | u64::from(epoch) << PRODUCER_ID_BITS | producer_id
        });
    let next_producer = KIND_NEXT_PRODUCER << KIND_SHIFT
        | metadata
            .next_producer_id
            .map_or(0, |producer_id| 1 << PRESENT_SHIFT | producer_id);
    let partitions = metadata.partitions.iter().map(|(topic, partition)| {
        assert!(*partition < 1 << PARTITION_BITS);
        KIND_PARTITION << KIND_SHIFT
            | u64::from(topic_code(topic)) << PARTITION_BITS
            | u64::from(*partition)
    });
    [header, timeout, ended_by, next_producer]
        .into_iter()
        .chain(partitions)
        .map(|value| Record {
            key: Some(key),
            value,
        })
        .collect()
}

/// Why a complete transition's records do not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A topic the node's metadata image does not hold (yet): decode again once it does.
    UnknownTopicCode(u32),
    /// Not a coordinator's transition.
    Malformed(&'static str),
}

/// The key and metadata of one transition's records ([`encode_transition`]'s inverse).
pub fn decode_transition(
    records: &[Record],
    topics: &TopicCodes,
) -> Result<(u64, TransactionMetadata), DecodeError> {
    let [header, timeout, ended_by, next_producer, partitions @ ..] = records else {
        return Err(DecodeError::Malformed("fewer than four records"));
    };
    let key = header.key.ok_or(DecodeError::Malformed("unkeyed"))?;
    if records.iter().any(|record| record.key != Some(key)) {
        return Err(DecodeError::Malformed("records of two keys"));
    }
    let kinds_fit = kind_of(header) == KIND_HEADER
        && kind_of(timeout) == KIND_TIMEOUT
        && kind_of(ended_by) == KIND_ENDED_BY
        && kind_of(next_producer) == KIND_NEXT_PRODUCER
        && partitions
            .iter()
            .all(|record| kind_of(record) == KIND_PARTITION);
    if !kinds_fit || partition_count(timeout) != partitions.len() {
        return Err(DecodeError::Malformed("records out of place"));
    }
    let state = state_of_code(low_bits(header.value >> 56, 4))
        .ok_or(DecodeError::Malformed("unknown state"))?;
    let mut decoded_partitions = Vec::with_capacity(partitions.len());
    for record in partitions {
        let code = low_bits(record.value >> PARTITION_BITS, 32) as u32;
        let topic = topics
            .topic(code)
            .ok_or(DecodeError::UnknownTopicCode(code))?;
        let partition = low_bits(record.value, PARTITION_BITS) as u32;
        decoded_partitions.push((topic.clone(), partition));
    }
    let metadata = TransactionMetadata {
        producer_id: low_bits(header.value, PRODUCER_ID_BITS),
        producer_epoch: low_bits(header.value >> PRODUCER_ID_BITS, 16) as u16,
        state,
        partitions: decoded_partitions,
        timeout_ns: low_bits(timeout.value, 48),
        ended_by: optional(ended_by).map(|value| {
            let epoch = low_bits(value >> PRODUCER_ID_BITS, 16) as u16;
            (low_bits(value, PRODUCER_ID_BITS), epoch)
        }),
        next_producer_id: optional(next_producer).map(|value| low_bits(value, PRODUCER_ID_BITS)),
    };
    let sorted = metadata.partitions.windows(2).all(|pair| pair[0] < pair[1]);
    let partitions_fit_state = metadata.partitions.is_empty()
        == matches!(
            state,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        );
    if !sorted || !partitions_fit_state {
        return Err(DecodeError::Malformed("partitions do not fit the state"));
    }
    let ended = metadata.state.outcome().is_some();
    let next_fits = metadata.next_producer_id.is_none()
        || metadata.state.is_prepared() && metadata.ended_by.is_some();
    if metadata.ended_by.is_some() && !ended || !next_fits {
        return Err(DecodeError::Malformed("the end does not fit the state"));
    }
    Ok((key, metadata))
}

/// The kind of a transition's record at `position`.
fn expected_kind(position: usize) -> u64 {
    match position {
        0 => KIND_HEADER,
        1 => KIND_TIMEOUT,
        2 => KIND_ENDED_BY,
        3 => KIND_NEXT_PRODUCER,
        _ => KIND_PARTITION,
    }
}

/// An optional field's value, if its presence bit is set.
fn optional(record: &Record) -> Option<u64> {
    let value = low_bits(record.value, KIND_SHIFT);
    (value >> PRESENT_SHIFT == 1).then_some(value)
}

fn partition_count(timeout: &Record) -> usize {
    low_bits(timeout.value >> 48, 12) as usize
}

/// What [`scan_transitions`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Every complete transition: the offset of its first record, and its records.
    pub transitions: Vec<(u64, Vec<Record>)>,
    /// Where the next scan starts: after the last record consumed, or at the start of a
    /// transition not complete yet.
    pub next_offset: u64,
    /// Records that fit no transition (a stranger's), and unfinished transitions abandoned.
    pub skipped_records: u64,
}

/// An unfinished transition.
struct Partial {
    start_offset: u64,
    records: Vec<Record>,
    /// Its record count, once its timeout record was read.
    expected: Option<usize>,
}

/// Reads the transitions among `records` (offset and record, ascending and dense from
/// `from_offset`) below `end_offset`. A transition that starts below `sealed_offset` and is not
/// complete when the scan reaches it never will be: the leader that took over at
/// `sealed_offset` writes only whole transitions after it.
pub fn scan_transitions(
    records: impl Iterator<Item = (u64, Record)>,
    from_offset: u64,
    end_offset: u64,
    sealed_offset: u64,
) -> Scanned {
    let mut scanned = Scanned {
        next_offset: from_offset.max(end_offset),
        ..Scanned::default()
    };
    let mut partial: Option<Partial> = None;
    let below_end = records.take_while(|(offset, _)| *offset < end_offset);
    for (expected_offset, (offset, record)) in (from_offset..).zip(below_end) {
        assert_eq!(offset, expected_offset, "records are dense");
        if offset >= sealed_offset
            && let Some(unfinished) = partial.take_if(|p| p.start_offset < sealed_offset)
        {
            scanned.skipped_records += unfinished.records.len() as u64;
        }
        partial = read_record(partial, offset, record, &mut scanned);
    }
    if let Some(unfinished) = partial {
        let abandoned = unfinished.start_offset < sealed_offset && end_offset >= sealed_offset;
        if abandoned {
            scanned.skipped_records += unfinished.records.len() as u64;
        } else {
            scanned.next_offset = unfinished.start_offset;
        }
    }
    scanned
}

/// Adds one record to the scan; returns the transition still unfinished after it.
fn read_record(
    partial: Option<Partial>,
    offset: u64,
    record: Record,
    scanned: &mut Scanned,
) -> Option<Partial> {
    let mut partial = match (kind_of(&record), partial) {
        (KIND_HEADER, unfinished) => {
            if let Some(unfinished) = unfinished {
                scanned.skipped_records += unfinished.records.len() as u64;
            }
            Partial {
                start_offset: offset,
                records: vec![record],
                expected: None,
            }
        }
        (KIND_TIMEOUT, Some(mut partial)) if partial.expected.is_none() => {
            partial.expected = Some(FIXED_RECORDS + partition_count(&record));
            partial.records.push(record);
            partial
        }
        (KIND_ENDED_BY | KIND_NEXT_PRODUCER | KIND_PARTITION, Some(mut partial))
            if kind_of(&record) == expected_kind(partial.records.len())
                && partial
                    .expected
                    .is_some_and(|expected| partial.records.len() < expected) =>
        {
            partial.records.push(record);
            partial
        }
        (_, unfinished) => {
            let dropped = unfinished.map_or(0, |partial| partial.records.len() as u64);
            scanned.skipped_records += dropped + 1;
            return None;
        }
    };
    if partial.expected == Some(partial.records.len()) {
        let records = std::mem::take(&mut partial.records);
        scanned.transitions.push((partial.start_offset, records));
        return None;
    }
    Some(partial)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TOPICS: [&str; 3] = ["orders", "payments", "t"];

    fn codes() -> TopicCodes {
        TopicCodes::of_topics(TOPICS.into_iter())
    }

    fn open(producer_id: u64, producer_epoch: u16, partitions: &[u32]) -> TransactionMetadata {
        TransactionMetadata {
            producer_id,
            producer_epoch,
            state: TransactionState::Ongoing,
            partitions: partitions
                .iter()
                .map(|partition| (TopicName::new("t"), *partition))
                .collect(),
            timeout_ns: 5_000,
            ended_by: None,
            next_producer_id: None,
        }
    }

    fn with_offsets(records: &[Record], from_offset: u64) -> impl Iterator<Item = (u64, Record)> {
        (from_offset..).zip(records.iter().copied())
    }

    fn metadata_strategy() -> impl Strategy<Value = TransactionMetadata> {
        let state = prop_oneof![
            Just(TransactionState::Empty),
            Just(TransactionState::Ongoing),
            Just(TransactionState::PrepareCommit),
            Just(TransactionState::PrepareAbort),
            Just(TransactionState::CompleteCommit),
            Just(TransactionState::CompleteAbort),
        ];
        let partitions = prop::collection::btree_set((0..TOPICS.len(), 0u32..1024), 1..20);
        let producer_id = || 0u64..1 << PRODUCER_ID_BITS;
        let ended_by = prop::option::of((producer_id(), any::<u16>()));
        let next_producer_id = prop::option::of(producer_id());
        (
            (producer_id(), any::<u16>(), state),
            partitions,
            0..=TIMEOUT_NS_MAX,
            (ended_by, next_producer_id),
        )
            .prop_map(
                |((producer_id, producer_epoch, state), partitions, timeout_ns, ends)| {
                    let (ended_by, next_producer_id) = ends;
                    let ended_by = ended_by.filter(|_| state.outcome().is_some());
                    let next_producer_id =
                        next_producer_id.filter(|_| state.is_prepared() && ended_by.is_some());
                    let mut metadata = TransactionMetadata {
                        producer_id,
                        producer_epoch,
                        state,
                        partitions: partitions
                            .into_iter()
                            .map(|(topic, partition)| (TopicName::new(TOPICS[topic]), partition))
                            .collect(),
                        timeout_ns,
                        ended_by,
                        next_producer_id,
                    };
                    metadata.partitions.sort();
                    if state.outcome().is_some() && !state.is_prepared()
                        || state == TransactionState::Empty
                    {
                        metadata.partitions.clear();
                    }
                    metadata
                },
            )
    }

    proptest! {
        #[test]
        fn transitions_round_trip(metadata in metadata_strategy(), key in any::<u64>()) {
            let records = encode_transition(key, &metadata);
            prop_assert_eq!(records.len(), FIXED_RECORDS + metadata.partitions.len());
            prop_assert_eq!(decode_transition(&records, &codes()), Ok((key, metadata)));
        }

        /// However a batch is cut into pieces, the stream reads the same transitions.
        #[test]
        fn a_scan_stopped_anywhere_resumes_to_the_same_transitions(
            stop in 0u64..16,
        ) {
            let first = encode_transition(1, &open(7, 0, &[0, 1, 2]));
            let second = encode_transition(2, &open(8, 3, &[4]));
            let records: Vec<Record> = first.iter().chain(&second).copied().collect();
            let end = records.len() as u64;
            let head = scan_transitions(with_offsets(&records, 0), 0, stop.min(end), 0);
            let from = head.next_offset;
            let rest = scan_transitions(
                with_offsets(&records[from as usize..], from), from, end, 0);
            let mut all = head.transitions.clone();
            all.extend(rest.transitions);
            prop_assert_eq!(all.len(), 2);
            prop_assert_eq!(&all[0].1, &first);
            prop_assert_eq!(&all[1], &(7, second));
            prop_assert_eq!(rest.next_offset, end);
        }
    }

    #[test]
    fn an_unknown_topic_code_waits_and_strangers_records_are_malformed() {
        let metadata = TransactionMetadata {
            partitions: vec![(TopicName::new("elsewhere"), 0)],
            ..open(7, 0, &[])
        };
        let records = encode_transition(1, &metadata);
        assert_eq!(
            decode_transition(&records, &codes()),
            Err(DecodeError::UnknownTopicCode(topic_code("elsewhere")))
        );
        let mut mixed = encode_transition(1, &open(7, 0, &[0]));
        mixed[2].key = Some(2);
        assert!(matches!(
            decode_transition(&mixed, &codes()),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_piece_a_new_leader_never_finished_is_abandoned() {
        let piece = &encode_transition(1, &open(7, 0, &[0, 1]))[..3];
        let whole = encode_transition(2, &open(8, 0, &[0]));
        // The new leader took over at offset 3, after the piece, and wrote a whole transition.
        let records: Vec<Record> = piece.iter().chain(&whole).copied().collect();
        let waiting = scan_transitions(with_offsets(&records, 0), 0, 2, 3);
        assert_eq!(
            (waiting.transitions.len(), waiting.next_offset),
            (0, 0),
            "below the seal the piece may still be completed"
        );
        let at_seal = scan_transitions(with_offsets(&records, 0), 0, 3, 3);
        assert_eq!(
            (at_seal.next_offset, at_seal.skipped_records),
            (3, 3),
            "at the seal it never will be"
        );
        let after = scan_transitions(with_offsets(&records, 0), 0, 8, 3);
        assert_eq!(after.transitions, [(3, whole)]);
        assert_eq!(after.next_offset, 8);
    }

    #[test]
    fn strangers_records_are_skipped() {
        let stranger = Record {
            key: None,
            value: 42,
        };
        let whole = encode_transition(2, &open(8, 0, &[0]));
        let records: Vec<Record> = [stranger].iter().chain(&whole).copied().collect();
        let scanned = scan_transitions(with_offsets(&records, 10), 10, 16, 0);
        assert_eq!(scanned.transitions, [(11, whole)]);
        assert_eq!((scanned.next_offset, scanned.skipped_records), (16, 1));
    }

    #[test]
    #[should_panic(expected = "share the transaction record code")]
    fn two_topics_with_one_code_are_refused() {
        TopicCodes::of_topics(["t", "t"].into_iter());
    }
}
