//! `yamuxctl follow FILE --stream ID`: one stream's payload each way, like
//! Wireshark's Follow Stream.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yamux::tracker::Side;

use super::input::{notes, InputArgs};
use super::{exit, Io};
use crate::analysis::Analyzer;
use crate::decode::follow::{Follow, FollowFormat};

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

/// Runs `follow`: 0, or 1 when the stream is not in the capture (2 when
/// nothing could be read).
pub fn run(args: FollowArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    let reader = args.input.open()?;
    let dir = args.dir.map(|d| match d {
        DirChoice::A2b => Side::A,
        DirChoice::B2a => Side::B,
    });
    let sink: Box<dyn Write + '_> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(&mut io.out),
    };
    let mut f = Follow::new(
        io::BufWriter::with_capacity(1 << 16, sink),
        args.stream,
        args.conn,
        dir,
        args.format,
    );
    let summary = Analyzer::new(args.input.options()).run(reader, &mut f);
    f.finish()?;
    if let Some(e) = f.error.take() {
        return Err(e).context("writing output");
    }
    let found = f.found.is_some();
    drop(f);
    notes(&args.input.name(), &summary, &mut io.err);
    if !found {
        let _ = writeln!(io.err, "yamuxctl: stream {} not found", args.stream);
        return Ok(exit(if summary.packets == 0 { 2 } else { 1 }));
    }
    Ok(exit(
        if summary.packets == 0 && summary.read_error.is_some() {
            2
        } else {
            0
        },
    ))
}
