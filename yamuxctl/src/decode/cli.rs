//! Arguments and entry points of `decode`, `stats` and `follow`, used by
//! `main.rs` and by the tests.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use yamux::frame::{Flags, FrameType};
use yamux::tracker::Side;

use super::follow::{Follow, FollowFormat};
use super::stats::StatsCollector;
use crate::analyze::{Analyzer, Options, Summary};
use crate::capture::CaptureReader;
use crate::print::{printer, Filter, PrintOptions};

/// When to colour text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Capture input and what counts as yamux.
#[derive(Clone, Debug, clap::Args)]
pub struct InputArgs {
    /// A pcap or pcapng file.
    pub file: PathBuf,
    /// Decode TCP connections on this port as yamux (repeatable). Without
    /// it, every connection whose first bytes decode as yamux is decoded.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Out-of-order bytes held per direction before declaring a gap.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub max_held: usize,
}

/// Which frames to show.
#[derive(Clone, Debug, clap::Args)]
pub struct FilterArgs {
    /// Only this connection (ids as printed).
    #[arg(long)]
    pub conn: Option<u32>,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<u32>,
    /// Only these frame types: data, window-update (wu), ping, go-away.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    pub types: Vec<FrameType>,
    /// Only frames carrying all these flags, e.g. `syn`, `fin|ack`.
    #[arg(long, value_parser = parse_flags)]
    pub flags: Option<Flags>,
}

fn parse_type(s: &str) -> Result<FrameType, String> {
    FrameType::from_name(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("unknown frame type {s:?} (data, window-update, ping, go-away)"))
}

fn parse_flags(s: &str) -> Result<Flags, String> {
    Flags::parse(s).ok_or_else(|| format!("bad flags {s:?} (syn, ack, fin, rst joined by |)"))
}

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

/// Direction for `follow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DirChoice {
    /// Initiator to responder.
    A2b,
    /// Responder to initiator.
    B2a,
}

/// `yamuxctl follow`.
#[derive(Clone, Debug, clap::Args)]
pub struct FollowArgs {
    #[command(flatten)]
    /// Input.
    pub input: InputArgs,
    /// The stream to follow.
    #[arg(long)]
    pub stream: u32,
    /// The connection (default: the first with that stream).
    #[arg(long)]
    pub conn: Option<u32>,
    /// Only one direction.
    #[arg(long, value_enum)]
    pub dir: Option<DirChoice>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FollowFormat::Ascii)]
    pub format: FollowFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn open(path: &Path) -> anyhow::Result<CaptureReader<File>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    CaptureReader::new(f).with_context(|| format!("cannot read {}", path.display()))
}

fn options(i: &InputArgs) -> Options {
    Options {
        ports: i.ports.clone(),
        max_held: i.max_held,
        ..Options::default()
    }
}

/// Exit code for a summary: 2 nothing read, 1 findings (warnings, errors)
/// or a damaged capture, 0 otherwise.
pub fn exit_code(s: &Summary) -> u8 {
    if s.packets == 0 && s.read_error.is_some() {
        2
    } else if s.findings[1] + s.findings[2] > 0 || s.read_error.is_some() {
        1
    } else {
        0
    }
}

fn notes(s: &Summary, err: &mut dyn Write) {
    if let Some(e) = &s.read_error {
        let _ = writeln!(err, "yamuxctl: {e} (after {} packets)", s.packets);
    }
    if s.packets > 0 && s.yamux_connections == 0 {
        let _ = writeln!(
            err,
            "yamuxctl: no yamux connection found among {} TCP connections",
            s.connections
        );
    }
}

/// Whether to colour standard output.
pub fn use_color(c: ColorChoice) -> bool {
    match c {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal(),
    }
}

/// Runs `decode`, writing to `out`; returns the exit code.
pub fn decode(args: &DecodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let reader = open(&args.input.file)?;
    let filter = Filter {
        conn: args.filter.conn,
        stream: args.filter.stream,
        types: args.filter.types.clone(),
        flags: args.filter.flags,
    };
    let opts = PrintOptions {
        json: args.json,
        color: use_color(args.color),
        absolute: args.absolute,
        filter,
    };
    let mut p = printer(io::BufWriter::with_capacity(1 << 16, out), opts);
    let summary = Analyzer::new(options(&args.input)).run(reader, &mut *p);
    p.summary(&summary);
    if let Some(e) = p.take_error() {
        return Err(e).context("writing output");
    }
    p.flush().context("writing output")?;
    notes(&summary, err);
    Ok(exit_code(&summary))
}

/// Runs `stats`.
pub fn stats(args: &StatsArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let reader = open(&args.input.file)?;
    let mut c = StatsCollector::new(Filter {
        conn: args.conn,
        stream: args.stream,
        ..Filter::default()
    });
    let summary = Analyzer::new(options(&args.input)).run(reader, &mut c);
    let mut w = io::BufWriter::new(out);
    if args.json {
        c.write_json(&mut w)?;
    } else {
        c.write_text(&mut w)?;
    }
    w.flush()?;
    notes(&summary, err);
    Ok(exit_code(&summary))
}

/// Runs `follow`.
pub fn follow(args: &FollowArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let reader = open(&args.input.file)?;
    let dir = args.dir.map(|d| match d {
        DirChoice::A2b => Side::A,
        DirChoice::B2a => Side::B,
    });
    let sink: Box<dyn Write + '_> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(out),
    };
    let mut f = Follow::new(
        io::BufWriter::with_capacity(1 << 16, sink),
        args.stream,
        args.conn,
        dir,
        args.format,
    );
    let summary = Analyzer::new(options(&args.input)).run(reader, &mut f);
    f.finish()?;
    if let Some(e) = f.error.take() {
        return Err(e).context("writing output");
    }
    notes(&summary, err);
    if f.found.is_none() {
        let _ = writeln!(err, "yamuxctl: stream {} not found", args.stream);
        return Ok(if summary.packets == 0 { 2 } else { 1 });
    }
    Ok(if summary.packets == 0 && summary.read_error.is_some() {
        2
    } else {
        0
    })
}
