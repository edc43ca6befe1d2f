//! Human-readable decode output: one line per frame, like `nghttp -v`.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use yamux::frame::{Flags, FrameType, GoAwayCode, Header};
use yamux::tracker::{
    Bound, Finding, FrameRecord, PreambleLine, Severity, Side, StreamPhase, Tracker, Undecodable,
};

use super::{flag_names, sealed, utc, Filter, Output};
use crate::analysis::{ConnInfo, FrameEvent, Observer, Summary, TcpFigures};

/// `→` for side A (the initiator) sending, `←` for side B.
pub fn side_arrow(side: Side) -> &'static str {
    match side {
        Side::A => "→",
        Side::B => "←",
    }
}

/// The part of a frame line after the direction arrow: type, flags, stream,
/// value, then the window change, phase and round trip the tracker recorded.
/// `typ` wraps the type name (ANSI codes, or nothing). Shared by `decode`
/// and the frame log of `watch`.
pub fn frame_fields(h: &Header, rec: &FrameRecord, typ: (&str, &str)) -> String {
    let mut line = String::with_capacity(96);
    write_frame_fields(&mut line, h, rec, typ);
    line
}

/// Appends the fields of [`frame_fields`] to `line` (no allocation beyond
/// the flag names): the one formatting of a frame, shared by `decode`, the
/// relay and the TUI's frame log.
pub fn write_frame_fields(line: &mut String, h: &Header, rec: &FrameRecord, typ: (&str, &str)) {
    let (ts_, te) = typ;
    let flags = flag_names(h.flags);
    let _ = write!(
        line,
        "{ts_}{:<13}{te} {:<11} stream {:<5} ",
        h.typ.name(),
        if h.flags.is_empty() { "-" } else { &flags },
        h.stream_id.val(),
    );
    let at = line.len();
    let _ = match h.typ {
        FrameType::Data => write!(line, "len {}", h.length),
        // length.rst-code: with RST the Length is an error code, not credit.
        FrameType::WindowUpdate if h.flags.contains(Flags::RST) => {
            write!(line, "code {}", h.length)
        }
        FrameType::WindowUpdate => write!(line, "delta {}", h.length),
        FrameType::Ping => write!(line, "value {}", h.length),
        FrameType::GoAway => write!(line, "code {}", GoAwayCode::new(h.length)),
    };
    while line.len() < at + 16 {
        line.push(' ');
    }
    if let Some(w) = rec.window {
        let _ = match w.bound {
            Bound::Exact => write!(line, " window {} → {}", w.before, w.after),
            // a bound (≤, ≥) once frames of a side may be missing
            b => {
                let b = b.sign();
                write!(line, " window {b}{} → {b}{}", w.before, w.after)
            }
        };
    }
    let _ = match rec.phase {
        Some(StreamPhase::HalfClosed(s)) => write!(line, "  half-closed {}", side_arrow(s)),
        Some(StreamPhase::Reset(s)) => write!(line, "  reset {}", side_arrow(s)),
        Some(p) => write!(line, "  {}", p.name()),
        None => Ok(()),
    };
    if let Some(rtt) = rec.rtt {
        let _ = write!(line, " rtt {:.3} ms", rtt.as_secs_f64() * 1e3);
    }
}

/// ANSI styles, or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colours when `on`.
    pub fn new(on: bool) -> Style {
        Style { on }
    }
    fn paint(&self, code: &'static str) -> (&'static str, &'static str) {
        if self.on {
            (code, "\x1b[0m")
        } else {
            ("", "")
        }
    }
}

/// Prints decode output as text.
pub struct TextOut<W: Write> {
    out: Output<W>,
    style: Style,
    absolute: bool,
    start: Duration,
    filter: Filter,
    line: String,
}

impl<W: Write> TextOut<W> {
    /// A printer writing to `w`.
    pub fn new(w: W, color: bool, absolute: bool, filter: Filter) -> TextOut<W> {
        TextOut {
            out: Output::new(w),
            style: Style::new(color),
            absolute,
            start: Duration::ZERO,
            filter,
            line: String::with_capacity(256),
        }
    }

