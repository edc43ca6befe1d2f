//! The command loop: owns the application-side state (accepting, default
//! read/echo flags, the streams the application holds) and turns commands
//! into driver calls and stream work.

use crate::bench;
use crate::proto::{self, emit, error, ok, parse_line, unsupported, Command, Request};
use crate::stream::{self, AsIo, StreamCtl, WCmd};
use crate::{Args, Driver, MuxStream, Outcome, Role, SessionEvents};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub(crate) enum Msg<D: Driver> {
    Line(String),
    StdinEof,
    Inbound(D::Stream),
    Closed(String),
    Driver(Arc<D>),
    Opened(Value, Result<D::Stream, String>, Option<Vec<u8>>),
    Finished(u32),
}

pub(crate) async fn main<D, F>(args: Args, start: F) -> i32
where
    D: Driver,
    F: Fn(Role, TcpStream, SessionEvents<D>) -> D + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let alive = Arc::new(AtomicBool::new(true));
    let (accepting, accepting_rx) = watch::channel(true);
    let events = SessionEvents {
        tx: tx.clone(),
        alive: alive.clone(),
        accepting: accepting_rx,
    };
    let mut core = Core::<D> {
        tx: tx.clone(),
        alive,
        driver: None,
        waiting: VecDeque::new(),
        accepting,
        pending: VecDeque::new(),
        default_read: true,
        default_echo: true,
        streams: HashMap::new(),
        serve_mode: bench::ServeMode::Off,
        held: Arc::new(Mutex::new(Vec::new())),
        more_sessions: None,
    };
    match args.role {
        Role::Server => {
            let listener = match TcpListener::bind(&args.addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("adapter: cannot listen on {}: {e}", args.addr);
                    return 1;
                }
            };
            let addr = match listener.local_addr() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("adapter: no local address: {e}");
                    return 1;
                }
            };
            emit(json!({"event": "ready", "addr": addr.to_string()}));
            let (more_tx, more_rx) = mpsc::unbounded_channel();
            core.more_sessions = Some(more_tx);
            tokio::spawn(serve_listener(listener, start, events, tx.clone(), more_rx));
        }
        Role::Client => {
            let tcp = match TcpStream::connect(&args.addr).await {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("adapter: cannot connect to {}: {e}", args.addr);
                    return 1;
                }
            };
            set_nodelay(&tcp);
            let addr = match tcp.local_addr() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("adapter: no local address: {e}");
                    return 1;
                }
            };
            core.driver = Some(Arc::new(start(Role::Client, tcp, events)));
            emit(json!({"event": "ready", "addr": addr.to_string()}));
        }
    }
    tokio::spawn(read_stdin(tx));
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::StdinEof => return 0,
            other => core.handle(other),
        }
    }
    0
}

