//! TCP reassembly under capture reordering and duplication, through the
//! whole capture path (pcap → `Analyzer`): yamux connections are built as a
//! network would carry them (handshake, data both ways, each side's
//! acknowledgments, FINs), then the capture is perturbed the way real
//! captures are: packets reordered within and across connections, an
//! acknowledgment written before the data it acknowledges, FINs before the
//! data they follow, duplicates, overlapping retransmissions, sequence
//! numbers that wrap. What is decoded must be what the in-order capture
//! gives, and a gap only what is really missing.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use proptest::prelude::*;
use yamux::frame::{Flags, Frame, Header, StreamId};
use yamux::tracker::{Finding, FindingKind, Side};
use yamuxctl::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options};
use yamuxctl::capture::synth::{tcp_packet, SynthPcap};
use yamuxctl::capture::CaptureReader;

/// One captured TCP segment.
#[derive(Clone, Debug)]
struct Pkt {
    /// Connection index.
    conn: usize,
    /// 0: client → server, 1: server → client.
    dir: usize,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

impl Pkt {
    /// Sequence number after its payload and FIN.
    fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload.len() as u32)
            .wrapping_add(u32::from(self.fin) + u32::from(self.syn))
    }

    /// Whether it carries bytes or a FIN (something to acknowledge).
    fn carries(&self) -> bool {
        !self.payload.is_empty() || self.fin
    }

    /// Whether it acknowledges everything `other` carried.
    fn acknowledges(&self, other: &Pkt) -> bool {
        self.conn == other.conn
            && self.dir != other.dir
            && self
                .ack
                .is_some_and(|a| a.wrapping_sub(other.end()) as i32 >= 0)
    }
}

/// A yamux connection: what each side sends, and how.
#[derive(Clone, Debug)]
struct ConnSpec {
    client: SocketAddrV4,
    server: SocketAddrV4,
    /// Initial sequence numbers (client, server).
    isn: [u32; 2],
    /// The yamux bytes each side sends (client, server).
    wire: [Vec<u8>; 2],
    /// Segment sizes, used in turn (client, server).
    mss: [Vec<usize>; 2],
}

/// Yamux traffic of one connection: the client opens `streams` streams and
/// sends `chunks` bodies on each, the server accepts and echoes, both
/// close. Body sizes and contents come from `seed`.
fn yamux_traffic(streams: u32, chunks: &[usize], seed: u8) -> [Vec<u8>; 2] {
    let mut client = Vec::new();
    let mut server = Vec::new();
    let put = |out: &mut Vec<u8>, f: Frame| out.extend(f.to_vec().expect("valid frame"));
    for s in 0..streams {
        let id = StreamId::new(2 * s + 1);
        put(&mut client, Frame::window_update(id, Flags::SYN, 0));
        put(&mut server, Frame::window_update(id, Flags::ACK, 0));
        for (k, &len) in chunks.iter().enumerate() {
            let body: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (k as u8) ^ (s as u8))
                .collect();
            put(&mut client, Frame::data(id, Flags::NONE, body.clone()));
            put(&mut server, Frame::data(id, Flags::NONE, body));
        }
        put(&mut client, Frame::data(id, Flags::FIN, Vec::new()));
        put(&mut server, Frame::data(id, Flags::FIN, Vec::new()));
    }
    put(&mut client, Frame::ping(Flags::SYN, u32::from(seed)));
    put(&mut server, Frame::ping(Flags::ACK, u32::from(seed)));
    [client, server]
}

fn conn_spec(k: usize, isn: [u32; 2], wire: [Vec<u8>; 2], mss: [Vec<usize>; 2]) -> ConnSpec {
    ConnSpec {
        client: SocketAddrV4::new([10, 0, 0, 1].into(), 40000 + k as u16),
        server: SocketAddrV4::new([10, 0, 0, 2].into(), 7000),
        isn,
        wire,
        mss,
    }
}