    fn put(&mut self, args: std::fmt::Arguments<'_>) {
        self.out.write(|w| w.write_fmt(args));
    }

    fn time(&self, ts: Duration) -> String {
        if self.absolute {
            utc(ts)
        } else {
            format!("{:>11.6}", ts.saturating_sub(self.start).as_secs_f64())
        }
    }

    fn pad(&self) -> &'static str {
        if self.absolute {
            "                           "
        } else {
            "           "
        }
    }

    fn arrow(side: Side) -> &'static str {
        side_arrow(side)
    }

    fn finding_line(&mut self, f: &Finding) {
        let (s, e) = self.style.paint(match f.severity {
            Severity::Error => "\x1b[1;31m",
            Severity::Warning => "\x1b[33m",
            Severity::Info => "\x1b[34m",
        });
        let pad = self.pad();
        self.put(format_args!(
            "{pad}  {s}! {} {} ({}){e}: {}\n",
            f.severity.name(),
            f.kind,
            f.rule,
            f.message
        ));
    }

    fn summary_lines(&mut self, s: &Summary) {
        self.put(format_args!(
            "summary: {} packets, {} TCP connections, {} yamux, {} frames; findings: {} errors, {} warnings, {} info\n",
            s.packets, s.connections, s.yamux_connections, s.frames, s.findings[2], s.findings[1], s.findings[0]
        ));
        if s.bad_packets > 0 {
            self.put(format_args!(
                "note: {} packets could not be parsed",
                s.bad_packets
            ));
            let ex: Vec<String> = s
                .bad_packet_examples
                .iter()
                .map(|(i, r)| format!("#{i}: {r}"))
                .collect();
            self.put(format_args!(" ({})\n", ex.join("; ")));
        }
        if let Some(e) = &s.read_error {
            self.put(format_args!("note: reading stopped early: {e}\n"));
        }
    }
}

impl<W: Write> sealed::Prints for TextOut<W> {
    type W = W;

    fn output(&mut self) -> &mut Output<W> {
        &mut self.out
    }

    fn output_ref(&self) -> &Output<W> {
        &self.out
    }

    fn write_summary(&mut self, s: &Summary) {
        self.summary_lines(s);
    }
}

impl<W: Write> Observer for TextOut<W> {
    fn start(&mut self, ts: Duration) {
        self.start = ts;
    }

    fn connection(&mut self, c: &ConnInfo) {
        if !self.filter.conn_ok(c) {
            return;
        }
        let (s, e) = self.style.paint("\x1b[1m");
        let how = if c.handshake {
            "TCP handshake seen"
        } else {
            "start missing from the capture: decoding from the first plausible header"
        };
        self.put(format_args!(
            "{s}conn {}: {} → {}{e} ({how})\n",
            c.id, c.a, c.b
        ));
    }

    fn preamble(&mut self, c: &ConnInfo, side: Side, ts: Duration, line: &PreambleLine) {
        if !self.filter.events_ok(c) {
            return;
        }
        let t = self.time(ts);
        self.put(format_args!(
            "{t}  {} {}  multistream   {:?}\n",
            c.id,
            Self::arrow(side),
            line.text
        ));
    }

    fn frame(&mut self, ev: &FrameEvent<'_>) {
        let c = ev.conn;
        let side = ev.side;
        let ts = ev.ts;
        let h = ev.header;
        let rec = ev.record;
        let findings = ev.findings;
        if self.filter.frame_ok(c, h) {
            // one reused buffer: no allocation per frame
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            let (ds, de) = self.style.paint("\x1b[2m");
            let (ts_, te) = self.style.paint(match h.typ {
                FrameType::Data => "\x1b[32m",
                FrameType::WindowUpdate => "\x1b[36m",
                FrameType::Ping => "\x1b[35m",
                FrameType::GoAway => "\x1b[1;33m",
            });
            line.push_str(ds);
            if self.absolute {
                line.push_str(&utc(ts));
            } else {
                let _ = write!(
                    line,
                    "{:>11.6}",
                    ts.saturating_sub(self.start).as_secs_f64()
                );
            }
            let _ = write!(line, "{de}  {} {}  ", c.id, Self::arrow(side));
            write_frame_fields(&mut line, h, rec, (ts_, te));
            let trimmed = line.trim_end().len();
            line.truncate(trimmed);
            line.push('\n');
            self.out.write(|w| w.write_all(line.as_bytes()));
            self.line = line;
        }
        let shown = self.filter.frame_ok(c, h);
        // findings of a hidden frame only when they name a stream shown
        for f in findings.iter().filter(|f| shown || f.stream.is_some()) {
            if self.filter.finding_ok(c, f) {
                self.finding_line(f);
            }
        }
    }

