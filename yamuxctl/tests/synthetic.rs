//! Synthetic captures built from a known frame list, cut into random TCP
//! segments, reordered, duplicated and partly lost, written as pcap and read
//! back through the whole capture path. Decoded frames must equal the known
//! list, except frames whose header fell into a reported gap; reported gaps
//! must be exactly the lost bytes.

use std::io::Cursor;
use std::net::SocketAddrV4;
use std::time::Duration;

use proptest::prelude::*;
use yamux::frame::{Flags, Frame, GoAwayCode, Header, StreamId, HEADER_LEN};
use yamux::tracker::Side;
use yamuxctl::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options};
use yamuxctl::capture::synth::{tcp_packet, SynthPcap};
use yamuxctl::capture::CaptureReader;

#[derive(Default)]
struct Collect {
    frames: Vec<(Side, u64, Header)>,
    gaps: Vec<(Side, u64, u64)>,
    conns: u32,
}

impl Observer for Collect {
    fn connection(&mut self, _c: &ConnInfo) {
        self.conns += 1;
    }
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.frames.push((ev.side, ev.offset, *ev.header));
    }
    fn gap(&mut self, _c: &ConnInfo, side: Side, _ts: Duration, offset: u64, len: u64) {
        self.gaps.push((side, offset, len));
    }
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (1u32..50, 0u32..100_000).prop_map(|(id, d)| Frame::window_update(
            StreamId::new(id * 2 - 1),
            Flags::NONE,
            d
        )),
        (1u32..50, proptest::collection::vec(any::<u8>(), 1..3000))
            .prop_map(|(id, body)| { Frame::data(StreamId::new(id * 2 - 1), Flags::NONE, body) }),
        (1u32..50).prop_map(|id| Frame::window_update(StreamId::new(id * 2 - 1), Flags::SYN, 0)),
        (1u32..50).prop_map(|id| Frame::data(StreamId::new(id * 2 - 1), Flags::FIN, Vec::new())),
        any::<u32>().prop_map(|v| Frame::ping(Flags::SYN, v)),
        Just(Frame::go_away(GoAwayCode::NORMAL)),
    ]
}

struct Case {
    wire: Vec<u8>,
    /// (offset, header) of every frame
    known: Vec<(u64, Header)>,
}

fn encode(frames: &[Frame]) -> Case {
    let mut wire = Vec::new();
    let mut known = Vec::new();
    for f in frames {
        known.push((wire.len() as u64, f.header));
        wire.extend(f.to_vec().expect("valid frame"));
    }
    Case { wire, known }
}

/// Builds the capture: handshake, then the client's segments in the given
/// order (some twice, some dropped), server ACKs after in-order progress,
/// FIN at the end.
fn capture(
    case: &Case,
    cuts: &[usize],
    shuffle: &[u8],
    dup: &[bool],
    lose: &[u8],
    isn: u32,
    with_acks: bool,
) -> (Vec<u8>, Vec<(u64, u64)>) {
    let c: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let s: SocketAddrV4 = "10.0.0.2:7000".parse().unwrap();
    let server_isn = 5000u32;
    let mut segs = Vec::new();
    let mut at = 0usize;
    for cut in cuts.iter().cycle() {
        if at >= case.wire.len() {
            break;
        }
        let e = (at + cut).min(case.wire.len());
        segs.push((at, e));
        at = e;
    }
    let n = segs.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| i + usize::from(shuffle[i % shuffle.len()] % 4));
    let mut out = SynthPcap::new(Vec::new()).unwrap();
    let mut t = Duration::from_secs(1_700_000_000);
    let mut tick = |out: &mut SynthPcap<Vec<u8>>, p: Vec<u8>| {
        t += Duration::from_micros(10);
        out.packet(t, &p).unwrap();
    };
    tick(&mut out, tcp_packet(c, s, isn, None, true, false, &[]));
    tick(
        &mut out,
        tcp_packet(
            s,
            c,
            server_isn,
            Some(isn.wrapping_add(1)),
            true,
            false,
            &[],
        ),
    );
    let mut lost = Vec::new();
    let mut done = vec![false; n];
    let mut acked = 0usize;
    for &i in &order {
        let (a, e) = segs[i];
        let seq = isn.wrapping_add(1).wrapping_add(a as u32);
        // never lose the last segment: the end of the stream stays known
        if lose[i % lose.len()] == 0 && i + 1 < n {
            lost.push((a as u64, (e - a) as u64));
        } else {
            let p = tcp_packet(
                c,
                s,
                seq,
                Some(server_isn + 1),
                false,
                false,
                &case.wire[a..e],
            );
            tick(&mut out, p.clone());
            if dup[i % dup.len()] {
                tick(&mut out, p);
            }
        }
        done[i] = true;
        // the receiver got everything (loss is in the capture only): ACK
        // the contiguous prefix once it grows
        while acked < n && done[acked] {
            acked += 1;
        }
        if with_acks && acked > 0 && acked % 3 == 0 {
            let upto = segs[acked - 1].1 as u32;
            let ack = isn.wrapping_add(1).wrapping_add(upto);
            tick(
                &mut out,
                tcp_packet(s, c, server_isn + 1, Some(ack), false, false, &[]),
            );
        }
    }
    let end = isn.wrapping_add(1).wrapping_add(case.wire.len() as u32);
    tick(
        &mut out,
        tcp_packet(c, s, end, Some(server_isn + 1), false, true, &[]),
    );
    tick(
        &mut out,
        tcp_packet(
            s,
            c,
            server_isn + 1,
            Some(end.wrapping_add(1)),
            false,
            true,
            &[],
        ),
    );
    lost.sort_unstable();
    // merge adjacent lost ranges
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (o, l) in lost {
        match merged.last_mut() {
            Some((mo, ml)) if *mo + *ml == o => *ml += l,
            _ => merged.push((o, l)),
        }
    }
    (out.into_inner(), merged)
}

