//! The simulation process of a cluster: a broker node, an admin client, a producer, a consumer or
//! a group consumer.
//!
//! Translation only: engine inputs become broker inputs, broker outputs become context commands.
//! Timer keys are [`broker::Timer::key`]; a sync's `Err` becomes `succeeded: false`.

use std::cell::RefCell;
use std::sync::Arc;

use broker::admin::{AdminClient, AdminCommand};
use broker::client::{
    Consumer, ConsumerConfig, GroupConsumer, GroupConsumerConfig, Producer, ProducerConfig,
};
use broker::node::{Input as BrokerInput, Output, Timer};
use broker::{ClusterConfig, Message, Node, Observation};

use crate::process::{Context, Input, NodeId, Process, Storage};

/// A broker's durable image, as the engine's [`Storage`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemberStorage(pub broker::Storage);

impl Storage for MemberStorage {
    type Write = broker::StorageWrite;

    fn apply(&mut self, write: &broker::StorageWrite) {
        self.0.apply(write);
    }

    fn apply_owned(&mut self, write: broker::StorageWrite) {
        self.0.apply_owned(write);
    }
}

/// One node of a simulated cluster.
#[derive(Debug)]
pub enum Member {
    Broker(Box<Node>),
    Admin(AdminClient),
    Producer(Box<Producer>),
    Consumer(Box<Consumer>),
    GroupConsumer(Box<GroupConsumer>),
}

/// What a node of the cluster is, to build it (again, after a restart).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemberSpec {
    Broker,
    Admin(Vec<(u64, AdminCommand)>),
    Producer(ProducerConfig),
    Consumer(ConsumerConfig),
    GroupConsumer(GroupConsumerConfig),
}

impl Member {
    /// Builds node `id` as `spec` says.
    pub fn build(
        config: &Arc<ClusterConfig>,
        id: NodeId,
        storage: &MemberStorage,
        spec: &MemberSpec,
    ) -> Member {
        match spec {
            MemberSpec::Broker => {
                Member::Broker(Box::new(Node::new(Arc::clone(config), id.0, &storage.0)))
            }
            MemberSpec::Admin(script) => {
                Member::Admin(AdminClient::new(config.brokers, script.clone()))
            }
            MemberSpec::Producer(producer) => {
                Member::Producer(Box::new(Producer::new(producer.clone(), config.brokers)))
            }
            MemberSpec::Consumer(consumer) => {
                Member::Consumer(Box::new(Consumer::new(consumer.clone(), config.brokers)))
            }
            MemberSpec::GroupConsumer(consumer) => Member::GroupConsumer(Box::new(
                GroupConsumer::new(consumer.clone(), config.brokers),
            )),
        }
    }

    /// The consumer, if this member is one.
    pub fn consumer(&self) -> Option<&Consumer> {
        match self {
            Member::Consumer(consumer) => Some(consumer),
            _ => None,
        }
    }

    /// The group consumer, if this member is one.
    pub fn group_consumer(&self) -> Option<&GroupConsumer> {
        match self {
            Member::GroupConsumer(consumer) => Some(consumer),
            _ => None,
        }
    }

    /// A consumer's positions (assign mode) or its group's committed offsets of its assignment
    /// (group consumers), as `(topic, partition, offset)`.
    pub fn consumer_positions(&self) -> Option<Vec<(String, u32, u64)>> {
        match self {
            Member::Consumer(consumer) => Some(consumer.positions()),
            Member::GroupConsumer(consumer) => Some(consumer.positions()),
            _ => None,
        }
    }

    /// The broker node, if this member is one.
    pub fn broker(&self) -> Option<&Node> {
        match self {
            Member::Broker(node) => Some(node),
            _ => None,
        }
    }

    /// The admin client, if this member is one.
    pub fn admin(&self) -> Option<&AdminClient> {
        match self {
            Member::Admin(admin) => Some(admin),
            _ => None,
        }
    }
}

fn translate_input(input: Input<Message>) -> Option<BrokerInput> {
    Some(match input {
        Input::Start => BrokerInput::Start,
        Input::Message { from, message } => BrokerInput::Message {
            from: from.0,
            message,
        },
        Input::TimerFired { timer } => BrokerInput::TimerFired(Timer::from_key(timer)?),
        Input::DiskWriteFailed { tag } => BrokerInput::DiskWriteFailed { tag },
        Input::DiskSyncDone { tag, result } => BrokerInput::DiskSyncDone {
            tag,
            succeeded: result.is_ok(),
        },
    })
}

thread_local! {
    /// One step's outputs, reused from step to step so that a step allocates nothing for them
    /// (empty between steps: nothing carries over).
    static OUTPUTS: RefCell<Vec<Output>> = const { RefCell::new(Vec::new()) };
}

fn execute(outputs: std::vec::Drain<'_, Output>, context: &mut Context<'_, Member>) {
    for output in outputs {
        match output {
            Output::Send { to, message } => context.send(NodeId(to), message),
            Output::SetTimer { timer, deadline_ns } => context.set_timer(timer.key(), deadline_ns),
            Output::CancelTimer { timer } => context.cancel_timer(timer.key()),
            Output::DiskWrite { tag, write } => context.write(tag, write),
            Output::DiskSync { tag } => context.sync(tag),
            Output::Observe(observation) => context.observe(observation),
        }
    }
}

impl Process for Member {
    type Message = Message;
    type Storage = MemberStorage;
    type Observation = Observation;

    fn step(&mut self, input: Input<Message>, context: &mut Context<'_, Self>) {
        let Some(input) = translate_input(input) else {
            panic!("{}: a timer key no broker timer has", context.node());
        };
        let now_ns = context.now_ns();
        OUTPUTS.with_borrow_mut(|outputs| {
            debug_assert!(outputs.is_empty(), "outputs left over from another step");
            match self {
                Member::Broker(node) => node.step(now_ns, input, context.rng(), outputs),
                Member::Admin(admin) => admin.step(now_ns, input, context.rng(), outputs),
                Member::Producer(producer) => producer.step(now_ns, input, context.rng(), outputs),
                Member::Consumer(consumer) => consumer.step(now_ns, input, context.rng(), outputs),
                Member::GroupConsumer(consumer) => {
                    consumer.step(now_ns, input, context.rng(), outputs)
                }
            }
            execute(outputs.drain(..), context);
        });
    }

    fn check_invariants(&self) {
        if let Member::Broker(node) = self {
            node.check_invariants();
        }
    }
}
