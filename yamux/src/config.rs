//! Session configuration. Each default names the docs/spec.md rule it follows.

use std::time::Duration;

use crate::frame::{DEFAULT_MAX_BODY_LEN, INITIAL_WINDOW};

/// Default [`Config::max_session_receive_buffer`]: 64 MiB
/// (`limits.receive-budget`).
pub const DEFAULT_SESSION_RECEIVE_BUFFER: usize = 64 * 1024 * 1024;

/// When an inbound stream is acknowledged (`stream.ack-timing`,
/// `backlog.lazy-ack`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AckPolicy {
    /// As soon as the SYN arrives (if the stream is not refused).
    OnSyn,
    /// When the application accepts the stream (default).
    #[default]
    OnAccept,
    /// When the application first reads data from, writes to or closes
    /// the accepted stream.
    Lazy,
}

/// What a received Go Away with code 0 does (`goaway.recv`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoAwayMode {
    /// No new streams; open streams finish normally (default).
    #[default]
    Drain,
    /// End the session at once.
    Terminate,
}

/// Deliberate bugs, one per flag, used by the conformance suite to prove
/// that each bug is caught. Test-only: the `faults` feature is never on by
/// default.
#[cfg(feature = "faults")]
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Send data beyond the peer's credit.
    pub ignore_peer_window: bool,
    /// Open streams with the other role's parity.
    pub wrong_parity: bool,
    /// Never send ACK for inbound streams.
    pub never_ack: bool,
    /// Answer a ping with value + 1.
    pub ping_wrong_value: bool,
    /// The decoder reads `length` body bytes after a Window Update.
    pub wu_reads_body: bool,
    /// Discard the payload of a Data|SYN frame.
    pub drop_syn_payload: bool,
    /// On a protocol error close silently, without GA(1).
    pub no_goaway_on_error: bool,
    /// Send the ACK of an inbound stream twice.
    pub double_ack: bool,
    /// Deliver Data that arrives after the peer's FIN.
    pub accept_data_after_fin: bool,
    /// Add the Length of a received `WU|RST` to the send credit, as if it
    /// were an increment (`length.rst`).
    pub rst_length_as_credit: bool,
    /// Panic on a Window Update that would lift send credit above 2^32−1
    /// (`flow.overflow`) instead of ending the session with GA(1): a peer
    /// crashes the process.
    pub panic_on_window_overflow: bool,
    /// Queue every Ping answer, however many are waiting, and keep reading
    /// the transport while they pile up (`limits.replies`): a peer that
    /// pings and never reads grows memory without bound.
    pub unbounded_pong_queue: bool,
    /// Switch the session receive budget off (`limits.receive-budget`):
    /// unread data is held up to every stream's full window, so a peer
    /// opening many streams and filling them grows memory far past
    /// `max_session_receive_buffer`.
    pub ignore_receive_budget: bool,
}

