//! `connection`: the sans-IO core ([`Connection`]) driven by an arbitrary
//! sequence of received frames, application commands and time steps.
//!
//! The harness plays the peer and the application at once. The wire rules
//! are judged by the project's judge: every frame the harness sends (as the
//! peer) and every frame the connection sends goes, in the order they
//! happen, through one [`Tracker`], as in the conformance peer
//! (`conformance::peer::judge`). A finding against the connection's frames
//! at level MUST or SHOULD panics, naming its rule (`flow.credit`,
//! `stream.ack-once`, `stream.half-close`, `stream.reset`, `ids.parity`,
//! `ids.control`, `goaway.after`, ...; see [`judged`]); findings against the
//! peer's frames are the harness's deliberate violations and are dropped.
//!
//! The tracker's ledger of each stream is also the harness's: the credit
//! both ways (`StreamStats::send_credit`, the connection being side `us`)
//! picks the lengths of generated Data and Window Update frames and is what
//! the connection's credit and window must equal, and its count of bytes
//! sent gives the offset of the payload. Beside it the harness keeps a
//! model of every stream for what the tracker cannot see from the wire:
//! bytes the application wrote and read, the peer's bytes the connection
//! took in or discarded, whether their content is known, the ACK. After
//! every step it checks:
//!
//! - every byte sent decodes as whole frames with the codec; a SYN only when
//!   the application opened the stream; frames only on streams the
//!   connection holds, except the refusal `WU|RST`; no second FIN; at most
//!   one Go Away, with a defined code; nothing at all once the session is
//!   closed;
//! - no Data frame above the split size (`flow.max-frame`) or empty without
//!   flags, and the payload is exactly the bytes the application wrote, in
//!   order;
//! - the connection's send credit and receive window equal the tracker's
//!   ledger, where the tracker follows the stream from its SYN (see
//!   [`Model::tracked`]); `0 <= buffered + receive window <= granted <=
//!   maximum window` (`flow.*`); Data beyond the ledger's window, and only
//!   that, is an overrun, a Window Update past 2^32 − 1 credit, and only
//!   that, an overflow; a peer that overruns the window, overflows the
//!   credit, uses our parity, repeats a SYN, or sends Data or SYN on id 0
//!   ends the session (`errors.protocol`);
//! - reads return exactly the bytes the peer sent, in order, and EOF only
//!   after all of them;
//! - bounded memory: buffered bytes per stream within the window, live
//!   streams, accept queue and ACK backlog within their limits, and the ACK
//!   backlog counter matches the streams awaiting an ACK;
//! - every ping request is answered once with its value (`ping.echo`).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use yamux::config::{AckPolicy, Config, GoAwayMode};
use yamux::error::{Error, ProtocolError};
use yamux::frame::INITIAL_WINDOW;
use yamux::frame::{Flags, Frame, FrameCodec, FrameType, GoAwayCode, Header, StreamId};
use yamux::proto::{Connection, ReadResult, Role, CHUNK_OVERHEAD};
use yamux::rules::Level;
use yamux::tracker::{Finding, FindingKind, Side, StreamStats, Tracker};

/// Most steps taken from one input.
const MAX_STEPS: usize = 256;
/// Largest receive window configured (keeps the pattern buffers small).
const MAX_WINDOW: u32 = 1 << 20;
/// Length of the payload pattern: longest body plus one pattern period.
const PATTERN_LEN: usize = 2 * MAX_WINDOW as usize + 256 + 1;

/// Bytes where byte `i` is `i as u8 ^ salt`: payload at stream offset
/// `k` is `pattern(salt)[k % 256..]`, so every byte names its offset.
fn pattern(salt: u8) -> &'static Bytes {
    static OURS: OnceLock<Bytes> = OnceLock::new();
    static PEERS: OnceLock<Bytes> = OnceLock::new();
    let cell = if salt == 0 { &OURS } else { &PEERS };
    cell.get_or_init(|| {
        (0..PATTERN_LEN)
            .map(|i| i as u8 ^ salt)
            .collect::<Vec<u8>>()
            .into()
    })
}

/// `len` bytes of pattern starting at stream offset `offset`; the peer's
/// data uses [`PEER_SALT`], ours 0.
fn payload(offset: u64, len: usize, salt: u8) -> Bytes {
    let start = (offset % 256) as usize;
    pattern(salt).slice(start..start + len.min(PATTERN_LEN - 256))
}

