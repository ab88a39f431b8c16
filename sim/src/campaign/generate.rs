//! Scenarios generated from a seed, swarm style.
//!
//! The cluster (3 to 5 brokers), the topics (partitions, replication, min ISR), the workload
//! (producers, rates, keys, acks, consumers) and the phase lengths are drawn from the seed's
//! `Workload` stream; the fault schedule from its `Nemesis` stream, through the nemesis's swarm
//! plan (a random subset of kinds at random intensities), plus sometimes crashes aimed at a
//! partition leader, and sometimes one aimed replica pattern: the fault shapes of the library
//! scenarios that catch the bug zoo's replication bugs (`fast-double-failover`,
//! `zombie-follower`, `lagging-replica-restart`), with drawn timings.
//!
//! About one seed in three reads through a consumer group instead of assign-mode consumers: one
//! group of 2 to 4 subscribe-mode members over every topic, with a drawn protocol, assignor,
//! commit mode and session timeout. Most of those get an aimed group pattern, the fault shape of
//! a library scenario that catches a group bug of the zoo, with drawn timings: a member paused
//! past its session timeout (`group-zombie-consumer`), members added and removed
//! (`group-cooperative-scale`), the group's coordinator crashed (`group-coordinator-crash`).
//! Half of the patterns run alone, without the swarm, as the library scenarios do. About one
//! seed in four whose faults are not a pattern running alone also gets one or two
//! preferred-replica elections (`elect-preferred-leaders`, as in `preferred-leader-election`):
//! leadership moves away from live leaders amid the other faults. One seed in 32 gets a wide
//! topic (16 to 128 partitions, from the `Scale` stream), so that the limits that grow with the
//! partition count are reached too. One seed in two runs with perturbations on
//! (`broker::perturb`, drawn from a stream of its own): the brokers take legal but rare paths
//! on purpose (short fetches, early answers, busy refusals, early ISR shrinks, other in-sync
//! leaders, ...), so that they are taken often. The result is an ordinary [`Scenario`] with
//! explicit faults and no `nemesis` section, so it can be written out, replayed and shrunk like
//! any scenario file.
//!
//! One seed in four writes in transactions (a stream of its own): every acks=all producer is
//! transactional and every consumer reads `read-committed`. Half of those without a group also
//! aim a producer pattern at one transactional producer: a pause past a drawn short transaction
//! timeout (a zombie: zoo 7), a hold of its link to a partition leader past its operation
//! timeout (a late batch: zoo 8), or a crash and restart (a new instance fences the old). A
//! quarter of the seeds without transactions or groups aim a pause, a hold or a crash and restart
//! at one producer (a stream of their own). Half of the producer patterns run alone. A third of
//! the transactional shapes of two producers share one transactional id (a stream of their own):
//! two instances of one application, which fence each other (a zombie at the partitions: zoo 7).
//! Half of the groups drawn to commit after each poll commit inside transactions instead
//! (`commit = "transactional"`, a stream of its own).
//!
//! Invariants: every generated scenario passes [`Scenario::validate`] and round-trips through
//! TOML; runs are short (fault phase 5 to 15 s, liveness 10 to 15 s) so campaigns are fast;
//! safety settings stay at their defaults (flush every batch, no unclean election, no bug
//! switch), so with bugs off a failure is a real finding. The checks expect no more than the
//! protocol guarantees: a group is judged exactly-once only when nothing fails (its only faults
//! are the scale pattern's additions and removals, as in `group-cooperative-scale` and
//! `group-worker-pool`), at-least-once otherwise. The group draws come after every other draw
//! of their stream, so a seed without a group has the same cluster, workload and swarm as
//! before groups were generated; the election draws come last of their stream, and the scale
//! draws have a stream of their own.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::runner::nemesis;
use crate::scenario::{
    Acks, Assignor, Cluster, CommitMode, Consumer, ConsumerMode, Duration, Expect, Fault,
    Isolation, Nemesis, NemesisKind, Producer, RebalanceProtocol, Scenario, Target, Topic,
    Workload,
};
use crate::seed::{Stream, stream};

pub const BROKERS_MIN: u32 = 3;
pub const BROKERS_MAX: u32 = 5;
pub const TOPICS_MAX: u32 = 2;
pub const PARTITIONS_MAX: u32 = 4;
/// One seed in this many gets a wide topic: every limit that grows with the partition count
/// (messages a broker sends itself in a step, ISR changes at once, fetch sessions, metadata)
/// binds only at scale.
pub const WIDE_SEEDS_RATIO: (u32, u32) = (1, 32);
pub const WIDE_PARTITIONS_MIN: u32 = 16;
pub const WIDE_PARTITIONS_MAX: u32 = 128;
/// This many seeds run with perturbations on (`broker::perturb`): the brokers take legal but
/// rare paths on purpose.
pub const PERTURBED_SEEDS_RATIO: (u32, u32) = (1, 2);
/// This many acks=all producer shapes are idempotent (KIP-98).
pub const IDEMPOTENT_PRODUCERS_RATIO: (u32, u32) = (1, 2);
/// In this many seeds the acks=all producers write in transactions and every consumer reads
/// `read-committed` (KIP-98).
pub const TRANSACTIONAL_SEEDS_RATIO: (u32, u32) = (1, 4);
/// A transactional producer aborts one transaction in this many (drawn per shape). Not one in
/// two: a producer held up by faults for most of a short run then commits nothing often enough
/// (campaign 115: every one of 9 transactions drawn to abort, 1 seed in 40,000) that the run
/// proves nothing (`vacuous`).
pub const ABORT_ONE_IN_MIN: u32 = 3;
pub const ABORT_ONE_IN_MAX: u32 = 8;
/// In this many transactional seeds without groups, one transactional producer meets a producer
/// pattern, each of three at even odds: paused past a short transaction timeout (a zombie its
/// coordinator must fence, as in `zombie-transactional-producer`), its link to a partition leader
/// held past its operation timeout (a late batch its next transaction must not take in, as in
/// `delayed-transactional-batch`), or crashed and restarted (a new instance fencing the old).
pub const PRODUCER_PATTERN_RATIO: (u32, u32) = (1, 2);
/// The drawn transaction timeout of a producer paused past it, and how much longer it sleeps.
const ZOMBIE_TIMEOUT_MS_MIN: u64 = 500;
const ZOMBIE_TIMEOUT_MS_MAX: u64 = 2_000;
const ZOMBIE_OVERSLEEP_MS_MIN: u64 = 200;
const ZOMBIE_OVERSLEEP_MS_MAX: u64 = 1_500;
/// How long a held producer link stays held: past the producer's 5 s operation timeout, so that
/// it gives the held batch up as unknown.
const HELD_BATCH_MS_MIN: u64 = 5_500;
const HELD_BATCH_MS_MAX: u64 = 8_000;
/// In this many seeds without transactions or groups, one producer meets a producer pattern:
/// a pause, a held link or a crash and restart (a stream of its own).
pub const PRODUCER_FAULT_SEEDS_RATIO: (u32, u32) = (1, 4);
/// The share of transactional shapes of two or more producers whose producers share one
/// transactional id, and so fence each other over and over.
pub const SHARED_TRANSACTIONAL_ID_RATIO: (u32, u32) = (1, 3);
/// The share of groups drawn to commit after each poll that commit inside transactions instead.
pub const TRANSACTIONAL_COMMITS_RATIO: (u32, u32) = (1, 2);
/// The share of transactionally committing groups that abort some commits on purpose, and how
/// often they do.
pub const TRANSACTIONAL_COMMIT_ABORTS_RATIO: (u32, u32) = (1, 2);
const TRANSACTIONAL_COMMIT_ABORT_ONE_IN: u32 = 4;
/// The share of transactionally committing groups whose members are workers that write an
/// output (consume-transform-produce), read by a group of its own under read_committed.
pub const TRANSFORM_OUTPUT_RATIO: (u32, u32) = (1, 2);
const OUTPUT_TOPIC: &str = "output0";
const OUTPUT_GROUP: &str = "auditors";
const OUTPUT_PARTITIONS_MAX: u32 = 3;
const OUTPUT_READERS_MAX: u32 = 2;
/// How long a paused producer of a seed without transactions sleeps.
const PAUSE_MS_MIN: u64 = 300;
const PAUSE_MS_MAX: u64 = 3_000;
/// How long a crashed producer stays down before its new instance starts.
const RESTART_AFTER_MS_MIN: u64 = 100;
const RESTART_AFTER_MS_MAX: u64 = 2_000;
pub const FAULT_PHASE_SECONDS_MIN: u64 = 5;
pub const FAULT_PHASE_SECONDS_MAX: u64 = 15;
pub const LIVENESS_PHASE_SECONDS_MIN: u64 = 10;
pub const LIVENESS_PHASE_SECONDS_MAX: u64 = 15;
pub const RATE_PER_SECOND_MIN: u32 = 20;
pub const RATE_PER_SECOND_MAX: u32 = 200;
pub const KEYS_MAX: u32 = 32;
/// The swarm's faults start after this quiet opening, in which the controller quorum elects,
/// leaders are placed and the workload gets some records acknowledged: a swarm dense enough to
/// keep a majority down from the first instant made about 1 seed in 200 vacuous (nothing
/// acknowledged), a run that proves nothing. Dropping the swarm's earlier faults is safe: a
/// fault's undoing (restart, resume, heal) never precedes it.
pub const SWARM_QUIET_START_MS: u64 = 2_000;

