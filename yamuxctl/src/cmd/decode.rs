//! `yamuxctl decode FILE`: one line (or NDJSON object) per frame of a
//! capture, with per-stream windows and findings.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::input::{exit_code, notes, FilterArgs, InputArgs};
use super::{exit, use_color, ColorChoice, Io};
use crate::analysis::Analyzer;
use crate::print::{printer, PrintOptions};

/// `yamuxctl decode`.
#[derive(Clone, Debug, clap::Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    /// Input.
    pub input: InputArgs,
    #[command(flatten)]
    /// Filters.
    pub filter: FilterArgs,
    /// NDJSON output (schema yamuxctl.decode/v1).
    #[arg(long)]
    pub json: bool,
    /// Absolute UTC times instead of seconds since the first packet.
    #[arg(long)]
    pub absolute: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Runs `decode`.
pub fn run(args: DecodeArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    decode(&args, &mut io.out, &mut io.err).map(exit)
}

/// `decode` writing to `out` and `err`; returns the exit status.
pub fn decode(args: &DecodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let reader = args.input.open()?;
    let opts = PrintOptions {
        json: args.json,
        color: use_color(args.color),
        absolute: args.absolute,
        filter: args.filter.filter(),
    };
    let mut p = printer(io::BufWriter::with_capacity(1 << 16, out), opts);
    let summary = Analyzer::new(args.input.options()).run(reader, &mut *p);
    p.summary(&summary);
    if let Some(e) = p.take_error() {
        return Err(e).context("writing output");
    }
    p.flush().context("writing output")?;
    notes(&args.input.name(), &summary, err);
    Ok(exit_code(&summary))
}