/// Owns the server's listener: accepts the first connection and creates the
/// first session; then keeps the listener open, accepting nothing until
/// `accept-sessions` allows more connections (`more` carries the counts).
/// Each of those becomes an extra session, created by the same `start`.
async fn serve_listener<D, F>(
    listener: TcpListener,
    start: F,
    events: SessionEvents<D>,
    tx: mpsc::UnboundedSender<Msg<D>>,
    mut more: mpsc::UnboundedReceiver<u64>,
) where
    D: Driver,
    F: Fn(Role, TcpStream, SessionEvents<D>) -> D + Send + 'static,
{
    match listener.accept().await {
        Ok((tcp, peer)) => {
            eprintln!("adapter: accepted a connection from {peer}");
            set_nodelay(&tcp);
            let driver = start(Role::Server, tcp, events);
            let _ = tx.send(Msg::Driver(Arc::new(driver)));
        }
        Err(e) => events.closed(format!("accept failed: {e}")),
    }
    drop(tx);
    let mut allowed: u64 = 0;
    let mut accepted: u64 = 0;
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        while allowed == 0 {
            match more.recv().await {
                Some(n) => allowed = allowed.saturating_add(n),
                // The command loop is gone: the process is ending.
                None => return,
            }
        }
        while let Ok(n) = more.try_recv() {
            allowed = allowed.saturating_add(n);
        }
        match listener.accept().await {
            Ok((tcp, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                allowed -= 1;
                accepted += 1;
                eprintln!("adapter: extra session {accepted}: accepted a connection from {peer}");
                set_nodelay(&tcp);
                extra_session(&start, tcp, accepted);
                if allowed == 0 {
                    eprintln!(
                        "adapter: accept-sessions: {accepted} extra connection(s) accepted, \
                         not accepting more"
                    );
                }
            }
            Err(e) => {
                // Often passing (the peer gave up, or too many open files
                // until some session ends): wait a little and try again.
                eprintln!("adapter: accept-sessions: accept failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

fn set_nodelay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        eprintln!("adapter: TCP_NODELAY: {e}");
    }
}

/// An extra session (`accept-sessions`): created by the implementation's
/// `start` exactly as the first one, but with its own event channel, whose
/// only reader echoes every inbound stream and prints nothing. When the
/// session ends, the driver is dropped, which lets the implementation's
/// session task finish and release everything. A panic in any of these tasks
/// still ends the process (the hook of `crash_on_panic`).
fn extra_session<D, F>(start: &F, tcp: TcpStream, n: u64)
where
    D: Driver,
    F: Fn(Role, TcpStream, SessionEvents<D>) -> D,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Extra sessions always accept; the sender lives as long as the session.
    let (accepting, accepting_rx) = watch::channel(true);
    let events = SessionEvents {
        tx,
        alive: Arc::new(AtomicBool::new(true)),
        accepting: accepting_rx,
    };
    let driver = start(Role::Server, tcp, events);
    tokio::spawn(async move {
        let _accepting = accepting;
        let reason = loop {
            match rx.recv().await {
                Some(Msg::Inbound(s)) => {
                    tokio::spawn(silent_echo(AsIo(s)));
                }
                Some(Msg::Closed(reason)) => break reason,
                Some(_) => {}
                None => break "the session task is gone".to_string(),
            }
        };
        eprintln!("adapter: extra session {n} over: {reason}");
        drop(driver);
    });
}

/// What the reading half of an extra session's stream hands to the writing half.
enum Echo {
    Data(Vec<u8>),
    Eof,
}

/// Smaller than the first session's reads: hundreds of extra sessions may
/// be open, and what each costs is what `resilience.many-sessions` measures.
const EXTRA_READ_BUF: usize = 16 * 1024;

/// The default echo of an extra session's stream, without events: reads
/// continuously (a slow echo never holds reading back), writes back every
/// byte in order, and half-closes after the peer's FIN once everything was
/// written back. Any error just ends the stream (the handle is dropped).
async fn silent_echo<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reading = async move {
        let mut buf = vec![0u8; EXTRA_READ_BUF];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => {
                    let _ = tx.send(Echo::Eof);
                    return;
                }
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if tx.send(Echo::Data(chunk)).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    };
    let writing = async move {
        while let Some(piece) = rx.recv().await {
            match piece {
                Echo::Data(d) => {
                    if wr.write_all(&d).await.is_err() || wr.flush().await.is_err() {
                        return;
                    }
                }
                Echo::Eof => {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::pin!(reading, writing);
    tokio::select! {
        // The write side is done (FIN sent, or it failed): nothing more to echo.
        () = &mut writing => {}
        () = &mut reading => writing.await,
    }
}

async fn read_stdin<D: Driver>(tx: mpsc::UnboundedSender<Msg<D>>) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if tx.send(Msg::Line(line)).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("adapter: reading stdin: {e}");
                break;
            }
        }
    }
    let _ = tx.send(Msg::StdinEof);
}

struct Core<D: Driver> {
    tx: mpsc::UnboundedSender<Msg<D>>,
    alive: Arc<AtomicBool>,
    driver: Option<Arc<D>>,
    /// Commands that need the session, received before it existed.
    waiting: VecDeque<Request>,
    /// `accept` / `no-accept`, also seen by the implementation
    /// ([`SessionEvents::accepting`]).
    accepting: watch::Sender<bool>,
    /// Inbound streams the application has not accepted.
    pending: VecDeque<D::Stream>,
    default_read: bool,
    default_echo: bool,
    streams: HashMap<u32, StreamCtl>,
    /// `bench-serve`: how inbound streams are served.
    serve_mode: bench::ServeMode,
    /// Streams kept by `bench-hold`.
    held: Arc<Mutex<Vec<AsIo<D::Stream>>>>,
    /// Server role: tells the listener task how many more connections
    /// `accept-sessions` allows. `None` in the client role.
    more_sessions: Option<mpsc::UnboundedSender<u64>>,
}

#[derive(Clone, Copy)]
enum Flag {
    Read,
    Echo,
}

impl<D: Driver> Core<D> {
    fn handle(&mut self, msg: Msg<D>) {
        match msg {
            Msg::Line(line) => {
                if line.trim().is_empty() {
                    return;
                }
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Some(b) = bench::parse(&v) {
                        let id = v.get("id").cloned().unwrap_or(Value::Null);
                        self.bench(id, b);
                        return;
                    }
                }
                match parse_line(&line) {
                    Ok(req) => self.command(req),
                    Err(bad) => match bad.id {
                        Some(id) => emit(error(&id, bad.message)),
                        None => emit(proto::log(bad.message)),
                    },
                }
            }
            Msg::StdinEof => {}
            Msg::Inbound(s) => {
                if self.serve_mode != bench::ServeMode::Off {
                    tokio::spawn(bench::serve(AsIo(s), self.serve_mode));
                } else if *self.accepting.borrow() {
                    self.accept(s);
                } else {
                    self.pending.push_back(s);
                }
            }
            Msg::Closed(reason) => emit(json!({"event": "closed", "reason": reason})),
            Msg::Driver(d) => {
                self.driver = Some(d);
                while let Some(req) = self.waiting.pop_front() {
                    self.command(req);
                }
            }
            Msg::Opened(id, Ok(s), data) => {
                let stream = self.register(s, false);
                emit(json!({"event": "ok", "id": id, "stream": stream}));
                if let (Some(data), Some(ctl)) = (data, self.streams.get(&stream)) {
                    let _ = ctl.cmds.send(WCmd::OpenBytes(data));
                }
            }
            Msg::Opened(id, Err(e), _) => emit(error(&id, e)),
            Msg::Finished(stream) => {
                self.streams.remove(&stream);
            }
        }
    }

    /// The benchmark commands (docs/adapters.md, "Benchmark commands").
    fn bench(&mut self, id: Value, b: Result<bench::BenchCmd, String>) {
        let reply = move |r| bench::reply(&id, r);
        match b {
            Err(e) => emit(reply(Err(e))),
            Ok(bench::BenchCmd::Serve(mode)) => {
                self.serve_mode = mode;
                emit(reply(Ok(json!({}))));
            }
            Ok(bench::BenchCmd::Rss) => emit(reply(bench::rss_reply())),
            Ok(cmd) => {
                let Some(driver) = self.driver.clone() else {
                    emit(reply(Err("the session is not set up yet".into())));
                    return;
                };
                let held = self.held.clone();
                tokio::spawn(async move {
                    let open = move || {
                        let opened = driver.open();
                        async move { opened.await.map(AsIo) }
                    };
                    emit(reply(bench::client(cmd, open, held).await));
                });
            }
        }
    }

    fn accept(&mut self, s: D::Stream) {
        let id = s.id();
        emit(json!({"event": "accepted", "stream": id}));
        self.register(s, true);
    }

    fn register(&mut self, s: D::Stream, inbound: bool) -> u32 {
        let id = s.id();
        let tx = self.tx.clone();
        let ctl = stream::spawn(
            s,
            self.default_read,
            inbound && self.default_echo,
            self.alive.clone(),
            move || {
                let _ = tx.send(Msg::Finished(id));
            },
        );
        if self.streams.insert(id, ctl).is_some() {
            emit(proto::log(format!(
                "stream id {id} handed out again while the adapter still held a stream with that id"
            )));
        }
        id
    }

    fn command(&mut self, req: Request) {
        let Request { id, cmd } = req;
        match cmd {
            Command::Open { .. }
            | Command::Ping
            | Command::GoAway { .. }
            | Command::SessionClose => {
                let Some(driver) = self.driver.clone() else {
                    self.waiting.push_back(Request { id, cmd });
                    return;
                };
                self.session_command(driver, id, cmd);
            }
            Command::Write { stream, data } => self.send_to_writer(
                &id,
                stream,
                WCmd::Write {
                    id: id.clone(),
                    data,
                },
            ),
            Command::Close { stream } => {
                self.send_to_writer(&id, stream, WCmd::Close { id: id.clone() })
            }
            Command::Reset { stream } => self.reset(&id, stream),
            Command::ResetCode { stream, code } => match (D::reset_code(code), stream) {
                (Err(why), _) => emit(unsupported(&id, why)),
                (Ok(()), None) => emit(error(&id, "missing `stream`")),
                (Ok(()), Some(stream)) => self.reset(&id, stream),
            },
            Command::Accept => {
                self.accepting.send_replace(true);
                emit(ok(&id));
                while let Some(s) = self.pending.pop_front() {
                    self.accept(s);
                }
            }
            Command::NoAccept => match D::NO_ACCEPT_UNSUPPORTED {
                Some(why) => emit(unsupported(&id, why)),
                None => {
                    self.accepting.send_replace(false);
                    emit(ok(&id));
                }
            },
            Command::Read { stream } => self.set_flag(&id, stream, Flag::Read, true),
            Command::NoRead { stream } => self.set_flag(&id, stream, Flag::Read, false),
            Command::Echo { stream } => self.set_flag(&id, stream, Flag::Echo, true),
            Command::NoEcho { stream } => self.set_flag(&id, stream, Flag::Echo, false),
            Command::AcceptSessions { count } => match &self.more_sessions {
                None => emit(unsupported(
                    &id,
                    "accept-sessions is for the server role; a client has no listener",
                )),
                Some(more) => {
                    if more.send(count).is_ok() {
                        emit(ok(&id));
                    } else {
                        emit(error(&id, "the listener is gone"));
                    }
                }
            },
            Command::Crash => {
                // As an implementation bug in one of its tasks would: the
                // panic hook installed by `run` turns it into the death of
                // the process (tokio alone would only end the task).
                tokio::spawn(async { panic!("deliberate crash (adapter crash command)") });
            }
            Command::Unknown(name) => emit(unsupported(&id, format!("unknown command `{name}`"))),
        }
    }

    fn session_command(&mut self, driver: Arc<D>, id: Value, cmd: Command) {
        // Each call hands its request to the implementation now, in command
        // order; only the wait for the answer runs in the background.
        match cmd {
            Command::Open { data } => {
                let fut = driver.open();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let r = fut.await;
                    let _ = tx.send(Msg::Opened(id, r, data));
                });
            }
            Command::Ping => {
                let fut = driver.ping();
                tokio::spawn(async move {
                    emit(match fut.await {
                        Outcome::Ok(rtt_ms) => json!({"event": "ok", "id": id, "rtt_ms": rtt_ms}),
                        Outcome::Err(m) => error(&id, m),
                        Outcome::Unsupported(m) => unsupported(&id, m),
                    });
                });
            }
            Command::GoAway { code } => spawn_outcome(id, driver.goaway(code)),
            Command::SessionClose => spawn_outcome(id, driver.session_close()),
            _ => emit(error(&id, "internal: not a session command")),
        }
    }

    fn reset(&mut self, id: &Value, stream: u32) {
        match self.streams.get(&stream) {
            Some(ctl) => {
                if ctl.reset.send(id.clone()).is_err() {
                    emit(error(id, format!("stream {stream} was already released")));
                }
            }
            None => emit(error(id, self.unknown(stream))),
        }
    }

    fn send_to_writer(&mut self, id: &Value, stream: u32, work: WCmd) {
        match self.streams.get(&stream) {
            Some(ctl) => {
                if ctl.cmds.send(work).is_err() {
                    emit(error(id, format!("stream {stream} was already released")));
                }
            }
            None => emit(error(id, self.unknown(stream))),
        }
    }

    fn unknown(&self, stream: u32) -> String {
        if self.pending.iter().any(|s| s.id() == stream) {
            format!("stream {stream} has not been accepted (no-accept)")
        } else {
            format!("unknown stream {stream} (not opened or accepted, or already released)")
        }
    }

    fn set_flag(&mut self, id: &Value, stream: Option<u32>, flag: Flag, on: bool) {
        let pick = |ctl: &StreamCtl| match flag {
            Flag::Read => ctl.read.clone(),
            Flag::Echo => ctl.echo.clone(),
        };
        match stream {
            Some(s) => match self.streams.get(&s) {
                Some(ctl) => {
                    pick(ctl).send_replace(on);
                    emit(ok(id));
                }
                None => emit(error(id, self.unknown(s))),
            },
            None => {
                match flag {
                    Flag::Read => self.default_read = on,
                    Flag::Echo => self.default_echo = on,
                }
                for ctl in self.streams.values() {
                    pick(ctl).send_replace(on);
                }
                emit(ok(id));
            }
        }
    }
}

fn spawn_outcome(id: Value, fut: crate::BoxFut<Outcome<()>>) {
    tokio::spawn(async move {
        emit(match fut.await {
            Outcome::Ok(()) => ok(&id),
            Outcome::Err(m) => error(&id, m),
            Outcome::Unsupported(m) => unsupported(&id, m),
        });
    });
}
