//! A recording that is never lost: the real `yamuxctl proxy --write` binary
//! between a yamux client and server on loopback, stopped by SIGTERM or
//! SIGHUP, read while it runs, and written to standard output into
//! `decode -`; and captures read from standard input and gzip.
//!
//! Every wait is for an event (a line on standard error, the process
//! ending, the file holding the frames) with a generous bound.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yamux::{Config, Session};

mod common;
use common::{data, ndjson, scratch, yamuxctl};

const SCHEMA: &str = "yamuxctl.decode/v1";
/// Bound of every wait: far beyond what a loaded machine needs.
const BOUND: Duration = Duration::from_secs(60);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_yamuxctl")
}

/// A yamux server echoing every stream until its end.
async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let s = Session::server(sock, Config::default());
            tokio::spawn(async move {
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
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
                    });
                }
            });
        }
    });
    addr
}

/// The message of stream `i`.
fn message(i: usize) -> Vec<u8> {
    format!("hello from stream {i}, {}", "x".repeat(100 * i)).into_bytes()
}

/// Opens `n` streams through `addr`, sends each its message and reads the
/// echo back; returns the session, still open.
async fn talk(addr: SocketAddr, n: usize) -> Session {
    let sock = TcpStream::connect(addr).await.unwrap();
    let session = Session::client(sock, Config::default());
    for i in 1..=n {
        let mut st = session.open().await.unwrap();
        let m = message(i);
        st.write_all(&m).await.unwrap();
        st.shutdown().await.unwrap();
        let mut back = Vec::new();
        tokio::time::timeout(BOUND, st.read_to_end(&mut back))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(back, m, "stream {i}");
    }
    session
}

