//! `tracker`: two arbitrary byte streams (the two directions of one
//! connection) through [`ByteDecoder`] and [`Tracker`], fed interleaved in
//! chunks of input-chosen sizes, optionally with gaps.
//!
//! Checks: nothing panics; every frame header reported at offset `o` is
//! exactly the 12 input bytes at `o` (the header re-encodes to the bytes it
//! came from) and its body chunks are the input bytes after it; reported
//! ranges (preamble messages, frames, skipped bytes, a truncated tail) are
//! in order, never overlap and stay inside the stream; without gaps they
//! cover every byte exactly once, and the events do not depend on how the
//! bytes were chunked (they equal [`ByteDecoder::decode_all`] of the whole
//! stream); the decoder's offset and frame count match what it was fed and
//! reported; the tracker counted every frame.

use std::time::Duration;

use yamux::frame::HEADER_LEN;
use yamux::tracker::{ByteDecoder, Decoded, DecoderConfig, Side, Tracker};

/// `tracker`: see the module documentation.
///
/// Layout: byte 0 settings (bit 0 preamble, bit 1 mid-stream A, bit 2
/// mid-stream B, bit 3 gaps, bits 4-7 a small body limit), byte 1 chunking
/// seed, bytes 2-3 the length of side A's stream, then A's bytes, then B's.
pub fn tracker(data: &[u8]) {
    let (Some(&settings), Some(&seed)) = (data.first(), data.get(1)) else {
        return;
    };
    let a_len = data
        .get(2..4)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let rest = data.get(4..).unwrap_or_default();
    let (a, b) = rest.split_at(a_len.min(rest.len()));
    let gaps = settings & 8 != 0;
    let max_body_len = match settings >> 4 {
        0 => yamux::frame::DEFAULT_MAX_BODY_LEN,
        n => u32::from(n) * 16,
    };
    let config = |mid_stream: bool| DecoderConfig {
        max_body_len,
        preamble: settings & 1 != 0,
        mid_stream,
    };
    let mut sides = [
        Dir::new(Side::A, a, config(settings & 2 != 0)),
        Dir::new(Side::B, b, config(settings & 4 != 0)),
    ];
    let mut tracker = Tracker::new(None, false);
    let mut rng = u32::from(seed) | 0x100;
    let mut ts = Duration::ZERO;
    while sides.iter().any(|d| d.pos < d.bytes.len()) {
        for d in sides.iter_mut() {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let r = (rng >> 16) as usize;
            let chunk = match r % 4 {
                0 => 1 + r % 13,
                1 => 1 + r % 300,
                2 => 1 + r % 5000,
                _ => usize::MAX,
            };
            ts += Duration::from_micros((r % 1000) as u64);
            let gap = gaps && r % 7 == 0;
            d.step(chunk, gap, ts, &mut tracker);
        }
    }
    for d in sides.iter_mut() {
        d.finish(ts, &mut tracker);
    }
    tracker.finish(ts);
    let frames = tracker.frames();
    for d in &sides {
        assert_eq!(frames[usize::from(d.side == Side::B)], d.dec.frames());
    }
}

/// One direction: its bytes, decoder and what was reported.
struct Dir<'a> {
    side: Side,
    bytes: &'a [u8],
    config: DecoderConfig,
    dec: ByteDecoder,
    /// Input position of the next byte to feed.
    pos: usize,
    events: Vec<Decoded>,
    /// Events already handed to the tracker.
    seen: usize,
    had_gap: bool,
}

