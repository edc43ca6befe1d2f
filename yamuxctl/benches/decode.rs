//! Decode throughput of the capture path on an in-memory synthetic capture
//! (criterion). The side-by-side comparison with tshark on a 200 MB file is
//! `scripts/bench-decode`.

use std::io::Cursor;
use std::net::SocketAddrV4;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use yamux::frame::{Flags, Frame, StreamId};
use yamuxctl::analysis::{Analyzer, FrameEvent, Observer, Options};
use yamuxctl::capture::synth::{tcp_packet, SynthPcap};
use yamuxctl::capture::CaptureReader;
use yamuxctl::print::json::JsonOut;
use yamuxctl::print::Filter;

/// About `mb` MB of one connection: `frame`-byte Data frames on 4 streams in
/// `mss`-byte segments.
fn capture(mb: usize, frame: usize, mss: usize) -> Vec<u8> {
    let c: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let s: SocketAddrV4 = "10.0.0.2:7000".parse().unwrap();
    let mut w = SynthPcap::new(Vec::with_capacity(mb << 20)).unwrap();
    let mut t = Duration::from_secs(1_800_000_000);
    let mut seq = 100u32;
    w.packet(t, &tcp_packet(c, s, seq, None, true, false, &[]))
        .unwrap();
    seq += 1;
    let mut wire = Vec::new();
    for id in [1u32, 3, 5, 7] {
        wire.extend(
            Frame::window_update(StreamId::new(id), Flags::SYN, 0)
                .to_vec()
                .unwrap(),
        );
    }
    let body = vec![7u8; frame];
    let mut n = 0u32;
    while wire.len() < mb << 20 {
        let id = 1 + 2 * (n % 4);
        wire.extend(
            Frame::data(StreamId::new(id), Flags::NONE, body.clone())
                .to_vec()
                .unwrap(),
        );
        n += 1;
    }
    for seg in wire.chunks(mss) {
        t += Duration::from_micros(3);
        w.packet(t, &tcp_packet(c, s, seq, Some(1), false, false, seg))
            .unwrap();
        seq = seq.wrapping_add(seg.len() as u32);
    }
    w.into_inner()
}

struct Nothing;
impl Observer for Nothing {
    fn frame(&mut self, _ev: &FrameEvent<'_>) {}
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, frame, mss) in [
        ("16k-frames-64k-segments", 16 * 1024, 65_483),
        ("1k-frames-1448-segments", 1024, 1448),
    ] {
        let pcap = capture(20, frame, mss);
        g.throughput(Throughput::Bytes(pcap.len() as u64));
        g.bench_function(format!("{name}/tracker-only"), |b| {
            b.iter(|| {
                let r = CaptureReader::new(Cursor::new(&pcap[..])).unwrap();
                Analyzer::new(Options::default()).run(r, &mut Nothing)
            })
        });
        g.bench_function(format!("{name}/ndjson"), |b| {
            b.iter(|| {
                let r = CaptureReader::new(Cursor::new(&pcap[..])).unwrap();
                let mut o = JsonOut::new(std::io::sink(), Filter::default());
                Analyzer::new(Options::default()).run(r, &mut o)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
