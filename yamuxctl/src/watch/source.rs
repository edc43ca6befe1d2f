//! Where events come from. [`Recorder`] turns what the analysis reports
//! (frames with what the connection's one tracker made of them, findings,
//! gaps, ends) into [`Event`]s; it serves replay, live mode and the
//! synthetic session alike. Replay: a capture read through the analyzer into
//! a time-ordered list of events, played by a clock that pauses, runs at
//! ×N, steps one frame, and seeks to a time or to the next finding.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use yamux::tracker::{Finding, Tracker};

use super::action::Command;
use super::app::App;
use super::state::{Event, Mode};
use crate::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options, Summary, TcpFigures};
use crate::capture::CaptureReader;

/// Collects the analysis of a capture (or of relayed bytes) as [`Event`]s.
#[derive(Debug, Default)]
pub struct Recorder {
    /// What happened, in the order the analysis reported it.
    pub events: Vec<Event>,
    /// The end-of-connection findings of each connection, until its end.
    at_close: HashMap<u32, Vec<Finding>>,
    at_end: bool,
}

impl Observer for Recorder {
    fn connection(&mut self, c: &ConnInfo) {
        self.events.push(Event::Opened {
            conn: c.id,
            a: c.a,
            b: c.b,
            handshake: c.handshake,
            at: c.first,
        });
    }

    fn frame(&mut self, ev: &FrameEvent<'_>) {
        self.events.push(Event::Frame {
            conn: ev.conn.id,
            side: ev.side,
            at: ev.ts,
            header: *ev.header,
            record: *ev.record,
            findings: ev.findings.to_vec(),
            client: ev.tracker.client(),
            stream: ev
                .tracker
                .stream(ev.header.stream_id.val())
                .map(|st| Box::new(st.clone())),
        });
    }

    fn gap(
        &mut self,
        c: &ConnInfo,
        side: yamux::tracker::Side,
        ts: Duration,
        _off: u64,
        len: u64,
        _frames_lost: bool,
    ) {
        self.events.push(Event::Gap {
            conn: c.id,
            side,
            at: ts,
            len,
        });
    }

    fn finding(&mut self, c: &ConnInfo, ts: Duration, f: &Finding) {
        // What the tracker made at the end of the connection comes with
        // its end: one event, as the connection line changes with it.
        if f.kind.at_end() {
            self.at_close.entry(c.id).or_default().push(f.clone());
            return;
        }
        self.events.push(Event::Finding {
            conn: c.id,
            at: ts,
            finding: f.clone(),
        });
    }

    fn conn_end(&mut self, c: &ConnInfo, t: &Tracker, tcp: &TcpFigures) {
        self.events.push(Event::Closed {
            conn: c.id,
            at: tcp.last,
            reason: if self.at_end {
                "end of capture".into()
            } else {
                "closed".into()
            },
            findings: self.at_close.remove(&c.id).unwrap_or_default(),
            streams: t.streams_sorted().into_iter().cloned().collect(),
        });
    }
}

/// A capture, analysed.
#[derive(Debug)]
pub struct Loaded {
    /// Events sorted by time (stable: each connection keeps its order).
    pub events: Vec<Event>,
    /// The analysis summary.
    pub summary: Summary,
}

/// Reads a whole capture into events.
pub fn load<R: Read>(reader: CaptureReader<R>, opts: Options) -> Loaded {
    let mut rec = Recorder::default();
    let mut an = Analyzer::new(opts);
    let mut reader = reader;
    let mut read_error = None;
    while let Some(p) = reader.next_packet() {
        match p {
            Ok(p) => an.packet(p.index, p.ts, p.link, p.data, &mut rec),
            Err(e) => {
                read_error = Some(e.to_string());
                break;
            }
        }
    }
    rec.at_end = true;
    let mut summary = an.finish(&mut rec);
    if summary.read_error.is_none() {
        summary.read_error = read_error;
    }
    let mut events = rec.events;
    events.sort_by_key(Event::at);
    Loaded { events, summary }
}

/// Plays events into an [`App`]'s state.
#[derive(Debug)]
pub struct Replay {
    events: Vec<Event>,
    pos: usize,
    /// Capture time of the playback position.
    pub clock: Duration,
    /// Time of the first packet.
    pub first: Duration,
    /// Time of the last packet.
    pub end: Duration,
    /// Speed factor.
    pub speed: f64,
    /// Paused.
    pub paused: bool,
}

