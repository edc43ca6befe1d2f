//! Packets → TCP connections → yamux frames → tracker, reported to an
//! [`Observer`] (the text and NDJSON printers, `stats`, `follow`).
//!
//! A connection is yamux when one of its ports is in [`Options::ports`], or,
//! without ports, when the first bytes of a direction decode as yamux: the
//! detection of the per-connection pipeline (`pipeline`), which a
//! connection seen as two byte streams ([`StreamConn`]: the relay, `inject`)
//! runs too.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::Header;
use yamux::tracker::{Finding, FrameRecord, PreambleLine, Side, Tracker, Undecodable};

use crate::capture::{tcp_segment, CaptureReader, HalfStream, Moment, PacketError, Stamp};

pub mod live;
mod pipeline;
mod stream;

pub use pipeline::DETECT_LIMIT;
use pipeline::{Direction, Pipeline};
pub use stream::{StreamConn, StreamKind, StreamTotals};

/// Analysis settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Treat connections on these ports as yamux without looking.
    pub ports: Vec<u16>,
    /// Out-of-order bytes held per direction, and bytes of segments waiting
    /// for the other direction per connection, before a gap is declared.
    pub max_held: usize,
    /// Largest Data body taken as genuine.
    pub max_body_len: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ports: Vec::new(),
            max_held: 8 << 20,
            max_body_len: yamux::frame::DEFAULT_MAX_BODY_LEN,
        }
    }
}

/// A TCP connection as shown to observers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// 1-based, in order of first packet.
    pub id: u32,
    /// Side A: the initiator (SYN sender), or the higher port when the
    /// handshake is missing.
    pub a: SocketAddr,
    /// Side B.
    pub b: SocketAddr,
    /// Whether the TCP handshake was captured.
    pub handshake: bool,
    /// Time of its first packet.
    pub first: Duration,
}

impl ConnInfo {
    /// The address of `side`.
    pub fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::A => self.a,
            Side::B => self.b,
        }
    }
}

/// Per-connection transport figures handed to [`Observer::conn_end`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFigures {
    /// Stream bytes per side (index 0 = A), gaps included.
    pub bytes: [u64; 2],
    /// Bytes lost in gaps per side.
    pub gap_bytes: [u64; 2],
    /// Retransmitted bytes per side.
    pub retransmitted: [u64; 2],
    /// Most out-of-order bytes held at once per side.
    pub peak_held: [usize; 2],
    /// Time of the last packet.
    pub last: Duration,
}

/// One decoded frame as shown to observers.
#[derive(Clone, Copy, Debug)]
pub struct FrameEvent<'a> {
    /// The connection.
    pub conn: &'a ConnInfo,
    /// The sender.
    pub side: Side,
    /// Time of the packet that completed the header.
    pub ts: Duration,
    /// Stream offset of the header in the sender's direction.
    pub offset: u64,
    /// The header.
    pub header: &'a Header,
    /// What the tracker made of it.
    pub record: &'a FrameRecord,
    /// Findings it caused.
    pub findings: &'a [Finding],
    /// The connection's tracker after the frame (its streams, the client).
    pub tracker: &'a Tracker,
}

