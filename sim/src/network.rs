//! The network model: directed links between nodes.
//!
//! Each directed link is up or cut, and open or held. Partitions of every shape are sets of cut
//! links: a one-way partition cuts one direction, a bridge leaves one node linked to both sides.
//! A held link queues what is sent on it until it is released ("clogging").
//!
//! Delivery, per message: a cut link drops it (at send and again at delivery: a partition also
//! loses what was in flight); `loss` drops it; a held link queues it; otherwise it is delivered
//! after a latency drawn from the configured distribution. Links are FIFO like a TCP connection
//! unless `reordering` picks a message, which is then held back by an extra delay so that later
//! messages overtake it. `duplication` delivers a second copy with its own latency.

use std::collections::VecDeque;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::distribution::{Latency, Ratio};
use crate::process::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    pub latency: Latency,
    pub loss: Ratio,
    pub duplication: Ratio,
    pub reordering: Ratio,
    /// The most messages a held link keeps; more are dropped (and counted).
    pub held_messages_max: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::Uniform {
                min_ns: 200_000,
                max_ns: 1_000_000,
            },
            loss: Ratio::NEVER,
            duplication: Ratio::NEVER,
            reordering: Ratio::NEVER,
            held_messages_max: 100_000,
        }
    }
}

/// `latency uniform 200us..1ms, loss 0/1, duplication 0/1, reordering 0/1`.
impl std::fmt::Display for NetworkConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "latency {}, loss {}, duplication {}, reordering {}",
            self.latency, self.loss, self.duplication, self.reordering
        )
    }
}

impl NetworkConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.latency.validate("network.latency")?;
        self.loss.validate("network.loss")?;
        self.duplication.validate("network.duplication")?;
        self.reordering.validate("network.reordering")?;
        if self.held_messages_max == 0 {
            return Err("network.held_messages_max: must be positive".to_string());
        }
        Ok(())
    }
}

/// The fate the network chose for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Cut,
    Lost,
    Held,
    /// Deliver at these simulated times (the second is a duplicate).
    Deliver {
        at_ns: u64,
        duplicate_at_ns: Option<u64>,
        reordered: bool,
    },
}

#[derive(Clone, Debug)]
struct Link<M> {
    cut: bool,
    held: bool,
    held_queue: VecDeque<M>,
    /// The latest delivery time scheduled in order on this link (FIFO floor).
    last_delivery_ns: u64,
}

impl<M> Default for Link<M> {
    fn default() -> Self {
        Link {
            cut: false,
            held: false,
            held_queue: VecDeque::new(),
            last_delivery_ns: 0,
        }
    }
}

/// Every directed link among `node_count` nodes, in a dense matrix.
#[derive(Clone, Debug)]
pub struct Network<M> {
    pub config: NetworkConfig,
    node_count: usize,
    links: Vec<Link<M>>,
}

impl<M> Network<M> {
    pub fn new(config: NetworkConfig, node_count: usize) -> Self {
        let links = (0..node_count * node_count)
            .map(|_| Link::default())
            .collect();
        Network {
            config,
            node_count,
            links,
        }
    }

    fn link(&self, from: NodeId, to: NodeId) -> &Link<M> {
        &self.links[from.index() * self.node_count + to.index()]
    }

    fn link_mut(&mut self, from: NodeId, to: NodeId) -> &mut Link<M> {
        &mut self.links[from.index() * self.node_count + to.index()]
    }

    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).cut
    }

    pub fn is_held(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).held
    }

    /// Cuts the link from `from` to `to` (one direction only).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.link_mut(from, to).cut = true;
    }

    pub fn repair(&mut self, from: NodeId, to: NodeId) {
        self.link_mut(from, to).cut = false;
    }

    /// Repairs every cut link.
    pub fn repair_all(&mut self) {
        self.links.iter_mut().for_each(|link| link.cut = false);
    }

    pub fn cut_links(&self) -> usize {
        self.links.iter().filter(|link| link.cut).count()
    }

    pub fn hold(&mut self, from: NodeId, to: NodeId) {
        self.link_mut(from, to).held = true;
    }

    /// Opens a held link and returns what it held, oldest first.
    pub fn release(&mut self, from: NodeId, to: NodeId) -> VecDeque<M> {
        let link = self.link_mut(from, to);
        link.held = false;
        std::mem::take(&mut link.held_queue)
    }

    /// Queues a message on a held link. Returns false (dropped) when the link is full.
    pub fn enqueue_held(&mut self, from: NodeId, to: NodeId, message: M) -> bool {
        let held_messages_max = self.config.held_messages_max;
        let link = self.link_mut(from, to);
        debug_assert!(link.held);
        if link.held_queue.len() >= held_messages_max {
            return false;
        }
        link.held_queue.push_back(message);
        true
    }

    /// Chooses what happens to a message sent now on `from -> to`.
    pub fn route(&mut self, from: NodeId, to: NodeId, now_ns: u64, rng: &mut impl Rng) -> Route {
        let config = self.config;
        let link = self.link_mut(from, to);
        if link.cut {
            return Route::Cut;
        }
        if config.loss.sample(rng) {
            return Route::Lost;
        }
        if link.held {
            return Route::Held;
        }
        let latency_ns = config.latency.sample(rng);
        let reordered = config.reordering.sample(rng);
        let at_ns = if reordered {
            // Held back past every message sent within the next two maximal latencies.
            now_ns + latency_ns + 2 * config.latency.max_ns() + 1
        } else {
            let at_ns = (now_ns + latency_ns).max(link.last_delivery_ns);
            link.last_delivery_ns = at_ns;
            at_ns
        };
        let duplicate_at_ns = config
            .duplication
            .sample(rng)
            .then(|| now_ns + config.latency.sample(rng));
        Route::Deliver {
            at_ns,
            duplicate_at_ns,
            reordered,
        }
    }
}
