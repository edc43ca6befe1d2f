//! More sessions to a server under test (`resilience.many-sessions`): each
//! is its own TCP connection with a yamux client session that opens one
//! stream, has a payload echoed and a ping answered, and then stays open
//! (reading whatever the server sends) until the case ends.
//!
//! The sessions are held by a [`Crowd`]; dropping it closes them all.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use yamux::frame::{Flags, Frame, StreamId};

/// Largest `sessions.count` a case may ask for.
pub const MAX_SESSIONS: u32 = 2000;

/// Connections being set up at once (the rest wait): a server's listen
/// backlog (often 128) is not what the case measures.
const CONNECTING_AT_ONCE: usize = 64;

/// How one extra session went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The stream was echoed and the ping answered.
    Served,
    /// The connection was refused, or closed / answered with Go Away
    /// before the echo and the ping answer (a defence, or a failure).
    Turned(String),
    /// Nothing decisive before the step's time was up.
    TimedOut,
}

/// The sessions a step opened; dropping it closes every connection.
#[derive(Debug, Default)]
pub struct Crowd {
    tasks: JoinSet<()>,
}

/// What a `sessions` step found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Echoed and answered a ping.
    pub served: u32,
    /// Refused or ended by the server, with the first reason seen.
    pub turned: u32,
    /// Why the first of them was turned away.
    pub first_reason: Option<String>,
    /// Undecided when the time was up.
    pub timed_out: u32,
}

impl Tally {
    fn add(&mut self, f: Fate) {
        match f {
            Fate::Served => self.served += 1,
            Fate::Turned(why) => {
                self.turned += 1;
                self.first_reason.get_or_insert(why);
            }
            Fate::TimedOut => self.timed_out += 1,
        }
    }
}

/// The payload echoed on session `k`: `len` bytes, `(i + k) mod 251`.
fn payload(k: u32, len: u32) -> Vec<u8> {
    (0..len).map(|i| ((i + k) % 251) as u8).collect()
}

/// Opens `count` sessions to `addr`, each echoing `echo` bytes on stream 1
/// and answering a ping, and waits until each is decided or `deadline`.
/// The served ones stay open in the returned [`Crowd`].
pub async fn open(addr: SocketAddr, count: u32, echo: u32, deadline: Instant) -> (Crowd, Tally) {
    let count = count.min(MAX_SESSIONS);
    let mut crowd = Crowd::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    for k in 0..count {
        let tx = tx.clone();
        let gate = gate.clone();
        crowd.tasks.spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let mut sess = match tokio::time::timeout_at(deadline, handshake(addr, k, echo)).await {
                Err(_) => {
                    let _ = tx.send(Fate::TimedOut);
                    return;
                }
                Ok(Err(why)) => {
                    let _ = tx.send(Fate::Turned(why));
                    return;
                }
                Ok(Ok(s)) => s,
            };
            drop(permit);
            let _ = tx.send(Fate::Served);
            // Held open until the crowd is dropped (the task is aborted);
            // what the server sends is read and dropped.
            let mut buf = [0u8; 4096];
            while matches!(sess.read(&mut buf).await, Ok(n) if n > 0) {}
        });
    }
    drop(tx);
    let mut tally = Tally::default();
    let mut decided = 0;
    while decided < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(f)) => {
                tally.add(f);
                decided += 1;
            }
            Ok(None) => break,
            Err(_) => {
                tally.timed_out += count - decided;
                break;
            }
        }
    }
    (crowd, tally)
}

/// Connects and has stream 1 echoed and a Ping answered (the exchange of
/// the liveness probe).
async fn handshake(addr: SocketAddr, k: u32, echo: u32) -> Result<TcpStream, String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let data = payload(k, echo);
    // The probe's opening (WU|SYN, then the bytes), with no FIN: a FIN on
    // the opening frame is a case of its own (stream.close.syn-fin).
    let opening = [
        Frame::window_update(StreamId::new(1), Flags::SYN, 0),
        Frame::data(StreamId::new(1), Flags::NONE, data.clone()),
    ];
    crate::liveness::echo_and_ping(&mut tcp, &opening, &data, k).await?;
    Ok(tcp)
}
