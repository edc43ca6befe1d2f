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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use yamux::frame::{Header, RawHeader, HEADER_LEN};
use yamux::tracker::{
    plausible_header, ByteDecoder, DecodeSink, Decoded, DecoderConfig, Finding, FindingKind,
    PreambleLine, Side, Tracker, Undecodable,
};

use super::{ConnInfo, FrameEvent, Observer, TcpFigures};
use crate::capture::{ReassemblySink, Stamp};

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
    Detecting(Vec<(Side, Stamp, Chunk)>),
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
    /// Events in capture order (see [`Timeline`]).
    tl: Timeline,
    /// Inputs taken so far: the step of the next one.
    seq: u64,
    /// Per direction, the last inputs fed: (stream offset reached, step),
    /// at most [`REACHED_KEPT`] (see [`Pipeline::step_reaching`]).
    reached: [VecDeque<(u64, u64)>; 2],
}

/// Inputs remembered per direction for [`Pipeline::step_reaching`].
const REACHED_KEPT: usize = 4096;

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
            tl: Timeline::default(),
            seq: 0,
            reached: [VecDeque::new(), VecDeque::new()],
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
        let at = self.stamp(ts);
        self.sink_at(side, at, start_known, obs)
    }

    /// The next step of the timeline, at `ts`: one per packet (or per input
    /// of a connection seen as bytes).
    pub(crate) fn stamp(&mut self, ts: Duration) -> Stamp {
        self.seq += 1;
        Stamp { step: self.seq, ts }
    }

    /// Where the in-order bytes of `side` go, as input of step `at` (from
    /// [`Pipeline::stamp`]).
    pub(crate) fn sink_at<'a, O: Observer + ?Sized>(
        &'a mut self,
        side: Side,
        at: Stamp,
        start_known: bool,
        obs: &'a mut O,
    ) -> Sink<'a, O> {
        self.start_known[side.idx()] = Some(start_known);
        Sink {
            p: self,
            obs,
            side,
            ts: at.ts,
            seq: at.step,
            start_known,
        }
    }

    /// The step of the input that brought `side`'s stream to offset `off`
    /// (`None` if not reached, or no longer remembered).
    pub(crate) fn step_reaching(&self, side: Side, off: u64) -> Option<u64> {
        let r = &self.reached[side.idx()];
        let k = r.partition_point(|&(end, _)| end < off);
        r.get(k).map(|&(_, step)| step)
    }

    /// Notes that input `step` brought `side`'s stream to offset `end`.
    fn note_reached(&mut self, side: Side, end: u64, step: u64) {
        let r = &mut self.reached[side.idx()];
        if r.len() == REACHED_KEPT {
            r.pop_front();
        }
        r.push_back((end, step));
    }

    /// Tells the timeline the earliest step from which each direction's
    /// bytes are still held below the pipeline (out of order in the TCP
    /// reassembly, or waiting for the other direction), `None` for none:
    /// events of later steps wait for them. Then hands on what may go.
    pub(crate) fn held_below<O: Observer + ?Sized>(&mut self, held: [Option<u64>; 2], obs: &mut O) {
        if self.tl.held == held {
            return;
        }
        self.tl.held = held;
        self.settle(obs);
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
            for (side, at, chunk) in chunks {
                let start_known = dirs[side.idx()].start_known;
                let mut sink = self.sink_at(side, at, start_known, obs);
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
        if self.dec[side.idx()].is_none() || !matches!(self.kind, Kind::Yamux) {
            return;
        }
        let start = self.start_known[side.idx()].unwrap_or(true);
        self.sink(side, end, start, obs)
            .decode(0, |d, fs| d.finish(fs));
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
        self.release(obs, true);
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
fn held_bytes(chunks: &[(Side, Stamp, Chunk)], side: Side) -> usize {
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
    chunks: &[(Side, Stamp, Chunk)],
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
    /// This input's step in the connection's timeline.
    seq: u64,
    start_known: bool,
}

impl<O: Observer + ?Sized> Sink<'_, O> {
    /// Runs `f` on this direction's decoder (created on first use) and a
    /// [`FrameSink`] for its output, with the input chunk `len` bytes long
    /// noted for the timeline; then settles the timeline. Only for a yamux
    /// connection.
    fn decode(&mut self, len: u64, f: impl FnOnce(&mut ByteDecoder, &mut FrameSink<'_, O>)) {
        let p = &mut *self.p;
        let i = self.side.idx();
        let cfg = DecoderConfig {
            max_body_len: p.max_body_len,
            preamble: true,
            mid_stream: !self.start_known,
        };
        let dec = p.dec[i].get_or_insert_with(|| ByteDecoder::new(cfg));
        let end = dec.offset() + len;
        // the chunk is remembered only while the decoder holds bytes
        // unresolved (before this input, or after it); an event of this
        // input found no entry and takes its step and time anyway
        let held_before = dec.unresolved_from().is_some();
        if held_before {
            p.tl.chunks[i].push_back((end, self.seq, self.ts));
        }
        let other = self.side.other().idx();
        let other_mark = p.tl.watermark(other, p.dec[other].as_ref());
        let [qa, qb] = &mut p.tl.queue;
        let (queue, other_queue) = if i == 0 { (qa, &*qb) } else { (qb, &*qa) };
        let Some(dec) = p.dec[i].as_mut() else {
            return;
        };
        let mut fs = FrameSink {
            out: Out {
                info: &p.info,
                tracker: &mut p.tracker,
                obs: &mut *self.obs,
                frames: &mut p.frames,
            },
            side: self.side,
            now: (self.seq, self.ts),
            chunks: &p.tl.chunks[i],
            queue,
            other_queue,
            other_mark,
            last: &mut p.tl.last[i],
            body_at: &mut p.tl.body_at[i],
            peer_complete: peer_complete(&p.start_known, &p.lost, &p.skipped, self.side),
            lost: lost(&p.start_known, &p.lost, self.side),
            skipped: &mut p.skipped[i],
            lookahead: std::cell::OnceCell::new(),
        };
        f(dec, &mut fs);
        let unresolved = dec.unresolved_from();
        if !held_before && unresolved.is_some() {
            p.tl.chunks[i].push_back((end, self.seq, self.ts));
        }
        p.tl.prune(i, unresolved);
        p.settle(&mut *self.obs);
    }
}

impl<O: Observer + ?Sized> ReassemblySink for Sink<'_, O> {
    fn data(&mut self, off: u64, bytes: &[u8]) {
        let at = self.stamp();
        self.p
            .note_reached(self.side, off + bytes.len() as u64, at.step);
        match &mut self.p.kind {
            Kind::Detecting(chunks) => {
                chunks.push((self.side, at, Chunk::Data(bytes.to_vec())));
            }
            Kind::Other => {}
            Kind::Yamux => self.decode(bytes.len() as u64, |d, fs| d.feed(bytes, fs)),
        }
    }

    fn gap(&mut self, off: u64, len: u64) {
        let at = self.stamp();
        self.p.note_reached(self.side, off + len, at.step);
        match &mut self.p.kind {
            Kind::Detecting(chunks) => {
                chunks.push((self.side, at, Chunk::Gap(off, len)));
            }
            Kind::Other => {}
            Kind::Yamux => {
                let i = self.side.idx();
                // within the body of a Data frame whose header was seen, no
                // frame is lost: only that body's bytes
                let within_body = self.p.dec[i]
                    .as_ref()
                    .and_then(ByteDecoder::body_remaining)
                    .is_some_and(|r| len <= r);
                self.decode(0, |d, fs| {
                    d.gap(len, fs);
                    fs.emit(
                        Ev::Gap {
                            offset: off,
                            len,
                            frames_lost: !within_body,
                        },
                        None,
                    );
                });
                // counted after the decoder settled the bytes before the
                // gap (the start of a header the gap cut, which the decoder
                // drops, it counts itself: see `DecodeSink::credible`)
                self.p.lost[i] += len;
            }
        }
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            step: self.seq,
            ts: self.ts,
        }
    }

    fn data_at(&mut self, off: u64, bytes: &[u8], at: Stamp) {
        // bytes held since an earlier packet: its step and time
        let now = (self.seq, self.ts);
        (self.seq, self.ts) = (at.step, at.ts);
        self.data(off, bytes);
        (self.seq, self.ts) = now;
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
        if matches!(self.p.kind, Kind::Yamux) {
            self.decode(0, |_, fs| fs.emit(Ev::Finding(f), None));
        } else {
            self.obs.finding(&self.p.info, self.ts, &f);
            self.p.tracker.push_finding(f);
        }
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

/// What a decoder reports, for the tracker and the observer, borrowed
/// while it goes straight through and owned while it waits in the
/// timeline.
#[derive(Debug)]
enum Ev<'b> {
    Preamble(PreambleLine),
    Header {
        offset: u64,
        header: Header,
    },
    Body {
        header: Header,
        bytes: Cow<'b, [u8]>,
    },
    BodyGap {
        header: Header,
        len: u64,
    },
    Skipped(Undecodable),
    Truncated {
        offset: u64,
        have: u64,
        needed: u64,
    },
    /// Bytes missing from the capture; `frames_lost` unless they fell
    /// inside a Data body whose header was seen.
    Gap {
        offset: u64,
        len: u64,
        frames_lost: bool,
    },
    Finding(Finding),
}

impl Ev<'_> {
    fn into_owned(self) -> Ev<'static> {
        match self {
            Ev::Body { header, bytes } => Ev::Body {
                header,
                bytes: Cow::Owned(bytes.into_owned()),
            },
            Ev::Preamble(l) => Ev::Preamble(l),
            Ev::Header { offset, header } => Ev::Header { offset, header },
            Ev::BodyGap { header, len } => Ev::BodyGap { header, len },
            Ev::Skipped(u) => Ev::Skipped(u),
            Ev::Truncated {
                offset,
                have,
                needed,
            } => Ev::Truncated {
                offset,
                have,
                needed,
            },
            Ev::Gap {
                offset,
                len,
                frames_lost,
            } => Ev::Gap {
                offset,
                len,
                frames_lost,
            },
            Ev::Finding(f) => Ev::Finding(f),
        }
    }
}

