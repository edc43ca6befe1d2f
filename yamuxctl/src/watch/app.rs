//! The state and the view together, as the loop drives them: source events
//! go into the [`State`] (and the view follows), actions into the [`View`]
//! (which reads the state), and `dirty` says whether to draw again.

use std::time::Duration;

use super::action::{Action, Command};
use super::state::{Event, Mode, State};
use super::view::{StreamRow, View};

/// What the UI shows.
#[derive(Clone, Debug)]
pub struct App {
    /// What the sources reported.
    pub state: State,
    /// How it is looked at.
    pub view: View,
    /// Something changed since the last draw.
    pub dirty: bool,
}

impl App {
    /// An empty state and the default view.
    pub fn new(title: impl Into<String>, mode: Mode) -> App {
        App {
            state: State::new(title, mode),
            view: View::default(),
            dirty: true,
        }
    }

    /// Takes one source event.
    pub fn apply(&mut self, ev: &Event) {
        self.state.apply(ev);
        self.view.follow(&self.state, ev);
        self.dirty = true;
    }

    /// Moves the clock forward (never back) to `at`.
    pub fn advance_to(&mut self, at: Duration) {
        if self.state.advance_to(at) {
            self.dirty = true;
        }
    }

    /// Forgets all data (before a backward seek), keeping the view.
    pub fn reset_data(&mut self) {
        self.state.reset_data();
        self.dirty = true;
    }

    /// Carries out a view action; returns what the source or the loop must
    /// do.
    pub fn handle(&mut self, a: Action) -> Option<Command> {
        self.dirty = true;
        self.view.handle(a, &self.state)
    }

    /// The shown connection's streams, filtered and sorted.
    pub fn rows(&self) -> Vec<StreamRow> {
        self.view.rows(&self.state)
    }
}

#[cfg(test)]
mod tests;
