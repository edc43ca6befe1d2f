//! The implementation-independent part of the Rust conformance adapters
//! (docs/adapters.md): argument parsing, the NDJSON command loop, and the
//! per-stream bookkeeping of echo mode (accept, read, echo, half-close).
//!
//! An adapter supplies a [`Driver`] (open / ping / goaway / session-close
//! through the implementation's API) and a [`MuxStream`] (the
//! implementation's stream with tokio I/O traits, and how it tells FIN from
//! reset), and calls [`run`].

mod args;
pub mod bench;
mod core;
mod polled;
mod proto;
mod stream;

pub use args::{parse_args, Args, ArgsError, Role};
pub use polled::{spawn_polled, PolledSession, Reply, Requests};
pub use proto::{
    emit, hex_decode, hex_encode, parse_line, pattern, unsupported, BadRequest, Command, Request,
};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// A boxed future, as returned by [`Driver`] methods.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Result of a command the implementation may not support.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Ok(T),
    /// The implementation refused or failed.
    Err(String),
    /// The implementation's API cannot do this; the text says why.
    Unsupported(String),
}

impl<T> From<Result<T, String>> for Outcome<T> {
    fn from(r: Result<T, String>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

/// A [`BoxFut`] that is ready at once with `v` (an answer known without
/// asking the implementation, e.g. `Outcome::Unsupported`).
pub fn ready<T: Send + 'static>(v: T) -> BoxFut<T> {
    Box::pin(std::future::ready(v))
}

/// How a stream's read side ended, or why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The peer's FIN.
    Eof,
    /// The stream was reset.
    Reset,
    /// Anything else.
    Error(String),
}

/// What the adapter knows when it asks a stream to classify an ending.
#[derive(Debug, Clone, Copy)]
pub struct EndCtx {
    /// The adapter has half-closed this stream's write side.
    pub fin_sent: bool,
    /// The session has not ended yet.
    pub session_alive: bool,
}

/// A stream handle of the implementation under test, as the command loop
/// uses it. Usually a newtype around the implementation's stream (the orphan
/// rule), which only has to say what is specific to it: the wire id, how a
/// read's end and an I/O error are told apart, and how it is reset. Reads,
/// writes, flushes and half-closes go to [`MuxStream::io`].
pub trait MuxStream: Unpin + Send + Sized + 'static {
    /// The implementation's stream with tokio's I/O traits.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The stream every read and write goes to.
    fn io(&mut self) -> &mut Self::Io;
    /// The wire stream id.
    fn id(&self) -> u32;
    /// A read returned 0 bytes: FIN, reset, or something else?
    fn read_end(&self, ctx: EndCtx) -> End;
    /// A read or write failed with `err`: was the stream reset?
    fn classify_error(&self, err: &io::Error, ctx: EndCtx) -> End;
    /// Resets the stream (the `reset` command). The default drops the handle,
    /// which is how both Rust implementations reset.
    fn reset(self) -> Result<(), String> {
        drop(self);
        Ok(())
    }
    /// One read of [`MuxStream::io`]; an adapter overrides it to watch its
    /// implementation's reads (diagnostics on stderr).
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_read(cx, buf)
    }
    /// One write of [`MuxStream::io`]; overridden like `poll_read`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.io()).poll_write(cx, buf)
    }
}

/// Session-level operations through the implementation's API. Each method
/// must hand its request to the implementation before it returns (so that
/// requests keep the order of the commands) and return a future for the answer.
pub trait Driver: Send + Sync + 'static {
    type Stream: MuxStream;
    /// `Some(reason)` when `no-accept` is unsupported.
    const NO_ACCEPT_UNSUPPORTED: Option<&'static str>;
    fn open(&self) -> BoxFut<Result<Self::Stream, String>>;
    fn ping(&self) -> BoxFut<Outcome<f64>>;
    fn goaway(&self, code: u32) -> BoxFut<Outcome<()>>;
    fn session_close(&self) -> BoxFut<Outcome<()>>;
    /// `reset-code` with `code`: `Ok(())` when the implementation's plain
    /// reset sends exactly that (the command then works as `reset`),
    /// `Err(reason)` for an `unsupported` reply. The default: no API for
    /// error codes at all.
    fn reset_code(code: u64) -> Result<(), String> {
        Err(format!(
            "no API to reset a stream with an error code (asked for code {code})"
        ))
    }
}

