//! Running cases: selection, set-up per case (target or adapter, both
//! roles), parallelism, timeouts, retries, expectations, outcomes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::adapter::{AdapterMsg, AdapterProc, AdapterSpec, EXIT_UNSUPPORTED};
use crate::crash::crash_evidence;
use crate::peer::{Ended, Failure, Peer, TraceLine};
use crate::resources::{Sampler, Usage};
use crate::vector::{selects, Case, Level, Role};

/// How long an adapter may take to start (`ready`) or to connect.
pub const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// The verdict of one case in one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// The implementation crashed (its process ended abnormally or reported
    /// a panic), or a target stopped answering: worse than any failure.
    Crash,
    /// A MUST check failed.
    Fail,
    /// A SHOULD check failed (no MUST).
    NonStrict,
    /// INFO case: behaviour recorded.
    Info,
    /// The implementation cannot do what the case needs.
    Unsupported,
    /// Not run (e.g. needs an adapter in `--target` mode).
    Skip,
    /// Failed as the expectations file says.
    Xfail,
    /// Listed as a known failure but passed.
    Xpass,
    /// Harness problem; never blamed on the IUT.
    Error,
}

impl Outcome {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Crash => "crash",
            Outcome::Fail => "fail",
            Outcome::NonStrict => "non-strict",
            Outcome::Info => "info",
            Outcome::Unsupported => "unsupported",
            Outcome::Skip => "skip",
            Outcome::Xfail => "xfail",
            Outcome::Xpass => "xpass",
            Outcome::Error => "error",
        }
    }

    /// All outcomes in report order.
    pub const ALL: [Outcome; 10] = [
        Outcome::Pass,
        Outcome::Crash,
        Outcome::Fail,
        Outcome::NonStrict,
        Outcome::Info,
        Outcome::Unsupported,
        Outcome::Skip,
        Outcome::Xfail,
        Outcome::Xpass,
        Outcome::Error,
    ];
}

/// How to reach the implementation under test.
#[derive(Clone, Debug)]
pub enum Iut {
    /// A yamux echo server already listening (server role, echo cases only).
    Target(SocketAddr),
    /// An adapter program started per case.
    Adapter(AdapterSpec),
}

/// One known failure.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Case id, or `id@role` for one role only.
    pub case: String,
    /// The outcome expected instead of pass.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// Timing-sensitive: the case may pass or end with `outcome` (both are
    /// accepted; a pass is not an xpass).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// Other failing outcomes accepted as well (timing-sensitive: e.g. a
    /// flood that ends as a missed responsiveness check or as memory over
    /// the budget, depending on how busy the machine is). The reason says
    /// which and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or: Vec<Outcome>,
}

impl Expected {
    /// Whether a run that ended with `o` (not a pass) is what this entry
    /// lists.
    pub fn accepts(&self, o: Outcome) -> bool {
        o == self.outcome || self.or.contains(&o)
    }
}

/// Applies the expectation for `r`'s case and role (if any) to a result as
/// it was run: a listed outcome becomes `xfail`, a pass of a listed
/// (not flaky) case `xpass`. `r.ran` keeps the outcome as run, so the
/// result can be judged again against other expectations.
pub fn apply_expectation(r: &mut CaseResult, e: Option<&Expected>) {
    let ran = r.ran.unwrap_or(r.outcome);
    if r.ran.take().is_some() {
        r.outcome = ran;
        r.message = r.ran_message.take();
    }
    let Some(e) = e else { return };
    let before = r.message.clone();
    if ran == Outcome::Pass && e.flaky {
        r.message = Some(format!("listed as flaky: {}", e.reason));
    } else if ran == Outcome::Pass {
        r.outcome = Outcome::Xpass;
        r.message = Some(format!(
            "listed as {} ({}) but passed: update the expectations file",
            e.outcome.name(),
            e.reason
        ));
    } else if e.accepts(ran) {
        r.outcome = Outcome::Xfail;
        r.message = Some(e.reason.clone());
    } else {
        return;
    }
    r.ran = Some(ran);
    r.ran_message = before;
}

