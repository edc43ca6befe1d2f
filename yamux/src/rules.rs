//! The rules of docs/spec.md as one typed list: every rule id the tracker,
//! the protocol errors, the conformance vectors and the reports name is a
//! [`Rule`], so a misspelt id does not compile and a vector citing an
//! unknown one does not load. `tests/rules.rs` checks that this list and the
//! headings of docs/spec.md are the same, ids and levels, both ways.

use std::fmt;
use std::str::FromStr;

/// The level of a rule's main statement (docs/spec.md, "Levels").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Required: a miss is a failure.
    Must,
    /// Recommended: a miss is non-strict.
    Should,
    /// Optional, but done as described when done.
    May,
    /// The spec is silent: behaviour is recorded.
    Info,
}

impl Level {
    /// `MUST`, `SHOULD`, `MAY` or `INFO`, as docs/spec.md writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::Info => "INFO",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident = ($id:literal, $level:ident),)*) => {
        /// A rule of docs/spec.md (its `### id — title` heading).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[$doc])* #[doc = $id] $name,)*
        }

        impl Rule {
            /// Every rule, in the order of docs/spec.md.
            pub const ALL: &'static [Rule] = &[$(Rule::$name,)*];

            /// The id, e.g. `flow.credit`.
            pub const fn id(self) -> &'static str {
                match self {
                    $(Rule::$name => $id,)*
                }
            }

            /// The level of the rule's main statement.
            pub const fn level(self) -> Level {
                match self {
                    $(Rule::$name => Level::$level,)*
                }
            }
        }
    };
}

rules! {
    TransportReliable = ("transport.reliable", Must),
    TransportNoHandshake = ("transport.no-handshake", Must),
    TransportMultistream = ("transport.multistream", Must),
    TransportEof = ("transport.eof", Must),
    FramingHeader = ("framing.header", Must),
    FramingByteOrder = ("framing.byte-order", Must),
    FramingBody = ("framing.body", Must),
    FramingBoundaries = ("framing.boundaries", Must),
    FramingVersion = ("framing.version", Must),
    FramingType = ("framing.type", Must),
    FlagsBitset = ("flags.bitset", Must),
    FlagsSyn = ("flags.syn", Must),
    FlagsAck = ("flags.ack", Must),
    FlagsFin = ("flags.fin", Must),
    FlagsRst = ("flags.rst", Must),
    FlagsUnknown = ("flags.unknown", Should),
    IdsSession = ("ids.session", Must),
    IdsParity = ("ids.parity", Must),
    IdsControl = ("ids.control", Should),
    IdsReuse = ("ids.reuse", Should),
    IdsExhaustion = ("ids.exhaustion", Should),
    LengthData = ("length.data", Must),
    LengthWindowUpdate = ("length.window-update", Must),
    LengthPing = ("length.ping", Must),
    LengthGoAway = ("length.go-away", Must),
    LengthRst = ("length.rst", Should),
    LengthRstCode = ("length.rst-code", May),
    StreamOpen = ("stream.open", Must),
    StreamAccept = ("stream.accept", Must),
    StreamAckTiming = ("stream.ack-timing", Info),
    StreamAckOnce = ("stream.ack-once", Should),
    StreamEarlyData = ("stream.early-data", Must),
    StreamHalfClose = ("stream.half-close", Must),
    StreamReset = ("stream.reset", Must),
    StreamDuplicateSyn = ("stream.duplicate-syn", Should),
    StreamUnknown = ("stream.unknown", Should),
    StreamAfterFin = ("stream.after-fin", Must),
    StreamAfterClose = ("stream.after-close", Should),
    FlowInitialWindow = ("flow.initial-window", Must),
    FlowDataOnly = ("flow.data-only", Must),
    FlowCredit = ("flow.credit", Must),
    FlowWindowUpdate = ("flow.window-update", Should),
    FlowLargerWindow = ("flow.larger-window", Must),
    FlowOverrun = ("flow.overrun", Should),
    FlowOverflow = ("flow.overflow", Should),
    FlowMaxFrame = ("flow.max-frame", Must),
    PingEcho = ("ping.echo", Must),
    PingKeepalive = ("ping.keepalive", May),
    PingUnsolicited = ("ping.unsolicited", Info),
    GoawayCodes = ("goaway.codes", Must),
    GoawaySend = ("goaway.send", Should),
    GoawayRecv = ("goaway.recv", Should),
    GoawayAfter = ("goaway.after", Should),
    BacklogAck = ("backlog.ack", Should),
    BacklogInbound = ("backlog.inbound", Should),
    BacklogLazyAck = ("backlog.lazy-ack", May),
    ResilienceSurvive = ("resilience.survive", Must),
    ResilienceResponsive = ("resilience.responsive", Must),
    ResilienceMemory = ("resilience.memory", Should),
    LimitsReceiveBudget = ("limits.receive-budget", Should),
    LimitsReplies = ("limits.replies", Should),
    ErrorsProtocol = ("errors.protocol", Should),
}

impl Rule {
    /// The rule with this id, if there is one.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// The ids of `rules` joined by `sep` (`flow.credit, flow.overrun`).
    pub fn join(rules: &[Rule], sep: &str) -> String {
        rules.iter().map(|r| r.id()).collect::<Vec<_>>().join(sep)
    }

    /// The family: the part of the id before the dot (`flow`).
    pub fn family(self) -> &'static str {
        self.id().split_once('.').map_or(self.id(), |(f, _)| f)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// An id that is not a rule of docs/spec.md.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rule id of docs/spec.md")]
pub struct UnknownRule(pub String);

impl FromStr for Rule {
    type Err = UnknownRule;
    fn from_str(s: &str) -> Result<Rule, UnknownRule> {
        Rule::from_id(s).ok_or_else(|| UnknownRule(s.to_string()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let s = String::deserialize(d)?;
        Rule::from_id(&s).ok_or_else(|| serde::de::Error::custom(UnknownRule(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for &r in Rule::ALL {
            assert!(seen.insert(r.id()), "{r} twice");
            assert_eq!(r.id().parse::<Rule>(), Ok(r));
        }
        assert!("flow.nope".parse::<Rule>().is_err());
        assert_eq!(Rule::FlowCredit.family(), "flow");
        assert_eq!(Rule::FlowCredit.level(), Level::Must);
    }
}
