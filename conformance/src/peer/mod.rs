//! The scripted test peer: speaks raw yamux through the `yamux::frame` codec
//! (never through the reference session), runs a case's steps, answers
//! pings, returns credit, and keeps a timestamped trace. Every frame it
//! sends and receives goes through one tracker ([`judge`]), which keeps the
//! protocol state (credit both ways, FIN, RST) and judges every frame the
//! IUT sends; the peer keeps only scenario state (bindings, received bytes,
//! the step cursor).

mod attacks;
mod io;
mod judge;
mod pattern;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use bytes::BytesMut;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use yamux::frame::{Flags, Frame, FrameCodec, FrameType, Header, RawHeader, StreamId, HEADER_LEN};
use yamux::Rule;

use crate::adapter::{AdapterMsg, AdapterProc, Command, Event};
use crate::vector::{
    pattern_byte, Act, Binding, Case, ExpectData, ExpectEvent, FramePattern, Level, Parity, Reply,
    Role, SendFrame, Step, StepKind, StreamRef, TypeByte,
};
use io::spawn_reader;

/// Most trace lines kept per case (the rest are counted).
pub const MAX_TRACE: usize = 3000;
/// Default wait of a step.
pub const DEFAULT_WITHIN: Duration = Duration::from_millis(2000);
/// How long a flood's last write may take once the peer reads again.
pub const FLOOD_DRAIN: Duration = Duration::from_secs(10);

/// `responsive`: how long the peer waits for a Ping answer before it sends
/// another ping (with a new value).
pub const RESPONSIVE_PING_EVERY: Duration = Duration::from_secs(1);

/// One line of the trace.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceLine {
    /// Milliseconds since the case started.
    pub t_ms: f64,
    /// `<-` received from the IUT, `->` sent by the peer, `cmd`, `evt`,
    /// `note`.
    pub dir: String,
    /// What.
    pub text: String,
}

/// A check that did not hold.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Failure {
    /// Step number (1-based); 0 for checks made on every frame.
    pub step: usize,
    /// Level of the check.
    pub level: Level,
    /// The rule broken, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<yamux::Rule>,
    /// What the step checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Expected.
    pub expected: String,
    /// What came.
    pub actual: String,
}

/// How a case ended, before expectations are applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// Every step ran (failures may have been recorded).
    Completed,
    /// The case's time limit stopped it; its failures include the timeout.
    OutOfTime,
    /// The adapter answered `unsupported`, or exited with 89.
    Unsupported(String),
    /// Harness problem.
    Error(String),
}

/// What a case run produced.
#[derive(Clone, Debug)]
pub struct PeerResult {
    /// How it ended.
    pub ended: Ended,
    /// Failed checks.
    pub failures: Vec<Failure>,
    /// Observations (INFO).
    pub observations: Vec<String>,
    /// The trace.
    pub trace: Vec<TraceLine>,
}

enum Input {
    Frame(Frame),
    Undecodable(String),
    Eof(String),
    Adapter(AdapterMsg),
}

/// Scenario state of one stream (its protocol state is the judge's).
#[derive(Debug, Default)]
struct StreamState {
    /// Payload the IUT sent, and how far the steps have consumed it.
    received: Vec<u8>,
    cursor: usize,
    /// Payload received since the peer last returned credit.
    ungranted: i64,
    /// Bytes the adapter reported as read on this stream.
    app_read: u64,
    /// Where the payload of the peer's `D|FIN` on this stream starts (bytes
    /// the peer sent on it before that frame), if it sent one with a body.
    dfin_at: Option<u64>,
}

/// Outcome of one step.
enum StepResult {
    Ok,
    Failed {
        expected: String,
        actual: String,
    },
    /// A failure that breaks a rule other than the step's: what went wrong
    /// shows which (e.g. all bytes came but the FIN never did).
    FailedUnder {
        rule: Rule,
        expected: String,
        actual: String,
    },
    Unsupported(String),
    HarnessError(String),
}

