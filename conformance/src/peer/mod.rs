//! The scripted test peer: speaks raw yamux through the `yamux::frame` codec
//! (never through the reference session), runs a case's steps, answers
//! pings, accounts credit both ways, checks every frame the IUT sends, and
//! keeps a timestamped trace.

use std::collections::{BTreeMap, HashSet, VecDeque};
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

use crate::adapter::{AdapterMsg, AdapterProc};
use yamux::Rule;

use crate::vector::{
    parse_type, pattern_byte, Act, Case, ExpectData, ExpectEvent, FramePattern, Level, Role,
    SendFrame, Step, StepKind, StreamRef,
};

/// Initial window of every stream and direction.
pub const INITIAL_WINDOW: i64 = yamux::frame::INITIAL_WINDOW as i64;
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

#[derive(Debug)]
struct StreamState {
    /// What the peer may still send (262,144 + IUT's deltas − sent).
    peer_credit: i64,
    /// What the IUT may still send (262,144 + peer's deltas − received).
    iut_credit: i64,
    received: Vec<u8>,
    cursor: usize,
    ungranted: i64,
    iut_fin: bool,
    iut_rst: bool,
    iut_opened: bool,
    acks: u32,
    peer_fin: bool,
    /// Bytes the adapter reported as read on this stream.
    app_read: u64,
}

impl Default for StreamState {
    fn default() -> StreamState {
        StreamState {
            peer_credit: INITIAL_WINDOW,
            iut_credit: INITIAL_WINDOW,
            received: Vec::new(),
            cursor: 0,
            ungranted: 0,
            iut_fin: false,
            iut_rst: false,
            iut_opened: false,
            acks: 0,
            peer_fin: false,
            app_read: 0,
        }
    }
}

/// Outcome of one step.
enum StepResult {
    Ok,
    Failed { expected: String, actual: String },
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
    bindings: BTreeMap<String, u32>,
    next_peer_id: u32,
    next_iut_alloc: u32,
    streams: BTreeMap<u32, StreamState>,
    inbox: VecDeque<(usize, Frame)>,
    events: VecDeque<Value>,
    frames_seen: usize,
    closed: Option<String>,
    goaway: Option<u32>,
    trace: Vec<TraceLine>,
    failures: Vec<Failure>,
    observations: Vec<String>,
    answer_pings: bool,
    grant_credit: bool,
    auto_ack: bool,
    outstanding_pings: HashSet<u32>,
    next_ping: u32,
    coalesced: Vec<u8>,
    pending_replies: HashSet<u64>,
    observed_upto: usize,
    seq: usize,
    trace_dropped: usize,
    /// The step being run (1-based; 0 before the first).
    current_step: usize,
    /// Open: the reader task reads the socket.
    read_gate: tokio::sync::watch::Sender<bool>,
    /// Frames with RST the IUT sent (a defence against floods).
    iut_rsts: u64,
    /// Where the IUT listens (it is the server): `sessions` connects there.
    iut_listen: Option<std::net::SocketAddr>,
    /// Sessions a `sessions` step opened, closed when the peer is dropped.
    crowd: Option<crate::sessions::Crowd>,
}