/// The packets of a connection in network order: handshake; then rounds
/// of one client segment (acknowledging what the server sent so far) and
/// one server segment or pure acknowledgment (acknowledging the client's
/// segment); FINs; the last acknowledgment. Returns (handshake, the rest).
fn timeline(k: usize, c: &ConnSpec) -> (Vec<Pkt>, Vec<Pkt>) {
    let addr = [c.client, c.server];
    let start = [c.isn[0].wrapping_add(1), c.isn[1].wrapping_add(1)];
    let pkt = |dir: usize, seq: u32, ack: Option<u32>, syn, fin, payload: &[u8]| Pkt {
        conn: k,
        dir,
        src: addr[dir],
        dst: addr[1 - dir],
        seq,
        ack,
        syn,
        fin,
        payload: payload.to_vec(),
    };
    let hs = vec![
        pkt(0, c.isn[0], None, true, false, &[]),
        pkt(1, c.isn[1], Some(start[0]), true, false, &[]),
        pkt(0, start[0], Some(start[1]), false, false, &[]),
    ];
    let segs: [Vec<(usize, usize)>; 2] = [0, 1].map(|d| {
        let mut out = Vec::new();
        let mut at = 0;
        for m in c.mss[d].iter().cycle() {
            if at >= c.wire[d].len() {
                break;
            }
            let e = (at + (*m).max(1)).min(c.wire[d].len());
            out.push((at, e));
            at = e;
        }
        out
    });
    let mut sent = [0usize; 2];
    let mut rest = Vec::new();
    let seq = |d: usize, off: usize| start[d].wrapping_add(off as u32);
    for r in 0..segs[0].len().max(segs[1].len()) {
        for d in 0..2 {
            let ack = Some(seq(1 - d, sent[1 - d]));
            match segs[d].get(r) {
                Some(&(a, e)) => {
                    rest.push(pkt(d, seq(d, a), ack, false, false, &c.wire[d][a..e]));
                    sent[d] = e;
                }
                None if d == 1 => rest.push(pkt(d, seq(d, sent[d]), ack, false, false, &[])),
                None => {}
            }
        }
    }
    let fin = [seq(0, sent[0]), seq(1, sent[1])];
    rest.push(pkt(0, fin[0], Some(fin[1]), false, true, &[]));
    rest.push(pkt(
        1,
        fin[1],
        Some(fin[0].wrapping_add(1)),
        false,
        true,
        &[],
    ));
    rest.push(pkt(
        0,
        fin[0].wrapping_add(1),
        Some(fin[1].wrapping_add(1)),
        false,
        false,
        &[],
    ));
    (hs, rest)
}