/// The share of seeds whose consumers are one consumer group.
const GROUP_SEEDS_RATIO: (u32, u32) = (1, 3);
/// The share of group seeds with an aimed group pattern.
const GROUP_PATTERN_RATIO: (u32, u32) = (2, 3);
pub const GROUP_MEMBERS_MIN: u32 = 2;
pub const GROUP_MEMBERS_MAX: u32 = 4;
const GROUP_NAME: &str = "group0";
/// A drawn session timeout; half of the groups keep the client's default.
const SESSION_TIMEOUT_MS_MIN: u64 = 800;
const SESSION_TIMEOUT_MS_MAX: u64 = 3_000;
/// The group consumer's default session timeout (`GroupConsumerConfig`).
const SESSION_TIMEOUT_MS_DEFAULT: u64 = 1_500;
/// Time between two membership changes of the scale pattern.
const SCALE_STEP_MS_MIN: u64 = 800;
const SCALE_STEP_MS_MAX: u64 = 1_800;
/// Longest a group pattern runs, from its start (five scale steps; a zombie's first pause,
/// 3 + 2.5 s; two coordinator crashes, 0.3 + 2.5 + 3 + 2.5 s).
const GROUP_PATTERN_MS_MAX: u64 = 9_000;
/// A group pattern starts once the group had time to form and commit.
const GROUP_PATTERN_START_MS_MIN: u64 = 2_000;
const GROUP_PATTERN_PHASE_MS_MIN: u64 = GROUP_PATTERN_START_MS_MIN + GROUP_PATTERN_MS_MAX;
const _: () = assert!(GROUP_PATTERN_PHASE_MS_MIN <= FAULT_PHASE_SECONDS_MAX * 1_000);
const _: () = assert!(SESSION_TIMEOUT_MS_MAX + 2_500 <= GROUP_PATTERN_MS_MAX);
const _: () = assert!(5 * SCALE_STEP_MS_MAX <= GROUP_PATTERN_MS_MAX);

/// The share of seeds (whose faults are not a group pattern running alone) with preferred-replica
/// elections, and how many elections such a seed gets.
const ELECTION_SEEDS_RATIO: (u32, u32) = (1, 4);
const ELECTIONS_MAX: u32 = 2;
const _: () = assert!(SWARM_QUIET_START_MS < FAULT_PHASE_SECONDS_MIN * 1_000);

const ALL_KINDS: [NemesisKind; 6] = [
    NemesisKind::Partition,
    NemesisKind::Crash,
    NemesisKind::Pause,
    NemesisKind::Clock,
    NemesisKind::Disk,
    NemesisKind::Network,
];

/// The scenario of `seed`.
pub fn generate(seed: u64) -> Scenario {
    let mut scenario = narrow(seed);
    widen(
        &mut scenario.cluster.topics,
        &mut stream(seed, Stream::Scale),
    );
    scenario.cluster.perturbations = stream(seed, Stream::Perturbations)
        .random_ratio(PERTURBED_SEEDS_RATIO.0, PERTURBED_SEEDS_RATIO.1);
    make_idempotent(&mut scenario, &mut stream(seed, Stream::Idempotence));
    make_transactional(&mut scenario, &mut stream(seed, Stream::Transactions));
    aim_at_a_producer(&mut scenario, &mut stream(seed, Stream::ProducerFaults));
    share_transactional_ids(
        &mut scenario,
        &mut stream(seed, Stream::SharedTransactionalIds),
    );
    commit_in_transactions(
        &mut scenario,
        &mut stream(seed, Stream::TransactionalCommits),
    );
    abort_transactional_commits(
        &mut scenario,
        &mut stream(seed, Stream::TransactionalCommitAborts),
    );
    write_outputs(&mut scenario, &mut stream(seed, Stream::TransformOutputs));
    if let Err(problem) = scenario.validate() {
        panic!(
            "generated scenario of seed {seed} is invalid at {}: {}",
            problem.path, problem.message
        );
    }
    scenario
}

/// The scenario of `seed` before [`widen`]: every draw but the scale stream's.
fn narrow(seed: u64) -> Scenario {
    let mut workload_rng = stream(seed, Stream::Workload);
    let mut nemesis_rng = stream(seed, Stream::Nemesis);
    let fault_phase = Duration::from_secs(
        workload_rng.random_range(FAULT_PHASE_SECONDS_MIN..=FAULT_PHASE_SECONDS_MAX),
    );
    let liveness_phase = Duration::from_secs(
        workload_rng.random_range(LIVENESS_PHASE_SECONDS_MIN..=LIVENESS_PHASE_SECONDS_MAX),
    );
    let cluster = cluster(&mut workload_rng);
    let mut workload = workload(&cluster.topics, &mut workload_rng);
    let (mut faults, mut fault_phase) = faults(&cluster, fault_phase, &mut nemesis_rng);
    let mut expect = Expect::default();
    let mut pattern_alone = false;
    if workload_rng.random_ratio(GROUP_SEEDS_RATIO.0, GROUP_SEEDS_RATIO.1) {
        let group = group_consumer(&cluster.topics, &mut workload_rng);
        workload.consumers = vec![group.clone()];
        let brokers = cluster.brokers;
        if let Some(pattern) = group_pattern(&group, brokers, fault_phase, &mut nemesis_rng) {
            fault_phase = fault_phase.max(pattern.fault_phase);
            pattern_alone = pattern.alone;
            if pattern.alone {
                faults.clear();
            }
            expect.exactly_once = pattern.alone && pattern.kind == GroupPatternKind::Scale;
            faults.extend(pattern.faults);
            faults.sort_by_key(Fault::at);
        }
    }
    // Last of the nemesis stream's draws, so that a seed without elections keeps the scenario
    // it had before elections were generated; a pattern that runs alone stays alone.
    if !pattern_alone && nemesis_rng.random_ratio(ELECTION_SEEDS_RATIO.0, ELECTION_SEEDS_RATIO.1) {
        faults.extend(preferred_elections(fault_phase, &mut nemesis_rng));
        faults.sort_by_key(Fault::at);
    }
    Scenario {
        name: format!("generated-{seed:016x}"),
        why: format!(
            "Generated by `trial fuzz --generate` from seed {seed}: a random cluster, workload \
             and swarm fault schedule; any violation is a finding."
        ),
        fault_phase,
        liveness_phase,
        cluster,
        network: Default::default(),
        workload,
        faults,
        nemesis: None,
        expect,
    }
}

fn cluster(rng: &mut ChaCha8Rng) -> Cluster {
    let brokers = rng.random_range(BROKERS_MIN..=BROKERS_MAX);
    let controllers = if brokers >= 5 && rng.random_ratio(1, 3) {
        5
    } else {
        3
    };
    let topic_count = rng.random_range(1..=TOPICS_MAX);
    let topics = (0..topic_count)
        .map(|index| {
            let replication_factor = if rng.random_ratio(3, 4) {
                3
            } else {
                rng.random_range(1..=brokers.min(3))
            };
            Topic {
                name: format!("topic{index}"),
                partitions: rng.random_range(1..=PARTITIONS_MAX),
                replication_factor,
                min_insync_replicas: rng.random_range(1..=replication_factor.min(2)),
            }
        })
        .collect();
    Cluster {
        brokers,
        controllers,
        flush: Default::default(),
        unclean_leader_election: false,
        bugs: Default::default(),
        perturbations: false,
        topics,
    }
}

/// Gives one seed in [`WIDE_SEEDS_RATIO`] a wide topic: one topic's partitions rise to a draw
/// in `WIDE_PARTITIONS_MIN..=WIDE_PARTITIONS_MAX`. Drawn from the `Scale` stream after every
/// other draw and only ever adding partitions, so the rest of the scenario is the one the seed
/// had without it: every fault aimed at a partition still names one.
fn widen(topics: &mut [Topic], rng: &mut ChaCha8Rng) {
    if !rng.random_ratio(WIDE_SEEDS_RATIO.0, WIDE_SEEDS_RATIO.1) {
        return;
    }
    let index = rng.random_range(0..topics.len());
    let partitions = rng.random_range(WIDE_PARTITIONS_MIN..=WIDE_PARTITIONS_MAX);
    topics[index].partitions = topics[index].partitions.max(partitions);
}

/// Makes some acks=all producer shapes idempotent, from a stream of their own so that every
/// other draw stays what it was.
fn make_idempotent(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    for producer in &mut scenario.workload.producers {
        let (numerator, denominator) = IDEMPOTENT_PRODUCERS_RATIO;
        producer.idempotent =
            rng.random_ratio(numerator, denominator) && producer.acks == Acks::All;
    }
}

/// In some seeds, makes every acks=all producer shape transactional (each aborting one
/// transaction in a drawn number) and every consumer `read-committed`, from a stream of their own
/// so that every other draw stays what it was.
fn make_transactional(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    let (numerator, denominator) = TRANSACTIONAL_SEEDS_RATIO;
    if !rng.random_ratio(numerator, denominator) {
        return;
    }
    let workload = &mut scenario.workload;
    for producer in &mut workload.producers {
        if producer.acks == Acks::All {
            producer.transactional = true;
            producer.abort_one_in = rng.random_range(ABORT_ONE_IN_MIN..=ABORT_ONE_IN_MAX);
        }
    }
    if workload
        .producers
        .iter()
        .any(|producer| producer.transactional)
    {
        for consumer in &mut workload.consumers {
            consumer.isolation = Isolation::ReadCommitted;
        }
        producer_pattern(scenario, rng);
    }
}

