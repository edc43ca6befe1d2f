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
