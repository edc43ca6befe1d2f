//! Conformance adapter for tokio-yamux (crates.io `tokio-yamux` 0.3.20,
//! nervosnetwork/tentacle).
//!
//! One task owns the `tokio_yamux::Session` and keeps polling it as a
//! `Stream` of inbound stream handles (that poll also drives all I/O); it
//! serves open / goaway / session-close requests from the command loop with
//! the session's own methods. The application side is `adapter_common`.

use adapter_common::{
    env_keepalive, env_window, ready, spawn_polled, BoxFut, Driver, End, EndCtx, MuxStream,
    Outcome, PolledSession, Reply, Requests, Role, SessionEvents,
};
use futures::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_yamux::stream::StreamState;
use tokio_yamux::{Config, Session, StreamHandle};

/// A stream handle; `waiting` remembers whether the last write had to wait
/// for send credit, so that waiting and resuming are logged once each.
struct TyStream {
    handle: StreamHandle,
    waiting: bool,
}

impl TyStream {
    fn new(handle: StreamHandle) -> Self {
        TyStream {
            handle,
            waiting: false,
        }
    }
}

impl MuxStream for TyStream {
    type Io = StreamHandle;

    /// Flushes and half-closes go to the handle: `StreamHandle::poll_shutdown`
    /// sends `WindowUpdate|FIN`.
    fn io(&mut self) -> &mut StreamHandle {
        &mut self.handle
    }

    fn id(&self) -> u32 {
        self.handle.id()
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.handle).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() == before && buf.remaining() > 0 {
            // End of stream: log the send side too, to diagnose stalled echoes.
            eprintln!(
                "adapter: stream {}: read EOF (state {:?}, send window {}, a write waiting: {})",
                self.handle.id(),
                self.handle.state(),
                self.handle.send_window(),
                self.waiting
            );
        }
        r
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.handle).poll_write(cx, buf);
        // stderr diagnostics for flow-control stalls (the runner keeps them).
        match (&r, self.waiting) {
            (Poll::Pending, false) => {
                self.waiting = true;
                eprintln!(
                    "adapter: stream {}: write waits for credit (state {:?}, send window {})",
                    self.handle.id(),
                    self.handle.state(),
                    self.handle.send_window()
                );
            }
            (Poll::Ready(_), true) => {
                self.waiting = false;
                eprintln!(
                    "adapter: stream {}: write resumed (state {:?}, send window {})",
                    self.handle.id(),
                    self.handle.state(),
                    self.handle.send_window()
                );
            }
            _ => {}
        }
        r
    }

    /// tokio-yamux reports a reset as a `ConnectionReset` error, so `Ok(0)`
    /// is the peer's FIN (or the session going away, which closes the frame
    /// channel of every stream the same way).
    fn read_end(&self, _ctx: EndCtx) -> End {
        End::Eof
    }

    fn classify_error(&self, err: &io::Error, _ctx: EndCtx) -> End {
        if err.kind() == io::ErrorKind::ConnectionReset || self.handle.state() == StreamState::Reset
        {
            End::Reset
        } else {
            End::Error(err.to_string())
        }
    }

    /// Dropping the handle is tokio-yamux's reset: it sends `WindowUpdate|RST`
    /// unless the stream is already reset, closed, or half-closed by us.
    fn reset(self) -> Result<(), String> {
        let state = self.handle.state();
        drop(self);
        if state == StreamState::LocalClosing {
            adapter_common::log(
                "tokio-yamux sends no RST when a stream is dropped after its own FIN (state LocalClosing)",
            );
        }
        Ok(())
    }
}

enum Req {
    Open(Reply<StreamHandle>),
    GoAway(Reply<()>),
    Close(Reply<()>),
}

/// Why every request fails once the session is over.
const GONE: &str = "the session is over";

struct TyDriver(Requests<Req>);

impl Driver for TyDriver {
    type Stream = TyStream;

    const NO_ACCEPT_UNSUPPORTED: Option<&'static str> = Some(
        "tokio-yamux ACKs an inbound stream (WindowUpdate|ACK) as soon as it reads the SYN and \
         hands it out from the same Session poll that drives all I/O; an application cannot \
         leave it un-accepted without stopping the whole session",
    );

    fn open(&self) -> BoxFut<Result<TyStream, String>> {
        let opened = self.0.call(Req::Open, GONE);
        Box::pin(async move { opened.await.map(TyStream::new) })
    }

    fn ping(&self) -> BoxFut<Outcome<f64>> {
        ready(Outcome::Unsupported(
            "tokio-yamux has no public ping API; it pings only as keep-alive (every 30 s by default)"
                .into(),
        ))
    }

    fn goaway(&self, code: u32) -> BoxFut<Outcome<()>> {
        if code != 0 {
            return ready(Outcome::Unsupported(format!(
                "tokio-yamux's public Session::send_go_away sends code 0 only (asked for {code})"
            )));
        }
        self.0.outcome(Req::GoAway, GONE)
    }

    fn session_close(&self) -> BoxFut<Outcome<()>> {
        self.0.outcome(Req::Close, GONE)
    }
}

/// The session, owned by the task that keeps polling it as a `Stream` of
/// inbound handles; it answers every request at once with its own methods.
struct TySession(Session<TcpStream>);

impl PolledSession for TySession {
    type Driver = TyDriver;
    type Req = Req;

    fn request(&mut self, req: Req, cx: &mut Context<'_>) {
        let session = &mut self.0;
        match req {
            Req::Open(t) => {
                let _ = t.send(session.open_stream().map_err(|e| e.to_string()));
            }
            Req::GoAway(t) => {
                let _ = t.send(session.send_go_away(cx).map_err(|e| e.to_string()));
            }
            Req::Close(t) => {
                let _ = t.send(session.shutdown(cx).map_err(|e| e.to_string()));
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>, events: &SessionEvents<TyDriver>) -> Poll<String> {
        loop {
            match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(h))) => events.inbound(TyStream::new(h)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(format!("session error: {e}")),
                Poll::Ready(None) => return Poll::Ready("session ended".to_string()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn config() -> Config {
    let mut cfg = Config::default();
    if let Some(w) = env_window() {
        if w >= cfg.max_stream_window_size {
            cfg.max_stream_window_size = w;
        } else {
            eprintln!(
                "adapter: YAMUX_WINDOW={w} ignored: tokio-yamux needs at least {}",
                cfg.max_stream_window_size
            );
        }
    }
    if let Some(on) = env_keepalive() {
        cfg.enable_keepalive = on;
    }
    // Benchmarks (`yamuxctl bench`, idle streams) raise the stream limit.
    if let Some(n) = adapter_common::env_max_streams() {
        cfg.max_stream_count = n;
    }
    cfg
}

fn main() {
    adapter_common::run(|role, tcp, events| {
        let cfg = config();
        let session = match role {
            Role::Server => Session::new_server(tcp, cfg),
            Role::Client => Session::new_client(tcp, cfg),
        };
        TyDriver(spawn_polled(TySession(session), events))
    })
}
