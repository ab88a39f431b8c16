//! A sans-IO consumer in assign mode: one history process polling its assigned partitions.
//!
//! It first completes an `assign` operation (the assignment is local), then loops `poll`
//! operations: each sends one fetch per assigned partition whose leader it knows, from its
//! position, and completes `ok` with what came back once every fetch answered or
//! `poll_timeout_ns` passed (an empty poll is fine). Records are accepted only at the position
//! (dense, in order); answers that arrive after their poll completed are dropped and fetched
//! again. Errors: not leader, fenced or unknown epoch, unknown partition: refresh the metadata;
//! OFFSET_OUT_OF_RANGE: reset to the earliest offset (ListOffsets, forgotten if unanswered for
//! `request_timeout_ns`), as `auto.offset.reset = earliest`. A partition whose fetches go
//! unanswered for `request_timeout_ns` has its leader looked up again
//! (`super::silent_leaders`).

use std::collections::BTreeMap;

use rand::RngCore;

use super::ClientReport;
use super::fetched::delivered_records;
use super::history::{ClientEvent, ClientOperation, EventKind, PolledRecords};
use super::metadata::MetadataCache;
use super::silent_leaders::SilentLeaders;
use crate::dedup::RequestIds;
use crate::message::{
    DataError, FetchRequest, FetchResponse, IsolationLevel, ListOffsetsRequest,
    ListOffsetsResponse, Message, OffsetSpec,
};
use crate::node::{Input, Observation, Output, Timer};
use crate::topic::TopicName;

/// A consumer's settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsumerConfig {
    pub process: u64,
    pub topic: String,
    pub partitions: Vec<u32>,
    /// A poll completes at the latest this long after it started.
    pub poll_timeout_ns: u64,
    /// A partition whose fetches go unanswered this long has its leader looked up again
    /// (Kafka's `request.timeout.ms`, scaled down as the producer's is).
    pub request_timeout_ns: u64,
    /// Most records one fetch returns.
    pub fetch_records_max: u64,
    pub retry_backoff_ns: u64,
    /// What it reads of transactions (`read_uncommitted` by default, as Kafka's).
    pub isolation: IsolationLevel,
}

impl ConsumerConfig {
    pub fn new(process: u64, topic: &str, partitions: Vec<u32>) -> Self {
        ConsumerConfig {
            process,
            topic: topic.to_owned(),
            partitions,
            poll_timeout_ns: 250_000_000,
            request_timeout_ns: 2_000_000_000,
            fetch_records_max: 512,
            retry_backoff_ns: 50_000_000,
            isolation: IsolationLevel::ReadUncommitted,
        }
    }
}

#[derive(Debug)]
struct Poll {
    /// Fetches awaiting answers: (request id, partition), a few at most (one per partition).
    in_flight: Vec<(u64, u32)>,
    /// What each answered partition returned, in the order answered.
    records: Vec<(u32, Vec<(u64, u64)>)>,
    deadline_ns: u64,
}

/// The consumer.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    /// `config.topic`, shared by every request.
    topic: TopicName,
    metadata: MetadataCache,
    /// The offset of the next record to read, per assigned partition.
    positions: BTreeMap<u32, u64>,
    /// Earliest-offset lookups in flight: request id -> (partition, when sent). One unanswered
    /// for the request timeout is forgotten, and the partition polled again (a lost lookup
    /// left it unread for ever).
    resets: BTreeMap<u64, (u32, u64)>,
    request_ids: RequestIds,
    assigned: bool,
    poll: Option<Poll>,
    silent_leaders: SilentLeaders<u32>,
}

impl Consumer {
    pub fn new(config: ConsumerConfig, brokers: u32) -> Consumer {
        let positions = config
            .partitions
            .iter()
            .map(|partition| (*partition, 0))
            .collect();
        Consumer {
            topic: TopicName::from(&config.topic),
            config,
            metadata: MetadataCache::new(brokers),
            positions,
            resets: BTreeMap::new(),
            request_ids: RequestIds::default(),
            assigned: false,
            poll: None,
            silent_leaders: SilentLeaders::default(),
        }
    }

    /// The offset of the next record to read, per assigned partition.
    pub fn positions(&self) -> Vec<(String, u32, u64)> {
        self.positions
            .iter()
            .map(|(partition, position)| (self.config.topic.clone(), *partition, *position))
            .collect()
    }

