//! `G1c` (cyclic information flow): no committed transaction observes, directly or through
//! others, the effects of a transaction that itself depends on it: no cycle of write-write and
//! write-read dependencies that holds at least one write-read edge. (Pure write-write cycles are
//! `G0`.)
//!
//! Source: Adya's G1c; Jepsen's Kafka workload (`jepsen.tests.kafka`, G1c); Kafka's transactions
//! (KIP-98) promise read-committed atomicity, which G1c breaks.

use super::anomaly::{AnomalyKind, CycleWitness, Findings, Witness};
use super::context::Context;
use super::dependency_graph::{DependencyGraph, Edge, EdgeKind};

pub fn analyse(context: &Context, graph: &DependencyGraph, findings: &mut Findings) {
    let any = |_edge: &Edge| true;
    for component in graph.components(any) {
        let Some((reader_from, read)) = first_internal_read(graph, &component) else {
            continue;
        };
        let rest = graph
            .path(&component, read.to, reader_from, any)
            .expect("a strongly connected component has a path between any two nodes");
        let mut steps = vec![(reader_from, read)];
        steps.extend(rest);
        findings.add(AnomalyKind::CyclicInformationFlow, || {
            Witness::Cycle(CycleWitness {
                cycle: graph.dependencies(context, &steps),
            })
        });
    }
}

/// The first write-read edge between two nodes of the component, if any.
fn first_internal_read(graph: &DependencyGraph, component: &[u32]) -> Option<(u32, Edge)> {
    component.iter().find_map(|&node| {
        graph.edges[node as usize]
            .iter()
            .find(|edge| {
                edge.kind == EdgeKind::WriteRead && component.binary_search(&edge.to).is_ok()
            })
            .map(|edge| (node, *edge))
    })
}
