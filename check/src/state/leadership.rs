//! Partition leadership as each broker sees it from the metadata it applied: at most one leader
//! per (topic, partition, leader epoch) across all views, ever; a leader is in its ISR; a node's
//! view of a partition's leader epoch and of a broker's registration epoch never goes backwards,
//! except that a restarted node replays its metadata from the start.
//!
//! Source: Kafka's replication design (the controller picks the leader from the ISR and bumps the
//! leader epoch), KIP-500 and KIP-631 (brokers follow the metadata log; broker epochs fence
//! sessions), KIP-320 (leader epochs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateViolation;

/// One node's view of one partition, from the metadata it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionViewSnapshot {
    pub node: u32,
    pub topic: String,
    pub partition: u32,
    pub leader: Option<u32>,
    pub leader_epoch: u64,
    pub isr: Vec<u32>,
}

/// One node's view of one broker's registration epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEpochSnapshot {
    pub node: u32,
    pub broker: u32,
    pub broker_epoch: u64,
}

/// The leader first seen for one leader epoch, and who saw it.
#[derive(Debug, Clone, Copy)]
struct EpochLeader {
    leader: u32,
    seen_by: u32,
}

/// Checks leadership views across a whole run.
#[derive(Debug, Default)]
pub struct LeadershipMonitor {
    /// topic -> (partition, leader epoch) -> the leader named in that epoch.
    leader_by_epoch: BTreeMap<String, BTreeMap<(u32, u64), EpochLeader>>,
    /// node -> topic -> partition -> the highest leader epoch the node applied.
    leader_epoch_by_view: BTreeMap<u32, BTreeMap<String, BTreeMap<u32, u64>>>,
    /// (node, broker) -> the highest broker epoch the node applied.
    broker_epoch_by_view: BTreeMap<(u32, u32), u64>,
}

impl LeadershipMonitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every node's views after a step. Returns the first violation found.
    pub fn observe(
        &mut self,
        time_ns: u64,
        partitions: &[PartitionViewSnapshot],
        brokers: &[BrokerEpochSnapshot],
    ) -> Result<(), StateViolation> {
        for view in partitions {
            check_leader_in_isr(time_ns, view)?;
            self.observe_epoch_leader(time_ns, view)?;
            self.observe_leader_epoch(time_ns, view)?;
        }
        for view in brokers {
            self.observe_broker_epoch(time_ns, view)?;
        }
        Ok(())
    }

    /// Forgets `node`'s per-node history: a restarted node replays its metadata from the start,
    /// so its epochs legitimately start low again. Leaders per epoch are global and kept.
    pub fn node_restarted(&mut self, node: u32) {
        self.leader_epoch_by_view.remove(&node);
        self.broker_epoch_by_view
            .retain(|&(viewer, _broker), _epoch| viewer != node);
    }

    fn observe_epoch_leader(
        &mut self,
        time_ns: u64,
        view: &PartitionViewSnapshot,
    ) -> Result<(), StateViolation> {
        let Some(leader) = view.leader else {
            return Ok(());
        };
        let by_epoch = match self.leader_by_epoch.get_mut(view.topic.as_str()) {
            Some(by_epoch) => by_epoch,
            None => self.leader_by_epoch.entry(view.topic.clone()).or_default(),
        };
        let first = *by_epoch
            .entry((view.partition, view.leader_epoch))
            .or_insert(EpochLeader {
                leader,
                seen_by: view.node,
            });
        if first.leader != leader {
            return Err(StateViolation::TwoPartitionLeaders {
                time_ns,
                topic: view.topic.clone(),
                partition: view.partition,
                leader_epoch: view.leader_epoch,
                first_leader: first.leader,
                first_seen_by: first.seen_by,
                second_leader: leader,
                second_seen_by: view.node,
            });
        }
        Ok(())
    }

    fn observe_leader_epoch(
        &mut self,
        time_ns: u64,
        view: &PartitionViewSnapshot,
    ) -> Result<(), StateViolation> {
        let by_topic = self.leader_epoch_by_view.entry(view.node).or_default();
        let by_partition = match by_topic.get_mut(view.topic.as_str()) {
            Some(by_partition) => by_partition,
            None => by_topic.entry(view.topic.clone()).or_default(),
        };
        let highest = by_partition
            .entry(view.partition)
            .or_insert(view.leader_epoch);
        if view.leader_epoch < *highest {
            return Err(StateViolation::LeaderEpochDecreased {
                time_ns,
                node: view.node,
                topic: view.topic.clone(),
                partition: view.partition,
                previous_leader_epoch: *highest,
                leader_epoch: view.leader_epoch,
            });
        }
        *highest = view.leader_epoch;
        Ok(())
    }

    fn observe_broker_epoch(
        &mut self,
        time_ns: u64,
        view: &BrokerEpochSnapshot,
    ) -> Result<(), StateViolation> {
        let highest = self
            .broker_epoch_by_view
            .entry((view.node, view.broker))
            .or_insert(view.broker_epoch);
        if view.broker_epoch < *highest {
            return Err(StateViolation::BrokerEpochDecreased {
                time_ns,
                node: view.node,
                broker: view.broker,
                previous_broker_epoch: *highest,
                broker_epoch: view.broker_epoch,
            });
        }
        *highest = view.broker_epoch;
        Ok(())
    }
}

