//! `yamuxctl proxy` end to end, in process: our yamux client and server
//! through the relay (with and without a pcapng), a non-yamux byte stream,
//! half-close and reset propagation.
//!
//! The bulk transfer is 256 MiB by default; `YAMUXCTL_RELAY_TEST_MIB` sets
//! another size (e.g. for slow debug machines).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yamux::{Config, Session};
use yamuxctl::cmd::proxy::ProxyArgs;
use yamuxctl::relay::serve::serve;
use yamuxctl::relay::Relay;

const STREAMS: usize = 20;

mod common;
use common::Shared;

#[derive(Parser)]
struct P {
    #[command(flatten)]
    a: ProxyArgs,
}

#[derive(Parser)]
struct D {
    #[command(flatten)]
    a: yamuxctl::cmd::decode::DecodeArgs,
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yamuxctl-relay-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A running relay: its address, and the handle giving (exit code, stdout,
/// stderr) once it stops.
struct Running {
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<(u8, Shared, Shared)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    async fn finish(mut self) -> (u8, String, String) {
        let wait = async {
            let (code, out, err) = (&mut self.handle).await.unwrap();
            (code, out.text(), err.text())
        };
        match tokio::time::timeout(Duration::from_secs(120), wait).await {
            Ok(r) => r,
            Err(_) => panic!("relay did not stop"),
        }
    }

    async fn stop(mut self) -> (u8, String, String) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.finish().await
    }
}

async fn start_relay(upstream: SocketAddr, extra: &[&str]) -> Running {
    let mut argv = vec![
        "proxy".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--upstream".into(),
        upstream.to_string(),
        "--color".into(),
        "never".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let args = P::try_parse_from(argv).unwrap().a;
    let (relay, rx) = Relay::bind(args.options()).await.unwrap();
    let addr = relay.local_addr();
    let (out, err) = (Shared::default(), Shared::default());
    let (tx, stop) = tokio::sync::oneshot::channel::<()>();
    let (o, e) = (out.clone(), err.clone());
    let handle = tokio::spawn(async move {
        let code = serve(
            relay,
            rx,
            args.serve_options(),
            Box::new(o),
            Box::new(e),
            async {
                let _ = stop.await;
            },
        )
        .await
        .unwrap();
        (code, out, err)
    });
    Running {
        addr,
        handle,
        stop: Some(tx),
    }
}

/// Order-sensitive 64-bit checksum, fed in pieces.
#[derive(Default)]
struct Sum {
    h: u64,
    n: u64,
    pend: Vec<u8>,
}

impl Sum {
    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(0x100_0000_01b3).rotate_left(5);
    }
    fn feed(&mut self, mut b: &[u8]) {
        self.n += b.len() as u64;
        if !self.pend.is_empty() {
            let take = (8 - self.pend.len()).min(b.len());
            self.pend.extend_from_slice(&b[..take]);
            b = &b[take..];
            if self.pend.len() == 8 {
                let w = u64::from_le_bytes(self.pend[..].try_into().unwrap());
                self.word(w);
                self.pend.clear();
            }
        }
        let mut it = b.chunks_exact(8);
        for c in &mut it {
            self.word(u64::from_le_bytes(c.try_into().unwrap()));
        }
        self.pend.extend_from_slice(it.remainder());
    }
    fn done(mut self) -> (u64, u64) {
        for (i, b) in std::mem::take(&mut self.pend).into_iter().enumerate() {
            self.word(u64::from(b) << (8 * i));
        }
        (self.h, self.n)
    }
}

fn random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A yamux server: for each stream, reads to the end and answers with the
/// checksum and length of what it read.
async fn checksum_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let _ = sock.set_nodelay(true);
            let s = Session::server(sock, Config::default());
            tokio::spawn(async move {
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 256 * 1024];
                        let mut sum = Sum::default();
                        loop {
                            match st.read(&mut buf).await {
                                Ok(0) => break,
                                Ok(n) => sum.feed(&buf[..n]),
                                Err(_) => return,
                            }
                        }
                        let (h, n) = sum.done();
                        let mut reply = h.to_le_bytes().to_vec();
                        reply.extend_from_slice(&n.to_le_bytes());
                        let _ = st.write_all(&reply).await;
                        let _ = st.shutdown().await;
                    });
                }
            });
        }
    });
    addr
}

