//! What the user asks for: [`Action`] (what a key means) and [`Command`]
//! (the part of it a source or the loop carries out). Depends on nothing
//! else of `watch`: the keymap produces actions, the view takes them.

use std::time::Duration;

/// What the lower pane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// The selected stream: windows and throughput over time.
    Detail,
    /// The connection's frames.
    Frames,
    /// Findings, with toggles per kind.
    Findings,
}

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave (`q`, Ctrl-C).
    Quit,
    /// Show or hide the keys (`?`).
    ToggleHelp,
    /// Close the help (Esc).
    CloseOverlay,
    /// Selection or scroll up one line.
    Up,
    /// Down one line.
    Down,
    /// Up one page.
    PageUp,
    /// Down one page.
    PageDown,
    /// To the first line.
    Top,
    /// To the last line.
    Bottom,
    /// The next connection.
    NextConn,
    /// The previous connection.
    PrevConn,
    /// Sort by the next column.
    SortNext,
    /// Reverse the order.
    SortReverse,
    /// Start typing a filter.
    StartFilter,
    /// Start typing a time to seek to.
    StartSeek,
    /// A character typed into the prompt.
    PromptChar(char),
    /// Delete the last character.
    PromptBackspace,
    /// Enter.
    PromptSubmit,
    /// Esc.
    PromptCancel,
    /// Show this lower pane.
    ShowPane(Pane),
    /// Arrow keys go to the table or the lower pane.
    SwitchFocus,
    /// Switch the selected finding kind on or off.
    ToggleKind,
    /// Detail chart: the stream's active span or everything until now.
    ToggleZoom,
    /// Pause or resume playback.
    TogglePause,
    /// Twice as fast.
    Faster,
    /// Half as fast.
    Slower,
    /// One frame forward.
    Step,
    /// Seek by milliseconds.
    SeekBy(i64),
    /// Play to the next finding.
    NextFinding,
}

/// A user request that the source (playback) or the loop carries out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Leave.
    Quit,
    /// Pause or resume.
    TogglePause,
    /// Multiply the speed.
    Speed(f64),
    /// One frame forward, paused.
    Step,
    /// Seek by this many milliseconds.
    SeekBy(i64),
    /// Seek to this time since the start.
    SeekTo(Duration),
    /// Play until the next finding, then pause.
    NextFinding,
}
