//! Conformance adapter for rust-yamux (crates.io `yamux` 0.14.1).
//!
//! One task owns the `yamux::Connection` and keeps polling it: it answers
//! open / close requests from the command loop and hands every inbound
//! stream that `poll_next_inbound` yields to the shared command loop
//! (`adapter_common`), which does the application side.

use adapter_common::{
    ready, spawn_polled, BoxFut, Driver, End, EndCtx, MuxStream, Outcome, PolledSession, Reply,
    Requests, Role, SessionEvents,
};
use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

type Conn = yamux::Connection<Compat<TcpStream>>;

/// A rust-yamux stream seen through tokio's I/O traits.
struct RsStream(Compat<yamux::Stream>);

impl RsStream {
    fn new(s: yamux::Stream) -> Self {
        RsStream(s.compat())
    }
}

impl MuxStream for RsStream {
    type Io = Compat<yamux::Stream>;

    /// futures-io `poll_close` on a yamux stream (tokio's `poll_shutdown`
    /// through `compat`) sends FIN.
    fn io(&mut self) -> &mut Self::Io {
        &mut self.0
    }

    fn id(&self) -> u32 {
        self.0.get_ref().id().val()
    }

    /// rust-yamux answers a read with `Ok(0)` both after the peer's FIN and
    /// after a reset (and after the connection died). The public state tells
    /// them apart only partly: `is_closed()` is false after a FIN alone (the
    /// stream is half-closed) and true after a reset, or after a FIN once we
    /// have sent our own FIN too.
    fn read_end(&self, ctx: EndCtx) -> End {
        let s = self.0.get_ref();
        if !s.is_closed() {
            End::Eof
        } else if !ctx.session_alive {
            if ctx.fin_sent {
                End::Eof
            } else {
                End::Error("end of stream after the connection closed".into())
            }
        } else if ctx.fin_sent {
            // FIN or RST: indistinguishable through the API once we sent FIN.
            End::Eof
        } else {
            End::Reset
        }
    }

    /// Writes fail with `WriteZero` ("connection is closed") whenever the
    /// stream cannot write: reset by the peer, closed by us, or the
    /// connection is gone.
    fn classify_error(&self, err: &io::Error, ctx: EndCtx) -> End {
        let s = self.0.get_ref();
        if ctx.session_alive && s.is_closed() && !ctx.fin_sent {
            End::Reset
        } else {
            End::Error(err.to_string())
        }
    }

    // reset: the default, dropping the handle. rust-yamux sends RST for a
    // stream dropped before `poll_close` (and FIN if the peer had already
    // half-closed it).
}

enum Req {
    Open(Reply<yamux::Stream>),
    Close(Reply<()>),
}

/// Why `open` and `session-close` fail once the connection is over.
const OPEN_GONE: &str = "the connection is closed";
const CLOSE_GONE: &str = "the connection is already closed";

struct RsDriver(Requests<Req>);

impl Driver for RsDriver {
    type Stream = RsStream;

    // rust-yamux has no accept queue: `poll_next_inbound` both yields new
    // streams and drives all I/O, so the connection task always takes the
    // stream; with `no-accept` the command loop holds it untouched (see README).
    const NO_ACCEPT_UNSUPPORTED: Option<&'static str> = None;

    fn open(&self) -> BoxFut<Result<RsStream, String>> {
        let opened = self.0.call(Req::Open, OPEN_GONE);
        Box::pin(async move { opened.await.map(RsStream::new) })
    }

    fn ping(&self) -> BoxFut<Outcome<f64>> {
        ready(Outcome::Unsupported(
            "rust-yamux has no ping API; it sends its own pings (RTT measurement, every 10 s)"
                .into(),
        ))
    }

    fn goaway(&self, _code: u32) -> BoxFut<Outcome<()>> {
        ready(Outcome::Unsupported(
            "rust-yamux has no API to send Go Away without closing; Connection::poll_close \
             sends it (code 0) while closing (use session-close)"
                .into(),
        ))
    }

    fn session_close(&self) -> BoxFut<Outcome<()>> {
        self.0.outcome(Req::Close, CLOSE_GONE)
    }
}

/// The connection, owned by the task that keeps polling it: `open` requests
/// wait for `poll_new_outbound`, `session-close` ones for `poll_close`.
/// Dropped when it is over; what still waits is then answered with the
/// `*_GONE` errors.
struct RsSession {
    conn: Conn,
    opens: VecDeque<Reply<yamux::Stream>>,
    closers: Vec<Reply<()>>,
}

impl PolledSession for RsSession {
    type Driver = RsDriver;
    type Req = Req;

    fn request(&mut self, req: Req, _cx: &mut Context<'_>) {
        match req {
            Req::Open(t) => self.opens.push_back(t),
            Req::Close(t) => self.closers.push(t),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>, events: &SessionEvents<RsDriver>) -> Poll<String> {
        if !self.closers.is_empty() {
            return match self.conn.poll_close(cx) {
                Poll::Ready(r) => {
                    let r = r.map_err(|e| e.to_string());
                    for t in self.closers.drain(..) {
                        let _ = t.send(r.clone());
                    }
                    Poll::Ready("closed locally (session-close)".to_string())
                }
                Poll::Pending => Poll::Pending,
            };
        }
        while !self.opens.is_empty() {
            match self.conn.poll_new_outbound(cx) {
                Poll::Ready(r) => {
                    if let Some(t) = self.opens.pop_front() {
                        let _ = t.send(r.map_err(|e| e.to_string()));
                    }
                }
                Poll::Pending => break,
            }
        }
        loop {
            match self.conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(s))) => events.inbound(RsStream::new(s)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(format!("connection error: {e}")),
                Poll::Ready(None) => return Poll::Ready("connection closed".to_string()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn main() {
    adapter_common::run(|role, tcp, events| {
        if std::env::var_os("YAMUX_WINDOW").is_some() {
            eprintln!("adapter: YAMUX_WINDOW ignored: rust-yamux has no per-stream window setting (it auto-tunes from 256 KiB)");
        }
        if std::env::var_os("YAMUX_KEEPALIVE").is_some() {
            eprintln!("adapter: YAMUX_KEEPALIVE ignored: rust-yamux has no keep-alive setting");
        }
        let mode = match role {
            Role::Server => yamux::Mode::Server,
            Role::Client => yamux::Mode::Client,
        };
        let mut cfg = yamux::Config::default();
        // Benchmarks (`yamuxctl bench`, idle streams) raise the stream limit.
        if let Some(n) = adapter_common::env_max_streams() {
            cfg.set_max_connection_receive_window(None);
            cfg.set_max_num_streams(n);
        }
        let session = RsSession {
            conn: yamux::Connection::new(tcp.compat(), cfg, mode),
            opens: VecDeque::new(),
            closers: Vec::new(),
        };
        RsDriver(spawn_polled(session, events))
    })
}
