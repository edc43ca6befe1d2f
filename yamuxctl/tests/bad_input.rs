//! Bad input: truncated and damaged files, truncated packets, garbage,
//! non-yamux TCP, missing connection starts. A clear message, exit code 2
//! only when nothing could be read, and every decodable frame still shown.

mod common;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use common::{data, scratch, yamuxctl};
use yamux::frame::{Flags, Frame, GoAwayCode, StreamId};
use yamuxctl::capture::synth::{tcp_packet, SynthPcap};

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("write scratch file");
    p
}

fn is_frame_line(l: &str) -> bool {
    matches!(
        l.split_whitespace().nth(3),
        Some("data" | "window-update" | "ping" | "go-away")
    )
}

fn frames_shown(stdout: &str) -> usize {
    stdout.lines().filter(|l| is_frame_line(l)).count()
}

/// A pcap of one TCP connection: client segments given, with or without
/// handshake.
fn conn_pcap(name: &str, handshake: bool, client: &[&[u8]], server_port: u16) -> PathBuf {
    let c: SocketAddrV4 = "10.1.1.1:50000".parse().unwrap();
    let s = SocketAddrV4::new("10.1.1.2".parse().unwrap(), server_port);
    let mut w = SynthPcap::new(Vec::new()).unwrap();
    let mut t = Duration::from_secs(1_800_000_000);
    let mut seq = 1000u32;
    if handshake {
        w.packet(t, &tcp_packet(c, s, seq - 1, None, true, false, &[]))
            .unwrap();
        t += Duration::from_millis(1);
        w.packet(t, &tcp_packet(s, c, 9, Some(seq), true, false, &[]))
            .unwrap();
    }
    for seg in client {
        t += Duration::from_millis(1);
        w.packet(t, &tcp_packet(c, s, seq, Some(10), false, false, seg))
            .unwrap();
        seq = seq.wrapping_add(seg.len() as u32);
    }
    write(name, &w.into_inner())
}

fn wire(frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.to_vec().unwrap()).collect()
}