/// The real proxy binary, killed if a test fails before it ends.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    /// Standard error lines, as they come.
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proxy {
    /// Starts `proxy --listen 127.0.0.1:0 --upstream UPSTREAM EXTRA...`
    /// and waits for it to say where it listens.
    fn start(upstream: SocketAddr, extra: &[&str], stdout: Stdio) -> Proxy {
        let mut child = Command::new(bin())
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream"])
            .arg(upstream.to_string())
            .args(["--color", "never"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start yamuxctl proxy");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut p = Proxy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            seen: Vec::new(),
        };
        let banner = p.wait_line("yamuxctl: relaying ");
        let addr = banner["yamuxctl: relaying ".len()..]
            .split(' ')
            .next()
            .unwrap();
        p.addr = addr.parse().unwrap();
        p
    }

    /// Waits for a standard error line starting with `prefix`.
    fn wait_line(&mut self, prefix: &str) -> String {
        let end = Instant::now() + BOUND;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(e) => panic!(
                    "no line {prefix:?} on the proxy's standard error ({e}); so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{name} failed");
    }

    /// Waits for the process to end; returns its exit code (`None`: ended
    /// by a signal) and all of its standard error.
    fn wait(mut self) -> (Option<i32>, String) {
        let end = Instant::now() + BOUND;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "the proxy did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        // the reader thread ends with the pipe
        while let Ok(l) = self.lines.recv_timeout(BOUND) {
            self.seen.push(l);
        }
        (status.code(), self.seen.join("\n"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Decodes `file` (or `-` with `stdin`) as NDJSON: exit code, objects.
fn decode_json(file: &Path) -> (i32, Vec<Value>, String) {
    let r = yamuxctl(&["decode", "--json", file.to_str().unwrap()]);
    (r.code, ndjson(&r.stdout, SCHEMA), r.stderr)
}

/// The payload bytes of Data frames per (direction, stream).
fn data_bytes(events: &[Value], dir: &str, stream: u64) -> u64 {
    events
        .iter()
        .filter(|e| {
            e["kind"] == "frame" && e["type"] == "data" && e["dir"] == dir && e["stream"] == stream
        })
        .map(|e| e["length"].as_u64().unwrap())
        .sum()
}

/// Whether `events` hold every stream's message both ways.
fn all_echoed(events: &[Value], n: usize) -> bool {
    (1..=n).all(|i| {
        let s = 2 * i as u64 - 1; // client streams are odd
        let len = message(i).len() as u64;
        data_bytes(events, "a2b", s) == len && data_bytes(events, "b2a", s) == len
    })
}

fn summary(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["kind"] == "summary")
        .expect("a summary")
}

fn path_in_scratch(name: &str) -> PathBuf {
    scratch().join(name)
}

/// The proxy records, a connection is still open, `signal` arrives: the
/// process ends as after Ctrl-C and the file holds every frame.
async fn stopped_by(signal: &str) {
    let upstream = echo_server().await;
    let file = path_in_scratch(&format!("stopped-by-{signal}.pcapng"));
    let proxy = Proxy::start(
        upstream,
        &["--write", file.to_str().unwrap()],
        Stdio::null(),
    );
    let session = talk(proxy.addr, 3).await;
    // the connection is still open when the signal comes
    proxy.signal(signal);
    let (code, err) = tokio::task::spawn_blocking(move || proxy.wait())
        .await
        .unwrap();
    drop(session);
    assert_eq!(code, Some(0), "exit status; stderr:\n{err}");
    assert!(
        err.contains(&format!("yamuxctl: SIG{signal}: stopping")),
        "{err}"
    );
    assert!(err.contains("conn 1: relay shut down"), "{err}");
    assert!(err.contains("relay: 1 connections (1 yamux"), "{err}");
    let (dcode, events, derr) = decode_json(&file);
    assert_eq!(dcode, 0, "{derr}");
    assert!(all_echoed(&events, 3), "frames missing: {events:?}");
    assert_eq!(summary(&events)["read_error"], Value::Null);
    let syns = events
        .iter()
        .filter(|e| e["kind"] == "frame" && e["dir"] == "a2b" && e["flag_names"] == "SYN")
        .count();
    assert_eq!(syns, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_recording() {
    stopped_by("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_finishes_the_recording() {
    stopped_by("HUP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_can_be_read_while_the_relay_runs() {
    let upstream = echo_server().await;
    let file = path_in_scratch("live.pcapng");
    let mut proxy = Proxy::start(
        upstream,
        &["--write", file.to_str().unwrap()],
        Stdio::null(),
    );
    let session = talk(proxy.addr, 2).await;
    // the relay and the connection keep running; the file must come to
    // hold the frames by itself (written when the writer caught up, or
    // within 100 ms)
    let end = Instant::now() + BOUND;
    let events = loop {
        let file = file.clone();
        let (code, events, err) = tokio::task::spawn_blocking(move || decode_json(&file))
            .await
            .unwrap();
        // a reader may catch a write half done; once the relay is idle the
        // file ends on a whole block
        if code == 0 && all_echoed(&events, 2) && summary(&events)["read_error"].is_null() {
            break events;
        }
        assert!(
            Instant::now() < end,
            "the recording never held the frames while the relay ran; last decode: exit {code}: {err}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(proxy.child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(summary(&events)["connections"], 1);
    // more traffic on the same connection reaches the file too
    let mut st = session.open().await.unwrap();
    st.write_all(b"later").await.unwrap();
    st.shutdown().await.unwrap();
    let mut back = Vec::new();
    st.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"later");
    let end = Instant::now() + BOUND;
    loop {
        let file = file.clone();
        let (_, events, _) = tokio::task::spawn_blocking(move || decode_json(&file))
            .await
            .unwrap();
        if data_bytes(&events, "b2a", 5) == 5 {
            break;
        }
        assert!(
            Instant::now() < end,
            "the later stream never reached the file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.close().await.unwrap();
    proxy.wait_line("yamuxctl: conn 1: closed");
    proxy.signal("TERM");
    let (code, err) = tokio::task::spawn_blocking(move || proxy.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_to_stdout_pipes_into_decode_from_stdin() {
    let upstream = echo_server().await;
    let mut proxy = Proxy::start(
        upstream,
        &["--write", "-", "--exit-after", "1"],
        Stdio::piped(),
    );
    let pcapng = proxy.child.stdout.take().unwrap();
    let decoder = Command::new(bin())
        .args(["decode", "--json", "-"])
        .stdin(Stdio::from(pcapng))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start yamuxctl decode");
    let session = talk(proxy.addr, 3).await;
    session.close().await.unwrap();
    drop(session);
    let (code, err) = tokio::task::spawn_blocking(move || proxy.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("recording to standard output"), "{err}");
    // the frames went to standard error, in order with the notices
    let lines: Vec<&str> = err.lines().collect();
    let last_frame = lines
        .iter()
        .rposition(|l| l.contains(" 1 →  ") || l.contains(" 1 ←  "))
        .unwrap_or_else(|| panic!("no frames on standard error:\n{err}"));
    let closed = lines
        .iter()
        .position(|l| l.starts_with("yamuxctl: conn 1: closed"))
        .unwrap_or_else(|| panic!("no close notice:\n{err}"));
    assert!(last_frame < closed, "frames after the close notice:\n{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("1 →  data") && l.contains("stream 1")),
        "{err}"
    );
    let out = tokio::task::spawn_blocking(move || decoder.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = ndjson(&stdout, SCHEMA);
    assert!(all_echoed(&events, 3), "{stdout}");
    assert_eq!(summary(&events)["read_error"], Value::Null);
}

/// Runs yamuxctl, killing it if it has not ended within [`BOUND`].
fn bounded(args: &[&str]) -> common::Run {
    let mut c = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run yamuxctl");
    let end = Instant::now() + BOUND;
    while c.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = c.kill();
            let _ = c.wait();
            panic!("yamuxctl {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = c.wait_with_output().unwrap();
    common::Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn write_to_stdout_is_refused_where_stdout_is_taken() {
    let r = bounded(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--write",
        "-",
        "--json",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--write -"), "{}", r.stderr);
    assert!(r.stderr.contains("--json"), "{}", r.stderr);
    let r = bounded(&[
        "watch",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--write",
        "-",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("terminal UI"), "{}", r.stderr);
}

/// Runs yamuxctl with `input` on its standard input.
fn with_stdin(args: &[&str], input: &[u8]) -> common::Run {
    let mut c = Command::new(bin())
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run yamuxctl");
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    // the command may stop reading early (a bad header): ignore the pipe
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = c.wait_with_output().expect("wait for yamuxctl");
    let _ = feeder.join();
    common::Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn decode_stats_and_follow_read_standard_input() {
    for ext in ["pcap", "pcapng"] {
        let file = data(&format!("hashicorp-echo.{ext}"));
        let bytes = std::fs::read(&file).unwrap();
        let f = file.to_str().unwrap();
        for args in [
            vec!["decode", "--color", "never"],
            vec!["decode", "--json"],
            vec!["stats"],
            vec!["follow", "--stream", "3"],
        ] {
            let from_file = yamuxctl(&[&args[..], &[f]].concat());
            let from_stdin = with_stdin(&[&args[..], &["-"]].concat(), &bytes);
            assert_eq!(from_file.code, 0, "{args:?} {ext}: {}", from_file.stderr);
            assert_eq!(from_stdin.code, 0, "{args:?} {ext}: {}", from_stdin.stderr);
            assert!(!from_stdin.stdout.is_empty(), "{args:?} {ext}");
            assert_eq!(from_stdin.stdout, from_file.stdout, "{args:?} {ext}");
        }
    }
}

#[test]
fn gzip_captures_are_read_directly_by_their_magic() {
    let dir = scratch();
    for ext in ["pcap", "pcapng"] {
        let file = data(&format!("hashicorp-echo.{ext}"));
        let plain = yamuxctl(&["decode", "--color", "never", file.to_str().unwrap()]);
        assert_eq!(plain.code, 0);
        let z = gzip(&std::fs::read(&file).unwrap());
        // the usual name, and a name that says nothing
        for name in [format!("echo.{ext}.gz"), format!("echo-{ext}.bin")] {
            let p = dir.join(&name);
            std::fs::write(&p, &z).unwrap();
            let r = yamuxctl(&["decode", "--color", "never", p.to_str().unwrap()]);
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
            assert_eq!(r.stdout, plain.stdout, "{name}");
            let s = yamuxctl(&["stats", "--json", p.to_str().unwrap()]);
            assert_eq!(s.code, 0, "{name}: {}", s.stderr);
        }
        // and from standard input
        let r = with_stdin(&["decode", "--color", "never", "-"], &z);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, plain.stdout);
    }
}

#[test]
fn bad_standard_input_is_named() {
    // not a capture
    let r = with_stdin(&["decode", "-"], b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read -: not a pcap or pcapng file (starts with 47455420)"),
        "{}",
        r.stderr
    );
    // nothing at all
    let r = with_stdin(&["stats", "-"], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read -: "), "{}", r.stderr);
    // gzip of something else
    let r = with_stdin(&["decode", "-"], &gzip(b"just some text, no capture"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read - (gunzipped): not a pcap or pcapng file"),
        "{}",
        r.stderr
    );
    let z = gzip(&std::fs::read(data("hashicorp-echo.pcapng")).unwrap());
    // gzip cut inside the capture's header: nothing read
    let r = with_stdin(&["decode", "-"], &z[..12]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot read - (gunzipped): ")
            && r.stderr.contains("gzip data ends early"),
        "{}",
        r.stderr
    );
    // gzip cut after some packets: what was read is shown, the note names
    // the input, exit 1 as for any capture damaged after some packets
    let r = with_stdin(&["decode", "--color", "never", "-"], &z[..z.len() * 2 / 3]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("1 →  data"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("yamuxctl: -: read error: gzip data ends early"),
        "{}",
        r.stderr
    );
    // a truncated .gz file is named the same way
    let p = scratch().join("cut.pcapng.gz");
    std::fs::write(&p, &z[..z.len() * 2 / 3]).unwrap();
    let r = yamuxctl(&["decode", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "yamuxctl: {}: read error: gzip data ends early",
            p.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn watch_replays_gzip() {
    use clap::Parser;
    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        a: yamuxctl::cmd::watch::WatchArgs,
    }
    let plain = data("own-ipv4-violations.pcapng");
    let p = scratch().join("violations.pcapng.gz");
    std::fs::write(&p, gzip(&std::fs::read(&plain).unwrap())).unwrap();
    // the violations found stepping through, as the plain file gives them
    let load = |path: &Path| {
        let a = W::try_parse_from(["watch", "--step", path.to_str().unwrap()])
            .unwrap()
            .a;
        let (mut app, mut r) = yamuxctl::watch::replay_setup(&a, path).expect("load");
        let mut n = 0;
        while !r.finished() {
            r.command(&mut app, yamuxctl::watch::action::Command::Step);
            n += 1;
            assert!(n < 10_000);
        }
        (app.state.frames, app.state.findings.len())
    };
    let (frames, findings) = load(&plain);
    assert_eq!(frames, 55);
    assert_eq!(load(&p), (frames, findings));
}
