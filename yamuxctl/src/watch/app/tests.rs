use std::net::SocketAddr;
use std::time::Duration;

use yamux::frame::{Flags, FrameType, Header, StreamId};
use yamux::tracker::{FindingKind, Side, StreamPhase};

use super::super::action::{Action, Command, Pane};
use super::super::demo::Session;
use super::super::state::{Event, Mode, LOG_LEN, SERIES_LEN};
use super::super::view::{Focus, Prompt, SortKey};
use super::App;

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// An [`App`] fed by a synthetic [`Session`], event by event.
struct Fed {
    app: App,
    s: Session,
}

impl Fed {
    fn new() -> Fed {
        Fed {
            app: App::new(
                "t",
                Mode::Live {
                    listen: "l".into(),
                    upstream: "u".into(),
                },
            ),
            s: Session::default(),
        }
    }

    fn flush(&mut self) {
        for ev in self.s.take() {
            self.app.apply(&ev);
        }
    }

    fn open(&mut self, conn: u32, a: SocketAddr, b: SocketAddr, handshake: bool, at: u64) {
        self.s.open(conn, a, b, handshake, ms(at));
        self.flush();
    }

    fn frame_on(&mut self, conn: u32, side: Side, at: u64, h: (FrameType, Flags, u32, u32)) {
        let (typ, flags, id, len) = h;
        self.s.frame(
            conn,
            side,
            ms(at),
            Header::new(typ, flags, StreamId::new(id), len),
        );
        self.flush();
    }

    fn frame(&mut self, side: Side, at: u64, typ: FrameType, flags: Flags, id: u32, len: u32) {
        self.frame_on(1, side, at, (typ, flags, id, len));
    }

    fn close(&mut self, conn: u32, at: u64) {
        self.s.close(conn, ms(at));
        self.flush();
    }
}

/// Stream 1 opened by A with 100 bytes, acked by B, stream 3 with 10 bytes.
fn small() -> Fed {
    let mut t = Fed::new();
    t.open(1, addr(5000), addr(6000), true, 0);
    t.frame(Side::A, 10, FrameType::Data, Flags::SYN, 1, 100);
    t.frame(Side::B, 20, FrameType::WindowUpdate, Flags::ACK, 1, 0);
    t.frame(Side::A, 30, FrameType::Data, Flags::SYN, 3, 10);
    t.frame(Side::B, 40, FrameType::Data, Flags::NONE, 1, 7);
    t
}

#[test]
fn rows_follow_the_tracker() {
    let app = small().app;
    let rows = app.rows();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!((r.id, r.opener, r.phase), (1, "client", StreamPhase::Open));
    assert_eq!(r.send_window, INITIAL - 100);
    assert_eq!(r.recv_window, INITIAL - 7);
    assert_eq!((r.sent, r.received, r.in_flight), (100, 7, 107));
    assert_eq!(rows[1].phase, StreamPhase::Opening);
    assert_eq!(app.state.frames, 4);
    assert_eq!(app.view.selected, Some(1), "first stream gets selected");
    assert_eq!(app.state.now, ms(40));
}

const INITIAL: i64 = yamux::frame::INITIAL_WINDOW as i64;

#[test]
fn rate_counts_the_last_second_only() {
    let mut app = small().app;
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
    let mut app = small().app;
    app.handle(Action::SortNext); // state
    assert_eq!(app.view.sort, SortKey::State);
    let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 1], "opening before open");
    app.handle(Action::SortReverse);
    let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![1, 3]);
    for _ in 0..3 {
        app.handle(Action::SortNext);
    }
    assert_eq!(app.view.sort, SortKey::Sent);
    app.view.descending = false;
    let ids: Vec<u32> = app.rows().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 1]);
}

#[test]
fn filter_by_typing() {
    let mut app = small().app;
    app.handle(Action::StartFilter);
    assert_eq!(app.view.prompt, Some(Prompt::Filter));
    for ch in "openi".chars() {
        app.handle(Action::PromptChar(ch));
    }
    assert_eq!(app.rows().iter().map(|r| r.id).collect::<Vec<_>>(), vec![3]);
    app.handle(Action::PromptBackspace);
    app.handle(Action::PromptBackspace);
    // "ope" matches both opening and open
    assert_eq!(app.rows().len(), 2);
    app.handle(Action::PromptSubmit);
    assert_eq!(app.view.prompt, None);
    assert_eq!(app.view.filter, "ope");
    app.handle(Action::StartFilter);
    app.handle(Action::PromptCancel);
    assert_eq!(app.view.filter, "");
}

