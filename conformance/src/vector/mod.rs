//! Scenario vectors (`vectors/session/*.json`): typed with serde, loaded and
//! validated strictly. The format is documented in docs/vectors.md.
//!
//! This module is the format (the types a file parses into); [`fields`]
//! holds the typed values of its fields (frame type, flags, parity,
//! bindings, hex; adapter commands and events are [`crate::adapter`]'s),
//! each parsed once, so that a bad value fails the load and the peer never
//! re-parses a string; [`load`] reads files into a [`Suite`] with errors
//! that name the file, case, step and field; [`validate`] checks what types
//! cannot say (bindings before use, adapter commands listed in `requires`,
//! ...); [`select`] matches case ids against `--case` selectors.

pub mod fields;
pub mod load;
pub mod select;
#[cfg(test)]
mod tests;
pub mod validate;

pub use fields::{flags_field, Binding, Hex, Parity, Reply, StreamRef, TypeByte};
pub use load::{load_file, load_str};
pub use select::selects;
pub use validate::validate_case;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use yamux::frame::Flags;
use yamux::Rule;

use crate::adapter::{Command, Event};

/// Requirement level of a case or step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Required; a miss fails the implementation.
    #[serde(rename = "MUST")]
    Must,
    /// Recommended; a miss is non-strict.
    #[serde(rename = "SHOULD")]
    Should,
    /// Behaviour recorded, never a failure.
    #[serde(rename = "INFO")]
    Info,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        })
    }
}

/// The role the implementation under test plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The IUT accepts the TCP connection (the scripted peer is the client).
    Server,
    /// The IUT dials (the scripted peer is the server).
    Client,
}

impl Role {
    /// `server` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file of `vectors/session/`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Family name (the file stem).
    pub family: String,
    /// What the family covers.
    pub description: String,
    /// The cases (parsed separately for precise errors).
    pub cases: Vec<Value>,
}

/// A scenario case.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable id, e.g. `flow.recv.exact-window`.
    pub id: String,
    /// docs/spec.md rules this case checks (an unknown id does not load).
    pub spec: Vec<Rule>,
    /// Level of the case.
    pub level: Level,
    /// IUT roles the case applies to.
    pub roles: Vec<Role>,
    /// One line: what is checked.
    pub summary: String,
    /// Adapter commands the case needs (beyond echo mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Command>,
    /// Case timeout in milliseconds (default: the runner's `--timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Environment for the adapter (e.g. `YAMUX_WINDOW`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Most the implementation's resident memory may grow during the case,
    /// MiB; more is a failure at the case's level (rule
    /// `resilience.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_budget_mib: Option<u64>,
    /// The script.
    pub steps: Vec<Step>,
    /// File the case came from (not part of the JSON).
    #[serde(skip)]
    pub file: PathBuf,
    /// Family of the file.
    #[serde(skip)]
    pub family: String,
}

impl Case {
    /// True when the case needs an adapter (it cannot run against `--target`).
    pub fn needs_adapter(&self) -> bool {
        !self.requires.is_empty()
            || self.steps.iter().any(|s| {
                matches!(
                    s.kind,
                    StepKind::Act(_) | StepKind::ExpectEvent(_) | StepKind::ExpectNoEvent(_)
                )
            })
    }
}

/// A step: one action plus optional level override and note.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    /// The action.
    #[serde(flatten)]
    pub kind: StepKind,
    /// Level of this check when it differs from the case's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// What is being checked (shown on failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Rule this step checks, when narrower than the case's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// How long the step may wait, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
}

