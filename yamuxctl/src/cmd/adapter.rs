//! The hidden adapter subcommands: `adapter-reference` (the reference
//! crate's conformance adapter, started by `conform`) and `adapter-raw-tcp`
//! (the raw TCP baseline of `bench`). Both speak the adapter protocol of
//! docs/adapters.md on standard input and output.

use std::process::ExitCode;

/// Arguments of an adapter subcommand, passed through unparsed.
#[derive(Clone, Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct AdapterArgs {
    /// `--role server|client --addr HOST:PORT`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Which adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// The reference crate.
    Reference,
    /// Raw TCP (benchmark commands only).
    RawTcp,
}

/// Runs the adapter until its peer (the runner) closes standard input. The
/// adapter protocol owns standard output, so no `Io` is taken.
pub fn run(which: Adapter, args: AdapterArgs) -> anyhow::Result<ExitCode> {
    let code = match which {
        Adapter::Reference => conformance::reference::main_with(&args.args),
        Adapter::RawTcp => crate::bench::raw::main_with(&args.args),
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
