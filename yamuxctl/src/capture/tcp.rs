//! TCP reassembly of one direction of a connection.
//!
//! Sequence numbers are turned into 64-bit stream offsets relative to the
//! first byte (after the SYN, or the first segment seen when the handshake is
//! missing) with wrapping 32-bit arithmetic, so wrap-around is invisible.
//! In-order bytes are handed out at once; segments ahead of the next expected
//! byte wait in a `BTreeMap` keyed by offset, bounded by
//! [`HalfStream::max_held`]. Overlaps are trimmed (the first copy of a byte
//! wins); overlapping bytes that differ from it are reported, once per
//! segment.
//!
//! A gap is reported only for bytes missing from the capture. A capture can
//! hold a segment *after* the acknowledgment that covers it (captures merged
//! from two interfaces, multi-queue NICs), so an acknowledged hole is not a
//! gap yet: it becomes one when [`HOLE_WAIT_PACKETS`] more packets of the
//! connection or [`HOLE_WAIT`] of capture time passed since the first
//! acknowledgment covering it without its bytes arriving
//! ([`HalfStream::expire`]). Missing bytes also become a gap at once when
//! the held data exceeds [`HalfStream::max_held`], when the snaplen cut them
//! off, and at the end of the stream ([`HalfStream::flush`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Where an input stands in the capture: its step in the connection's
/// timeline (one per packet) and its time. Bytes held out of order keep the
/// stamp of the packet that carried them, so that what they complete is
/// shown in that packet's place and at its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Step in the connection's timeline (larger is later).
    pub step: u64,
    /// Capture time.
    pub ts: Duration,
}

/// Receives the reassembled stream.
pub trait ReassemblySink {
    /// The next in-order bytes, at stream offset `off`.
    fn data(&mut self, off: u64, bytes: &[u8]);
    /// `len` bytes at `off` are missing from the capture.
    fn gap(&mut self, off: u64, len: u64);
    /// A retransmission at `off` carried `len` bytes that differ from the
    /// bytes first seen there.
    fn mismatch(&mut self, _off: u64, _len: u64) {}
    /// The stamp of the packet being taken (kept with bytes held out of
    /// order).
    fn stamp(&self) -> Stamp {
        Stamp::default()
    }
    /// In-order bytes that were held out of order since the packet stamped
    /// `at` (by default the same as [`ReassemblySink::data`]).
    fn data_at(&mut self, off: u64, bytes: &[u8], _at: Stamp) {
        self.data(off, bytes);
    }
}

/// Bytes of already delivered data kept per direction to check
/// retransmissions against; older retransmitted bytes are not compared.
const RECENT: usize = 32 * 1024;

/// Packets of the connection (both directions) after the first
/// acknowledgment of a hole before the hole is a gap. Capture reordering
/// comes from receive queues handed to the capture in batches (a NAPI poll
/// takes up to 64 packets per queue) and from merging two interfaces'
/// files: a few dozen packets. A thousand packets of one connection is well
/// beyond that; waiting costs memory (bounded by [`HalfStream::max_held`])
/// and latency, not accuracy: the gap is reported at the time of the
/// acknowledgment.
pub const HOLE_WAIT_PACKETS: u64 = 1024;

/// Capture time after the first acknowledgment of a hole before the hole is
/// a gap (checked at the connection's next packet), for connections too
/// slow to reach [`HOLE_WAIT_PACKETS`]. Capture reordering spans
/// microseconds to milliseconds; two seconds is far beyond it.
pub const HOLE_WAIT: Duration = Duration::from_secs(2);

/// Acknowledged holes waiting at most: a new acknowledgment beyond it
/// extends the last one (it then waits no longer than that one). With
/// [`HalfStream::expire`] called at every packet of the connection at most
/// [`HOLE_WAIT_PACKETS`] + 1 are ever queued; this is a safety net.
const MAX_WAITING: usize = HOLE_WAIT_PACKETS as usize + 1;

