//! The state of `yamuxctl watch`: what the sources reported and nothing of
//! the UI. Connections with the streams and findings of their tracker,
//! time series per stream, the frame log, finding counts, the clock and the
//! source's mode line.
//!
//! There is one tracker per connection, and it is not here: it runs in the
//! analysis that feeds the source (the capture `Analyzer`, the relay's
//! `StreamConn`, the synthetic session of [`super::demo`]). Each [`Event`]
//! carries what that tracker made of the frame (the record, the findings,
//! the stream after it), so the state holds the tracker's results and can
//! be rebuilt from the events at any time (a seek backwards) without a
//! tracker of its own. State changes only through [`State::apply`] and the
//! source's clock and mode ([`State::advance_to`], [`State::mode`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{FrameType, Header};
use yamux::tracker::{Finding, FindingKind, FrameRecord, Side, StreamStats};

/// Samples kept per stream for the detail charts.
pub const SERIES_LEN: usize = 512;
/// Frames kept per connection in the frame log.
pub const LOG_LEN: usize = 4096;

/// Something that happened on a connection: the only way state changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A yamux connection appeared. Side A is `a`, the initiator when
    /// `handshake` is true.
    Opened {
        /// Connection number.
        conn: u32,
        /// Side A.
        a: SocketAddr,
        /// Side B.
        b: SocketAddr,
        /// Whether its start was seen (then A is the client).
        handshake: bool,
        /// When.
        at: Duration,
    },
    /// A decoded frame header sent by `side`, with what the connection's
    /// tracker made of it.
    Frame {
        /// Connection number.
        conn: u32,
        /// Sender.
        side: Side,
        /// When.
        at: Duration,
        /// The header.
        header: Header,
        /// What the tracker made of it.
        record: FrameRecord,
        /// The findings it caused.
        findings: Vec<Finding>,
        /// The client side as the tracker knows it after the frame.
        client: Option<Side>,
        /// The frame's stream as the tracker has it after the frame (none
        /// for session frames).
        stream: Option<Box<StreamStats>>,
    },
    /// A finding not caused by a frame (undecodable bytes, transport).
    Finding {
        /// Connection number.
        conn: u32,
        /// When.
        at: Duration,
        /// What.
        finding: Finding,
    },
    /// `len` bytes of `side`'s direction were not seen.
    Gap {
        /// Connection number.
        conn: u32,
        /// The direction.
        side: Side,
        /// When.
        at: Duration,
        /// Bytes missing.
        len: u64,
    },
    /// The connection is over.
    Closed {
        /// Connection number.
        conn: u32,
        /// When.
        at: Duration,
        /// Why, for the connection line.
        reason: String,
        /// The findings the tracker made at the end (`Tracker::finish`:
        /// unanswered pings, streams left open).
        findings: Vec<Finding>,
        /// Every stream as the tracker left it (the end also closes the
        /// intervals without credit).
        streams: Vec<StreamStats>,
    },
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> Duration {
        match self {
            Event::Opened { at, .. }
            | Event::Frame { at, .. }
            | Event::Finding { at, .. }
            | Event::Gap { at, .. }
            | Event::Closed { at, .. } => *at,
        }
    }

    /// Whether it is a frame (the unit of frame-by-frame stepping).
    pub fn is_frame(&self) -> bool {
        matches!(self, Event::Frame { .. })
    }
}

/// One point of a stream's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When.
    pub at: Duration,
    /// Send credit of each side (index 0 = A).
    pub credit: [i64; 2],
    /// Payload bytes sent by each side so far.
    pub bytes: [u64; 2],
}

/// One line of the frame log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When.
    pub at: Duration,
    /// Sender.
    pub side: Side,
    /// The header.
    pub header: Header,
    /// What the tracker made of it.
    pub record: FrameRecord,
}

/// A finding with where and when.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingEntry {
    /// Connection number.
    pub conn: u32,
    /// When.
    pub at: Duration,
    /// The finding.
    pub finding: Finding,
}

