//! The `inject` session: send the commands, print what the peer sends
//! back, decoded and judged, until the wait after the last command ends.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use yamux::frame::{FrameType, Header};
use yamux::tracker::{Finding, PreambleLine, Severity, Side, Tracker, Undecodable};

use super::{parse, Command};
use crate::analysis::{ConnInfo, FrameEvent, Observer, Options, StreamConn, TcpFigures};
use crate::clock::Clock;
use crate::cmd::inject::{InjectArgs, Role};
use crate::cmd::use_color;
use crate::print::{printer, Filter, PrintOptions, Printer};

/// Counts what decides the exit status, passing everything on.
struct Verdict<'a, O: ?Sized> {
    inner: &'a mut O,
    peer: Side,
    /// Warnings and errors about the peer's frames.
    bad: u64,
    /// The peer's Go Away code, if it sent one.
    goaway: Option<u32>,
}

impl<O: Observer + ?Sized> Verdict<'_, O> {
    fn count(&mut self, f: &Finding) {
        if f.severity != Severity::Info && f.side == Some(self.peer) {
            self.bad += 1;
        }
    }
}

impl<O: Observer + ?Sized> Observer for Verdict<'_, O> {
    fn start(&mut self, ts: Duration) {
        self.inner.start(ts);
    }
    fn connection(&mut self, c: &ConnInfo) {
        self.inner.connection(c);
    }
    fn preamble(&mut self, c: &ConnInfo, side: Side, ts: Duration, line: &PreambleLine) {
        self.inner.preamble(c, side, ts, line);
    }
    fn frame(&mut self, ev: &FrameEvent<'_>) {
        if ev.side == self.peer && ev.header.typ == FrameType::GoAway {
            self.goaway = Some(ev.header.length);
        }
        for f in ev.findings {
            self.count(f);
        }
        self.inner.frame(ev);
    }
    fn body(&mut self, c: &ConnInfo, side: Side, h: &Header, chunk: &[u8]) {
        self.inner.body(c, side, h, chunk);
    }
    fn body_gap(&mut self, c: &ConnInfo, side: Side, h: &Header, len: u64) {
        self.inner.body_gap(c, side, h, len);
    }
    fn gap(&mut self, c: &ConnInfo, side: Side, ts: Duration, offset: u64, len: u64, lost: bool) {
        self.inner.gap(c, side, ts, offset, len, lost);
    }
    fn skipped(&mut self, c: &ConnInfo, side: Side, ts: Duration, u: &Undecodable) {
        self.inner.skipped(c, side, ts, u);
    }
    fn truncated(&mut self, c: &ConnInfo, side: Side, offset: u64, have: u64, needed: u64) {
        self.inner.truncated(c, side, offset, have, needed);
    }
    fn finding(&mut self, c: &ConnInfo, ts: Duration, f: &Finding) {
        self.count(f);
        self.inner.finding(c, ts, f);
    }
    fn conn_end(&mut self, c: &ConnInfo, tracker: &Tracker, tcp: &TcpFigures) {
        self.inner.conn_end(c, tracker, tcp);
    }
}

/// What the socket reader reports.
enum Rx {
    Bytes(Duration, Bytes),
    Eof(Duration),
    Error(Duration, String),
}

/// Runs `inject`.
pub async fn run(
    args: InjectArgs,
    out: Box<dyn Write + Send>,
    mut err: Box<dyn Write + Send>,
) -> anyhow::Result<u8> {
    let mut commands = match parse(&args.commands) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "yamuxctl: {e}");
            return Ok(2);
        }
    };
    if let Some(path) = &args.script {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "yamuxctl: cannot read {}: {e}", path.display());
                return Ok(2);
            }
        };
        if text.trim_start().starts_with(['{', '[']) {
            match super::script::parse_json(&text) {
                Ok((c, notes)) => {
                    for n in notes {
                        let _ = writeln!(err, "yamuxctl: {}: {n}", path.display());
                    }
                    commands.extend(c);
                }
                Err(e) => {
                    let _ = writeln!(err, "yamuxctl: {}: {e}", path.display());
                    return Ok(2);
                }
            }
        } else {
            match super::parse_lines(&text) {
                Ok(c) => commands.extend(c),
                Err((line, e)) => {
                    let _ = writeln!(err, "yamuxctl: {}:{line}: {e}", path.display());
                    return Ok(2);
                }
            }
        }
    }
    let sock = match (args.connect, args.listen) {
        (Some(a), _) => match TcpStream::connect(a).await {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "yamuxctl: cannot connect to {a}: {e}");
                return Ok(2);
            }
        },
        (None, Some(a)) => {
            let l = match TcpListener::bind(a).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = writeln!(err, "yamuxctl: cannot listen on {a}: {e}");
                    return Ok(2);
                }
            };
            let _ = writeln!(err, "yamuxctl: listening on {}", l.local_addr()?);
            let _ = err.flush();
            match l.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    let _ = writeln!(err, "yamuxctl: accept failed: {e}");
                    return Ok(2);
                }
            }
        }
        (None, None) => {
            let _ = writeln!(err, "yamuxctl: --connect or --listen is required");
            return Ok(2);
        }
    };
    let _ = sock.set_nodelay(true);
    let role = args.role.unwrap_or(if args.connect.is_some() {
        Role::Client
    } else {
        Role::Server
    });
    let local = sock.local_addr()?;
    let remote = sock.peer_addr()?;
    let opts = PrintOptions {
        json: args.json,
        color: use_color(args.color),
        absolute: false,
        filter: Filter::default(),
    };
    let mut p = printer(io::BufWriter::new(out), opts);
    let code = session(
        &args, role, sock, local, remote, &commands, &mut *p, &mut err,
    )
    .await;
    let _ = p.flush();
    let _ = err.flush();
    code
}

