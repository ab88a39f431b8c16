//! The active controller: the Raft leader once its no-op has committed.
//!
//! It keeps a *proposed* image: the committed image plus every record it has appended since, so
//! that its decisions account for its own uncommitted proposals (as KRaft's controller does). The
//! decisions themselves are pure functions in [`crate::metadata::controller`]; here they are
//! turned into proposals and responses.
//!
//! Broker sessions live only in the active controller's memory: a new active controller gives
//! every active broker a full session timeout before it may fence it.
//!
//! Invariants: the proposed image is the result of applying the whole log (asserted in
//! [`crate::Node::check_invariants`]); records that move a broker out of leaderships and ISRs are
//! proposed before the record that fences or re-registers it, so every prefix of the log is a
//! consistent image.

use std::collections::BTreeMap;

use crate::config::TopicConfig;
use crate::message::{AlterPartitionRequest, ControllerError, ElectionResult, Message};
use crate::metadata::controller as decide;
use crate::metadata::image::MetadataImage;
use crate::metadata::record::{MetadataRecord, PartitionChange};
use crate::node::{Node, Observation};
use crate::perturb::Site;
use crate::raft::Role;
use crate::raft::replication::ProposeError;

/// State of the active controller.
#[derive(Clone, Debug)]
pub(crate) struct ControllerState {
    /// The committed image plus this controller's uncommitted proposals.
    pub(crate) proposed: MetadataImage,
    /// Local time by which each active broker must heartbeat.
    pub(crate) session_deadlines_ns: BTreeMap<u32, u64>,
}

impl Node {
    /// Whether this node is the active controller.
    pub fn is_active_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// Becomes the active controller once this term's no-op has committed.
    pub(crate) fn maybe_activate_controller(&mut self) {
        let Role::Leader(leader) = &self.raft.role else {
            return;
        };
        let Some(noop_index) = leader.noop_index else {
            return;
        };
        if self.controller.is_some() || self.raft.commit_index < noop_index {
            return;
        }
        assert_eq!(
            self.image.applied_index,
            self.raft.log.last_index(),
            "nothing is proposed before activation"
        );
        let deadline_ns = self.now_ns() + self.config.timing.broker_session_timeout_ns;
        let session_deadlines_ns = self
            .image
            .brokers
            .iter()
            .filter(|(_, registration)| !registration.fenced)
            .map(|(broker, _)| (*broker, deadline_ns))
            .collect();
        self.controller = Some(ControllerState {
            proposed: self.image.clone(),
            session_deadlines_ns,
        });
        self.observe(Observation::ControllerActivated {
            term: self.raft.term,
        });
        self.reconcile();
    }

    pub(crate) fn on_controller_tick(&mut self) {
        if self.controller.is_some() {
            self.reconcile();
        }
    }

    fn proposed(&self) -> &MetadataImage {
        &self
            .controller
            .as_ref()
            .expect("active controller")
            .proposed
    }

    /// Appends `record` and applies it to the proposed image.
    fn propose(&mut self, record: MetadataRecord) -> Result<u64, ProposeError> {
        if self.controller.is_none() {
            return Err(ProposeError::NotController);
        }
        assert!(
            self.raft.is_leader(),
            "an active controller leads the quorum"
        );
        let observations = self.observations_of(&record);
        let index = match self.append_as_leader(record.clone()) {
            Ok(index) => index,
            Err(error) => {
                self.observe(Observation::MetadataLogFull);
                return Err(error);
            }
        };
        let controller = self.controller.as_mut().expect("active controller");
        controller.proposed.apply(index, &record);
        assert_eq!(
            controller.proposed.applied_index,
            self.raft.log.last_index()
        );
        for observation in observations {
            self.observe(observation);
        }
        Ok(index)
    }

    /// What proposing `record` (not yet applied to the proposed image) is worth counting.
    fn observations_of(&self, record: &MetadataRecord) -> Vec<Observation> {
        match record {
            MetadataRecord::RegisterBroker {
                broker,
                broker_epoch,
                ..
            } => vec![Observation::BrokerRegistered {
                broker: *broker,
                broker_epoch: *broker_epoch,
            }],
            MetadataRecord::FenceBroker {
                broker,
                broker_epoch,
            } => vec![Observation::BrokerFenced {
                broker: *broker,
                broker_epoch: *broker_epoch,
            }],
            MetadataRecord::PartitionChange(change) => {
                let state = self
                    .proposed()
                    .partition(&change.topic, change.partition)
                    .expect("existing partition");
                let mut observations = Vec::new();
                if state.isr != change.isr {
                    observations.push(Observation::IsrChanged {
                        topic: change.topic.clone(),
                        partition: change.partition,
                        isr: change.isr.clone(),
                    });
                }
                if state.leader != change.leader {
                    observations.push(Observation::PartitionLeaderElected {
                        topic: change.topic.clone(),
                        partition: change.partition,
                        leader: change.leader,
                        leader_epoch: change.leader_epoch,
                    });
                }
                observations
            }
            _ => Vec::new(),
        }
    }