fn check_leader_in_isr(time_ns: u64, view: &PartitionViewSnapshot) -> Result<(), StateViolation> {
    match view.leader {
        Some(leader) if !view.isr.contains(&leader) => Err(StateViolation::LeaderOutsideIsr {
            time_ns,
            node: view.node,
            topic: view.topic.clone(),
            partition: view.partition,
            leader,
            leader_epoch: view.leader_epoch,
            isr: view.isr.clone(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        node: u32,
        leader: Option<u32>,
        leader_epoch: u64,
        isr: &[u32],
    ) -> PartitionViewSnapshot {
        PartitionViewSnapshot {
            node,
            topic: "orders".to_string(),
            partition: 0,
            leader,
            leader_epoch,
            isr: isr.to_vec(),
        }
    }

    fn broker(node: u32, broker: u32, broker_epoch: u64) -> BrokerEpochSnapshot {
        BrokerEpochSnapshot {
            node,
            broker,
            broker_epoch,
        }
    }

    /// Failover seen by three nodes at different moments, a leaderless epoch, a node restart
    /// that replays metadata from the start. Nothing fires.
    #[test]
    fn good_sequence_stays_quiet() {
        let mut monitor = LeadershipMonitor::new();
        monitor
            .observe(
                1,
                &[
                    view(1, Some(1), 1, &[1, 2, 3]),
                    view(2, Some(1), 1, &[1, 2, 3]),
                ],
                &[broker(1, 1, 10), broker(2, 1, 10)],
            )
            .unwrap();
        monitor
            .observe(
                2,
                &[
                    view(1, Some(2), 2, &[2, 3]),
                    view(2, Some(1), 1, &[1, 2, 3]),
                    view(3, None, 3, &[]),
                ],
                &[broker(1, 1, 11)],
            )
            .unwrap();
        monitor.node_restarted(1);
        monitor
            .observe(3, &[view(1, Some(1), 1, &[1, 2, 3])], &[broker(1, 1, 10)])
            .unwrap();
    }

    #[test]
    fn two_leaders_in_one_epoch_fire_across_views() {
        let mut monitor = LeadershipMonitor::new();
        monitor
            .observe(1, &[view(1, Some(1), 4, &[1, 2])], &[])
            .unwrap();
        let violation = monitor
            .observe(2, &[view(2, Some(2), 4, &[1, 2])], &[])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::TwoPartitionLeaders {
                leader_epoch: 4,
                first_leader: 1,
                first_seen_by: 1,
                second_leader: 2,
                second_seen_by: 2,
                ..
            }
        ));
    }

    #[test]
    fn leader_outside_isr_fires() {
        let mut monitor = LeadershipMonitor::new();
        let violation = monitor
            .observe(1, &[view(1, Some(3), 1, &[1, 2])], &[])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::LeaderOutsideIsr { leader: 3, .. }
        ));
    }

    #[test]
    fn leader_epoch_going_backwards_fires_unless_restarted() {
        let mut monitor = LeadershipMonitor::new();
        monitor
            .observe(1, &[view(1, Some(1), 5, &[1])], &[])
            .unwrap();
        let violation = monitor
            .observe(2, &[view(1, Some(1), 4, &[1])], &[])
            .unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::LeaderEpochDecreased {
                previous_leader_epoch: 5,
                leader_epoch: 4,
                ..
            }
        ));
    }

    #[test]
    fn broker_epoch_going_backwards_fires() {
        let mut monitor = LeadershipMonitor::new();
        monitor.observe(1, &[], &[broker(1, 2, 7)]).unwrap();
        let violation = monitor.observe(2, &[], &[broker(1, 2, 6)]).unwrap_err();
        assert!(matches!(
            violation,
            StateViolation::BrokerEpochDecreased {
                node: 1,
                broker: 2,
                ..
            }
        ));
    }
}
