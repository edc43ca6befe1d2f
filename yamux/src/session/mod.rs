//! The tokio session: one driver task owns the transport and feeds the
//! sans-IO [`Connection`]; [`Session`] and
//! [`Stream`] handles share it behind a mutex (never held across an
//! await) and are woken through wakers.
//!
//! Writes are encoded straight into the connection's transmit buffer (one
//! copy), which the driver swaps out whole and writes with few syscalls;
//! reads copy once from the received frame bodies, which are slices of the
//! driver's large read buffer.
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use yamux::{Config, Session};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any AsyncRead + AsyncWrite transport: a TcpStream, or an in-memory pipe.
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let client = Session::client(a, Config::default());
//! let server = Session::server(b, Config::default());
//!
//! let mut out = client.open().await?; // sends WU|SYN at once
//! out.write_all(b"hello").await?;
//! out.shutdown().await?; // FIN: half-close
//!
//! let mut inb = server.accept().await?; // ACKed on accept (the default)
//! let mut got = String::new();
//! inb.read_to_string(&mut got).await?;
//! assert_eq!(got, "hello");
//! inb.write_all(b"bye").await?;
//! inb.shutdown().await?;
//!
//! let mut reply = String::new();
//! out.read_to_string(&mut reply).await?;
//! assert_eq!(reply, "bye");
//! println!("rtt {:?}", client.ping().await?);
//! client.close().await?; // flush, Go Away 0, close the transport
//! # Ok(())
//! # }
//! ```

mod driver;
mod stream;

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::error::Error;
use crate::frame::GoAwayCode;
use crate::proto::{Connection, Event, Role};

pub use stream::Stream;

/// Transmit buffer size above which writers wait for the driver.
const TRANSMIT_HIGH_WATER: usize = 1024 * 1024;

/// The current time from tokio's clock (so paused test time works).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[derive(Default)]
struct StreamWakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

struct PingSlot {
    rtt: Option<Duration>,
    waker: Option<Waker>,
}

pub(crate) struct State {
    conn: Connection,
    wakers: HashMap<u32, StreamWakers>,
    accept_wakers: Vec<Waker>,
    open_wakers: Vec<Waker>,
    space_wakers: VecDeque<Waker>,
    close_wakers: Vec<Waker>,
    pings: HashMap<u32, PingSlot>,
    driver: Option<Waker>,
    driver_woken: bool,
    /// The driver's latest clock reading (stream reads use it).
    now: Instant,
    /// The driver has finished (transport closed).
    finished: bool,
    /// Every Session handle is gone: close once no stream is left.
    idle_shutdown: bool,
}

fn wake_all(v: &mut Vec<Waker>) {
    for w in v.drain(..) {
        w.wake();
    }
}

fn register(v: &mut Vec<Waker>, w: &Waker) {
    if !v.iter().any(|x| x.will_wake(w)) {
        v.push(w.clone());
    }
}

impl State {
    /// Dispatches the connection's events to the waiting tasks and wakes
    /// the driver when there is something to send.
    fn after(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::Inbound => wake_all(&mut self.accept_wakers),
                Event::Readable(id) => {
                    if let Some(w) = self.wakers.get_mut(&id.val()).and_then(|w| w.read.take()) {
                        w.wake();
                    }
                }
                Event::Writable(id) => {
                    if let Some(w) = self.wakers.get_mut(&id.val()).and_then(|w| w.write.take()) {
                        w.wake();
                    }
                }
                Event::StreamFailed(id) => {
                    if let Some(w) = self.wakers.get_mut(&id.val()) {
                        if let Some(r) = w.read.take() {
                            r.wake();
                        }
                        if let Some(r) = w.write.take() {
                            r.wake();
                        }
                    }
                }
                Event::OpenReady => wake_all(&mut self.open_wakers),
                Event::Pong { value, rtt } => {
                    if let Some(slot) = self.pings.get_mut(&value) {
                        slot.rtt = Some(rtt);
                        if let Some(w) = slot.waker.take() {
                            w.wake();
                        }
                    }
                }
                Event::GoAwayReceived(_) => {
                    wake_all(&mut self.accept_wakers);
                    wake_all(&mut self.open_wakers);
                }
                Event::Closed => {
                    self.wake_everyone();
                    self.wake_driver();
                }
            }
        }
        if self.conn.transmit_len() > 0 && !self.driver_woken {
            self.wake_driver();
        }
    }

    /// Wakes up to `n` writers waiting for transmit buffer space, oldest
    /// first (waking all of them at once only makes them fight).
    fn wake_space(&mut self, n: usize) {
        for _ in 0..n {
            match self.space_wakers.pop_front() {
                Some(w) => w.wake(),
                None => break,
            }
        }
    }

    fn wake_driver(&mut self) {
        self.driver_woken = true;
        if let Some(w) = &self.driver {
            w.wake_by_ref();
        }
    }

    fn wake_everyone(&mut self) {
        for (_, w) in self.wakers.iter_mut() {
            if let Some(r) = w.read.take() {
                r.wake();
            }
            if let Some(r) = w.write.take() {
                r.wake();
            }
        }
        wake_all(&mut self.accept_wakers);
        wake_all(&mut self.open_wakers);
        for w in self.space_wakers.drain(..) {
            w.wake();
        }
        for slot in self.pings.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not turn into more panics here.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Drops with the last [`Session`] clone: no new streams, and the session
/// closes once every stream is released.
struct SessionRef {
    shared: Arc<Shared>,
}

impl Drop for SessionRef {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.idle_shutdown = true;
        st.conn.go_away(GoAwayCode::NORMAL);
        st.after();
        st.wake_driver();
    }
}

