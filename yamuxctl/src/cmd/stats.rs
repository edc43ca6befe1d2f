//! `yamuxctl stats FILE`: per connection and stream, bytes, frames,
//! windows and round trips.

use std::io::{self, Write};
use std::process::ExitCode;

use super::input::{exit_code, notes, InputArgs};
use super::{exit, Io};
use crate::analysis::Analyzer;
use crate::decode::stats::StatsCollector;
use crate::print::Filter;

/// `yamuxctl stats`.
#[derive(Clone, Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    /// Input.
    pub input: InputArgs,
    /// Only this connection.
    #[arg(long)]
    pub conn: Option<u32>,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<u32>,
    /// NDJSON output (schema yamuxctl.stats/v1).
    #[arg(long)]
    pub json: bool,
}

/// Runs `stats`.
pub fn run(args: StatsArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    let reader = args.input.open()?;
    let mut c = StatsCollector::new(Filter {
        conn: args.conn,
        stream: args.stream,
        ..Filter::default()
    });
    let summary = Analyzer::new(args.input.options()).run(reader, &mut c);
    let mut w = io::BufWriter::new(&mut io.out);
    if args.json {
        c.write_json(&mut w)?;
    } else {
        c.write_text(&mut w)?;
    }
    w.flush()?;
    drop(w);
    notes(&args.input.name(), &summary, &mut io.err);
    Ok(exit(exit_code(&summary)))
}