/// Receives everything the analysis finds. All methods but `frame` have
/// empty defaults.
#[allow(unused_variables)]
pub trait Observer {
    /// Time of the first packet of the capture.
    fn start(&mut self, ts: Duration) {}
    /// A connection was recognised as yamux.
    fn connection(&mut self, c: &ConnInfo) {}
    /// A multistream-select message.
    fn preamble(&mut self, c: &ConnInfo, side: Side, ts: Duration, line: &PreambleLine) {}
    /// A frame, what the tracker made of it, and the findings it caused.
    fn frame(&mut self, ev: &FrameEvent<'_>);
    /// Body bytes of the last Data frame of `side`.
    fn body(&mut self, c: &ConnInfo, side: Side, h: &Header, chunk: &[u8]) {}
    /// `len` bytes of the last Data frame's body are missing.
    fn body_gap(&mut self, c: &ConnInfo, side: Side, h: &Header, len: u64) {}
    /// `len` bytes at stream `offset` of `side` are missing from the
    /// capture. `frames_lost`: they were not all inside one Data body whose
    /// header was seen, so frames of `side` may be missing too (the
    /// tracker's figures of live streams are bounds from here, see
    /// `Tracker::note_lost`).
    fn gap(
        &mut self,
        c: &ConnInfo,
        side: Side,
        ts: Duration,
        offset: u64,
        len: u64,
        frames_lost: bool,
    ) {
    }
    /// Bytes skipped while looking for a frame.
    fn skipped(&mut self, c: &ConnInfo, side: Side, ts: Duration, u: &Undecodable) {}
    /// The direction ended inside a frame.
    fn truncated(&mut self, c: &ConnInfo, side: Side, offset: u64, have: u64, needed: u64) {}
    /// A finding not tied to a frame (bytes, transport, end of connection).
    fn finding(&mut self, c: &ConnInfo, ts: Duration, f: &Finding) {}
    /// The connection is over (end of capture at the latest).
    fn conn_end(&mut self, c: &ConnInfo, tracker: &Tracker, tcp: &TcpFigures) {}
}

/// What the whole run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packets read.
    pub packets: u64,
    /// Captured bytes read (packet data).
    pub captured_bytes: u64,
    /// TCP segments.
    pub tcp_segments: u64,
    /// TCP connections seen.
    pub connections: u32,
    /// Connections decoded as yamux.
    pub yamux_connections: u32,
    /// Frames decoded.
    pub frames: u64,
    /// Findings by severity: info, warning, error.
    pub findings: [u64; 3],
    /// Packets that could not be parsed, with the first few reasons.
    pub bad_packets: u64,
    /// The first bad packets: number and reason.
    pub bad_packet_examples: Vec<(u64, String)>,
    /// Why reading stopped early, if it did.
    pub read_error: Option<String>,
    /// Time of the first and last packet.
    pub first: Option<Duration>,
    /// Time of the last packet.
    pub last: Option<Duration>,
    /// Most out-of-order bytes held at once, summed over connections alive.
    pub peak_held: usize,
}

/// A captured connection: TCP reassembly per direction, then its
/// [`Pipeline`].
struct Conn {
    pipe: Pipeline,
    tcp: [HalfStream; 2],
    /// Per direction: segments waiting for bytes of the other direction.
    deferred: [Vec<Deferred>; 2],
    /// Payload bytes in `deferred`.
    deferred_bytes: usize,
    last: Duration,
    /// Packets of the connection so far (the clock of the TCP hole rule).
    packets: u64,
    closed: bool,
}

/// A segment whose acknowledgment covers bytes of the other direction that
/// were not handed out yet (an acknowledgment captured before the data it
/// acknowledges, or data lost from the capture). What it carries answers
/// those bytes, so it is reassembled once they are delivered or declared a
/// gap: the tracker sees each frame after the frames it answers, as the
/// peers did.
#[derive(Debug)]
struct Deferred {
    /// Offset the other direction must reach.
    need: u64,
    /// Its own stream offset.
    off: u64,
    /// Step and time of its packet.
    at: Stamp,
    seq: u32,
    fin: bool,
    payload: Vec<u8>,
    cut: u32,
}

/// Most segments deferred per connection (whatever their size: FINs carry
/// none) before what they wait for is declared lost.
const MAX_DEFERRED: usize = 4096;

/// Takes the segments `f` selects out of `v`, in order.
fn take_where(v: &mut Vec<Deferred>, f: impl Fn(&Deferred) -> bool) -> Vec<Deferred> {
    let (taken, kept) = std::mem::take(v).into_iter().partition(|d| f(d));
    *v = kept;
    taken
}

impl Deferred {
    fn end(&self) -> u64 {
        self.off + self.payload.len() as u64
    }

