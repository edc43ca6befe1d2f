//! Packets → TCP connections → yamux frames → tracker, reported to an
//! [`Observer`] (the text and NDJSON printers, `stats`, `follow`).
//!
//! A connection is yamux when one of its ports is in [`Options::ports`], or,
//! without ports, when the first bytes of a direction decode as yamux
//! (plausible headers, optionally after a multistream-select preamble).
//! Until that is decided, its bytes are held (at most [`DETECT_LIMIT`] per
//! direction) and replayed with their original times.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{Header, RawHeader};
use yamux::tracker::{
    plausible_header, ByteDecoder, DecodeSink, Decoded, DecoderConfig, Finding, FindingKind,
    FrameRecord, PreambleLine, Side, Tracker, Undecodable,
};

use crate::capture::{tcp_segment, CaptureReader, HalfStream, PacketError, ReassemblySink};

/// Bytes per direction examined to decide whether a connection is yamux.
pub const DETECT_LIMIT: usize = 64 * 1024;

/// Analysis settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Treat connections on these ports as yamux without looking.
    pub ports: Vec<u16>,
    /// Out-of-order bytes held per direction before a gap is declared.
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
    /// Bytes missing from the capture.
    fn gap(&mut self, c: &ConnInfo, side: Side, ts: Duration, offset: u64, len: u64) {}
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

#[derive(Debug)]
enum Chunk {
    Data(Vec<u8>),
    Gap(u64, u64),
}

#[derive(Debug)]
enum Kind {
    Detecting(Vec<(Side, Duration, Chunk)>),
    Yamux,
    Other,
}

struct Conn {
    info: ConnInfo,
    tcp: [HalfStream; 2],
    kind: Kind,
    dec: [Option<ByteDecoder>; 2],
    tracker: Tracker,
    last: Duration,
    closed: bool,
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

const fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
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
        let kind = if self.opts.ports.is_empty() {
            Kind::Detecting(Vec::new())
        } else if self
            .opts
            .ports
            .iter()
            .any(|&p| p == a.port() || p == b.port())
        {
            Kind::Yamux
        } else {
            Kind::Other
        };
        let conn = Conn {
            info,
            tcp: [
                HalfStream::new(self.opts.max_held),
                HalfStream::new(self.opts.max_held),
            ],
            kind,
            dec: [None, None],
            tracker: Tracker::new(handshake.then_some(Side::A), !handshake),
            last: ts,
            closed: false,
        };
        if matches!(conn.kind, Kind::Yamux) {
            self.summary.yamux_connections += 1;
            obs.connection(&conn.info);
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
        let max_body_len = self.opts.max_body_len;
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        conn.last = conn.last.max(ts);
        if matches!(conn.kind, Kind::Other) {
            if seg.rst || seg.fin {
                conn.closed = true;
            }
            return;
        }
        let held_before = conn.tcp[0].held() + conn.tcp[1].held();
        let side = if seg.src == conn.info.a {
            Side::A
        } else {
            Side::B
        };
        let other = side.other();
        {
            let Conn {
                info,
                tcp,
                kind,
                dec,
                tracker,
                ..
            } = conn;
            let [ta, tb] = tcp;
            let (mine, theirs) = if side == Side::A { (ta, tb) } else { (tb, ta) };
            // The acknowledgment describes what the peer had received before
            // this segment was sent: apply it first.
            if let Some(ack) = seg.ack {
                let mut sink = Pipe {
                    info,
                    kind,
                    dec: &mut dec[idx(other)],
                    tracker,
                    obs,
                    side: other,
                    ts,
                    max_body_len,
                    syn_seen: theirs.syn_seen,
                    frames: &mut self.summary.frames,
                };
                theirs.acked(ack, &mut sink);
            }
            let mut sink = Pipe {
                info,
                kind,
                dec: &mut dec[idx(side)],
                tracker,
                obs,
                side,
                ts,
                max_body_len,
                syn_seen: mine.syn_seen || seg.syn,
                frames: &mut self.summary.frames,
            };
            mine.segment(seg.seq, seg.syn, seg.fin, seg.payload, seg.cut, &mut sink);
            if seg.rst {
                mine.flush(&mut sink);
                let mut sink = Pipe {
                    info,
                    kind,
                    dec: &mut dec[idx(other)],
                    tracker,
                    obs,
                    side: other,
                    ts,
                    max_body_len,
                    syn_seen: theirs.syn_seen,
                    frames: &mut self.summary.frames,
                };
                theirs.flush(&mut sink);
            }
        }
        if seg.rst || (conn.tcp[0].finished() && conn.tcp[1].finished()) {
            conn.closed = true;
        }
        let held_after = conn.tcp[0].held() + conn.tcp[1].held();
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
        let max_body_len = self.opts.max_body_len;
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let Kind::Detecting(chunks) = &conn.kind else {
            return;
        };
        let mut verdict = None;
        for side in [Side::A, Side::B] {
            let seen = held_bytes(chunks, side);
            let done = at_end || seen >= DETECT_LIMIT || conn.tcp[idx(side)].finished();
            let out = probe(
                chunks,
                side,
                max_body_len,
                !conn.tcp[idx(side)].syn_seen,
                done,
            );
            if let Some(v) = judge(&out, max_body_len, done, 2) {
                verdict = Some(v);
                if v {
                    break;
                }
            }
        }
        if verdict.is_none() && at_end {
            verdict = Some(false);
        }
        let Some(yes) = verdict else { return };
        let Kind::Detecting(chunks) =
            std::mem::replace(&mut conn.kind, if yes { Kind::Yamux } else { Kind::Other })
        else {
            return;
        };
        if !yes {
            return;
        }
        self.summary.yamux_connections += 1;
        obs.connection(&conn.info);
        let Conn {
            info,
            kind,
            dec,
            tracker,
            tcp,
            ..
        } = conn;
        for (side, ts, chunk) in chunks {
            let mut sink = Pipe {
                info,
                kind,
                dec: &mut dec[idx(side)],
                tracker,
                obs,
                side,
                ts,
                max_body_len,
                syn_seen: tcp[idx(side)].syn_seen,
                frames: &mut self.summary.frames,
            };
            match chunk {
                Chunk::Data(d) => sink.data(0, &d),
                Chunk::Gap(off, n) => sink.gap(off, n),
            }
        }
    }

