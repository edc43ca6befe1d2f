//! `yamuxctl proxy --listen ADDR --upstream ADDR`: relay TCP connections
//! unchanged, printing the yamux frames and findings of both directions as
//! `decode` does, optionally recording a pcapng (to a file, or with
//! `--write -` to standard output, as `tcpdump -w -`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::{exit, shared, use_color_on, ColorChoice, Io};
use crate::print::{Filter, PrintOptions};
use crate::relay::serve::{serve, ServeOptions};
use crate::relay::{Recording, Relay, RelayOptions};
use crate::signals::StopSignals;

/// `yamuxctl proxy`.
#[derive(Clone, Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to accept clients on, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Address of the server to connect to for each client.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Record everything forwarded to this pcapng file (synthesised
    /// Ethernet/IP/TCP headers; readable by `yamuxctl decode` and Wireshark),
    /// written in whole blocks at least every 100 ms. `-`: to standard
    /// output, and the frames to standard error (not with --json).
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// NDJSON output (schema yamuxctl.decode/v1, as `decode --json`).
    #[arg(long)]
    pub json: bool,
    /// Forward (and record) without decoding or printing frames.
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
    /// Decode every connection as yamux, without checking its first bytes.
    #[arg(long)]
    pub force: bool,
    /// Absolute UTC times instead of seconds since the relay started.
    #[arg(long)]
    pub absolute: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Stop after this many connections have closed (default: run until
    /// interrupted).
    #[arg(long, value_name = "N")]
    pub exit_after: Option<u32>,
    /// Read buffer per direction.
    #[arg(long, default_value_t = crate::relay::DEFAULT_BUFFER, value_name = "BYTES")]
    pub buffer: usize,
    /// Events the decoder may fall behind by before forwarded bytes go
    /// undecoded (reported as gaps); forwarding never waits for it.
    #[arg(long, default_value_t = crate::relay::DEFAULT_EVENT_CAPACITY, value_name = "EVENTS")]
    pub queue: usize,
}

impl ProxyArgs {
    /// The relay settings these arguments ask for.
    pub fn options(&self) -> RelayOptions {
        let mut o = RelayOptions::new(self.listen, self.upstream);
        o.write = self.recording();
        o.buffer = self.buffer;
        o.event_capacity = self.queue.max(1);
        o.max_connections = self.exit_after;
        o
    }

    /// Where the recording goes, if anywhere.
    pub fn recording(&self) -> Option<Recording> {
        self.write.as_deref().map(Recording::from_arg)
    }

    /// Whether standard output carries the recording (`--write -`): the
    /// frames then go to standard error.
    pub fn records_to_stdout(&self) -> bool {
        self.recording() == Some(Recording::Stdout)
    }

    /// Refuses the combinations that need standard output twice.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.records_to_stdout() && self.json {
            bail!(
                "--write - puts the pcapng on standard output, where --json would print too; \
                 record to a file (--write FILE) or drop --json"
            );
        }
        Ok(())
    }

    /// What the printing side of the relay shows.
    pub fn serve_options(&self) -> ServeOptions {
        let tty = if self.records_to_stdout() {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        ServeOptions {
            upstream: self.upstream,
            write: self.recording(),
            print: (!self.quiet).then(|| PrintOptions {
                json: self.json,
                color: use_color_on(self.color, tty),
                absolute: self.absolute,
                filter: Filter::default(),
            }),
            force: self.force,
            interleaved: self.records_to_stdout(),
        }
    }
}

/// Runs `proxy` until SIGINT, SIGTERM or SIGHUP (or `--exit-after`);
/// frames go to `io.out` (to `io.err` with `--write -`, whose pcapng goes
/// to the process's standard output), relay notices to `io.err`. Exit
/// status 1 if findings (warnings or errors) were reported, 0 otherwise,
/// however it was stopped.
pub fn run(args: ProxyArgs, io: Io) -> anyhow::Result<ExitCode> {
    args.check()?;
    if args.records_to_stdout() && std::io::stdout().is_terminal() {
        bail!("--write -: standard output is a terminal; pipe it (`| yamuxctl decode -`) or redirect it to a file");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let (out, err) = if args.records_to_stdout() {
        drop(io.out);
        shared(io.err)
    } else {
        (io.out, io.err)
    };
    rt.block_on(async {
        // caught before the relay says it is ready
        let signals = StopSignals::new().context("cannot catch signals")?;
        let (relay, rx) = Relay::bind(args.options()).await?;
        serve(
            relay,
            rx,
            args.serve_options(),
            out,
            err,
            signals.first_then_force(),
        )
        .await
    })
    .map(exit)
}