fn total_bytes() -> usize {
    let mib: usize = std::env::var("YAMUXCTL_RELAY_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    mib << 20
}

/// Sends `total` bytes over 20 streams to `addr`; checks every checksum.
async fn bulk_client(addr: SocketAddr, total: usize) {
    let sock = TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let session = Session::client(sock, Config::default());
    let block = Arc::new(random(7, 1 << 20));
    let per = total / STREAMS;
    let mut tasks = Vec::new();
    for i in 0..STREAMS {
        let session = session.clone();
        let block = block.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = session.open().await.unwrap();
            let mut sum = Sum::default();
            let mut sent = 0usize;
            let mut k = 0u64;
            while sent < per {
                let n = (per - sent).min(block.len());
                // each block differs: stream and block number up front
                let mut b = block[..n].to_vec();
                let tag = (i as u64) << 32 | k;
                for (d, s) in b.iter_mut().zip(tag.to_le_bytes()) {
                    *d = s;
                }
                sum.feed(&b);
                st.write_all(&b).await.unwrap();
                sent += n;
                k += 1;
            }
            st.shutdown().await.unwrap();
            let mut reply = Vec::new();
            st.read_to_end(&mut reply).await.unwrap();
            let (h, n) = sum.done();
            let mut want = h.to_le_bytes().to_vec();
            want.extend_from_slice(&n.to_le_bytes());
            assert_eq!(reply, want, "stream {i}: checksum or length differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    session.close().await.unwrap();
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON {l:?}: {e}")))
        .collect()
}

/// Frames and findings without the relative time (the relay counts from
/// its start, `decode` from the first packet).
fn comparable(v: &[Value]) -> Vec<Value> {
    v.iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("frame" | "finding" | "connection")))
        .map(|o| {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("time");
            }
            o
        })
        .collect()
}

fn decode_json(file: &Path) -> (u8, Vec<Value>) {
    let args = D::try_parse_from(["decode", "--json", file.to_str().unwrap()])
        .unwrap()
        .a;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = yamuxctl::cmd::decode::decode(&args, &mut out, &mut err).unwrap();
    (code, ndjson(&String::from_utf8(out).unwrap()))
}

async fn bulk(write: Option<&Path>) {
    let total = total_bytes();
    let upstream = checksum_server().await;
    let mut extra = vec!["--json", "--exit-after", "1"];
    let w;
    if let Some(p) = write {
        w = p.to_str().unwrap().to_string();
        extra.extend(["--write", &w]);
    }
    let relay = start_relay(upstream, &extra).await;
    let t = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(600), bulk_client(relay.addr, total))
        .await
        .expect("bulk transfer timed out");
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "relayed {} MiB on {STREAMS} streams in {secs:.2} s ({:.0} MB/s)",
        total >> 20,
        total as f64 / secs / 1e6
    );
    let (code, out, err) = relay.finish().await;
    eprintln!("{err}");
    assert_eq!(code, 0, "findings reported:\n{err}");
    let events = ndjson(&out);
    let frames: Vec<&Value> = events.iter().filter(|e| e["kind"] == "frame").collect();
    // every byte of every stream crossed in Data frames the relay decoded
    let data: u64 = frames
        .iter()
        .filter(|f| f["type"] == "data" && f["dir"] == "a2b")
        .map(|f| f["length"].as_u64().unwrap())
        .sum();
    assert_eq!(data, (total / STREAMS * STREAMS) as u64);
    let syns = frames
        .iter()
        .filter(|f| f["dir"] == "a2b" && f["flags"].as_u64().unwrap() & 1 == 1)
        .count();
    assert_eq!(syns, STREAMS);
    assert!(
        !events
            .iter()
            .any(|e| e["kind"] == "finding" && e["severity"] != "info"),
        "unexpected findings: {out}"
    );
    assert!(
        !events.iter().any(|e| e["kind"] == "gap"),
        "decoder fell behind"
    );
    assert!(
        err.contains("relay: 1 connections (1 yamux, 0 refused)"),
        "{err}"
    );
    if let Some(p) = write {
        let (dcode, decoded) = decode_json(p);
        assert_eq!(dcode, 0);
        let (mine, theirs) = (comparable(&events), comparable(&decoded));
        assert_eq!(mine.len(), theirs.len(), "frame counts differ");
        for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "event {i} differs");
        }
        tshark_check(p, total as u64);
    }
}

