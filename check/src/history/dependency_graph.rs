//! The dependency graph between committed transactions that the cycle anomalies (`G0`, `G1c`)
//! search, and a deterministic search for its cycles.
//!
//! Nodes are `txn` operations known to have committed (`ok`, or indeterminate with a value read).
//! A `ww` edge T1 -> T2 means T2 wrote the next version of a key after T1's, in the key's version
//! order (records of non-transactional sends in between are skipped: they carry no other
//! dependency, so the cycles are the same). A `wr` edge T1 -> T2 means T2 read a value T1 wrote.
//!
//! Strongly connected components come from Tarjan's algorithm, iterative (no recursion depth
//! limit) and deterministic: nodes are visited in completion order and edges in sorted order.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use super::anomaly::Dependency;
use super::context::Context;
use super::model::{EventId, Function, KeyId};

/// The kind of a dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    WriteWrite,
    WriteRead,
}

impl EdgeKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::WriteWrite => "ww",
            Self::WriteRead => "wr",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub to: u32,
    pub kind: EdgeKind,
    pub key: KeyId,
    pub value: i64,
}

#[derive(Debug)]
pub struct DependencyGraph {
    /// Node -> the transaction's event.
    pub nodes: Vec<EventId>,
    /// Node -> outgoing edges, sorted by (target, kind), one per (target, kind).
    pub edges: Vec<Vec<Edge>>,
}

const NO_NODE: u32 = u32::MAX;

impl DependencyGraph {
    pub fn build(context: &Context) -> Self {
        let model = context.model;
        let mut node_of_event = vec![NO_NODE; model.events.len()];
        let mut nodes = Vec::new();
        for (event_id, event) in model.events.iter().enumerate() {
            if event.function() == Function::Txn && context.is_committed(event_id as EventId) {
                node_of_event[event_id] = nodes.len() as u32;
                nodes.push(event_id as EventId);
            }
        }
        let mut graph = Self {
            edges: vec![Vec::new(); nodes.len()],
            nodes,
        };
        if graph.nodes.is_empty() {
            return graph;
        }
        let node_of_value = |value: i64| {
            context
                .writer_of(value)
                .map(|writer| node_of_event[writer as usize])
                .filter(|&node| node != NO_NODE)
        };
        graph.add_write_write_edges(context, &node_of_value);
        graph.add_write_read_edges(context, &node_of_event, &node_of_value);
        for edges in &mut graph.edges {
            edges.sort_unstable();
            edges.dedup_by(|later, earlier| (later.to, later.kind) == (earlier.to, earlier.kind));
        }
        graph
    }

    fn add_write_write_edges(
        &mut self,
        context: &Context,
        node_of_value: &impl Fn(i64) -> Option<u32>,
    ) {
        for (key, order) in context.orders.by_key.iter().enumerate() {
            let mut last: Option<u32> = None;
            for entry in &order.entries {
                let Some(node) = node_of_value(entry.value) else {
                    continue;
                };
                if let Some(previous) = last
                    && previous != node
                {
                    self.edges[previous as usize].push(Edge {
                        to: node,
                        kind: EdgeKind::WriteWrite,
                        key: key as KeyId,
                        value: entry.value,
                    });
                }
                last = Some(node);
            }
        }
    }

    fn add_write_read_edges(
        &mut self,
        context: &Context,
        node_of_event: &[u32],
        node_of_value: &impl Fn(i64) -> Option<u32>,
    ) {
        for (node, &event_id) in self.nodes.iter().enumerate() {
            debug_assert_eq!(node_of_event[event_id as usize], node as u32);
            let event = context.event(event_id);
            for read in context.model.reads_of(event) {
                let Some(writer) = node_of_value(read.value) else {
                    continue;
                };
                if writer != node as u32 {
                    self.edges[writer as usize].push(Edge {
                        to: node as u32,
                        kind: EdgeKind::WriteRead,
                        key: read.key,
                        value: read.value,
                    });
                }
            }
        }
    }

