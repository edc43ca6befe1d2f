//! Relay events → the per-connection pipeline ([`StreamConn`]) → an
//! [`Observer`] (the printers, `watch`): the same path a capture takes,
//! fed with bytes.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::{ConnInfo, Observer, Options, StreamConn, StreamKind};
use crate::clock::Clock;
use crate::relay::RelayEvent;

/// What the relay forwarded and found, over all connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSummary {
    /// Connections relayed (upstream reached).
    pub connections: u32,
    /// Connections that could not reach the upstream.
    pub refused: u32,
    /// Connections decoded as yamux.
    pub yamux_connections: u32,
    /// Frames decoded.
    pub frames: u64,
    /// Findings by severity: info, warning, error.
    pub findings: [u64; 3],
    /// Bytes forwarded per direction (client → server, server → client).
    pub bytes: [u64; 2],
    /// Bytes forwarded but not decoded because the decoder was behind.
    pub gap_bytes: [u64; 2],
}

/// Decodes relay events as they come.
pub struct LiveDecoder {
    clock: Clock,
    opts: Options,
    force: bool,
    conns: HashMap<u32, StreamConn>,
    summary: LiveSummary,
    started: bool,
}

impl LiveDecoder {
    /// A decoder for the events of a relay with `clock`; `force` decodes
    /// every connection as yamux without detection.
    pub fn new(clock: Clock, opts: Options, force: bool) -> LiveDecoder {
        LiveDecoder {
            clock,
            opts,
            force,
            conns: HashMap::new(),
            summary: LiveSummary::default(),
            started: false,
        }
    }

    /// The figures so far.
    pub fn summary(&self) -> &LiveSummary {
        &self.summary
    }

    /// Takes one event; relay notices (not yamux, closed) go to `notes`.
    pub fn event<O: Observer + ?Sized>(
        &mut self,
        ev: &RelayEvent,
        obs: &mut O,
        notes: &mut dyn Write,
    ) {
        if !self.started {
            self.started = true;
            obs.start(self.clock.wall(Duration::ZERO));
        }
        match ev {
            RelayEvent::Opened {
                conn,
                client,
                server,
                at,
            } => {
                self.summary.connections += 1;
                let info = ConnInfo {
                    id: *conn,
                    a: *client,
                    b: *server,
                    handshake: true,
                    first: self.clock.wall(*at),
                };
                let c = StreamConn::new(info, &self.opts, self.force);
                c.announce(obs);
                if let Some(old) = self.conns.insert(*conn, c) {
                    self.end(old, *at, "replaced", obs, notes);
                }
            }
            RelayEvent::Bytes {
                conn,
                side,
                at,
                data,
            } => {
                self.summary.bytes[side.idx()] += data.len() as u64;
                let ts = self.clock.wall(*at);
                if let Some(c) = self.conns.get_mut(conn) {
                    let before = c.kind();
                    c.data(*side, ts, data, obs);
                    Self::note_kind(c, before, notes);
                }
            }
            RelayEvent::Gap {
                conn,
                side,
                at,
                len,
            } => {
                self.summary.bytes[side.idx()] += len;
                self.summary.gap_bytes[side.idx()] += len;
                let ts = self.clock.wall(*at);
                if let Some(c) = self.conns.get_mut(conn) {
                    let before = c.kind();
                    c.gap(*side, ts, *len, obs);
                    Self::note_kind(c, before, notes);
                }
            }
            RelayEvent::HalfClosed { conn, side, at } => {
                let ts = self.clock.wall(*at);
                if let Some(c) = self.conns.get_mut(conn) {
                    let before = c.kind();
                    c.eof(*side, ts, obs);
                    Self::note_kind(c, before, notes);
                }
            }
            RelayEvent::Closed { conn, at, reason } => match self.conns.remove(conn) {
                Some(c) => self.end(c, *at, reason, obs, notes),
                None => {
                    self.summary.refused += 1;
                    let _ = writeln!(notes, "yamuxctl: conn {conn}: {reason}");
                }
            },
        }
    }

    fn note_kind(c: &StreamConn, before: StreamKind, notes: &mut dyn Write) {
        if before == StreamKind::Detecting && c.kind() == StreamKind::Other {
            let i = c.info();
            let _ = writeln!(
                notes,
                "yamuxctl: conn {}: {} → {} is not yamux; forwarding it unchanged without decoding",
                i.id, i.a, i.b
            );
        }
    }

    fn end<O: Observer + ?Sized>(
        &mut self,
        c: StreamConn,
        at: Duration,
        reason: &str,
        obs: &mut O,
        notes: &mut dyn Write,
    ) {
        let before = c.kind();
        let id = c.info().id;
        let bytes = c.bytes();
        let info = c.info().clone();
        let t = c.finish(self.clock.wall(at), obs);
        if before == StreamKind::Detecting && !t.yamux {
            let _ = writeln!(
                notes,
                "yamuxctl: conn {id}: {} → {} is not yamux; forwarded unchanged without decoding",
                info.a, info.b
            );
        }
        if t.yamux {
            self.summary.yamux_connections += 1;
        }
        self.summary.frames += t.frames;
        for (s, n) in self.summary.findings.iter_mut().zip(t.findings) {
            *s += n;
        }
        let _ = writeln!(
            notes,
            "yamuxctl: conn {id}: {reason} after {} bytes → and {} bytes ←{}",
            bytes[0],
            bytes[1],
            if t.yamux {
                format!(", {} frames", t.frames)
            } else {
                String::new()
            }
        );
    }

    /// Ends the connections still open (at `at`) and returns the figures.
    pub fn finish<O: Observer + ?Sized>(
        mut self,
        at: Duration,
        obs: &mut O,
        notes: &mut dyn Write,
    ) -> LiveSummary {
        let mut open: Vec<u32> = self.conns.keys().copied().collect();
        open.sort_unstable();
        for id in open {
            if let Some(c) = self.conns.remove(&id) {
                self.end(c, at, "still open at exit", obs, notes);
            }
        }
        self.summary
    }
}