/// An event waiting for its turn: its step and time.
#[derive(Debug)]
struct Queued {
    seq: u64,
    ts: Duration,
    ev: Ev<'static>,
}

/// The connection's timeline: decoder events reach the tracker and the
/// observer in the order of the input that completed them, with its time,
/// also when a decoder reports frames late (a resynchronising scan holds
/// bytes until a chain of headers confirms a boundary). While one
/// direction's decoder holds bytes unresolved, the other direction's
/// events wait here; when the scan reports its frames, each takes the step
/// and time of the input chunk that completed its header, and both
/// directions are merged by step. Nothing waits while both decoders are in
/// sync: events then go straight through, unbuffered.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// Per direction: events waiting, in order.
    queue: [VecDeque<Queued>; 2],
    /// Per direction, only while its decoder holds bytes unresolved: the
    /// input chunks those bytes came from and the ones fed since, as (stream
    /// offset of the chunk's end, step, time). Empty while in sync (an event
    /// then takes the step and time of the input being decoded).
    chunks: [VecDeque<(u64, u64, Duration)>; 2],
    /// Per direction: the step and time of its last event (events of one
    /// direction never go back in time).
    last: [(u64, Duration); 2],
    /// Per direction: the stream offset of the next body byte of the Data
    /// frame being decoded.
    body_at: [u64; 2],
    /// Per direction: the earliest step of bytes held below the pipeline
    /// ([`Pipeline::held_below`]).
    held: [Option<u64>; 2],
}

