//! Scripted faults fire at a live broker cluster with their targets resolved when they fire, and
//! the heal phase clears every fault still in force.

use broker::ClusterConfig;
use sim::cluster::ClusterSimulation;
use sim::runner::FaultExecutor;
use sim::scenario::{Duration, Fault, SignedDuration, Target};
use sim::seed::{Stream, stream};
use sim::{NetworkConfig, NodeId, SimulationConfig};

const SECOND_NS: u64 = 1_000_000_000;

fn settled_cluster(seed: u64) -> (ClusterSimulation, FaultExecutor) {
    let simulation = SimulationConfig {
        seed,
        ..SimulationConfig::default()
    };
    let mut cluster =
        ClusterSimulation::new(ClusterConfig::default(), simulation, Vec::new()).unwrap();
    cluster.run_until(3 * SECOND_NS).unwrap();
    let mut executor = FaultExecutor::new(stream(seed, Stream::Nemesis), NetworkConfig::default());
    assert!(
        every_partition_led(&cluster, &mut executor),
        "seed {seed}: settled in 3 s"
    );
    (cluster, executor)
}

fn every_partition_led(cluster: &ClusterSimulation, executor: &mut FaultExecutor) -> bool {
    (0..3).all(|partition| {
        executor
            .resolve(cluster, &leader("orders", partition))
            .is_ok()
    })
}

fn at() -> Duration {
    Duration::ZERO
}

fn leader(topic: &str, partition: u32) -> Target {
    Target::Leader {
        topic: topic.to_string(),
        partition,
    }
}

#[test]
fn a_leader_target_resolves_to_the_current_leader_when_it_fires() {
    for seed in 0..10 {
        let (mut cluster, mut executor) = settled_cluster(seed);
        let before = executor.resolve(&cluster, &leader("orders", 0)).unwrap();
        executor.fire(
            &mut cluster,
            &Fault::Crash {
                at: at(),
                target: leader("orders", 0),
            },
        );
        assert!(
            !cluster.simulation().is_up(NodeId(before)),
            "seed {seed}: the leader crashed"
        );
        cluster.run_until(cluster.now_ns() + 3 * SECOND_NS).unwrap();
        let after = executor.resolve(&cluster, &leader("orders", 0)).unwrap();
        assert_ne!(
            after, before,
            "seed {seed}: leadership moved off the crashed broker"
        );
        executor.fire(
            &mut cluster,
            &Fault::Restart {
                at: at(),
                target: Target::Broker(before),
            },
        );
        assert!(cluster.simulation().is_up(NodeId(before)));
        assert!(
            executor.fired()[0]
                .description
                .starts_with(&format!("crash b{}", before + 1))
        );
    }
}

#[test]
fn partitions_of_every_shape_cut_the_right_links() {
    let (mut cluster, mut executor) = settled_cluster(1);
    let [b1, b2, b3] = [Target::Broker(0), Target::Broker(1), Target::Broker(2)];
    executor.fire(
        &mut cluster,
        &Fault::OneWay {
            at: at(),
            from: vec![b1.clone()],
            to: vec![b2.clone()],
        },
    );
    let network = cluster.simulation().network();
    assert!(network.is_cut(NodeId(0), NodeId(1)) && !network.is_cut(NodeId(1), NodeId(0)));
    executor.fire(&mut cluster, &Fault::Heal { at: at() });
    let bridge = Fault::Bridge {
        at: at(),
        left: vec![b1.clone()],
        bridge: b2.clone(),
        right: vec![b3.clone()],
    };
    executor.fire(&mut cluster, &bridge);
    let network = cluster.simulation().network();
    assert!(network.is_cut(NodeId(0), NodeId(2)) && network.is_cut(NodeId(2), NodeId(0)));
    assert!(!network.is_cut(NodeId(0), NodeId(1)) && !network.is_cut(NodeId(1), NodeId(2)));
    executor.fire(&mut cluster, &Fault::Heal { at: at() });
    executor.fire(
        &mut cluster,
        &Fault::Isolate {
            at: at(),
            target: Target::Controller,
        },
    );
    assert_eq!(cluster.simulation().network().cut_links(), 4);
    executor.fire(&mut cluster, &Fault::Heal { at: at() });
    executor.fire(&mut cluster, &Fault::RandomSplit { at: at() });
    assert_eq!(
        cluster.simulation().network().cut_links(),
        4,
        "1 of 3 split from the other 2"
    );
}

#[test]
fn disk_faults_end_after_their_duration_and_heal_clears_everything() {
    let (mut cluster, mut executor) = settled_cluster(2);
    let b1 = Target::Broker(0);
    executor.fire(
        &mut cluster,
        &Fault::DiskFailSyncs {
            at: at(),
            target: b1.clone(),
            duration: Duration::from_ms(500),
        },
    );
    assert_eq!(
        executor.next_expiry_ns(),
        Some(cluster.now_ns() + 500_000_000)
    );
    cluster.run_until(cluster.now_ns() + SECOND_NS).unwrap();
    executor.expire(&mut cluster);
    assert_eq!(executor.next_expiry_ns(), None);
    executor.fire(
        &mut cluster,
        &Fault::Crash {
            at: at(),
            target: Target::Broker(1),
        },
    );
    executor.fire(
        &mut cluster,
        &Fault::Pause {
            at: at(),
            target: Target::Broker(2),
        },
    );
    executor.fire(
        &mut cluster,
        &Fault::Hold {
            at: at(),
            from: b1.clone(),
            to: Target::Broker(2),
        },
    );
    executor.fire(
        &mut cluster,
        &Fault::ClockDrift {
            at: at(),
            target: b1.clone(),
            ppm: 5_000,
        },
    );
    executor.fire(
        &mut cluster,
        &Fault::ClockJump {
            at: at(),
            target: b1,
            delta: SignedDuration {
                ns: -(SECOND_NS as i64),
            },
        },
    );
    executor.fire(
        &mut cluster,
        &Fault::Partition {
            at: at(),
            groups: vec![
                vec![Target::Broker(0)],
                vec![Target::Broker(1), Target::Broker(2)],
            ],
        },
    );
    executor.heal_everything(&mut cluster);
    let simulation = cluster.simulation();
    assert!(
        simulation
            .node_ids()
            .all(|node| simulation.is_up(node) && !simulation.is_paused(node))
    );
    assert_eq!(simulation.network().cut_links(), 0);
    assert!(!simulation.network().is_held(NodeId(0), NodeId(2)));
    cluster.run_until(cluster.now_ns() + 5 * SECOND_NS).unwrap();
    assert!(
        every_partition_led(&cluster, &mut executor),
        "the cluster converges after heal"
    );
}

#[test]
fn unresolvable_targets_skip_the_fault_and_say_why() {
    let simulation = SimulationConfig {
        seed: 3,
        ..SimulationConfig::default()
    };
    let mut cluster =
        ClusterSimulation::new(ClusterConfig::default(), simulation, Vec::new()).unwrap();
    let mut executor = FaultExecutor::new(stream(3, Stream::Nemesis), NetworkConfig::default());
    executor.fire(
        &mut cluster,
        &Fault::Crash {
            at: at(),
            target: Target::Controller,
        },
    );
    assert_eq!(
        executor.fired()[0].description,
        "skipped crash: no active controller"
    );
    let simulation = cluster.simulation();
    assert!(simulation.node_ids().all(|node| simulation.is_up(node)));
}