    fn end_conn<O: Observer + ?Sized>(&mut self, i: usize, obs: &mut O) {
        self.detect(i, obs, true);
        let max_body_len = self.opts.max_body_len;
        let Some(mut conn) = self.conns.get_mut(i).and_then(Option::take) else {
            return;
        };
        if !matches!(conn.kind, Kind::Yamux) {
            return;
        }
        let end = conn.last;
        for side in [Side::A, Side::B] {
            let Conn {
                info,
                tcp,
                kind,
                dec,
                tracker,
                ..
            } = &mut conn;
            let mut sink = Pipe {
                info,
                kind,
                dec: &mut dec[idx(side)],
                tracker,
                obs,
                side,
                ts: end,
                max_body_len,
                syn_seen: tcp[idx(side)].syn_seen,
                frames: &mut self.summary.frames,
            };
            tcp[idx(side)].flush(&mut sink);
            finish_decoder(
                sink.dec,
                sink.info,
                sink.tracker,
                sink.obs,
                side,
                end,
                sink.frames,
            );
        }
        end_tracker(
            &mut conn.tracker,
            &conn.info,
            end,
            obs,
            &mut self.summary.findings,
        );
        let figures = TcpFigures {
            bytes: [conn.tcp[0].offset(), conn.tcp[1].offset()],
            gap_bytes: [conn.tcp[0].gap_bytes, conn.tcp[1].gap_bytes],
            retransmitted: [conn.tcp[0].retransmitted, conn.tcp[1].retransmitted],
            peak_held: [conn.tcp[0].peak_held, conn.tcp[1].peak_held],
            last: end,
        };
        obs.conn_end(&conn.info, &conn.tracker, &figures);
    }

    /// Ends every connection and returns the summary.
    pub fn finish<O: Observer + ?Sized>(mut self, obs: &mut O) -> Summary {
        for i in 0..self.conns.len() {
            self.end_conn(i, obs);
        }
        self.summary
    }
}

/// Bytes held for detection from `side`.
fn held_bytes(chunks: &[(Side, Duration, Chunk)], side: Side) -> usize {
    chunks
        .iter()
        .filter(|(s, _, _)| *s == side)
        .map(|(_, _, c)| match c {
            Chunk::Data(d) => d.len(),
            Chunk::Gap(..) => 0,
        })
        .sum()
}

/// Decodes the held bytes of `side` with a fresh decoder.
fn probe(
    chunks: &[(Side, Duration, Chunk)],
    side: Side,
    max_body_len: u32,
    mid_stream: bool,
    done: bool,
) -> Vec<Decoded> {
    let cfg = DecoderConfig {
        max_body_len,
        preamble: true,
        mid_stream,
    };
    let mut probe = ByteDecoder::new(cfg);
    let mut out: Vec<Decoded> = Vec::new();
    for (_, _, c) in chunks.iter().filter(|(s, _, _)| *s == side) {
        match c {
            Chunk::Data(d) => probe.feed(d, &mut out),
            Chunk::Gap(_, n) => probe.gap(*n, &mut out),
        }
    }
    if done {
        probe.finish(&mut out);
    }
    out
}