fn is_payload(bytes: &[u8], offset: u64, salt: u8) -> bool {
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b == ((offset + i as u64) as u8 ^ salt))
}

const PEER_SALT: u8 = 0xA5;

#[derive(Arbitrary, Debug)]
struct FuzzConfig {
    client: bool,
    window: u8,
    max_window: u8,
    auto_tune: bool,
    ack_policy: u8,
    split: u8,
    ack_backlog: u8,
    accept_backlog: u8,
    max_streams: u8,
    keep_alive: Option<u8>,
    open_timeout: Option<u8>,
    terminate_on_go_away: bool,
}

impl FuzzConfig {
    fn build(&self) -> Config {
        let mut c = Config::default();
        // 256 KiB .. 1 MiB, in 16 KiB steps
        c.receive_window = INITIAL_WINDOW + u32::from(self.window % 49) * 16 * 1024;
        c.max_receive_window = INITIAL_WINDOW + u32::from(self.max_window % 49) * 16 * 1024;
        c.auto_tune = self.auto_tune;
        c.ack_policy = match self.ack_policy % 3 {
            0 => AckPolicy::OnAccept,
            1 => AckPolicy::OnSyn,
            _ => AckPolicy::Lazy,
        };
        c.split_size = match self.split % 4 {
            0 => 64 * 1024,
            1 => 1 + u32::from(self.split),
            2 => 16 * 1024,
            _ => MAX_WINDOW,
        };
        c.max_ack_backlog = 1 + usize::from(self.ack_backlog % 8);
        c.accept_backlog = 1 + usize::from(self.accept_backlog % 8);
        c.max_streams = 1 + usize::from(self.max_streams % 16);
        c.keep_alive = self
            .keep_alive
            .map(|s| Duration::from_millis(1 + u64::from(s) * 10));
        c.stream_open_timeout = self
            .open_timeout
            .map(|s| Duration::from_millis(1 + u64::from(s) * 10));
        // The session receive budget from the bits of `ack_backlog` that
        // the backlog leaves unused (a new field would shift every input
        // of the corpus): 0 keeps the default (64 MiB), n is 256 KiB +
        // (n − 1) × 128 KiB, small enough for 16 streams to reach.
        let budget_step = usize::from(self.ack_backlog >> 3);
        if budget_step > 0 {
            c.max_session_receive_buffer = INITIAL_WINDOW as usize + (budget_step - 1) * 128 * 1024;
        }
        c.go_away_mode = if self.terminate_on_go_away {
            GoAwayMode::Terminate
        } else {
            GoAwayMode::Drain
        };
        c
    }
}

