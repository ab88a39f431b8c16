//! Each data-plane bug switch (KAFKA.md's zoo 1 to 5) produces an observable violation for some
//! seed in a bounded range, while the same seeds pass with every switch off. A violation is what a
//! user would see: an acknowledged record missing from the final logs, replicas that differ below
//! the HW, a record a consumer read that later disappears, or the replica monitor firing.
//!
//! - Zoo 1: a scripted fast double failover on three brokers.
//! - Zoo 4a and 5: random crashes, pauses and partitions.
//! - Zoo 2, 3 and 4b need schedules aimed at one partition whose replicas are not controller
//!   voters (six brokers, three voters), so that crashing or cutting off replicas never costs the
//!   controller quorum: back-to-back leaderships of one broker that a follower does not see in
//!   between (zoo 2: the follower is isolated; zoo 3: it is a zombie, cut from the controller
//!   voters only, still fetching from the leader with its stale epoch), and a lagging replica
//!   restarted unable to fetch, then its leader and the other follower crashed (zoo 4b).

mod data_plane;

use broker::BugsConfig;
use data_plane::*;
use sim::cluster::{ClusterSimulation, FaultKind, RandomFaults};

const FAULT_PHASE_END_NS: u64 = 4_000 * MS;
const CONVERGENCE_BOUND_NS: u64 = 10_000 * MS;

/// Runs one seed with `bugs`; returns the first violation seen, if any.
fn violation(seed: u64, bugs: BugsConfig, kinds: &[FaultKind]) -> Option<String> {
    let partitions = 3;
    let mut cluster = cluster(
        config(partitions, bugs),
        seed,
        clients(partitions, 2, 100, FAULT_PHASE_END_NS),
    );
    let mut faults = RandomFaults::new(seed, kinds, 1);
    if let Err(violation) = faults.run(&mut cluster, FAULT_PHASE_END_NS) {
        return Some(format!("monitor: {violation}"));
    }
    faults.heal_all(&mut cluster);
    heal_converge_and_check(&mut cluster)
}

/// Heals everything, lets the cluster converge (within `CONVERGENCE_BOUND_NS`) and settle, then
/// checks the logs and the reads: the first violation, if any. A cluster that did not converge
/// and shows no problem is no finding.
fn heal_converge_and_check(cluster: &mut ClusterSimulation) -> Option<String> {
    cluster.heal_all();
    let converged = match advance_until(cluster, CONVERGENCE_BOUND_NS, converged) {
        Ok(converged) => converged,
        Err(violation) => return Some(violation),
    };
    if let Err(violation) = advance_by(cluster, 500 * MS) {
        return Some(violation);
    }
    let events = cluster.drain_client_events();
    let mut problems = check_logs(cluster, &events);
    problems.extend(check_reads(cluster, &events));
    if !converged && problems.is_empty() {
        return None;
    }
    problems.into_iter().next()
}

/// The first seed in `0..seeds` whose run with `bugs` shows a violation, after checking that
/// every seed up to it passes with every switch off. `run` runs one seed under some switches.
fn assert_caught_by_run(
    name: &str,
    bugs: BugsConfig,
    seeds: u64,
    run: impl Fn(u64, BugsConfig) -> Option<String>,
) -> u64 {
    for seed in 0..seeds {
        let clean = run(seed, BugsConfig::default());
        assert_eq!(
            clean, None,
            "{name}: seed {seed} fails with every switch off"
        );
        if let Some(found) = run(seed, bugs.clone()) {
            println!("{name}: seed {seed}: {found}");
            return seed;
        }
    }
    panic!("{name}: no violation in {seeds} seeds");
}

/// [`assert_caught_by_run`] under random faults of `kinds`.
fn assert_caught(name: &str, bugs: BugsConfig, kinds: &[FaultKind], seeds: u64) {
    assert_caught_by_run(name, bugs, seeds, |seed, bugs| violation(seed, bugs, kinds));
}

const ALL: [FaultKind; 3] = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];

#[test]
fn zoo_4a_elect_outside_isr_is_caught() {
    let bugs = BugsConfig {
        elect_outside_isr: true,
        ..BugsConfig::default()
    };
    assert_caught("elect_outside_isr", bugs, &ALL, 100);
}

