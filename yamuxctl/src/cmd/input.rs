//! What `decode`, `stats` and `follow` share: the capture input, the frame
//! filter flags, and how a capture's summary becomes notes and an exit code.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use yamux::frame::{Flags, FrameType};

use crate::analysis::{Options, Summary};
use crate::capture::source::display_name;
use crate::capture::{open_source, CaptureReader};
use crate::print::Filter;

/// Capture input and what counts as yamux.
#[derive(Clone, Debug, clap::Args)]
pub struct InputArgs {
    /// A pcap or pcapng file, or `-` for standard input; gzip-compressed
    /// (`.pcap.gz`, `.pcapng.gz`, recognised by its first bytes) is read
    /// directly.
    pub file: PathBuf,
    /// Decode TCP connections on this port as yamux (repeatable). Without
    /// it, every connection whose first bytes decode as yamux is decoded.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Out-of-order bytes held per direction, and bytes of segments waiting
    /// for the other direction per connection, before declaring a gap.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub max_held: usize,
}

impl InputArgs {
    /// Opens the capture.
    pub fn open(&self) -> anyhow::Result<CaptureReader<Box<dyn Read + Send>>> {
        open(&self.file)
    }

    /// The input's name in messages (`-` for standard input).
    pub fn name(&self) -> String {
        display_name(&self.file)
    }

    /// The analysis options these arguments ask for.
    pub fn options(&self) -> Options {
        Options {
            ports: self.ports.clone(),
            max_held: self.max_held,
            ..Options::default()
        }
    }
}

/// Opens a capture: a file, or standard input for `-`; gzip is recognised
/// by its first bytes and decompressed as it is read. Errors name the input.
pub fn open(path: &Path) -> anyhow::Result<CaptureReader<Box<dyn Read + Send>>> {
    let src = open_source(path)?;
    let what = if src.gzip {
        format!("{} (gunzipped)", display_name(path))
    } else {
        display_name(path)
    };
    CaptureReader::new(src.reader).with_context(|| format!("cannot read {what}"))
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

impl FilterArgs {
    /// The printers' filter.
    pub fn filter(&self) -> Filter {
        Filter {
            conn: self.conn,
            stream: self.stream,
            types: self.types.clone(),
            flags: self.flags,
        }
    }
}

fn parse_type(s: &str) -> Result<FrameType, String> {
    FrameType::from_name(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("unknown frame type {s:?} (data, window-update, ping, go-away)"))
}

fn parse_flags(s: &str) -> Result<Flags, String> {
    Flags::parse(s).ok_or_else(|| format!("bad flags {s:?} (syn, ack, fin, rst joined by |)"))
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

/// The notes a summary of the input `name` calls for on standard error: a
/// read error, or no yamux connection at all.
pub fn notes(name: &str, s: &Summary, err: &mut dyn Write) {
    if let Some(e) = &s.read_error {
        let _ = writeln!(err, "yamuxctl: {name}: {e} (after {} packets)", s.packets);
    }
    if s.packets > 0 && s.yamux_connections == 0 {
        let _ = writeln!(
            err,
            "yamuxctl: no yamux connection found among {} TCP connections",
            s.connections
        );
    }
}
