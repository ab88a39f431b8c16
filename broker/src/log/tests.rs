//! Property tests of the partition log, and the planted truncation bugs shown to break them.
//!
//! - [`single_log`]: random append/truncate/delete/high-watermark sequences keep offsets dense, the
//!   epoch cache equal to what the batches imply, and the contents equal to a flat reference model;
//!   recovering from the writes issued so far gives back the same log (and any subset of them, as
//!   after disk faults, still recovers to a consistent log).
//! - [`replication`]: a tiny model of the node's replication (3 replicas, random elections among
//!   all of them, restarts, partial fetches, HW = minimum reported LEO) drives the log through
//!   [`LogBugs::follower_start`] and the KIP-279 search. With the switches off, followers stay
//!   prefixes of their leader, no record once on every replica is dropped, and once healed every
//!   replica holds the leader's log with every record ever acknowledged. With a switch on, a
//!   bounded campaign of random histories breaks that (self-tests of the model's checks).
//! - [`zoo`]: the two bugs by hand, each next to the same history with the switch off.

use super::*;

/// Every record of a log with its offset and epoch, whatever the batch boundaries.
fn flatten(log: &PartitionLog) -> Vec<(u64, u64, Record)> {
    log.batches()
        .iter()
        .flat_map(|batch| {
            batch
                .records_with_offsets()
                .map(move |(offset, record)| (offset, batch.leader_epoch, *record))
        })
        .collect()
}

fn records(first_value: u64, count: u64) -> Vec<Record> {
    (first_value..first_value + count)
        .map(|value| Record {
            key: Some(value % 3),
            value,
        })
        .collect()
}

/// The leader (shared) and a follower (mutable) among `replicas`.
fn leader_and_follower(
    replicas: &mut [PartitionLog],
    leader: usize,
    follower: usize,
) -> (&PartitionLog, &mut PartitionLog) {
    assert_ne!(leader, follower);
    if leader < follower {
        let (low, high) = replicas.split_at_mut(follower);
        (&low[leader], &mut high[0])
    } else {
        let (low, high) = replicas.split_at_mut(leader);
        (&high[0], &mut low[follower])
    }
}

/// Runs the divergence search of `follower` against `leader` to its end (KIP-279); returns the
/// number of OffsetsForLeaderEpoch rounds.
fn search_divergence(follower: &mut PartitionLog, leader: &PartitionLog) -> u32 {
    let Some(mut asked) = follower.divergence_query() else {
        return 0;
    };
    let rounds_max = follower.epoch_cache().entries().len() as u32 + 1;
    for round in 1..=rounds_max {
        let answer = leader.end_offset_for_epoch(asked);
        let outcome = follower
            .resolve_divergence(asked, answer)
            .expect("an answer to the question just asked");
        match outcome.next {
            DivergenceNext::Ask { leader_epoch } => asked = leader_epoch,
            DivergenceNext::Fetch { fetch_offset } => {
                assert_eq!(fetch_offset, follower.log_end_offset());
                return round;
            }
        }
    }
    panic!("the search did not end within {rounds_max} rounds");
}

/// One follower fetch of at most `records_max` records from the follower's log end offset.
/// Returns the leader's high watermark as the fetch response carries it.
fn fetch(follower: &mut PartitionLog, leader: &PartitionLog, records_max: u64) -> u64 {
    let batches = leader
        .read(
            follower.log_end_offset(),
            leader.log_end_offset(),
            records_max,
        )
        .expect("a follower that searched its divergence point is within the leader's log");
    for batch in batches {
        follower
            .append_as_follower(batch)
            .expect("batches from the leader fit");
    }
    leader.high_watermark()
}

mod single_log {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The last stable offset, worked out afresh from the batches: the HW, or the lowest offset of
    /// a transactional record whose transaction has no marker below the HW.
    fn stable_offset_oracle(log: &PartitionLog) -> u64 {
        let high_watermark = log.high_watermark();
        let mut unsettled: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut lowest_unstable = high_watermark;
        for batch in log.batches() {
            if let Some(marker) = batch.transaction_marker() {
                let offsets = unsettled.remove(&marker.producer_id).unwrap_or_default();
                if batch.base_offset >= high_watermark {
                    let first = offsets.first().copied().unwrap_or(u64::MAX);
                    lowest_unstable = lowest_unstable.min(first);
                }
            } else if batch.transaction() == BatchTransaction::Data {
                let producer = batch.producer.0.expect("stamped").producer_id;
                let offsets = unsettled.entry(producer).or_default();
                offsets.extend(batch.base_offset..batch.end_offset());
            }
        }
        for offsets in unsettled.values() {
            lowest_unstable = lowest_unstable.min(offsets[0]);
        }
        lowest_unstable
    }

