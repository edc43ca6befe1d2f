//! `yamuxctl bench`: throughput, latency, open rate and memory of every
//! implementation against itself, beside raw TCP (docs/performance.md).

use std::io::Write;
use std::process::ExitCode;

use super::{exit, Io};
use crate::bench::{report, Plan};

/// `yamuxctl bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Implementations to measure (adapter names under conformance/adapters,
    /// plus `raw-tcp` and `reference`); default: all. raw-tcp and reference
    /// are always included, as the baselines of the ratios.
    #[arg(long = "impl", value_name = "NAME")]
    pub impls: Vec<String>,
    /// Small sizes and one repetition (for CI).
    #[arg(long)]
    pub quick: bool,
    /// Repetitions (default 3; 1 with --quick).
    #[arg(long)]
    pub reps: Option<u32>,
    /// Only these scenarios: single, multi, rr, open, idle.
    #[arg(long, value_name = "SCENARIO")]
    pub only: Vec<String>,
    /// NDJSON (schema yamuxctl.bench/v1) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bench`: progress on `io.err`, the table (or NDJSON) on `io.out`;
/// exit 0, or 2 when raw TCP or the reference (our own harness) failed.
pub fn run(args: BenchArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    let plan = Plan {
        impls: args.impls,
        quick: args.quick,
        reps: args.reps.unwrap_or(if args.quick { 1 } else { 3 }),
        only: args.only,
    };
    let r = crate::bench::run(&plan, &mut io.err)?;
    if args.json {
        write!(io.out, "{}", report::ndjson(&r.info, &r.figs))?;
    } else {
        write!(io.out, "{}", report::text(&r.info, &r.figs))?;
    }
    io.out.flush()?;
    if r.harness_errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for e in &r.harness_errors {
        writeln!(io.err, "yamuxctl bench: {e}")?;
    }
    Ok(exit(2))
}
