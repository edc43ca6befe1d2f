use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Frames {
        /// Hex bytes, e.g. 000200010000000000000007
        hex: Vec<String>,
    },
    /// Relay TCP connections to an upstream, forwarding bytes unchanged,
    /// printing the yamux frames and findings of both directions like
    /// `decode`, optionally recording a pcapng.
    Proxy(yamuxctl::relay::cli::ProxyArgs),
    /// Send hand-made frames to a yamux peer and print what it sends back,
    /// decoded, with timing.
    Inject(yamuxctl::inject::cli::InjectArgs),
    /// Decode yamux frames from a pcap/pcapng capture, one line per frame,
    /// with per-stream windows and protocol findings.
    Decode(yamuxctl::decode::cli::DecodeArgs),
    /// Per connection and stream: bytes, frames, windows, RTT.
    Stats(yamuxctl::decode::cli::StatsArgs),
    /// One stream's payload each way, like Wireshark's Follow Stream.
    Follow(yamuxctl::decode::cli::FollowArgs),
    /// List, show and validate the scenario vectors (vectors/session).
    Vectors(yamuxctl::conform_cli::VectorsArgs),
    /// Run the scenario vectors against an implementation (default: the reference).
    Conform(Box<yamuxctl::conform_cli::ConformArgs>),
    /// The reference adapter (docs/adapters.md), started by `conform`.
    #[command(hide = true, disable_help_flag = true)]
    AdapterReference {
        /// `--role server|client --addr HOST:PORT`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Throughput, latency, open rate and memory of every implementation
    /// against itself, beside raw TCP (docs/performance.md).
    Bench(yamuxctl::bench::BenchArgs),
    /// The raw TCP baseline adapter of `bench` (benchmark commands only).
    #[command(hide = true, disable_help_flag = true)]
    AdapterRawTcp {
        /// `--role server|client --addr HOST:PORT`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Live terminal UI of connections, streams and windows: the relay
    /// (--listen/--upstream) or a capture played back (FILE).
    Watch(yamuxctl::watch::WatchArgs),
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
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("yamuxctl: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The stdout lock is taken per command, never for the whole run: the
    // adapter and the conformance runner write stdout from other threads.
    let std_streams = || (std::io::stdout().lock(), std::io::stderr());
    match cli.command {
        Command::Decode(a) => {
            let (mut out, mut err) = std_streams();
            Ok(ExitCode::from(yamuxctl::decode::cli::decode(
                &a, &mut out, &mut err,
            )?))
        }
        Command::Stats(a) => {
            let (mut out, mut err) = std_streams();
            Ok(ExitCode::from(yamuxctl::decode::cli::stats(
                &a, &mut out, &mut err,
            )?))
        }
        Command::Follow(a) => {
            let (mut out, mut err) = std_streams();
            Ok(ExitCode::from(yamuxctl::decode::cli::follow(
                &a, &mut out, &mut err,
            )?))
        }
        // these print from other threads: no stdout lock here
        Command::Proxy(a) => Ok(ExitCode::from(yamuxctl::relay::cli::proxy(
            &a,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )?)),
        Command::Inject(a) => Ok(ExitCode::from(yamuxctl::inject::cli::inject(
            &a,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )?)),
        Command::Watch(a) => yamuxctl::watch::run(&a),
        Command::Frames { hex } => {
            let joined: String = hex.concat().split_whitespace().collect();
            let wire = hex::decode(&joined).context("argument is not valid hex")?;
            let (text, ok) = yamuxctl::hexframes::render(&wire);
            print!("{text}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Vectors(args) => yamuxctl::conform_cli::vectors(args),
        Command::Conform(args) => yamuxctl::conform_cli::conform(*args),
        Command::Bench(args) => yamuxctl::bench::bench(args),
        Command::AdapterRawTcp { args } => {
            let code = yamuxctl::bench::raw::main_with(&args);
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        Command::AdapterReference { args } => {
            let code = conformance::reference::main_with(&args);
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
    }
}
