//! `yamuxctl stats`: per connection and per stream, bytes and frames each
//! way, duration, smallest window, time at zero window, ping RTT.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use yamux::tracker::{Bound, Side, StreamStats, Tracker};

use super::STATS_SCHEMA;
use crate::analysis::{ConnInfo, FrameEvent, Observer, TcpFigures};
use crate::print::Filter;

/// One connection's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ConnStats {
    /// Schema tag.
    pub schema: &'static str,
    /// `connection`.
    pub kind: &'static str,
    /// Connection id.
    pub conn: u32,
    /// Side A address.
    pub a: String,
    /// Side B address.
    pub b: String,
    /// Whether the handshake was captured.
    pub handshake: bool,
    /// Seconds from first to last packet.
    pub duration: f64,
    /// Frames A→B, B→A.
    pub frames: [u64; 2],
    /// TCP stream bytes A→B, B→A.
    pub tcp_bytes: [u64; 2],
    /// Bytes missing from the capture.
    pub gap_bytes: [u64; 2],
    /// Of those, bytes lost outside any Data body whose header was seen:
    /// frames of that side may be missing, so its stream figures from the
    /// first such gap on are bounds.
    pub frames_lost_bytes: [u64; 2],
    /// Where bytes are missing, A→B and B→A: `[stream offset, length]`
    /// for the first [`GAPS_LISTED`] gaps of each side.
    pub gaps: [Vec<[u64; 2]>; 2],
    /// Retransmitted bytes.
    pub retransmitted: [u64; 2],
    /// Streams seen.
    pub streams: usize,
    /// Ping round trips measured.
    pub pings: usize,
    /// Smallest, mean and largest RTT in milliseconds.
    pub rtt_ms: Option<[f64; 3]>,
    /// Findings (warnings and errors).
    pub findings: usize,
    /// Per-stream figures.
    #[serde(skip)]
    pub stream_rows: Vec<StreamRow>,
}

/// One stream's figures.
#[derive(Clone, Debug, Serialize)]
pub struct StreamRow {
    /// Schema tag.
    pub schema: &'static str,
    /// `stream`.
    pub kind: &'static str,
    /// Connection id.
    pub conn: u32,
    /// Stream id.
    pub stream: u32,
    /// `a`, `b`, or null when the SYN was not seen.
    pub opener: Option<&'static str>,
    /// Final state.
    pub state: &'static str,
    /// Payload bytes A→B, B→A (lower bounds where `lossy`).
    pub bytes: [u64; 2],
    /// Per side: frames of it may be missing from this stream (bytes lost
    /// outside a Data body while the stream was live).
    pub lossy: [bool; 2],
    /// Frames A→B, B→A.
    pub frames: [u64; 2],
    /// Seconds from first to last frame.
    pub duration: f64,
    /// Smallest send window of A and of B (null when the ledger is unknown).
    pub min_window: Option<[i64; 2]>,
    /// Seconds A and B spent at zero window.
    pub zero_window: [f64; 2],
    /// Credit left at the end, A and B.
    pub credit_end: Option<[i64; 2]>,
    /// How `min_window` and `credit_end` hold per side: `exact`,
    /// `at-most` or `at-least` (null when they are unknown).
    pub window_bound: Option<[&'static str; 2]>,
    /// The error code of the `WU|RST` that reset the stream
    /// (`length.rst-code`); absent unless reset by a `WU|RST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_code: Option<u32>,
}

fn arrow(s: Side) -> &'static str {
    match s {
        Side::A => "→",
        Side::B => "←",
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::A => "a",
        Side::B => "b",
    }
}

