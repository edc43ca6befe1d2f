//! The subcommands, one file each (the ripgrep shape): its clap arguments
//! and `run(args, io) -> anyhow::Result<ExitCode>`. `main.rs` only parses
//! and dispatches; the work itself lives in the library modules
//! ([`crate::analysis`], [`crate::relay`], [`crate::inject`], [`crate::watch`],
//! [`crate::bench`] and the `conformance` crate).
//!
//! Exit codes everywhere: 0 ok, 1 findings or failures, 2 usage or input
//! error (an `Err` from `run` is reported by `main` and exits 2).

pub mod adapter;
pub mod bench;
pub mod conform;
pub mod decode;
pub mod follow;
pub mod frames;
pub mod inject;
pub mod input;
pub mod proxy;
pub mod stats;
pub mod vectors;
pub mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

/// Where a subcommand writes: its output and its notices. Both are `Send`
/// because the relay, inject and the conformance runner write from other
/// threads.
pub struct Io {
    /// Standard output (frames, reports).
    pub out: Box<dyn Write + Send>,
    /// Standard error (notices, progress, errors that do not stop the run).
    pub err: Box<dyn Write + Send>,
}

impl Io {
    /// The process's standard output and error. Neither is locked for the
    /// whole run: other threads write to them too.
    pub fn std() -> Io {
        Io::new(io::stdout(), io::stderr())
    }

    /// Any pair of writers (tests pass in-memory buffers).
    pub fn new(out: impl Write + Send + 'static, err: impl Write + Send + 'static) -> Io {
        Io {
            out: Box::new(out),
            err: Box::new(err),
        }
    }
}

/// The process exit code of a status `0`, `1` or `2`.
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// When to colour text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Whether to colour standard output.
pub fn use_color(c: ColorChoice) -> bool {
    use_color_on(c, io::stdout().is_terminal())
}

/// Whether to colour an output that is (`tty`) or is not a terminal.
pub fn use_color_on(c: ColorChoice, tty: bool) -> bool {
    match c {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && tty,
    }
}

/// Two writers onto one (e.g. frames and notices both on standard error),
/// each write going through whole.
pub fn shared(w: Box<dyn Write + Send>) -> (Box<dyn Write + Send>, Box<dyn Write + Send>) {
    let w = std::sync::Arc::new(std::sync::Mutex::new(w));
    (Box::new(SharedWriter(w.clone())), Box::new(SharedWriter(w)))
}

struct SharedWriter(std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}
