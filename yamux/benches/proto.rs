//! Criterion benchmarks of the sans-IO connection core: receiving Data
//! frames and reading them, and writing (encoding into the transmit buffer).

use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use yamux::proto::{Connection, ReadResult, Role};
use yamux::{Config, Flags, Frame, StreamId};

fn receive_and_read(c: &mut Criterion) {
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let mut g = c.benchmark_group("proto");
    g.throughput(Throughput::Bytes(256 * 1024));
    g.bench_function("receive+read 4 x 64 KiB", |b| {
        let now = Instant::now();
        let mut conn = Connection::new(Role::Server, Config::default(), now);
        conn.handle_frame(now, Frame::window_update(StreamId::new(1), Flags::SYN, 0));
        let id = conn.accept().unwrap().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        b.iter(|| {
            for _ in 0..4 {
                conn.handle_frame(now, Frame::data(id, Flags::NONE, body.clone()));
            }
            let mut got = 0;
            while got < 256 * 1024 {
                match conn.read(now, id, &mut buf[got..]).unwrap() {
                    ReadResult::Data(n) => got += n,
                    other => panic!("{other:?}"),
                }
            }
            // Give the credit back as the peer would see it.
            conn.transmit_buf().clear();
            while conn.poll_event().is_some() {}
        });
    });
    g.bench_function("write 4 x 64 KiB", |b| {
        let now = Instant::now();
        let mut conn = Connection::new(Role::Client, Config::default(), now);
        let id = conn.open(now).unwrap().unwrap();
        let data = vec![1u8; 64 * 1024];
        b.iter(|| {
            for _ in 0..4 {
                assert_eq!(conn.write(id, &data).unwrap(), data.len());
            }
            conn.transmit_buf().clear();
            conn.handle_frame(now, Frame::window_update(id, Flags::NONE, 256 * 1024));
        });
    });
    g.finish();
}

criterion_group!(benches, receive_and_read);
criterion_main!(benches);