/// An expectations file (`expected.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// What is under test.
    #[serde(default)]
    pub implementation: String,
    /// Known failures.
    #[serde(default)]
    pub expected: Vec<Expected>,
    /// Interop pairs with this implementation as the server whose checks
    /// are timing-sensitive (they may pass or fail from run to run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interop_flaky: Vec<InteropFlaky>,
}

/// A timing-sensitive interop pair: `client` against the implementation of
/// the expectations file as server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteropFlaky {
    /// The client implementation (adapter name).
    pub client: String,
    /// What was seen in the runs that failed, and why it varies.
    pub reason: String,
}

impl Expectations {
    /// Reads a file; errors name the file.
    pub fn load(path: &Path) -> Result<Expectations, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The entry for `id` in `role` (`id@role` first, then `id`).
    pub fn find(&self, id: &str, role: Role) -> Option<&Expected> {
        let with_role = format!("{id}@{role}");
        self.expected
            .iter()
            .find(|e| e.case == with_role)
            .or_else(|| self.expected.iter().find(|e| e.case == id))
    }

    /// The flaky entry for the pair `client` → this implementation.
    pub fn interop_flaky(&self, client: &str) -> Option<&InteropFlaky> {
        self.interop_flaky.iter().find(|e| e.client == client)
    }
}

/// Runner options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Selectors (prefix or glob); empty = all.
    pub selectors: Vec<String>,
    /// Only these roles (empty = all).
    pub roles: Vec<Role>,
    /// Concurrent cases.
    pub jobs: usize,
    /// Default case timeout.
    pub timeout: Duration,
    /// Re-runs of failing cases.
    pub retries: u32,
    /// Known failures.
    pub expectations: Expectations,
    /// `--target` mode: the process id of the server, for memory and CPU
    /// figures (an adapter's own process is measured without it).
    pub target_pid: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            selectors: Vec::new(),
            roles: Vec::new(),
            // Cases mostly wait on the network and timers: 8 per CPU.
            jobs: 8 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            timeout: Duration::from_secs(10),
            retries: 0,
            expectations: Expectations::default(),
            target_pid: None,
        }
    }
}

/// The result of one case in one role.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Family.
    pub family: String,
    /// IUT role.
    pub role: Role,
    /// Level.
    pub level: Level,
    /// The rules the case checks.
    pub spec: Vec<yamux::Rule>,
    /// One line.
    pub summary: String,
    /// Verdict.
    pub outcome: Outcome,
    /// Passed only on a retry.
    pub flaky: bool,
    /// Runs made.
    pub attempts: u32,
    /// Wall time of the last attempt, ms.
    pub duration_ms: u64,
    /// Why (skip, unsupported, error, xfail reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Failed checks.
    pub failures: Vec<Failure>,
    /// INFO observations.
    pub observations: Vec<String>,
    /// Frames and adapter traffic.
    pub trace: Vec<TraceLine>,
    /// Adapter stderr.
    pub stderr: Vec<String>,
    /// Memory and CPU of the implementation under test during the case
    /// (absent when it could not be measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Usage>,
    /// The outcome as run, when an expectation changed it (xfail, xpass,
    /// or a flaky pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran: Option<Outcome>,
    /// The message as run, when an expectation replaced it.
    #[serde(skip)]
    pub ran_message: Option<String>,
}

impl CaseResult {
    /// `id` for single-role cases shown with the role: `id@role`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.role)
    }
}

/// Selected (case, role) pairs in file order.
pub fn select<'a>(cases: &'a [Case], opts: &Options) -> Vec<(&'a Case, Role)> {
    let mut out = Vec::new();
    for c in cases {
        if !opts.selectors.is_empty() && !opts.selectors.iter().any(|s| selects(s, &c.id)) {
            continue;
        }
        for &r in &c.roles {
            if opts.roles.is_empty() || opts.roles.contains(&r) {
                out.push((c, r));
            }
        }
    }
    out
}