/// Where a connection is in the capture: the clock of the hole rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moment {
    /// Packets of the connection seen so far (both directions).
    pub packets: u64,
    /// Capture time of the latest of them (the largest seen).
    pub ts: Duration,
    /// The timeline step of the packet (see [`Stamp`]).
    pub step: u64,
}

impl Moment {
    /// Its stamp.
    pub fn stamp(self) -> Stamp {
        Stamp {
            step: self.step,
            ts: self.ts,
        }
    }
}

impl Moment {
    /// Whether a hole first acknowledged at `self` has waited long enough at
    /// `now`.
    fn expired(self, now: Moment) -> bool {
        now.packets.saturating_sub(self.packets) >= HOLE_WAIT_PACKETS
            || now.ts.saturating_sub(self.ts) >= HOLE_WAIT
    }
}

/// An acknowledgment covering bytes not seen yet.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    /// Stream offset acknowledged.
    upto: u64,
    /// When it was first seen.
    since: Moment,
}

/// Overlapping bytes of one segment that differ from the first copy.
#[derive(Clone, Copy, Debug, Default)]
struct Differ {
    first: Option<u64>,
    count: u64,
}

impl Differ {
    fn add(&mut self, first: u64, count: u64) {
        if count > 0 {
            self.first = Some(self.first.map_or(first, |f| f.min(first)));
            self.count += count;
        }
    }
}

/// One direction of a TCP connection.
#[derive(Debug, Clone)]
pub struct HalfStream {
    started: bool,
    /// The stream's first byte was seen (SYN, or told so).
    pub syn_seen: bool,
    next_seq: u32,
    next_off: u64,
    fin_off: Option<u64>,
    max_ack: u64,
    /// Acknowledged holes not yet declared gaps, by increasing `upto`.
    waiting: VecDeque<Waiting>,
    ooo: BTreeMap<u64, (Vec<u8>, Stamp)>,
    held: usize,
    /// Largest number of out-of-order bytes held before a gap is declared.
    pub max_held: usize,
    /// Most bytes held at once (for memory reporting).
    pub peak_held: usize,
    recent: Vec<u8>,
    /// Offset from which `recent` holds valid bytes.
    recent_from: u64,
    /// The last mismatch reported (offset, bytes): the same differing
    /// segment captured twice is one finding.
    last_mismatch: Option<(u64, u64)>,
    /// Retransmitted bytes compared with the first copy.
    pub retransmitted: u64,
    /// Bytes reported as gaps.
    pub gap_bytes: u64,
}

impl Default for HalfStream {
    fn default() -> Self {
        HalfStream::new(8 << 20)
    }
}

impl HalfStream {
    /// A direction holding at most `max_held` out-of-order bytes.
    pub fn new(max_held: usize) -> HalfStream {
        HalfStream {
            started: false,
            syn_seen: false,
            next_seq: 0,
            next_off: 0,
            fin_off: None,
            max_ack: 0,
            waiting: VecDeque::new(),
            ooo: BTreeMap::new(),
            held: 0,
            max_held,
            peak_held: 0,
            recent: Vec::new(),
            recent_from: 0,
            last_mismatch: None,
            retransmitted: 0,
            gap_bytes: 0,
        }
    }

    /// Offset of the next byte expected.
    pub fn offset(&self) -> u64 {
        self.next_off
    }

    /// Whether any segment was seen.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Bytes waiting for a hole to fill.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether the FIN was seen and every byte before it was accounted for.
    pub fn finished(&self) -> bool {
        self.fin_off.is_some_and(|f| self.next_off >= f)
    }

    /// The earliest timeline step of the bytes held out of order (`None`
    /// when none are): what they complete is still to come at that step.
    pub fn held_from(&self) -> Option<u64> {
        self.ooo.values().map(|(_, at)| at.step).min()
    }

    /// Whether acknowledged bytes are still missing: [`HalfStream::expire`]
    /// has something to do.
    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// `off`, or the FIN's offset if it is beyond: an acknowledgment of the
    /// FIN (seen before the FIN itself) counts the FIN, not a byte.
    fn before_fin(&self, off: u64) -> u64 {
        self.fin_off.map_or(off, |f| off.min(f))
    }

