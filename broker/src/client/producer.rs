//! A sans-IO producer: one history process sending small batches of unique values.
//!
//! Each operation draws 1..=`records_per_operation_max` records (values
//! `(index << 40) | (instance << 32) | sequence`: [`record_value`]; keys uniform in `0..keys` from
//! the node's generator, or none with `keys = 0`), routes them to partitions
//! ([`super::partitioner`]) and sends one produce request per leader broker, with a batch for each
//! of its partitions, at most `in_flight_max` requests at once. Operations start at
//! `rate_per_second` records per second on average (never two at once: a history process does
//! one thing at a time) until `stop_at_ns`; an operation that starts late also carries the
//! records that fell due meanwhile, so that the rate holds while requests take longer than the
//! interval between operations.
//!
//! Correctness rule for the history: a request whose outcome is unknown (no answer within
//! `request_timeout_ns`, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND) is never sent
//! again; only definite failures (not leader, unknown or fenced leader epoch, not enough replicas
//! before append, unknown partition, the leader's in-flight limit) are retried, after a metadata
//! refresh, until the operation's deadline. A request unanswered in time also makes the producer
//! forget its partitions' leader and ask for the metadata again, as Kafka's client does when it
//! drops the connection of a request that timed out. The operation then completes `ok` if every
//! record was acknowledged, `fail` if none can have been appended, else `info` with the offsets
//! known.
//! With acks=0 it completes `info` as soon as its requests are sent.
//!
//! An idempotent producer (`idempotent`, KIP-98) first asks a broker for a producer id
//! ([`super::producer_identity`]) and numbers each partition's records. Its batches keep their
//! numbers when retried, so the leader appends each once: it retries unknown outcomes too (no
//! answer in time, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND) until the operation's
//! deadline, and a part completes `ok` when any attempt is acknowledged, a retried duplicate with
//! the offset of its first append. A part refused for its numbers (out of order, unknown
//! producer, fenced epoch) is unknown if an earlier attempt may have landed, else failed; after
//! any part that is not acknowledged, the producer starts again under a fresh id.
//!
//! A transactional producer (`transactional_id`) is idempotent, takes its id and epoch from its
//! transaction coordinator, and makes each operation one transaction, recorded as a `txn`
//! ([`super::transaction`]): partitions added, records sent as an idempotent producer sends them,
//! then committed, or aborted (one in `abort_one_in` on purpose, or after a record failed).

use rand::{Rng, RngCore};

use super::ClientReport;
use super::history::{ClientEvent, ClientOperation, EventKind, SentRecord};
use super::metadata::MetadataCache;
use super::partitioner::partition_for_key;
use super::producer_identity::{ProducerIdentity, TransactionalId};
use super::transaction::{Completion, Phase, Reaction, Transaction, TransactionalProducer};
use crate::dedup::RequestIds;
use crate::log::{BatchTransaction, ProducerStamp, Record, SharedRecords};
use crate::message::txn::TxnError;
use crate::message::{Acks, Message, ProducePartition, ProduceRequest, ProduceResponse};
use crate::node::{Input, Observation, Output, Timer};
use crate::topic::TopicName;
use crate::txn::TRANSACTION_STATE_TOPIC;

/// A producer's settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProducerConfig {
    /// The history process id.
    pub process: u64,
    /// The producer's index: its values are `(index << 40) | (instance << 32) | sequence`.
    pub index: u64,
    /// Which build of the producer's node this is: 0 at first, one more at each restart. A
    /// restarted producer is a new instance whose sequence starts again at 0; the instance in
    /// its values keeps them apart from every earlier instance's (histories need unique
    /// values). Below [`PRODUCER_INSTANCES_MAX`].
    pub instance: u32,
    pub topic: String,
    pub acks: Acks,
    /// Records per second on average.
    pub rate_per_second: u64,
    /// Keys are drawn from `0..keys`; 0 means unkeyed (round-robin).
    pub keys: u64,
    /// No operation starts at or after this local time.
    pub stop_at_ns: u64,
    pub records_per_operation_max: u32,
    /// Requests in flight at once (per operation: one per leader broker).
    pub in_flight_max: u32,
    /// A request unanswered this long has an unknown outcome.
    pub request_timeout_ns: u64,
    /// An operation retries definite failures until this long after it started.
    pub operation_timeout_ns: u64,
    pub retry_backoff_ns: u64,
    /// Number batches per partition under a producer id, so that retries are appended once.
    pub idempotent: bool,
    /// Make each operation a transaction under this transactional id (implies `idempotent`).
    pub transactional_id: Option<String>,
    /// The coordinator aborts a transaction open longer than this.
    pub transaction_timeout_ns: u64,
    /// Partitions of the transaction state topic (where the coordinator lives).
    pub transaction_state_partitions: u32,
    /// A transactional producer aborts one transaction in this many on purpose (0: never).
    pub abort_one_in: u32,
    /// A transactional producer fenced by a newer instance of its id (PRODUCER_FENCED) asks for
    /// an epoch again only after this long. Kafka's producer takes the fence as fatal and its
    /// application is restarted, by a supervisor, after a delay; restarted at once, two live
    /// instances of one id fence each other in turn, each before its transaction can finish.
    pub fenced_restart_backoff_ns: u64,
}

impl ProducerConfig {
    /// Defaults for everything but the workload.
    pub fn new(process: u64, index: u64, topic: &str, acks: Acks, rate_per_second: u64) -> Self {
        ProducerConfig {
            process,
            index,
            instance: 0,
            topic: topic.to_owned(),
            acks,
            rate_per_second,
            keys: 0,
            stop_at_ns: u64::MAX,
            records_per_operation_max: 3,
            in_flight_max: 8,
            request_timeout_ns: 2_000_000_000,
            operation_timeout_ns: 5_000_000_000,
            retry_backoff_ns: 50_000_000,
            idempotent: false,
            transactional_id: None,
            transaction_timeout_ns: 20_000_000_000,
            transaction_state_partitions: 1,
            abort_one_in: 0,
            fenced_restart_backoff_ns: 1_000_000_000,
        }
    }
}

/// Most records one operation may carry (a bound on the batch a request carries).
pub const RECORDS_PER_OPERATION_MAX: u32 = 64;

/// Most instances of one producer (builds of its node: the first and every restart); the
/// instance takes bits 32 to 39 of a value.
pub const PRODUCER_INSTANCES_MAX: u32 = 1 << 8;
/// Most records one producer instance writes; the sequence takes bits 0 to 31 of a value.
pub const RECORDS_PER_INSTANCE_MAX: u64 = 1 << 32;
/// Most producer indexes: values stay below 2^63 (history values are signed).
pub const PRODUCER_INDEXES_MAX: u64 = 1 << 23;

/// The value of record `sequence` (from 0) of instance `instance` of producer `index`:
/// `(index << 40) | (instance << 32) | sequence`, unique across producers, their restarts and
/// their records.
pub fn record_value(index: u64, instance: u32, sequence: u64) -> u64 {
    assert!(index < PRODUCER_INDEXES_MAX, "producer index {index}");
    assert!(
        instance < PRODUCER_INSTANCES_MAX,
        "producer instance {instance}"
    );
    assert!(
        sequence < RECORDS_PER_INSTANCE_MAX,
        "producer sequence {sequence}"
    );
    (index << 40) | (u64::from(instance) << 32) | sequence
}

const SECOND_NS: u64 = 1_000_000_000;

/// How many distinct requests the parts in flight wait on.
fn requests_in_flight(parts: &[Part]) -> usize {
    let request_of = |part: &Part| match part.status {
        PartStatus::InFlight { request_id, .. } => Some(request_id),
        _ => None,
    };
    parts
        .iter()
        .enumerate()
        .filter(|(position, part)| {
            request_of(part).is_some_and(|request| {
                !parts[..*position]
                    .iter()
                    .any(|earlier| request_of(earlier) == Some(request))
            })
        })
        .count()
}

