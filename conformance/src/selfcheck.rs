//! `yamuxctl conform --adapter NAME --self-check`: checks an adapter against
//! docs/adapters.md by running it as a server and as a client of itself.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::adapter::{check_bogus_role, AdapterMsg, AdapterProc, AdapterSpec};
use crate::crash::{crash_evidence, crash_marker};

/// Results of the self-check: (check, Ok or why not).
#[derive(Debug, Default)]
pub struct SelfCheck {
    /// Checks in order.
    pub checks: Vec<(String, Result<(), String>)>,
}

impl SelfCheck {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|(_, r)| r.is_ok())
    }

    /// One line per check, then a count.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (name, r) in &self.checks {
            match r {
                Ok(()) => {
                    let _ = writeln!(s, "  ✓ {name}");
                }
                Err(e) => {
                    let _ = writeln!(s, "  × {name}: {e}");
                }
            }
        }
        let failed = self.checks.iter().filter(|(_, r)| r.is_err()).count();
        let _ = writeln!(s, "{} passed, {failed} failed", self.checks.len() - failed);
        s
    }
}

struct Side {
    proc: AdapterProc,
    backlog: Vec<Value>,
}

impl Side {
    async fn wait(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return Ok(self.backlog.remove(i));
        }
        let deadline = Instant::now() + limit;
        loop {
            let m = tokio::select! {
                m = self.proc.rx.recv() => m,
                _ = tokio::time::sleep_until(deadline) => return Err(format!("timed out waiting for {what}")),
            };
            match m {
                Some(AdapterMsg::Event(v)) => {
                    if pred(&v) {
                        return Ok(v);
                    }
                    self.backlog.push(v);
                }
                Some(AdapterMsg::Invalid(l)) => {
                    return Err(format!("stdout line is not a JSON object: {l}"))
                }
                Some(AdapterMsg::Eof) | None => {
                    return Err(format!("the adapter exited while waiting for {what}"))
                }
            }
        }
    }

    async fn cmd(&mut self, c: Value) -> Result<Value, String> {
        let Value::Object(m) = c else {
            return Err("bad command".into());
        };
        let name = m
            .get("cmd")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (id, _) = self.proc.send(m).await.map_err(|e| e.to_string())?;
        let r = self
            .wait(
                &format!("the reply to `{name}`"),
                Duration::from_secs(10),
                |v| v.get("id").and_then(Value::as_u64) == Some(id),
            )
            .await?;
        match r.get("event").and_then(Value::as_str) {
            Some("ok") => Ok(r),
            other => Err(format!("`{name}` answered {other:?}: {r}")),
        }
    }

    async fn read_stream(&mut self, stream: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut got = Vec::new();
        while got.len() < len {
            let ev = self
                .wait(
                    &format!(
                        "data on stream {stream} ({} of {len} bytes so far)",
                        got.len()
                    ),
                    Duration::from_secs(10),
                    |v| {
                        v.get("event").and_then(Value::as_str) == Some("data")
                            && v.get("stream").and_then(Value::as_u64) == Some(stream)
                    },
                )
                .await?;
            let h = ev.get("hex").and_then(Value::as_str).unwrap_or("");
            got.extend(hex::decode(h).map_err(|e| format!("bad hex in data event: {e}"))?);
        }
        Ok(got)
    }
}

fn check(out: &mut SelfCheck, name: &str, r: Result<(), String>) -> bool {
    let ok = r.is_ok();
    out.checks.push((name.to_string(), r));
    ok
}

/// `accept-sessions` (docs/adapters.md, "More sessions"), where the adapter
/// supports it: two more sessions are served by echo (the runner's own
/// `sessions` step code) and the first session still answers a ping.
async fn more_sessions(out: &mut SelfCheck, server: &mut Side, client: &mut Side, addr: &str) {
    let mut m = Map::new();
    m.insert("cmd".into(), Value::from("accept-sessions"));
    m.insert("count".into(), Value::from(2));
    let reply = match server.proc.send(m).await {
        Ok((id, _)) => {
            server
                .wait(
                    "the reply to `accept-sessions`",
                    Duration::from_secs(10),
                    |v| v.get("id").and_then(Value::as_u64) == Some(id),
                )
                .await
        }
        Err(e) => Err(e.to_string()),
    };
    let kind = reply
        .as_ref()
        .ok()
        .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_string));
    if kind.as_deref() == Some("unsupported") {
        return;
    }
    let r = match (&reply, kind.as_deref()) {
        (Ok(_), Some("ok")) => Ok(()),
        (Ok(v), _) => Err(format!("answered {v}")),
        (Err(e), _) => Err(e.clone()),
    };
    if !check(out, "server: accept-sessions", r) {
        return;
    }
    let Ok(sock) = addr.parse() else {
        check(
            out,
            "server: two more sessions echo",
            Err(format!("`ready` addr {addr:?} is not an address")),
        );
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (crowd, t) = crate::sessions::open(sock, 2, 100, deadline).await;
    let r = if t.served == 2 {
        Ok(())
    } else {
        Err(format!("{t:?}"))
    };
    check(out, "server: two more sessions echo and answer a ping", r);
    let r = client.cmd(json!({"cmd": "ping"})).await.map(|_| ());
    check(out, "the first session answers a ping beside them", r);
    drop(crowd);
}

