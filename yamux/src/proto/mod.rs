//! The sans-IO connection core: every protocol rule, no I/O, no clocks.
//!
//! A [`Connection`] takes received frames ([`Connection::handle_frame`]),
//! application commands ([`Connection::open`], [`Connection::write`],
//! [`Connection::read`], ...) and the current time (passed in, never read),
//! and produces frames to send ([`Connection::poll_transmit`] or the raw
//! [`Connection::transmit_buf`]) and [`Event`]s. It is deterministic, so
//! tests and fuzzers drive it frame by frame.
//!
//! # Calling contract
//!
//! The driver (the tokio `Session`, a test, a fuzzer) owns the
//! transport and the clock, and keeps to this order:
//!
//! 1. **Input.** For every frame decoded from the transport, call
//!    [`Connection::handle_frame`]; for bytes that are no frame,
//!    [`Connection::handle_decode_error`]; at the transport's end,
//!    [`Connection::handle_transport_closed`]. Feed input only while
//!    [`Connection::wants_input`] is true (`limits.replies`): stop reading
//!    the transport until what is queued has been sent.
//! 2. **Commands.** Call `open`, `accept`, `write`, `read`, `close_write`,
//!    `reset`, `ping`, `go_away` whenever the application asks; each
//!    returns at once (`Ok(None)`/`Ok(0)`/`ReadResult::Pending` when it
//!    must wait for an [`Event`]).
//! 3. **After every `handle_*` call and every command**, in this order:
//!    drain [`Connection::poll_event`] until `None` (wake whoever waits on
//!    a stream), then send [`Connection::poll_transmit`] until `None` (or
//!    write out [`Connection::transmit_buf`] and clear what was written),
//!    then re-arm one timer for [`Connection::poll_timeout`].
//! 4. **Time.** When that instant passes, call
//!    [`Connection::handle_timeout`] with the current time, then step 3.
//! 5. **End.** After [`Event::Closed`], send what is still queued, then
//!    close the transport; [`Connection::close_reason`] says why.
//!
//! Two connections wired back to back, no I/O at all:
//!
//! ```
//! use std::time::Instant;
//! use yamux::proto::{Connection, Event, ReadResult, Role};
//! use yamux::Config;
//!
//! let now = Instant::now();
//! let mut client = Connection::new(Role::Client, Config::default(), now);
//! let mut server = Connection::new(Role::Server, Config::default(), now);
//! // Carries every queued frame from one side to the other (step 3, then 1).
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     while let Some(frame) = from.poll_transmit() {
//!         to.handle_frame(now, frame);
//!     }
//! }
//! let id = client.open(now).unwrap().expect("a stream id");
//! client.write(id, b"hello").unwrap();
//! pump(&mut client, &mut server, now);
//! assert!(std::iter::from_fn(|| server.poll_event()).any(|e| matches!(e, Event::Inbound)));
//! let accepted = server.accept().unwrap().expect("the inbound stream");
//! let mut buf = [0u8; 16];
//! assert_eq!(server.read(now, accepted, &mut buf).unwrap(), ReadResult::Data(5));
//! assert_eq!(&buf[..5], b"hello");
//! pump(&mut server, &mut client, now); // the ACK
//! ```
//!
//! Strict sender, tolerant receiver (docs/spec.md): flags are a bit set and
//! unknown bits are ignored (`flags.unknown`); the flags of a Data or Window
//! Update frame are applied in the order SYN, ACK, data/window, FIN, RST;
//! frames on unknown ids are ignored (`stream.unknown`); FIN and RST are
//! sent on Window Update frames.

mod stream;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::{fault, AckPolicy, Config, GoAwayMode};
use crate::error::{Error, ProtocolError};
use crate::frame::INITIAL_WINDOW;
use crate::frame::{
    DecodeError, Flags, Frame, FrameType, GoAwayCode, Header, RawHeader, StreamId, HEADER_LEN,
};

pub use stream::CHUNK_OVERHEAD;
use stream::{ResetKind, StreamState};

/// Unanswered pings remembered at most.
const MAX_OUTSTANDING_PINGS: usize = 1024;

/// Bound on the frames queued in reaction to the peer's frames since the
/// transmit buffer was last empty (`limits.replies`): Ping answers, ACKs,
/// refusals and budget resets (`WU|RST`), credit returns. Past it, Ping
/// answers and refusals are dropped, SYNs are ignored, and
/// [`Connection::wants_input`] turns false so that the driver stops
/// reading the transport until the peer reads what is queued. 256 KiB
/// (21,845 frame headers).
pub const MAX_PENDING_REPLY_BYTES: usize = 256 * 1024;

/// Which side of the session this is (`ids.parity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Opens odd stream ids.
    Client,
    /// Opens even stream ids.
    Server,
}

impl Role {
    fn first_id(self) -> u32 {
        match self {
            Role::Client => 1,
            Role::Server => 2,
        }
    }