/// How long a received Data frame is, relative to the stream's window.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum DataLen {
    Zero,
    Small(u8),
    Medium(u16),
    /// Exactly what is left of the window.
    Window,
    /// The window plus this (an overrun).
    Over(u8),
    Any(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Delta {
    Zero,
    Small(u16),
    Large(u32),
    /// Exactly what makes the credit overflow `u32::MAX`.
    Overflow,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A Data frame from the peer.
    Data {
        stream: u8,
        flags: u8,
        len: DataLen,
    },
    /// A Window Update from the peer.
    WindowUpdate {
        stream: u8,
        flags: u8,
        delta: Delta,
    },
    /// A Ping from the peer (request, answer, or odd flags).
    Ping {
        flags: u8,
        value: u32,
    },
    /// A Go Away from the peer.
    GoAway {
        code: u8,
    },
    /// Raw bytes from the peer, through the codec as the driver does.
    Raw(Vec<u8>),
    Open,
    Accept,
    Write {
        stream: u8,
        len: DataLen,
    },
    Read {
        stream: u8,
        len: u16,
    },
    CloseWrite {
        stream: u8,
    },
    Reset {
        stream: u8,
    },
    Release {
        stream: u8,
    },
    AppPing,
    AppGoAway {
        code: u8,
    },
    Close,
    Advance {
        millis: u16,
    },
    TransportClosed,
}

/// The harness's own view of one stream incarnation: what the tracker
/// cannot see from the wire. The credit both ways is the tracker's ledger
/// (see [`Model::credit`]).
#[derive(Debug)]
struct Model {
    outbound: bool,
    /// The tracker's stats of this id are this incarnation's: its opening
    /// SYN started them afresh (the tracker knew no stream of that id, or
    /// only a finished one). Not so when the tracker already followed the
    /// id as open: it adopted the id from the peer's frames without SYN, or
    /// the peer's earlier SYN on it was ignored (`limits.replies`); the
    /// tracker then keeps its stats (`stream.duplicate-syn`) and their
    /// ledger is not this stream's, so the credit is not checked. Nor once
    /// a SYN of the peer on the id restarted the stats (which ends the
    /// session).
    tracked: bool,
    /// Payload bytes the application wrote (accepted by `write`).
    written: u64,
    /// Payload bytes of the peer accepted into the buffer.
    received: u64,
    /// Payload bytes of the peer's Data after its FIN: the connection
    /// discards them without charging its window (`stream.after-fin`), the
    /// tracker's ledger charges them.
    after_fin: u64,
    /// Payload bytes the application read.
    read: u64,
    /// Received payload is the peer pattern (false once raw bytes were fed).
    content_known: bool,
    /// The peer's ACK arrived (outbound).
    acked: bool,
}

impl Model {
    fn new(outbound: bool, tracked: bool) -> Model {
        Model {
            outbound,
            tracked,
            written: 0,
            received: 0,
            after_fin: 0,
            read: 0,
            content_known: true,
            acked: false,
        }
    }

    /// The send credit of `side` from `st`, the tracker's stats of this
    /// stream's id, as the connection must hold it: for `side` `us` its
    /// send credit, for the peer its receive window (the ledger plus the
    /// Data the connection rightly discarded after the peer's FIN, which
    /// the ledger charged). `None` when the stats are not this
    /// incarnation's ([`Model::tracked`]).
    fn credit(&self, st: &StreamStats, side: Side, us: Side) -> Option<i64> {
        let credit = st.send_credit(side).filter(|_| self.tracked)?;
        let discarded = if side == us { 0 } else { self.after_fin };
        Some(credit + discarded as i64)
    }
}

struct Harness {
    c: Connection,
    config: Config,
    role: Role,
    /// The judge of both directions; the connection is side `us`.
    tracker: Tracker,
    us: Side,
    start: Instant,
    now: Instant,
    /// Bytes of the transmit buffer already judged in this step (it is
    /// drained once per step, after it, as before the judge existed).
    out_seen: usize,
    streams: HashMap<u32, Model>,
    /// The codec and buffer of raw bytes from the peer.
    codec: FrameCodec,
    rx: BytesMut,
    /// A decode error ended the raw input (the driver stops reading).
    rx_dead: bool,
    /// Pings the peer sent in this step, to be answered.
    ping_requests: Vec<u32>,
    /// Ping answers the connection sent in this step.
    pongs: Vec<u32>,
    go_away_sent: bool,
    /// Closed at the end of the previous step (with its output drained).
    was_closed: bool,
    /// The app may open/write the next stream now (opened in this step).
    opened_now: Option<u32>,
}

/// `connection`: see the module documentation.
pub fn connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(fc) = FuzzConfig::arbitrary(&mut u) else {
        return;
    };
    let config = fc.build();
    let role = if fc.client {
        Role::Client
    } else {
        Role::Server
    };
    let now = Instant::now();
    let c = Connection::new(role, config.clone(), now);
    // The client is side A and opens odd ids (`ids.parity`).
    let us = match role {
        Role::Client => Side::A,
        Role::Server => Side::B,
    };
    let mut h = Harness {
        config: c.config().clone(),
        c,
        role,
        tracker: Tracker::new(Some(Side::A), false),
        us,
        start: now,
        now,
        out_seen: 0,
        streams: HashMap::new(),
        codec: FrameCodec::new(config.max_frame_body),
        rx: BytesMut::new(),
        rx_dead: false,
        ping_requests: Vec::new(),
        pongs: Vec::new(),
        go_away_sent: false,
        was_closed: false,
        opened_now: None,
    };
    let trace = std::env::var_os("YAMUX_FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{role:?} {config:?}");
    }
    h.after_step();
    for _ in 0..MAX_STEPS {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("{op:?}");
        }
        h.step(op);
        h.after_step();
    }
}

