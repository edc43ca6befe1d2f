//! The runner's side of the adapter protocol (docs/adapters.md): start an
//! adapter process, send commands, read events, keep its stderr.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use crate::crash::{Exit, ExitKind};
use crate::vector::Role;

/// Exit code meaning "unsupported role/option" or "not installed".
pub const EXIT_UNSUPPORTED: i32 = 89;

/// How to start an adapter: a program plus leading arguments (before
/// `--role ... --addr ...`) and extra environment.
#[derive(Clone, Debug)]
pub struct AdapterSpec {
    /// Executable.
    pub program: PathBuf,
    /// Arguments before `--role`.
    pub args: Vec<String>,
    /// Environment for every case.
    pub env: Vec<(String, String)>,
    /// Display name.
    pub name: String,
}

/// An adapter command a case may send (docs/adapters.md, "Commands"); in
/// JSON the `cmd` field. `crash` (self-checks) and the benchmark commands
/// are sent by their runners, never by a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// `open`: open an outbound stream.
    Open,
    /// `write`: write bytes on a stream.
    Write,
    /// `close`: half-close a stream (FIN).
    Close,
    /// `reset`: reset a stream.
    Reset,
    /// `reset-code`: reset a stream with an error code.
    ResetCode,
    /// `ping`: ping through the API.
    Ping,
    /// `goaway`: send Go Away without closing.
    Goaway,
    /// `session-close`: close the session.
    SessionClose,
    /// `accept`: accept inbound streams again.
    Accept,
    /// `no-accept`: leave inbound streams un-accepted.
    NoAccept,
    /// `read`: read again.
    Read,
    /// `no-read`: stop reading.
    NoRead,
    /// `echo`: echo what is read.
    Echo,
    /// `no-echo`: stop echoing.
    NoEcho,
    /// `accept-sessions`: accept more TCP connections (server role).
    AcceptSessions,
}

impl Command {
    /// Every command, in the order of docs/adapters.md.
    pub const ALL: [Command; 15] = [
        Command::Open,
        Command::Write,
        Command::Close,
        Command::Reset,
        Command::ResetCode,
        Command::Ping,
        Command::Goaway,
        Command::SessionClose,
        Command::Accept,
        Command::NoAccept,
        Command::Read,
        Command::NoRead,
        Command::Echo,
        Command::NoEcho,
        Command::AcceptSessions,
    ];

    /// The `cmd` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Open => "open",
            Command::Write => "write",
            Command::Close => "close",
            Command::Reset => "reset",
            Command::ResetCode => "reset-code",
            Command::Ping => "ping",
            Command::Goaway => "goaway",
            Command::SessionClose => "session-close",
            Command::Accept => "accept",
            Command::NoAccept => "no-accept",
            Command::Read => "read",
            Command::NoRead => "no-read",
            Command::Echo => "echo",
            Command::NoEcho => "no-echo",
            Command::AcceptSessions => "accept-sessions",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An application event of the adapter a case may wait for
/// (docs/adapters.md, "Events"); in JSON the `event` field. Replies
/// (`ok`, `error`, `unsupported`), `ready`, `log` and `crash` are read by
/// the runner itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// `accepted`: the application accepted an inbound stream.
    Accepted,
    /// `data`: the application read bytes.
    Data,
    /// `eof`: a read returned end of stream.
    Eof,
    /// `reset`: a read or write failed because the stream was reset.
    Reset,
    /// `stream-error`: another error on a stream.
    StreamError,
    /// `closed`: the session is over.
    Closed,
}

impl Event {
    /// Every event a case may wait for.
    pub const ALL: [Event; 6] = [
        Event::Accepted,
        Event::Data,
        Event::Eof,
        Event::Reset,
        Event::StreamError,
        Event::Closed,
    ];

