//! Relay throughput against a direct connection, in one run:
//!
//! ```text
//! cargo run --release -p yamuxctl --example bench_relay -- [MIB] [ROUNDS] [yamux|raw]
//! ```
//!
//! A client sends MIB mebibytes (default 512) to a server that discards
//! them — over our yamux session on 20 streams (default) or as raw TCP
//! bytes — directly, then through the relay in three modes: `--quiet` (no
//! decoding), decoding with text output to /dev/null, and decoding plus
//! `--write` (pcapng to a temporary file). Each mode runs ROUNDS times
//! (default 3); the median is reported with its ratio to direct.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yamux::{Config, Session};
use yamuxctl::cmd::proxy::ProxyArgs;
use yamuxctl::relay::serve::serve;
use yamuxctl::relay::Relay;

const STREAMS: usize = 20;

#[derive(Parser)]
struct P {
    #[command(flatten)]
    a: ProxyArgs,
}

#[derive(Clone, Copy, PartialEq)]
enum Load {
    Yamux,
    Raw,
}

async fn sink_server(load: Load) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let _ = sock.set_nodelay(true);
            match load {
                Load::Raw => {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 256 * 1024];
                        while let Ok(n) = sock.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                        let _ = sock.write_all(b"k").await;
                        let _ = sock.shutdown().await;
                    });
                }
                Load::Yamux => {
                    let s = Session::server(sock, Config::default());
                    tokio::spawn(async move {
                        while let Ok(mut st) = s.accept().await {
                            tokio::spawn(async move {
                                let mut buf = vec![0u8; 256 * 1024];
                                while let Ok(n) = st.read(&mut buf).await {
                                    if n == 0 {
                                        break;
                                    }
                                }
                                let _ = st.write_all(b"k").await;
                                let _ = st.shutdown().await;
                            });
                        }
                    });
                }
            }
        }
    });
    addr
}

/// Sends `total` bytes to `addr`; returns the time until the server
/// confirmed the end of every stream.
async fn client(addr: SocketAddr, total: usize, load: Load) -> Duration {
    let block = vec![0x5au8; 256 * 1024];
    let t = Instant::now();
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    match load {
        Load::Raw => {
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(block.len());
                sock.write_all(&block[..n]).await.unwrap();
                sent += n;
            }
            sock.shutdown().await.unwrap();
            let mut k = Vec::new();
            sock.read_to_end(&mut k).await.unwrap();
            assert_eq!(k, b"k");
        }
        Load::Yamux => {
            let session = Session::client(sock, Config::default());
            let per = total / STREAMS;
            let mut tasks = Vec::new();
            for _ in 0..STREAMS {
                let session = session.clone();
                let block = block.clone();
                tasks.push(tokio::spawn(async move {
                    let mut st = session.open().await.unwrap();
                    let mut sent = 0;
                    while sent < per {
                        let n = (per - sent).min(block.len());
                        st.write_all(&block[..n]).await.unwrap();
                        sent += n;
                    }
                    st.shutdown().await.unwrap();
                    let mut k = Vec::new();
                    st.read_to_end(&mut k).await.unwrap();
                    assert_eq!(k, b"k");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            session.close().await.unwrap();
        }
    }
    t.elapsed()
}

async fn through_relay(upstream: SocketAddr, extra: &[&str], total: usize, load: Load) -> Duration {
    let mut argv = vec![
        "proxy".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--upstream".into(),
        upstream.to_string(),
        "--color".into(),
        "never".into(),
        "--exit-after".into(),
        "1".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let args = P::try_parse_from(argv).unwrap().a;
    let (relay, rx) = Relay::bind(args.options()).await.unwrap();
    let addr = relay.local_addr();
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let h = tokio::spawn(serve(
        relay,
        rx,
        args.serve_options(),
        Box::new(devnull),
        Box::new(err),
        std::future::pending(),
    ));
    let d = client(addr, total, load).await;
    h.await.unwrap().unwrap();
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let load = match std::env::args().nth(3).as_deref() {
        Some("raw") => Load::Raw,
        _ => Load::Yamux,
    };
    let total = mib << 20;
    let upstream = sink_server(load).await;
    let pcap = std::env::temp_dir().join(format!("bench-relay-{}.pcapng", std::process::id()));
    let pcap_s = pcap.to_str().unwrap().to_string();
    let modes: [(&str, Vec<&str>); 4] = [
        ("direct", vec![]),
        ("relay --quiet", vec!["--quiet"]),
        ("relay, decoding", vec![]),
        ("relay, decoding + --write", vec!["--write", &pcap_s]),
    ];
    // warm-up
    client(upstream, total / 8, load).await;
    let mut results: Vec<(&str, Duration)> = Vec::new();
    for (name, extra) in &modes {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let d = if *name == "direct" {
                client(upstream, total, load).await
            } else {
                through_relay(upstream, extra, total, load).await
            };
            times.push(d);
        }
        results.push((name, median(times)));
    }
    let _ = std::fs::remove_file(&pcap);
    let direct = results[0].1.as_secs_f64();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} MiB, {} load{}, median of {rounds}:",
        mib,
        if load == Load::Raw {
            "raw TCP"
        } else {
            "yamux"
        },
        if load == Load::Yamux {
            format!(" on {STREAMS} streams")
        } else {
            String::new()
        }
    );
    for (name, d) in &results {
        let s = d.as_secs_f64();
        let _ = writeln!(
            out,
            "  {name:<28} {:>8.1} MB/s  {:>5.1} % of direct",
            total as f64 / s / 1e6,
            100.0 * direct / s
        );
    }
}
