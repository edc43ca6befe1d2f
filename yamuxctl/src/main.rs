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
    /// The reference adapter (docs/adapters.md), started by `conform`.
    #[command(hide = true, disable_help_flag = true)]
    AdapterReference {
        /// `--role server|client --addr HOST:PORT`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
    // Not `stdout().lock()`: the adapters below print from other threads.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match cli.command {
        Command::Decode(a) => Ok(ExitCode::from(yamuxctl::decode::cli::decode(
            &a, &mut out, &mut err,
        )?)),
        Command::Stats(a) => Ok(ExitCode::from(yamuxctl::decode::cli::stats(
            &a, &mut out, &mut err,
        )?)),
        Command::Follow(a) => Ok(ExitCode::from(yamuxctl::decode::cli::follow(
            &a, &mut out, &mut err,
        )?)),
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