/// One connection.
#[derive(Clone, Debug)]
pub struct ConnState {
    /// Connection number.
    pub id: u32,
    /// Side A.
    pub a: SocketAddr,
    /// Side B.
    pub b: SocketAddr,
    /// Whether its start was seen.
    pub handshake: bool,
    /// When it appeared.
    pub opened: Duration,
    /// When it ended and why.
    pub closed: Option<(Duration, String)>,
    /// The client side, as the tracker knows it.
    pub client: Option<Side>,
    /// The tracker's streams, as of the last event.
    pub streams: HashMap<u32, StreamStats>,
    /// History per stream id.
    pub series: HashMap<u32, VecDeque<Sample>>,
    /// The last [`LOG_LEN`] frames.
    pub log: VecDeque<LogEntry>,
    /// Frames seen.
    pub frames: u64,
    /// Bytes missed (capture gaps, or events the relay dropped).
    pub gap_bytes: u64,
    /// Finding kinds per stream id.
    pub stream_findings: HashMap<u32, Vec<FindingKind>>,
}

impl ConnState {
    fn new(id: u32, a: SocketAddr, b: SocketAddr, handshake: bool, at: Duration) -> ConnState {
        ConnState {
            id,
            a,
            b,
            handshake,
            opened: at,
            closed: None,
            // the analysis gives its tracker side A as the client when the
            // connection's start was seen
            client: handshake.then_some(Side::A),
            streams: HashMap::new(),
            series: HashMap::new(),
            log: VecDeque::new(),
            frames: 0,
            gap_bytes: 0,
            stream_findings: HashMap::new(),
        }
    }

    /// The address of `side`.
    pub fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::A => self.a,
            Side::B => self.b,
        }
    }

    /// `client`/`server` when known, else `A`/`B`.
    pub fn role(&self, side: Side) -> &'static str {
        match (self.client, side) {
            (Some(c), s) if c == s => "client",
            (Some(_), _) => "server",
            (None, Side::A) => "A",
            (None, Side::B) => "B",
        }
    }

    /// The stream with id `id`.
    pub fn stream(&self, id: u32) -> Option<&StreamStats> {
        self.streams.get(&id)
    }

    /// All streams, by id.
    pub fn streams_sorted(&self) -> Vec<&StreamStats> {
        let mut v: Vec<&StreamStats> = self.streams.values().collect();
        v.sort_by_key(|s| s.id);
        v
    }

    fn frame(&mut self, side: Side, at: Duration, h: &Header, rec: FrameRecord) {
        self.frames += 1;
        if self.log.len() == LOG_LEN {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            at,
            side,
            header: *h,
            record: rec,
        });
        let id = h.stream_id.val();
        if matches!(h.typ, FrameType::Data | FrameType::WindowUpdate) {
            if let Some(st) = self.streams.get(&id) {
                let s = Sample {
                    at,
                    credit: st.credit,
                    bytes: st.bytes,
                };
                let series = self.series.entry(id).or_default();
                match series.back_mut() {
                    Some(last) if last.at == at => *last = s,
                    _ => {
                        if series.len() == SERIES_LEN {
                            series.pop_front();
                        }
                        series.push_back(s);
                    }
                }
            }
        }
    }
}

/// Where the data comes from, for the title line.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// A capture played back.
    Replay {
        /// Paused (or stepping).
        paused: bool,
        /// Speed factor.
        speed: f64,
        /// Time of the capture's last packet.
        end: Duration,
        /// Whether everything has been played.
        finished: bool,
    },
    /// The relay, live.
    Live {
        /// Where it listens.
        listen: String,
        /// Where it forwards.
        upstream: String,
    },
}

/// Everything the sources reported.
#[derive(Clone, Debug)]
pub struct State {
    /// What is watched (file name or addresses).
    pub title: String,
    /// Where data comes from and the playback state (set by the source).
    pub mode: Mode,
    /// Connections, in order of appearance.
    pub conns: Vec<ConnState>,
    index: HashMap<u32, usize>,
    /// Every finding, in order.
    pub findings: Vec<FindingEntry>,
    /// Finding counts per kind.
    pub kind_counts: BTreeMap<FindingKind, usize>,
    /// Time of the first event (times are shown relative to it).
    pub start: Option<Duration>,
    /// The clock: the playback position, or the latest event live.
    pub now: Duration,
    /// Frames seen, all connections.
    pub frames: u64,
}

