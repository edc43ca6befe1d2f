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
