//! Detection is one rule whatever carries the bytes: a capture and a relay
//! decide alike.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use yamux::frame::{Flags, FrameType, Header, StreamId, HEADER_LEN};
use yamux::tracker::Side;

use super::{Analyzer, ConnInfo, FrameEvent, Observer, Options, StreamConn, StreamKind};
use crate::capture::synth::tcp_packet;

/// Raw IPv4 (pcap link type 101).
const LINK_RAW: u32 = 101;

#[derive(Default)]
struct Seen {
    conns: u32,
    frames: Vec<(Side, Header)>,
}

impl Observer for Seen {
    fn connection(&mut self, _: &ConnInfo) {
        self.conns += 1;
    }
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.frames.push((ev.side, *ev.header));
    }
}

fn open_stream(id: u32) -> [u8; HEADER_LEN] {
    Header::new(FrameType::WindowUpdate, Flags::SYN, StreamId::new(id), 0).to_bytes()
}

fn a() -> SocketAddrV4 {
    "127.0.0.1:40000".parse().unwrap()
}

fn b() -> SocketAddrV4 {
    "127.0.0.1:5000".parse().unwrap()
}

fn info() -> ConnInfo {
    ConnInfo {
        id: 1,
        a: SocketAddr::V4(a()),
        b: SocketAddr::V4(b()),
        handshake: true,
        first: Duration::ZERO,
    }
}

/// Feeds `packets` (raw IPv4) to an analyzer; returns what was seen before
/// the end of the capture and the analyzer.
fn capture(packets: &[Vec<u8>]) -> (Seen, Analyzer) {
    let mut an = Analyzer::new(Options::default());
    let mut seen = Seen::default();
    for (i, p) in packets.iter().enumerate() {
        let ts = Duration::from_millis(i as u64);
        an.packet(i as u64 + 1, ts, LINK_RAW, p, &mut seen);
    }
    (seen, an)
}

fn handshake() -> Vec<Vec<u8>> {
    vec![
        tcp_packet(a(), b(), 100, None, true, false, &[]),
        tcp_packet(b(), a(), 900, Some(101), true, false, &[]),
        tcp_packet(a(), b(), 101, Some(901), false, false, &[]),
    ]
}

#[test]
fn one_header_at_a_known_start_decides_in_a_capture_and_a_relay() {
    let mut packets = handshake();
    packets.push(tcp_packet(
        a(),
        b(),
        101,
        Some(901),
        false,
        false,
        &open_stream(1),
    ));
    let (seen, _) = capture(&packets);
    assert_eq!(seen.conns, 1, "decided at the first header, not at the end");
    assert_eq!(seen.frames.len(), 1);

    let mut seen = Seen::default();
    let mut c = StreamConn::new(info(), &Options::default(), false);
    c.data(Side::A, Duration::ZERO, &open_stream(1), &mut seen);
    assert_eq!(c.kind(), StreamKind::Yamux);
    assert_eq!((seen.conns, seen.frames.len()), (1, 1));
}

#[test]
fn mid_connection_a_capture_needs_more_than_one_header() {
    let pkt = |i: u32| {
        tcp_packet(
            a(),
            b(),
            5000 + 12 * i,
            Some(901),
            false,
            false,
            &open_stream(2 * i + 1),
        )
    };
    let (seen, _) = capture(&[pkt(0)]);
    assert_eq!(
        seen.conns, 0,
        "one header-like run inside unknown bytes proves nothing"
    );
    // the decoder resynchronises on a chain of SCAN_CHAIN headers
    let chain = yamux::tracker::SCAN_CHAIN as u32;
    let packets: Vec<_> = (0..chain).map(pkt).collect();
    let (seen, _) = capture(&packets[..chain as usize - 1]);
    assert_eq!(seen.conns, 0);
    let (seen, an) = capture(&packets);
    assert_eq!(seen.conns, 1);
    let mut seen = seen;
    let summary = an.finish(&mut seen);
    assert_eq!(
        (summary.yamux_connections, summary.frames),
        (1, u64::from(chain))
    );
}

#[test]
fn a_direction_that_sent_nothing_is_no_evidence() {
    // the client half-closes at once; the server speaks yamux
    let mut seen = Seen::default();
    let mut c = StreamConn::new(info(), &Options::default(), false);
    c.eof(Side::A, Duration::ZERO, &mut seen);
    assert_eq!(c.kind(), StreamKind::Detecting);
    c.data(Side::B, Duration::ZERO, &open_stream(2), &mut seen);
    assert_eq!(c.kind(), StreamKind::Yamux);

    // the same at the end of the connection, before any verdict
    let mut seen = Seen::default();
    let mut c = StreamConn::new(info(), &Options::default(), false);
    c.data(Side::B, Duration::ZERO, &open_stream(2)[..8], &mut seen);
    let totals = c.finish(Duration::ZERO, &mut seen);
    assert!(!totals.yamux, "8 bytes are not a header");

    let mut packets = handshake();
    packets.push(tcp_packet(a(), b(), 101, Some(901), false, true, &[]));
    packets.push(tcp_packet(
        b(),
        a(),
        901,
        Some(102),
        false,
        false,
        &open_stream(2),
    ));
    let (seen, _) = capture(&packets);
    assert_eq!(seen.conns, 1);
}

