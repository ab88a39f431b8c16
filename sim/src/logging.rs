//! Logging through `tracing`, every line stamped with simulated time and the node's name.
//!
//! Silent by default: nothing is installed unless `RUST_LOG` is set, so campaigns pay only a
//! disabled-callsite check per log statement. The simulator records the current simulated time
//! and node in thread-local cells before each step; the formatter reads them. A simulation runs
//! on one thread, so the cells always describe the step being logged.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

const NO_NODE: u32 = u32::MAX;

thread_local! {
    static CURRENT_TIME_NS: Cell<u64> = const { Cell::new(0) };
    static CURRENT_NODE: Cell<u32> = const { Cell::new(NO_NODE) };
    static NODE_NAMES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Records the names the formatter prints for node indices.
pub(crate) fn register_node_names(names: &[String]) {
    NODE_NAMES.with(|cell| *cell.borrow_mut() = names.to_vec());
}

/// Stamps the log lines that follow with this simulated time and node.
#[inline]
pub(crate) fn set_context(time_ns: u64, node: Option<u32>) {
    CURRENT_TIME_NS.with(|cell| cell.set(time_ns));
    CURRENT_NODE.with(|cell| cell.set(node.unwrap_or(NO_NODE)));
}

/// The target of the full event trace: every input a node is handed (its `Debug`), and every
/// message dropped on arrival. `RUST_LOG=events=trace` prints it; a run's `log.txt` (info)
/// leaves it out.
pub const EVENTS_TARGET: &str = "events";

/// Stamps the log lines that follow with no node, at the same time: the driver's own lines.
pub(crate) fn clear_node() {
    CURRENT_NODE.with(|cell| cell.set(NO_NODE));
}

/// Installs a subscriber filtered by `RUST_LOG`, writing to stderr. Does nothing when
/// `RUST_LOG` is unset or a subscriber is already installed.
pub fn init_from_env() {
    let Ok(directives) = std::env::var("RUST_LOG") else {
        return;
    };
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(SimulatedTimeFormat)
        .try_init();
}

/// Formats `  12.000345678s b1    INFO sim::simulation: message`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimulatedTimeFormat;

impl<S, N> FormatEvent<S, N> for SimulatedTimeFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let time_ns = CURRENT_TIME_NS.with(Cell::get);
        let node = CURRENT_NODE.with(Cell::get);
        let name = NODE_NAMES.with(|cell| {
            cell.borrow()
                .get(node as usize)
                .cloned()
                .unwrap_or_else(|| "-".to_string())
        });
        let metadata = event.metadata();
        write!(
            writer,
            "{:>4}.{:09}s {:<5} {:>5} {}: ",
            time_ns / 1_000_000_000,
            time_ns % 1_000_000_000,
            name,
            metadata.level(),
            metadata.target()
        )?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
