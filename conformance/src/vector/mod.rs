//! Scenario vectors (`vectors/session/*.json`): typed with serde, loaded and
//! validated strictly. The format is documented in docs/vectors.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use yamux::frame::{Flags, FrameType};
use yamux::Rule;

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
    pub requires: Vec<String>,
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

/// A stream reference: a literal id or a binding (`$name` allocates an id of
/// the peer's parity on first send or binds on first match; `%name` allocates
/// an id of the IUT's parity that the IUT has not used).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamRef {
    /// A literal id.
    Id(u32),
    /// A binding name including its sigil.
    Bind(String),
}

impl StreamRef {
    /// The binding name, if any.
    pub fn binding(&self) -> Option<&str> {
        match self {
            StreamRef::Bind(b) => Some(b),
            StreamRef::Id(_) => None,
        }
    }
}

impl fmt::Display for StreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamRef::Id(n) => write!(f, "{n}"),
            StreamRef::Bind(b) => f.write_str(b),
        }
    }
}

/// A frame body.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Exact bytes as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
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
    /// Checks the body without building it: exactly one source, valid hex,
    /// a pattern length within [`MAX_BODY_LEN`].
    pub fn check(&self) -> Result<(), String> {
        match (&self.hex, &self.utf8, self.len) {
            (Some(_), None, None) => self.bytes().map(drop),
            (None, Some(_), None) | (None, None, None) => Ok(()),
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
            (Some(h), None, None) => {
                hex::decode(h.replace([' ', '_'], "")).map_err(|e| format!("body.hex: {e}"))
            }
            (None, Some(t), None) => Ok(t.as_bytes().to_vec()),
            (None, None, None) => Ok(Vec::new()),
            _ => Err("body: give exactly one of hex, utf8, len".into()),
        }
    }
}

/// Frame type names accepted in vectors: `data`, `window-update` (`wu`),
/// `ping`, `go-away` (`goaway`), or a number (for invalid types).
pub fn parse_type(s: &str) -> Option<u8> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "wu" => Some(1),
        "goaway" => Some(3),
        _ => FrameType::from_name(&lower)
            .map(|t| t as u8)
            .or_else(|| parse_u32(&lower).and_then(|v| u8::try_from(v).ok())),
    }
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `send`: one frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFrame {
    /// Frame type (name or number).
    #[serde(rename = "type")]
    pub typ: String,
    /// Flags, e.g. `SYN|ACK` or `0x8000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
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
}

/// `raw`: bytes as hex.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSend {
    /// The bytes.
    pub hex: String,
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
    pub typ: Option<String>,
    /// Flags that must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Flags that must be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_absent: Option<String>,
    /// Exact flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_exact: Option<String>,
    /// Stream id or binding (binds on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Parity of the stream id: `odd`, `even`, or `iut` (the IUT's parity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<String>,
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
    pub types: Vec<String>,
    /// Only frames with these flags (any of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Act {
    /// Command name.
    pub cmd: String,
    /// Stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// Bytes to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
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
    pub bind: Option<String>,
    /// Expected reply: `ok` (default), `error`, `any`, `none` (do not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_reply: Option<String>,
    /// Send the command this many times (only with `expect_reply: none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

/// `expect_no_event`: no such adapter event for a while.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoEvent {
    /// Event name.
    pub event: String,
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
    /// Event name: accepted, data, eof, reset, stream-error, closed.
    pub event: String,
    /// Stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamRef>,
    /// For `data`: total bytes read on the stream so far, at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// Accept any of these events instead (e.g. reset or stream-error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or: Vec<String>,
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

/// Adapter commands a case may use.
pub const COMMANDS: &[&str] = &[
    "open",
    "write",
    "close",
    "reset",
    "reset-code",
    "ping",
    "goaway",
    "session-close",
    "accept",
    "no-accept",
    "read",
    "no-read",
    "echo",
    "no-echo",
    "accept-sessions",
];

/// Adapter events a case may wait for.
pub const EVENTS: &[&str] = &["accepted", "data", "eof", "reset", "stream-error", "closed"];

