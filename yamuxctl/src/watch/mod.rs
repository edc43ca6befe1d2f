//! `yamuxctl watch`: a live terminal UI of yamux connections, streams and
//! windows, fed by the relay or by a capture played back.
//!
//! Built like tokio-console: [`model`] is the state (pure, unit-tested),
//! [`input`] maps keys to actions (pure), [`ui`] renders `&App` into a frame,
//! [`source`] produces [`model::Event`]s (replay of a capture with a playback
//! clock), [`live`] turns the relay's events into the same events, and
//! [`term`] runs the terminal loop.

pub mod demo;
pub mod input;
pub mod live;
pub mod model;
pub mod source;
pub mod term;
pub mod ui;

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::analyze::Options;
use crate::capture::CaptureReader;
use model::{App, Command, Mode};
use source::Replay;

/// `yamuxctl watch`.
#[derive(Clone, Debug, clap::Args)]
pub struct WatchArgs {
    /// A pcap or pcapng capture to play back (instead of --listen).
    #[arg(required_unless_present = "listen", conflicts_with_all = ["listen", "upstream"])]
    pub file: Option<PathBuf>,
    /// Run the relay on this address and show it live.
    #[arg(long, requires = "upstream")]
    pub listen: Option<SocketAddr>,
    /// Where the relay forwards connections.
    #[arg(long, requires = "listen")]
    pub upstream: Option<SocketAddr>,
    /// Playback speed factor (real time is 1).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Start paused, to step frame by frame with `.`.
    #[arg(long)]
    pub step: bool,
    /// Start at this time, in seconds since the first packet.
    #[arg(long, value_name = "SECS")]
    pub at: Option<f64>,
    /// Live: decode every relayed connection as yamux, without detection.
    #[arg(long)]
    pub force: bool,
    /// Treat connections on this port as yamux without looking (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
}

/// Loads the capture of `args` and prepares its playback.
pub fn replay_setup(args: &WatchArgs, path: &std::path::Path) -> anyhow::Result<(App, Replay)> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number, not {}", args.speed);
    }
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader =
        CaptureReader::new(f).with_context(|| format!("cannot read {}", path.display()))?;
    let loaded = source::load(
        reader,
        Options {
            ports: args.ports.clone(),
            ..Options::default()
        },
    );
    let first = loaded.summary.first.unwrap_or_default();
    let end = loaded.summary.last.unwrap_or(first);
    let title = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
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
        app.status = format!("note: reading stopped early: {e}");
    }
    if let Some(at) = args.at {
        let d = model::parse_secs(&at.to_string())
            .with_context(|| format!("--at must be seconds >= 0, not {at}"))?;
        let paused = replay.paused;
        replay.command(&mut app, Command::SeekTo(d));
        replay.paused = paused;
    }
    Ok((app, replay))
}

/// Runs `yamuxctl watch`.
pub fn run(args: &WatchArgs) -> anyhow::Result<std::process::ExitCode> {
    match (&args.file, args.listen, args.upstream) {
        (Some(path), _, _) => {
            let (mut app, mut replay) = replay_setup(args, path)?;
            term::run(&mut app, &mut replay)?;
        }
        (None, Some(listen), Some(upstream)) => live::run(listen, upstream, args.force)?,
        _ => bail!("give a capture FILE, or --listen and --upstream"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}