    /// The `event` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Accepted => "accepted",
            Event::Data => "data",
            Event::Eof => "eof",
            Event::Reset => "reset",
            Event::StreamError => "stream-error",
            Event::Closed => "closed",
        }
    }

    /// True when the adapter message `v` is this event.
    pub fn is(self, v: &Value) -> bool {
        v.get("event").and_then(Value::as_str) == Some(self.as_str())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line from the adapter's stdout.
#[derive(Clone, Debug)]
pub enum AdapterMsg {
    /// A JSON object.
    Event(Value),
    /// A line that is not a JSON object.
    Invalid(String),
    /// stdout closed.
    Eof,
}

/// A running adapter.
pub struct AdapterProc {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines from stdout.
    pub rx: mpsc::UnboundedReceiver<AdapterMsg>,
    /// stderr lines so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    /// Messages of the `crash` events it printed.
    pub crash_events: Arc<Mutex<Vec<String>>>,
    next_id: u64,
}

/// Why an adapter could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The program could not be spawned.
    #[error("cannot start adapter {program}: {source}")]
    Spawn {
        /// Program.
        program: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing a command failed.
    #[error("cannot write to the adapter: {0}")]
    Write(std::io::Error),
}

impl AdapterProc {
    /// Starts `spec` with `--role ROLE --addr ADDR` and extra `env`.
    pub fn start(
        spec: &AdapterSpec,
        role: &str,
        addr: &str,
        env: &[(String, String)],
    ) -> Result<AdapterProc, AdapterError> {
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .arg("--role")
            .arg(role)
            .arg("--addr")
            .arg(addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in spec.env.iter().chain(env) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| AdapterError::Spawn {
            program: spec.program.display().to_string(),
            source,
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let crash_events = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let crashes = crash_events.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let line = line.trim().to_string();
                    if line.is_empty() {
                        continue;
                    }
                    let msg = match serde_json::from_str::<Value>(&line) {
                        Ok(v @ Value::Object(_)) => {
                            if v.get("event").and_then(Value::as_str) == Some("crash") {
                                let m = v.get("message").and_then(Value::as_str).unwrap_or("");
                                if let Ok(mut c) = crashes.lock() {
                                    c.push(m.to_string());
                                }
                            }
                            AdapterMsg::Event(v)
                        }
                        _ => AdapterMsg::Invalid(line),
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                let _ = tx.send(AdapterMsg::Eof);
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut stderr_task = None;
        if let Some(err) = child.stderr.take() {
            let buf = stderr.clone();
            stderr_task = Some(tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut b) = buf.lock() {
                        if b.len() < 2000 {
                            b.push(line);
                        }
                    }
                }
            }));
        }
        let stdin = child.stdin.take();
        Ok(AdapterProc {
            child,
            stdin,
            rx,
            stderr,
            stderr_task,
            crash_events,
            next_id: 1,
        })
    }

    /// Sends a command object (an `id` is added); returns the id.
    pub async fn send(
        &mut self,
        mut cmd: serde_json::Map<String, Value>,
    ) -> Result<(u64, String), AdapterError> {
        let id = self.next_id;
        self.next_id += 1;
        cmd.insert("id".into(), Value::from(id));
        let mut line = Value::Object(cmd).to_string();
        let shown = line.clone();
        line.push('\n');
        match self.stdin.as_mut() {
            Some(s) => {
                s.write_all(line.as_bytes())
                    .await
                    .map_err(AdapterError::Write)?;
                s.flush().await.map_err(AdapterError::Write)?;
            }
            None => {
                return Err(AdapterError::Write(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "stdin closed",
                )))
            }
        }
        Ok((id, shown))
    }

    /// The exit code if the process has exited.
    pub fn try_exit_code(&mut self) -> Option<Option<i32>> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.code()),
            _ => None,
        }
    }

    /// Waits for exit up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(st)) => Some(st.code()),
            _ => None,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Closes stdin, waits up to 2 s for exit, then kills. Returns the exit
    /// code (None when killed or signalled).
    pub async fn finish(&mut self) -> Option<i32> {
        self.finish_exit().await.code()
    }

    /// Closes stdin, waits up to 2 s for exit, then kills; how it ended, and
    /// whether it had ended before stdin was closed.
    pub async fn finish_exit(&mut self) -> Exit {
        let unasked = matches!(self.child.try_wait(), Ok(Some(_)));
        self.stdin = None;
        let kind = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(st)) => match (st.code(), st.signal()) {
                (Some(c), _) => ExitKind::Code(c),
                (None, Some(s)) => ExitKind::Signal(s),
                (None, None) => ExitKind::Killed,
            },
            _ => {
                let _ = self.child.kill().await;
                ExitKind::Killed
            }
        };
        Exit { kind, unasked }
    }

    /// Closes stdin, waits for exit (killing after 2 s) and for the last
    /// stderr lines; returns (exit code, stderr).
    pub async fn finish_with_stderr(&mut self) -> (Option<i32>, Vec<String>) {
        let (exit, stderr) = self.finish_with_exit().await;
        (exit.code(), stderr)
    }

    /// As [`AdapterProc::finish_with_stderr`], with the whole [`Exit`].
    pub async fn finish_with_exit(&mut self) -> (Exit, Vec<String>) {
        let exit = self.finish_exit().await;
        if let Some(t) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), t).await;
        }
        (exit, self.stderr_lines())
    }

    /// The messages of the `crash` events seen so far.
    pub fn crash_messages(&self) -> Vec<String> {
        self.crash_events
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// Checks `--role bogus` exits with 89 within 5 s.
pub async fn check_bogus_role(spec: &AdapterSpec) -> Result<(), String> {
    let mut p = AdapterProc::start(spec, "bogus", "127.0.0.1:0", &[]).map_err(|e| e.to_string())?;
    match p.wait_exit(Duration::from_secs(5)).await {
        Some(Some(EXIT_UNSUPPORTED)) => Ok(()),
        Some(code) => Err(format!(
            "`--role bogus` exited with {code:?}, expected {EXIT_UNSUPPORTED}"
        )),
        None => {
            p.finish().await;
            Err("`--role bogus` did not exit within 5 s".into())
        }
    }
}

/// The role string an adapter is started with for an IUT role.
pub fn role_arg(role: Role) -> &'static str {
    role.as_str()
}