/// Sometimes aims one producer pattern (see [`PRODUCER_PATTERN_RATIO`]) at a transactional
/// producer. Not in group seeds, whose patterns may run alone already.
fn producer_pattern(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    let (numerator, denominator) = PRODUCER_PATTERN_RATIO;
    if has_group(scenario) || !rng.random_ratio(numerator, denominator) {
        return;
    }
    let (shape, index) = draw_producer(scenario, rng);
    let producer = Target::Producer(index);
    let start_ms = pattern_start_ms(scenario, rng);
    let pattern = match rng.random_range(0..3) {
        0 => paused_past_timeout(scenario, shape, producer, start_ms, rng),
        1 => held_batches(scenario, shape, producer, start_ms, rng),
        _ => restarted(producer, start_ms, rng),
    };
    add_producer_pattern(scenario, start_ms, pattern, rng);
}

/// In some seeds that do not write in transactions and have no group (see
/// [`PRODUCER_FAULT_SEEDS_RATIO`]), aims a producer pattern at any producer: a pause, a hold of
/// its link to a partition leader past its operation timeout, or a crash and restart. From a
/// stream of its own, so that every other draw stays what it was.
fn aim_at_a_producer(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    let transactional = scenario
        .workload
        .producers
        .iter()
        .any(|producer| producer.transactional);
    let (numerator, denominator) = PRODUCER_FAULT_SEEDS_RATIO;
    if transactional || has_group(scenario) || !rng.random_ratio(numerator, denominator) {
        return;
    }
    let (shape, index) = draw_producer(scenario, rng);
    let producer = Target::Producer(index);
    let start_ms = pattern_start_ms(scenario, rng);
    let pattern = match rng.random_range(0..3) {
        0 => paused(producer, start_ms, rng),
        1 => held_batches(scenario, shape, producer, start_ms, rng),
        _ => restarted(producer, start_ms, rng),
    };
    add_producer_pattern(scenario, start_ms, pattern, rng);
}

/// Makes some transactional shapes of two producers share one transactional id (see
/// [`SHARED_TRANSACTIONAL_ID_RATIO`]): two instances that fence each other
/// (`zombie-producer-instance`). From a stream of its own, so that every other draw stays what
/// it was.
fn share_transactional_ids(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    for (position, producer) in scenario.workload.producers.iter_mut().enumerate() {
        let (numerator, denominator) = SHARED_TRANSACTIONAL_ID_RATIO;
        if producer.transactional && producer.count >= 2 && rng.random_ratio(numerator, denominator)
        {
            producer.transactional_id = Some(format!("shared-{position}"));
        }
    }
}

/// Makes some groups that commit after each poll (`manual`) commit inside transactions instead
/// (see [`TRANSACTIONAL_COMMITS_RATIO`]). From a stream of its own, so that every other draw
/// stays what it was.
fn commit_in_transactions(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    for consumer in &mut scenario.workload.consumers {
        let (numerator, denominator) = TRANSACTIONAL_COMMITS_RATIO;
        if consumer.commit == Some(CommitMode::Manual) && rng.random_ratio(numerator, denominator) {
            consumer.commit = Some(CommitMode::Transactional);
        }
    }
}

/// Makes some groups that commit inside transactions abort one commit in
/// [`TRANSACTIONAL_COMMIT_ABORT_ONE_IN`] (see [`TRANSACTIONAL_COMMIT_ABORTS_RATIO`]): an aborted
/// transaction's offsets must never take effect. From a stream of its own.
fn abort_transactional_commits(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    for consumer in &mut scenario.workload.consumers {
        let (numerator, denominator) = TRANSACTIONAL_COMMIT_ABORTS_RATIO;
        if consumer.commit == Some(CommitMode::Transactional)
            && rng.random_ratio(numerator, denominator)
        {
            consumer.abort_one_in = TRANSACTIONAL_COMMIT_ABORT_ONE_IN;
        }
    }
}

/// Makes the members of some transactionally committing groups workers that write an output
/// topic of their own in their commits' transactions (see [`TRANSFORM_OUTPUT_RATIO`]), and adds
/// a group that reads it under read_committed (it must read every committed output record and
/// no aborted one). From a stream of its own. The readers come after every other consumer, so
/// the faults aimed at `c1..` keep their targets.
fn write_outputs(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    let (numerator, denominator) = TRANSFORM_OUTPUT_RATIO;
    let Some(worker) = scenario
        .workload
        .consumers
        .iter_mut()
        .find(|consumer| consumer.commit == Some(CommitMode::Transactional))
    else {
        return;
    };
    if !rng.random_ratio(numerator, denominator) {
        return;
    }
    worker.output = Some(OUTPUT_TOPIC.to_owned());
    let replication_factor = scenario.cluster.brokers.min(3);
    scenario.cluster.topics.push(Topic {
        name: OUTPUT_TOPIC.to_owned(),
        partitions: rng.random_range(1..=OUTPUT_PARTITIONS_MAX),
        replication_factor,
        min_insync_replicas: rng.random_range(1..=replication_factor.min(2)),
    });
    let commit = if rng.random_ratio(1, 2) {
        CommitMode::Manual
    } else {
        CommitMode::Transactional
    };
    scenario.workload.consumers.push(Consumer {
        topic: OUTPUT_TOPIC.to_owned(),
        count: rng.random_range(1..=OUTPUT_READERS_MAX),
        mode: ConsumerMode::Subscribe,
        group: Some(OUTPUT_GROUP.to_owned()),
        topics: Vec::new(),
        protocol: None,
        assignor: None,
        commit: Some(commit),
        auto_offset_reset: None,
        session_timeout: None,
        isolation: Isolation::ReadCommitted,
        abort_one_in: 0,
        output: None,
    });
}

fn has_group(scenario: &Scenario) -> bool {
    scenario
        .workload
        .consumers
        .iter()
        .any(|consumer| consumer.mode == ConsumerMode::Subscribe)
}

/// A producer drawn among the transactional ones if any, else among all: (its shape's
/// position, its index).
fn draw_producer(scenario: &Scenario, rng: &mut ChaCha8Rng) -> (usize, u32) {
    let workload = &scenario.workload;
    let transactional_only = workload.producers.iter().any(|shape| shape.transactional);
    let candidates: Vec<(usize, u32)> = producer_indices(workload)
        .filter(|&(shape, _)| workload.producers[shape].transactional || !transactional_only)
        .collect();
    assert!(!candidates.is_empty(), "a workload has a producer");
    candidates[rng.random_range(0..candidates.len())]
}

/// A pattern starts in the first half of the fault phase (and at 1 s at the earliest).
fn pattern_start_ms(scenario: &Scenario, rng: &mut ChaCha8Rng) -> u64 {
    let fault_phase_ms = scenario.fault_phase.ns / 1_000_000;
    rng.random_range(1_000..=(fault_phase_ms / 2).max(1_000))
}

/// Adds a producer pattern to the faults; a release, resume or restart that would come after
/// the fault phase is left to the heal. Half the patterns run alone, without the swarm.
fn add_producer_pattern(
    scenario: &mut Scenario,
    start_ms: u64,
    (length_ms, [first, second]): ProducerPattern,
    rng: &mut ChaCha8Rng,
) {
    if rng.random_bool(0.5) {
        // Alone, as the library scenarios run it: swarm crashes would move the held leader away
        // (a late batch then meets NOT_LEADER) or take the coordinator down with the producer.
        scenario.faults.clear();
    }
    scenario.faults.push(first);
    if start_ms + length_ms <= scenario.fault_phase.ns / 1_000_000 {
        scenario.faults.push(second);
    }
    scenario.faults.sort_by_key(Fault::at);
}

/// A producer pattern: how long it lasts, and its fault and the one that undoes it.
type ProducerPattern = (u64, [Fault; 2]);

/// The producer's shape gets a short transaction timeout, and the producer sleeps past it: it
/// wakes a zombie its coordinator must have fenced (`zombie-transactional-producer`).
fn paused_past_timeout(
    scenario: &mut Scenario,
    shape: usize,
    producer: Target,
    start_ms: u64,
    rng: &mut ChaCha8Rng,
) -> ProducerPattern {
    let timeout_ms = rng.random_range(ZOMBIE_TIMEOUT_MS_MIN..=ZOMBIE_TIMEOUT_MS_MAX);
    scenario.workload.producers[shape].transaction_timeout = Some(Duration::from_ms(timeout_ms));
    let length_ms =
        timeout_ms + rng.random_range(ZOMBIE_OVERSLEEP_MS_MIN..=ZOMBIE_OVERSLEEP_MS_MAX);
    paused_for(producer, start_ms, length_ms)
}

/// The producer's link to one of its topic's partition leaders is held past its operation
/// timeout, then released: late batches (`delayed-transactional-batch`).
fn held_batches(
    scenario: &Scenario,
    shape: usize,
    producer: Target,
    start_ms: u64,
    rng: &mut ChaCha8Rng,
) -> ProducerPattern {
    let length_ms = rng.random_range(HELD_BATCH_MS_MIN..=HELD_BATCH_MS_MAX);
    let topic = &scenario.workload.producers[shape].topic;
    let partitions = scenario
        .cluster
        .topics
        .iter()
        .find(|drawn| &drawn.name == topic)
        .expect("a producer writes a topic of the cluster")
        .partitions;
    let leader = Target::Leader {
        topic: topic.clone(),
        partition: rng.random_range(0..partitions),
    };
    let hold = Fault::Hold {
        at: Duration::from_ms(start_ms),
        from: producer.clone(),
        to: leader.clone(),
    };
    let release = Fault::Release {
        at: Duration::from_ms(start_ms + length_ms),
        from: producer,
        to: leader,
    };
    (length_ms, [hold, release])
}

