//! Test support: node 0 coordinating the one offsets partition, driven by hand.

use std::sync::Arc;

use crate::config::BugsConfig;
use crate::group::GroupsConfig;
use crate::group::coordinator::offsets_key;
use crate::log::PartitionLog;
use crate::node::Node;
use crate::replica::Replica;
use crate::replica::test_support::leader_role;
use crate::{ClusterConfig, Storage};

/// The leader epoch node 0 leads the offsets partition in.
pub(crate) const LEADER_EPOCH: u64 = 2;

/// Node 0 coordinating the one offsets partition in [`LEADER_EPOCH`], with no group yet; brokers 1
/// and 2 follow it.
pub(crate) fn coordinator() -> Node {
    coordinator_with(BugsConfig::default())
}

/// [`coordinator`] with `bugs` planted.
pub(crate) fn coordinator_with(bugs: BugsConfig) -> Node {
    let groups = GroupsConfig::new(1, 3);
    let mut config = ClusterConfig::default();
    config.topics.push(groups.offsets_topic());
    config.groups = Some(groups);
    config.bugs = bugs;
    let mut node = Node::new(Arc::new(config), 0, &Storage::default());
    let log = PartitionLog::new(node.config.limits.log);
    let replica = Replica::new(log, LEADER_EPOCH, leader_role());
    node.replicas.partitions.insert(offsets_key(0), replica);
    node.start_coordinator(0, LEADER_EPOCH);
    node
}
