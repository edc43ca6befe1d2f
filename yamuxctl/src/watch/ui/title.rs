//! The title line: playback state, clock, finding counts, totals.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use yamux::tracker::Severity;

use super::{secs, DIM, HEAD};
use crate::watch::state::{Mode, State};
use crate::watch::view::View;

pub(super) fn title_line(state: &State, view: &View) -> Paragraph<'static> {
    let (e, w, i) = view
        .visible_findings(state)
        .fold((0, 0, 0), |(e, w, i), f| match f.finding.severity {
            Severity::Error => (e + 1, w, i),
            Severity::Warning => (e, w + 1, i),
            Severity::Info => (e, w, i + 1),
        });
    let now = state.rel(state.now);
    let (playing, clock) = match &state.mode {
        Mode::Replay {
            paused,
            speed,
            end,
            finished,
        } => {
            let st = if *finished {
                "end".to_string()
            } else if *paused {
                "paused".to_string()
            } else {
                format!("play ×{speed}")
            };
            (
                st,
                format!("{}/{} s", secs(now), secs(state.rel(*end).max(now))),
            )
        }
        Mode::Live { listen, upstream } => (
            "live".to_string(),
            format!("{listen} → {upstream}  {} s", secs(now)),
        ),
    };
    let st_style = match playing.as_str() {
        "paused" | "end" => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        _ => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
    };
    Paragraph::new(Line::from(vec![
        Span::styled(" watch ", HEAD.add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(format!("[{playing}]"), st_style),
        Span::raw(format!(" {clock}  ")),
        Span::styled(
            format!("E{e}"),
            if e > 0 {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                DIM
            },
        ),
        Span::raw(" "),
        Span::styled(
            format!("W{w}"),
            if w > 0 {
                Style::new().fg(Color::Yellow)
            } else {
                DIM
            },
        ),
        Span::raw(" "),
        Span::styled(format!("I{i}"), DIM),
        Span::raw(format!(
            "  frames {}  conns {}  {}",
            state.frames,
            state.conns.len(),
            state.title
        )),
    ]))
}
