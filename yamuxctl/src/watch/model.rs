//! The state of `yamuxctl watch`, separate from input and rendering: the
//! connections with their trackers, time series per stream, the frame log,
//! findings with per-kind toggles, and the view state (selection, sort,
//! filter, scroll, panes, playback status).
//!
//! Everything enters through [`App::apply`] with an [`Event`]: replay (the
//! capture analysis) and live mode (the relay's bytes through
//! `ByteDecoder` + `Tracker`) share that one update path.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{FrameType, Header};
use yamux::tracker::{Finding, FindingKind, FrameRecord, Side, StreamPhase, StreamStats, Tracker};

/// Samples kept per stream for the detail charts.
pub const SERIES_LEN: usize = 512;
/// Frames kept per connection in the frame log.
pub const LOG_LEN: usize = 4096;
/// The span over which the rate column is measured.
pub const RATE_SPAN: Duration = Duration::from_secs(1);

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
    /// A decoded frame header sent by `side`.
    Frame {
        /// Connection number.
        conn: u32,
        /// Sender.
        side: Side,
        /// When.
        at: Duration,
        /// The header.
        header: Header,
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
    /// Streams, windows and findings.
    pub tracker: Tracker,
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
            tracker: Tracker::new(handshake.then_some(Side::A), !handshake),
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
        match (self.tracker.client(), side) {
            (Some(c), s) if c == s => "client",
            (Some(_), _) => "server",
            (None, Side::A) => "A",
            (None, Side::B) => "B",
        }
    }
}

/// Columns the stream table sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Stream id.
    Id,
    /// Phase.
    State,
    /// The opener's send credit.
    SendWindow,
    /// The opener's receive window (the peer's credit).
    RecvWindow,
    /// Bytes sent by the opener.
    Sent,
    /// Bytes sent by the peer.
    Received,
    /// Bytes not yet credited back.
    InFlight,
    /// Bytes per second over the last [`RATE_SPAN`].
    Rate,
    /// Time of the last frame.
    LastActivity,
}

impl SortKey {
    /// In column order.
    pub const ALL: [SortKey; 9] = [
        SortKey::Id,
        SortKey::State,
        SortKey::SendWindow,
        SortKey::RecvWindow,
        SortKey::Sent,
        SortKey::Received,
        SortKey::InFlight,
        SortKey::Rate,
        SortKey::LastActivity,
    ];

    /// Column title.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::State => "state",
            SortKey::SendWindow => "send win",
            SortKey::RecvWindow => "recv win",
            SortKey::Sent => "sent",
            SortKey::Received => "received",
            SortKey::InFlight => "in flight",
            SortKey::Rate => "rate",
            SortKey::LastActivity => "last",
        }
    }

    /// The next column.
    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|&k| k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

/// What the lower pane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// The selected stream: windows and throughput over time.
    Detail,
    /// The connection's frames.
    Frames,
    /// Findings, with toggles per kind.
    Findings,
}

/// Where arrow keys go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The stream table.
    Streams,
    /// The lower pane (frame log scroll, finding kinds).
    Pane,
}

/// A line being typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// The stream filter.
    Filter,
    /// A time to seek to, in seconds.
    Seek,
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

/// A row of the stream table, derived from the tracker.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRow {
    /// Stream id.
    pub id: u32,
    /// The opener's role, or `?`.
    pub opener: &'static str,
    /// Phase.
    pub phase: StreamPhase,
    /// Whether the windows are exact (the opening was seen).
    pub ledger_known: bool,
    /// The opener's send credit.
    pub send_window: i64,
    /// The peer's send credit (the opener's receive window).
    pub recv_window: i64,
    /// Bytes sent by the opener.
    pub sent: u64,
    /// Bytes sent by the peer.
    pub received: u64,
    /// Bytes sent and not yet credited back by a Window Update, both ways.
    pub in_flight: u64,
    /// Bytes per second both ways over the last [`RATE_SPAN`].
    pub rate: f64,
    /// Time of the last frame.
    pub last: Duration,
    /// Visible findings about this stream.
    pub findings: usize,
}

