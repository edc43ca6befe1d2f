//! One connection's yamux layer, whatever carries its bytes: detection, a
//! byte decoder per direction and one tracker, reporting to an
//! [`Observer`]. A captured connection ([`super::Analyzer`], after TCP
//! reassembly) and a connection seen as two byte streams
//! ([`super::StreamConn`]: the relay, `inject`) both run through it, so
//! `decode`, `stats`, `follow`, `proxy`, `inject` and `watch` classify,
//! decode and judge the same bytes the same way.
//!
//! Detection: a connection is yamux when one direction's first bytes decode
//! as plausible headers (optionally after a multistream-select preamble):
//! one header suffices where the start of that direction is known (a TCP
//! SYN was captured, or the bytes come from a socket); where it is not (a
//! capture that begins mid-connection, where header-like 12 bytes inside a
//! body are likely) the decoder first resynchronises on a chain of
//! [`yamux::tracker::SCAN_CHAIN`] headers and two are needed. A direction
//! that sent nothing is no evidence either way. Until it is decided, the bytes are held (at most
//! [`DETECT_LIMIT`] per direction) and then replayed with their original
//! times.

use std::time::Duration;

use yamux::frame::{Header, RawHeader};
use yamux::tracker::{
    plausible_header, ByteDecoder, DecodeSink, Decoded, DecoderConfig, Finding, FindingKind,
    PreambleLine, Side, Tracker, Undecodable,
};

use super::{ConnInfo, FrameEvent, Observer, TcpFigures};
use crate::capture::ReassemblySink;

/// Bytes per direction examined to decide whether a connection is yamux.
pub const DETECT_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
enum Chunk {
    Data(Vec<u8>),
    Gap(u64, u64),
}

/// Whether the connection is yamux, as far as known.
#[derive(Debug)]
enum Kind {
    Detecting(Vec<(Side, Duration, Chunk)>),
    Yamux,
    Other,
}

/// What the transport knows about one direction.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Direction {
    /// Its first byte was seen (TCP SYN captured, or a socket).
    pub start_known: bool,
    /// It ended (TCP FIN reached, or end of stream).
    pub ended: bool,
}

/// The yamux layer of one connection.
pub(crate) struct Pipeline {
    pub(crate) info: ConnInfo,
    kind: Kind,
    dec: [Option<ByteDecoder>; 2],
    pub(crate) tracker: Tracker,
    max_body_len: u32,
    /// Frames decoded.
    pub(crate) frames: u64,
    /// Per direction: whether its first byte was seen, as last told by
    /// [`Pipeline::sink`] (`None`: no bytes or acknowledgment from it yet).
    start_known: [Option<bool>; 2],
    /// Per direction: bytes lost from it so far.
    lost: [u64; 2],
    /// Per direction: bytes the decoder skipped as undecodable so far.
    skipped: [u64; 2],
}

impl Pipeline {
    /// The layer of connection `info`: detecting, or decided beforehand
    /// (`Some(true)` yamux, `Some(false)` not). A decided yamux connection
    /// is not announced here: the caller calls [`Observer::connection`].
    pub(crate) fn new(
        info: ConnInfo,
        decided: Option<bool>,
        tracker: Tracker,
        max_body_len: u32,
    ) -> Pipeline {
        Pipeline {
            info,
            kind: match decided {
                None => Kind::Detecting(Vec::new()),
                Some(true) => Kind::Yamux,
                Some(false) => Kind::Other,
            },
            dec: [None, None],
            tracker,
            max_body_len,
            frames: 0,
            start_known: [None; 2],
            lost: [0; 2],
            skipped: [0; 2],
        }
    }

    /// `Some(true)` yamux, `Some(false)` not, `None` still detecting.
    pub(crate) fn decided(&self) -> Option<bool> {
        match self.kind {
            Kind::Detecting(_) => None,
            Kind::Yamux => Some(true),
            Kind::Other => Some(false),
        }
    }

