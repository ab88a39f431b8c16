//! The simulation process of a cluster: a broker node, an admin client, a producer, a consumer or
//! a group consumer.
//!
//! Translation only: engine inputs become broker inputs, broker outputs become engine commands
//! (the broker's [`Output`] is the process's output type: the engine translates each as it
//! executes it). Timer keys are [`broker::Timer::key`]; a sync's `Err` becomes
//! `succeeded: false`.

use std::sync::Arc;

use broker::admin::{AdminClient, AdminCommand};
use broker::client::{
    Consumer, ConsumerConfig, GroupConsumer, GroupConsumerConfig, Producer, ProducerConfig,
};
use broker::node::{Input as BrokerInput, Output, Timer};
use broker::{ClusterConfig, Message, Node, Observation};

use crate::process::{Command, Context, Input, NodeId, Process, Storage};

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
    /// Builds node `id` as `spec` says. `instance` counts the node's earlier builds (0 at
    /// first, one more at each restart): a producer writes it into its values
    /// ([`ProducerConfig::instance`]); the other members start the same whatever it is.
    pub fn build(
        config: &Arc<ClusterConfig>,
        id: NodeId,
        storage: &MemberStorage,
        spec: &MemberSpec,
        instance: u32,
    ) -> Member {
        match spec {
            MemberSpec::Broker => {
                Member::Broker(Box::new(Node::new(Arc::clone(config), id.0, &storage.0)))
            }
            MemberSpec::Admin(script) => {
                Member::Admin(AdminClient::new(config.brokers, script.clone()))
            }
            MemberSpec::Producer(producer) => {
                let producer = ProducerConfig {
                    instance,
                    ..producer.clone()
                };
                Member::Producer(Box::new(Producer::new(producer, config.brokers)))
            }
            MemberSpec::Consumer(consumer) => {
                Member::Consumer(Box::new(Consumer::new(consumer.clone(), config.brokers)))
            }
            MemberSpec::GroupConsumer(consumer) => {
                let mut consumer = consumer.clone();
                if let Some(output) = consumer
                    .transactional
                    .as_mut()
                    .and_then(|commits| commits.output.as_mut())
                {
                    output.instance = instance;
                }
                Member::GroupConsumer(Box::new(GroupConsumer::new(consumer, config.brokers)))
            }
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

/// The broker output an engine command stands for (the inverse of [`Member::command`]; the
/// members never issue commands through the context's helpers, but the engine requires it).
impl From<Command<Member>> for Output {
    fn from(command: Command<Member>) -> Output {
        match command {
            Command::Send { to, message } => Output::Send { to: to.0, message },
            Command::SetTimer { timer, deadline_ns } => Output::SetTimer {
                timer: Timer::from_key(timer).expect("a broker timer key"),
                deadline_ns,
            },
            Command::CancelTimer { timer } => Output::CancelTimer {
                timer: Timer::from_key(timer).expect("a broker timer key"),
            },
            Command::Write { tag, write } => Output::DiskWrite { tag, write },
            Command::Sync { tag } => Output::DiskSync { tag },
            Command::Observe(observation) => Output::Observe(observation),
        }
    }
}

impl Process for Member {
    type Message = Message;
    type Storage = MemberStorage;
    type Observation = Observation;
    type Output = Output;

    fn step(&mut self, input: Input<Message>, context: &mut Context<'_, Self>) {
        let Some(input) = translate_input(input) else {
            panic!("{}: a timer key no broker timer has", context.node());
        };
        let now_ns = context.now_ns();
        let (rng, outputs) = context.rng_and_outputs();
        match self {
            Member::Broker(node) => node.step(now_ns, input, rng, outputs),
            Member::Admin(admin) => admin.step(now_ns, input, rng, outputs),
            Member::Producer(producer) => producer.step(now_ns, input, rng, outputs),
            Member::Consumer(consumer) => consumer.step(now_ns, input, rng, outputs),
            Member::GroupConsumer(consumer) => consumer.step(now_ns, input, rng, outputs),
        }
    }

    fn command(output: Output) -> Command<Member> {
        match output {
            Output::Send { to, message } => Command::Send {
                to: NodeId(to),
                message,
            },
            Output::SetTimer { timer, deadline_ns } => Command::SetTimer {
                timer: timer.key(),
                deadline_ns,
            },
            Output::CancelTimer { timer } => Command::CancelTimer { timer: timer.key() },
            Output::DiskWrite { tag, write } => Command::Write { tag, write },
            Output::DiskSync { tag } => Command::Sync { tag },
            Output::Observe(observation) => Command::Observe(observation),
        }
    }

    fn check_invariants(&self) {
        if let Member::Broker(node) = self {
            node.check_invariants();
        }
    }

    fn timer_name(timer: u64) -> Option<String> {
        Timer::from_key(timer).map(|timer| format!("{timer:?}"))
    }
}