fn flags_of(s: &Option<String>) -> Flags {
    s.as_deref().and_then(Flags::parse).unwrap_or(Flags::NONE)
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

fn pattern_text(p: &FramePattern, bound: Option<u32>) -> String {
    let mut parts = vec![p.typ.clone().unwrap_or_else(|| "any frame".into())];
    match (&p.stream, bound) {
        (_, Some(id)) => parts.push(format!("stream={id}")),
        (Some(s), None) => parts.push(format!("stream={s}")),
        _ => {}
    }
    if let Some(f) = &p.flags {
        parts.push(format!("flags⊇{f}"));
    }
    if let Some(f) = &p.flags_exact {
        parts.push(format!("flags={f}"));
    }
    if let Some(f) = &p.flags_absent {
        parts.push(format!("without {f}"));
    }
    if let Some(v) = p.value {
        parts.push(format!("value={v}"));
    }
    if let Some(par) = &p.parity {
        parts.push(format!("parity={par}"));
    }
    parts.join(" ")
}

/// Connects the reader task for a TCP stream.
fn spawn_reader(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::UnboundedSender<Input>,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut codec = FrameCodec::new(64 * 1024 * 1024);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            loop {
                match codec.decode_frame(&mut buf) {
                    Ok(Some(f)) => {
                        if tx.send(Input::Frame(f)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Input::Undecodable(e.to_string()));
                        return;
                    }
                }
            }
            // A `peer` step with `"read": false` closes the gate: nothing is
            // read from the socket until it opens again.
            while !*gate.borrow_and_update() {
                if gate.changed().await.is_err() {
                    return;
                }
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) => {
                    let why = if buf.is_empty() && codec.pending_header().is_none() {
                        "connection closed by the IUT".to_string()
                    } else {
                        format!(
                            "connection closed by the IUT inside a frame ({} bytes pending)",
                            buf.len()
                        )
                    };
                    let _ = tx.send(Input::Eof(why));
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Input::Eof(format!("connection error: {e}")));
                    return;
                }
            }
        }
    });
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
            bindings: BTreeMap::new(),
            next_peer_id: if role == Role::Server { 1 } else { 2 },
            next_iut_alloc: if role == Role::Server { 1000 } else { 1001 },
            streams: BTreeMap::new(),
            inbox: VecDeque::new(),
            events: VecDeque::new(),
            frames_seen: 0,
            closed: None,
            goaway: None,
            trace: Vec::new(),
            failures: Vec::new(),
            observations: Vec::new(),
            answer_pings: true,
            grant_credit: true,
            auto_ack: false,
            outstanding_pings: HashSet::new(),
            next_ping: 0x5EED_0000,
            coalesced: Vec::new(),
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

    async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(w) = self.writer.as_mut() else {
            return Err("the peer's side of the connection is closed".into());
        };
        w.write_all(bytes)
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    async fn send_frame_bytes(
        &mut self,
        bytes: Vec<u8>,
        split: &[usize],
        delay: Option<u64>,
        coalesce: bool,
    ) -> Result<(), String> {
        if coalesce {
            self.coalesced.extend_from_slice(&bytes);
            return Ok(());
        }
        let mut all = std::mem::take(&mut self.coalesced);
        all.extend_from_slice(&bytes);
        if split.is_empty() {
            return self.write_bytes(&all).await;
        }
        let mut rest: &[u8] = &all;
        for &n in split {
            let n = n.min(rest.len());
            let (a, b) = rest.split_at(n);
            self.write_bytes(a).await?;
            rest = b;
            if let Some(ms) = delay {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        if !rest.is_empty() {
            self.write_bytes(rest).await?;
        }
        Ok(())
    }

    /// Sends a well-formed frame through the codec, with accounting.
    async fn send_frame(&mut self, f: Frame, why: &str) -> Result<(), String> {
        self.account_out(&f.header, f.body.len() as i64);
        let bytes = f.to_vec().map_err(|e| e.to_string())?;
        let extra = if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        };
        self.note("->", format!("{}{extra}", describe(&f)));
        self.send_frame_bytes(bytes, &[], None, false).await
    }

    fn account_out(&mut self, h: &Header, body: i64) {
        if h.stream_id.is_session() {
            if h.typ == FrameType::Ping && h.flags.contains(Flags::SYN) {
                self.outstanding_pings.insert(h.length);
            }
            return;
        }
        let st = self.streams.entry(h.stream_id.val()).or_default();
        match h.typ {
            FrameType::Data => st.peer_credit -= body,
            // length.rst: the Length of a WU|RST is no credit.
            FrameType::WindowUpdate if !h.flags.contains(Flags::RST) => {
                st.iut_credit += i64::from(h.length)
            }
            _ => {}
        }
        if h.flags.contains(Flags::FIN) {
            st.peer_fin = true;
        }
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
                if v.get("event").and_then(Value::as_str) == Some("data") {
                    if let (Some(s), Some(h)) = (
                        v.get("stream").and_then(Value::as_u64),
                        v.get("hex").and_then(Value::as_str),
                    ) {
                        if let Ok(s) = u32::try_from(s) {
                            self.streams.entry(s).or_default().app_read += (h.len() / 2) as u64;
                        }
                    }
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
        let id = h.stream_id.val();
        match h.typ {
            FrameType::Ping => {
                if h.flags.contains(Flags::SYN) {
                    if self.answer_pings {
                        let _ = self
                            .send_frame(Frame::ping(Flags::ACK, h.length), "auto answer")
                            .await;
                    }
                } else if h.flags.contains(Flags::ACK) && !self.outstanding_pings.remove(&h.length)
                {
                    self.violation(
                        Level::Must,
                        Rule::PingEcho,
                        "a Ping answer carries the value of a request",
                        format!("P|ACK with value {} that no request carried", h.length),
                    );
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
                if h.flags.contains(Flags::SYN) {
                    if id == 0 {
                        self.violation(
                            Level::Must,
                            Rule::IdsControl,
                            "no SYN on id 0",
                            format!("SYN on id 0: {f}"),
                        );
                    } else if !self.iut_parity_ok(id) {
                        self.violation(
                            Level::Must,
                            Rule::IdsParity,
                            &format!(
                                "streams the IUT ({}) opens have {} ids",
                                self.role,
                                if self.role == Role::Server {
                                    "even"
                                } else {
                                    "odd"
                                }
                            ),
                            format!("SYN on id {id}"),
                        );
                    }
                    let st = self.streams.entry(id).or_default();
                    st.iut_opened = true;
                    if self.auto_ack && id != 0 {
                        let _ = self
                            .send_frame(
                                Frame::window_update(StreamId::new(id), Flags::ACK, 0),
                                "auto ACK",
                            )
                            .await;
                    }
                }
                if id == 0 {
                    self.inbox.push_back((self.seq, f));
                    return;
                }
                let st = self.streams.entry(id).or_default();
                let mut double_ack = false;
                if h.flags.contains(Flags::ACK) && !st.iut_opened {
                    st.acks += 1;
                    double_ack = st.acks == 2;
                }
                let mut after_fin = false;
                let mut overrun = None;
                if h.typ == FrameType::WindowUpdate {
                    // length.rst-code: a WU|RST's Length is an error code.
                    if !h.flags.contains(Flags::RST) {
                        st.peer_credit += i64::from(h.length);
                    }
                } else {
                    let n = f.body.len() as i64;
                    if n > 0 && st.iut_fin {
                        after_fin = true;
                    }
                    if n > st.iut_credit && n > 0 && !st.iut_rst {
                        overrun = Some((n, st.iut_credit));
                    }
                    st.iut_credit -= n;
                    st.received.extend_from_slice(&f.body);
                    st.ungranted += n;
                }
                if h.flags.contains(Flags::FIN) {
                    st.iut_fin = true;
                }
                if h.flags.contains(Flags::RST) {
                    st.iut_rst = true;
                }
                let grant = if self.grant_credit
                    && st.ungranted >= INITIAL_WINDOW / 2
                    && !st.iut_rst
                    && !st.iut_fin
                {
                    let g = st.ungranted;
                    st.ungranted = 0;
                    Some(g)
                } else {
                    None
                };
                if double_ack {
                    self.violation(
                        Level::Should,
                        Rule::StreamAckOnce,
                        "one ACK per stream",
                        format!("a second ACK on stream {id}: {f}"),
                    );
                }
                if after_fin {
                    self.violation(
                        Level::Must,
                        Rule::StreamHalfClose,
                        "no Data payload after the IUT's own FIN",
                        format!("{f} after FIN on stream {id}"),
                    );
                }
                if let Some((n, c)) = overrun {
                    self.violation(
                        Level::Must,
                        Rule::FlowCredit,
                        "Data within the credit the peer granted",
                        format!(
                            "{n} bytes on stream {id} with {} bytes of credit left",
                            c.max(0)
                        ),
                    );
                }
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
                let id = if b.starts_with('%') {
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
        for (i, step) in case.steps.iter().enumerate() {
            let n = i + 1;
            self.current_step = n;
            let level = step.level.unwrap_or(case.level);
            let r = self.step(step).await;
            match r {
                StepResult::Ok => {}
                StepResult::Failed { expected, actual } => {
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
                        rule: step.rule,
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
                StepResult::Unsupported(why) => {
                    ended = Ended::Unsupported(why);
                    break;
                }
                StepResult::HarnessError(why) => {
                    ended = Ended::Error(format!("step {n} ({}): {why}", step.kind.name()));
                    break;
                }
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

    async fn step(&mut self, step: &Step) -> StepResult {
        let within = step
            .within_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_WITHIN);
        let deadline = Instant::now() + within;
        match &step.kind {
            StepKind::Send(s) => self.do_send(s).await,
            StepKind::Raw(r) => {
                let bytes = match hex::decode(r.hex.replace([' ', '_'], "")) {
                    Ok(b) => b,
                    Err(e) => return StepResult::HarnessError(e.to_string()),
                };
                self.note(
                    "->",
                    format!(
                        "raw {} bytes: {}",
                        bytes.len(),
                        hex::encode(&bytes[..bytes.len().min(24)])
                    ),
                );
                match self
                    .send_frame_bytes(bytes, &r.split, r.split_delay_ms, r.coalesce)
                    .await
                {
                    Ok(()) => StepResult::Ok,
                    Err(e) => self.write_failed(e),
                }
            }
            StepKind::SendData(d) => {
                let id = self.resolve_for_send(&d.stream);
                let frame = u64::from(d.frame.unwrap_or(16384).max(1));
                let mut sent = 0u64;
                let mut d = d.clone();
                if d.fill {
                    self.drain_ready().await;
                    let credit = self.peer_credit(id);
                    d.len = u64::try_from(credit.max(0)).unwrap_or(0);
                    self.note(
                        "note",
                        format!("sending the whole credit granted: {} bytes", d.len),
                    );
                }
                let total_deadline = Instant::now() + within.max(Duration::from_secs(5));
                while sent < d.len || (d.len == 0 && sent == 0 && d.fin) {
                    self.drain_ready().await;
                    let credit = self.peer_credit(id);
                    let want = (d.len - sent).min(frame);
                    let n = want.min(u64::try_from(credit.max(0)).unwrap_or(0));
                    if n == 0 && want > 0 {
                        if self.closed.is_some() {
                            return StepResult::Failed {
                                expected: format!(
                                    "credit to send {} more bytes on stream {id}",
                                    d.len - sent
                                ),
                                actual: self.closed.clone().unwrap_or_default(),
                            };
                        }
                        if !self.pump(total_deadline).await {
                            return StepResult::Failed {
                                expected: format!("credit to send {} more bytes on stream {id} (flow.window-update)", d.len - sent),
                                actual: format!("no Window Update; {sent} of {} bytes sent", d.len),
                            };
                        }
                        continue;
                    }
                    let body: Vec<u8> = (sent..sent + n).map(pattern_byte).collect();
                    sent += n;
                    let flags = if d.fin && sent >= d.len {
                        Flags::FIN
                    } else {
                        Flags::NONE
                    };
                    if let Err(e) = self
                        .send_frame(Frame::data(StreamId::new(id), flags, body), "")
                        .await
                    {
                        return self.write_failed(e);
                    }
                    if d.len == 0 {
                        break;
                    }
                }
                StepResult::Ok
            }
            StepKind::Expect(p) => self.do_expect(p, deadline).await,
            StepKind::ExpectData(d) => self.do_expect_data(d, deadline).await,
            StepKind::ExpectGoaway(g) => loop {
                if let Some(code) = self.goaway {
                    return match g.code {
                        Some(c) if c != code => StepResult::Failed {
                            expected: format!("go-away code={c}"),
                            actual: format!("go-away code={code}"),
                        },
                        _ => StepResult::Ok,
                    };
                }
                if self.closed.is_some() && self.rx.is_empty() {
                    return StepResult::Failed {
                        expected: "a Go Away".into(),
                        actual: format!(
                            "{} without Go Away",
                            self.closed.clone().unwrap_or_default()
                        ),
                    };
                }
                if !self.pump(deadline).await {
                    return StepResult::Failed {
                        expected: "a Go Away".into(),
                        actual: format!("nothing within {} ms", within.as_millis()),
                    };
                }
            },
            StepKind::ExpectTerminate(t) => {
                let want = t.code.unwrap_or(1);
                loop {
                    if let Some(code) = self.goaway {
                        // Give the IUT a moment to close; not required.
                        let grace = Instant::now() + Duration::from_millis(200);
                        while self.closed.is_none() && self.pump(grace).await {}
                        let how = if self.closed.is_some() {
                            "go-away then close"
                        } else {
                            "go-away, connection left open"
                        };
                        self.observations
                            .push(format!("session ended: {how}, code {code}"));
                        if code != want {
                            self.failures.push(Failure {
                                step: 0,
                                level: Level::Should,
                                rule: Some(if want == 1 {
                                    Rule::ErrorsProtocol
                                } else {
                                    Rule::GoawayCodes
                                }),
                                note: Some("the Go Away code tells the peer why".into()),
                                expected: format!("go-away code={want}"),
                                actual: format!("go-away code={code}"),
                            });
                        }
                        return StepResult::Ok;
                    }
                    if let Some(why) = self.closed.clone() {
                        self.drain_ready().await;
                        if self.goaway.is_some() {
                            continue;
                        }
                        self.observations
                            .push("session ended: close without Go Away".into());
                        self.failures.push(Failure {
                            step: 0,
                            level: Level::Should,
                            rule: Some(Rule::GoawaySend),
                            note: Some(
                                "a Go Away should tell the peer why the session ends".into(),
                            ),
                            expected: format!("go-away code={want} before the close"),
                            actual: why,
                        });
                        return StepResult::Ok;
                    }
                    if !self.pump(deadline).await {
                        return StepResult::Failed {
                            expected: format!(
                                "the session ends (go-away code={want} and/or close)"
                            ),
                            actual: format!("session still open after {} ms", within.as_millis()),
                        };
                    }
                }
            }
            StepKind::ExpectClose(_) => loop {
                if self.closed.is_some() {
                    return StepResult::Ok;
                }
                if !self.pump(deadline).await {
                    return StepResult::Failed {
                        expected: "the IUT closes the connection".into(),
                        actual: format!("still open after {} ms", within.as_millis()),
                    };
                }
            },
            StepKind::ExpectSilence(s) => {
                let until = Instant::now() + Duration::from_millis(s.ms);
                let first = self.seq;
                let stream = match &s.stream {
                    Some(r) => match self.resolve(r) {
                        Some(id) => Some(id),
                        None => return StepResult::HarnessError(format!("{r} is not bound")),
                    },
                    None => None,
                };
                let types: Vec<u8> = s.types.iter().filter_map(|t| parse_type(t)).collect();
                let flags = s.flags.as_deref().and_then(Flags::parse);
                while self.pump(until).await {}
                let hit = self.inbox.iter().find(|(idx, f)| {
                    *idx > first
                        && stream.is_none_or(|id| f.stream_id().val() == id)
                        && if types.is_empty() {
                            !matches!(f.typ(), FrameType::WindowUpdate | FrameType::Ping)
                                || flags.is_some_and(|fl| f.flags().intersects(fl))
                        } else {
                            types.contains(&(f.typ() as u8))
                        }
                        && flags.is_none_or(|fl| f.flags().intersects(fl))
                        && (!s.payload || !f.body.is_empty())
                });
                match hit {
                    Some((_, f)) => StepResult::Failed {
                        expected: format!("no such frame for {} ms", s.ms),
                        actual: describe(f),
                    },
                    None => StepResult::Ok,
                }
            }
            StepKind::Sync(sy) => {
                let v = sy.value.unwrap_or_else(|| {
                    self.next_ping += 1;
                    self.next_ping
                });
                if let Err(e) = self.send_frame(Frame::ping(Flags::SYN, v), "sync").await {
                    return self.write_failed(e);
                }
                let p = FramePattern {
                    typ: Some("ping".into()),
                    flags: Some("ACK".into()),
                    value: Some(v),
                    ..FramePattern::default()
                };
                self.do_expect(&p, deadline).await
            }
            StepKind::Act(a) => self.do_act(a, deadline).await,
            StepKind::ExpectEvent(e) => self.do_expect_event(e, deadline).await,
            StepKind::ExpectNoEvent(e) => {
                let stream = match &e.stream {
                    Some(r) => match self.resolve(r) {
                        Some(id) => Some(u64::from(id)),
                        None => return StepResult::HarnessError(format!("{r} is not bound")),
                    },
                    None => None,
                };
                let first = self.events.len();
                let until = Instant::now() + Duration::from_millis(e.ms);
                while self.pump(until).await {}
                let hit = self.events.iter().skip(first).find(|ev| {
                    ev.get("event").and_then(Value::as_str) == Some(e.event.as_str())
                        && stream
                            .is_none_or(|id| ev.get("stream").and_then(Value::as_u64) == Some(id))
                });
                match hit {
                    Some(ev) => StepResult::Failed {
                        expected: format!("no `{}` event for {} ms", e.event, e.ms),
                        actual: ev.to_string(),
                    },
                    None => StepResult::Ok,
                }
            }
            StepKind::Wait(w) => {
                let until = Instant::now() + Duration::from_millis(w.ms);
                while self.pump(until).await {}
                StepResult::Ok
            }
            StepKind::Observe(o) => {
                let until = Instant::now() + Duration::from_millis(o.ms);
                while self.pump(until).await {}
                let first = self.observed_upto;
                self.observed_upto = self.trace.len();
                let stream = o.stream.as_ref().and_then(|r| self.resolve(r));
                let seen: Vec<String> = self.trace[first..]
                    .iter()
                    .filter(|l| {
                        l.dir == "<-"
                            && stream.is_none_or(|id| l.text.contains(&format!("stream={id} ")))
                    })
                    .map(|l| l.text.clone())
                    .collect();
                let text = match seen.len() {
                    0 => "nothing".to_string(),
                    n if n <= 6 => seen.join("; "),
                    n => format!(
                        "{}; … {} more, {n} frames in all; last: {}",
                        seen[..3].join("; "),
                        n - 4,
                        seen[n - 1]
                    ),
                };
                self.observations.push(format!("{}: {text}", o.label));
                StepResult::Ok
            }
            StepKind::Peer(p) => {
                if let Some(v) = p.answer_pings {
                    self.answer_pings = v;
                }
                if let Some(v) = p.grant_credit {
                    self.grant_credit = v;
                }
                if let Some(v) = p.auto_ack {
                    self.auto_ack = v;
                }
                if let Some(v) = p.read {
                    self.read_gate.send_replace(v);
                    self.note(
                        "note",
                        if v {
                            "the peer reads again"
                        } else {
                            "the peer stops reading the connection"
                        }
                        .into(),
                    );
                }
                StepResult::Ok
            }
            StepKind::Flood(f) => self.do_flood(f).await,
            StepKind::Responsive(r) => self.do_responsive(r, deadline).await,
            StepKind::Sessions(m) => self.do_sessions(m, deadline).await,
            StepKind::CloseTcp(_) => {
                if let Some(mut w) = self.writer.take() {
                    let _ = w.shutdown().await;
                }
                self.note("->", "TCP FIN (peer closes its side)".into());
                StepResult::Ok
            }
        }
    }

    /// `sessions`: more sessions beside this one, held until the case ends.
    async fn do_sessions(
        &mut self,
        m: &crate::vector::SessionsStep,
        deadline: Instant,
    ) -> StepResult {
        let Some(addr) = self.iut_listen else {
            return StepResult::HarnessError("sessions: the IUT is not the server here".into());
        };
        if self.adapter.is_some() {
            let act = Act {
                cmd: "accept-sessions".into(),
                count: Some(m.count),
                ..Act::default()
            };
            let r = self.do_act(&act, deadline).await;
            if !matches!(r, StepResult::Ok) {
                return r;
            }
        }
        let echo = m.echo.unwrap_or(64);
        self.note(
            "->",
            format!(
                "{} more sessions to {addr}, each: stream 1 opened (WU|SYN) with {echo} bytes to echo, a Ping",
                m.count
            ),
        );
        let (crowd, t) = crate::sessions::open(addr, m.count, echo, deadline).await;
        let reason = t
            .first_reason
            .as_deref()
            .map(|r| format!(" (first: {r})"))
            .unwrap_or_default();
        self.note(
            "<-",
            format!(
                "sessions: {} served, {} turned away{reason}, {} undecided; the served ones stay open",
                t.served, t.turned, t.timed_out
            ),
        );
        self.observations
            .push(format!("sessions: {} of {} served", t.served, m.count));
        if t.turned > 0 {
            self.observations.push(format!(
                "defence: the IUT turned away {} of {} sessions{reason}",
                t.turned, m.count
            ));
        }
        self.crowd = Some(crowd);
        StepResult::Ok
    }

    /// What the peer may still send on `id` (the initial window on a
    /// stream it has not used yet).
    fn peer_credit(&self, id: u32) -> i64 {
        self.streams
            .get(&id)
            .map(|st| st.peer_credit)
            .unwrap_or(INITIAL_WINDOW)
    }

    fn write_failed(&mut self, e: String) -> StepResult {
        match &self.closed {
            Some(c) => StepResult::Failed {
                expected: "the connection stays open".into(),
                actual: c.clone(),
            },
            None => StepResult::Failed {
                expected: "the connection stays open".into(),
                actual: e,
            },
        }
    }

    /// `flood`: batches of frames, each written whole (a frame is never cut:
    /// framing stays intact). The time limit is checked between writes; a
    /// write the IUT does not take (back-pressure) is waited for with the
    /// peer reading again, up to [`FLOOD_DRAIN`].
    async fn do_flood(&mut self, f: &crate::vector::Flood) -> StepResult {
        let s = &f.frame;
        let (typ, base_id, flags, body, base) = match self.frame_parts(s) {
            Ok(p) => p,
            Err(e) => return StepResult::HarnessError(e),
        };
        let limit = Duration::from_millis(f.for_ms.unwrap_or(3000));
        // At most about 1 MiB per write, whatever the frame size.
        let per_copy = (HEADER_LEN + body.len()) * if f.then.is_some() { 2 } else { 1 };
        let by_size = u32::try_from((1 << 20) / per_copy)
            .unwrap_or(u32::MAX)
            .max(1);
        let batch = f.batch.unwrap_or(512).clamp(1, by_size);
        let then = f.then.as_ref().map(|t| {
            (
                parse_type(&t.typ).unwrap_or(1),
                flags_of(&t.flags),
                t.delta.or(t.value).or(t.code).or(t.length).unwrap_or(0),
            )
        });
        self.drain_ready().await;
        let started = Instant::now();
        let until = started + limit;
        let mut sent: u32 = 0;
        let mut blocked = Duration::ZERO;
        let mut wire = Vec::new();
        while sent < f.count && Instant::now() < until {
            wire.clear();
            let n = batch.min(f.count - sent);
            for k in sent..sent + n {
                let value = base.wrapping_add(k.wrapping_mul(s.step.unwrap_or(0)));
                let id = base_id.wrapping_add(k.wrapping_mul(s.stream_step.unwrap_or(0)));
                let length = match s.length {
                    Some(l) => l,
                    None if typ == 0 => body.len() as u32,
                    None => value,
                };
                let raw = RawHeader {
                    version: s.version.unwrap_or(0),
                    typ,
                    flags: flags.bits(),
                    stream_id: id,
                    length,
                };
                if let Ok(h) = raw.validate() {
                    if h.typ == FrameType::Data
                        && !s.overrun
                        && id != 0
                        && body.len() as i64 > self.peer_credit(id)
                    {
                        return StepResult::HarnessError(format!(
                            "flood frame {k} on stream {id} would exceed the IUT's window; say \"overrun\": true if that is the point"
                        ));
                    }
                    self.account_out(&h, body.len() as i64);
                }
                wire.extend_from_slice(&raw.to_bytes());
                wire.extend_from_slice(&body);
                if let Some((t_typ, t_flags, t_len)) = then {
                    let raw = RawHeader {
                        version: 0,
                        typ: t_typ,
                        flags: t_flags.bits(),
                        stream_id: id,
                        length: t_len,
                    };
                    if let Ok(h) = raw.validate() {
                        self.account_out(&h, 0);
                    }
                    wire.extend_from_slice(&raw.to_bytes());
                }
            }
            let t = Instant::now();
            let Some(w) = self.writer.as_mut() else {
                return self.write_failed("the peer's side of the connection is closed".into());
            };
            let mut write = std::pin::pin!(w.write_all(&wire));
            let r = tokio::select! {
                r = &mut write => Some(r),
                _ = tokio::time::sleep_until(until) => None,
            };
            let r = match r {
                Some(r) => r,
                None => {
                    // Out of time inside a write the IUT is not taking: read
                    // again (its own writes may be what stops it) and let
                    // the write finish, so no frame is cut.
                    self.read_gate.send_replace(true);
                    match tokio::time::timeout(FLOOD_DRAIN, &mut write).await {
                        Ok(r) => r,
                        Err(_) => {
                            let msg = format!(
                                "a flood write did not complete within {} s after the peer read again (sent {sent} of {} frames)",
                                FLOOD_DRAIN.as_secs(),
                                f.count
                            );
                            self.note("note", msg.clone());
                            return StepResult::Failed {
                                expected: "the IUT reads the connection again once its peer reads"
                                    .into(),
                                actual: msg,
                            };
                        }
                    }
                }
            };
            blocked += t.elapsed().saturating_sub(Duration::from_millis(2));
            if let Err(e) = r {
                let e = format!("write failed after {sent} of {} frames: {e}", f.count);
                self.note("note", e.clone());
                // The IUT closing the connection is a defence, not a
                // failure of this step; later steps see the close.
                self.observations.push(format!("flood: {e}"));
                return StepResult::Ok;
            }
            sent += n;
            if let Some(ms) = f.pause_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        // Later streams of the peer's own must not reuse the flood's ids.
        if let Some(k) = s.stream_step.filter(|k| *k > 0 && sent > 0) {
            let last = base_id.wrapping_add((sent - 1).wrapping_mul(k));
            if last >= self.next_peer_id && last % 2 == self.next_peer_id % 2 && last < 0x7FFF_0000
            {
                self.next_peer_id = last + 2;
            }
        }
        let elapsed = started.elapsed();
        let text = format!(
            "flood: {sent} of {} × {} stream={base_id} flags={flags} in {} ms{}",
            f.count,
            type_name(typ),
            elapsed.as_millis(),
            if sent < f.count { " (time limit)" } else { "" }
        );
        self.note("->", text.clone());
        self.observations.push(text);
        if blocked > Duration::from_millis(200) {
            self.observations.push(format!(
                "defence: back-pressure (the flood's writes waited {} ms in total)",
                blocked.as_millis()
            ));
        }
        StepResult::Ok
    }

    /// `responsive`: reads again, then a ping must be answered and a new
    /// stream must echo; an IUT that ended the session has defended itself.
    async fn do_responsive(
        &mut self,
        r: &crate::vector::Responsive,
        deadline: Instant,
    ) -> StepResult {
        self.read_gate.send_replace(true);
        // What is already there (answers to the flood) first.
        let settle = Instant::now() + Duration::from_millis(50);
        while self.pump(settle).await {}
        if self.iut_rsts > 0 {
            self.observations
                .push(format!("defence: the IUT sent {} RST", self.iut_rsts));
        }
        if let Some(c) = self.closed.clone() {
            let ga = self
                .goaway
                .map(|g| format!("Go Away code {g}, then "))
                .unwrap_or_default();
            self.observations
                .push(format!("defence: the IUT ended the session ({ga}{c})"));
            return StepResult::Ok;
        }
        // The IUT may still be working through the flood, and an
        // implementation that drops Ping answers under load (a defence of
        // its own) may drop this one too: a new ping (a new value: each
        // request gets its own answer) goes out every RESPONSIVE_PING_EVERY
        // until one of them is answered or the step's time is up.
        // Responsive means answering within the step, not at once.
        let mut sent: Vec<u32> = Vec::new();
        let first = Instant::now();
        // Frames are only appended while waiting: each is examined once (a
        // frame that came before a ping was sent cannot be its answer), so a
        // backlog of thousands of answers to the flood costs linear time.
        let mut scanned = self.inbox.len();
        'ping: loop {
            self.next_ping += 1;
            let v = self.next_ping;
            if let Err(e) = self
                .send_frame(Frame::ping(Flags::SYN, v), "responsive?")
                .await
            {
                return self.write_failed(e);
            }
            sent.push(v);
            let round = (Instant::now() + RESPONSIVE_PING_EVERY).min(deadline);
            loop {
                let answer = self.inbox.iter().skip(scanned).position(|(_, f)| {
                    f.typ() == FrameType::Ping
                        && f.flags().contains(Flags::ACK)
                        && sent.contains(&f.header.length)
                });
                if let Some(pos) = answer {
                    self.inbox.remove(scanned + pos);
                    break 'ping;
                }
                scanned = self.inbox.len();
                if self.closed.is_some() && self.rx.is_empty() {
                    self.observations
                        .push("defence: the IUT ended the session instead of answering".into());
                    return StepResult::Ok;
                }
                if !self.pump(round).await {
                    break;
                }
            }
            if Instant::now() >= deadline {
                return StepResult::Failed {
                    expected: format!(
                        "a responsive IUT: an answer (ping ACK) to one of {} pings sent a second apart",
                        sent.len()
                    ),
                    actual: "no answer (timed out)".into(),
                };
            }
        }
        let sent = sent.len();
        if sent > 1 {
            self.observations.push(format!(
                "responsive: the ping was answered {:.1} s after the flood, on try {sent}",
                first.elapsed().as_secs_f64()
            ));
        }
        if let Some(g) = self.goaway {
            // After the IUT's Go Away the peer must open no stream
            // (goaway.after): the answered ping is all there is to check.
            let seen = format!("defence: the IUT sent Go Away code {g} and still answers pings");
            if !self.observations.contains(&seen) {
                self.observations.push(seen);
            }
            return StepResult::Ok;
        }
        let len = r.echo.unwrap_or(64).min(16384);
        if len == 0 {
            return StepResult::Ok;
        }
        let name = StreamRef::Bind("$responsive".into());
        // A new stream, opened by a Window Update and then given its bytes
        // (well within the initial window): opening with Data|SYN would
        // also test whether the payload of a SYN frame is kept, which is a
        // case of its own (stream.open.syn-on-data), not responsiveness.
        let id = self.resolve_for_send(&name);
        let body: Vec<u8> = (0..u64::from(len)).map(pattern_byte).collect();
        for f in [
            Frame::window_update(StreamId::new(id), Flags::SYN, 0),
            Frame::data(StreamId::new(id), Flags::NONE, body),
        ] {
            if let Err(e) = self.send_frame(f, "responsive?").await {
                return self.write_failed(e);
            }
        }
        if r.read_fresh && self.adapter.is_some() {
            if let Err(failed) = self.read_fresh_stream(id, deadline).await {
                return failed;
            }
        }
        let want = ExpectData {
            stream: name,
            body: crate::vector::Body {
                len: Some(len),
                ..Default::default()
            },
            fin: false,
            any_bytes: false,
        };
        match self.do_expect_data(&want, deadline).await {
            StepResult::Failed { .. }
                if self.closed.is_none() && self.streams.get(&id).is_some_and(|st| st.iut_rst) =>
            {
                // It answered the ping: the session is alive, and refusing a
                // stream it has no room for is back-pressure (go-yamux's
                // memory manager, backlog.inbound), not a hang.
                self.observations.push(
                    "defence: the IUT refused the new stream (RST) and answered the ping".into(),
                );
                StepResult::Ok
            }
            StepResult::Failed { expected, actual } if self.closed.is_none() => {
                StepResult::Failed {
                    expected: format!("a responsive IUT: a new stream echoes ({expected})"),
                    actual,
                }
            }
            StepResult::Failed { .. } => {
                self.observations
                    .push("defence: the IUT ended the session instead of echoing".into());
                StepResult::Ok
            }
            other => other,
        }
    }

    /// `responsive` with `read_fresh`: waits for the adapter to accept
    /// stream `id`, then turns `echo` and `read` on for it alone.
    async fn read_fresh_stream(&mut self, id: u32, deadline: Instant) -> Result<(), StepResult> {
        // Events are only appended while waiting: each is examined once.
        let mut scanned = 0;
        loop {
            let accepted = self.events.iter().skip(scanned).any(|ev| {
                ev.get("event").and_then(Value::as_str) == Some("accepted")
                    && ev.get("stream").and_then(Value::as_u64) == Some(u64::from(id))
            });
            if accepted {
                break;
            }
            scanned = self.events.len();
            if self.streams.get(&id).is_some_and(|st| st.iut_rst) || self.closed.is_some() {
                return Ok(()); // refused or ended: judged by the caller
            }
            if !self.pump(deadline).await {
                return Err(StepResult::Failed {
                    expected: format!(
                        "a responsive IUT: the application accepts the new stream {id}"
                    ),
                    actual: "no `accepted` event (timed out)".into(),
                });
            }
        }
        // Echo first: what is read before echo is on is not echoed.
        for cmd in ["echo", "read"] {
            let a = Act {
                cmd: cmd.into(),
                stream: Some(StreamRef::Id(id)),
                ..Act::default()
            };
            match self.do_act(&a, deadline).await {
                StepResult::Ok => {}
                other => return Err(other),
            }
        }
        Ok(())
    }

    /// The parts of a frame to send: type, stream id (bindings resolved),
    /// flags, body, and the base value of the Length (delta, value or code).
    #[allow(clippy::type_complexity)]
    fn frame_parts(&mut self, s: &SendFrame) -> Result<(u8, u32, Flags, Vec<u8>, u32), String> {
        let typ = parse_type(&s.typ).ok_or_else(|| format!("bad type {:?}", s.typ))?;
        let id = s
            .stream
            .as_ref()
            .map(|r| self.resolve_for_send(r))
            .unwrap_or(0);
        let body = s
            .body
            .as_ref()
            .map(|b| b.bytes())
            .transpose()?
            .unwrap_or_default();
        let base = s.delta.or(s.value).or(s.code).unwrap_or(0);
        Ok((typ, id, flags_of(&s.flags), body, base))
    }

    async fn do_send(&mut self, s: &SendFrame) -> StepResult {
        let (typ, id, flags, body, base) = match self.frame_parts(s) {
            Ok(p) => p,
            Err(e) => return StepResult::HarnessError(e),
        };
        let repeat = s.repeat.unwrap_or(1).max(1);
        self.drain_ready().await;
        let mut wire = Vec::new();
        for k in 0..repeat {
            let value = base.wrapping_add(k.wrapping_mul(s.step.unwrap_or(0)));
            let length = match s.length {
                Some(l) => l,
                None if typ == 0 => match u32::try_from(body.len()) {
                    Ok(l) => l,
                    Err(_) => return StepResult::HarnessError("body too long".into()),
                },
                None => value,
            };
            let id = id.wrapping_add(k.wrapping_mul(s.stream_step.unwrap_or(0)));
            if s.stream_step.is_some()
                && id >= self.next_peer_id
                && id % 2 == self.next_peer_id % 2
                && id < 1000
            {
                self.next_peer_id = id + 2;
            }
            let raw = RawHeader {
                version: s.version.unwrap_or(0),
                typ,
                flags: flags.bits(),
                stream_id: id,
                length,
            };
            if typ == 0 && !body.is_empty() && !s.overrun && id != 0 {
                let credit = self.peer_credit(id);
                if body.len() as i64 > credit {
                    return StepResult::HarnessError(format!(
                        "sending {} bytes on stream {id} would exceed the IUT's window ({credit} bytes of credit); say \"overrun\": true if that is the point",
                        body.len()
                    ));
                }
            }
            match raw.validate() {
                Ok(h) => {
                    self.account_out(&h, body.len() as i64);
                    let text = if h.typ == FrameType::Data && h.length as usize != body.len() {
                        format!(
                            "data stream={id} flags={flags} len={} (header) with {} body bytes",
                            h.length,
                            body.len()
                        )
                    } else {
                        describe(&Frame {
                            header: h,
                            body: body.clone().into(),
                        })
                    };
                    self.note("->", text);
                }
                Err(_) => self.note(
                    "->",
                    format!(
                        "raw header version={} type={} ({}) flags={} stream={id} length={length}{}",
                        raw.version,
                        typ,
                        type_name(typ),
                        flags,
                        if body.is_empty() {
                            String::new()
                        } else {
                            format!(" + {} bytes", body.len())
                        }
                    ),
                ),
            }
            wire.extend_from_slice(&raw.to_bytes());
            wire.extend_from_slice(&body);
        }
        debug_assert!(wire.len() >= HEADER_LEN);
        match self
            .send_frame_bytes(wire, &s.split, s.split_delay_ms, s.coalesce)
            .await
        {
            Ok(()) => StepResult::Ok,
            Err(e) => self.write_failed(e),
        }
    }

    fn matches(&self, p: &FramePattern, f: &Frame) -> bool {
        if let Some(t) = &p.typ {
            if parse_type(t) != Some(f.typ() as u8) {
                return false;
            }
        }
        if let Some(fl) = p.flags.as_deref().and_then(Flags::parse) {
            if !f.flags().contains(fl) {
                return false;
            }
        }
        if let Some(fl) = p.flags_absent.as_deref().and_then(Flags::parse) {
            if f.flags().intersects(fl) {
                return false;
            }
        }
        if let Some(fl) = p.flags_exact.as_deref().and_then(Flags::parse) {
            if f.flags() != fl {
                return false;
            }
        }
        let id = f.stream_id().val();
        if let Some(s) = &p.stream {
            match self.resolve(s) {
                Some(want) => {
                    if want != id {
                        return false;
                    }
                }
                None => {
                    // Binding on first use: a stream frame, not yet bound to another name.
                    if id == 0 || self.bindings.values().any(|v| *v == id) {
                        return false;
                    }
                }
            }
        }
        if let Some(par) = &p.parity {
            let ok = match par.as_str() {
                "odd" => id % 2 == 1,
                "even" => id % 2 == 0 && id != 0,
                "iut" => self.iut_parity_ok(id),
                _ => !self.iut_parity_ok(id) && id != 0,
            };
            if !ok {
                return false;
            }
        }
        if let Some(v) = p.value {
            if f.header.length != v {
                return false;
            }
        }
        true
    }

    async fn do_expect(&mut self, p: &FramePattern, deadline: Instant) -> StepResult {
        let count = p.count.unwrap_or(1).max(1);
        for k in 0..count {
            match self.expect_one(p, deadline).await {
                StepResult::Failed { expected, actual } if count > 1 => {
                    return StepResult::Failed {
                        expected: format!("{count} × {expected}"),
                        actual: format!("{k} matched, then {actual}"),
                    };
                }
                StepResult::Ok => {}
                other => return other,
            }
        }
        StepResult::Ok
    }

    async fn expect_one(&mut self, p: &FramePattern, deadline: Instant) -> StepResult {
        let start_len = self.trace.len();
        let start_seq = self.seq;
        // Frames are only appended while waiting, so each is examined once.
        let mut scanned = 0;
        loop {
            let bound = p.stream.as_ref().and_then(|s| self.resolve(s));
            let found = self
                .inbox
                .iter()
                .enumerate()
                .skip(scanned)
                .find(|(_, (_, f))| self.matches(p, f))
                .map(|(i, _)| i);
            if let Some(pos) = found {
                if let Some((_, f)) = self.inbox.remove(pos) {
                    if let Some(StreamRef::Bind(b)) = &p.stream {
                        self.bindings
                            .entry(b.clone())
                            .or_insert(f.stream_id().val());
                    }
                }
                return StepResult::Ok;
            }
            // Conflicts: a Go Away, or RST on the expected stream, that arrived during this step.
            let want_ga = p.typ.as_deref().and_then(parse_type) == Some(3);
            let want_rst = p
                .flags
                .as_deref()
                .and_then(Flags::parse)
                .is_some_and(|f| f.contains(Flags::RST))
                || p.flags_exact
                    .as_deref()
                    .and_then(Flags::parse)
                    .is_some_and(|f| f.contains(Flags::RST));
            if let Some((_, f)) = self.inbox.iter().skip(scanned).find(|(idx, f)| {
                *idx > start_seq
                    && ((f.typ() == FrameType::GoAway && !want_ga)
                        || (!want_rst
                            && f.flags().contains(Flags::RST)
                            && bound.is_some_and(|b| b == f.stream_id().val())))
            }) {
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: describe(f),
                };
            }
            scanned = self.inbox.len();
            if self.closed.is_some() && self.rx.is_empty() {
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: self.closed.clone().unwrap_or_default(),
                };
            }
            if !self.pump(deadline).await {
                let recent: Vec<String> = self.trace[start_len..]
                    .iter()
                    .filter(|l| l.dir == "<-")
                    .map(|l| l.text.clone())
                    .take(3)
                    .collect();
                let actual = if recent.is_empty() {
                    "no frame".to_string()
                } else {
                    format!("only {}", recent.join("; "))
                };
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: format!("{actual} (timed out)"),
                };
            }
        }
    }

    async fn do_expect_data(&mut self, d: &ExpectData, deadline: Instant) -> StepResult {
        let Some(id) = self.resolve(&d.stream) else {
            return StepResult::HarnessError(format!("{} is not bound", d.stream));
        };
        let want: Vec<u8> = match (&d.body.len, &d.body.offset) {
            (Some(n), None) => {
                let off = self.streams.get(&id).map(|s| s.cursor as u64).unwrap_or(0);
                (0..u64::from(*n)).map(|i| pattern_byte(i + off)).collect()
            }
            _ => match d.body.bytes() {
                Ok(b) => b,
                Err(e) => return StepResult::HarnessError(e),
            },
        };
        loop {
            let st = self.streams.entry(id).or_default();
            let have = st.received.len() - st.cursor;
            if have >= want.len() && (!d.fin || st.iut_fin) {
                let got = &st.received[st.cursor..st.cursor + want.len()];
                if !d.any_bytes && got != want.as_slice() {
                    let pos = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
                    return StepResult::Failed {
                        expected: format!("{} bytes on stream {id}", want.len()),
                        actual: format!("different bytes from offset {} (byte {pos}: {:#04x} instead of {:#04x})", st.cursor, got.get(pos).copied().unwrap_or(0), want.get(pos).copied().unwrap_or(0)),
                    };
                }
                st.cursor += want.len();
                if d.fin && st.received.len() > st.cursor {
                    return StepResult::Failed {
                        expected: format!("FIN after {} bytes on stream {id}", want.len()),
                        actual: format!("{} more bytes", st.received.len() - st.cursor),
                    };
                }
                return StepResult::Ok;
            }
            let (have, fin, rst) = (have, st.iut_fin, st.iut_rst);
            if rst {
                return StepResult::Failed {
                    expected: format!("{} bytes on stream {id}", want.len()),
                    actual: format!("{have} bytes, then RST"),
                };
            }
            if fin && have < want.len() {
                return StepResult::Failed {
                    expected: format!("{} bytes on stream {id}", want.len()),
                    actual: format!("{have} bytes, then FIN"),
                };
            }
            if self.closed.is_some() && self.rx.is_empty() {
                return StepResult::Failed {
                    expected: format!(
                        "{} bytes{} on stream {id}",
                        want.len(),
                        if d.fin { " and FIN" } else { "" }
                    ),
                    actual: format!(
                        "{have} bytes, then {}",
                        self.closed.clone().unwrap_or_default()
                    ),
                };
            }
            if !self.pump(deadline).await {
                return StepResult::Failed {
                    expected: format!(
                        "{} bytes{} on stream {id}",
                        want.len(),
                        if d.fin { " and FIN" } else { "" }
                    ),
                    actual: format!(
                        "{have} bytes{} (timed out)",
                        if fin { " and FIN" } else { "" }
                    ),
                };
            }
        }
    }

    async fn do_act(&mut self, a: &Act, deadline: Instant) -> StepResult {
        if self.adapter.is_none() {
            return StepResult::HarnessError("this step needs an adapter".into());
        }
        let mut cmd = Map::new();
        cmd.insert("cmd".into(), Value::from(a.cmd.clone()));
        if let Some(s) = &a.stream {
            match self.resolve(s) {
                Some(id) => {
                    cmd.insert("stream".into(), Value::from(id));
                }
                None => return StepResult::HarnessError(format!("{s} is not bound")),
            }
        }
        if let Some(h) = &a.hex {
            cmd.insert("hex".into(), Value::from(h.clone()));
        }
        if let Some(n) = a.len {
            cmd.insert("len".into(), Value::from(n));
        }
        if let Some(c) = a.code {
            cmd.insert("code".into(), Value::from(c));
        }
        if let Some(c) = a.count {
            cmd.insert("count".into(), Value::from(c));
        }
        self.drain_ready().await;
        for _ in 1..a.repeat.unwrap_or(1).max(1) {
            let r = match self.adapter.as_mut() {
                Some(ad) => ad.send(cmd.clone()).await,
                None => return StepResult::HarnessError("no adapter".into()),
            };
            match r {
                Ok((id, shown)) => {
                    self.note("cmd", shown);
                    self.pending_replies.insert(id);
                }
                Err(e) => return StepResult::HarnessError(e.to_string()),
            }
        }
        let sent = match self.adapter.as_mut() {
            Some(ad) => ad.send(cmd).await,
            None => return StepResult::HarnessError("no adapter".into()),
        };
        let id = match sent {
            Ok((id, shown)) => {
                self.note("cmd", shown);
                id
            }
            Err(e) => return StepResult::HarnessError(e.to_string()),
        };
        let want = a.expect_reply.as_deref().unwrap_or("ok");
        if want == "none" {
            self.pending_replies.insert(id);
            return StepResult::Ok;
        }
        loop {
            let pos = self
                .events
                .iter()
                .position(|e| e.get("id").and_then(Value::as_u64) == Some(id));
            if let Some(pos) = pos {
                let Some(ev) = self.events.remove(pos) else {
                    continue;
                };
                let kind = ev
                    .get("event")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if kind == "unsupported" {
                    return StepResult::Unsupported(format!("the adapter cannot `{}`", a.cmd));
                }
                if want != "any" && kind != want {
                    let msg = ev
                        .get("message")
                        .and_then(Value::as_str)
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    return StepResult::Failed {
                        expected: format!("`{}` answered {want}", a.cmd),
                        actual: format!("{kind}{msg}"),
                    };
                }
                if let Some(b) = &a.bind {
                    match ev
                        .get("stream")
                        .and_then(Value::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                    {
                        Some(s) => {
                            self.bindings.insert(b.clone(), s);
                            self.streams.entry(s).or_default();
                        }
                        None if kind == "ok" => {
                            return StepResult::HarnessError(format!(
                                "`{}` reply has no stream id",
                                a.cmd
                            ))
                        }
                        None => {}
                    }
                }
                return StepResult::Ok;
            }
            if self.adapter_done {
                return StepResult::HarnessError(format!(
                    "the adapter exited before answering `{}`",
                    a.cmd
                ));
            }
            let long = deadline.max(Instant::now() + Duration::from_millis(500));
            if !self.pump(long).await {
                return StepResult::Failed {
                    expected: format!("a reply to `{}`", a.cmd),
                    actual: "no reply (timed out)".into(),
                };
            }
        }
    }

    async fn do_expect_event(&mut self, e: &ExpectEvent, deadline: Instant) -> StepResult {
        let stream = match &e.stream {
            Some(s) => match self.resolve(s) {
                Some(id) => Some(id),
                None if e.event == "accepted" => None,
                None => return StepResult::HarnessError(format!("{s} is not bound")),
            },
            None => None,
        };
        let names: Vec<&str> = std::iter::once(e.event.as_str())
            .chain(e.or.iter().map(String::as_str))
            .collect();
        loop {
            if e.event == "data" {
                if let (Some(id), Some(n)) = (stream, e.len) {
                    let read = self.streams.get(&id).map(|s| s.app_read).unwrap_or(0);
                    if read >= n {
                        return StepResult::Ok;
                    }
                }
            }
            let pos = self.events.iter().position(|ev| {
                let kind = ev.get("event").and_then(Value::as_str).unwrap_or("");
                let sid = ev.get("stream").and_then(Value::as_u64);
                names.contains(&kind)
                    && (e.event != "data" || e.len.is_none())
                    && stream.is_none_or(|id| sid == Some(u64::from(id)))
            });
            if let Some(pos) = pos {
                if let Some(ev) = self.events.remove(pos) {
                    if let (Some(StreamRef::Bind(b)), None) = (&e.stream, stream) {
                        if let Some(s) = ev
                            .get("stream")
                            .and_then(Value::as_u64)
                            .and_then(|v| u32::try_from(v).ok())
                        {
                            self.bindings.insert(b.clone(), s);
                        }
                    }
                }
                return StepResult::Ok;
            }
            if self.adapter_done {
                return StepResult::Failed {
                    expected: format!("adapter event {}", names.join(" or ")),
                    actual: "the adapter exited".into(),
                };
            }
            if !self.pump(deadline).await {
                let read = stream
                    .and_then(|id| self.streams.get(&id))
                    .map(|s| s.app_read)
                    .unwrap_or(0);
                let extra = if e.event == "data" {
                    format!(" ({read} bytes read)")
                } else {
                    String::new()
                };
                let sid = stream
                    .map(|s| format!(" on stream {s}"))
                    .unwrap_or_default();
                return StepResult::Failed {
                    expected: format!("adapter event {}{sid}", names.join(" or ")),
                    actual: format!("none (timed out){extra}"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_described_with_a_body_preview() {
        let f = Frame::data(StreamId::new(3), Flags::SYN, vec![1u8; 20]);
        assert_eq!(
            describe(&f),
            "data stream=3 flags=SYN len=20 body=0101010101010101…"
        );
        let f = Frame::data(StreamId::new(3), Flags::NONE, vec![0xab, 0xcd]);
        assert_eq!(describe(&f), "data stream=3 flags=0 len=2 body=abcd");
        assert_eq!(
            describe(&Frame::ping(Flags::ACK, 7)),
            "ping stream=0 flags=ACK value=7"
        );
    }

    #[test]
    fn patterns_read_like_frames() {
        let p = FramePattern {
            typ: Some("window-update".into()),
            flags: Some("ACK".into()),
            stream: Some(StreamRef::Bind("$s".into())),
            value: Some(5),
            ..FramePattern::default()
        };
        assert_eq!(
            pattern_text(&p, None),
            "window-update stream=$s flags⊇ACK value=5"
        );
        assert_eq!(
            pattern_text(&p, Some(3)),
            "window-update stream=3 flags⊇ACK value=5"
        );
        assert_eq!(pattern_text(&FramePattern::default(), None), "any frame");
    }

    #[test]
    fn a_fresh_stream_has_the_initial_window_both_ways() {
        let s = StreamState::default();
        assert_eq!(s.peer_credit, INITIAL_WINDOW);
        assert_eq!(s.iut_credit, INITIAL_WINDOW);
    }
}
