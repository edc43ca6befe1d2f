//! `yamuxctl decode`, `stats` and `follow` on every capture in tests/data:
//! the shared real-world captures and our own loopback recordings.

mod common;

use common::{all_captures, data, ndjson, stall, yamuxctl};
use serde_json::Value;

#[test]
fn text_output_of_every_capture() {
    for (name, path) in all_captures() {
        let r = yamuxctl(&["decode", "--color", "never", path.to_str().unwrap()]);
        assert!(
            r.code == 0 || r.code == 1,
            "{name}: exit {} {}",
            r.code,
            r.stderr
        );
        assert!(!r.stdout.contains('\x1b'), "{name}: colour in a pipe");
        insta::assert_snapshot!(format!("decode_{name}"), r.stdout);
    }
}

#[test]
fn ndjson_parses_back_and_agrees_with_the_summary() {
    for (name, path) in all_captures() {
        let r = yamuxctl(&["decode", "--json", path.to_str().unwrap()]);
        let objs = ndjson(&r.stdout, "yamuxctl.decode/v1");
        let summary = objs.last().expect("summary");
        assert_eq!(summary["kind"], "summary", "{name}");
        let frames: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "frame").collect();
        assert_eq!(
            frames.len() as u64,
            summary["frames"].as_u64().unwrap(),
            "{name}"
        );
        for sev in ["info", "warning", "error"] {
            let n = objs
                .iter()
                .filter(|o| o["kind"] == "finding" && o["severity"] == sev)
                .count() as u64;
            assert_eq!(
                n,
                summary["findings"][sev].as_u64().unwrap(),
                "{name} {sev}"
            );
        }
        let expected_exit = if summary["findings"]["warning"].as_u64().unwrap()
            + summary["findings"]["error"].as_u64().unwrap()
            > 0
        {
            1
        } else {
            0
        };
        assert_eq!(r.code, expected_exit, "{name}");
        for f in &frames {
            for key in [
                "conn", "dir", "time", "offset", "type", "flags", "stream", "length",
            ] {
                assert!(!f[key].is_null(), "{name}: frame without {key}: {f}");
            }
            // the window moves by exactly the frame's length
            if let Some(w) = f.get("window") {
                let (b, a) = (w["before"].as_i64().unwrap(), w["after"].as_i64().unwrap());
                let len = f["length"].as_i64().unwrap();
                match f["type"].as_str().unwrap() {
                    "data" => assert_eq!(a, b - len, "{name}: {f}"),
                    "window-update" => assert_eq!(a, b + len, "{name}: {f}"),
                    t => panic!("{name}: window on a {t} frame"),
                }
            }
        }
        // per connection and direction, offsets increase
        let mut last: std::collections::HashMap<(u64, String), i64> = Default::default();
        for f in &frames {
            let k = (
                f["conn"].as_u64().unwrap(),
                f["dir"].as_str().unwrap().to_string(),
            );
            let off = f["offset"].as_i64().unwrap();
            let prev = last.insert(k, off).unwrap_or(-1);
            assert!(off > prev, "{name}: offsets go back: {f}");
        }
    }
}

#[test]
fn pcap_and_pcapng_of_one_session_decode_to_the_same_frames() {
    for (name, path) in all_captures() {
        if path.extension().is_some_and(|e| e != "pcap") {
            continue;
        }
        let ng = path.with_extension("pcapng");
        if !ng.exists() {
            continue;
        }
        let strip = |p: &std::path::Path| -> Vec<String> {
            let r = yamuxctl(&["decode", "--json", p.to_str().unwrap()]);
            ndjson(&r.stdout, "yamuxctl.decode/v1")
                .into_iter()
                .filter(|o| o["kind"] == "frame")
                .map(|o| {
                    format!(
                        "{} {} {} {} {} {}",
                        o["dir"], o["type"], o["flags"], o["stream"], o["length"], o["offset"]
                    )
                })
                .collect()
        };
        assert_eq!(strip(&path), strip(&ng), "{name}");
    }
}

