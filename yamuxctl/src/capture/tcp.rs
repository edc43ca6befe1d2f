//! TCP reassembly of one direction of a connection.
//!
//! Sequence numbers are turned into 64-bit stream offsets relative to the
//! first byte (after the SYN, or the first segment seen when the handshake is
//! missing) with wrapping 32-bit arithmetic, so wrap-around is invisible.
//! In-order bytes are handed out at once; segments ahead of the next expected
//! byte wait in a `BTreeMap` keyed by offset, bounded by
//! [`HalfStream::max_held`]. Overlaps are trimmed; overlapping bytes that
//! differ from what was already seen are reported. Missing bytes become a
//! reported gap as soon as the receiver acknowledges them (the capture lost
//! them; acknowledgments are applied before the payload of their segment),
//! when the held data exceeds the bound, or when the stream ends.

use std::collections::BTreeMap;

/// Receives the reassembled stream.
pub trait ReassemblySink {
    /// The next in-order bytes, at stream offset `off`.
    fn data(&mut self, off: u64, bytes: &[u8]);
    /// `len` bytes at `off` are missing from the capture.
    fn gap(&mut self, off: u64, len: u64);
    /// A retransmission at `off` carried `len` bytes that differ from the
    /// bytes first seen there.
    fn mismatch(&mut self, _off: u64, _len: u64) {}
}

