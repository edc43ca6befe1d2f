//! Reference implementation of the yamux stream multiplexer.
//!
//! - [`frame`]: the 12-byte header, typed fields, encode/decode and a
//!   `tokio_util` codec.
//! - [`proto`]: the sans-IO connection core (every protocol rule; time passed
//!   in). Its calling contract (what to poll after every `handle_*` call and
//!   command, in which order) and a two-connection example are in the
//!   [`proto`] module documentation.
//! - [`tracker`]: the judge of what each side of a connection sent (used by
//!   the conformance peer, capture decoding, the relay and the TUI).
//! - `session`: the tokio `Session` and `Stream` driving it over any
//!   transport (default feature `tokio`; without it `frame`, `proto` and
//!   `tracker` build with no tokio at all).
//! - [`Config`], [`Error`]: configuration and typed errors.
//!
//! Resource bounds against a hostile peer (`limits.receive-budget`,
//! `limits.replies` in docs/spec.md): unread data per session is held to
//! [`Config::max_session_receive_buffer`] (64 MiB; the stream that would
//! overflow it is reset, new streams are refused while it is full), and
//! frames queued in answer to the peer to [`proto::MAX_PENDING_REPLY_BYTES`]
//! (the session stops reading the transport past it).
//!
//! Rule IDs mentioned in the documentation (`flow.credit`, `ids.parity`, ...)
//! are defined in `docs/spec.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::field_reassign_with_default))]

pub mod frame;
pub mod tracker;

pub use frame::{
    DecodeError, EncodeError, Flags, Frame, FrameCodec, FrameType, GoAwayCode, Header, StreamId,
};
pub mod config;
pub mod error;
pub mod proto;
pub mod rules;
pub use config::{AckPolicy, Config, GoAwayMode};
pub use error::{Error, ProtocolError};
pub use rules::Rule;
#[cfg(feature = "tokio")]
pub mod session;
#[cfg(feature = "faults")]
pub use config::Faults;
#[cfg(feature = "tokio")]
pub use session::{Session, Stream};
