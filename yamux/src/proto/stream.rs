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
    pub(crate) buf: VecDeque<Bytes>,
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
            buf: VecDeque::new(),
            buffered: 0,
            last_credit_at: None,
        }
    }

    /// Frees the queue's memory once it is empty: an idle stream then
    /// holds no heap memory for received data (the queue allocates again,
    /// for a few chunks, when the next frame arrives).
    fn release_empty_buf(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = VecDeque::new();
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
        self.release_empty_buf();
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
        self.release_empty_buf();
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
        let mut s = with(&[b"abc", b"de"]);
        let mut dst = [0u8; 4];
        assert_eq!(s.copy_out(&mut dst), 4);
        assert_eq!(&dst, b"abcd");
        assert!(s.buf.capacity() > 0, "one byte still queued");
        let mut rest = [0u8; 8];
        assert_eq!(s.copy_out(&mut rest), 1);
        assert_eq!(rest[0], b'e');
        assert_eq!(s.buf.capacity(), 0);
        assert_eq!((s.buffered, s.unreported), (0, 5));

        let mut s = with(&[b"xyz"]);
        let mut out = Vec::new();
        assert_eq!(s.take_chunks(2, &mut out), 2);
        assert!(s.buf.capacity() > 0);
        assert_eq!(s.take_chunks(10, &mut out), 1);
        assert_eq!(s.buf.capacity(), 0);
        assert_eq!(out.concat(), b"xyz");
    }
}
