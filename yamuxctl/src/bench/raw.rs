//! `yamuxctl adapter-raw-tcp`: the physical baseline of `yamuxctl bench`.
//!
//! It speaks only the benchmark commands of the adapter protocol
//! (docs/adapters.md, "Benchmark commands"), with one TCP connection per
//! "stream": the server accepts every connection on its address and serves it
//! in the `bench-serve` mode; the client's "open" is a TCP connect. It runs the
//! very same measuring code as the Rust adapters (`conformance::bench`), so the
//! only difference from a muxer is the muxer.

use std::sync::{Arc, Mutex};

use conformance::bench::{self, BenchCmd, ServeMode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Runs the adapter with `--role server|client --addr HOST:PORT`; returns the
/// exit code (89 for anything else).
pub fn main_with(args: &[String]) -> i32 {
    let (mut role, mut addr) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--role" => role = it.next().cloned(),
            "--addr" => addr = it.next().cloned(),
            other => {
                eprintln!("raw-tcp adapter: unsupported option {other}");
                return conformance::adapter::EXIT_UNSUPPORTED;
            }
        }
    }
    let (Some(role), Some(addr)) = (role, addr) else {
        eprintln!("raw-tcp adapter: usage: --role server|client --addr HOST:PORT");
        return conformance::adapter::EXIT_UNSUPPORTED;
    };
    if role != "server" && role != "client" {
        eprintln!("raw-tcp adapter: unsupported role {role}");
        return conformance::adapter::EXIT_UNSUPPORTED;
    }
    // One thread, as every Rust adapter: the same runtime for the baseline.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("raw-tcp adapter: {e}");
            return 1;
        }
    };
    rt.block_on(run(role == "server", addr))
}

async fn connect(addr: String) -> Result<TcpStream, String> {
    let s = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

async fn run(server: bool, addr: String) -> i32 {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let printer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = out_rx.recv().await {
            let line = format!("{v}\n");
            if stdout.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            let _ = stdout.flush().await;
        }
    });
    let mode = Arc::new(Mutex::new(ServeMode::Echo));
    if server {
        let l = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("raw-tcp adapter: cannot listen on {addr}: {e}");
                return 1;
            }
        };
        let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let _ = out_tx.send(json!({"event": "ready", "addr": local}));
        let mode = mode.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let _ = s.set_nodelay(true);
                let m = mode.lock().map(|g| *g).unwrap_or(ServeMode::Echo);
                tokio::spawn(bench::serve(s, m));
            }
        });
    } else {
        let _ = out_tx.send(json!({"event": "ready", "addr": addr}));
    }
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let reply = move |r: Result<Value, String>| match r {
            Ok(extra) => {
                let mut m = json!({"event": "ok", "id": id});
                if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
                    m.extend(e);
                }
                m
            }
            Err(msg) => json!({"event": "error", "id": id, "message": msg}),
        };
        match bench::parse(&v) {
            None => {
                let _ = out_tx.send(json!({"event": "unsupported", "id": v.get("id"),
                    "message": "raw TCP has only the benchmark commands"}));
            }
            Some(Err(e)) => {
                let _ = out_tx.send(reply(Err(e)));
            }
            Some(Ok(BenchCmd::Serve(m))) => {
                if let Ok(mut g) = mode.lock() {
                    *g = if m == ServeMode::Off {
                        ServeMode::Echo
                    } else {
                        m
                    };
                }
                let _ = out_tx.send(reply(Ok(json!({}))));
            }
            Some(Ok(BenchCmd::Rss)) => {
                let _ = out_tx.send(reply(bench::rss_reply()));
            }
            Some(Ok(cmd)) => {
                let (out, held, addr) = (out_tx.clone(), held.clone(), addr.clone());
                tokio::spawn(async move {
                    let open = move || connect(addr.clone());
                    let r = bench::client(cmd, open, held).await;
                    let _ = out.send(reply(r));
                });
            }
        }
    }
    drop(out_tx);
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), printer).await;
    0
}