#[test]
fn missing_or_unreadable_files_exit_2() {
    let r = yamuxctl(&["decode", "/nonexistent/capture.pcap"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot open /nonexistent/capture.pcap"),
        "{}",
        r.stderr
    );

    let empty = write("empty.pcap", b"");
    let r = yamuxctl(&["decode", empty.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("file too short for a capture header (0 bytes)"),
        "{}",
        r.stderr
    );

    let garbage = write("garbage.pcap", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let r = yamuxctl(&["decode", garbage.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("not a pcap or pcapng file (starts with 47455420)"),
        "{}",
        r.stderr
    );

    for ext in ["pcap", "pcapng"] {
        let full = std::fs::read(data(&format!("hashicorp-echo.{ext}"))).unwrap();
        let cut = write(&format!("header-cut.{ext}"), &full[..10]);
        let r = yamuxctl(&["decode", cut.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{ext}: {}", r.stderr);
        assert!(r.stderr.contains("cannot read"), "{ext}: {}", r.stderr);
        assert!(r.stderr.contains("header"), "{ext}: {}", r.stderr);
    }
}

#[test]
fn truncated_file_shows_every_frame_before_the_cut() {
    for ext in ["pcap", "pcapng"] {
        let name = format!("hashicorp-echo.{ext}");
        let full = std::fs::read(data(&name)).unwrap();
        let whole = yamuxctl(&["decode", "--color", "never", data(&name).to_str().unwrap()]);
        let cut = write(&format!("truncated.{ext}"), &full[..full.len() * 3 / 4 + 5]);
        let r = yamuxctl(&["decode", "--color", "never", cut.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{ext}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("capture truncated: the file ends inside packet"),
            "{ext}: {}",
            r.stderr
        );
        assert!(
            r.stdout
                .contains("note: reading stopped early: capture truncated"),
            "{ext}"
        );
        let n = frames_shown(&r.stdout);
        assert!(
            n > 10 && n < frames_shown(&whole.stdout),
            "{ext}: {n} frames"
        );
        // the frames shown are the same lines as in the whole file
        for line in r.stdout.lines().filter(|l| is_frame_line(l)) {
            assert!(whole.stdout.contains(line), "{ext}: {line}");
        }
        // NDJSON carries the error in its summary
        let j = yamuxctl(&["decode", "--json", cut.to_str().unwrap()]);
        let last = j.stdout.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        assert!(
            v["read_error"].as_str().unwrap().contains("truncated"),
            "{last}"
        );
    }
}

#[test]
fn damaged_packet_record_stops_reading_with_a_message() {
    let mut bytes = std::fs::read(data("hashicorp-echo.pcap")).unwrap();
    // the 6th record's incl_len: walk the records
    let mut at = 24;
    for _ in 0..5 {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + incl;
    }
    bytes[at + 8..at + 12].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    let p = write("damaged.pcap", &bytes);
    let r = yamuxctl(&["decode", "--color", "never", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("packet 6"), "{}", r.stderr);
    assert!(r.stderr.contains("after 5 packets"), "{}", r.stderr);
}

#[test]
fn truncated_and_odd_packets_are_counted_and_named() {
    let c: SocketAddrV4 = "10.1.1.1:50000".parse().unwrap();
    let s: SocketAddrV4 = "10.1.1.2:7000".parse().unwrap();
    let mut w = SynthPcap::new(Vec::new()).unwrap();
    let t = Duration::from_secs(1_800_000_000);
    let good = tcp_packet(
        c,
        s,
        1,
        None,
        false,
        false,
        &wire(&[Frame::ping(Flags::SYN, 1), Frame::ping(Flags::SYN, 2)]),
    );
    w.packet(t, &good[..8]).unwrap(); // cut inside the IP header
    w.packet(t, &[0x60]).unwrap(); // one byte of IPv6
    w.packet(t, &good).unwrap();
    let p = write("odd-packets.pcap", &w.into_inner());
    let r = yamuxctl(&["decode", "--color", "never", p.to_str().unwrap()]);
    assert!(
        r.stdout
            .contains("note: 2 packets could not be parsed (#1: bad IP header"),
        "{}",
        r.stdout
    );
    assert_eq!(frames_shown(&r.stdout), 2, "{}", r.stdout);
}

#[test]
fn non_yamux_tcp_is_left_alone_unless_forced() {
    let http: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"more bytes that are not yamux at all",
    ];
    let p = conn_pcap("http.pcap", true, http, 80);
    let r = yamuxctl(&["decode", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no yamux connection found among 1 TCP connections"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("1 TCP connections, 0 yamux"));
    // forced with --port: the bytes are reported as undecodable
    let r = yamuxctl(&[
        "decode",
        "--color",
        "never",
        "--port",
        "80",
        p.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("error undecodable (transport.multistream): 63 undecodable bytes at stream offset 0 (bytes before the first frame are not multistream-select)"),
        "{}",
        r.stdout
    );
}

#[test]
fn garbage_inside_a_yamux_stream_is_skipped_and_reported() {
    let mut bytes = wire(&[
        Frame::window_update(StreamId::new(1), Flags::SYN, 0),
        Frame::data(StreamId::new(1), Flags::NONE, b"hello".to_vec()),
    ]);
    bytes.extend_from_slice(&[0x07, 0x01, 0x02, 0x03, 0x04]);
    bytes.extend(wire(&[
        Frame::data(StreamId::new(1), Flags::FIN, b"bye".to_vec()),
        Frame::ping(Flags::SYN, 5),
        Frame::go_away(GoAwayCode::NORMAL),
    ]));
    let p = conn_pcap(
        "garbage-inside.pcap",
        true,
        &[&bytes[..20], &bytes[20..]],
        7000,
    );
    let r = yamuxctl(&["decode", "--color", "never", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("error undecodable (framing.version): 5 undecodable bytes at stream offset 29 (unsupported protocol version 7 (only 0 is defined)), resynchronised on the next plausible header"), "{}", r.stdout);
    assert_eq!(frames_shown(&r.stdout), 5, "{}", r.stdout);
}

#[test]
fn connection_without_its_start_is_decoded_from_the_first_plausible_header() {
    let frames = wire(&[
        Frame::data(StreamId::new(3), Flags::NONE, vec![0xAA; 300]),
        Frame::window_update(StreamId::new(3), Flags::NONE, 300),
        Frame::data(StreamId::new(3), Flags::NONE, vec![0xBB; 40]),
        Frame::ping(Flags::SYN, 1),
    ]);
    // the capture starts 100 bytes into the first frame's body
    let p = conn_pcap(
        "midstream.pcap",
        false,
        &[&frames[100..200], &frames[200..]],
        7000,
    );
    let r = yamuxctl(&["decode", "--color", "never", p.to_str().unwrap()]);
    insta::assert_snapshot!("midstream", r.stdout);
    assert!(r.stdout.contains("start missing from the capture"));
    assert!(r.stdout.contains(
        "skipped 212 bytes at stream offset 0 (capture starts mid-stream); resynchronised"
    ));
    assert_eq!(frames_shown(&r.stdout), 3);
}

mod mutations {
    use super::common::data;
    use proptest::prelude::*;
    use std::io::Cursor;
    use yamuxctl::analysis::{Analyzer, FrameEvent, Observer, Options};
    use yamuxctl::capture::CaptureReader;

    struct Count(u64);
    impl Observer for Count {
        fn frame(&mut self, _ev: &FrameEvent<'_>) {
            self.0 += 1;
        }
    }

    fn run(bytes: Vec<u8>) {
        if let Ok(reader) = CaptureReader::new(Cursor::new(bytes)) {
            let mut c = Count(0);
            let s = Analyzer::new(Options::default()).run(reader, &mut c);
            assert_eq!(s.frames, c.0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random byte changes and truncation anywhere in a capture never
        /// panic, whatever they hit (file header, records, IP, TCP, yamux).
        #[test]
        fn damaged_captures_never_panic(
            ng in any::<bool>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
            cut in any::<prop::sample::Index>(),
        ) {
            let name = if ng { "own-ipv4-violations.pcapng" } else { "hashicorp-echo.pcap" };
            let mut bytes = std::fs::read(data(name)).unwrap();
            for (at, v) in flips {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep.max(bytes.len() / 2));
            run(bytes);
        }
    }
}