/// Ends the decoder of one direction at the end of its connection.
fn finish_decoder<O: Observer + ?Sized>(
    dec: &mut Option<ByteDecoder>,
    info: &ConnInfo,
    tracker: &mut Tracker,
    obs: &mut O,
    side: Side,
    end: Duration,
    frames: &mut u64,
) {
    if let Some(d) = dec.as_mut() {
        let mut fs = FrameSink {
            info,
            tracker,
            obs,
            side,
            ts: end,
            frames,
        };
        d.finish(&mut fs);
    }
}

/// Ends the tracker: reports the end-of-connection findings and counts all
/// findings by severity.
fn end_tracker<O: Observer + ?Sized>(
    tracker: &mut Tracker,
    info: &ConnInfo,
    end: Duration,
    obs: &mut O,
    counts: &mut [u64; 3],
) {
    let before = tracker.findings().len();
    tracker.finish(end);
    for f in tracker.findings_since(before) {
        obs.finding(info, end, f);
    }
    for f in tracker.findings() {
        counts[f.severity as usize] += 1;
    }
}

/// Reads a probe's events: `Some(true)` yamux, `Some(false)` not, `None`
/// not yet known.
fn judge(out: &[Decoded], max: u32, done: bool, need: usize) -> Option<bool> {
    let mut frames = 0;
    for e in out {
        match e {
            Decoded::Preamble(_) => {}
            Decoded::Frame { header, .. } => {
                if plausible_header(&RawHeader::from(*header), max).is_err() {
                    return Some(false);
                }
                frames += 1;
                if frames >= need {
                    return Some(true);
                }
            }
            Decoded::Undecodable(u) if u.is_violation() => return Some(false),
            Decoded::Undecodable(_) => {}
            Decoded::Truncated { .. } => {}
        }
    }
    if done {
        Some(frames > 0)
    } else {
        None
    }
}

/// Reassembled bytes of one direction → detection buffer or decoder.
struct Pipe<'a, O: ?Sized> {
    info: &'a ConnInfo,
    kind: &'a mut Kind,
    dec: &'a mut Option<ByteDecoder>,
    tracker: &'a mut Tracker,
    obs: &'a mut O,
    side: Side,
    ts: Duration,
    max_body_len: u32,
    syn_seen: bool,
    frames: &'a mut u64,
}

impl<O: Observer + ?Sized> Pipe<'_, O> {
    fn decoder(&mut self) -> &mut ByteDecoder {
        let cfg = DecoderConfig {
            max_body_len: self.max_body_len,
            preamble: true,
            mid_stream: !self.syn_seen,
        };
        self.dec.get_or_insert_with(|| ByteDecoder::new(cfg))
    }
}

impl<O: Observer + ?Sized> ReassemblySink for Pipe<'_, O> {
    fn data(&mut self, _off: u64, bytes: &[u8]) {
        match self.kind {
            Kind::Detecting(chunks) => {
                chunks.push((self.side, self.ts, Chunk::Data(bytes.to_vec())));
            }
            Kind::Other => {}
            Kind::Yamux => {
                self.decoder();
                let Some(d) = self.dec.as_mut() else { return };
                let mut fs = FrameSink {
                    info: self.info,
                    tracker: self.tracker,
                    obs: self.obs,
                    side: self.side,
                    ts: self.ts,
                    frames: self.frames,
                };
                d.feed(bytes, &mut fs);
            }
        }
    }

    fn gap(&mut self, off: u64, len: u64) {
        match self.kind {
            Kind::Detecting(chunks) => chunks.push((self.side, self.ts, Chunk::Gap(off, len))),
            Kind::Other => {}
            Kind::Yamux => {
                self.obs.gap(self.info, self.side, self.ts, off, len);
                self.tracker.note_gap();
                self.decoder();
                let Some(d) = self.dec.as_mut() else { return };
                let mut fs = FrameSink {
                    info: self.info,
                    tracker: self.tracker,
                    obs: self.obs,
                    side: self.side,
                    ts: self.ts,
                    frames: self.frames,
                };
                d.gap(len, &mut fs);
            }
        }
    }

    fn mismatch(&mut self, off: u64, len: u64) {
        if matches!(self.kind, Kind::Other) {
            return;
        }
        let f = Finding::new(
            FindingKind::RetransmissionMismatch,
            Some(self.side),
            None,
            format!(
                "TCP retransmission at stream offset {off} carries {len} bytes that differ from the first copy"
            ),
        );
        self.obs.finding(self.info, self.ts, &f);
        self.tracker.push_finding(f);
    }
}