    /// Periodic and after-change work: bootstrap, session expiry, leaderless partitions.
    fn reconcile(&mut self) {
        if self.bootstrap_when_ready().is_err() {
            return;
        }
        if self.fence_expired_sessions().is_err() {
            return;
        }
        let _ = self.elect_leaderless_partitions();
    }

    /// Writes the bootstrap topics once enough brokers are active to hold every replica of each
    /// (see [`decide::bootstrap_ready`]): every partition then starts led by its preferred
    /// replica, as a topic created on a running Kafka cluster does.
    fn bootstrap_when_ready(&mut self) -> Result<(), ProposeError> {
        if self.proposed().bootstrapped || !decide::bootstrap_ready(&self.config, self.proposed()) {
            return Ok(());
        }
        let topics = decide::bootstrap_topics(&self.config);
        self.propose(MetadataRecord::Bootstrap { topics })
            .map(|_| ())
    }

    fn fence_expired_sessions(&mut self) -> Result<(), ProposeError> {
        let now_ns = self.now_ns();
        let controller = self.controller.as_ref().expect("active controller");
        let expired: Vec<(u32, u64)> = controller
            .proposed
            .brokers
            .iter()
            .filter(|(broker, registration)| {
                !registration.fenced
                    && controller
                        .session_deadlines_ns
                        .get(broker)
                        .is_none_or(|deadline_ns| *deadline_ns <= now_ns)
            })
            .map(|(broker, registration)| (*broker, registration.broker_epoch))
            .collect();
        for (broker, broker_epoch) in expired {
            self.move_broker_out(broker)?;
            self.propose(MetadataRecord::FenceBroker {
                broker,
                broker_epoch,
            })?;
            self.controller
                .as_mut()
                .expect("active controller")
                .session_deadlines_ns
                .remove(&broker);
        }
        debug_assert!(
            self.proposed()
                .brokers
                .iter()
                .all(|(broker, registration)| {
                    registration.fenced
                        || self
                            .controller
                            .as_ref()
                            .expect("active")
                            .session_deadlines_ns[broker]
                            > now_ns
                }),
            "every expired session is fenced"
        );
        Ok(())
    }

    /// Proposes the partition changes that take `broker` out of every leadership and ISR.
    fn move_broker_out(&mut self, broker: u32) -> Result<(), ProposeError> {
        let unclean = self.config.unclean_leader_election;
        let changes = if self.config.bugs.elect_outside_isr {
            self.elect_ignoring_isr(Some(broker), false)
        } else {
            let changes = decide::move_broker_out(self.proposed(), broker, unclean, 0);
            self.perturb_election(changes, |image, rotation| {
                decide::move_broker_out(image, broker, unclean, rotation)
            })
        };
        for change in changes {
            self.propose(MetadataRecord::PartitionChange(change))?;
        }
        debug_assert!(
            self.proposed()
                .partitions()
                .all(|(_, _, state)| state.leader != Some(broker)),
            "broker {broker} moved out of every leadership"
        );
        Ok(())
    }

    /// `changes`, made with the first eligible ISR replica as each new leader, or made again by
    /// `elect` with another when [`Site::LeaderElectedAtRandom`] fires (drawn only when there
    /// are changes).
    fn perturb_election(
        &mut self,
        changes: Vec<PartitionChange>,
        elect: impl Fn(&MetadataImage, usize) -> Vec<PartitionChange>,
    ) -> Vec<PartitionChange> {
        if changes.is_empty() || !self.perturbations.fires(Site::LeaderElectedAtRandom) {
            return changes;
        }
        let rotation = self
            .perturbations
            .choose(crate::config::BROKERS_MAX as usize);
        elect(self.proposed(), rotation)
    }

    fn elect_leaderless_partitions(&mut self) -> Result<(), ProposeError> {
        let unclean = self.config.unclean_leader_election;
        let changes = if self.config.bugs.elect_outside_isr {
            self.elect_ignoring_isr(None, true)
        } else {
            let changes = decide::elect_leaderless_partitions(self.proposed(), unclean, 0);
            self.perturb_election(changes, |image, rotation| {
                decide::elect_leaderless_partitions(image, unclean, rotation)
            })
        };
        for change in changes {
            self.propose(MetadataRecord::PartitionChange(change))?;
        }
        Ok(())
    }

    /// Zoo 4a: the changes of [`decide::elect_partition_leader_ignoring_isr`] for every partition
    /// (only the leaderless ones with `leaderless_only`).
    fn elect_ignoring_isr(
        &self,
        removed: Option<u32>,
        leaderless_only: bool,
    ) -> Vec<PartitionChange> {
        let image = self.proposed();
        image
            .partitions()
            .filter(|(_, _, state)| !leaderless_only || state.leader.is_none())
            .filter_map(|(topic, partition, _)| {
                decide::elect_partition_leader_ignoring_isr(image, topic, partition, removed)
            })
            .collect()
    }