/// Where one partition's part of an operation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PartStatus {
    /// Not sent (yet, or again after a definite failure), not before `retry_at_ns`.
    Waiting {
        retry_at_ns: u64,
        attempted: bool,
        /// An earlier attempt may have been appended (idempotent producers retry those).
        uncertain: bool,
    },
    InFlight {
        request_id: u64,
        sent_ns: u64,
        /// An earlier attempt may have been appended.
        uncertain: bool,
    },
    Acknowledged {
        base_offset: u64,
    },
    /// Definitely not appended (only if every attempt failed definitely).
    Failed,
    /// May or may not have been appended.
    Unknown,
}

impl Part {
    /// Whether an attempt before the one in flight (or the next) may have been appended.
    fn uncertain(&self) -> bool {
        matches!(
            self.status,
            PartStatus::Waiting {
                uncertain: true,
                ..
            } | PartStatus::InFlight {
                uncertain: true,
                ..
            }
        )
    }
}

#[derive(Clone, Debug)]
struct Part {
    partition: u32,
    /// The operation's records routed to `partition`, in the operation's order (so the `k`th
    /// is the `k`th sent record with this partition), shared with every request that carries
    /// them.
    records: SharedRecords,
    /// The idempotent producer's numbers for `records`, the same in every attempt.
    producer: ProducerStamp,
    status: PartStatus,
}

#[derive(Clone, Debug)]
struct Operation {
    sent: Vec<SentRecord>,
    parts: Vec<Part>,
    deadline_ns: u64,
    /// A transactional producer's transaction.
    transaction: Option<Transaction>,
}

/// The producer.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    /// `config.topic`, shared by every request.
    topic: TopicName,
    metadata: MetadataCache,
    sequence_next: u64,
    round_robin_next: u32,
    request_ids: RequestIds,
    identity: ProducerIdentity,
    operation: Option<Operation>,
    invoke_at_ns: u64,
    stopped: bool,
    /// Kept empty between calls: [`Producer::send_parts`] borrows its capacity.
    due_parts_spare: Vec<(u32, usize)>,
    /// Kept empty between calls: [`Producer::invoke`] borrows its capacity.
    routed_spare: Vec<(u32, Record)>,
}

impl Producer {
    pub fn new(config: ProducerConfig, brokers: u32) -> Producer {
        assert!(
            (1..=RECORDS_PER_OPERATION_MAX).contains(&config.records_per_operation_max),
            "records_per_operation_max must be in 1..={RECORDS_PER_OPERATION_MAX}"
        );
        assert!(config.in_flight_max > 0 && config.rate_per_second > 0);
        assert!(
            config.instance < PRODUCER_INSTANCES_MAX,
            "producer instance {} of at most {PRODUCER_INSTANCES_MAX}",
            config.instance
        );
        let identity = match &config.transactional_id {
            Some(id) => {
                assert!(
                    config.acks == Acks::All,
                    "transactions are written with acks=all"
                );
                let transactional = TransactionalId::new(
                    id,
                    config.transaction_timeout_ns,
                    config.transaction_state_partitions,
                );
                ProducerIdentity::new_transactional(transactional, brokers)
            }
            None => ProducerIdentity::new(config.idempotent, brokers),
        };
        Producer {
            identity,
            topic: TopicName::from(&config.topic),
            config,
            metadata: MetadataCache::new(brokers),
            sequence_next: 0,
            round_robin_next: 0,
            request_ids: RequestIds::default(),
            operation: None,
            invoke_at_ns: 0,
            stopped: false,
            due_parts_spare: Vec::new(),
            routed_spare: Vec::new(),
        }
    }