/// The in-order capture of several connections: every handshake first, then
/// the connections' packets interleaved one by one.
fn in_order(conns: &[ConnSpec]) -> Vec<Pkt> {
    let (hs, rests): (Vec<_>, Vec<_>) = conns
        .iter()
        .enumerate()
        .map(|(k, c)| timeline(k, c))
        .unzip();
    let mut out: Vec<Pkt> = hs.into_iter().flatten().collect();
    let mut iters: Vec<_> = rests.into_iter().map(Vec::into_iter).collect();
    loop {
        let before = out.len();
        for it in &mut iters {
            out.extend(it.next());
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Moves, for every packet carrying data or a FIN, the first packet of its
/// connection that acknowledges it right before it, when that packet
/// follows within `window` packets: acknowledgments captured before the
/// data they acknowledge. Handshakes (the first `skip` packets) stay.
fn acks_first(mut pkts: Vec<Pkt>, skip: usize, window: usize) -> Vec<Pkt> {
    let mut i = skip;
    while i < pkts.len() {
        if pkts[i].carries() {
            let found = (i + 1..pkts.len().min(i + 1 + window))
                .find(|&j| pkts[j].conn == pkts[i].conn && pkts[j].dir != pkts[i].dir);
            if let Some(j) = found.filter(|&j| pkts[j].acknowledges(&pkts[i])) {
                let p = pkts.remove(j);
                pkts.insert(i, p);
                i += 1;
            }
        }
        i += 1;
    }
    pkts
}

/// Each packet after the first `skip` moves by up to `window - 1` places
/// (`shift` chooses how far), and packets whose `dup` is set are captured a
/// second time up to `window` packets later.
fn shuffle(pkts: &[Pkt], skip: usize, window: usize, shift: &[u8], dup: &[u8]) -> Vec<Pkt> {
    let mut idx: Vec<usize> = (skip..pkts.len()).collect();
    idx.sort_by_key(|&i| i + usize::from(shift[i % shift.len()]) % window);
    let mut out: Vec<Pkt> = pkts[..skip].to_vec();
    let mut later: Vec<(usize, Pkt)> = Vec::new();
    for (n, &i) in idx.iter().enumerate() {
        out.push(pkts[i].clone());
        let d = dup[i % dup.len()];
        if d % 4 == 0 {
            later.push((n + usize::from(d) % window, pkts[i].clone()));
        }
        let (now, wait): (Vec<_>, Vec<_>) = later.into_iter().partition(|(at, _)| *at <= n);
        out.extend(now.into_iter().map(|(_, p)| p));
        later = wait;
    }
    out.extend(later.into_iter().map(|(_, p)| p));
    out
}

fn pcap(pkts: &[Pkt]) -> Vec<u8> {
    let mut out = SynthPcap::new(Vec::new()).expect("pcap header");
    let mut t = Duration::from_secs(1_700_000_000);
    for p in pkts {
        t += Duration::from_micros(10);
        let raw = tcp_packet(p.src, p.dst, p.seq, p.ack, p.syn, p.fin, &p.payload);
        out.packet(t, &raw).expect("packet");
    }
    out.into_inner()
}

/// What a decode saw, per connection (client address) and direction.
#[derive(Default, Debug)]
struct Seen {
    conns: u32,
    frames: BTreeMap<(SocketAddr, Side), Vec<(u64, Header)>>,
    bodies: BTreeMap<(SocketAddr, Side), Vec<u8>>,
    gaps: Vec<(SocketAddr, Side, u64, u64)>,
    findings: Vec<(SocketAddr, FindingKind)>,
}

impl Observer for Seen {
    fn connection(&mut self, _c: &ConnInfo) {
        self.conns += 1;
    }
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.frames
            .entry((ev.conn.a, ev.side))
            .or_default()
            .push((ev.offset, *ev.header));
        for f in ev.findings {
            self.findings.push((ev.conn.a, f.kind));
        }
    }
    fn body(&mut self, c: &ConnInfo, side: Side, _h: &Header, chunk: &[u8]) {
        self.bodies
            .entry((c.a, side))
            .or_default()
            .extend_from_slice(chunk);
    }
    fn gap(&mut self, c: &ConnInfo, side: Side, _ts: Duration, offset: u64, len: u64, _: bool) {
        self.gaps.push((c.a, side, offset, len));
    }
    fn finding(&mut self, c: &ConnInfo, _ts: Duration, f: &Finding) {
        self.findings.push((c.a, f.kind));
    }
}

impl Seen {
    fn mismatches(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.1 == FindingKind::RetransmissionMismatch)
            .count()
    }
}

fn decode(pkts: &[Pkt]) -> Seen {
    let reader = CaptureReader::new(Cursor::new(pcap(pkts))).expect("our pcap");
    let mut seen = Seen::default();
    let summary = Analyzer::new(Options::default()).run(reader, &mut seen);
    assert_eq!(summary.read_error, None);
    assert_eq!(summary.bad_packets, 0);
    seen
}

/// The frames each side sent, by offset, as the in-order capture must
/// decode them.
fn known(conns: &[ConnSpec]) -> BTreeMap<(SocketAddr, Side), Vec<(u64, Header)>> {
    let mut out = BTreeMap::new();
    for c in conns {
        for (d, side) in [(0, Side::A), (1, Side::B)] {
            let mut frames = Vec::new();
            let mut at = 0usize;
            let w = &c.wire[d];
            while at < w.len() {
                let h = Header::decode(&w[at..]).expect("our frames");
                frames.push((at as u64, h));
                at += 12
                    + if h.typ == yamux::frame::FrameType::Data {
                        h.length as usize
                    } else {
                        0
                    };
            }
            out.insert((SocketAddr::V4(c.client), side), frames);
        }
    }
    out
}

/// The perturbed capture decodes exactly as the in-order one: same frames
/// at the same offsets, same body bytes, no gap, no mismatch.
fn assert_same(conns: &[ConnSpec], perturbed: &[Pkt]) -> Result<(), TestCaseError> {
    let reference = decode(&in_order(conns));
    prop_assert_eq!(reference.conns as usize, conns.len());
    prop_assert!(reference.gaps.is_empty(), "{:?}", reference.gaps);
    prop_assert_eq!(&reference.frames, &known(conns));
    let got = decode(perturbed);
    prop_assert_eq!(got.conns, reference.conns);
    prop_assert!(got.gaps.is_empty(), "false gaps: {:?}", got.gaps);
    prop_assert_eq!(got.mismatches(), 0, "{:?}", got.findings);
    prop_assert_eq!(&got.frames, &reference.frames);
    prop_assert_eq!(&got.bodies, &reference.bodies);
    // each direction's frames reach the tracker after the frames of the
    // other they answer, as in order: the same findings
    let sorted = |f: &[(SocketAddr, FindingKind)]| {
        let mut f = f.to_vec();
        f.sort();
        f
    };
    prop_assert_eq!(sorted(&got.findings), sorted(&reference.findings));
    Ok(())
}

fn three_connections() -> Vec<ConnSpec> {
    (0..3)
        .map(|k| {
            let wire = yamux_traffic(2 + k as u32, &[700, 3000, 1, 1448, 90], k as u8);
            let isn = [0x1000_0000 * (k as u32 + 1), 0xF000_0000 - 77 * k as u32];
            conn_spec(k, isn, wire, [vec![1448, 536, 1448], vec![1000, 1448]])
        })
        .collect()
}

#[test]
fn three_connections_reordered_with_acknowledgments_before_their_data() {
    let conns = three_connections();
    let base = in_order(&conns);
    let hs = 3 * conns.len();
    // every acknowledgment that can be moved before its data is, then
    // packets move by up to 5 places across all three connections
    let moved = acks_first(base.clone(), hs, 6);
    let perturbed = shuffle(&moved, hs, 6, &[0, 5, 2, 3, 1, 4, 4, 0, 2], &[1]);
    let early_acks = perturbed
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            p.carries()
                && perturbed[..*i]
                    .iter()
                    .any(|q| q.acknowledges(p) && q.ack != p.ack)
        })
        .count();
    assert!(early_acks > 20, "only {early_acks} acknowledgments moved");
    let crossed = perturbed
        .windows(2)
        .filter(|w| w[0].conn != w[1].conn)
        .count();
    assert!(crossed > 20);
    assert_same(&conns, &perturbed).unwrap();
}

