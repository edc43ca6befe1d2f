//! `yamuxctl watch`: the live terminal UI of connections, streams and
//! windows, fed by the relay (`--listen`/`--upstream`) or by a capture
//! played back (FILE).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::Io;
use crate::relay::Recording;
use crate::watch::{live, replay_setup, term};

/// `yamuxctl watch`.
#[derive(Clone, Debug, clap::Args)]
pub struct WatchArgs {
    /// A pcap or pcapng capture to play back (instead of --listen); `-` for
    /// standard input, gzip-compressed read directly.
    #[arg(required_unless_present = "listen", conflicts_with_all = ["listen", "upstream"])]
    pub file: Option<PathBuf>,
    /// Run the relay on this address and show it live.
    #[arg(long, requires = "upstream")]
    pub listen: Option<SocketAddr>,
    /// Where the relay forwards connections.
    #[arg(long, requires = "listen")]
    pub upstream: Option<SocketAddr>,
    /// Live: record everything forwarded to this pcapng file, as
    /// `proxy --write` does (not `-`: standard output is the UI).
    #[arg(long, requires = "listen", value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
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

/// Runs `watch` until the user quits (live: or SIGINT, SIGTERM, SIGHUP).
/// The UI draws on the terminal itself; `io` is not written to.
pub fn run(args: WatchArgs, _io: Io) -> anyhow::Result<ExitCode> {
    match (&args.file, args.listen, args.upstream) {
        (Some(path), _, _) => {
            let (mut app, mut replay) = replay_setup(&args, path)?;
            term::run(&mut app, &mut replay)?;
        }
        (None, Some(listen), Some(upstream)) => {
            let write = args.write.as_deref().map(Recording::from_arg);
            if write == Some(Recording::Stdout) {
                bail!("watch --write -: standard output is the terminal UI; record to a file (--write FILE.pcapng), or use `proxy --write -`");
            }
            live::run(listen, upstream, args.force, write)?;
        }
        _ => bail!("give a capture FILE, or --listen and --upstream"),
    }
    Ok(ExitCode::SUCCESS)
}
