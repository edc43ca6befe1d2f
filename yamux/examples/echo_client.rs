//! A yamux echo client: opens N streams on one connection, writes
//! pseudo-random bytes on each, and verifies the echo.
//!
//! Usage: `cargo run -p yamux --example echo_client -- 127.0.0.1:7777 [STREAMS] [BYTES_PER_STREAM]`
//! (defaults: 10 streams, 1 MiB each). Exits 1 when an echo differs.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yamux::{Config, Session};

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    match std::env::args().nth(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("bad argument {i}: {s:?}");
            std::process::exit(2)
        }),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: echo_client ADDR [STREAMS] [BYTES_PER_STREAM]");
        std::process::exit(2);
    };
    let streams: usize = arg(2, 10);
    let bytes: usize = arg(3, 1024 * 1024);
    let sock = TcpStream::connect(&addr).await?;
    sock.set_nodelay(true)?;
    let session = Session::client(sock, Config::default());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let stream = session.open().await?;
        tasks.push(tokio::spawn(async move {
            let data = pattern(i as u64, bytes);
            let (mut r, mut w) = tokio::io::split(stream);
            let expected = data.clone();
            let writer = tokio::spawn(async move {
                w.write_all(&data).await?;
                w.shutdown().await?;
                Ok::<_, std::io::Error>(w)
            });
            let mut got = Vec::with_capacity(bytes);
            r.read_to_end(&mut got).await?;
            let _w = writer.await.map_err(std::io::Error::other)??;
            Ok::<bool, std::io::Error>(got == expected)
        }));
    }
    let mut bad = 0;
    for t in tasks {
        if !t.await?? {
            bad += 1;
        }
    }
    let took = start.elapsed();
    session.close().await?;
    if bad > 0 {
        println!("FAILED: {bad} of {streams} streams echoed different bytes");
        std::process::exit(1);
    }
    println!(
        "ok: {streams} streams x {bytes} bytes echoed in {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    Ok(())
}
