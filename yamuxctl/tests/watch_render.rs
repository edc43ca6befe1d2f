//! Rendering of `yamuxctl watch` into a TestBackend, as text snapshots at
//! 80×24 and 160×48.

mod common;

use std::path::Path;
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use yamuxctl::cmd::watch::WatchArgs;
use yamuxctl::watch::action::Action;
use yamuxctl::watch::action::Pane;
use yamuxctl::watch::app::App;
use yamuxctl::watch::state::Mode;
use yamuxctl::watch::{replay_setup, ui};

fn render(app: &mut App, w: u16, h: u16) -> String {
    app.view.page = ui::table_page(Rect::new(0, 0, w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| ui::draw(f, &app.state, &app.view))
        .expect("draw");
    ui::buffer_text(t.backend().buffer())
}

fn args() -> WatchArgs {
    WatchArgs {
        file: None,
        listen: None,
        upstream: None,
        write: None,
        speed: 1.0,
        step: false,
        at: None,
        force: false,
        ports: Vec::new(),
    }
}

/// A capture played to its end (or to `at` seconds), paused.
fn replayed(path: &Path, at: Option<f64>) -> App {
    let mut a = args();
    a.step = true;
    a.at = Some(at.unwrap_or(1e6));
    let (app, _) = replay_setup(&a, path).expect("load");
    app
}

fn both(name: &str, app: &mut App) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), render(app, 160, 48));
}

/// 1,000 streams in various states over 10 s, deterministic.
fn thousand() -> App {
    yamuxctl::watch::demo::app(1000)
}

fn empty_replay() -> App {
    App::new(
        "empty.pcap",
        Mode::Replay {
            paused: true,
            speed: 1.0,
            end: Duration::ZERO,
            finished: false,
        },
    )
}

#[test]
fn empty_state() {
    both("empty_replay", &mut empty_replay());
    let mut live = App::new(
        "relay",
        Mode::Live {
            listen: "127.0.0.1:7000".into(),
            upstream: "127.0.0.1:7001".into(),
        },
    );
    both("empty_live", &mut live);
}

#[test]
fn small_session() {
    let mut app = replayed(&common::data("hashicorp-echo.pcap"), None);
    both("echo_detail", &mut app);
    app.handle(Action::ShowPane(Pane::Frames));
    both("echo_frames", &mut app);
}

#[test]
fn small_session_midway_while_playing() {
    // 1.2 ms into the capture: some streams open, some not yet
    let mut app = replayed(&common::data("hashicorp-echo.pcap"), Some(0.0012));
    both("echo_midway", &mut app);
}

#[test]
fn findings_pane() {
    let mut app = replayed(&common::data("own-ipv4-violations.pcapng"), None);
    app.handle(Action::ShowPane(Pane::Findings));
    both("violations_findings", &mut app);
    // switch the first kind off
    app.handle(Action::SwitchFocus);
    app.handle(Action::ToggleKind);
    both("violations_findings_toggled", &mut app);
}

/// A capture whose client lost bytes between frames: the client's byte
/// counts are lower bounds (`≥`) and the windows bounds (`≤`, `≥`) on the
/// streams that were live, `?` where both sides' frames may be missing.
#[test]
fn lossy_capture_shows_bounds() {
    let mut app = replayed(&common::data("own-any-sll2.pcap"), None);
    let screen = render(&mut app, 160, 48);
    assert!(screen.contains("≥"), "{screen}");
    assert!(screen.contains("≤"), "{screen}");
    insta::assert_snapshot!("lossy_bounds_160x48", screen);
}

#[test]
fn stall_detail() {
    let mut app = replayed(&common::stall("pcap"), None);
    // the stalled stream: sort by in flight, largest first
    for _ in 0..6 {
        app.handle(Action::SortNext);
    }
    app.handle(Action::SortReverse);
    app.handle(Action::Top);
    both("stall_detail", &mut app);
}

#[test]
fn help_overlay() {
    let mut app = replayed(&common::data("hashicorp-echo.pcap"), None);
    app.handle(Action::ToggleHelp);
    both("help", &mut app);
}

#[test]
fn thousand_streams_and_scrolling() {
    let mut app = thousand();
    assert_eq!(app.rows().len(), 1000);
    both("thousand", &mut app);
    app.view.page = ui::table_page(Rect::new(0, 0, 80, 24));
    for _ in 0..3 {
        app.handle(Action::PageDown);
    }
    let s = render(&mut app, 80, 24);
    insta::assert_snapshot!("thousand_scrolled_80x24", s);
    app.handle(Action::Bottom);
    insta::assert_snapshot!("thousand_bottom_160x48", render(&mut app, 160, 48));
    // sorted by rate, largest first, filtered to open streams
    app.handle(Action::Top);
    app.view.sort = yamuxctl::watch::view::SortKey::Sent;
    app.view.descending = true;
    app.handle(Action::StartFilter);
    for ch in "open".chars() {
        app.handle(Action::PromptChar(ch));
    }
    insta::assert_snapshot!("thousand_sorted_filtered_80x24", render(&mut app, 80, 24));
}