/// Slowest and fastest speeds.
pub const SPEEDS: (f64, f64) = (1.0 / 64.0, 1024.0);

impl Replay {
    /// A playback of `events` between `first` and `end`, at the start,
    /// playing at ×1.
    pub fn new(events: Vec<Event>, first: Duration, end: Duration) -> Replay {
        let first = events.first().map_or(first, |e| e.at().min(first));
        let end = events.last().map_or(end, |e| e.at().max(end)).max(first);
        Replay {
            events,
            pos: 0,
            clock: first,
            first,
            end,
            speed: 1.0,
            paused: false,
        }
    }

    /// Events played so far and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.pos, self.events.len())
    }

    /// Whether every event has been played.
    pub fn finished(&self) -> bool {
        self.pos >= self.events.len() && self.clock >= self.end
    }

    /// Prepares `app` (start time, mode line).
    pub fn attach(&self, app: &mut App) {
        app.state.start = Some(self.first);
        app.advance_to(self.clock);
        self.status(app);
    }

    fn status(&self, app: &mut App) {
        let mode = Mode::Replay {
            paused: self.paused,
            speed: self.speed,
            end: self.end,
            finished: self.finished(),
        };
        if app.state.mode != mode {
            app.state.mode = mode;
            app.dirty = true;
        }
    }

    fn apply_next(&mut self, app: &mut App) -> Option<Duration> {
        let ev = self.events.get(self.pos)?;
        app.apply(ev);
        self.pos += 1;
        Some(ev.at())
    }

    fn apply_until(&mut self, app: &mut App, t: Duration) {
        while self.events.get(self.pos).is_some_and(|e| e.at() <= t) {
            self.apply_next(app);
        }
        self.clock = t.clamp(self.first, self.end);
        app.advance_to(self.clock);
    }

    /// Advances by `real` wall time at the current speed.
    pub fn tick(&mut self, app: &mut App, real: Duration) {
        if !self.paused && !self.finished() {
            let t = self.clock + real.mul_f64(self.speed);
            self.apply_until(app, t.min(self.end));
        }
        self.status(app);
    }

    /// Moves to capture time `t` (since the epoch of the capture's clock).
    pub fn seek(&mut self, app: &mut App, t: Duration) {
        let t = t.clamp(self.first, self.end);
        if t < self.clock
            || t < self
                .events
                .get(self.pos.saturating_sub(1))
                .map_or(t, Event::at)
        {
            app.reset_data();
            app.state.start = Some(self.first);
            self.pos = 0;
            self.clock = self.first;
        }
        self.apply_until(app, t);
        self.status(app);
    }

    /// Carries out a playback command (not `Quit`).
    pub fn command(&mut self, app: &mut App, cmd: Command) {
        match cmd {
            Command::Quit => {}
            Command::TogglePause => {
                if self.finished() {
                    // play again from the start
                    self.seek(app, self.first);
                    self.paused = false;
                } else {
                    self.paused = !self.paused;
                }
            }
            Command::Speed(f) => self.speed = (self.speed * f).clamp(SPEEDS.0, SPEEDS.1),
            Command::Step => {
                self.paused = true;
                while let Some(ev) = self.events.get(self.pos) {
                    let frame = ev.is_frame();
                    let at = ev.at();
                    self.apply_next(app);
                    self.clock = self.clock.max(at);
                    if frame {
                        break;
                    }
                }
                if self.pos >= self.events.len() {
                    self.clock = self.end;
                }
                app.advance_to(self.clock);
            }
            Command::SeekBy(ms) => {
                let d = Duration::from_millis(ms.unsigned_abs());
                let t = if ms < 0 {
                    self.clock.saturating_sub(d)
                } else {
                    self.clock + d
                };
                self.seek(app, t);
            }
            Command::SeekTo(d) => {
                // a chosen moment is for looking at: stop there
                self.paused = true;
                self.seek(app, self.first + d);
            }
            Command::NextFinding => {
                self.paused = true;
                let n = app.state.findings.len();
                while app.state.findings.len() == n {
                    let Some(at) = self.apply_next(app) else {
                        break;
                    };
                    self.clock = self.clock.max(at);
                }
                if app.state.findings.len() == n {
                    self.clock = self.end;
                    app.view.status = "no further finding".into();
                }
                app.advance_to(self.clock);
            }
        }
        self.status(app);
    }
}

