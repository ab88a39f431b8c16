//! History checking: read a history (`shared/design/HISTORY.md`), build its compact model and
//! version orders, run every analysis, and judge the findings against a [`CheckConfig`].
//!
//! Infrastructure:
//! - [`operation`]: the typed form of a history line.
//! - [`reader`]: the strict, streaming JSON Lines reader (with a typed fast path for common
//!   lines, `fast_reader`); [`error`]: its errors.
//! - [`writer`]: writes operations back as history lines (what a simulator records).
//! - [`model`]: the compact, interned form the analyses share.
//! - [`version_order`]: each key's order of observed records.
//! - [`context`]: lookups from values to writers and readers.
//! - [`consumer_position`], [`producer_position`]: walks over successive reads and sends.
//! - [`dependency_graph`]: ww/wr dependencies between committed transactions; Tarjan's SCCs.
//! - [`anomaly`], [`config`], [`report`]: names, witnesses, configuration and verdict.
//!
//! One guarantee per file (anomaly names, then the file):
//! - `lost-write` in [`lost_write`]; `unseen` in [`unseen`]; `duplicate` in [`duplicate`].
//! - `inconsistent-offsets` in [`inconsistent_offsets`]; `G1a` in [`aborted_read`].
//! - `precommitted-read` in [`precommitted_read`].
//! - `poll-skip`, `int-poll-skip` in [`poll_skip`]; `nonmonotonic-poll`,
//!   `int-nonmonotonic-poll` in [`nonmonotonic_poll`].
//! - `nonmonotonic-send`, `int-nonmonotonic-send` in [`nonmonotonic_send`]; `int-send-skip` in
//!   [`send_skip`].
//! - `G0` in [`write_cycle`]; `G1c` in [`information_flow_cycle`].
//! - `duplicate-consumption`, `lost-consumption` in [`exactly_once`].
//! - `committed-offset-regression` in [`committed_offsets`].

use std::io::BufRead;

pub mod aborted_read;
pub mod anomaly;
pub mod committed_offsets;
pub mod config;
pub mod consumer_position;
pub mod context;
pub mod dependency_graph;
pub mod duplicate;
pub mod error;
pub mod exactly_once;
mod fast_reader;
pub mod inconsistent_offsets;
pub mod information_flow_cycle;
pub mod lost_write;
pub mod model;
pub mod nonmonotonic_poll;
pub mod nonmonotonic_send;
pub mod operation;
pub mod poll_skip;
pub mod precommitted_read;
pub mod producer_position;
pub mod reader;
pub mod report;
pub mod send_skip;
pub mod unseen;
pub mod version_order;
pub mod write_cycle;
pub mod writer;

pub use anomaly::{AnomalyKind, Witness};
pub use config::{Acks, CheckConfig, ConsumerMode, RebalanceProtocol};
pub use error::ReadError;
pub use model::{Model, ModelBuilder, OperationRef, Outcome};
pub use operation::{
    Function, MicroOperation, Operation, OperationType, OperationValue, PolledKey,
};
pub use reader::{HistoryReader, HistoryValidator};
pub use report::Report;
pub use writer::{write_header, write_operation};

use anomaly::Findings;
use context::Context;
use dependency_graph::DependencyGraph;

/// Reads a history from `input` (streaming, strictly validated) and checks it.
pub fn check_history<R: BufRead>(input: R, config: &CheckConfig) -> Result<Report, ReadError> {
    let mut builder = ModelBuilder::new();
    for operation in HistoryReader::new(input) {
        builder.add(operation?);
    }
    Ok(check_model(&builder.finish(), config))
}

/// Checks operations already in memory (a simulator's own history), validated exactly as the
/// reader validates a file: an error names the operation by its 1-based position ("line").
pub fn check_operations(
    operations: impl IntoIterator<Item = Operation>,
    config: &CheckConfig,
) -> Result<Report, ReadError> {
    let mut validator = HistoryValidator::new();
    let mut builder = ModelBuilder::new();
    for (position, operation) in operations.into_iter().enumerate() {
        builder.add(validator.validate(position as u64 + 1, operation)?);
    }
    Ok(check_model(&builder.finish(), config))
}

/// Runs every analysis over a built model.
pub fn check_model(model: &Model, config: &CheckConfig) -> Report {
    let context = Context::new(model);
    let mut findings = Findings::new(config.witnesses_per_anomaly_max);
    let highest_reads = lost_write::highest_reads(&context);
    lost_write::analyse(&context, &highest_reads, &mut findings);
    unseen::analyse(&context, &highest_reads, &mut findings);
    duplicate::analyse(&context, &mut findings);
    inconsistent_offsets::analyse(&context, config.acks, &mut findings);
    aborted_read::analyse(&context, &mut findings);
    precommitted_read::analyse(&context, &mut findings);
    consumer_position::walk_reads(&context, config, |step| {
        poll_skip::judge(&context, config.acks, &step, &mut findings);
        nonmonotonic_poll::judge(&context, &step, &mut findings);
    });
    producer_position::walk_sends(&context, |step| {
        nonmonotonic_send::judge(&context, &step, &mut findings);
        send_skip::judge(&context, &step, &mut findings);
    });
    let graph = DependencyGraph::build(&context);
    write_cycle::analyse(&context, &graph, &mut findings);
    information_flow_cycle::analyse(&context, &graph, &mut findings);
    exactly_once::analyse(&context, config, &mut findings);
    committed_offsets::analyse(&context, &mut findings);
    Report::new(findings, config, model.stats.clone())
}
