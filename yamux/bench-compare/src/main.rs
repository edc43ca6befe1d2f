//! Loopback benchmark: raw TCP, our `yamux` and crates.io `yamux`
//! (rust-yamux 0.13), interleaved in one run.
//!
//! `cargo run --release -- [--quick] [--reps N] [--window BYTES]`
//!
//! Scenarios (client and server in one process, tokio with 2 workers):
//! - one stream: 1 GiB written in 64 KiB writes, read by a sink;
//! - 100 streams x 10 MiB concurrently, same pattern;
//! - 64-byte request/response latency on one stream (median);
//! - memory per idle open stream: 10,000 streams opened, each with one
//!   byte exchanged, then held; heap bytes (counting allocator, both ends)
//!   divided by the stream count.
//!
//! Prints a Markdown table of medians over the repetitions.
//!
//! `--interop` instead checks both directions against rust-yamux: 100
//! streams x 1 MiB echoed chunk by chunk and verified; exit 1 on a mismatch.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::poll_fn;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

// ----- counting allocator ---------------------------------------------------

struct Counting;

static CURRENT: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        CURRENT.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CURRENT.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        CURRENT.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        CURRENT.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// CPU seconds (user + system) this process has used, from /proc.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn heap() -> isize {
    CURRENT.load(Ordering::Relaxed)
}

// ----- a uniform view of the three implementations ---------------------------

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type BoxIo = Box<dyn Io>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Imp {
    Raw,
    Ours,
    Rust,
}

impl Imp {
    fn name(self) -> &'static str {
        match self {
            Imp::Raw => "raw TCP",
            Imp::Ours => "ours",
            Imp::Rust => "rust-yamux",
        }
    }
}

#[derive(Clone, Copy)]
struct Opts {
    window: Option<u32>,
}

fn ours_config(o: Opts) -> ours::Config {
    let mut c = ours::Config::default();
    c.max_streams = 100_000;
    c.accept_backlog = 100_000;
    if let Some(w) = o.window {
        c.receive_window = w;
        c.max_receive_window = w.max(c.max_receive_window);
    }
    c
}

fn rust_config() -> rust_yamux::Config {
    let mut c = rust_yamux::Config::default();
    c.set_max_connection_receive_window(None);
    c.set_max_num_streams(100_000);
    c
}

/// Client side: opens streams.
enum Client {
    Raw(std::net::SocketAddr),
    Ours(ours::Session),
    Rust(mpsc::UnboundedSender<oneshot::Sender<rust_yamux::Stream>>),
}

impl Client {
    async fn open(&self) -> BoxIo {
        match self {
            Client::Raw(addr) => {
                let s = TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).expect("nodelay");
                Box::new(s)
            }
            Client::Ours(sess) => Box::new(sess.open().await.expect("open")),
            Client::Rust(tx) => {
                let (otx, orx) = oneshot::channel();
                tx.send(otx).expect("rust driver alive");
                Box::new(orx.await.expect("rust open").compat())
            }
        }
    }

    async fn close(self) {
        if let Client::Ours(s) = self {
            let _ = s.close().await;
        }
    }
}

/// Drives a rust-yamux client connection: opens streams on request and
/// polls the connection.
fn rust_client(tcp: TcpStream) -> Client {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<rust_yamux::Stream>>();
    let mut conn =
        rust_yamux::Connection::new(tcp.compat(), rust_config(), rust_yamux::Mode::Client);
    tokio::spawn(async move {
        let mut pending: Vec<oneshot::Sender<rust_yamux::Stream>> = Vec::new();
        let mut done = false;
        poll_fn(|cx| loop {
            let mut progress = false;
            while !done {
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(r)) => pending.push(r),
                    Poll::Ready(None) => done = true,
                    Poll::Pending => break,
                }
            }
            if !pending.is_empty() {
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(s)) => {
                        let _ = pending.remove(0).send(s);
                        progress = true;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => {}
                }
            }
            if done && pending.is_empty() {
                return match conn.poll_close(cx) {
                    Poll::Ready(_) => Poll::Ready(()),
                    Poll::Pending => Poll::Pending,
                };
            }
            match conn.poll_next_inbound(cx) {
                Poll::Ready(None) | Poll::Ready(Some(Err(_))) => return Poll::Ready(()),
                Poll::Ready(Some(Ok(_))) => progress = true,
                Poll::Pending => {}
            }
            if !progress {
                return Poll::Pending;
            }
        })
        .await;
    });
    Client::Rust(tx)
}

