//! The signals that stop a long-running command (`proxy`, `watch --listen`)
//! cleanly: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, systemd, CI) and
//! SIGHUP (the terminal closed). Caught from the moment [`StopSignals::new`]
//! returns, so a command creates them before it announces it is ready.

use std::io;

/// The stop signals, caught (the default action, ending the process at
/// once, is replaced).
pub struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts catching SIGINT, SIGTERM and SIGHUP (on other systems, Ctrl-C
    /// when waited for). Needs a tokio runtime with signals (and IO)
    /// enabled.
    pub fn new() -> io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the next stop signal; returns its name and number.
    pub async fn recv(&mut self) -> (&'static str, i32) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => ("SIGINT", 2),
                _ = self.term.recv() => ("SIGTERM", 15),
                _ = self.hup.recv() => ("SIGHUP", 1),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("SIGINT", 2)
        }
    }

    /// Waits for the first stop signal and says so on standard error; from
    /// then on a second one ends the process at once (exit status 128 + its
    /// number), for a shutdown that hangs (a recording stuck on a full
    /// pipe). Must run inside the runtime that created the signals.
    pub async fn first_then_force(mut self) {
        let (name, _) = self.recv().await;
        eprintln!("yamuxctl: {name}: stopping (again to exit at once)");
        tokio::spawn(async move {
            let (name, n) = self.recv().await;
            eprintln!("yamuxctl: {name} again: exiting at once");
            std::process::exit(128 + n);
        });
    }
}