    fn limits() -> LogLimits {
        LogLimits {
            batch_records_max: 4,
            fetch_records_max: 8,
            log_records_max: 40,
        }
    }

    #[derive(Clone, Debug)]
    enum Operation {
        AppendAsLeader {
            epoch_increase: u64,
            count: u64,
        },
        AppendAsFollower {
            epoch_increase: u64,
            count: u64,
        },
        Truncate {
            selector: u64,
        },
        AdvanceHighWatermark {
            selector: u64,
        },
        FollowHighWatermark {
            selector: u64,
        },
        AdvanceLogStart {
            selector: u64,
        },
        StartAt {
            selector: u64,
        },
        Checkpoint,
        /// The leader writes a marker ending producer `selector % 2`'s transaction (whether or
        /// not it has one open), committing or aborting it by `selector`'s next bit.
        EndTransaction {
            selector: u64,
        },
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            6 => (0..3u64, 0..6u64).prop_map(|(epoch_increase, count)| {
                Operation::AppendAsLeader { epoch_increase, count }
            }),
            3 => (0..3u64, 1..5u64).prop_map(|(epoch_increase, count)| {
                Operation::AppendAsFollower { epoch_increase, count }
            }),
            3 => any::<u64>().prop_map(|selector| Operation::Truncate { selector }),
            3 => any::<u64>().prop_map(|selector| Operation::AdvanceHighWatermark { selector }),
            1 => any::<u64>().prop_map(|selector| Operation::FollowHighWatermark { selector }),
            1 => any::<u64>().prop_map(|selector| Operation::AdvanceLogStart { selector }),
            1 => any::<u64>().prop_map(|selector| Operation::StartAt { selector }),
            2 => Just(Operation::Checkpoint),
            2 => any::<u64>().prop_map(|selector| Operation::EndTransaction { selector }),
        ]
    }

    /// A flat model of a log: records in offset order from a start offset.
    #[derive(Debug, Default)]
    struct Model {
        log_start_offset: u64,
        records: Vec<(u64, Record)>,
    }

    impl Model {
        fn log_end_offset(&self) -> u64 {
            self.log_start_offset + self.records.len() as u64
        }

        fn flatten(&self) -> Vec<(u64, u64, Record)> {
            (self.log_start_offset..)
                .zip(&self.records)
                .map(|(offset, (epoch, record))| (offset, *epoch, *record))
                .collect()
        }

        fn truncate_to(&mut self, offset: u64) {
            if offset < self.log_start_offset {
                self.start_at(offset);
            } else if offset < self.log_end_offset() {
                self.records
                    .truncate((offset - self.log_start_offset) as usize);
            }
        }

        fn start_at(&mut self, offset: u64) {
            self.records.clear();
            self.log_start_offset = offset;
        }

        fn advance_start(&mut self, offset: u64) {
            if offset > self.log_start_offset {
                self.records
                    .drain(..(offset - self.log_start_offset) as usize);
                self.log_start_offset = offset;
            }
        }
    }

    /// The test's state: the log, its model, the epoch counter, the values, the writes issued.
    struct Run {
        log: PartitionLog,
        model: Model,
        epoch: u64,
        next_value: u64,
        /// The next sequence number of each idempotent producer.
        sequences: [u32; 2],
        writes: Vec<LogWrite>,
    }

    impl Run {
        /// Producer 0 writes in transactions, producer 1 is idempotent only.
        fn transaction_of(producer: ProducerStamp) -> BatchTransaction {
            match producer.0 {
                Some(sequence) if sequence.producer_id == 0 => BatchTransaction::Data,
                _ => BatchTransaction::None,
            }
        }

        /// The stamp of the next batch: one of two idempotent producers, or none, by turns; a
        /// batch of `count` records of which the first `skipped` are left out (a piece).
        fn next_stamp(&mut self, count: u64, skipped: u64) -> ProducerStamp {
            let producer = (self.next_value % 3) as usize;
            if producer == 2 {
                return ProducerStamp::NONE;
            }
            let first = self.sequences[producer];
            self.sequences[producer] += count as u32;
            ProducerStamp(Some(ProducerSequence {
                producer_id: producer as u64,
                producer_epoch: 0,
                batch_first_sequence: first,
                base_sequence: first + skipped as u32,
                transaction: BatchTransaction::None,
            }))
        }

        fn new() -> Self {
            Self {
                log: PartitionLog::new(limits()),
                model: Model::default(),
                epoch: 0,
                next_value: 0,
                sequences: [0; 2],
                writes: Vec::new(),
            }
        }

        fn perform(&mut self, operation: &Operation) {
            let log_start_offset = self.log.log_start_offset();
            let log_end_offset = self.log.log_end_offset();
            let high_watermark = self.log.high_watermark();
            let write = match *operation {
                Operation::AppendAsLeader {
                    epoch_increase,
                    count,
                } => {
                    self.epoch += epoch_increase;
                    let appended = records(self.next_value, count);
                    self.next_value += count;
                    let fits = count >= 1
                        && count <= limits().batch_records_max
                        && self.log.record_count() + count <= limits().log_records_max;
                    let producer = self.next_stamp(count, 0);
                    let transaction = Self::transaction_of(producer);
                    match self.log.append_stamped_as_leader(
                        self.epoch,
                        appended.clone(),
                        producer,
                        transaction,
                    ) {
                        Ok(done) => {
                            assert!(fits);
                            assert_eq!(done.base_offset, log_end_offset);
                            let epoch = self.epoch;
                            self.model
                                .records
                                .extend(appended.into_iter().map(|record| (epoch, record)));
                            Some(done.write)
                        }
                        Err(_) => {
                            assert!(!fits, "a refused append that fits");
                            None
                        }
                    }
                }
                Operation::AppendAsFollower {
                    epoch_increase,
                    count,
                } => {
                    self.epoch += epoch_increase;
                    let appended = records(self.next_value, count);
                    self.next_value += count;
                    // Half the time a piece of a producer's batch, not its start.
                    let skipped = self.next_value % 2;
                    let producer = self.next_stamp(count + skipped, skipped);
                    let batch = RecordBatch::new(log_end_offset, self.epoch, appended.clone())
                        .with_producer(producer)
                        .with_transaction(Self::transaction_of(producer));
                    let fits = self.log.record_count() + count <= limits().log_records_max;
                    match self.log.append_as_follower(batch) {
                        Ok(write) => {
                            let epoch = self.epoch;
                            self.model
                                .records
                                .extend(appended.into_iter().map(|record| (epoch, record)));
                            Some(write)
                        }
                        Err(error) => {
                            assert!(!fits, "refused {error}");
                            None
                        }
                    }
                }
                Operation::Truncate { selector } => {
                    // Anywhere from two below the start to one past the end.
                    let lowest = log_start_offset.saturating_sub(2);
                    let offset = lowest + selector % (log_end_offset - lowest + 2);
                    self.model.truncate_to(offset);
                    self.log.truncate_to(offset)
                }
                Operation::AdvanceHighWatermark { selector } => {
                    let offset = high_watermark + selector % (log_end_offset - high_watermark + 1);
                    self.log.advance_high_watermark(offset);
                    None
                }
                Operation::FollowHighWatermark { selector } => {
                    self.log
                        .follow_high_watermark(selector % (log_end_offset + 3));
                    None
                }
                Operation::AdvanceLogStart { selector } => {
                    let offset =
                        log_start_offset + selector % (high_watermark - log_start_offset + 1);
                    self.model.advance_start(offset);
                    self.log.advance_log_start_offset(offset)
                }
                Operation::StartAt { selector } => {
                    let offset = selector % (log_end_offset + 3);
                    self.model.start_at(offset);
                    Some(self.log.truncate_fully_and_start_at(offset))
                }
                Operation::Checkpoint => self.log.checkpoint_high_watermark(),
                Operation::EndTransaction { selector } => {
                    let outcome = if selector & 2 == 0 {
                        TransactionOutcome::Commit
                    } else {
                        TransactionOutcome::Abort
                    };
                    let marker = TransactionMarker {
                        producer_id: selector % 2,
                        producer_epoch: 0,
                        outcome,
                        coordinator_epoch: 0,
                    };
                    let fits = self.log.record_count() < limits().log_records_max;
                    match self.log.append_marker_as_leader(self.epoch, marker) {
                        Ok(done) => {
                            let epoch = self.epoch;
                            let record = Record {
                                key: Some(outcome.code()),
                                value: 0,
                            };
                            self.model.records.push((epoch, record));
                            Some(done.write)
                        }
                        Err(_) => {
                            assert!(!fits, "a refused marker that fits");
                            None
                        }
                    }
                }
            };
            self.writes.extend(write);
        }
    }

    proptest! {
        /// (a) Offsets stay dense, the epoch cache stays what the batches imply, the high
        /// watermark stays within the log, and the contents match the flat model.
        #[test]
        fn random_operations_keep_offsets_dense_and_epochs_consistent(
            operations in prop::collection::vec(operation(), 1..60)
        ) {
            let mut run = Run::new();
            for operation in &operations {
                run.perform(operation);
                run.log.check_invariants_deep();
                if run.log.log_start_offset() == 0 {
                    prop_assert_eq!(run.log.last_stable_offset(), stable_offset_oracle(&run.log));
                } else {
                    // Transactions whose first records were deleted still hold the LSO.
                    prop_assert!(run.log.last_stable_offset() <= stable_offset_oracle(&run.log));
                }
                let stable = run.log.last_stable_offset();
                let read = run
                    .log
                    .read(run.log.log_start_offset(), stable, u64::MAX)
                    .expect("the log start is in range");
                let aborted = run.log.aborted_in(&read);
                prop_assert!(aborted.is_sorted_by_key(|aborted| aborted.first_offset));
                prop_assert!(read.iter().all(|batch| batch.end_offset() <= stable));
                prop_assert_eq!(flatten(&run.log), run.model.flatten());
                prop_assert_eq!(run.log.log_start_offset(), run.model.log_start_offset);
                for (offset, epoch, record) in run.model.flatten() {
                    prop_assert_eq!(run.log.record_at(offset), Some((epoch, record)));
                    prop_assert_eq!(run.log.epoch_cache().epoch_at(offset), Some(epoch));
                }
            }
        }

        /// (c) After any prefix of the writes, recovery from the image they build gives back the
        /// log built by the same operations, with the high watermark checkpoint clamped.
        #[test]
        fn recover_after_any_prefix_of_writes_equals_the_log_built_by_it(
            operations in prop::collection::vec(operation(), 1..60)
        ) {
            let mut run = Run::new();
            let mut image = LogImage::default();
            let mut applied = 0;
            for operation in &operations {
                run.perform(operation);
                for write in &run.writes[applied..] {
                    image.apply(write);
                }
                applied = run.writes.len();
                prop_assert_eq!(&image, run.log.image());
                let recovered = PartitionLog::recover(&image, limits());
                recovered.check_invariants_deep();
                prop_assert_eq!(recovered.batches(), run.log.batches());
                prop_assert_eq!(recovered.epoch_cache(), run.log.epoch_cache());
                prop_assert_eq!(recovered.log_start_offset(), run.log.log_start_offset());
                prop_assert_eq!(
                    recovered.high_watermark(),
                    run.log
                        .high_watermark_checkpoint()
                        .clamp(run.log.log_start_offset(), run.log.log_end_offset())
                );
            }
        }

        /// Disk faults lose writes: an image built from any subsequence of the writes still
        /// recovers to a log that holds every invariant.
        #[test]
        fn recover_after_lost_writes_keeps_a_consistent_log(
            operations in prop::collection::vec(operation(), 1..60),
            kept in prop::collection::vec(any::<bool>(), 60),
        ) {
            let mut run = Run::new();
            for operation in &operations {
                run.perform(operation);
            }
            let mut image = LogImage::default();
            for (write, keep) in run.writes.iter().zip(kept.iter().cycle()) {
                if *keep {
                    image.apply(write);
                }
            }
            let recovered = PartitionLog::recover(&image, limits());
            recovered.check_invariants_deep();
        }
    }
}

