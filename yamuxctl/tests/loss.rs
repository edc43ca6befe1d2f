//! Real captures with one packet taken out, as a lossy capture would have
//! them: what the lost packet carried may be missed, but nothing else may
//! change. Every frame outside it is decoded at the same place in the same
//! order, the timeline in time order, and
//! no finding above info is raised that the lost bytes could explain
//! (duplicate SYN, unanswered ping, data beyond the window, a stream left
//! open): the real `decode` exits 0 where the whole capture does.

mod common;

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use yamux::frame::Header;
use yamux::tracker::{Finding, Severity, Side};
use yamuxctl::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options};
use yamuxctl::capture::{tcp_segment, CaptureReader};

#[derive(Default)]
struct Collect {
    /// (connection, side, stream offset, header, time) in the order decoded.
    frames: Vec<(u32, Side, u64, Header, Duration)>,
    findings: Vec<Finding>,
    gaps: Vec<(Side, u64, u64, bool)>,
}

impl Observer for Collect {
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.frames
            .push((ev.conn.id, ev.side, ev.offset, *ev.header, ev.ts));
        self.findings.extend(ev.findings.iter().cloned());
    }
    fn finding(&mut self, _c: &ConnInfo, _ts: Duration, f: &Finding) {
        self.findings.push(f.clone());
    }
    fn gap(&mut self, _: &ConnInfo, side: Side, _: Duration, off: u64, len: u64, lost: bool) {
        self.gaps.push((side, off, len, lost));
    }
}

/// The packets of a pcap file, with its header.
fn packets(path: &Path) -> (pcap_file::pcap::PcapHeader, Vec<PcapPacket<'static>>) {
    let bytes = std::fs::read(path).expect("read capture");
    let mut r = PcapReader::new(Cursor::new(bytes)).expect("pcap");
    let header = r.header();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("packet").into_owned());
    }
    (header, out)
}

fn pcap_without(
    header: pcap_file::pcap::PcapHeader,
    packets: &[PcapPacket<'static>],
    drop: Option<usize>,
) -> Vec<u8> {
    let mut w = PcapWriter::with_header(Vec::new(), header).expect("writer");
    for (i, p) in packets.iter().enumerate() {
        if Some(i) != drop {
            w.write_packet(p).expect("write");
        }
    }
    w.into_writer()
}

fn decode(pcap: Vec<u8>) -> Collect {
    let reader = CaptureReader::new(Cursor::new(pcap)).expect("our pcap");
    let mut obs = Collect::default();
    Analyzer::new(Options::default()).run(reader, &mut obs);
    obs
}

/// The TCP payload length of packet `p` (0 for none or not TCP).
fn payload_len(link: u32, p: &PcapPacket<'_>) -> usize {
    match tcp_segment(link, &p.data) {
        Ok(Some(seg)) => seg.payload.len(),
        _ => 0,
    }
}

/// Drops, one at a time, every packet that carries exactly one frame
/// header and nothing else (Window Updates, pings, Go Away: 12 bytes),
/// and checks each result against the whole capture: the same frames but
/// that one, and no finding above info that the whole capture lacks. Returns how many
/// were dropped.
fn drop_each_lone_header(name: &str) -> usize {
    let (header, pkts) = packets(&common::data(name));
    let link = u32::from(header.datalink);
    let whole = decode(pcap_without(header, &pkts, None));
    let loud = |c: &Collect| -> Vec<_> {
        c.findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| (f.kind, f.side, f.stream))
            .collect()
    };
    let whole_loud = loud(&whole);
    let mut dropped = 0;
    for (i, p) in pkts.iter().enumerate() {
        if payload_len(link, p) != yamux::frame::HEADER_LEN {
            continue;
        }
        dropped += 1;
        let lossy = decode(pcap_without(header, &pkts, Some(i)));
        let what = format!("{name} without packet {}", i + 1);
        // exactly the one header is missing from its direction
        assert_eq!(lossy.gaps.len(), 1, "{what}: gaps {:?}", lossy.gaps);
        let (side, off, len, frames_lost) = lossy.gaps[0];
        assert_eq!(len, 12, "{what}");
        assert!(frames_lost, "{what}: a lost header loses a frame");
        // every other frame of each direction, in the same order; the
        // timeline in time order (bytes behind the hole wait in the TCP
        // reassembly until the gap is declared, and take that time)
        for d in [Side::A, Side::B] {
            let key = |f: &(u32, Side, u64, Header, Duration)| (f.0, f.1, f.2, f.3);
            let expected: Vec<_> = whole
                .frames
                .iter()
                .filter(|f| f.1 == d && !(f.1 == side && f.2 == off))
                .map(key)
                .collect();
            let got: Vec<_> = lossy.frames.iter().filter(|f| f.1 == d).map(key).collect();
            assert_eq!(got, expected, "{what}: frames of {d:?} differ");
        }
        assert!(
            lossy.frames.windows(2).all(|w| w[0].4 <= w[1].4),
            "{what}: frames out of time order"
        );
        for f in &lossy.frames {
            let orig = whole.frames.iter().find(|w| (w.1, w.2) == (f.1, f.2));
            assert!(
                orig.is_some_and(|o| o.4 <= f.4),
                "{what}: {f:?} before its packet"
            );
        }
        // nothing the lost frame could explain is reported above info:
        // only what the whole capture reports
        let extra: Vec<_> = loud(&lossy)
            .into_iter()
            .filter(|f| !whole_loud.contains(f))
            .collect();
        assert!(extra.is_empty(), "{what}: {extra:?} {:?}", lossy.findings);
    }
    dropped
}