/// Runs the self-check.
pub async fn self_check(spec: &AdapterSpec) -> SelfCheck {
    let mut out = SelfCheck::default();
    check(
        &mut out,
        "--role bogus exits 89",
        check_bogus_role(spec).await,
    );
    let server = match AdapterProc::start(spec, "server", "127.0.0.1:0", &[]) {
        Ok(p) => p,
        Err(e) => {
            check(&mut out, "server starts", Err(e.to_string()));
            return out;
        }
    };
    let mut server = Side {
        proc: server,
        backlog: Vec::new(),
    };
    let ready = server
        .wait("`ready`", Duration::from_secs(10), |v| {
            v.get("event").and_then(Value::as_str) == Some("ready")
        })
        .await;
    let addr = match ready.and_then(|v| {
        v.get("addr")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| "`ready` has no addr".into())
    }) {
        Ok(a) => a,
        Err(e) => {
            check(&mut out, "server: ready with addr", Err(e));
            server.proc.finish().await;
            return out;
        }
    };
    check(&mut out, "server: ready with addr", Ok(()));
    let client = match AdapterProc::start(spec, "client", &addr, &[]) {
        Ok(p) => p,
        Err(e) => {
            check(&mut out, "client starts", Err(e.to_string()));
            server.proc.finish().await;
            return out;
        }
    };
    let mut client = Side {
        proc: client,
        backlog: Vec::new(),
    };
    let r = client
        .wait("`ready`", Duration::from_secs(10), |v| {
            v.get("event").and_then(Value::as_str) == Some("ready")
        })
        .await;
    if check(&mut out, "client: ready", r.map(|_| ())) {
        let mut streams = Vec::new();
        for k in 0..3u64 {
            let r = client.cmd(json!({"cmd": "open"})).await;
            match r.and_then(|v| {
                v.get("stream")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| "`open` reply has no stream".into())
            }) {
                Ok(s) => streams.push((s, 1000 + 7777 * k as usize)),
                Err(e) => {
                    check(&mut out, "client: open", Err(e));
                }
            }
        }
        check(
            &mut out,
            "client: open 3 streams",
            if streams.len() == 3 {
                Ok(())
            } else {
                Err(format!("{} opened", streams.len()))
            },
        );
        for &(s, n) in &streams {
            let r = client
                .cmd(json!({"cmd": "write", "stream": s, "len": n}))
                .await
                .map(|_| ());
            check(
                &mut out,
                &format!("client: write {n} bytes on stream {s}"),
                r,
            );
        }
        for &(s, n) in &streams {
            let r = client.read_stream(s, n).await.and_then(|got| {
                let want: Vec<u8> = (0..n as u64).map(crate::vector::pattern_byte).collect();
                if got == want {
                    Ok(())
                } else {
                    Err("echoed bytes differ".into())
                }
            });
            check(&mut out, &format!("server echoes stream {s}"), r);
        }
        if let Some(&(s, _)) = streams.first() {
            let r = client
                .cmd(json!({"cmd": "close", "stream": s}))
                .await
                .map(|_| ());
            check(&mut out, "client: close (FIN)", r);
            let r = client
                .wait("eof after the server's FIN", Duration::from_secs(10), |v| {
                    v.get("event").and_then(Value::as_str) == Some("eof")
                        && v.get("stream").and_then(Value::as_u64) == Some(s)
                })
                .await
                .map(|_| ());
            check(
                &mut out,
                "server half-closes after EOF (client sees eof)",
                r,
            );
        }
        let r = client.cmd(json!({"cmd": "ping"})).await.and_then(|v| {
            if v.get("rtt_ms").is_some_and(Value::is_number) {
                Ok(())
            } else {
                Err("`ping` reply has no rtt_ms".into())
            }
        });
        check(&mut out, "client: ping with rtt_ms", r);
        if let Some(&(s, _)) = streams.get(1) {
            let r = client
                .cmd(json!({"cmd": "reset", "stream": s}))
                .await
                .map(|_| ());
            check(&mut out, "client: reset", r);
            let r = server
                .wait("reset on the server", Duration::from_secs(10), |v| {
                    matches!(
                        v.get("event").and_then(Value::as_str),
                        Some("reset") | Some("stream-error")
                    ) && v.get("stream").and_then(Value::as_u64) == Some(s)
                })
                .await
                .map(|_| ());
            check(&mut out, "server reports the reset", r);
        }
        let mut m = Map::new();
        m.insert("cmd".into(), Value::from("no-such-command"));
        let r = match client.proc.send(m).await {
            Ok((id, _)) => client
                .wait(
                    "a reply to an unknown command",
                    Duration::from_secs(10),
                    |v| v.get("id").and_then(Value::as_u64) == Some(id),
                )
                .await
                .and_then(|v| {
                    if v.get("event").and_then(Value::as_str) == Some("unsupported") {
                        Ok(())
                    } else {
                        Err(format!("answered {v}"))
                    }
                }),
            Err(e) => Err(e.to_string()),
        };
        check(&mut out, "unknown command answered `unsupported`", r);
        more_sessions(&mut out, &mut server, &mut client, &addr).await;
    }
    let t = Instant::now();
    let c = client.proc.finish().await;
    check(
        &mut out,
        "client exits 0 on stdin EOF within 2 s",
        if c == Some(0) {
            Ok(())
        } else {
            Err(format!("exit {c:?} after {:?}", t.elapsed()))
        },
    );
    let c = server.proc.finish().await;
    check(
        &mut out,
        "server exits 0 on stdin EOF within 2 s",
        if c == Some(0) {
            Ok(())
        } else {
            Err(format!("exit {c:?}"))
        },
    );
    crash_check(spec, &mut out).await;
    out
}