mod replication {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    use super::*;

    const REPLICAS: usize = 3;

    fn limits() -> LogLimits {
        LogLimits {
            batch_records_max: 3,
            fetch_records_max: 6,
            log_records_max: 10_000,
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        /// The leader appends a batch.
        Append { count: u64 },
        /// A follower fetches once (doing its follower start first if it owes one).
        Replicate { follower: usize, records_max: u64 },
        /// A new leader epoch, led by `replica`. The ISR is every replica, so any choice must keep
        /// every acknowledged record.
        Elect { replica: usize },
        /// A follower restarts from its disk (every write synced: nothing is lost).
        Restart { replica: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1..4u64).prop_map(|count| Step::Append { count }),
            6 => (0..REPLICAS, 1..7u64)
                .prop_map(|(follower, records_max)| Step::Replicate { follower, records_max }),
            2 => (0..REPLICAS).prop_map(|replica| Step::Elect { replica }),
            1 => (0..REPLICAS).prop_map(|replica| Step::Restart { replica }),
        ]
    }

    /// What a run broke, counted after the cluster healed.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Violations {
        /// Records once below the leader's high watermark (acknowledged with acks=all) that the
        /// final leader's log does not hold.
        lost_acknowledged: usize,
        /// Replicas whose final log differs from the leader's.
        divergent_replicas: usize,
    }

    /// Replicas of one partition, a leader, and what each follower still owes the protocol: a
    /// tiny model of the node's replication, driving the log as the node will.
    struct Cluster {
        bugs: LogBugs,
        replicas: Vec<PartitionLog>,
        leader: usize,
        epoch: u64,
        /// The leader each replica last followed, as it knows (`None` after a restart).
        followed: Vec<Option<usize>>,
        /// Whether each follower did its follower start since the last election or restart.
        started: Vec<bool>,
        /// The log end offset each follower last reported to the current leader by fetching.
        reported: Vec<Option<u64>>,
        next_value: u64,
        /// Every record that was once on every replica, by offset.
        committed: BTreeMap<u64, (u64, Record)>,
        /// Every record that was once below the leader's high watermark, by offset.
        acknowledged: BTreeMap<u64, (u64, Record)>,
        /// Searches that took more than one round (KIP-279's iteration).
        multi_round_searches: u32,
        /// Searches that dropped at least one record.
        truncating_searches: u32,
    }

    impl Cluster {
        fn new(bugs: LogBugs) -> Self {
            Self {
                bugs,
                replicas: vec![PartitionLog::new(limits()); REPLICAS],
                leader: 0,
                epoch: 1,
                followed: vec![Some(0); REPLICAS],
                started: vec![true; REPLICAS],
                reported: vec![None; REPLICAS],
                next_value: 0,
                committed: BTreeMap::new(),
                acknowledged: BTreeMap::new(),
                multi_round_searches: 0,
                truncating_searches: 0,
            }
        }

        fn run(bugs: LogBugs, steps: &[Step]) -> Self {
            let mut cluster = Self::new(bugs);
            for step in steps {
                cluster.perform(step);
            }
            cluster.heal();
            cluster
        }

        fn perform(&mut self, step: &Step) {
            match *step {
                Step::Append { count } => {
                    let appended = records(self.next_value, count);
                    self.next_value += count;
                    self.replicas[self.leader]
                        .append_as_leader(self.epoch, appended)
                        .expect("room");
                }
                Step::Replicate {
                    follower,
                    records_max,
                } => self.replicate(follower, records_max),
                Step::Elect { replica } => self.elect(replica),
                Step::Restart { replica } => self.restart(replica),
            }
            self.note_committed();
            self.note_acknowledged();
        }

        fn correct(&self) -> bool {
            self.bugs == LogBugs::default()
        }

        fn elect(&mut self, replica: usize) {
            self.epoch += 1;
            self.leader = replica;
            self.followed[replica] = None;
            self.started = vec![false; REPLICAS];
            self.reported = vec![None; REPLICAS];
        }

        fn restart(&mut self, replica: usize) {
            if replica == self.leader {
                return;
            }
            let log = &mut self.replicas[replica];
            log.checkpoint_high_watermark();
            *log = PartitionLog::recover(log.image(), limits());
            self.followed[replica] = None;
            self.started[replica] = false;
        }

        fn replicate(&mut self, follower: usize, records_max: u64) {
            if follower == self.leader {
                return;
            }
            if !self.started[follower] {
                self.start_following(follower);
            }
            let fetch_offset = self.replicas[follower].log_end_offset();
            self.reported[follower] = Some(fetch_offset);
            self.advance_high_watermark();
            let correct = self.correct();
            let (leader, follower_log) =
                leader_and_follower(&mut self.replicas, self.leader, follower);
            let read = leader.read(fetch_offset, leader.log_end_offset(), records_max);
            match read {
                Ok(batches) => {
                    for batch in batches {
                        let appended = follower_log.append_as_follower(batch);
                        assert!(
                            appended.is_ok() || !correct,
                            "a correct follower refused a batch: {appended:?}"
                        );
                        if appended.is_err() {
                            break;
                        }
                    }
                }
                Err(ReadError::OffsetOutOfRange {
                    log_start_offset,
                    log_end_offset,
                    ..
                }) => {
                    assert!(!correct, "a correct follower fetched out of range");
                    follower_log.reset_out_of_range(log_start_offset, log_end_offset);
                }
            }
            follower_log.follow_high_watermark(leader.high_watermark());
            if correct {
                assert_prefix(follower_log, leader);
            }
        }

        /// The follower start the node will do: ask the bug switches, then act on the answer.
        fn start_following(&mut self, follower: usize) {
            let leader_now = self.leader;
            let leader_before = self.followed[follower].map(|index| index as u32);
            let correct = self.correct();
            let (leader, follower_log) =
                leader_and_follower(&mut self.replicas, leader_now, follower);
            let log_end_offset = follower_log.log_end_offset();
            match self
                .bugs
                .follower_start(follower_log, leader_before, leader_now as u32)
            {
                FollowerStart::SearchDivergence { leader_epoch } => {
                    assert_eq!(Some(leader_epoch), follower_log.divergence_query());
                    if search_divergence(follower_log, leader) > 1 {
                        self.multi_round_searches += 1;
                    }
                }
                FollowerStart::TruncateToHighWatermark { offset } => {
                    follower_log.truncate_to(offset);
                }
                FollowerStart::Fetch { .. } | FollowerStart::KeepLog { .. } => {}
            }
            if follower_log.log_end_offset() < log_end_offset {
                self.truncating_searches += 1;
            }
            if correct {
                assert_prefix(follower_log, leader);
            }
            self.followed[follower] = Some(leader_now);
            self.started[follower] = true;
        }

        /// The leader's HW: the minimum log end offset over the ISR (every replica), once every
        /// follower has reported one in this epoch. It never goes down.
        fn advance_high_watermark(&mut self) {
            let leader = &mut self.replicas[self.leader];
            let mut high_watermark = leader.log_end_offset();
            for (replica, reported) in self.reported.iter().enumerate() {
                if replica == self.leader {
                    continue;
                }
                let Some(reported) = reported else { return };
                high_watermark = high_watermark.min(*reported);
            }
            if high_watermark > leader.high_watermark() {
                leader.advance_high_watermark(high_watermark);
            }
        }

        /// Adds every record now on every replica to the committed set.
        fn note_committed(&mut self) {
            let shortest = self
                .replicas
                .iter()
                .map(PartitionLog::log_end_offset)
                .min()
                .unwrap_or(0);
            for offset in 0..shortest {
                let first = self.replicas[0].record_at(offset);
                let everywhere = self
                    .replicas
                    .iter()
                    .all(|replica| replica.record_at(offset) == first);
                if let (true, Some(record)) = (everywhere, first) {
                    let earlier = self.committed.insert(offset, record);
                    if self.correct() {
                        assert!(earlier.is_none_or(|earlier| earlier == record));
                    }
                }
            }
        }

        /// Adds every record below the leader's high watermark to the acknowledged set.
        fn note_acknowledged(&mut self) {
            let leader = &self.replicas[self.leader];
            for offset in leader.log_start_offset()..leader.high_watermark() {
                let record = leader.record_at(offset).expect("below the HW, in the log");
                self.acknowledged.entry(offset).or_insert(record);
            }
        }

        fn assert_no_committed_record_lost(&self) {
            for (offset, record) in &self.committed {
                for (index, replica) in self.replicas.iter().enumerate() {
                    assert_eq!(
                        replica.record_at(*offset),
                        Some(*record),
                        "replica {index} lost the committed record at offset {offset}"
                    );
                }
            }
        }

        /// Every follower does its start and fetches until it holds the leader's whole log (or,
        /// with a bug planted, stops progressing).
        fn heal(&mut self) {
            for follower in 0..REPLICAS {
                let fetches_max = self.replicas[self.leader].log_end_offset() + 2;
                for _ in 0..fetches_max {
                    self.replicate(follower, limits().fetch_records_max);
                }
            }
            self.note_committed();
            self.note_acknowledged();
        }

        fn violations(&self) -> Violations {
            let leader = &self.replicas[self.leader];
            let leader_records = flatten(leader);
            Violations {
                lost_acknowledged: self
                    .acknowledged
                    .iter()
                    .filter(|(offset, record)| leader.record_at(**offset) != Some(**record))
                    .count(),
                divergent_replicas: self
                    .replicas
                    .iter()
                    .filter(|replica| flatten(replica) != leader_records)
                    .count(),
            }
        }
    }

    /// The follower's log is a prefix of the leader's, record by record and epoch by epoch.
    fn assert_prefix(follower: &PartitionLog, leader: &PartitionLog) {
        let follower_records = flatten(follower);
        let leader_records = flatten(leader);
        assert!(
            leader_records.starts_with(&follower_records),
            "follower diverges from the leader:\n{follower_records:?}\n{leader_records:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// (b) Under random leader changes, restarts and partial replication, the KIP-279 search
        /// leaves every follower a prefix of its leader, no record that was once on every replica
        /// is ever dropped, and once healed every replica holds exactly the leader's log, with
        /// every record ever below the high watermark.
        #[test]
        fn replicas_converge_and_keep_committed_records(
            steps in prop::collection::vec(step(), 1..80)
        ) {
            let mut cluster = Cluster::new(LogBugs::default());
            for step in &steps {
                cluster.perform(step);
                cluster.assert_no_committed_record_lost();
            }
            cluster.heal();
            cluster.assert_no_committed_record_lost();
            prop_assert_eq!(cluster.violations(), Violations::default());
            for replica in &cluster.replicas {
                replica.check_invariants_deep();
            }
        }
    }

    /// What a campaign of random histories saw.
    #[derive(Debug, Default)]
    struct Campaign {
        runs_losing_acknowledged: u32,
        runs_diverging: u32,
        truncating_searches: u32,
        multi_round_searches: u32,
    }

    /// Runs `runs` deterministic random histories with `bugs` and counts what broke and what
    /// happened.
    fn campaign(bugs: LogBugs, runs: u32) -> Campaign {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = prop::collection::vec(step(), 40..80);
        let mut campaign = Campaign::default();
        for _ in 0..runs {
            let steps = strategy
                .new_tree(&mut runner)
                .expect("a strategy without filters")
                .current();
            let cluster = Cluster::run(bugs, &steps);
            let violations = cluster.violations();
            campaign.runs_losing_acknowledged += u32::from(violations.lost_acknowledged > 0);
            campaign.runs_diverging += u32::from(violations.divergent_replicas > 0);
            campaign.truncating_searches += cluster.truncating_searches;
            campaign.multi_round_searches += cluster.multi_round_searches;
        }
        campaign
    }

    /// "Sometimes" is a property too: the random histories do make followers truncate, and
    /// sometimes over more than one round (KIP-279's case), or the property above proves little.
    #[test]
    fn random_histories_exercise_truncation_and_multi_round_searches() {
        let campaign = campaign(LogBugs::default(), 300);
        assert_eq!(campaign.runs_losing_acknowledged, 0);
        assert_eq!(campaign.runs_diverging, 0);
        assert!(
            campaign.truncating_searches > 0,
            "no search truncated anything"
        );
        assert!(
            campaign.multi_round_searches > 0,
            "no search needed a second round"
        );
    }

    /// Self-test of the model's checks against zoo #1: truncating to the local HW loses
    /// acknowledged records within a bounded number of random histories.
    #[test]
    fn truncate_to_high_watermark_breaks_some_random_history() {
        let bugs = LogBugs {
            truncate_to_high_watermark: true,
            ..LogBugs::default()
        };
        let campaign = campaign(bugs, 300);
        assert!(
            campaign.runs_losing_acknowledged > 0,
            "no history lost an acknowledged record: {campaign:?}"
        );
    }

    /// Self-test of the model's checks against zoo #2: skipping truncation when the leader is
    /// unchanged leaves divergent replicas within a bounded number of random histories.
    #[test]
    fn skip_truncation_when_leader_unchanged_breaks_some_random_history() {
        let bugs = LogBugs {
            skip_truncation_when_leader_unchanged: true,
            ..LogBugs::default()
        };
        let campaign = campaign(bugs, 300);
        assert!(
            campaign.runs_diverging > 0,
            "no history diverged: {campaign:?}"
        );
    }
}