impl Harness {
    /// The stream an op names: one the harness knows (most of the time), a
    /// small id of either parity, or an extreme id.
    fn pick(&self, sel: u8) -> u32 {
        let mut known: Vec<u32> = self.streams.keys().copied().collect();
        known.sort_unstable();
        let fixed = [1, 2, 3, 4, 5, 6, 0, u32::MAX, u32::MAX - 1];
        let i = usize::from(sel);
        if !known.is_empty() && i % 4 != 3 {
            known[(i / 4) % known.len()]
        } else {
            fixed[(i / 4) % fixed.len()]
        }
    }

    fn step(&mut self, op: Op) {
        self.opened_now = None;
        match op {
            Op::Data { stream, flags, len } => {
                let id = self.pick(stream);
                let len = self.len(len, self.window(id, self.us.other()));
                let offset = self.streams.get(&id).map_or(0, |m| m.received);
                let body = payload(offset, len as usize, PEER_SALT);
                let frame = Frame::data(StreamId::new(id), Flags::from_bits(flags.into()), body);
                self.receive(frame, false);
            }
            Op::WindowUpdate {
                stream,
                flags,
                delta,
            } => {
                let id = self.pick(stream);
                let credit = self.window(id, self.us);
                let delta = match delta {
                    Delta::Zero => 0,
                    Delta::Small(n) => u32::from(n),
                    Delta::Large(n) => n,
                    Delta::Overflow => (u32::MAX - credit).saturating_add(1),
                };
                let f =
                    Frame::window_update(StreamId::new(id), Flags::from_bits(flags.into()), delta);
                self.receive(f, false);
            }
            Op::Ping { flags, value } => {
                let h = Header::new(
                    FrameType::Ping,
                    Flags::from_bits((flags % 8).into()),
                    StreamId::SESSION,
                    value,
                );
                self.receive(Frame::control(h), false);
            }
            Op::GoAway { code } => {
                self.receive(Frame::go_away(GoAwayCode::new(u32::from(code % 4))), false);
            }
            Op::Raw(bytes) => {
                if self.rx_dead {
                    return;
                }
                self.rx.extend_from_slice(&bytes);
                loop {
                    match self.codec.decode_frame(&mut self.rx) {
                        Ok(Some(f)) => self.receive(f, true),
                        Ok(None) => break,
                        Err(e) => {
                            let was_closed = self.c.is_closed();
                            self.c.handle_decode_error(e);
                            assert!(was_closed || self.protocol_error().is_some());
                            self.rx_dead = true;
                            break;
                        }
                    }
                }
            }
            Op::Open => {
                let before = self.c.ack_backlog();
                match self.c.open(self.now) {
                    Ok(Some(sid)) => {
                        let id = sid.val();
                        assert!(self.role_owns(id), "opened {id} with the peer's parity");
                        assert!(
                            !self.streams.contains_key(&id),
                            "opened {id}, which is live"
                        );
                        assert!(before < self.config.max_ack_backlog);
                        // Tracked once its SYN is judged (`observe_sent`).
                        self.streams.insert(id, Model::new(true, false));
                        self.opened_now = Some(id);
                    }
                    Ok(None) => assert_eq!(before, self.config.max_ack_backlog),
                    Err(_) => {}
                }
            }
            Op::Accept => {
                if let Ok(Some(sid)) = self.c.accept() {
                    let m = self.streams.get(&sid.val());
                    assert!(
                        m.is_some_and(|m| !m.outbound),
                        "accepted {sid}, which the peer did not open"
                    );
                }
            }
            Op::Write { stream, len } => {
                let id = self.pick(stream);
                let len = self.len(len, self.window(id, self.us)) as usize;
                let offset = self.streams.get(&id).map_or(0, |m| m.written);
                let data = payload(offset, len, 0);
                let len = data.len();
                let info = self.c.stream_info(StreamId::new(id));
                if let Ok(n) = self.c.write(StreamId::new(id), &data) {
                    assert!(n <= len, "write took more than given");
                    let Some(m) = self.streams.get_mut(&id) else {
                        panic!("write on {id} succeeded, but no such stream");
                    };
                    if let Some(info) = info {
                        assert!(!info.local_fin && !info.reset, "write after FIN/RST");
                        assert_eq!(
                            n,
                            len.min(info.send_credit as usize),
                            "write did not take what the credit allows"
                        );
                    }
                    m.written += n as u64;
                }
            }
            Op::Read { stream, len } => {
                let id = self.pick(stream);
                let mut buf = vec![0u8; usize::from(len)];
                let r = self.c.read(self.now, StreamId::new(id), &mut buf);
                if let Ok(r) = r {
                    let Some(m) = self.streams.get_mut(&id) else {
                        panic!("read on {id} succeeded, but no such stream");
                    };
                    match r {
                        ReadResult::Data(n) => {
                            let got = &buf[..n];
                            assert!(m.read + n as u64 <= m.received, "read more than received");
                            if m.content_known {
                                assert!(is_payload(got, m.read, PEER_SALT), "read wrong bytes");
                            }
                            m.read += n as u64;
                        }
                        ReadResult::Eof => {
                            assert_eq!(m.read, m.received, "EOF before all data was read")
                        }
                        ReadResult::Blocked => {}
                    }
                }
            }
            Op::CloseWrite { stream } => {
                let _ = self.c.close_write(StreamId::new(self.pick(stream)));
            }
            Op::Reset { stream } => self.c.reset(StreamId::new(self.pick(stream))),
            Op::Release { stream } => self.c.release(StreamId::new(self.pick(stream))),
            Op::AppPing => {
                let _ = self.c.ping(self.now);
            }
            Op::AppGoAway { code } => self.c.go_away(GoAwayCode::new(u32::from(code % 3))),
            Op::Close => self.c.close(),
            Op::Advance { millis } => {
                self.now += Duration::from_millis(u64::from(millis));
                self.c.handle_timeout(self.now);
                if let Some(t) = self.c.poll_timeout() {
                    assert!(t > self.now, "a timer due now was not run");
                }
            }
            Op::TransportClosed => self.c.handle_transport_closed(None),
        }
    }

