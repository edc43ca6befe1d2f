//! Interop: A as client × B as server through a recording relay; the
//! checks each pair runs (bulk, half-close, reset, ping).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use yamux::frame::FrameCodec;

use super::{one_line, Implementation};
use crate::adapter::{AdapterMsg, AdapterProc};
use crate::peer::describe;
use crate::run::{wait_ready, Outcome, SETUP_LIMIT};

// ---------------------------------------------------------------------------
// Interop: A as client × B as server through a recording relay.

/// Bytes written per stream in the bulk check.
pub const BULK_LEN: usize = 512 * 1024;
/// Streams in the bulk check.
pub const BULK_STREAMS: usize = 4;
/// The bulk check gives up after this long without an event (a stall: on
/// loopback the whole transfer takes well under a second).
pub const BULK_IDLE: Duration = Duration::from_secs(5);
/// How long the ping check waits for the answer.
pub const PING_WAIT: Duration = Duration::from_secs(3);
/// The interop checks, in table order.
pub const CHECKS: [&str; 4] = ["bulk", "half-close", "reset", "ping"];

/// One interop check.
#[derive(Clone, Debug)]
pub struct Check {
    /// Name (one of [`CHECKS`]).
    pub name: &'static str,
    /// pass, fail, unsupported or error.
    pub outcome: Outcome,
    /// Why, when not pass.
    pub reason: String,
}

/// One ordered pair.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Client implementation.
    pub client: String,
    /// Server implementation.
    pub server: String,
    /// Checks in [`CHECKS`] order (fewer when set-up failed).
    pub checks: Vec<Check>,
    /// Set-up failure.
    pub setup_error: Option<String>,
    /// Frames seen by the relay (`c->s` / `s->c`) and the adapters' events.
    pub trace: Vec<String>,
}

impl Pair {
    /// Every check passed.
    pub fn ok(&self) -> bool {
        self.setup_error.is_none() && self.checks.iter().all(|c| c.outcome == Outcome::Pass)
    }

    /// Something failed that another run might not: a set-up failure, a
    /// failed check or a harness error (an unsupported check stays so).
    pub fn worth_retrying(&self) -> bool {
        self.setup_error.is_some()
            || self
                .checks
                .iter()
                .any(|c| matches!(c.outcome, Outcome::Fail | Outcome::Error))
    }
}

type Trace = Arc<Mutex<Vec<String>>>;

fn push(trace: &Trace, line: String) {
    if let Ok(mut t) = trace.lock() {
        if t.len() < 4000 {
            t.push(line);
        }
    }
}

