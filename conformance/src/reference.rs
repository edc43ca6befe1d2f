//! The adapter for the reference crate (docs/adapters.md), run by
//! `yamuxctl adapter-reference` and by `conformance/adapters/reference/run`.
//!
//! Like the other Rust adapters it is a [`Driver`] on the command loop of
//! `adapter_common` (conformance/adapters/rust-common): this module only maps
//! the session-level commands to the crate's [`Session`] and tells the loop
//! how a [`Stream`] ends. Commands, events, echo, `accept-sessions` and the
//! benchmark commands are the shared core's.
//!
//! Environment: `YAMUX_WINDOW` (receive window), `YAMUX_KEEPALIVE` (seconds;
//! `0` = off), `YAMUX_MAX_STREAMS`, and — only when built with the `faults`
//! feature — `YAMUX_FAULT=<name>` turning on one deliberate bug of the crate.

use std::io;
use std::time::Duration;

use adapter_common::{ready, BoxFut, Driver, End, EndCtx, MuxStream, Outcome, Role, SessionEvents};
use futures::FutureExt;
use tokio::net::TcpStream;
use yamux::{Config, GoAwayCode, Session, Stream};

use crate::adapter::EXIT_UNSUPPORTED;

/// The configuration from the environment. Errors name the variable.
pub fn config_from_env() -> Result<Config, String> {
    let mut c = Config::default();
    if let Ok(w) = std::env::var("YAMUX_WINDOW") {
        c.receive_window = w
            .parse()
            .map_err(|_| format!("YAMUX_WINDOW={w:?} is not a number"))?;
        c.max_receive_window = c.max_receive_window.max(c.receive_window);
    }
    if let Ok(k) = std::env::var("YAMUX_KEEPALIVE") {
        let secs: u64 = k
            .parse()
            .map_err(|_| format!("YAMUX_KEEPALIVE={k:?} is not a number"))?;
        c.keep_alive = (secs > 0).then(|| Duration::from_secs(secs));
    }
    if let Ok(n) = std::env::var("YAMUX_MAX_STREAMS") {
        c.max_streams = n
            .parse()
            .map_err(|_| format!("YAMUX_MAX_STREAMS={n:?} is not a number"))?;
    }
    #[cfg(feature = "faults")]
    if let Ok(f) = std::env::var("YAMUX_FAULT") {
        let faults = &mut c.faults;
        let flag = match f.as_str() {
            "ignore_peer_window" => &mut faults.ignore_peer_window,
            "wrong_parity" => &mut faults.wrong_parity,
            "never_ack" => &mut faults.never_ack,
            "ping_wrong_value" => &mut faults.ping_wrong_value,
            "wu_reads_body" => &mut faults.wu_reads_body,
            "drop_syn_payload" => &mut faults.drop_syn_payload,
            "no_goaway_on_error" => &mut faults.no_goaway_on_error,
            "double_ack" => &mut faults.double_ack,
            "accept_data_after_fin" => &mut faults.accept_data_after_fin,
            "rst_length_as_credit" => &mut faults.rst_length_as_credit,
            "panic_on_window_overflow" => &mut faults.panic_on_window_overflow,
            "unbounded_pong_queue" => &mut faults.unbounded_pong_queue,
            "ignore_receive_budget" => &mut faults.ignore_receive_budget,
            other => return Err(format!("YAMUX_FAULT={other:?} is not a fault name")),
        };
        *flag = true;
    }
    Ok(c)
}

/// The fault names `YAMUX_FAULT` accepts (with the `faults` feature).
pub const FAULTS: &[&str] = &[
    "ignore_peer_window",
    "wrong_parity",
    "never_ack",
    "ping_wrong_value",
    "wu_reads_body",
    "drop_syn_payload",
    "no_goaway_on_error",
    "double_ack",
    "accept_data_after_fin",
    "rst_length_as_credit",
    "panic_on_window_overflow",
    "unbounded_pong_queue",
    "ignore_receive_budget",
];

/// A stream of the reference crate as the command loop sees it.
pub struct RefStream(Stream);

impl MuxStream for RefStream {
    type Io = Stream;

    fn io(&mut self) -> &mut Stream {
        &mut self.0
    }

    fn id(&self) -> u32 {
        self.0.id().val()
    }