/// The producer stalls for a while (a GC pause): its requests time out on its own clock, and
/// the answers that waited are handed to it at once when it wakes.
fn paused(producer: Target, start_ms: u64, rng: &mut ChaCha8Rng) -> ProducerPattern {
    let length_ms = rng.random_range(PAUSE_MS_MIN..=PAUSE_MS_MAX);
    paused_for(producer, start_ms, length_ms)
}

fn paused_for(producer: Target, start_ms: u64, length_ms: u64) -> ProducerPattern {
    let pause = |at, target| Fault::Pause { at, target };
    let resume = |at, target| Fault::Resume { at, target };
    undone_after(producer, start_ms, length_ms, pause, resume)
}

/// `fault` on `producer` at `start_ms`, and `undo` `length_ms` later.
fn undone_after(
    producer: Target,
    start_ms: u64,
    length_ms: u64,
    fault: fn(Duration, Target) -> Fault,
    undo: fn(Duration, Target) -> Fault,
) -> ProducerPattern {
    let first = fault(Duration::from_ms(start_ms), producer.clone());
    let second = undo(Duration::from_ms(start_ms + length_ms), producer);
    (length_ms, [first, second])
}

/// The producer crashes and a new instance starts: its InitProducerId must fence the old one,
/// whose requests still on the wire arrive late, and abort the transaction it left open.
fn restarted(producer: Target, start_ms: u64, rng: &mut ChaCha8Rng) -> ProducerPattern {
    let length_ms = rng.random_range(RESTART_AFTER_MS_MIN..=RESTART_AFTER_MS_MAX);
    let crash = |at, target| Fault::Crash { at, target };
    let restart = |at, target| Fault::Restart { at, target };
    undone_after(producer, start_ms, length_ms, crash, restart)
}

/// Every producer of the workload as (its shape's position, its index: `p<index + 1>`).
fn producer_indices(workload: &Workload) -> impl Iterator<Item = (usize, u32)> + '_ {
    workload
        .producers
        .iter()
        .enumerate()
        .flat_map(|(shape, producer)| std::iter::repeat_n(shape, producer.count as usize))
        .zip(0..)
}

/// At least one producer and one consumer per topic.
fn workload(topics: &[Topic], rng: &mut ChaCha8Rng) -> Workload {
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for topic in topics {
        let shapes = rng.random_range(1..=2);
        for _ in 0..shapes {
            producers.push(Producer {
                topic: topic.name.clone(),
                count: rng.random_range(1..=2),
                acks: if rng.random_ratio(1, 5) {
                    Acks::Leader
                } else {
                    Acks::All
                },
                rate_per_second: rng.random_range(RATE_PER_SECOND_MIN..=RATE_PER_SECOND_MAX),
                keys: if rng.random_ratio(1, 4) {
                    0
                } else {
                    rng.random_range(1..=KEYS_MAX)
                },
                idempotent: false, // Drawn apart: make_idempotent.
                transactional: false,
                abort_one_in: 0,
                transaction_timeout: None,
                transactional_id: None,
            });
        }
        consumers.push(Consumer {
            topic: topic.name.clone(),
            count: rng.random_range(1..=2),
            mode: ConsumerMode::Assign,
            group: None,
            topics: Vec::new(),
            protocol: None,
            assignor: None,
            commit: None,
            auto_offset_reset: None,
            session_timeout: None,
            isolation: Isolation::ReadUncommitted,
            abort_one_in: 0,
            output: None,
        });
    }
    Workload {
        producers,
        consumers,
    }
}

/// One group of subscribe-mode members over every topic, its settings drawn.
fn group_consumer(topics: &[Topic], rng: &mut ChaCha8Rng) -> Consumer {
    let count = rng.random_range(GROUP_MEMBERS_MIN..=GROUP_MEMBERS_MAX);
    let protocol = if rng.random_ratio(1, 2) {
        RebalanceProtocol::Eager
    } else {
        RebalanceProtocol::Cooperative
    };
    let assignor = if rng.random_ratio(1, 2) {
        Assignor::Range
    } else {
        Assignor::Sticky
    };
    let commit = if rng.random_ratio(1, 2) {
        CommitMode::Auto
    } else {
        CommitMode::Manual
    };
    let session_timeout = rng.random_ratio(1, 2).then(|| {
        Duration::from_ms(rng.random_range(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX))
    });
    Consumer {
        topic: topics[0].name.clone(),
        count,
        mode: ConsumerMode::Subscribe,
        group: Some(GROUP_NAME.to_owned()),
        topics: topics[1..].iter().map(|topic| topic.name.clone()).collect(),
        protocol: Some(protocol),
        assignor: Some(assignor),
        commit: Some(commit),
        auto_offset_reset: None,
        session_timeout,
        isolation: Isolation::ReadUncommitted,
        abort_one_in: 0,
        output: None,
    }
}

/// The aimed group patterns: each is the fault shape of a library scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupPatternKind {
    /// A member paused past its session timeout wakes up and commits old positions
    /// (`group-zombie-consumer`).
    Zombie,
    /// Members join and leave, each change a rebalance that moves partitions
    /// (`group-cooperative-scale`, `group-worker-pool`).
    Scale,
    /// The group's coordinator crashes, as a member joins (`group-coordinator-crash`).
    CoordinatorCrash,
}

const GROUP_PATTERN_KINDS: [GroupPatternKind; 3] = [
    GroupPatternKind::Zombie,
    GroupPatternKind::Scale,
    GroupPatternKind::CoordinatorCrash,
];

struct GroupPattern {
    kind: GroupPatternKind,
    /// Whether the pattern runs without the swarm, leader crashes and replica patterns.
    alone: bool,
    faults: Vec<Fault>,
    /// The fault phase, lengthened to fit the pattern.
    fault_phase: Duration,
}

/// Sometimes one group pattern aimed at `group`'s members or coordinator, with drawn timings.
fn group_pattern(
    group: &Consumer,
    brokers: u32,
    fault_phase: Duration,
    rng: &mut ChaCha8Rng,
) -> Option<GroupPattern> {
    if !rng.random_ratio(GROUP_PATTERN_RATIO.0, GROUP_PATTERN_RATIO.1) {
        return None;
    }
    let kind = GROUP_PATTERN_KINDS[rng.random_range(0..GROUP_PATTERN_KINDS.len())];
    let alone = rng.random_ratio(1, 2);
    let fault_phase = fault_phase.max(Duration::from_ms(GROUP_PATTERN_PHASE_MS_MIN));
    let latest_start_ms = fault_phase.ns / 1_000_000 - GROUP_PATTERN_MS_MAX;
    let start_ms = rng.random_range(GROUP_PATTERN_START_MS_MIN..=latest_start_ms);
    let faults = match kind {
        GroupPatternKind::Zombie => zombie_pattern(group, start_ms, rng),
        GroupPatternKind::Scale => scale_pattern(group, start_ms, rng),
        GroupPatternKind::CoordinatorCrash => {
            coordinator_crash_pattern(group, brokers, start_ms, rng)
        }
    };
    debug_assert!(faults.iter().all(|fault| fault.at() <= fault_phase));
    Some(GroupPattern {
        kind,
        alone,
        faults,
        fault_phase,
    })
}

/// One member (two, when there is room) paused past its session timeout, then resumed.
fn zombie_pattern(group: &Consumer, start_ms: u64, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let session_timeout_ms = group
        .session_timeout
        .map_or(SESSION_TIMEOUT_MS_DEFAULT, |timeout| timeout.ns / 1_000_000);
    let end_ms = start_ms + GROUP_PATTERN_MS_MAX;
    let mut faults = Vec::new();
    let mut members: Vec<u32> = (0..group.count).collect();
    members.shuffle(rng);
    let mut pause_ms = start_ms;
    for member in members.into_iter().take(2) {
        let resume_ms = pause_ms + session_timeout_ms + rng.random_range(1_000..=2_500);
        if resume_ms > end_ms {
            break;
        }
        faults.push(Fault::Pause {
            at: Duration::from_ms(pause_ms),
            target: Target::Consumer(member),
        });
        faults.push(Fault::Resume {
            at: Duration::from_ms(resume_ms),
            target: Target::Consumer(member),
        });
        pause_ms = resume_ms + rng.random_range(1_000..=2_000);
    }
    assert!(!faults.is_empty(), "the first pause always fits");
    faults
}

/// The members after the first `initial` are added one by one, then the first one or two
/// members are removed; the last member stays to drain the group.
fn scale_pattern(group: &Consumer, start_ms: u64, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let initial = rng.random_range(1..group.count);
    let removed = rng.random_range(1..=(group.count - 1).min(2));
    let mut faults = Vec::new();
    let mut at_ms = start_ms;
    for member in initial..group.count {
        faults.push(Fault::AddConsumer {
            at: Duration::from_ms(at_ms),
            target: Target::Consumer(member),
        });
        at_ms += rng.random_range(SCALE_STEP_MS_MIN..=SCALE_STEP_MS_MAX);
    }
    for member in 0..removed {
        faults.push(Fault::RemoveConsumer {
            at: Duration::from_ms(at_ms),
            target: Target::Consumer(member),
        });
        at_ms += rng.random_range(SCALE_STEP_MS_MIN..=SCALE_STEP_MS_MAX);
    }
    faults
}