impl Timeline {
    /// The step and time of the input chunk holding stream offset `off` of
    /// direction `i`, if it is still known.
    fn at(chunks: &VecDeque<(u64, u64, Duration)>, off: u64) -> Option<(u64, Duration)> {
        let k = chunks.partition_point(|&(end, _, _)| end <= off);
        chunks.get(k).map(|&(_, seq, ts)| (seq, ts))
    }

    /// The earliest step direction `i` may still report an event from: the
    /// chunk of the first byte its decoder holds unresolved, or the first
    /// held below the pipeline (`u64::MAX`: none held).
    fn watermark(&self, i: usize, dec: Option<&ByteDecoder>) -> u64 {
        let scan = dec
            .and_then(ByteDecoder::unresolved_from)
            .map_or(u64::MAX, |off| {
                Timeline::at(&self.chunks[i], off).map_or(u64::MAX, |(seq, _)| seq)
            });
        scan.min(self.held[i].unwrap_or(u64::MAX))
    }

    /// Forgets the chunks of direction `i` wholly before `unresolved` (all
    /// of them when nothing is held).
    fn prune(&mut self, i: usize, unresolved: Option<u64>) {
        let c = &mut self.chunks[i];
        match unresolved {
            None => c.clear(),
            Some(off) => {
                while c.front().is_some_and(|&(end, _, _)| end <= off) {
                    c.pop_front();
                }
            }
        }
    }
}