/// A yamux session over one transport. Cheap to clone; every clone drives
/// the same session. The constructors spawn the driver task on the current
/// tokio runtime (they panic outside one, like `tokio::spawn`).
///
/// Dropping the last clone sends Go Away 0 (no new streams either way);
/// the session then closes once every [`Stream`] has been dropped.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionRef>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared().lock();
        f.debug_struct("Session")
            .field("role", &st.conn.role())
            .field("streams", &st.conn.live_streams())
            .field("closed", &st.conn.close_reason())
            .finish()
    }
}

impl Session {
    /// A client session (odd stream ids) over `io`.
    pub fn client<T>(io: T, config: Config) -> Session
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Session::new(io, config, Role::Client)
    }

    /// A server session (even stream ids) over `io`.
    pub fn server<T>(io: T, config: Config) -> Session
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Session::new(io, config, Role::Server)
    }

    fn new<T>(io: T, config: Config, role: Role) -> Session
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = Connection::new(role, config, now());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                conn,
                wakers: HashMap::new(),
                accept_wakers: Vec::new(),
                open_wakers: Vec::new(),
                space_wakers: VecDeque::new(),
                close_wakers: Vec::new(),
                pings: HashMap::new(),
                driver: None,
                driver_woken: false,
                now: now(),
                finished: false,
                idle_shutdown: false,
            }),
        });
        tokio::spawn(driver::Driver::new(io, shared.clone()));
        Session {
            inner: Arc::new(SessionRef { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Opens a stream: sends `WU|SYN` at once and never waits for the ACK
    /// (`stream.early-data`); waits only while 256 streams are un-ACKed
    /// (`backlog.ack`).
    pub async fn open(&self) -> Result<Stream, Error> {
        poll_fn(|cx| {
            let mut st = self.shared().lock();
            let r = st.conn.open(now());
            st.after();
            match r {
                Ok(Some(id)) => Poll::Ready(Ok(Stream::new(id, self.shared().clone()))),
                Ok(None) => {
                    register(&mut st.open_wakers, cx.waker());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await
    }

    /// The next inbound stream; `Err` once no more can come (Go Away, or
    /// the session is over).
    pub async fn accept(&self) -> Result<Stream, Error> {
        poll_fn(|cx| {
            let mut st = self.shared().lock();
            let r = st.conn.accept();
            st.after();
            match r {
                Ok(Some(id)) => Poll::Ready(Ok(Stream::new(id, self.shared().clone()))),
                Ok(None) => {
                    register(&mut st.accept_wakers, cx.waker());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await
    }

    /// Sends a ping and returns the round-trip time (`ping.echo`).
    pub async fn ping(&self) -> Result<Duration, Error> {
        let value = {
            let mut st = self.shared().lock();
            let v = st.conn.ping(now());
            if let Ok(v) = v {
                st.pings.insert(
                    v,
                    PingSlot {
                        rtt: None,
                        waker: None,
                    },
                );
            }
            st.after();
            v?
        };
        struct Guard<'a>(&'a Shared, u32);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                self.0.lock().pings.remove(&self.1);
            }
        }
        let _guard = Guard(self.shared(), value);
        poll_fn(|cx| {
            let mut st = self.shared().lock();
            if let Some(rtt) = st.pings.get(&value).and_then(|s| s.rtt) {
                return Poll::Ready(Ok(rtt));
            }
            if let Some(e) = st.conn.close_reason() {
                return Poll::Ready(Err(e.clone()));
            }
            if let Some(slot) = st.pings.get_mut(&value) {
                slot.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Sends Go Away with `code` (`goaway.send`): no new streams either way
    /// afterwards; open streams continue.
    pub async fn go_away(&self, code: GoAwayCode) -> Result<(), Error> {
        let mut st = self.shared().lock();
        if let Some(e) = st.conn.close_reason() {
            return Err(e.clone());
        }
        st.conn.go_away(code);
        st.after();
        Ok(())
    }

    /// Flushes queued frames, sends Go Away 0 and closes the transport.
    /// Returns once the driver is done.
    pub async fn close(&self) -> Result<(), Error> {
        {
            let mut st = self.shared().lock();
            st.conn.close();
            st.after();
        }
        let _ = self.closed().await;
        Ok(())
    }

    /// Resolves when the session is over (and the transport closed), with
    /// the reason.
    pub async fn closed(&self) -> Error {
        poll_fn(|cx| {
            let mut st = self.shared().lock();
            if st.finished {
                return Poll::Ready(
                    st.conn
                        .close_reason()
                        .cloned()
                        .unwrap_or(Error::SessionClosed),
                );
            }
            register(&mut st.close_wakers, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Snapshots of every stream's protocol state (windows, credit, FIN and
    /// RST flags), for diagnostics.
    pub fn stream_infos(&self) -> Vec<(crate::frame::StreamId, crate::proto::StreamInfo)> {
        let st = self.shared().lock();
        st.conn.stream_infos()
    }

    /// True once the session is over.
    pub fn is_closed(&self) -> bool {
        self.shared().lock().conn.is_closed()
    }

    /// Streams currently held (open, half-closed, waiting to be accepted,
    /// or finished but not yet dropped).
    pub fn live_streams(&self) -> usize {
        self.shared().lock().conn.live_streams()
    }
}