mod zoo {
    use super::*;

    fn limits() -> LogLimits {
        LogLimits::default()
    }

    /// Zoo #1 (KIP-101, scenario 1): a follower that truncates to its high watermark on restart
    /// drops a committed record that its HW, one fetch behind the leader's, did not yet cover; a
    /// failover to it then loses an acknowledged write. With the epoch search, nothing is lost.
    fn restart_then_failover(bugs: LogBugs) -> (PartitionLog, PartitionLog) {
        let (mut a, mut b) = (PartitionLog::new(limits()), PartitionLog::new(limits()));
        // Epoch 1, leader A: m1 and m2, each replicated to B.
        a.append_as_leader(1, records(1, 1)).expect("room");
        let high_watermark = fetch(&mut b, &a, 10);
        b.follow_high_watermark(high_watermark);
        a.append_as_leader(1, records(2, 1)).expect("room");
        a.advance_high_watermark(1); // B's second fetch reports offset 1.
        let high_watermark = fetch(&mut b, &a, 10);
        b.follow_high_watermark(high_watermark);
        a.advance_high_watermark(2); // B's third fetch reports offset 2: m2 is acknowledged...
        assert_eq!((a.high_watermark(), b.high_watermark()), (2, 1));
        b.checkpoint_high_watermark();
        // ...but B restarts before the answer carries the new HW to it.
        let mut b = PartitionLog::recover(b.image(), limits());
        match bugs.follower_start(&b, None, 0) {
            FollowerStart::TruncateToHighWatermark { offset } => {
                b.truncate_to(offset);
            }
            // The search needs an answer from A, which crashes before it can give one.
            FollowerStart::SearchDivergence { .. } => {}
            other => panic!("unexpected start {other:?}"),
        }
        // A crashes; B leads epoch 2; A restarts and follows B.
        let mut a = PartitionLog::recover(a.image(), limits());
        match LogBugs::default().follower_start(&a, None, 1) {
            FollowerStart::SearchDivergence { .. } => {
                search_divergence(&mut a, &b);
            }
            other => panic!("unexpected start {other:?}"),
        }
        fetch(&mut a, &b, 10);
        (a, b)
    }