impl Pipeline {
    /// Hands on the waiting events that nothing can precede any more, in
    /// order of their steps.
    fn settle<O: Observer + ?Sized>(&mut self, obs: &mut O) {
        self.release(obs, false);
    }

    /// Hands on waiting events in order: those nothing can precede any more,
    /// or with `all` every one (the end of the connection).
    fn release<O: Observer + ?Sized>(&mut self, obs: &mut O, all: bool) {
        if self.tl.queue.iter().all(VecDeque::is_empty) {
            return;
        }
        let marks = if all {
            [u64::MAX; 2]
        } else {
            [
                self.tl.watermark(0, self.dec[0].as_ref()),
                self.tl.watermark(1, self.dec[1].as_ref()),
            ]
        };
        let mut out = Out {
            info: &self.info,
            tracker: &mut self.tracker,
            obs,
            frames: &mut self.frames,
        };
        loop {
            let heads = self.tl.queue.each_ref().map(|q| q.front().map(|e| e.seq));
            let side = match heads {
                [Some(a), Some(b)] if b < a => Side::B,
                [Some(_), _] => Side::A,
                [None, Some(_)] => Side::B,
                [None, None] => break,
            };
            let Some(seq) = heads[side.idx()] else { break };
            // every event is from one direction's input, so steps of the
            // two directions never tie
            if !all && seq >= marks[side.other().idx()] {
                break;
            }
            let Some(q) = self.tl.queue[side.idx()].pop_front() else {
                break;
            };
            out.apply(side, q.ts, q.ev);
        }
    }
}

/// Where events go: the tracker, then the observer.
struct Out<'a, O: ?Sized> {
    info: &'a ConnInfo,
    tracker: &'a mut Tracker,
    obs: &'a mut O,
    frames: &'a mut u64,
}

impl<O: Observer + ?Sized> Out<'_, O> {
    fn apply(&mut self, side: Side, ts: Duration, ev: Ev<'_>) {
        let info = self.info;
        match ev {
            Ev::Preamble(line) => self.obs.preamble(info, side, ts, &line),
            Ev::Header { offset, header } => {
                *self.frames += 1;
                let rec = self.tracker.on_frame(side, ts, &header);
                let all = self.tracker.findings();
                let new = &all[all.len() - rec.findings..];
                self.obs.frame(&FrameEvent {
                    conn: info,
                    side,
                    ts,
                    offset,
                    header: &header,
                    record: &rec,
                    findings: new,
                    tracker: &*self.tracker,
                });
            }
            Ev::Body { header, bytes } => self.obs.body(info, side, &header, &bytes),
            Ev::BodyGap { header, len } => self.obs.body_gap(info, side, &header, len),
            Ev::Skipped(u) => {
                self.obs.skipped(info, side, ts, &u);
                if u.is_violation() {
                    let f = Finding::new(
                        FindingKind::Undecodable,
                        Some(side),
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
                    self.obs.finding(info, ts, &f);
                    self.tracker.push_finding(f);
                }
            }
            Ev::Truncated {
                offset,
                have,
                needed,
            } => self.obs.truncated(info, side, offset, have, needed),
            Ev::Gap {
                offset,
                len,
                frames_lost,
            } => {
                self.obs.gap(info, side, ts, offset, len, frames_lost);
                if frames_lost {
                    self.tracker.note_lost(side, ts, len);
                }
            }
            Ev::Finding(f) => {
                self.obs.finding(info, ts, &f);
                self.tracker.push_finding(f);
            }
        }
    }
}