/// Session configuration. Build with `Config::default()` and set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Per-stream receive window we grant (`flow.larger-window`); at least
    /// 256 KiB. The part above 256 KiB is announced with the SYN or ACK.
    /// Default 256 KiB.
    pub receive_window: u32,
    /// Cap for auto-tuning (`flow.credit`). Default 16 MiB.
    pub max_receive_window: u32,
    /// RTT-based window growth: when a whole window is consumed within
    /// about two round trips, the window doubles (up to
    /// `max_receive_window`). Default off, for deterministic tests.
    pub auto_tune: bool,
    /// When inbound streams are acknowledged. Default [`AckPolicy::OnAccept`].
    pub ack_policy: AckPolicy,
    /// Largest Data payload per frame we send (`flow.max-frame`).
    /// Default 64 KiB.
    pub split_size: u32,
    /// Un-ACKed outbound streams before `open` waits (`backlog.ack`).
    /// Default 256.
    pub max_ack_backlog: usize,
    /// Un-accepted inbound streams before SYNs are refused with RST
    /// (`backlog.inbound`). Default 256.
    pub accept_backlog: usize,
    /// Concurrent live streams (both directions). Default 8192.
    pub max_streams: usize,
    /// Keep-alive ping interval (`ping.keepalive`). Default off.
    pub keep_alive: Option<Duration>,
    /// How long a keep-alive ping may stay unanswered. Default 10 s.
    pub keep_alive_timeout: Duration,
    /// Connection write timeout: how long queued frames may wait for the
    /// transport to accept any byte. Default 10 s.
    pub write_timeout: Duration,
    /// ACK wait per outbound stream; expiry fails and resets that stream
    /// only. Default none.
    pub stream_open_timeout: Option<Duration>,
    /// What a received Go Away 0 does. Default [`GoAwayMode::Drain`].
    pub go_away_mode: GoAwayMode,
    /// Largest Data body the decoder accepts. Default
    /// [`DEFAULT_MAX_BODY_LEN`] (16 MiB).
    pub max_frame_body: u32,
    /// Session receive budget (`limits.receive-budget`): bytes received
    /// and not yet read, over all streams of the session, each chunk
    /// charged [`CHUNK_OVERHEAD`](crate::proto::CHUNK_OVERHEAD) bytes
    /// more. A Data frame that would take the total above it resets its
    /// stream (`WU|RST`, the stream's unread data dropped) instead of
    /// being buffered; while less than 256 KiB of it is free, new inbound
    /// streams are refused with `WU|RST`, and window growth beyond 256 KiB
    /// (a larger `receive_window`, auto-tuning) is granted only from what
    /// is free. At least 256 KiB. Default 64 MiB, sized for a server.
    pub max_session_receive_buffer: usize,
    /// Deliberate bugs (test-only).
    #[cfg(feature = "faults")]
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            receive_window: INITIAL_WINDOW,
            max_receive_window: 16 * 1024 * 1024,
            auto_tune: false,
            ack_policy: AckPolicy::OnAccept,
            split_size: 64 * 1024,
            max_ack_backlog: 256,
            accept_backlog: 256,
            max_streams: 8192,
            keep_alive: None,
            keep_alive_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            stream_open_timeout: None,
            go_away_mode: GoAwayMode::Drain,
            max_frame_body: DEFAULT_MAX_BODY_LEN,
            max_session_receive_buffer: DEFAULT_SESSION_RECEIVE_BUFFER,
            #[cfg(feature = "faults")]
            faults: Faults::default(),
        }
    }
}

impl Config {
    /// The configuration with out-of-range values brought into range:
    /// windows at least 256 KiB, the cap at least the window, split size
    /// at least 1, backlogs and stream limit at least 1, the session
    /// receive budget at least 256 KiB.
    pub fn normalized(mut self) -> Config {
        self.receive_window = self.receive_window.max(INITIAL_WINDOW);
        self.max_receive_window = self.max_receive_window.max(self.receive_window);
        self.split_size = self.split_size.max(1);
        self.max_ack_backlog = self.max_ack_backlog.max(1);
        self.accept_backlog = self.accept_backlog.max(1);
        self.max_streams = self.max_streams.max(1);
        self.max_session_receive_buffer =
            self.max_session_receive_buffer.max(INITIAL_WINDOW as usize);
        self
    }
}

/// True when the named fault is on (always false without the `faults`
/// feature).
macro_rules! fault {
    ($cfg:expr, $name:ident) => {{
        #[cfg(feature = "faults")]
        let on = $cfg.faults.$name;
        #[cfg(not(feature = "faults"))]
        let on = false;
        on
    }};
}
pub(crate) use fault;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_enforces_minimums() {
        let mut c = Config::default();
        c.receive_window = 10;
        c.max_receive_window = 0;
        c.split_size = 0;
        let c = c.normalized();
        assert_eq!(c.receive_window, INITIAL_WINDOW);
        assert_eq!(c.max_receive_window, INITIAL_WINDOW);
        assert_eq!(c.split_size, 1);
    }
}