impl StreamRow {
    fn of(conn: u32, s: &StreamStats) -> StreamRow {
        // both sides known or neither: a bound per side
        let known = |f: fn(&StreamStats, Side) -> Option<(i64, Bound)>| match (
            f(s, Side::A),
            f(s, Side::B),
        ) {
            (Some(a), Some(b)) => Some([a, b]),
            _ => None,
        };
        let min = known(StreamStats::min_credit_bound);
        let end = known(StreamStats::credit_bound);
        StreamRow {
            schema: STATS_SCHEMA,
            kind: "stream",
            conn,
            stream: s.id,
            opener: s.opener.map(side_name),
            state: s.phase.name(),
            bytes: s.bytes,
            lossy: s.lossy,
            frames: s.frames,
            duration: s.last.saturating_sub(s.first).as_secs_f64(),
            min_window: min.map(|m| m.map(|(v, _)| v)),
            zero_window: [
                s.zero_window[0].as_secs_f64(),
                s.zero_window[1].as_secs_f64(),
            ],
            credit_end: end.map(|e| e.map(|(v, _)| v)),
            window_bound: end.map(|e| e.map(|(_, b)| b.name())),
            reset_code: s.reset_code,
        }
    }
}

/// Gaps listed per side and connection; the rest are counted in
/// `gap_bytes`.
pub const GAPS_LISTED: usize = 64;

/// Collects stats as connections end.
#[derive(Default)]
pub struct StatsCollector {
    filter: Filter,
    /// Connections, in order of their end.
    pub conns: Vec<ConnStats>,
    /// Per live connection: its gaps so far, per side.
    gaps: HashMap<u32, [Vec<[u64; 2]>; 2]>,
}

impl StatsCollector {
    /// A collector honouring `filter`'s connection and stream.
    pub fn new(filter: Filter) -> StatsCollector {
        StatsCollector {
            filter,
            conns: Vec::new(),
            gaps: HashMap::new(),
        }
    }

    /// Connections sorted by id.
    pub fn sorted(&mut self) -> &[ConnStats] {
        self.conns.sort_by_key(|c| c.conn);
        &self.conns
    }

