//! A connection whose two byte streams arrive as bytes rather than as
//! packets: the relay and `inject`.

use std::time::Duration;

use yamux::tracker::{Side, Tracker};

use super::pipeline::{Direction, Pipeline};
use super::{ConnInfo, Observer, Options, TcpFigures};
use crate::capture::ReassemblySink;

/// What a [`StreamConn`] made of its connection so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Not decided yet (bytes are held, at most [`DETECT_LIMIT`](super::DETECT_LIMIT) per side).
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
/// packets (a relay, a live socket): the same per-connection pipeline
/// (detection, decoders, tracker, [`Observer`] calls) as a captured
/// connection, so the printers show both alike. The start of both
/// directions is known.
pub struct StreamConn {
    pipe: Pipeline,
    bytes: [u64; 2],
    gap_bytes: [u64; 2],
    ended: [bool; 2],
    last: Duration,
}

impl StreamConn {
    /// A connection `info` (side A is the client); `force` skips detection
    /// and decodes it as yamux.
    pub fn new(info: ConnInfo, opts: &Options, force: bool) -> StreamConn {
        let last = info.first;
        StreamConn {
            pipe: Pipeline::new(
                info,
                force.then_some(true),
                Tracker::new(Some(Side::A), false),
                opts.max_body_len,
            ),
            bytes: [0; 2],
            gap_bytes: [0; 2],
            ended: [false; 2],
            last,
        }
    }

    /// Must be called once before the bytes when `force` was set (the
    /// detection path calls it itself): announces the connection.
    pub fn announce<O: Observer + ?Sized>(&self, obs: &mut O) {
        if self.pipe.decided() == Some(true) {
            obs.connection(&self.pipe.info);
        }
    }

    /// The connection.
    pub fn info(&self) -> &ConnInfo {
        &self.pipe.info
    }

    /// Whether it is yamux, as far as known.
    pub fn kind(&self) -> StreamKind {
        match self.pipe.decided() {
            None => StreamKind::Detecting,
            Some(true) => StreamKind::Yamux,
            Some(false) => StreamKind::Other,
        }
    }

    /// The tracker.
    pub fn tracker(&self) -> &Tracker {
        &self.pipe.tracker
    }

    /// Bytes seen per side (gaps included).
    pub fn bytes(&self) -> [u64; 2] {
        self.bytes
    }

    fn dirs(&self) -> [Direction; 2] {
        self.ended.map(|ended| Direction {
            start_known: true,
            ended,
        })
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
        let off = self.bytes[side.idx()];
        self.bytes[side.idx()] += data.len() as u64;
        self.pipe.sink(side, ts, true, obs).data(off, data);
        self.pipe.detect(self.dirs(), false, obs);
    }

    /// `len` bytes of `side` are missing (not reported to us).
    pub fn gap<O: Observer + ?Sized>(&mut self, side: Side, ts: Duration, len: u64, obs: &mut O) {
        if len == 0 {
            return;
        }
        self.last = self.last.max(ts);
        let off = self.bytes[side.idx()];
        self.bytes[side.idx()] += len;
        self.gap_bytes[side.idx()] += len;
        self.pipe.sink(side, ts, true, obs).gap(off, len);
        self.pipe.detect(self.dirs(), false, obs);
    }

    /// `side` reached end of stream.
    pub fn eof<O: Observer + ?Sized>(&mut self, side: Side, ts: Duration, obs: &mut O) {
        self.last = self.last.max(ts);
        self.ended[side.idx()] = true;
        self.pipe.detect(self.dirs(), false, obs);
    }

    /// Ends the connection at `ts` (at the latest): the end-of-connection
    /// findings, then [`Observer::conn_end`].
    pub fn finish<O: Observer + ?Sized>(mut self, ts: Duration, obs: &mut O) -> StreamTotals {
        self.pipe.detect(self.dirs(), true, obs);
        let mut totals = StreamTotals {
            yamux: self.pipe.decided() == Some(true),
            ..StreamTotals::default()
        };
        if !totals.yamux {
            return totals;
        }
        let end = self.last.max(ts);
        let figures = TcpFigures {
            bytes: self.bytes,
            gap_bytes: self.gap_bytes,
            last: end,
            ..TcpFigures::default()
        };
        for side in [Side::A, Side::B] {
            self.pipe.finish_side(side, end, obs);
        }
        self.pipe.end(end, &figures, obs, &mut totals.findings);
        totals.frames = self.pipe.frames;
        totals
    }
}
