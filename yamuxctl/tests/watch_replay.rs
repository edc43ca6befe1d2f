//! Replay through the watch state agrees with the analysis of `decode` and
//! `stats`: same streams, windows, counters and findings for every capture.

mod common;

use std::fs::File;
use std::path::Path;

use yamux::tracker::{Finding, StreamStats, Tracker};
use yamuxctl::analysis::{Analyzer, ConnInfo, FrameEvent, Observer, Options, TcpFigures};
use yamuxctl::capture::CaptureReader;
use yamuxctl::cmd::watch::WatchArgs;
use yamuxctl::watch::action::Command;
use yamuxctl::watch::app::App;
use yamuxctl::watch::replay_setup;
use yamuxctl::watch::source::{load, Replay};
use yamuxctl::watch::state::Mode;

#[derive(Default)]
struct Ends(Vec<(u32, Vec<StreamStats>, Vec<Finding>)>);

impl Observer for Ends {
    fn frame(&mut self, _ev: &FrameEvent<'_>) {}
    fn conn_end(&mut self, c: &ConnInfo, t: &Tracker, _tcp: &TcpFigures) {
        let streams = t.streams_sorted().into_iter().cloned().collect();
        self.0.push((c.id, streams, t.findings().to_vec()));
    }
}

fn reader(path: &Path) -> CaptureReader<File> {
    CaptureReader::new(File::open(path).expect("open")).expect("capture")
}

fn captures() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(common::data(""))
        .expect("data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.push(common::stall("pcap"));
    v.sort();
    v
}

fn mode() -> Mode {
    Mode::Replay {
        paused: false,
        speed: 1.0,
        end: std::time::Duration::ZERO,
        finished: false,
    }
}

#[test]
fn replay_matches_the_analysis_for_every_capture() {
    let caps = captures();
    assert!(caps.len() >= 10, "{caps:?}");
    for path in caps {
        let mut ends = Ends::default();
        let summary = Analyzer::new(Options::default()).run(reader(&path), &mut ends);
        let loaded = load(reader(&path), Options::default());
        assert_eq!(loaded.summary, summary, "{}", path.display());
        let first = summary.first.unwrap_or_default();
        let end = summary.last.unwrap_or_default();
        let mut app = App::new("t", mode());
        let mut r = Replay::new(loaded.events, first, end);
        r.attach(&mut app);
        r.tick(&mut app, std::time::Duration::from_secs(1 << 20));
        assert!(r.finished());
        assert_eq!(app.state.frames, summary.frames, "{}", path.display());
        assert_eq!(app.state.conns.len(), ends.0.len(), "{}", path.display());
        for (id, streams, findings) in &ends.0 {
            let c = app.state.conn(*id).expect("conn");
            let mine: Vec<StreamStats> = c.streams_sorted().into_iter().cloned().collect();
            assert_eq!(&mine, streams, "{} conn {id}", path.display());
            let mut a: Vec<String> = app
                .state
                .conn_findings(*id)
                .map(|f| f.to_string())
                .collect();
            let mut b: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{} conn {id}", path.display());
        }
        let total: usize = ends.0.iter().map(|e| e.2.len()).sum();
        assert_eq!(app.state.findings.len(), total, "{}", path.display());
    }
}

#[test]
fn stepping_through_a_capture_visits_every_frame_once() {
    let path = common::data("own-ipv4-violations.pcapng");
    let mut a = WatchArgs {
        file: Some(path.clone()),
        listen: None,
        upstream: None,
        write: None,
        speed: 1.0,
        step: true,
        at: None,
        force: false,
        ports: Vec::new(),
    };
    let (mut app, mut r) = replay_setup(&a, &path).expect("load");
    let mut n = 0;
    while !r.finished() {
        r.command(&mut app, Command::Step);
        n += 1;
        assert!(n < 10_000);
    }
    assert_eq!(app.state.frames, 55);
    // the violations, one after another
    a.step = false;
    let (mut app, mut r) = replay_setup(&a, &path).expect("load");
    let mut seen = Vec::new();
    loop {
        r.command(&mut app, Command::NextFinding);
        if app.view.status == "no further finding" {
            break;
        }
        seen.push(app.state.findings.last().map(|f| f.finding.kind.name()));
    }
    assert_eq!(
        seen,
        vec![
            Some("data-beyond-window"),
            Some("second-ack"),
            Some("unmatched-pong"),
            Some("data-beyond-window"),
            Some("go-away"),
        ]
    );
}

#[test]
fn bad_files_are_errors_not_panics() {
    let dir = common::scratch();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture").expect("write");
    let a = WatchArgs {
        file: Some(junk.clone()),
        listen: None,
        upstream: None,
        write: None,
        speed: 1.0,
        step: false,
        at: None,
        force: false,
        ports: Vec::new(),
    };
    let e = replay_setup(&a, &junk).expect_err("error");
    assert!(format!("{e:#}").contains("junk.pcap"), "{e:#}");
    let e = replay_setup(&a, &dir.join("missing.pcap")).expect_err("error");
    assert!(format!("{e:#}").contains("cannot open"), "{e:#}");
    let mut fast = a.clone();
    fast.speed = 0.0;
    let e = replay_setup(&fast, &common::data("hashicorp-echo.pcap")).expect_err("error");
    assert!(format!("{e:#}").contains("--speed"), "{e:#}");
}