/// A user request that the source (playback) or the loop carries out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Leave.
    Quit,
    /// Pause or resume.
    TogglePause,
    /// Multiply the speed.
    Speed(f64),
    /// One frame forward, paused.
    Step,
    /// Seek by this many milliseconds.
    SeekBy(i64),
    /// Seek to this time since the start.
    SeekTo(Duration),
    /// Play until the next finding, then pause.
    NextFinding,
}

/// Everything the UI shows.
#[derive(Clone, Debug)]
pub struct App {
    /// What is watched (file name or addresses).
    pub title: String,
    /// Where data comes from and the playback state.
    pub mode: Mode,
    /// Connections, in order of appearance.
    pub conns: Vec<ConnState>,
    index: HashMap<u32, usize>,
    /// Every finding, in order.
    pub findings: Vec<FindingEntry>,
    /// Finding counts per kind.
    pub kind_counts: BTreeMap<FindingKind, usize>,
    /// Kinds switched off.
    pub hidden: BTreeSet<FindingKind>,
    /// Time of the first event (times are shown relative to it).
    pub start: Option<Duration>,
    /// The clock: the playback position, or the latest event live.
    pub now: Duration,
    /// Frames seen, all connections.
    pub frames: u64,
    /// Index of the shown connection in `conns`.
    pub conn_sel: usize,
    /// The selected stream.
    pub selected: Option<u32>,
    /// First table row shown.
    pub offset: usize,
    /// Table rows that fit (set by the loop from the terminal size).
    pub page: usize,
    /// Sort column.
    pub sort: SortKey,
    /// Largest first.
    pub descending: bool,
    /// Stream filter: substrings of id, opener or state, all must match.
    pub filter: String,
    /// The line being typed, if any.
    pub prompt: Option<Prompt>,
    /// What has been typed.
    pub input: String,
    /// The lower pane.
    pub pane: Pane,
    /// Where arrow keys go.
    pub focus: Focus,
    /// Cursor in the finding kinds list.
    pub kind_sel: usize,
    /// Frame log lines scrolled up from the newest.
    pub log_scroll: usize,
    /// Help overlay shown.
    pub help: bool,
    /// The detail chart spans until now, not just the stream's activity.
    pub chart_all: bool,
    /// A message for the status line.
    pub status: String,
    /// Something changed since the last draw.
    pub dirty: bool,
}

impl App {
    /// An empty state.
    pub fn new(title: impl Into<String>, mode: Mode) -> App {
        App {
            title: title.into(),
            mode,
            conns: Vec::new(),
            index: HashMap::new(),
            findings: Vec::new(),
            kind_counts: BTreeMap::new(),
            hidden: BTreeSet::new(),
            start: None,
            now: Duration::ZERO,
            frames: 0,
            conn_sel: 0,
            selected: None,
            offset: 0,
            page: 10,
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            prompt: None,
            input: String::new(),
            pane: Pane::Detail,
            focus: Focus::Streams,
            kind_sel: 0,
            log_scroll: 0,
            help: false,
            chart_all: false,
            status: String::new(),
            dirty: true,
        }
    }

    /// Forgets all data (before a backward seek), keeping the view settings.
    pub fn reset_data(&mut self) {
        self.conns.clear();
        self.index.clear();
        self.findings.clear();
        self.kind_counts.clear();
        self.start = None;
        self.now = Duration::ZERO;
        self.frames = 0;
        self.dirty = true;
    }

    /// Time since the start.
    pub fn rel(&self, at: Duration) -> Duration {
        at.saturating_sub(self.start.unwrap_or(Duration::ZERO))
    }

    /// Moves the clock forward (never back) to `at`.
    pub fn advance_to(&mut self, at: Duration) {
        if at > self.now {
            self.now = at;
            self.dirty = true;
        }
    }

    /// The connection with number `id`.
    pub fn conn(&self, id: u32) -> Option<&ConnState> {
        self.index.get(&id).and_then(|&i| self.conns.get(i))
    }

    /// The shown connection.
    pub fn current(&self) -> Option<&ConnState> {
        self.conns.get(self.conn_sel)
    }