/// The coordinator crashes (just after the last member joins, when there are three or more),
/// every broker restarts, and the new coordinator crashes again.
/// Every broker restarts after a crash (a restart of a running broker does nothing).
fn coordinator_crash_pattern(
    group: &Consumer,
    brokers: u32,
    start_ms: u64,
    rng: &mut ChaCha8Rng,
) -> Vec<Fault> {
    let coordinator = Target::Coordinator {
        group: group.group.clone().expect("a group consumer has a group"),
    };
    let restart_all = |at_ms: u64| {
        (0..brokers).map(move |broker| Fault::Restart {
            at: Duration::from_ms(at_ms),
            target: Target::Broker(broker),
        })
    };
    let mut faults = Vec::new();
    let mut crash_ms = start_ms;
    if group.count >= 3 && rng.random_ratio(1, 2) {
        faults.push(Fault::AddConsumer {
            at: Duration::from_ms(start_ms),
            target: Target::Consumer(group.count - 1),
        });
        crash_ms += rng.random_range(50..=300);
    }
    faults.push(Fault::Crash {
        at: Duration::from_ms(crash_ms),
        target: coordinator.clone(),
    });
    let restart_ms = crash_ms + rng.random_range(1_500..=2_500);
    faults.extend(restart_all(restart_ms));
    let second_crash_ms = restart_ms + rng.random_range(2_000..=3_000);
    faults.push(Fault::Crash {
        at: Duration::from_ms(second_crash_ms),
        target: coordinator,
    });
    faults.extend(restart_all(
        second_crash_ms + rng.random_range(1_500..=2_500),
    ));
    faults
}

/// The swarm plan over a random subset of every kind, plus (sometimes) leader crashes and
/// (sometimes) a replica pattern, which lengthens a short fault phase to fit.
fn faults(
    cluster: &Cluster,
    fault_phase: Duration,
    rng: &mut ChaCha8Rng,
) -> (Vec<Fault>, Duration) {
    let mut kinds = ALL_KINDS.to_vec();
    kinds.shuffle(rng);
    kinds.truncate(rng.random_range(1..=ALL_KINDS.len()));
    kinds.sort();
    let plan = nemesis::plan(&Nemesis { kinds }, cluster.brokers, fault_phase, rng);
    let mut faults: Vec<Fault> = plan
        .faults
        .into_iter()
        .filter(|fault| fault.at() >= Duration::from_ms(SWARM_QUIET_START_MS))
        .collect();
    if rng.random_ratio(1, 2) {
        faults.extend(leader_crashes(cluster, fault_phase, rng));
    }
    let mut fault_phase = fault_phase;
    if rng.random_ratio(1, 2) {
        fault_phase = fault_phase.max(Duration::from_ms(REPLICA_PATTERN_PHASE_MS_MIN));
        faults.extend(replica_pattern(cluster, fault_phase, rng));
    }
    // Stable: faults of one pattern at one time keep their order (a cut before a crash).
    faults.sort_by_key(Fault::at);
    (faults, fault_phase)
}

/// The aimed replica patterns: each is the fault shape of a library scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplicaPattern {
    /// The followers lose each other, the leader crashes, then the new leader crashes too.
    FastDoubleFailover,
    /// A follower cut from the voters that hold no replica of its partition (not from its
    /// fellow replicas), while its leader crashes, another leads, the old leader returns and
    /// leads again.
    ZombieFollower,
    /// A follower down long, back unable to reach its leader, then the leader crashes.
    LaggingReplicaRestart,
}

const REPLICA_PATTERNS: [ReplicaPattern; 3] = [
    ReplicaPattern::FastDoubleFailover,
    ReplicaPattern::ZombieFollower,
    ReplicaPattern::LaggingReplicaRestart,
];

/// Longest a replica pattern runs, from its start.
const REPLICA_PATTERN_MS_MAX: u64 = 8_000;
/// A pattern starts once the cluster had time to settle.
const REPLICA_PATTERN_START_MS_MIN: u64 = 2_000;
/// The shortest fault phase with room for a pattern (within the generator's phase bounds).
const REPLICA_PATTERN_PHASE_MS_MIN: u64 = REPLICA_PATTERN_START_MS_MIN + REPLICA_PATTERN_MS_MAX;
const _: () = assert!(REPLICA_PATTERN_PHASE_MS_MIN <= FAULT_PHASE_SECONDS_MAX * 1_000);

/// One replica pattern aimed at the replicated partition whose replicas hold the fewest controller
/// voters (so that crashing and cutting its replicas rarely costs the quorum), if there is one
/// with replication factor 3 and the fault phase has room for it. Timings are drawn around the
/// library scenarios' ones.
fn replica_pattern(cluster: &Cluster, fault_phase: Duration, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let pattern = REPLICA_PATTERNS[rng.random_range(0..REPLICA_PATTERNS.len())];
    let phase_ms = fault_phase.ns / 1_000_000;
    let Some(latest_start_ms) = phase_ms.checked_sub(REPLICA_PATTERN_MS_MAX) else {
        return Vec::new();
    };
    if latest_start_ms < REPLICA_PATTERN_START_MS_MIN {
        return Vec::new();
    }
    let Some((topic, partition)) = least_voting_partition(cluster) else {
        return Vec::new();
    };
    let aim = PatternAim {
        cluster,
        start_ms: rng.random_range(REPLICA_PATTERN_START_MS_MIN..=latest_start_ms),
        topic,
        partition,
    };
    let faults = match pattern {
        ReplicaPattern::FastDoubleFailover => fast_double_failover(&aim, rng),
        ReplicaPattern::ZombieFollower => zombie_follower(&aim, rng),
        ReplicaPattern::LaggingReplicaRestart => lagging_replica_restart(&aim, rng),
    };
    debug_assert!(faults.iter().all(|fault| fault.at() <= fault_phase));
    faults
}

/// Where and when a replica pattern strikes: one partition, from `start_ms` on.
struct PatternAim<'a> {
    cluster: &'a Cluster,
    start_ms: u64,
    topic: String,
    partition: u32,
}

impl PatternAim<'_> {
    fn at(&self, offset_ms: u64) -> Duration {
        Duration::from_ms(self.start_ms + offset_ms)
    }

    fn leader(&self) -> Target {
        Target::Leader {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }

    fn follower(&self, index: u32) -> Target {
        Target::Follower {
            topic: self.topic.clone(),
            partition: self.partition,
            index,
        }
    }

    /// Every broker restarted at `offset_ms` (a restart of a live broker does nothing).
    fn restart_all(&self, offset_ms: u64) -> impl Iterator<Item = Fault> + use<> {
        let at = self.at(offset_ms);
        (0..self.cluster.brokers).map(move |broker| Fault::Restart {
            at,
            target: Target::Broker(broker),
        })
    }
}

/// `fast-double-failover`: the followers lose each other, the leader crashes, then the new
/// leader crashes too.
fn fast_double_failover(aim: &PatternAim, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let mut faults = vec![
        Fault::Network {
            at: aim.at(0),
            latency: Some(crate::distribution::Latency::Uniform {
                min_ns: 5_000_000,
                max_ns: 20_000_000,
            }),
            loss: None,
            duplication: None,
            reordering: None,
        },
        Fault::Partition {
            at: aim.at(1_000),
            groups: vec![vec![aim.follower(1)], vec![aim.follower(2)]],
        },
        Fault::Crash {
            at: aim.at(1_000),
            target: aim.leader(),
        },
        Fault::Crash {
            at: aim.at(rng.random_range(1_900..=2_400)),
            target: aim.leader(),
        },
    ];
    faults.extend(aim.restart_all(4_000));
    faults.push(Fault::Heal { at: aim.at(5_000) });
    faults.push(Fault::NetworkReset { at: aim.at(5_000) });
    faults
}

/// `zombie-follower`: a follower cut from the voters that hold no replica of its partition (not
/// from its fellow replicas), while its leader crashes, another leads, the old leader returns
/// and leads again.
fn zombie_follower(aim: &PatternAim, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let mut faults = vec![
        Fault::Pause {
            at: aim.at(0),
            target: aim.follower(1),
        },
        Fault::Resume {
            at: aim.at(300),
            target: aim.follower(1),
        },
    ];
    // Cut from the voters that hold no replica of the partition, so that the zombie keeps
    // reaching its leader (as in the library scenario); from every voter when each holds a
    // replica.
    let cluster = aim.cluster;
    let replicas = partition_replicas(cluster, &aim.topic, aim.partition);
    let mut voters: Vec<Target> = (0..cluster.controllers)
        .filter(|voter| !replicas.contains(voter))
        .map(Target::Broker)
        .collect();
    if voters.is_empty() {
        voters = (0..cluster.controllers).map(Target::Broker).collect();
    }
    faults.push(Fault::Partition {
        at: aim.at(300),
        groups: vec![vec![aim.follower(2)], voters],
    });
    faults.push(Fault::Crash {
        at: aim.at(300),
        target: aim.leader(),
    });
    faults.extend(aim.restart_all(rng.random_range(1_500..=2_000)));
    faults.push(Fault::Crash {
        at: aim.at(rng.random_range(4_000..=4_500)),
        target: aim.leader(),
    });
    faults.extend(aim.restart_all(6_000));
    faults.push(Fault::Heal { at: aim.at(7_500) });
    faults
}

/// `lagging-replica-restart`: a follower down long, back unable to reach its leader, then the
/// leader crashes.
fn lagging_replica_restart(aim: &PatternAim, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let mut faults = vec![Fault::Crash {
        at: aim.at(0),
        target: aim.follower(1),
    }];
    let back_ms = rng.random_range(1_500..=2_500);
    faults.push(Fault::Partition {
        at: aim.at(back_ms),
        groups: vec![vec![aim.leader()], vec![aim.follower(1)]],
    });
    faults.extend(aim.restart_all(back_ms));
    faults.push(Fault::Crash {
        at: aim.at(back_ms + rng.random_range(1_500..=2_500)),
        target: aim.leader(),
    });
    faults.extend(aim.restart_all(6_500));
    faults.push(Fault::Heal { at: aim.at(7_500) });
    faults
}

