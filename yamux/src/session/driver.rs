//! The task that owns the transport.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use tokio_util::io::poll_read_buf;

use super::{now, wake_all, Shared, TRANSMIT_HIGH_WATER};
use crate::frame::{Frame, FrameCodec};

/// Read buffer size: large reads, few syscalls.
const READ_CHUNK: usize = 512 * 1024;
/// Free space below which the driver switches to another read buffer.
const READ_MIN: usize = 64 * 1024;
/// Free read buffers kept for reuse.
const READ_POOL: usize = 2;
/// Retired read buffers (pinned by unread bodies) before bodies are copied.
const READ_PIN_LIMIT: usize = 8;
/// Data bodies smaller than this are copied out of the read buffer.
const COPY_BELOW: usize = 4096;
/// Rounds per poll before the driver yields, so that woken readers run
/// while the data they were woken for is still in the cache.
const BUDGET: usize = 4;
/// Writers woken per round when transmit space frees up.
const SPACE_WAKE_BATCH: usize = 16;

pub(super) struct Driver<T> {
    io: T,
    shared: Arc<Shared>,
    codec: FrameCodec,
    rbuf: BytesMut,
    retired: VecDeque<BytesMut>,
    frames: Vec<Frame>,
    wbuf: BytesMut,
    read_done: bool,
    /// The connection has too many replies queued (`limits.replies`):
    /// the transport is not read until they are written.
    input_paused: bool,
    read_err: Option<io::Error>,
    decode_err: Option<crate::frame::DecodeError>,
    write_err: Option<io::Error>,
    /// The transport failed on write: skip the flush and the shutdown.
    broken: bool,
    write_deadline: Option<Instant>,
    /// Bytes written so far, and the count when the write timer was armed.
    written: u64,
    write_mark: u64,
    /// The last clock reading.
    last_now: Instant,
    auto_tune: bool,
    write_timeout: std::time::Duration,
    sleep: Pin<Box<Sleep>>,
    sleep_at: Option<Instant>,
    /// Fault `wu_reads_body`: input bytes still to skip.
    #[cfg(feature = "faults")]
    skip: usize,
    #[cfg(feature = "faults")]
    wu_reads_body: bool,
}