/// Starts a listener for `imp`; inbound streams (or TCP connections) come
/// out of the returned channel.
async fn server(imp: Imp, o: Opts) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<BoxIo>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel::<BoxIo>();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            sock.set_nodelay(true).expect("nodelay");
            let tx = tx.clone();
            match imp {
                Imp::Raw => {
                    if tx.send(Box::new(sock)).is_err() {
                        return;
                    }
                }
                Imp::Ours => {
                    tokio::spawn(async move {
                        let sess = ours::Session::server(sock, ours_config(o));
                        while let Ok(s) = sess.accept().await {
                            if tx.send(Box::new(s)).is_err() {
                                break;
                            }
                        }
                    });
                }
                Imp::Rust => {
                    tokio::spawn(async move {
                        let mut conn = rust_yamux::Connection::new(
                            sock.compat(),
                            rust_config(),
                            rust_yamux::Mode::Server,
                        );
                        while let Some(Ok(s)) = poll_fn(|cx| conn.poll_next_inbound(cx)).await {
                            if tx.send(Box::new(s.compat())).is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        }
    });
    (addr, rx)
}

async fn client(imp: Imp, addr: std::net::SocketAddr, o: Opts) -> Client {
    match imp {
        Imp::Raw => Client::Raw(addr),
        Imp::Ours => {
            let s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            Client::Ours(ours::Session::client(s, ours_config(o)))
        }
        Imp::Rust => {
            let s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            rust_client(s)
        }
    }
}

// ----- scenarios ------------------------------------------------------------

/// Server handler: read to EOF, then answer one byte and close.
async fn sink(mut s: BoxIo) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = s.write_all(b"k").await;
    let _ = s.shutdown().await;
}

/// Server handler: echo until EOF.
async fn echo(mut s: BoxIo) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown().await;
}

