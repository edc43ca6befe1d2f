//! The printers of the analysis: human text (like `nghttp -v`) and NDJSON
//! (schema [`DECODE_SCHEMA`]), behind one trait, [`Printer`], so `decode`,
//! `proxy` and `inject` choose one and drive it alike; and what they share
//! (the filter, flag and time formats).

pub mod json;
pub mod text;

use std::io::{self, Write};
use std::time::Duration;

use yamux::frame::{Flags, FrameType, Header};
use yamux::tracker::{Finding, Side};

use crate::analysis::{ConnInfo, Observer, Summary};

/// NDJSON schema of `decode --json` (and `proxy --json`, `inject --json`).
pub const DECODE_SCHEMA: &str = "yamuxctl.decode/v1";

/// A printer: an [`Observer`] that writes what the analysis reports, then
/// the run's summary. Output is buffered; a write error stops the printing
/// and is kept for the caller.
pub trait Printer: Observer {
    /// Prints the summary of a capture's analysis (the last line, or the
    /// `summary` object).
    fn summary(&mut self, s: &Summary);
    /// Pushes buffered output out (a live source calls it when idle).
    fn flush(&mut self) -> io::Result<()>;
    /// Whether a write failed (printing stopped).
    fn failed(&self) -> bool;
    /// The first write error, taken.
    fn take_error(&mut self) -> Option<io::Error>;
}

/// Which printer, and how it prints.
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    /// NDJSON instead of text.
    pub json: bool,
    /// ANSI colours (text).
    pub color: bool,
    /// Absolute UTC times instead of seconds since the first packet (text).
    pub absolute: bool,
    /// What is shown.
    pub filter: Filter,
}

/// The printer `opts` asks for, writing to `w`.
pub fn printer<'a, W: Write + 'a>(w: W, opts: PrintOptions) -> Box<dyn Printer + 'a> {
    if opts.json {
        Box::new(json::JsonOut::new(w, opts.filter))
    } else {
        Box::new(text::TextOut::new(
            w,
            opts.color,
            opts.absolute,
            opts.filter,
        ))
    }
}

/// The parts of a printer the [`Printer`] methods are made of (a sealed
/// trait: the module is private).
mod sealed {
    use super::{Observer, Output, Summary};

    pub trait Prints: Observer {
        type W: std::io::Write;
        fn output(&mut self) -> &mut Output<Self::W>;
        fn output_ref(&self) -> &Output<Self::W>;
        fn write_summary(&mut self, s: &Summary);
    }
}

impl<T: sealed::Prints> Printer for T {
    fn summary(&mut self, s: &Summary) {
        self.write_summary(s);
    }

    fn flush(&mut self) -> io::Result<()> {
        let o = self.output();
        if o.error.is_some() {
            return Ok(());
        }
        o.w.flush()
    }

    fn failed(&self) -> bool {
        self.output_ref().error.is_some()
    }

    fn take_error(&mut self) -> Option<io::Error> {
        self.output().error.take()
    }
}

/// A printer's writer and the first error writing to it: printing stops
/// after one.
pub struct Output<W> {
    w: W,
    error: Option<io::Error>,
}

impl<W: Write> Output<W> {
    fn new(w: W) -> Output<W> {
        Output { w, error: None }
    }

    /// Runs `f` on the writer unless a write failed before; keeps its error.
    fn write(&mut self, f: impl FnOnce(&mut W) -> io::Result<()>) {
        if self.error.is_none() {
            if let Err(e) = f(&mut self.w) {
                self.error = Some(e);
            }
        }
    }
}

/// Which frames and findings to show.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this connection.
    pub conn: Option<u32>,
    /// Only this stream (findings without a stream are still shown).
    pub stream: Option<u32>,
    /// Only these frame types (empty: all).
    pub types: Vec<FrameType>,
    /// Only frames carrying all these flags.
    pub flags: Option<Flags>,
}

impl Filter {
    /// Whether anything of connection `c` is shown.
    pub fn conn_ok(&self, c: &ConnInfo) -> bool {
        self.conn.is_none_or(|id| id == c.id)
    }

    /// Whether this frame is shown.
    pub fn frame_ok(&self, c: &ConnInfo, h: &Header) -> bool {
        self.conn_ok(c)
            && self.stream.is_none_or(|s| s == h.stream_id.val())
            && (self.types.is_empty() || self.types.contains(&h.typ))
            && self.flags.is_none_or(|f| h.flags.contains(f))
    }

    /// Whether this finding is shown.
    pub fn finding_ok(&self, c: &ConnInfo, f: &Finding) -> bool {
        self.conn_ok(c)
            && match (self.stream, f.stream) {
                (Some(want), Some(s)) => want == s,
                _ => true,
            }
    }

    /// Whether connection-level events (gaps, preambles) are shown: not when
    /// a stream, type or flag filter is set.
    pub fn events_ok(&self, c: &ConnInfo) -> bool {
        self.conn_ok(c) && self.stream.is_none() && self.types.is_empty() && self.flags.is_none()
    }
}

/// `a2b` or `b2a`.
pub fn dir_name(side: Side) -> &'static str {
    match side {
        Side::A => "a2b",
        Side::B => "b2a",
    }
}

/// Flags as `SYN|ACK`, `0` for none; no allocation for defined bits.
pub fn flag_names(f: Flags) -> std::borrow::Cow<'static, str> {
    const NAMES: [&str; 16] = [
        "0",
        "SYN",
        "ACK",
        "SYN|ACK",
        "FIN",
        "SYN|FIN",
        "ACK|FIN",
        "SYN|ACK|FIN",
        "RST",
        "SYN|RST",
        "ACK|RST",
        "SYN|ACK|RST",
        "FIN|RST",
        "SYN|FIN|RST",
        "ACK|FIN|RST",
        "SYN|ACK|FIN|RST",
    ];
    if f.unknown().is_empty() {
        std::borrow::Cow::Borrowed(NAMES[usize::from(f.bits() & 0xF)])
    } else {
        std::borrow::Cow::Owned(f.to_string())
    }
}

/// Seconds as `1.234567`.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A UTC time `2026-11-25T01:02:03.123456Z` from time since the epoch.
pub fn utc(ts: Duration) -> String {
    let secs = ts.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ts.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_dates() {
        assert_eq!(utc(Duration::ZERO), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            utc(Duration::from_micros(1_764_032_583_123_456)),
            "2025-11-25T01:03:03.123456Z"
        );
        assert_eq!(
            utc(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn flags_names() {
        assert_eq!(flag_names(Flags::SYN | Flags::ACK), "SYN|ACK");
        assert_eq!(flag_names(Flags::NONE), "0");
        assert_eq!(flag_names(Flags::from_bits(0x8001)), "SYN|0x8000");
    }
}