/// Step kinds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Send one frame (or several identical ones).
    Send(SendFrame),
    /// Send raw bytes.
    Raw(RawSend),
    /// Send a payload on a stream as Data frames, honouring credit.
    SendData(SendData),
    /// Wait for a frame matching a pattern.
    Expect(FramePattern),
    /// Wait for payload on a stream, reassembled across frames.
    ExpectData(ExpectData),
    /// Wait for a Go Away.
    ExpectGoaway(ExpectGoaway),
    /// The IUT ends the session: Go Away and/or TCP close.
    ExpectTerminate(ExpectTerminate),
    /// The TCP connection is closed by the IUT.
    ExpectClose(ExpectClose),
    /// No frame of the given kind for a while.
    ExpectSilence(ExpectSilence),
    /// Send a ping and wait for its answer: proves the session is alive and
    /// everything before it was processed.
    Sync(SyncStep),
    /// An adapter command.
    Act(Act),
    /// Wait for an adapter event.
    ExpectEvent(ExpectEvent),
    /// No such adapter event for a while.
    ExpectNoEvent(ExpectNoEvent),
    /// Sleep.
    Wait(WaitStep),
    /// Record frames and events for a while (INFO cases).
    Observe(Observe),
    /// Change the peer's default behaviour.
    Peer(PeerSettings),
    /// Close the peer's side of the TCP connection.
    CloseTcp(CloseTcp),
    /// Send many frames as fast as the IUT takes them, bounded in count and
    /// time (resilience cases).
    Flood(Box<Flood>),
    /// The IUT still works: a ping is answered and a new stream echoes, or
    /// it has ended the session (a defence). Resumes the peer's reading.
    Responsive(Responsive),
    /// More sessions to a server under test, held open until the case
    /// ends (`resilience.many-sessions`).
    Sessions(SessionsStep),
}

impl StepKind {
    /// The JSON key of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Send(_) => "send",
            StepKind::Raw(_) => "raw",
            StepKind::SendData(_) => "send_data",
            StepKind::Expect(_) => "expect",
            StepKind::ExpectData(_) => "expect_data",
            StepKind::ExpectGoaway(_) => "expect_goaway",
            StepKind::ExpectTerminate(_) => "expect_terminate",
            StepKind::ExpectClose(_) => "expect_close",
            StepKind::ExpectSilence(_) => "expect_silence",
            StepKind::Sync(_) => "sync",
            StepKind::Act(_) => "act",
            StepKind::ExpectEvent(_) => "expect_event",
            StepKind::ExpectNoEvent(_) => "expect_no_event",
            StepKind::Wait(_) => "wait",
            StepKind::Observe(_) => "observe",
            StepKind::Peer(_) => "peer",
            StepKind::CloseTcp(_) => "close_tcp",
            StepKind::Flood(_) => "flood",
            StepKind::Responsive(_) => "responsive",
            StepKind::Sessions(_) => "sessions",
        }
    }
}

/// A frame body.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Exact bytes as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<Hex>,
    /// Exact bytes as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utf8: Option<String>,
    /// N pattern bytes (byte i is i mod 251, counted from `offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u32>,
    /// Offset of the pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The pattern byte at position `i` (as in the adapter protocol's `len`).
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Largest pattern body a vector may ask for (`body.len`): the decoder's
/// default body limit, 16 MiB.
pub const MAX_BODY_LEN: u32 = yamux::frame::DEFAULT_MAX_BODY_LEN;

impl Body {
    /// Checks the body without building it: exactly one source, a pattern
    /// length within [`MAX_BODY_LEN`] (hex is checked when it loads).
    pub fn check(&self) -> Result<(), String> {
        match (&self.hex, &self.utf8, self.len) {
            (Some(_), None, None) | (None, Some(_), None) | (None, None, None) => Ok(()),
            (None, None, Some(n)) if n > MAX_BODY_LEN => Err(format!(
                "body.len: {n} is above the limit of {MAX_BODY_LEN} bytes"
            )),
            (None, None, Some(_)) => Ok(()),
            _ => Err("body: give exactly one of hex, utf8, len".into()),
        }
    }

    /// The bytes, or an error naming the field.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.hex, &self.utf8, self.len) {
            (None, None, Some(_)) => {
                self.check()?;
                let n = self.len.unwrap_or(0);
                let off = self.offset.unwrap_or(0);
                Ok((0..u64::from(n))
                    .map(|i| pattern_byte(i.wrapping_add(off)))
                    .collect())
            }
            (Some(h), None, None) => Ok(h.0.clone()),
            (None, Some(t), None) => Ok(t.as_bytes().to_vec()),
            (None, None, None) => Ok(Vec::new()),
            _ => Err("body: give exactly one of hex, utf8, len".into()),
        }
    }
}