/// Runs the selected cases; results in selection order.
pub async fn run_all(cases: &[Case], iut: &Iut, opts: &Options) -> Vec<CaseResult> {
    run_all_with(cases, iut, opts, crate::resilience::Slots::new(opts.jobs)).await
}

/// Runs the selected cases in slots shared with other runs (the matrix
/// runs every implementation at once under one `-j`, and at most
/// [`crate::resilience::FLOODS_AT_ONCE`] resilience cases overall beside
/// them: [`crate::resilience::Slots`]).
pub async fn run_all_with(
    cases: &[Case],
    iut: &Iut,
    opts: &Options,
    slots: crate::resilience::Slots,
) -> Vec<CaseResult> {
    let selected: Vec<(Case, Role)> = select(cases, opts)
        .into_iter()
        .map(|(c, r)| (c.clone(), r))
        .collect();
    // `--target` mode: set once the target failed its liveness probe; later
    // cases are not run (they would all be blamed for one death).
    let dead: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    // Only a target that answered the probe before the run can be found
    // dead after a case (a server that never answers pings is judged by the
    // cases themselves, not blamed for dying).
    let check_liveness = match iut {
        Iut::Target(addr) => crate::liveness::probe(*addr, crate::liveness::PROBE_LIMIT)
            .await
            .is_ok(),
        Iut::Adapter(_) => false,
    };
    // Cases take their slots in selection order, one queue per pool: a task
    // per case racing for the slot would let a later case run first (with
    // `-j 1` the run must go in file order, so the case before a target's
    // death is the one blamed). A queue waits only for its own pool, so a
    // flood waiting for its slot never holds up the other cases.
    let mut queues: Vec<Queue> = Vec::new();
    let mut results = Vec::new();
    for (case, role) in selected {
        let pool = slots.pool(&case.family).clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        results.push((case.clone(), role, rx));
        match queues.iter_mut().find(|q| Arc::ptr_eq(&q.pool, &pool)) {
            Some(q) => q.cases.push((case, role, tx)),
            None => queues.push(Queue {
                pool,
                cases: vec![(case, role, tx)],
            }),
        }
    }
    for q in queues {
        let iut = iut.clone();
        let opts = opts.clone();
        let dead = dead.clone();
        tokio::spawn(async move {
            for (case, role, tx) in q.cases {
                let held = q.pool.clone().acquire_owned().await.ok();
                let iut = iut.clone();
                let opts = opts.clone();
                let dead = dead.clone();
                tokio::spawn(async move {
                    let _held = held;
                    let r = run_one(&case, role, &iut, &opts, &dead, check_liveness).await;
                    let _ = tx.send(r);
                });
            }
        });
    }
    let mut out = Vec::new();
    for (case, role, rx) in results {
        match rx.await {
            Ok(r) => out.push(r),
            Err(_) => {
                let mut r = base_result(&case, role);
                r.outcome = Outcome::Error;
                r.message = Some("runner task ended without a result (it panicked)".into());
                out.push(r);
            }
        }
    }
    out
}

/// The cases that take their slots from one pool, in selection order, each
/// with where its result goes.
struct Queue {
    pool: Arc<tokio::sync::Semaphore>,
    cases: Vec<(Case, Role, tokio::sync::oneshot::Sender<CaseResult>)>,
}

/// Runs one case in its slot: not at all once the target is dead, else
/// with its retries, then (in `--target` mode) the liveness probe.
async fn run_one(
    case: &Case,
    role: Role,
    iut: &Iut,
    opts: &Options,
    dead: &std::sync::Mutex<Option<String>>,
    check_liveness: bool,
) -> CaseResult {
    if let Some(after) = dead.lock().ok().and_then(|d| d.clone()) {
        let mut r = base_result(case, role);
        r.outcome = Outcome::Skip;
        r.message = Some(format!(
            "not run: the target stopped answering after {after}"
        ));
        return r;
    }
    let mut r = run_with_retries(case, role, iut, opts).await;
    let ran = !matches!(r.outcome, Outcome::Skip | Outcome::Crash);
    if let (Iut::Target(addr), true) = (iut, ran && check_liveness) {
        if let Err(why) = crate::liveness::probe(*addr, crate::liveness::PROBE_LIMIT).await {
            mark_unresponsive(&mut r, &why, opts.jobs);
            if let Ok(mut d) = dead.lock() {
                d.get_or_insert_with(|| r.key());
            }
        }
    }
    r
}

