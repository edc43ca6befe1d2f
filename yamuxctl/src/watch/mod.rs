//! `yamuxctl watch`: a live terminal UI of yamux connections, streams and
//! windows, fed by the relay or by a capture played back.
//!
//! Built like tokio-console, state apart from view state:
//!
//! - [`state`]: what the sources reported (connections, the streams and
//!   findings of each connection's tracker, frame log, time series, clock),
//!   changed only by source [`state::Event`]s. No UI types.
//! - [`view`]: selection, sort, filter, finding kinds switched off, prompt,
//!   pane and focus, scroll; reads the state, never changes it.
//! - [`action`]: what a key means ([`action::Action`]) and what of it a
//!   source carries out ([`action::Command`]); depends on nothing else here.
//! - [`input`]: the keymap, key → action, one way.
//! - [`app`]: the state and the view together, as the loop drives them.
//! - [`ui`]: rendering from `(&State, &View)`, one file per pane.
//! - [`source`]: the [`source::Recorder`] (analysis → events) and replay of a
//!   capture with a playback clock; [`live`]: the relay's events through the
//!   same recorder; [`demo`]: a synthetic session; [`term`]: the terminal
//!   loop.
//!
//! Each connection has one tracker, in the analysis that feeds the source;
//! events carry its results, so the state has none of its own.

pub mod action;
pub mod app;
pub mod demo;
pub mod input;
pub mod live;
pub mod source;
pub mod state;
pub mod term;
pub mod ui;
pub mod view;

use anyhow::{bail, Context};

use crate::analysis::Options;
use crate::cmd::watch::WatchArgs;
use action::Command;
use app::App;
use source::Replay;
use state::Mode;

/// Loads the capture of `args` and prepares its playback.
pub fn replay_setup(args: &WatchArgs, path: &std::path::Path) -> anyhow::Result<(App, Replay)> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number, not {}", args.speed);
    }
    let reader = crate::cmd::input::open(path)?;
    let loaded = source::load(
        reader,
        Options {
            ports: args.ports.clone(),
            ..Options::default()
        },
    );
    let first = loaded.summary.first.unwrap_or_default();
    let end = loaded.summary.last.unwrap_or(first);
    let title = if crate::capture::source::is_stdin(path) {
        "standard input".to_string()
    } else {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let mut app = App::new(
        title,
        Mode::Replay {
            paused: args.step,
            speed: args.speed,
            end,
            finished: false,
        },
    );
    let mut replay = Replay::new(loaded.events, first, end);
    replay.speed = args.speed.clamp(source::SPEEDS.0, source::SPEEDS.1);
    replay.paused = args.step;
    replay.attach(&mut app);
    if let Some(e) = &loaded.summary.read_error {
        app.view.status = format!("note: reading stopped early: {e}");
    }
    if let Some(at) = args.at {
        let d = view::parse_secs(&at.to_string())
            .with_context(|| format!("--at must be seconds >= 0, not {at}"))?;
        let paused = replay.paused;
        replay.command(&mut app, Command::SeekTo(d));
        replay.paused = paused;
    }
    Ok((app, replay))
}