    /// Reassembles it, shown at its own time (as if it had not waited), in
    /// the timeline after what it waited for.
    fn feed<O: Observer + ?Sized>(
        &self,
        pipe: &mut Pipeline,
        t: &mut HalfStream,
        side: Side,
        obs: &mut O,
    ) {
        let start = t.syn_seen;
        // its place in the timeline is its packet's, or after the input
        // that brought what it answers if that came later (a capture that
        // holds an acknowledgment before the data); its time is its packet's
        let answered = pipe.step_reaching(side.other(), self.need);
        let at = match answered {
            Some(step) if step <= self.at.step => self.at,
            _ => pipe.stamp(self.at.ts),
        };
        let mut sink = pipe.sink_at(side, at, start, obs);
        t.segment(
            self.seq,
            false,
            self.fin,
            &self.payload,
            self.cut,
            &mut sink,
        );
    }
}

impl Conn {
    fn dirs(&self) -> [Direction; 2] {
        self.tcp.each_ref().map(|t| Direction {
            start_known: t.syn_seen,
            ended: t.finished(),
        })
    }

    fn held(&self) -> usize {
        self.tcp[0].held() + self.tcp[1].held() + self.deferred_bytes
    }

    /// Tells the pipeline's timeline from which step each direction's bytes
    /// are still held out of order here: what they complete goes in their
    /// packets' place, so later events wait for them.
    fn hold_timeline<O: Observer + ?Sized>(&mut self, obs: &mut O) {
        // deferred segments do not count: they go after what they answer,
        // whatever their place in the capture
        let held = [Side::A, Side::B].map(|s| self.tcp[s.idx()].held_from());
        self.pipe.held_below(held, obs);
    }

    /// Declares the acknowledged holes of both directions that waited long
    /// enough (all of them with `now` = `None`) gaps, up to the first
    /// deferred segment of the direction (its bytes exist). A gap is shown
    /// at the time of the acknowledgment that first covered it (when the
    /// receiver had the bytes), not when the wait ended.
    fn expire<O: Observer + ?Sized>(&mut self, now: Option<Moment>, obs: &mut O) {
        let Conn {
            pipe,
            tcp,
            deferred,
            ..
        } = self;
        for side in [Side::A, Side::B] {
            let t = &mut tcp[side.idx()];
            if t.waiting() {
                // the first byte (or FIN) a deferred segment holds (old
                // bytes it repeats do not count)
                let next = t.offset();
                let limit = deferred[side.idx()]
                    .iter()
                    .filter(|d| d.end() > next || (d.fin && d.end() == next))
                    .map(|d| d.off.max(next))
                    .min()
                    .unwrap_or(u64::MAX);
                let start = t.syn_seen;
                while let Some(since) = t.waiting_since() {
                    let mut sink = pipe.sink_at(side, since.stamp(), start, obs);
                    if !t.expire_first(now, limit, &mut sink) {
                        break;
                    }
                }
            }
        }
    }

    /// Declares the holes due at `now` (all with `None`) and reassembles
    /// what waited for them, until nothing moves.
    fn settle<O: Observer + ?Sized>(&mut self, now: Option<Moment>, obs: &mut O) {
        // nothing waits (every packet of an unbroken capture)
        if !self.tcp.iter().any(HalfStream::waiting) && self.deferred.iter().all(Vec::is_empty) {
            return;
        }
        loop {
            let before = (
                self.tcp[0].offset(),
                self.tcp[1].offset(),
                self.deferred_bytes,
            );
            self.expire(now, obs);
            self.release(false, obs);
            let after = (
                self.tcp[0].offset(),
                self.tcp[1].offset(),
                self.deferred_bytes,
            );
            if before == after {
                return;
            }
        }
    }

