//! `yamuxctl frames HEX...`: decode frames given as hex, one line each.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::{exit, Io};

/// `yamuxctl frames`.
#[derive(Clone, Debug, clap::Args)]
pub struct FramesArgs {
    /// Hex bytes, e.g. 000200010000000000000007
    pub hex: Vec<String>,
}

/// Runs `frames`: 0 when every byte decodes as whole frames, 1 otherwise.
pub fn run(args: FramesArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    let joined: String = args.hex.concat().split_whitespace().collect();
    let wire = hex::decode(&joined).context("argument is not valid hex")?;
    let (text, ok) = crate::hexframes::render(&wire);
    io.out.write_all(text.as_bytes())?;
    io.out.flush()?;
    Ok(exit(if ok { 0 } else { 1 }))
}