    /// [`Model::credit`] of the stream `id` as a length to pick Data and
    /// Window Update frames by; 256 KiB, the window of a new stream, where
    /// it is unknown (a stream the harness does not hold, or untracked).
    fn window(&self, id: u32, side: Side) -> u32 {
        let m = self.streams.get(&id);
        let credit = m.and_then(|m| m.credit(self.tracker.stream(id)?, side, self.us));
        credit.map_or(INITIAL_WINDOW, |c| {
            u32::try_from(c.max(0)).unwrap_or(u32::MAX)
        })
    }

    /// A length relative to `window` (what is left of a window or credit).
    fn len(&self, len: DataLen, window: u32) -> u32 {
        match len {
            DataLen::Zero => 0,
            DataLen::Small(n) => u32::from(n),
            DataLen::Medium(n) => u32::from(n),
            DataLen::Window => window,
            DataLen::Over(n) => window.saturating_add(1 + u32::from(n)),
            DataLen::Any(n) => n % (2 * MAX_WINDOW),
        }
    }

    fn role_owns(&self, id: u32) -> bool {
        self.role.owns(StreamId::new(id))
    }

    fn protocol_error(&self) -> Option<&ProtocolError> {
        match self.c.close_reason() {
            Some(Error::Protocol(p)) => Some(p),
            _ => None,
        }
    }