impl Suite {
    /// Loads every `*.json` file of `dir` (sorted by name) and validates it.
    pub fn load_dir(dir: &Path) -> Result<Suite, Vec<VectorError>> {
        let mut errors = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) => {
                return Err(vec![VectorError {
                    file: dir.display().to_string(),
                    place: "directory".into(),
                    message: e.to_string(),
                }])
            }
        };
        files.sort();
        let mut suite = Suite::default();
        for f in files {
            match load_file(&f) {
                Ok((fam, desc, cases)) => {
                    suite.families.push((fam, desc));
                    suite.cases.extend(cases);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for c in &suite.cases {
            if let Some(prev) = seen.insert(&c.id, &c.file) {
                errors.push(VectorError {
                    file: c.file.display().to_string(),
                    place: format!("case {}", c.id),
                    message: format!("id: duplicate id (also in {})", prev.display()),
                });
            }
        }
        if errors.is_empty() {
            Ok(suite)
        } else {
            Err(errors)
        }
    }

    /// The case with this id.
    pub fn get(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }
}

/// Loads and validates one file.
pub fn load_file(path: &Path) -> Result<(String, String, Vec<Case>), Vec<VectorError>> {
    let fname = path.display().to_string();
    let err = |place: String, message: String| VectorError {
        file: fname.clone(),
        place,
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![err("file".into(), e.to_string())])?;
    load_str(path, &text)
}

/// Parses and validates the text of a vector file; `path` names it in
/// errors and in the cases, and its stem must equal the family.
pub fn load_str(path: &Path, text: &str) -> Result<(String, String, Vec<Case>), Vec<VectorError>> {
    let fname = path.display().to_string();
    let err = |place: String, message: String| VectorError {
        file: fname.clone(),
        place,
        message,
    };
    let file: VectorFile =
        serde_json::from_str(text).map_err(|e| vec![err("file".into(), e.to_string())])?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut errors = Vec::new();
    if file.family != stem {
        errors.push(err(
            "file".into(),
            format!(
                "family: {:?} must equal the file name {:?}",
                file.family, stem
            ),
        ));
    }
    let mut cases = Vec::new();
    for (i, raw) in file.cases.iter().enumerate() {
        let label = raw
            .get("id")
            .and_then(Value::as_str)
            .map(|s| format!("case {s}"))
            .unwrap_or_else(|| format!("case #{}", i + 1));
        match parse_case(raw) {
            Ok(mut case) => {
                case.file = path.to_path_buf();
                case.family = file.family.clone();
                for (place, message) in validate_case(&case) {
                    errors.push(err(format!("{label}{place}"), message));
                }
                cases.push(case);
            }
            Err((place, message)) => errors.push(err(format!("{label}{place}"), message)),
        }
    }
    let mut seen = BTreeSet::new();
    for c in &cases {
        if !seen.insert(c.id.as_str()) {
            errors.push(err(
                format!("case {}", c.id),
                "id: duplicate id in this file".into(),
            ));
        }
    }
    if errors.is_empty() {
        Ok((file.family, file.description, cases))
    } else {
        Err(errors)
    }
}

const STEP_COMMON: &[&str] = &["level", "note", "rule", "within_ms"];

/// Parses a case with step-precise errors: (place suffix, message).
fn parse_case(raw: &Value) -> Result<Case, (String, String)> {
    let Value::Object(map) = raw else {
        return Err((String::new(), "a case must be a JSON object".into()));
    };
    let mut top = map.clone();
    let steps_raw = top.remove("steps").unwrap_or(Value::Null);
    top.insert("steps".into(), Value::Array(Vec::new()));
    let mut case: Case = from_value_at(Value::Object(top)).map_err(|e| (String::new(), e))?;
    let Value::Array(steps) = steps_raw else {
        return Err((String::new(), "steps: missing or not a list".into()));
    };
    for (i, s) in steps.iter().enumerate() {
        let place = format!(", step {}", i + 1);
        let Value::Object(m) = s else {
            return Err((place, "a step must be a JSON object".into()));
        };
        let mut common = serde_json::Map::new();
        let mut kind = serde_json::Map::new();
        for (k, v) in m {
            if STEP_COMMON.contains(&k.as_str()) {
                common.insert(k.clone(), v.clone());
            } else {
                kind.insert(k.clone(), v.clone());
            }
        }
        if kind.len() != 1 {
            let keys: Vec<&String> = kind.keys().collect();
            return Err((
                place,
                format!(
                    "a step needs exactly one action key (send, expect, act, ...), found {keys:?}"
                ),
            ));
        }
        let kind_name = kind.keys().next().cloned().unwrap_or_default();
        let kind: StepKind = serde_json::from_value(Value::Object(kind))
            .map_err(|e| (format!("{place} ({kind_name})"), e.to_string()))?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Common {
            level: Option<Level>,
            note: Option<String>,
            rule: Option<Rule>,
            within_ms: Option<u64>,
        }
        let c: Common = from_value_at(Value::Object(common))
            .map_err(|e| (format!("{place} ({kind_name})"), e))?;
        case.steps.push(Step {
            kind,
            level: c.level,
            note: c.note,
            rule: c.rule,
            within_ms: c.within_ms,
        });
    }
    Ok(case)
}

/// Deserializes `v`; the error names the field it is in (`spec[1]: ...`).
fn from_value_at<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').count() >= 2
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

fn check_flags(v: &Option<String>, field: &str, out: &mut Vec<String>) {
    if let Some(f) = v {
        if Flags::parse(f).is_none() {
            out.push(format!(
                "{field}: {f:?} is not a flag set (SYN|ACK|FIN|RST or a number)"
            ));
        }
    }
}

/// Semantic checks; returns (place suffix, message).
pub fn validate_case(case: &Case) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut top = |m: String| out.push((String::new(), m));
    if !valid_id(&case.id) {
        top(format!(
            "id: {:?} must be dotted lower-case words (e.g. flow.recv.exact-window)",
            case.id
        ));
    }
    if !case.id.starts_with(&format!("{}.", case.family)) && case.family != "regressions" {
        top(format!(
            "id: {:?} must start with the family name {:?}",
            case.id, case.family
        ));
    }
    if case.spec.is_empty() {
        top("spec: cite at least one docs/spec.md rule id".into());
    }
    if case.roles.is_empty() {
        top("roles: give server, client or both".into());
    }
    if case.summary.trim().is_empty() {
        top("summary: empty".into());
    }
    if case.steps.is_empty() {
        top("steps: empty".into());
    }
    for r in &case.requires {
        if !COMMANDS.contains(&r.as_str()) {
            top(format!("requires: {r:?} is not an adapter command"));
        }
    }
    let mut bound: BTreeSet<String> = BTreeSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        let place = format!(", step {} ({})", i + 1, step.kind.name());
        let mut errs: Vec<String> = Vec::new();
        let need = |s: &Option<StreamRef>,
                    field: &str,
                    errs: &mut Vec<String>,
                    bound: &BTreeSet<String>| {
            if let Some(StreamRef::Bind(b)) = s {
                if !(b.starts_with('$') || b.starts_with('%')) || b.len() < 2 {
                    errs.push(format!("{field}: binding {b:?} must start with $ or %"));
                } else if !bound.contains(b) {
                    errs.push(format!("{field}: binding {b} is used before it is defined"));
                }
            }
        };
        let define = |s: &Option<StreamRef>,
                      field: &str,
                      errs: &mut Vec<String>,
                      bound: &mut BTreeSet<String>| {
            if let Some(StreamRef::Bind(b)) = s {
                if !(b.starts_with('$') || b.starts_with('%')) || b.len() < 2 {
                    errs.push(format!("{field}: binding {b:?} must start with $ or %"));
                } else {
                    bound.insert(b.clone());
                }
            }
        };
        match &step.kind {
            StepKind::Send(s) => {
                if parse_type(&s.typ).is_none() {
                    errs.push(format!("type: {:?} is not a frame type", s.typ));
                }
                check_flags(&s.flags, "flags", &mut errs);
                if let Some(b) = &s.body {
                    if let Err(e) = b.check() {
                        errs.push(e);
                    }
                    if parse_type(&s.typ) != Some(0) && s.length.is_none() {
                        errs.push("body: only data frames have a body (give length to lie)".into());
                    }
                }
                let vals = [s.delta.is_some(), s.value.is_some(), s.code.is_some()];
                if vals.iter().filter(|v| **v).count() > 1 {
                    errs.push("give at most one of delta, value, code".into());
                }
                define(&s.stream, "stream", &mut errs, &mut bound);
            }
            StepKind::Raw(r) => {
                if hex::decode(r.hex.replace([' ', '_'], "")).is_err() {
                    errs.push("hex: not valid hex".into());
                }
            }
            StepKind::SendData(d) => {
                define(&Some(d.stream.clone()), "stream", &mut errs, &mut bound);
            }
            StepKind::Expect(p) => {
                if let Some(t) = &p.typ {
                    if parse_type(t).is_none() {
                        errs.push(format!("type: {t:?} is not a frame type"));
                    }
                }
                check_flags(&p.flags, "flags", &mut errs);
                check_flags(&p.flags_absent, "flags_absent", &mut errs);
                check_flags(&p.flags_exact, "flags_exact", &mut errs);
                if let Some(par) = &p.parity {
                    if !["odd", "even", "iut", "peer"].contains(&par.as_str()) {
                        errs.push(format!("parity: {par:?} must be odd, even, iut or peer"));
                    }
                }
                define(&p.stream, "stream", &mut errs, &mut bound);
            }
            StepKind::ExpectData(d) => {
                need(&Some(d.stream.clone()), "stream", &mut errs, &bound);
                if let Err(e) = d.body.check() {
                    errs.push(e);
                }
            }
            StepKind::ExpectSilence(s) => {
                need(&s.stream, "stream", &mut errs, &bound);
                for t in &s.types {
                    if parse_type(t).is_none() {
                        errs.push(format!("types: {t:?} is not a frame type"));
                    }
                }
                check_flags(&s.flags, "flags", &mut errs);
            }
            StepKind::Act(a) => {
                if !COMMANDS.contains(&a.cmd.as_str()) {
                    errs.push(format!("cmd: {:?} is not an adapter command", a.cmd));
                } else if !case.requires.contains(&a.cmd) {
                    errs.push(format!(
                        "cmd: {:?} must be listed in the case's requires",
                        a.cmd
                    ));
                }
                need(&a.stream, "stream", &mut errs, &bound);
                if let Some(r) = &a.expect_reply {
                    if !["ok", "error", "any", "none"].contains(&r.as_str()) {
                        errs.push(format!(
                            "expect_reply: {r:?} must be ok, error, any or none"
                        ));
                    }
                }
                if a.repeat.is_some() && a.expect_reply.as_deref() != Some("none") {
                    errs.push("repeat: only with \"expect_reply\": \"none\"".into());
                }
                if let Some(b) = &a.bind {
                    define(
                        &Some(StreamRef::Bind(b.clone())),
                        "bind",
                        &mut errs,
                        &mut bound,
                    );
                }
            }
            StepKind::ExpectEvent(e) => {
                for ev in std::iter::once(&e.event).chain(e.or.iter()) {
                    if !EVENTS.contains(&ev.as_str()) {
                        errs.push(format!("event: {ev:?} is not an adapter event"));
                    }
                }
                if e.event == "accepted" {
                    define(&e.stream, "stream", &mut errs, &mut bound);
                } else {
                    need(&e.stream, "stream", &mut errs, &bound);
                }
            }
            StepKind::ExpectNoEvent(e) => {
                if !EVENTS.contains(&e.event.as_str()) {
                    errs.push(format!("event: {:?} is not an adapter event", e.event));
                }
                need(&e.stream, "stream", &mut errs, &bound);
            }
            StepKind::Observe(o) => need(&o.stream, "stream", &mut errs, &bound),
            StepKind::ExpectGoaway(_)
            | StepKind::ExpectTerminate(_)
            | StepKind::ExpectClose(_)
            | StepKind::Sync(_)
            | StepKind::Wait(_)
            | StepKind::Peer(_)
            | StepKind::Responsive(_)
            | StepKind::CloseTcp(_) => {}
            StepKind::Sessions(m) => {
                let max = crate::sessions::MAX_SESSIONS;
                if m.count == 0 || m.count > max {
                    errs.push(format!("count: {} must be 1..={max}", m.count));
                }
                if m.echo.is_some_and(|e| e > 65_536) {
                    errs.push("echo: at most 65536 bytes".into());
                }
                if case.roles != [Role::Server] {
                    errs.push("sessions: only in a case whose roles are [\"server\"]".into());
                }
            }
            StepKind::Flood(f) => {
                if parse_type(&f.frame.typ).is_none() {
                    errs.push(format!("frame.type: {:?} is not a frame type", f.frame.typ));
                }
                check_flags(&f.frame.flags, "frame.flags", &mut errs);
                if f.frame.repeat.is_some() || !f.frame.split.is_empty() || f.frame.coalesce {
                    errs.push("frame: repeat, split and coalesce are not allowed in a flood (use count and batch)".into());
                }
                if f.count == 0 || f.count > MAX_FLOOD_COUNT {
                    errs.push(format!("count: {} must be 1..={MAX_FLOOD_COUNT}", f.count));
                }
                if f.for_ms.is_some_and(|ms| ms == 0 || ms > MAX_FLOOD_MS) {
                    errs.push(format!("for_ms: must be 1..={MAX_FLOOD_MS}"));
                }
                if f.batch == Some(0) {
                    errs.push("batch: must be at least 1".into());
                }
                if let Some(b) = &f.frame.body {
                    if let Err(e) = b.check() {
                        errs.push(format!("frame.{e}"));
                    }
                }
                if let Some(t) = &f.then {
                    if parse_type(&t.typ).is_none() {
                        errs.push(format!("then.type: {:?} is not a frame type", t.typ));
                    }
                    check_flags(&t.flags, "then.flags", &mut errs);
                }
                define(&f.frame.stream, "frame.stream", &mut errs, &mut bound);
            }
        }
        for e in errs {
            out.push((place.clone(), e));
        }
    }
    out
}

