//! Frame codec benchmarks: `cargo bench -p yamux --bench frame`.
//!
//! - `header/encode/<type>`, `header/decode/<type>`: the 12-byte header alone.
//! - `frame/encode/<type>`, `frame/decode/<type>`: `Frame::encode` into a
//!   reused buffer and `Frame::decode` over `Bytes` (Data: 1 KiB body).
//! - `codec/decode/<type>`: `FrameCodec::decode` of one frame from a fresh
//!   `BytesMut` (its construction is excluded from the timing).
//! - `stream/*`: 1 MiB of mixed frames (Data of assorted sizes up to 16 KiB,
//!   Window Updates, Pings), reported in bytes per second; `stream-small/*`:
//!   the same with Data bodies of at most 200 bytes, where the per-frame cost
//!   dominates.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tokio_util::codec::Decoder;
use yamux::frame::{Flags, Frame, FrameCodec, FrameType, GoAwayCode, Header, StreamId};

/// One frame of each type; Data carries `body` bytes.
fn samples(body: usize) -> [Frame; 4] {
    [
        Frame::data(StreamId::new(3), Flags::NONE, vec![0xA5; body]),
        Frame::window_update(StreamId::new(3), Flags::ACK, 256 * 1024),
        Frame::ping(Flags::SYN, 0xDEAD_BEEF),
        Frame::go_away(GoAwayCode::NORMAL),
    ]
}

fn headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("header");
    for f in samples(1024) {
        let h = f.header;
        let name = h.typ.name();
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(black_box(&h).to_bytes()))
        });
        let bytes = h.to_bytes();
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Header::decode(black_box(&bytes[..])))
        });
    }
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    for f in samples(1024) {
        let name = f.typ().name();
        let mut out = BytesMut::with_capacity(2048);
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&f).encode(&mut out).unwrap();
                black_box(out.len())
            })
        });
        let wire = Bytes::from(f.to_vec().unwrap());
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Frame::decode(black_box(&wire)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("codec");
    for f in samples(1024) {
        let name = f.typ().name();
        let wire = f.to_vec().unwrap();
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter_batched(
                || (FrameCodec::default(), BytesMut::from(&wire[..])),
                // The buffer is returned so that freeing it is not timed.
                |(mut codec, mut buf)| (codec.decode(&mut buf).unwrap(), buf),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// Data body sizes of the mixed stream: assorted, up to 16 KiB.
const MIXED: [usize; 8] = [0, 1, 32, 200, 1024, 1400, 4096, 16384];
/// Data body sizes of the small-frame stream: where per-frame cost shows.
const SMALL: [usize; 8] = [0, 1, 8, 16, 32, 64, 100, 200];

/// About 1 MiB of frames in a fixed pseudo-random mix: 60% Data (bodies
/// drawn from `sizes`), 30% Window Update, 10% Ping.
fn mixed_stream(sizes: [usize; 8]) -> (Bytes, usize) {
    let mut seed: u32 = 0x1234_5678;
    let mut next = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed >> 8
    };
    let mut out = BytesMut::new();
    let mut count = 0;
    while out.len() < 1 << 20 {
        let r = next();
        let id = StreamId::new(1 + 2 * (r % 64));
        let f = match r % 10 {
            0..=5 => Frame::data(id, Flags::NONE, vec![r as u8; sizes[(next() % 8) as usize]]),
            6..=8 => Frame::window_update(id, Flags::NONE, next()),
            _ => Frame::ping(Flags::SYN, next()),
        };
        f.encode(&mut out).unwrap();
        count += 1;
    }
    (out.freeze(), count)
}

fn stream(c: &mut Criterion) {
    stream_group(c, "stream", MIXED);
    stream_group(c, "stream-small", SMALL);
}

fn stream_group(c: &mut Criterion, group: &str, sizes: [usize; 8]) {
    let (wire, count) = mixed_stream(sizes);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.measurement_time(Duration::from_secs(5));

    // The whole buffer in one read, as after a large socket read.
    g.bench_function("codec-decode-1MiB", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut codec = FrameCodec::default();
                let mut n = 0;
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    black_box(&f);
                    n += 1;
                }
                assert_eq!(n, count);
            },
            BatchSize::LargeInput,
        )
    });

    // The same bytes arriving in 4 KiB reads into one read buffer, as under
    // FramedRead: frames straddle reads, bodies wait for their last byte.
    g.bench_function("codec-decode-1MiB-4KiB-reads", |b| {
        b.iter(|| {
            let mut codec = FrameCodec::default();
            let mut buf = BytesMut::with_capacity(8 * 1024);
            let mut n = 0;
            for chunk in wire.chunks(4096) {
                buf.extend_from_slice(chunk);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    black_box(&f);
                    n += 1;
                }
            }
            assert_eq!(n, count);
        })
    });

    // Frame::decode over the Bytes: bodies are slices, nothing is copied.
    g.bench_function("frame-decode-all-1MiB", |b| {
        b.iter(|| {
            let frames = Frame::decode_all(black_box(&wire)).unwrap();
            assert_eq!(frames.len(), count);
            frames
        })
    });
    g.finish();

    let types = wire_types(&wire);
    println!("{group}: {} bytes, {count} frames ({types})", wire.len());
}

/// `data=N window-update=N ping=N` for the mixed stream.
fn wire_types(wire: &Bytes) -> String {
    let frames = Frame::decode_all(wire).unwrap();
    FrameType::ALL
        .iter()
        .map(|t| {
            let n = frames.iter().filter(|f| f.typ() == *t).count();
            format!("{t}={n}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = headers, frames, stream
}
criterion_main!(benches);