    /// Feeds one frame from the peer and checks its immediate effect.
    fn receive(&mut self, frame: Frame, raw: bool) {
        let h = frame.header;
        let id = h.stream_id.val();
        // The tracker sees both directions in the order they happen: what
        // the connection queued before this frame, then the frame. What the
        // peer's frame breaks is deliberate.
        self.observe_sent();
        let syn = h.flags.contains(Flags::SYN);
        let rst = h.flags.contains(Flags::RST);
        let fresh = syn && self.fresh_open(id);
        let ts = self.now - self.start;
        // The credit change is the peer's (Data) or ours (Window Update).
        let change = self.tracker.on_frame(self.us.other(), ts, &h).window;
        self.tracker.take_findings();
        if fresh {
            // The tracker's stats of `id` are the new stream's now, not
            // those of a stream the harness holds (if it holds one, the
            // SYN ends the session).
            if let Some(m) = self.streams.get_mut(&id) {
                m.tracked = false;
            }
        }
        let was_closed = self.c.is_closed();
        let pre = self.c.stream_info(h.stream_id);
        if h.typ == FrameType::Ping && syn && !was_closed {
            self.ping_requests.push(h.length);
        }
        let body_len = frame.body.len();
        let held_before = self.c.receive_buffered();
        self.c.handle_frame(self.now, frame);
        if was_closed {
            return;
        }
        let post = self.c.stream_info(h.stream_id);
        let stream_frame = matches!(h.typ, FrameType::Data | FrameType::WindowUpdate);
        if !stream_frame {
            return;
        }
        // Frames that must end the session.
        let must_fail = if id == 0 {
            syn || (h.typ == FrameType::Data && h.length > 0)
        } else {
            syn && (self.role_owns(id) || pre.is_some())
        };
        if must_fail {
            assert!(
                self.protocol_error().is_some(),
                "{h} did not end the session"
            );
            return;
        }
        if id == 0 {
            return;
        }
        // A new inbound stream; it may have been refused (backlog) or reset
        // by this very frame, and is forgotten after the step then.
        let created = syn && pre.is_none();
        if created {
            self.streams.insert(id, Model::new(false, fresh));
        }
        let live = (created && post.is_some()) || pre.is_some_and(|p| !p.reset);
        let overrun = matches!(
            self.protocol_error(),
            Some(ProtocolError::WindowOverrun { .. })
        );
        let overflow = matches!(
            self.protocol_error(),
            Some(ProtocolError::WindowOverflow { .. })
        );
        let Some(m) = self.streams.get_mut(&id) else {
            return;
        };
        if !live {
            return;
        }
        if h.flags.contains(Flags::ACK) && m.outbound {
            m.acked = true;
        }
        // The credit before the frame, from the tracker's ledger of this
        // incarnation (Data after the peer's FIN returns before it counts).
        let before = change.filter(|_| m.tracked).map(|w| w.before);
        match h.typ {
            FrameType::Data if h.length > 0 => {
                let remote_fin = pre.is_some_and(|p| p.remote_fin);
                if remote_fin {
                    m.after_fin += u64::from(h.length);
                    return;
                }
                let len = i64::from(h.length);
                if let Some(window) = before {
                    assert!(
                        len <= window || overrun,
                        "{h} beyond the window {window} was accepted"
                    );
                    assert!(
                        len > window || !overrun,
                        "{h} within the window {window} was taken for an overrun"
                    );
                }
                if overrun {
                    return;
                }
                let budget = self.config.max_session_receive_buffer;
                if held_before + body_len + CHUNK_OVERHEAD > budget {
                    // limits.receive-budget: the stream is reset, not fed.
                    assert!(
                        post.is_none_or(|p| p.reset),
                        "{h} taking the session past its receive budget was buffered"
                    );
                    return;
                }
                m.received += body_len as u64;
                if raw {
                    m.content_known = false;
                }
                if !rst {
                    let before = pre.map_or(0, |p| p.buffered);
                    let after = post.map_or(0, |p| p.buffered);
                    assert_eq!(after, before + body_len, "data not buffered");
                }
            }
            // length.rst: the Length of WU|RST is never credit.
            FrameType::WindowUpdate if h.length > 0 && !rst => {
                if let Some(credit) = before {
                    let beyond = credit + i64::from(h.length) > i64::from(u32::MAX);
                    assert_eq!(beyond, overflow, "{h} on credit {credit}: overflow");
                }
            }
            _ => {}
        }
    }

    /// Judges and checks what was sent, drains it, then checks the state
    /// invariants.
    fn after_step(&mut self) {
        if self.was_closed {
            assert_eq!(
                self.c.transmit_len(),
                0,
                "frames sent after the session closed"
            );
        }
        self.observe_sent();
        self.c.transmit_buf().clear();
        self.out_seen = 0;
        let mut pongs = std::mem::take(&mut self.pongs);
        pongs.sort_unstable();
        let mut asked = std::mem::take(&mut self.ping_requests);
        asked.sort_unstable();
        if !self.c.is_closed() {
            assert_eq!(pongs, asked, "ping requests and answers differ");
        } else {
            assert!(pongs.iter().all(|p| asked.contains(p)), "unsolicited pong");
        }
        while self.c.poll_event().is_some() {}
        self.check_state();
        self.was_closed = self.c.is_closed();
    }

