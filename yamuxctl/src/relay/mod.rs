//! A recording relay: accepts connections, dials the upstream for each and
//! forwards bytes both ways unchanged, publishing everything it forwards as
//! [`RelayEvent`]s (for the printers of `yamuxctl proxy`, the pcapng writer
//! and the live TUI).
//!
//! Forwarding comes first: each direction is a read → write loop with a
//! large buffer that never waits on a consumer. Events go over bounded
//! channels with `try_send`; when a consumer is behind, `Bytes` events are
//! dropped and replaced by one [`RelayEvent::Gap`] per direction once the
//! channel has room again (see `notes/RELAY_EVENTS.md`).
//!
//! End of stream on one side shuts down the write half of the other
//! (half-close); a read or write error on either side closes both sockets
//! with `SO_LINGER` 0, so a reset reaches the other peer as a reset.

mod port;
pub mod serve;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use yamux::tracker::Side;

use port::Port;

/// Default read buffer per direction.
pub const DEFAULT_BUFFER: usize = 256 * 1024;
/// Default capacity (events) of the channel returned by [`Relay::bind`].
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// Relay settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayOptions {
    /// Where to accept clients.
    pub listen: SocketAddr,
    /// Where to connect for each client.
    pub upstream: SocketAddr,
    /// Record everything forwarded to this pcapng file.
    pub write: Option<PathBuf>,
    /// Read buffer per direction (bytes).
    pub buffer: usize,
    /// Capacity of the event channel returned by [`Relay::bind`] (events).
    pub event_capacity: usize,
    /// Capacity of the pcapng writer's channel (events).
    pub write_capacity: usize,
    /// How long to wait for the upstream to accept a connection.
    pub connect_timeout: Duration,
    /// Accept this many connections, then stop once they are over.
    pub max_connections: Option<u32>,
}

impl RelayOptions {
    /// Options with defaults: no recording, 256 KiB buffers.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> RelayOptions {
        RelayOptions {
            listen,
            upstream,
            write: None,
            buffer: DEFAULT_BUFFER,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            write_capacity: 4 * DEFAULT_EVENT_CAPACITY,
            connect_timeout: Duration::from_secs(10),
            max_connections: None,
        }
    }
}

/// What the relay forwards, in order per connection.
#[derive(Clone, Debug)]
pub enum RelayEvent {
    /// A client connected and the upstream connection was established.
    Opened {
        /// Connection number, from 1 in order of acceptance.
        conn: u32,
        /// The client's address.
        client: SocketAddr,
        /// The upstream's address.
        server: SocketAddr,
        /// Time since the relay started.
        at: Duration,
    },
    /// Bytes forwarded in one direction, in order, exactly as forwarded.
    /// The client → server direction is [`Side::A`].
    Bytes {
        /// Connection.
        conn: u32,
        /// Sender.
        side: Side,
        /// Time since the relay started.
        at: Duration,
        /// The bytes.
        data: Bytes,
    },
    /// `len` forwarded bytes of one direction were not reported (the
    /// consumer was behind); pass them to `ByteDecoder::gap`.
    Gap {
        /// Connection.
        conn: u32,
        /// Sender.
        side: Side,
        /// Time of the last bytes not reported.
        at: Duration,
        /// How many bytes.
        len: u64,
    },
    /// One direction reached end of stream (half-close propagated).
    HalfClosed {
        /// Connection.
        conn: u32,
        /// The side that closed.
        side: Side,
        /// Time since the relay started.
        at: Duration,
    },
    /// The connection is over (both directions closed, or an error/reset).
    /// Also sent, without `Opened` before it, when the upstream could not be
    /// reached.
    Closed {
        /// Connection.
        conn: u32,
        /// Time since the relay started.
        at: Duration,
        /// `closed` after both FINs; otherwise what ended it.
        reason: String,
    },
}

impl RelayEvent {
    /// The connection the event is about.
    pub fn conn(&self) -> u32 {
        match self {
            RelayEvent::Opened { conn, .. }
            | RelayEvent::Bytes { conn, .. }
            | RelayEvent::Gap { conn, .. }
            | RelayEvent::HalfClosed { conn, .. }
            | RelayEvent::Closed { conn, .. } => *conn,
        }
    }
}

/// A bound relay.
pub struct Relay {
    opts: RelayOptions,
    listener: TcpListener,
    local: SocketAddr,
    clock: Clock,
    events: mpsc::Sender<RelayEvent>,
    writer: Option<WriterHandle>,
}