    #[test]
    fn truncate_to_high_watermark_loses_an_acknowledged_record() {
        let bugs = LogBugs {
            truncate_to_high_watermark: true,
            ..LogBugs::default()
        };
        let (a, b) = restart_then_failover(bugs);
        assert_eq!(a.log_end_offset(), 1, "m2 (offset 1) is gone from A");
        assert_eq!(b.log_end_offset(), 1, "and from B, the new leader");
    }

    #[test]
    fn epoch_search_keeps_the_acknowledged_record_through_the_same_failover() {
        let (a, b) = restart_then_failover(LogBugs::default());
        assert_eq!(flatten(&a), flatten(&b));
        assert_eq!(b.record_at(1).map(|(_, record)| record.value), Some(2));
    }

    /// Zoo #2: back-to-back elections A (epoch 1), B (epoch 2), A (epoch 3). C missed epoch 2 and
    /// sees its leader unchanged; skipping truncation, it keeps A's epoch-1 record at offset 1,
    /// which A itself dropped when it followed B. Two replicas hold different records at one
    /// offset below the high watermark.
    fn back_to_back_elections(bugs: LogBugs) -> (PartitionLog, PartitionLog) {
        let mut replicas = vec![PartitionLog::new(limits()); 3];
        let (a, b, c) = (0, 1, 2);
        // Epoch 1, leader A: offset 0 reaches everyone, offset 1 only C.
        replicas[a]
            .append_as_leader(1, records(100, 1))
            .expect("room");
        for follower in [b, c] {
            let (leader, follower) = leader_and_follower(&mut replicas, a, follower);
            fetch(follower, leader, 10);
        }
        replicas[a]
            .append_as_leader(1, records(101, 1))
            .expect("room");
        let (leader, follower) = leader_and_follower(&mut replicas, a, c);
        fetch(follower, leader, 10);
        // Epoch 2, leader B: A follows B and truncates offset 1; B writes its own offset 1.
        let (leader, follower) = leader_and_follower(&mut replicas, b, a);
        search_divergence(follower, leader);
        assert_eq!(follower.log_end_offset(), 1);
        replicas[b]
            .append_as_leader(2, records(200, 1))
            .expect("room");
        let (leader, follower) = leader_and_follower(&mut replicas, b, a);
        fetch(follower, leader, 10);
        // Epoch 3, leader A again. C never heard of epoch 2: its leader is still A.
        let (leader, follower) = leader_and_follower(&mut replicas, a, c);
        match bugs.follower_start(follower, Some(a as u32), a as u32) {
            FollowerStart::KeepLog { .. } => {}
            FollowerStart::SearchDivergence { .. } => {
                search_divergence(follower, leader);
            }
            other => panic!("unexpected start {other:?}"),
        }
        replicas[a]
            .append_as_leader(3, records(300, 1))
            .expect("room");
        let (leader, follower) = leader_and_follower(&mut replicas, a, c);
        fetch(follower, leader, 10);
        let high_watermark = replicas[a]
            .log_end_offset()
            .min(replicas[c].log_end_offset());
        replicas[a].advance_high_watermark(high_watermark);
        (replicas[a].clone(), replicas[c].clone())
    }

    #[test]
    fn skip_truncation_when_leader_unchanged_leaves_divergent_replicas() {
        let bugs = LogBugs {
            skip_truncation_when_leader_unchanged: true,
            ..LogBugs::default()
        };
        let (a, c) = back_to_back_elections(bugs);
        assert_eq!(a.high_watermark(), 3);
        let value_at_one = |log: &PartitionLog| log.record_at(1).map(|(_, record)| record.value);
        assert_eq!(value_at_one(&a), Some(200));
        assert_eq!(
            value_at_one(&c),
            Some(101),
            "C keeps a record A no longer has"
        );
    }

    #[test]
    fn epoch_search_after_back_to_back_elections_keeps_replicas_identical() {
        let (a, c) = back_to_back_elections(LogBugs::default());
        assert_eq!(flatten(&a), flatten(&c));
        assert_eq!(a.log_end_offset(), 3);
    }
}
