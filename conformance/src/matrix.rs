//! The compatibility matrix (`yamuxctl conform --matrix`): every case
//! against every installed implementation, compared with each
//! implementation's `expected.json`, plus a directional interop table (A as
//! client × B as server through a recording relay), rendered as
//! docs/matrix.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use yamux::frame::FrameCodec;

use crate::adapter::{AdapterMsg, AdapterProc, AdapterSpec};
use crate::peer::describe;
use crate::run::{
    run_all_with, wait_ready, CaseResult, Expectations, Iut, Options, Outcome, SETUP_LIMIT,
};
use crate::vector::{Case, Level};

/// The first line of docs/matrix.md that changes from run to run; the
/// comparison ignores lines starting with it.
pub const TIMING_PREFIX: &str = "_Generated";

/// One implementation under test.
#[derive(Clone, Debug)]
pub struct Implementation {
    /// Adapter directory name.
    pub name: String,
    /// How to start its adapter.
    pub spec: AdapterSpec,
    /// Its expectations (empty when it has no expected.json).
    pub expectations: Expectations,
}

/// Adapter directories (`DIR/*/run`), sorted by name.
pub fn discover(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("run").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether an adapter runs here: started as a server, it must print
/// `ready`. Exit 89 means not installed.
#[derive(Clone, Debug, PartialEq)]
pub enum Install {
    /// Ready.
    Installed,
    /// The adapter exits 89: the implementation is not installed here (the
    /// reason is the last line the adapter printed on stderr, if any).
    NotInstalled(String),
    /// Anything else (a crash, no `ready`).
    Broken(String),
}

/// Starts the adapter once as a server and stops it.
pub async fn probe(spec: &AdapterSpec) -> Install {
    let mut p = match AdapterProc::start(spec, "server", "127.0.0.1:0", &[]) {
        Ok(p) => p,
        Err(e) => return Install::Broken(e.to_string()),
    };
    let r = wait_ready(&mut p, SETUP_LIMIT).await;
    let (_, stderr) = p.finish_with_stderr().await;
    match r {
        Ok(_) => Install::Installed,
        Err((Outcome::Unsupported, _)) => Install::NotInstalled(
            stderr
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .map(|l| {
                    l.strip_prefix("not installed:")
                        .unwrap_or(l)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
        ),
        Err((_, m)) => Install::Broken(m),
    }
}

/// The results for one implementation.
#[derive(Clone, Debug)]
pub struct ImplResults {
    /// Adapter name.
    pub name: String,
    /// What is under test (from expected.json).
    pub implementation: String,
    /// Install status.
    pub install: Install,
    /// Case results in selection order (empty unless installed).
    pub results: Vec<CaseResult>,
    /// The expectations applied.
    pub expectations: Expectations,
}

/// Runs the selected cases against every implementation at once, with
/// `opts.jobs` case runs in flight overall. `opts.expectations` is replaced
/// by each implementation's own.
pub async fn run_cases(
    cases: &[Case],
    impls: &[Implementation],
    opts: &Options,
) -> Vec<ImplResults> {
    let slots = crate::resilience::Slots::new(opts.jobs);
    let futs = impls.iter().map(|imp| {
        let slots = slots.clone();
        let mut o = opts.clone();
        o.expectations = imp.expectations.clone();
        async move {
            let install = probe(&imp.spec).await;
            let results = if install == Install::Installed {
                run_all_with(cases, &Iut::Adapter(imp.spec.clone()), &o, slots).await
            } else {
                Vec::new()
            };
            ImplResults {
                name: imp.name.clone(),
                implementation: imp.expectations.implementation.clone(),
                install,
                results,
                expectations: imp.expectations.clone(),
            }
        }
    });
    futures::future::join_all(futs).await
}

/// Judges every result again against `expected` (after
/// `--update-expected`: the matrix then shows what the new expectations
/// file says of these very runs).
pub fn rejudge(imp: &mut ImplResults, expected: Expectations) {
    for r in &mut imp.results {
        crate::run::apply_expectation(r, expected.find(&r.id, r.role));
    }
    imp.expectations = expected;
}

/// Results that differ from the expectations: an unexpected fail,
/// non-strict or error, or an xpass. `(implementation, case@role, what)`.
pub fn differences(all: &[ImplResults]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for imp in all {
        if let Install::Broken(m) = &imp.install {
            out.push((imp.name.clone(), "-".into(), format!("adapter broken: {m}")));
        }
        for r in &imp.results {
            if matches!(
                r.outcome,
                Outcome::Crash
                    | Outcome::Fail
                    | Outcome::NonStrict
                    | Outcome::Error
                    | Outcome::Xpass
            ) {
                out.push((imp.name.clone(), r.key(), reason(r)));
            }
        }
    }
    out
}

/// One line saying why a result is not a plain pass.
pub fn reason(r: &CaseResult) -> String {
    let text = match r.outcome {
        Outcome::Fail | Outcome::NonStrict => match r.failures.iter().find(|f| {
            f.level
                == if r.outcome == Outcome::Fail {
                    Level::Must
                } else {
                    Level::Should
                }
        }) {
            Some(f) => format!(
                "{}{}: expected {}; got {}",
                if f.step == 0 {
                    "throughout".to_string()
                } else {
                    format!("step {}", f.step)
                },
                f.rule
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                f.expected,
                f.actual
            ),
            None => r.message.clone().unwrap_or_default(),
        },
        _ => r.message.clone().unwrap_or_default(),
    };
    one_line(&text, 220)
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|");
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// An expectations file matching these results: every fail and non-strict
/// (xfail kept with its reason, flaky entries kept as they are). Harness
/// errors are never expected: they are not listed.
/// Unsupported results are not listed (matrix.md shows the adapter's
/// reason). Entries keyed `id@role`, or `id` when both roles agree.
pub fn expectations_from(imp: &ImplResults) -> Expectations {
    // (role, outcome, reason, other outcomes accepted, kept from an entry
    // written for this role alone) per case.
    type Entry = (String, Outcome, String, Vec<Outcome>, bool);
    let mut by_case: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in &imp.results {
        let old = imp.expectations.find(&r.id, r.role);
        let per_role = old.is_some_and(|e| e.case.contains('@'));
        let entry = match (r.outcome, old) {
            // Flaky entries are written by hand and kept as they are (below).
            (_, Some(e)) if e.flaky => None,
            (Outcome::Xfail, Some(e)) => Some((e.outcome, e.reason.clone(), e.or.clone())),
            (Outcome::Crash, _) => {
                Some((r.outcome, format!("observed: {}", reason(r)), Vec::new()))
            }
            (Outcome::Fail | Outcome::NonStrict, _) => {
                let spec = r.spec.first().map_or("", |s| s.id());
                let why = reason(r).replace("\\|", "|");
                let why = if why.contains(spec) || spec.is_empty() {
                    why
                } else {
                    format!("{why} ({spec})")
                };
                Some((r.outcome, format!("observed: {why}"), Vec::new()))
            }
            _ => None,
        };
        if let Some((o, why, or)) = entry {
            if !by_case.contains_key(&r.id) {
                order.push(r.id.clone());
            }
            by_case.entry(r.id.clone()).or_default().push((
                r.role.to_string(),
                o,
                why,
                or,
                per_role,
            ));
        }
    }
    let mut expected = Vec::new();
    for id in order {
        let list = &by_case[&id];
        let roles_of_case = imp.results.iter().filter(|r| r.id == id).count();
        // One entry for the case when every role has the same outcome,
        // unless a role had its own entry (a reason written for that role
        // is not shadowed by the other role's).
        if list.len() == roles_of_case
            && list.len() > 1
            && list
                .iter()
                .all(|e| e.1 == list[0].1 && e.3 == list[0].3 && !e.4)
        {
            expected.push(crate::run::Expected {
                case: id.clone(),
                outcome: list[0].1,
                reason: list[0].2.clone(),
                flaky: false,
                or: list[0].3.clone(),
            });
        } else {
            for (role, o, why, or, _) in list {
                expected.push(crate::run::Expected {
                    case: format!("{id}@{role}"),
                    outcome: *o,
                    reason: why.clone(),
                    flaky: false,
                    or: or.clone(),
                });
            }
        }
    }
    // Flaky entries are written by hand and kept.
    for e in &imp.expectations.expected {
        if e.flaky && !expected.iter().any(|x| x.case == e.case) {
            expected.push(e.clone());
        }
    }
    Expectations {
        implementation: imp.implementation.clone(),
        expected,
        // written by hand and kept
        interop_flaky: imp.expectations.interop_flaky.clone(),
    }
}

/// The expectations file as written to disk (pretty JSON, one entry per
/// line).
pub fn expectations_json(e: &Expectations) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(
        s,
        "  \"implementation\": {},",
        Value::from(e.implementation.clone())
    );
    s.push_str("  \"expected\": [");
    for (i, x) in e.expected.iter().enumerate() {
        let line = serde_json::to_string(x).unwrap_or_default();
        let _ = write!(s, "{}\n    {line}", if i == 0 { "" } else { "," });
    }
    if !e.expected.is_empty() {
        s.push_str("\n  ");
    }
    s.push(']');
    if !e.interop_flaky.is_empty() {
        s.push_str(",\n  \"interop_flaky\": [");
        for (i, x) in e.interop_flaky.iter().enumerate() {
            let line = serde_json::to_string(x).unwrap_or_default();
            let _ = write!(s, "{}\n    {line}", if i == 0 { "" } else { "," });
        }
        s.push_str("\n  ]");
    }
    s.push_str("\n}\n");
    s
}

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

// ---------------------------------------------------------------------------
// docs/matrix.md

fn cell(o: Outcome, flaky: bool) -> &'static str {
    if flaky {
        return "≈";
    }
    crate::report::symbol(o)
}

/// The cell of a case result: a known crash stays a crash (it is the worst
/// result, listed or not).
pub(crate) fn result_cell(imp: &ImplResults, r: &CaseResult, flaky: bool) -> &'static str {
    let known_crash = r.outcome == Outcome::Xfail
        && imp
            .expectations
            .find(&r.id, r.role)
            .is_some_and(|e| e.outcome == Outcome::Crash);
    if known_crash {
        crate::report::symbol(Outcome::Crash)
    } else {
        cell(r.outcome, flaky)
    }
}

/// Renders docs/matrix.md. `generated` is the timing line (ignored by the
/// comparison); `bugs` the file name of the reproductions.
pub fn markdown(all: &[ImplResults], pairs: &[Pair], generated: &str, bugs: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Compatibility matrix\n");
    let _ = writeln!(
        s,
        "<!-- generated by `yamuxctl conform --matrix`; do not edit by hand -->\n"
    );
    let _ = writeln!(s, "{TIMING_PREFIX}: {generated}_\n");
    let _ = writeln!(
        s,
        "Every case of the suite against every implementation with an adapter in \
         `conformance/adapters/`, compared with that implementation's `expected.json` \
         (known failures), then the implementations against each other. Symbols: \
         ✓ pass · 💥 crash (the implementation died or stopped answering; listed or not) · \
         x known failure (listed in expected.json) · × unexpected MUST failure · \
         ~ SHOULD missed · i information recorded · ? unsupported by the implementation's API \
         · ≈ listed as flaky (timing-sensitive) · ! listed but passed · E harness error. \
         Minimal reproductions of the MUST failures: [{bugs}]({bugs}).\n"
    );
    // Implementations.
    let _ = writeln!(s, "## Implementations\n");
    let _ = writeln!(
        s,
        "| adapter | implementation | status | runs | ✓ pass | 💥 crash | x known fail | × fail | ~ non-strict | i info | ? unsupported | ≈ flaky | ! xpass | E error |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for imp in all {
        let status = match &imp.install {
            Install::Installed => "installed".to_string(),
            Install::NotInstalled(why) if why.is_empty() => "not installed".to_string(),
            Install::NotInstalled(why) => format!("not installed: {}", one_line(why, 80)),
            Install::Broken(m) => format!("broken: {}", one_line(m, 80)),
        };
        let mut c: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &imp.results {
            let k = if is_flaky(imp, r) {
                "flaky"
            } else if result_cell(imp, r, false) == crate::report::symbol(Outcome::Crash) {
                "crash"
            } else {
                r.outcome.name()
            };
            *c.entry(k).or_default() += 1;
        }
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            s,
            "| {} | {} | {status} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            imp.name,
            if imp.implementation.is_empty() {
                "-"
            } else {
                &imp.implementation
            },
            imp.results.len(),
            g("pass"),
            g("crash"),
            g("xfail"),
            g("fail"),
            g("non-strict"),
            g("info"),
            g("unsupported"),
            g("flaky"),
            g("xpass"),
            g("error")
        );
    }
    let installed: Vec<&ImplResults> = all
        .iter()
        .filter(|i| i.install == Install::Installed)
        .collect();
    // Cases by family.
    let _ = writeln!(s, "\n## Cases\n");
    let mut families: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, Vec<(String, String, Level)>> = BTreeMap::new();
    let mut index: BTreeMap<(String, String), Vec<Option<&CaseResult>>> = BTreeMap::new();
    for (k, imp) in installed.iter().enumerate() {
        for r in &imp.results {
            if !families.contains(&r.family) {
                families.push(r.family.clone());
            }
            let key = (r.id.clone(), r.role.to_string());
            let e = index.entry(key.clone()).or_insert_with(|| {
                rows.entry(r.family.clone()).or_default().push((
                    r.id.clone(),
                    r.role.to_string(),
                    r.level,
                ));
                vec![None; installed.len()]
            });
            if let Some(slot) = e.get_mut(k) {
                *slot = Some(r);
            }
        }
    }
    families.sort();
    for fam in &families {
        let Some(list) = rows.get(fam) else { continue };
        let _ = writeln!(s, "### {fam}\n");
        let mut head = String::from("| case | role | level |");
        let mut rule = String::from("|---|---|---|");
        for imp in &installed {
            let _ = write!(head, " {} |", imp.name);
            rule.push_str(":-:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        let mut notes = Vec::new();
        for (id, role, level) in list {
            let mut line = format!("| {id} | {role} | {level} |");
            if let Some(cells) = index.get(&(id.clone(), role.clone())) {
                for (k, r) in cells.iter().enumerate() {
                    match r {
                        Some(r) => {
                            let imp = installed[k];
                            let fl = is_flaky(imp, r);
                            let _ = write!(line, " {} |", result_cell(imp, r, fl));
                            if fl {
                                let why = imp
                                    .expectations
                                    .find(&r.id, r.role)
                                    .map(|e| e.reason.clone())
                                    .unwrap_or_default();
                                notes.push(format!(
                                    "`{id}` {role} — {}: flaky: {}",
                                    imp.name,
                                    one_line(&why, 220)
                                ));
                            } else if !matches!(r.outcome, Outcome::Pass | Outcome::Info) {
                                // A known failure cites its expected.json
                                // reason (stable from run to run); anything
                                // else what this run observed.
                                let known = match r.outcome {
                                    Outcome::Xfail => imp
                                        .expectations
                                        .find(&r.id, r.role)
                                        .map(|e| one_line(&e.reason, 220)),
                                    _ => None,
                                };
                                notes.push(format!(
                                    "`{id}` {role} — {}: {}: {}",
                                    imp.name,
                                    r.outcome.name(),
                                    known.unwrap_or_else(|| reason(r))
                                ));
                            }
                        }
                        None => line.push_str(" |"),
                    }
                }
            }
            let _ = writeln!(s, "{line}");
        }
        // Per-family totals.
        let mut tot = String::from("| **total ✓** | | |");
        for (k, imp) in installed.iter().enumerate() {
            let _ = k;
            let n = imp
                .results
                .iter()
                .filter(|r| &r.family == fam && r.outcome == Outcome::Pass && !is_flaky(imp, r))
                .count();
            let all_n = imp.results.iter().filter(|r| &r.family == fam).count();
            let _ = write!(tot, " {n}/{all_n} |");
        }
        let _ = writeln!(s, "{tot}\n");
        if !notes.is_empty() {
            for n in notes {
                let _ = writeln!(s, "- {n}");
            }
            s.push('\n');
        }
    }
    // Interop.
    if !pairs.is_empty() {
        let _ = writeln!(s, "## Interoperability\n");
        let _ = writeln!(
            s,
            "Each implementation as a client (rows) against each as a server (columns), through \
             the runner's relay, which decodes and records every frame both ways. Checks: \
             **bulk** ({BULK_STREAMS} streams × {} KiB written by the client, echoed by the \
             server, compared byte by byte), **half-close** (the client's FIN is answered by the \
             server's FIN after the echo), **reset** (the server reports the client's reset), \
             **ping** (through the client's API). A cell lists the checks that did not pass; \
             traces of those pairs are written under the report directory.\n",
            BULK_LEN / 1024
        );
        let mut names: Vec<String> = Vec::new();
        for p in pairs {
            if !names.contains(&p.client) {
                names.push(p.client.clone());
            }
        }
        let mut head = String::from("| client \\ server |");
        let mut rule = String::from("|---|");
        for n in &names {
            let _ = write!(head, " {n} |");
            rule.push_str(":-:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        let mut notes = Vec::new();
        for c in &names {
            let mut line = format!("| **{c}** |");
            for sv in &names {
                let Some(p) = pairs.iter().find(|p| &p.client == c && &p.server == sv) else {
                    line.push_str(" |");
                    continue;
                };
                if let Some(f) = pair_flaky(all, c, sv) {
                    // the cell does not depend on this run's outcome
                    line.push_str(" ≈ |");
                    notes.push(format!("{c} → {sv}: flaky: {}", one_line(&f.reason, 300)));
                    continue;
                }
                if let Some(e) = &p.setup_error {
                    line.push_str(" E |");
                    notes.push(format!("{c} → {sv}: set-up failed: {}", one_line(e, 200)));
                    continue;
                }
                let bad: Vec<String> = p
                    .checks
                    .iter()
                    .filter(|k| k.outcome != Outcome::Pass)
                    .map(|k| format!("{}{}", cell(k.outcome, false), k.name))
                    .collect();
                if bad.is_empty() {
                    line.push_str(" ✓ |");
                } else {
                    let _ = write!(line, " {} |", bad.join(" "));
                }
                for k in p.checks.iter().filter(|k| k.outcome != Outcome::Pass) {
                    notes.push(format!(
                        "{c} → {sv}: {} {}: {}",
                        k.name,
                        k.outcome.name(),
                        one_line(&k.reason, 200)
                    ));
                }
            }
            let _ = writeln!(s, "{line}");
        }
        let is_flaky_pair = |p: &&Pair| pair_flaky(all, &p.client, &p.server).is_some();
        let ok = pairs.iter().filter(|p| p.ok() && !is_flaky_pair(p)).count();
        let flaky = pairs.iter().filter(is_flaky_pair).count();
        let _ = writeln!(
            s,
            "\n{ok} of {} pairs pass every check ({flaky} listed as flaky).\n",
            pairs.len()
        );
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push('\n');
    }
    s
}

/// The server's `interop_flaky` entry for the pair `client` → `server`.
fn pair_flaky<'a>(
    all: &'a [ImplResults],
    client: &str,
    server: &str,
) -> Option<&'a crate::run::InteropFlaky> {
    all.iter()
        .find(|i| i.name == server)
        .and_then(|i| i.expectations.interop_flaky(client))
}

fn is_flaky(imp: &ImplResults, r: &CaseResult) -> bool {
    imp.expectations
        .find(&r.id, r.role)
        .is_some_and(|e| e.flaky)
}

/// The line after which docs/matrix.md is written by hand; the generator
/// keeps everything from it on.
pub const NOTES_MARKER: &str =
    "<!-- hand-written notes below: kept when the matrix is regenerated -->";

/// `md` followed by the hand-written part of `before` (from
/// [`NOTES_MARKER`] on), or by an empty notes section.
pub fn with_notes(md: &str, before: &str) -> String {
    let tail = match before.find(NOTES_MARKER) {
        Some(i) => before.get(i..).unwrap_or_default().to_string(),
        None => format!("{NOTES_MARKER}\n"),
    };
    format!("{md}{tail}")
}

/// The content without what varies from run to run, for the comparison
/// with the committed file: the timing line, and the notes under the
/// interop table (what one run observed: byte counts, error texts; the
/// table's cells, compared, carry each check's outcome).
pub fn comparable(md: &str) -> String {
    let mut interop = false;
    md.lines()
        .filter(|l| {
            if l.starts_with("## ") {
                interop = *l == "## Interoperability";
            } else if l.starts_with(NOTES_MARKER) {
                interop = false;
            }
            let timing = l.starts_with(TIMING_PREFIX);
            let observed = interop && l.starts_with("- ");
            !(timing || observed)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// docs/interop-bugs.md: for every MUST failure of an external
/// implementation (fail or known fail, level MUST), the frames exchanged.
pub fn reproductions(all: &[ImplResults]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Interop bugs: minimal reproductions\n");
    let _ = writeln!(
        s,
        "<!-- generated by `yamuxctl conform --matrix`; do not edit by hand -->\n"
    );
    let _ = writeln!(
        s,
        "Every MUST case an external implementation fails (see [matrix.md](matrix.md)), with \
         the frames exchanged as the runner's scripted peer recorded them (`->` sent by the \
         peer, `<-` sent by the implementation, `cmd`/`evt` the adapter conversation, timestamps \
         dropped). Re-run one with `yamuxctl conform --adapter NAME --case ID --role ROLE`.\n"
    );
    for imp in all.iter().filter(|i| i.name != "reference") {
        let fails: Vec<&CaseResult> = imp
            .results
            .iter()
            .filter(|r| r.level == Level::Must && !is_flaky(imp, r))
            .filter(|r| {
                r.outcome == Outcome::Fail
                    || (r.outcome == Outcome::Xfail
                        && imp
                            .expectations
                            .find(&r.id, r.role)
                            .is_some_and(|e| e.outcome == Outcome::Fail))
            })
            .collect();
        if fails.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {} ({})\n", imp.name, imp.implementation);
        for r in fails {
            let _ = writeln!(s, "### {} — IUT as {}\n", r.id, r.role);
            let _ = writeln!(
                s,
                "Rules: {}. {}\n",
                yamux::Rule::join(&r.spec, ", "),
                r.summary
            );
            if let Some(e) = imp.expectations.find(&r.id, r.role) {
                let _ = writeln!(s, "Known: {}\n", e.reason);
            }
            for f in r.failures.iter().filter(|f| f.level == Level::Must) {
                let _ = writeln!(
                    s,
                    "- expected {}; got {}",
                    one_line(&f.expected, 300),
                    one_line(&f.actual, 300)
                );
            }
            s.push_str("\n```\n");
            for t in r.trace.iter().take(40) {
                let _ = writeln!(s, "{:<4} {}", t.dir, t.text);
            }
            if r.trace.len() > 40 {
                let _ = writeln!(s, "… {} more lines", r.trace.len() - 40);
            }
            s.push_str("```\n\n");
        }
    }
    s
}

/// Writes the traces of failed interop pairs and failed cases under `dir`.
pub fn write_traces(
    dir: &Path,
    all: &[ImplResults],
    pairs: &[Pair],
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    std::fs::create_dir_all(dir.join("interop"))?;
    std::fs::create_dir_all(dir.join("cases"))?;
    for p in pairs.iter().filter(|p| !p.ok()) {
        let path = dir
            .join("interop")
            .join(format!("{}__{}.txt", p.client, p.server));
        let mut t = String::new();
        if let Some(e) = &p.setup_error {
            let _ = writeln!(t, "set-up: {e}");
        }
        for c in &p.checks {
            let _ = writeln!(t, "{}: {} {}", c.name, c.outcome.name(), c.reason);
        }
        for l in &p.trace {
            let _ = writeln!(t, "{l}");
        }
        std::fs::write(&path, t)?;
        written.push(path);
    }
    for imp in all {
        for r in imp
            .results
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::Pass | Outcome::Info))
        {
            let path = dir
                .join("cases")
                .join(format!("{}__{}@{}.txt", imp.name, r.id, r.role));
            let mut t = format!("{}: {}\n", r.outcome.name(), reason(r));
            for l in &r.trace {
                let _ = writeln!(t, "{:>9.1}ms {:<4} {}", l.t_ms, l.dir, l.text);
            }
            for l in &r.stderr {
                let _ = writeln!(t, "stderr: {l}");
            }
            std::fs::write(&path, t)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Failure;
    use crate::run::Expected;
    use crate::vector::Role;

    fn result(id: &str, role: Role, level: Level, outcome: Outcome) -> CaseResult {
        CaseResult {
            id: id.into(),
            family: id.split('.').next().unwrap_or("").into(),
            role,
            level,
            spec: vec![yamux::Rule::StreamOpen],
            summary: "s".into(),
            outcome,
            flaky: false,
            attempts: 1,
            duration_ms: 5,
            message: None,
            failures: if outcome == Outcome::Fail {
                vec![Failure {
                    step: 2,
                    level: Level::Must,
                    rule: Some(yamux::Rule::StreamOpen),
                    note: None,
                    expected: "data stream=1 len=100".into(),
                    actual: "nothing (timed out)".into(),
                }]
            } else {
                Vec::new()
            },
            observations: Vec::new(),
            trace: Vec::new(),
            stderr: Vec::new(),
            resources: None,
            ran: None,
            ran_message: None,
        }
    }

    fn imp(results: Vec<CaseResult>, expected: Vec<Expected>) -> ImplResults {
        ImplResults {
            name: "x".into(),
            implementation: "x 1.0".into(),
            install: Install::Installed,
            results,
            expectations: Expectations {
                implementation: "x 1.0".into(),
                expected,
                interop_flaky: Vec::new(),
            },
        }
    }

    fn pair(client: &str, server: &str, bulk: Outcome) -> Pair {
        let check = |name, outcome| Check {
            name,
            outcome,
            reason: if outcome == Outcome::Pass {
                String::new()
            } else {
                "stream 1: 262144 of 524288 bytes echoed".into()
            },
        };
        Pair {
            client: client.into(),
            server: server.into(),
            checks: vec![
                check("bulk", bulk),
                check("half-close", Outcome::Pass),
                check("reset", Outcome::Pass),
                check("ping", Outcome::Pass),
            ],
            setup_error: None,
            trace: Vec::new(),
        }
    }

    #[test]
    fn flaky_interop_pairs_render_the_same_whatever_the_outcome() {
        let mut x = imp(Vec::new(), Vec::new());
        x.expectations.interop_flaky.push(crate::run::InteropFlaky {
            client: "x".into(),
            reason: "the server's stall depends on timing".into(),
        });
        let all = [x];
        let passed = markdown(&all, &[pair("x", "x", Outcome::Pass)], "t", "b.md");
        let failed = markdown(&all, &[pair("x", "x", Outcome::Fail)], "t", "b.md");
        assert_eq!(comparable(&passed), comparable(&failed));
        assert!(passed.contains("| **x** | ≈ |"), "{passed}");
        assert!(passed.contains("x → x: flaky: the server's stall depends on timing"));
        assert!(passed.contains("0 of 1 pairs pass every check (1 listed as flaky)"));
        // not flaky: the outcome shows
        let plain = imp(Vec::new(), Vec::new());
        let failed = markdown(&[plain], &[pair("x", "x", Outcome::Fail)], "t", "b.md");
        assert!(failed.contains("| **x** | ×bulk |"), "{failed}");
        // notes of what a run observed are not compared; the cells are
        let mut other = pair("x", "x", Outcome::Fail);
        other.checks[0].reason = "stream 1: 393216 of 524288 bytes echoed".into();
        let again = markdown(&[imp(Vec::new(), Vec::new())], &[other], "t", "b.md");
        assert_ne!(failed, again);
        assert_eq!(comparable(&failed), comparable(&again));
        let passed = markdown(
            &[imp(Vec::new(), Vec::new())],
            &[pair("x", "x", Outcome::Pass)],
            "t",
            "b.md",
        );
        assert_ne!(comparable(&failed), comparable(&passed));
        // the entries survive a rewrite of expected.json
        let e = expectations_from(&all[0]);
        let back: Expectations = serde_json::from_str(&expectations_json(&e)).unwrap();
        assert_eq!(back.interop_flaky.len(), 1);
        assert_eq!(back.interop_flaky[0].client, "x");
    }

    #[test]
    fn known_failures_cite_their_expected_reason() {
        let keep = Expected {
            case: "stream.a".into(),
            outcome: Outcome::Fail,
            reason: "observed once: hand-written".into(),
            flaky: false,
            or: Vec::new(),
        };
        let i = imp(
            vec![result(
                "stream.a",
                Role::Server,
                Level::Must,
                Outcome::Xfail,
            )],
            vec![keep],
        );
        let md = markdown(&[i], &[], "t", "b.md");
        assert!(
            md.contains("`stream.a` server — x: xfail: observed once: hand-written"),
            "{md}"
        );
    }

    #[test]
    fn expectations_merge_roles_and_round_trip() {
        let i = imp(
            vec![
                result("stream.a", Role::Server, Level::Must, Outcome::Fail),
                result("stream.a", Role::Client, Level::Must, Outcome::Fail),
                result("stream.b", Role::Server, Level::Must, Outcome::Fail),
                result("stream.b", Role::Client, Level::Must, Outcome::Pass),
                result("stream.c", Role::Server, Level::Must, Outcome::Unsupported),
            ],
            Vec::new(),
        );
        let e = expectations_from(&i);
        let cases: Vec<&str> = e.expected.iter().map(|x| x.case.as_str()).collect();
        assert_eq!(cases, ["stream.a", "stream.b@server"]);
        assert!(e.expected[0].reason.contains("stream.open"));
        let text = expectations_json(&e);
        let back: Expectations = serde_json::from_str(&text).unwrap();
        assert_eq!(back.expected.len(), 2);
        assert_eq!(back.expected[1].outcome, Outcome::Fail);
    }

    #[test]
    fn entries_written_per_role_stay_per_role() {
        let per_role = |role: &str, why: &str| Expected {
            case: format!("stream.a@{role}"),
            outcome: Outcome::NonStrict,
            reason: why.into(),
            flaky: false,
            or: Vec::new(),
        };
        let i = imp(
            vec![
                result("stream.a", Role::Server, Level::Should, Outcome::Xfail),
                result("stream.a", Role::Client, Level::Should, Outcome::Xfail),
            ],
            vec![
                per_role("server", "why the server fails"),
                per_role("client", "why the client fails"),
            ],
        );
        let e = expectations_from(&i);
        let got: Vec<(&str, &str)> = e
            .expected
            .iter()
            .map(|x| (x.case.as_str(), x.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("stream.a@server", "why the server fails"),
                ("stream.a@client", "why the client fails")
            ]
        );
    }

    #[test]
    fn xfail_keeps_its_reason_and_flaky_entries_stay() {
        let keep = Expected {
            case: "stream.a".into(),
            outcome: Outcome::Fail,
            reason: "hand-written".into(),
            flaky: false,
            or: Vec::new(),
        };
        let fl = Expected {
            case: "stream.z@client".into(),
            outcome: Outcome::Fail,
            reason: "timing".into(),
            flaky: true,
            or: Vec::new(),
        };
        let i = imp(
            vec![
                result("stream.a", Role::Server, Level::Must, Outcome::Xfail),
                result("stream.a", Role::Client, Level::Must, Outcome::Xfail),
            ],
            vec![keep, fl],
        );
        let e = expectations_from(&i);
        assert_eq!(e.expected.len(), 2);
        assert_eq!(e.expected[0].reason, "hand-written");
        assert!(e.expected[1].flaky);
    }

    #[test]
    fn update_expected_then_rejudge_shows_the_runs_as_the_new_file_does() {
        // Ran as: stream.a fail (listed), stream.b fail (not listed yet),
        // stream.c non-strict (listed as fail or non-strict), stream.d
        // pass (listed as flaky).
        let listed = vec![
            Expected {
                case: "stream.a".into(),
                outcome: Outcome::Fail,
                reason: "known".into(),
                flaky: false,
                or: Vec::new(),
            },
            Expected {
                case: "stream.c@server".into(),
                outcome: Outcome::Fail,
                reason: "fail or non-strict under load".into(),
                flaky: false,
                or: vec![Outcome::NonStrict],
            },
            Expected {
                case: "stream.d@server".into(),
                outcome: Outcome::Fail,
                reason: "timing".into(),
                flaky: true,
                or: Vec::new(),
            },
        ];
        let mut i = imp(
            vec![
                result("stream.a", Role::Server, Level::Must, Outcome::Fail),
                result("stream.b", Role::Server, Level::Must, Outcome::Fail),
                result("stream.c", Role::Server, Level::Should, Outcome::NonStrict),
                result("stream.d", Role::Server, Level::Must, Outcome::Pass),
            ],
            listed.clone(),
        );
        for r in &mut i.results {
            crate::run::apply_expectation(r, i.expectations.find(&r.id, r.role));
        }
        let as_run: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
        assert_eq!(
            as_run,
            [Outcome::Xfail, Outcome::Fail, Outcome::Xfail, Outcome::Pass]
        );
        let e = expectations_from(&i);
        let cases: Vec<&str> = e.expected.iter().map(|x| x.case.as_str()).collect();
        assert_eq!(
            cases,
            [
                "stream.a@server",
                "stream.b@server",
                "stream.c@server",
                "stream.d@server"
            ]
        );
        assert_eq!(e.expected[2].or, [Outcome::NonStrict]);
        assert!(e.expected[3].flaky);
        rejudge(&mut i, e);
        let now: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
        assert_eq!(
            now,
            [
                Outcome::Xfail,
                Outcome::Xfail,
                Outcome::Xfail,
                Outcome::Pass
            ]
        );
        assert!(differences(std::slice::from_ref(&i)).is_empty());
        // stream.b's xfail cites what it did; the others keep their text.
        assert!(i.results[1]
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("observed: step 2"));
        assert_eq!(i.results[0].message.as_deref(), Some("known"));
        // Judged again against nothing: every result is back as it ran.
        rejudge(&mut i, Expectations::default());
        let back: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
        assert_eq!(
            back,
            [
                Outcome::Fail,
                Outcome::Fail,
                Outcome::NonStrict,
                Outcome::Pass
            ]
        );
        assert_eq!(i.results[0].message, None);
    }

    #[test]
    fn an_outcome_neither_listed_nor_accepted_stays_unexpected() {
        let e = Expected {
            case: "stream.a".into(),
            outcome: Outcome::NonStrict,
            reason: "memory".into(),
            flaky: false,
            or: Vec::new(),
        };
        let mut r = result("stream.a", Role::Server, Level::Must, Outcome::Fail);
        crate::run::apply_expectation(&mut r, Some(&e));
        assert_eq!(r.outcome, Outcome::Fail);
        let e = Expected {
            or: vec![Outcome::Fail],
            ..e
        };
        crate::run::apply_expectation(&mut r, Some(&e));
        assert_eq!(r.outcome, Outcome::Xfail);
        assert_eq!(r.ran, Some(Outcome::Fail));
    }

    #[test]
    fn differences_are_unexpected_results_only() {
        let i = imp(
            vec![
                result("stream.a", Role::Server, Level::Must, Outcome::Xfail),
                result("stream.b", Role::Server, Level::Must, Outcome::Fail),
                result("stream.c", Role::Server, Level::Must, Outcome::Xpass),
                result("stream.d", Role::Server, Level::Info, Outcome::Info),
                result("stream.e", Role::Server, Level::Must, Outcome::Unsupported),
            ],
            Vec::new(),
        );
        let d: Vec<String> = differences(&[i]).into_iter().map(|x| x.1).collect();
        assert_eq!(d, ["stream.b@server", "stream.c@server"]);
    }

    #[test]
    fn markdown_is_deterministic_and_keeps_notes() {
        let mut a = imp(
            vec![
                result("stream.a", Role::Server, Level::Must, Outcome::Pass),
                result("stream.b", Role::Client, Level::Must, Outcome::Fail),
            ],
            Vec::new(),
        );
        a.name = "alpha".into();
        let b = ImplResults {
            name: "beta".into(),
            implementation: String::new(),
            install: Install::NotInstalled(String::new()),
            results: Vec::new(),
            expectations: Expectations::default(),
        };
        let pairs = vec![Pair {
            client: "alpha".into(),
            server: "alpha".into(),
            checks: vec![
                Check {
                    name: "bulk",
                    outcome: Outcome::Pass,
                    reason: String::new(),
                },
                Check {
                    name: "ping",
                    outcome: Outcome::Unsupported,
                    reason: "no ping API".into(),
                },
            ],
            setup_error: None,
            trace: Vec::new(),
        }];
        let md1 = markdown(&[a.clone(), b.clone()], &pairs, "run one, 3 s", "bugs.md");
        let md2 = markdown(&[a, b], &pairs, "run two, 9 s", "bugs.md");
        assert_ne!(md1, md2);
        assert_eq!(comparable(&md1), comparable(&md2));
        let with = with_notes(&md1, &format!("old\n{NOTES_MARKER}\nmy notes\n"));
        assert!(with.ends_with(&format!("{NOTES_MARKER}\nmy notes\n")));
        insta::assert_snapshot!(with_notes(&md1, ""));
    }
}
