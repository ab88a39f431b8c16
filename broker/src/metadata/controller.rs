//! The active controller's decisions, as pure functions of the metadata image.
//!
//! - Partition leaders come from the ISR, in replica order (the preferred replica first), among
//!   registered, unfenced brokers. Only with `unclean_leader_election` may a leader come from
//!   outside the ISR, and then the ISR becomes just that leader.
//! - A broker leaving (fenced, or re-registering with a new incarnation) loses its leaderships and
//!   its ISR memberships; the ISR never becomes empty: the last member stays (leaderless) so that
//!   it can lead again when it returns, as in Kafka.
//! - An ISR change from a partition leader applies only to the exact leader epoch and partition
//!   epoch it names, from a broker with its current broker epoch, and may add only active brokers.

use crate::config::{ClusterConfig, TopicConfig};
use crate::message::{AlterPartitionRequest, ControllerError};
use crate::metadata::assignment::assign_replicas;
use crate::metadata::image::{MetadataImage, PartitionState, has_duplicates};
use crate::metadata::record::{PartitionChange, TopicRecord};

/// The change (if any) that gives `topic/partition` a valid leader, after removing `removed`
/// (a broker being fenced or re-registered) from its leadership and ISR. A new leader is the
/// `rotation % n`-th of the `n` eligible ISR replicas in replica order: with 0 the first, as
/// Kafka's controller elects; any other is as safe (the perturbation
/// [`crate::perturb::Site::LeaderElectedAtRandom`]).
pub fn elect_partition_leader(
    image: &MetadataImage,
    topic: &str,
    partition: u32,
    removed: Option<u32>,
    unclean_leader_election: bool,
    rotation: usize,
) -> Option<PartitionChange> {
    let state = image
        .partition(topic, partition)
        .expect("existing partition");
    let eligible = |broker: u32| Some(broker) != removed && image.is_active(broker);
    let mut isr = state.isr.clone();
    if let Some(removed) = removed
        && isr.len() > 1
    {
        isr.retain(|member| *member != removed);
    }
    let mut leader = state
        .leader
        .filter(|leader| eligible(*leader) && isr.contains(leader));
    if leader.is_none() {
        let in_sync = |replica: &u32| isr.contains(replica) && eligible(*replica);
        let count = state
            .replicas
            .iter()
            .filter(|replica| in_sync(replica))
            .count();
        leader = state
            .replicas
            .iter()
            .copied()
            .filter(in_sync)
            .nth(rotation % count.max(1));
    }
    if leader.is_none() && unclean_leader_election {
        leader = state
            .replicas
            .iter()
            .copied()
            .find(|replica| eligible(*replica));
        if let Some(unclean) = leader {
            isr = vec![unclean];
        }
    }
    change_to(topic, partition, state, leader, isr)
}

/// Zoo 4a (`bugs.elect_outside_isr`): like [`elect_partition_leader`], but a new leader is the
/// first active replica in replica order, in the ISR or not (it is then added to the ISR). A
/// replica outside the ISR may lack acknowledged records, which are then lost.
pub fn elect_partition_leader_ignoring_isr(
    image: &MetadataImage,
    topic: &str,
    partition: u32,
    removed: Option<u32>,
) -> Option<PartitionChange> {
    let state = image
        .partition(topic, partition)
        .expect("existing partition");
    let eligible = |broker: u32| Some(broker) != removed && image.is_active(broker);
    let mut isr = state.isr.clone();
    if let Some(removed) = removed
        && isr.len() > 1
    {
        isr.retain(|member| *member != removed);
    }
    let leader = state
        .leader
        .filter(|leader| eligible(*leader) && isr.contains(leader))
        .or_else(|| {
            state
                .replicas
                .iter()
                .copied()
                .find(|replica| eligible(*replica))
        });
    if let Some(leader) = leader
        && !isr.contains(&leader)
    {
        // The removed broker stayed only as the last member; the new leader takes its place.
        isr.retain(|member| Some(*member) != removed);
        isr.push(leader);
    }
    change_to(topic, partition, state, leader, isr)
}