impl<'a> Dir<'a> {
    fn new(side: Side, bytes: &'a [u8], config: DecoderConfig) -> Dir<'a> {
        Dir {
            side,
            bytes,
            config,
            dec: ByteDecoder::new(config),
            pos: 0,
            events: Vec::new(),
            seen: 0,
            had_gap: false,
        }
    }

    fn step(&mut self, chunk: usize, gap: bool, ts: Duration, tracker: &mut Tracker) {
        let left = self.bytes.len() - self.pos;
        if left == 0 {
            return;
        }
        let n = chunk.min(left);
        if gap {
            self.dec.gap(n as u64, &mut self.events);
            self.had_gap = true;
            tracker.note_lost(self.side, ts, n as u64);
        } else {
            self.dec
                .feed(&self.bytes[self.pos..self.pos + n], &mut self.events);
        }
        self.pos += n;
        assert_eq!(self.dec.offset(), self.pos as u64, "decoder offset");
        self.report(ts, tracker);
    }

    /// Hands new frame headers to the tracker.
    fn report(&mut self, ts: Duration, tracker: &mut Tracker) {
        for ev in &self.events[self.seen..] {
            if let Decoded::Frame { header, .. } = ev {
                let before = tracker.findings().len();
                let rec = tracker.on_frame(self.side, ts, header);
                assert_eq!(tracker.findings().len() - before, rec.findings);
            }
        }
        self.seen = self.events.len();
    }

    fn finish(&mut self, ts: Duration, tracker: &mut Tracker) {
        self.dec.finish(&mut self.events);
        self.report(ts, tracker);
        let frames = self
            .events
            .iter()
            .filter(|e| matches!(e, Decoded::Frame { .. }))
            .count();
        assert_eq!(self.dec.frames(), frames as u64, "frame count");
        self.check_ranges();
        if !self.had_gap {
            let whole = ByteDecoder::decode_all(self.config, self.bytes);
            assert_eq!(self.events, whole, "chunking changed what was decoded");
        }
    }

    /// Every reported range matches the input, in order, without overlap;
    /// without gaps they cover the whole stream.
    fn check_ranges(&self) {
        let len = self.bytes.len() as u64;
        let mut cursor = 0u64;
        for ev in &self.events {
            let (start, end) = match ev {
                Decoded::Preamble(line) => {
                    let n = line.text.len() as u64 + 1;
                    let prefix = if n < 0x80 { 1 } else { 2 };
                    (line.offset, line.offset + prefix + n)
                }
                Decoded::Frame {
                    offset,
                    header,
                    body,
                    missing,
                } => {
                    let at = *offset as usize;
                    let wire = self.bytes.get(at..at + HEADER_LEN);
                    assert_eq!(
                        wire,
                        Some(&header.to_bytes()[..]),
                        "header at {offset} does not re-encode to its bytes"
                    );
                    let seen = body.len() as u64 + missing;
                    assert!(seen <= header.body_len() as u64, "body longer than Length");
                    if *missing == 0 {
                        let from = at + HEADER_LEN;
                        assert_eq!(
                            self.bytes.get(from..from + body.len()),
                            Some(&body[..]),
                            "body of the frame at {offset} differs from the input"
                        );
                    }
                    (*offset, offset + HEADER_LEN as u64 + seen)
                }
                Decoded::Undecodable(u) => {
                    assert!(u.len > 0, "empty skipped range");
                    (u.offset, u.offset + u.len)
                }
                Decoded::Truncated {
                    offset,
                    have,
                    needed,
                } => {
                    assert!(*needed > 0, "truncated with nothing missing");
                    (*offset, offset + have)
                }
            };
            assert!(start <= end && end <= len, "{ev:?} outside the stream");
            if matches!(ev, Decoded::Truncated { .. }) {
                // the tail: a partial header, or the body part of the last
                // frame again
                assert!(self.had_gap || end == len, "{ev:?} is not the tail");
            } else if self.had_gap {
                assert!(start >= cursor, "{ev:?} overlaps what came before");
            } else {
                assert_eq!(start, cursor, "{ev:?} leaves a hole or overlaps");
            }
            cursor = cursor.max(end);
        }
        if !self.had_gap {
            assert_eq!(cursor, len, "bytes at the end were not reported");
        }
    }
}
