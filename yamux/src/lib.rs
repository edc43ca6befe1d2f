//! Reference implementation of the yamux stream multiplexer.
//!
//! - [`frame`]: the 12-byte header, typed fields, encode/decode and a
//!   `tokio_util` codec.
//!
//! Rule IDs mentioned in the documentation (`flow.credit`, `ids.parity`, ...)
//! are defined in `docs/spec.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod frame;
pub mod tracker;

pub use frame::{
    DecodeError, EncodeError, Flags, Frame, FrameCodec, FrameType, GoAwayCode, Header, StreamId,
};
