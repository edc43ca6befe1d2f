//! `yamuxctl inject`: send hand-made frames to a yamux peer and print what
//! it sends back, decoded, with timing.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use super::{exit, ColorChoice, Io};

/// Our role on the connection (which side opens odd streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// We are the yamux client (default with --connect).
    Client,
    /// We are the yamux server (default with --listen).
    Server,
}

/// `yamuxctl inject`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "COMMANDS (any number, in order):
  syn ID | ack ID | fin ID | rst ID   Window Update with that flag, delta 0
  wu ID [+]DELTA                      Window Update
  data ID TEXT                        Data; TEXT is UTF-8, 0xHEX, or - for empty
  ping VALUE | pong VALUE             Ping request (SYN) / answer (ACK)
  goaway [CODE]                       Go Away (default code 0)
  raw HEX                             bytes as they are
  sleep MS                            wait, printing what arrives
Extra flags join a frame command with +: data+syn 1 hi, wu+ack 2 +65536, ping+0x8000 1.

Exit status: 0 normally; 1 if the peer sent Go Away with a non-zero code or
its frames drew warnings or errors; 2 on usage or connection errors.")]
pub struct InjectArgs {
    /// Connect to this address.
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "listen",
        required_unless_present = "listen"
    )]
    pub connect: Option<SocketAddr>,
    /// Accept one connection on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Our yamux role (default: client with --connect, server with --listen).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// How long to keep printing what arrives after the last command (ms).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub wait: u64,
    /// Run the commands of this file after the arguments: the same
    /// language, any number per line, `#` starts a comment; or, when it
    /// starts with `{` or `[`, a case (or an array of steps) in the
    /// conformance vector step language, whose sending steps are run.
    #[arg(long, value_name = "FILE")]
    pub script: Option<std::path::PathBuf>,
    /// Read commands line by line from standard input after the arguments
    /// (`quit` or end of input ends).
    #[arg(short, long)]
    pub interactive: bool,
    /// NDJSON output (schema yamuxctl.decode/v1).
    #[arg(long)]
    pub json: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Commands to send, e.g. `syn 1 data 1 hello ping 7`.
    #[arg(
        allow_hyphen_values = true,
        trailing_var_arg = true,
        value_name = "COMMAND"
    )]
    pub commands: Vec<String>,
}

/// Runs `inject` on a new runtime.
pub fn run(args: InjectArgs, io: Io) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(crate::inject::session::run(args, io.out, io.err))
        .map(exit)
}