/// Copies `from` to `to`, decoding and recording the frames.
async fn relay_half(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    dir: &'static str,
    trace: Trace,
    start: Instant,
) {
    let mut codec = FrameCodec::new(64 * 1024 * 1024);
    let mut pending = BytesMut::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoding = true;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                push(&trace, format!("{:>9.1}ms {dir} (closed)", ms(start)));
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if decoding {
            pending.extend_from_slice(chunk);
            loop {
                match codec.decode_frame(&mut pending) {
                    Ok(Some(f)) => push(
                        &trace,
                        format!("{:>9.1}ms {dir} {}", ms(start), describe(&f)),
                    ),
                    Ok(None) => break,
                    Err(e) => {
                        push(
                            &trace,
                            format!("{:>9.1}ms {dir} undecodable: {e}", ms(start)),
                        );
                        decoding = false;
                        break;
                    }
                }
            }
        }
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The runner's side of one adapter in an interop pair.
struct Driver {
    ad: AdapterProc,
    who: &'static str,
    events: Vec<Value>,
    trace: Trace,
    start: Instant,
    /// The `closed` event's reason, once seen.
    closed: Option<String>,
}

impl Driver {
    /// Next event within `until`; None on timeout or end of stdout.
    async fn next(&mut self, until: Instant) -> Option<Value> {
        let m = tokio::time::timeout_at(until, self.ad.rx.recv())
            .await
            .ok()??;
        match m {
            AdapterMsg::Event(v) => {
                let ev = v.get("event").and_then(Value::as_str).unwrap_or("");
                let line = if ev == "data" {
                    let n = v
                        .get("hex")
                        .and_then(Value::as_str)
                        .map_or(0, |h| h.len() / 2);
                    format!(
                        "data stream={} len={n}",
                        v.get("stream").unwrap_or(&Value::Null)
                    )
                } else {
                    v.to_string()
                };
                push(
                    &self.trace,
                    format!("{:>9.1}ms {} evt {line}", ms(self.start), self.who),
                );
                if ev == "closed" && self.closed.is_none() {
                    let why = v.get("reason").and_then(Value::as_str).unwrap_or("");
                    self.closed = Some(one_line(why, 120));
                }
                Some(v)
            }
            AdapterMsg::Invalid(l) => Some(Value::String(l)),
            AdapterMsg::Eof => None,
        }
    }

    async fn send(&mut self, cmd: Value) -> Result<u64, String> {
        let Value::Object(m) = cmd else {
            return Err("bad command".into());
        };
        let (id, shown) = self.ad.send(m).await.map_err(|e| e.to_string())?;
        push(
            &self.trace,
            format!("{:>9.1}ms {} cmd {shown}", ms(self.start), self.who),
        );
        Ok(id)
    }

    /// Waits for the reply to `id`, keeping other events in `self.events`.
    async fn reply(&mut self, id: u64, limit: Duration) -> Result<Value, String> {
        let until = Instant::now() + limit;
        loop {
            match self.next(until).await {
                Some(v) if v.get("id").and_then(Value::as_u64) == Some(id) => return Ok(v),
                Some(v) => self.events.push(v),
                None => return Err(format!("no reply within {} s", limit.as_secs())),
            }
        }
    }

    async fn cmd(&mut self, cmd: Value, limit: Duration) -> Result<Value, String> {
        let id = self.send(cmd).await?;
        self.reply(id, limit).await
    }
}

fn event_is(v: &Value, ev: &str) -> bool {
    v.get("event").and_then(Value::as_str) == Some(ev)
}

fn reply_outcome(v: &Value) -> (Outcome, String) {
    let msg = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if event_is(v, "ok") {
        (Outcome::Pass, String::new())
    } else if event_is(v, "unsupported") {
        (Outcome::Unsupported, msg)
    } else {
        (Outcome::Fail, format!("error: {msg}"))
    }
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}

/// Runs the interop checks with `client` as client and `server` as server.
pub async fn interop_pair(client: &Implementation, server: &Implementation) -> Pair {
    let start = Instant::now();
    let trace: Trace = Arc::new(Mutex::new(Vec::new()));
    let mut pair = Pair {
        client: client.name.clone(),
        server: server.name.clone(),
        checks: Vec::new(),
        setup_error: None,
        trace: Vec::new(),
    };
    let env = vec![("YAMUX_KEEPALIVE".to_string(), "0".to_string())];
    let setup = async {
        let mut srv = AdapterProc::start(&server.spec, "server", "127.0.0.1:0", &env)
            .map_err(|e| e.to_string())?;
        let addr = wait_ready(&mut srv, SETUP_LIMIT)
            .await
            .map_err(|(_, m)| format!("server: {m}"))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("relay: {e}"))?;
        let relay_addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let mut cli = AdapterProc::start(&client.spec, "client", &relay_addr, &env)
            .map_err(|e| e.to_string())?;
        let (down, _) = tokio::time::timeout(SETUP_LIMIT, listener.accept())
            .await
            .map_err(|_| "client: did not connect to the relay".to_string())?
            .map_err(|e| e.to_string())?;
        let up = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("relay cannot reach the server at {addr}: {e}"))?;
        let _ = down.set_nodelay(true);
        let _ = up.set_nodelay(true);
        let (dr, dw) = down.into_split();
        let (ur, uw) = up.into_split();
        tokio::spawn(relay_half(dr, uw, "c->s", trace.clone(), start));
        tokio::spawn(relay_half(ur, dw, "s->c", trace.clone(), start));
        wait_ready(&mut cli, SETUP_LIMIT)
            .await
            .map_err(|(_, m)| format!("client: {m}"))?;
        Ok::<_, String>((cli, srv))
    };
    let (cli, srv) = match setup.await {
        Ok(x) => x,
        Err(e) => {
            pair.setup_error = Some(e);
            pair.trace = trace.lock().map(|t| t.clone()).unwrap_or_default();
            return pair;
        }
    };
    let mut a = Driver {
        ad: cli,
        who: "client",
        events: Vec::new(),
        trace: trace.clone(),
        start,
        closed: None,
    };
    let mut b = Driver {
        ad: srv,
        who: "server",
        events: Vec::new(),
        trace: trace.clone(),
        start,
        closed: None,
    };
    let (bulk, half) = bulk_check(&mut a).await;
    pair.checks.push(bulk);
    pair.checks.push(half);
    pair.checks.push(reset_check(&mut a, &mut b).await);
    pair.checks.push(ping_check(&mut a).await);
    a.ad.finish().await;
    b.ad.finish().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    pair.trace = trace.lock().map(|t| t.clone()).unwrap_or_default();
    pair
}

