//! The tracker bridge: every frame the scripted peer sends and every frame
//! the IUT sends goes through one [`yamux::tracker::Tracker`] — the same
//! judge `yamuxctl decode`, the relay and watch use — so a conformance
//! verdict and a decode of the same bytes name the same rule.
//!
//! The peer is one side of the tracker, the IUT the other. Findings against
//! the peer's frames are its deliberate violations and are dropped; findings
//! against the IUT's frames become the case's "throughout" failures at the
//! level of the rule they break (MUST or SHOULD; rules of level MAY or INFO
//! and plain records such as a Go Away are not failures). The protocol state
//! the steps need (credit both ways, who sent FIN or RST) is read from the
//! tracker too; the peer keeps only scenario state.

use std::time::Duration;

use tokio::time::Instant;
use yamux::frame::{Header, INITIAL_WINDOW};
use yamux::rules::Level as RuleLevel;
use yamux::tracker::{Finding, FindingKind, Side, StreamStats, Tracker};
use yamux::Rule;

use crate::vector::{Level, Role};

/// A finding against the IUT that fails the case.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The level of the rule broken.
    pub level: Level,
    /// The rule.
    pub rule: Rule,
    /// What a conforming IUT does.
    pub expected: &'static str,
    /// What this one did (the tracker's sentence).
    pub actual: String,
}

/// One tracker for one case's connection.
pub struct Judge {
    tracker: Tracker,
    peer: Side,
    start: Instant,
}

impl Judge {
    /// The judge of a case where the IUT plays `role`. The TCP initiator is
    /// side A and the client: it opens odd stream ids (`ids.parity`).
    pub fn new(role: Role, start: Instant) -> Judge {
        let peer = match role {
            Role::Server => Side::A,
            Role::Client => Side::B,
        };
        Judge {
            tracker: Tracker::new(Some(Side::A), false),
            peer,
            start,
        }
    }

