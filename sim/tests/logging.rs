//! Log lines carry the simulated time and the node's name, so a replayed run's log reads like a
//! distributed system's, not like the simulator's wall clock.

mod demo;

use std::io::Write;
use std::sync::{Arc, Mutex};

use demo::{MILLISECOND_NS, SECOND_NS};
use sim::NodeId;
use sim::logging::SimulatedTimeFormat;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_lines_are_stamped_with_simulated_time_and_node_name() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .event_format(SimulatedTimeFormat)
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut simulation = demo::full_mesh(sim::SimulationConfig::default(), 3, MILLISECOND_NS);
        simulation.run_until(SECOND_NS + 500 * MILLISECOND_NS);
        simulation.crash(NodeId(1));
        simulation.run_until(2 * SECOND_NS);
        simulation.restart(NodeId(1));
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("   1.500000000s d2"), "{}", lines[0]);
    assert!(lines[0].contains("crash"), "{}", lines[0]);
    assert!(lines[1].starts_with("   2.000000000s d2"), "{}", lines[1]);
    assert!(lines[1].contains("restart"), "{}", lines[1]);
}
