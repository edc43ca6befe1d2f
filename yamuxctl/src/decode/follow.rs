//! `yamuxctl follow`: one stream's payload each way, like Wireshark's
//! Follow Stream.

use std::borrow::Cow;
use std::io::{self, Write};

use yamux::frame::{FrameType, Header};
use yamux::tracker::Side;

use crate::analysis::{ConnInfo, FrameEvent, Observer};

/// How payload is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FollowFormat {
    /// Printable ASCII, other bytes as `.`; newlines kept.
    Ascii,
    /// Hex dump with offsets.
    Hex,
    /// The bytes as they are.
    Raw,
}

/// Writes one stream's payload as it is decoded.
pub struct Follow<W: Write> {
    w: W,
    stream: u32,
    conn: Option<u32>,
    dir: Option<Side>,
    format: FollowFormat,
    last_side: Option<Side>,
    /// Payload bytes written per side.
    pub bytes: [u64; 2],
    /// Bytes missing per side.
    pub missing: [u64; 2],
    /// Per side: gaps outside any Data body while the stream was live, as
    /// (stream offset, length): frames of the stream may be lost in them,
    /// so `missing` is then a lower bound.
    pub lost: [Vec<(u64, u64)>; 2],
    /// Whether a FIN or RST of each side was seen.
    pub ended: [Option<Cow<'static, str>>; 2],
    /// The connection followed, once found.
    pub found: Option<ConnInfo>,
    /// First write error.
    pub error: Option<io::Error>,
}

impl<W: Write> Follow<W> {
    /// Follows `stream` (on connection `conn`, or the first that has it),
    /// one direction only when `dir` is set.
    pub fn new(
        w: W,
        stream: u32,
        conn: Option<u32>,
        dir: Option<Side>,
        format: FollowFormat,
    ) -> Self {
        Follow {
            w,
            stream,
            conn,
            dir,
            format,
            last_side: None,
            bytes: [0; 2],
            missing: [0; 2],
            lost: [Vec::new(), Vec::new()],
            ended: [None, None],
            found: None,
            error: None,
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.w
    }

    fn wants(&mut self, c: &ConnInfo, side: Side, h: &Header) -> bool {
        if h.stream_id.val() != self.stream || h.typ != FrameType::Data {
            return false;
        }
        if self.dir.is_some_and(|d| d != side) {
            return false;
        }
        match (&self.found, self.conn) {
            (Some(f), _) => f.id == c.id,
            (None, Some(id)) if id != c.id => false,
            (None, _) => {
                self.found = Some(c.clone());
                true
            }
        }
    }

    fn write(&mut self, side: Side, chunk: &[u8]) -> io::Result<()> {
        let arrow = if side == Side::A { "→" } else { "←" };
        if self.format != FollowFormat::Raw && self.last_side != Some(side) {
            if self.last_side.is_some() && self.format == FollowFormat::Ascii {
                writeln!(self.w)?;
            }
            writeln!(self.w, "{arrow} at offset {}", self.bytes[side.idx()])?;
        }
        self.last_side = Some(side);
        let start = self.bytes[side.idx()];
        match self.format {
            FollowFormat::Raw => self.w.write_all(chunk)?,
            FollowFormat::Ascii => {
                let mut line = Vec::with_capacity(chunk.len());
                for &b in chunk {
                    line.push(match b {
                        b'\n' | b'\t' => b,
                        0x20..=0x7E => b,
                        _ => b'.',
                    });
                }
                self.w.write_all(&line)?;
            }
            FollowFormat::Hex => {
                for (n, row) in chunk.chunks(16).enumerate() {
                    let mut hex = String::with_capacity(48);
                    for b in row {
                        hex.push_str(&format!("{b:02x} "));
                    }
                    let ascii: String = row
                        .iter()
                        .map(|&b| {
                            if (0x20..0x7F).contains(&b) {
                                b as char
                            } else {
                                '.'
                            }
                        })
                        .collect();
                    writeln!(
                        self.w,
                        "{arrow} {:08x}  {hex:<48} |{ascii}|",
                        start + 16 * n as u64
                    )?;
                }
            }
        }
        self.bytes[side.idx()] += chunk.len() as u64;
        Ok(())
    }

    /// Ends the output with a one-line summary (not for raw).
    pub fn finish(&mut self) -> io::Result<()> {
        if self.format == FollowFormat::Raw {
            return self.w.flush();
        }
        if self.format == FollowFormat::Ascii && self.last_side.is_some() {
            writeln!(self.w)?;
        }
        if let Some(c) = &self.found {
            let missing = |i: usize| {
                let lost = &self.lost[i];
                if lost.is_empty() {
                    return format!("{} missing", self.missing[i]);
                }
                let total: u64 = lost.iter().map(|g| g.1).sum();
                let at: Vec<String> = lost.iter().map(|(o, l)| format!("{l} at {o}")).collect();
                format!(
                    "≥{} missing: frames may be lost in {total} bytes missing outside Data bodies ({})",
                    self.missing[i],
                    at.join(", ")
                )
            };
            writeln!(
                self.w,
                "== conn {} stream {}: {} bytes → ({}, {}), {} bytes ← ({}, {})",
                c.id,
                self.stream,
                self.bytes[0],
                missing(0),
                self.ended[0].as_deref().unwrap_or("not ended"),
                self.bytes[1],
                missing(1),
                self.ended[1].as_deref().unwrap_or("not ended"),
            )?;
        }
        self.w.flush()
    }
}

impl<W: Write> Observer for Follow<W> {
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        let c = ev.conn;
        let side = ev.side;
        let h = ev.header;
        if h.stream_id.val() != self.stream || self.found.as_ref().is_some_and(|f| f.id != c.id) {
            return;
        }
        if self.conn.is_some_and(|id| id != c.id) {
            return;
        }
        if self.found.is_none() {
            self.found = Some(c.clone());
        }
        if h.flags.contains(yamux::frame::Flags::RST) {
            // length.rst-code: a WU|RST carries an error code.
            let end = match h.typ {
                FrameType::WindowUpdate if h.length != 0 => {
                    Cow::Owned(format!("RST code {}", h.length))
                }
                _ => Cow::Borrowed("RST"),
            };
            self.ended[side.idx()].get_or_insert(end);
        } else if h.flags.contains(yamux::frame::Flags::FIN) {
            self.ended[side.idx()].get_or_insert(Cow::Borrowed("FIN"));
        }
    }

    fn body(&mut self, c: &ConnInfo, side: Side, h: &Header, chunk: &[u8]) {
        if self.error.is_some() || !self.wants(c, side, h) {
            return;
        }
        if let Err(e) = self.write(side, chunk) {
            self.error = Some(e);
        }
    }

    fn gap(
        &mut self,
        c: &ConnInfo,
        side: Side,
        _ts: std::time::Duration,
        offset: u64,
        len: u64,
        frames_lost: bool,
    ) {
        let live = self.found.as_ref().is_some_and(|f| f.id == c.id)
            && self.ended[side.idx()].is_none()
            && self.dir.is_none_or(|d| d == side);
        // listed while the stream is live (bounded: one entry per gap the
        // reassembly declared, at most a few per lost packet)
        if frames_lost && live && self.lost[side.idx()].len() < 64 {
            self.lost[side.idx()].push((offset, len));
        }
    }

    fn body_gap(&mut self, c: &ConnInfo, side: Side, h: &Header, len: u64) {
        if self.error.is_some() || !self.wants(c, side, h) {
            return;
        }
        self.missing[side.idx()] += len;
        if self.format != FollowFormat::Raw {
            let r = writeln!(self.w, "\n[{len} bytes missing from the capture]");
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
    }
}
