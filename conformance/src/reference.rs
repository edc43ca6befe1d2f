//! The adapter for the reference crate (docs/adapters.md), run by
//! `yamuxctl adapter-reference` and by `conformance/adapters/reference/run`.
//!
//! Environment: `YAMUX_WINDOW` (receive window), `YAMUX_KEEPALIVE` (seconds;
//! `0` = off), and — only when built with the `faults` feature —
//! `YAMUX_FAULT=<name>` turning on one deliberate bug of the crate.

use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use yamux::{Config, GoAwayCode, Session, Stream};

use crate::adapter::EXIT_UNSUPPORTED;
use crate::bench;

/// Parsed command line: `--role server|client --addr HOST:PORT`.
pub struct AdapterArgs {
    /// `server` or `client`.
    pub role: String,
    /// Address.
    pub addr: String,
}

/// Parses the adapter's arguments; `Err(89)` for anything unknown.
pub fn parse_args(args: &[String]) -> Result<AdapterArgs, i32> {
    let mut role = None;
    let mut addr = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--role" => role = it.next().cloned(),
            "--addr" => addr = it.next().cloned(),
            _ => return Err(EXIT_UNSUPPORTED),
        }
    }
    match (role, addr) {
        (Some(r), Some(a)) if r == "server" || r == "client" => {
            Ok(AdapterArgs { role: r, addr: a })
        }
        _ => Err(EXIT_UNSUPPORTED),
    }
}

/// The configuration from the environment. Errors name the variable.
pub fn config_from_env() -> Result<Config, String> {
    let mut c = Config::default();
    if let Ok(w) = std::env::var("YAMUX_WINDOW") {
        c.receive_window = w
            .parse()
            .map_err(|_| format!("YAMUX_WINDOW={w:?} is not a number"))?;
        c.max_receive_window = c.max_receive_window.max(c.receive_window);
    }
    if let Ok(k) = std::env::var("YAMUX_KEEPALIVE") {
        let secs: u64 = k
            .parse()
            .map_err(|_| format!("YAMUX_KEEPALIVE={k:?} is not a number"))?;
        c.keep_alive = (secs > 0).then(|| Duration::from_secs(secs));
    }
    if let Ok(n) = std::env::var("YAMUX_MAX_STREAMS") {
        c.max_streams = n
            .parse()
            .map_err(|_| format!("YAMUX_MAX_STREAMS={n:?} is not a number"))?;
    }
    #[cfg(feature = "faults")]
    if let Ok(f) = std::env::var("YAMUX_FAULT") {
        let faults = &mut c.faults;
        let flag = match f.as_str() {
            "ignore_peer_window" => &mut faults.ignore_peer_window,
            "wrong_parity" => &mut faults.wrong_parity,
            "never_ack" => &mut faults.never_ack,
            "ping_wrong_value" => &mut faults.ping_wrong_value,
            "wu_reads_body" => &mut faults.wu_reads_body,
            "drop_syn_payload" => &mut faults.drop_syn_payload,
            "no_goaway_on_error" => &mut faults.no_goaway_on_error,
            "double_ack" => &mut faults.double_ack,
            "accept_data_after_fin" => &mut faults.accept_data_after_fin,
            "rst_length_as_credit" => &mut faults.rst_length_as_credit,
            "panic_on_window_overflow" => &mut faults.panic_on_window_overflow,
            "unbounded_pong_queue" => &mut faults.unbounded_pong_queue,
            "ignore_receive_budget" => &mut faults.ignore_receive_budget,
            other => return Err(format!("YAMUX_FAULT={other:?} is not a fault name")),
        };
        *flag = true;
    }
    Ok(c)
}

/// The fault names `YAMUX_FAULT` accepts (with the `faults` feature).
pub const FAULTS: &[&str] = &[
    "ignore_peer_window",
    "wrong_parity",
    "never_ack",
    "ping_wrong_value",
    "wu_reads_body",
    "drop_syn_payload",
    "no_goaway_on_error",
    "double_ack",
    "accept_data_after_fin",
    "rst_length_as_credit",
    "panic_on_window_overflow",
    "unbounded_pong_queue",
    "ignore_receive_budget",
];

type Out = mpsc::UnboundedSender<Value>;

fn emit(out: &Out, v: Value) {
    let _ = out.send(v);
}

enum Job {
    Write { bytes: Vec<u8>, reply: Option<u64> },
    Close { reply: Option<u64> },
}

