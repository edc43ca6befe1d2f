//! The terminal loop: raw mode and the alternate screen, restored on exit,
//! on error and after a panic; redraws at most ~30 times a second and only
//! when something changed.

use std::io::{self, Stdout};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use super::action::Command;
use super::app::App;
use super::input::{self, InputMode};
use super::ui;

/// Shortest time between two draws.
pub const FRAME: Duration = Duration::from_millis(33);

/// When set, `!` panics: lets the tmux test check that a panic restores
/// the terminal.
pub const TEST_PANIC_ENV: &str = "YAMUXCTL_WATCH_TEST_PANIC";

/// Puts the terminal back: cooked mode, main screen, cursor shown.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// The terminal in TUI mode; dropping it restores the terminal.
pub struct Guard {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    /// Enters raw mode and the alternate screen, and makes panics restore
    /// the terminal before printing.
    pub fn enter() -> io::Result<Guard> {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, crossterm::cursor::Hide) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(Guard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Where the events come from, as the loop sees it.
pub trait Source {
    /// Takes what arrived (or what the clock reached) into `app`.
    fn poll(&mut self, app: &mut App, elapsed: Duration);
    /// Carries out a playback command.
    fn command(&mut self, app: &mut App, cmd: Command);
    /// Whether time passes on its own (the screen changes without input).
    fn running(&self) -> bool;
    /// Whether events are waiting (then the loop does not sleep).
    fn busy(&self) -> bool {
        false
    }
    /// Whether the UI must end (a signal asked the process to stop); seen
    /// within one poll wait (at most 250 ms).
    fn stopped(&self) -> bool {
        false
    }
}

fn mode(app: &App) -> InputMode {
    if app.view.prompt.is_some() {
        InputMode::Prompt
    } else if app.view.help {
        InputMode::Help
    } else {
        InputMode::Normal
    }
}

/// Runs the UI until the user quits (or the source is stopped).
pub fn run<S: Source>(app: &mut App, source: &mut S) -> anyhow::Result<()> {
    let test_panic = std::env::var_os(TEST_PANIC_ENV).is_some();
    let mut guard = Guard::enter()?;
    let term = &mut guard.terminal;
    let mut last_tick = Instant::now();
    let mut last_draw: Option<Instant> = None;
    loop {
        if source.stopped() {
            break;
        }
        let now = Instant::now();
        source.poll(app, now - last_tick);
        last_tick = now;
        let due = last_draw.is_none_or(|t| t.elapsed() >= FRAME);
        if app.dirty && due {
            let size = term.size()?;
            app.view.page = ui::table_page(Rect::new(0, 0, size.width, size.height));
            term.draw(|f| ui::draw(f, &app.state, &app.view))?;
            app.dirty = false;
            last_draw = Some(Instant::now());
        }
        let wait = if source.busy() {
            Duration::ZERO
        } else if app.dirty || source.running() {
            FRAME.saturating_sub(last_draw.map_or(FRAME, |t| t.elapsed()))
        } else {
            Duration::from_millis(250)
        };
        if event::poll(wait)? {
            match event::read()? {
                TermEvent::Key(k) => {
                    if test_panic && k.code == crossterm::event::KeyCode::Char('!') {
                        panic!(
                            "test panic requested with {TEST_PANIC_ENV} (terminal restore check)"
                        );
                    }
                    if let Some(a) = input::action(mode(app), k) {
                        app.view.status.clear();
                        match app.handle(a) {
                            Some(Command::Quit) => break,
                            Some(cmd) => source.command(app, cmd),
                            None => {}
                        }
                        // answer keys at once
                        last_draw = None;
                    }
                }
                TermEvent::Resize(..) => {
                    app.dirty = true;
                    last_draw = None;
                }
                _ => {}
            }
        }
    }
    drop(guard);
    Ok(())
}