struct WriterHandle {
    tx: mpsc::Sender<RelayEvent>,
    thread: std::thread::JoinHandle<anyhow::Result<crate::capture::writer::WriterStats>>,
}

impl Relay {
    /// Binds the listener (and creates the pcapng file, if any); returns
    /// the relay and a receiver of everything it forwards. Dropping the
    /// receiver turns the events off.
    pub async fn bind(opts: RelayOptions) -> anyhow::Result<(Relay, mpsc::Receiver<RelayEvent>)> {
        let listener = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let local = listener.local_addr()?;
        let clock = Clock::new();
        let (tx, rx) = mpsc::channel(opts.event_capacity.max(1));
        let writer = match &opts.write {
            Some(path) => Some(spawn_writer(path, opts.write_capacity.max(1), clock)?),
            None => None,
        };
        Ok((
            Relay {
                opts,
                listener,
                local,
                clock,
                events: tx,
                writer,
            },
            rx,
        ))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The relay's clock (event times are relative to its start).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Accepts and relays connections until `shutdown` resolves (or
    /// forever). At shutdown, live connections are closed, their `Closed`
    /// events sent, and the pcapng file finished.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Relay {
            opts,
            listener,
            clock,
            events,
            writer,
            ..
        } = self;
        let opts = Arc::new(opts);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        let mut next: u32 = 0;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepting = opts.max_connections.is_none_or(|m| next < m);
            if !accepting && conns.is_empty() {
                break;
            }
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                r = listener.accept(), if accepting => match r {
                    Ok((client, peer)) => {
                        next = next.wrapping_add(1).max(1);
                        let mut sinks = vec![events.clone()];
                        if let Some(w) = &writer {
                            sinks.push(w.tx.clone());
                        }
                        let port = Arc::new(Mutex::new(Port::new(sinks)));
                        let opts = opts.clone();
                        let stop = stop_rx.clone();
                        conns.spawn(connection(next, client, peer, opts, clock, port, stop));
                    }
                    Err(e) => {
                        // out of descriptors and the like: wait a little
                        // rather than spin
                        eprintln!("yamuxctl: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        while conns.join_next().await.is_some() {}
        drop(events);
        if let Some(w) = writer {
            drop(w.tx);
            let stats = tokio::task::spawn_blocking(move || w.thread.join())
                .await
                .context("pcapng writer task")?
                .map_err(|_| anyhow::anyhow!("pcapng writer panicked"))??;
            if stats.gap_bytes > 0 {
                eprintln!(
                    "yamuxctl: the pcapng writer fell behind: {} bytes were forwarded but not recorded (shown as gaps)",
                    stats.gap_bytes
                );
            }
        }
        Ok(())
    }
}

fn spawn_writer(
    path: &std::path::Path,
    capacity: usize,
    clock: Clock,
) -> anyhow::Result<WriterHandle> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let w =
        crate::capture::writer::TcpPcapngWriter::new(io::BufWriter::with_capacity(1 << 20, file))
            .with_context(|| format!("cannot write {}", path.display()))?;
    let (tx, mut rx) = mpsc::channel::<RelayEvent>(capacity);
    let path = path.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("pcapng-writer".into())
        .spawn(move || {
            let mut w = w;
            while let Some(ev) = rx.blocking_recv() {
                record(&mut w, &clock, &ev)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            w.finish(clock.wall(clock.now()))
                .with_context(|| format!("writing {}", path.display()))
        })
        .context("cannot start the pcapng writer")?;
    Ok(WriterHandle { tx, thread })
}

/// Applies one relay event to a pcapng writer.
pub fn record<W: io::Write>(
    w: &mut crate::capture::writer::TcpPcapngWriter<W>,
    clock: &Clock,
    ev: &RelayEvent,
) -> io::Result<()> {
    match ev {
        RelayEvent::Opened {
            conn,
            client,
            server,
            at,
        } => w.open(*conn, *client, *server, clock.wall(*at)),
        RelayEvent::Bytes {
            conn,
            side,
            at,
            data,
        } => w.data(*conn, *side, clock.wall(*at), data),
        RelayEvent::Gap {
            conn,
            side,
            at,
            len,
        } => w.gap(*conn, *side, clock.wall(*at), *len),
        RelayEvent::HalfClosed { conn, side, at } => w.fin(*conn, *side, clock.wall(*at)),
        RelayEvent::Closed { conn, at, .. } => w.close(*conn, clock.wall(*at)),
    }
}

/// How one direction ended.
enum DirEnd {
    /// End of stream read and passed on.
    Eof,
    /// A read or write error.
    Error(String),
}

async fn connection(
    conn: u32,
    client: TcpStream,
    peer: SocketAddr,
    opts: Arc<RelayOptions>,
    clock: Clock,
    port: Arc<Mutex<Port>>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let upstream =
        match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(opts.upstream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                refuse(client);
                let reason = format!("upstream {} unreachable: {e}", opts.upstream);
                port::finish(&port, closed(conn, clock.now(), reason)).await;
                return;
            }
            Err(_) => {
                refuse(client);
                let reason = format!(
                    "upstream {} did not accept within {:?}",
                    opts.upstream, opts.connect_timeout
                );
                port::finish(&port, closed(conn, clock.now(), reason)).await;
                return;
            }
        };
    let _ = upstream.set_nodelay(true);
    let server = upstream.peer_addr().unwrap_or(opts.upstream);
    lock(&port).emit(RelayEvent::Opened {
        conn,
        client: peer,
        server,
        at: clock.now(),
    });
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let buffer = opts.buffer.max(4096);
    let (reason, reset) = {
        let a = forward(conn, Side::A, &mut cr, &mut uw, buffer, clock, &port);
        let b = forward(conn, Side::B, &mut ur, &mut cw, buffer, clock, &port);
        let mut a = std::pin::pin!(a);
        let mut b = std::pin::pin!(b);
        let (mut a_done, mut b_done) = (false, false);
        loop {
            tokio::select! {
                end = &mut a, if !a_done => match end {
                    DirEnd::Eof => a_done = true,
                    // the client reset (or the upstream refused our
                    // writes): reset both
                    DirEnd::Error(e) => break (format!("reset while forwarding client → server: {e}"), true),
                },
                end = &mut b, if !b_done => match end {
                    DirEnd::Eof => b_done = true,
                    DirEnd::Error(e) => break (format!("reset while forwarding server → client: {e}"), true),
                },
                _ = stop.wait_for(|s| *s) => break ("relay shut down".to_string(), false),
            }
            if a_done && b_done {
                break ("closed".to_string(), false);
            }
        }
    };
    if reset {
        // close both with a reset, and no FIN before it
        let _ = cr.as_ref().set_zero_linger();
        let _ = ur.as_ref().set_zero_linger();
        cw.forget();
        uw.forget();
    }
    drop((cr, ur));
    port::finish(&port, closed(conn, clock.now(), reason)).await;
}

fn closed(conn: u32, at: Duration, reason: String) -> RelayEvent {
    RelayEvent::Closed { conn, at, reason }
}

fn lock(port: &Mutex<Port>) -> std::sync::MutexGuard<'_, Port> {
    port.lock().unwrap_or_else(|p| p.into_inner())
}