async fn run_with_retries(case: &Case, role: Role, iut: &Iut, opts: &Options) -> CaseResult {
    let mut r = run_case(case, role, iut, opts).await;
    let mut attempts = 1;
    while attempts <= opts.retries
        // A crash is never retried: once is enough to show it.
        && matches!(
            r.outcome,
            Outcome::Fail | Outcome::NonStrict | Outcome::Error
        )
    {
        attempts += 1;
        let again = run_case(case, role, iut, opts).await;
        if again.outcome == Outcome::Pass {
            r = again;
            r.flaky = true;
            break;
        }
        r = again;
    }
    r.attempts = attempts;
    apply_expectation(&mut r, opts.expectations.find(&case.id, role));
    r
}

fn base_result(case: &Case, role: Role) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        family: case.family.clone(),
        role,
        level: case.level,
        spec: case.spec.clone(),
        summary: case.summary.clone(),
        outcome: Outcome::Pass,
        flaky: false,
        attempts: 1,
        duration_ms: 0,
        message: None,
        failures: Vec::new(),
        observations: Vec::new(),
        trace: Vec::new(),
        stderr: Vec::new(),
        resources: None,
        ran: None,
        ran_message: None,
    }
}

/// Waits for the adapter's `ready`; Err(outcome, message) otherwise.
pub async fn wait_ready(
    ad: &mut AdapterProc,
    limit: Duration,
) -> Result<String, (Outcome, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let msg = tokio::select! {
            m = ad.rx.recv() => m,
            _ = tokio::time::sleep_until(deadline) => return Err((Outcome::Error, format!("the adapter sent no `ready` within {} s", limit.as_secs()))),
        };
        match msg {
            Some(AdapterMsg::Event(v))
                if v.get("event").and_then(|e| e.as_str()) == Some("ready") =>
            {
                return Ok(v
                    .get("addr")
                    .and_then(|a| a.as_str())
                    .unwrap_or("")
                    .to_string());
            }
            Some(AdapterMsg::Event(_)) | Some(AdapterMsg::Invalid(_)) => {}
            Some(AdapterMsg::Eof) | None => {
                let code = ad.wait_exit(Duration::from_secs(2)).await.flatten();
                return Err(if code == Some(EXIT_UNSUPPORTED) {
                    (
                        Outcome::Unsupported,
                        "the adapter does not support this role (exit 89)".into(),
                    )
                } else {
                    (
                        Outcome::Error,
                        format!("the adapter exited before `ready` (exit code {code:?})"),
                    )
                });
            }
        }
    }
}

