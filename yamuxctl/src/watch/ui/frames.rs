//! The frame log of the shown connection.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use yamux::frame::FrameType;

use super::secs;
use crate::print::text::{frame_fields, side_arrow};
use crate::watch::state::State;
use crate::watch::view::{Focus, Pane, View};

pub(super) fn frame_log(f: &mut Frame<'_>, state: &State, view: &View, area: Rect) {
    let focused = view.focus == Focus::Pane && view.pane == Pane::Frames;
    let mut title = " frames ".to_string();
    if view.log_scroll > 0 {
        title = format!(" frames (scrolled back {}) ", view.log_scroll);
    }
    if focused {
        title.push_str("• ");
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let Some(c) = view.current(state) else {
        f.render_widget(block, area);
        return;
    };
    let h = usize::from(block.inner(area).height);
    let end = c.log.len().saturating_sub(view.log_scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line<'_>> = c
        .log
        .range(start..end)
        .map(|e| {
            let text = format!(
                "{:>10}  {}  {}",
                secs(state.rel(e.at)),
                side_arrow(e.side),
                frame_fields(&e.header, &e.record, ("", ""))
            );
            let text = text.trim_end().to_string();
            let mut style = match e.header.typ {
                FrameType::Data => Style::new(),
                FrameType::WindowUpdate => Style::new().fg(Color::Cyan),
                FrameType::Ping => Style::new().fg(Color::Magenta),
                FrameType::GoAway => Style::new().fg(Color::Yellow),
            };
            if Some(e.header.stream_id.val()) == view.selected {
                style = style.add_modifier(Modifier::BOLD);
            }
            if e.record.findings > 0 {
                style = style.fg(Color::Red);
            }
            Line::styled(text, style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}