#[test]
fn fin_before_the_data_it_follows() {
    let conns: Vec<ConnSpec> = (0..2)
        .map(|k| {
            let wire = yamux_traffic(1, &[2000, 300], 7 + k as u8);
            conn_spec(k, [1000, 9000], wire, [vec![1448], vec![1448]])
        })
        .collect();
    let mut pkts = in_order(&conns);
    // the client's last data segment is captured after its FIN, after the
    // server's FIN that acknowledges it, and after the last ACK
    for k in 0..2 {
        let last = pkts
            .iter()
            .rposition(|p| p.conn == k && p.dir == 0 && !p.payload.is_empty())
            .unwrap();
        let p = pkts.remove(last);
        let mine: Vec<usize> = (0..pkts.len()).filter(|&i| pkts[i].conn == k).collect();
        let [cfin, sfin, end] = mine[mine.len() - 3..] else {
            unreachable!()
        };
        assert!(pkts[cfin].fin && pkts[sfin].fin && !pkts[end].fin);
        pkts.insert(end + 1, p);
    }
    assert_same(&conns, &pkts).unwrap();
}

#[test]
fn duplicated_and_overlapping_retransmissions() {
    let wire = yamux_traffic(1, &[5000, 5000], 3);
    let conns = vec![conn_spec(0, [5, 500], wire, [vec![1000], vec![1448]])];
    let base = in_order(&conns);
    let data: Vec<usize> = (0..base.len())
        .filter(|&i| base[i].dir == 0 && base[i].payload.len() == 1000)
        .collect();
    let (p2, p3, p4) = (data[2], data[3], data[4]);
    let c = &conns[0];
    let start = c.isn[0].wrapping_add(1);
    let off = |i: usize| base[i].seq.wrapping_sub(start) as usize;
    // a retransmission from the middle of segment 2 to the middle of
    // segment 4: its copy of segment 2's and of segment 4's bytes differ
    let (rs, re) = (off(p2) + 500, off(p4) + 500);
    let mut bytes = c.wire[0][rs..re].to_vec();
    bytes[10] ^= 0xFF;
    let last = bytes.len() - 10;
    bytes[last] ^= 0xFF;
    let retx = Pkt {
        seq: start.wrapping_add(rs as u32),
        payload: bytes,
        ..base[p3].clone()
    };
    // an identical retransmission overlapping segments 0 and 1
    let (gs, ge) = (off(data[0]) + 300, off(data[1]) + 700);
    let good = Pkt {
        seq: start.wrapping_add(gs as u32),
        payload: c.wire[0][gs..ge].to_vec(),
        ..base[p3].clone()
    };
    // capture order: ..., 2, 4, retx, retx again, 3, good, 3 again, ...
    let mut pkts = Vec::new();
    for (i, p) in base.iter().enumerate() {
        if i == p3 {
            continue;
        }
        pkts.push(p.clone());
        if i == data[1] {
            pkts.push(p.clone());
        }
        if i == p4 {
            pkts.push(retx.clone());
            pkts.push(retx.clone());
            pkts.push(base[p3].clone());
            pkts.push(good.clone());
            pkts.push(base[p3].clone());
        }
    }
    let reference = decode(&base);
    let got = decode(&pkts);
    assert!(got.gaps.is_empty(), "{:?}", got.gaps);
    assert_eq!(got.frames, reference.frames);
    // the first copy of every byte wins
    assert_eq!(got.bodies, reference.bodies);
    assert_eq!(got.mismatches(), 1, "{:?}", got.findings);
}