struct StreamCtl {
    stream: Arc<Mutex<Stream>>,
    jobs: mpsc::UnboundedSender<Job>,
    read_on: watch::Sender<bool>,
    echo_on: watch::Sender<bool>,
}

struct State {
    session: Session,
    out: Out,
    streams: Mutex<HashMap<u32, StreamCtl>>,
    accept_on: watch::Sender<bool>,
    read_default: Mutex<bool>,
    echo_default: Mutex<bool>,
    /// `bench-serve`: how inbound streams are served (Off = the default echo with events).
    serve_mode: Mutex<bench::ServeMode>,
    /// Streams kept open by `bench-hold`.
    held: Arc<Mutex<Vec<Stream>>>,
    /// The server's listener, kept for `accept-sessions` (None: client).
    listener: Option<Arc<TcpListener>>,
    /// The configuration every session of this process is created with.
    config: Config,
}

async fn read_some(s: &Arc<Mutex<Stream>>, buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| {
        let mut g = match s.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *g).poll_read(cx, &mut rb) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(rb.filled().len())),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

async fn write_all(s: &Arc<Mutex<Stream>>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| {
            let mut g = match s.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            Pin::new(&mut *g).poll_write(cx, bytes)
        })
        .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

async fn shutdown(s: &Arc<Mutex<Stream>>) -> std::io::Result<()> {
    poll_fn(|cx| {
        let mut g = match s.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        Pin::new(&mut *g).poll_shutdown(cx)
    })
    .await
}

fn io_event(out: &Out, id: u32, e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::ConnectionReset {
        emit(out, json!({"event": "reset", "stream": id}));
    } else {
        emit(
            out,
            json!({"event": "stream-error", "stream": id, "message": e.to_string()}),
        );
    }
}

