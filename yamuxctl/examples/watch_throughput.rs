//! Throughput of our yamux client → server directly, and through
//! `yamuxctl watch --listen --upstream` (the relay with the TUI open, in a
//! tmux pane of 160×48), on loopback. Bounded: a few transfers of MIB MiB.
//!
//! Beside direct and watch, it measures `proxy --quiet` (our relay without
//! decoding or UI) and a bare relay of this example (two threads per
//! connection copying with blocking `read`/`write`, nothing else): the
//! price of any user-space relay on this machine, which bounds what watch
//! can reach.
//!
//! Usage: `cargo run --release -p yamuxctl --example watch_throughput --
//! target/release/yamuxctl [MIB=64] [STREAMS=8] [ROUNDS=3]`

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yamux::{Config, Session};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn sink_server() -> Res<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let s = Session::server(sock, Config::default());
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = st.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                        let _ = st.shutdown().await;
                    });
                }
            });
        }
    });
    Ok(addr)
}

/// Sends `total` bytes over `streams` streams; returns the seconds taken.
async fn transfer(addr: SocketAddr, total: usize, streams: usize) -> Res<f64> {
    let sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let s = Session::client(sock, Config::default());
    let per = total / streams;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut st = s.open().await?;
        tasks.push(tokio::spawn(async move {
            let chunk = vec![0x5au8; 64 * 1024];
            let mut left = per;
            while left > 0 {
                let n = left.min(chunk.len());
                st.write_all(&chunk[..n]).await?;
                left -= n;
            }
            st.shutdown().await?;
            let mut rest = Vec::new();
            st.read_to_end(&mut rest).await?;
            Ok::<_, std::io::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = s.close().await;
    Ok(secs)
}

/// One direction of the bare relay: blocking copy, 256 KiB at a time.
fn copy_dir(mut r: std::net::TcpStream, mut w: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = w.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                if w.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The bare relay to `upstream`: a thread per direction, no decoding.
fn bare_relay(upstream: SocketAddr) -> Res<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let Ok(u) = std::net::TcpStream::connect(upstream) else {
                return;
            };
            let _ = c.set_nodelay(true);
            let _ = u.set_nodelay(true);
            let (Ok(c2), Ok(u2)) = (c.try_clone(), u.try_clone()) else {
                return;
            };
            std::thread::spawn(move || copy_dir(c, u));
            std::thread::spawn(move || copy_dir(u2, c2));
        }
    });
    Ok(addr)
}

fn tmux(sock: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(sock)
        .args(args)
        .output()
        .expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Res<()> {
    let Some(bin) = std::env::args().nth(1) else {
        eprintln!("usage: watch_throughput PATH/TO/yamuxctl [MIB] [STREAMS] [ROUNDS]");
        std::process::exit(2);
    };
    let mib: usize = arg(2, 64);
    let streams: usize = arg(3, 8);
    let rounds: usize = arg(4, 3);
    let total = mib << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = rt.block_on(sink_server())?;
    let sock = format!("watch-throughput-{}", std::process::id());
    tmux(
        &sock,
        &[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "48",
            "-s",
            "w",
            &format!("{bin} watch --listen 127.0.0.1:0 --upstream {server}; sleep 30"),
        ],
    );
    // the title names the relay's address
    let deadline = Instant::now() + Duration::from_secs(15);
    let relay: SocketAddr = loop {
        let screen = tmux(&sock, &["capture-pane", "-p", "-t", "w"]);
        if let Some(a) = screen
            .split("relay ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        {
            break a;
        }
        if Instant::now() > deadline {
            tmux(&sock, &["kill-server"]);
            return Err(format!("watch did not start:\n{screen}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // the relay alone, for reference: `proxy --quiet` (no decoding, no UI)
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let proxy_addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut proxy = Command::new(&bin)
        .args(["proxy", "--quiet", "--listen"])
        .arg(proxy_addr.to_string())
        .arg("--upstream")
        .arg(server.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(proxy_addr).is_err() {
        if Instant::now() > deadline {
            let _ = proxy.kill();
            return Err("proxy did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let plain = bare_relay(server)?;
    let mut direct = Vec::new();
    let mut copy = Vec::new();
    let mut via = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..rounds {
        direct.push(rt.block_on(transfer(server, total, streams))?);
        via.push(rt.block_on(transfer(relay, total, streams))?);
        bare.push(rt.block_on(transfer(proxy_addr, total, streams))?);
        copy.push(rt.block_on(transfer(plain, total, streams))?);
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux(&sock, &["capture-pane", "-p", "-t", "w"]);
    tmux(&sock, &["send-keys", "-t", "w", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&sock, &["kill-server"]);
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let rate = |s: f64| mib as f64 / s;
    println!("{screen}");
    println!(
        "{mib} MiB over {streams} streams, best of {rounds}: direct {:.1} MiB/s, through watch (relay + TUI) {:.1} MiB/s: {:.0}% of direct",
        rate(best(&direct)),
        rate(best(&via)),
        100.0 * best(&direct) / best(&via)
    );
    println!(
        "relay alone (proxy --quiet): {:.1} MiB/s: {:.0}% of direct; watch is {:.0}% of the relay alone",
        rate(best(&bare)),
        100.0 * best(&direct) / best(&bare),
        100.0 * best(&bare) / best(&via)
    );
    println!(
        "bare copying relay (2 threads, no decoding): {:.1} MiB/s: {:.0}% of direct; watch is {:.0}% of it",
        rate(best(&copy)),
        100.0 * best(&direct) / best(&copy),
        100.0 * best(&copy) / best(&via)
    );
    println!(
        "all rounds (s): direct {direct:.3?}, through watch {via:.3?}, relay alone {bare:.3?}, bare relay {copy:.3?}"
    );
    Ok(())
}
