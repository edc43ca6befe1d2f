//! Synthetic captures built from a known frame list, cut into random TCP
//! segments, reordered, duplicated and partly lost, written as pcap and read
//! back through the whole capture path. Decoded frames must equal the known
//! list, except frames whose header fell into a reported gap; reported gaps
//! must be exactly the lost bytes.

use std::io::Cursor;
use std::net::SocketAddrV4;
use std::time::Duration;

use proptest::prelude::*;
use yamux::frame::{Flags, Frame, FrameType, GoAwayCode, Header, StreamId, HEADER_LEN};
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
    fn gap(&mut self, _c: &ConnInfo, side: Side, _ts: Duration, offset: u64, len: u64, _: bool) {
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

/// One generated case: the frames and how the capture cuts, reorders,
/// duplicates and loses their bytes.
#[derive(Debug, Clone)]
struct Input {
    frames: Vec<Frame>,
    cuts: Vec<usize>,
    shuffle: Vec<u8>,
    dup: Vec<bool>,
    lose: Vec<u8>,
    isn: u32,
    with_acks: bool,
}

fn input_strategy() -> impl Strategy<Value = Input> {
    (
        proptest::collection::vec(frame_strategy(), 1..40),
        proptest::collection::vec(1usize..2000, 1..30),
        proptest::collection::vec(any::<u8>(), 1..30),
        proptest::collection::vec(any::<bool>(), 1..30),
        proptest::collection::vec(0u8..8, 1..30),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(frames, cuts, shuffle, dup, lose, isn, with_acks)| Input {
            frames,
            cuts,
            shuffle,
            dup,
            lose,
            isn,
            with_acks,
        })
}

/// The generated frames as a client sends them: stream ids allocated in
/// order of first use (1, 3, 5, …) and every stream opened (a Window Update
/// with SYN) before its first other frame, as every implementation does; the
/// resync relies on it (a jump in ids needs SYNs in the lost bytes). The
/// connection starts with a frame (stream 1's SYN), so it is detected as
/// yamux.
fn as_sent(generated: &[Frame]) -> Vec<Frame> {
    let mut ids = std::collections::HashMap::new();
    let mut next = 1u32;
    let mut open = |gid: u32, out: &mut Vec<Frame>, syn: bool| -> StreamId {
        let id = *ids.entry(gid).or_insert_with(|| {
            let id = next;
            next += 2;
            if !syn {
                out.push(Frame::window_update(StreamId::new(id), Flags::SYN, 0));
            }
            id
        });
        StreamId::new(id)
    };
    let mut out = Vec::new();
    open(1, &mut out, false);
    for f in generated {
        let h = f.header;
        match h.typ {
            FrameType::Data | FrameType::WindowUpdate => {
                let id = open(h.stream_id.val(), &mut out, h.flags.contains(Flags::SYN));
                let mut f = f.clone();
                f.header.stream_id = id;
                out.push(f);
            }
            _ => out.push(f.clone()),
        }
    }
    out
}

/// The invariant. No frame is invented: the decoded frames are known frames,
/// in order, none whose header overlaps a lost range. Every known frame is
/// decoded except those whose header overlaps a lost range and those nothing
/// could confirm: bytes lost between the end of its header and the end of
/// the header that would follow it (a resynchronising decoder takes a lone
/// header only when it explains every byte up to the gap or the end). The
/// reported gaps are exactly the lost bytes.
fn check(input: &Input) -> Result<(), TestCaseError> {
    let case = encode(&as_sent(&input.frames));
    let (pcap, lost) = capture(
        &case,
        &input.cuts,
        &input.shuffle,
        &input.dup,
        &input.lose,
        input.isn,
        input.with_acks,
    );
    let got = decode(pcap);
    let overlaps = |ranges: &[(u64, u64)], o: u64, len: u64| {
        ranges.iter().any(|&(g, l)| o < g + l && g < o + len)
    };
    let wire_len = case.wire.len() as u64;
    let header = HEADER_LEN as u64;
    // (offset, header, whether it must be decoded) of every frame whose
    // header survived
    let survivors: Vec<(u64, Header, bool)> = case
        .known
        .iter()
        .filter(|(o, _)| !overlaps(&lost, *o, header))
        .map(|&(o, h)| {
            let end = o
                + header
                + u64::from(if h.typ == FrameType::Data {
                    h.length
                } else {
                    0
                });
            // bytes lost in its body, or in the header after it (none
            // follows the last frame)
            let unconfirmed = overlaps(&lost, o + header, end - (o + header))
                || (end < wire_len && overlaps(&lost, end, header));
            (o, h, !unconfirmed)
        })
        .collect();
    if got.conns == 0 {
        // nothing recognised: no header survived that must be decoded
        prop_assert!(
            survivors.iter().all(|s| !s.2),
            "no connection, but these frames survived: {:?}",
            survivors
        );
        return Ok(());
    }
    let gaps: Vec<(u64, u64)> = got
        .gaps
        .iter()
        .filter(|g| g.0 == Side::A)
        .map(|g| (g.1, g.2))
        .collect();
    // reported gaps are exactly the lost bytes (adjacent ones merged)
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (o, l) in gaps {
        match merged.last_mut() {
            Some((mo, ml)) if *mo + *ml == o => *ml += l,
            _ => merged.push((o, l)),
        }
    }
    prop_assert_eq!(&merged, &lost);
    let have: Vec<(u64, Header)> = got
        .frames
        .iter()
        .filter(|f| f.0 == Side::A)
        .map(|f| (f.1, f.2))
        .collect();
    // walk the survivors: each decoded frame must be the next survivor, and
    // only unconfirmed ones may be passed over
    let mut next = survivors.iter();
    for &(o, h) in &have {
        loop {
            let Some(&(so, sh, must)) = next.next() else {
                return Err(TestCaseError::fail(format!(
                    "frame at {o} ({h:?}) was never sent there (or out of order); lost: {merged:?}"
                )));
            };
            if (so, sh) == (o, h) {
                break;
            }
            prop_assert!(
                !must,
                "frame at {} ({:?}) not decoded; lost: {:?}; decoded: {:?}",
                so,
                sh,
                merged,
                have
            );
        }
    }
    let rest: Vec<_> = next.filter(|s| s.2).collect();
    prop_assert!(
        rest.is_empty(),
        "frames not decoded at the end: {:?}; lost: {:?}",
        rest,
        merged
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decoded_frames_are_the_known_frames_up_to_gaps(input in input_strategy()) {
        check(&input)?;
    }
}

/// The same invariant over many more cases (scripts/soak-synthetic):
/// `SYNTH_CASES` cases (default 100,000) from case number `SYNTH_FROM`
/// (default 0), each generated from its own seed (its number), so a failing
/// case is rerun alone with `SYNTH_FROM=n SYNTH_CASES=1`. Every failing case
/// is listed, then the test fails.
/// The soak's case number `n`: generated from a seed that is `n`.
fn numbered_case(n: u64) -> Input {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    input_strategy()
        .new_tree(&mut runner)
        .expect("a case")
        .current()
}

/// Soak cases that failed once, kept with their root cause fixed. 228148,
/// 246295, 341873: the first bytes of the stream lost, stream 1's SYN with
/// them, and the bytes between two cut headers read as a Window Update or
/// Data on stream 1 that nothing opened (the judge took the first odd id as
/// needing no SYN, and counted 11 bytes of a cut header at every gap).
/// 1063250, 1210418: 12 bytes between two gaps read as one header (a Window
/// Update on a known stream, a Go Away) that nothing confirms, since its
/// successor would start in the gap.
#[test]
fn soak_failures_stay_fixed() {
    for n in [228_148, 246_295, 341_873, 1_063_250, 1_210_418] {
        if let Err(e) = check(&numbered_case(n)) {
            panic!("case {n}: {e}");
        }
    }
}

#[test]
#[ignore = "a soak: run by scripts/soak-synthetic"]
fn soak_decoded_frames_are_the_known_frames_up_to_gaps() {
    let env = |k: &str, d: u64| -> u64 {
        std::env::var(k)
            .ok()
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(d)
    };
    let from = env("SYNTH_FROM", 0);
    let count = env("SYNTH_CASES", 100_000);
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for n in from..from + count {
        if let Err(e) = check(&numbered_case(n)) {
            let e = e.to_string();
            eprintln!("case {n}: {e}");
            failed.push(n);
        }
    }
    eprintln!(
        "soak: {count} cases from {from} in {:.1} s, {} failed: {failed:?}",
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "failing cases: {failed:?}");
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