impl<T> Driver<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) fn new(io: T, shared: Arc<Shared>) -> Driver<T> {
        let (max_body, write_timeout, auto_tune) = {
            let st = shared.lock();
            let c = st.conn.config();
            (c.max_frame_body, c.write_timeout, c.auto_tune)
        };
        #[cfg(feature = "faults")]
        let wu_reads_body = shared.lock().conn.config().faults.wu_reads_body;
        Driver {
            io,
            shared,
            codec: FrameCodec::new(max_body),
            rbuf: BytesMut::new(),
            retired: VecDeque::new(),
            frames: Vec::new(),
            wbuf: BytesMut::new(),
            read_done: false,
            input_paused: false,
            read_err: None,
            decode_err: None,
            write_err: None,
            broken: false,
            write_deadline: None,
            written: 0,
            write_mark: 0,
            last_now: now(),
            auto_tune,
            write_timeout,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(3600))),
            sleep_at: None,
            #[cfg(feature = "faults")]
            skip: 0,
            #[cfg(feature = "faults")]
            wu_reads_body,
        }
    }

    /// Makes room in the read buffer without touching fresh memory when
    /// possible: frame bodies are slices of the read buffer, so a buffer
    /// can only be reused once every body cut from it has been read.
    /// Retired buffers wait in a small pool until then; fresh pages (page
    /// faults, zeroing) are the expensive part of receiving.
    fn ensure_read_space(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() >= READ_MIN {
            return;
        }
        if self.rbuf.try_reclaim(READ_CHUNK) {
            return;
        }
        // Retired buffers are pinned by unread bodies (bounded by the
        // streams' windows) or free; keep at most READ_POOL free ones.
        let mut next = None;
        let mut free = 0;
        self.retired.retain_mut(|b| {
            if !b.try_reclaim(READ_CHUNK) {
                return true;
            }
            if next.is_none() {
                next = Some(std::mem::take(b));
                return false;
            }
            free += 1;
            free <= READ_POOL
        });
        let mut next = next.unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK));
        // Carry over the start of a partial frame.
        next.extend_from_slice(&self.rbuf);
        let mut old = std::mem::replace(&mut self.rbuf, next);
        old.clear();
        self.retired.push_back(old);
    }

    /// Reads what the transport has and decodes whole frames.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> bool {
        if self.read_done || self.decode_err.is_some() || self.input_paused {
            return false;
        }
        self.ensure_read_space();
        let progress = match poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
            Poll::Ready(Ok(0)) => {
                self.read_done = true;
                true
            }
            Poll::Ready(Ok(_)) => true,
            Poll::Ready(Err(e)) => {
                self.read_done = true;
                self.read_err = Some(e);
                true
            }
            Poll::Pending => false,
        };
        self.decode();
        progress
    }

    fn decode(&mut self) {
        loop {
            #[cfg(feature = "faults")]
            if self.skip > 0 {
                let n = self.skip.min(self.rbuf.len());
                self.rbuf.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
            }
            match self.codec.decode_frame(&mut self.rbuf) {
                Ok(Some(mut f)) => {
                    // Bodies are slices of the read buffer and keep all of
                    // it alive until read. Small bodies, and every body once
                    // a few buffers are pinned by unread data, are copied
                    // out instead, so unread data never pins more than
                    // READ_PIN_LIMIT buffers.
                    if !f.body.is_empty()
                        && (f.body.len() < COPY_BELOW || self.retired.len() >= READ_PIN_LIMIT)
                    {
                        f.body = bytes::Bytes::copy_from_slice(&f.body);
                    }
                    #[cfg(feature = "faults")]
                    if self.wu_reads_body && f.header.typ == crate::frame::FrameType::WindowUpdate {
                        // Deliberate bug: treat the delta as a body length.
                        self.skip = f.header.length as usize;
                    }
                    self.frames.push(f);
                }
                Ok(None) => return,
                Err(e) => {
                    self.decode_err = Some(e);
                    return;
                }
            }
        }
    }

    /// Writes the outgoing batch. Returns true on progress.
    fn poll_output(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.wbuf.is_empty() && self.write_err.is_none() && !self.broken {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => {
                    self.write_err = Some(io::ErrorKind::WriteZero.into());
                }
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
                    self.written += n as u64;
                    progress = true;
                }
                Poll::Ready(Err(e)) => self.write_err = Some(e),
                Poll::Pending => {
                    // A coarse timer: armed once, checked when it fires.
                    if self.write_deadline.is_none() {
                        self.write_deadline = now().checked_add(self.write_timeout);
                        self.write_mark = self.written;
                    }
                    return progress;
                }
            }
        }
        if progress && self.write_err.is_none() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                self.write_err = Some(e);
            }
        }
        progress
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut timer_fired = false;
        for _ in 0..BUDGET {
            let mut progress = self.poll_input(cx);
            // Read the clock only when something needs it.
            let need_now = timer_fired
                || self.auto_tune
                || self
                    .frames
                    .iter()
                    .any(|f| f.header.typ == crate::frame::FrameType::Ping);
            if need_now {
                self.last_now = now();
            }
            let now = self.last_now;
            let fired = std::mem::take(&mut timer_fired);
            let (closed, timeout) = {
                let mut st = self.shared.lock();
                st.driver_woken = false;
                st.now = now;
                if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.driver = Some(cx.waker().clone());
                }
                for f in self.frames.drain(..) {
                    st.conn.handle_frame(now, f);
                }
                if let Some(e) = self.decode_err.take() {
                    st.conn.handle_decode_error(e);
                    self.read_done = true;
                }
                if self.read_done && self.frames.is_empty() {
                    st.conn.handle_transport_closed(self.read_err.take());
                }
                if let Some(e) = self.write_err.take() {
                    self.broken = true;
                    st.conn.handle_transport_closed(Some(e));
                    self.wbuf.clear();
                    st.conn.transmit_buf().clear();
                }
                if fired && self.write_deadline.is_some_and(|d| now >= d) {
                    if self.wbuf.is_empty() {
                        self.write_deadline = None;
                    } else if self.written != self.write_mark {
                        // Progress since the timer was armed: re-arm.
                        self.write_deadline = now.checked_add(self.write_timeout);
                        self.write_mark = self.written;
                    } else {
                        st.conn.handle_write_timeout();
                        self.broken = true;
                        self.wbuf.clear();
                        st.conn.transmit_buf().clear();
                    }
                }
                if fired && st.conn.poll_timeout().is_some_and(|t| now >= t) {
                    st.conn.handle_timeout(now);
                }
                if st.idle_shutdown && st.conn.live_streams() == 0 {
                    st.conn.close();
                }
                if self.wbuf.is_empty() && st.conn.transmit_len() > 0 {
                    std::mem::swap(&mut self.wbuf, st.conn.transmit_buf());
                }
                if st.conn.transmit_len() < TRANSMIT_HIGH_WATER / 2 {
                    st.wake_space(SPACE_WAKE_BATCH);
                }
                self.input_paused = !st.conn.wants_input();
                st.after();
                // after() may set driver_woken for bytes we will take in
                // the next round; that is fine.
                (st.conn.is_closed(), st.conn.poll_timeout())
            };
            if self.poll_output(cx) {
                progress = true;
            }
            if closed && self.wbuf.is_empty() {
                let more = self.shared.lock().conn.transmit_len() > 0;
                if !more || self.broken {
                    return self.poll_finish(cx);
                }
                progress = true;
            }
            // Timers: the earliest of the connection's and the write deadline.
            let deadline = match (timeout, self.write_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(d) = deadline {
                if self.sleep_at != Some(d) {
                    self.sleep_at = Some(d);
                    self.sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                if self.sleep.as_mut().poll(cx).is_ready() {
                    self.sleep_at = None;
                    timer_fired = true;
                    progress = true;
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.broken && Pin::new(&mut self.io).poll_shutdown(cx).is_pending() {
            return Poll::Pending;
        }
        let mut st = self.shared.lock();
        st.finished = true;
        st.wake_everyone();
        wake_all(&mut st.close_wakers);
        Poll::Ready(())
    }
}

impl<T> Future for Driver<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_inner(cx)
    }
}

#[cfg(all(test, feature = "faults"))]
mod fault_tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::frame::{Flags, Frame, StreamId};
    use crate::{Config, Session};

    #[tokio::test]
    async fn wu_reads_body_swallows_the_next_frame() {
        for on in [false, true] {
            let (a, mut b) = tokio::io::duplex(1 << 16);
            let mut cfg = Config::default();
            cfg.faults.wu_reads_body = on;
            let _s = Session::server(a, cfg);
            let mut input = Frame::window_update(StreamId::new(9), Flags::NONE, 12)
                .to_vec()
                .unwrap();
            input.extend(Frame::ping(Flags::SYN, 1).to_vec().unwrap());
            input.extend(Frame::ping(Flags::SYN, 2).to_vec().unwrap());
            b.write_all(&input).await.unwrap();
            let mut reply = [0u8; 12];
            b.read_exact(&mut reply).await.unwrap();
            let first = Frame::decode(&bytes::Bytes::copy_from_slice(&reply))
                .unwrap()
                .0;
            let expected = if on { 2 } else { 1 };
            assert_eq!(first, Frame::ping(Flags::ACK, expected), "fault on: {on}");
        }
    }
}