#[test]
fn zoo_5_high_watermark_at_leader_end_is_caught() {
    let bugs = BugsConfig {
        high_watermark_at_leader_end: true,
        ..BugsConfig::default()
    };
    assert_caught("high_watermark_at_leader_end", bugs, &ALL, 100);
}

/// A fast double failover on `orders/0`: crash its leader L, and as soon as a new leader F2 is
/// elected isolate it (and restart L, so that the controller quorum holds): the third replica F,
/// which just became F2's follower, is then the only ISR member left and is elected. Under zoo 1,
/// F truncated to its local HW, which lags the committed HW by a fetch: acknowledged records are
/// lost (KIP-101, scenario 1).
fn double_failover_violation(seed: u64, bugs: BugsConfig) -> Option<String> {
    let partitions = 3;
    let mut cluster = cluster(
        config(partitions, bugs),
        seed,
        clients(partitions, 2, 300, 3_000 * MS),
    );
    let leader_of = |cluster: &ClusterSimulation| {
        let controller = cluster.active_controller()?;
        cluster
            .broker(controller)?
            .metadata()
            .partition(TOPIC, 0)?
            .leader
    };
    let crash_at_ns = 1_000 * MS + (seed % 10) * 37 * MS;
    cluster.run_until(crash_at_ns).ok()?;
    let old_leader = leader_of(&cluster)?;
    cluster.crash(old_leader);
    let elected = cluster
        .run_until_condition(crash_at_ns + 3_000 * MS, |cluster| {
            leader_of(cluster).is_some_and(|leader| leader != old_leader)
        })
        .ok()??;
    let _ = elected;
    let new_leader = leader_of(&cluster)?;
    let others: Vec<u32> = (0..3).filter(|node| *node != new_leader).collect();
    cluster.partition(&[vec![new_leader], others]);
    cluster.restart(old_leader);
    if let Err(violation) = cluster.run_until(cluster.now_ns() + 2_000 * MS) {
        return Some(format!("monitor: {violation}"));
    }
    heal_converge_and_check(&mut cluster)
}

#[test]
fn zoo_1_truncate_to_high_watermark_is_caught_by_a_fast_double_failover() {
    let bugs = BugsConfig {
        truncate_to_high_watermark: true,
        ..BugsConfig::default()
    };
    assert_caught_by_run(
        "truncate_to_high_watermark",
        bugs,
        100,
        double_failover_violation,
    );
}

/// The partition the scripted schedules below aim at: with six brokers, three of them controller
/// voters (ids 0 to 2), partition 3 of `orders` lives on brokers 3, 4 and 5 only, so crashing or
/// cutting off its replicas never costs the controller quorum.
const TARGET_PARTITION: u32 = 3;
const SCRIPTED_PARTITIONS: u32 = 4;
const SCRIPTED_STOP_NS: u64 = 12_000 * MS;

/// Six brokers, three of them voters; `orders` with four partitions, RF 3, min ISR 2.
fn six_broker_config(bugs: BugsConfig) -> broker::ClusterConfig {
    broker::ClusterConfig {
        brokers: 6,
        controllers: 3,
        ..config(SCRIPTED_PARTITIONS, bugs)
    }
}

/// A fault schedule: drives the cluster; `Err` is a monitor's violation.
type Schedule = fn(&mut ClusterSimulation, u64) -> Result<(), String>;

/// Runs the cluster until `time_ns`; a monitor's violation becomes the error.
fn advance(cluster: &mut ClusterSimulation, time_ns: u64) -> Result<(), String> {
    cluster
        .run_until(time_ns)
        .map_err(|violation| format!("monitor: {violation}"))
}

/// Runs the cluster for `duration_ns`.
fn advance_by(cluster: &mut ClusterSimulation, duration_ns: u64) -> Result<(), String> {
    let time_ns = cluster.now_ns() + duration_ns;
    advance(cluster, time_ns)
}

/// Runs the cluster until `condition` holds or `bound_ns` passed; whether it held.
fn advance_until(
    cluster: &mut ClusterSimulation,
    bound_ns: u64,
    condition: impl FnMut(&ClusterSimulation) -> bool,
) -> Result<bool, String> {
    let deadline_ns = cluster.now_ns() + bound_ns;
    cluster
        .run_until_condition(deadline_ns, condition)
        .map(|found| found.is_some())
        .map_err(|violation| format!("monitor: {violation}"))
}