impl super::term::Source for Replay {
    fn poll(&mut self, app: &mut App, elapsed: Duration) {
        self.tick(app, elapsed);
    }

    fn command(&mut self, app: &mut App, cmd: Command) {
        Replay::command(self, app, cmd);
    }

    fn running(&self) -> bool {
        !self.paused && !self.finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use yamux::frame::{Flags, FrameType, Header, StreamId};
    use yamux::tracker::{FindingKind, Side};

    use crate::watch::demo::Session;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn events() -> Vec<Event> {
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        let mut s = Session::default();
        s.open(1, a, b, true, ms(1000));
        let mut f = |at, id, flags, len| {
            s.frame(
                1,
                Side::A,
                ms(at),
                Header::new(FrameType::Data, flags, StreamId::new(id), len),
            )
        };
        f(1000, 1, Flags::SYN, 10);
        f(1500, 3, Flags::SYN, 10);
        // stream 4 was never opened: a finding
        f(2000, 4, Flags::NONE, 1);
        f(2500, 1, Flags::NONE, 10);
        s.close(1, ms(3000));
        s.take()
    }

    fn setup() -> (App, Replay) {
        let mut app = App::new(
            "t",
            Mode::Live {
                listen: String::new(),
                upstream: String::new(),
            },
        );
        let r = Replay::new(events(), ms(1000), ms(3000));
        r.attach(&mut app);
        (app, r)
    }

    #[test]
    fn real_time_and_speed() {
        let (mut app, mut r) = setup();
        r.tick(&mut app, ms(0));
        assert_eq!(
            app.state.frames, 1,
            "events at the start are played at once"
        );
        r.tick(&mut app, ms(499));
        assert_eq!(app.state.frames, 1);
        r.tick(&mut app, ms(1));
        assert_eq!(app.state.frames, 2);
        assert_eq!(app.state.rel(app.state.now), ms(500));
        r.command(&mut app, Command::Speed(2.0));
        r.tick(&mut app, ms(250));
        assert_eq!(app.state.frames, 3);
        r.command(&mut app, Command::TogglePause);
        r.tick(&mut app, ms(10_000));
        assert_eq!(app.state.frames, 3, "paused");
        r.command(&mut app, Command::TogglePause);
        r.tick(&mut app, ms(10_000));
        assert_eq!(app.state.frames, 4);
        assert!(r.finished());
        assert_eq!(app.state.now, ms(3000));
        assert!(matches!(
            app.state.mode,
            Mode::Replay { finished: true, .. }
        ));
    }

    #[test]
    fn stepping_frame_by_frame() {
        let (mut app, mut r) = setup();
        for want in 1..=4 {
            r.command(&mut app, Command::Step);
            assert_eq!(app.state.frames, want);
            assert!(r.paused);
        }
        assert_eq!(app.state.rel(app.state.now), ms(1500));
        r.command(&mut app, Command::Step);
        assert!(app.state.conns[0].closed.is_some());
        assert_eq!(app.state.now, ms(3000));
    }

    #[test]
    fn seek_back_and_forth_rebuilds_the_same_state() {
        let (mut app, mut r) = setup();
        r.tick(&mut app, ms(5000));
        let end_rows = app.rows();
        let end_findings = app.state.findings.clone();
        r.command(&mut app, Command::SeekTo(ms(700)));
        assert_eq!(app.state.frames, 2);
        assert_eq!(app.state.rel(app.state.now), ms(700));
        assert!(app.state.findings.is_empty());
        r.command(&mut app, Command::SeekBy(-600));
        assert_eq!(app.state.frames, 1);
        r.command(&mut app, Command::SeekBy(60_000));
        assert_eq!(app.rows(), end_rows);
        assert_eq!(app.state.findings, end_findings);
    }

    #[test]
    fn seek_to_next_finding() {
        let (mut app, mut r) = setup();
        r.command(&mut app, Command::NextFinding);
        assert_eq!(app.state.findings.len(), 1);
        assert_eq!(
            app.state.findings[0].finding.kind,
            FindingKind::UnknownStream
        );
        assert_eq!(app.state.rel(app.state.now), ms(1000));
        assert!(r.paused);
        // no other finding: goes to the end and says so
        r.command(&mut app, Command::NextFinding);
        assert_eq!(app.view.status, "no further finding");
        assert_eq!(app.state.now, ms(3000));
    }
}
