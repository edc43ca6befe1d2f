//! The runner against real peers in `--target` mode: a yamux echo server
//! built on the reference session passes the echo cases; a broken server
//! fails them with the expected and actual frames; adapter cases are skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::run::{run_all, Iut, Options, Outcome};
use conformance::vector::{Level, Role, Suite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("root")
        .to_path_buf()
}

fn suite() -> Suite {
    Suite::load_dir(&root().join("vectors/session")).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn echo_server() -> SocketAddr {
    echo_server_for(usize::MAX).await
}

/// An echo server that serves `n` connections, then closes its listener
/// (later connections are refused): a target that died.
async fn echo_server_for(n: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..n {
            let Ok((tcp, _)) = l.accept().await else {
                break;
            };
            let s = yamux::Session::server(tcp, yamux::Config::default());
            tokio::spawn(async move {
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        loop {
                            match st.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if st.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        let _ = st.shutdown().await;
                        // Keep the stream until the peer is done with it.
                        let _ = st.read(&mut buf).await;
                    });
                }
            });
        }
    });
    addr
}

/// An echo server that holds at most `limit` connections at once and closes
/// any connection above that at once (a connection limit: a defence).
async fn limited_server(limit: usize) -> SocketAddr {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let open = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            if open.load(Ordering::SeqCst) >= limit {
                drop(tcp);
                continue;
            }
            open.fetch_add(1, Ordering::SeqCst);
            let open = open.clone();
            let s = yamux::Session::server(tcp, yamux::Config::default());
            tokio::spawn(async move {
                while let Ok(st) = s.accept().await {
                    tokio::spawn(adapter_common::bench::serve(
                        st,
                        adapter_common::bench::ServeMode::Echo,
                    ));
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_count_the_served_and_the_turned_away() {
    let suite = suite();
    // The case's own session and 10 of the 500 more.
    let addr = limited_server(11).await;
    let results = run_all(
        &suite.cases,
        &Iut::Target(addr),
        &opts(&["resilience.many-sessions"]),
    )
    .await;
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Pass, "{:?} {:?}", r.failures, r.message);
    assert!(
        r.observations
            .iter()
            .any(|o| o == "sessions: 10 of 500 served"),
        "{:?}",
        r.observations
    );
    assert!(
        r.observations
            .iter()
            .any(|o| o.starts_with("defence: the IUT turned away 490 of 500 sessions (first: ")),
        "{:?}",
        r.observations
    );
}

/// Reads and discards everything: never answers anything.
async fn deaf_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = tcp.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = tcp.shutdown().await;
            });
        }
    });
    addr
}