/// Bulk: BULK_STREAMS streams, BULK_LEN pattern bytes each, echoed by the
/// server and compared byte by byte; then half-close: the client's FIN is
/// answered by the server's FIN after the echo (eof on every stream).
async fn bulk_check(a: &mut Driver) -> (Check, Check) {
    let fail = |name: &'static str, o: Outcome, r: String| Check {
        name,
        outcome: o,
        reason: r,
    };
    let limit = Duration::from_secs(10);
    let mut streams = Vec::new();
    for _ in 0..BULK_STREAMS {
        match a.cmd(obj(&[("cmd", "open".into())]), limit).await {
            Ok(v) if event_is(&v, "ok") => match v.get("stream").cloned() {
                Some(s) => streams.push(s),
                None => {
                    let r = "open: no stream id in the reply".to_string();
                    return (
                        fail("bulk", Outcome::Error, r.clone()),
                        fail("half-close", Outcome::Error, r),
                    );
                }
            },
            Ok(v) => {
                let (o, m) = reply_outcome(&v);
                let r = format!("open: {m}");
                return (fail("bulk", o, r.clone()), fail("half-close", o, r));
            }
            Err(e) => {
                let r = format!("open: {e}");
                return (
                    fail("bulk", Outcome::Fail, r.clone()),
                    fail("half-close", Outcome::Fail, r),
                );
            }
        }
    }
    let mut ids = Vec::new();
    for s in &streams {
        match a
            .send(obj(&[
                ("cmd", "write".into()),
                ("stream", s.clone()),
                ("len", BULK_LEN.into()),
            ]))
            .await
        {
            Ok(id) => ids.push(id),
            Err(e) => {
                let r = format!("write: {e}");
                return (
                    fail("bulk", Outcome::Error, r.clone()),
                    fail("half-close", Outcome::Error, r),
                );
            }
        }
    }
    for s in &streams {
        let _ = a
            .send(obj(&[("cmd", "close".into()), ("stream", s.clone())]))
            .await;
    }
    // Collect replies and events until every stream has its data and eof.
    let key = |v: &Value| v.to_string();
    let mut got: BTreeMap<String, (usize, Option<usize>, bool)> = streams
        .iter()
        .map(|s| (key(s), (0usize, None, false)))
        .collect();
    let mut write_errors = Vec::new();
    let mut close_errors = Vec::new();
    let mut pending_ids: Vec<u64> = ids.clone();
    let until = Instant::now() + Duration::from_secs(60);
    let mut queued: Vec<Value> = std::mem::take(&mut a.events);
    loop {
        let done = got.values().all(|(_, _, eof)| *eof);
        if done && pending_ids.is_empty() {
            break;
        }
        let v = if queued.is_empty() {
            if a.closed.is_some() {
                break;
            }
            // Up to 60 s in all, and no more than BULK_IDLE without an event.
            let idle = (Instant::now() + BULK_IDLE).min(until);
            match a.next(idle).await {
                Some(v) => v,
                None => break,
            }
        } else {
            queued.remove(0)
        };
        if event_is(&v, "closed") {
            // Drain what is already there, then stop waiting.
            let until = Instant::now() + Duration::from_millis(300);
            while let Some(x) = a.next(until).await {
                queued.push(x);
            }
            if queued.is_empty() {
                break;
            }
            continue;
        }
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            if ids.contains(&id) {
                pending_ids.retain(|x| *x != id);
                if !event_is(&v, "ok") {
                    write_errors.push(reply_outcome(&v));
                }
            } else if !event_is(&v, "ok") {
                close_errors.push(reply_outcome(&v));
            }
            continue;
        }
        let Some(s) = v.get("stream") else { continue };
        let Some(entry) = got.get_mut(&key(s)) else {
            continue;
        };
        if event_is(&v, "data") {
            let hex = v.get("hex").and_then(Value::as_str).unwrap_or("");
            let bytes = hex::decode(hex).unwrap_or_default();
            for (i, b) in bytes.iter().enumerate() {
                let off = entry.0 + i;
                if entry.1.is_none()
                    && (off >= BULK_LEN || *b != crate::vector::pattern_byte(off as u64))
                {
                    entry.1 = Some(off);
                }
            }
            entry.0 += bytes.len();
        } else if event_is(&v, "eof") || event_is(&v, "reset") || event_is(&v, "stream-error") {
            entry.2 = true;
        }
    }
    let mut bulk_problems = Vec::new();
    let mut half_problems = Vec::new();
    if let Some(why) = &a.closed {
        bulk_problems.push(format!("the client's session ended: {why}"));
        half_problems.push(format!("the client's session ended: {why}"));
    }
    if let Some((o, m)) = write_errors.first() {
        let r = format!("write: {m}");
        return (fail("bulk", *o, r.clone()), fail("half-close", *o, r));
    }
    if !pending_ids.is_empty() {
        bulk_problems.push(format!(
            "{} of {BULK_STREAMS} writes not acknowledged (no progress for {} s)",
            pending_ids.len(),
            BULK_IDLE.as_secs()
        ));
    }
    for (s, (n, bad, eof)) in &got {
        if let Some(off) = bad {
            bulk_problems.push(format!("stream {s}: echo differs at byte {off}"));
        } else if *n != BULK_LEN {
            bulk_problems.push(format!("stream {s}: {n} of {BULK_LEN} bytes echoed"));
        }
        if !eof {
            half_problems.push(format!("stream {s}: no eof after the client's FIN"));
        }
    }
    if let Some((o, m)) = close_errors.first() {
        half_problems.insert(0, format!("close: {m}"));
        if *o == Outcome::Unsupported {
            return (
                check_from("bulk", bulk_problems),
                fail("half-close", Outcome::Unsupported, format!("close: {m}")),
            );
        }
    }
    (
        check_from("bulk", bulk_problems),
        check_from("half-close", half_problems),
    )
}