/// The changes that take `broker` out of every leadership and ISR (before it is fenced or
/// re-registered). They touch distinct partitions, so they apply in any order.
pub fn move_broker_out(
    image: &MetadataImage,
    broker: u32,
    unclean_leader_election: bool,
    rotation: usize,
) -> Vec<PartitionChange> {
    let changes: Vec<PartitionChange> = image
        .partitions()
        .filter_map(|(topic, partition, _)| {
            elect_partition_leader(
                image,
                topic,
                partition,
                Some(broker),
                unclean_leader_election,
                rotation,
            )
        })
        .collect();
    debug_assert!(changes.iter().all(|change| change.leader != Some(broker)));
    changes
}

/// The changes that give every leaderless partition a leader, where one is eligible.
pub fn elect_leaderless_partitions(
    image: &MetadataImage,
    unclean_leader_election: bool,
    rotation: usize,
) -> Vec<PartitionChange> {
    image
        .partitions()
        .filter(|(_, _, state)| state.leader.is_none())
        .filter_map(|(topic, partition, _)| {
            elect_partition_leader(
                image,
                topic,
                partition,
                None,
                unclean_leader_election,
                rotation,
            )
        })
        .collect()
}

/// The change that moves `topic/partition`'s leadership to its preferred replica, `None` if it
/// already leads.
pub fn elect_preferred_leader(
    image: &MetadataImage,
    topic: &str,
    partition: u32,
) -> Result<Option<PartitionChange>, ControllerError> {
    let state = image
        .partition(topic, partition)
        .ok_or_else(|| unknown(topic, partition))?;
    let preferred = state.replicas[0];
    if state.leader == Some(preferred) {
        return Ok(None);
    }
    if !state.isr.contains(&preferred) || !image.is_active(preferred) {
        return Err(ControllerError::PreferredLeaderNotAvailable);
    }
    Ok(change_to(
        topic,
        partition,
        state,
        Some(preferred),
        state.isr.clone(),
    ))
}

/// Validates an ISR change request against the image (see module docs).
pub fn alter_partition(
    image: &MetadataImage,
    request: &AlterPartitionRequest,
) -> Result<Option<PartitionChange>, ControllerError> {
    let registration = image.brokers.get(&request.broker);
    if registration.is_none_or(|registration| {
        registration.fenced || registration.broker_epoch != request.broker_epoch
    }) {
        return Err(ControllerError::StaleBrokerEpoch {
            broker: request.broker,
            broker_epoch: request.broker_epoch,
        });
    }
    let state = image
        .partition(&request.topic, request.partition)
        .ok_or_else(|| unknown(&request.topic, request.partition))?;
    if state.leader != Some(request.broker) {
        return Err(ControllerError::NotLeader);
    }
    if request.leader_epoch != state.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch {
            requested: request.leader_epoch,
            current: state.leader_epoch,
        });
    }
    if request.partition_epoch != state.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion {
            requested: request.partition_epoch,
            current: state.partition_epoch,
        });
    }
    let isr_valid = request.isr.contains(&request.broker)
        && !has_duplicates(&request.isr)
        && request
            .isr
            .iter()
            .all(|member| state.replicas.contains(member));
    if !isr_valid {
        return Err(ControllerError::InvalidIsr);
    }
    if let Some(ineligible) = request
        .isr
        .iter()
        .find(|member| !state.isr.contains(member) && !image.is_active(**member))
    {
        return Err(ControllerError::IneligibleReplica(*ineligible));
    }
    Ok(change_to(
        &request.topic,
        request.partition,
        state,
        state.leader,
        request.isr.clone(),
    ))
}

