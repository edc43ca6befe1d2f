//! The connection line: addresses, roles, end, streams, bytes missed.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use yamux::tracker::Side;

use super::{secs, DIM, HEAD};
use crate::watch::state::State;
use crate::watch::view::View;

pub(super) fn conn_line(state: &State, view: &View) -> Paragraph<'static> {
    let Some(c) = view.current(state) else {
        return Paragraph::new(Line::styled(" no connection yet", DIM));
    };
    let ended = match &c.closed {
        Some((at, why)) => format!("ended at {} s ({why})", secs(state.rel(*at))),
        None => "open".to_string(),
    };
    let roles = if c.client.is_some() {
        format!("{} → {}", c.role(Side::A), c.role(Side::B))
    } else {
        "start not seen".to_string()
    };
    let mut spans = vec![
        Span::styled(format!(" conn {}", c.id), HEAD),
        Span::raw(format!(
            ": {} → {} ({roles}) {ended}, {} streams",
            c.a,
            c.b,
            c.streams.len()
        )),
    ];
    if c.gap_bytes > 0 {
        spans.push(Span::styled(
            format!(", {} bytes missed", c.gap_bytes),
            Style::new().fg(Color::Yellow),
        ));
    }
    if state.conns.len() > 1 {
        spans.push(Span::styled(
            format!("  [{} of {}, c/C]", view.conn_sel + 1, state.conns.len()),
            DIM,
        ));
    }
    Paragraph::new(Line::from(spans))
}
