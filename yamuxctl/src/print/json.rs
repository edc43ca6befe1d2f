//! NDJSON decode output, schema [`DECODE_SCHEMA`]: one object per line, each
//! with `schema` and `kind` (`connection`, `preamble`, `frame`, `finding`,
//! `gap`, `skip`, `truncated`, `summary`). Times are seconds: `time`
//! relative to the first packet, `epoch` since 1970.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use yamux::tracker::{Bound, Finding, PreambleLine, Side, Tracker, Undecodable};

use super::{dir_name, flag_names, sealed, Filter, Output, DECODE_SCHEMA};
use crate::analysis::{ConnInfo, FrameEvent, Observer, Summary, TcpFigures};

/// Prints decode output as NDJSON.
pub struct JsonOut<W: Write> {
    out: Output<W>,
    start: Duration,
    filter: Filter,
}

#[derive(Serialize)]
struct Conn {
    schema: &'static str,
    kind: &'static str,
    conn: u32,
    a: String,
    b: String,
    handshake: bool,
    time: f64,
    epoch: f64,
}

#[derive(Serialize)]
struct Window {
    side: &'static str,
    before: i64,
    after: i64,
    /// `at-most` or `at-least` when frames of a side were lost from the
    /// capture; absent when exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<&'static str>,
}

#[derive(Serialize)]
struct FrameObj<'a> {
    schema: &'static str,
    kind: &'static str,
    conn: u32,
    dir: &'static str,
    time: f64,
    epoch: f64,
    offset: u64,
    #[serde(rename = "type")]
    typ: &'static str,
    flags: u16,
    flag_names: Cow<'a, str>,
    stream: u32,
    length: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<Window>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    /// The Length of a Go Away or of a `WU|RST`, read as an error code
    /// (`goaway.codes`, `length.rst-code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
}

#[derive(Serialize)]
struct FindingObj<'a> {
    schema: &'static str,
    kind: &'static str,
    conn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<&'static str>,
    time: f64,
    epoch: f64,
    id: &'static str,
    rule: &'static str,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<u32>,
    message: &'a str,
}

#[derive(Serialize)]
struct Event<'a> {
    schema: &'static str,
    kind: &'static str,
    conn: u32,
    dir: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<f64>,
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resynced: Option<bool>,
    /// On a gap: whether frames may be lost in it (not all inside one
    /// Data body whose header was seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    frames_lost: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    have: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needed: Option<u64>,
}

impl Event<'_> {
    fn new(kind: &'static str, c: &ConnInfo, side: Side, offset: u64) -> Event<'static> {
        Event {
            schema: DECODE_SCHEMA,
            kind,
            conn: c.id,
            dir: dir_name(side),
            time: None,
            epoch: None,
            offset,
            len: None,
            text: None,
            reason: None,
            resynced: None,
            frames_lost: None,
            have: None,
            needed: None,
        }
    }
}

#[derive(Serialize)]
struct Counts {
    info: u64,
    warning: u64,
    error: u64,
}

#[derive(Serialize)]
struct SummaryObj<'a> {
    schema: &'static str,
    kind: &'static str,
    packets: u64,
    captured_bytes: u64,
    tcp_segments: u64,
    connections: u32,
    yamux_connections: u32,
    frames: u64,
    findings: Counts,
    bad_packets: u64,
    read_error: Option<&'a str>,
    duration: f64,
    peak_held_bytes: usize,
}

impl<W: Write> JsonOut<W> {
    /// A printer writing to `w`.
    pub fn new(w: W, filter: Filter) -> JsonOut<W> {
        JsonOut {
            out: Output::new(w),
            start: Duration::ZERO,
            filter,
        }
    }

    fn emit<T: Serialize>(&mut self, v: &T) {
        self.out.write(|w| {
            serde_json::to_writer(&mut *w, v).map_err(io::Error::from)?;
            w.write_all(b"\n")
        });
    }

    fn rel(&self, ts: Duration) -> f64 {
        ts.saturating_sub(self.start).as_secs_f64()
    }

    fn finding_obj(&mut self, c: &ConnInfo, ts: Duration, f: &Finding) {
        if !self.filter.finding_ok(c, f) {
            return;
        }
        let o = FindingObj {
            schema: DECODE_SCHEMA,
            kind: "finding",
            conn: c.id,
            dir: f.side.map(dir_name),
            time: self.rel(ts),
            epoch: ts.as_secs_f64(),
            id: f.kind.name(),
            rule: f.rule.id(),
            severity: f.severity.name(),
            stream: f.stream,
            message: &f.message,
        };
        self.emit(&o);
    }