/// Validates a new topic and assigns its replicas.
pub fn create_topic(
    config: &ClusterConfig,
    image: &MetadataImage,
    topic: &TopicConfig,
) -> Result<TopicRecord, ControllerError> {
    topic
        .validate(config.brokers)
        .map_err(ControllerError::InvalidTopic)?;
    if image.topics.contains_key(&topic.name) {
        return Err(ControllerError::TopicExists);
    }
    if image.topics.len() >= config.limits.topics_max as usize {
        return Err(ControllerError::TopicLimitReached);
    }
    let ordinal = image.topics.len() as u32;
    Ok(topic_record(config, ordinal, topic))
}

/// Whether the bootstrap topics may be created: as many brokers are active (registered and
/// unfenced) as the largest replication factor among them. Kafka refuses to create a topic with
/// fewer live brokers than its replication factor; creating them with every replica alive lets
/// each partition start on its preferred replica, so that the leaders spread over the brokers
/// instead of all landing on the first broker to register.
pub fn bootstrap_ready(config: &ClusterConfig, image: &MetadataImage) -> bool {
    let needed = config
        .topics
        .iter()
        .map(|topic| topic.replication_factor)
        .max()
        .unwrap_or(0);
    let active = image
        .brokers
        .keys()
        .filter(|broker| image.is_active(**broker))
        .count();
    active >= needed as usize
}

/// The bootstrap topics of the cluster configuration.
pub fn bootstrap_topics(config: &ClusterConfig) -> Vec<TopicRecord> {
    config
        .topics
        .iter()
        .enumerate()
        .map(|(ordinal, topic)| topic_record(config, ordinal as u32, topic))
        .collect()
}

fn topic_record(config: &ClusterConfig, ordinal: u32, topic: &TopicConfig) -> TopicRecord {
    TopicRecord {
        name: topic.name.clone(),
        min_insync_replicas: topic.min_insync_replicas,
        replicas: assign_replicas(
            ordinal,
            topic.partitions,
            topic.replication_factor,
            config.brokers,
        ),
    }
}

/// The change to `leader` and `isr`, bumping the epochs; `None` if nothing changes.
fn change_to(
    topic: &str,
    partition: u32,
    state: &PartitionState,
    leader: Option<u32>,
    isr: Vec<u32>,
) -> Option<PartitionChange> {
    if leader == state.leader && isr == state.isr {
        return None;
    }
    let leader_epoch = if leader == state.leader {
        state.leader_epoch
    } else {
        state.leader_epoch + 1
    };
    assert!(
        leader.is_none_or(|leader| isr.contains(&leader)),
        "a partition leader is in its ISR"
    );
    Some(PartitionChange {
        topic: topic.to_owned(),
        partition,
        leader,
        leader_epoch,
        isr,
        partition_epoch: state.partition_epoch + 1,
    })
}