    /// Judges and checks the frames queued since the last look, without
    /// taking them out of the transmit buffer (the connection's
    /// `limits.replies` accounting depends on what is still queued).
    fn observe_sent(&mut self) {
        let mut out = BytesMut::from(&self.c.transmit_buf()[self.out_seen..]);
        self.out_seen += out.len();
        let mut codec = FrameCodec::new(u32::MAX);
        while !out.is_empty() {
            let f = match codec.decode_frame(&mut out) {
                Ok(Some(f)) => f,
                Ok(None) => panic!("a partial frame was sent"),
                Err(e) => panic!("sent an undecodable frame: {e}"),
            };
            let h = f.header;
            let id = h.stream_id.val();
            let known = self.tracker.stream(id);
            let fresh = h.flags.contains(Flags::SYN) && self.fresh_open(id);
            let before = known.filter(|_| !fresh);
            let fin_before = before.is_some_and(|st| st.fin_sent(self.us));
            // Payload bytes sent on the stream before this frame: the
            // tracker counts them whether or not its ledger is known, and
            // stats it kept from before this incarnation (see
            // `Model::tracked`) hold none of ours, as only held streams
            // get Data. (Stats the peer's SYN restarted under a held
            // stream end the session: nothing is sent after.)
            let sent = before.map_or(0, |st| st.bytes[self.us.idx()]);
            // A stream the tracker adopted from the peer's frames without
            // SYN (stream.unknown), never opened on the wire.
            let adopted = known.is_some_and(|st| st.opener.is_none());
            self.judge(&h, adopted);
            if fresh {
                if let Some(m) = self.streams.get_mut(&id) {
                    m.tracked = true;
                }
            }
            self.check_sent(&f, fin_before, sent);
        }
    }

    /// Whether a SYN on `id` starts the tracker's stats of it afresh: it
    /// follows no stream of that id, or only a finished one (then it
    /// reports `ids.reuse`); on one it follows as open it reports
    /// `stream.duplicate-syn` and keeps the stats.
    fn fresh_open(&self, id: u32) -> bool {
        self.tracker.stream(id).is_none_or(StreamStats::is_finished)
    }

    /// One frame of the connection through the tracker: a finding against
    /// it that [`judged`] keeps is a bug of the connection.
    ///
    /// `adopted`: the frame's stream id was never opened, but the tracker
    /// adopted it when the peer sent frames without SYN on it (it flags
    /// those as `stream.unknown` and then follows the id as an open stream,
    /// as it must for a capture that misses the start). The connection
    /// rightly ignored them (stream.unknown), so its first SYN on the id
    /// later is a fresh open, not the `stream.duplicate-syn` or `ids.reuse`
    /// the tracker reports: a limitation of the tracker, skipped here for
    /// such ids only.
    fn judge(&mut self, h: &Header, adopted: bool) {
        let ts = self.now - self.start;
        self.tracker.on_frame(self.us, ts, h);
        for f in self.tracker.take_findings() {
            let fresh_open = adopted
                && h.flags.contains(Flags::SYN)
                && matches!(f.kind, FindingKind::DuplicateSyn | FindingKind::IdReuse);
            if f.side == Some(self.us) && judged(&f) && !fresh_open {
                panic!(
                    "the connection broke {} ({:?}) with {h}: {}",
                    f.rule.id(),
                    f.rule.level(),
                    f.message
                );
            }
        }
    }

    /// What the tracker does not judge: the application's side of each
    /// frame. `sent`: payload bytes sent on the stream before it.
    fn check_sent(&mut self, f: &Frame, fin_before: bool, sent: u64) {
        let h = f.header;
        let id = h.stream_id.val();
        match h.typ {
            FrameType::Ping => {
                // ping.echo: answers are counted against the requests
                // (`ping.unsolicited`, odd flags, is INFO to the tracker).
                if h.flags == Flags::ACK {
                    self.pongs.push(h.length);
                } else {
                    assert_eq!(h.flags, Flags::SYN, "ping flags: {h}");
                }
                return;
            }
            FrameType::GoAway => {
                // The tracker records a Go Away; these it does not judge.
                assert!(!self.go_away_sent, "second go away");
                assert!(h.length <= 2, "unknown go away code: {h}");
                self.go_away_sent = true;
                return;
            }
            FrameType::Data | FrameType::WindowUpdate => {}
        }
        let rst = h.flags.contains(Flags::RST);
        if !self.streams.contains_key(&id) {
            // Only refusing a stream the connection does not hold is allowed.
            assert!(
                h.typ == FrameType::WindowUpdate && h.flags == Flags::RST && h.length == 0,
                "{h} on a stream that is not live"
            );
            return;
        }
        if h.flags.contains(Flags::SYN) {
            assert_eq!(self.opened_now, Some(id), "SYN not from open: {h}");
        }
        if h.typ == FrameType::Data {
            assert!(h.length <= self.config.split_size, "frame above split size");
            assert!(h.length > 0 || !h.flags.is_empty(), "empty data frame: {h}");
            // flow.credit is the tracker's.
            assert!(
                is_payload(&f.body, sent, 0),
                "sent bytes differ from written"
            );
        } else if h.length > 0 {
            assert!(!rst, "RST with a delta: {h}");
        }
        if h.flags.contains(Flags::FIN) {
            assert!(!fin_before, "second FIN: {h}");
        }
    }