    /// True when `id` has the parity of streams this role opens.
    pub fn owns(self, id: StreamId) -> bool {
        match self {
            Role::Client => id.val() % 2 == 1,
            Role::Server => id.val() != 0 && id.val() % 2 == 0,
        }
    }
}

/// Something the application (or the driver) may want to react to.
#[derive(Debug, Clone)]
pub enum Event {
    /// An inbound stream waits to be accepted, or accepting can no longer
    /// succeed (Go Away received or sent).
    Inbound,
    /// The stream has data, EOF or an error to read.
    Readable(StreamId),
    /// The stream got send credit back (or failed, so writes return).
    Writable(StreamId),
    /// The stream was reset or failed; reads and writes now fail.
    StreamFailed(StreamId),
    /// `open` may succeed now (an ACK backlog slot or stream slot freed),
    /// or will fail for good (Go Away).
    OpenReady,
    /// A ping we sent was answered.
    Pong {
        /// The ping's value.
        value: u32,
        /// Round-trip time.
        rtt: Duration,
    },
    /// The peer sent Go Away.
    GoAwayReceived(GoAwayCode),
    /// The session is over; [`Connection::close_reason`] says why.
    Closed,
}

/// What a [`Connection::read`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// This many bytes were copied.
    Data(usize),
    /// The peer half-closed and everything was read.
    Eof,
    /// Nothing to read yet; an [`Event::Readable`] follows when there is.
    Blocked,
}

/// A snapshot of one stream's protocol state, for tests and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// We opened it.
    pub outbound: bool,
    /// Outbound: the ACK arrived. Inbound: we sent the ACK.
    pub acked: bool,
    /// Bytes we may still send.
    pub send_credit: u32,
    /// Bytes the peer may still send.
    pub recv_window: u32,
    /// The window we grant (grows with auto-tuning).
    pub recv_max: u32,
    /// Received bytes not yet read by the application.
    pub buffered: usize,
    /// We sent FIN.
    pub local_fin: bool,
    /// The peer sent FIN.
    pub remote_fin: bool,
    /// The stream was reset (either side) or failed.
    pub reset: bool,
}

/// The connection state machine. See the module documentation.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    streams: HashMap<u32, StreamState>,
    next_id: Option<u32>,
    out: BytesMut,
    events: VecDeque<Event>,
    accept_queue: VecDeque<StreamId>,
    ack_backlog: usize,
    open_deadlines: BinaryHeap<Reverse<(Instant, u32)>>,
    pings: HashMap<u32, Instant>,
    next_ping: u32,
    rtt: Option<Duration>,
    keepalive_next: Option<Instant>,
    keepalive_ping: Option<(u32, Option<Instant>)>,
    go_away_sent: Option<GoAwayCode>,
    go_away_received: Option<GoAwayCode>,
    closed: Option<Error>,
    /// Charge of every stream's unread data (`limits.receive-budget`).
    held: usize,
    /// Reply bytes queued since `out` was last seen empty (`limits.replies`).
    reply_bytes: usize,
}

