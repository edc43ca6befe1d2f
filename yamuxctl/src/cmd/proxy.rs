//! `yamuxctl proxy --listen ADDR --upstream ADDR`: relay TCP connections
//! unchanged, printing the yamux frames and findings of both directions as
//! `decode` does, optionally recording a pcapng.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{exit, use_color, ColorChoice, Io};
use crate::print::{Filter, PrintOptions};
use crate::relay::serve::{serve, ServeOptions};
use crate::relay::{Relay, RelayOptions};

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
    /// Ethernet/IP/TCP headers; readable by `yamuxctl decode` and Wireshark).
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
        o.write = self.write.clone();
        o.buffer = self.buffer;
        o.event_capacity = self.queue.max(1);
        o.max_connections = self.exit_after;
        o
    }

    /// What the printing side of the relay shows.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            upstream: self.upstream,
            write: self.write.clone(),
            print: (!self.quiet).then(|| PrintOptions {
                json: self.json,
                color: use_color(self.color),
                absolute: self.absolute,
                filter: Filter::default(),
            }),
            force: self.force,
        }
    }
}

/// Runs `proxy` until interrupted (or `--exit-after`); frames go to
/// `io.out`, relay notices to `io.err`. Exit status 1 if findings
/// (warnings or errors) were reported, 0 otherwise.
pub fn run(args: ProxyArgs, io: Io) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async {
        let (relay, rx) = Relay::bind(args.options()).await?;
        serve(relay, rx, args.serve_options(), io.out, io.err, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
    .map(exit)
}
