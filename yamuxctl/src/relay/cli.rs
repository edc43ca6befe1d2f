//! `yamuxctl proxy`: arguments and entry point.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, Notify};

use super::{Relay, RelayEvent, RelayOptions};
use crate::analyze::live::{LiveDecoder, LiveSummary};
use crate::analyze::Options;
use crate::clock::Clock;
use crate::decode::cli::{use_color, ColorChoice};
use crate::print::{printer, Filter, PrintOptions, Printer};

/// `yamuxctl proxy`.
#[derive(Clone, Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to accept clients on, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Address of the server to connect to for each client.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Record everything forwarded to this pcapng file (synthesised
    /// Ethernet/IP/TCP headers; readable by `yamuxctl decode` and Wireshark).
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// NDJSON output (schema yamuxctl.decode/v1, as `decode --json`).
    #[arg(long)]
    pub json: bool,
    /// Forward (and record) without decoding or printing frames.
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
    /// Decode every connection as yamux, without checking its first bytes.
    #[arg(long)]
    pub force: bool,
    /// Absolute UTC times instead of seconds since the relay started.
    #[arg(long)]
    pub absolute: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Stop after this many connections have closed (default: run until
    /// interrupted).
    #[arg(long, value_name = "N")]
    pub exit_after: Option<u32>,
    /// Read buffer per direction.
    #[arg(long, default_value_t = super::DEFAULT_BUFFER, value_name = "BYTES")]
    pub buffer: usize,
    /// Events the decoder may fall behind by before forwarded bytes go
    /// undecoded (reported as gaps); forwarding never waits for it.
    #[arg(long, default_value_t = super::DEFAULT_EVENT_CAPACITY, value_name = "EVENTS")]
    pub queue: usize,
}

impl ProxyArgs {
    /// The relay settings these arguments ask for.
    pub fn options(&self) -> RelayOptions {
        let mut o = RelayOptions::new(self.listen, self.upstream);
        o.write = self.write.clone();
        o.buffer = self.buffer;
        o.event_capacity = self.queue.max(1);
        o.max_connections = self.exit_after;
        o
    }
}

/// Runs `proxy` until interrupted (or `--exit-after`); frames go to `out`,
/// relay notices to `err`. Returns the exit code: 1 if findings (warnings
/// or errors) were reported, 0 otherwise.
pub fn proxy(
    args: &ProxyArgs,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(run(args.clone(), out, err, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}

/// The body of `proxy`, with an explicit `shutdown`.
pub async fn run(
    args: ProxyArgs,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u8> {
    let (relay, rx) = Relay::bind(args.options()).await?;
    serve(relay, rx, args, out, err, shutdown).await
}

/// Runs a bound relay (from `Relay::bind(args.options())`) and prints what
/// it forwards as `proxy` does, until `shutdown` or `--exit-after`.
pub async fn serve(
    relay: Relay,
    rx: mpsc::Receiver<RelayEvent>,
    args: ProxyArgs,
    out: Box<dyn Write + Send>,
    mut err: Box<dyn Write + Send>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u8> {
    let _ = writeln!(
        err,
        "yamuxctl: relaying {} → {}{}",
        relay.local_addr(),
        args.upstream,
        match &args.write {
            Some(p) => format!(", recording to {}", p.display()),
            None => String::new(),
        }
    );
    let _ = err.flush();
    let clock = relay.clock();
    let done = Arc::new(Notify::new());
    let consumer = {
        let args = args.clone();
        let done = done.clone();
        if args.quiet {
            // the events are not wanted: with the receiver gone the relay
            // does not produce them
            drop(rx);
            tokio::task::spawn_blocking(move || (0u8, LiveSummary::default(), err))
        } else {
            tokio::task::spawn_blocking(move || {
                let (code, s) = consume(&args, clock, rx, out, &mut err, &done);
                (code, s, err)
            })
        }
    };
    let quiet = args.quiet;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_signal = async move {
        tokio::select! {
            () = shutdown => {}
            _ = stop_rx => {}
            // output gone (a closed pipe)
            () = done.notified() => {}
        }
    };
    let r = relay.run(stop_signal).await;
    drop(stop_tx);
    let (code, summary, mut err) = consumer.await.context("decoder task")?;
    r?;
    if !quiet {
        let s = &summary;
        let _ = writeln!(
            err,
            "relay: {} connections ({} yamux, {} refused), {} frames, {} bytes → and {} bytes ←{}; findings: {} errors, {} warnings, {} info",
            s.connections,
            s.yamux_connections,
            s.refused,
            s.frames,
            s.bytes[0],
            s.bytes[1],
            if s.gap_bytes[0] + s.gap_bytes[1] > 0 {
                format!(
                    " ({} bytes forwarded while the decoder was behind, not decoded)",
                    s.gap_bytes[0] + s.gap_bytes[1]
                )
            } else {
                String::new()
            },
            s.findings[2],
            s.findings[1],
            s.findings[0]
        );
    }
    let _ = err.flush();
    Ok(code)
}

/// Reads events until the relay is done, printing as `decode` does.
fn consume(
    args: &ProxyArgs,
    clock: Clock,
    rx: mpsc::Receiver<RelayEvent>,
    out: Box<dyn Write + Send>,
    err: &mut Box<dyn Write + Send>,
    done: &Notify,
) -> (u8, LiveSummary) {
    let w = io::BufWriter::with_capacity(1 << 16, out);
    let dec = LiveDecoder::new(clock, Options::default(), args.force);
    let opts = PrintOptions {
        json: args.json,
        color: use_color(args.color),
        absolute: args.absolute,
        filter: Filter::default(),
    };
    let mut p = printer(w, opts);
    let summary = pump(dec, clock, rx, &mut *p, err, done);
    let error = p.take_error();
    let _ = p.flush();
    if let Some(e) = error {
        let _ = writeln!(err, "yamuxctl: writing output: {e}");
    }
    let code = u8::from(summary.findings[1] + summary.findings[2] > 0);
    (code, summary)
}

fn pump(
    mut dec: LiveDecoder,
    clock: Clock,
    mut rx: mpsc::Receiver<RelayEvent>,
    o: &mut dyn Printer,
    err: &mut Box<dyn Write + Send>,
    done: &Notify,
) -> LiveSummary {
    let mut broken = false;
    loop {
        let ev = match rx.try_recv() {
            Ok(ev) => ev,
            Err(mpsc::error::TryRecvError::Empty) => {
                // complete lines out while idle
                let _ = o.flush();
                let _ = err.flush();
                match rx.blocking_recv() {
                    Some(ev) => ev,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        if !broken {
            dec.event(&ev, o, err);
            if o.failed() {
                // output gone (a closed pipe): nothing more to show
                broken = true;
                done.notify_one();
            }
        }
    }
    let s = dec.finish(clock.now(), o, err);
    let _ = o.flush();
    s
}