/// Bytes per second moving `per_stream` bytes on each of `streams`.
async fn throughput(imp: Imp, o: Opts, streams: usize, per_stream: u64) -> (f64, f64) {
    let (addr, mut rx) = server(imp, o).await;
    tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            tokio::spawn(sink(s));
        }
    });
    let c = client(imp, addr, o).await;
    let start = Instant::now();
    let cpu0 = cpu_secs();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut s = c.open().await;
        tasks.push(tokio::spawn(async move {
            let chunk = vec![0x5Au8; 64 * 1024];
            let mut left = per_stream;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                s.write_all(&chunk[..n]).await.expect("write");
                left -= n as u64;
            }
            s.shutdown().await.expect("shutdown");
            let mut done = Vec::new();
            s.read_to_end(&mut done).await.expect("read done");
            assert_eq!(done, b"k");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let took = start.elapsed();
    let cpu = cpu_secs() - cpu0;
    c.close().await;
    let total = (streams as u64 * per_stream) as f64;
    (total / took.as_secs_f64(), total / cpu.max(0.01))
}

/// Median round trip of a 64-byte request and response, in microseconds.
async fn latency(imp: Imp, o: Opts, iterations: usize) -> f64 {
    let (addr, mut rx) = server(imp, o).await;
    tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            tokio::spawn(echo(s));
        }
    });
    let c = client(imp, addr, o).await;
    let mut s = c.open().await;
    let req = [7u8; 64];
    let mut resp = [0u8; 64];
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 100 {
        let t = Instant::now();
        s.write_all(&req).await.expect("write");
        s.read_exact(&mut resp).await.expect("read");
        if i >= 100 {
            samples.push(t.elapsed());
        }
    }
    drop(s);
    c.close().await;
    median(samples.iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

/// Heap bytes per idle open stream (both ends), `n` streams.
async fn memory(imp: Imp, o: Opts, n: usize) -> f64 {
    let (addr, mut rx) = server(imp, o).await;
    let (held_tx, held_rx) = oneshot::channel::<Vec<BoxIo>>();
    let expect = n + 1;
    tokio::spawn(async move {
        let mut held = Vec::with_capacity(expect);
        while let Some(mut s) = rx.recv().await {
            let mut b = [0u8; 1];
            if s.read_exact(&mut b).await.is_err() || s.write_all(&b).await.is_err() {
                break;
            }
            held.push(s);
            if held.len() == expect {
                break;
            }
        }
        let _ = held_tx.send(held);
    });
    let c = client(imp, addr, o).await;
    let mut streams: Vec<BoxIo> = Vec::with_capacity(n + 1);
    // Warm up: one stream, so the connection's own state is in the baseline.
    let exchange = |mut s: BoxIo| async move {
        s.write_all(b"x").await.expect("write");
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.expect("read");
        s
    };
    streams.push(exchange(c.open().await).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = heap();
    for _ in 0..n {
        streams.push(exchange(c.open().await).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = heap();
    let held = held_rx.await.expect("server held streams");
    let per = (after - before) as f64 / n as f64;
    drop(held);
    drop(streams);
    c.close().await;
    per
}

/// Interop check: `client_imp` client against a `server_imp` echo server,
/// `streams` x `bytes`, every byte verified. Returns the number of bad
/// streams.
async fn interop(client_imp: Imp, server_imp: Imp, streams: usize, bytes: usize) -> usize {
    let o = Opts { window: None };
    let (addr, mut rx) = server(server_imp, o).await;
    tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            tokio::spawn(echo(s));
        }
    });
    let c = client(client_imp, addr, o).await;
    let mut tasks = Vec::new();
    for i in 0..streams {
        let mut s = c.open().await;
        tasks.push(tokio::spawn(async move {
            // Chunk by chunk, each echoed before the next: no split handles
            // needed, and never more than one chunk in flight.
            let data: Vec<u8> = (0..bytes).map(|j| (j * 31 + i * 7) as u8).collect();
            let mut got = vec![0u8; 16 * 1024];
            let mut ok = true;
            for chunk in data.chunks(16 * 1024) {
                s.write_all(chunk).await.expect("write");
                let back = &mut got[..chunk.len()];
                s.read_exact(back).await.expect("read");
                ok &= back == chunk;
            }
            s.shutdown().await.expect("shutdown");
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.expect("read to end");
            ok && rest.is_empty()
        }));
    }
    let mut bad = 0;
    for t in tasks {
        if !t.await.expect("task") {
            bad += 1;
        }
    }
    c.close().await;
    bad
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

// ----- main -----------------------------------------------------------------

struct Row {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    values: [Vec<f64>; 3],
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let reps = arg("--reps").unwrap_or(3) as usize;
    let o = Opts {
        window: arg("--window").map(|w| w as u32),
    };
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let only_imp: Option<String> = args
        .iter()
        .position(|a| a == "--imp")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let (single, multi, iters, idle) = if quick {
        (256u64 << 20, 2u64 << 20, 2_000usize, 2_000usize)
    } else {
        (1u64 << 30, 10u64 << 20, 10_000usize, 10_000usize)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if args.iter().any(|a| a == "--interop") {
        let mut failed = false;
        for (ci, si) in [
            (Imp::Rust, Imp::Rust),
            (Imp::Ours, Imp::Rust),
            (Imp::Rust, Imp::Ours),
            (Imp::Ours, Imp::Ours),
        ] {
            let bad = rt.block_on(interop(ci, si, 100, 1 << 20));
            println!(
                "{} client -> {} server: 100 streams x 1 MiB echoed, {} bad",
                ci.name(),
                si.name(),
                bad
            );
            failed |= bad > 0;
        }
        std::process::exit(i32::from(failed));
    }
    let imps = [Imp::Raw, Imp::Ours, Imp::Rust];
    let mut rows = vec![
        Row {
            name: format!("1 stream, {} MiB in 64 KiB writes", single >> 20),
            unit: "MiB/s",
            higher_is_better: true,
            values: Default::default(),
        },
        Row {
            name: format!("100 streams x {} MiB", multi >> 20),
            unit: "MiB/s",
            higher_is_better: true,
            values: Default::default(),
        },
        Row {
            name: "64 B request/response, median".into(),
            unit: "us",
            higher_is_better: false,
            values: Default::default(),
        },
        Row {
            name: format!("memory per idle stream ({idle} streams)"),
            unit: "bytes",
            higher_is_better: false,
            values: Default::default(),
        },
        Row {
            name: "1 stream, CPU efficiency (both ends)".into(),
            unit: "MiB/cpu-s",
            higher_is_better: true,
            values: Default::default(),
        },
        Row {
            name: "100 streams, CPU efficiency (both ends)".into(),
            unit: "MiB/cpu-s",
            higher_is_better: true,
            values: Default::default(),
        },
    ];
    let want = |k: &str| only.as_deref().is_none_or(|o| o == k);
    for rep in 0..reps {
        for (i, imp) in imps.iter().enumerate() {
            let imp = *imp;
            if only_imp.as_deref().is_some_and(|x| x != imp.name()) {
                continue;
            }
            let mib = (1u64 << 20) as f64;
            if want("single") {
                let (v, c) = rt.block_on(throughput(imp, o, 1, single));
                let (v, c) = (v / mib, c / mib);
                eprintln!(
                    "rep {rep} {:<10} single  {v:.0} MiB/s  {c:.0} MiB/cpu-s",
                    imp.name()
                );
                rows[0].values[i].push(v);
                rows[4].values[i].push(c);
            }
            if want("multi") {
                let (v, c) = rt.block_on(throughput(imp, o, 100, multi));
                let (v, c) = (v / mib, c / mib);
                eprintln!(
                    "rep {rep} {:<10} multi   {v:.0} MiB/s  {c:.0} MiB/cpu-s",
                    imp.name()
                );
                rows[1].values[i].push(v);
                rows[5].values[i].push(c);
            }
            if want("latency") {
                let v = rt.block_on(latency(imp, o, iters));
                eprintln!("rep {rep} {:<10} latency {v:.1} us", imp.name());
                rows[2].values[i].push(v);
            }
            if want("memory") && imp != Imp::Raw {
                let v = rt.block_on(memory(imp, o, idle));
                eprintln!("rep {rep} {:<10} memory  {v:.0} B/stream", imp.name());
                rows[3].values[i].push(v);
            }
        }
    }
    println!("| scenario | unit | raw TCP | ours | rust-yamux | ours / raw | ours vs rust-yamux |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let m: Vec<f64> = r.values.iter().map(|v| median(v.clone())).collect();
        let (raw, us, rust) = (m[0], m[1], m[2]);
        let vs_raw = if r.higher_is_better {
            us / raw
        } else {
            raw / us
        };
        let vs_rust = if r.higher_is_better {
            us / rust
        } else {
            rust / us
        };
        let pct = |x: f64| {
            if x.is_nan() {
                "n/a".to_string()
            } else {
                format!("{:.0}%", x * 100.0)
            }
        };
        let times = |x: f64| {
            if x.is_nan() {
                "n/a".to_string()
            } else {
                format!("{x:.2}x")
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.unit,
            fmt(raw),
            fmt(us),
            fmt(rust),
            pct(vs_raw),
            times(vs_rust)
        );
    }
}