fn check_from(name: &'static str, problems: Vec<String>) -> Check {
    if problems.is_empty() {
        Check {
            name,
            outcome: Outcome::Pass,
            reason: String::new(),
        }
    } else {
        let n = problems.len();
        let mut r = problems.into_iter().next().unwrap_or_default();
        if n > 1 {
            let _ = write!(r, " (+{} more)", n - 1);
        }
        Check {
            name,
            outcome: Outcome::Fail,
            reason: r,
        }
    }
}

/// Reset: the client opens a stream, writes 16 bytes, sees them echoed, and
/// resets it; the server must report `reset` on it.
async fn reset_check(a: &mut Driver, b: &mut Driver) -> Check {
    let limit = Duration::from_secs(10);
    let done = |o: Outcome, r: String| Check {
        name: "reset",
        outcome: o,
        reason: r,
    };
    if let Some(why) = &a.closed {
        return done(
            Outcome::Fail,
            format!("not run: the client's session had ended ({why})"),
        );
    }
    let s = match a.cmd(obj(&[("cmd", "open".into())]), limit).await {
        Ok(v) if event_is(&v, "ok") => v.get("stream").cloned().unwrap_or(Value::Null),
        Ok(v) => {
            let (o, m) = reply_outcome(&v);
            return done(o, format!("open: {m}"));
        }
        Err(e) => return done(Outcome::Fail, format!("open: {e}")),
    };
    match a
        .cmd(
            obj(&[
                ("cmd", "write".into()),
                ("stream", s.clone()),
                ("len", 16.into()),
            ]),
            limit,
        )
        .await
    {
        Ok(v) if event_is(&v, "ok") => {}
        Ok(v) => {
            let (o, m) = reply_outcome(&v);
            return done(o, format!("write: {m}"));
        }
        Err(e) => return done(Outcome::Fail, format!("write: {e}")),
    }
    // Wait for the echo, so that the server holds the stream.
    let until = Instant::now() + limit;
    let mut echoed = 0usize;
    let mut queued = std::mem::take(&mut a.events);
    while echoed < 16 {
        let v = if queued.is_empty() {
            match a.next(until).await {
                Some(v) => v,
                None => {
                    return done(
                        Outcome::Fail,
                        format!("only {echoed} of 16 bytes echoed before the reset"),
                    )
                }
            }
        } else {
            queued.remove(0)
        };
        if event_is(&v, "data") && v.get("stream") == Some(&s) {
            echoed += v
                .get("hex")
                .and_then(Value::as_str)
                .map_or(0, |h| h.len() / 2);
        }
    }
    b.events.clear();
    match a
        .cmd(
            obj(&[("cmd", "reset".into()), ("stream", s.clone())]),
            limit,
        )
        .await
    {
        Ok(v) if event_is(&v, "ok") => {}
        Ok(v) => {
            let (o, m) = reply_outcome(&v);
            return done(o, format!("reset: {m}"));
        }
        Err(e) => return done(Outcome::Fail, format!("reset: {e}")),
    }
    let until = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while let Some(v) = b.next(until).await {
        if event_is(&v, "reset") {
            return done(Outcome::Pass, String::new());
        }
        if let Some(ev) = v.get("event").and_then(Value::as_str) {
            if ev != "data" && ev != "log" {
                seen.push(ev.to_string());
            }
        }
    }
    done(
        Outcome::Fail,
        if seen.is_empty() {
            "the server reported nothing within 5 s of the reset".into()
        } else {
            format!("the server reported {} but no reset", seen.join(", "))
        },
    )
}

