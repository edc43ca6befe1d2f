//! A deterministic synthetic session (one connection, many streams in every
//! state), for the render benchmark, the 1,000-stream snapshots and docs,
//! and [`Session`], the synthetic source behind it and the unit tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{Flags, FrameType, Header, StreamId};
use yamux::tracker::{Side, Tracker};

use super::app::App;
use super::source::Recorder;
use super::state::{Event, Mode};
use crate::analysis::{ConnInfo, FrameEvent, Observer, TcpFigures};

/// A synthetic source: frame headers put through one tracker per
/// connection (set up as the capture analysis sets up its own) and reported
/// to a [`Recorder`] as the analysis reports them, so its events are those a
/// capture of the same frames would give.
#[derive(Default)]
pub struct Session {
    conns: HashMap<u32, (ConnInfo, Tracker)>,
    rec: Recorder,
}

impl Session {
    /// Connection `conn` appears at `at`; side A is the client when
    /// `handshake` is true.
    pub fn open(&mut self, conn: u32, a: SocketAddr, b: SocketAddr, handshake: bool, at: Duration) {
        let info = ConnInfo {
            id: conn,
            a,
            b,
            handshake,
            first: at,
        };
        self.rec.connection(&info);
        let tracker = Tracker::new(handshake.then_some(Side::A), !handshake);
        self.conns.insert(conn, (info, tracker));
    }

    /// `side` of `conn` sends `header` at `at`.
    pub fn frame(&mut self, conn: u32, side: Side, at: Duration, header: Header) {
        let Some((info, tracker)) = self.conns.get_mut(&conn) else {
            return;
        };
        let record = tracker.on_frame(side, at, &header);
        let findings = tracker.findings_since(tracker.findings().len() - record.findings);
        self.rec.frame(&FrameEvent {
            conn: &*info,
            side,
            ts: at,
            offset: 0,
            header: &header,
            record: &record,
            findings,
            tracker: &*tracker,
        });
    }

    /// `conn` ends at `at`: the tracker's end-of-connection findings, then
    /// the end.
    pub fn close(&mut self, conn: u32, at: Duration) {
        let Some((info, mut tracker)) = self.conns.remove(&conn) else {
            return;
        };
        let before = tracker.findings().len();
        tracker.finish(at);
        for f in tracker.findings_since(before) {
            self.rec.finding(&info, at, f);
        }
        let tcp = TcpFigures {
            last: at,
            ..TcpFigures::default()
        };
        self.rec.conn_end(&info, &tracker, &tcp);
    }

    /// The events so far, taken out.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.rec.events)
    }
}

/// The events of `streams` streams opened 10 ms apart by the client: data
/// both ways, credit returned on every third, and every fifth half-closed,
/// closed, reset or left open.
pub fn events(streams: u32) -> Vec<Event> {
    let ms = Duration::from_millis;
    let mut s = Session::default();
    s.open(
        1,
        SocketAddr::from(([10, 0, 0, 1], 40000)),
        SocketAddr::from(([10, 0, 0, 1], 4001)),
        true,
        ms(0),
    );
    let mut f = |side, at, typ, flags, id, len| {
        s.frame(
            1,
            side,
            ms(at),
            Header::new(typ, flags, StreamId::new(id), len),
        );
    };
    for i in 0..streams {
        let id = 2 * i + 1;
        let t = u64::from(i) * 10;
        let n = (i.wrapping_mul(7919)) % 200_000 + 1;
        f(Side::A, t, FrameType::WindowUpdate, Flags::SYN, id, 0);
        f(Side::B, t + 1, FrameType::WindowUpdate, Flags::ACK, id, 0);
        f(Side::A, t + 2, FrameType::Data, Flags::NONE, id, n);
        f(Side::B, t + 3, FrameType::Data, Flags::NONE, id, n / 3);
        if i % 3 == 0 {
            f(Side::B, t + 4, FrameType::WindowUpdate, Flags::NONE, id, n);
        }
        match i % 5 {
            0 => f(Side::A, t + 5, FrameType::Data, Flags::FIN, id, 0),
            1 => {
                f(Side::A, t + 5, FrameType::Data, Flags::FIN, id, 0);
                f(Side::B, t + 6, FrameType::Data, Flags::FIN, id, 0);
            }
            2 => f(Side::B, t + 5, FrameType::WindowUpdate, Flags::RST, id, 0),
            _ => {}
        }
    }
    s.take()
}

/// An [`App`] (live mode) that took [`events`] and whose clock is at 10 s.
pub fn app(streams: u32) -> App {
    app_from(&events(streams))
}

/// An [`App`] (live mode) that took `events`, clock at 10 s or later.
pub fn app_from(events: &[Event]) -> App {
    let mut app = App::new(
        "synthetic",
        Mode::Live {
            listen: "127.0.0.1:7000".into(),
            upstream: "127.0.0.1:7001".into(),
        },
    );
    for ev in events {
        app.apply(ev);
    }
    app.advance_to(Duration::from_secs(10));
    app
}