    /// Whether an operation is outstanding.
    pub fn busy(&self) -> bool {
        self.operation.is_some()
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
                self.refresh_metadata(now_ns, output);
            }
            Input::Message { message, .. } => self.on_message(now_ns, message, output),
            Input::TimerFired(_) | Input::DiskWriteFailed { .. } | Input::DiskSyncDone { .. } => {}
        }
        self.advance(now_ns, rng, output);
        self.arm_timer(now_ns, output);
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
            Message::ProduceResponse(response) => {
                self.on_produce_response(now_ns, response, output)
            }
            Message::InitProducerIdResponse(response) => {
                let backoff_ns = self.config.retry_backoff_ns;
                self.identity.on_response(now_ns, &response, backoff_ns);
            }
            Message::InitTxnProducerIdResponse(response) => {
                let backoff_ns = self.config.retry_backoff_ns;
                let error = self
                    .identity
                    .on_transactional_response(now_ns, &response, backoff_ns);
                if error == Some(TxnError::NotCoordinator) {
                    self.react(now_ns, Reaction::RefreshMetadata, output);
                }
            }
            Message::AddPartitionsToTxnResponse(response) => {
                let result = response.result.as_ref().map(|()| None);
                self.on_transaction_answer(now_ns, response.request_id, result, output)
            }
            Message::EndTxnResponse(response) => {
                let result = response.result.as_ref().map(|producer| Some(*producer));
                self.on_transaction_answer(now_ns, response.request_id, result, output)
            }
            _ => {}
        }
    }

    fn on_transaction_answer(
        &mut self,
        now_ns: u64,
        request_id: u64,
        result: Result<Option<(u64, u16)>, &TxnError>,
        output: &mut Vec<Output>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(transaction) = self.transaction_mut() else {
            return;
        };
        let reaction = transaction.on_answer(request_id, result, now_ns, backoff_ns);
        self.react(now_ns, reaction, output);
    }

    fn transaction_mut(&mut self) -> Option<&mut Transaction> {
        self.operation
            .as_mut()
            .and_then(|operation| operation.transaction.as_mut())
    }

    fn react(&mut self, now_ns: u64, reaction: Reaction, output: &mut Vec<Output>) {
        match reaction {
            Reaction::Nothing => {}
            Reaction::RefreshMetadata => {
                if let Some(transactional) = self.identity.transactional() {
                    let partition = transactional.state_partition;
                    self.metadata.invalidate(TRANSACTION_STATE_TOPIC, partition);
                }
                self.refresh_metadata(now_ns, output);
            }
            Reaction::Renew => self.identity.renew(now_ns),
            Reaction::Fenced => {
                let retry_at_ns = now_ns + self.config.fenced_restart_backoff_ns;
                self.identity.renew(retry_at_ns);
            }
            Reaction::Adopt { producer_id, epoch } => self.identity.adopt(producer_id, epoch),
        }
    }

    /// Whether the producer asks for an id when it wants one: while idle (before it stops; a
    /// transactional producer after it stopped too, as closing it aborts what its last
    /// transaction left open: the new epoch does).
    fn asks_for_id(&self) -> bool {
        self.operation.is_none() && (!self.stopped || self.identity.transactional().is_some())
    }

    /// The transaction coordinator, as far as the metadata tells.
    fn coordinator(&self) -> Option<u32> {
        let transactional = self.identity.transactional()?;
        self.metadata
            .leader(TRANSACTION_STATE_TOPIC, transactional.state_partition)
            .map(|(leader, _)| leader)
    }

    /// Moves the transaction on: gives up a phase past its deadline, sends the request due to
    /// the coordinator.
    fn advance_transaction(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let timeout_ns = self.config.request_timeout_ns;
        let Some(transaction) = self.transaction_mut() else {
            return;
        };
        let reaction = transaction.expire(now_ns, timeout_ns);
        self.react(now_ns, reaction, output);
        let coordinator = self.coordinator();
        let (Some(transactional), Some((producer_id, epoch))) =
            (self.identity.transactional(), self.identity.known())
        else {
            return;
        };
        let producer = TransactionalProducer {
            transactional_id: &transactional.id,
            producer_id,
            epoch,
            topic: &self.topic,
        };
        let operation = self.operation.as_mut().expect("has a transaction");
        let transaction = operation.transaction.as_mut().expect("has a transaction");
        transaction.request_if_due(now_ns, coordinator, producer, &mut self.request_ids, output);
        if coordinator.is_none() && transaction.deadline_ns(timeout_ns).is_some() {
            self.refresh_metadata(now_ns, output);
        }
    }

    fn on_produce_response(
        &mut self,
        now_ns: u64,
        response: ProduceResponse,
        output: &mut Vec<Output>,
    ) {
        let retry_at_ns = now_ns + self.config.retry_backoff_ns;
        let Some(operation) = &mut self.operation else {
            return;
        };
        let idempotent = self.identity.is_idempotent();
        let mut stale = Vec::new();
        for answer in response.partitions {
            let Some(part) = operation.parts.iter_mut().find(|part| {
                part.partition == answer.partition
                    && matches!(part.status, PartStatus::InFlight { request_id, .. } if request_id == response.request_id)
            }) else {
                continue;
            };
            let uncertain = part.uncertain();
            part.status = match answer.result {
                Ok(base_offset) => PartStatus::Acknowledged { base_offset },
                Err(error) if idempotent && error.is_indeterminate() => {
                    output.push(report(ClientReport::IndeterminateProduce));
                    PartStatus::Waiting {
                        retry_at_ns,
                        attempted: true,
                        uncertain: true,
                    }
                }
                Err(error) if error.is_indeterminate() => {
                    output.push(report(ClientReport::IndeterminateProduce));
                    PartStatus::Unknown
                }
                Err(error) if error.is_retriable() => {
                    if error.is_stale_leader() {
                        stale.push(answer.partition);
                    }
                    PartStatus::Waiting {
                        retry_at_ns,
                        attempted: true,
                        uncertain,
                    }
                }
                Err(_) if uncertain => PartStatus::Unknown,
                Err(_) => PartStatus::Failed,
            };
        }
        if !stale.is_empty() {
            for partition in stale {
                self.metadata.invalidate(&self.config.topic, partition);
            }
            self.refresh_metadata(now_ns, output);
        }
    }

    /// Does everything that is due: time out requests, send waiting parts, complete the
    /// operation, start the next one.
    fn advance<R: RngCore + ?Sized>(&mut self, now_ns: u64, rng: &mut R, output: &mut Vec<Output>) {
        self.expire_requests(now_ns, output);
        self.advance_transaction(now_ns, output);
        self.send_parts(now_ns, output);
        self.complete_if_resolved(now_ns, output);
        // A transaction whose records just resolved asks to end now.
        self.advance_transaction(now_ns, output);
        if self.asks_for_id() {
            let timeout_ns = self.config.request_timeout_ns;
            if self.identity.forget_unanswered(now_ns, timeout_ns) {
                self.react(now_ns, Reaction::RefreshMetadata, output);
            }
            let coordinator = self.coordinator();
            self.identity.request_if_due(
                now_ns,
                self.config.request_timeout_ns,
                coordinator,
                &mut self.request_ids,
                output,
            );
            if coordinator.is_none() && self.identity.transactional().is_some() {
                self.refresh_metadata(now_ns, output);
            }
        }
        if self.operation.is_none() && !self.stopped {
            if now_ns >= self.config.stop_at_ns {
                self.stopped = true;
            } else if now_ns >= self.invoke_at_ns
                && self.identity.is_ready()
                && self.metadata.partitions(&self.config.topic).is_some()
            {
                self.invoke(now_ns, rng, output);
                self.advance_transaction(now_ns, output);
                self.send_parts(now_ns, output);
                self.complete_if_resolved(now_ns, output);
            } else if self.metadata.partitions(&self.config.topic).is_none() {
                self.refresh_metadata(now_ns, output);
            }
        }
    }

    /// Times out requests unanswered past `request_timeout_ns`, and gives up waiting parts past
    /// the operation's deadline. A timed-out partition's leader is forgotten and the metadata
    /// asked for again, as Kafka's client drops the connection of a request that timed out and
    /// asks for the metadata anew: the leader may have moved while it was silent.
    fn expire_requests(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let timeout_ns = self.config.request_timeout_ns;
        let idempotent = self.identity.is_idempotent();
        let Some(operation) = &mut self.operation else {
            return;
        };
        let past_deadline = operation.deadline_ns <= now_ns;
        let mut timed_out = false;
        for part in &mut operation.parts {
            match part.status {
                PartStatus::InFlight { sent_ns, .. } if sent_ns + timeout_ns <= now_ns => {
                    output.push(report(ClientReport::IndeterminateProduce));
                    self.metadata.invalidate(&self.config.topic, part.partition);
                    timed_out = true;
                    part.status = if idempotent && !past_deadline {
                        PartStatus::Waiting {
                            retry_at_ns: now_ns,
                            attempted: true,
                            uncertain: true,
                        }
                    } else {
                        PartStatus::Unknown
                    };
                }
                PartStatus::Waiting { uncertain, .. } if past_deadline => {
                    part.status = if uncertain {
                        PartStatus::Unknown
                    } else {
                        PartStatus::Failed
                    };
                }
                _ => {}
            }
        }
        if timed_out {
            self.refresh_metadata(now_ns, output);
        }
    }

    /// Sends every part that is due, one request per leader broker (at most `in_flight_max`
    /// requests in flight).
    fn send_parts(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let Some(operation) = &self.operation else {
            return;
        };
        if operation
            .transaction
            .as_ref()
            .is_some_and(|transaction| transaction.phase() != Phase::Producing)
        {
            return; // Records wait for their partitions to join the transaction.
        }
        let due = |part: &Part| matches!(part.status, PartStatus::Waiting { retry_at_ns, .. } if retry_at_ns <= now_ns);
        if !operation.parts.iter().any(due) {
            return;
        }
        let in_flight = requests_in_flight(&operation.parts);
        // (leader, part index) of every due part, grouped by leader in ascending order; the
        // vector is kept between calls.
        let mut due_parts = std::mem::take(&mut self.due_parts_spare);
        let mut need_metadata = false;
        for (index, part) in operation.parts.iter().enumerate() {
            if !due(part) {
                continue;
            }
            match self.metadata.leader(&self.config.topic, part.partition) {
                Some((leader, _)) => due_parts.push((leader, index)),
                None => need_metadata = true,
            }
        }
        due_parts.sort_unstable();
        let requests_max = (self.config.in_flight_max as usize).saturating_sub(in_flight);
        for group in due_parts
            .chunk_by(|(one, _), (other, _)| one == other)
            .take(requests_max)
        {
            self.send_request(now_ns, group, output);
        }
        due_parts.clear();
        self.due_parts_spare = due_parts;
        if need_metadata {
            self.refresh_metadata(now_ns, output);
        }
    }

    /// Sends `parts` of the operation, `(leader, part index)` all with the same leader, to that
    /// leader in one request.
    fn send_request(&mut self, now_ns: u64, parts: &[(u32, usize)], output: &mut Vec<Output>) {
        let leader = parts[0].0;
        debug_assert!(parts.iter().all(|(other, _)| *other == leader));
        let request_id = self.request_ids.next_id();
        let acks = self.config.acks;
        let operation = self.operation.as_mut().expect("sending its parts");
        let transaction = if operation.transaction.is_some() {
            BatchTransaction::Data
        } else {
            BatchTransaction::None
        };
        let mut partitions = Vec::with_capacity(parts.len());
        let mut retried = false;
        for &(_, index) in parts {
            let part = &mut operation.parts[index];
            retried |= matches!(
                part.status,
                PartStatus::Waiting {
                    attempted: true,
                    ..
                }
            );
            partitions.push(ProducePartition {
                topic: self.topic.clone(),
                partition: part.partition,
                records: part.records.clone(),
                producer: part.producer,
                transaction,
            });
            part.status = if acks == Acks::None {
                PartStatus::Unknown
            } else {
                PartStatus::InFlight {
                    request_id,
                    sent_ns: now_ns,
                    uncertain: part.uncertain(),
                }
            };
        }
        if retried {
            output.push(report(ClientReport::ProduceRetry));
        }
        let request = ProduceRequest {
            request_id,
            acks,
            partitions,
        };
        output.push(Output::Send {
            to: leader,
            message: Message::Produce(request),
        });
    }

    /// Completes the operation once every part is resolved.
    fn complete_if_resolved(&mut self, now_ns: u64, output: &mut Vec<Output>) {
        let Some(operation) = &mut self.operation else {
            return;
        };
        let resolved = operation.parts.iter().all(|part| {
            matches!(
                part.status,
                PartStatus::Acknowledged { .. } | PartStatus::Failed | PartStatus::Unknown
            )
        });
        if let Some(transaction) = &mut operation.transaction {
            if transaction.phase() == Phase::Producing && resolved {
                let acknowledged = operation
                    .parts
                    .iter()
                    .all(|part| matches!(part.status, PartStatus::Acknowledged { .. }));
                let deadline_ns = now_ns + self.config.operation_timeout_ns;
                transaction.records_resolved(acknowledged, now_ns, deadline_ns);
                return;
            }
            let Phase::Done(completion) = transaction.phase() else {
                return;
            };
            let kind = match completion {
                Completion::Committed => EventKind::Ok,
                Completion::Aborted => EventKind::Fail,
                Completion::Unknown => EventKind::Info,
            };
            let operation = self.operation.take().expect("present");
            let mut sent = operation.sent;
            if kind != EventKind::Fail {
                note_offsets(&operation.parts, &mut sent);
            }
            output.push(self.event(kind, sent));
            return;
        }
        if !resolved {
            return;
        }
        let operation = self.operation.take().expect("present");
        let mut sent = operation.sent;
        let acknowledged = note_offsets(&operation.parts, &mut sent);
        let failed = operation
            .parts
            .iter()
            .filter(|part| part.status == PartStatus::Failed)
            .count();
        if acknowledged < operation.parts.len() {
            // The numbering of some partition is uncertain from here on.
            self.identity.renew(now_ns);
        }
        let kind = if acknowledged == operation.parts.len() {
            EventKind::Ok
        } else if failed == operation.parts.len() {
            EventKind::Fail
        } else {
            EventKind::Info
        };
        output.push(self.event(kind, sent));
    }

    fn event(&self, kind: EventKind, sent: Vec<SentRecord>) -> Output {
        let operation = if self.identity.transactional().is_some() {
            ClientOperation::Txn(sent)
        } else {
            ClientOperation::Send(sent)
        };
        report(ClientReport::Event(ClientEvent {
            group: None,
            process: self.config.process,
            kind,
            operation,
        }))
    }

    fn invoke<R: RngCore + ?Sized>(&mut self, now_ns: u64, rng: &mut R, output: &mut Vec<Output>) {
        let topic = self.topic.clone();
        let partitions = self.metadata.partitions(&topic).expect("checked");
        let count = self.operation_records(now_ns, rng);
        let mut sent = Vec::with_capacity(count);
        // Each record with its partition, in the operation's order; kept between calls.
        let mut routed = std::mem::take(&mut self.routed_spare);
        for _ in 0..count {
            let value = record_value(self.config.index, self.config.instance, self.sequence_next);
            self.sequence_next += 1;
            let key = (self.config.keys > 0).then(|| rng.random_range(0..self.config.keys));
            let partition = match key {
                Some(key) => partition_for_key(key, partitions),
                None => {
                    let partition = self.round_robin_next % partitions;
                    self.round_robin_next = self.round_robin_next.wrapping_add(1);
                    partition
                }
            };
            sent.push(SentRecord {
                topic: topic.clone(),
                partition,
                value,
                offset: None,
            });
            routed.push((partition, Record { key, value }));
        }
        // Stable: each partition's records stay in the operation's order.
        routed.sort_by_key(|(partition, _)| *partition);
        let parts: Vec<Part> = routed
            .chunk_by(|(one, _), (other, _)| one == other)
            .map(|group| Part {
                partition: group[0].0,
                records: group.iter().map(|(_, record)| *record).collect(),
                producer: self.identity.stamp(group[0].0, group.len()),
                status: PartStatus::Waiting {
                    retry_at_ns: now_ns,
                    attempted: false,
                    uncertain: false,
                },
            })
            .collect();
        routed.clear();
        self.routed_spare = routed;
        output.push(self.event(EventKind::Invoke, sent.clone()));
        let deadline_ns = now_ns + self.config.operation_timeout_ns;
        let transaction = self.identity.transactional().map(|_| {
            let abort_one_in = self.config.abort_one_in;
            let abort_drawn = abort_one_in > 0 && rng.random_range(0..abort_one_in) == 0;
            let partitions: Vec<u32> = parts.iter().map(|part| part.partition).collect();
            Transaction::new(partitions, abort_drawn, now_ns, deadline_ns)
        });
        self.operation = Some(Operation {
            sent,
            parts,
            deadline_ns,
            transaction,
        });
        let interval_ns = count as u64 * SECOND_NS / self.config.rate_per_second;
        self.invoke_at_ns = self.invoke_at_ns.max(now_ns.saturating_sub(interval_ns)) + interval_ns;
    }

    /// How many records the next operation carries: 1..=`records_per_operation_max` drawn, plus
    /// those that fell due since the operation was due (while the last one was in flight), as
    /// Kafka's producer accumulates records while a request is in flight; at most
    /// [`RECORDS_PER_OPERATION_MAX`]. A producer further behind forgets the rest of its backlog.
    fn operation_records<R: RngCore + ?Sized>(&self, now_ns: u64, rng: &mut R) -> usize {
        let drawn = u64::from(rng.random_range(1..=self.config.records_per_operation_max));
        let late_ns = now_ns.saturating_sub(self.invoke_at_ns);
        let fell_due = late_ns.saturating_mul(self.config.rate_per_second) / SECOND_NS;
        (drawn + fell_due).min(u64::from(RECORDS_PER_OPERATION_MAX)) as usize
    }

    /// Sets the client timer to the earliest thing that will be due.
    fn arm_timer(&self, now_ns: u64, output: &mut Vec<Output>) {
        let mut deadlines = Deadlines {
            now_ns,
            earliest_ns: None,
        };
        match &self.operation {
            Some(operation) => self.operation_deadlines(operation, &mut deadlines),
            None if !self.stopped => deadlines.push(self.next_operation_ns(now_ns)),
            None => {}
        }
        self.coordination_deadlines(&mut deadlines);
        if let Some(deadline_ns) = self.metadata.deadline_ns(self.config.retry_backoff_ns) {
            deadlines.push(deadline_ns);
        }
        if let Some(deadline_ns) = deadlines.earliest_ns {
            output.push(Output::SetTimer {
                timer: Timer::Client,
                deadline_ns: deadline_ns.max(now_ns + 1),
            });
        }
    }

    /// When the open operation next needs the producer: its own deadline, its transaction's,
    /// and each part's retry or request timeout.
    fn operation_deadlines(&self, operation: &Operation, deadlines: &mut Deadlines) {
        let now_ns = deadlines.now_ns;
        deadlines.push(operation.deadline_ns);
        let transaction_deadline_ns = operation
            .transaction
            .as_ref()
            .and_then(|transaction| transaction.deadline_ns(self.config.request_timeout_ns));
        if let Some(deadline_ns) = transaction_deadline_ns {
            deadlines.push(deadline_ns);
        }
        for part in &operation.parts {
            match part.status {
                PartStatus::Waiting { retry_at_ns, .. } if retry_at_ns > now_ns => {
                    deadlines.push(retry_at_ns);
                }
                // Due but not sent: no leader known; wait for the metadata.
                PartStatus::Waiting { .. } => {
                    deadlines.push(now_ns + self.config.retry_backoff_ns);
                }
                PartStatus::InFlight { sent_ns, .. } => {
                    deadlines.push(sent_ns + self.config.request_timeout_ns);
                }
                _ => {}
            }
        }
    }

    /// When an idle producer starts its next operation: once it knows the topic's partitions.
    fn next_operation_ns(&self, now_ns: u64) -> u64 {
        if self.metadata.partitions(&self.config.topic).is_none() {
            now_ns + self.config.retry_backoff_ns
        } else {
            self.invoke_at_ns.min(self.config.stop_at_ns)
        }
    }

    /// When the producer next asks for its id, or looks for its transaction coordinator.
    fn coordination_deadlines(&self, deadlines: &mut Deadlines) {
        // An id is asked for while idle.
        let id_deadline_ns = self
            .asks_for_id()
            .then(|| self.identity.deadline_ns(self.config.request_timeout_ns))
            .flatten();
        if let Some(deadline_ns) = id_deadline_ns {
            deadlines.push(deadline_ns);
        }
        // Something for the transaction coordinator, which the metadata does not name: look
        // again after the backoff (a refresh is sent at most once per backoff).
        let transaction_waits = self
            .operation
            .as_ref()
            .and_then(|operation| operation.transaction.as_ref())
            .is_some_and(|transaction| transaction.deadline_ns(0).is_some());
        let coordinator_wanted =
            id_deadline_ns.is_some() && self.identity.transactional().is_some();
        if (coordinator_wanted || transaction_waits) && self.coordinator().is_none() {
            deadlines.push(deadlines.now_ns + self.config.retry_backoff_ns);
        }
    }
}