impl State {
    fn register(self: &Arc<Self>, stream: Stream, echo: bool) -> u32 {
        let id = stream.id().val();
        let stream = Arc::new(Mutex::new(stream));
        let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel::<Job>();
        let read_default = self.read_default.lock().map(|g| *g).unwrap_or(true);
        let (read_tx, mut read_rx) = watch::channel(read_default);
        let (echo_tx, echo_rx) = watch::channel(echo);
        if let Ok(mut m) = self.streams.lock() {
            m.insert(
                id,
                StreamCtl {
                    stream: stream.clone(),
                    jobs: jobs_tx.clone(),
                    read_on: read_tx,
                    echo_on: echo_tx,
                },
            );
        }
        // Writer: runs jobs in order.
        let done = Arc::new(AtomicU8::new(0));
        let (st, st2, done2) = (self.clone(), self.clone(), done.clone());
        let out = self.out.clone();
        let s = stream.clone();
        tokio::spawn(async move {
            let mut failed = false;
            while let Some(job) = jobs_rx.recv().await {
                match job {
                    Job::Write { bytes, reply } => {
                        let r = if failed {
                            Err(std::io::ErrorKind::BrokenPipe.into())
                        } else {
                            write_all(&s, &bytes).await
                        };
                        match (r, reply) {
                            (Ok(()), Some(rid)) => {
                                emit(&out, json!({"event": "ok", "id": rid, "len": bytes.len()}))
                            }
                            (Ok(()), None) => {}
                            (Err(e), Some(rid)) => {
                                if !failed {
                                    io_event(&out, id, &e);
                                }
                                failed = true;
                                emit(
                                    &out,
                                    json!({"event": "error", "id": rid, "message": e.to_string()}),
                                );
                            }
                            (Err(e), None) => {
                                if !failed {
                                    io_event(&out, id, &e);
                                }
                                failed = true;
                            }
                        }
                    }
                    Job::Close { reply } => {
                        let r = shutdown(&s).await;
                        if r.is_ok() {
                            finished(&st, id, &done, FIN_SENT);
                        }
                        if let Some(rid) = reply {
                            match r {
                                Ok(()) => emit(&out, json!({"event": "ok", "id": rid})),
                                Err(e) => emit(
                                    &out,
                                    json!({"event": "error", "id": rid, "message": e.to_string()}),
                                ),
                            }
                        }
                    }
                }
            }
        });
        // Reader.
        let out = self.out.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                while !*read_rx.borrow_and_update() {
                    if read_rx.changed().await.is_err() {
                        return;
                    }
                }
                let r = tokio::select! {
                    r = read_some(&stream, &mut buf) => Some(r),
                    _ = read_rx.changed() => None,
                };
                match r {
                    None => continue,
                    Some(Ok(0)) => {
                        emit(&out, json!({"event": "eof", "stream": id}));
                        if *echo_rx.borrow() {
                            let _ = jobs_tx.send(Job::Close { reply: None });
                        }
                        finished(&st2, id, &done2, EOF_READ);
                        return;
                    }
                    Some(Ok(n)) => {
                        emit(
                            &out,
                            json!({"event": "data", "stream": id, "hex": hex::encode(&buf[..n])}),
                        );
                        if *echo_rx.borrow() {
                            let _ = jobs_tx.send(Job::Write {
                                bytes: buf[..n].to_vec(),
                                reply: None,
                            });
                        }
                    }
                    Some(Err(e)) => {
                        io_event(&out, id, &e);
                        return;
                    }
                }
            }
        });
        id
    }

    fn with_streams<R>(&self, f: impl FnOnce(&mut HashMap<u32, StreamCtl>) -> R) -> R {
        match self.streams.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

const EOF_READ: u8 = 1;
const FIN_SENT: u8 = 2;

/// Records one direction as finished; once both are, the application lets
/// go of the stream (as a real one would), so the session can forget it.
fn finished(state: &Arc<State>, id: u32, done: &AtomicU8, bit: u8) {
    if done.fetch_or(bit, Ordering::SeqCst) | bit == EOF_READ | FIN_SENT {
        state.with_streams(|m| m.remove(&id));
    }
}

fn pattern(n: u64) -> Vec<u8> {
    (0..n).map(crate::vector::pattern_byte).collect()
}

async fn command(state: &Arc<State>, line: &str) {
    let out = &state.out;
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            emit(
                out,
                json!({"event": "log", "message": format!("ignored a line that is not JSON: {e}")}),
            );
            return;
        }
    };
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let rid = id.as_u64();
    let cmd = v.get("cmd").and_then(Value::as_str).unwrap_or("");
    let stream = v
        .get("stream")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok());
    let ok = |extra: Value| {
        let mut m = json!({"event": "ok", "id": id});
        if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
            m.extend(e);
        }
        m
    };
    let err = |msg: String| json!({"event": "error", "id": id, "message": msg});
    if let Some(b) = bench::parse(&v) {
        bench_command(state, id.clone(), b);
        return;
    }
    match cmd {
        "open" => {
            let st = state.clone();
            let id = id.clone();
            tokio::spawn(async move {
                match st.session.open().await {
                    Ok(s) => {
                        let sid = st.register(s, false);
                        emit(&st.out, json!({"event": "ok", "id": id, "stream": sid}));
                    }
                    Err(e) => emit(
                        &st.out,
                        json!({"event": "error", "id": id, "message": e.to_string()}),
                    ),
                }
            });
        }
        "write" | "close" => {
            let Some(sid) = stream else {
                emit(out, err("missing stream".into()));
                return;
            };
            let job = if cmd == "close" {
                Job::Close { reply: rid }
            } else {
                let bytes = match (
                    v.get("hex").and_then(Value::as_str),
                    v.get("len").and_then(Value::as_u64),
                ) {
                    (Some(h), _) => match hex::decode(h) {
                        Ok(b) => b,
                        Err(e) => {
                            emit(out, err(format!("bad hex: {e}")));
                            return;
                        }
                    },
                    (None, Some(n)) => pattern(n),
                    (None, None) => {
                        emit(out, err("write needs hex or len".into()));
                        return;
                    }
                };
                Job::Write { bytes, reply: rid }
            };
            let sent = state.with_streams(|m| m.get(&sid).map(|c| c.jobs.send(job).is_ok()));
            match sent {
                Some(true) => {}
                Some(false) => emit(out, err(format!("stream {sid} is finished"))),
                None => emit(out, err(format!("unknown stream {sid}"))),
            }
        }
        "reset" | "reset-code" => {
            // length.rst-code: the yamux crate sends every RST with Length
            // 0, so only code 0 (no particular reason) can be honoured.
            let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
            if cmd == "reset-code" && code != 0 {
                emit(
                    out,
                    json!({"event": "unsupported", "id": id, "message": "the yamux crate resets with Length 0 only: it has no API to send an error code"}),
                );
                return;
            }
            let Some(sid) = stream else {
                emit(out, err("missing stream".into()));
                return;
            };
            let s = state.with_streams(|m| m.get(&sid).map(|c| c.stream.clone()));
            match s {
                Some(s) => {
                    if let Ok(mut g) = s.lock() {
                        g.reset();
                    }
                    emit(out, ok(json!({})));
                }
                None => emit(out, err(format!("unknown stream {sid}"))),
            }
        }
        "ping" => {
            let st = state.clone();
            let id = id.clone();
            tokio::spawn(async move {
                match st.session.ping().await {
                    Ok(rtt) => emit(
                        &st.out,
                        json!({"event": "ok", "id": id, "rtt_ms": rtt.as_secs_f64() * 1000.0}),
                    ),
                    Err(e) => emit(
                        &st.out,
                        json!({"event": "error", "id": id, "message": e.to_string()}),
                    ),
                }
            });
        }
        "goaway" => {
            let code = v
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0);
            match state.session.go_away(GoAwayCode::new(code)).await {
                Ok(()) => emit(out, ok(json!({}))),
                Err(e) => emit(out, err(e.to_string())),
            }
        }
        "session-close" => {
            let st = state.clone();
            let id = id.clone();
            tokio::spawn(async move {
                match st.session.close().await {
                    Ok(()) => emit(&st.out, json!({"event": "ok", "id": id})),
                    Err(e) => emit(
                        &st.out,
                        json!({"event": "error", "id": id, "message": e.to_string()}),
                    ),
                }
            });
        }
        "accept" | "no-accept" => {
            let _ = state.accept_on.send(cmd == "accept");
            emit(out, ok(json!({})));
        }
        "read" | "no-read" | "echo" | "no-echo" => {
            let on = !cmd.starts_with("no-");
            let reading = cmd.ends_with("read");
            state.with_streams(|m| {
                for (sid, c) in m.iter() {
                    if stream.is_none_or(|s| s == *sid) {
                        if reading {
                            let _ = c.read_on.send(on);
                        } else {
                            let _ = c.echo_on.send(on);
                        }
                    }
                }
            });
            if stream.is_none() {
                let d = if reading {
                    &state.read_default
                } else {
                    &state.echo_default
                };
                if let Ok(mut g) = d.lock() {
                    *g = on;
                }
            }
            emit(out, ok(json!({})));
        }
        "accept-sessions" => {
            let Some(l) = state.listener.clone() else {
                emit(
                    out,
                    json!({"event": "unsupported", "id": id, "message": "a client has no listener"}),
                );
                return;
            };
            let Some(count) = v.get("count").and_then(Value::as_u64) else {
                emit(out, err("`count` must be a non-negative integer".into()));
                return;
            };
            tokio::spawn(more_sessions(l, count, state.config.clone()));
            emit(out, ok(json!({})));
        }
        "crash" => {
            // The crash contract (docs/adapters.md, "Crashes"): a panic in a
            // task, which the hook set by `main_with` turns into the death
            // of the process.
            tokio::spawn(async { panic!("deliberate crash (adapter crash command)") });
        }
        _ => emit(out, json!({"event": "unsupported", "id": id})),
    }
}