#[test]
fn selection_and_scrolling_over_many_streams() {
    let mut t = Fed::new();
    t.open(1, addr(5000), addr(6000), true, 0);
    for i in 0..1000u32 {
        t.frame(Side::A, 1, FrameType::Data, Flags::SYN, 2 * i + 1, 1);
    }
    let mut app = t.app;
    app.view.page = 20;
    let rows = app.rows();
    assert_eq!(rows.len(), 1000);
    assert_eq!(app.view.scroll_offset(&rows, 20), 0);
    app.handle(Action::PageDown);
    app.handle(Action::PageDown);
    assert_eq!(app.view.selected, Some(81));
    let rows = app.rows();
    assert_eq!(app.view.scroll_offset(&rows, 20), 21);
    app.handle(Action::Bottom);
    assert_eq!(app.view.selected, Some(1999));
    assert_eq!(app.view.scroll_offset(&app.rows(), 20), 980);
    app.handle(Action::Up);
    assert_eq!(app.view.selected, Some(1997));
    assert_eq!(app.view.scroll_offset(&app.rows(), 20), 980);
    app.handle(Action::Top);
    assert_eq!(app.view.selected, Some(1));
    assert_eq!(app.view.scroll_offset(&app.rows(), 20), 0);
}

#[test]
fn findings_are_recorded_and_toggled_per_kind() {
    let mut t = small();
    // data on a stream never opened, then a ping never answered
    t.frame(Side::A, 50, FrameType::Data, Flags::NONE, 9, 1);
    t.frame(Side::A, 60, FrameType::Ping, Flags::SYN, 0, 7);
    t.close(1, 70);
    let mut app = t.app;
    let kinds: Vec<FindingKind> = app.state.findings.iter().map(|f| f.finding.kind).collect();
    assert!(kinds.contains(&FindingKind::UnknownStream), "{kinds:?}");
    assert!(kinds.contains(&FindingKind::UnansweredPing), "{kinds:?}");
    let total = app.view.visible_findings(&app.state).count();
    app.handle(Action::ShowPane(Pane::Findings));
    app.handle(Action::SwitchFocus);
    assert_eq!(app.view.focus, Focus::Pane);
    let k = app.state.kinds()[0];
    app.handle(Action::ToggleKind);
    assert!(app.view.hidden.contains(&k));
    assert_eq!(
        app.view.visible_findings(&app.state).count(),
        total - app.state.kind_counts[&k]
    );
    app.handle(Action::ToggleKind);
    assert_eq!(app.view.visible_findings(&app.state).count(), total);
    // a second close changes nothing
    let n = app.state.findings.len();
    let again = app.state.findings[n - 1].finding.clone();
    app.apply(&Event::Closed {
        conn: 1,
        at: ms(80),
        reason: "again".into(),
        findings: vec![again],
        streams: Vec::new(),
    });
    assert_eq!(app.state.findings.len(), n);
    assert_eq!(
        app.state.conns[0].closed,
        Some((ms(70), "closed".to_string()))
    );
}

#[test]
fn series_and_log_are_bounded() {
    let mut t = small();
    for i in 0..(SERIES_LEN as u64 + LOG_LEN as u64) {
        t.frame(Side::A, 100 + i, FrameType::Data, Flags::NONE, 1, 1);
    }
    let app = t.app;
    let c = app.view.current(&app.state).unwrap();
    assert_eq!(c.series[&1].len(), SERIES_LEN);
    assert_eq!(c.log.len(), LOG_LEN);
    let last = c.series[&1].back().unwrap();
    assert_eq!(last.bytes[0], 100 + (SERIES_LEN + LOG_LEN) as u64);
}

#[test]
fn playback_and_seek_commands() {
    let mut app = small().app;
    assert_eq!(app.handle(Action::TogglePause), Some(Command::TogglePause));
    assert_eq!(app.handle(Action::Faster), Some(Command::Speed(2.0)));
    assert_eq!(app.handle(Action::Quit), Some(Command::Quit));
    app.handle(Action::StartSeek);
    for ch in "1.5".chars() {
        app.handle(Action::PromptChar(ch));
    }
    assert_eq!(app.view.filter, "", "seek input does not filter");
    assert_eq!(
        app.handle(Action::PromptSubmit),
        Some(Command::SeekTo(ms(1500)))
    );
    app.handle(Action::StartSeek);
    app.handle(Action::PromptChar('x'));
    assert_eq!(app.handle(Action::PromptSubmit), None);
    assert!(app.view.status.contains("not a time"));
}

#[test]
fn connections_switch_and_reset_keeps_view() {
    let mut t = small();
    t.open(2, addr(1), addr(2), false, 50);
    t.frame_on(2, Side::B, 60, (FrameType::Data, Flags::NONE, 4, 3));
    let mut app = t.app;
    app.handle(Action::NextConn);
    assert_eq!(app.view.current(&app.state).map(|c| c.id), Some(2));
    assert_eq!(app.view.selected, Some(4));
    let r = &app.rows()[0];
    assert!(!r.ledger_known);
    assert_eq!(r.opener, "?");
    app.handle(Action::PrevConn);
    assert_eq!(app.view.current(&app.state).map(|c| c.id), Some(1));
    app.view.sort = SortKey::Rate;
    app.reset_data();
    assert!(app.state.conns.is_empty() && app.state.findings.is_empty());
    assert_eq!(app.view.sort, SortKey::Rate);
}