    fn gap(
        &mut self,
        c: &ConnInfo,
        side: Side,
        ts: Duration,
        offset: u64,
        len: u64,
        frames_lost: bool,
    ) {
        if !self.filter.events_ok(c) {
            return;
        }
        let t = self.time(ts);
        let (s, e) = self.style.paint("\x1b[33m");
        let then = if frames_lost {
            " (outside any Data body: frames may be lost, so figures of live streams are bounds from here)"
        } else {
            ""
        };
        self.put(format_args!(
            "{t}  {} {}  {s}gap: {len} bytes missing from the capture at stream offset {offset}{then}{e}\n",
            c.id,
            Self::arrow(side)
        ));
    }

    fn skipped(&mut self, c: &ConnInfo, side: Side, ts: Duration, u: &Undecodable) {
        if !self.filter.events_ok(c) || u.is_violation() {
            return;
        }
        let t = self.time(ts);
        self.put(format_args!(
            "{t}  {} {}  skipped {} bytes at stream offset {} ({}){}\n",
            c.id,
            Self::arrow(side),
            u.len,
            u.offset,
            u.reason,
            if u.resynced {
                "; resynchronised on a plausible header"
            } else {
                "; no frame found after them"
            }
        ));
    }

    fn truncated(&mut self, c: &ConnInfo, side: Side, offset: u64, have: u64, needed: u64) {
        if !self.filter.events_ok(c) {
            return;
        }
        let pad = self.pad();
        self.put(format_args!(
            "{pad}  {} {}  capture ends inside a frame at stream offset {offset}: {have} bytes present, {needed} missing\n",
            c.id,
            Self::arrow(side)
        ));
    }

    fn finding(&mut self, c: &ConnInfo, _ts: Duration, f: &Finding) {
        if self.filter.finding_ok(c, f) {
            self.finding_line(f);
        }
    }

    fn conn_end(&mut self, _c: &ConnInfo, _t: &Tracker, _tcp: &TcpFigures) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use yamux::frame::StreamId;
    use yamux::tracker::Tracker;

    fn line(
        t: &mut Tracker,
        side: Side,
        typ: FrameType,
        flags: Flags,
        id: u32,
        len: u32,
    ) -> String {
        let h = Header::new(typ, flags, StreamId::new(id), len);
        let rec = t.on_frame(side, Duration::ZERO, &h);
        frame_fields(&h, &rec, ("", ""))
    }

    #[test]
    fn rst_length_shows_as_a_code_without_window_change() {
        let mut t = Tracker::new(Some(Side::A), false);
        line(&mut t, Side::A, FrameType::WindowUpdate, Flags::SYN, 1, 0);
        let wu = line(&mut t, Side::B, FrameType::WindowUpdate, Flags::RST, 1, 42);
        assert_eq!(
            wu,
            "window-update RST         stream 1     code 42           reset ←"
        );
        line(&mut t, Side::A, FrameType::WindowUpdate, Flags::SYN, 3, 0);
        let d = line(&mut t, Side::B, FrameType::Data, Flags::RST, 3, 10);
        assert!(d.contains("len 10"), "{d}");
        assert!(d.contains("window 262144 → 262134"), "{d}");
        let ga = line(&mut t, Side::A, FrameType::GoAway, Flags::NONE, 0, 0x1005);
        assert!(ga.contains("code 0x1005 (unknown)"), "{ga}");
    }
}
