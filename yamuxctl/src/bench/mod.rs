//! `yamuxctl bench`: every implementation talking to itself, plus raw TCP,
//! measured the same way through the benchmark commands of the adapter
//! protocol (docs/adapters.md, "Benchmark commands"); see docs/performance.md.
//!
//! Each measurement starts a fresh server and client of one implementation
//! (with the conformance runner's adapter driver), tells the server how to
//! serve streams, sends the client one command, and reads the figure measured
//! inside the client adapter. Implementations are interleaved within every
//! repetition so that changing load hits them alike.

pub mod raw;
pub mod report;

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use conformance::adapter::{AdapterMsg, AdapterProc, AdapterSpec, EXIT_UNSUPPORTED};
use serde_json::{json, Value};
use tokio::time::Instant;

use report::{Figure, RunInfo, SCHEMA};

/// Name of the raw TCP baseline.
pub const RAW: &str = "raw-tcp";
/// Name of our reference crate.
pub use crate::adapters::REFERENCE;

const MIB: f64 = 1024.0 * 1024.0;

/// What to measure (from `yamuxctl bench`'s arguments).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Implementations beside raw TCP and the reference (empty: every
    /// adapter under conformance/adapters with a `run`).
    pub impls: Vec<String>,
    /// Small sizes (for CI).
    pub quick: bool,
    /// Repetitions.
    pub reps: u32,
    /// Only these scenario groups (empty: all of [`GROUPS`]).
    pub only: Vec<String>,
}

/// The scenario groups, in the order they run.
pub const GROUPS: [&str; 5] = ["single", "multi", "rr", "open", "idle"];

/// A finished run: what to print, and what went wrong in our own harness.
pub struct Run {
    /// Machine, repetitions, implementations.
    pub info: RunInfo,
    /// One figure per scenario and implementation.
    pub figs: Vec<Figure>,
    /// Failures of raw TCP or the reference (exit 2): they are ours.
    pub harness_errors: Vec<String>,
}

/// Sizes of the scenarios.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Single-stream bytes.
    pub single_bytes: u64,
    /// Streams of the multi-stream scenario.
    pub multi_streams: u32,
    /// Bytes per stream there.
    pub multi_bytes: u64,
    /// Round trips.
    pub rr_count: u32,
    /// Open-exchange-close loops.
    pub opens: u32,
    /// Idle streams held.
    pub idle: u32,
}

impl Sizes {
    /// The sizes of the issue.
    pub fn full() -> Sizes {
        Sizes {
            single_bytes: 1 << 30,
            multi_streams: 100,
            multi_bytes: 10 << 20,
            rr_count: 10_000,
            opens: 10_000,
            idle: 10_000,
        }
    }