/// The crash contract (docs/adapters.md, "Crashes"): the `crash` command
/// ends a client adapter abnormally, with a crash marker on stderr.
async fn crash_check(spec: &AdapterSpec, out: &mut SelfCheck) {
    let name = "`crash` ends the process abnormally with a crash marker";
    let mut server = match AdapterProc::start(spec, "server", "127.0.0.1:0", &[]) {
        Ok(p) => Side {
            proc: p,
            backlog: Vec::new(),
        },
        Err(e) => {
            check(out, name, Err(format!("server: {e}")));
            return;
        }
    };
    let ready = server
        .wait("`ready`", Duration::from_secs(10), |v| {
            v.get("event").and_then(Value::as_str) == Some("ready")
        })
        .await
        .and_then(|v| {
            v.get("addr")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "`ready` has no addr".to_string())
        });
    let r = match ready {
        Ok(addr) => crash_client(spec, &addr).await,
        Err(e) => Err(format!("server: {e}")),
    };
    server.proc.finish().await;
    check(out, name, r);
}

async fn crash_client(spec: &AdapterSpec, addr: &str) -> Result<(), String> {
    let p = AdapterProc::start(spec, "client", addr, &[]).map_err(|e| e.to_string())?;
    let mut client = Side {
        proc: p,
        backlog: Vec::new(),
    };
    client
        .wait("`ready`", Duration::from_secs(10), |v| {
            v.get("event").and_then(Value::as_str) == Some("ready")
        })
        .await?;
    let mut m = Map::new();
    m.insert("cmd".into(), Value::from("crash"));
    client.proc.send(m).await.map_err(|e| e.to_string())?;
    let exited = client
        .proc
        .wait_exit(Duration::from_secs(10))
        .await
        .is_some();
    let (exit, stderr) = client.proc.finish_with_exit().await;
    if !exited {
        return Err("still running 10 s after `crash`".into());
    }
    if crash_evidence(Some(exit), &[], &[]).is_none() {
        return Err(format!("the adapter {exit}: not abnormal"));
    }
    if !stderr.iter().any(|l| crash_marker(l).is_some()) {
        let tail = stderr[stderr.len().saturating_sub(3)..].join(" | ");
        return Err(format!("no crash marker on stderr (last lines: {tail})"));
    }
    Ok(())
}