fn unknown(topic: &str, partition: u32) -> ControllerError {
    ControllerError::UnknownTopicOrPartition {
        topic: topic.to_owned(),
        partition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::record::MetadataRecord;

    /// An image with topic `t` (one partition, replicas 0, 1, 2) and brokers 0..3 registered.
    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        let topic = TopicRecord {
            name: "t".to_owned(),
            min_insync_replicas: 2,
            replicas: vec![vec![0, 1, 2]],
        };
        image.apply(
            1,
            &MetadataRecord::Bootstrap {
                topics: vec![topic],
            },
        );
        for broker in 0..3 {
            register(&mut image, broker);
        }
        image
    }

    /// Registers `broker`, with the next index as its broker epoch.
    fn register(image: &mut MetadataImage, broker: u32) {
        let index = image.applied_index + 1;
        let record = MetadataRecord::RegisterBroker {
            broker,
            incarnation: 7,
            broker_epoch: index,
        };
        image.apply(index, &record);
    }

    /// Fences `broker` at its current broker epoch.
    fn fence(image: &mut MetadataImage, broker: u32) {
        let index = image.applied_index + 1;
        let broker_epoch = image.brokers[&broker].broker_epoch;
        let record = MetadataRecord::FenceBroker {
            broker,
            broker_epoch,
        };
        image.apply(index, &record);
    }

    fn apply(image: &mut MetadataImage, change: PartitionChange) {
        let index = image.applied_index + 1;
        image.apply(index, &MetadataRecord::PartitionChange(change));
    }

    #[test]
    fn bootstrap_waits_for_as_many_active_brokers_as_the_largest_replication_factor() {
        let topic = |name: &str, replication_factor| TopicConfig {
            name: name.to_owned(),
            partitions: 2,
            replication_factor,
            min_insync_replicas: 1,
        };
        let config = ClusterConfig {
            brokers: 4,
            topics: vec![topic("small", 1), topic("large", 3)],
            ..ClusterConfig::default()
        };
        let mut image = MetadataImage::default();
        let mut ready = Vec::new();
        for broker in 0..3 {
            ready.push(bootstrap_ready(&config, &image));
            register(&mut image, broker);
        }
        ready.push(bootstrap_ready(&config, &image));
        assert_eq!(ready, [false, false, false, true]);
        fence(&mut image, 1);
        assert!(
            !bootstrap_ready(&config, &image),
            "a fenced broker does not count"
        );
        let no_topics = ClusterConfig {
            topics: Vec::new(),
            ..config
        };
        assert!(bootstrap_ready(&no_topics, &MetadataImage::default()));
    }

    #[test]
    fn elects_the_first_active_isr_replica_and_bumps_the_epoch() {
        let mut image = image();
        let change =
            elect_partition_leader(&image, "t", 0, None, false, 0).expect("a leader is elected");
        assert_eq!(
            (change.leader, change.leader_epoch, change.partition_epoch),
            (Some(0), 1, 1)
        );
        apply(&mut image, change);
        assert_eq!(
            elect_partition_leader(&image, "t", 0, None, false, 0),
            None,
            "nothing to change"
        );
        let change =
            elect_partition_leader(&image, "t", 0, Some(0), false, 0).expect("moves off broker 0");
        assert_eq!(
            (change.leader, change.leader_epoch, change.isr.clone()),
            (Some(1), 2, vec![1, 2])
        );
    }

    #[test]
    fn a_rotation_elects_another_eligible_isr_replica_and_keeps_a_live_leader() {
        let image = image();
        let leaders: Vec<Option<u32>> = (0..4)
            .map(|rotation| {
                elect_partition_leader(&image, "t", 0, None, false, rotation)
                    .expect("a leader is elected")
                    .leader
            })
            .collect();
        assert_eq!(leaders, [Some(0), Some(1), Some(2), Some(0)]);
        let mut image = image;
        let change = elect_partition_leader(&image, "t", 0, None, false, 1).unwrap();
        apply(&mut image, change);
        assert_eq!(
            elect_partition_leader(&image, "t", 0, None, false, 2),
            None,
            "a live in-sync leader is kept whatever the rotation"
        );
        let change = elect_partition_leader(&image, "t", 0, Some(1), false, 1).unwrap();
        assert_eq!(change.leader, Some(2), "the second of the remaining [0, 2]");
    }

    #[test]
    fn the_last_isr_member_stays_and_unclean_election_is_off_by_default() {
        let mut image = image();
        let change = elect_partition_leader(&image, "t", 0, None, false, 0).unwrap();
        apply(&mut image, change);
        let change = elect_partition_leader(&image, "t", 0, Some(0), false, 0).unwrap();
        apply(&mut image, change);
        let change = elect_partition_leader(&image, "t", 0, Some(1), false, 0).unwrap();
        apply(&mut image, change);
        let change =
            elect_partition_leader(&image, "t", 0, Some(2), false, 0).expect("leader 2 removed");
        assert_eq!((change.leader, change.isr.clone()), (None, vec![2]));
        apply(&mut image, change);
        fence(&mut image, 2);
        assert_eq!(
            elect_partition_leader(&image, "t", 0, None, false, 0),
            None,
            "0 and 1 are outside the ISR"
        );
        let unclean =
            elect_partition_leader(&image, "t", 0, None, true, 0).expect("unclean election");
        assert_eq!((unclean.leader, unclean.isr), (Some(0), vec![0]));
    }

    #[test]
    fn the_planted_election_outside_the_isr_replaces_a_departing_last_member() {
        let mut image = image();
        for removed in [None, Some(0), Some(1), Some(2)] {
            let change = elect_partition_leader(&image, "t", 0, removed, false, 0).unwrap();
            apply(&mut image, change);
        }
        // Leaderless, ISR [2]. Broker 2 is being fenced: zoo 4a elects 0 from outside the ISR,
        // and 2 must leave the ISR it no longer is the last member of (else fencing it breaks
        // the image's invariant instead of losing records, as the bug does in Kafka).
        let change = elect_partition_leader_ignoring_isr(&image, "t", 0, Some(2)).unwrap();
        assert_eq!((change.leader, change.isr.clone()), (Some(0), vec![0]));
        apply(&mut image, change);
        fence(&mut image, 2);
    }

    #[test]
    fn alter_partition_is_validated_by_epochs() {
        let mut image = image();
        let change = elect_partition_leader(&image, "t", 0, None, false, 0).unwrap();
        apply(&mut image, change);
        let epoch = image.brokers[&0].broker_epoch;
        let request = AlterPartitionRequest {
            broker: 0,
            broker_epoch: epoch,
            topic: "t".to_owned(),
            partition: 0,
            leader_epoch: 1,
            partition_epoch: 1,
            isr: vec![0, 1],
        };
        assert!(matches!(alter_partition(&image, &request), Ok(Some(_))));
        let stale_leader = AlterPartitionRequest {
            leader_epoch: 0,
            ..request.clone()
        };
        assert!(matches!(
            alter_partition(&image, &stale_leader),
            Err(ControllerError::FencedLeaderEpoch { .. })
        ));
        let stale_version = AlterPartitionRequest {
            partition_epoch: 0,
            ..request.clone()
        };
        assert!(matches!(
            alter_partition(&image, &stale_version),
            Err(ControllerError::InvalidUpdateVersion { .. })
        ));
        let stale_broker = AlterPartitionRequest {
            broker_epoch: epoch - 1,
            ..request.clone()
        };
        assert!(matches!(
            alter_partition(&image, &stale_broker),
            Err(ControllerError::StaleBrokerEpoch { .. })
        ));
        let not_leader = AlterPartitionRequest {
            broker: 1,
            broker_epoch: image.brokers[&1].broker_epoch,
            ..request.clone()
        };
        assert_eq!(
            alter_partition(&image, &not_leader),
            Err(ControllerError::NotLeader)
        );
        let without_leader = AlterPartitionRequest {
            isr: vec![1, 2],
            ..request
        };
        assert_eq!(
            alter_partition(&image, &without_leader),
            Err(ControllerError::InvalidIsr)
        );
    }

    #[test]
    fn preferred_leader_election_needs_the_preferred_replica_in_the_isr() {
        let mut image = image();
        let change = elect_partition_leader(&image, "t", 0, None, false, 0).unwrap();
        apply(&mut image, change);
        let change = elect_partition_leader(&image, "t", 0, Some(0), false, 0).unwrap();
        apply(&mut image, change);
        assert_eq!(
            elect_preferred_leader(&image, "t", 0),
            Err(ControllerError::PreferredLeaderNotAvailable)
        );
        let state = image.partition("t", 0).unwrap().clone();
        apply(
            &mut image,
            PartitionChange {
                topic: "t".to_owned(),
                partition: 0,
                leader: state.leader,
                leader_epoch: state.leader_epoch,
                isr: vec![1, 2, 0],
                partition_epoch: state.partition_epoch + 1,
            },
        );
        let change = elect_preferred_leader(&image, "t", 0)
            .unwrap()
            .expect("moves back to 0");
        assert_eq!((change.leader, change.leader_epoch), (Some(0), 3));
    }
}