    /// Writes NDJSON: a connection object followed by its streams.
    pub fn write_json<W: Write>(&mut self, mut w: W) -> io::Result<()> {
        for c in self.sorted() {
            serde_json::to_writer(&mut w, c)?;
            w.write_all(b"\n")?;
            for s in &c.stream_rows {
                serde_json::to_writer(&mut w, s)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Writes the text tables.
    pub fn write_text<W: Write>(&mut self, mut w: W) -> io::Result<()> {
        let conns = self.sorted();
        if conns.is_empty() {
            writeln!(w, "no yamux connections")?;
        }
        for c in conns {
            writeln!(
                w,
                "conn {}: {} → {}{}",
                c.conn,
                c.a,
                c.b,
                if c.handshake { "" } else { " (start missing)" }
            )?;
            writeln!(
                w,
                "  duration {:.6}s, frames → {} ← {}, TCP bytes → {} ← {}, gaps → {} ← {}, retransmitted → {} ← {}",
                c.duration, c.frames[0], c.frames[1], c.tcp_bytes[0], c.tcp_bytes[1],
                c.gap_bytes[0], c.gap_bytes[1], c.retransmitted[0], c.retransmitted[1]
            )?;
            for side in [Side::A, Side::B] {
                let i = side.idx();
                if c.gap_bytes[i] == 0 {
                    continue;
                }
                let list = &c.gaps[i];
                let mut at: Vec<String> = list.iter().map(|[o, l]| format!("{l} at {o}")).collect();
                if list.len() == GAPS_LISTED {
                    at.push("…".into());
                }
                let lost = c.frames_lost_bytes[i];
                writeln!(
                    w,
                    "  missing {}: {} bytes ({}){}",
                    arrow(side),
                    c.gap_bytes[i],
                    at.join(", "),
                    if lost > 0 {
                        format!("; {lost} of them outside Data bodies: frames may be lost, so the stream figures of that side marked ≥ or ≤ are bounds")
                    } else {
                        "; all inside Data bodies: no frame lost".into()
                    }
                )?;
            }
            match c.rtt_ms {
                Some([lo, avg, hi]) => writeln!(
                    w,
                    "  {} streams, {} pings: rtt min {lo:.3} / avg {avg:.3} / max {hi:.3} ms, {} findings",
                    c.streams, c.pings, c.findings
                )?,
                None => writeln!(
                    w,
                    "  {} streams, no ping round trips, {} findings",
                    c.streams, c.findings
                )?,
            }
            if c.stream_rows.is_empty() {
                continue;
            }
            writeln!(
                w,
                "  {:>7} {:>6} {:<11} {:>10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
                "stream", "opener", "state", "bytes →", "bytes ←", "frm →", "frm ←",
                "minwin →", "minwin ←", "zero →", "zero ←", "credit →", "credit ←"
            )?;
            for s in &c.stream_rows {
                // A reset's non-zero error code shows with the state.
                let state = match s.reset_code {
                    Some(code) if code != 0 => Cow::Owned(format!("{} {code}", s.state)),
                    _ => Cow::Borrowed(s.state),
                };
                let (mw, ce) = match (s.min_window, s.credit_end, s.window_bound) {
                    (Some(m), Some(e), Some(b)) => {
                        let sign = |i: usize| match b[i] {
                            "at-most" => "≤",
                            "at-least" => "≥",
                            _ => "",
                        };
                        (
                            [0, 1].map(|i| format!("{}{}", sign(i), m[i])),
                            [0, 1].map(|i| format!("{}{}", sign(i), e[i])),
                        )
                    }
                    _ => (["?".into(), "?".into()], ["?".into(), "?".into()]),
                };
                let bytes = [0, 1].map(|i| {
                    if s.lossy[i] {
                        format!("≥{}", s.bytes[i])
                    } else {
                        s.bytes[i].to_string()
                    }
                });
                writeln!(
                    w,
                    "  {:>7} {:>6} {:<11} {:>10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>8.3}s {:>8.3}s {:>10} {:>10}",
                    s.stream,
                    s.opener.unwrap_or("?"),
                    state,
                    bytes[0],
                    bytes[1],
                    s.frames[0],
                    s.frames[1],
                    mw[0],
                    mw[1],
                    s.zero_window[0],
                    s.zero_window[1],
                    ce[0],
                    ce[1]
                )?;
            }
        }
        Ok(())
    }
}

impl Observer for StatsCollector {
    fn frame(&mut self, _ev: &FrameEvent<'_>) {}

    fn gap(&mut self, c: &ConnInfo, side: Side, _: Duration, offset: u64, len: u64, _: bool) {
        let list = &mut self.gaps.entry(c.id).or_default()[side.idx()];
        if list.len() < GAPS_LISTED {
            list.push([offset, len]);
        }
    }

    fn conn_end(&mut self, c: &ConnInfo, t: &Tracker, tcp: &TcpFigures) {
        let gaps = self.gaps.remove(&c.id).unwrap_or_default();
        if !self.filter.conn_ok(c) {
            return;
        }
        let rtts = t.rtts();
        let rtt_ms = (!rtts.is_empty()).then(|| {
            let ms = |d: &Duration| d.as_secs_f64() * 1e3;
            let lo = rtts.iter().map(ms).fold(f64::INFINITY, f64::min);
            let hi = rtts.iter().map(ms).fold(0.0, f64::max);
            let avg = rtts.iter().map(ms).sum::<f64>() / rtts.len() as f64;
            [lo, avg, hi]
        });
        let streams = t.streams_sorted();
        let stream_rows = streams
            .iter()
            .filter(|s| self.filter.stream.is_none_or(|id| id == s.id))
            .map(|s| StreamRow::of(c.id, s))
            .collect();
        self.conns.push(ConnStats {
            schema: STATS_SCHEMA,
            kind: "connection",
            conn: c.id,
            a: c.a.to_string(),
            b: c.b.to_string(),
            handshake: c.handshake,
            duration: tcp.last.saturating_sub(c.first).as_secs_f64(),
            frames: t.frames(),
            tcp_bytes: tcp.bytes,
            gap_bytes: tcp.gap_bytes,
            frames_lost_bytes: [t.lost(Side::A), t.lost(Side::B)],
            gaps,
            retransmitted: tcp.retransmitted,
            streams: streams.len(),
            pings: rtts.len(),
            rtt_ms,
            findings: t
                .findings()
                .iter()
                .filter(|f| f.severity > yamux::tracker::Severity::Info)
                .count(),
            stream_rows,
        });
    }
}