/// `accept-sessions` (docs/adapters.md, "More sessions"): up to `count`
/// more connections, each a server session whose streams are echoed
/// without events. Their errors end only themselves.
async fn more_sessions(l: Arc<TcpListener>, count: u64, config: Config) {
    for _ in 0..count {
        let tcp = match l.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("reference adapter: accept-sessions: accept failed: {e}");
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        let session = Session::server(tcp, config.clone());
        tokio::spawn(async move {
            while let Ok(s) = session.accept().await {
                tokio::spawn(bench::serve(s, bench::ServeMode::Echo));
            }
        });
    }
}

/// The benchmark commands (docs/adapters.md, "Benchmark commands").
fn bench_command(state: &Arc<State>, id: Value, b: Result<bench::BenchCmd, String>) {
    let reply = move |r: Result<Value, String>| match r {
        Ok(extra) => {
            let mut m = json!({"event": "ok", "id": id});
            if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
                m.extend(e);
            }
            m
        }
        Err(msg) => json!({"event": "error", "id": id, "message": msg}),
    };
    match b {
        Err(e) => emit(&state.out, reply(Err(e))),
        Ok(bench::BenchCmd::Serve(mode)) => {
            if let Ok(mut g) = state.serve_mode.lock() {
                *g = mode;
            }
            emit(&state.out, reply(Ok(json!({}))));
        }
        Ok(bench::BenchCmd::Rss) => emit(&state.out, reply(bench::rss_reply())),
        Ok(cmd) => {
            let st = state.clone();
            tokio::spawn(async move {
                let session = st.session.clone();
                let open = move || {
                    let session = session.clone();
                    async move { session.open().await.map_err(|e| e.to_string()) }
                };
                let r = bench::client(cmd, open, st.held.clone()).await;
                emit(&st.out, reply(r));
            });
        }
    }
}