/// Decoded frames of one direction → tracker → observer.
struct FrameSink<'a, O: ?Sized> {
    info: &'a ConnInfo,
    tracker: &'a mut Tracker,
    obs: &'a mut O,
    side: Side,
    ts: Duration,
    frames: &'a mut u64,
}

impl<O: Observer + ?Sized> DecodeSink for FrameSink<'_, O> {
    fn preamble(&mut self, line: PreambleLine) {
        self.obs.preamble(self.info, self.side, self.ts, &line);
    }

    fn header(&mut self, offset: u64, h: &Header) {
        *self.frames += 1;
        let rec = self.tracker.on_frame(self.side, self.ts, h);
        let all = self.tracker.findings();
        let new = &all[all.len() - rec.findings..];
        self.obs.frame(&FrameEvent {
            conn: self.info,
            side: self.side,
            ts: self.ts,
            offset,
            header: h,
            record: &rec,
            findings: new,
            tracker: &*self.tracker,
        });
    }

    fn body(&mut self, h: &Header, chunk: &[u8]) {
        self.obs.body(self.info, self.side, h, chunk);
    }

    fn body_gap(&mut self, h: &Header, len: u64) {
        self.obs.body_gap(self.info, self.side, h, len);
    }

    fn undecodable(&mut self, u: Undecodable) {
        self.obs.skipped(self.info, self.side, self.ts, &u);
        if u.is_violation() {
            let f = Finding::new(
                FindingKind::Undecodable,
                Some(self.side),
                None,
                format!(
                    "{} undecodable bytes at stream offset {} ({}){}",
                    u.len,
                    u.offset,
                    u.reason,
                    if u.resynced {
                        ", resynchronised on the next plausible header"
                    } else {
                        ""
                    }
                ),
            );
            let f = Finding {
                rule: u.reason.rule(),
                ..f
            };
            self.obs.finding(self.info, self.ts, &f);
            self.tracker.push_finding(f);
        }
    }

    fn truncated(&mut self, offset: u64, have: u64, needed: u64) {
        self.obs
            .truncated(self.info, self.side, offset, have, needed);
    }
}

/// What a [`StreamConn`] made of its connection so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Not decided yet (bytes are held, at most [`DETECT_LIMIT`] per side).
    Detecting,
    /// Decoded as yamux.
    Yamux,
    /// Not yamux: its bytes are not decoded.
    Other,
}

/// Totals of a finished [`StreamConn`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamTotals {
    /// Frames decoded.
    pub frames: u64,
    /// Findings by severity: info, warning, error.
    pub findings: [u64; 3],
    /// Whether it was decoded as yamux.
    pub yamux: bool,
}

/// One connection whose two byte streams arrive as bytes rather than as
/// packets (a relay, a live socket): the same detection, decoder, tracker
/// and [`Observer`] calls as a captured connection, so the printers show
/// both alike.
///
/// The start of both directions is known, so one plausible header at
/// offset 0 is enough to call it yamux (a capture needs two).
pub struct StreamConn {
    info: ConnInfo,
    kind: Kind,
    dec: [Option<ByteDecoder>; 2],
    tracker: Tracker,
    max_body_len: u32,
    bytes: [u64; 2],
    gap_bytes: [u64; 2],
    ended: [bool; 2],
    last: Duration,
    frames: u64,
}

impl StreamConn {
    /// A connection `info` (side A is the client); `force` skips detection
    /// and decodes it as yamux.
    pub fn new(info: ConnInfo, opts: &Options, force: bool) -> StreamConn {
        let last = info.first;
        StreamConn {
            info,
            kind: if force {
                Kind::Yamux
            } else {
                Kind::Detecting(Vec::new())
            },
            dec: [None, None],
            tracker: Tracker::new(Some(Side::A), false),
            max_body_len: opts.max_body_len,
            bytes: [0; 2],
            gap_bytes: [0; 2],
            ended: [false; 2],
            last,
            frames: 0,
        }
    }

    /// Must be called once before the bytes when `force` was set (the
    /// detection path calls it itself): announces the connection.
    pub fn announce<O: Observer + ?Sized>(&self, obs: &mut O) {
        if matches!(self.kind, Kind::Yamux) {
            obs.connection(&self.info);
        }
    }