/// `send`: one frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFrame {
    /// Frame type (name or number).
    #[serde(rename = "type")]
    pub typ: TypeByte,
    /// Flags, e.g. `SYN|ACK` or `0x8000`.
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags: Option<Flags>,
    /// Stream id or binding (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Window Update delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<u32>,
    /// Ping value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// Go Away code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// Header Length override (a lie about the body, or a raw value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Version byte override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// Data body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Allow exceeding the IUT's window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overrun: bool,
    /// Send this many copies (value/delta incremented by `step` each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// Increment of the value per repeat (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// Increment of the stream id per repeat (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_step: Option<u32>,
    /// Split the wire bytes into writes of these sizes (the rest in a last write).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<usize>,
    /// Delay between split writes, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_delay_ms: Option<u64>,
    /// Queue the bytes and send them with the next send (one TCP write).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub coalesce: bool,
    /// Once the IUT has ended the session (Go Away, close, or its
    /// application told), the frame is not sent and the step passes: a
    /// case may go on either way (see `expect_data`'s `or_end`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub or_end: bool,
}

/// `raw`: bytes as hex.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSend {
    /// The bytes.
    pub hex: Hex,
    /// Split into writes of these sizes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<usize>,
    /// Delay between writes, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_delay_ms: Option<u64>,
    /// Queue the bytes and send them with the next send.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub coalesce: bool,
}

/// `send_data`: a payload as Data frames within credit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendData {
    /// Stream.
    pub stream: StreamRef,
    /// Total pattern bytes.
    pub len: u64,
    /// Largest frame (default 16384).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u32>,
    /// Set FIN on the last frame.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fin: bool,
    /// Send exactly the credit the IUT has granted so far (`len` is ignored
    /// and may be 0): the IUT must accept all of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fill: bool,
}

/// `expect`: a frame pattern.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramePattern {
    /// Type (any when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<TypeByte>,
    /// Flags that must be set.
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags: Option<Flags>,
    /// At least one of these flags (`ACK|RST`: accepted or refused).
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags_any: Option<Flags>,
    /// Flags that must be absent.
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags_absent: Option<Flags>,
    /// Exact flags.
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags_exact: Option<Flags>,
    /// Stream id or binding (binds on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Parity of the stream id: `odd`, `even`, `iut` (the IUT's parity) or
    /// `peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
    /// Exact Length value (delta, ping value, go-away code, data length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// Wait for this many matching frames (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// `expect_data`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectData {
    /// Stream.
    pub stream: StreamRef,
    /// Expected bytes (`len` = pattern bytes continuing the stream's offset).
    #[serde(flatten)]
    pub body: Body,
    /// Also expect FIN after the data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fin: bool,
    /// Only count bytes; do not compare them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any_bytes: bool,
    /// The IUT may instead end the stream (RST) or the session (Go Away,
    /// close): either passes, recorded as an observation. What fails is
    /// the bytes silently not coming while the stream stays open.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub or_end: bool,
}

/// `expect_goaway`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectGoaway {
    /// Expected code (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// `expect_terminate`: Go Away (code checked at SHOULD level) and/or close.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectTerminate {
    /// Expected Go Away code (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// `expect_close`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClose {}

/// `expect_silence`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSilence {
    /// How long, ms.
    pub ms: u64,
    /// Only frames on this stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Only these types (default: all but Window Update and Ping).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypeByte>,
    /// Only frames with these flags (any of them).
    #[serde(default, with = "flags_field", skip_serializing_if = "Option::is_none")]
    pub flags: Option<Flags>,
    /// Data frames with payload only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload: bool,
}

/// `sync`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncStep {
    /// Ping value (default: a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
}

/// `act`: an adapter command.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Act {
    /// The command.
    pub cmd: Command,
    /// Stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Bytes to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<Hex>,
    /// Pattern bytes to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// Go Away code (`goaway`), or error code of the RST (`reset-code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// Connections to accept (`accept-sessions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Bind the reply's `stream` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<Binding>,
    /// Expected reply: `ok` (default), `error`, `any`, `none` (do not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_reply: Option<Reply>,
    /// Send the command this many times (only with `expect_reply: none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