/// Runs the adapter; returns the process exit code.
pub async fn run(args: AdapterArgs) -> i32 {
    let config = match config_from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reference adapter: {e}");
            return EXIT_UNSUPPORTED;
        }
    };
    let mut listener = None;
    let (tcp, addr) = if args.role == "server" {
        let l = match TcpListener::bind(&args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("reference adapter: cannot listen on {}: {e}", args.addr);
                return 1;
            }
        };
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        println!("{}", json!({"event": "ready", "addr": addr}));
        let l = Arc::new(l);
        listener = Some(l.clone());
        match l.accept().await {
            Ok((s, _)) => (s, addr),
            Err(e) => {
                eprintln!("reference adapter: accept failed: {e}");
                return 1;
            }
        }
    } else {
        match TcpStream::connect(&args.addr).await {
            Ok(s) => {
                let a = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                (s, a)
            }
            Err(e) => {
                eprintln!("reference adapter: cannot connect to {}: {e}", args.addr);
                return 1;
            }
        }
    };
    let _ = tcp.set_nodelay(true);
    let session = if args.role == "server" {
        Session::server(tcp, config.clone())
    } else {
        Session::client(tcp, config.clone())
    };
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let printer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = out_rx.recv().await {
            let mut line = v.to_string();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            let _ = stdout.flush().await;
        }
    });
    if args.role == "client" {
        emit(&out_tx, json!({"event": "ready", "addr": addr}));
    }
    let (accept_tx, mut accept_rx) = watch::channel(true);
    let state = Arc::new(State {
        session: session.clone(),
        out: out_tx.clone(),
        streams: Mutex::new(HashMap::new()),
        accept_on: accept_tx,
        read_default: Mutex::new(true),
        echo_default: Mutex::new(true),
        serve_mode: Mutex::new(bench::ServeMode::Off),
        held: Arc::new(Mutex::new(Vec::new())),
        listener,
        config,
    });
    // Acceptor.
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            while !*accept_rx.borrow_and_update() {
                if accept_rx.changed().await.is_err() {
                    return;
                }
            }
            let r = tokio::select! {
                r = st.session.accept() => Some(r),
                _ = accept_rx.changed() => None,
            };
            match r {
                None => continue,
                Some(Ok(s)) => {
                    let mode = st
                        .serve_mode
                        .lock()
                        .map(|g| *g)
                        .unwrap_or(bench::ServeMode::Off);
                    if mode != bench::ServeMode::Off {
                        tokio::spawn(bench::serve(s, mode));
                        continue;
                    }
                    let echo = st.echo_default.lock().map(|g| *g).unwrap_or(true);
                    let sid = st.register(s, echo);
                    emit(&st.out, json!({"event": "accepted", "stream": sid}));
                }
                Some(Err(_)) => return,
            }
        }
    });
    // Session end.
    let st = state.clone();
    tokio::spawn(async move {
        let why = st.session.closed().await;
        emit(
            &st.out,
            json!({"event": "closed", "reason": why.to_string()}),
        );
    });
    // Commands until stdin ends.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        command(&state, &line).await;
    }
    drop(state);
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_millis(500), printer).await;
    0
}

/// Entry point for binaries: parses `args` (without the program name), runs,
/// returns the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let parsed = match parse_args(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    // A panic in any task (the crate's driver included) ends the process
    // with code 101 after Rust's `panicked at` message, as in rust-common:
    // tokio alone would drop the task and leave a silent session.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(101);
    }));
    // One thread, as the other Rust adapters (rust-common): every
    // implementation is measured on the same runtime, and a single thread
    // saves the cross-thread wake-ups that show in latency tails.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reference adapter: {e}");
            return 1;
        }
    };
    let code = rt.block_on(run(parsed));
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}