/// The target partition as the active controller committed it.
fn target_state(cluster: &ClusterSimulation) -> Option<broker::metadata::image::PartitionState> {
    let controller = cluster.active_controller()?;
    cluster
        .broker(controller)?
        .metadata()
        .partition(TOPIC, TARGET_PARTITION)
        .cloned()
}

fn target_leader(cluster: &ClusterSimulation) -> Option<u32> {
    target_state(cluster)?.leader
}

/// Broker `id`'s log end offset of the target partition (0 if it is down).
fn target_log_end_offset(cluster: &ClusterSimulation, id: u32) -> u64 {
    cluster
        .broker(id)
        .and_then(|node| {
            node.replicas()
                .find(|replica| replica.topic == TOPIC && replica.partition == TARGET_PARTITION)
                .map(|replica| replica.log.log_end_offset())
        })
        .unwrap_or(0)
}

/// The target partition's leader and its two followers, in an order the seed picks; `None`
/// unless all three are in the ISR.
fn target_roles(cluster: &ClusterSimulation, seed: u64) -> Option<(u32, u32, u32)> {
    let state = target_state(cluster)?;
    let leader = state.leader?;
    let followers: Vec<u32> = state
        .replicas
        .iter()
        .copied()
        .filter(|replica| *replica != leader)
        .collect();
    if state.isr.len() != 3 || followers.len() != 2 {
        return None;
    }
    let pick = (seed % 2) as usize;
    Some((leader, followers[pick], followers[1 - pick]))
}

fn cut_both_ways(cluster: &mut ClusterSimulation, left: u32, right: u32) {
    let simulation = cluster.simulation_mut();
    simulation.cut(sim::NodeId(left), sim::NodeId(right));
    simulation.cut(sim::NodeId(right), sim::NodeId(left));
}

fn repair_both_ways(cluster: &mut ClusterSimulation, left: u32, right: u32) {
    let simulation = cluster.simulation_mut();
    simulation.repair(sim::NodeId(left), sim::NodeId(right));
    simulation.repair(sim::NodeId(right), sim::NodeId(left));
}

/// Runs `schedule` on the six-broker cluster with `bugs`, then heals everything, lets it
/// converge and checks the logs and reads. Returns the first violation, if any.
fn scripted_violation(seed: u64, bugs: BugsConfig, schedule: Schedule) -> Option<String> {
    let mut cluster = cluster(
        six_broker_config(bugs),
        seed,
        clients(SCRIPTED_PARTITIONS, 2, 300, SCRIPTED_STOP_NS),
    );
    if let Err(violation) = schedule(&mut cluster, seed) {
        return Some(violation);
    }
    heal_converge_and_check(&mut cluster)
}

/// [`assert_caught_by_run`] over the scripted `schedule`.
fn assert_caught_by(name: &str, bugs: BugsConfig, schedule: Schedule, seeds: u64) -> u64 {
    assert_caught_by_run(name, bugs, seeds, |seed, bugs| {
        scripted_violation(seed, bugs, schedule)
    })
}

