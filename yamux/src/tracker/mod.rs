//! Passive analysis of yamux traffic seen from outside: bytes in, frames,
//! stream states, credit ledgers and named findings out.
//!
//! Shared by the capture decoder (`yamuxctl decode`), the recording relay
//! and the TUI, so they all agree on what a byte stream means. Pure: no I/O,
//! time is passed in.
//!
//! - [`ByteDecoder`]: one direction of a connection, bytes (and "gap of N
//!   bytes" events) in, frame headers and body chunks out, with an optional
//!   multistream-select preamble, resynchronisation after gaps or garbage,
//!   and undecodable ranges reported.
//! - [`Tracker`]: one connection, both directions: takes each decoded header
//!   with its direction and time and returns what it did to the stream (window
//!   before → after, state) plus [`Finding`]s, each naming a docs/spec.md rule.

mod decoder;
mod finding;
mod ledger;

pub use decoder::{
    plausible_header, ByteDecoder, DecodeSink, Decoded, DecoderConfig, PreambleLine, SkipReason,
    Undecodable, SCAN_CHAIN, SCAN_LOOKAHEAD,
};
pub use finding::{Finding, FindingKind, Severity};
pub use ledger::{
    Bound, FrameRecord, Side, StreamPhase, StreamStats, Tracker, WindowChange, STALL_IDLE,
};