    pub fn step<R: RngCore + ?Sized>(
        &mut self,
        now_ns: u64,
        input: Input,
        rng: &mut R,
        output: &mut Vec<Output>,
    ) {
        match input {
            Input::Start => {
                self.request_ids.start(rng.next_u64());
                self.assign(output);
                self.refresh_metadata(now_ns, output);
            }
            Input::Message { message, .. } => self.on_message(now_ns, message, output),
            Input::TimerFired(_) | Input::DiskWriteFailed { .. } | Input::DiskSyncDone { .. } => {}
        }
        self.advance(now_ns, output);
        self.arm_timer(now_ns, output);
    }

    fn assign(&mut self, output: &mut Vec<Output>) {
        if self.assigned {
            return;
        }
        self.assigned = true;
        let keys: Vec<(String, u32)> = self
            .config
            .partitions
            .iter()
            .map(|partition| (self.config.topic.clone(), *partition))
            .collect();
        output.push(self.event(EventKind::Invoke, ClientOperation::Assign(keys.clone())));
        output.push(self.event(EventKind::Ok, ClientOperation::Assign(keys)));
    }

    fn event(&self, kind: EventKind, operation: ClientOperation) -> Output {
        Output::Observe(Observation::Client(ClientReport::Event(ClientEvent {
            group: None,
            process: self.config.process,
            kind,
            operation,
        })))
    }

    fn refresh_metadata(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let backoff_ns = self.config.retry_backoff_ns;
        self.metadata
            .request_refresh(now_ns, &mut self.request_ids, backoff_ns, output);
    }

    fn on_message(&mut self, now_ns: u64, message: Message, output: &mut Vec<Output>) {
        match message {
            Message::MetadataResponse(response) => {
                self.metadata.on_response(&response);
            }
            Message::FetchResponse(response) => self.on_fetch_response(now_ns, *response, output),
            Message::ListOffsetsResponse(response) => self.on_list_offsets_response(response),
            _ => {}
        }
    }

    fn on_fetch_response(
        &mut self,
        now_ns: u64,
        response: FetchResponse,
        output: &mut Vec<Output>,
    ) {
        // Any answer shows the leader alive, one to an earlier poll too.
        self.silent_leaders.answered(&response.partition);
        let Some(poll) = &mut self.poll else {
            return;
        };
        let Some(position) = poll
            .in_flight
            .iter()
            .position(|(request_id, _)| *request_id == response.request_id)
        else {
            return;
        };
        let (_, partition) = poll.in_flight.swap_remove(position);
        match response.result {
            Ok(data) => {
                let position = self.positions.get_mut(&partition).expect("assigned");
                poll.records.push((partition, Vec::new()));
                let (_, polled) = poll.records.last_mut().expect("pushed");
                for (offset, record) in delivered_records(&data.batches, data.aborted.as_slice()) {
                    if offset == *position {
                        if let Some(record) = record {
                            polled.push((offset, record.value));
                        }
                        *position += 1;
                    }
                }
            }
            Err(DataError::OffsetOutOfRange { .. }) => {
                self.reset_to_earliest(now_ns, partition, output)
            }
            Err(_) => {
                self.metadata.invalidate(&self.config.topic, partition);
                self.refresh_metadata(now_ns, output);
            }
        }
    }

    /// Asks the leader for the earliest offset, to restart `partition` there.
    fn reset_to_earliest(&mut self, now_ns: u64, partition: u32, output: &mut Vec<Output>) {
        let Some((leader, _)) = self.metadata.leader(&self.config.topic, partition) else {
            return;
        };
        if self.resetting(partition) {
            return;
        }
        let request_id = self.request_ids.next_id();
        self.resets.insert(request_id, (partition, now_ns));
        let request = ListOffsetsRequest {
            request_id,
            topic: self.topic.clone(),
            partition,
            spec: OffsetSpec::Earliest,
        };
        output.push(Output::Send {
            to: leader,
            message: Message::ListOffsets(request),
        });
    }

    /// Whether an earliest-offset lookup of `partition` is in flight.
    fn resetting(&self, partition: u32) -> bool {
        self.resets
            .values()
            .any(|(resetting, _)| *resetting == partition)
    }