#[test]
fn sequence_wrap_in_the_middle_of_a_frame() {
    let wire = yamux_traffic(2, &[3000, 40], 9);
    // frame 1 (stream 1's first Data, 3,000 bytes) starts at offset 12:
    // the client's sequence numbers wrap 1,000 bytes into its body, and
    // the server's inside the header of a frame
    let isn = [
        0u32.wrapping_sub(1 + 12 + 12 + 1000),
        0u32.wrapping_sub(1 + 12 + 5),
    ];
    let conns = vec![conn_spec(0, isn, wire, [vec![700], vec![9, 600]])];
    let base = in_order(&conns);
    assert!(base.iter().any(|p| p.dir == 0
        && p.seq > p.seq.wrapping_add(p.payload.len() as u32)
        && p.seq.wrapping_add(p.payload.len() as u32) != 0));
    // the segments around the wrap come late, after the acknowledgments
    let moved = acks_first(base, 3, 4);
    let perturbed = shuffle(&moved, 3, 3, &[0, 2, 1], &[1, 4, 1]);
    assert_same(&conns, &perturbed).unwrap();
}

#[test]
fn a_lost_packet_at_a_frame_boundary_is_exactly_that_gap() {
    // frames of 1,012 bytes (12 + 1,000) in segments of 1,012 bytes: the
    // client's segments are whole frames after the first (a 12-byte SYN)
    let wire = yamux_traffic(1, &[1000; 8], 1);
    let mss = std::iter::once(12).chain([1012; 20]).collect();
    let conns = vec![conn_spec(0, [77, 88], wire, [mss, vec![1448]])];
    let base = in_order(&conns);
    let frames = &known(&conns)[&(SocketAddr::V4(conns[0].client), Side::A)];
    let lost_frame = frames[4];
    let lost = base
        .iter()
        .position(|p| p.dir == 0 && p.seq == 78u32 + lost_frame.0 as u32)
        .unwrap();
    assert_eq!(base[lost].payload.len(), 1012);
    let mut pkts = base.clone();
    pkts.remove(lost);
    // the segments after it come after the acknowledgments covering them
    let pkts = acks_first(pkts, 3, 4);
    let got = decode(&pkts);
    let client = SocketAddr::V4(conns[0].client);
    assert_eq!(got.gaps, vec![(client, Side::A, lost_frame.0, 1012)]);
    let mut expect = frames.clone();
    expect.remove(4);
    assert_eq!(got.frames[&(client, Side::A)], expect);
    let reference = decode(&base);
    assert_eq!(
        got.frames[&(client, Side::B)],
        reference.frames[&(client, Side::B)]
    );
}

/// One generated connection: streams, body sizes per stream, initial
/// sequence numbers, segment sizes per direction.
type ConnInput = (u32, Vec<usize>, [u32; 2], [Vec<usize>; 2]);

/// One generated capture: 1–3 connections of random yamux traffic, their
/// packets shuffled within a window and some captured twice.
#[derive(Clone, Debug)]
struct Input {
    conns: Vec<ConnInput>,
    window: usize,
    shift: Vec<u8>,
    dup: Vec<u8>,
}

fn input_strategy() -> impl Strategy<Value = Input> {
    let conn = (
        1u32..4,
        proptest::collection::vec(0usize..4000, 1..5),
        any::<[u32; 2]>(),
        proptest::array::uniform2(proptest::collection::vec(1usize..3000, 1..4)),
    );
    (
        proptest::collection::vec(conn, 1..4),
        2usize..10,
        proptest::collection::vec(any::<u8>(), 1..40),
        proptest::collection::vec(any::<u8>(), 1..40),
    )
        .prop_map(|(conns, window, shift, dup)| Input {
            conns,
            window,
            shift,
            dup,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random yamux traffic on 1–3 connections, every packet moved by up
    /// to `window - 1` places (across connections and directions, so
    /// acknowledgments come before their data and FINs before data), some
    /// captured twice: the same frames as in order, no gap.
    #[test]
    fn shuffled_and_duplicated_decodes_as_in_order(input in input_strategy()) {
        let conns: Vec<ConnSpec> = input
            .conns
            .iter()
            .enumerate()
            .map(|(k, (streams, chunks, isn, mss))| {
                let wire = yamux_traffic(*streams, chunks, k as u8);
                conn_spec(k, *isn, wire, mss.clone())
            })
            .collect();
        let base = in_order(&conns);
        let perturbed = shuffle(&base, 3 * conns.len(), input.window, &input.shift, &input.dup);
        assert_same(&conns, &perturbed)?;
    }
}
