//! `yamuxctl adapter-raw-tcp`: the physical baseline of `yamuxctl bench`.
//!
//! It speaks only the benchmark commands of the adapter protocol
//! (docs/adapters.md, "Benchmark commands"), with one TCP connection per
//! "stream": the server accepts every connection on its address and serves it
//! in the `bench-serve` mode; the client's "open" is a TCP connect. It runs the
//! very same measuring code, and answers with the same replies, as the Rust
//! adapters (`adapter_common::bench`, conformance/adapters/rust-common), so the
//! only difference from a muxer is the muxer.

use std::sync::{Arc, Mutex};

use adapter_common::bench::{self, BenchCmd, ServeMode};
use adapter_common::{emit, unsupported};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
        emit(json!({"event": "ready", "addr": local}));
        let mode = mode.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let _ = s.set_nodelay(true);
                let m = mode.lock().map(|g| *g).unwrap_or(ServeMode::Echo);
                tokio::spawn(bench::serve(s, m));
            }
        });
    } else {
        emit(json!({"event": "ready", "addr": addr}));
    }
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        match bench::parse(&v) {
            None => emit(unsupported(&id, "raw TCP has only the benchmark commands")),
            Some(Err(e)) => emit(bench::reply(&id, Err(e))),
            Some(Ok(BenchCmd::Serve(m))) => {
                if let Ok(mut g) = mode.lock() {
                    *g = if m == ServeMode::Off {
                        ServeMode::Echo
                    } else {
                        m
                    };
                }
                emit(bench::reply(&id, Ok(json!({}))));
            }
            Some(Ok(BenchCmd::Rss)) => emit(bench::reply(&id, bench::rss_reply())),
            Some(Ok(cmd)) => {
                let (held, addr) = (held.clone(), addr.clone());
                tokio::spawn(async move {
                    let open = move || connect(addr.clone());
                    emit(bench::reply(&id, bench::client(cmd, open, held).await));
                });
            }
        }
    }
    0
}