#[test]
fn tokio_yamux_stall_shows_streams_stuck_at_256_kib_with_credit() {
    let path = stall("pcap");
    let r = yamuxctl(&["stats", "--json", path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let objs = ndjson(&r.stdout, "yamuxctl.stats/v1");
    let streams: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "stream").collect();
    let stuck: Vec<u64> = streams
        .iter()
        .filter(|s| s["bytes"][1] == 262_144 && s["credit_end"][1].as_i64().unwrap() > 0)
        .map(|s| s["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(stuck, vec![3, 5], "{}", r.stdout);
    // the client sent more and granted the credit
    for s in &streams {
        if stuck.contains(&s["stream"].as_u64().unwrap()) {
            assert_eq!(s["bytes"][0], 400_000);
            assert_eq!(s["state"], "open");
        }
    }
    let d = yamuxctl(&["decode", "--color", "never", path.to_str().unwrap()]);
    for id in [3, 5] {
        let line = d
            .stdout
            .lines()
            .find(|l| l.contains(&format!("stream-open-at-end (flow.credit): stream {id}:")))
            .unwrap_or_else(|| panic!("no stall finding for stream {id}"));
        assert!(
            line.contains("server stopped at 262144 bytes sent"),
            "{line}"
        );
    }
}

#[test]
fn own_captures_agree_across_ip_versions_link_types_and_snaplen() {
    let frames_of = |name: &str| -> Vec<String> {
        let r = yamuxctl(&["decode", "--json", data(name).to_str().unwrap()]);
        ndjson(&r.stdout, "yamuxctl.decode/v1")
            .into_iter()
            .filter(|o| o["kind"] == "frame")
            .map(|o| {
                format!(
                    "{} {} {} {} {}",
                    o["dir"], o["type"], o["flags"], o["stream"], o["length"]
                )
            })
            .collect()
    };
    let per_dir = |v: &[String], d: &str| -> Vec<String> {
        v.iter().filter(|f| f.starts_with(d)).cloned().collect()
    };
    let v4 = frames_of("own-ipv4.pcap");
    assert_eq!(v4.len(), 50);
    // a 96-byte snaplen cuts bodies: each cut is a gap inside the body and
    // decoding stays in sync; only a header that was itself cut off (two
    // frames in one segment) is lost. Each direction keeps its order (the
    // recordings interleave the directions differently).
    let cut = frames_of("own-ipv4-snaplen96.pcap");
    for d in ["\"a2b\"", "\"b2a\""] {
        let (c, full) = (per_dir(&cut, d), per_dir(&v4, d));
        let mut it = full.iter();
        assert!(
            c.iter().all(|f| it.any(|g| g == f)),
            "{d}: not a subsequence"
        );
        assert!(
            c.len() + 1 >= full.len(),
            "{d}: {} of {}",
            c.len(),
            full.len()
        );
    }
    let cut_text = yamuxctl(&[
        "decode",
        "--color",
        "never",
        data("own-ipv4-snaplen96.pcap").to_str().unwrap(),
    ]);
    assert!(cut_text
        .stdout
        .contains("gap: 16366 bytes missing from the capture"));
    // tcpdump missed 65,644 bytes server → client in the IPv6 recording
    // (tshark: "ACKed unseen segment"): a gap, and decoding goes on after it
    let v6 = yamuxctl(&[
        "decode",
        "--color",
        "never",
        data("own-ipv6.pcap").to_str().unwrap(),
    ]);
    assert!(v6
        .stdout
        .contains("gap: 65644 bytes missing from the capture at stream offset 49392"));
    let v6 = frames_of("own-ipv6.pcap");
    assert_eq!(per_dir(&v6, "\"a2b\""), per_dir(&v4, "\"a2b\""));
    assert_eq!(v6.len(), 41);
    assert_eq!(v6.last(), v4.last());
    // the multistream-select preamble is skipped and shown
    let pre = yamuxctl(&[
        "decode",
        "--color",
        "never",
        data("own-ipv6-preamble.pcapng").to_str().unwrap(),
    ]);
    assert_eq!(
        pre.stdout.matches("multistream   \"/yamux/1.0.0\"").count(),
        2
    );
    assert_eq!(frames_of("own-ipv6-preamble.pcapng").len(), 50);
    // tcpdump -i any (Linux SLL2) missed 44 bytes: reported as a gap
    let any = yamuxctl(&[
        "decode",
        "--color",
        "never",
        data("own-any-sll2.pcap").to_str().unwrap(),
    ]);
    assert!(
        any.stdout
            .contains("gap: 44 bytes missing from the capture at stream offset 12"),
        "{}",
        any.stdout
    );
}

#[test]
fn violations_are_named_with_their_rule() {
    let r = yamuxctl(&[
        "decode",
        "--json",
        data("own-ipv4-violations.pcapng").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    let found: Vec<(String, String)> = ndjson(&r.stdout, "yamuxctl.decode/v1")
        .into_iter()
        .filter(|o| o["kind"] == "finding")
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (id, rule) in [
        ("data-beyond-window", "flow.credit"),
        ("second-ack", "stream.ack-once"),
        ("unmatched-pong", "ping.unsolicited"),
        ("go-away", "goaway.codes"),
    ] {
        assert!(
            found.contains(&(id.to_string(), rule.to_string())),
            "{id}: {found:?}"
        );
    }
}

#[test]
fn filters_select_frames() {
    let p = data("own-ipv4.pcap");
    let r = yamuxctl(&[
        "decode",
        "--json",
        "--stream",
        "3",
        "--type",
        "data",
        p.to_str().unwrap(),
    ]);
    let frames: Vec<Value> = ndjson(&r.stdout, "yamuxctl.decode/v1")
        .into_iter()
        .filter(|o| o["kind"] == "frame")
        .collect();
    assert_eq!(frames.len(), 18);
    assert!(frames
        .iter()
        .all(|f| f["stream"] == 3 && f["type"] == "data"));
    let r = yamuxctl(&["decode", "--json", "--flags", "fin", p.to_str().unwrap()]);
    let fins = ndjson(&r.stdout, "yamuxctl.decode/v1")
        .into_iter()
        .filter(|o| o["kind"] == "frame")
        .count();
    assert_eq!(fins, 6);
    let r = yamuxctl(&["decode", "--conn", "2", p.to_str().unwrap()]);
    assert!(!r.stdout.contains("conn 1:"));
    let r = yamuxctl(&["decode", "--type", "bogus", p.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown frame type"), "{}", r.stderr);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let p = data("hashicorp-echo.pcap");
    let always = yamuxctl(&["decode", "--color", "always", p.to_str().unwrap()]);
    assert!(always.stdout.contains("\x1b[32mdata"));
    let auto = yamuxctl(&["decode", p.to_str().unwrap()]);
    assert!(!auto.stdout.contains('\x1b'));
}

#[test]
fn pcapng_nanosecond_times() {
    // tshark -T fields -e frame.time_epoch: 1795569954.300940955 for the
    // first packet of the pcapng copy (if_tsresol 9)
    let r = yamuxctl(&["decode", "--json", stall("pcapng").to_str().unwrap()]);
    let conn = ndjson(&r.stdout, "yamuxctl.decode/v1")
        .into_iter()
        .find(|o| o["kind"] == "connection")
        .unwrap();
    let epoch = conn["epoch"].as_f64().unwrap();
    assert!((epoch - 1_795_569_954.300_941).abs() < 1e-6, "{epoch}");
}

#[test]
fn absolute_times() {
    let r = yamuxctl(&[
        "decode",
        "--absolute",
        "--color",
        "never",
        data("hashicorp-echo.pcap").to_str().unwrap(),
    ]);
    assert!(
        r.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-11-25T01:24:44.754217Z"),
        "{}",
        r.stdout
    );
}

#[test]
fn stats_text() {
    for name in ["hashicorp-flowcontrol.pcap", "own-ipv4.pcap"] {
        let r = yamuxctl(&["stats", data(name).to_str().unwrap()]);
        insta::assert_snapshot!(format!("stats_{name}"), r.stdout);
    }
    let r = yamuxctl(&["stats", stall("pcap").to_str().unwrap()]);
    insta::assert_snapshot!("stats_stall", r.stdout);
}

#[test]
fn follow_a_stream() {
    let p = data("own-ipv4.pcap");
    let r = yamuxctl(&["follow", "--stream", "1", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("follow_ascii", r.stdout);
    let r = yamuxctl(&[
        "follow",
        "--stream",
        "5",
        "--format",
        "hex",
        p.to_str().unwrap(),
    ]);
    insta::assert_snapshot!("follow_hex", r.stdout);
    // raw: exactly the payload, one direction
    let out = common::scratch().join("stream3.bin");
    let r = yamuxctl(&[
        "follow",
        "--stream",
        "3",
        "--format",
        "raw",
        "--dir",
        "a2b",
        "-o",
        out.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0);
    let raw = std::fs::read(&out).unwrap();
    let mut want = b"hello from stream 3\n".to_vec();
    want.extend(std::iter::repeat_n(b'x', 8 * 16 * 1024));
    assert_eq!(raw, want);
    let r = yamuxctl(&["follow", "--stream", "77", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("stream 77 not found"));
}