    fn rel(&self, seq: u32) -> i64 {
        self.next_off as i64 + i64::from(seq.wrapping_sub(self.next_seq) as i32)
    }

    /// Takes one segment of this direction: sequence number, flags, the
    /// captured payload and the number of payload bytes cut off after it.
    pub fn segment<S: ReassemblySink + ?Sized>(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        cut: u32,
        sink: &mut S,
    ) {
        if syn && (!self.started || self.next_off == 0) {
            self.started = true;
            self.syn_seen = true;
            self.next_seq = seq.wrapping_add(1);
            self.next_off = 0;
        }
        if !self.started {
            self.started = true;
            self.next_seq = seq;
            self.next_off = 0;
            self.recent_from = 0;
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let start = self.rel(data_seq);
        let total = payload.len() as i64 + i64::from(cut);
        if fin {
            let end = start + total;
            if end >= 0 {
                self.fin_off.get_or_insert(end as u64);
            }
        }
        if !payload.is_empty() {
            self.insert(start, payload, sink);
        }
        if cut > 0 {
            // the bytes cut off by the snaplen are lost for good (unless
            // another copy of them is held already)
            let cut_start = start + payload.len() as i64;
            if cut_start >= 0 && cut_start as u64 == self.next_off {
                self.gap_until(self.next_off + u64::from(cut), sink);
            }
        }
        if self.held > self.max_held {
            self.force_first_gap(sink);
        }
        if self.finished() {
            self.flush(sink);
        }
    }

    /// An acknowledgment from the other direction at `now`: the receiver
    /// has every byte before `ack`. Bytes it acknowledges that are not here
    /// yet may still come (the capture can hold them after the
    /// acknowledgment); [`HalfStream::expire`] declares them a gap if they
    /// do not come in time.
    pub fn acked(&mut self, ack: u32, now: Moment) {
        if !self.started {
            return;
        }
        let mut a = self.rel(ack);
        if let Some(f) = self.fin_off {
            a = a.min(f as i64);
        }
        if a <= self.next_off as i64 {
            return;
        }
        let a = a as u64;
        self.max_ack = self.max_ack.max(a);
        let full = self.waiting.len() >= MAX_WAITING;
        match self.waiting.back_mut() {
            Some(w) if w.upto >= a => {}
            Some(w) if full => w.upto = a,
            _ => self.waiting.push_back(Waiting {
                upto: a,
                since: now,
            }),
        }
    }

    /// When the oldest acknowledged hole still waiting was first
    /// acknowledged: the time its gap is reported at.
    pub fn waiting_since(&self) -> Option<Moment> {
        self.waiting.front().map(|w| w.since)
    }

    /// The stream offset `ack` acknowledges, when bytes before it have not
    /// been handed out yet (not captured yet, or lost): what a segment of
    /// the other direction carrying `ack` answers and so should follow.
    pub fn unseen_before(&self, ack: u32) -> Option<u64> {
        if !self.started {
            return None;
        }
        let a = self.rel(ack);
        let a = self.fin_off.map_or(a, |f| a.min(f as i64));
        (a > self.next_off as i64).then_some(a as u64)
    }

    /// The stream offset of a segment starting at `seq` (before the first
    /// segment: `None`).
    pub fn offset_of(&self, seq: u32) -> Option<u64> {
        if !self.started {
            return None;
        }
        u64::try_from(self.rel(seq)).ok()
    }

    /// Declares a gap for every acknowledged hole that waited
    /// [`HOLE_WAIT_PACKETS`] packets or [`HOLE_WAIT`] by `now`. Call it
    /// after each packet of the connection (when [`HalfStream::waiting`]).
    pub fn expire<S: ReassemblySink + ?Sized>(&mut self, now: Moment, sink: &mut S) {
        self.expire_before(Some(now), u64::MAX, sink);
    }

    /// [`HalfStream::expire`] at `now`, or for every hole whatever its age
    /// (`None`: the end of the connection, memory), declaring no gap at or
    /// beyond `limit` (bytes from there on are known to exist: segments the
    /// caller holds back).
    pub fn expire_before<S: ReassemblySink + ?Sized>(
        &mut self,
        now: Option<Moment>,
        limit: u64,
        sink: &mut S,
    ) {
        while self.expire_first(now, limit, sink) {}
    }

    /// [`HalfStream::expire_before`] for the oldest hole only (its gap
    /// reported at [`HalfStream::waiting_since`]); whether it is done with.
    pub fn expire_first<S: ReassemblySink + ?Sized>(
        &mut self,
        now: Option<Moment>,
        limit: u64,
        sink: &mut S,
    ) -> bool {
        let Some(&w) = self.waiting.front() else {
            return false;
        };
        let upto = self.before_fin(w.upto);
        if upto > self.next_off {
            if now.is_some_and(|now| !w.since.expired(now)) {
                return false;
            }
            self.gap_until(upto.min(limit), sink);
            if upto > self.next_off {
                // the rest waits for the bytes from `limit`
                return false;
            }
        }
        self.waiting.pop_front();
        true
    }

    /// Ends the stream (end of capture, RST): hands out what is held, with
    /// gaps, and a final gap up to the FIN or the highest acknowledgment.
    pub fn flush<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        while !self.ooo.is_empty() {
            self.force_first_gap(sink);
        }
        let end = self.fin_off.unwrap_or(0).max(self.before_fin(self.max_ack));
        if end > self.next_off {
            self.advance_gap(end - self.next_off, sink);
        }
        self.waiting.clear();
    }

