//! The keymap: key → [`Action`], one way. Pure: no terminal, no state but
//! the input mode; it knows nothing of the state or the view.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, Pane};

/// How keys are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// Commands.
    Normal,
    /// Typing a line (filter or seek time).
    Prompt,
    /// The help overlay is open: any key closes it, `q` still quits.
    Help,
}

/// The keys, for the help overlay: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit (the terminal is restored)"),
    ("?", "this help (any key closes it)"),
    ("↑ ↓ j k", "select a stream / scroll the focused pane"),
    ("PgUp PgDn g G", "page up, page down, first, last"),
    ("c C", "next / previous connection"),
    ("s S", "sort by the next column / reverse the order"),
    ("/", "filter streams: id, opener, state, ! = with findings"),
    (
        "d l w",
        "lower pane: detail, frame log, findings (warnings)",
    ),
    ("Tab", "arrow keys to the table or to the lower pane"),
    (
        "Space x",
        "(findings pane focused) switch a finding kind off/on",
    ),
    ("p", "pause / resume playback"),
    ("+ -", "play twice as fast / half as fast"),
    (".", "step one frame (pauses)"),
    ("← →", "seek 1 s back / forward"),
    (":", "seek to a time (seconds since the start) and pause"),
    ("n", "play to the next finding and pause"),
];

/// The action for `key` in `mode`, if any.
pub fn action(mode: InputMode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    match mode {
        InputMode::Prompt => match key.code {
            KeyCode::Enter => Some(Action::PromptSubmit),
            KeyCode::Esc => Some(Action::PromptCancel),
            KeyCode::Backspace => Some(Action::PromptBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::PromptChar(c)),
            _ => None,
        },
        InputMode::Help => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            _ => Some(Action::CloseOverlay),
        },
        InputMode::Normal => {
            let a = match key.code {
                KeyCode::Char('q') => Action::Quit,
                KeyCode::Char('?') => Action::ToggleHelp,
                KeyCode::Esc => Action::CloseOverlay,
                KeyCode::Up | KeyCode::Char('k') => Action::Up,
                KeyCode::Down | KeyCode::Char('j') => Action::Down,
                KeyCode::PageUp => Action::PageUp,
                KeyCode::PageDown => Action::PageDown,
                KeyCode::Home | KeyCode::Char('g') => Action::Top,
                KeyCode::End | KeyCode::Char('G') => Action::Bottom,
                KeyCode::Char('c') => Action::NextConn,
                KeyCode::Char('C') => Action::PrevConn,
                KeyCode::Char('s') => Action::SortNext,
                KeyCode::Char('S') => Action::SortReverse,
                KeyCode::Char('/') => Action::StartFilter,
                KeyCode::Char(':') => Action::StartSeek,
                KeyCode::Char('d') => Action::ShowPane(Pane::Detail),
                KeyCode::Char('l') => Action::ShowPane(Pane::Frames),
                KeyCode::Char('w') => Action::ShowPane(Pane::Findings),
                KeyCode::Tab | KeyCode::BackTab => Action::SwitchFocus,
                KeyCode::Char(' ') | KeyCode::Char('x') => Action::ToggleKind,
                KeyCode::Char('z') => Action::ToggleZoom,
                KeyCode::Char('p') => Action::TogglePause,
                KeyCode::Char('+') | KeyCode::Char('=') => Action::Faster,
                KeyCode::Char('-') => Action::Slower,
                KeyCode::Char('.') => Action::Step,
                KeyCode::Left => Action::SeekBy(-1000),
                KeyCode::Right => Action::SeekBy(1000),
                KeyCode::Char('n') => Action::NextFinding,
                _ => return None,
            };
            Some(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn quit_from_every_mode() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for m in [InputMode::Normal, InputMode::Prompt, InputMode::Help] {
            assert_eq!(action(m, ctrl_c), Some(Action::Quit), "{m:?}");
        }
        assert_eq!(
            action(InputMode::Normal, k(KeyCode::Char('q'))),
            Some(Action::Quit)
        );
        assert_eq!(
            action(InputMode::Help, k(KeyCode::Char('q'))),
            Some(Action::Quit)
        );
        // in a prompt, q is text
        assert_eq!(
            action(InputMode::Prompt, k(KeyCode::Char('q'))),
            Some(Action::PromptChar('q'))
        );
    }

    #[test]
    fn normal_keys() {
        let n = |c| action(InputMode::Normal, k(c));
        assert_eq!(n(KeyCode::Char('?')), Some(Action::ToggleHelp));
        assert_eq!(n(KeyCode::Down), Some(Action::Down));
        assert_eq!(n(KeyCode::Char('j')), Some(Action::Down));
        assert_eq!(
            n(KeyCode::Char('w')),
            Some(Action::ShowPane(Pane::Findings))
        );
        assert_eq!(n(KeyCode::Left), Some(Action::SeekBy(-1000)));
        assert_eq!(n(KeyCode::Char('.')), Some(Action::Step));
        assert_eq!(n(KeyCode::Char('n')), Some(Action::NextFinding));
        assert_eq!(n(KeyCode::Char('Z')), None);
    }

    #[test]
    fn help_closes_on_any_key_and_releases_are_ignored() {
        assert_eq!(
            action(InputMode::Help, k(KeyCode::Char('j'))),
            Some(Action::CloseOverlay)
        );
        let mut rel = k(KeyCode::Char('q'));
        rel.kind = KeyEventKind::Release;
        assert_eq!(action(InputMode::Normal, rel), None);
    }

    #[test]
    fn every_documented_key_does_something() {
        // spot check that the help table and the mapping agree on the
        // single-character keys
        for (keys, _) in KEYS {
            for key in keys.split([' ', ',']) {
                let mut chars = key.chars();
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    if c.is_ascii_graphic() {
                        assert!(
                            action(InputMode::Normal, k(KeyCode::Char(c))).is_some(),
                            "key {c:?} in the help does nothing"
                        );
                    }
                }
            }
        }
    }
}