    fn summary_object(&mut self, s: &Summary) {
        let o = SummaryObj {
            schema: DECODE_SCHEMA,
            kind: "summary",
            packets: s.packets,
            captured_bytes: s.captured_bytes,
            tcp_segments: s.tcp_segments,
            connections: s.connections,
            yamux_connections: s.yamux_connections,
            frames: s.frames,
            findings: Counts {
                info: s.findings[0],
                warning: s.findings[1],
                error: s.findings[2],
            },
            bad_packets: s.bad_packets,
            read_error: s.read_error.as_deref(),
            duration: match (s.first, s.last) {
                (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
                _ => 0.0,
            },
            peak_held_bytes: s.peak_held,
        };
        self.emit(&o);
    }
}

impl<W: Write> sealed::Prints for JsonOut<W> {
    type W = W;

    fn output(&mut self) -> &mut Output<W> {
        &mut self.out
    }

    fn output_ref(&self) -> &Output<W> {
        &self.out
    }

    fn write_summary(&mut self, s: &Summary) {
        self.summary_object(s);
    }
}

impl<W: Write> Observer for JsonOut<W> {
    fn start(&mut self, ts: Duration) {
        self.start = ts;
    }

    fn connection(&mut self, c: &ConnInfo) {
        if !self.filter.conn_ok(c) {
            return;
        }
        let o = Conn {
            schema: DECODE_SCHEMA,
            kind: "connection",
            conn: c.id,
            a: c.a.to_string(),
            b: c.b.to_string(),
            handshake: c.handshake,
            time: self.rel(c.first),
            epoch: c.first.as_secs_f64(),
        };
        self.emit(&o);
    }

    fn preamble(&mut self, c: &ConnInfo, side: Side, ts: Duration, line: &PreambleLine) {
        if !self.filter.events_ok(c) {
            return;
        }
        let mut e = Event::new("preamble", c, side, line.offset);
        e.time = Some(self.rel(ts));
        e.epoch = Some(ts.as_secs_f64());
        e.text = Some(&line.text);
        self.emit(&e);
    }

    fn frame(&mut self, ev: &FrameEvent<'_>) {
        let c = ev.conn;
        let side = ev.side;
        let ts = ev.ts;
        let offset = ev.offset;
        let h = ev.header;
        let rec = ev.record;
        let findings = ev.findings;
        if self.filter.frame_ok(c, h) {
            let o = FrameObj {
                schema: DECODE_SCHEMA,
                kind: "frame",
                conn: c.id,
                dir: dir_name(side),
                time: self.rel(ts),
                epoch: ts.as_secs_f64(),
                offset,
                typ: h.typ.name(),
                flags: h.flags.bits(),
                flag_names: flag_names(h.flags),
                stream: h.stream_id.val(),
                length: h.length,
                window: rec.window.map(|w| Window {
                    side: match w.side {
                        Side::A => "a",
                        Side::B => "b",
                    },
                    before: w.before,
                    after: w.after,
                    bound: (w.bound != Bound::Exact).then(|| w.bound.name()),
                }),
                state: rec.phase.map(|p| p.name()),
                rtt_ms: rec.rtt.map(|r| r.as_secs_f64() * 1e3),
                code: rec.code,
            };
            self.emit(&o);
        }
        let shown = self.filter.frame_ok(c, h);
        // findings of a hidden frame only when they name a stream shown
        for f in findings.iter().filter(|f| shown || f.stream.is_some()) {
            self.finding_obj(c, ts, f);
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
        let mut e = Event::new("gap", c, side, offset);
        e.time = Some(self.rel(ts));
        e.epoch = Some(ts.as_secs_f64());
        e.len = Some(len);
        e.frames_lost = Some(frames_lost);
        self.emit(&e);
    }

    fn skipped(&mut self, c: &ConnInfo, side: Side, ts: Duration, u: &Undecodable) {
        if !self.filter.events_ok(c) {
            return;
        }
        let mut e = Event::new("skip", c, side, u.offset);
        e.time = Some(self.rel(ts));
        e.epoch = Some(ts.as_secs_f64());
        e.len = Some(u.len);
        e.reason = Some(u.reason.to_string());
        e.resynced = Some(u.resynced);
        self.emit(&e);
    }

    fn truncated(&mut self, c: &ConnInfo, side: Side, offset: u64, have: u64, needed: u64) {
        if !self.filter.events_ok(c) {
            return;
        }
        let mut e = Event::new("truncated", c, side, offset);
        e.have = Some(have);
        e.needed = Some(needed);
        self.emit(&e);
    }

    fn finding(&mut self, c: &ConnInfo, ts: Duration, f: &Finding) {
        self.finding_obj(c, ts, f);
    }

    fn conn_end(&mut self, _c: &ConnInfo, _t: &Tracker, _tcp: &TcpFigures) {}
}