impl Act {
    /// The command `cmd` with no fields.
    pub fn new(cmd: Command) -> Act {
        Act {
            cmd,
            stream: None,
            hex: None,
            len: None,
            code: None,
            count: None,
            bind: None,
            expect_reply: None,
            repeat: None,
        }
    }
}

/// `expect_no_event`: no such adapter event for a while.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoEvent {
    /// The event.
    pub event: Event,
    /// Stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// How long, ms.
    pub ms: u64,
}

/// `expect_event`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectEvent {
    /// The event: accepted, data, eof, reset, stream-error, closed.
    pub event: Event,
    /// Stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// For `data`: total bytes read on the stream so far, at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// Accept any of these events instead (e.g. reset or stream-error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or: Vec<Event>,
}

/// `wait`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Milliseconds.
    pub ms: u64,
}

/// `observe`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observe {
    /// Milliseconds.
    pub ms: u64,
    /// Label of the observation.
    pub label: String,
    /// Only frames on this stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
}

/// `peer`: defaults of the scripted peer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    /// Answer the IUT's pings (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_pings: Option<bool>,
    /// Return credit for data received (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_credit: Option<bool>,
    /// Acknowledge streams the IUT opens with `WU|ACK` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_ack: Option<bool>,
    /// Read from the connection (default true). `false` stops reading the
    /// socket, so what the IUT sends backs up into its own buffers; a
    /// `responsive` step reads again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
}

/// Largest `flood.count`.
pub const MAX_FLOOD_COUNT: u32 = 2_000_000;
/// Longest `flood.for_ms`.
pub const MAX_FLOOD_MS: u64 = 10_000;

/// `flood`: `count` copies of a frame, written in batches as fast as the
/// IUT reads them, for at most `for_ms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flood {
    /// The frame; its `step` and `stream_step` apply per copy, `repeat`,
    /// `split` and `coalesce` are not allowed.
    pub frame: SendFrame,
    /// Copies to send (at most [`MAX_FLOOD_COUNT`]).
    pub count: u32,
    /// Stop sending after this long, ms (default 3000, at most
    /// [`MAX_FLOOD_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Frames per write (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Pause between writes, ms (a trickle; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_ms: Option<u64>,
    /// A second frame sent right after each copy, on the same stream id
    /// (e.g. RST after SYN: a rapid reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<SendFrame>,
}

/// `responsive`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Responsive {
    /// Bytes to have echoed on the fresh stream (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<u32>,
    /// The application reads no stream (an earlier `no-read`): once the
    /// adapter has accepted the fresh stream, `echo` and `read` are turned
    /// on for that stream alone, so the streams the case filled stay
    /// unread (with an adapter only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_fresh: bool,
}

/// `sessions`: `count` more TCP connections to the server under test, each
/// a yamux client session that opens stream 1 (`WU|SYN`) with `echo` bytes
/// and sends a Ping; a session is served when the bytes come back and the
/// Ping is answered. The served ones stay open until the case ends, so the
/// steps after this one run beside them. With an adapter, the step first
/// sends `accept-sessions` with `count` (an adapter answering `unsupported`
/// makes the case unsupported). Server role only. The step records how many
/// were served, turned away (refused, closed, Go Away, RST: a defence) or
/// undecided within `within_ms`; it fails nothing by itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsStep {
    /// Sessions to open (at most [`crate::sessions::MAX_SESSIONS`]).
    pub count: u32,
    /// Bytes echoed on each (default 64, at most 65,536).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<u32>,
}

/// `close_tcp`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseTcp {}

/// A problem in a vector file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}: {message}")]
pub struct VectorError {
    /// The file.
    pub file: String,
    /// Case and step, or "file".
    pub place: String,
    /// What is wrong.
    pub message: String,
}

/// All cases loaded from a directory.
#[derive(Clone, Debug, Default)]
pub struct Suite {
    /// Families in file order: (name, description).
    pub families: Vec<(String, String)>,
    /// Cases in file order.
    pub cases: Vec<Case>,
}