/// Bytes of already delivered data kept per direction to check
/// retransmissions against; older retransmitted bytes are not compared.
const RECENT: usize = 32 * 1024;

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
    ooo: BTreeMap<u64, Vec<u8>>,
    held: usize,
    /// Largest number of out-of-order bytes held before a gap is declared.
    pub max_held: usize,
    /// Most bytes held at once (for memory reporting).
    pub peak_held: usize,
    recent: Vec<u8>,
    /// Offset from which `recent` holds valid bytes.
    recent_from: u64,
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
            ooo: BTreeMap::new(),
            held: 0,
            max_held,
            peak_held: 0,
            recent: Vec::new(),
            recent_from: 0,
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
            // the bytes cut off by the snaplen are lost for good
            let cut_start = start + payload.len() as i64;
            if cut_start >= 0 && cut_start as u64 == self.next_off {
                self.advance_gap(u64::from(cut), sink);
                self.drain(sink);
            }
        }
        if self.held > self.max_held {
            self.force_first_gap(sink);
        }
        if self.finished() {
            self.flush(sink);
        }
    }

    /// An acknowledgment from the other direction: the receiver has every
    /// byte before `ack`. Holes it acknowledges are gaps in the capture.
    pub fn acked<S: ReassemblySink + ?Sized>(&mut self, ack: u32, sink: &mut S) {
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
        while self.next_off < a {
            let upto = self.ooo.first_key_value().map_or(a, |(&k, _)| k.min(a));
            self.advance_gap(upto - self.next_off, sink);
            self.drain(sink);
        }
    }

    /// Ends the stream (end of capture, RST): hands out what is held, with
    /// gaps, and a final gap up to the FIN or the highest acknowledgment.
    pub fn flush<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        while !self.ooo.is_empty() {
            self.force_first_gap(sink);
        }
        let end = self.fin_off.unwrap_or(0).max(self.max_ack);
        if end > self.next_off {
            self.advance_gap(end - self.next_off, sink);
        }
    }

    fn force_first_gap<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        if let Some((&k, _)) = self.ooo.first_key_value() {
            if k > self.next_off {
                self.advance_gap(k - self.next_off, sink);
            }
            self.drain(sink);
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

    fn deliver<S: ReassemblySink + ?Sized>(&mut self, bytes: &[u8], sink: &mut S) {
        sink.data(self.next_off, bytes);
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
    fn check_old<S: ReassemblySink + ?Sized>(&mut self, off: u64, bytes: &[u8], sink: &mut S) {
        let lo = self
            .recent_from
            .max(self.next_off.saturating_sub(RECENT as u64));
        let start = off.max(lo);
        let end = (off + bytes.len() as u64).min(self.next_off);
        if start >= end {
            return;
        }
        self.retransmitted += end - start;
        let mut differ = 0u64;
        let mut first = None;
        for o in start..end {
            let old = self.recent[(o % RECENT as u64) as usize];
            if old != bytes[(o - off) as usize] {
                differ += 1;
                first.get_or_insert(o);
            }
        }
        if let Some(f) = first {
            sink.mismatch(f, differ);
        }
    }

    fn insert<S: ReassemblySink + ?Sized>(&mut self, start: i64, payload: &[u8], sink: &mut S) {
        let next = self.next_off as i64;
        let end = start + payload.len() as i64;
        if end <= next {
            if end > 0 {
                let skip = (-start).max(0) as usize;
                self.check_old(start.max(0) as u64, &payload[skip..], sink);
            }
            return;
        }
        let (start, payload) = if start < next {
            let skip = (next - start) as usize;
            let from = start.max(0) as usize;
            let old_from = (start.max(0) - start) as usize;
            if old_from < skip {
                self.check_old(from as u64, &payload[old_from..skip], sink);
            }
            (next as u64, &payload[skip..])
        } else {
            (start as u64, payload)
        };
        if start == self.next_off {
            self.deliver(payload, sink);
            self.drain(sink);
        } else {
            self.hold(start, payload, sink);
        }
    }

    /// Stores out-of-order bytes, trimmed against what is already held.
    fn hold<S: ReassemblySink + ?Sized>(&mut self, start: u64, payload: &[u8], sink: &mut S) {
        let end = start + payload.len() as u64;
        let mut pieces: Vec<(u64, u64)> = vec![(start, end)];
        // subtract every held range overlapping [start, end)
        let overlapping: Vec<(u64, u64)> = self
            .ooo
            .range(..end)
            .rev()
            .take_while(|(&k, v)| k + v.len() as u64 > start || k >= start)
            .filter(|(&k, v)| k + v.len() as u64 > start)
            .map(|(&k, v)| (k, k + v.len() as u64))
            .collect();
        for (ks, ke) in overlapping {
            // compare the overlap
            let (os, oe) = (ks.max(start), ke.min(end));
            if os < oe {
                if let Some(held) = self.ooo.get(&ks) {
                    let a = &held[(os - ks) as usize..(oe - ks) as usize];
                    let b = &payload[(os - start) as usize..(oe - start) as usize];
                    self.retransmitted += oe - os;
                    if a != b {
                        let differ = a.iter().zip(b).filter(|(x, y)| x != y).count() as u64;
                        sink.mismatch(os, differ);
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
            self.ooo.insert(s, bytes);
        }
        self.peak_held = self.peak_held.max(self.held);
    }

    /// Hands out held bytes that have become contiguous.
    fn drain<S: ReassemblySink + ?Sized>(&mut self, sink: &mut S) {
        while let Some(entry) = self.ooo.first_entry() {
            let k = *entry.key();
            if k > self.next_off {
                break;
            }
            let bytes = entry.remove();
            self.held -= bytes.len();
            let end = k + bytes.len() as u64;
            if end <= self.next_off {
                continue;
            }
            let skip = (self.next_off - k) as usize;
            self.deliver(&bytes[skip..], sink);
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

    #[test]
    fn ack_past_a_hole_declares_a_gap() {
        let mut h = HalfStream::new(1 << 20);
        let mut out = Out::default();
        h.segment(1000, true, false, &[], 0, &mut out);
        h.segment(1001, false, false, b"aaaa", 0, &mut out);
        h.segment(1009, false, false, b"cccc", 0, &mut out);
        assert_eq!(h.held(), 4);
        h.acked(1013, &mut out);
        assert_eq!(out.gaps, vec![(4, 4)]);
        assert_eq!(out.bytes.len(), 12);
        // snaplen cut bytes in order become a gap at once
        h.segment(1013, false, false, b"dd", 3, &mut out);
        assert_eq!(out.gaps, vec![(4, 4), (14, 3)]);
    }

    proptest! {
        /// Random segmentation, reordering, duplication and loss: what comes
        /// out is the original stream, except ranges reported as gaps, which
        /// cover every lost byte and only lost bytes.
        #[test]
        fn reassembly_matches_input_up_to_gaps(
            len in 1usize..3000,
            cuts in proptest::collection::vec(1usize..400, 1..40),
            order in proptest::collection::vec(any::<u16>(), 40),
            dups in proptest::collection::vec(any::<bool>(), 40),
            lost in proptest::collection::vec(0u8..10, 40),
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
            for &i in &idx {
                let (s, e) = segs[i];
                if lost[i % lost.len()] == 0 && i + 1 < n {
                    lost_ranges.push((s, e));
                    continue;
                }
                let seq = isn.wrapping_add(1).wrapping_add(s as u32);
                h.segment(seq, false, i + 1 == n, &data[s..e], 0, &mut out);
                if dups[i % dups.len()] {
                    h.segment(seq, false, false, &data[s..e], 0, &mut out);
                }
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
