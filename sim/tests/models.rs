//! Each model of the simulator does what it claims, proven on the demo protocol with counts,
//! times and contents: links, partitions and holds; crashes and the disk; pauses; clocks; and
//! the network's loss, duplication and reordering ratios.

mod demo;

use demo::{DemoNode, MILLISECOND_NS, Role, SECOND_NS, Seen};
use sim::{Latency, NetworkConfig, NodeId, Ratio, Simulation, SimulationConfig};

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);

fn config(seed: u64) -> SimulationConfig {
    SimulationConfig {
        seed,
        check_invariants: true,
        ..SimulationConfig::default()
    }
}

fn observations(simulation: &mut Simulation<DemoNode>) -> Vec<(u64, NodeId, Seen)> {
    simulation.drain_observations()
}

fn pings_to(seen: &[(u64, NodeId, Seen)], to: NodeId, sender: NodeId) -> Vec<u64> {
    seen.iter()
        .filter_map(|(_, node, what)| match what {
            Seen::Ping { from, sequence } if *node == to && *from == sender => Some(*sequence),
            _ => None,
        })
        .collect()
}

fn echoes_to(seen: &[(u64, NodeId, Seen)], to: NodeId) -> usize {
    seen.iter()
        .filter(|(_, node, what)| *node == to && matches!(what, Seen::Echo { .. }))
        .count()
}

fn timer_times(seen: &[(u64, NodeId, Seen)], node: NodeId) -> Vec<u64> {
    seen.iter()
        .filter(|(_, at, what)| *at == node && matches!(what, Seen::Timer { .. }))
        .map(|(time_ns, _, _)| *time_ns)
        .collect()
}

#[test]
fn a_one_way_cut_blocks_exactly_one_direction() {
    let mut simulation = demo::full_mesh(config(1), 2, MILLISECOND_NS);
    simulation.cut(A, B);
    simulation.run_until(SECOND_NS);
    let seen = observations(&mut simulation);
    assert!(
        pings_to(&seen, B, A).is_empty(),
        "nothing crosses the cut direction"
    );
    assert_eq!(
        echoes_to(&seen, B),
        0,
        "echoes from A to B cross the cut too"
    );
    let pings_from_b = pings_to(&seen, A, B).len();
    assert!(
        (995..=1000).contains(&pings_from_b),
        "B to A stays up: {pings_from_b} pings"
    );
    assert_eq!(
        echoes_to(&seen, A),
        0,
        "A's pings never reached B, so B never echoed"
    );
    assert!(simulation.counters().messages_dropped_cut >= 2 * 995);
}

#[test]
fn a_partition_carries_nothing_until_healed() {
    let mut simulation = demo::full_mesh(config(2), 3, MILLISECOND_NS);
    simulation.partition(&[vec![A], vec![B, NodeId(2)]]);
    assert_eq!(simulation.network().cut_links(), 4);
    simulation.run_until(SECOND_NS);
    let seen = observations(&mut simulation);
    assert!(pings_to(&seen, A, B).is_empty() && pings_to(&seen, B, A).is_empty());
    assert!(pings_to(&seen, A, NodeId(2)).is_empty());
    assert!(
        pings_to(&seen, B, NodeId(2)).len() >= 995,
        "the majority side still talks"
    );
    simulation.heal();
    simulation.run_until(2 * SECOND_NS);
    let healed = observations(&mut simulation);
    assert!(
        pings_to(&healed, B, A).len() >= 995,
        "traffic resumes after heal"
    );
}

