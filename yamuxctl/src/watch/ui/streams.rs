//! The stream table.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;
use yamux::tracker::Bound;

use super::{age, phase_cell, size, usize_, DIM, HEAD, SEL};
use crate::watch::state::{Mode, State};
use crate::watch::view::{Focus, SortKey, StreamRow, View};

fn window_cell(bound: Option<Bound>, v: i64, w: usize) -> Cell<'static> {
    let Some(bound) = bound else {
        return Cell::from(format!("{:>w$}", "?")).style(DIM);
    };
    let style = if v <= 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if v < 16 * 1024 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    // a bound (≤, ≥) once frames of a side were lost from the capture
    Cell::from(format!("{:>w$}", format!("{}{}", bound.sign(), size(v)))).style(style)
}

/// A byte count, `≥` when frames of that direction may be missing.
fn bytes_cell(lossy: bool, v: u64, w: usize) -> Cell<'static> {
    let sign = if lossy { "≥" } else { "" };
    Cell::from(format!("{:>w$}", format!("{sign}{}", usize_(v))))
}

/// A column of the stream table.
struct Col {
    name: &'static str,
    width: u16,
    right: bool,
    key: Option<SortKey>,
}

/// The stream table's columns: compact below 112 columns.
fn columns(wide: bool) -> [Col; 10] {
    let c = |name, narrow: &'static str, width: (u16, u16), right, key| Col {
        name: if wide { name } else { narrow },
        width: if wide { width.1 } else { width.0 },
        right,
        key,
    };
    [
        c("id", "id", (6, 8), false, Some(SortKey::Id)),
        c("opener", "opener", (6, 7), false, None),
        c("state", "state", (7, 8), false, Some(SortKey::State)),
        c(
            "send win",
            "sndwin",
            (7, 10),
            true,
            Some(SortKey::SendWindow),
        ),
        c(
            "recv win",
            "rcvwin",
            (7, 10),
            true,
            Some(SortKey::RecvWindow),
        ),
        c("sent", "sent", (7, 10), true, Some(SortKey::Sent)),
        c("received", "recvd", (7, 10), true, Some(SortKey::Received)),
        c(
            "in flight",
            "flight",
            (7, 10),
            true,
            Some(SortKey::InFlight),
        ),
        c("rate", "rate", (8, 10), true, Some(SortKey::Rate)),
        c("last", "last", (6, 8), true, Some(SortKey::LastActivity)),
    ]
}

pub(super) fn table(f: &mut Frame<'_>, state: &State, view: &View, rows: &[StreamRow], area: Rect) {
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let off = view.scroll_offset(rows, height);
    let sel = view.selected_index(rows);
    let arrow = if view.descending { "↓" } else { "↑" };
    let wide = area.width >= 112;
    let cols = columns(wide);
    let header = Row::new(cols.iter().map(|c| {
        let sorted = c.key == Some(view.sort);
        let name = if sorted {
            format!("{}{arrow}", c.name)
        } else {
            c.name.to_string()
        };
        let text = if c.right {
            format!("{name:>w$}", w = usize::from(c.width))
        } else {
            name
        };
        let style = if sorted { HEAD.fg(Color::Yellow) } else { HEAD };
        Cell::from(text).style(style)
    }))
    .style(Style::new().add_modifier(Modifier::UNDERLINED));
    let now = state.now;
    let w = |i: usize| usize::from(cols.get(i).map_or(7, |c| c.width));
    let body = rows
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, r)| {
            let (ph, ph_style) = phase_cell(r.phase);
            let id = if r.findings > 0 {
                format!("{:>w$}!", r.id, w = w(0) - 1)
            } else {
                format!("{:>w$} ", r.id, w = w(0) - 1)
            };
            let id_style = if r.findings > 0 {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            };
            let cells = vec![
                Cell::from(id).style(id_style),
                Cell::from(r.opener),
                Cell::from(ph).style(ph_style),
                window_cell(r.bounds[0], r.send_window, w(3)),
                window_cell(r.bounds[1], r.recv_window, w(4)),
                bytes_cell(r.lossy[0], r.sent, w(5)),
                bytes_cell(r.lossy[1], r.received, w(6)),
                Cell::from(format!("{:>w$}", usize_(r.in_flight), w = w(7))),
                Cell::from(format!(
                    "{:>w$}",
                    format!("{}/s", size(r.rate as i64)),
                    w = w(8)
                )),
                Cell::from(format!("{:>w$}", age(now.saturating_sub(r.last)), w = w(9))),
            ];
            let row = Row::new(cells);
            if Some(i) == sel {
                row.style(SEL)
            } else {
                row
            }
        });
    let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.width)).collect();
    let mut title = format!(
        " streams {}{} ",
        if rows.is_empty() {
            "0".to_string()
        } else {
            format!(
                "{}-{} of {}",
                off + 1,
                (off + height).min(rows.len()),
                rows.len()
            )
        },
        if view.filter.is_empty() {
            String::new()
        } else {
            format!(" · filter \"{}\"", view.filter)
        }
    );
    if view.focus == Focus::Streams {
        title.push('•');
        title.push(' ');
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    if rows.is_empty() {
        let msg = if state.conns.is_empty() {
            match state.mode {
                Mode::Live { .. } => "waiting for a connection through the relay…",
                Mode::Replay { finished: true, .. } => "no yamux connection in this capture",
                Mode::Replay { .. } => "nothing played yet (p plays, . steps one frame)",
            }
        } else if view.filter.is_empty() {
            "no stream on this connection yet"
        } else {
            "no stream matches the filter (/ to change, Esc in the prompt clears)"
        };
        f.render_widget(
            Paragraph::new(Line::styled(format!(" {msg}"), DIM)).block(block),
            area,
        );
        return;
    }
    let t = Table::new(body, widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    f.render_widget(t, area);
}
