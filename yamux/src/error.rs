//! Typed errors of the connection core and the session.

use std::io;

use crate::frame::{DecodeError, GoAwayCode, StreamId};
use crate::rules::Rule;

/// A protocol violation by the peer. Each ends the session with Go Away 1
/// (`errors.protocol`); [`ProtocolError::rule`] names the docs/spec.md rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Bytes that are not a frame: bad version or type, or a Data body over
    /// the decoder's limit.
    #[error("undecodable frame ({rule}): {0}", rule = .0.rule())]
    Decode(DecodeError),
    /// A SYN on stream id 0.
    #[error("SYN on stream id 0, which is reserved for the session (ids.control)")]
    SynOnSessionId,
    /// A Data frame with a body on stream id 0.
    #[error("data frame with a {0}-byte body on stream id 0 (ids.control)")]
    DataOnSessionId(u32),
    /// A SYN with the opener's parity wrong (the peer used our ids).
    #[error("SYN on stream {0} with the wrong parity for the peer's role (ids.parity)")]
    WrongParity(StreamId),
    /// A SYN on a stream that is still open.
    #[error("SYN on stream {0}, which is already open (stream.duplicate-syn)")]
    DuplicateSyn(StreamId),
    /// More Data than the receive window allows.
    #[error("{length} bytes of data on stream {stream} exceed the remaining receive window of {window} bytes (flow.overrun)")]
    WindowOverrun {
        /// The stream.
        stream: StreamId,
        /// The frame's length.
        length: u32,
        /// What was left of the window.
        window: u32,
    },
    /// A Window Update that pushes the send credit past `u32::MAX`.
    #[error("window update of {delta} on stream {stream} overflows the send credit of {credit} (flow.overflow)")]
    WindowOverflow {
        /// The stream.
        stream: StreamId,
        /// Credit before the update.
        credit: u32,
        /// The update's delta.
        delta: u32,
    },
}

impl ProtocolError {
    /// The docs/spec.md rule this violates.
    pub fn rule(&self) -> Rule {
        match self {
            ProtocolError::Decode(e) => e.rule(),
            ProtocolError::SynOnSessionId | ProtocolError::DataOnSessionId(_) => Rule::IdsControl,
            ProtocolError::WrongParity(_) => Rule::IdsParity,
            ProtocolError::DuplicateSyn(_) => Rule::StreamDuplicateSyn,
            ProtocolError::WindowOverrun { .. } => Rule::FlowOverrun,
            ProtocolError::WindowOverflow { .. } => Rule::FlowOverflow,
        }
    }
}

/// Errors of sessions and streams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer reset the stream (`stream.reset`).
    #[error("stream reset by the peer")]
    StreamReset,
    /// This side reset the stream; it can no longer be used.
    #[error("stream was reset locally")]
    StreamResetLocally,
    /// The peer answered our SYN with RST (`stream.open`).
    #[error("stream refused by the peer (RST in answer to SYN)")]
    StreamRefused,
    /// Write after this side's FIN (`stream.half-close`).
    #[error("stream closed for writing")]
    StreamClosed,
    /// The session is over (transport closed, or closed locally).
    #[error("session closed")]
    SessionClosed,
    /// The peer sent Go Away with this code (`goaway.recv`).
    #[error("peer sent go away {0}")]
    GoAway(GoAwayCode),
    /// We sent Go Away: no new streams (`goaway.send`).
    #[error("go away {0} sent: no new streams")]
    GoingAway(GoAwayCode),
    /// The peer broke the protocol; the session ended with Go Away 1.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A timeout: the connection write timeout, or the stream open (ACK)
    /// timeout on a stream.
    #[error("timed out")]
    Timeout,
    /// A keep-alive ping went unanswered (`ping.keepalive`).
    #[error("keep-alive ping unanswered")]
    KeepAliveTimeout,
    /// No stream id left for this role (`ids.exhaustion`).
    #[error("stream ids exhausted (ids.exhaustion)")]
    StreamIdsExhausted,
    /// The maximum of concurrent streams is reached.
    #[error("too many streams")]
    TooManyStreams,
    /// This side reset the stream because its data would have taken the
    /// session's unread data past the receive budget
    /// (`limits.receive-budget`); the unread data was dropped.
    #[error("stream reset locally: the session receive budget is used up (limits.receive-budget)")]
    ReceiveBudgetExceeded,
}

impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::StreamReset => Error::StreamReset,
            Error::StreamResetLocally => Error::StreamResetLocally,
            Error::StreamRefused => Error::StreamRefused,
            Error::StreamClosed => Error::StreamClosed,
            Error::SessionClosed => Error::SessionClosed,
            Error::GoAway(c) => Error::GoAway(*c),
            Error::GoingAway(c) => Error::GoingAway(*c),
            Error::Protocol(p) => Error::Protocol(p.clone()),
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            Error::Timeout => Error::Timeout,
            Error::KeepAliveTimeout => Error::KeepAliveTimeout,
            Error::StreamIdsExhausted => Error::StreamIdsExhausted,
            Error::TooManyStreams => Error::TooManyStreams,
            Error::ReceiveBudgetExceeded => Error::ReceiveBudgetExceeded,
        }
    }
}

impl Error {
    /// The `io::ErrorKind` a stream reports for this error:
    /// `ConnectionReset` only for a stream reset by the peer,
    /// `ConnectionRefused` for a refused open, `BrokenPipe` after a local
    /// FIN or reset, `TimedOut` for timeouts, `ConnectionAborted` once the
    /// session is over.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::StreamReset => io::ErrorKind::ConnectionReset,
            Error::StreamRefused => io::ErrorKind::ConnectionRefused,
            Error::StreamResetLocally | Error::StreamClosed | Error::ReceiveBudgetExceeded => {
                io::ErrorKind::BrokenPipe
            }
            Error::Timeout | Error::KeepAliveTimeout => io::ErrorKind::TimedOut,
            // The transport's own kind (e.g. ConnectionReset) would look like
            // a stream reset; the session-level cause stays in the source.
            Error::Io(_)
            | Error::SessionClosed
            | Error::GoAway(_)
            | Error::GoingAway(_)
            | Error::Protocol(_)
            | Error::StreamIdsExhausted
            | Error::TooManyStreams => io::ErrorKind::ConnectionAborted,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_io_errors_keep_the_cause_and_a_distinct_kind() {
        let e: io::Error = Error::Io(io::ErrorKind::ConnectionReset.into()).into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        assert!(matches!(
            e.get_ref().and_then(|s| s.downcast_ref::<Error>()),
            Some(Error::Io(_))
        ));
        let e: io::Error = Error::StreamReset.into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        let p = ProtocolError::WindowOverrun {
            stream: StreamId::new(1),
            length: 10,
            window: 5,
        };
        assert_eq!(p.rule(), Rule::FlowOverrun);
        assert_eq!(
            Error::Protocol(p).to_string(),
            "protocol error: 10 bytes of data on stream 1 exceed the remaining receive window of 5 bytes (flow.overrun)"
        );
    }
}