    /// The connection.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// Whether it is yamux, as far as known.
    pub fn kind(&self) -> StreamKind {
        match self.kind {
            Kind::Detecting(_) => StreamKind::Detecting,
            Kind::Yamux => StreamKind::Yamux,
            Kind::Other => StreamKind::Other,
        }
    }

    /// The tracker.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Bytes seen per side (gaps included).
    pub fn bytes(&self) -> [u64; 2] {
        self.bytes
    }

    fn pipe<'a, O: Observer + ?Sized>(
        &'a mut self,
        side: Side,
        ts: Duration,
        obs: &'a mut O,
    ) -> Pipe<'a, O> {
        Pipe {
            info: &self.info,
            kind: &mut self.kind,
            dec: &mut self.dec[idx(side)],
            tracker: &mut self.tracker,
            obs,
            side,
            ts,
            max_body_len: self.max_body_len,
            syn_seen: true,
            frames: &mut self.frames,
        }
    }

    /// The next bytes `side` sent, at `ts`.
    pub fn data<O: Observer + ?Sized>(
        &mut self,
        side: Side,
        ts: Duration,
        data: &[u8],
        obs: &mut O,
    ) {
        self.last = self.last.max(ts);
        let off = self.bytes[idx(side)];
        self.bytes[idx(side)] += data.len() as u64;
        self.pipe(side, ts, obs).data(off, data);
        self.detect(obs, false);
    }

    /// `len` bytes of `side` are missing (not reported to us).
    pub fn gap<O: Observer + ?Sized>(&mut self, side: Side, ts: Duration, len: u64, obs: &mut O) {
        if len == 0 {
            return;
        }
        self.last = self.last.max(ts);
        let off = self.bytes[idx(side)];
        self.bytes[idx(side)] += len;
        self.gap_bytes[idx(side)] += len;
        self.pipe(side, ts, obs).gap(off, len);
        self.detect(obs, false);
    }

    /// `side` reached end of stream.
    pub fn eof<O: Observer + ?Sized>(&mut self, side: Side, ts: Duration, obs: &mut O) {
        self.last = self.last.max(ts);
        self.ended[idx(side)] = true;
        self.detect(obs, false);
    }

    fn detect<O: Observer + ?Sized>(&mut self, obs: &mut O, at_end: bool) {
        let Kind::Detecting(chunks) = &self.kind else {
            return;
        };
        let mut verdict = None;
        for side in [Side::A, Side::B] {
            let seen = held_bytes(chunks, side);
            if seen == 0 && !at_end {
                continue;
            }
            let done = at_end || seen >= DETECT_LIMIT || self.ended[idx(side)];
            let out = probe(chunks, side, self.max_body_len, false, done);
            if let Some(v) = judge(&out, self.max_body_len, done, 1) {
                verdict = Some(v);
                if !v {
                    break;
                }
            }
        }
        if verdict.is_none() && at_end {
            verdict = Some(false);
        }
        let Some(yes) = verdict else { return };
        let Kind::Detecting(chunks) =
            std::mem::replace(&mut self.kind, if yes { Kind::Yamux } else { Kind::Other })
        else {
            return;
        };
        if !yes {
            return;
        }
        obs.connection(&self.info);
        for (side, ts, chunk) in chunks {
            let mut sink = self.pipe(side, ts, obs);
            match chunk {
                Chunk::Data(d) => sink.data(0, &d),
                Chunk::Gap(off, n) => sink.gap(off, n),
            }
        }
    }

    /// Ends the connection at `ts` (at the latest): the end-of-connection
    /// findings, then [`Observer::conn_end`].
    pub fn finish<O: Observer + ?Sized>(mut self, ts: Duration, obs: &mut O) -> StreamTotals {
        self.detect(obs, true);
        let mut totals = StreamTotals {
            yamux: matches!(self.kind, Kind::Yamux),
            ..StreamTotals::default()
        };
        if !totals.yamux {
            return totals;
        }
        let end = self.last.max(ts);
        for side in [Side::A, Side::B] {
            finish_decoder(
                &mut self.dec[idx(side)],
                &self.info,
                &mut self.tracker,
                obs,
                side,
                end,
                &mut self.frames,
            );
        }
        end_tracker(
            &mut self.tracker,
            &self.info,
            end,
            obs,
            &mut totals.findings,
        );
        totals.frames = self.frames;
        let figures = TcpFigures {
            bytes: self.bytes,
            gap_bytes: self.gap_bytes,
            last: end,
            ..TcpFigures::default()
        };
        obs.conn_end(&self.info, &self.tracker, &figures);
        totals
    }
}