struct Live<'a, O: ?Sized> {
    clock: Clock,
    conn: StreamConn,
    me: Side,
    v: Verdict<'a, O>,
    rx: mpsc::UnboundedReceiver<Rx>,
    closed: bool,
}

impl<O: Printer + ?Sized> Live<'_, O> {
    fn take(&mut self, m: Rx, err: &mut dyn Write) {
        let peer = self.me.other();
        match m {
            Rx::Bytes(at, b) => self.conn.data(peer, self.clock.wall(at), &b, &mut self.v),
            Rx::Eof(at) => {
                self.closed = true;
                self.conn.eof(peer, self.clock.wall(at), &mut self.v);
                let _ = writeln!(
                    err,
                    "yamuxctl: {:.6}: the peer closed the connection",
                    at.as_secs_f64()
                );
            }
            Rx::Error(at, e) => {
                self.closed = true;
                let _ = writeln!(
                    err,
                    "yamuxctl: {:.6}: connection error: {e}",
                    at.as_secs_f64()
                );
            }
        }
    }

    /// Takes what has arrived, without waiting.
    fn drain(&mut self, err: &mut dyn Write) {
        while let Ok(m) = self.rx.try_recv() {
            self.take(m, err);
        }
        let _ = self.v.inner.flush();
    }

    /// Takes what arrives for `d` (less if the peer closes).
    async fn wait(&mut self, d: Duration, err: &mut dyn Write) {
        let deadline = tokio::time::Instant::now() + d;
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    self.take(m, err);
                    self.drain(err);
                }
                Ok(None) | Err(_) => break,
            }
        }
        self.drain(err);
    }
}

#[allow(clippy::too_many_arguments)]
async fn session<O: Printer + ?Sized>(
    args: &InjectArgs,
    role: Role,
    sock: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    commands: &[Command],
    obs: &mut O,
    err: &mut Box<dyn Write + Send>,
) -> anyhow::Result<u8> {
    let clock = Clock::new();
    let (me, a, b) = match role {
        Role::Client => (Side::A, local, remote),
        Role::Server => (Side::B, remote, local),
    };
    let info = ConnInfo {
        id: 1,
        a,
        b,
        handshake: true,
        first: clock.wall(Duration::ZERO),
    };
    obs.start(clock.wall(Duration::ZERO));
    let conn = StreamConn::new(info, &Options::default(), true);
    conn.announce(obs);
    let (mut r, mut w) = sock.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) => {
                    let _ = tx.send(Rx::Eof(clock.now()));
                    return;
                }
                Ok(n) => {
                    let b = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if tx.send(Rx::Bytes(clock.now(), b)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Rx::Error(clock.now(), e.to_string()));
                    return;
                }
            }
        }
    });
    let mut live = Live {
        clock,
        conn,
        me,
        v: Verdict {
            inner: obs,
            peer: me.other(),
            bad: 0,
            goaway: None,
        },
        rx,
        closed: false,
    };
    let mut write_failed = false;
    for c in commands {
        if !exec(&mut live, &mut w, c, err).await {
            write_failed = true;
            break;
        }
    }
    if args.interactive && !write_failed {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            let _ = write!(err, "inject> ");
            let _ = err.flush();
            let line = tokio::select! {
                l = lines.next_line() => l,
                m = live.rx.recv(), if !live.closed => {
                    if let Some(m) = m {
                        live.take(m, err);
                    } else {
                        live.closed = true;
                    }
                    live.drain(err);
                    continue;
                }
            };
            let Ok(Some(line)) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first().is_some_and(|w| *w == "quit" || *w == "exit") {
                break;
            }
            match parse(&words) {
                Ok(cmds) => {
                    for c in &cmds {
                        if !exec(&mut live, &mut w, c, err).await {
                            write_failed = true;
                        }
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "{e}");
                }
            }
            if write_failed {
                break;
            }
        }
    }
    live.wait(Duration::from_millis(args.wait), err).await;
    let _ = w.shutdown().await;
    reader.abort();
    let Live {
        clock, conn, mut v, ..
    } = live;
    conn.finish(clock.wall(clock.now()), &mut v);
    let _ = v.inner.flush();
    Ok(if v.goaway.is_some_and(|c| c != 0) || v.bad > 0 {
        1
    } else {
        0
    })
}

/// Runs one command; false when the connection cannot be written to.
async fn exec<O: Printer + ?Sized>(
    live: &mut Live<'_, O>,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    c: &Command,
    err: &mut Box<dyn Write + Send>,
) -> bool {
    match c {
        Command::Send(bytes) => {
            live.drain(err.as_mut());
            if let Err(e) = w.write_all(bytes).await {
                let _ = writeln!(err, "yamuxctl: cannot send: {e}");
                return false;
            }
            let ts = live.clock.wall(live.clock.now());
            live.conn.data(live.me, ts, bytes, &mut live.v);
            live.drain(err.as_mut());
            true
        }
        Command::Sleep(d) => {
            live.wait(*d, err.as_mut()).await;
            true
        }
    }
}
