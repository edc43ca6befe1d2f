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
//!
//! The pcapng recording ([`Recording`]) is written by its own thread, in
//! whole blocks: whatever it has is handed to the file (or standard output)
//! whenever it has caught up with the relay, at each connection's close, and
//! at least every [`FLUSH_INTERVAL`] while it is busy, so the file can be
//! read while the relay runs and survives the process being killed.

mod port;
pub mod serve;

use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
/// Longest time recorded packets stay in memory while the pcapng writer is
/// busy; when it has caught up with the relay it writes at once.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Bytes of whole blocks the pcapng writer holds before writing them out,
/// however recent.
const FLUSH_BYTES: usize = 1 << 20;

/// Where the relay records what it forwards, as pcapng.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recording {
    /// A file, created (or emptied) when the relay binds.
    File(PathBuf),
    /// The process's standard output (`--write -`); nothing else may write
    /// there.
    Stdout,
}

impl Recording {
    /// The recording a command-line path asks for: `-` is standard output.
    pub fn from_arg(path: &Path) -> Recording {
        if path.as_os_str() == "-" {
            Recording::Stdout
        } else {
            Recording::File(path.to_path_buf())
        }
    }
}

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recording::File(p) => write!(f, "{}", p.display()),
            Recording::Stdout => f.write_str("standard output"),
        }
    }
}

/// Relay settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayOptions {
    /// Where to accept clients.
    pub listen: SocketAddr,
    /// Where to connect for each client.
    pub upstream: SocketAddr,
    /// Record everything forwarded as pcapng.
    pub write: Option<Recording>,
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
            Some(to) => Some(spawn_writer(to, opts.write_capacity.max(1), clock)?),
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