/// Matches `id` against a selector: a glob with `*` and `?`, or an id prefix
/// (`flow` selects `flow.*`; `flow.recv` selects `flow.recv.*`).
pub fn selects(selector: &str, id: &str) -> bool {
    if selector.contains('*') || selector.contains('?') {
        glob_match(selector.as_bytes(), id.as_bytes())
    } else {
        id == selector
            || id.starts_with(&format!("{selector}."))
            || id.starts_with(selector) && selector.ends_with('.')
    }
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert!(selects("flow", "flow.recv.exact"));
        assert!(selects("flow.recv", "flow.recv.exact"));
        assert!(!selects("flow.rec", "flow.recv.exact"));
        assert!(selects("flow.*", "flow.recv.exact"));
        assert!(selects("*.exact", "flow.recv.exact"));
        assert!(selects("flow.?ecv.*", "flow.recv.exact"));
        assert!(!selects("ping.*", "flow.recv.exact"));
    }

    fn case(json: Value) -> Result<Case, (String, String)> {
        parse_case(&json)
    }

    #[test]
    fn unknown_step_field_is_named() {
        let e = case(serde_json::json!({
            "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
            "steps": [{"send": {"type": "ping", "flags": "SYN", "valeu": 1}}]
        }))
        .unwrap_err();
        assert_eq!(e.0, ", step 1 (send)");
        assert!(e.1.contains("valeu"), "{}", e.1);
    }

    #[test]
    fn huge_pattern_body_is_an_error_not_an_allocation() {
        // Found with the `vectors` fuzz entry point: validating a body of
        // `len` 4294967295 built the 4 GiB body.
        let c = case(serde_json::json!({
            "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
            "steps": [{"send": {"type": "data", "stream": 1, "body": {"len": 4294967295u32}}}]
        }))
        .unwrap();
        let errs = validate_case(&c);
        assert!(
            errs.iter().any(|(p, m)| p == ", step 1 (send)"
                && m == "body.len: 4294967295 is above the limit of 16777216 bytes"),
            "{errs:?}"
        );
        let at_limit = Body {
            len: Some(MAX_BODY_LEN),
            offset: Some(u64::MAX),
            ..Body::default()
        };
        assert_eq!(at_limit.check(), Ok(()));
        assert!(Body {
            len: Some(MAX_BODY_LEN + 1),
            ..Body::default()
        }
        .bytes()
        .is_err());
    }

    #[test]
    fn sessions_are_bounded_and_only_against_a_server() {
        let c = case(serde_json::json!({
            "id": "a.b", "spec": ["ping.echo"], "level": "SHOULD", "roles": ["server", "client"],
            "summary": "s", "steps": [{"sessions": {"count": 2001, "echo": 70000}}]
        }))
        .unwrap();
        let errs: Vec<String> = validate_case(&c).into_iter().map(|(_, m)| m).collect();
        for want in [
            "count: 2001 must be 1..=2000",
            "echo: at most 65536 bytes",
            "sessions: only in a case whose roles are [\"server\"]",
        ] {
            assert!(errs.iter().any(|m| m == want), "{want}: {errs:?}");
        }
    }

    #[test]
    fn binding_before_use() {
        let c = case(serde_json::json!({
            "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
            "steps": [{"expect_data": {"stream": "$s", "len": 3}}]
        }))
        .unwrap();
        let mut c = c;
        c.family = "a".into();
        let errs = validate_case(&c);
        assert!(
            errs.iter()
                .any(|(p, m)| p == ", step 1 (expect_data)" && m.contains("$s is used before")),
            "{errs:?}"
        );
    }

    #[test]
    fn two_actions_in_a_step() {
        let e = case(serde_json::json!({
            "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
            "steps": [{"wait": {"ms": 1}, "sync": {}}]
        }))
        .unwrap_err();
        assert!(e.1.contains("exactly one action"));
    }
}