/// The peer's state during one case.
pub struct Peer {
    role: Role,
    start: Instant,
    writer: Option<OwnedWriteHalf>,
    rx: mpsc::UnboundedReceiver<Input>,
    adapter: Option<AdapterProc>,
    adapter_done: bool,
    reader_done: bool,
    bindings: BTreeMap<Binding, u32>,
    next_peer_id: u32,
    next_iut_alloc: u32,
    streams: BTreeMap<u32, StreamState>,
    inbox: VecDeque<(usize, Frame)>,
    /// Inbox frames already matched for some of their lifecycle flags: what
    /// stays of them (e.g. the FIN of a `WU|ACK|FIN` an ACK expectation
    /// took) matches only patterns that ask for flags.
    residual: BTreeSet<usize>,
    events: VecDeque<Value>,
    frames_seen: usize,
    closed: Option<String>,
    goaway: Option<u32>,
    /// The reason of the adapter's `closed` event: the IUT's application
    /// saw the session end.
    app_closed: Option<String>,
    trace: Vec<TraceLine>,
    failures: Vec<Failure>,
    observations: Vec<String>,
    answer_pings: bool,
    grant_credit: bool,
    auto_ack: bool,
    /// The tracker every frame goes through: protocol state and verdicts.
    judge: judge::Judge,
    next_ping: u32,
    coalesced: Vec<u8>,
    /// Data body bytes the peer's last header announced and no step has
    /// sent yet (a header sent with `length` above its body): the next `raw`
    /// bytes are that body before they are frames.
    out_body_owed: u64,
    /// The peer's own bytes stopped being frames the tracker can follow (a
    /// `raw` step with an undecodable header).
    out_opaque: bool,
    pending_replies: HashSet<u64>,
    observed_upto: usize,
    seq: usize,
    trace_dropped: usize,
    /// The step being run (1-based; 0 before the first).
    current_step: usize,
    /// The rules the running case names (`spec`).
    case_rules: Vec<Rule>,
    /// Open: the reader task reads the socket.
    read_gate: tokio::sync::watch::Sender<bool>,
    /// Frames with RST the IUT sent (a defence against floods).
    iut_rsts: u64,
    /// Where the IUT listens (it is the server): `sessions` connects there.
    iut_listen: Option<std::net::SocketAddr>,
    /// Sessions a `sessions` step opened, closed when the peer is dropped.
    crowd: Option<crate::sessions::Crowd>,
}

fn type_name(t: u8) -> String {
    FrameType::from_u8(t)
        .map(|t| t.name().to_string())
        .unwrap_or_else(|| format!("type {t}"))
}

/// One-line description of a frame for traces and failures.
pub fn describe(f: &Frame) -> String {
    let mut s = f.to_string();
    if f.typ() == FrameType::Data && !f.body.is_empty() {
        let shown = &f.body[..f.body.len().min(8)];
        s.push_str(&format!(
            " body={}{}",
            hex::encode(shown),
            if f.body.len() > 8 { "…" } else { "" }
        ));
    }
    s
}

impl Peer {
    /// A peer over `tcp`, with an optional adapter whose `ready` has been
    /// read already.
    pub fn new(role: Role, tcp: TcpStream, adapter: Option<AdapterProc>, start: Instant) -> Peer {
        let _ = tcp.set_nodelay(true);
        let iut_listen = if role == Role::Server {
            tcp.peer_addr().ok()
        } else {
            None
        };
        let (rd, wr) = tcp.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (read_gate, gate) = tokio::sync::watch::channel(true);
        spawn_reader(rd, tx, gate);
        Peer {
            read_gate,
            iut_rsts: 0,
            role,
            start,
            writer: Some(wr),
            rx,
            adapter,
            adapter_done: false,
            reader_done: false,
            current_step: 0,
            case_rules: Vec::new(),
            bindings: BTreeMap::new(),
            next_peer_id: if role == Role::Server { 1 } else { 2 },
            next_iut_alloc: if role == Role::Server { 1000 } else { 1001 },
            streams: BTreeMap::new(),
            inbox: VecDeque::new(),
            residual: BTreeSet::new(),
            events: VecDeque::new(),
            frames_seen: 0,
            closed: None,
            goaway: None,
            app_closed: None,
            trace: Vec::new(),
            failures: Vec::new(),
            observations: Vec::new(),
            answer_pings: true,
            grant_credit: true,
            auto_ack: false,
            judge: judge::Judge::new(role, start),
            next_ping: 0x5EED_0000,
            coalesced: Vec::new(),
            out_body_owed: 0,
            out_opaque: false,
            pending_replies: HashSet::new(),
            observed_upto: 0,
            seq: 0,
            trace_dropped: 0,
            iut_listen,
            crowd: None,
        }
    }

