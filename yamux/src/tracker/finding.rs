//! Named protocol findings, each tied to a rule ID of docs/spec.md.

use std::fmt;

use super::Side;
use crate::rules::Rule;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing, not a violation (a normal Go Away, for example).
    Info,
    /// Suspicious or a SHOULD broken.
    Warning,
    /// A MUST broken, or bytes that cannot be yamux.
    Error,
}

impl Severity {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What was found. [`FindingKind::name`] is a stable kebab-case id used in
/// tool output; [`FindingKind::rule`] the docs/spec.md rule it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A Data frame larger than the sender's remaining credit.
    DataBeyondWindow,
    /// Credit granted beyond 2^32−1.
    CreditOverflow,
    /// A SYN on a stream id that is live.
    DuplicateSyn,
    /// A SYN on a stream id that was used before and is closed.
    IdReuse,
    /// A stream opened with the other side's parity.
    WrongParity,
    /// A stream frame on id 0, or a session frame on a non-zero id.
    IdZeroMisuse,
    /// A second ACK, or an ACK by the side that opened the stream.
    SecondAck,
    /// Data payload after the sender's own FIN.
    DataAfterFin,
    /// A frame from the side that reset the stream, after its RST.
    FrameAfterRst,
    /// A frame (no SYN) on a stream id never opened.
    UnknownStream,
    /// A Ping request with no answer by the end of the capture.
    UnansweredPing,
    /// A Ping answer matching no request.
    UnmatchedPong,
    /// A Ping with neither or both of SYN and ACK.
    OddPingFlags,
    /// A Go Away (its code in the message).
    GoAway,
    /// A stream opened after a Go Away.
    FramesAfterGoAway,
    /// Flag bits outside SYN, ACK, FIN, RST.
    UnknownFlags,
    /// Bytes that are not yamux frames.
    Undecodable,
    /// A stream whose side never finished while it still had credit when the
    /// capture ended (a stall, or a capture that stopped early).
    StreamOpenAtEnd,
    /// A transport retransmission whose bytes differ from the first copy.
    RetransmissionMismatch,
}

impl FindingKind {
    /// Stable kebab-case id.
    pub const fn name(self) -> &'static str {
        use FindingKind::*;
        match self {
            DataBeyondWindow => "data-beyond-window",
            CreditOverflow => "credit-overflow",
            DuplicateSyn => "duplicate-syn",
            IdReuse => "id-reuse",
            WrongParity => "wrong-parity",
            IdZeroMisuse => "id-zero-misuse",
            SecondAck => "second-ack",
            DataAfterFin => "data-after-fin",
            FrameAfterRst => "frame-after-rst",
            UnknownStream => "unknown-stream",
            UnansweredPing => "unanswered-ping",
            UnmatchedPong => "unmatched-pong",
            OddPingFlags => "odd-ping-flags",
            GoAway => "go-away",
            FramesAfterGoAway => "stream-after-go-away",
            UnknownFlags => "unknown-flags",
            Undecodable => "undecodable",
            StreamOpenAtEnd => "stream-open-at-end",
            RetransmissionMismatch => "retransmission-mismatch",
        }
    }

    /// The docs/spec.md rule it breaks.
    pub const fn rule(self) -> Rule {
        use FindingKind::*;
        match self {
            DataBeyondWindow => Rule::FlowCredit,
            CreditOverflow => Rule::FlowOverflow,
            DuplicateSyn => Rule::StreamDuplicateSyn,
            IdReuse => Rule::IdsReuse,
            WrongParity => Rule::IdsParity,
            IdZeroMisuse => Rule::IdsControl,
            SecondAck => Rule::StreamAckOnce,
            DataAfterFin => Rule::StreamHalfClose,
            FrameAfterRst => Rule::StreamReset,
            UnknownStream => Rule::StreamUnknown,
            UnansweredPing => Rule::PingEcho,
            UnmatchedPong => Rule::PingUnsolicited,
            OddPingFlags => Rule::PingUnsolicited,
            GoAway => Rule::GoawayCodes,
            FramesAfterGoAway => Rule::GoawayAfter,
            UnknownFlags => Rule::FlagsUnknown,
            Undecodable => Rule::FramingHeader,
            StreamOpenAtEnd => Rule::FlowCredit,
            RetransmissionMismatch => Rule::TransportReliable,
        }
    }

    /// Whether it is made at the end of a connection, by `Tracker::finish`,
    /// from what the connection left open (pings without an answer, streams
    /// with credit left). No frame and no outside report makes these kinds.
    pub const fn at_end(self) -> bool {
        matches!(
            self,
            FindingKind::UnansweredPing | FindingKind::StreamOpenAtEnd
        )
    }

    /// Default severity.
    pub const fn severity(self) -> Severity {
        use FindingKind::*;
        match self {
            DataBeyondWindow
            | CreditOverflow
            | DuplicateSyn
            | WrongParity
            | IdZeroMisuse
            | DataAfterFin
            | FrameAfterRst
            | Undecodable
            | RetransmissionMismatch => Severity::Error,
            IdReuse | SecondAck | UnansweredPing | UnmatchedPong | OddPingFlags
            | FramesAfterGoAway | UnknownFlags | StreamOpenAtEnd | UnknownStream => {
                Severity::Warning
            }
            GoAway => Severity::Info,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// The docs/spec.md rule (`kind.rule()`, or a more precise one).
    pub rule: Rule,
    /// How bad.
    pub severity: Severity,
    /// The side whose frame (or bytes) caused it, when there is one.
    pub side: Option<Side>,
    /// The stream concerned, when there is one.
    pub stream: Option<u32>,
    /// One human sentence with the numbers.
    pub message: String,
}

impl Finding {
    /// A finding with the kind's rule and severity.
    pub fn new(
        kind: FindingKind,
        side: Option<Side>,
        stream: Option<u32>,
        message: String,
    ) -> Finding {
        Finding {
            kind,
            rule: kind.rule(),
            severity: kind.severity(),
            side,
            stream,
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.severity.name(),
            self.kind,
            self.rule,
            self.message
        )
    }
}
