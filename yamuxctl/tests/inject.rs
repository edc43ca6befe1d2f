//! `yamuxctl inject` against the reference server (a yamux::Session echo
//! server in the test): pings are answered, SYNs ACKed, a bad version draws
//! Go Away 1.

use std::net::SocketAddr;

use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use yamux::{Config, Session};
use yamuxctl::cmd::inject::InjectArgs;
use yamuxctl::inject::session::run;

mod common;
use common::Shared;

#[derive(Parser)]
struct P {
    #[command(flatten)]
    a: InjectArgs,
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let s = Session::server(sock, Config::default());
            tokio::spawn(async move {
                while let Ok(mut st) = s.accept().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
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

async fn inject(args: &[&str]) -> (u8, Vec<Value>, String) {
    let addr = echo_server().await;
    let mut argv = vec![
        "inject".to_string(),
        "--connect".into(),
        addr.to_string(),
        "--json".into(),
        "--wait".into(),
        "1500".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let a = P::try_parse_from(argv).unwrap().a;
    let (out, err) = (Shared::default(), Shared::default());
    let code = run(a, Box::new(out.clone()), Box::new(err.clone()))
        .await
        .unwrap();
    let events = out
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, events, err.text())
}

fn frames<'a>(ev: &'a [Value], dir: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["kind"] == "frame" && e["dir"] == dir)
        .collect()
}

#[tokio::test]
async fn a_ping_is_answered() {
    let (code, ev, err) = inject(&["ping", "7"]).await;
    assert_eq!(code, 0, "{err}");
    let sent = frames(&ev, "a2b");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "ping");
    let got = frames(&ev, "b2a");
    assert!(
        got.iter()
            .any(|f| f["type"] == "ping" && f["flags"] == 2 && f["length"] == 7),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_syn_is_acked_and_data_echoed() {
    let (code, ev, err) = inject(&["syn", "1", "data", "1", "hello"]).await;
    assert_eq!(code, 0, "{err}");
    let got = frames(&ev, "b2a");
    assert!(
        got.iter()
            .any(|f| f["stream"] == 1 && f["flags"].as_u64().unwrap() & 2 == 2),
        "no ACK: {got:?}"
    );
    assert!(
        got.iter()
            .any(|f| f["stream"] == 1 && f["type"] == "data" && f["length"] == 5),
        "no echo: {got:?}"
    );
}

#[tokio::test]
async fn a_bad_version_draws_go_away_1() {
    let (code, ev, err) = inject(&["raw", "010100010000000100000000"]).await;
    assert_eq!(code, 1, "{err}");
    let got = frames(&ev, "b2a");
    assert!(
        got.iter()
            .any(|f| f["type"] == "go-away" && f["length"] == 1),
        "{got:?}"
    );
    assert!(err.contains("the peer closed the connection"), "{err}");
}

#[tokio::test]
async fn usage_and_connect_errors_exit_2() {
    let a = P::try_parse_from(["inject", "--connect", "127.0.0.1:9", "bogus", "1"])
        .unwrap()
        .a;
    let err = Shared::default();
    assert_eq!(
        run(a, Box::new(Shared::default()), Box::new(err.clone()))
            .await
            .unwrap(),
        2
    );
    assert!(err.text().contains("unknown command"), "{}", err.text());
    // nobody listens on a port just released
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let a = P::try_parse_from(["inject", "--connect", &addr, "ping", "1"])
        .unwrap()
        .a;
    let err = Shared::default();
    assert_eq!(
        run(a, Box::new(Shared::default()), Box::new(err.clone()))
            .await
            .unwrap(),
        2
    );
    assert!(err.text().contains("cannot connect"), "{}", err.text());
}

#[tokio::test]
async fn a_script_file_runs_after_the_arguments() {
    let dir = std::env::temp_dir().join(format!("yamuxctl-inject-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.txt");
    std::fs::write(
        &path,
        "# open, send, close\nsyn 3\ndata 3 abc  # echoed\nfin 3\n",
    )
    .unwrap();
    let (code, ev, err) = inject(&["--script", path.to_str().unwrap(), "ping", "1"]).await;
    assert_eq!(code, 0, "{err}");
    let sent: Vec<String> = frames(&ev, "a2b")
        .iter()
        .map(|f| format!("{} {}", f["type"], f["stream"]))
        .collect();
    assert_eq!(
        sent,
        [
            "\"ping\" 0",
            "\"window-update\" 3",
            "\"data\" 3",
            "\"window-update\" 3"
        ]
    );
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "syn 1\nwu 1\n").unwrap();
    let (code, _, err) = inject(&["--script", bad.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    assert!(err.contains("bad.txt:2: command 1"), "{err}");
}

#[tokio::test]
async fn a_vector_case_runs_its_sending_steps() {
    let dir = std::env::temp_dir().join(format!("yamuxctl-inject-v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("case.json");
    // the shape of vectors/session/stream.open.json's stream.open.syn-on-data
    std::fs::write(
        &path,
        r#"{
  "id": "stream.open.syn-on-data",
  "spec": ["stream.open", "flags.syn"],
  "level": "MUST",
  "roles": ["server", "client"],
  "summary": "The payload of a D|SYN frame reaches the application (echoed back)",
  "steps": [
    {"send": {"type": "data", "flags": "SYN", "stream": 1, "body": {"len": 100}}},
    {"expect": {"flags": "ACK", "stream": 1}, "note": "the stream is acknowledged"},
    {"expect_data": {"stream": 1, "len": 100}, "note": "the SYN frame's payload is echoed"}
  ]
}"#,
    )
    .unwrap();
    let (code, ev, err) = inject(&["--script", path.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("step 2 (expect) not run"), "{err}");
    let got = frames(&ev, "b2a");
    assert!(
        got.iter()
            .any(|f| f["stream"] == 1 && f["flags"].as_u64().unwrap() & 2 == 2),
        "no ACK: {got:?}"
    );
    let echoed: u64 = got
        .iter()
        .filter(|f| f["type"] == "data" && f["stream"] == 1)
        .map(|f| f["length"].as_u64().unwrap())
        .sum();
    assert_eq!(echoed, 100);
}