/// The replicas of each partition of the `ordinal`-th topic, in the controller's deterministic
/// assignment.
fn assignment(cluster: &Cluster, ordinal: usize) -> Vec<Vec<u32>> {
    let topic = &cluster.topics[ordinal];
    broker::metadata::assignment::assign_replicas(
        ordinal as u32,
        topic.partitions,
        topic.replication_factor,
        cluster.brokers,
    )
}

/// The replicas of `topic/partition`.
fn partition_replicas(cluster: &Cluster, topic: &str, partition: u32) -> Vec<u32> {
    let ordinal = cluster
        .topics
        .iter()
        .position(|candidate| candidate.name == topic)
        .expect("a topic of the cluster");
    assignment(cluster, ordinal).swap_remove(partition as usize)
}

/// The partition with replication factor 3 whose replicas include the fewest controller voters
/// (ids below `controllers`; replicas follow the controller's deterministic assignment).
fn least_voting_partition(cluster: &Cluster) -> Option<(String, u32)> {
    let mut best: Option<(u32, String, u32)> = None;
    for (ordinal, topic) in cluster.topics.iter().enumerate() {
        if topic.replication_factor != 3 {
            continue;
        }
        for (partition, replicas) in (0..).zip(&assignment(cluster, ordinal)) {
            let voters = replicas
                .iter()
                .filter(|replica| **replica < cluster.controllers)
                .count() as u32;
            if best.as_ref().is_none_or(|(fewest, _, _)| voters < *fewest) {
                best = Some((voters, topic.name.clone(), partition));
            }
        }
    }
    best.map(|(_, topic, partition)| (topic, partition))
}

/// One or two preferred-replica elections during the fault phase, after the quiet start: each
/// moves leadership back from live leaders to the preferred replicas that are in the ISR (the
/// leaders start on their preferred replicas, so an election moves what the seed's crashes,
/// pauses and partitions moved), amid whatever else the seed's faults are doing.
fn preferred_elections(fault_phase: Duration, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let phase_ms = fault_phase.ns / 1_000_000;
    let count = rng.random_range(1..=ELECTIONS_MAX);
    (0..count)
        .map(|_| Fault::ElectPreferredLeaders {
            at: Duration::from_ms(rng.random_range(SWARM_QUIET_START_MS..phase_ms)),
        })
        .collect()
}

