//! The footer: the prompt being typed, a message, or the main keys.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{DIM, HEAD};
use crate::watch::state::{Mode, State};
use crate::watch::view::{Prompt, View};

pub(super) fn footer(state: &State, view: &View) -> Paragraph<'static> {
    if let Some(p) = view.prompt {
        let label = match p {
            Prompt::Filter => "filter: ",
            Prompt::Seek => "seek to (seconds): ",
        };
        return Paragraph::new(Line::from(vec![
            Span::styled(format!(" {label}"), HEAD),
            Span::raw(format!("{}▏", view.input)),
            Span::styled("  Enter apply · Esc cancel", DIM),
        ]));
    }
    if !view.status.is_empty() {
        return Paragraph::new(Line::styled(
            format!(" {}", view.status),
            Style::new().fg(Color::Yellow),
        ));
    }
    let keys: &[(&str, &str)] = match state.mode {
        Mode::Replay { .. } => &[
            ("?", "help"),
            ("q", "quit"),
            ("p", "pause"),
            (".", "step"),
            ("n", "finding"),
            ("/", "filter"),
            ("s", "sort"),
            ("d/l/w", "panes"),
            ("c", "conn"),
        ],
        Mode::Live { .. } => &[
            ("?", "help"),
            ("q", "quit"),
            ("/", "filter"),
            ("s", "sort"),
            ("d/l/w", "panes"),
            ("c", "conn"),
        ],
    };
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k}"), HEAD.fg(Color::Yellow)));
        spans.push(Span::raw(format!(" {what}")));
    }
    Paragraph::new(Line::from(spans))
}
