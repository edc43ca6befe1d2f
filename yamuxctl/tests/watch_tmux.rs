//! `yamuxctl watch FILE` in a real terminal: tmux runs it, keys are sent,
//! the pane is captured and checked; quitting (q, Ctrl-C, and a panic)
//! must leave the terminal restored (main screen, cooked mode).
//!
//! Skipped, with a message, only when tmux is not installed. Uses a private
//! tmux server (its own socket) that is killed at the end.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        Tmux {
            socket: format!("yamuxctl-watch-{tag}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn start(&self, cmd: &str) {
        let out = self.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            "w",
            cmd,
        ]);
        assert!(out.status.success(), "tmux: {out:?}");
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.run(&["send-keys", "-t", "w", k]);
            assert!(out.status.success(), "send-keys {k}: {out:?}");
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }

    fn alternate(&self) -> String {
        let out = self.run(&["display-message", "-p", "-t", "w", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits (up to 15 s) until the pane satisfies `ok`; fails with the
    /// last screen otherwise.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn have_tmux() -> bool {
    match Command::new("tmux").arg("-V").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIP: tmux is not installed (apt-get install tmux)");
            false
        }
    }
}

/// The command run in the pane: watch, then report the exit status and
/// whether the terminal is back in canonical (cooked) mode.
fn shell(env: &str, args: &str) -> String {
    format!(
        "{env} {} watch {args}; echo \"exit=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{{0,1\\}}icanon' | sed 's/^/mode=/'; sleep 60",
        env!("CARGO_BIN_EXE_yamuxctl")
    )
}

fn restored(t: &Tmux, code: &str) -> String {
    let want = format!("exit={code}");
    let s = t.wait(&want, |s| s.contains(&want) && s.contains("mode="));
    assert!(s.contains("mode=icanon"), "terminal left in raw mode:\n{s}");
    assert_eq!(t.alternate(), "0", "still on the alternate screen");
    s
}

#[test]
fn replay_in_tmux_keys_and_clean_exit() {
    if !have_tmux() {
        return;
    }
    let file = common::data("hashicorp-echo.pcap");
    let t = Tmux::new("keys");
    t.start(&shell("", &format!("--step {}", file.display())));
    t.wait("the paused start", |s| {
        s.contains("[paused]") && s.contains("nothing played yet")
    });
    assert_eq!(t.alternate(), "1", "the UI uses the alternate screen");
    // frame by frame
    t.keys(&[".", ".", ".", "."]);
    let s = t.wait("four frames", |s| s.contains("frames 4 "));
    assert!(
        s.contains("conn 1: 127.0.0.1:50916 → 127.0.0.1:7801"),
        "{s}"
    );
    // play to the end
    t.keys(&["p"]);
    let s = t.wait("the end", |s| {
        s.contains("[end]") && s.contains("frames 20 ")
    });
    for id in ["1", "3", "5"] {
        assert!(
            s.lines()
                .any(
                    |l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["│", id, "client"]
                        && l.contains("closed")
                ),
            "stream {id} row missing:\n{s}"
        );
    }
    // help, then any key closes it
    t.keys(&["?"]);
    t.wait("help", |s| s.contains("quit (the terminal is restored)"));
    t.keys(&["Escape"]);
    t.wait("help closed", |s| {
        !s.contains("quit (the terminal is restored)")
    });
    // frame log
    t.keys(&["l"]);
    t.wait("frame log", |s| {
        s.contains("┌ frames") && s.contains("window-update FIN")
    });
    // seek back to a time
    t.keys(&[":", "0.0015", "Enter"]);
    let s = t.wait("seek", |s| {
        s.contains("[paused]") && s.contains("0.001500/")
    });
    assert!(s.contains("opening"), "{s}");
    // sort by state, reversed, then filter
    t.keys(&["/", "open", "Enter"]);
    t.wait("filter", |s| s.contains("filter \"open\""));
    t.keys(&["q"]);
    restored(&t, "0");
}

#[test]
fn ctrl_c_and_panic_restore_the_terminal() {
    if !have_tmux() {
        return;
    }
    let file = common::stall("pcap");
    let t = Tmux::new("ctrlc");
    t.start(&shell("", &format!("--at 1e6 {}", file.display())));
    let s = t.wait("the stall capture", |s| s.contains("[end]"));
    assert!(s.contains("E0 W2"), "{s}");
    t.keys(&["w"]);
    t.wait("findings pane", |s| s.contains("[x] stream-open-at-end 2"));
    t.keys(&["C-c"]);
    restored(&t, "0");
    drop(t);

    let t = Tmux::new("panic");
    t.start(&shell(
        "YAMUXCTL_WATCH_TEST_PANIC=1",
        &format!("{}", common::data("hashicorp-echo.pcap").display()),
    ));
    t.wait("the UI", |s| s.contains(" watch "));
    t.keys(&["!"]);
    let s = restored(&t, "101");
    assert!(
        s.contains("test panic requested"),
        "panic message not shown:\n{s}"
    );
}