    /// Declares the missing bytes before `upto` a gap, handing out the held
    /// bytes between them.
    fn gap_until<S: ReassemblySink + ?Sized>(&mut self, upto: u64, sink: &mut S) {
        while self.next_off < upto {
            let to = self
                .ooo
                .first_key_value()
                .map_or(upto, |(&k, _)| k.min(upto));
            self.advance_gap(to - self.next_off, sink);
            self.drain_reporting(sink);
        }
    }

    fn force_first_gap<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        if let Some((&k, _)) = self.ooo.first_key_value() {
            if k > self.next_off {
                self.advance_gap(k - self.next_off, sink);
            }
            self.drain_reporting(sink);
        }
    }

    fn advance_gap<S: ReassemblySink + ?Sized>(&mut self, len: u64, sink: &mut S) {
        if len == 0 {
            return;
        }
        sink.gap(self.next_off, len);
        self.gap_bytes += len;
        self.next_off += len;
        self.next_seq = self.next_seq.wrapping_add(len as u32);
        self.recent_from = self.next_off;
    }

    /// Hands out the next in-order bytes: from the packet being taken, or
    /// held since the packet stamped `held`.
    fn deliver<S: ReassemblySink + ?Sized>(
        &mut self,
        bytes: &[u8],
        held: Option<Stamp>,
        sink: &mut S,
    ) {
        match held {
            Some(at) => sink.data_at(self.next_off, bytes, at),
            None => sink.data(self.next_off, bytes),
        }
        // remember the last RECENT bytes for retransmission checks
        if self.recent.len() != RECENT {
            self.recent.resize(RECENT, 0);
        }
        let tail = &bytes[bytes.len().saturating_sub(RECENT)..];
        let mut off = self.next_off + (bytes.len() - tail.len()) as u64;
        let mut rest = tail;
        while !rest.is_empty() {
            let at = (off % RECENT as u64) as usize;
            let n = (RECENT - at).min(rest.len());
            self.recent[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            off += n as u64;
        }
        self.next_off += bytes.len() as u64;
        self.next_seq = self.next_seq.wrapping_add(bytes.len() as u32);
    }

    /// Compares old bytes at `off` with what was delivered there.
    fn check_old(&mut self, off: u64, bytes: &[u8], differ: &mut Differ) {
        let lo = self
            .recent_from
            .max(self.next_off.saturating_sub(RECENT as u64));
        let start = off.max(lo);
        let end = (off + bytes.len() as u64).min(self.next_off);
        if start >= end {
            return;
        }
        self.retransmitted += end - start;
        let mut count = 0u64;
        let mut first = None;
        for o in start..end {
            let old = self.recent[(o % RECENT as u64) as usize];
            if old != bytes[(o - off) as usize] {
                count += 1;
                first.get_or_insert(o);
            }
        }
        if let Some(f) = first {
            differ.add(f, count);
        }
    }

    /// Reports the differing bytes of one segment, once.
    fn report<S: ReassemblySink + ?Sized>(&mut self, differ: Differ, sink: &mut S) {
        if let Some(f) = differ.first {
            let m = (f, differ.count);
            if self.last_mismatch != Some(m) {
                self.last_mismatch = Some(m);
                sink.mismatch(f, differ.count);
            }
        }
    }

    fn insert<S: ReassemblySink + ?Sized>(&mut self, start: i64, payload: &[u8], sink: &mut S) {
        let next = self.next_off as i64;
        let end = start + payload.len() as i64;
        let mut differ = Differ::default();
        if end <= next {
            if end > 0 {
                let skip = (-start).max(0) as usize;
                self.check_old(start.max(0) as u64, &payload[skip..], &mut differ);
                self.report(differ, sink);
            }
            return;
        }
        let (start, payload) = if start < next {
            let skip = (next - start) as usize;
            let from = start.max(0) as usize;
            let old_from = (start.max(0) - start) as usize;
            if old_from < skip {
                self.check_old(from as u64, &payload[old_from..skip], &mut differ);
            }
            (next as u64, &payload[skip..])
        } else {
            (start as u64, payload)
        };
        let end = start + payload.len() as u64;
        let overlaps_held = self.ooo.first_key_value().is_some_and(|(&k, _)| k < end);
        if start == self.next_off && !overlaps_held {
            self.deliver(payload, None, sink);
            self.drain(sink, &mut differ);
        } else {
            // held bytes are the first copy: they win over this one
            self.hold(start, payload, sink.stamp(), &mut differ);
            if start == self.next_off {
                self.drain(sink, &mut differ);
            }
        }
        self.report(differ, sink);
    }

    /// Stores out-of-order bytes, trimmed against what is already held.
    fn hold(&mut self, start: u64, payload: &[u8], at: Stamp, differ: &mut Differ) {
        let end = start + payload.len() as u64;
        let mut pieces: Vec<(u64, u64)> = vec![(start, end)];
        // subtract every held range overlapping [start, end)
        let overlapping: Vec<(u64, u64)> = self
            .ooo
            .range(..end)
            .rev()
            .take_while(|(&k, v)| k + v.0.len() as u64 > start || k >= start)
            .filter(|(&k, v)| k + v.0.len() as u64 > start)
            .map(|(&k, v)| (k, k + v.0.len() as u64))
            .collect();
        for (ks, ke) in overlapping {
            // compare the overlap
            let (os, oe) = (ks.max(start), ke.min(end));
            if os < oe {
                if let Some((held, _)) = self.ooo.get(&ks) {
                    let a = &held[(os - ks) as usize..(oe - ks) as usize];
                    let b = &payload[(os - start) as usize..(oe - start) as usize];
                    self.retransmitted += oe - os;
                    if a != b {
                        let mut at = a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y);
                        if let Some((i, _)) = at.next() {
                            differ.add(os + i as u64, 1 + at.count() as u64);
                        }
                    }
                }
            }
            pieces = pieces
                .into_iter()
                .flat_map(|(s, e)| {
                    let mut out = Vec::with_capacity(2);
                    if s < ks.min(e) {
                        out.push((s, ks.min(e)));
                    }
                    if ke.max(s) < e {
                        out.push((ke.max(s), e));
                    }
                    out
                })
                .collect();
        }
        for (s, e) in pieces {
            let bytes = payload[(s - start) as usize..(e - start) as usize].to_vec();
            self.held += bytes.len();
            self.ooo.insert(s, (bytes, at));
        }
        self.peak_held = self.peak_held.max(self.held);
    }

    /// [`HalfStream::drain`] outside a segment's own insertion.
    fn drain_reporting<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        let mut differ = Differ::default();
        self.drain(sink, &mut differ);
        self.report(differ, sink);
    }

    /// Hands out held bytes that have become contiguous. Held bytes already
    /// delivered from another copy (not expected: overlaps are trimmed when
    /// held) are compared with it.
    fn drain<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S, differ: &mut Differ) {
        while let Some(entry) = self.ooo.first_entry() {
            let k = *entry.key();
            if k > self.next_off {
                break;
            }
            let (bytes, at) = entry.remove();
            self.held -= bytes.len();
            let skip = ((self.next_off - k) as usize).min(bytes.len());
            if skip > 0 {
                self.check_old(k, &bytes[..skip], differ);
            }
            if skip < bytes.len() {
                self.deliver(&bytes[skip..], Some(at), sink);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Default, Debug)]
    struct Out {
        bytes: Vec<u8>,
        gaps: Vec<(u64, u64)>,
        mismatches: Vec<(u64, u64)>,
    }
    impl ReassemblySink for Out {
        fn data(&mut self, off: u64, bytes: &[u8]) {
            assert_eq!(off, self.bytes.len() as u64, "data out of order");
            self.bytes.extend_from_slice(bytes);
        }
        fn gap(&mut self, off: u64, len: u64) {
            assert_eq!(off, self.bytes.len() as u64, "gap out of order");
            self.gaps.push((off, len));
            self.bytes.extend(std::iter::repeat_n(0xEE, len as usize));
        }
        fn mismatch(&mut self, off: u64, len: u64) {
            self.mismatches.push((off, len));
        }
    }

    #[test]
    fn reorders_and_wraps() {
        let isn = u32::MAX - 5;
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(isn, true, false, &[], 0, &mut out);
        let data: Vec<u8> = (0..30).collect();
        let seq = |off: usize| isn.wrapping_add(1).wrapping_add(off as u32);
        h.segment(seq(10), false, false, &data[10..20], 0, &mut out);
        h.segment(seq(0), false, false, &data[0..10], 0, &mut out);
        h.segment(seq(5), false, false, &data[5..15], 0, &mut out); // duplicate
        h.segment(seq(20), false, true, &data[20..30], 0, &mut out);
        assert_eq!(out.bytes, data);
        assert!(out.gaps.is_empty() && out.mismatches.is_empty());
        assert!(h.finished());
        assert_eq!(h.retransmitted, 10);
    }

    #[test]
    fn differing_retransmission_is_reported() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(100, false, false, b"abcdef", 0, &mut out);
        h.segment(102, false, false, b"XdYf", 0, &mut out);
        assert_eq!(out.mismatches, vec![(2, 2)]);
        // and in held data
        h.segment(120, false, false, b"hello", 0, &mut out);
        h.segment(121, false, false, b"EL", 0, &mut out);
        assert_eq!(out.mismatches.len(), 2);
    }

    fn at(packets: u64) -> Moment {
        Moment {
            packets,
            ts: Duration::from_millis(packets),
            step: packets,
        }
    }

    #[test]
    fn acknowledgment_before_its_data_is_no_gap() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        h.segment(1001, false, false, b"aaaa", 0, &mut out);
        h.segment(1009, false, false, b"cccc", 0, &mut out);
        // the receiver's acknowledgment of everything, captured before "bbbb"
        h.acked(1013, at(3));
        assert!(h.waiting());
        h.expire(at(4), &mut out);
        h.segment(1005, false, false, b"bbbb", 0, &mut out);
        h.expire(at(5), &mut out);
        assert_eq!(out.bytes, b"aaaabbbbcccc");
        assert!(out.gaps.is_empty());
        assert!(!h.waiting());
    }

    #[test]
    fn acknowledged_hole_is_a_gap_after_hole_wait_packets() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        h.segment(1001, false, false, b"aaaa", 0, &mut out);
        h.segment(1009, false, false, b"cccc", 0, &mut out);
        assert_eq!(h.held(), 4);
        h.acked(1013, at(10));
        // a later acknowledgment does not restart the wait
        h.acked(1013, at(11));
        h.expire(at(10 + HOLE_WAIT_PACKETS - 1), &mut out);
        assert!(out.gaps.is_empty());
        h.expire(at(10 + HOLE_WAIT_PACKETS), &mut out);
        assert_eq!(out.gaps, vec![(4, 4)]);
        assert_eq!(out.bytes.len(), 12);
        assert_eq!(h.held(), 0);
        // the bytes coming after all are dropped, not compared
        h.segment(1005, false, false, b"bbbb", 0, &mut out);
        assert!(out.mismatches.is_empty());
        assert_eq!(out.bytes.len(), 12);
        // snaplen cut bytes in order become a gap at once
        h.segment(1013, false, false, b"dd", 3, &mut out);
        assert_eq!(out.gaps, vec![(4, 4), (14, 3)]);
    }

    #[test]
    fn acknowledged_hole_is_a_gap_after_hole_wait_time() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        h.segment(1001, false, false, b"aaaa", 0, &mut out);
        let t0 = Duration::from_secs(100);
        h.acked(
            1009,
            Moment {
                packets: 3,
                ts: t0,
                step: 0,
            },
        );
        let later = |d: Duration| Moment {
            packets: 4,
            ts: t0 + d,
            step: 4,
        };
        h.expire(later(HOLE_WAIT - Duration::from_micros(1)), &mut out);
        assert!(out.gaps.is_empty());
        h.expire(later(HOLE_WAIT), &mut out);
        // nothing held after the hole: the gap runs to the acknowledgment
        assert_eq!(out.gaps, vec![(4, 4)]);
        assert!(!h.waiting());
    }

    #[test]
    fn holes_acknowledged_later_wait_their_own_time() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        h.segment(1001, false, false, b"aaaa", 0, &mut out);
        h.segment(1009, false, false, b"cccc", 0, &mut out);
        h.acked(1009, at(1)); // covers the hole [4, 8)
        h.segment(1017, false, false, b"eeee", 0, &mut out);
        h.acked(1021, at(500)); // covers [12, 16) too
        h.expire(at(1 + HOLE_WAIT_PACKETS), &mut out);
        assert_eq!(out.gaps, vec![(4, 4)]);
        assert_eq!(out.bytes.len(), 12);
        h.segment(1013, false, false, b"dddd", 0, &mut out);
        h.expire(at(500 + HOLE_WAIT_PACKETS), &mut out);
        assert_eq!(out.gaps, vec![(4, 4)]);
        assert_eq!(&out.bytes[8..], b"ccccddddeeee");
    }

    #[test]
    fn snaplen_cut_stops_at_bytes_held() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        // another copy of [15, 25) was captured whole, earlier
        h.segment(1016, false, false, b"FFFFFGGGGG", 0, &mut out);
        h.segment(1001, false, false, b"aaaaaaaaaa", 10, &mut out);
        assert_eq!(out.gaps, vec![(10, 5)]);
        assert_eq!(&out.bytes[15..], b"FFFFFGGGGG");
    }

    #[test]
    fn one_differing_retransmission_is_one_mismatch() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(0, true, false, &[], 0, &mut out);
        let data: Vec<u8> = (0..60).collect();
        h.segment(1, false, false, &data[0..10], 0, &mut out);
        h.segment(21, false, false, &data[20..30], 0, &mut out);
        h.segment(41, false, false, &data[40..50], 0, &mut out);
        // a retransmission of [5, 45) over delivered and two held pieces,
        // with every byte different
        let bad: Vec<u8> = data[5..45].iter().map(|b| b ^ 0xFF).collect();
        h.segment(6, false, false, &bad, 0, &mut out);
        assert_eq!(out.mismatches, vec![(5, 5 + 10 + 5)]);
        // the same packet captured twice is the same finding
        h.segment(6, false, false, &bad, 0, &mut out);
        assert_eq!(out.mismatches.len(), 1);
        // exact duplicates of good segments are no finding
        h.segment(21, false, false, &data[20..30], 0, &mut out);
        h.segment(1, false, false, &data[0..10], 0, &mut out);
        assert_eq!(out.mismatches.len(), 1);
    }

    #[test]
    fn in_order_copy_differing_from_a_held_one_is_a_mismatch() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(0, true, false, &[], 0, &mut out);
        h.segment(11, false, false, b"KKKKKKKKKK", 0, &mut out);
        // arrives in order, overlapping the held [10, 20) with other bytes
        h.segment(1, false, false, b"aaaaaaaaaaXXXXX", 0, &mut out);
        assert_eq!(out.mismatches, vec![(10, 5)]);
        // the first copy wins
        assert_eq!(&out.bytes[10..], b"KKKKKKKKKK");
        assert_eq!(h.retransmitted, 5);
    }

    proptest! {
        /// Random segmentation, reordering, duplication and loss, with
        /// acknowledgments captured before the data they cover: what comes
        /// out is the original stream, except ranges reported as gaps, which
        /// cover every lost byte and only lost bytes.
        #[test]
        fn reassembly_matches_input_up_to_gaps(
            len in 1usize..3000,
            cuts in proptest::collection::vec(1usize..400, 1..40),
            order in proptest::collection::vec(any::<u16>(), 40),
            dups in proptest::collection::vec(any::<bool>(), 40),
            lost in proptest::collection::vec(0u8..10, 40),
            acks in proptest::collection::vec(any::<bool>(), 1..40),
            isn in any::<u32>(),
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut segs = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= len { break; }
                let e = (at + c).min(len);
                segs.push((at, e));
                at = e;
            }
            let n = segs.len();
            let mut idx: Vec<usize> = (0..n).collect();
            // local reordering: each segment may move up to three places
            idx.sort_by_key(|&i| i + order[i % order.len()] as usize % 4);
            let mut h = HalfStream::new(1 << 30);
            let mut out = Out::default();
            h.segment(isn, true, false, &[], 0, &mut out);
            let mut lost_ranges = Vec::new();
            for (p, &i) in idx.iter().enumerate() {
                let now = Moment { packets: p as u64, ts: Duration::from_micros(p as u64), step: 0 };
                if acks[p % acks.len()] {
                    // the receiver has every segment sent before the ones
                    // captured next (a segment moves at most three places),
                    // lost ones too: its acknowledgment may come first
                    let upto = segs[(p + 3).min(n) - 1].1;
                    h.acked(isn.wrapping_add(1).wrapping_add(upto as u32), now);
                }
                let (s, e) = segs[i];
                if lost[i % lost.len()] == 0 && i + 1 < n {
                    lost_ranges.push((s, e));
                } else {
                    let seq = isn.wrapping_add(1).wrapping_add(s as u32);
                    h.segment(seq, false, i + 1 == n, &data[s..e], 0, &mut out);
                    if dups[i % dups.len()] {
                        h.segment(seq, false, false, &data[s..e], 0, &mut out);
                    }
                }
                h.expire(now, &mut out);
            }
            h.flush(&mut out);
            prop_assert_eq!(out.bytes.len(), len);
            prop_assert!(out.mismatches.is_empty());
            let in_gap = |o: usize| out.gaps.iter().any(|&(g, l)| (g as usize) <= o && o < (g + l) as usize);
            let is_lost = |o: usize| lost_ranges.iter().any(|&(s, e)| s <= o && o < e);
            for (o, b) in data.iter().enumerate() {
                prop_assert_eq!(in_gap(o), is_lost(o), "offset {}", o);
                if !in_gap(o) {
                    prop_assert_eq!(out.bytes[o], *b);
                }
            }
        }
    }
}