/// Closes a client we cannot serve with a reset.
fn refuse(client: TcpStream) {
    let _ = client.set_zero_linger();
    drop(client);
}

/// One direction: read, write, publish, until end of stream or an error.
async fn forward(
    conn: u32,
    side: Side,
    r: &mut OwnedReadHalf,
    w: &mut OwnedWriteHalf,
    buffer: usize,
    clock: Clock,
    port: &Mutex<Port>,
) -> DirEnd {
    let mut buf = BytesMut::with_capacity(buffer);
    loop {
        if buf.capacity() < buffer / 2 {
            buf.reserve(buffer);
        }
        let n = match r.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) => return DirEnd::Error(e.to_string()),
        };
        if n == 0 {
            let end = match w.shutdown().await {
                Ok(()) => DirEnd::Eof,
                // the other peer is gone already; its own direction will
                // report it (or has)
                Err(e) if e.kind() == io::ErrorKind::NotConnected => DirEnd::Eof,
                Err(e) => DirEnd::Error(e.to_string()),
            };
            lock(port).emit(RelayEvent::HalfClosed {
                conn,
                side,
                at: clock.now(),
            });
            return end;
        }
        let chunk: Bytes = buf.split().freeze();
        if let Err(e) = w.write_all(&chunk).await {
            // not (fully) forwarded: not reported either
            return DirEnd::Error(e.to_string());
        }
        let mut p = lock(port);
        if p.wants_bytes() {
            p.emit(RelayEvent::Bytes {
                conn,
                side,
                at: clock.now(),
                data: chunk,
            });
        }
    }
}