    /// `--quick`.
    pub fn quick() -> Sizes {
        Sizes {
            single_bytes: 64 << 20,
            multi_streams: 10,
            multi_bytes: 4 << 20,
            rr_count: 1_000,
            opens: 1_000,
            idle: 1_000,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Id.
    pub id: &'static str,
    /// Words.
    pub label: String,
    /// Unit.
    pub unit: &'static str,
    /// Larger is better.
    pub higher_is_better: bool,
}

impl Scenario {
    /// All rows for `sizes`.
    pub fn all(z: &Sizes) -> Vec<Scenario> {
        let mib = |b: u64| b >> 20;
        vec![
            Scenario {
                id: "single",
                label: format!(
                    "1 stream, {} MiB in 64 KiB writes, throughput",
                    mib(z.single_bytes)
                ),
                unit: "MiB/s",
                higher_is_better: true,
            },
            Scenario {
                id: "multi",
                label: format!(
                    "{} streams x {} MiB, aggregate throughput",
                    z.multi_streams,
                    mib(z.multi_bytes)
                ),
                unit: "MiB/s",
                higher_is_better: true,
            },
            Scenario {
                id: "rr-p50",
                label: format!("64 B request/response, {} round trips, median", z.rr_count),
                unit: "us",
                higher_is_better: false,
            },
            Scenario {
                id: "rr-p99",
                label: format!("64 B request/response, {} round trips, p99", z.rr_count),
                unit: "us",
                higher_is_better: false,
            },
            Scenario {
                id: "open",
                label: format!(
                    "stream open rate (open, 1-byte exchange, close) x {}",
                    z.opens
                ),
                unit: "streams/s",
                higher_is_better: true,
            },
            Scenario {
                id: "idle",
                label: format!(
                    "memory per idle open stream ({} streams, RSS delta of both processes)",
                    z.idle
                ),
                unit: "bytes",
                higher_is_better: false,
            },
        ]
    }
}

/// Why a measurement has no figure.
#[derive(Debug)]
enum Fail {
    /// The implementation said no, failed, or timed out: shown in the table.
    Impl(String),
    /// The adapter is not installed (exit 89): shown in the table.
    NotInstalled,
    /// The harness broke (bad output, crash): exit 2.
    Harness(String),
}

struct Side {
    proc: AdapterProc,
    name: String,
}

impl Side {
    async fn start(
        spec: &AdapterSpec,
        role: &str,
        addr: &str,
        env: &[(String, String)],
    ) -> Result<(Side, String), Fail> {
        let proc =
            AdapterProc::start(spec, role, addr, env).map_err(|e| Fail::Harness(e.to_string()))?;
        let mut side = Side {
            proc,
            name: format!("{} {role}", spec.name),
        };
        let v = side
            .wait(Duration::from_secs(30), |v| ev(v) == Some("ready"))
            .await;
        match v {
            Ok(v) => {
                let a = v
                    .get("addr")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                Ok((side, a))
            }
            Err(e) => {
                if let Some(Some(EXIT_UNSUPPORTED)) =
                    side.proc.wait_exit(Duration::from_secs(2)).await
                {
                    return Err(Fail::NotInstalled);
                }
                let (_, err) = side.proc.finish_with_stderr().await;
                Err(Fail::Harness(format!(
                    "{}: {}; stderr: {}",
                    side.name,
                    msg(e),
                    err.iter()
                        .rev()
                        .take(3)
                        .rev()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" | ")
                )))
            }
        }
    }

    async fn wait(
        &mut self,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, Fail> {
        let deadline = Instant::now() + limit;
        loop {
            let m = tokio::select! {
                m = self.proc.rx.recv() => m,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Fail::Impl(format!("{}: timed out after {} s", self.name, limit.as_secs())))
                }
            };
            match m {
                Some(AdapterMsg::Event(v)) if pred(&v) => return Ok(v),
                Some(AdapterMsg::Event(_)) => {}
                Some(AdapterMsg::Invalid(l)) => {
                    return Err(Fail::Harness(format!(
                        "{}: stdout line is not JSON: {l}",
                        self.name
                    )))
                }
                Some(AdapterMsg::Eof) | None => {
                    return Err(Fail::Harness(format!("{}: the adapter exited", self.name)))
                }
            }
        }
    }