/// Runs one case in one role, once.
pub async fn run_case(case: &Case, role: Role, iut: &Iut, opts: &Options) -> CaseResult {
    let default_timeout = opts.timeout;
    let mut res = base_result(case, role);
    let start = Instant::now();
    // Starting an adapter can be slow (interpreters, many in parallel on few
    // cores); it does not count against the case's own time limit.
    let setup_limit = SETUP_LIMIT;
    let (tcp, adapter) = match iut {
        Iut::Target(addr) => {
            if role == Role::Client {
                res.outcome = Outcome::Skip;
                res.message = Some("client role needs an adapter".into());
                return res;
            }
            if case.needs_adapter() {
                res.outcome = Outcome::Skip;
                res.message = Some("needs an adapter".into());
                return res;
            }
            match tokio::time::timeout(setup_limit, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => (s, None),
                Ok(Err(e)) => {
                    res.outcome = Outcome::Error;
                    res.message = Some(format!("cannot connect to {addr}: {e}"));
                    return res;
                }
                Err(_) => {
                    res.outcome = Outcome::Error;
                    res.message = Some(format!("connecting to {addr} timed out"));
                    return res;
                }
            }
        }
        Iut::Adapter(spec) => {
            let env: Vec<(String, String)> = case
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match role {
                Role::Server => {
                    let mut ad = match AdapterProc::start(spec, "server", "127.0.0.1:0", &env) {
                        Ok(a) => a,
                        Err(e) => {
                            res.outcome = Outcome::Error;
                            res.message = Some(e.to_string());
                            return res;
                        }
                    };
                    let addr = match wait_ready(&mut ad, setup_limit).await {
                        Ok(a) => a,
                        Err((o, m)) => {
                            res.outcome = o;
                            res.message = Some(m);
                            res.stderr = ad.finish_with_stderr().await.1;
                            return res;
                        }
                    };
                    match tokio::time::timeout(setup_limit, TcpStream::connect(&addr)).await {
                        Ok(Ok(s)) => (s, Some(ad)),
                        _ => {
                            res.outcome = Outcome::Error;
                            res.message =
                                Some(format!("cannot connect to the adapter's address {addr:?}"));
                            res.stderr = ad.finish_with_stderr().await.1;
                            return res;
                        }
                    }
                }
                Role::Client => {
                    let listener = match TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            res.outcome = Outcome::Error;
                            res.message = Some(format!("cannot listen: {e}"));
                            return res;
                        }
                    };
                    let addr = listener
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    let mut ad = match AdapterProc::start(spec, "client", &addr, &env) {
                        Ok(a) => a,
                        Err(e) => {
                            res.outcome = Outcome::Error;
                            res.message = Some(e.to_string());
                            return res;
                        }
                    };
                    // Whichever comes first: the connection, or the adapter's
                    // `ready` (or its early exit, which must not wait for a
                    // connection that will never come).
                    let accept_limit = tokio::time::sleep(setup_limit);
                    tokio::pin!(accept_limit);
                    let (accepted, ready) = tokio::select! {
                        a = listener.accept() => {
                            let accepted = a.ok().map(|(s, _)| s);
                            (accepted, wait_ready(&mut ad, setup_limit).await)
                        }
                        r = wait_ready(&mut ad, setup_limit) => {
                            let accepted = match &r {
                                Ok(_) => tokio::select! {
                                    a = listener.accept() => a.ok().map(|(s, _)| s),
                                    _ = &mut accept_limit => None,
                                },
                                Err(_) => None,
                            };
                            (accepted, r)
                        }
                    };
                    match (accepted, ready) {
                        (Some(s), Ok(_)) => (s, Some(ad)),
                        (_, Err((o, m))) => {
                            res.outcome = o;
                            res.message = Some(m);
                            res.stderr = ad.finish_with_stderr().await.1;
                            return res;
                        }
                        (None, Ok(_)) => {
                            res.outcome = Outcome::Error;
                            res.message = Some("the adapter did not connect".into());
                            res.stderr = ad.finish_with_stderr().await.1;
                            return res;
                        }
                    }
                }
            }
        }
    };
    // The implementation's process: the adapter, or a target's `--pid`.
    let measured = adapter.as_ref().and_then(AdapterProc::pid).or(match iut {
        Iut::Target(_) => opts.target_pid,
        Iut::Adapter(_) => None,
    });
    let sampler = measured.map(Sampler::start);
    let mut peer = Peer::new(role, tcp, adapter, start);
    let limit = case
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(default_timeout);
    let run = tokio::time::timeout(limit, peer.run_steps(case)).await;
    let (pr, adapter) = match run {
        Ok(ended) => peer.finish(ended).await,
        // Out of time: the trace so far is kept (it shows where the case
        // hung) and the outcome follows the failures' levels.
        Err(_) => peer.interrupted(case, limit),
    };
    res.resources = match (sampler, measured) {
        (Some(s), Some(pid)) => s.stop(pid),
        _ => None,
    };
    let mut crashed = None;
    if let Some(mut ad) = adapter {
        let (exit, stderr) = ad.finish_with_exit().await;
        res.stderr = stderr;
        crashed = crash_evidence(Some(exit), &res.stderr, &ad.crash_messages());
        if crashed.is_none() && exit.unasked {
            res.stderr.push(format!(
                "(the adapter {exit}; it should wait for stdin to close)"
            ));
        }
    }
    res.duration_ms = start.elapsed().as_millis() as u64;
    res.trace = pr.trace;
    res.failures = pr.failures;
    res.observations = pr.observations;
    if let (Some(budget), Some(u)) = (case.memory_budget_mib, res.resources) {
        if u.rss_growth_kib > budget * 1024 {
            res.failures.push(Failure {
                step: 0,
                level: case.level,
                rule: Some(yamux::Rule::ResilienceMemory),
                note: Some("the case's memory budget (peak resident growth of the implementation's processes)".into()),
                expected: format!("at most {budget} MiB of growth"),
                actual: format!("{:.1} MiB (from {:.1} to {:.1} MiB)", u.growth_mib(), u.rss_start_kib as f64 / 1024.0, u.rss_peak_kib as f64 / 1024.0),
            });
        }
    }
    res.outcome = match pr.ended {
        _ if crashed.is_some() => {
            let why = crashed.unwrap_or_default();
            res.failures.push(Failure {
                step: 0,
                level: Level::Must,
                rule: Some(yamux::Rule::ResilienceSurvive),
                note: Some("the implementation must survive whatever its peer sends".into()),
                expected: "the implementation keeps running".into(),
                actual: why.clone(),
            });
            res.message = Some(format!("crash: {why}"));
            Outcome::Crash
        }
        Ended::Unsupported(m) => {
            res.message = Some(m);
            Outcome::Unsupported
        }
        Ended::Error(m) => {
            res.message = Some(m);
            Outcome::Error
        }
        Ended::Completed | Ended::OutOfTime => verdict(case.level, &res.failures),
    };
    res
}

