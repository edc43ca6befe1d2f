//! Live mode: the relay's events go through the relay's `LiveDecoder` (a
//! `StreamConn` per connection: a `ByteDecoder` per direction and the
//! connection's one `Tracker`, reporting to an `Observer` exactly as the
//! capture analysis does) into the same [`Recorder`] and [`App::apply`] path
//! as replay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::action::Command;
use super::app::App;
use super::source::Recorder;
use super::state::Mode;
use super::term::{self, Source};
use crate::analysis::live::LiveDecoder;
use crate::analysis::Options;
use crate::clock::Clock;
use crate::relay::{Recording, Relay, RelayEvent, RelayOptions};
use crate::signals::StopSignals;

/// Longest time spent taking events before the screen gets a turn.
const BUDGET: Duration = Duration::from_millis(10);
/// How often the clock moves when nothing arrives (rates decay).
const IDLE_TICK: Duration = Duration::from_millis(250);

/// Events from a running relay.
pub struct Live {
    rx: mpsc::Receiver<RelayEvent>,
    dec: LiveDecoder,
    rec: Recorder,
    notes: Vec<u8>,
    clock: Clock,
    last_tick: Instant,
    /// Relay events taken.
    pub events: u64,
    /// Whether the relay's channel closed (the relay stopped).
    pub closed: bool,
    /// Set (by a signal) to end the UI.
    stop: Arc<AtomicBool>,
}

impl Live {
    /// A source reading `rx` of a relay with `clock`; `force` decodes every
    /// connection as yamux without detection.
    pub fn new(rx: mpsc::Receiver<RelayEvent>, clock: Clock, force: bool) -> Live {
        Live {
            rx,
            dec: LiveDecoder::new(clock, Options::default(), force),
            rec: Recorder::default(),
            notes: Vec::new(),
            clock,
            last_tick: Instant::now(),
            events: 0,
            closed: false,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that ends the UI when set (as the `q` key does).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Prepares `app`: times relative to the relay's start.
    pub fn attach(&self, app: &mut App) {
        app.state.start = Some(self.clock.wall(Duration::ZERO));
        app.advance_to(self.clock.wall(self.clock.now()));
    }

    /// Takes one relay event into `app`.
    pub fn take(&mut self, app: &mut App, ev: &RelayEvent) {
        self.events += 1;
        self.dec.event(ev, &mut self.rec, &mut self.notes);
        for e in self.rec.events.drain(..) {
            app.apply(&e);
        }
        if !self.notes.is_empty() {
            let text = String::from_utf8_lossy(&self.notes);
            if let Some(last) = text.lines().last() {
                app.view.status = last.trim_start_matches("yamuxctl: ").to_string();
            }
            self.notes.clear();
        }
    }
}

impl Source for Live {
    fn poll(&mut self, app: &mut App, _elapsed: Duration) {
        let start = Instant::now();
        let mut took = false;
        loop {
            match self.rx.try_recv() {
                Ok(ev) => {
                    self.take(app, &ev);
                    took = true;
                    if start.elapsed() >= BUDGET {
                        break;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if !self.closed {
                        self.closed = true;
                        app.view.status = "the relay stopped".into();
                        app.dirty = true;
                    }
                    break;
                }
            }
        }
        if took || self.last_tick.elapsed() >= IDLE_TICK {
            self.last_tick = Instant::now();
            app.advance_to(self.clock.wall(self.clock.now()));
        }
    }

    fn command(&mut self, app: &mut App, _cmd: Command) {
        app.view.status =
            "live: pause, speed and seek work on captures (yamuxctl watch FILE)".into();
    }

    fn running(&self) -> bool {
        true
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs the relay from `listen` to `upstream` (recording to `write`, if
/// given) and shows it live until the user quits or SIGINT, SIGTERM or
/// SIGHUP arrives; then the relay stops and the recording is finished.
pub fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    force: bool,
    write: Option<Recording>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut signals = {
        let _rt = rt.enter();
        StopSignals::new()?
    };
    let mut opts = RelayOptions::new(listen, upstream);
    opts.write = write;
    let (relay, rx) = rt.block_on(Relay::bind(opts))?;
    let local = relay.local_addr();
    let clock = relay.clock();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = rt.spawn(relay.run(async move {
        let _ = stop_rx.await;
    }));
    let mut app = App::new(
        format!("relay {local} → {upstream}"),
        Mode::Live {
            listen: local.to_string(),
            upstream: upstream.to_string(),
        },
    );
    let mut live = Live::new(rx, clock, force);
    live.attach(&mut app);
    let stop = live.stop_flag();
    rt.spawn(async move {
        let _ = signals.recv().await;
        stop.store(true, Ordering::Relaxed);
    });
    let res = term::run(&mut app, &mut live);
    let _ = stop_tx.send(());
    let stopped = rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), handle).await });
    rt.shutdown_timeout(Duration::from_secs(1));
    res?;
    match stopped {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(anyhow::anyhow!("relay task failed: {e}")),
        Err(_) => Ok(()),
    }
}
