//! Per-stream protocol state.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes};

use crate::frame::INITIAL_WINDOW;

/// Bookkeeping memory of one queued chunk (the queue slot, the
/// allocation's header and rounding), charged against the receive budget
/// on top of the chunk's bytes (`limits.receive-budget`).
pub const CHUNK_OVERHEAD: usize = 64;
use crate::error::Error;

/// Why a stream ended abruptly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetKind {
    /// The peer sent RST.
    Remote,
    /// The peer answered our SYN with RST.
    Refused,
    /// We reset it.
    Local,
    /// No ACK within the stream open timeout.
    OpenTimeout,
    /// We reset it: its data would have exceeded the receive budget.
    Budget,
}

impl ResetKind {
    pub(crate) fn error(self) -> Error {
        match self {
            ResetKind::Remote => Error::StreamReset,
            ResetKind::Refused => Error::StreamRefused,
            ResetKind::Local => Error::StreamResetLocally,
            ResetKind::OpenTimeout => Error::Timeout,
            ResetKind::Budget => Error::ReceiveBudgetExceeded,
        }
    }
}

/// Received chunks not yet read, in order. The first is held inline, so a
/// stream that never has more than one chunk waiting (requests and
/// responses, a reader keeping up) never allocates for it, and an idle
/// stream holds no heap memory; the queue behind it is freed when it
/// drains.
#[derive(Debug, Default)]
pub(crate) struct RecvQueue {
    /// The oldest chunk; `None` only when `rest` is empty too.
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
}

impl RecvQueue {
    pub(crate) fn push_back(&mut self, b: Bytes) {
        if self.first.is_none() {
            self.first = Some(b);
        } else {
            self.rest.push_back(b);
        }
    }

    fn front_mut(&mut self) -> Option<&mut Bytes> {
        self.first.as_mut()
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        let b = self.first.take();
        self.first = self.rest.pop_front();
        if self.rest.is_empty() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
        b
    }

    /// Drops every chunk and the queue's memory.
    pub(crate) fn clear(&mut self) {
        *self = RecvQueue::default();
    }

    #[cfg(test)]
    fn heap_capacity(&self) -> usize {
        self.rest.capacity()
    }
}

#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) outbound: bool,
    /// Outbound: ACK received. Inbound: ACK sent.
    pub(crate) acked: bool,
    /// Outbound and counted in the ACK backlog.
    pub(crate) in_backlog: bool,
    /// Inbound: handed to the application.
    pub(crate) accepted: bool,
    /// The application dropped its handle.
    pub(crate) released: bool,
    pub(crate) send_credit: u32,
    pub(crate) local_fin: bool,
    pub(crate) remote_fin: bool,
    pub(crate) reset: Option<ResetKind>,
    /// What the peer may still send.
    pub(crate) recv_window: u32,
    /// The window granted: buffered + recv_window + unreported == recv_max.
    pub(crate) recv_max: u32,
    /// Read by the application, not yet returned as credit.
    pub(crate) unreported: u32,
    pub(crate) buf: RecvQueue,
    pub(crate) buffered: usize,
    /// Chunks in `buf` (each costs [`CHUNK_OVERHEAD`] on top of its bytes).
    pub(crate) chunks: usize,
    pub(crate) last_credit_at: Option<Instant>,
}

impl StreamState {
    pub(crate) fn new(outbound: bool, window: u32) -> StreamState {
        StreamState {
            outbound,
            acked: false,
            in_backlog: false,
            accepted: false,
            released: false,
            send_credit: INITIAL_WINDOW,
            local_fin: false,
            remote_fin: false,
            reset: None,
            recv_window: window,
            recv_max: window,
            unreported: 0,
            buf: RecvQueue::default(),
            buffered: 0,
            chunks: 0,
            last_credit_at: None,
        }
    }

    /// What this stream's unread data costs against the session's receive
    /// budget (`limits.receive-budget`): its bytes plus a fixed overhead per
    /// chunk, so a flood of 1-byte frames is charged for the memory it
    /// really takes.
    pub(crate) fn charge(&self) -> usize {
        self.buffered + self.chunks * CHUNK_OVERHEAD
    }

    /// Queues a received body.
    pub(crate) fn push(&mut self, body: Bytes) {
        self.buffered += body.len();
        self.chunks += 1;
        self.buf.push_back(body);
    }

    /// Drops every unread byte.
    pub(crate) fn discard(&mut self) {
        self.buf.clear();
        self.buffered = 0;
        self.chunks = 0;
    }

    /// Moves up to `max` buffered bytes into `out` as `Bytes` (no copy);
    /// returns the count.
    pub(crate) fn take_chunks(&mut self, max: usize, out: &mut Vec<Bytes>) -> usize {
        let mut n = 0;
        while n < max {
            let Some(front) = self.buf.front_mut() else {
                break;
            };
            let take = front.len().min(max - n);
            if take == front.len() {
                if let Some(b) = self.buf.pop_front() {
                    out.push(b);
                    self.chunks -= 1;
                }
            } else {
                out.push(front.split_to(take));
            }
            n += take;
        }
        self.buffered -= n;
        self.unreported = self
            .unreported
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        n
    }

    /// Copies buffered bytes into `dst`; returns the count.
    pub(crate) fn copy_out(&mut self, dst: &mut [u8]) -> usize {
        let mut n = 0;
        while n < dst.len() {
            let Some(front) = self.buf.front_mut() else {
                break;
            };
            let take = front.len().min(dst.len() - n);
            if let (Some(d), Some(s)) = (dst.get_mut(n..n + take), front.get(..take)) {
                d.copy_from_slice(s);
            }
            front.advance(take);
            if front.is_empty() && self.buf.pop_front().is_some() {
                self.chunks -= 1;
            }
            n += take;
        }
        self.buffered -= n;
        self.unreported = self
            .unreported
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(chunks: &[&'static [u8]]) -> StreamState {
        let mut s = StreamState::new(false, INITIAL_WINDOW);
        for c in chunks {
            s.push(Bytes::from_static(c));
        }
        s
    }

    #[test]
    fn a_drained_queue_holds_no_memory() {
        let mut s = with(&[b"abc", b"de", b"f"]);
        assert!(
            s.buf.heap_capacity() > 0,
            "three chunks: two behind the first"
        );
        let mut dst = [0u8; 4];
        assert_eq!(s.copy_out(&mut dst), 4);
        assert_eq!(&dst, b"abcd");
        let mut rest = [0u8; 8];
        assert_eq!(s.copy_out(&mut rest), 2);
        assert_eq!(&rest[..2], b"ef");
        assert_eq!(s.buf.heap_capacity(), 0);
        assert_eq!((s.buffered, s.unreported, s.chunks), (0, 6, 0));
        assert_eq!(s.copy_out(&mut rest), 0);

        // one chunk at a time never allocates
        let mut s = with(&[b"xyz"]);
        assert_eq!(s.buf.heap_capacity(), 0);
        let mut out = Vec::new();
        assert_eq!(s.take_chunks(2, &mut out), 2);
        assert_eq!(s.take_chunks(10, &mut out), 1);
        s.push(Bytes::from_static(b"!"));
        assert_eq!(s.chunks, 1);
        assert_eq!(s.take_chunks(10, &mut out), 1);
        assert_eq!(s.buf.heap_capacity(), 0);
        assert_eq!(out.concat(), b"xyz!");
    }
}