/// Ping: the client pings through its API and gets an rtt.
async fn ping_check(a: &mut Driver) -> Check {
    if let Some(why) = &a.closed {
        return Check {
            name: "ping",
            outcome: Outcome::Fail,
            reason: format!("not run: the client's session had ended ({why})"),
        };
    }
    let (outcome, reason) = match a.cmd(obj(&[("cmd", "ping".into())]), PING_WAIT).await {
        Ok(v) if event_is(&v, "ok") && v.get("rtt_ms").is_some_and(Value::is_number) => {
            (Outcome::Pass, String::new())
        }
        Ok(v) if event_is(&v, "ok") => (Outcome::Fail, "ok without rtt_ms".into()),
        Ok(v) => reply_outcome(&v),
        Err(e) => (Outcome::Fail, e),
    };
    Check {
        name: "ping",
        outcome,
        reason,
    }
}

/// Every ordered pair of installed implementations, `jobs` pairs at a time;
/// a pair with a failed check (not merely an unsupported one) is run once
/// more (`retries`), and the second result kept.
pub async fn interop(impls: &[Implementation], jobs: usize, retries: u32) -> Vec<Pair> {
    let sem = Arc::new(Semaphore::new(jobs.max(1)));
    let mut futs = Vec::new();
    for c in impls {
        for s in impls {
            let sem = sem.clone();
            futs.push(async move {
                let _p = sem.acquire().await;
                let mut p = interop_pair(c, s).await;
                let mut n = 0;
                while p.worth_retrying() && n < retries {
                    n += 1;
                    p = interop_pair(c, s).await;
                }
                p
            });
        }
    }
    futures::future::join_all(futs).await
}