/// Given to the implementation-specific session task: where inbound streams
/// and the end of the session are reported.
pub struct SessionEvents<D: Driver> {
    tx: mpsc::UnboundedSender<core::Msg<D>>,
    alive: Arc<AtomicBool>,
    accepting: watch::Receiver<bool>,
}

impl<D: Driver> Clone for SessionEvents<D> {
    fn clone(&self) -> Self {
        SessionEvents {
            tx: self.tx.clone(),
            alive: self.alive.clone(),
            accepting: self.accepting.clone(),
        }
    }
}

impl<D: Driver> SessionEvents<D> {
    /// Whether the application accepts inbound streams now (`accept` /
    /// `no-accept`; always true for the extra sessions of
    /// `accept-sessions`). An implementation whose API lets inbound streams
    /// wait inside it (its accept backlog) can stop taking them while this
    /// is false; otherwise the command loop keeps them in its own queue.
    pub fn accepting(&self) -> watch::Receiver<bool> {
        self.accepting.clone()
    }

    /// The implementation yielded an inbound stream.
    pub fn inbound(&self, stream: D::Stream) {
        let _ = self.tx.send(core::Msg::Inbound(stream));
    }

    /// The session is over. Only the first call counts.
    pub fn closed(&self, reason: impl Into<String>) {
        if self.alive.swap(false, Ordering::SeqCst) {
            let _ = self.tx.send(core::Msg::Closed(reason.into()));
        }
    }
}

/// `YAMUX_WINDOW`, when set to a number.
pub fn env_window() -> Option<u32> {
    std::env::var("YAMUX_WINDOW").ok()?.trim().parse().ok()
}

/// `YAMUX_KEEPALIVE`: `Some(false)` for `0`, `Some(true)` for anything else set.
pub fn env_keepalive() -> Option<bool> {
    std::env::var("YAMUX_KEEPALIVE")
        .ok()
        .map(|v| v.trim() != "0")
}

/// `YAMUX_MAX_STREAMS`, when set to a number (benchmarks hold many idle streams).
pub fn env_max_streams() -> Option<usize> {
    std::env::var("YAMUX_MAX_STREAMS").ok()?.trim().parse().ok()
}

/// Writes a `log` event.
pub fn log(message: impl Into<String>) {
    emit(proto::log(message));
}

/// The crash contract (docs/adapters.md, "Crashes"): a panic anywhere — in
/// the implementation's tasks too, which tokio would otherwise catch and
/// drop with the task — prints Rust's `panicked at` message and ends the
/// process with code 101, so the runner reports a crash instead of a
/// session that merely went quiet.
pub fn crash_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::exit(101);
    }));
}

/// The whole adapter: parses the arguments (exit 89 for an unknown role or
/// option), sets up TCP, calls `start` to create the session (it must spawn
/// the task that drives the session and return the driver), then runs the
/// command loop until stdin ends, and exits 0.
///
/// In the server role `start` is called again for every extra session of
/// `accept-sessions`, so that those are created exactly as the first one.
pub fn run<D, F>(start: F) -> !
where
    D: Driver,
    F: Fn(Role, TcpStream, SessionEvents<D>) -> D + Send + 'static,
{
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(ArgsError::Unsupported(m)) => {
            eprintln!("adapter: {m}");
            std::process::exit(89);
        }
        Err(ArgsError::Usage(m)) => {
            eprintln!("adapter: {m}; usage: run --role server|client --addr HOST:PORT");
            std::process::exit(2);
        }
    };
    std::process::exit(run_with(args, start))
}

/// [`run`] with the arguments already parsed, for an adapter that is one
/// subcommand of a bigger program (the reference adapter is `yamuxctl
/// adapter-reference`): installs [`crash_on_panic`], runs the command loop on
/// a current-thread runtime until stdin ends, and returns the exit code.
pub fn run_with<D, F>(args: Args, start: F) -> i32
where
    D: Driver,
    F: Fn(Role, TcpStream, SessionEvents<D>) -> D + Send + 'static,
{
    crash_on_panic();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adapter: cannot start the tokio runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(core::main(args, start));
    // Nothing should be left but tasks of the session; do not wait for them.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}
