//! Properties of the active controller's decisions, over random sequences of registrations,
//! fencings, ISR change requests and preferred-leader elections (with and without unclean
//! election): after every record the image keeps its invariants (leader in ISR, leader active,
//! ISR within replicas and never empty), each (partition, leader epoch) names one leader ever,
//! leader epochs never decrease, and a replayed ISR change request is refused. New leaders are
//! elected with a random rotation among the eligible ISR replicas (the perturbation
//! `leader-elected-at-random`): any choice must keep every property.

use std::collections::BTreeMap;

use broker::message::AlterPartitionRequest;
use broker::metadata::assignment::assign_replicas;
use broker::metadata::controller as decide;
use broker::metadata::image::MetadataImage;
use broker::metadata::record::{MetadataRecord, PartitionChange, TopicRecord};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const BROKERS: u32 = 5;
const PARTITIONS: u32 = 4;

#[derive(Clone, Debug)]
enum Operation {
    Register {
        broker: u32,
        incarnation: u64,
        rotation: usize,
    },
    Fence {
        broker: u32,
        rotation: usize,
    },
    AlterIsr {
        partition: u32,
        add: u32,
        remove: u32,
    },
    ElectPreferred {
        partition: u32,
    },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (0..BROKERS, 0..3u64, rotation()).prop_map(|(broker, incarnation, rotation)| {
            Operation::Register {
                broker,
                incarnation,
                rotation,
            }
        }),
        (0..BROKERS, rotation())
            .prop_map(|(broker, rotation)| Operation::Fence { broker, rotation }),
        (0..PARTITIONS, 0..BROKERS, 0..BROKERS).prop_map(|(partition, add, remove)| {
            Operation::AlterIsr {
                partition,
                add,
                remove,
            }
        }),
        (0..PARTITIONS).prop_map(|partition| Operation::ElectPreferred { partition }),
    ]
}

/// The election's choice among the eligible ISR replicas: the first (Kafka's) half the time.
fn rotation() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0), 0..BROKERS as usize]
}

/// Applies records and checks the cross-record properties as it goes.
struct Model {
    image: MetadataImage,
    unclean: bool,
    leader_by_epoch: BTreeMap<(u32, u64), Option<u32>>,
}

impl Model {
    fn new(unclean: bool) -> Model {
        let topic = TopicRecord {
            name: "t".to_owned(),
            min_insync_replicas: 2,
            replicas: assign_replicas(0, PARTITIONS, 3, BROKERS),
        };
        let mut model = Model {
            image: MetadataImage::default(),
            unclean,
            leader_by_epoch: BTreeMap::new(),
        };
        model.apply(MetadataRecord::Bootstrap {
            topics: vec![topic],
        });
        model
    }

    fn apply(&mut self, record: MetadataRecord) {
        let index = self.image.applied_index + 1;
        let before: Vec<u64> = self
            .image
            .partitions()
            .map(|(_, _, state)| state.leader_epoch)
            .collect();
        self.image.apply(index, &record);
        self.image.check_invariants();
        for (position, (_, partition, state)) in self.image.partitions().enumerate() {
            assert!(
                state.leader_epoch >= before.get(position).copied().unwrap_or(0),
                "leader epochs never decrease"
            );
            let named = *self
                .leader_by_epoch
                .entry((partition, state.leader_epoch))
                .or_insert(state.leader);
            assert_eq!(
                named, state.leader,
                "one leader per partition per leader epoch"
            );
        }
    }

    fn apply_changes(&mut self, changes: Vec<PartitionChange>) {
        for change in changes {
            self.apply(MetadataRecord::PartitionChange(change));
        }
    }

    fn elect_leaderless(&mut self, rotation: usize) {
        let changes = decide::elect_leaderless_partitions(&self.image, self.unclean, rotation);
        self.apply_changes(changes);
    }

    fn run(&mut self, operation: &Operation) {
        match *operation {
            Operation::Register {
                broker,
                incarnation,
                rotation,
            } => self.register(broker, incarnation, rotation),
            Operation::Fence { broker, rotation } => self.fence(broker, rotation),
            Operation::AlterIsr {
                partition,
                add,
                remove,
            } => self.alter_isr(partition, add, remove),
            Operation::ElectPreferred { partition } => {
                if let Ok(Some(change)) =
                    decide::elect_preferred_leader(&self.image, "t", partition)
                {
                    assert_eq!(
                        change.leader,
                        Some(self.image.partition("t", partition).unwrap().replicas[0])
                    );
                    self.apply(MetadataRecord::PartitionChange(change));
                }
            }
        }
    }

    fn register(&mut self, broker: u32, incarnation: u64, rotation: usize) {
        let current = self.image.brokers.get(&broker).cloned();
        if current.as_ref().is_some_and(|registration| {
            registration.incarnation == incarnation && !registration.fenced
        }) {
            return;
        }
        if current.is_some() {
            let changes = decide::move_broker_out(&self.image, broker, self.unclean, rotation);
            self.apply_changes(changes);
        }
        let broker_epoch = self.image.applied_index + 1;
        self.apply(MetadataRecord::RegisterBroker {
            broker,
            incarnation,
            broker_epoch,
        });
        self.elect_leaderless(rotation);
    }

    fn fence(&mut self, broker: u32, rotation: usize) {
        let Some(registration) = self.image.brokers.get(&broker).cloned() else {
            return;
        };
        if registration.fenced {
            return;
        }
        let changes = decide::move_broker_out(&self.image, broker, self.unclean, rotation);
        self.apply_changes(changes);
        self.apply(MetadataRecord::FenceBroker {
            broker,
            broker_epoch: registration.broker_epoch,
        });
        self.elect_leaderless(rotation);
    }

    fn alter_isr(&mut self, partition: u32, add: u32, remove: u32) {
        let state = self.image.partition("t", partition).unwrap().clone();
        let Some(leader) = state.leader else { return };
        let mut isr = state.isr.clone();
        if !isr.contains(&add) {
            isr.push(add);
        }
        if remove != leader {
            isr.retain(|member| *member != remove);
        }
        let request = AlterPartitionRequest {
            broker: leader,
            broker_epoch: self.image.brokers[&leader].broker_epoch,
            topic: "t".to_owned(),
            partition,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            isr,
        };
        if let Ok(Some(change)) = decide::alter_partition(&self.image, &request) {
            assert_eq!(
                (change.leader, change.leader_epoch),
                (state.leader, state.leader_epoch)
            );
            self.apply(MetadataRecord::PartitionChange(change));
            assert!(
                decide::alter_partition(&self.image, &request).is_err(),
                "a replayed request is refused"
            );
        }
    }
}

proptest! {
    // A fixed seed: the same cases on every run and machine, like everything else in Trial.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x0071_21a1),
        ..ProptestConfig::default()
    })]

    #[test]
    fn controller_decisions_keep_the_metadata_invariants(
        unclean in any::<bool>(),
        operations in proptest::collection::vec(operation(), 1..120),
    ) {
        let mut model = Model::new(unclean);
        for operation in &operations {
            model.run(operation);
        }
    }
}
