//! Per-stream protocol state.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes};

use crate::config::INITIAL_WINDOW;
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
}

impl ResetKind {
    pub(crate) fn error(self) -> Error {
        match self {
            ResetKind::Remote => Error::StreamReset,
            ResetKind::Refused => Error::StreamRefused,
            ResetKind::Local => Error::StreamResetLocally,
            ResetKind::OpenTimeout => Error::Timeout,
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
            last_credit_at: None,
        }
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
            if front.is_empty() {
                self.buf.pop_front();
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
            s.buf.push_back(Bytes::from_static(c));
            s.buffered += c.len();
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
        assert_eq!((s.buffered, s.unreported), (0, 6));
        assert_eq!(s.copy_out(&mut rest), 0);

        // one chunk at a time never allocates
        let mut s = with(&[b"xyz"]);
        assert_eq!(s.buf.heap_capacity(), 0);
        let mut out = Vec::new();
        assert_eq!(s.take_chunks(2, &mut out), 2);
        assert_eq!(s.take_chunks(10, &mut out), 1);
        s.buf.push_back(Bytes::from_static(b"!"));
        s.buffered += 1;
        assert_eq!(s.take_chunks(10, &mut out), 1);
        assert_eq!(s.buf.heap_capacity(), 0);
        assert_eq!(out.concat(), b"xyz!");
    }
}