/// A target that failed the liveness probe after case `r`: a crash of
/// that case (with `jobs` > 1 other cases ran at the same time: say so).
fn mark_unresponsive(r: &mut CaseResult, why: &str, jobs: usize) {
    let also = if jobs > 1 {
        format!(" (up to {jobs} cases ran at once: rerun with -j 1 to be sure which one)")
    } else {
        String::new()
    };
    r.failures.push(Failure {
        step: 0,
        level: Level::Must,
        rule: Some(yamux::Rule::ResilienceResponsive),
        note: Some(
            "after every case the target must accept a session, echo on a new stream and answer a ping"
                .into(),
        ),
        expected: "the target answers the liveness probe".into(),
        actual: format!("{why}{also}"),
    });
    r.message = Some(format!("crash: {why}{also}"));
    r.outcome = Outcome::Crash;
}

/// Outcome from the case level and the failed checks.
pub fn verdict(case_level: Level, failures: &[Failure]) -> Outcome {
    if case_level == Level::Info {
        return Outcome::Info;
    }
    if failures.iter().any(|f| f.level == Level::Must) {
        Outcome::Fail
    } else if failures.iter().any(|f| f.level == Level::Should) {
        Outcome::NonStrict
    } else {
        Outcome::Pass
    }
}

/// Counts per outcome.
pub fn counts(results: &[CaseResult]) -> BTreeMap<Outcome, usize> {
    let mut m = BTreeMap::new();
    for r in results {
        *m.entry(r.outcome).or_insert(0) += 1;
    }
    m
}

/// Exit code: 2 on any harness error, 1 on a crash or failure (or
/// non-strict with `strict`), 0 otherwise.
pub fn exit_code(results: &[CaseResult], strict: bool) -> u8 {
    if results.iter().any(|r| r.outcome == Outcome::Error) {
        2
    } else if results.iter().any(|r| {
        matches!(r.outcome, Outcome::Crash | Outcome::Fail)
            || (strict && r.outcome == Outcome::NonStrict)
    }) {
        1
    } else {
        0
    }
}