    /// Where the in-order bytes of `side` at `ts` go.
    pub(crate) fn sink<'a, O: Observer + ?Sized>(
        &'a mut self,
        side: Side,
        ts: Duration,
        start_known: bool,
        obs: &'a mut O,
    ) -> Sink<'a, O> {
        self.start_known[side.idx()] = Some(start_known);
        Sink {
            p: self,
            obs,
            side,
            ts,
            start_known,
        }
    }

    /// Decides whether the connection is yamux if its held bytes (or, with
    /// `at_end`, the end of the connection) allow it; on yes, announces the
    /// connection and replays the held bytes. Returns the decision when it
    /// was made by this call.
    pub(crate) fn detect<O: Observer + ?Sized>(
        &mut self,
        dirs: [Direction; 2],
        at_end: bool,
        obs: &mut O,
    ) -> Option<bool> {
        let Kind::Detecting(chunks) = &self.kind else {
            return None;
        };
        let mut verdict = None;
        for side in [Side::A, Side::B] {
            let dir = dirs[side.idx()];
            let seen = held_bytes(chunks, side);
            if seen == 0 && !at_end {
                continue;
            }
            let done = at_end || seen >= DETECT_LIMIT || dir.ended;
            let out = probe(chunks, side, self.max_body_len, !dir.start_known, done);
            let need = if dir.start_known { 1 } else { 2 };
            match judge(&out, self.max_body_len, done, need) {
                Some(true) => {
                    verdict = Some(true);
                    break;
                }
                Some(false) => verdict = Some(false),
                None => {}
            }
        }
        if verdict.is_none() && at_end {
            verdict = Some(false);
        }
        let yes = verdict?;
        let Kind::Detecting(chunks) =
            std::mem::replace(&mut self.kind, if yes { Kind::Yamux } else { Kind::Other })
        else {
            return None;
        };
        if yes {
            obs.connection(&self.info);
            for (side, ts, chunk) in chunks {
                let start_known = dirs[side.idx()].start_known;
                let mut sink = self.sink(side, ts, start_known, obs);
                match chunk {
                    Chunk::Data(d) => sink.data(0, &d),
                    Chunk::Gap(off, n) => sink.gap(off, n),
                }
            }
        }
        Some(yes)
    }

    /// Ends the decoder of `side` at `end` (a frame cut short by the end).
    pub(crate) fn finish_side<O: Observer + ?Sized>(
        &mut self,
        side: Side,
        end: Duration,
        obs: &mut O,
    ) {
        if let Some(d) = self.dec[side.idx()].as_mut() {
            let mut fs = FrameSink {
                info: &self.info,
                tracker: &mut self.tracker,
                obs,
                side,
                ts: end,
                frames: &mut self.frames,
                peer_complete: peer_complete(&self.start_known, &self.lost, &self.skipped, side),
                lost: lost(&self.start_known, &self.lost, side),
                skipped: &mut self.skipped[side.idx()],
            };
            d.finish(&mut fs);
        }
    }

    /// Ends a yamux connection at `end`, after [`Pipeline::finish_side`] of
    /// both sides: the tracker's end-of-connection findings (each counted
    /// into `counts` by severity with every earlier one), then
    /// [`Observer::conn_end`].
    pub(crate) fn end<O: Observer + ?Sized>(
        &mut self,
        end: Duration,
        figures: &TcpFigures,
        obs: &mut O,
        counts: &mut [u64; 3],
    ) {
        let before = self.tracker.findings().len();
        self.tracker.finish(end);
        for f in self.tracker.findings_since(before) {
            obs.finding(&self.info, end, f);
        }
        for f in self.tracker.findings() {
            counts[f.severity as usize] += 1;
        }
        obs.conn_end(&self.info, &self.tracker, figures);
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

/// Reads a probe's events: `Some(true)` yamux (`need` plausible headers),
/// `Some(false)` not, `None` not yet known.
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

/// One direction's in-order bytes at one time → detection buffer or
/// decoder (the TCP reassembly's [`ReassemblySink`]).
pub(crate) struct Sink<'a, O: ?Sized> {
    p: &'a mut Pipeline,
    obs: &'a mut O,
    side: Side,
    ts: Duration,
    start_known: bool,
}