    /// The strongly connected components with more than one node, over the edges `include`
    /// accepts. Each component is sorted; components are ordered by their smallest node.
    pub fn components(&self, include: impl Fn(&Edge) -> bool) -> Vec<Vec<u32>> {
        let mut tarjan = Tarjan::new(self.nodes.len());
        for root in 0..self.nodes.len() as u32 {
            if tarjan.order[root as usize] == UNVISITED {
                tarjan.visit(self, root, &include);
            }
        }
        let mut components = tarjan.components;
        for component in &mut components {
            component.sort_unstable();
        }
        components.sort_unstable();
        components
    }

    /// The shortest path of included edges from `from` to `to` inside `component` (sorted).
    pub fn path(
        &self,
        component: &[u32],
        from: u32,
        to: u32,
        include: impl Fn(&Edge) -> bool,
    ) -> Option<Vec<(u32, Edge)>> {
        let mut parent: BTreeMap<u32, (u32, Edge)> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            if node == to {
                return Some(unwind(&parent, from, to));
            }
            for edge in &self.edges[node as usize] {
                let inside = component.binary_search(&edge.to).is_ok();
                if !include(edge) || !inside || edge.to == from || parent.contains_key(&edge.to) {
                    continue;
                }
                parent.insert(edge.to, (node, *edge));
                queue.push_back(edge.to);
            }
        }
        None
    }

    /// Turns `(from node, edge)` steps into the witness's dependencies.
    pub fn dependencies(&self, context: &Context, steps: &[(u32, Edge)]) -> Vec<Dependency> {
        steps
            .iter()
            .map(|(from, edge)| Dependency {
                from: context.operation(self.nodes[*from as usize]),
                to: context.operation(self.nodes[edge.to as usize]),
                kind: edge.kind.name(),
                key: context.key_name(edge.key),
                value: edge.value,
            })
            .collect()
    }
}

fn unwind(parent: &BTreeMap<u32, (u32, Edge)>, from: u32, to: u32) -> Vec<(u32, Edge)> {
    let mut steps = Vec::new();
    let mut node = to;
    while node != from {
        let (previous, edge) = parent[&node];
        steps.push((previous, edge));
        node = previous;
    }
    steps.reverse();
    steps
}

const UNVISITED: u32 = u32::MAX;

/// Iterative Tarjan state.
#[derive(Debug)]
struct Tarjan {
    order: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    next_order: u32,
    components: Vec<Vec<u32>>,
}

impl Tarjan {
    fn new(node_count: usize) -> Self {
        Self {
            order: vec![UNVISITED; node_count],
            low: vec![0; node_count],
            on_stack: vec![false; node_count],
            stack: Vec::new(),
            next_order: 0,
            components: Vec::new(),
        }
    }

    fn enter(&mut self, node: u32) {
        self.order[node as usize] = self.next_order;
        self.low[node as usize] = self.next_order;
        self.next_order += 1;
        self.stack.push(node);
        self.on_stack[node as usize] = true;
    }

    fn visit(&mut self, graph: &DependencyGraph, root: u32, include: &impl Fn(&Edge) -> bool) {
        // Frames: (node, position of the next edge to look at).
        let mut frames: Vec<(u32, usize)> = vec![(root, 0)];
        self.enter(root);
        while let Some(&mut (node, ref mut position)) = frames.last_mut() {
            let edges = &graph.edges[node as usize];
            let mut descended = false;
            while *position < edges.len() {
                let edge = edges[*position];
                *position += 1;
                if !include(&edge) {
                    continue;
                }
                let target = edge.to as usize;
                if self.order[target] == UNVISITED {
                    self.enter(edge.to);
                    frames.push((edge.to, 0));
                    descended = true;
                    break;
                }
                if self.on_stack[target] {
                    self.low[node as usize] = self.low[node as usize].min(self.order[target]);
                }
            }
            if descended {
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                self.low[parent as usize] = self.low[parent as usize].min(self.low[node as usize]);
            }
            if self.low[node as usize] == self.order[node as usize] {
                self.pop_component(node);
            }
        }
    }

    fn pop_component(&mut self, root: u32) {
        let mut component = Vec::new();
        loop {
            let node = self.stack.pop().expect("the root is on the stack");
            self.on_stack[node as usize] = false;
            component.push(node);
            if node == root {
                break;
            }
        }
        if component.len() > 1 {
            self.components.push(component);
        }
    }
}