fn spawn_writer(to: &Recording, capacity: usize, clock: Clock) -> anyhow::Result<WriterHandle> {
    let out: Box<dyn Write + Send> = match to {
        Recording::File(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        Recording::Stdout => Box::new(io::stdout()),
    };
    let mut out = BlockOut::new(out).with_context(|| format!("cannot write {to}"))?;
    let (tx, rx) = mpsc::channel::<RelayEvent>(capacity);
    let to = to.clone();
    let thread = std::thread::Builder::new()
        .name("pcapng-writer".into())
        .spawn(move || {
            let r = write_all_events(&mut out, rx, &clock).with_context(|| format!("writing {to}"));
            if let Err(e) = &r {
                eprintln!("yamuxctl: the recording stopped: {e:#} (relaying goes on)");
            }
            r
        })
        .context("cannot start the pcapng writer")?;
    Ok(WriterHandle { tx, thread })
}

/// The pcapng writer's loop: records every event, writes out what it has
/// whenever the channel is empty, at each connection's close, every
/// [`FLUSH_INTERVAL`] and every [`FLUSH_BYTES`]; at the end resets the
/// connections still open.
fn write_all_events<W: Write>(
    out: &mut BlockOut<W>,
    mut rx: mpsc::Receiver<RelayEvent>,
    clock: &Clock,
) -> io::Result<crate::capture::writer::WriterStats> {
    out.flush()?;
    loop {
        let ev = match rx.try_recv() {
            Ok(ev) => ev,
            Err(mpsc::error::TryRecvError::Empty) => {
                // caught up: hand everything on before waiting
                out.flush()?;
                match rx.blocking_recv() {
                    Some(ev) => ev,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        record(&mut out.w, clock, &ev)?;
        if matches!(ev, RelayEvent::Closed { .. }) || out.due() {
            out.flush()?;
        }
    }
    out.w.close_all(clock.wall(clock.now()))?;
    out.flush()?;
    Ok(out.w.stats())
}

/// A pcapng writer over a memory buffer that is handed to `out` in whole
/// blocks only.
struct BlockOut<W: Write> {
    w: crate::capture::writer::TcpPcapngWriter<Vec<u8>>,
    out: W,
    last: Instant,
}

impl<W: Write> BlockOut<W> {
    fn new(out: W) -> io::Result<BlockOut<W>> {
        Ok(BlockOut {
            w: crate::capture::writer::TcpPcapngWriter::new(Vec::with_capacity(
                FLUSH_BYTES + (1 << 16),
            ))?,
            out,
            last: Instant::now(),
        })
    }

    /// Whether what is held must be written out now.
    fn due(&mut self) -> bool {
        let held = self.w.get_mut().len();
        held >= FLUSH_BYTES || (held > 0 && self.last.elapsed() >= FLUSH_INTERVAL)
    }

    /// Writes out every whole block held.
    fn flush(&mut self) -> io::Result<()> {
        let buf = self.w.get_mut();
        if !buf.is_empty() {
            self.out.write_all(buf)?;
            buf.clear();
            self.out.flush()?;
        }
        self.last = Instant::now();
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;
    use std::sync::mpsc as std_mpsc;

    /// A file stand-in: keeps every byte, and reports each flush with the
    /// length written so far.
    #[derive(Clone)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        flushed: std_mpsc::Sender<usize>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            let n = self.bytes.lock().unwrap().len();
            let _ = self.flushed.send(n);
            Ok(())
        }
    }

    /// Packets in `bytes`, which must decode to the end without an error.
    fn whole_packets(bytes: &[u8]) -> u64 {
        let mut r = CaptureReader::new(bytes).expect("a capture");
        let mut n = 0;
        while let Some(p) = r.next_packet() {
            p.expect("whole blocks only");
            n += 1;
        }
        n
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn opened(conn: u32) -> RelayEvent {
        RelayEvent::Opened {
            conn,
            client: addr(40000 + conn as u16),
            server: addr(7777),
            at: Duration::from_millis(u64::from(conn)),
        }
    }

    fn bytes(conn: u32, side: Side, data: &'static [u8]) -> RelayEvent {
        RelayEvent::Bytes {
            conn,
            side,
            at: Duration::from_millis(5),
            data: Bytes::from_static(data),
        }
    }

    fn sink() -> (Sink, std_mpsc::Receiver<usize>) {
        let (tx, rx) = std_mpsc::channel();
        (
            Sink {
                bytes: Arc::new(Mutex::new(Vec::new())),
                flushed: tx,
            },
            rx,
        )
    }

    #[test]
    fn flushes_at_the_start_at_each_close_and_at_the_end_in_whole_blocks() {
        let (s, flushes) = sink();
        let mut out = BlockOut::new(s.clone()).unwrap();
        let (tx, rx) = mpsc::channel(64);
        // all queued before the writer runs: only the start, the close and
        // the end make it write
        for ev in [
            opened(1),
            bytes(1, Side::A, b"hello"),
            bytes(1, Side::B, b"hello"),
            RelayEvent::Closed {
                conn: 1,
                at: Duration::from_millis(9),
                reason: "closed".into(),
            },
            opened(2),
            bytes(2, Side::A, b"still open"),
        ] {
            tx.try_send(ev).unwrap();
        }
        drop(tx);
        let stats = write_all_events(&mut out, rx, &Clock::new()).unwrap();
        let cuts: Vec<usize> = flushes.try_iter().collect();
        assert_eq!(cuts.len(), 3, "{cuts:?}");
        let all = s.bytes.lock().unwrap().clone();
        let counts: Vec<u64> = cuts.iter().map(|&c| whole_packets(&all[..c])).collect();
        // nothing; handshake, 2 data, RST; then handshake, data and the
        // RST of the connection still open at the end
        assert_eq!(counts, [0, 6, 11]);
        assert_eq!(*cuts.last().unwrap(), all.len());
        assert_eq!(stats.packets, 11);
    }

    #[test]
    fn writes_as_soon_as_it_has_caught_up() {
        let (s, flushes) = sink();
        let mut out = BlockOut::new(s.clone()).unwrap();
        let (tx, rx) = mpsc::channel(64);
        let writer =
            std::thread::spawn(move || write_all_events(&mut out, rx, &Clock::new()).unwrap());
        // packets in the file as of the next flush (the lock is taken only
        // once the writer has flushed)
        let packets_at_next_flush = || {
            let n = flushes
                .recv_timeout(Duration::from_secs(60))
                .expect("the writer flushes");
            let all = s.bytes.lock().unwrap().clone();
            whole_packets(&all[..n])
        };
        assert_eq!(packets_at_next_flush(), 0);
        tx.blocking_send(opened(1)).unwrap();
        assert_eq!(packets_at_next_flush(), 3);
        tx.blocking_send(bytes(1, Side::A, b"ping")).unwrap();
        assert_eq!(packets_at_next_flush(), 4);
        drop(tx);
        writer.join().unwrap();
        assert_eq!(packets_at_next_flush(), 5);
    }

    #[test]
    fn a_busy_writer_writes_what_is_due() {
        let (s, _flushes) = sink();
        let mut out = BlockOut::new(s).unwrap();
        out.flush().unwrap();
        assert!(!out.due(), "nothing held");
        record(&mut out.w, &Clock::new(), &opened(1)).unwrap();
        out.last = Instant::now();
        assert!(!out.due(), "held, but recent and small");
        out.last = Instant::now() - FLUSH_INTERVAL;
        assert!(out.due(), "held for the flush interval");
        out.last = Instant::now();
        let big = vec![0u8; FLUSH_BYTES];
        out.w.data(1, Side::A, Duration::ZERO, &big).unwrap();
        assert!(out.due(), "held a megabyte");
    }

    #[test]
    fn recording_arguments() {
        assert_eq!(Recording::from_arg(Path::new("-")), Recording::Stdout);
        assert_eq!(
            Recording::from_arg(Path::new("a.pcapng")),
            Recording::File("a.pcapng".into())
        );
        assert_eq!(Recording::Stdout.to_string(), "standard output");
    }
}