    fn on_list_offsets_response(&mut self, response: ListOffsetsResponse) {
        let Some((partition, _)) = self.resets.remove(&response.request_id) else {
            return;
        };
        if let Ok(offset) = response.result {
            self.positions.insert(partition, offset);
        }
    }

    fn advance(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        if let Some(poll) = &self.poll
            && (poll.in_flight.is_empty() || poll.deadline_ns <= now_ns)
        {
            let mut poll = self.poll.take().expect("present");
            poll.records.sort_by_key(|(partition, _)| *partition);
            let polled = poll
                .records
                .into_iter()
                .filter(|(_, records)| !records.is_empty())
                .map(|(partition, records)| PolledRecords {
                    topic: self.topic.clone(),
                    partition,
                    records,
                })
                .collect();
            output.push(self.event(EventKind::Ok, ClientOperation::Poll(polled)));
        }
        if self.poll.is_none() {
            self.start_poll(now_ns, output);
        }
    }

    /// Invokes a poll when some partition's leader is known (else refreshes the metadata).
    fn start_poll(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let timeout_ns = self.config.request_timeout_ns;
        for partition in self.silent_leaders.take_silent(now_ns, timeout_ns) {
            self.metadata.invalidate(&self.config.topic, partition);
        }
        self.resets
            .retain(|_, (_, sent_ns)| *sent_ns + timeout_ns > now_ns);
        let topic = self.topic.clone();
        let ready: Vec<(u32, u32, u64)> = self
            .positions
            .keys()
            .filter(|partition| !self.resetting(**partition))
            .filter_map(|partition| {
                let (leader, epoch) = self.metadata.leader(&topic, *partition)?;
                Some((*partition, leader, epoch))
            })
            .collect();
        if ready.len() < self.positions.len() {
            self.refresh_metadata(now_ns, output);
        }
        if ready.is_empty() {
            return;
        }
        output.push(self.event(EventKind::Invoke, ClientOperation::Poll(Vec::new())));
        let mut in_flight = Vec::with_capacity(ready.len());
        for (partition, leader, epoch) in ready {
            let request_id = self.request_ids.next_id();
            in_flight.push((request_id, partition));
            self.silent_leaders.fetched(&partition, now_ns);
            let request = FetchRequest {
                request_id,
                topic: topic.clone(),
                partition,
                current_leader_epoch: Some(epoch),
                fetch_offset: self.positions[&partition],
                records_max: self.config.fetch_records_max,
                isolation: self.config.isolation,
            };
            output.push(Output::Send {
                to: leader,
                message: Message::Fetch(request),
            });
        }
        self.poll = Some(Poll {
            in_flight,
            records: Vec::new(),
            deadline_ns: now_ns + self.config.poll_timeout_ns,
        });
    }