    fn iut(&self) -> Side {
        self.peer.other()
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// A frame the peer sent (or is about to send): the ledger follows it;
    /// what it breaks is the point of the case, not a verdict.
    pub fn sent(&mut self, h: &Header) {
        let now = self.now();
        self.tracker.on_frame(self.peer, now, h);
        self.tracker.take_findings();
    }

    /// A frame the IUT sent: the verdicts against it.
    pub fn received(&mut self, h: &Header) -> Vec<Verdict> {
        let now = self.now();
        self.tracker.on_frame(self.iut(), now, h);
        let iut = self.iut();
        self.tracker
            .take_findings()
            .into_iter()
            .filter(|f| f.side == Some(iut))
            .filter_map(verdict)
            .collect()
    }

    fn stream(&self, id: u32) -> Option<&StreamStats> {
        self.tracker.stream(id)
    }

    fn credit(&self, id: u32, sender: Side) -> i64 {
        // 262,144 plus what the other side granted, minus what the sender
        // sent: the ledger, also for a stream whose SYN was never seen.
        let initial = i64::from(INITIAL_WINDOW);
        self.stream(id).map_or(initial, |st| {
            initial + st.granted[sender.other().idx()] as i64 - st.bytes[sender.idx()] as i64
        })
    }

    /// What the peer may still send on `id`.
    pub fn peer_credit(&self, id: u32) -> i64 {
        self.credit(id, self.peer)
    }

    /// What the IUT may still send on `id`.
    #[cfg(test)]
    pub fn iut_credit(&self, id: u32) -> i64 {
        self.credit(id, self.iut())
    }

    /// Whether the peer sent FIN on `id`.
    pub fn peer_fin(&self, id: u32) -> bool {
        self.stream(id).is_some_and(|st| st.fin_sent(self.peer))
    }

    /// Data payload bytes the peer sent on `id`.
    pub fn peer_bytes(&self, id: u32) -> u64 {
        self.stream(id).map_or(0, |st| st.bytes[self.peer.idx()])
    }

    /// Whether the IUT sent FIN on `id`.
    pub fn iut_fin(&self, id: u32) -> bool {
        self.stream(id).is_some_and(|st| st.fin_sent(self.iut()))
    }

    /// Whether the IUT sent a frame with RST on `id`.
    pub fn iut_rst(&self, id: u32) -> bool {
        self.stream(id).is_some_and(|st| st.rst_sent(self.iut()))
    }
}

/// The verdict a finding against the IUT gives, if any.
fn verdict(f: Finding) -> Option<Verdict> {
    let level = match f.rule.level() {
        RuleLevel::Must => Level::Must,
        RuleLevel::Should => Level::Should,
        RuleLevel::May | RuleLevel::Info => return None,
    };
    let expected = expected(f.kind)?;
    Some(Verdict {
        level,
        rule: f.rule,
        expected,
        actual: f.message,
    })
}

/// What a conforming IUT does instead; `None` for findings that record
/// rather than judge (a Go Away, the end of a capture), or that the peer's
/// point of view cannot make certain.
fn expected(kind: FindingKind) -> Option<&'static str> {
    use FindingKind::*;
    Some(match kind {
        DataBeyondWindow => "Data within the credit the peer granted",
        CreditOverflow => "credit granted up to 2^32-1",
        DuplicateSyn => "no SYN on a live stream",
        IdReuse => "a fresh id for every new stream",
        WrongParity => "streams the IUT opens have ids of its own parity",
        IdZeroMisuse => "id 0 for session frames only",
        SecondAck => "one ACK per stream, from its acceptor",
        DataAfterFin => "no Data payload after the IUT's own FIN",
        FrameAfterRst => "no frame after the IUT's own RST",
        UnknownStream => "frames only on streams that were opened",
        UnmatchedPong => "Ping answers only to requests",
        OddPingFlags => "a Ping carries SYN or ACK",
        UnknownFlags => "only the defined flag bits",
        // Seen from the peer, an IUT's SYN after the peer's Go Away may have
        // crossed it on the wire (goaway.after allows for SYNs in flight):
        // the goaway cases judge it in their steps, with time allowed.
        FramesAfterGoAway => return None,
        GoAway | Undecodable | UnansweredPing | StreamOpenAtEnd | RetransmissionMismatch => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yamux::frame::{Flags, FrameType, StreamId};

    fn h(typ: FrameType, flags: Flags, id: u32, length: u32) -> Header {
        Header::new(typ, flags, StreamId::new(id), length)
    }

    #[test]
    fn the_peers_violations_are_not_verdicts_the_iuts_are() {
        let mut j = Judge::new(Role::Server, Instant::now());
        // The peer (client) opens stream 2: the server's parity.
        j.sent(&h(FrameType::WindowUpdate, Flags::SYN, 2, 0));
        assert_eq!(
            j.received(&h(FrameType::WindowUpdate, Flags::ACK, 2, 0)),
            []
        );
        // The IUT (server) opens stream 3: the client's parity.
        let v = j.received(&h(FrameType::WindowUpdate, Flags::SYN, 3, 0));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].rule, v[0].level), (Rule::IdsParity, Level::Must));
    }

    #[test]
    fn credit_follows_both_directions_and_an_overrun_cites_flow_credit() {
        let mut j = Judge::new(Role::Client, Instant::now());
        let w = i64::from(INITIAL_WINDOW);
        // The IUT (client) opens 1 and sends 1,000 bytes; the peer grants 10.
        assert_eq!(j.received(&h(FrameType::Data, Flags::SYN, 1, 1000)), []);
        j.sent(&h(FrameType::WindowUpdate, Flags::ACK, 1, 10));
        assert_eq!(j.iut_credit(1), w - 1000 + 10);
        assert_eq!(j.peer_credit(1), w);
        // A WU|RST's Length is an error code, never credit (length.rst).
        j.sent(&h(FrameType::WindowUpdate, Flags::RST, 1, 5));
        assert_eq!(j.iut_credit(1), w - 1000 + 10);
        let v = j.received(&h(FrameType::Data, Flags::NONE, 1, INITIAL_WINDOW));
        assert!(v.iter().any(|v| v.rule == Rule::FlowCredit), "{v:?}");
    }

    #[test]
    fn data_after_the_iuts_fin_cites_stream_half_close() {
        let mut j = Judge::new(Role::Server, Instant::now());
        j.sent(&h(FrameType::Data, Flags::SYN, 1, 3));
        assert_eq!(
            j.received(&h(FrameType::WindowUpdate, Flags::ACK | Flags::FIN, 1, 0)),
            []
        );
        assert!(j.iut_fin(1) && !j.iut_rst(1));
        let v = j.received(&h(FrameType::Data, Flags::NONE, 1, 4));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].rule, v[0].level),
            (Rule::StreamHalfClose, Level::Must)
        );
    }

    #[test]
    fn records_and_info_rules_are_no_verdicts() {
        let mut j = Judge::new(Role::Server, Instant::now());
        // An answer nobody asked for is ping.unsolicited: INFO.
        assert_eq!(j.received(&h(FrameType::Ping, Flags::ACK, 0, 9)), []);
        // A Go Away with an error code is a record, not a violation.
        assert_eq!(j.received(&h(FrameType::GoAway, Flags::NONE, 0, 1)), []);
    }
}