#[test]
fn other_protocols_are_not_yamux_either_way() {
    let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut packets = handshake();
    packets.push(tcp_packet(a(), b(), 101, Some(901), false, false, http));
    let (seen, an) = capture(&packets);
    let mut seen = seen;
    let summary = an.finish(&mut seen);
    assert_eq!((seen.conns, summary.yamux_connections), (0, 0));

    let mut seen = Seen::default();
    let mut c = StreamConn::new(info(), &Options::default(), false);
    c.data(Side::A, Duration::ZERO, http, &mut seen);
    // "G" could start a multistream-select message of 71 bytes: undecided
    // until the bytes say more or the connection ends
    assert_eq!(c.kind(), StreamKind::Detecting);
    let totals = c.finish(Duration::ZERO, &mut seen);
    assert_eq!((totals.yamux, seen.conns), (false, 0));
}

/// Frames per side and gaps, in order.
#[derive(Default)]
struct Order {
    events: Vec<(Side, Option<Header>)>,
}

impl Observer for Order {
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.events.push((ev.side, Some(*ev.header)));
    }
    fn gap(&mut self, _c: &ConnInfo, side: Side, _ts: Duration, _off: u64, _len: u64, _: bool) {
        self.events.push((side, None));
    }
}

/// The server answers a stream whose SYN the capture lost: `n` packets of
/// 500-byte Data frames acknowledging the lost bytes.
fn answer_to_lost_bytes(n: u32) -> Vec<Vec<u8>> {
    let mut packets = handshake();
    packets.push(tcp_packet(
        a(),
        b(),
        101,
        Some(901),
        false,
        false,
        &open_stream(1),
    ));
    // lost from the capture: 113..125, stream 3's SYN
    let mut seq = 901;
    for i in 0..n {
        let mut body = Header::new(FrameType::Data, Flags::NONE, StreamId::new(3), 500)
            .to_bytes()
            .to_vec();
        if i == 0 {
            let ack = Header::new(FrameType::WindowUpdate, Flags::ACK, StreamId::new(3), 0);
            body = [ack.to_bytes().to_vec(), body].concat();
        }
        body.resize(body.len() + 500, i as u8);
        packets.push(tcp_packet(b(), a(), seq, Some(125), false, false, &body));
        seq += body.len() as u32;
    }
    packets
}

#[test]
fn what_answers_bytes_lost_from_the_capture_waits_for_their_gap() {
    let packets = answer_to_lost_bytes(3);
    let mut an = Analyzer::new(Options::default());
    let mut seen = Order::default();
    for (i, p) in packets.iter().enumerate() {
        an.packet(
            i as u64 + 1,
            Duration::from_millis(i as u64),
            LINK_RAW,
            p,
            &mut seen,
        );
    }
    // the lost bytes may still come (a capture can hold them late): the
    // server's answer waits
    assert_eq!(seen.events.len(), 1, "{:?}", seen.events);
    an.finish(&mut seen);
    // at the end they are a gap, then the answer comes, after it
    let sides: Vec<(Side, bool)> = seen.events.iter().map(|e| (e.0, e.1.is_some())).collect();
    let mut expect = vec![(Side::A, true), (Side::A, false)];
    expect.extend([(Side::B, true); 4]);
    assert_eq!(sides, expect);
}

#[test]
fn segments_waiting_for_lost_bytes_are_bounded_by_max_held() {
    let max_held = 4096;
    let packets = answer_to_lost_bytes(20);
    let mut an = Analyzer::new(Options {
        max_held,
        ..Options::default()
    });
    let mut seen = Order::default();
    for (i, p) in packets.iter().enumerate() {
        an.packet(
            i as u64 + 1,
            Duration::from_millis(i as u64),
            LINK_RAW,
            p,
            &mut seen,
        );
    }
    // past max_held the lost bytes are a gap and the answers flow, before
    // the end of the capture
    assert_eq!(seen.events[1], (Side::A, None));
    assert!(seen.events.len() > 2 + 8, "{}", seen.events.len());
    let summary = an.finish(&mut seen);
    assert!(
        summary.peak_held <= max_held + 1024,
        "{}",
        summary.peak_held
    );
    assert_eq!(seen.events.len(), 2 + 21);
}
