//! Printing what the relay forwards, as `decode` prints a capture: the
//! body of `yamuxctl proxy` once its relay is bound.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, Notify};

use super::{Recording, Relay, RelayEvent};
use crate::analysis::live::{LiveDecoder, LiveSummary};
use crate::analysis::Options;
use crate::clock::Clock;
use crate::print::{printer, PrintOptions, Printer};

/// What [`serve`] shows.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where the relay forwards (for the opening notice).
    pub upstream: SocketAddr,
    /// The pcapng being recorded, if any (for the opening notice).
    pub write: Option<Recording>,
    /// How frames are printed; `None`: forward (and record) only, no
    /// decoding or printing.
    pub print: Option<PrintOptions>,
    /// Decode every connection as yamux, without detection.
    pub force: bool,
    /// The frames go to the same stream as the notices (standard error,
    /// with `--write -`): they are written a line at a time, so that the
    /// two stay in order.
    pub interleaved: bool,
}

/// Runs a bound relay (from [`Relay::bind`]) and prints what
/// it forwards as `proxy` does, until `shutdown` or `--exit-after`.
pub async fn serve(
    relay: Relay,
    rx: mpsc::Receiver<RelayEvent>,
    opts: ServeOptions,
    out: Box<dyn Write + Send>,
    mut err: Box<dyn Write + Send>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u8> {
    let _ = writeln!(
        err,
        "yamuxctl: relaying {} → {}{}",
        relay.local_addr(),
        opts.upstream,
        match &opts.write {
            Some(to) => format!(", recording to {to}"),
            None => String::new(),
        }
    );
    let _ = err.flush();
    let clock = relay.clock();
    let done = Arc::new(Notify::new());
    let quiet = opts.print.is_none();
    let consumer = {
        let done = done.clone();
        match opts.print {
            None => {
                // the events are not wanted: with the receiver gone the relay
                // does not produce them
                drop(rx);
                tokio::task::spawn_blocking(move || (0u8, LiveSummary::default(), err))
            }
            Some(print) => {
                let (force, interleaved) = (opts.force, opts.interleaved);
                tokio::task::spawn_blocking(move || {
                    let (code, s) =
                        consume(print, force, interleaved, clock, rx, out, &mut err, &done);
                    (code, s, err)
                })
            }
        }
    };
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
#[allow(clippy::too_many_arguments)]
fn consume(
    print: PrintOptions,
    force: bool,
    interleaved: bool,
    clock: Clock,
    rx: mpsc::Receiver<RelayEvent>,
    out: Box<dyn Write + Send>,
    err: &mut Box<dyn Write + Send>,
    done: &Notify,
) -> (u8, LiveSummary) {
    let w: Box<dyn Write + Send> = if interleaved {
        Box::new(io::LineWriter::new(out))
    } else {
        Box::new(io::BufWriter::with_capacity(1 << 16, out))
    };
    let dec = LiveDecoder::new(clock, Options::default(), force);
    let mut p = printer(w, print);
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