    /// Takes one event.
    pub fn apply(&mut self, ev: &Event) {
        let at = ev.at();
        if self.start.is_none() {
            self.start = Some(at);
        }
        self.advance_to(at);
        self.dirty = true;
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
            } => self.frame(*conn, *side, *at, header),
            Event::Finding { conn, at, finding } => {
                if let Some(c) = self.conn_mut(*conn) {
                    c.tracker.push_finding(finding.clone());
                    self.add_finding(*conn, *at, finding.clone());
                }
            }
            Event::Gap { conn, len, .. } => {
                if let Some(c) = self.conn_mut(*conn) {
                    c.tracker.note_gap();
                    c.gap_bytes += len;
                }
            }
            Event::Closed { conn, at, reason } => {
                let Some(c) = self.conn_mut(*conn) else {
                    return;
                };
                if c.closed.is_some() {
                    return;
                }
                let before = c.tracker.findings().len();
                c.tracker.finish(*at);
                c.closed = Some((*at, reason.clone()));
                let new: Vec<Finding> = c.tracker.findings_since(before).to_vec();
                for f in new {
                    self.add_finding(*conn, *at, f);
                }
            }
        }
    }

    fn conn_mut(&mut self, id: u32) -> Option<&mut ConnState> {
        let i = *self.index.get(&id)?;
        self.conns.get_mut(i)
    }

    fn frame(&mut self, conn: u32, side: Side, at: Duration, h: &Header) {
        let Some(c) = self.conn_mut(conn) else {
            return;
        };
        let rec = c.tracker.on_frame(side, at, h);
        c.frames += 1;
        if c.log.len() == LOG_LEN {
            c.log.pop_front();
        }
        c.log.push_back(LogEntry {
            at,
            side,
            header: *h,
            record: rec,
        });
        let id = h.stream_id.val();
        if matches!(h.typ, FrameType::Data | FrameType::WindowUpdate) {
            if let Some(st) = c.tracker.stream(id) {
                let s = Sample {
                    at,
                    credit: st.credit,
                    bytes: st.bytes,
                };
                let series = c.series.entry(id).or_default();
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
        let all = c.tracker.findings();
        let new: Vec<Finding> = all
            .get(all.len().saturating_sub(rec.findings)..)
            .unwrap_or_default()
            .to_vec();
        self.frames += 1;
        for f in new {
            self.add_finding(conn, at, f);
        }
        if self.selected.is_none() && self.conn_sel_id() == Some(conn) && id != 0 {
            self.selected = Some(id);
        }
    }

    fn conn_sel_id(&self) -> Option<u32> {
        self.current().map(|c| c.id)
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

    /// Findings whose kind is not switched off.
    pub fn visible_findings(&self) -> impl DoubleEndedIterator<Item = &FindingEntry> + '_ {
        self.findings
            .iter()
            .filter(|e| !self.hidden.contains(&e.finding.kind))
    }

    /// Makes one row.
    pub fn row(&self, c: &ConnState, st: &StreamStats) -> StreamRow {
        let o = st.opener.unwrap_or(Side::A);
        let (oi, pi) = (idx(o), idx(o.other()));
        let in_flight = [0usize, 1]
            .iter()
            .map(|&i| st.bytes[i].saturating_sub(st.granted.get(1 - i).copied().unwrap_or(0)))
            .sum();
        let total = st.bytes[0] + st.bytes[1];
        let cut = self.now.checked_sub(RATE_SPAN);
        let base = match (cut, c.series.get(&st.id)) {
            (Some(cut), Some(s)) => {
                let n = s.partition_point(|x| x.at <= cut);
                match n.checked_sub(1).and_then(|i| s.get(i)) {
                    Some(x) => x.bytes[0] + x.bytes[1],
                    None if st.first > cut => 0,
                    None => s.front().map_or(0, |x| x.bytes[0] + x.bytes[1]),
                }
            }
            _ => 0,
        };
        let findings = c
            .stream_findings
            .get(&st.id)
            .map_or(0, |v| v.iter().filter(|k| !self.hidden.contains(k)).count());
        StreamRow {
            id: st.id,
            opener: st.opener.map_or("?", |s| c.role(s)),
            phase: st.phase,
            ledger_known: st.ledger_known,
            send_window: st.credit[oi],
            recv_window: st.credit[pi],
            sent: st.bytes[oi],
            received: st.bytes[pi],
            in_flight,
            rate: total.saturating_sub(base) as f64 / RATE_SPAN.as_secs_f64(),
            last: st.last,
            findings,
        }
    }

    fn filter_ok(&self, r: &StreamRow) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let id = r.id.to_string();
        self.filter.split_whitespace().all(|w| {
            let w = w.to_ascii_lowercase();
            id == w
                || r.opener.starts_with(&w)
                || r.phase.name().starts_with(&w)
                || (w == "!" && r.findings > 0)
        })
    }

    /// The shown connection's streams, filtered and sorted.
    pub fn rows(&self) -> Vec<StreamRow> {
        let Some(c) = self.current() else {
            return Vec::new();
        };
        let mut rows: Vec<StreamRow> = c
            .tracker
            .streams_sorted()
            .into_iter()
            .map(|st| self.row(c, st))
            .filter(|r| self.filter_ok(r))
            .collect();
        let key = |r: &StreamRow| -> (i128, u32) {
            let v: i128 = match self.sort {
                SortKey::Id => 0,
                SortKey::State => phase_rank(r.phase),
                SortKey::SendWindow => r.send_window.into(),
                SortKey::RecvWindow => r.recv_window.into(),
                SortKey::Sent => r.sent.into(),
                SortKey::Received => r.received.into(),
                SortKey::InFlight => r.in_flight.into(),
                SortKey::Rate => r.rate as i128,
                SortKey::LastActivity => r.last.as_nanos() as i128,
            };
            (v, r.id)
        };
        rows.sort_by_key(|r| key(r));
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// The index of the selected stream in `rows`, if shown.
    pub fn selected_index(&self, rows: &[StreamRow]) -> Option<usize> {
        let id = self.selected?;
        rows.iter().position(|r| r.id == id)
    }

    /// The first row to show for `rows` in `height` lines so that the
    /// selection is visible.
    pub fn scroll_offset(&self, rows: &[StreamRow], height: usize) -> usize {
        let height = height.max(1);
        let max = rows.len().saturating_sub(height);
        let mut off = self.offset.min(max);
        if let Some(i) = self.selected_index(rows) {
            if i < off {
                off = i;
            } else if i >= off + height {
                off = i + 1 - height;
            }
        }
        off
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let cur = self.selected_index(&rows).unwrap_or(0) as isize;
        let last = rows.len() as isize - 1;
        let next = (cur + delta).clamp(0, last) as usize;
        self.selected = rows.get(next).map(|r| r.id);
        self.offset = self.scroll_offset(&rows, self.page);
        self.log_scroll = 0;
    }

    fn set_conn(&mut self, i: usize) {
        if i < self.conns.len() && i != self.conn_sel {
            self.conn_sel = i;
            self.selected = None;
            self.offset = 0;
            self.log_scroll = 0;
            let rows = self.rows();
            self.selected = rows.first().map(|r| r.id);
        }
    }

    /// Finding kinds seen, in the order of the findings pane.
    pub fn kinds(&self) -> Vec<FindingKind> {
        self.kind_counts.keys().copied().collect()
    }

    /// Carries out a view action; returns what the source or the loop must do.
    pub fn handle(&mut self, a: super::input::Action) -> Option<Command> {
        use super::input::Action as A;
        self.dirty = true;
        let page = self.page.max(1) as isize;
        match a {
            A::Quit => return Some(Command::Quit),
            A::ToggleHelp => self.help = !self.help,
            A::CloseOverlay => self.help = false,
            A::Up | A::Down | A::PageUp | A::PageDown | A::Top | A::Bottom => {
                let d: isize = match a {
                    A::Up => -1,
                    A::Down => 1,
                    A::PageUp => -page,
                    A::PageDown => page,
                    A::Top => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                match (self.focus, self.pane) {
                    (Focus::Pane, Pane::Findings) => {
                        let n = self.kind_counts.len() as isize;
                        self.kind_sel =
                            (self.kind_sel as isize + d).clamp(0, (n - 1).max(0)) as usize;
                    }
                    (Focus::Pane, Pane::Frames) => {
                        let n = self.current().map_or(0, |c| c.log.len()) as isize;
                        // up scrolls back in time
                        self.log_scroll =
                            (self.log_scroll as isize - d).clamp(0, (n - 1).max(0)) as usize;
                    }
                    _ => self.move_selection(d),
                }
            }
            A::NextConn | A::PrevConn => {
                let n = self.conns.len();
                if n > 0 {
                    let i = if a == A::NextConn {
                        (self.conn_sel + 1) % n
                    } else {
                        (self.conn_sel + n - 1) % n
                    };
                    self.set_conn(i);
                }
            }
            A::SortNext => self.sort = self.sort.next(),
            A::SortReverse => self.descending = !self.descending,
            A::StartFilter => {
                self.prompt = Some(Prompt::Filter);
                self.input = self.filter.clone();
            }
            A::StartSeek => {
                self.prompt = Some(Prompt::Seek);
                self.input.clear();
            }
            A::PromptChar(ch) => {
                self.input.push(ch);
                if self.prompt == Some(Prompt::Filter) {
                    self.filter = self.input.clone();
                }
            }
            A::PromptBackspace => {
                self.input.pop();
                if self.prompt == Some(Prompt::Filter) {
                    self.filter = self.input.clone();
                }
            }
            A::PromptCancel => {
                if self.prompt == Some(Prompt::Filter) {
                    self.filter.clear();
                }
                self.prompt = None;
                self.input.clear();
            }
            A::PromptSubmit => {
                let p = self.prompt.take();
                let text = std::mem::take(&mut self.input);
                if p == Some(Prompt::Seek) {
                    match parse_secs(&text) {
                        Some(d) => return Some(Command::SeekTo(d)),
                        None => self.status = format!("not a time in seconds: {text:?}"),
                    }
                }
            }
            A::ShowPane(p) => {
                self.pane = p;
                self.focus = if p == Pane::Detail {
                    Focus::Streams
                } else {
                    self.focus
                };
            }
            A::SwitchFocus => {
                self.focus = match self.focus {
                    Focus::Streams if self.pane != Pane::Detail => Focus::Pane,
                    _ => Focus::Streams,
                }
            }
            A::ToggleKind => {
                if let Some(k) = self.kinds().get(self.kind_sel) {
                    if !self.hidden.remove(k) {
                        self.hidden.insert(*k);
                    }
                }
            }
            A::ToggleZoom => self.chart_all = !self.chart_all,
            A::TogglePause => return Some(Command::TogglePause),
            A::Faster => return Some(Command::Speed(2.0)),
            A::Slower => return Some(Command::Speed(0.5)),
            A::Step => return Some(Command::Step),
            A::SeekBy(ms) => return Some(Command::SeekBy(ms)),
            A::NextFinding => return Some(Command::NextFinding),
        }
        None
    }
}

const fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn phase_rank(p: StreamPhase) -> i128 {
    match p {
        StreamPhase::Opening => 0,
        StreamPhase::Open => 1,
        StreamPhase::HalfClosed(_) => 2,
        StreamPhase::Closed => 3,
        StreamPhase::Reset(_) => 4,
    }
}

/// Seconds as typed: `12`, `1.5`, `0.25s`.
pub fn parse_secs(s: &str) -> Option<Duration> {
    let s = s.trim().trim_end_matches('s');
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && (0.0..1e12).contains(&v)).then(|| Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::super::input::Action;
    use super::*;
    use yamux::frame::{Flags, StreamId};

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn frame(side: Side, at: u64, typ: FrameType, flags: Flags, id: u32, len: u32) -> Event {
        Event::Frame {
            conn: 1,
            side,
            at: ms(at),
            header: Header::new(typ, flags, StreamId::new(id), len),
        }
    }

    fn opened() -> Event {
        Event::Opened {
            conn: 1,
            a: addr(5000),
            b: addr(6000),
            handshake: true,
            at: ms(0),
        }
    }

    /// Stream 1 opened by A with 100 bytes, acked by B, stream 3 with 10 bytes.
    fn small() -> App {
        let mut app = App::new(
            "t",
            Mode::Live {
                listen: "l".into(),
                upstream: "u".into(),
            },
        );
        for ev in [
            opened(),
            frame(Side::A, 10, FrameType::Data, Flags::SYN, 1, 100),
            frame(Side::B, 20, FrameType::WindowUpdate, Flags::ACK, 1, 0),
            frame(Side::A, 30, FrameType::Data, Flags::SYN, 3, 10),
            frame(Side::B, 40, FrameType::Data, Flags::NONE, 1, 7),
        ] {
            app.apply(&ev);
        }
        app
    }

    #[test]
    fn rows_follow_the_tracker() {
        let app = small();
        let rows = app.rows();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.id, r.opener, r.phase), (1, "client", StreamPhase::Open));
        assert_eq!(r.send_window, INITIAL - 100);
        assert_eq!(r.recv_window, INITIAL - 7);
        assert_eq!((r.sent, r.received, r.in_flight), (100, 7, 107));
        assert_eq!(rows[1].phase, StreamPhase::Opening);
        assert_eq!(app.frames, 4);
        assert_eq!(app.selected, Some(1), "first stream gets selected");
        assert_eq!(app.now, ms(40));
    }

    const INITIAL: i64 = yamux::frame::INITIAL_WINDOW as i64;

    #[test]
    fn rate_counts_the_last_second_only() {
        let mut app = small();
        app.advance_to(ms(1035));
        // only stream 1's 7 bytes at 40 ms are within (35 ms, 1035 ms]
        let rows = app.rows();
        assert_eq!(rows[0].rate, 7.0);
        assert_eq!(rows[1].rate, 0.0);
        app.advance_to(ms(5000));
        assert!(app.rows().iter().all(|r| r.rate == 0.0));
    }

    #[test]
    fn sorting_and_reversing() {
        let mut app = small();
        app.handle(Action::SortNext); // state
        assert_eq!(app.sort, SortKey::State);
        let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![3, 1], "opening before open");
        app.handle(Action::SortReverse);
        let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 3]);
        for _ in 0..3 {
            app.handle(Action::SortNext);
        }
        assert_eq!(app.sort, SortKey::Sent);
        app.descending = false;
        let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![3, 1]);
    }

    #[test]
    fn filter_by_typing() {
        let mut app = small();
        app.handle(Action::StartFilter);
        assert_eq!(app.prompt, Some(Prompt::Filter));
        for ch in "openi".chars() {
            app.handle(Action::PromptChar(ch));
        }
        assert_eq!(app.rows().iter().map(|r| r.id).collect::<Vec<_>>(), vec![3]);
        app.handle(Action::PromptBackspace);
        app.handle(Action::PromptBackspace);
        // "ope" matches both opening and open
        assert_eq!(app.rows().len(), 2);
        app.handle(Action::PromptSubmit);
        assert_eq!(app.prompt, None);
        assert_eq!(app.filter, "ope");
        app.handle(Action::StartFilter);
        app.handle(Action::PromptCancel);
        assert_eq!(app.filter, "");
    }

    #[test]
    fn selection_and_scrolling_over_many_streams() {
        let mut app = App::new(
            "t",
            Mode::Live {
                listen: String::new(),
                upstream: String::new(),
            },
        );
        app.apply(&opened());
        for i in 0..1000u32 {
            app.apply(&frame(
                Side::A,
                1,
                FrameType::Data,
                Flags::SYN,
                2 * i + 1,
                1,
            ));
        }
        app.page = 20;
        let rows = app.rows();
        assert_eq!(rows.len(), 1000);
        assert_eq!(app.scroll_offset(&rows, 20), 0);
        app.handle(Action::PageDown);
        app.handle(Action::PageDown);
        assert_eq!(app.selected, Some(81));
        let rows = app.rows();
        assert_eq!(app.scroll_offset(&rows, 20), 21);
        app.handle(Action::Bottom);
        assert_eq!(app.selected, Some(1999));
        assert_eq!(app.scroll_offset(&app.rows(), 20), 980);
        app.handle(Action::Up);
        assert_eq!(app.selected, Some(1997));
        assert_eq!(app.scroll_offset(&app.rows(), 20), 980);
        app.handle(Action::Top);
        assert_eq!(app.selected, Some(1));
        assert_eq!(app.scroll_offset(&app.rows(), 20), 0);
    }

    #[test]
    fn findings_are_recorded_and_toggled_per_kind() {
        let mut app = small();
        // data on a stream never opened, then a ping never answered
        app.apply(&frame(Side::A, 50, FrameType::Data, Flags::NONE, 9, 1));
        app.apply(&frame(Side::A, 60, FrameType::Ping, Flags::SYN, 0, 7));
        app.apply(&Event::Closed {
            conn: 1,
            at: ms(70),
            reason: "done".into(),
        });
        let kinds: Vec<FindingKind> = app.findings.iter().map(|f| f.finding.kind).collect();
        assert!(kinds.contains(&FindingKind::UnknownStream), "{kinds:?}");
        assert!(kinds.contains(&FindingKind::UnansweredPing), "{kinds:?}");
        let total = app.visible_findings().count();
        app.handle(Action::ShowPane(Pane::Findings));
        app.handle(Action::SwitchFocus);
        assert_eq!(app.focus, Focus::Pane);
        let k = app.kinds()[0];
        app.handle(Action::ToggleKind);
        assert!(app.hidden.contains(&k));
        assert_eq!(app.visible_findings().count(), total - app.kind_counts[&k]);
        app.handle(Action::ToggleKind);
        assert_eq!(app.visible_findings().count(), total);
        // a second close changes nothing
        let n = app.findings.len();
        app.apply(&Event::Closed {
            conn: 1,
            at: ms(80),
            reason: "again".into(),
        });
        assert_eq!(app.findings.len(), n);
    }

    #[test]
    fn series_and_log_are_bounded() {
        let mut app = small();
        for i in 0..(SERIES_LEN as u64 + LOG_LEN as u64) {
            app.apply(&frame(Side::A, 100 + i, FrameType::Data, Flags::NONE, 1, 1));
        }
        let c = app.current().unwrap();
        assert_eq!(c.series[&1].len(), SERIES_LEN);
        assert_eq!(c.log.len(), LOG_LEN);
        let last = c.series[&1].back().unwrap();
        assert_eq!(last.bytes[0], 100 + (SERIES_LEN + LOG_LEN) as u64);
    }

    #[test]
    fn playback_and_seek_commands() {
        let mut app = small();
        assert_eq!(app.handle(Action::TogglePause), Some(Command::TogglePause));
        assert_eq!(app.handle(Action::Faster), Some(Command::Speed(2.0)));
        assert_eq!(app.handle(Action::Quit), Some(Command::Quit));
        app.handle(Action::StartSeek);
        for ch in "1.5".chars() {
            app.handle(Action::PromptChar(ch));
        }
        assert_eq!(app.filter, "", "seek input does not filter");
        assert_eq!(
            app.handle(Action::PromptSubmit),
            Some(Command::SeekTo(ms(1500)))
        );
        app.handle(Action::StartSeek);
        app.handle(Action::PromptChar('x'));
        assert_eq!(app.handle(Action::PromptSubmit), None);
        assert!(app.status.contains("not a time"));
    }

    #[test]
    fn connections_switch_and_reset_keeps_view() {
        let mut app = small();
        app.apply(&Event::Opened {
            conn: 2,
            a: addr(1),
            b: addr(2),
            handshake: false,
            at: ms(50),
        });
        app.apply(&Event::Frame {
            conn: 2,
            side: Side::B,
            at: ms(60),
            header: Header::new(FrameType::Data, Flags::NONE, StreamId::new(4), 3),
        });
        app.handle(Action::NextConn);
        assert_eq!(app.current().map(|c| c.id), Some(2));
        assert_eq!(app.selected, Some(4));
        let r = &app.rows()[0];
        assert!(!r.ledger_known);
        assert_eq!(r.opener, "?");
        app.handle(Action::PrevConn);
        assert_eq!(app.current().map(|c| c.id), Some(1));
        app.sort = SortKey::Rate;
        app.reset_data();
        assert!(app.conns.is_empty() && app.findings.is_empty());
        assert_eq!(app.sort, SortKey::Rate);
    }

    #[test]
    fn parse_seconds() {
        assert_eq!(parse_secs("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_secs(" 0.25s "), Some(ms(250)));
        assert_eq!(parse_secs("-1"), None);
        assert_eq!(parse_secs("nan"), None);
        assert_eq!(parse_secs(""), None);
    }
}