    fn check_state(&mut self) {
        let c = &self.c;
        let cfg = &self.config;
        assert!(c.live_streams() <= cfg.max_streams, "too many streams");
        assert!(c.accept_queue_len() <= cfg.accept_backlog, "accept queue");
        assert!(c.ack_backlog() <= cfg.max_ack_backlog, "ack backlog");
        assert!(
            c.receive_buffered() <= cfg.max_session_receive_buffer,
            "unread data above the session receive budget"
        );
        let max_window = cfg.max_receive_window.max(cfg.receive_window);
        let mut awaiting_ack = 0;
        let mut buffered = 0usize;
        let mut freed = Vec::new();
        for (&id, m) in &self.streams {
            let Some(info) = c.stream_info(StreamId::new(id)) else {
                freed.push(id);
                continue;
            };
            assert_eq!(info.outbound, m.outbound);
            let st = self.tracker.stream(id);
            // Once the session is closed nothing is sent, and the tracker
            // may follow a new stream of this id: the peer's SYN that
            // ended the session.
            if !c.is_closed() {
                let sent = st.map_or(0, |st| st.bytes[self.us.idx()]);
                assert_eq!(sent, m.written, "written bytes not queued at once");
            }
            if info.outbound && !info.acked && !info.reset {
                awaiting_ack += 1;
            }
            buffered += info.buffered;
            assert!(info.recv_max <= max_window, "window above the maximum");
            assert!(
                info.buffered as u64 + u64::from(info.recv_window) <= u64::from(info.recv_max),
                "buffered + window above the window granted: {info:?}"
            );
            if info.reset {
                assert_eq!(info.buffered, 0, "a reset stream keeps data");
                continue;
            }
            assert!(!m.outbound || m.acked == info.acked, "ACK state differs");
            assert_eq!(
                m.received - m.read,
                info.buffered as u64,
                "buffered bytes differ"
            );
            if c.is_closed() {
                continue;
            }
            let credit = |side| st.and_then(|st| m.credit(st, side, self.us));
            if let Some(window) = credit(self.us.other()) {
                assert_eq!(
                    i64::from(info.recv_window),
                    window,
                    "receive window differs from the credit granted"
                );
            }
            if let Some(credit) = credit(self.us) {
                assert_eq!(
                    i64::from(info.send_credit),
                    credit,
                    "send credit differs from the peer's grants"
                );
            }
        }
        if !c.is_closed() {
            assert_eq!(c.ack_backlog(), awaiting_ack, "ack backlog counter");
        }
        assert!(
            buffered <= c.receive_buffered(),
            "unread data not charged to the receive budget"
        );
        assert!(
            buffered as u64 <= c.live_streams() as u64 * u64::from(max_window),
            "memory: {buffered} bytes buffered"
        );
        for id in freed {
            self.streams.remove(&id);
        }
    }
}

/// Whether a finding against the connection is a bug: a rule of level MUST
/// or SHOULD, as the conformance judge counts them, except plain records (a
/// Go Away) and what only the end of a capture or its transport can tell
/// (the harness checks ping answers itself). Unlike the conformance peer,
/// the harness judges `goaway.after`: frames are delivered at once and in
/// order, so no SYN of the connection can have crossed a Go Away in flight.
fn judged(f: &Finding) -> bool {
    use FindingKind::*;
    let level = matches!(f.rule.level(), Level::Must | Level::Should);
    let record = matches!(
        f.kind,
        GoAway | Undecodable | UnansweredPing | StreamOpenAtEnd | RetransmissionMismatch
    );
    level && !record
}