fn decode(pcap: Vec<u8>) -> Collect {
    let reader = CaptureReader::new(Cursor::new(pcap)).expect("our pcap");
    let mut obs = Collect::default();
    let summary = Analyzer::new(Options::default()).run(reader, &mut obs);
    assert_eq!(summary.read_error, None);
    obs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decoded_frames_are_the_known_frames_up_to_gaps(
        frames in proptest::collection::vec(frame_strategy(), 1..40),
        cuts in proptest::collection::vec(1usize..2000, 1..30),
        shuffle in proptest::collection::vec(any::<u8>(), 1..30),
        dup in proptest::collection::vec(any::<bool>(), 1..30),
        lose in proptest::collection::vec(0u8..8, 1..30),
        isn in any::<u32>(),
        with_acks in any::<bool>(),
    ) {
        // a stream starts with a frame, so the connection is detected as yamux
        let mut frames = frames;
        frames.insert(0, Frame::window_update(StreamId::new(1), Flags::SYN, 0));
        let case = encode(&frames);
        let (pcap, lost) = capture(&case, &cuts, &shuffle, &dup, &lose, isn, with_acks);
        let got = decode(pcap);
        if got.conns == 0 {
            // nothing recognisable: every header must have been lost
            prop_assert!(case.known.iter().all(|(o, _)| lost.iter().any(|&(g, l)| *o < g + l && g < *o + HEADER_LEN as u64)));
            return Ok(());
        }
        let gaps: Vec<(u64, u64)> = got.gaps.iter().filter(|g| g.0 == Side::A).map(|g| (g.1, g.2)).collect();
        // reported gaps are exactly the lost bytes (adjacent ones merged)
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (o, l) in gaps {
            match merged.last_mut() {
                Some((mo, ml)) if *mo + *ml == o => *ml += l,
                _ => merged.push((o, l)),
            }
        }
        prop_assert_eq!(&merged, &lost);
        let in_gap = |o: u64, len: u64| merged.iter().any(|&(g, l)| o < g + l && g < o + len);
        let want: Vec<(u64, Header)> = case
            .known
            .iter()
            .filter(|(o, _)| !in_gap(*o, HEADER_LEN as u64))
            .copied()
            .collect();
        let have: Vec<(u64, Header)> = got.frames.iter().filter(|f| f.0 == Side::A).map(|f| (f.1, f.2)).collect();
        // recognised as yamux unless no header at all survived
        prop_assert_eq!(got.conns, u32::from(!want.is_empty()));
        prop_assert_eq!(have, want);
    }
}

#[test]
fn no_loss_gives_every_frame_in_order() {
    let frames: Vec<Frame> = (0..50)
        .map(|i| {
            Frame::data(
                StreamId::new(1),
                if i == 0 { Flags::SYN } else { Flags::NONE },
                vec![i as u8; 100 + i],
            )
        })
        .collect();
    let case = encode(&frames);
    let (pcap, lost) = capture(
        &case,
        &[77, 1, 500, 12],
        &[0, 3, 1],
        &[false, true],
        &[1],
        u32::MAX - 300,
        true,
    );
    assert!(lost.is_empty());
    let got = decode(pcap);
    assert!(got.gaps.is_empty());
    let have: Vec<(u64, Header)> = got.frames.iter().map(|f| (f.1, f.2)).collect();
    assert_eq!(have, case.known);
}
