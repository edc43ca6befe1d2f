//! The Gap rule: publishing events without ever waiting for a consumer.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::RelayEvent;

/// How long the end of a connection waits for a full channel before giving
/// up on a consumer that stopped reading.
const FINISH_WAIT: Duration = Duration::from_secs(10);

/// One consumer's channel, seen from one connection.
#[derive(Debug)]
struct Sink {
    tx: mpsc::Sender<RelayEvent>,
    /// Events not sent yet because the channel was full, in order. Bytes
    /// never wait here: they become (merged) `Gap`s.
    pending: VecDeque<RelayEvent>,
    /// The receiver is gone: nothing more is sent.
    gone: bool,
}

impl Sink {
    fn flush(&mut self) {
        while let Some(ev) = self.pending.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => {
                    self.pending.push_front(ev);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.gone = true;
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    fn emit(&mut self, ev: RelayEvent) {
        if self.gone {
            return;
        }
        self.flush();
        if self.gone {
            return;
        }
        if !self.pending.is_empty() {
            self.queue(ev);
            return;
        }
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(ev)) => self.queue(ev),
            Err(TrySendError::Closed(_)) => {
                self.gone = true;
                self.pending.clear();
            }
        }
    }

    /// Keeps `ev` for later; bytes are replaced by a gap, merged with the
    /// latest pending gap of the same direction when nothing else about
    /// that direction came after it.
    fn queue(&mut self, ev: RelayEvent) {
        let RelayEvent::Bytes {
            conn,
            side,
            at,
            data,
        } = ev
        else {
            self.pending.push_back(ev);
            return;
        };
        let n = data.len() as u64;
        let last_same_side = self.pending.iter_mut().rev().find(|e| match e {
            RelayEvent::Gap { side: s, .. } | RelayEvent::HalfClosed { side: s, .. } => *s == side,
            RelayEvent::Bytes { side: s, .. } => *s == side,
            RelayEvent::Opened { .. } | RelayEvent::Closed { .. } => true,
        });
        if let Some(RelayEvent::Gap { len, at: t, .. }) = last_same_side {
            *len += n;
            *t = at;
        } else {
            self.pending.push_back(RelayEvent::Gap {
                conn,
                side,
                at,
                len: n,
            });
        }
    }
}

/// The consumers of one connection's events.
#[derive(Debug)]
pub(crate) struct Port {
    sinks: Vec<Sink>,
}

impl Port {
    pub(crate) fn new(txs: Vec<mpsc::Sender<RelayEvent>>) -> Port {
        Port {
            sinks: txs
                .into_iter()
                .map(|tx| Sink {
                    tx,
                    pending: VecDeque::new(),
                    gone: false,
                })
                .collect(),
        }
    }

    /// Whether any consumer is still listening.
    pub(crate) fn wants_bytes(&self) -> bool {
        self.sinks.iter().any(|s| !s.gone)
    }

    /// Publishes `ev` to every consumer without waiting.
    pub(crate) fn emit(&mut self, ev: RelayEvent) {
        let n = self.sinks.len();
        for (i, s) in self.sinks.iter_mut().enumerate() {
            if i + 1 == n {
                s.emit(ev);
                return;
            }
            s.emit(ev.clone());
        }
    }

    fn take(&mut self) -> Vec<(mpsc::Sender<RelayEvent>, VecDeque<RelayEvent>)> {
        self.sinks
            .iter_mut()
            .filter(|s| !s.gone)
            .map(|s| (s.tx.clone(), std::mem::take(&mut s.pending)))
            .collect()
    }
}

/// Ends a connection's events with `last`: everything still pending is
/// sent, waiting for room (forwarding is over), at most [`FINISH_WAIT`] per
/// consumer.
pub(crate) async fn finish(port: &std::sync::Mutex<Port>, last: RelayEvent) {
    let queues = {
        let mut p = port.lock().unwrap_or_else(|p| p.into_inner());
        p.take()
    };
    for (tx, mut q) in queues {
        q.push_back(last.clone());
        let send_all = async {
            for ev in q {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(FINISH_WAIT, send_all).await;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use yamux::tracker::Side;

    use super::*;

    fn bytes(side: Side, n: usize) -> RelayEvent {
        RelayEvent::Bytes {
            conn: 1,
            side,
            at: Duration::ZERO,
            data: Bytes::from(vec![0u8; n]),
        }
    }

    #[test]
    fn full_channel_turns_bytes_into_one_gap_per_side_and_keeps_order() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut p = Port::new(vec![tx]);
        p.emit(bytes(Side::A, 1));
        p.emit(bytes(Side::B, 2));
        // full from here
        p.emit(bytes(Side::A, 10));
        p.emit(bytes(Side::A, 20));
        p.emit(bytes(Side::B, 5));
        p.emit(RelayEvent::HalfClosed {
            conn: 1,
            side: Side::B,
            at: Duration::ZERO,
        });
        p.emit(bytes(Side::A, 7));
        let mut got = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            got.push(ev);
        }
        assert_eq!(got.len(), 2);
        // room again: the next emit flushes the pending events first
        p.emit(bytes(Side::A, 3));
        while let Ok(ev) = rx.try_recv() {
            got.push(ev);
            p.emit(bytes(Side::B, 0)); // nudges the flush (B is closed: never happens in practice)
        }
        let summary: Vec<String> = got
            .iter()
            .map(|e| match e {
                RelayEvent::Bytes { side, data, .. } => format!("B{side:?}{}", data.len()),
                RelayEvent::Gap { side, len, .. } => format!("G{side:?}{len}"),
                RelayEvent::HalfClosed { side, .. } => format!("H{side:?}"),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(
            &summary[..5],
            &["BA1", "BB2", "GA37", "GB5", "HB"][..],
            "{summary:?}"
        );
    }

    #[test]
    fn dropped_receiver_stops_publishing() {
        let (tx, rx) = mpsc::channel(1);
        let mut p = Port::new(vec![tx]);
        assert!(p.wants_bytes());
        drop(rx);
        p.emit(bytes(Side::A, 1));
        assert!(!p.wants_bytes());
    }
}