/// A yamux server echoing every stream until its end.
async fn echo_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(async move {
                let s = yamux::Session::server(sock, yamux::Config::default());
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = st.read(&mut buf).await {
                            if n == 0 || st.write_all(&buf[..n]).await.is_err() {
                                break;
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

/// The relay's address, as the live UI shows it.
fn relay_address(s: &str) -> std::net::SocketAddr {
    s.split("relay ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no relay address on screen:\n{s}"))
}

/// Live: our yamux client and server through `watch --listen --upstream`;
/// the streams show up with their bytes and states.
#[test]
fn live_relay_shows_our_client_and_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !have_tmux() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(echo_server());
    let t = Tmux::new("live");
    t.start(&shell(
        "",
        &format!("--listen 127.0.0.1:0 --upstream {server}"),
    ));
    let s = t.wait("the relay", |s| {
        s.contains("[live]") && s.contains("waiting for a connection")
    });
    let relay = relay_address(&s);
    // a client: 4 streams of 100,000 bytes echoed; streams 1 and 3 are
    // closed, 5 and 7 stay open until the checks are done
    let (session, open) = rt.block_on(async move {
        let sock = tokio::net::TcpStream::connect(relay)
            .await
            .expect("connect");
        let s = yamux::Session::client(sock, yamux::Config::default());
        let mut open = Vec::new();
        for i in 0..4 {
            let mut st = s.open().await.expect("open");
            let data = vec![i as u8; 100_000];
            st.write_all(&data).await.expect("write");
            let mut got = vec![0u8; data.len()];
            st.read_exact(&mut got).await.expect("echo");
            assert_eq!(got, data);
            if i < 2 {
                st.shutdown().await.expect("fin");
                let mut rest = Vec::new();
                st.read_to_end(&mut rest).await.expect("eof");
            } else {
                open.push(st);
            }
        }
        (s, open)
    });
    // The client is done when the relay has forwarded every byte, but the
    // UI shows them only once its decoder has taken them: wait for all four
    // streams with their bytes, not just for the fourth to appear.
    let with_bytes = |s: &str, id: &str| {
        s.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(1) == Some(&id) && w.get(2) == Some(&"client") && l.contains("97.7K")
        })
    };
    let s = t.wait("four streams with 100,000 bytes each way", |s| {
        s.contains("streams 1-4 of 4")
            && s.matches("closed").count() >= 2
            && ["1", "3", "5", "7"].iter().all(|id| with_bytes(s, id))
    });
    assert!(s.contains("conn 1: 127.0.0.1:"), "{s}");
    // the relay forwarded what the checks just used; the UI quits cleanly
    t.keys(&["l"]);
    t.wait("frame log", |s| {
        s.contains("┌ frames") && s.contains("data")
    });
    drop(open);
    rt.block_on(async { session.close().await }).ok();
    t.keys(&["q"]);
    restored(&t, "0");
}

/// Live with `--write`: SIGTERM (as `kill`, `timeout` and systemd send)
/// ends the UI as `q` does, restores the terminal and leaves a complete
/// recording, although the client's connection is still open.
#[test]
fn live_relay_stopped_by_sigterm_keeps_the_terminal_and_the_recording() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !have_tmux() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(echo_server());
    let file = common::scratch().join("watch-live.pcapng");
    let t = Tmux::new("sigterm");
    t.start(&shell(
        "",
        &format!(
            "--listen 127.0.0.1:0 --upstream {server} --write {}",
            file.display()
        ),
    ));
    let s = t.wait("the relay", |s| {
        s.contains("[live]") && s.contains("waiting for a connection")
    });
    let relay = relay_address(&s);
    let session = rt.block_on(async move {
        let sock = tokio::net::TcpStream::connect(relay)
            .await
            .expect("connect");
        let s = yamux::Session::client(sock, yamux::Config::default());
        let mut st = s.open().await.expect("open");
        st.write_all(b"hello through watch").await.expect("write");
        st.shutdown().await.expect("fin");
        let mut back = Vec::new();
        st.read_to_end(&mut back).await.expect("echo");
        assert_eq!(back, b"hello through watch");
        s
    });
    t.wait("the stream", |s| s.contains("streams 1-1 of 1"));
    // the pane runs a shell; watch is its child
    let pane = t.run(&["display-message", "-p", "-t", "w", "#{pane_pid}"]);
    let pane = String::from_utf8_lossy(&pane.stdout).trim().to_string();
    let ps = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &pane])
        .output()
        .expect("run ps");
    let pids: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(pids.len(), 1, "children of the pane's shell: {pids:?}");
    let kill = Command::new("kill")
        .args(["-TERM", &pids[0]])
        .status()
        .expect("run kill");
    assert!(kill.success());
    restored(&t, "0");
    drop(session);
    let r = common::yamuxctl(&["decode", "--json", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = common::ndjson(&r.stdout, "yamuxctl.decode/v1");
    let data: Vec<u64> = v
        .iter()
        .filter(|e| e["kind"] == "frame" && e["type"] == "data")
        .map(|e| e["length"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(data, [19, 19], "{}", r.stdout);
    let last = v.last().expect("a summary");
    assert_eq!(last["read_error"], serde_json::Value::Null, "{last}");
}