impl State {
    /// An empty state.
    pub fn new(title: impl Into<String>, mode: Mode) -> State {
        State {
            title: title.into(),
            mode,
            conns: Vec::new(),
            index: HashMap::new(),
            findings: Vec::new(),
            kind_counts: BTreeMap::new(),
            start: None,
            now: Duration::ZERO,
            frames: 0,
        }
    }

    /// Forgets all data (before a backward seek), keeping title and mode.
    pub fn reset_data(&mut self) {
        self.conns.clear();
        self.index.clear();
        self.findings.clear();
        self.kind_counts.clear();
        self.start = None;
        self.now = Duration::ZERO;
        self.frames = 0;
    }

    /// Time since the start.
    pub fn rel(&self, at: Duration) -> Duration {
        at.saturating_sub(self.start.unwrap_or(Duration::ZERO))
    }

    /// Moves the clock forward (never back) to `at`; whether it moved.
    pub fn advance_to(&mut self, at: Duration) -> bool {
        if at > self.now {
            self.now = at;
            true
        } else {
            false
        }
    }

    /// The connection with number `id`.
    pub fn conn(&self, id: u32) -> Option<&ConnState> {
        self.index.get(&id).and_then(|&i| self.conns.get(i))
    }

    /// The findings of connection `id`, in order.
    pub fn conn_findings(&self, id: u32) -> impl Iterator<Item = &Finding> + '_ {
        self.findings
            .iter()
            .filter(move |e| e.conn == id)
            .map(|e| &e.finding)
    }

    /// Finding kinds seen, in the order of the findings pane.
    pub fn kinds(&self) -> Vec<FindingKind> {
        self.kind_counts.keys().copied().collect()
    }

    fn conn_mut(&mut self, id: u32) -> Option<&mut ConnState> {
        let i = *self.index.get(&id)?;
        self.conns.get_mut(i)
    }

    /// Takes one event.
    pub fn apply(&mut self, ev: &Event) {
        let at = ev.at();
        if self.start.is_none() {
            self.start = Some(at);
        }
        self.advance_to(at);
        match ev {
            Event::Opened {
                conn,
                a,
                b,
                handshake,
                at,
            } => {
                if !self.index.contains_key(conn) {
                    self.index.insert(*conn, self.conns.len());
                    self.conns
                        .push(ConnState::new(*conn, *a, *b, *handshake, *at));
                }
            }
            Event::Frame {
                conn,
                side,
                at,
                header,
                record,
                findings,
                client,
                stream,
            } => {
                let Some(c) = self.conn_mut(*conn) else {
                    return;
                };
                c.client = *client;
                if let Some(st) = stream {
                    c.streams.insert(st.id, StreamStats::clone(st));
                }
                c.frame(*side, *at, header, *record);
                self.frames += 1;
                for f in findings {
                    self.add_finding(*conn, *at, f.clone());
                }
            }
            Event::Finding { conn, at, finding } => {
                if self.conn(*conn).is_some() {
                    self.add_finding(*conn, *at, finding.clone());
                }
            }
            Event::Gap { conn, len, .. } => {
                if let Some(c) = self.conn_mut(*conn) {
                    c.gap_bytes += len;
                }
            }
            Event::Closed {
                conn,
                at,
                reason,
                findings,
                streams,
            } => {
                let Some(c) = self.conn_mut(*conn) else {
                    return;
                };
                if c.closed.is_some() {
                    return;
                }
                c.closed = Some((*at, reason.clone()));
                for st in streams {
                    c.streams.insert(st.id, st.clone());
                }
                for f in findings {
                    self.add_finding(*conn, *at, f.clone());
                }
            }
        }
    }

    fn add_finding(&mut self, conn: u32, at: Duration, f: Finding) {
        *self.kind_counts.entry(f.kind).or_default() += 1;
        if let (Some(s), Some(c)) = (f.stream, self.conn_mut(conn)) {
            c.stream_findings.entry(s).or_default().push(f.kind);
        }
        self.findings.push(FindingEntry {
            conn,
            at,
            finding: f,
        });
    }
}

/// Index of `side` in per-side arrays (A = 0).
pub const fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}