/// Crashes of a partition's leader, each followed by restarts of every broker (a restart of a
/// running broker does nothing), so the crashed leader comes back as a follower.
fn leader_crashes(cluster: &Cluster, fault_phase: Duration, rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let topic = &cluster.topics[rng.random_range(0..cluster.topics.len())];
    let partition = rng.random_range(0..topic.partitions);
    let phase_ms = fault_phase.ns / 1_000_000;
    let mut faults = Vec::new();
    let mut at_ms = rng.random_range(1_000..=3_000);
    while at_ms < phase_ms {
        faults.push(Fault::Crash {
            at: Duration::from_ms(at_ms),
            target: Target::Leader {
                topic: topic.name.clone(),
                partition,
            },
        });
        let restart_ms = at_ms + rng.random_range(500..=3_000);
        if restart_ms > phase_ms {
            break;
        }
        for broker in 0..cluster.brokers {
            faults.push(Fault::Restart {
                at: Duration::from_ms(restart_ms),
                target: Target::Broker(broker),
            });
        }
        at_ms = restart_ms + rng.random_range(500..=4_000);
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_scenarios_are_valid_short_and_round_trip() {
        for seed in 0..300 {
            let scenario = generate(seed);
            assert!((BROKERS_MIN..=BROKERS_MAX).contains(&scenario.cluster.brokers));
            assert!(scenario.fault_phase <= Duration::from_secs(FAULT_PHASE_SECONDS_MAX));
            assert!(scenario.liveness_phase <= Duration::from_secs(LIVENESS_PHASE_SECONDS_MAX));
            let text = scenario.to_toml();
            let again = Scenario::parse(&text, "generated.toml").unwrap();
            assert_eq!(again, scenario, "seed {seed}");
        }
    }

    #[test]
    fn about_a_quarter_of_generated_scenarios_elect_preferred_leaders_amid_their_faults() {
        let mut electing = 0;
        for seed in 0..400 {
            let scenario = generate(seed);
            let elections: Vec<Duration> = scenario
                .faults
                .iter()
                .filter(|fault| matches!(fault, Fault::ElectPreferredLeaders { .. }))
                .map(Fault::at)
                .collect();
            if elections.is_empty() {
                continue;
            }
            electing += 1;
            assert!(elections.len() as u32 <= ELECTIONS_MAX, "seed {seed}");
            assert!(
                !scenario.expect.exactly_once,
                "seed {seed}: a pattern alone"
            );
            for at in elections {
                assert!(
                    Duration::from_ms(SWARM_QUIET_START_MS) <= at && at < scenario.fault_phase,
                    "seed {seed}: election at {at:?}"
                );
            }
        }
        assert!(
            (60..=140).contains(&electing),
            "about a quarter of 400 seeds (fewer: group patterns alone), got {electing}"
        );
    }

    #[test]
    fn some_generated_scenarios_aim_replica_patterns_at_followers() {
        let aimed = (0..100)
            .filter(|seed| {
                generate(*seed)
                    .faults
                    .iter()
                    .flat_map(|fault| fault.targets())
                    .any(|(_, target)| matches!(target, Target::Follower { .. }))
            })
            .count();
        assert!(
            (20..=70).contains(&aimed),
            "about half of the seeds (those with a replication factor 3 topic), got {aimed} of 100"
        );
    }

    /// The group consumer of a generated scenario, if it reads through one.
    fn group_of(scenario: &Scenario) -> Option<&Consumer> {
        let group = scenario
            .workload
            .consumers
            .iter()
            .find(|consumer| consumer.mode == ConsumerMode::Subscribe)?;
        let readers = usize::from(group.output.is_some());
        assert_eq!(
            scenario.workload.consumers.len(),
            1 + readers,
            "the group reads alone (with the readers of its output, if it writes one)"
        );
        Some(group)
    }

    /// About half the groups that commit inside transactions write an output, read by a group
    /// of its own under read_committed; no other group does, and nothing else changes.
    #[test]
    fn half_the_transactional_groups_write_an_output_and_nothing_else_changes() {
        let (mut transactional, mut writing) = (0, 0);
        for seed in 0..1_600 {
            let scenario = generate(seed);
            for consumer in &scenario.workload.consumers {
                if consumer.commit == Some(CommitMode::Transactional)
                    && consumer.group.as_deref() == Some(GROUP_NAME)
                {
                    transactional += 1;
                }
                let Some(output) = &consumer.output else {
                    continue;
                };
                writing += 1;
                assert_eq!(consumer.commit, Some(CommitMode::Transactional));
                let readers: Vec<&Consumer> = scenario
                    .workload
                    .consumers
                    .iter()
                    .filter(|reader| &reader.topic == output)
                    .collect();
                assert!(
                    readers
                        .iter()
                        .all(|reader| reader.isolation == Isolation::ReadCommitted
                            && reader.group.as_deref() == Some(OUTPUT_GROUP)),
                    "seed {seed}: {readers:?}"
                );
                assert!(!readers.is_empty(), "seed {seed}: the output is read");
            }
            assert_only_apart_draws_differ(seed, scenario, "the output");
        }
        assert!(
            writing > 10 && writing * 3 < transactional * 2 && writing * 3 > transactional,
            "{writing} of {transactional} transactional groups write an output"
        );
    }

    fn aims_at_the_group(fault: &Fault) -> bool {
        fault
            .targets()
            .iter()
            .any(|(_, target)| target.is_consumer() || matches!(target, Target::Coordinator { .. }))
    }

    #[test]
    fn about_a_third_of_generated_scenarios_read_through_one_group_over_every_topic() {
        let mut groups = 0;
        for seed in 0..300 {
            let scenario = generate(seed);
            let Some(group) = group_of(&scenario) else {
                assert!(!scenario.expect.exactly_once);
                assert!(
                    !scenario.faults.iter().any(aims_at_the_group),
                    "seed {seed}"
                );
                continue;
            };
            groups += 1;
            assert!((GROUP_MEMBERS_MIN..=GROUP_MEMBERS_MAX).contains(&group.count));
            let topics: Vec<String> = scenario
                .cluster
                .topics
                .iter()
                .map(|t| t.name.clone())
                .filter(|name| name != OUTPUT_TOPIC)
                .collect();
            assert_eq!(group.all_topics(), topics, "seed {seed}");
        }
        assert!(
            (70..=130).contains(&groups),
            "{groups} of 300 seeds have a group"
        );
    }

    #[test]
    fn group_scenarios_aim_every_group_pattern_and_expect_exactly_once_only_without_failures() {
        let mut zombies = 0;
        let mut scales = 0;
        let mut coordinator_crashes = 0;
        let mut exactly_once = 0;
        for seed in 0..600 {
            let scenario = generate(seed);
            let faults = &scenario.faults;
            let pauses_a_member = faults.iter().any(|fault| {
                matches!(
                    fault,
                    Fault::Pause {
                        target: Target::Consumer(_),
                        ..
                    }
                )
            });
            let scales_the_group = faults
                .iter()
                .any(|fault| matches!(fault, Fault::RemoveConsumer { .. }));
            let crashes_the_coordinator = faults.iter().any(|fault| {
                matches!(
                    fault,
                    Fault::Crash {
                        target: Target::Coordinator { .. },
                        ..
                    }
                )
            });
            zombies += u32::from(pauses_a_member);
            scales += u32::from(scales_the_group);
            coordinator_crashes += u32::from(crashes_the_coordinator);
            if scenario.expect.exactly_once {
                exactly_once += 1;
                let only_scaling = faults.iter().all(|fault| {
                    matches!(
                        fault,
                        Fault::AddConsumer { .. } | Fault::RemoveConsumer { .. }
                    )
                });
                assert!(only_scaling && scales_the_group, "seed {seed}: {faults:?}");
            }
        }
        for (pattern, count) in [
            ("zombie", zombies),
            ("scale", scales),
            ("coordinator crash", coordinator_crashes),
        ] {
            assert!(
                (20..=70).contains(&count),
                "{count} {pattern} patterns in 600 seeds"
            );
        }
        assert!(
            (8..=scales / 2 + 5).contains(&exactly_once),
            "about half of the scale patterns run alone: {exactly_once} of {scales}"
        );
    }

    #[test]
    fn a_zombie_sleeps_past_its_session_timeout_and_a_scaled_group_keeps_a_member() {
        for seed in 0..600 {
            let scenario = generate(seed);
            let Some(group) = group_of(&scenario) else {
                continue;
            };
            let session_timeout = group
                .session_timeout
                .unwrap_or(Duration::from_ms(SESSION_TIMEOUT_MS_DEFAULT));
            for (position, fault) in scenario.faults.iter().enumerate() {
                if let Fault::Pause {
                    at,
                    target: target @ Target::Consumer(_),
                } = fault
                {
                    let resume = scenario.faults[position..]
                        .iter()
                        .find_map(|later| match later {
                            Fault::Resume {
                                at,
                                target: resumed,
                            } if resumed == target => Some(*at),
                            _ => None,
                        })
                        .expect("every paused member resumes");
                    assert!(resume.ns > at.ns + session_timeout.ns, "seed {seed}");
                }
            }
            let removed = scenario
                .faults
                .iter()
                .filter(|fault| matches!(fault, Fault::RemoveConsumer { .. }))
                .count() as u32;
            assert!(removed < group.count, "seed {seed}");
            assert!(scenario.fault_phase <= Duration::from_secs(FAULT_PHASE_SECONDS_MAX));
        }
    }

    /// `brokers` brokers, `controllers` of them voters, and `orders` (4 partitions, RF 3).
    fn orders_cluster(brokers: u32, controllers: u32) -> Cluster {
        Cluster {
            brokers,
            controllers,
            flush: Default::default(),
            unclean_leader_election: false,
            bugs: Default::default(),
            perturbations: false,
            topics: vec![Topic {
                name: "orders".to_owned(),
                partitions: 4,
                replication_factor: 3,
                min_insync_replicas: 2,
            }],
        }
    }

    #[test]
    fn the_least_voting_partition_avoids_the_voters() {
        assert_eq!(
            least_voting_partition(&orders_cluster(6, 3)),
            Some(("orders".to_owned(), 3)),
            "orders/3 lives on brokers 3, 4 and 5"
        );
    }

    /// The cut of a zombie follower's pattern, for the least-voting partition of
    /// [`orders_cluster`]`(brokers, controllers)`.
    fn zombie_cut(brokers: u32, controllers: u32) -> Vec<Target> {
        let cluster = orders_cluster(brokers, controllers);
        let phase = Duration::from_ms(REPLICA_PATTERN_PHASE_MS_MIN);
        (0..)
            .find_map(|seed| {
                let mut rng = stream(seed, Stream::Nemesis);
                replica_pattern(&cluster, phase, &mut rng)
                    .into_iter()
                    .find_map(|fault| match fault {
                        Fault::Partition { groups, .. }
                            if matches!(groups[0][..], [Target::Follower { index: 2, .. }]) =>
                        {
                            Some(groups[1].clone())
                        }
                        _ => None,
                    })
            })
            .expect("some seed draws the zombie pattern")
    }

    #[test]
    fn a_zombie_follower_is_cut_from_the_voters_that_hold_no_replica_of_its_partition() {
        // orders/2 lives on 2, 3 and 4: the zombie keeps reaching its fellow replicas, voter 2
        // among them, and loses voters 0 and 1.
        assert_eq!(zombie_cut(5, 3), vec![Target::Broker(0), Target::Broker(1)]);
        // Every voter holds a replica of every partition: the zombie loses them all.
        assert_eq!(
            zombie_cut(3, 3),
            vec![Target::Broker(0), Target::Broker(1), Target::Broker(2)]
        );
    }

    /// The scenario without the draws made apart from the rest (perturbations, idempotence).
    fn without_apart_draws(mut scenario: Scenario) -> Scenario {
        scenario.cluster.perturbations = false;
        for producer in &mut scenario.workload.producers {
            producer.idempotent = false;
            producer.transactional = false;
            producer.abort_one_in = 0;
            producer.transaction_timeout = None;
            producer.transactional_id = None;
        }
        scenario.faults.retain(|fault| !aims_at_a_producer(fault));
        let outputs = |name: &str| name == OUTPUT_TOPIC;
        scenario
            .cluster
            .topics
            .retain(|topic| !outputs(&topic.name));
        scenario
            .workload
            .consumers
            .retain(|consumer| !outputs(&consumer.topic));
        for consumer in &mut scenario.workload.consumers {
            consumer.output = None;
            consumer.isolation = Isolation::ReadUncommitted;
            consumer.abort_one_in = 0;
            if consumer.commit == Some(CommitMode::Transactional) {
                consumer.commit = Some(CommitMode::Manual);
            }
        }
        scenario
    }

    /// About half the groups drawn to commit after each poll commit inside transactions; no
    /// other group does, and nothing else changes.
    #[test]
    fn half_the_manual_groups_commit_in_transactions_and_nothing_else_changes() {
        let (mut manual, mut transactional, mut aborting) = (0, 0, 0);
        for seed in 0..1_600 {
            let scenario = generate(seed);
            for consumer in &scenario.workload.consumers {
                match consumer.commit {
                    Some(CommitMode::Manual) => manual += 1,
                    Some(CommitMode::Transactional) => transactional += 1,
                    _ => {}
                }
                if consumer.abort_one_in > 0 {
                    assert_eq!(consumer.commit, Some(CommitMode::Transactional));
                    aborting += 1;
                }
            }
            assert_only_apart_draws_differ(seed, scenario, "the commit mode");
        }
        assert!(
            transactional > 20
                && manual > 20
                && transactional < 2 * manual
                && manual < 2 * transactional,
            "{transactional} transactional groups, {manual} manual"
        );
        assert!(
            aborting > 10 && aborting < transactional,
            "{aborting} of {transactional} transactional groups abort some commits"
        );
    }

    /// A producer pattern that ran alone (the seed's only faults aim at producers).
    fn ran_alone(scenario: &Scenario) -> bool {
        !scenario.faults.is_empty() && scenario.faults.iter().all(aims_at_a_producer)
    }

    /// `scenario`, generated from `seed`, is `widened(seed)` but for the draws made apart: the
    /// swarm's faults too if a producer pattern ran alone.
    fn assert_only_apart_draws_differ(seed: u64, scenario: Scenario, what: &str) {
        let mut expected = widened(seed);
        if ran_alone(&scenario) {
            expected.faults.clear();
        }
        assert_eq!(
            without_apart_draws(scenario),
            expected,
            "seed {seed}: more than {what} changed"
        );
    }

    /// About a third of the transactional shapes of two or more producers share one id, named
    /// after the shape; no other shape does, and nothing else changes.
    #[test]
    fn a_third_of_the_transactional_pairs_share_their_transactional_id_and_nothing_else_changes() {
        let (mut eligible, mut shared) = (0, 0);
        for seed in 0..2_000 {
            let scenario = generate(seed);
            for (position, producer) in scenario.workload.producers.iter().enumerate() {
                if producer.transactional && producer.count >= 2 {
                    eligible += 1;
                    shared += u32::from(producer.transactional_id.is_some());
                }
                assert!(
                    producer.transactional_id.is_none()
                        || producer.transactional_id == Some(format!("shared-{position}")),
                    "seed {seed}: {:?}",
                    producer.transactional_id
                );
                assert!(
                    producer.transactional_id.is_none()
                        || (producer.transactional && producer.count >= 2),
                    "seed {seed}"
                );
            }
            assert_only_apart_draws_differ(seed, scenario, "the shared ids");
        }
        assert!(
            eligible > 100,
            "only {eligible} eligible shapes in 2,000 seeds"
        );
        let share = f64::from(shared) / f64::from(eligible);
        assert!(
            (0.25..=0.42).contains(&share),
            "{shared} of {eligible} shared"
        );
    }

    /// About one seed in four writes in transactions: then every acks=all producer shape is
    /// transactional, and only those, and every consumer reads `read-committed`; nothing else
    /// changes.
    #[test]
    fn one_seed_in_four_writes_in_transactions_and_changes_nothing_else() {
        let mut transactional_seeds = 0;
        for seed in 0..1_000 {
            let scenario = generate(seed);
            let workload = &scenario.workload;
            let transactional = workload.producers.iter().any(|p| p.transactional);
            transactional_seeds += u32::from(transactional);
            for producer in &workload.producers {
                assert_eq!(
                    producer.transactional,
                    transactional && producer.acks == Acks::All,
                    "seed {seed}"
                );
                assert!(
                    !producer.transactional
                        || (ABORT_ONE_IN_MIN..=ABORT_ONE_IN_MAX).contains(&producer.abort_one_in),
                    "seed {seed}"
                );
            }
            let read_committed = workload
                .consumers
                .iter()
                .all(|consumer| consumer.isolation == Isolation::ReadCommitted);
            assert!(!transactional || read_committed, "seed {seed}");
            assert_only_apart_draws_differ(seed, scenario, "the transactions");
        }
        assert!(
            (200..=300).contains(&transactional_seeds),
            "about a quarter of 1000 seeds transactional, got {transactional_seeds}"
        );
    }

    fn aims_at_a_producer(fault: &Fault) -> bool {
        fault
            .targets()
            .iter()
            .any(|(_, target)| matches!(target, Target::Producer(_)))
    }

    /// Half the transactional seeds without groups aim a producer pattern at one transactional
    /// producer: a pause that outlasts its drawn transaction timeout, a hold of its link to a
    /// partition leader that outlasts its operation timeout, or a crash and restart; its end
    /// comes within the fault phase or is left to the heal; half the patterns run alone.
    #[test]
    fn half_the_transactional_seeds_pause_hold_or_restart_a_transactional_producer() {
        let (mut eligible, mut paused, mut held, mut restarted, mut alone) = (0, 0, 0, 0, 0);
        for seed in 0..2_000 {
            let scenario = generate(seed);
            let workload = &scenario.workload;
            let groups = workload
                .consumers
                .iter()
                .any(|c| c.mode == ConsumerMode::Subscribe);
            if groups {
                assert!(
                    !scenario.faults.iter().any(aims_at_a_producer),
                    "seed {seed}"
                );
            }
            if !workload.producers.iter().any(|p| p.transactional) || groups {
                continue;
            }
            eligible += 1;
            let aimed: Vec<&Fault> = scenario
                .faults
                .iter()
                .filter(|f| aims_at_a_producer(f))
                .collect();
            let Some(first) = aimed.first() else {
                continue;
            };
            alone += u32::from(ran_alone(&scenario));
            let end_ns = aimed
                .get(1)
                .map_or(scenario.fault_phase.ns, |end| end.at().ns);
            let length_ns = end_ns - first.at().ns;
            let shapes = producer_indices(workload).collect::<Vec<_>>();
            match first {
                Fault::Pause {
                    target: Target::Producer(index),
                    ..
                } => {
                    paused += 1;
                    let (shape, _) = shapes[*index as usize];
                    let timeout = workload.producers[shape].transaction_timeout;
                    let timeout_ns = timeout.expect("a paused producer's timeout is drawn").ns;
                    assert!(workload.producers[shape].transactional, "seed {seed}");
                    assert!(aimed.len() == 1 || length_ns > timeout_ns, "seed {seed}");
                }
                Fault::Hold {
                    from: Target::Producer(index),
                    to: Target::Leader { .. },
                    ..
                } => {
                    held += 1;
                    let (shape, _) = shapes[*index as usize];
                    assert!(workload.producers[shape].transactional, "seed {seed}");
                    assert!(aimed.len() == 1 || length_ns > 5_000_000_000, "seed {seed}");
                }
                Fault::Crash {
                    target: Target::Producer(index),
                    ..
                } => {
                    restarted += 1;
                    let (shape, _) = shapes[*index as usize];
                    assert!(workload.producers[shape].transactional, "seed {seed}");
                    assert!(
                        aimed.len() == 1 || matches!(aimed[1], Fault::Restart { .. }),
                        "seed {seed}"
                    );
                }
                other => panic!("seed {seed}: {other:?}"),
            }
        }
        let aimed = paused + held + restarted;
        assert!(
            aimed * 3 > eligible && aimed * 3 < 2 * eligible,
            "about half of {eligible} seeds, got {aimed}"
        );
        assert!(
            [paused, held, restarted]
                .iter()
                .all(|&count| count > aimed / 5),
            "{paused} paused, {held} held, {restarted} restarted"
        );
        assert!(
            alone * 3 > aimed && alone * 3 < 2 * aimed,
            "about half of {aimed} patterns alone, got {alone}"
        );
    }

    /// A quarter of the seeds without transactions or groups aim a pause, a hold or a crash
    /// and restart at one of their producers, and nothing else changes (but the swarm, when the
    /// pattern runs alone).
    #[test]
    fn a_quarter_of_the_seeds_without_transactions_aim_a_fault_at_a_producer() {
        let (mut eligible, mut aimed) = (0, 0);
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..2_000 {
            let scenario = generate(seed);
            let workload = &scenario.workload;
            let groups = workload
                .consumers
                .iter()
                .any(|c| c.mode == ConsumerMode::Subscribe);
            if workload.producers.iter().any(|p| p.transactional) || groups {
                continue;
            }
            eligible += 1;
            let producers: u32 = workload.producers.iter().map(|shape| shape.count).sum();
            let first = scenario
                .faults
                .iter()
                .find(|fault| aims_at_a_producer(fault));
            if let Some(first) = first {
                aimed += 1;
                kinds.insert(first.action());
                let (_, target) = first.targets()[0];
                let Target::Producer(index) = target else {
                    panic!("seed {seed}: {first:?}");
                };
                assert!(*index < producers, "seed {seed}: {first:?}");
            }
            assert_only_apart_draws_differ(seed, scenario, "the producer faults");
        }
        assert!(
            aimed * 5 > eligible && aimed * 3 < eligible,
            "about a quarter of {eligible} seeds, got {aimed}"
        );
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["crash", "hold", "pause"]
        );
    }

    /// The scenario of `seed` before the draws made apart: narrow, then widened.
    fn widened(seed: u64) -> Scenario {
        let mut drawn = narrow(seed);
        widen(&mut drawn.cluster.topics, &mut stream(seed, Stream::Scale));
        drawn
    }

    /// About half the acks=all producer shapes are idempotent, and only those; nothing else
    /// changes.
    #[test]
    fn half_the_acks_all_producers_are_idempotent_and_nothing_else_changes() {
        let (mut idempotent, mut acks_all) = (0, 0);
        for seed in 0..1_000 {
            let scenario = generate(seed);
            for producer in &scenario.workload.producers {
                assert!(
                    !producer.idempotent || producer.acks == Acks::All,
                    "seed {seed}"
                );
                idempotent += u32::from(producer.idempotent);
                acks_all += u32::from(producer.acks == Acks::All);
            }
            assert_only_apart_draws_differ(seed, scenario, "idempotence");
        }
        let share = f64::from(idempotent) / f64::from(acks_all);
        assert!(
            (0.45..=0.55).contains(&share),
            "about half of {acks_all} acks=all producer shapes idempotent, got {idempotent}"
        );
    }

    /// About one seed in two runs with perturbations, and is otherwise the scenario it would
    /// have been without them.
    #[test]
    fn one_seed_in_two_is_perturbed_and_changes_nothing_else() {
        let mut perturbed = 0;
        for seed in 0..1_000 {
            let scenario = generate(seed);
            perturbed += u32::from(scenario.cluster.perturbations);
            assert_only_apart_draws_differ(seed, scenario, "perturbations");
        }
        assert!(
            (430..=570).contains(&perturbed),
            "about 500 perturbed seeds of 1,000, got {perturbed}"
        );
    }

    /// About one seed in 32 has one wide topic, and is otherwise the scenario it would have
    /// been without it.
    #[test]
    fn one_seed_in_32_widens_one_topic_and_changes_nothing_else() {
        let mut wide = 0;
        for seed in 0..3_200 {
            let scenario = generate(seed);
            let mut narrowed = without_apart_draws(scenario.clone());
            let mut drawn = narrow(seed);
            if ran_alone(&scenario) {
                drawn.faults.clear();
            }
            for (topic, drawn) in narrowed
                .cluster
                .topics
                .iter_mut()
                .zip(&drawn.cluster.topics)
            {
                topic.partitions = drawn.partitions;
            }
            assert_eq!(narrowed, drawn, "seed {seed}: more than partitions changed");
            let widths: Vec<u32> = scenario
                .cluster
                .topics
                .iter()
                .map(|t| t.partitions)
                .collect();
            let wide_topics = widths.iter().filter(|&&w| w > PARTITIONS_MAX).count();
            assert!(wide_topics <= 1, "seed {seed}: {widths:?}");
            if wide_topics == 1 {
                wide += 1;
                let width = widths.into_iter().max().expect("a topic");
                assert!((WIDE_PARTITIONS_MIN..=WIDE_PARTITIONS_MAX).contains(&width));
            }
        }
        assert!(
            (60..=140).contains(&wide),
            "about 100 wide seeds of 3,200, got {wide}"
        );
    }

    #[test]
    fn generation_is_a_function_of_the_seed_and_varies_with_it() {
        assert_eq!(generate(5), generate(5));
        let shapes: std::collections::BTreeSet<(u32, usize, u32, Vec<&str>)> = (0..100)
            .map(|seed| {
                let scenario = generate(seed);
                let mut actions: Vec<&str> = scenario.faults.iter().map(Fault::action).collect();
                actions.sort();
                actions.dedup();
                (
                    scenario.cluster.brokers,
                    scenario.cluster.topics.len(),
                    scenario.cluster.topics[0].partitions,
                    actions,
                )
            })
            .collect();
        assert!(shapes.len() >= 50, "{shapes:?}");
    }
}