    fn arm_timer(&self, now_ns: u64, output: &mut Vec<Output>) {
        // A poll deadline already past waits on a message: no timer at it (it would fire at
        // every nanosecond).
        let deadline_ns = match &self.poll {
            Some(poll) if poll.deadline_ns > now_ns => poll.deadline_ns,
            _ => now_ns + self.config.retry_backoff_ns,
        };
        output.push(Output::SetTimer {
            timer: Timer::Client,
            deadline_ns: deadline_ns.max(now_ns + 1),
        });
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::client::metadata::testing::{metadata_request, partition_led_by};

    const TOPIC: &str = "t";

    /// A consumer of `t/0` driven by hand: time moves only when a test moves it.
    struct Driven {
        consumer: Consumer,
        rng: ChaCha8Rng,
        now_ns: u64,
        metadata_index: u64,
    }

    impl Driven {
        fn step(&mut self, now_ns: u64, input: Input) -> Vec<Output> {
            self.now_ns = now_ns;
            let mut output = Vec::new();
            self.consumer
                .step(now_ns, input, &mut self.rng, &mut output);
            output
        }

        /// Answers the metadata request in `output`: `t/0` is led by `leader`.
        fn answer_metadata(&mut self, output: &[Output], leader: u32) -> Vec<Output> {
            let request_id =
                metadata_request(output).unwrap_or_else(|| panic!("asks for metadata: {output:?}"));
            self.metadata_index += 1;
            let index = self.metadata_index;
            let response = partition_led_by(request_id, index, TOPIC, Some(leader), index);
            let input = Input::Message {
                from: 0,
                message: Message::MetadataResponse(response),
            };
            self.step(self.now_ns + 1, input)
        }
    }

    /// A consumer of `t/0` that knows broker 2 leads it, and the outputs of its first poll.
    fn started() -> (Driven, Vec<Output>) {
        let config = ConsumerConfig::new(1, TOPIC, vec![0]);
        let mut driven = Driven {
            consumer: Consumer::new(config, 3),
            rng: ChaCha8Rng::seed_from_u64(1),
            now_ns: 0,
            metadata_index: 0,
        };
        let output = driven.step(0, Input::Start);
        let output = driven.answer_metadata(&output, 2);
        (driven, output)
    }

    /// The fetches in `output`.
    fn fetches(output: &[Output]) -> Vec<&FetchRequest> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Send {
                    message: Message::Fetch(request),
                    ..
                } => Some(request),
                _ => None,
            })
            .collect()
    }

    /// The brokers the fetches in `output` go to.
    fn fetched_from(output: &[Output]) -> Vec<u32> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Send {
                    to,
                    message: Message::Fetch(_),
                } => Some(*to),
                _ => None,
            })
            .collect()
    }

    /// A leader that leaves every fetch unanswered (paused, or cut off) is looked up again once
    /// its partition has been silent for the request timeout, and the consumer then fetches
    /// from the leader it finds. Asking the silent broker again, it read nothing of the
    /// partition until that broker woke.
    #[test]
    fn a_consumer_whose_leader_stays_silent_looks_it_up_and_fetches_from_the_one_it_finds() {
        let (mut driven, output) = started();
        let config = &driven.consumer.config;
        let (poll_timeout_ns, request_timeout_ns) =
            (config.poll_timeout_ns, config.request_timeout_ns);
        assert_eq!(fetched_from(&output), vec![2]);
        let started_ns = driven.now_ns;
        let mut output = Vec::new();
        while driven.now_ns < started_ns + request_timeout_ns {
            output = driven.step(
                driven.now_ns + poll_timeout_ns,
                Input::TimerFired(Timer::Client),
            );
            if driven.now_ns < started_ns + request_timeout_ns {
                assert_eq!(fetched_from(&output), vec![2], "polls the leader it knows");
            }
        }
        assert!(
            fetched_from(&output).is_empty(),
            "no fetch before the lookup: {output:?}"
        );
        let output = driven.answer_metadata(&output, 1);
        assert_eq!(
            fetched_from(&output),
            vec![1],
            "fetches from the new leader"
        );
    }

    /// A partition whose earliest-offset lookup (after OFFSET_OUT_OF_RANGE) goes unanswered is
    /// not polled while the lookup is in flight, and is polled again once the lookup is
    /// forgotten at the request timeout. A lost lookup left it unread for ever.
    #[test]
    fn a_consumer_whose_reset_lookup_goes_unanswered_polls_the_partition_again() {
        let (mut driven, output) = started();
        let [fetch] = fetches(&output)[..] else {
            panic!("one fetch: {output:?}");
        };
        let response = FetchResponse {
            request_id: fetch.request_id,
            topic: TopicName::from(TOPIC),
            partition: 0,
            result: Err(DataError::OffsetOutOfRange {
                log_start_offset: 5,
                log_end_offset: 9,
            }),
        };
        let input = Input::Message {
            from: 2,
            message: Message::FetchResponse(Box::new(response)),
        };
        let output = driven.step(driven.now_ns + 1, input);
        assert!(
            output.iter().any(|output| matches!(
                output,
                Output::Send {
                    to: 2,
                    message: Message::ListOffsets(_)
                }
            )),
            "looks up the earliest offset: {output:?}"
        );
        let sent_ns = driven.now_ns;
        let timeout_ns = driven.consumer.config.request_timeout_ns;
        let step_ns = driven.consumer.config.poll_timeout_ns;
        let mut polled_again_ns = None;
        while polled_again_ns.is_none() && driven.now_ns < sent_ns + 2 * timeout_ns {
            let output = driven.step(driven.now_ns + step_ns, Input::TimerFired(Timer::Client));
            if !fetches(&output).is_empty() {
                polled_again_ns = Some(driven.now_ns);
            }
        }
        let polled_again_ns = polled_again_ns.expect("the partition is polled again");
        assert!(
            polled_again_ns >= sent_ns + timeout_ns,
            "not while the lookup may still be answered"
        );
    }
}
