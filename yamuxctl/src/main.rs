//! `yamuxctl`: parses the command line and hands it to the subcommand's
//! `run` in [`yamuxctl::cmd`]; an error from it is printed and exits 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yamuxctl::cmd::{self, Io};

/// Yamux toolkit: validate implementations, decode captures, inspect sessions.
#[derive(Parser)]
#[command(name = "yamuxctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode yamux frames given as hex (whitespace allowed), one line each.
    Frames(cmd::frames::FramesArgs),
    /// Relay TCP connections to an upstream, forwarding bytes unchanged,
    /// printing the yamux frames and findings of both directions like
    /// `decode`, optionally recording a pcapng.
    Proxy(cmd::proxy::ProxyArgs),
    /// Send hand-made frames to a yamux peer and print what it sends back,
    /// decoded, with timing.
    Inject(cmd::inject::InjectArgs),
    /// Decode yamux frames from a pcap/pcapng capture, one line per frame,
    /// with per-stream windows and protocol findings.
    Decode(cmd::decode::DecodeArgs),
    /// Per connection and stream: bytes, frames, windows, RTT.
    Stats(cmd::stats::StatsArgs),
    /// One stream's payload each way, like Wireshark's Follow Stream.
    Follow(cmd::follow::FollowArgs),
    /// List, show and validate the scenario vectors (vectors/session).
    Vectors(cmd::vectors::VectorsArgs),
    /// Run the scenario vectors against an implementation (default: the reference).
    Conform(Box<cmd::conform::ConformArgs>),
    /// The reference adapter (docs/adapters.md), started by `conform`.
    #[command(hide = true, disable_help_flag = true)]
    AdapterReference(cmd::adapter::AdapterArgs),
    /// Throughput, latency, open rate and memory of every implementation
    /// against itself, beside raw TCP (docs/performance.md).
    Bench(cmd::bench::BenchArgs),
    /// The raw TCP baseline adapter of `bench` (benchmark commands only).
    #[command(hide = true, disable_help_flag = true)]
    AdapterRawTcp(cmd::adapter::AdapterArgs),
    /// Live terminal UI of connections, streams and windows: the relay
    /// (--listen/--upstream) or a capture played back (FILE).
    Watch(cmd::watch::WatchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let io = Io::std();
    let r = match cli.command {
        Command::Frames(a) => cmd::frames::run(a, io),
        Command::Proxy(a) => cmd::proxy::run(a, io),
        Command::Inject(a) => cmd::inject::run(a, io),
        Command::Decode(a) => cmd::decode::run(a, io),
        Command::Stats(a) => cmd::stats::run(a, io),
        Command::Follow(a) => cmd::follow::run(a, io),
        Command::Vectors(a) => cmd::vectors::run(a, io),
        Command::Conform(a) => cmd::conform::run(*a, io),
        Command::Bench(a) => cmd::bench::run(a, io),
        Command::Watch(a) => cmd::watch::run(a, io),
        Command::AdapterReference(a) => cmd::adapter::run(cmd::adapter::Adapter::Reference, a),
        Command::AdapterRawTcp(a) => cmd::adapter::run(cmd::adapter::Adapter::RawTcp, a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("yamuxctl: {e:#}");
            ExitCode::from(2)
        }
    }
}