    /// Takes the adapter back (to finish it and collect stderr).
    pub fn take_adapter(&mut self) -> Option<AdapterProc> {
        self.adapter.take()
    }

    /// Why a step that timed out may have waited in vain: the IUT's Go
    /// Away and its application's view of the session's end, when they
    /// came (empty otherwise). Goes after "(timed out)" in failures.
    pub(super) fn end_note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.goaway {
            parts.push(format!(
                "the IUT had sent go-away code={}",
                yamux::frame::GoAwayCode::new(c)
            ));
        }
        if let Some(r) = &self.app_closed {
            parts.push(format!("its application saw: {r}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" — {}", parts.join("; "))
        }
    }

    /// A failure where the peer's FIN never reached the application (no
    /// EOF, so no echoed FIN): filed under stream.half-close, unless the case
    /// is about the flag combination the FIN came in (flags.bitset), where an
    /// implementation that honours a plain FIN fails that rule instead.
    fn fin_not_delivered(&self, expected: String, actual: String) -> StepResult {
        let actual = format!("{actual}: the peer's FIN was not delivered as the end of the stream");
        if self.case_rules.contains(&Rule::FlagsBitset) {
            StepResult::Failed { expected, actual }
        } else {
            StepResult::FailedUnder {
                rule: Rule::StreamHalfClose,
                expected,
                actual,
            }
        }
    }

    fn note(&mut self, dir: &str, text: String) {
        self.seq += 1;
        if self.trace.len() >= MAX_TRACE {
            self.trace_dropped += 1;
            return;
        }
        let t_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        self.trace.push(TraceLine {
            t_ms: (t_ms * 10.0).round() / 10.0,
            dir: dir.to_string(),
            text,
        });
    }

    fn iut_parity_ok(&self, id: u32) -> bool {
        match self.role {
            Role::Server => id != 0 && id % 2 == 0,
            Role::Client => id % 2 == 1,
        }
    }

    fn violation(&mut self, level: Level, rule: Rule, expected: &str, actual: String) {
        // One report per rule is enough.
        if self
            .failures
            .iter()
            .any(|f| f.step == 0 && f.rule == Some(rule))
        {
            return;
        }
        self.note("note", format!("violation of {rule}: {actual}"));
        self.failures.push(Failure {
            step: 0,
            level,
            rule: Some(rule),
            note: Some("checked on every frame the IUT sends".into()),
            expected: expected.to_string(),
            actual,
        });
    }

    /// Processes one input: trace, accounting, auto-answers, passive checks.
    async fn process(&mut self, input: Input) {
        match input {
            Input::Frame(f) => self.on_frame(f).await,
            Input::Undecodable(e) => {
                self.note("<-", format!("undecodable bytes: {e}"));
                self.violation(
                    Level::Must,
                    Rule::FramingHeader,
                    "well-formed frames",
                    format!("undecodable frame: {e}"),
                );
                if self.closed.is_none() {
                    self.closed = Some(format!("undecodable frame from the IUT: {e}"));
                }
            }
            Input::Eof(why) => {
                self.note("<-", why.clone());
                if self.closed.is_none() {
                    self.closed = Some(why);
                }
            }
            Input::Adapter(AdapterMsg::Event(v)) => {
                let mut text = v.to_string();
                if text.len() > 160 {
                    let cut = (0..=157)
                        .rev()
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(0);
                    text.truncate(cut);
                    text.push('…');
                }
                self.note("evt", text);
                if Event::Data.is(&v) {
                    if let (Some(s), Some(h)) = (
                        v.get("stream").and_then(Value::as_u64),
                        v.get("hex").and_then(Value::as_str),
                    ) {
                        if let Ok(s) = u32::try_from(s) {
                            self.streams.entry(s).or_default().app_read += (h.len() / 2) as u64;
                        }
                    }
                }
                if Event::Closed.is(&v) && self.app_closed.is_none() {
                    let why = v.get("reason").and_then(Value::as_str).unwrap_or("closed");
                    self.app_closed = Some(why.to_string());
                }
                self.events.push_back(v);
            }
            Input::Adapter(AdapterMsg::Invalid(line)) => {
                self.note("evt", format!("not JSON: {line}"));
            }
            Input::Adapter(AdapterMsg::Eof) => {
                self.note("evt", "adapter stdout closed".into());
                self.adapter_done = true;
            }
        }
    }

    async fn on_frame(&mut self, f: Frame) {
        self.note("<-", describe(&f));
        self.frames_seen += 1;
        let h = f.header;
        if h.flags.contains(Flags::RST) {
            self.iut_rsts += 1;
        }
        for v in self.judge.received(&h) {
            self.violation(v.level, v.rule, v.expected, v.actual);
        }
        let id = h.stream_id.val();
        match h.typ {
            FrameType::Ping => {
                if h.flags.contains(Flags::SYN) && self.answer_pings {
                    let _ = self
                        .send_frame(Frame::ping(Flags::ACK, h.length), "auto answer")
                        .await;
                }
                self.inbox.push_back((self.seq, f));
            }
            FrameType::GoAway => {
                if self.goaway.is_none() {
                    self.goaway = Some(h.length);
                }
                self.inbox.push_back((self.seq, f));
            }
            FrameType::Data | FrameType::WindowUpdate => {
                if id == 0 {
                    self.inbox.push_back((self.seq, f));
                    return;
                }
                if h.flags.contains(Flags::SYN) && self.auto_ack {
                    let _ = self
                        .send_frame(
                            Frame::window_update(StreamId::new(id), Flags::ACK, 0),
                            "auto ACK",
                        )
                        .await;
                }
                let ended = self.judge.iut_rst(id) || self.judge.iut_fin(id);
                let st = self.streams.entry(id).or_default();
                if h.typ == FrameType::Data {
                    let n = f.body.len() as i64;
                    st.received.extend_from_slice(&f.body);
                    st.ungranted += n;
                }
                let grant = if self.grant_credit
                    && st.ungranted >= i64::from(yamux::frame::INITIAL_WINDOW) / 2
                    && !ended
                {
                    let g = st.ungranted;
                    st.ungranted = 0;
                    Some(g)
                } else {
                    None
                };
                self.inbox.push_back((self.seq, f));
                if let Some(g) = grant {
                    let g = u32::try_from(g).unwrap_or(u32::MAX);
                    let _ = self
                        .send_frame(
                            Frame::window_update(StreamId::new(id), Flags::NONE, g),
                            "credit returned",
                        )
                        .await;
                }
            }
        }
    }

    /// Waits for the next input until `deadline`; processes it. Returns
    /// false on deadline or when nothing can come any more.
    async fn pump(&mut self, deadline: Instant) -> bool {
        let reader_done = self.reader_done;
        let adapter_rx = match (&mut self.adapter, self.adapter_done) {
            (Some(a), false) => Some(&mut a.rx),
            _ => None,
        };
        let input = tokio::select! {
            biased;
            i = async { if reader_done { std::future::pending().await } else { self.rx.recv().await } } => match i {
                Some(i) => Some(i),
                None => {
                    self.reader_done = true;
                    return true;
                }
            },
            m = async { match adapter_rx { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                Some(Input::Adapter(m.unwrap_or(AdapterMsg::Eof)))
            }
            _ = tokio::time::sleep_until(deadline) => None,
        };
        match input {
            Some(i) => {
                self.process(i).await;
                true
            }
            None => false,
        }
    }

    /// Drains inputs that are already there without waiting.
    async fn drain_ready(&mut self) {
        while let Ok(i) = self.rx.try_recv() {
            self.process(i).await;
        }
        loop {
            let msg = match (&mut self.adapter, self.adapter_done) {
                (Some(a), false) => a.rx.try_recv().ok(),
                _ => None,
            };
            match msg {
                Some(m) => self.process(Input::Adapter(m)).await,
                None => break,
            }
        }
    }

    fn resolve(&self, s: &StreamRef) -> Option<u32> {
        match s {
            StreamRef::Id(n) => Some(*n),
            StreamRef::Bind(b) => self.bindings.get(b).copied(),
        }
    }

    /// Resolves or allocates a stream for sending.
    fn resolve_for_send(&mut self, s: &StreamRef) -> u32 {
        match s {
            StreamRef::Id(n) => *n,
            StreamRef::Bind(b) => {
                if let Some(id) = self.bindings.get(b) {
                    return *id;
                }
                let id = if b.is_iut() {
                    let id = self.next_iut_alloc;
                    self.next_iut_alloc += 2;
                    id
                } else {
                    let id = self.next_peer_id;
                    self.next_peer_id += 2;
                    id
                };
                self.bindings.insert(b.clone(), id);
                id
            }
        }
    }

    /// Runs all steps of `case`.
    pub async fn run(mut self, case: &Case) -> (PeerResult, Option<AdapterProc>) {
        let ended = self.run_steps(case).await;
        self.finish(ended).await
    }

    /// What was recorded so far, for a case stopped by its time limit
    /// `limit`: the trace up to that point, the failures found, and the
    /// timeout naming the step it ended.
    pub fn interrupted(
        mut self,
        case: &Case,
        limit: Duration,
    ) -> (PeerResult, Option<AdapterProc>) {
        let step = self.current_step;
        self.note("note", format!("the case's time limit ended step {step}"));
        self.failures.push(Peer::timeout_result(
            case,
            &format!("after {} ms, in step {step}", limit.as_millis()),
        ));
        let adapter = self.adapter.take();
        (
            PeerResult {
                ended: Ended::OutOfTime,
                failures: self.failures,
                observations: self.observations,
                trace: self.trace,
            },
            adapter,
        )
    }

    /// Runs the steps of `case`; how they ended.
    pub async fn run_steps(&mut self, case: &Case) -> Ended {
        let mut ended = Ended::Completed;
        self.case_rules.clone_from(&case.spec);
        for (i, step) in case.steps.iter().enumerate() {
            let n = i + 1;
            self.current_step = n;
            let level = step.level.unwrap_or(case.level);
            let r = match self.step(step).await {
                StepResult::FailedUnder {
                    rule,
                    expected,
                    actual,
                } => Err((Some(rule), expected, actual)),
                StepResult::Failed { expected, actual } => Err((step.rule, expected, actual)),
                other => Ok(other),
            };
            match r {
                Ok(StepResult::Ok) => {}
                Err((rule, expected, actual)) => {
                    self.note(
                        "note",
                        format!(
                            "step {n} ({}) failed: expected {expected}; got {actual}",
                            step.kind.name()
                        ),
                    );
                    self.failures.push(Failure {
                        step: n,
                        level,
                        rule,
                        note: step.note.clone(),
                        expected,
                        actual,
                    });
                    if level == Level::Must
                        || self.closed.is_some() && !matches!(step.kind, StepKind::ExpectEvent(_))
                    {
                        break;
                    }
                }
                Ok(StepResult::Unsupported(why)) => {
                    ended = Ended::Unsupported(why);
                    break;
                }
                Ok(StepResult::HarnessError(why)) => {
                    ended = Ended::Error(format!("step {n} ({}): {why}", step.kind.name()));
                    break;
                }
                Ok(StepResult::Failed { .. } | StepResult::FailedUnder { .. }) => {}
            }
        }
        ended
    }

    /// Collects the results after [`Peer::run_steps`].
    pub async fn finish(mut self, ended: Ended) -> (PeerResult, Option<AdapterProc>) {
        self.drain_ready().await;
        if self.trace_dropped > 0 {
            let t_ms = (self.start.elapsed().as_secs_f64() * 10000.0).round() / 10.0;
            self.trace.push(TraceLine {
                t_ms,
                dir: "note".into(),
                text: format!("{} more trace lines not kept", self.trace_dropped),
            });
        }
        let adapter = self.adapter.take();
        (
            PeerResult {
                ended,
                failures: self.failures,
                observations: self.observations,
                trace: self.trace,
            },
            adapter,
        )
    }

    /// Records a failure found outside steps (case timeout).
    pub fn timeout_result(case: &Case, step_hint: &str) -> Failure {
        Failure {
            step: 0,
            level: case.level,
            rule: None,
            note: Some("the whole case has a time limit".into()),
            expected: "the case completes in time".into(),
            actual: format!("timed out {step_hint}"),
        }
    }
}
