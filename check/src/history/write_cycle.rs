//! `G0` (write cycle): committed transactions' writes are ordered consistently: no cycle of
//! write-write dependencies (T1 wrote a version of one key before T2 did, and T2 wrote a version
//! of another key before T1 did). Kafka's transactions make writes atomic, not isolated, so
//! Jepsen found G0 normal for them; it is a violation only for a configuration that demands
//! serializable writes.
//!
//! Source: Adya's G0; Jepsen's Kafka workload (`jepsen.tests.kafka`, G0).

use super::anomaly::{AnomalyKind, CycleWitness, Findings, Witness};
use super::context::Context;
use super::dependency_graph::{DependencyGraph, EdgeKind};

pub fn analyse(context: &Context, graph: &DependencyGraph, findings: &mut Findings) {
    let write_write = |edge: &super::dependency_graph::Edge| edge.kind == EdgeKind::WriteWrite;
    for component in graph.components(write_write) {
        let start = component[0];
        let first = graph.edges[start as usize]
            .iter()
            .find(|edge| write_write(edge) && component.binary_search(&edge.to).is_ok())
            .copied()
            .expect("a node of a strongly connected component has an edge inside it");
        let rest = graph
            .path(&component, first.to, start, write_write)
            .expect("a strongly connected component has a path between any two nodes");
        let mut steps = vec![(start, first)];
        steps.extend(rest);
        findings.add(AnomalyKind::WriteCycle, || {
            Witness::Cycle(CycleWitness {
                cycle: graph.dependencies(context, &steps),
            })
        });
    }
}
