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

/// The log of a demo run with a crash at 1.5 s and a restart at 2 s, at `level` and above.
fn log_of_crash_and_restart(level: tracing::Level) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .event_format(SimulatedTimeFormat)
        .with_writer(move || writer.clone())
        .with_max_level(level)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut simulation = demo::full_mesh(sim::SimulationConfig::default(), 3, MILLISECOND_NS);
        simulation.run_until(SECOND_NS + 500 * MILLISECOND_NS);
        simulation.crash(NodeId(1));
        simulation.run_until(2 * SECOND_NS);
        simulation.restart(NodeId(1));
    });
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

/// At trace level, the `events` target shows every input a node is handed, a message with its
/// sender's name, and every message dropped on arrival, with why.
#[test]
fn the_event_trace_shows_every_input_and_every_drop() {
    let text = log_of_crash_and_restart(tracing::Level::TRACE);
    let events: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("TRACE events: "))
        .collect();
    assert!(
        events
            .iter()
            .any(|line| line.contains(" d1    TRACE events: Start")),
        "{text:.2000}"
    );
    assert!(
        events
            .iter()
            .any(|line| line.contains(" d1    TRACE events: from d2: ")),
        "{text:.2000}"
    );
    assert!(
        events
            .iter()
            .any(|line| line.contains("TRACE events: timer ") && line.ends_with(" fired")),
        "{text:.2000}"
    );
    let dropped = "TRACE events: dropped a message from d1: the receiver crashed";
    assert!(
        events
            .iter()
            .any(|line| line.contains(" d2    ") && line.contains(dropped)),
        "a message in flight to the crashed d2 is dropped: {text:.2000}"
    );
}

#[test]
fn log_lines_are_stamped_with_simulated_time_and_node_name() {
    let text = log_of_crash_and_restart(tracing::Level::INFO);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("   1.500000000s d2"), "{}", lines[0]);
    assert!(lines[0].contains("crash"), "{}", lines[0]);
    assert!(lines[1].starts_with("   2.000000000s d2"), "{}", lines[1]);
    assert!(lines[1].contains("restart"), "{}", lines[1]);
}