fn opts(sel: &[&str]) -> Options {
    Options {
        selectors: sel.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_mode_runs_echo_cases_and_skips_adapter_cases() {
    let suite = suite();
    let addr = echo_server().await;
    let results = run_all(
        &suite.cases,
        &Iut::Target(addr),
        &opts(&[
            "ping.echo",
            "stream.open.syn-on-wu",
            "frame",
            "flow.send.initial-window",
        ]),
    )
    .await;
    assert!(!results.is_empty());
    for r in &results {
        let case = suite.get(&r.id).expect("case");
        let expect_skip = r.role == Role::Client || case.needs_adapter();
        if expect_skip {
            assert_eq!(r.outcome, Outcome::Skip, "{}@{}", r.id, r.role);
        } else if case.level == Level::Info {
            assert_eq!(
                r.outcome,
                Outcome::Info,
                "{}@{}: {:?}",
                r.id,
                r.role,
                r.failures
            );
        } else {
            assert_eq!(
                r.outcome,
                Outcome::Pass,
                "{}@{}: {:?} {:?}",
                r.id,
                r.role,
                r.failures,
                r.message
            );
        }
    }
    let skipped = results
        .iter()
        .find(|r| r.id == "flow.send.initial-window" && r.role == Role::Server)
        .expect("selected");
    assert_eq!(skipped.message.as_deref(), Some("needs an adapter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_peer_fails_with_expected_and_actual() {
    let suite = suite();
    let addr = deaf_server().await;
    let results = run_all(&suite.cases, &Iut::Target(addr), &opts(&["ping.echo"])).await;
    let r = results
        .iter()
        .find(|r| r.role == Role::Server)
        .expect("server role");
    assert_eq!(r.outcome, Outcome::Fail);
    let f = &r.failures[0];
    assert_eq!(f.step, 2);
    assert_eq!(f.level, Level::Must);
    assert_eq!(f.expected, "ping flags⊇ACK value=3735928559");
    assert!(f.actual.contains("timed out"), "{}", f.actual);
    assert!(r
        .trace
        .iter()
        .any(|l| l.dir == "->" && l.text == "ping stream=0 flags=SYN value=3735928559"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_a_harness_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let results = run_all(&suite().cases, &Iut::Target(addr), &opts(&["ping.echo"])).await;
    let r = results
        .iter()
        .find(|r| r.role == Role::Server)
        .expect("server role");
    assert_eq!(r.outcome, Outcome::Error);
    assert!(r
        .message
        .as_deref()
        .unwrap_or("")
        .contains("cannot connect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expectations_turn_failures_into_xfail_and_passes_into_xpass() {
    use conformance::run::{Expectations, Expected};
    let suite = suite();
    let mut o = opts(&["ping.echo"]);
    o.roles = vec![Role::Server];
    o.expectations = Expectations {
        implementation: "test".into(),
        expected: vec![Expected {
            case: "ping.echo@server".into(),
            outcome: Outcome::Fail,
            reason: "never answers".into(),
            flaky: false,
            or: Vec::new(),
        }],
        interop_flaky: Vec::new(),
    };
    let deaf = deaf_server().await;
    let r = run_all(&suite.cases, &Iut::Target(deaf), &o).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, Outcome::Xfail);
    assert_eq!(r[0].message.as_deref(), Some("never answers"));
    let echo = echo_server().await;
    let r = run_all(&suite.cases, &Iut::Target(echo), &o).await;
    assert_eq!(r[0].outcome, Outcome::Xpass);
    assert!(r[0]
        .message
        .as_deref()
        .unwrap_or("")
        .contains("update the expectations file"));
}

fn script(name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("yamux-runner-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join("run");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn adapter(program: PathBuf) -> Iut {
    Iut::Adapter(conformance::adapter::AdapterSpec {
        program,
        args: Vec::new(),
        env: Vec::new(),
        name: "test".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_exit_89_is_unsupported_and_a_crash_is_an_error() {
    let suite = suite();
    let unsupported = adapter(script("u", "exit 89"));
    let r = run_all(&suite.cases, &unsupported, &opts(&["ping.echo"])).await;
    assert!(
        r.iter().all(|r| r.outcome == Outcome::Unsupported),
        "{:?}",
        r.iter().map(|r| r.outcome).collect::<Vec<_>>()
    );
    let crash = adapter(script("c", "echo boom >&2; exit 3"));
    let r = run_all(&suite.cases, &crash, &opts(&["ping.echo"])).await;
    for r in &r {
        assert_eq!(r.outcome, Outcome::Error);
        assert!(
            r.message
                .as_deref()
                .unwrap_or("")
                .contains("exit code Some(3)"),
            "{:?}",
            r.message
        );
        assert_eq!(r.stderr, ["boom"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_command_makes_the_case_unsupported() {
    // A minimal server-role adapter: listens, says ready, answers every command `unsupported`.
    let py = r#"
import json, socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(json.dumps({"event": "ready", "addr": "127.0.0.1:%d" % s.getsockname()[1]}), flush=True)
threading.Thread(target=lambda: s.accept(), daemon=True).start()
for line in sys.stdin:
    cmd = json.loads(line)
    print(json.dumps({"event": "unsupported", "id": cmd["id"]}), flush=True)
"#;
    let dir = std::env::temp_dir().join(format!("yamux-runner-{}-py", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("adapter.py");
    std::fs::write(&file, py).expect("write");
    let body = format!("exec python3 {}", file.display());
    let iut = adapter(script("cmd", &body));
    let mut o = opts(&["ping.iut-request"]);
    o.roles = vec![Role::Server];
    let r = run_all(&suite().cases, &iut, &o).await;
    assert_eq!(
        r[0].outcome,
        Outcome::Unsupported,
        "{:?} {:?}",
        r[0].message,
        r[0].failures
    );
    assert_eq!(r[0].message.as_deref(), Some("the adapter cannot `ping`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_passes_on_retry_is_flaky() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // The case's first connection is deaf, later ones answer pings.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let n = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            // Connection 0 is the run's first liveness probe; 1 is the
            // case's first attempt.
            let first = n.fetch_add(1, Ordering::SeqCst) == 1;
            tokio::spawn(async move {
                let mut tcp = tcp;
                if first {
                    let mut buf = [0u8; 1024];
                    while let Ok(k) = tcp.read(&mut buf).await {
                        if k == 0 {
                            return;
                        }
                    }
                } else {
                    let s = yamux::Session::server(tcp, yamux::Config::default());
                    let _ = s.closed().await;
                }
            });
        }
    });
    let mut o = opts(&["ping.echo"]);
    o.roles = vec![Role::Server];
    o.retries = 2;
    let r = run_all(&suite().cases, &Iut::Target(addr), &o).await;
    assert_eq!(r[0].outcome, Outcome::Pass);
    assert!(r[0].flaky);
    assert_eq!(r[0].attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_out_of_time_keeps_its_trace_and_its_level() {
    let suite = suite();
    let addr = deaf_server().await;
    let case = suite.get("ping.echo").expect("ping.echo").clone();
    // the deaf peer never answers: the case's time limit ends step 2
    let mut short = opts(&["ping.echo"]);
    short.timeout = Duration::from_millis(300);
    short.roles = vec![Role::Server];
    for (level, outcome) in [
        (Level::Must, Outcome::Fail),
        (Level::Should, Outcome::NonStrict),
        (Level::Info, Outcome::Info),
    ] {
        let mut c = case.clone();
        c.level = level;
        c.timeout_ms = None;
        let results = run_all(&[c], &Iut::Target(addr), &short).await;
        let r = &results[0];
        assert_eq!(r.outcome, outcome, "{level:?}: {:?}", r.failures);
        let last = r.failures.last().expect("a failure");
        assert!(
            last.actual.contains("after 300 ms, in step 2"),
            "{}",
            last.actual
        );
        assert!(
            r.trace
                .iter()
                .any(|l| l.dir == "->" && l.text.starts_with("ping stream=0 flags=SYN")),
            "trace kept: {:?}",
            r.trace
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_after_a_case_is_a_crash_and_the_run_stops() {
    // Connections: the first liveness probe, the first case; then the
    // listener is gone.
    let addr = echo_server_for(2).await;
    let mut o = opts(&["ping.echo", "ping.echo-burst"]);
    o.roles = vec![Role::Server];
    o.jobs = 1;
    let r = run_all(&suite().cases, &Iut::Target(addr), &o).await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].outcome, Outcome::Crash, "{:?}", r[0].failures);
    let f = r[0].failures.last().expect("the liveness failure");
    assert_eq!(f.rule, Some(yamux::Rule::ResilienceResponsive));
    assert!(
        f.actual.contains("no longer accepts connections"),
        "{}",
        f.actual
    );
    assert_eq!(r[1].outcome, Outcome::Skip);
    assert!(
        r[1].message
            .as_deref()
            .unwrap_or("")
            .contains("stopped answering after ping.echo@server"),
        "{:?}",
        r[1].message
    );
    assert_eq!(conformance::run::exit_code(&r, false), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_survives_is_probed_and_passes() {
    let addr = echo_server().await;
    let mut o = opts(&["ping.echo", "ping.echo-burst"]);
    o.roles = vec![Role::Server];
    let r = run_all(&suite().cases, &Iut::Target(addr), &o).await;
    assert!(r.iter().all(|r| r.outcome == Outcome::Pass), "{r:?}");
}

fn crashing_adapter(env: &[(&str, &str)]) -> Iut {
    Iut::Adapter(conformance::adapter::AdapterSpec {
        program: root().join("conformance/tests/fixtures/crashing_adapter.py"),
        args: Vec::new(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        name: "crashing".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_panics_is_a_crash_not_a_failure() {
    if std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_err()
    {
        return; // the fixture needs python3
    }
    let mut o = opts(&["ping.echo"]);
    o.roles = vec![Role::Client];
    o.retries = 2;
    let r = run_all(&suite().cases, &crashing_adapter(&[]), &o).await;
    assert_eq!(
        r[0].outcome,
        Outcome::Crash,
        "{:?} {:?}",
        r[0].message,
        r[0].failures
    );
    assert_eq!(r[0].attempts, 1, "a crash is not retried");
    let why = r[0].message.as_deref().unwrap_or("");
    assert!(why.contains("exited with code 2"), "{why}");
    assert!(
        why.contains("Go crash on stderr: panic: runtime error"),
        "{why}"
    );
    let f = r[0].failures.last().expect("the crash failure");
    assert_eq!(f.rule, Some(yamux::Rule::ResilienceSurvive));
    assert_eq!(conformance::run::exit_code(&r, false), 1);
    let junit = conformance::report::junit(&r, "crashing", Duration::from_secs(1)).expect("junit");
    assert!(
        junit.contains("<error") && junit.contains("type=\"crash\""),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_killed_by_a_signal_is_a_crash() {
    if std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_err()
    {
        return;
    }
    let mut o = opts(&["ping.echo"]);
    o.roles = vec![Role::Client];
    let r = run_all(
        &suite().cases,
        &crashing_adapter(&[("CRASH_BY_SIGNAL", "1")]),
        &o,
    )
    .await;
    assert_eq!(r[0].outcome, Outcome::Crash, "{:?}", r[0].message);
    let why = r[0].message.as_deref().unwrap_or("");
    assert!(why.contains("signal 11 (SIGSEGV)"), "{why}");
}

/// A scripted server: reads frames (skipping Data bodies) and writes what
/// `answer` returns for each header, on every connection.
async fn scripted_server<F>(answer: F) -> SocketAddr
where
    F: Fn(&[u8; 12]) -> Option<[u8; 12]> + Copy + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut h = [0u8; 12];
                while tcp.read_exact(&mut h).await.is_ok() {
                    if h[1] == 0 {
                        let len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
                        let mut body = vec![0u8; len as usize];
                        if tcp.read_exact(&mut body).await.is_err() {
                            break;
                        }
                    }
                    if let Some(reply) = answer(&h) {
                        if tcp.write_all(&reply).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Answers every Window Update carrying FIN with one Window Update with
/// `answer` flags on the same stream (ACK|FIN: accept and half-close in one
/// frame; FIN alone: never accept); reads and skips everything else.
async fn fin_answering_server(answer: u16) -> SocketAddr {
    scripted_server(move |h| {
        let wu_fin = h[1] == 1 && u16::from_be_bytes([h[2], h[3]]) & 0x4 != 0;
        wu_fin.then(|| {
            let mut r = [0u8; 12];
            r[1] = 1;
            r[2..4].copy_from_slice(&answer.to_be_bytes());
            r[4..8].copy_from_slice(&h[4..8]);
            r
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_frame_with_ack_and_fin_answers_both_expectations() {
    let suite = suite();
    let mut o = opts(&["stream.close.fin-before-ack"]);
    o.roles = vec![Role::Server];
    let addr = fin_answering_server(0x2 | 0x4).await;
    let results = run_all(&suite.cases, &Iut::Target(addr), &o).await;
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Pass, "{:?} {:?}", r.failures, r.message);

    // FIN alone answers the half-close but never the stream: the MUST
    // step (stream.accept) fails, the FIN step does not.
    let addr = fin_answering_server(0x4).await;
    let results = run_all(&suite.cases, &Iut::Target(addr), &o).await;
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Fail, "{:?}", r.failures);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!((r.failures[0].step, r.failures[0].level), (3, Level::Must));
    assert_eq!(r.failures[0].rule.map(|x| x.id()), Some("stream.accept"));
}

/// Sends Go Away 0 after the first frame it reads, then reads on and
/// answers nothing (a session that ended itself).
async fn goaway_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut h = [0u8; 12];
                if tcp.read_exact(&mut h).await.is_ok() {
                    let mut ga = [0u8; 12];
                    ga[1] = 3;
                    let _ = tcp.write_all(&ga).await;
                }
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = tcp.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_waits_in_vain_names_the_go_away_that_came_before() {
    let suite = suite();
    let mut o = opts(&["flow.recv.credit-after-read"]);
    o.roles = vec![Role::Server];
    let addr = goaway_server().await;
    let results = run_all(&suite.cases, &Iut::Target(addr), &o).await;
    let f = &results[0].failures[0];
    assert!(f.actual.starts_with("no Window Update"), "{f:?}");
    assert!(
        f.actual
            .ends_with("— the IUT had sent go-away code=0 (normal)"),
        "{f:?}"
    );
}

/// Reads frames and answers each Ping request; grants no credit, ever.
async fn ping_only_server() -> SocketAddr {
    scripted_server(|h| {
        let ping_syn = h[1] == 2 && u16::from_be_bytes([h[2], h[3]]) & 0x1 != 0;
        ping_syn.then(|| {
            let mut pong = *h;
            pong[2..4].copy_from_slice(&0x2u16.to_be_bytes());
            pong
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrun_the_iuts_credit_covers_is_not_judged() {
    // flow.recv.window-exceeded without its no-read: a full window, then
    // one byte marked as an overrun.
    let text = r#"{"family": "t", "description": "t", "cases": [{
        "id": "t.overrun", "spec": ["flow.overrun"], "level": "SHOULD", "roles": ["server"],
        "summary": "s",
        "steps": [
          {"send": {"type": "window-update", "flags": "SYN", "stream": "$s", "delta": 0}},
          {"send": {"type": "data", "stream": "$s", "body": {"len": 65536}, "repeat": 4}},
          {"sync": {}},
          {"send": {"type": "data", "stream": "$s", "body": {"len": 1}, "overrun": true}},
          {"expect_terminate": {"code": 1}}
        ]}]}"#;
    let (_, _, cases) = conformance::vector::load_str(Path::new("t.json"), text)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut o = opts(&[]);
    o.roles = vec![Role::Server];
    // A server that grants credit for each Data frame as it arrives (as
    // js-libp2p-yamux does), before it answers the sync's Ping: the byte is
    // within the window, the case cannot make its point.
    let credit_on_arrival = scripted_server(|h| match h[1] {
        0 => {
            let mut wu = *h;
            wu[1] = 1;
            wu[2..4].copy_from_slice(&0u16.to_be_bytes());
            Some(wu)
        }
        2 if u16::from_be_bytes([h[2], h[3]]) & 0x1 != 0 => {
            let mut pong = *h;
            pong[2..4].copy_from_slice(&0x2u16.to_be_bytes());
            Some(pong)
        }
        _ => None,
    })
    .await;
    let results = run_all(&cases, &Iut::Target(credit_on_arrival), &o).await;
    let r = &results[0];
    assert_eq!(
        r.outcome,
        Outcome::Unsupported,
        "{:?} {:?}",
        r.failures,
        r.message
    );
    assert!(
        r.message.as_deref().unwrap_or("").contains("is no overrun"),
        "{:?}",
        r.message
    );
    // A server that grants nothing: the overrun is one, and the missing
    // Go Away is judged.
    let results = run_all(&cases, &Iut::Target(ping_only_server().await), &o).await;
    let r = &results[0];
    assert_eq!(
        r.outcome,
        Outcome::NonStrict,
        "{:?} {:?}",
        r.failures,
        r.message
    );
    assert_eq!(r.failures[0].step, 5, "{:?}", r.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_as_raw_bytes_are_followed_by_the_judge() {
    // WU|SYN on stream 1, then Data "abc" on it, as raw bytes: the echo's
    // ACK and data are on a stream the judge saw opened, not an unknown one.
    let text = r#"{"family": "t", "description": "t", "cases": [{
        "id": "t.raw", "spec": ["stream.open"], "level": "MUST", "roles": ["server"],
        "summary": "s",
        "steps": [
          {"raw": {"hex": "000100010000000100000000000000000000000100000003616263"}},
          {"expect_data": {"stream": 1, "hex": "616263"}},
          {"sync": {}}
        ]}]}"#;
    let (_, _, cases) = conformance::vector::load_str(Path::new("t.json"), text)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut o = opts(&[]);
    o.roles = vec![Role::Server];
    let results = run_all(&cases, &Iut::Target(echo_server().await), &o).await;
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Pass, "{:?} {:?}", r.failures, r.message);
}