impl<O: Observer + ?Sized> Sink<'_, O> {
    /// The decoder of this direction and where its output goes.
    fn decoder(&mut self) -> Option<(&mut ByteDecoder, FrameSink<'_, O>)> {
        let p = &mut *self.p;
        if !matches!(p.kind, Kind::Yamux) {
            return None;
        }
        let cfg = DecoderConfig {
            max_body_len: p.max_body_len,
            preamble: true,
            mid_stream: !self.start_known,
        };
        let dec = p.dec[self.side.idx()].get_or_insert_with(|| ByteDecoder::new(cfg));
        let fs = FrameSink {
            info: &p.info,
            tracker: &mut p.tracker,
            obs: &mut *self.obs,
            side: self.side,
            ts: self.ts,
            frames: &mut p.frames,
            peer_complete: peer_complete(&p.start_known, &p.lost, &p.skipped, self.side),
            lost: lost(&p.start_known, &p.lost, self.side),
            skipped: &mut p.skipped[self.side.idx()],
        };
        Some((dec, fs))
    }
}

impl<O: Observer + ?Sized> ReassemblySink for Sink<'_, O> {
    fn data(&mut self, _off: u64, bytes: &[u8]) {
        if let Kind::Detecting(chunks) = &mut self.p.kind {
            chunks.push((self.side, self.ts, Chunk::Data(bytes.to_vec())));
        } else if let Some((d, mut fs)) = self.decoder() {
            d.feed(bytes, &mut fs);
        }
    }

    fn gap(&mut self, off: u64, len: u64) {
        match &mut self.p.kind {
            Kind::Detecting(chunks) => chunks.push((self.side, self.ts, Chunk::Gap(off, len))),
            Kind::Other => {}
            Kind::Yamux => {
                self.obs.gap(&self.p.info, self.side, self.ts, off, len);
                self.p.tracker.note_gap();
                if let Some((d, mut fs)) = self.decoder() {
                    d.gap(len, &mut fs);
                }
                // counted after the decoder settled the bytes before the
                // gap (the start of a header the gap cut, which the decoder
                // drops, it counts itself: see `DecodeSink::credible`)
                self.p.lost[self.side.idx()] += len;
            }
        }
    }

    fn mismatch(&mut self, off: u64, len: u64) {
        if matches!(self.p.kind, Kind::Other) {
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
        self.obs.finding(&self.p.info, self.ts, &f);
        self.p.tracker.push_finding(f);
    }
}

/// Whether every byte the side other than `side` sent so far was seen and
/// decoded: its start known, no gap, nothing skipped (see
/// [`Tracker::credible`]).
fn peer_complete(
    start_known: &[Option<bool>; 2],
    lost: &[u64; 2],
    skipped: &[u64; 2],
    side: Side,
) -> bool {
    let peer = side.other().idx();
    start_known[peer] == Some(true) && lost[peer] == 0 && skipped[peer] == 0
}

/// Bytes of `side` lost so far, or `None` when its start is unknown (see
/// [`Tracker::credible`]).
fn lost(start_known: &[Option<bool>; 2], lost: &[u64; 2], side: Side) -> Option<u64> {
    (start_known[side.idx()] == Some(true)).then_some(lost[side.idx()])
}

/// Decoded frames of one direction → tracker → observer.
struct FrameSink<'a, O: ?Sized> {
    info: &'a ConnInfo,
    tracker: &'a mut Tracker,
    obs: &'a mut O,
    side: Side,
    ts: Duration,
    frames: &'a mut u64,
    /// See [`peer_complete`].
    peer_complete: bool,
    /// See [`lost`].
    lost: Option<u64>,
    /// Bytes of this direction skipped as undecodable so far.
    skipped: &'a mut u64,
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
        *self.skipped += u.len;
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

    fn credible(
        &self,
        raw: &RawHeader,
        earlier: &[RawHeader],
        skipped: u64,
    ) -> Result<(), &'static str> {
        // bytes that may hold frames never decoded: lost, skipped earlier,
        // and (from the decoder) skipped by this scan before the candidate
        // or cut by a gap
        let unseen = self.lost.map(|l| l + *self.skipped + skipped);
        self.tracker
            .credible(self.side, raw, earlier, self.peer_complete, unseen)
    }
}