/// Fills in the offsets of the acknowledged parts' records; returns how many parts were.
fn note_offsets(parts: &[Part], sent: &mut [SentRecord]) -> usize {
    let mut acknowledged = 0;
    for part in parts {
        if let PartStatus::Acknowledged { base_offset } = part.status {
            let in_part = sent
                .iter_mut()
                .filter(|record| record.partition == part.partition);
            for (offset, record) in (base_offset..).zip(in_part) {
                record.offset = Some(offset);
            }
            acknowledged += 1;
        }
    }
    acknowledged
}

/// The earliest of the deadlines pushed that lie in the future (no allocation: the producer
/// re-arms on every step). A deadline already past was handled by this step's `advance`, or
/// waits on a message (an operation past its deadline waits for its last request to time
/// out): a timer at it would fire at every nanosecond, a timer storm.
#[derive(Debug)]
struct Deadlines {
    now_ns: u64,
    earliest_ns: Option<u64>,
}

impl Deadlines {
    fn push(&mut self, deadline_ns: u64) {
        if deadline_ns <= self.now_ns {
            return;
        }
        self.earliest_ns = Some(
            self.earliest_ns
                .map_or(deadline_ns, |earliest| earliest.min(deadline_ns)),
        );
    }
}

fn report(report: ClientReport) -> Output {
    Output::Observe(Observation::Client(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DataError;

    fn part(partition: u32, status: PartStatus) -> Part {
        Part {
            partition,
            records: Vec::new().into(),
            producer: ProducerStamp::NONE,
            status,
        }
    }

    fn in_flight(request_id: u64) -> PartStatus {
        PartStatus::InFlight {
            request_id,
            sent_ns: 0,
            uncertain: false,
        }
    }

    #[test]
    fn requests_in_flight_counts_each_request_once_whatever_its_parts() {
        assert_eq!(requests_in_flight(&[]), 0);
        let waiting = PartStatus::Waiting {
            retry_at_ns: 0,
            attempted: false,
            uncertain: false,
        };
        let parts = [
            part(0, in_flight(7)),
            part(1, waiting),
            part(2, in_flight(9)),
            part(3, in_flight(7)),
            part(4, PartStatus::Acknowledged { base_offset: 3 }),
            part(5, in_flight(9)),
            part(6, in_flight(8)),
        ];
        assert_eq!(requests_in_flight(&parts), 3);
    }

    // A producer driven through `step`, as the simulation drives it: one topic of one partition
    // led by `LEADER`, one record per operation, operations due as soon as one can start.

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::client::metadata::testing::{metadata_request, partition_led_by};
    use crate::log::ProducerSequence;
    use crate::message::txn::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse,
        InitTxnProducerIdResponse,
    };
    use crate::message::{
        InitProducerIdResponse, MetadataResponse, PartitionMetadata, ProducePartitionResult,
    };

    const TOPIC: &str = "t";
    const BROKERS: u32 = 3;
    const LEADER: u32 = 2;
    const COORDINATOR: u32 = 0;

    struct Driven {
        producer: Producer,
        rng: ChaCha8Rng,
        now_ns: u64,
        /// The last timer the producer set.
        timer_ns: Option<u64>,
    }

    impl Driven {
        /// A started producer that knows the topic's leader (and, if idempotent, has asked for
        /// an id: returned with the outputs of the start).
        fn started(idempotent: bool) -> (Driven, Vec<Output>) {
            let mut config = ProducerConfig::new(1, 0, TOPIC, Acks::All, 1_000);
            config.records_per_operation_max = 1;
            config.idempotent = idempotent;
            Driven::started_with(config)
        }

        /// [`Driven::started`] with `config`; the metadata names [`COORDINATOR`] the leader of
        /// the transaction state partition.
        fn started_with(config: ProducerConfig) -> (Driven, Vec<Output>) {
            let mut driven = Driven {
                producer: Producer::new(config, BROKERS),
                rng: ChaCha8Rng::seed_from_u64(1),
                now_ns: 0,
                timer_ns: None,
            };
            let mut output = driven.step(0, Input::Start);
            let metadata_request =
                metadata_request(&output).expect("a started producer asks for metadata");
            output.extend(driven.deliver(Message::MetadataResponse(MetadataResponse {
                request_id: metadata_request,
                metadata_index: 1,
                controller: None,
                brokers: Vec::new(),
                partitions: vec![
                    PartitionMetadata {
                        topic: TOPIC.to_owned(),
                        partition: 0,
                        replicas: vec![0, 1, 2],
                        isr: vec![0, 1, 2],
                        leader: Some(LEADER),
                        leader_epoch: 1,
                    },
                    PartitionMetadata {
                        topic: TRANSACTION_STATE_TOPIC.to_owned(),
                        partition: 0,
                        replicas: vec![0, 1, 2],
                        isr: vec![0, 1, 2],
                        leader: Some(COORDINATOR),
                        leader_epoch: 1,
                    },
                ],
            })));
            (driven, output)
        }

        fn step(&mut self, now_ns: u64, input: Input) -> Vec<Output> {
            self.now_ns = now_ns;
            let mut output = Vec::new();
            self.producer
                .step(now_ns, input, &mut self.rng, &mut output);
            for output in &output {
                if let Output::SetTimer { deadline_ns, .. } = output {
                    self.timer_ns = Some(*deadline_ns);
                }
            }
            output
        }

        /// Delivers `message` a nanosecond later.
        fn deliver(&mut self, message: Message) -> Vec<Output> {
            let input = Input::Message {
                from: LEADER,
                message,
            };
            self.step(self.now_ns + 1, input)
        }

        /// Fires the client timer at its deadline.
        fn fire_timer(&mut self) -> Vec<Output> {
            let deadline_ns = self.timer_ns.take().expect("a timer is set");
            assert!(deadline_ns > self.now_ns, "the timer lies ahead");
            self.step(deadline_ns, Input::TimerFired(Timer::Client))
        }
    }

    use crate::client::producer_identity::init_producer_ids_sent as init_producer_ids;

    /// Every produce request sent, each checked to go to the leader.
    fn produces(output: &[Output]) -> Vec<ProduceRequest> {
        produces_to(output, LEADER)
    }

    /// Every produce request sent, each checked to go to `leader`.
    fn produces_to(output: &[Output], leader: u32) -> Vec<ProduceRequest> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Send {
                    to,
                    message: Message::Produce(request),
                } => {
                    assert_eq!(*to, leader, "produce goes to the leader");
                    Some(request.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The id of the metadata request in `output`, which holds no produce request: a producer
    /// whose request timed out looks the leader up before it sends again.
    fn looks_up_the_leader(output: &[Output]) -> u64 {
        let produces = output.iter().any(|output| {
            matches!(
                output,
                Output::Send {
                    message: Message::Produce(_),
                    ..
                }
            )
        });
        assert!(!produces, "no produce before the lookup: {output:?}");
        metadata_request(output).expect("the leader is looked up again")
    }

    /// The single produce request in `output`.
    fn the_produce(output: &[Output]) -> ProduceRequest {
        let [request] = &produces(output)[..] else {
            panic!("one produce request: {output:?}");
        };
        request.clone()
    }

    /// The stamp of a request for the one partition.
    fn stamp_of(request: &ProduceRequest) -> ProducerStamp {
        let [partition] = &request.partitions[..] else {
            panic!("one partition: {request:?}");
        };
        partition.producer
    }

    /// The stamp of `producer_id` (epoch 0) for a whole batch starting at `sequence`.
    fn stamp(producer_id: u64, sequence: u32) -> ProducerStamp {
        ProducerStamp(Some(ProducerSequence {
            producer_id,
            producer_epoch: 0,
            batch_first_sequence: sequence,
            base_sequence: sequence,
            transaction: BatchTransaction::None,
        }))
    }

    /// A restarted producer starts its sequence again at 0: without its instance in its values
    /// it would write the values its first instance wrote, and the history checkers, which rely
    /// on unique values, would take one record for another.
    #[test]
    fn a_second_producer_instance_writes_values_with_its_instance_in_bits_32_to_39() {
        let mut config = ProducerConfig::new(1, 5, TOPIC, Acks::All, 1_000);
        config.records_per_operation_max = 1;
        config.instance = 1;
        let (_, output) = Driven::started_with(config);
        let [(kind, sent)] = &events(&output)[..] else {
            panic!("one operation invoked: {output:?}");
        };
        assert_eq!(*kind, EventKind::Invoke);
        let value = sent[0].value;
        assert_eq!(
            value,
            (5 << 40) | (1 << 32),
            "the first record of instance 1"
        );
        assert_ne!(value & (1 << 32), 0, "bit 32 is set");
        let produce = the_produce(&output);
        assert_eq!(produce.partitions[0].records[0].value, value, "as sent");
    }

    #[test]
    fn record_values_keep_the_first_instance_layout_and_separate_instances() {
        assert_eq!(
            record_value(3, 0, 17),
            (3 << 40) | 17,
            "instance 0: as before"
        );
        assert_ne!(record_value(3, 1, 17), record_value(3, 0, 17));
        assert_ne!(record_value(3, 1, 0), record_value(4, 0, 0));
        let last = record_value(3, PRODUCER_INSTANCES_MAX - 1, RECORDS_PER_INSTANCE_MAX - 1);
        assert!(
            last < record_value(4, 0, 0),
            "no instance reaches the next index"
        );
    }

    #[test]
    #[should_panic(expected = "producer instance")]
    fn a_producer_instance_past_the_limit_is_refused() {
        let mut config = ProducerConfig::new(1, 5, TOPIC, Acks::All, 1_000);
        config.instance = PRODUCER_INSTANCES_MAX;
        Producer::new(config, BROKERS);
    }

    /// History events: (kind, records).
    fn events(output: &[Output]) -> Vec<(EventKind, Vec<SentRecord>)> {
        output
            .iter()
            .filter_map(|output| match output {
                Output::Observe(Observation::Client(ClientReport::Event(ClientEvent {
                    kind,
                    operation: ClientOperation::Send(sent) | ClientOperation::Txn(sent),
                    ..
                }))) => Some((*kind, sent.clone())),
                _ => None,
            })
            .collect()
    }

    fn granted(request_id: u64, producer_id: u64) -> Message {
        Message::InitProducerIdResponse(InitProducerIdResponse {
            request_id,
            result: Ok((producer_id, 0)),
        })
    }

    /// The leader's answer to `request`, the same result for every partition.
    fn answer(request: &ProduceRequest, result: Result<u64, DataError>) -> Message {
        Message::ProduceResponse(ProduceResponse {
            request_id: request.request_id,
            partitions: request
                .partitions
                .iter()
                .map(|partition| ProducePartitionResult {
                    topic: partition.topic.clone(),
                    partition: partition.partition,
                    result: result.clone(),
                })
                .collect(),
        })
    }

    /// The single request to the coordinator in `output`.
    fn to_coordinator(output: &[Output]) -> Message {
        let sent: Vec<&Message> = output
            .iter()
            .filter_map(|output| match output {
                Output::Send { to, message } if *to == COORDINATOR => Some(message),
                _ => None,
            })
            .filter(|message| !matches!(message, Message::MetadataRequest { .. }))
            .collect();
        let [message] = sent[..] else {
            panic!("one request to the coordinator: {output:?}");
        };
        message.clone()
    }

    /// A transactional producer (one transaction in `abort_one_in` aborted), started, with id 77
    /// and epoch 3 granted by its coordinator: the outputs of the grant.
    fn transactional(abort_one_in: u32) -> (Driven, Vec<Output>) {
        let mut config = ProducerConfig::new(1, 0, TOPIC, Acks::All, 1_000);
        config.records_per_operation_max = 1;
        config.transactional_id = Some("tx".to_owned());
        config.abort_one_in = abort_one_in;
        let (mut driven, output) = Driven::started_with(config);
        let Message::InitTxnProducerId(init) = to_coordinator(&output) else {
            panic!("asks its coordinator for an id: {output:?}");
        };
        assert_eq!(init.transactional_id, "tx");
        let output = driven.deliver(Message::InitTxnProducerIdResponse(
            InitTxnProducerIdResponse {
                request_id: init.request_id,
                result: Ok((77, 3)),
            },
        ));
        (driven, output)
    }

    /// The coordinator's answer to `request`; an EndTxn's success hands the producer the next
    /// epoch.
    fn txn_answer(request: &Message, result: Result<(), TxnError>) -> Message {
        match request {
            Message::AddPartitionsToTxn(request) => {
                Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
                    request_id: request.request_id,
                    result,
                })
            }
            Message::EndTxn(request) => Message::EndTxnResponse(EndTxnResponse {
                request_id: request.request_id,
                result: result.map(|()| (request.producer_id, request.producer_epoch + 1)),
            }),
            _ => panic!("not a transaction request: {request:?}"),
        }
    }

    #[test]
    fn a_transactional_producer_adds_its_partitions_then_produces_then_commits() {
        let (mut driven, output) = transactional(0);
        let add = to_coordinator(&output);
        let Message::AddPartitionsToTxn(request) = &add else {
            panic!("adds the partition first: {output:?}");
        };
        assert_eq!((request.producer_id, request.producer_epoch), (77, 3));
        assert_eq!(request.partitions, [(TopicName::new(TOPIC), 0)]);
        assert!(produces(&output).is_empty(), "records wait for the add");
        assert_eq!(events(&output)[0].0, EventKind::Invoke);

        let output = driven.deliver(txn_answer(&add, Ok(())));
        let produce = the_produce(&output);
        let part = &produce.partitions[0];
        assert_eq!(part.transaction, BatchTransaction::Data);
        assert_eq!(part.producer.0.map(|stamp| stamp.producer_epoch), Some(3));

        let output = driven.deliver(answer(&produce, Ok(5)));
        let end = to_coordinator(&output);
        let Message::EndTxn(request) = &end else {
            panic!("commits once the records are acknowledged: {output:?}");
        };
        assert_eq!(request.outcome, crate::log::TransactionOutcome::Commit);
        assert!(events(&output).is_empty(), "not done before the commit");

        let output = driven.deliver(txn_answer(&end, Ok(())));
        let [(kind, sent)] = &events(&output)[..1] else {
            unreachable!()
        };
        assert_eq!(*kind, EventKind::Ok);
        assert_eq!(sent[0].offset, Some(5));

        let add = next_transaction(&mut driven, &output);
        assert_eq!(
            (add.producer_id, add.producer_epoch),
            (77, 4),
            "the next transaction runs in the epoch the commit handed over"
        );
        let output = driven.deliver(txn_answer(&Message::AddPartitionsToTxn(add), Ok(())));
        let stamp = stamp_of(&the_produce(&output)).0.expect("stamped");
        assert_eq!((stamp.producer_epoch, stamp.base_sequence), (4, 0));
    }

    /// The first message among `output`'s sends that `pick` takes.
    fn first_send<T>(output: &[Output], pick: impl Fn(&Message) -> Option<T>) -> Option<T> {
        output.iter().find_map(|output| match output {
            Output::Send { message, .. } => pick(message),
            _ => None,
        })
    }

    fn end_txn(message: &Message) -> Option<EndTxnRequest> {
        match message {
            Message::EndTxn(request) => Some(request.clone()),
            _ => None,
        }
    }

    fn init_txn_producer_id(message: &Message) -> Option<()> {
        matches!(message, Message::InitTxnProducerId(_)).then_some(())
    }

    /// The next transaction's request to add its partitions: in `output` (a producer behind its
    /// rate starts it at once), or after firing the producer's timers.
    fn next_transaction(driven: &mut Driven, output: &[Output]) -> AddPartitionsToTxnRequest {
        let add = |message: &Message| match message {
            Message::AddPartitionsToTxn(request) => Some(request.clone()),
            _ => None,
        };
        first_send(output, add)
            .or_else(|| (0..100).find_map(|_| first_send(&driven.fire_timer(), add)))
            .expect("a next transaction")
    }

    #[test]
    fn a_transaction_drawn_to_abort_fails_once_the_abort_is_answered() {
        let (mut driven, output) = transactional(1);
        let add = to_coordinator(&output);
        let output = driven.deliver(txn_answer(&add, Ok(())));
        let produce = the_produce(&output);
        let output = driven.deliver(answer(&produce, Ok(5)));
        let end = to_coordinator(&output);
        let Message::EndTxn(request) = &end else {
            panic!("ends the transaction: {output:?}");
        };
        assert_eq!(request.outcome, crate::log::TransactionOutcome::Abort);
        let output = driven.deliver(txn_answer(&end, Ok(())));
        let (kind, sent) = &events(&output)[0];
        assert_eq!(*kind, EventKind::Fail);
        assert_eq!(sent[0].offset, None, "an aborted send has no offset");
    }

    /// A record of unknown fate (its request timed out) aborts its transaction by a plain
    /// EndTxn(abort): the coordinator's epoch bump fences the record should it land after the
    /// markers, so the producer asks for no new epoch itself.
    #[test]
    fn a_transaction_with_a_record_of_unknown_fate_is_aborted_into_the_next_epoch() {
        let (mut driven, output) = transactional(0);
        let add = to_coordinator(&output);
        let output = driven.deliver(txn_answer(&add, Ok(())));
        the_produce(&output);
        let end = loop {
            let output = driven.fire_timer();
            let asks_epoch = first_send(&output, init_txn_producer_id).is_some();
            assert!(!asks_epoch, "no new epoch asked: {output:?}");
            if let Some(end) = first_send(&output, end_txn) {
                break end;
            }
        };
        assert_eq!(end.outcome, crate::log::TransactionOutcome::Abort);
        assert_eq!(end.producer_epoch, 3);
        let output = driven.deliver(txn_answer(&Message::EndTxn(end), Ok(())));
        let (kind, _) = &events(&output)[0];
        assert_eq!(*kind, EventKind::Fail);
        let add = next_transaction(&mut driven, &output);
        assert_eq!(add.producer_epoch, 4);
    }

    /// A producer fenced by a newer instance of its id starts again only after the restart
    /// backoff, so that two live instances of one id leave each other time to finish a
    /// transaction.
    #[test]
    fn a_fenced_transactional_producer_asks_for_an_epoch_again_after_the_restart_backoff() {
        let (mut driven, output) = transactional(0);
        let add = to_coordinator(&output);
        let output = driven.deliver(txn_answer(&add, Err(TxnError::ProducerFenced)));
        let fenced_ns = driven.now_ns;
        assert_eq!(events(&output)[0].0, EventKind::Fail);
        let backoff_ns = ProducerConfig::new(1, 0, TOPIC, Acks::All, 1).fenced_restart_backoff_ns;
        let asked_ns = loop {
            if first_send(&driven.fire_timer(), init_txn_producer_id).is_some() {
                break driven.now_ns;
            }
        };
        assert_eq!(asked_ns, fenced_ns + backoff_ns);
    }

    /// After NOT_COORDINATOR, a transactional producer refreshes its metadata at most once per
    /// backoff; the refresh it could not send at once must still go out: its timer brings it.
    /// (Here the transaction's own retry timer does; the next test covers the timer armed for an
    /// id wanted while the coordinator is unknown.)
    #[test]
    fn a_transactional_producer_looks_for_a_moved_coordinator_again_after_the_backoff() {
        let (mut driven, output) = transactional(0);
        let add = to_coordinator(&output);
        // A refresh was sent at the start (the metadata); this one is within its backoff.
        let output = driven.deliver(txn_answer(&add, Err(TxnError::NotCoordinator)));
        let asks_metadata = |output: &[Output]| {
            output.iter().any(|output| {
                matches!(
                    output,
                    Output::Send {
                        message: Message::MetadataRequest { .. },
                        ..
                    }
                )
            })
        };
        assert!(!asks_metadata(&output), "within the backoff: {output:?}");
        let mut refreshed = false;
        for _ in 0..3 {
            let output = driven.fire_timer();
            refreshed |= asks_metadata(&output);
        }
        assert!(refreshed, "the coordinator is looked for again");
    }

    /// Metadata answering `request_id`: partition 0 of `topic` is led by `leader`, in leader
    /// epoch 2.
    fn leader_moved(request_id: u64, topic: &str, leader: Option<u32>) -> Message {
        Message::MetadataResponse(partition_led_by(request_id, 2, topic, leader, 2))
    }

    /// [`leader_moved`] for the transaction state partition: the coordinator moved.
    fn coordinator_moved(request_id: u64, leader: Option<u32>) -> Message {
        leader_moved(request_id, TRANSACTION_STATE_TOPIC, leader)
    }

    /// A transactional producer whose request for an epoch goes unanswered (its coordinator
    /// paused) looks the coordinator up again and asks the one the metadata names now. Sent
    /// again to the same one, it waited for the paused broker to wake (campaign 118: a producer
    /// got no epoch for 7.6 s, until the fault phase ended, and the run acknowledged nothing).
    #[test]
    fn a_transactional_producer_unanswered_by_its_coordinator_asks_the_one_it_finds_next() {
        let mut config = ProducerConfig::new(1, 0, TOPIC, Acks::All, 1_000);
        config.transactional_id = Some("tx".to_owned());
        let (mut driven, output) = Driven::started_with(config);
        assert!(matches!(
            to_coordinator(&output),
            Message::InitTxnProducerId(_)
        ));
        let metadata_request = (0..100)
            .find_map(|_| {
                first_send(&driven.fire_timer(), |message| match message {
                    Message::MetadataRequest { request_id } => Some(*request_id),
                    Message::InitTxnProducerId(_) => panic!("asked the silent coordinator again"),
                    _ => None,
                })
            })
            .expect("the coordinator is looked up again");
        const NEW_COORDINATOR: u32 = 1;
        let output = driven.deliver(coordinator_moved(metadata_request, Some(NEW_COORDINATOR)));
        let asked: Vec<u32> = output
            .iter()
            .filter_map(|output| match output {
                Output::Send {
                    to,
                    message: Message::InitTxnProducerId(_),
                } => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(asked, vec![NEW_COORDINATOR]);
    }

    /// A transaction whose commit is refused for good leaves the producer wanting a new epoch
    /// from a coordinator the metadata no longer names, just after a metadata refresh: the
    /// refresh cannot go out at once, and nothing else is due, so the producer must set a timer
    /// for it (without one it would wait forever, and its transaction stay open).
    #[test]
    fn a_producer_wanting_an_epoch_from_an_unknown_coordinator_sets_a_timer_to_look_again() {
        let (mut driven, output) = transactional(0);
        let add = to_coordinator(&output);
        let output = driven.deliver(txn_answer(&add, Ok(())));
        let produce = the_produce(&output);
        let output = driven.deliver(answer(&produce, Ok(5)));
        let end = to_coordinator(&output);
        driven.deliver(coordinator_moved(0, None));
        driven.timer_ns = None;
        let output = driven.deliver(txn_answer(&end, Err(TxnError::ProducerFenced)));
        assert_eq!(
            events(&output)[0].0,
            EventKind::Info,
            "the commit's fate is unknown"
        );
        assert!(
            driven.timer_ns.is_some(),
            "a timer to look for the coordinator: {output:?}"
        );
        // Each firing sets the next timer (fire_timer panics without one) until the backoff
        // lets the refresh out.
        let refreshed = (0..3).any(|_| {
            let output = driven.fire_timer();
            output.iter().any(|output| {
                matches!(
                    output,
                    Output::Send {
                        message: Message::MetadataRequest { .. },
                        ..
                    }
                )
            })
        });
        assert!(refreshed, "looks for the coordinator again");
    }

    /// An idempotent producer, started, with id `producer_id` granted: the outputs of the grant.
    fn idempotent_with_id(producer_id: u64) -> (Driven, Vec<Output>) {
        let (mut driven, output) = Driven::started(true);
        let [(_, request_id)] = init_producer_ids(&output)[..] else {
            panic!("one InitProducerId: {output:?}");
        };
        let output = driven.deliver(granted(request_id, producer_id));
        (driven, output)
    }

    #[test]
    fn an_idempotent_producer_asks_for_an_id_first_then_numbers_each_batch_on() {
        let (mut driven, output) = Driven::started(true);
        assert_eq!(
            init_producer_ids(&output).len(),
            1,
            "asks for an id: {output:?}"
        );
        assert!(
            produces(&output).is_empty() && events(&output).is_empty(),
            "nothing starts before the id is known: {output:?}"
        );
        let [(to, request_id)] = init_producer_ids(&output)[..] else {
            unreachable!()
        };
        assert!(to < BROKERS);
        let output = driven.deliver(granted(request_id, 77));
        let first = the_produce(&output);
        assert_eq!(stamp_of(&first), stamp(77, 0));
        let first_records = first.partitions[0].records.len() as u32;
        assert!(first_records >= 1);

        let output = driven.deliver(answer(&first, Ok(0)));
        assert_eq!(events(&output)[0].0, EventKind::Ok, "{output:?}");
        let output = if produces(&output).is_empty() {
            driven.fire_timer()
        } else {
            output
        };
        let second = the_produce(&output);
        assert_ne!(second.partitions[0].records, first.partitions[0].records);
        assert_eq!(stamp_of(&second), stamp(77, first_records));
        assert!(
            init_producer_ids(&output).is_empty(),
            "an acknowledged operation keeps the id"
        );
    }

    #[test]
    fn an_idempotent_producer_resends_a_timed_out_batch_with_its_stamp_and_completes_ok() {
        let (mut driven, output) = idempotent_with_id(77);
        let first = the_produce(&output);
        let sent_ns = driven.now_ns;
        let output = driven.fire_timer();
        assert_eq!(
            driven.now_ns,
            sent_ns + driven.producer.config.request_timeout_ns,
            "the timer is the request timeout"
        );
        assert!(events(&output).is_empty(), "not complete: {output:?}");
        let lookup = looks_up_the_leader(&output);
        let output = driven.deliver(leader_moved(lookup, TOPIC, Some(LEADER)));
        let retry = the_produce(&output);
        assert_ne!(retry.request_id, first.request_id, "a new request");
        assert_eq!(retry.partitions, first.partitions, "same batch, same stamp");
        assert_eq!(stamp_of(&retry), stamp(77, 0));

        let output = driven.deliver(answer(&retry, Ok(40)));
        let (kind, sent) = events(&output)
            .into_iter()
            .next()
            .expect("the operation completes");
        assert_eq!(kind, EventKind::Ok);
        let values = |records: &[SentRecord]| records.iter().map(|r| r.value).collect::<Vec<_>>();
        let sent_values: Vec<u64> = first.partitions[0]
            .records
            .iter()
            .map(|r| r.value)
            .collect();
        assert_eq!(values(&sent), sent_values);
        let offsets: Vec<Option<u64>> = sent.iter().map(|record| record.offset).collect();
        let expected: Vec<Option<u64>> = (40..).take(sent.len()).map(Some).collect();
        assert_eq!(offsets, expected);
    }

    #[test]
    fn a_producer_that_is_not_idempotent_never_resends_a_timed_out_batch() {
        let (mut driven, output) = Driven::started(false);
        assert!(init_producer_ids(&output).is_empty());
        let first = the_produce(&output);
        assert_eq!(stamp_of(&first), ProducerStamp::NONE);
        let output = driven.fire_timer();
        let (kind, sent) = events(&output)
            .into_iter()
            .next()
            .expect("the operation completes");
        assert_eq!(kind, EventKind::Info);
        assert!(sent.iter().all(|record| record.offset.is_none()));
        // The next operation waits for the leader's lookup, then goes to the leader it finds.
        let lookup = looks_up_the_leader(&output);
        const NEW_LEADER: u32 = 1;
        let mut output = driven.deliver(leader_moved(lookup, TOPIC, Some(NEW_LEADER)));
        for _ in 0..10 {
            if !produces_to(&output, NEW_LEADER).is_empty() {
                break;
            }
            output = driven.fire_timer();
        }
        let [next] = &produces_to(&output, NEW_LEADER)[..] else {
            panic!("the next operation goes to the new leader: {output:?}");
        };
        assert_ne!(
            next.partitions[0].records, first.partitions[0].records,
            "the timed-out batch is not sent again"
        );
    }

    #[test]
    fn an_idempotent_producer_refused_out_of_order_after_a_timeout_completes_info_and_starts_a_fresh_id()
     {
        let (mut driven, output) = idempotent_with_id(77);
        let first = the_produce(&output);
        let lookup = looks_up_the_leader(&driven.fire_timer());
        let retry = the_produce(&driven.deliver(leader_moved(lookup, TOPIC, Some(LEADER))));
        assert_eq!(stamp_of(&retry), stamp(77, 0));

        let output = driven.deliver(answer(
            &retry,
            Err(DataError::OutOfOrderSequence { expected: 1 }),
        ));
        let (kind, sent) = events(&output)
            .into_iter()
            .next()
            .expect("the operation completes");
        assert_eq!(kind, EventKind::Info, "the first attempt may have landed");
        assert!(sent.iter().all(|record| record.offset.is_none()));
        assert!(produces(&output).is_empty(), "no batch before a fresh id");
        let [(to, request_id)] = init_producer_ids(&output)[..] else {
            panic!("asks for a fresh id: {output:?}");
        };
        assert_eq!(to, 1, "the next broker in turn");

        let output = driven.deliver(granted(request_id, 78));
        let next = the_produce(&output);
        assert_ne!(next.partitions[0].records, first.partitions[0].records);
        assert_eq!(stamp_of(&next), stamp(78, 0), "numbering restarts");
    }

    /// An idempotent producer whose request timed out (its leader paused, say) looks the leader
    /// up, and sends the batch again, with its stamp, to the leader it finds. Sent again to the
    /// silent broker, it would wait for that broker to wake.
    #[test]
    fn an_idempotent_producer_resends_a_timed_out_batch_to_the_leader_it_finds_next() {
        let (mut driven, output) = idempotent_with_id(77);
        let first = the_produce(&output);
        let lookup = looks_up_the_leader(&driven.fire_timer());
        const NEW_LEADER: u32 = 1;
        let output = driven.deliver(leader_moved(lookup, TOPIC, Some(NEW_LEADER)));
        let [retry] = &produces_to(&output, NEW_LEADER)[..] else {
            panic!("one produce to the new leader: {output:?}");
        };
        assert_eq!(retry.partitions, first.partitions, "same batch, same stamp");
    }
}
