//! Every committed input of every fuzz target (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) through its entry point, plus a few edge
//! inputs per target: what `cargo fuzz run` would check, without cargo-fuzz.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every target of `fuzz/Cargo.toml`; each has a `<target>_corpus` test below.
const TARGETS: [&str; 5] = [
    "frame_decode",
    "connection",
    "tracker",
    "capture",
    "vectors",
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    fuzz_harness::replay_dir(&fuzz_dir(), target, f)
}

#[test]
fn frame_decode_corpus() {
    let n = replay("frame_decode", fuzz_harness::frame_decode);
    assert!(n > 0, "no corpus for frame_decode");
}

#[test]
fn frame_decode_edge_inputs() {
    for input in [&b""[..], &[0u8], &[0u8; 13], &[255u8; 40]] {
        fuzz_harness::frame_decode(input);
    }
}

#[test]
fn connection_corpus() {
    let n = replay("connection", fuzz_harness::connection);
    assert!(n > 0, "no corpus for connection");
}

#[test]
fn connection_edge_inputs() {
    for input in [&b""[..], &[0u8; 64], &[255u8; 64], &[7u8; 4096]] {
        fuzz_harness::connection(input);
    }
}

#[test]
fn tracker_corpus() {
    let n = replay("tracker", fuzz_harness::tracker);
    assert!(n > 0, "no corpus for tracker");
}

#[test]
fn tracker_edge_inputs() {
    for input in [&b""[..], &[0u8; 4], &[0u8; 40], &[255u8; 300], &[1u8; 300]] {
        fuzz_harness::tracker(input);
    }
}

#[test]
fn capture_corpus() {
    let n = replay("capture", fuzz_harness::capture);
    assert!(n > 0, "no corpus for capture");
}

#[test]
fn capture_edge_inputs() {
    let pcap_header = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    for input in [
        &b""[..],
        &[0u8; 4],
        &pcap_header,
        &[0x0a, 0x0d, 0x0d, 0x0a, 0, 0],
    ] {
        fuzz_harness::capture(input);
    }
}

#[test]
fn vectors_corpus() {
    let n = replay("vectors", fuzz_harness::vectors);
    assert!(n > 0, "no corpus for vectors");
}

#[test]
fn vectors_edge_inputs() {
    for input in [&b""[..], b"{}", b"[]", b"null", b"{\"family\":\"x\"}"] {
        fuzz_harness::vectors(input);
    }
}

#[test]
fn every_shipped_vector_file_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/session");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        fuzz_harness::vectors(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n > 0);
}

/// Every directory of `fuzz/corpus/` and `fuzz/regressions/` belongs to a
/// target replayed above, and every target of `fuzz/Cargo.toml` is one of
/// them: a new target or a misnamed directory cannot go unreplayed.
#[test]
fn every_input_directory_is_a_replayed_target() {
    let known: BTreeSet<&str> = TARGETS.into_iter().collect();
    for dir in ["corpus", "regressions"] {
        for e in std::fs::read_dir(fuzz_dir().join(dir)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            assert!(
                known.contains(name.as_str()),
                "fuzz/{dir}/{name} is no target replayed here"
            );
        }
    }
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "yamux-fuzz")
        .collect();
    assert_eq!(bins, known, "fuzz/Cargo.toml targets vs the targets here");
    // Each target's entry point is the one its fuzz_target! calls.
    for t in TARGETS {
        let src = std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{t}.rs"))).unwrap();
        assert!(
            src.contains(&format!("fuzz_harness::{t}(data)")),
            "fuzz/fuzz_targets/{t}.rs does not call fuzz_harness::{t}"
        );
    }
}
