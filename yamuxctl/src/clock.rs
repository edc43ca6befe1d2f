//! The clock of a live session (the relay, `inject`, `watch`): times since
//! its start, as a capture's are since its first packet, and the wall-clock
//! time of the start for absolute timestamps and pcapng.

use std::time::{Duration, Instant, SystemTime};

/// The clock of a live session: times since its start, and the wall-clock time of
/// the start (for absolute timestamps).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    /// Wall-clock time of the start, since the Unix epoch.
    pub epoch: Duration,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
            epoch: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Time since the epoch of `at` (a time since the start), in whole
    /// microseconds, the resolution of the pcapng files written.
    pub fn wall(&self, at: Duration) -> Duration {
        let t = self.epoch + at;
        Duration::new(t.as_secs(), t.subsec_micros() * 1000)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
