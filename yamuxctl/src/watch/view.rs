//! The view state of `yamuxctl watch`: which connection and stream are
//! shown, sort, filter, finding kinds switched off, the prompt, the lower
//! pane and focus, scroll positions, the message line. It reads the
//! [`State`] and never changes it; it changes only through
//! [`View::handle`] (an [`Action`]) and [`View::follow`] (after an event).

use std::collections::BTreeSet;
use std::time::Duration;

use yamux::tracker::{Bound, FindingKind, Side, StreamPhase, StreamStats};

pub use super::action::Pane;
use super::action::{Action, Command};
use super::state::{side_index as idx, ConnState, Event, FindingEntry, State};

/// The span over which the rate column is measured.
pub const RATE_SPAN: Duration = Duration::from_secs(1);

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

/// A row of the stream table, derived from the tracker's stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRow {
    /// Stream id.
    pub id: u32,
    /// The opener's role, or `?`.
    pub opener: &'static str,
    /// Phase.
    pub phase: StreamPhase,
    /// Whether the windows are known (the opening was seen).
    pub ledger_known: bool,
    /// How `send_window` and `recv_window` hold (`None`: unknown): exact,
    /// or bounds once frames of a side were lost from a capture.
    pub bounds: [Option<Bound>; 2],
    /// The opener's send credit.
    pub send_window: i64,
    /// The peer's send credit (the opener's receive window).
    pub recv_window: i64,
    /// Bytes sent by the opener.
    pub sent: u64,
    /// Bytes sent by the peer.
    pub received: u64,
    /// Per direction (opener's, peer's): frames of it may be missing from a
    /// capture, so its byte count is a lower bound.
    pub lossy: [bool; 2],
    /// Bytes sent and not yet credited back by a Window Update, both ways.
    pub in_flight: u64,
    /// Bytes per second both ways over the last [`RATE_SPAN`].
    pub rate: f64,
    /// Time of the last frame.
    pub last: Duration,
    /// Visible findings about this stream.
    pub findings: usize,
}

/// How the state is looked at.
#[derive(Clone, Debug)]
pub struct View {
    /// Index of the shown connection in `State::conns`.
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
    /// Finding kinds switched off.
    pub hidden: BTreeSet<FindingKind>,
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
    /// A message for the status line (from the view or a source).
    pub status: String,
}

impl Default for View {
    fn default() -> View {
        View {
            conn_sel: 0,
            selected: None,
            offset: 0,
            page: 10,
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            hidden: BTreeSet::new(),
            prompt: None,
            input: String::new(),
            pane: Pane::Detail,
            focus: Focus::Streams,
            kind_sel: 0,
            log_scroll: 0,
            help: false,
            chart_all: false,
            status: String::new(),
        }
    }
}

impl View {
    /// The shown connection.
    pub fn current<'s>(&self, s: &'s State) -> Option<&'s ConnState> {
        s.conns.get(self.conn_sel)
    }

    /// After `s` took `ev`: the first stream of the shown connection gets
    /// selected when none is.
    pub fn follow(&mut self, s: &State, ev: &Event) {
        if let Event::Frame { conn, header, .. } = ev {
            let id = header.stream_id.val();
            if self.selected.is_none()
                && self.current(s).map(|c| c.id) == Some(*conn)
                && s.conn(*conn).is_some()
                && id != 0
            {
                self.selected = Some(id);
            }
        }
    }

    /// Findings whose kind is not switched off.
    pub fn visible_findings<'s>(
        &'s self,
        s: &'s State,
    ) -> impl DoubleEndedIterator<Item = &'s FindingEntry> + 's {
        s.findings
            .iter()
            .filter(|e| !self.hidden.contains(&e.finding.kind))
    }

    /// Makes one row.
    pub fn row(&self, s: &State, c: &ConnState, st: &StreamStats) -> StreamRow {
        let o = st.opener.unwrap_or(Side::A);
        let (oi, pi) = (idx(o), idx(o.other()));
        let in_flight = [0usize, 1]
            .iter()
            .map(|&i| st.bytes[i].saturating_sub(st.granted.get(1 - i).copied().unwrap_or(0)))
            .sum();
        let total = st.bytes[0] + st.bytes[1];
        let cut = s.now.checked_sub(RATE_SPAN);
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
            bounds: [o, o.other()].map(|s| st.credit_bound(s).map(|(_, b)| b)),
            send_window: st.credit[oi],
            recv_window: st.credit[pi],
            sent: st.bytes[oi],
            received: st.bytes[pi],
            lossy: [st.lossy[oi], st.lossy[pi]],
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
    pub fn rows(&self, s: &State) -> Vec<StreamRow> {
        let Some(c) = self.current(s) else {
            return Vec::new();
        };
        let mut rows: Vec<StreamRow> = c
            .streams_sorted()
            .into_iter()
            .map(|st| self.row(s, c, st))
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

    fn move_selection(&mut self, s: &State, delta: isize) {
        let rows = self.rows(s);
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

    fn set_conn(&mut self, s: &State, i: usize) {
        if i < s.conns.len() && i != self.conn_sel {
            self.conn_sel = i;
            self.selected = None;
            self.offset = 0;
            self.log_scroll = 0;
            let rows = self.rows(s);
            self.selected = rows.first().map(|r| r.id);
        }
    }

    /// Carries out an action on the view; returns what the source or the
    /// loop must do.
    pub fn handle(&mut self, a: Action, s: &State) -> Option<Command> {
        use Action as A;
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
                        let n = s.kind_counts.len() as isize;
                        self.kind_sel =
                            (self.kind_sel as isize + d).clamp(0, (n - 1).max(0)) as usize;
                    }
                    (Focus::Pane, Pane::Frames) => {
                        let n = self.current(s).map_or(0, |c| c.log.len()) as isize;
                        // up scrolls back in time
                        self.log_scroll =
                            (self.log_scroll as isize - d).clamp(0, (n - 1).max(0)) as usize;
                    }
                    _ => self.move_selection(s, d),
                }
            }
            A::NextConn | A::PrevConn => {
                let n = s.conns.len();
                if n > 0 {
                    let i = if a == A::NextConn {
                        (self.conn_sel + 1) % n
                    } else {
                        (self.conn_sel + n - 1) % n
                    };
                    self.set_conn(s, i);
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
                if let Some(k) = s.kinds().get(self.kind_sel) {
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
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
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
