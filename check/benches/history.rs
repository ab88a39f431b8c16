//! Benchmark: check a generated valid history of 1,000,000 operations (lines) and report the
//! throughput and the checker's peak memory. Target: at most 3 s and 1 GiB in release.
//!
//! The parent process generates the history and writes it to a temporary file; a child process
//! (this binary again, with `--check-file PATH`) reads and checks it, so that the peak resident
//! memory it reports (`VmHWM` from `/proc/self/status`) is the checker's alone.
//!
//! Run: `cargo bench -p check --bench history`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[path = "../tests/support/generate.rs"]
#[allow(dead_code)]
mod generate;

use check::CheckConfig;
use check::history::{HistoryReader, ModelBuilder, check_model};
use generate::{Generator, Shape, line_json};

const LINES: usize = 1_000_000;
const SEED: u64 = 0x5EED;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    if let Some(position) = arguments
        .iter()
        .position(|argument| argument == "--check-file")
    {
        return check_file(Path::new(&arguments[position + 1]));
    }
    // For profiling: only write the history.
    if let Some(position) = arguments
        .iter()
        .position(|argument| argument == "--write-file")
    {
        write_history(&PathBuf::from(&arguments[position + 1]));
        return ExitCode::SUCCESS;
    }
    let path = std::env::temp_dir().join(format!("trial-check-bench-{}.jsonl", std::process::id()));
    let lines = write_history(&path);
    println!("generated {lines} lines into {}", path.display());
    let status = Command::new(std::env::current_exe().expect("own executable"))
        .arg("--check-file")
        .arg(&path)
        .status()
        .expect("run the checking child");
    let _ = std::fs::remove_file(&path);
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_history(path: &PathBuf) -> usize {
    let shape = Shape {
        keys: 64,
        producers: 8,
        transactional_producers: 2,
        free_consumers: 4,
        group_members: 4,
        transactional_consumers: 2,
        lines: LINES,
        cooperative: false,
    };
    let lines = Generator::generate(SEED, shape);
    let mut writer = BufWriter::new(File::create(path).expect("create the history file"));
    for (index, line) in lines.iter().enumerate() {
        serde_json::to_writer(&mut writer, &line_json(index, line)).expect("write a line");
        writer.write_all(b"\n").expect("write a newline");
    }
    writer.flush().expect("flush the history file");
    lines.len()
}

// Benchmarks time themselves: the wall clock is allowed here, never in check/src.
#[allow(clippy::disallowed_methods)]
fn check_file(path: &Path) -> ExitCode {
    let bytes = std::fs::metadata(path)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    let config = CheckConfig {
        drained: true,
        exactly_once: true,
        ..CheckConfig::default()
    };
    let started = std::time::Instant::now();
    let input = BufReader::with_capacity(1 << 20, File::open(path).expect("open the history"));
    // The same steps as `check_history`, timed apart: reading (parse, validate, build the
    // model), then the analyses.
    let mut builder = ModelBuilder::new();
    for operation in HistoryReader::new(input) {
        builder.add(operation.expect("the generated history is well formed"));
    }
    let model = builder.finish();
    let read = started.elapsed();
    let report = check_model(&model, &config);
    let elapsed = started.elapsed();
    println!(
        "reading {:.3} s, analyses {:.3} s; {} sends, {} reads, {} commits",
        read.as_secs_f64(),
        (elapsed - read).as_secs_f64(),
        report.stats.sends,
        report.stats.reads,
        report.stats.commits
    );
    let operations = report.stats.operations;
    let seconds = elapsed.as_secs_f64();
    println!(
        "checked {operations} operations ({} MiB) in {seconds:.3} s: {:.0} ops/s; peak memory {}; valid={} anomalies={:?}",
        bytes >> 20,
        operations as f64 / seconds,
        peak_memory(),
        report.valid,
        report.anomaly_counts,
    );
    if let Some((on_cpu, waiting)) = scheduler_times() {
        println!(
            "this process: {on_cpu:.3} s on a CPU, {waiting:.3} s waiting for one (other load on the machine)"
        );
    }
    if report.valid && report.anomaly_counts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Seconds this process ran on a CPU and waited for one, from `/proc/self/schedstat`.
fn scheduler_times() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<u64>().ok());
    let on_cpu_ns = fields.next()??;
    let waiting_ns = fields.next()??;
    Some((on_cpu_ns as f64 / 1e9, waiting_ns as f64 / 1e9))
}

/// `VmHWM` (peak resident set) from `/proc/self/status`, or "unknown" off Linux.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .map(|line| line.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}