/// Back-to-back leaderships of one broker that a follower does not see in between. On the
/// target partition (leader L, followers F and G): cut L from G for a moment so that G lags
/// (the HW waits for G, F keeps up with L), then cut F off (from everyone with `isolate`, from
/// the controller voters only otherwise: a zombie) and crash L. G, the only live ISR member, is
/// elected; L restarts, truncates to G's log by epoch and replicates G's new records at the
/// offsets where F still holds its old tail. Then G crashes and L is elected again. F, healed,
/// learns of L's new epoch in one metadata batch: to it, L is the leader it followed before.
fn back_to_back_leaderships(
    cluster: &mut ClusterSimulation,
    seed: u64,
    isolate: bool,
) -> Result<(), String> {
    let lag_at_ns = 1_500 * MS + (seed % 20) * 23 * MS;
    advance(cluster, lag_at_ns)?;
    let Some((leader, follower, other)) = target_roles(cluster, seed) else {
        return Ok(());
    };
    cut_both_ways(cluster, leader, other);
    advance_by(cluster, 300 * MS)?;
    let cut_off_from: Vec<u32> = if isolate {
        (0..6).filter(|node| *node != follower).collect()
    } else {
        vec![0, 1, 2]
    };
    cluster.partition(&[vec![follower], cut_off_from]);
    cluster.crash(leader);
    repair_both_ways(cluster, leader, other);
    if !advance_until(cluster, 3_000 * MS, |cluster| {
        target_leader(cluster) == Some(other)
    })? {
        return Ok(());
    }
    cluster.restart(leader);
    let follower_end = target_log_end_offset(cluster, follower);
    if !advance_until(cluster, 5_000 * MS, |cluster| {
        let isr_whole = target_state(cluster).is_some_and(|state| state.isr.contains(&leader));
        let high_watermark = cluster
            .high_watermarks()
            .get(&format!("{TOPIC}/{TARGET_PARTITION}"))
            .copied()
            .unwrap_or(0);
        isr_whole && high_watermark > follower_end
    })? {
        return Ok(());
    }
    cluster.crash(other);
    if !advance_until(cluster, 3_000 * MS, |cluster| {
        target_leader(cluster) == Some(leader)
    })? {
        return Ok(());
    }
    cluster.restart(other);
    advance_by(cluster, 1_000 * MS)
}

fn back_to_back_leaderships_isolated(
    cluster: &mut ClusterSimulation,
    seed: u64,
) -> Result<(), String> {
    back_to_back_leaderships(cluster, seed, true)
}

fn back_to_back_leaderships_zombie(
    cluster: &mut ClusterSimulation,
    seed: u64,
) -> Result<(), String> {
    back_to_back_leaderships(cluster, seed, false)
}

#[test]
fn zoo_2_skip_truncation_when_leader_unchanged_is_caught_by_back_to_back_leaderships() {
    let bugs = BugsConfig {
        skip_truncation_when_leader_unchanged: true,
        ..BugsConfig::default()
    };
    assert_caught_by(
        "skip_truncation_when_leader_unchanged",
        bugs,
        back_to_back_leaderships_isolated,
        50,
    );
}

#[test]
fn zoo_3_ignore_stale_follower_epoch_is_caught_by_a_zombie_follower() {
    let bugs = BugsConfig {
        ignore_stale_follower_epoch: true,
        ..BugsConfig::default()
    };
    assert_caught_by(
        "ignore_stale_follower_epoch",
        bugs,
        back_to_back_leaderships_zombie,
        50,
    );
}

/// A lagging replica restarted, then its leader crashed. On the target partition (leader L,
/// followers B and G): crash B for 1.5 s (the ISR shrinks to L and G, writes go on), restart it
/// with its links to L cut, so that it registers but cannot fetch, wait 1.5 s, then crash L and
/// G together. Only a correct leader keeps B out of the ISR: B is then not electable and the
/// partition waits for L or G. Finally L and G restart.
fn lagging_replica_then_leader_crash(
    cluster: &mut ClusterSimulation,
    seed: u64,
) -> Result<(), String> {
    let crash_at_ns = 1_500 * MS + (seed % 20) * 23 * MS;
    advance(cluster, crash_at_ns)?;
    let Some((leader, lagging, other)) = target_roles(cluster, seed) else {
        return Ok(());
    };
    cluster.crash(lagging);
    advance_by(cluster, 1_500 * MS)?;
    cut_both_ways(cluster, leader, lagging);
    cluster.restart(lagging);
    advance_by(cluster, 1_500 * MS)?;
    cluster.crash(leader);
    cluster.crash(other);
    repair_both_ways(cluster, leader, lagging);
    advance_by(cluster, 2_000 * MS)?;
    cluster.restart(leader);
    cluster.restart(other);
    advance_by(cluster, 1_000 * MS)
}

#[test]
fn zoo_4b_readmit_stale_broker_is_caught_by_a_lagging_replica_then_a_leader_crash() {
    let bugs = BugsConfig {
        readmit_stale_broker: true,
        ..BugsConfig::default()
    };
    assert_caught_by(
        "readmit_stale_broker",
        bugs,
        lagging_replica_then_leader_crash,
        50,
    );
}