/// tshark reads the file, finds consistent TCP (no lost, out-of-order or
/// retransmitted segments) and every byte.
fn tshark_check(p: &Path, min_bytes: u64) {
    let run = |args: &[&str]| std::process::Command::new("tshark").args(args).output();
    let out = match run(&["-r", p.to_str().unwrap(), "-T", "fields", "-e", "tcp.len"]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED tshark sub-test: tshark not runnable ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert!(bytes >= min_bytes, "tshark saw {bytes} TCP payload bytes");
    let bad = run(&[
        "-r",
        p.to_str().unwrap(),
        "-Y",
        "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order || tcp.analysis.retransmission || tcp.analysis.spurious_retransmission || tcp.analysis.fast_retransmission",
    ])
    .unwrap();
    assert!(bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout).trim(),
        "",
        "tshark finds TCP anomalies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_on_20_streams_keeps_checksums() {
    bulk(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_with_write_keeps_checksums_and_the_pcapng_decodes_to_the_same_frames() {
    let p = scratch("bulk.pcapng");
    bulk(Some(&p)).await;
    let _ = std::fs::remove_file(p);
}

/// A raw TCP server that echoes until the client's FIN, then closes.
async fn raw_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_yamux_bytes_pass_through_untouched_and_are_recorded() {
    let upstream = raw_echo().await;
    let p = scratch("raw.pcapng");
    let relay = start_relay(
        upstream,
        &["--exit-after", "1", "--write", p.to_str().unwrap()],
    )
    .await;
    let data = random(99, 4 << 20);
    let mut s = TcpStream::connect(relay.addr).await.unwrap();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let (_, n) = tokio::join!(send, recv);
    assert_eq!(n.unwrap(), data.len());
    assert!(back == data, "echo differs");
    let (code, out, err) = relay.finish().await;
    assert_eq!(code, 0);
    assert_eq!(out, "", "nothing decoded");
    assert!(
        err.contains("is not yamux; forwarding it unchanged"),
        "{err}"
    );
    assert!(
        err.contains("conn 1: closed after 4194304 bytes → and 4194304 bytes ←"),
        "{err}"
    );
    // the recording holds every byte of both directions, in order
    let f = std::fs::File::open(&p).unwrap();
    let mut rd = yamuxctl::capture::CaptureReader::new(f).unwrap();
    let (mut a2b, mut b2a) = (Vec::new(), Vec::new());
    let mut client = None;
    while let Some(pk) = rd.next_packet() {
        let pk = pk.unwrap();
        let seg = yamuxctl::capture::tcp_segment(pk.link, pk.data)
            .unwrap()
            .unwrap();
        let c = *client.get_or_insert(seg.src);
        if seg.src == c {
            a2b.extend_from_slice(seg.payload);
        } else {
            b2a.extend_from_slice(seg.payload);
        }
    }
    assert!(a2b == data && b2a == data, "recording differs");
    tshark_check(&p, 2 * data.len() as u64);
    let _ = std::fs::remove_file(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_reaches_the_other_side() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        // still writable after the client's FIN
        s.write_all(b"bye").await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let relay = start_relay(upstream, &["--exit-after", "1"]).await;
    let mut c = TcpStream::connect(relay.addr).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"bye");
    assert_eq!(server.await.unwrap(), b"hello");
    let (_, _, err) = relay.finish().await;
    assert!(
        err.contains("conn 1: closed after 5 bytes → and 3 bytes ←"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_from_the_server_resets_the_client() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut x = [0u8; 1];
        s.read_exact(&mut x).await.unwrap();
        let _ = rx.await;
        s.set_zero_linger().unwrap();
        drop(s);
    });
    let relay = start_relay(upstream, &["--exit-after", "1"]).await;
    let mut c = TcpStream::connect(relay.addr).await.unwrap();
    c.write_all(b"x").await.unwrap();
    tx.send(()).unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    let (_, _, err) = relay.finish().await;
    assert!(
        err.contains("conn 1: reset while forwarding server → client"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_refuses_the_client() {
    // a port nobody listens on
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = l.local_addr().unwrap();
    drop(l);
    let relay = start_relay(upstream, &["--exit-after", "1"]).await;
    // the relay resets the client: seen at connect or at the first read
    if let Ok(mut c) = TcpStream::connect(relay.addr).await {
        let mut buf = [0u8; 4];
        let r = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
    }
    let (_, _, err) = relay.finish().await;
    assert!(err.contains("unreachable"), "{err}");
    assert!(
        err.contains("relay: 0 connections (0 yamux, 1 refused)"),
        "{err}"
    );
}

/// Stopping a relay with a live connection ends it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_relay_closes_live_connections() {
    let upstream = raw_echo().await;
    let relay = start_relay(upstream, &[]).await;
    let mut c = TcpStream::connect(relay.addr).await.unwrap();
    c.write_all(b"abc").await.unwrap();
    let mut b = [0u8; 3];
    c.read_exact(&mut b).await.unwrap();
    let (code, _, err) = relay.stop().await;
    assert_eq!(code, 0);
    assert!(err.contains("conn 1: relay shut down"), "{err}");
}