    /// The crate reads `Ok(0)` only after the peer's FIN: a reset is an error.
    fn read_end(&self, _ctx: EndCtx) -> End {
        End::Eof
    }

    /// Reads and writes after an RST (either side's) fail with `ConnectionReset`.
    fn classify_error(&self, err: &io::Error, _ctx: EndCtx) -> End {
        if err.kind() == io::ErrorKind::ConnectionReset {
            End::Reset
        } else {
            End::Error(err.to_string())
        }
    }

    fn reset(mut self) -> Result<(), String> {
        self.0.reset();
        Ok(())
    }
}

/// The session-level commands through the crate's [`Session`].
pub struct RefDriver {
    session: Session,
}

impl Driver for RefDriver {
    type Stream = RefStream;
    const NO_ACCEPT_UNSUPPORTED: Option<&'static str> = None;

    fn open(&self) -> BoxFut<Result<RefStream, String>> {
        let session = self.session.clone();
        Box::pin(async move {
            session
                .open()
                .await
                .map(RefStream)
                .map_err(|e| e.to_string())
        })
    }

    fn ping(&self) -> BoxFut<Outcome<f64>> {
        let session = self.session.clone();
        Box::pin(async move {
            let rtt = session.ping().await.map_err(|e| e.to_string());
            rtt.map(|rtt| rtt.as_secs_f64() * 1000.0).into()
        })
    }

    /// Go Away is queued at once (the crate's `go_away` never waits).
    fn goaway(&self, code: u32) -> BoxFut<Outcome<()>> {
        let done = match self.session.go_away(GoAwayCode::new(code)).now_or_never() {
            Some(Ok(())) => Outcome::Ok(()),
            Some(Err(e)) => Outcome::Err(e.to_string()),
            None => Outcome::Err("internal: go_away did not complete at once".into()),
        };
        ready(done)
    }

    fn session_close(&self) -> BoxFut<Outcome<()>> {
        let session = self.session.clone();
        Box::pin(async move { session.close().await.map_err(|e| e.to_string()).into() })
    }

    /// `length.rst-code`: the crate sends every RST with Length 0, so only
    /// code 0 (no particular reason) can be honoured.
    fn reset_code(code: u64) -> Result<(), String> {
        if code == 0 {
            Ok(())
        } else {
            Err(
                "the yamux crate resets with Length 0 only: it has no API to send an error code"
                    .into(),
            )
        }
    }
}

/// Creates a session over `tcp` and the tasks that report its inbound
/// streams (while the application accepts: streams not accepted wait in the
/// crate's backlog, un-ACKed) and its end.
fn start(
    role: Role,
    tcp: TcpStream,
    config: Config,
    events: SessionEvents<RefDriver>,
) -> RefDriver {
    let session = match role {
        Role::Server => Session::server(tcp, config),
        Role::Client => Session::client(tcp, config),
    };
    let (s, ev) = (session.clone(), events.clone());
    tokio::spawn(async move {
        let mut accepting = ev.accepting();
        loop {
            if accepting.wait_for(|on| *on).await.is_err() {
                return;
            }
            let paused = async {
                if accepting.wait_for(|on| !*on).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                r = s.accept() => match r {
                    Ok(stream) => ev.inbound(RefStream(stream)),
                    // Go Away either way, or the session is over.
                    Err(_) => return,
                },
                () = paused => {}
            }
        }
    });
    let s = session.clone();
    tokio::spawn(async move {
        let why = s.closed().await;
        events.closed(why.to_string());
    });
    RefDriver { session }
}

/// Entry point for binaries: parses `args` (without the program name), runs
/// until stdin ends, returns the exit code (89 for unknown or missing
/// arguments and for a bad environment).
pub fn main_with(args: &[String]) -> i32 {
    let parsed = match adapter_common::parse_args(args.iter().cloned()) {
        Ok(a) => a,
        Err(adapter_common::ArgsError::Unsupported(m) | adapter_common::ArgsError::Usage(m)) => {
            eprintln!("reference adapter: {m}");
            return EXIT_UNSUPPORTED;
        }
    };
    let config = match config_from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reference adapter: {e}");
            return EXIT_UNSUPPORTED;
        }
    };
    adapter_common::run_with(parsed, move |role, tcp, events| {
        start(role, tcp, config.clone(), events)
    })
}