impl Connection {
    /// A connection in `role`, started at `now`.
    pub fn new(role: Role, config: Config, now: Instant) -> Connection {
        let config = config.normalized();
        #[cfg(feature = "faults")]
        let first = if config.faults.wrong_parity {
            match role {
                Role::Client => 2,
                Role::Server => 1,
            }
        } else {
            role.first_id()
        };
        #[cfg(not(feature = "faults"))]
        let first = role.first_id();
        let keepalive_next = config.keep_alive.and_then(|iv| now.checked_add(iv));
        let mut c = Connection {
            role,
            config,
            streams: HashMap::new(),
            next_id: Some(first),
            out: BytesMut::with_capacity(64 * 1024),
            events: VecDeque::new(),
            accept_queue: VecDeque::new(),
            ack_backlog: 0,
            open_deadlines: BinaryHeap::new(),
            pings: HashMap::new(),
            next_ping: 1,
            rtt: None,
            keepalive_next,
            keepalive_ping: None,
            go_away_sent: None,
            go_away_received: None,
            closed: None,
            held: 0,
            reply_bytes: 0,
        };
        if c.config.auto_tune {
            // A first ping measures the RTT that auto-tuning needs.
            let _ = c.ping(now);
        }
        c
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The (normalized) configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    /// True once the session is over.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Streams held in state (open, half-closed, or closed but not yet
    /// released by the application, or waiting to be accepted).
    pub fn live_streams(&self) -> usize {
        self.streams.len()
    }

    /// Outbound streams whose ACK has not arrived (`backlog.ack`).
    pub fn ack_backlog(&self) -> usize {
        self.ack_backlog
    }

    /// Inbound streams waiting to be accepted (`backlog.inbound`).
    pub fn accept_queue_len(&self) -> usize {
        self.accept_queue.len()
    }

    /// What unread data holds against the session receive budget:
    /// received bytes not yet read plus [`CHUNK_OVERHEAD`] per queued
    /// chunk (`limits.receive-budget`). Never above
    /// [`Config::max_session_receive_buffer`].
    pub fn receive_buffered(&self) -> usize {
        self.held
    }

    /// False while more than [`MAX_PENDING_REPLY_BYTES`] of replies wait in
    /// the transmit buffer (`limits.replies`): the caller should stop
    /// feeding received frames until it has sent what is queued.
    pub fn wants_input(&self) -> bool {
        fault!(self.config, unbounded_pong_queue) || !self.replies_full()
    }

    fn replies_full(&self) -> bool {
        !self.out.is_empty() && self.reply_bytes >= MAX_PENDING_REPLY_BYTES
    }

    /// Queues a frame sent in reaction to the peer (`limits.replies`).
    /// A `droppable` one (Ping answer, refusal) is not queued past the
    /// bound; returns whether it was.
    fn push_reply(
        &mut self,
        typ: FrameType,
        flags: Flags,
        id: StreamId,
        length: u32,
        droppable: bool,
    ) -> bool {
        if self.out.is_empty() {
            self.reply_bytes = 0;
        }
        let unbounded = fault!(self.config, unbounded_pong_queue);
        if droppable && !unbounded && self.reply_bytes >= MAX_PENDING_REPLY_BYTES {
            return false;
        }
        self.reply_bytes += HEADER_LEN;
        self.push_header(typ, flags, id, length);
        true
    }

    /// Receive window above 256 KiB that the budget can still cover for
    /// one more stream (`limits.receive-budget`), at most `want`.
    fn extra_window(&self, want: u32) -> u32 {
        if fault!(self.config, ignore_receive_budget) {
            return want;
        }
        let free = self
            .config
            .max_session_receive_buffer
            .saturating_sub(self.held)
            .saturating_sub(INITIAL_WINDOW as usize);
        want.min(u32::try_from(free).unwrap_or(u32::MAX))
    }

    /// The Go Away code we sent, if any.
    pub fn go_away_sent(&self) -> Option<GoAwayCode> {
        self.go_away_sent
    }

    /// The Go Away code the peer sent, if any.
    pub fn go_away_received(&self) -> Option<GoAwayCode> {
        self.go_away_received
    }

    /// The last measured round-trip time.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// A snapshot of one stream, `None` when the id is not held.
    pub fn stream_info(&self, id: StreamId) -> Option<StreamInfo> {
        self.streams.get(&id.val()).map(|s| StreamInfo {
            outbound: s.outbound,
            acked: s.acked,
            send_credit: s.send_credit,
            recv_window: s.recv_window,
            recv_max: s.recv_max,
            buffered: s.buffered,
            local_fin: s.local_fin,
            remote_fin: s.remote_fin,
            reset: s.reset.is_some(),
        })
    }

    /// Snapshots of every stream held, by id.
    pub fn stream_infos(&self) -> Vec<(StreamId, StreamInfo)> {
        let mut v: Vec<_> = self
            .streams
            .keys()
            .filter_map(|id| {
                let id = StreamId::new(*id);
                self.stream_info(id).map(|i| (id, i))
            })
            .collect();
        v.sort_by_key(|(id, _)| id.val());
        v
    }

    /// The error a stream operation reports for `id`, if the stream failed.
    pub fn stream_error(&self, id: StreamId) -> Option<Error> {
        match self.streams.get(&id.val()) {
            Some(s) => s
                .reset
                .map(ResetKind::error)
                .or_else(|| self.closed.clone()),
            None => Some(self.closed.clone().unwrap_or(Error::StreamClosed)),
        }
    }

    // ----- output -------------------------------------------------------

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to send, decoded from the transmit buffer (for tests
    /// and tools; the driver takes [`Connection::transmit_buf`] whole).
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        let raw = RawHeader::parse(&self.out)?;
        let header = raw.validate().ok()?;
        let n = HEADER_LEN + header.body_len();
        if self.out.len() < n {
            return None;
        }
        let bytes = self.out.split_to(n).freeze();
        Some(Frame {
            header,
            body: bytes.slice(HEADER_LEN..),
        })
    }

    /// The encoded frames waiting to be sent. The driver swaps it with an
    /// empty buffer and writes it to the transport.
    pub fn transmit_buf(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Bytes waiting in the transmit buffer.
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    fn push_header(&mut self, typ: FrameType, flags: Flags, id: StreamId, length: u32) {
        self.out
            .put_slice(&Header::new(typ, flags, id, length).to_bytes());
    }

    fn push_wu(&mut self, flags: Flags, id: StreamId, delta: u32) {
        self.push_header(FrameType::WindowUpdate, flags, id, delta);
    }

    // ----- timers -------------------------------------------------------

    /// The earliest time [`Connection::handle_timeout`] has work to do.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        // Drop stale open deadlines (acked or gone streams).
        while let Some(Reverse((_, id))) = self.open_deadlines.peek() {
            match self.streams.get(id) {
                Some(s) if s.in_backlog => break,
                _ => {
                    self.open_deadlines.pop();
                }
            }
        }
        let mut t = self.open_deadlines.peek().map(|Reverse((t, _))| *t);
        for c in [
            self.keepalive_next,
            self.keepalive_ping.and_then(|(_, d)| d),
        ]
        .into_iter()
        .flatten()
        {
            t = Some(t.map_or(c, |t| t.min(c)));
        }
        t
    }

    /// Runs the timers due at `now`: keep-alive pings and their timeout
    /// (`ping.keepalive`), stream open timeouts (`stream.open`).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if let Some((_, Some(deadline))) = self.keepalive_ping {
            if now >= deadline {
                self.fail(Error::KeepAliveTimeout, None);
                return;
            }
        }
        if let Some(at) = self.keepalive_next {
            if now >= at && self.keepalive_ping.is_none() {
                self.keepalive_next = None;
                let value = self.send_ping(now);
                self.keepalive_ping =
                    Some((value, now.checked_add(self.config.keep_alive_timeout)));
            }
        }
        while let Some(&Reverse((at, id))) = self.open_deadlines.peek() {
            if at > now {
                break;
            }
            self.open_deadlines.pop();
            let sid = StreamId::new(id);
            let pending = self.streams.get(&id).is_some_and(|s| s.in_backlog);
            if pending {
                // The ACK never came: fail this stream only.
                self.reset_stream(sid, ResetKind::OpenTimeout, true);
            }
        }
    }

    // ----- commands -----------------------------------------------------

    /// Opens an outbound stream: sends `WU|SYN` with delta = receive window
    /// − 256 KiB at once (`stream.open`, `flow.larger-window`) and never
    /// waits for the ACK (`stream.early-data`). `Ok(None)` means the ACK
    /// backlog is full (`backlog.ack`); retry after [`Event::OpenReady`].
    pub fn open(&mut self, now: Instant) -> Result<Option<StreamId>, Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        if let Some(c) = self.go_away_sent {
            return Err(Error::GoingAway(c));
        }
        if let Some(c) = self.go_away_received {
            return Err(Error::GoAway(c));
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(Error::TooManyStreams);
        }
        if self.ack_backlog >= self.config.max_ack_backlog {
            return Ok(None);
        }
        // ids.exhaustion: ids are never reused (ids.reuse); past the last
        // id of our parity, opening fails.
        let id = self.next_id.ok_or(Error::StreamIdsExhausted)?;
        self.next_id = id.checked_add(2);
        let sid = StreamId::new(id);
        let window =
            INITIAL_WINDOW + self.extra_window(self.config.receive_window - INITIAL_WINDOW);
        let mut st = StreamState::new(true, window);
        st.in_backlog = true;
        self.ack_backlog += 1;
        self.streams.insert(id, st);
        self.push_wu(Flags::SYN, sid, window - INITIAL_WINDOW);
        if let Some(t) = self.config.stream_open_timeout {
            if let Some(at) = now.checked_add(t) {
                self.open_deadlines.push(Reverse((at, id)));
            }
        }
        Ok(Some(sid))
    }

    /// Takes the next inbound stream. `Ok(None)`: none yet, wait for
    /// [`Event::Inbound`]. Sends the ACK under [`AckPolicy::OnAccept`].
    pub fn accept(&mut self) -> Result<Option<StreamId>, Error> {
        if let Some(sid) = self.accept_queue.pop_front() {
            if let Some(st) = self.streams.get_mut(&sid.val()) {
                st.accepted = true;
            }
            if self.config.ack_policy == AckPolicy::OnAccept {
                self.send_ack(sid);
            }
            return Ok(Some(sid));
        }
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        if let Some(c) = self.go_away_received {
            return Err(Error::GoAway(c));
        }
        if let Some(c) = self.go_away_sent {
            return Err(Error::GoingAway(c));
        }
        Ok(None)
    }

    /// Sends up to `data.len()` bytes on `id`, no more than the peer's
    /// credit (`flow.credit`), split into Data frames of at most
    /// `split_size` bytes (`flow.max-frame`). `Ok(0)` for non-empty data
    /// means no credit: wait for [`Event::Writable`].
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return Err(Error::StreamClosed);
        };
        if let Some(r) = st.reset {
            return Err(r.error());
        }
        if st.local_fin {
            return Err(Error::StreamClosed);
        }
        let ignore_window = fault!(self.config, ignore_peer_window);
        let credit = if ignore_window {
            data.len()
        } else {
            data.len().min(st.send_credit as usize)
        };
        if credit == 0 {
            return Ok(0);
        }
        st.send_credit = st
            .send_credit
            .saturating_sub(u32::try_from(credit).unwrap_or(u32::MAX));
        if self.config.ack_policy == AckPolicy::Lazy {
            self.send_ack(id);
        }
        let split = self.config.split_size as usize;
        let mut rest = data.get(..credit).unwrap_or(data);
        self.out
            .reserve(credit + HEADER_LEN * credit.div_ceil(split));
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(split));
            // chunk.len() <= split_size <= u32::MAX
            self.push_header(FrameType::Data, Flags::NONE, id, chunk.len() as u32);
            self.out.put_slice(chunk);
            rest = tail;
        }
        Ok(credit)
    }

    /// Copies received bytes of `id` into `buf`. Returns credit to the peer
    /// as one Window Update once half the window has been read
    /// (`flow.window-update`).
    pub fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        buf: &mut [u8],
    ) -> Result<ReadResult, Error> {
        self.read_with(now, id, buf.len(), |st, _| st.copy_out(buf))
    }

    /// Like [`Connection::read`], but moves up to `max` bytes out as
    /// `Bytes` into `out` without copying, so the caller can copy them
    /// after releasing any lock.
    pub fn read_chunks(
        &mut self,
        now: Instant,
        id: StreamId,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Result<ReadResult, Error> {
        self.read_with(now, id, max, |st, max| st.take_chunks(max, out))
    }

    fn read_with(
        &mut self,
        now: Instant,
        id: StreamId,
        max: usize,
        take: impl FnOnce(&mut StreamState, usize) -> usize,
    ) -> Result<ReadResult, Error> {
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return Err(self.closed.clone().unwrap_or(Error::StreamClosed));
        };
        if let Some(r) = st.reset {
            return Err(r.error());
        }
        if st.buffered == 0 || max == 0 {
            if st.buffered == 0 && st.remote_fin {
                return Ok(ReadResult::Eof);
            }
            if st.buffered == 0 {
                if let Some(e) = &self.closed {
                    return Err(e.clone());
                }
            }
            return Ok(if max == 0 {
                ReadResult::Data(0)
            } else {
                ReadResult::Blocked
            });
        }
        let before = st.charge();
        let n = take(st, max);
        self.held = self.held.saturating_sub(before - st.charge());
        if self.closed.is_none() {
            if self.config.ack_policy == AckPolicy::Lazy {
                self.send_ack(id);
            }
            self.return_credit(now, id);
        }
        Ok(ReadResult::Data(n))
    }

    /// Half-closes our direction of `id`: sends `WU|FIN` (`stream.half-close`).
    /// A second call does nothing.
    pub fn close_write(&mut self, id: StreamId) -> Result<(), Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return Err(Error::StreamClosed);
        };
        if let Some(r) = st.reset {
            return Err(r.error());
        }
        if st.local_fin {
            return Ok(());
        }
        st.local_fin = true;
        if self.config.ack_policy == AckPolicy::Lazy {
            self.send_ack(id);
        }
        self.push_wu(Flags::FIN, id, 0);
        self.maybe_free(id);
        Ok(())
    }

    /// Resets `id`: sends `WU|RST` (`stream.reset`); later reads and writes
    /// fail. Nothing is sent when the stream is already finished.
    pub fn reset(&mut self, id: StreamId) {
        self.reset_stream(id, ResetKind::Local, false);
    }

    /// The application dropped its handle of `id`. A stream that is not
    /// finished (FIN both ways) is reset; the state is freed.
    pub fn release(&mut self, id: StreamId) {
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        st.released = true;
        let finished = st.reset.is_some() || (st.local_fin && st.remote_fin);
        if !finished {
            self.reset_stream(id, ResetKind::Local, false);
        }
        self.maybe_free(id);
    }

    /// Sends a ping (`ping.echo`); [`Event::Pong`] carries the RTT. Returns
    /// the ping's value.
    pub fn ping(&mut self, now: Instant) -> Result<u32, Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        Ok(self.send_ping(now))
    }

    fn send_ping(&mut self, now: Instant) -> u32 {
        // Pings a peer never answers must not accumulate: forget the
        // oldest beyond a bound.
        if self.pings.len() >= MAX_OUTSTANDING_PINGS {
            if let Some(oldest) = self.pings.iter().min_by_key(|(_, t)| **t).map(|(v, _)| *v) {
                self.pings.remove(&oldest);
            }
        }
        let mut value = self.next_ping;
        while self.pings.contains_key(&value) {
            value = value.wrapping_add(1);
        }
        self.next_ping = value.wrapping_add(1);
        self.pings.insert(value, now);
        self.push_header(FrameType::Ping, Flags::SYN, StreamId::SESSION, value);
        value
    }

    /// Sends Go Away with `code` (`goaway.send`): no new streams either
    /// way afterwards; open streams continue. Only the first call sends.
    pub fn go_away(&mut self, code: GoAwayCode) {
        if self.closed.is_some() || self.go_away_sent.is_some() {
            return;
        }
        self.go_away_sent = Some(code);
        self.push_header(
            FrameType::GoAway,
            Flags::NONE,
            StreamId::SESSION,
            code.val(),
        );
        self.events.push_back(Event::OpenReady);
        self.events.push_back(Event::Inbound);
    }

    /// Closes the session: sends Go Away 0 after the frames already queued
    /// (unless a Go Away was sent before) and ends it. The driver flushes
    /// and closes the transport.
    pub fn close(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.go_away(GoAwayCode::NORMAL);
        self.fail(Error::SessionClosed, None);
    }

    /// The transport ended (EOF: `None`) or failed.
    pub fn handle_transport_closed(&mut self, err: Option<std::io::Error>) {
        self.fail(err.map_or(Error::SessionClosed, Error::Io), None);
    }

    /// The driver could not write for longer than the write timeout.
    pub fn handle_write_timeout(&mut self) {
        self.fail(Error::Timeout, None);
    }

    /// The decoder rejected the input: a session-ending protocol error
    /// (`framing.version`, `framing.type`, `flow.max-frame`).
    pub fn handle_decode_error(&mut self, err: DecodeError) {
        self.protocol_error(ProtocolError::Decode(err));
    }

    // ----- input --------------------------------------------------------

    /// Applies one received frame.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.closed.is_some() {
            return;
        }
        match frame.header.typ {
            FrameType::Data | FrameType::WindowUpdate => self.on_stream_frame(now, frame),
            // ids.control: the id of Ping and Go Away is ignored.
            FrameType::Ping => self.on_ping(now, frame.header),
            FrameType::GoAway => self.on_go_away(GoAwayCode::new(frame.header.length)),
        }
    }

    fn on_ping(&mut self, now: Instant, h: Header) {
        if h.flags.contains(Flags::SYN) {
            // ping.echo: every request is answered with the same value.
            let value = if fault!(self.config, ping_wrong_value) {
                h.length.wrapping_add(1)
            } else {
                h.length
            };
            // limits.replies: answers the peer does not read are dropped.
            self.push_reply(FrameType::Ping, Flags::ACK, StreamId::SESSION, value, true);
        } else if h.flags.contains(Flags::ACK) {
            // ping.unsolicited: pongs we did not ask for are ignored.
            let Some(sent) = self.pings.remove(&h.length) else {
                return;
            };
            let rtt = now.saturating_duration_since(sent);
            self.rtt = Some(rtt);
            if self.keepalive_ping.is_some_and(|(v, _)| v == h.length) {
                self.keepalive_ping = None;
                self.keepalive_next = self.config.keep_alive.and_then(|iv| now.checked_add(iv));
            }
            self.events.push_back(Event::Pong {
                value: h.length,
                rtt,
            });
        }
    }

    fn on_go_away(&mut self, code: GoAwayCode) {
        if self.go_away_received.is_some() {
            return;
        }
        self.go_away_received = Some(code);
        self.events.push_back(Event::GoAwayReceived(code));
        if code == GoAwayCode::NORMAL && self.config.go_away_mode == GoAwayMode::Drain {
            // goaway.recv: no new streams; open ones finish.
            self.events.push_back(Event::OpenReady);
            self.events.push_back(Event::Inbound);
        } else {
            self.fail(Error::GoAway(code), None);
        }
    }

    fn on_stream_frame(&mut self, now: Instant, frame: Frame) {
        let h = frame.header;
        let id = h.stream_id;
        if id.is_session() {
            if h.flags.contains(Flags::SYN) {
                return self.protocol_error(ProtocolError::SynOnSessionId);
            }
            if h.typ == FrameType::Data && h.length > 0 {
                return self.protocol_error(ProtocolError::DataOnSessionId(h.length));
            }
            // A zero-length frame on id 0 carries nothing: ignored.
            return;
        }
        let opened = h.flags.contains(Flags::SYN);
        if opened && !self.on_syn(now, id) {
            return;
        }
        let Some(st) = self.streams.get_mut(&id.val()) else {
            // stream.unknown: frames on ids we do not hold are ignored (the
            // body was consumed by the decoder).
            return;
        };
        // ACK (stream.open). Stray and duplicate ACKs free nothing
        // (backlog.ack).
        if h.flags.contains(Flags::ACK) && st.outbound && !st.acked {
            st.acked = true;
            if st.in_backlog {
                st.in_backlog = false;
                self.ack_backlog -= 1;
                self.events.push_back(Event::OpenReady);
            }
        }
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        match h.typ {
            FrameType::Data if h.length > 0 => {
                let after_fin = st.remote_fin && !fault!(self.config, accept_data_after_fin);
                if st.reset.is_some() || after_fin {
                    // stream.after-fin / stream.reset: discarded.
                } else if h.length > st.recv_window {
                    let window = st.recv_window;
                    return self.protocol_error(ProtocolError::WindowOverrun {
                        stream: id,
                        length: h.length,
                        window,
                    });
                } else {
                    st.recv_window -= h.length;
                    let drop =
                        h.flags.contains(Flags::SYN) && fault!(self.config, drop_syn_payload);
                    let cost = frame.body.len() + CHUNK_OVERHEAD;
                    let over = self.held + cost > self.config.max_session_receive_buffer
                        && !fault!(self.config, ignore_receive_budget);
                    if over && !drop {
                        // limits.receive-budget: reset the stream rather
                        // than hold more than the budget.
                        self.reset_stream(id, ResetKind::Budget, false);
                        return;
                    }
                    if !drop {
                        st.push(frame.body);
                        self.held += cost;
                        self.events.push_back(Event::Readable(id));
                    }
                }
            }
            // length.rst, length.rst-code: with RST the Length is an error
            // code (or nothing), never credit, so it cannot overflow.
            FrameType::WindowUpdate
                if h.length > 0
                    && st.reset.is_none()
                    && (!h.flags.contains(Flags::RST)
                        || fault!(self.config, rst_length_as_credit)) =>
            {
                // flow.window-update, flow.overflow: checked arithmetic.
                match st.send_credit.checked_add(h.length) {
                    Some(c) => {
                        let was_zero = st.send_credit == 0;
                        st.send_credit = c;
                        if was_zero {
                            self.events.push_back(Event::Writable(id));
                        }
                    }
                    None => {
                        if fault!(self.config, panic_on_window_overflow) {
                            panic!("window update overflows the send credit of stream {id}");
                        }
                        let credit = st.send_credit;
                        return self.protocol_error(ProtocolError::WindowOverflow {
                            stream: id,
                            credit,
                            delta: h.length,
                        });
                    }
                }
            }
            _ => {}
        }
        // The ACK of a stream opened by this frame goes out after its Data
        // was checked: the increment it carries counts once sent, so a
        // `D|SYN` body is held to the initial window (flow.overrun).
        if opened && self.config.ack_policy == AckPolicy::OnSyn {
            self.send_ack(id);
        }
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        // FIN (stream.half-close); a repeated FIN is ignored.
        if h.flags.contains(Flags::FIN) && !st.remote_fin && st.reset.is_none() {
            st.remote_fin = true;
            self.events.push_back(Event::Readable(id));
            self.maybe_free(id);
        }
        // RST (stream.reset): both directions end at once.
        if h.flags.contains(Flags::RST) {
            let kind = match self.streams.get(&id.val()) {
                Some(st) if st.outbound && !st.acked => ResetKind::Refused,
                _ => ResetKind::Remote,
            };
            self.reset_stream(id, kind, false);
        }
        let _ = now;
    }

    /// Handles the SYN of a frame. Returns false when the rest of the frame
    /// must be ignored (the stream was refused or the session ended).
    fn on_syn(&mut self, _now: Instant, id: StreamId) -> bool {
        if self.role.owns(id) {
            self.protocol_error(ProtocolError::WrongParity(id));
            return false;
        }
        if self.streams.contains_key(&id.val()) {
            self.protocol_error(ProtocolError::DuplicateSyn(id));
            return false;
        }
        if self.replies_full() {
            // limits.replies: the peer reads nothing we send; neither state
            // nor an answer for its new streams.
            return false;
        }
        let budget_full = self.held + INITIAL_WINDOW as usize
            > self.config.max_session_receive_buffer
            && !fault!(self.config, ignore_receive_budget);
        let refuse = self.go_away_sent.is_some() // goaway.after
            || self.go_away_received.is_some()
            || self.accept_queue.len() >= self.config.accept_backlog // backlog.inbound
            || self.streams.len() >= self.config.max_streams
            || budget_full; // limits.receive-budget
        if refuse {
            self.push_reply(FrameType::WindowUpdate, Flags::RST, id, 0, true);
            return false;
        }
        self.streams
            .insert(id.val(), StreamState::new(false, INITIAL_WINDOW));
        self.accept_queue.push_back(id);
        self.events.push_back(Event::Inbound);
        true
    }

    // ----- helpers ------------------------------------------------------

    /// Sends the ACK of an inbound stream once, with delta = receive window
    /// − 256 KiB (`stream.accept`, `flow.larger-window`).
    fn send_ack(&mut self, id: StreamId) {
        if fault!(self.config, never_ack) {
            return;
        }
        // limits.receive-budget: the increment is what the budget covers.
        let delta = self.extra_window(self.config.receive_window - INITIAL_WINDOW);
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        if st.outbound || st.acked || st.reset.is_some() {
            return;
        }
        st.acked = true;
        st.recv_window += delta;
        st.recv_max += delta;
        self.push_reply(FrameType::WindowUpdate, Flags::ACK, id, delta, false);
        if fault!(self.config, double_ack) {
            self.push_wu(Flags::ACK, id, 0);
        }
    }

    /// Returns consumed credit as one Window Update once at least half the
    /// window has been read (`flow.window-update`), growing the window when
    /// auto-tuning sees it was used up within a few round trips.
    fn return_credit(&mut self, now: Instant, id: StreamId) {
        let auto_tune = self.config.auto_tune;
        let max = self.config.max_receive_window;
        let rtt = self.rtt;
        let free = if fault!(self.config, ignore_receive_budget) {
            usize::MAX
        } else {
            self.config
                .max_session_receive_buffer
                .saturating_sub(self.held)
        };
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        if st.remote_fin || st.unreported < st.recv_max / 2 {
            return;
        }
        let mut delta = st.unreported;
        if auto_tune {
            if let (Some(rtt), Some(last)) = (rtt, st.last_credit_at) {
                if now.saturating_duration_since(last) < rtt.saturating_mul(4) && st.recv_max < max
                {
                    let grown = st.recv_max.saturating_mul(2).min(max);
                    // limits.receive-budget: grow only into free budget.
                    let fits = grown as usize <= free;
                    if let Some(d) = delta.checked_add(grown - st.recv_max).filter(|_| fits) {
                        delta = d;
                        st.recv_max = grown;
                    }
                }
            }
            st.last_credit_at = Some(now);
        }
        st.unreported = 0;
        st.recv_window += delta;
        self.push_reply(FrameType::WindowUpdate, Flags::NONE, id, delta, false);
    }

    fn reset_stream(&mut self, id: StreamId, kind: ResetKind, _timeout: bool) {
        let Some(st) = self.streams.get_mut(&id.val()) else {
            return;
        };
        if st.reset.is_some() {
            return;
        }
        let finished = st.local_fin && st.remote_fin;
        if finished && kind == ResetKind::Local {
            return;
        }
        st.reset = Some(kind);
        // Discarded bytes count as consumed, so the ledger still balances.
        st.unreported = st
            .unreported
            .saturating_add(u32::try_from(st.buffered).unwrap_or(u32::MAX));
        self.held = self.held.saturating_sub(st.charge());
        st.discard();
        if st.in_backlog {
            st.in_backlog = false;
            self.ack_backlog -= 1;
            self.events.push_back(Event::OpenReady);
        }
        let accepted = st.outbound || st.accepted;
        // Nothing is sent once the session is over (the transport is gone
        // or Go Away was the last frame).
        if self.closed.is_none() {
            match kind {
                ResetKind::Local | ResetKind::OpenTimeout => self.push_wu(Flags::RST, id, 0),
                ResetKind::Budget => {
                    self.push_reply(FrameType::WindowUpdate, Flags::RST, id, 0, false);
                }
                ResetKind::Remote | ResetKind::Refused => {}
            }
        }
        if !accepted {
            // Reset before the application saw it: drop it from the queue.
            self.accept_queue.retain(|s| *s != id);
            if let Some(st) = self.streams.get_mut(&id.val()) {
                st.released = true;
            }
        } else {
            self.events.push_back(Event::StreamFailed(id));
        }
        self.maybe_free(id);
    }

    /// Frees the state of a stream the application released once both
    /// directions are done (FIN both ways, or reset).
    fn maybe_free(&mut self, id: StreamId) {
        let done = self
            .streams
            .get(&id.val())
            .is_some_and(|s| s.released && (s.reset.is_some() || (s.local_fin && s.remote_fin)));
        if done {
            if let Some(st) = self.streams.remove(&id.val()) {
                self.held = self.held.saturating_sub(st.charge());
                if st.in_backlog {
                    self.ack_backlog -= 1;
                }
                if !st.outbound && !st.accepted {
                    // Released before it was accepted: accept must not
                    // hand out a freed stream.
                    self.accept_queue.retain(|s| *s != id);
                }
            }
            self.events.push_back(Event::OpenReady);
        }
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        // errors.protocol: Go Away 1, then the session ends.
        let ga = if fault!(self.config, no_goaway_on_error) {
            None
        } else {
            Some(GoAwayCode::PROTOCOL_ERROR)
        };
        self.fail(Error::Protocol(e), ga);
    }

    fn fail(&mut self, err: Error, go_away: Option<GoAwayCode>) {
        if self.closed.is_some() {
            return;
        }
        if let Some(code) = go_away {
            if self.go_away_sent.is_none() {
                self.go_away_sent = Some(code);
                self.push_header(
                    FrameType::GoAway,
                    Flags::NONE,
                    StreamId::SESSION,
                    code.val(),
                );
            }
        }
        self.closed = Some(err);
        self.accept_queue.clear();
        self.events.push_back(Event::Closed);
    }

    #[cfg(test)]
    pub(crate) fn set_next_id(&mut self, id: u32) {
        self.next_id = Some(id);
    }
}