    /// Sends `cmd`, waits for its reply; `ok` gives the reply object.
    async fn cmd(&mut self, cmd: Value, limit: Duration) -> Result<Value, Fail> {
        let Value::Object(m) = cmd else {
            return Err(Fail::Harness("internal: command is not an object".into()));
        };
        let name = m
            .get("cmd")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (id, _) = self
            .proc
            .send(m)
            .await
            .map_err(|e| Fail::Harness(e.to_string()))?;
        let r = self
            .wait(limit, |v| v.get("id").and_then(Value::as_u64) == Some(id))
            .await?;
        match ev(&r) {
            Some("ok") => Ok(r),
            Some("unsupported") => Err(Fail::Impl(format!(
                "`{name}` unsupported{}",
                r.get("message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ))),
            _ => Err(Fail::Impl(format!(
                "`{name}` failed: {}",
                r.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
            ))),
        }
    }
}

fn ev(v: &Value) -> Option<&str> {
    v.get("event").and_then(Value::as_str)
}

fn msg(f: Fail) -> String {
    match f {
        Fail::Impl(m) | Fail::Harness(m) => m,
        Fail::NotInstalled => "not installed".into(),
    }
}

fn f64_field(v: &Value, k: &str) -> Result<f64, Fail> {
    v.get(k)
        .and_then(Value::as_f64)
        .ok_or_else(|| Fail::Harness(format!("reply without a numeric `{k}`: {v}")))
}

/// Runs one measurement (a fresh server and client of `spec`); returns
/// (scenario id, value) pairs.
async fn measure(
    spec: &AdapterSpec,
    scen: &str,
    z: &Sizes,
    limit: Duration,
) -> Result<Vec<(&'static str, f64)>, Fail> {
    let env = vec![
        ("YAMUX_KEEPALIVE".to_string(), "0".to_string()),
        ("YAMUX_MAX_STREAMS".to_string(), "100000".to_string()),
    ];
    let (mut server, addr) = Side::start(spec, "server", "127.0.0.1:0", &env).await?;
    let client = Side::start(spec, "client", &addr, &env).await;
    let mut client = match client {
        Ok((c, _)) => c,
        Err(e) => {
            server.proc.finish().await;
            return Err(e);
        }
    };
    let r = measure_with(&mut server, &mut client, scen, z, limit).await;
    client.proc.finish().await;
    server.proc.finish().await;
    r
}

async fn measure_with(
    server: &mut Side,
    client: &mut Side,
    scen: &str,
    z: &Sizes,
    limit: Duration,
) -> Result<Vec<(&'static str, f64)>, Fail> {
    let short = Duration::from_secs(10);
    let mode = if matches!(scen, "single" | "multi") {
        "sink"
    } else {
        "echo"
    };
    server
        .cmd(json!({"cmd": "bench-serve", "mode": mode}), short)
        .await?;
    match scen {
        "single" | "multi" => {
            let (streams, bytes) = if scen == "single" {
                (1, z.single_bytes)
            } else {
                (z.multi_streams, z.multi_bytes)
            };
            let r = client
                .cmd(
                    json!({"cmd": "bench-send", "streams": streams, "bytes": bytes, "write_size": 65536}),
                    limit,
                )
                .await?;
            let ms = f64_field(&r, "elapsed_ms")?.max(1e-3);
            let id = if scen == "single" { "single" } else { "multi" };
            Ok(vec![(
                id,
                streams as f64 * bytes as f64 / MIB / (ms / 1000.0),
            )])
        }
        "rr" => {
            let r = client
                .cmd(
                    json!({"cmd": "bench-rr", "count": z.rr_count, "size": 64}),
                    limit,
                )
                .await?;
            Ok(vec![
                ("rr-p50", f64_field(&r, "p50_us")?),
                ("rr-p99", f64_field(&r, "p99_us")?),
            ])
        }
        "open" => {
            let r = client
                .cmd(json!({"cmd": "bench-open", "count": z.opens}), limit)
                .await?;
            let ms = f64_field(&r, "elapsed_ms")?.max(1e-3);
            Ok(vec![("open", z.opens as f64 / (ms / 1000.0))])
        }
        "idle" => {
            // Warm up both sides (allocator, runtime) with a few streams first.
            client
                .cmd(json!({"cmd": "bench-hold", "count": 10}), limit)
                .await?;
            let s0 = f64_field(
                &server.cmd(json!({"cmd": "rss"}), short).await?,
                "rss_bytes",
            )?;
            let c0 = f64_field(
                &client.cmd(json!({"cmd": "rss"}), short).await?,
                "rss_bytes",
            )?;
            client
                .cmd(json!({"cmd": "bench-hold", "count": z.idle}), limit)
                .await?;
            // The server has echoed on every stream, so it holds them all.
            let s1 = f64_field(
                &server.cmd(json!({"cmd": "rss"}), short).await?,
                "rss_bytes",
            )?;
            let c1 = f64_field(
                &client.cmd(json!({"cmd": "rss"}), short).await?,
                "rss_bytes",
            )?;
            Ok(vec![("idle", ((s1 - s0) + (c1 - c0)) / z.idle as f64)])
        }
        other => Err(Fail::Harness(format!("internal: unknown scenario {other}"))),
    }
}

/// The implementations to measure.
fn implementations(plan: &Plan) -> anyhow::Result<Vec<AdapterSpec>> {
    let exe = std::env::current_exe().context("cannot find the yamuxctl executable")?;
    let mut names: Vec<String> = vec![RAW.into(), REFERENCE.into()];
    if plan.impls.is_empty() {
        let dir = conformance::paths::adapters_dir();
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("run").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n != REFERENCE)
            .collect();
        found.sort();
        names.extend(found);
    } else {
        for n in &plan.impls {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    names
        .iter()
        .map(|n| match n.as_str() {
            RAW => Ok(AdapterSpec {
                program: exe.clone(),
                args: vec!["adapter-raw-tcp".into()],
                env: Vec::new(),
                name: RAW.into(),
            }),
            _ => crate::adapters::adapter_spec(Some(n)).map(|(s, _)| s),
        })
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Runs the benchmark, one progress line per measurement on `progress`.
pub fn run(plan: &Plan, progress: &mut dyn Write) -> anyhow::Result<Run> {
    let z = if plan.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let reps = plan.reps.max(1);
    for o in &plan.only {
        if !GROUPS.contains(&o.as_str()) {
            anyhow::bail!("--only {o}: scenarios are {}", GROUPS.join(", "));
        }
    }
    let groups: Vec<&str> = GROUPS
        .into_iter()
        .filter(|g| plan.only.is_empty() || plan.only.iter().any(|o| o == g))
        .collect();
    let specs = implementations(plan)?;
    let limit = Duration::from_secs(if plan.quick { 30 } else { 60 });
    let scenarios: Vec<Scenario> = Scenario::all(&z)
        .into_iter()
        .filter(|s| groups.iter().any(|g| s.id.starts_with(g)))
        .collect();
    let mut figs: Vec<Figure> = Vec::new();
    for s in &scenarios {
        for sp in &specs {
            figs.push(Figure::new(s, &sp.name));
        }
    }
    let load0 = loadavg();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut harness_errors: Vec<String> = Vec::new();
    let mut skip: Vec<String> = Vec::new();
    for rep in 0..reps {
        for g in &groups {
            for sp in &specs {
                let key = format!("{} {g}", sp.name);
                if skip.contains(&sp.name) || skip.contains(&key) {
                    continue;
                }
                let _ = writeln!(progress, "bench: rep {}/{reps} {g} {}", rep + 1, sp.name);
                let r = rt.block_on(measure(sp, g, &z, limit));
                let note = |figs: &mut Vec<Figure>, m: String| {
                    for f in figs
                        .iter_mut()
                        .filter(|f| f.implementation == sp.name && f.scenario.starts_with(g))
                    {
                        f.error.get_or_insert(m.clone());
                    }
                };
                match r {
                    Ok(vals) => {
                        for (id, v) in vals {
                            if let Some(f) = figs
                                .iter_mut()
                                .find(|f| f.implementation == sp.name && f.scenario == id)
                            {
                                f.samples.push(v);
                            }
                        }
                    }
                    Err(Fail::NotInstalled) => {
                        skip.push(sp.name.clone());
                        for f in figs.iter_mut().filter(|f| f.implementation == sp.name) {
                            f.error = Some("not installed (run its install script)".into());
                        }
                    }
                    Err(Fail::Impl(m)) => {
                        let _ = writeln!(progress, "bench: {}: {m}", sp.name);
                        if m.contains("timed out") {
                            // Do not wait for it again in later repetitions.
                            skip.push(key);
                        }
                        note(&mut figs, m);
                    }
                    Err(Fail::Harness(m)) => {
                        let _ = writeln!(progress, "bench: harness error: {}: {m}", sp.name);
                        if sp.name == RAW || sp.name == REFERENCE {
                            harness_errors.push(format!("{}: {m}", sp.name));
                        }
                        note(&mut figs, format!("adapter error: {m}"));
                    }
                }
            }
        }
    }
    report::summarize(&mut figs);
    let info = RunInfo {
        schema: SCHEMA.into(),
        kind: "run".into(),
        reps,
        quick: plan.quick,
        implementations: specs.iter().map(|s| s.name.clone()).collect(),
        machine: machine(),
        load: format!("{load0} -> {}", loadavg()),
    };
    // Our own harness (raw TCP, reference) must work; others' failures are findings in the table.
    for f in figs.iter().filter(|f| {
        (f.implementation == RAW || f.implementation == REFERENCE) && f.median.is_none()
    }) {
        harness_errors.push(format!(
            "{} {}: {}",
            f.implementation,
            f.scenario,
            f.error.as_deref().unwrap_or("no result")
        ));
    }
    harness_errors.dedup();
    Ok(Run {
        info,
        figs,
        harness_errors,
    })
}