#[test]
fn a_held_link_delivers_everything_in_order_on_release() {
    let roles = vec![Role::pinging(vec![B], MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config(3), roles);
    simulation.hold(A, B);
    simulation.run_until(100 * MILLISECOND_NS);
    assert!(pings_to(&observations(&mut simulation), B, A).is_empty());
    simulation.release(A, B);
    simulation.run_until(110 * MILLISECOND_NS);
    let delivered = pings_to(&observations(&mut simulation), B, A);
    assert!(
        delivered.len() >= 100,
        "held pings and new ones arrive: {}",
        delivered.len()
    );
    assert!(
        delivered.windows(2).all(|pair| pair[0] < pair[1]),
        "in order: {delivered:?}"
    );
    assert_eq!(delivered[0], 0, "nothing held was lost");
}

/// B logs every ping and syncs every 10; a crash must keep exactly the synced prefix.
#[test]
fn a_crash_loses_exactly_the_unsynced_writes() {
    let mut total_lost = 0;
    for seed in 0..20 {
        let logger = Role {
            log_pings: true,
            sync_every: 10,
            ..Role::idle()
        };
        let roles = vec![Role::pinging(vec![B], MILLISECOND_NS), logger];
        let mut simulation = demo::simulation(config(seed), roles);
        simulation.run_until(200 * MILLISECOND_NS + seed * 137_000);
        let written = simulation.node(B).unwrap().log().to_vec();
        let seen = observations(&mut simulation);
        let synced_length = seen
            .iter()
            .filter_map(|(_, node, what)| match what {
                Seen::Synced {
                    log_length,
                    succeeded: true,
                } if *node == B => Some(*log_length),
                _ => None,
            })
            .max()
            .unwrap_or(0) as usize;
        assert!(simulation.crash(B));
        assert!(simulation.restart(B));
        simulation.run_until(simulation.now_ns() + 1);
        let recovered = observations(&mut simulation)
            .into_iter()
            .find_map(|(_, node, what)| match what {
                Seen::Started { recovered } if node == B => Some(recovered),
                _ => None,
            })
            .expect("B restarted");
        assert_eq!(
            recovered,
            written[..synced_length],
            "seed {seed}: the synced prefix survives"
        );
        let lost = (written.len() - synced_length) as u64;
        assert_eq!(simulation.counters().disk_writes_lost, lost, "seed {seed}");
        total_lost += lost;
    }
    assert!(
        total_lost >= 20,
        "most crashes caught writes pending: {total_lost} lost"
    );
}

#[test]
fn torn_crashes_keep_a_prefix_of_the_pending_writes() {
    let mut kept_beyond_sync = 0;
    for seed in 0..20 {
        let mut config = config(seed);
        config.disk.torn_writes_on_crash = true;
        let logger = Role {
            log_pings: true,
            sync_every: 50,
            ..Role::idle()
        };
        let roles = vec![Role::pinging(vec![B], MILLISECOND_NS), logger];
        let mut simulation = demo::simulation(config, roles);
        simulation.run_until(120 * MILLISECOND_NS);
        let written = simulation.node(B).unwrap().log().to_vec();
        let durable_before = simulation.durable_storage(B).entries.clone();
        simulation.crash(B);
        let survived = simulation.durable_storage(B).entries.clone();
        assert!(survived.len() >= durable_before.len() && survived.len() <= written.len());
        assert_eq!(
            survived,
            written[..survived.len()],
            "seed {seed}: a prefix, in order"
        );
        kept_beyond_sync += usize::from(survived.len() > durable_before.len());
    }
    assert!(kept_beyond_sync > 0, "some torn crash kept pending writes");
}

#[test]
fn disk_faults_reach_the_node_as_inputs() {
    let logger = Role {
        log_pings: true,
        sync_every: 1,
        ..Role::idle()
    };
    let roles = vec![Role::pinging(vec![B], MILLISECOND_NS), logger];
    let mut simulation = demo::simulation(config(4), roles);
    simulation.set_write_faults(B, true);
    simulation.run_until(50 * MILLISECOND_NS);
    simulation.set_write_faults(B, false);
    let seen = observations(&mut simulation);
    let failed_writes = seen
        .iter()
        .filter(|(_, _, what)| matches!(what, Seen::WriteFailed { .. }));
    assert!(failed_writes.count() >= 45);
    assert!(simulation.durable_storage(B).entries.is_empty());
    simulation.set_sync_faults(B, true);
    simulation.run_until(100 * MILLISECOND_NS);
    simulation.set_sync_faults(B, false);
    let seen = observations(&mut simulation);
    let failed_syncs = seen.iter().filter(|(_, _, what)| {
        matches!(
            what,
            Seen::Synced {
                succeeded: false,
                ..
            }
        )
    });
    assert!(failed_syncs.count() >= 45);
    assert!(
        simulation.durable_storage(B).entries.is_empty(),
        "failed syncs made nothing durable"
    );
    assert!(simulation.counters().disk_syncs_failed >= 45);
    simulation.run_until(150 * MILLISECOND_NS);
    assert!(
        simulation.durable_storage(B).entries.len() >= 45,
        "healthy syncs work again"
    );
}

#[test]
fn a_pause_delays_processing_and_timers() {
    let roles = vec![Role::pinging(vec![B], 10 * MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config(5), roles);
    simulation.run_until(100 * MILLISECOND_NS);
    simulation.pause(A);
    simulation.pause(B);
    simulation.run_until(300 * MILLISECOND_NS);
    let during = observations(&mut simulation);
    assert!(
        timer_times(&during, A)
            .iter()
            .all(|&time| time <= 100 * MILLISECOND_NS)
    );
    simulation.resume(A);
    simulation.resume(B);
    simulation.run_until(400 * MILLISECOND_NS);
    let after = observations(&mut simulation);
    let timers = timer_times(&after, A);
    assert_eq!(
        timers[0],
        300 * MILLISECOND_NS,
        "the overdue timer fires late, at resume"
    );
    assert_eq!(timers.len(), 11, "then every 10 ms again: {timers:?}");
    let first_ping_at_b = after
        .iter()
        .find(|(_, node, what)| *node == B && matches!(what, Seen::Ping { .. }));
    assert_eq!(
        first_ping_at_b.unwrap().0,
        300 * MILLISECOND_NS,
        "B's inbox waited for resume"
    );
}

/// A paused node's inbox is bounded, but only messages overflow it: a stopped process still
/// gets its timers and disk completions when it resumes (they are its own, and bounded).
#[test]
fn a_paused_node_drops_overflowing_messages_but_never_its_timers() {
    let roles = vec![
        Role::pinging(vec![B], 10 * MILLISECOND_NS),
        Role::pinging(vec![A], MILLISECOND_NS),
    ];
    let config = SimulationConfig {
        deferred_inputs_max: 3,
        ..config(7)
    };
    let mut simulation = demo::simulation(config, roles);
    simulation.run_until(100 * MILLISECOND_NS);
    simulation.pause(A);
    simulation.run_until(200 * MILLISECOND_NS);
    assert!(
        simulation.counters().messages_dropped_overflow > 0,
        "B's pings overflow A's inbox"
    );
    simulation.resume(A);
    observations(&mut simulation);
    simulation.run_until(300 * MILLISECOND_NS);
    let timers = timer_times(&observations(&mut simulation), A);
    assert_eq!(
        timers.len(),
        11,
        "the overdue timer fires at resume, then every 10 ms: {timers:?}"
    );
}

#[test]
fn clock_drift_and_jumps_move_timers() {
    let roles = vec![Role::pinging(vec![B], 10 * MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config(6), roles);
    simulation.set_clock_drift_ppm(A, 100_000);
    simulation.run_until(SECOND_NS);
    let fast = timer_times(&observations(&mut simulation), A);
    assert!(
        (109..=111).contains(&fast.len()),
        "a 10% fast clock fires 10% more: {}",
        fast.len()
    );
    assert_eq!(simulation.local_time_ns(A), 1_100_000_000);
    simulation.set_clock_drift_ppm(A, 0);
    simulation.jump_clock(A, 50 * SECOND_NS as i64);
    simulation.run_until(SECOND_NS + 1);
    let jumped = timer_times(&observations(&mut simulation), A);
    assert_eq!(
        jumped,
        vec![SECOND_NS],
        "a forward jump makes the pending timer due at once"
    );
    simulation.jump_clock(A, -(5 * SECOND_NS as i64));
    simulation.run_until(3 * SECOND_NS);
    let after_back_jump = timer_times(&observations(&mut simulation), A);
    assert!(
        after_back_jump.is_empty(),
        "a backward jump delays the timer: {after_back_jump:?}"
    );
    simulation.run_until(SECOND_NS + 5 * SECOND_NS + 20 * MILLISECOND_NS);
    assert!(!timer_times(&observations(&mut simulation), A).is_empty());
}

#[test]
fn initial_clock_skew_is_drawn_from_the_seed_within_bounds() {
    let mut config = config(7);
    config.clock.offset_max_ns = SECOND_NS;
    config.clock.drift_max_ppm = 1_000;
    let simulation = demo::full_mesh(config, 5, MILLISECOND_NS);
    let readings: Vec<u64> = simulation
        .node_ids()
        .map(|node| simulation.local_time_ns(node))
        .collect();
    assert!(readings.iter().all(|&reading| reading <= SECOND_NS));
    assert!(
        readings.windows(2).any(|pair| pair[0] != pair[1]),
        "skews differ: {readings:?}"
    );
}

/// 100,000 pings from A to B under each ratio, with tolerances of a few standard deviations.
fn pings_under(network: NetworkConfig) -> (Vec<u64>, Simulation<DemoNode>) {
    let config = SimulationConfig {
        network,
        ..config(8)
    };
    let roles = vec![Role::pinging(vec![B], 100_000), Role::idle()];
    let mut simulation = demo::simulation(config, roles);
    simulation.run_until(10 * SECOND_NS);
    let received = pings_to(&observations(&mut simulation), B, A);
    (received, simulation)
}

#[test]
fn loss_happens_at_the_configured_ratio() {
    let network = NetworkConfig {
        loss: Ratio::new(1, 10),
        ..NetworkConfig::default()
    };
    let (received, simulation) = pings_under(network);
    let sent = 100_000;
    let lost = sent - received.len();
    assert!((9_400..=10_600).contains(&lost), "lost {lost} of {sent}");
    assert!(simulation.counters().messages_dropped_lost >= lost as u64);
}

#[test]
fn duplication_happens_at_the_configured_ratio() {
    let network = NetworkConfig {
        duplication: Ratio::new(1, 20),
        ..NetworkConfig::default()
    };
    let (received, _) = pings_under(network);
    let mut sorted = received.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert!(
        sorted.len() >= 99_990,
        "nothing lost but the last few in flight: {}",
        sorted.len()
    );
    let duplicates = received.len() - sorted.len();
    assert!(
        (4_600..=5_400).contains(&duplicates),
        "duplicates {duplicates}"
    );
}

#[test]
fn reordering_happens_at_the_configured_ratio_and_fifo_otherwise() {
    let (in_order, _) = pings_under(NetworkConfig::default());
    assert!(
        in_order.windows(2).all(|pair| pair[0] < pair[1]),
        "links are FIFO by default"
    );
    let network = NetworkConfig {
        reordering: Ratio::new(1, 50),
        ..NetworkConfig::default()
    };
    let (received, _) = pings_under(network);
    let mut highest = 0;
    let mut overtaken = 0;
    for &sequence in &received {
        overtaken += usize::from(sequence < highest);
        highest = highest.max(sequence);
    }
    assert!(
        (1_800..=2_200).contains(&overtaken),
        "overtaken {overtaken}"
    );
}

#[test]
fn latency_follows_the_configured_distribution() {
    let latency = Latency::Constant {
        ns: 3 * MILLISECOND_NS,
    };
    let config = SimulationConfig {
        network: NetworkConfig {
            latency,
            ..NetworkConfig::default()
        },
        ..config(9)
    };
    let roles = vec![Role::pinging(vec![B], 10 * MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config, roles);
    simulation.run_until(100 * MILLISECOND_NS);
    let arrivals: Vec<u64> = observations(&mut simulation)
        .into_iter()
        .filter(|(_, node, what)| *node == B && matches!(what, Seen::Ping { .. }))
        .map(|(time_ns, _, _)| time_ns)
        .collect();
    let expected: Vec<u64> = (1..=9)
        .map(|tick| tick * 10 * MILLISECOND_NS + 3 * MILLISECOND_NS)
        .collect();
    assert_eq!(arrivals, expected);
}

#[test]
fn messages_in_flight_to_a_crashed_node_are_dropped() {
    let latency = Latency::Constant {
        ns: 5 * MILLISECOND_NS,
    };
    let config = SimulationConfig {
        network: NetworkConfig {
            latency,
            ..NetworkConfig::default()
        },
        ..config(10)
    };
    let roles = vec![Role::pinging(vec![B], MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config, roles);
    simulation.run_until(20 * MILLISECOND_NS);
    simulation.crash(B);
    simulation.restart(B);
    simulation.run_until(24 * MILLISECOND_NS);
    let seen = observations(&mut simulation);
    let after_restart: Vec<u64> = seen
        .iter()
        .filter(|(time_ns, node, what)| {
            *node == B && *time_ns > 20 * MILLISECOND_NS && matches!(what, Seen::Ping { .. })
        })
        .map(|(time_ns, _, _)| *time_ns)
        .collect();
    assert!(
        after_restart.is_empty(),
        "pings sent to the old incarnation vanish: {after_restart:?}"
    );
    assert!(simulation.counters().messages_dropped_crashed >= 4);
}

#[test]
fn invalid_configurations_are_rejected_with_the_field_named() {
    let mut config = config(11);
    config.network.loss = Ratio::new(2, 1);
    let error = Simulation::new(config, demo::names(2), |_, storage| {
        DemoNode::new(Role::idle(), storage)
    })
    .unwrap_err();
    assert!(error.to_string().contains("network.loss"), "{error}");
    let duplicate_names = vec!["x".to_string(), "x".to_string()];
    let error = Simulation::new(
        SimulationConfig::default(),
        duplicate_names,
        |_, storage| DemoNode::new(Role::idle(), storage),
    )
    .unwrap_err();
    assert!(error.to_string().contains("duplicate name"), "{error}");
    let mut config = SimulationConfig::default();
    config.disk.sync_latency = Latency::Uniform {
        min_ns: 10,
        max_ns: 1,
    };
    let error = Simulation::new(config, demo::names(1), |_, storage| {
        DemoNode::new(Role::idle(), storage)
    })
    .unwrap_err();
    assert!(error.to_string().contains("disk.sync_latency"), "{error}");
}

#[test]
fn drivers_see_the_next_event_time_and_the_node_last_stepped() {
    let roles = vec![Role::pinging(vec![B], 10 * MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config(12), roles);
    assert_eq!(
        simulation.next_event_ns(),
        Some(0),
        "boot inputs are due at once"
    );
    while simulation.step() && simulation.now_ns() < 20 * MILLISECOND_NS {
        let stepped = simulation.last_stepped_node();
        assert!(stepped == Some(A) || stepped == Some(B), "{stepped:?}");
    }
    let next = simulation.next_event_ns().unwrap();
    assert!(next >= simulation.now_ns());
}

#[test]
fn drivers_are_told_what_the_next_event_is_and_for_whom() {
    let roles = vec![Role::pinging(vec![B], 10 * MILLISECOND_NS), Role::idle()];
    let mut simulation = demo::simulation(config(13), roles);
    assert_eq!(
        simulation.next_event_summary(),
        Some((A, "Start".to_owned())),
        "the boot inputs come first"
    );
    let mut seen = std::collections::BTreeSet::new();
    while simulation.now_ns() < 50 * MILLISECOND_NS {
        let Some((node, summary)) = simulation.next_event_summary() else {
            break;
        };
        if summary == "Ping" {
            assert_eq!(node, B, "pings go to B");
        }
        seen.insert(summary);
        assert!(simulation.step());
    }
    for expected in ["Start", "Ping", "Echo", "timer"] {
        assert!(seen.contains(expected), "{expected} not seen in {seen:?}");
    }
}
