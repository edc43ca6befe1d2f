//! Rendering only: `(&State, &View)` into a ratatui frame, one file per
//! pane. Nothing here changes the state or the view.

mod connection;
mod detail;
mod findings;
mod footer;
mod frames;
mod help;
mod streams;
mod title;

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::Frame;
use yamux::tracker::StreamPhase;

use super::state::State;
use super::view::{Pane, View};
use crate::print::text::side_arrow;

/// The areas of the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// Title and playback line.
    pub title: Rect,
    /// The connection line.
    pub conn: Rect,
    /// The stream table, with its border.
    pub table: Rect,
    /// The lower pane(s).
    pub lower: Rect,
    /// Keys or the prompt.
    pub footer: Rect,
}

/// Splits the screen.
pub fn areas(area: Rect) -> Areas {
    let [title, conn, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let [table, lower] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    Areas {
        title,
        conn,
        table,
        lower,
        footer,
    }
}

/// How many table rows fit on a screen of `area` (for paging).
pub fn table_page(area: Rect) -> usize {
    // borders and the header line
    usize::from(areas(area).table.height.saturating_sub(3)).max(1)
}

pub(super) const HEAD: Style = Style::new().add_modifier(Modifier::BOLD);
pub(super) const DIM: Style = Style::new().fg(Color::DarkGray);
pub(super) const SEL: Style = Style::new().bg(Color::Blue).fg(Color::White);

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, state: &State, view: &View) {
    let a = areas(f.area());
    f.render_widget(title::title_line(state, view), a.title);
    f.render_widget(connection::conn_line(state, view), a.conn);
    let rows = view.rows(state);
    streams::table(f, state, view, &rows, a.table);
    let wide = a.lower.width >= 140;
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(a.lower);
        detail::detail(f, state, view, left);
        match view.pane {
            Pane::Findings => findings::findings(f, state, view, right),
            Pane::Detail | Pane::Frames => frames::frame_log(f, state, view, right),
        }
    } else {
        match view.pane {
            Pane::Detail => detail::detail(f, state, view, a.lower),
            Pane::Frames => frames::frame_log(f, state, view, a.lower),
            Pane::Findings => findings::findings(f, state, view, a.lower),
        }
    }
    f.render_widget(footer::footer(state, view), a.footer);
    if view.help {
        help::help(f, f.area());
    }
}

/// Time as seconds with microseconds.
pub(super) fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// A byte count or window in a few characters: exact below 10 000, then
/// K, M, G (binary).
pub fn size(v: i64) -> String {
    let a = v.unsigned_abs();
    let sign = if v < 0 { "-" } else { "" };
    let body = if a < 10_000 {
        a.to_string()
    } else {
        let (x, unit) = if a < 10 << 20 {
            (a as f64 / 1024.0, "K")
        } else if a < 10 << 30 {
            (a as f64 / f64::from(1u32 << 20), "M")
        } else {
            (a as f64 / f64::from(1u32 << 30), "G")
        };
        if x < 100.0 {
            format!("{x:.1}{unit}")
        } else {
            format!("{x:.0}{unit}")
        }
    };
    format!("{sign}{body}")
}

pub(super) fn usize_(v: u64) -> String {
    size(i64::try_from(v).unwrap_or(i64::MAX))
}

pub(super) fn age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 600.0 {
        format!("{s:.0}s")
    } else {
        format!("{:.0}m", s / 60.0)
    }
}

pub(super) fn phase_cell(p: StreamPhase) -> (String, Style) {
    match p {
        StreamPhase::Opening => ("opening".into(), Style::new().fg(Color::Cyan)),
        StreamPhase::Open => ("open".into(), Style::new().fg(Color::Green)),
        StreamPhase::HalfClosed(s) => (format!("half {}", side_arrow(s)), Style::new()),
        StreamPhase::Closed => ("closed".into(), DIM),
        StreamPhase::Reset(s) => (
            format!("reset {}", side_arrow(s)),
            Style::new().fg(Color::Red),
        ),
    }
}

/// A buffer as text, one line per row, trailing spaces removed.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity(usize::from(area.width + 1) * usize::from(area.height));
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell((x, y)) {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_their_columns() {
        assert_eq!(size(0), "0");
        assert_eq!(size(9999), "9999");
        assert_eq!(size(10_000), "9.8K");
        assert_eq!(size(262_144), "256K");
        assert_eq!(size(-45_076), "-44.0K");
        assert_eq!(size(10 << 20), "10.0M");
        assert_eq!(size(i64::MAX), "8589934592G");
        assert_eq!(size(i64::MIN), "-8589934592G");
        assert_eq!(age(Duration::from_millis(1234)), "1.2s");
        assert_eq!(age(Duration::from_secs(42)), "42s");
        assert_eq!(age(Duration::from_secs(3600)), "60m");
    }
}