    /// Reassembles the deferred segments whose bytes of the other direction
    /// are there now (all of them with `all`), until none is left ready.
    fn release<O: Observer + ?Sized>(&mut self, all: bool, obs: &mut O) {
        if self.deferred.iter().all(Vec::is_empty) {
            return;
        }
        // one at a time, in capture order: the earliest deferred segment
        // when it is ready, else the earliest ready one (it may hold the
        // bytes the earliest waits for)
        loop {
            let mut earliest: Option<(u64, Side, usize, bool)> = None;
            let mut earliest_ready: Option<(u64, Side, usize)> = None;
            for side in [Side::A, Side::B] {
                let reached = self.tcp[side.other().idx()].offset();
                for (k, d) in self.deferred[side.idx()].iter().enumerate() {
                    let ready = all || d.need <= reached;
                    let step = d.at.step;
                    if earliest.is_none_or(|e| step < e.0) {
                        earliest = Some((step, side, k, ready));
                    }
                    if ready && earliest_ready.is_none_or(|e| step < e.0) {
                        earliest_ready = Some((step, side, k));
                    }
                }
            }
            let (side, k) = match (earliest, earliest_ready) {
                (Some((_, side, k, true)), _) => (side, k),
                (_, Some((_, side, k))) => (side, k),
                _ => return,
            };
            let d = self.deferred[side.idx()].remove(k);
            self.deferred_bytes -= d.payload.len();
            let Conn { pipe, tcp, .. } = &mut *self;
            d.feed(pipe, &mut tcp[side.idx()], side, obs);
        }
    }
}