    fn not_controller(&self) -> ControllerError {
        ControllerError::NotController {
            leader_hint: self.raft.leader.filter(|leader| *leader != self.id),
        }
    }

    fn refresh_session(&mut self, broker: u32) {
        assert!(
            self.proposed().is_active(broker),
            "only an active broker has a session"
        );
        let deadline_ns = self.now_ns() + self.config.timing.broker_session_timeout_ns;
        let controller = self.controller.as_mut().expect("active controller");
        controller.session_deadlines_ns.insert(broker, deadline_ns);
    }

    pub(crate) fn on_register_broker(&mut self, from: u32, broker: u32, incarnation: u64) {
        if self.controller.is_none() || from != broker || broker >= self.config.brokers {
            return; // The broker retries on its next heartbeat.
        }
        let current = self.proposed().brokers.get(&broker).cloned();
        if let Some(registration) = &current
            && registration.incarnation == incarnation
            && !registration.fenced
        {
            // A retry: the broker may have lost track of its epoch (a stale answer from a deposed
            // controller), and the record is already applied at its end.
            self.refresh_session(broker);
            let broker_epoch = registration.broker_epoch;
            self.send(from, Message::RegisterBrokerResponse { broker_epoch });
            return;
        }
        if current.is_some() && self.move_broker_out(broker).is_err() {
            return;
        }
        let broker_epoch = self.raft.log.last_index() + 1;
        if self
            .propose(MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                broker_epoch,
            })
            .is_err()
        {
            return;
        }
        let registration = &self.proposed().brokers[&broker];
        assert_eq!(
            (registration.broker_epoch, registration.fenced),
            (broker_epoch, false)
        );
        self.refresh_session(broker);
        if self.bootstrap_when_ready().is_ok() {
            let _ = self.elect_leaderless_partitions();
        }
    }

    pub(crate) fn on_broker_heartbeat(&mut self, from: u32, broker: u32, broker_epoch: u64) {
        let result = if self.controller.is_none() {
            Err(self.not_controller())
        } else if self
            .proposed()
            .brokers
            .get(&broker)
            .is_some_and(|registration| {
                registration.broker_epoch == broker_epoch && !registration.fenced
            })
        {
            self.refresh_session(broker);
            Ok(())
        } else {
            Err(ControllerError::StaleBrokerEpoch {
                broker,
                broker_epoch,
            })
        };
        self.send(from, Message::BrokerHeartbeatResponse { result });
    }

    pub(crate) fn on_alter_partition(&mut self, from: u32, request: AlterPartitionRequest) {
        let result = if self.controller.is_none() {
            Err(self.not_controller())
        } else {
            decide::alter_partition(self.proposed(), &request)
                .and_then(|change| self.propose_change(change))
        };
        let response = Message::AlterPartitionResponse {
            topic: request.topic,
            partition: request.partition,
            result,
        };
        self.send(from, response);
    }

    fn propose_change(&mut self, change: Option<PartitionChange>) -> Result<(), ControllerError> {
        let Some(change) = change else { return Ok(()) };
        self.propose(MetadataRecord::PartitionChange(change))
            .map(|_| ())
            .map_err(|error| match error {
                ProposeError::MetadataLogFull => ControllerError::MetadataLogFull,
                ProposeError::NotController => self.not_controller(),
            })
    }

    pub(crate) fn on_create_topic(&mut self, from: u32, request_id: u64, topic: TopicConfig) {
        let result = if self.controller.is_none() {
            Err(self.not_controller())
        } else {
            decide::create_topic(&self.config, self.proposed(), &topic).and_then(|record| {
                self.propose(MetadataRecord::CreateTopic(record))
                    .map_err(|_| ControllerError::MetadataLogFull)?;
                let _ = self.elect_leaderless_partitions();
                Ok(())
            })
        };
        self.send(from, Message::CreateTopicResponse { request_id, result });
    }

    pub(crate) fn on_elect_preferred_leaders(
        &mut self,
        from: u32,
        request_id: u64,
        partitions: Vec<(String, u32)>,
    ) {
        let result = if self.controller.is_none() {
            Err(self.not_controller())
        } else {
            Ok(self.elect_preferred_leaders(partitions))
        };
        self.send(
            from,
            Message::ElectPreferredLeadersResponse { request_id, result },
        );
    }

    fn elect_preferred_leaders(
        &mut self,
        mut partitions: Vec<(String, u32)>,
    ) -> Vec<ElectionResult> {
        if partitions.is_empty() {
            partitions = self
                .proposed()
                .partitions()
                .map(|(topic, partition, _)| (topic.to_owned(), partition))
                .collect();
        }
        partitions
            .into_iter()
            .map(|(topic, partition)| {
                let result = decide::elect_preferred_leader(self.proposed(), &topic, partition)
                    .and_then(|change| self.propose_change(change))
                    .map(|()| {
                        self.proposed()
                            .partition(&topic, partition)
                            .and_then(|state| state.leader)
                            .expect("led")
                    });
                ElectionResult {
                    topic,
                    partition,
                    result,
                }
            })
            .collect()
    }
}
