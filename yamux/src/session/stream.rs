//! The application's handle of one stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Shared, TRANSMIT_HIGH_WATER};
use crate::error::Error;
use crate::frame::StreamId;
use crate::proto::ReadResult;

/// One yamux stream: tokio `AsyncRead + AsyncWrite`.
///
/// `poll_shutdown` sends FIN (half-close; reading stays possible).
/// Dropping a stream that is not finished (FIN both ways) resets it. Reads
/// after the peer's RST fail with `ConnectionReset`; after the session
/// ended, with `ConnectionAborted` (or the transport's error kind). The
/// `io::Error` wraps a [`crate::Error`] as its source.
pub struct Stream {
    id: StreamId,
    shared: Arc<Shared>,
    /// Received chunks taken under the lock, copied out after it.
    chunks: Vec<Bytes>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id).finish()
    }
}

fn io_err(e: Error) -> io::Error {
    io::Error::from(e)
}

impl Stream {
    pub(super) fn new(id: StreamId, shared: Arc<Shared>) -> Stream {
        Stream {
            id,
            shared,
            chunks: Vec::new(),
        }
    }

    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Resets the stream: sends RST (`stream.reset`); later reads and
    /// writes fail.
    pub fn reset(&mut self) {
        let mut st = self.shared.lock();
        st.conn.reset(self.id);
        st.after();
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = {
            let mut st = this.shared.lock();
            let now = st.now;
            let r = st
                .conn
                .read_chunks(now, this.id, buf.remaining(), &mut this.chunks);
            st.after();
            if let Ok(ReadResult::Blocked) = r {
                st.wakers.entry(this.id.val()).or_default().read = Some(cx.waker().clone());
                return Poll::Pending;
            }
            r
        };
        // Copy outside the lock.
        for c in this.chunks.drain(..) {
            buf.put_slice(&c);
        }
        match r {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_err(e))),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut st = self.shared.lock();
        if st.conn.transmit_len() >= TRANSMIT_HIGH_WATER && !st.conn.is_closed() {
            if !st.space_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                st.space_wakers.push_back(cx.waker().clone());
            }
            st.after();
            return Poll::Pending;
        }
        let r = st.conn.write(self.id, buf);
        st.after();
        match r {
            Ok(0) if !buf.is_empty() => {
                st.wakers.entry(self.id.val()).or_default().write = Some(cx.waker().clone());
                Poll::Pending
            }
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(io_err(e))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        let r = st.conn.close_write(self.id);
        st.after();
        Poll::Ready(r.map_err(io_err))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.wakers.remove(&self.id.val());
        st.conn.release(self.id);
        st.after();
        if st.idle_shutdown {
            st.wake_driver();
        }
    }
}