#[test]
fn a_lost_lone_header_loses_that_frame_only_and_raises_nothing() {
    let mut n = 0;
    for name in [
        "hashicorp-echo.pcap",
        "hashicorp-flowcontrol.pcap",
        "hashicorp-halfclose-eof.pcap",
        "tokio-yamux-client_hashicorp-server.pcap",
        "hashicorp-client_rust-yamux-0.13-server.pcap",
    ] {
        n += drop_each_lone_header(name);
    }
    // the test must have dropped something in each kind of capture
    assert!(n >= 20, "only {n} lone headers dropped");
}

/// The whole capture's lone-header packets, dropped through the binary:
/// exit 0, and the lost ping answer reported as a possibility at info.
#[test]
fn decode_of_a_capture_missing_a_ping_answer_exits_0_and_says_possibly() {
    let (header, pkts) = packets(&common::data("hashicorp-echo.pcap"));
    let link = u32::from(header.datalink);
    let whole = decode(pcap_without(header, &pkts, None));
    // the packet of the first ping answer
    let ack = whole
        .frames
        .iter()
        .find(|f| f.3.typ == yamux::frame::FrameType::Ping && f.3.flags == yamux::frame::Flags::ACK)
        .expect("a ping answer");
    let idx = pkts
        .iter()
        .position(|p| {
            payload_len(link, p) == 12
                && p.timestamp == ack.4
                && tcp_segment(link, &p.data)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.payload.get(1) == Some(&2))
        })
        .expect("the answer's packet");
    let dir = common::scratch();
    let path = dir.join("echo-without-pong.pcap");
    std::fs::write(&path, pcap_without(header, &pkts, Some(idx))).expect("write");
    let r = common::yamuxctl(&["decode", path.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("info unanswered-ping")
            && r.stdout.contains("possibly ping")
            && r.stdout.contains("the answer may be among them"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("(outside any Data body: frames may be lost"),
        "{}",
        r.stdout
    );
}

/// A capture whose client lost 49,188 bytes between frames (own-any-sll2):
/// `stats` says where, and marks that side's figures as bounds; `follow`
/// does not claim "0 missing" for the stream that may have lost frames.
#[test]
fn stats_and_follow_say_what_a_gap_outside_frames_may_have_taken() {
    let cap = common::data("own-any-sll2.pcap");
    let cap = cap.to_str().expect("utf-8");
    let r = common::yamuxctl(&["stats", cap]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "missing →: 49232 bytes (44 at 12, 49188 at 49332); 49232 of them outside Data bodies"
        ),
        "{}",
        r.stdout
    );
    // stream 3's client bytes are a lower bound, its windows bounds
    let row3 = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("3 ") && l.contains("closed"))
        .expect("stream 3 row");
    assert!(row3.contains("≥81940"), "{row3}");
    let j = common::yamuxctl(&["stats", "--json", cap]);
    let objs = common::ndjson(&j.stdout, "yamuxctl.stats/v1");
    let s5 = objs
        .iter()
        .find(|o| o["kind"] == "stream" && o["stream"] == 5)
        .expect("stream 5");
    assert_eq!(s5["lossy"], serde_json::json!([true, false]), "{s5}");
    assert_eq!(
        s5["window_bound"],
        serde_json::json!(["at-most", "at-least"]),
        "{s5}"
    );
    let f = common::yamuxctl(&["follow", "--stream", "3", cap]);
    let last = f.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("81940 bytes → (≥0 missing: frames may be lost in 49188 bytes missing outside Data bodies (49188 at 49332), FIN)"),
        "{last}"
    );
}