/// Decoded frames of one direction → the timeline → tracker → observer.
struct FrameSink<'a, O: ?Sized> {
    out: Out<'a, O>,
    side: Side,
    /// The step and time of the input being decoded.
    now: (u64, Duration),
    /// This direction's chunks (see [`Timeline`]).
    chunks: &'a VecDeque<(u64, u64, Duration)>,
    queue: &'a mut VecDeque<Queued>,
    other_queue: &'a VecDeque<Queued>,
    /// The other direction's watermark ([`Timeline::watermark`]).
    other_mark: u64,
    last: &'a mut (u64, Duration),
    body_at: &'a mut u64,
    /// See [`peer_complete`].
    peer_complete: bool,
    /// See [`lost`].
    lost: Option<u64>,
    /// Bytes of this direction skipped as undecodable so far.
    skipped: &'a mut u64,
    /// The tracker with the waiting frames of both directions applied, for
    /// [`DecodeSink::credible`] while frames wait (built once per input).
    lookahead: std::cell::OnceCell<Tracker>,
}

impl<O: Observer + ?Sized> FrameSink<'_, O> {
    /// Sends `ev` on, straight through when nothing waits and the other
    /// direction cannot report anything earlier, else into the queue. `at`:
    /// the stream offset of the byte that completed it (`None`: the input
    /// now being decoded).
    fn emit(&mut self, ev: Ev<'_>, at: Option<u64>) {
        let (seq, ts) = match at {
            Some(off) if !self.chunks.is_empty() => {
                Timeline::at(self.chunks, off).unwrap_or(self.now)
            }
            _ => self.now,
        };
        let (seq, ts) = if seq >= self.last.0 {
            (seq, ts)
        } else {
            *self.last
        };
        *self.last = (seq, ts);
        if self.queue.is_empty() && self.other_queue.is_empty() && seq < self.other_mark {
            self.out.apply(self.side, ts, ev);
        } else {
            self.queue.push_back(Queued {
                seq,
                ts,
                ev: ev.into_owned(),
            });
        }
    }
}

impl<O: Observer + ?Sized> DecodeSink for FrameSink<'_, O> {
    fn preamble(&mut self, line: PreambleLine) {
        self.emit(Ev::Preamble(line), None);
    }

    fn header(&mut self, offset: u64, h: &Header) {
        *self.body_at = offset + HEADER_LEN as u64;
        self.emit(
            Ev::Header { offset, header: *h },
            Some(offset + HEADER_LEN as u64 - 1),
        );
    }

    fn body(&mut self, h: &Header, chunk: &[u8]) {
        let at = *self.body_at + (chunk.len() as u64).saturating_sub(1);
        *self.body_at += chunk.len() as u64;
        self.emit(
            Ev::Body {
                header: *h,
                bytes: Cow::Borrowed(chunk),
            },
            Some(at),
        );
    }

    fn body_gap(&mut self, h: &Header, len: u64) {
        *self.body_at += len;
        self.emit(Ev::BodyGap { header: *h, len }, None);
    }

    fn undecodable(&mut self, u: Undecodable) {
        *self.skipped += u.len;
        let at = u.offset + u.len.saturating_sub(1);
        self.emit(Ev::Skipped(u), Some(at));
    }

    fn truncated(&mut self, offset: u64, have: u64, needed: u64) {
        self.emit(
            Ev::Truncated {
                offset,
                have,
                needed,
            },
            None,
        );
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
        // judged against every frame decoded so far, as if none waited
        let tracker = if self.queue.is_empty() && self.other_queue.is_empty() {
            &*self.out.tracker
        } else {
            self.lookahead.get_or_init(|| {
                let mut t = self.out.tracker.clone();
                let mine = self.queue.iter().map(|q| (self.side, q));
                let theirs = self.other_queue.iter().map(|q| (self.side.other(), q));
                let mut all: Vec<(Side, &Queued)> = mine.chain(theirs).collect();
                all.sort_by_key(|(_, q)| q.seq);
                for (side, q) in all {
                    if let Ev::Header { header, .. } = &q.ev {
                        t.on_frame(side, q.ts, header);
                    }
                }
                t
            })
        };
        tracker.credible(self.side, raw, earlier, self.peer_complete, unseen)
    }
}