/// The analysis of one capture.
pub struct Analyzer {
    opts: Options,
    conns: Vec<Option<Conn>>,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
    summary: Summary,
    held: usize,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Analyzer {
    /// An analysis with `opts`.
    pub fn new(opts: Options) -> Analyzer {
        Analyzer {
            opts,
            conns: Vec::new(),
            by_key: HashMap::new(),
            summary: Summary::default(),
            held: 0,
        }
    }

    /// Reads every packet of `reader` and finishes.
    pub fn run<R: Read, O: Observer + ?Sized>(
        mut self,
        mut reader: CaptureReader<R>,
        obs: &mut O,
    ) -> Summary {
        while let Some(p) = reader.next_packet() {
            match p {
                Ok(p) => self.packet(p.index, p.ts, p.link, p.data, obs),
                Err(e) => {
                    self.summary.read_error = Some(e.to_string());
                    break;
                }
            }
        }
        self.finish(obs)
    }

    /// Takes one packet.
    pub fn packet<O: Observer + ?Sized>(
        &mut self,
        index: u64,
        ts: Duration,
        link: u32,
        data: &[u8],
        obs: &mut O,
    ) {
        let s = &mut self.summary;
        if s.first.is_none() {
            s.first = Some(ts);
            obs.start(ts);
        }
        s.last = Some(s.last.map_or(ts, |l| l.max(ts)));
        s.packets += 1;
        s.captured_bytes += data.len() as u64;
        match tcp_segment(link, data) {
            Ok(Some(seg)) => {
                s.tcp_segments += 1;
                self.segment(ts, &seg, obs);
            }
            Ok(None) => {}
            Err(e) => self.bad_packet(index, e),
        }
    }

    fn bad_packet(&mut self, index: u64, e: PacketError) {
        self.summary.bad_packets += 1;
        if self.summary.bad_packet_examples.len() < 5 {
            self.summary
                .bad_packet_examples
                .push((index, e.to_string()));
        }
    }

    fn conn_for<O: Observer + ?Sized>(
        &mut self,
        ts: Duration,
        seg: &crate::capture::Segment<'_>,
        obs: &mut O,
    ) -> Option<usize> {
        let k = key(seg.src, seg.dst);
        let opening = seg.syn && seg.ack.is_none();
        if let Some(&i) = self.by_key.get(&k) {
            match self.conns.get(i).and_then(Option::as_ref) {
                // packets after the end (last ACKs, retransmitted FINs)
                None if !opening => return None,
                None => {}
                Some(c) if opening && (c.closed || c.tcp[0].offset() > 0) => self.end_conn(i, obs),
                Some(_) => return Some(i),
            }
        }
        // Side A is the initiator: the SYN sender, the receiver of a SYN-ACK,
        // or (no handshake) the endpoint with the higher port.
        let (a, b, handshake) = if seg.syn {
            if seg.ack.is_none() {
                (seg.src, seg.dst, true)
            } else {
                (seg.dst, seg.src, true)
            }
        } else if seg.src.port() >= seg.dst.port() {
            (seg.src, seg.dst, false)
        } else {
            (seg.dst, seg.src, false)
        };
        self.summary.connections += 1;
        let info = ConnInfo {
            id: self.summary.connections,
            a,
            b,
            handshake,
            first: ts,
        };
        let decided = if self.opts.ports.is_empty() {
            None
        } else {
            Some(
                self.opts
                    .ports
                    .iter()
                    .any(|&p| p == a.port() || p == b.port()),
            )
        };
        let conn = Conn {
            pipe: Pipeline::new(
                info,
                decided,
                Tracker::new(handshake.then_some(Side::A), !handshake),
                self.opts.max_body_len,
            ),
            tcp: [
                HalfStream::new(self.opts.max_held),
                HalfStream::new(self.opts.max_held),
            ],
            deferred: [Vec::new(), Vec::new()],
            deferred_bytes: 0,
            last: ts,
            packets: 0,
            closed: false,
        };
        if decided == Some(true) {
            self.summary.yamux_connections += 1;
            obs.connection(&conn.pipe.info);
        }
        self.conns.push(Some(conn));
        let i = self.conns.len() - 1;
        self.by_key.insert(k, i);
        Some(i)
    }

    fn segment<O: Observer + ?Sized>(
        &mut self,
        ts: Duration,
        seg: &crate::capture::Segment<'_>,
        obs: &mut O,
    ) {
        let Some(i) = self.conn_for(ts, seg, obs) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        conn.last = conn.last.max(ts);
        conn.packets += 1;
        let stamp = conn.pipe.stamp(ts);
        let now = Moment {
            packets: conn.packets,
            ts: conn.last,
            step: stamp.step,
        };
        if conn.pipe.decided() == Some(false) {
            if seg.rst || seg.fin {
                conn.closed = true;
            }
            conn.deferred = Default::default();
            conn.deferred_bytes = 0;
            return;
        }
        let held_before = conn.held();
        let side = if seg.src == conn.pipe.info.a {
            Side::A
        } else {
            Side::B
        };
        let other = side.other();
        let max_held = self.opts.max_held;
        {
            let Conn {
                pipe,
                tcp,
                deferred,
                deferred_bytes,
                ..
            } = &mut *conn;
            let [ta, tb] = tcp;
            let (mine, theirs) = if side == Side::A { (ta, tb) } else { (tb, ta) };
            // The acknowledgment describes what the peer had received before
            // this segment was sent; bytes it covers that are not here yet
            // may still come later in the capture.
            let mut need = None;
            if let Some(ack) = seg.ack {
                theirs.acked(ack, now);
                need = theirs.unseen_before(ack);
            }
            let carries = !seg.payload.is_empty() || seg.fin || seg.cut > 0;
            let off = mine.offset_of(seg.seq);
            match (need, off) {
                (Some(need), Some(off)) if carries && !seg.syn && !seg.rst => {
                    *deferred_bytes += seg.payload.len();
                    deferred[side.idx()].push(Deferred {
                        need,
                        off,
                        at: stamp,
                        seq: seg.seq,
                        fin: seg.fin,
                        payload: seg.payload.to_vec(),
                        cut: seg.cut,
                    });
                }
                _ => {
                    if let Some(off) = off.filter(|_| !deferred[side.idx()].is_empty()) {
                        // deferred copies of these bytes were seen first:
                        // they go first (the first copy wins)
                        let end = off + seg.payload.len() as u64;
                        let first =
                            take_where(&mut deferred[side.idx()], |d| d.off < end && off < d.end());
                        for d in first {
                            *deferred_bytes -= d.payload.len();
                            d.feed(pipe, mine, side, obs);
                        }
                    }
                    let start = mine.syn_seen || seg.syn;
                    let mut sink = pipe.sink_at(side, stamp, start, obs);
                    mine.segment(seg.seq, seg.syn, seg.fin, seg.payload, seg.cut, &mut sink);
                }
            }
        }
        if seg.rst {
            // the end: holes still waiting are gaps now, then what waited
            // for them goes, in capture order
            conn.settle(None, obs);
            conn.release(true, obs);
            let Conn { pipe, tcp, .. } = &mut *conn;
            for s in [side, other] {
                let t = &mut tcp[s.idx()];
                let start = t.syn_seen;
                t.flush(&mut pipe.sink_at(s, stamp, start, obs));
            }
        }
        // what this segment completed, and acknowledged holes that waited
        // long enough (gaps), free what waited for them
        conn.release(false, obs);
        conn.settle(Some(now), obs);
        if conn.deferred_bytes > max_held
            || conn.deferred[0].len() + conn.deferred[1].len() > MAX_DEFERRED
        {
            // memory: what the deferred segments wait for is lost
            conn.settle(None, obs);
            conn.release(true, obs);
        }
        if seg.rst || (conn.tcp[0].finished() && conn.tcp[1].finished()) {
            conn.closed = true;
        }
        conn.hold_timeline(obs);
        let held_after = conn.held();
        let closed = conn.closed;
        self.held = (self.held + held_after).saturating_sub(held_before);
        self.summary.peak_held = self.summary.peak_held.max(self.held);
        self.detect(i, obs, false);
        if closed {
            // both FINs or a RST: report it now, so memory follows the
            // connections alive, not the file
            self.end_conn(i, obs);
        }
    }

    /// Decides whether connection `i` is yamux, replaying held bytes if so.
    fn detect<O: Observer + ?Sized>(&mut self, i: usize, obs: &mut O, at_end: bool) {
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let dirs = conn.dirs();
        if conn.pipe.detect(dirs, at_end, obs) == Some(true) {
            self.summary.yamux_connections += 1;
        }
    }

    fn end_conn<O: Observer + ?Sized>(&mut self, i: usize, obs: &mut O) {
        if let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) {
            // holes still waiting are gaps now; then what waited for them
            conn.settle(None, obs);
            conn.release(true, obs);
            conn.hold_timeline(obs);
        }
        self.detect(i, obs, true);
        let Some(mut conn) = self.conns.get_mut(i).and_then(Option::take) else {
            return;
        };
        if conn.pipe.decided() != Some(true) {
            return;
        }
        let end = conn.last;
        for side in [Side::A, Side::B] {
            let Conn { pipe, tcp, .. } = &mut conn;
            let t = &mut tcp[side.idx()];
            let start = t.syn_seen;
            t.flush(&mut pipe.sink(side, end, start, obs));
            pipe.finish_side(side, end, obs);
        }
        let t = &conn.tcp;
        let figures = TcpFigures {
            bytes: [t[0].offset(), t[1].offset()],
            gap_bytes: [t[0].gap_bytes, t[1].gap_bytes],
            retransmitted: [t[0].retransmitted, t[1].retransmitted],
            peak_held: [t[0].peak_held, t[1].peak_held],
            last: end,
        };
        conn.pipe
            .end(end, &figures, obs, &mut self.summary.findings);
        self.summary.frames += conn.pipe.frames;
    }

    /// Ends every connection and returns the summary.
    pub fn finish<O: Observer + ?Sized>(mut self, obs: &mut O) -> Summary {
        for i in 0..self.conns.len() {
            self.end_conn(i, obs);
        }
        self.summary
    }
}

#[cfg(test)]
mod tests;
