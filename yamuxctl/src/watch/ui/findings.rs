//! The findings pane: finding kinds with their switches, and the findings
//! of the kinds switched on, newest at the bottom.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use yamux::tracker::Severity;

use super::{secs, DIM, SEL};
use crate::watch::state::State;
use crate::watch::view::{Focus, Pane, View};

pub(super) fn findings(f: &mut Frame<'_>, state: &State, view: &View, area: Rect) {
    let focused = view.focus == Focus::Pane && view.pane == Pane::Findings;
    let kw = (area.width / 3).clamp(20, 44);
    let [left, right] =
        Layout::horizontal([Constraint::Length(kw), Constraint::Min(10)]).areas(area);
    let kinds = state.kinds();
    let items: Vec<Line<'_>> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let on = !view.hidden.contains(k);
            let n = state.kind_counts.get(k).copied().unwrap_or(0);
            let mut style = match k.severity() {
                Severity::Error => Style::new().fg(Color::Red),
                Severity::Warning => Style::new().fg(Color::Yellow),
                Severity::Info => Style::new(),
            };
            if !on {
                style = DIM;
            }
            if focused && i == view.kind_sel {
                style = SEL;
            }
            Line::styled(
                format!("[{}] {} {}", if on { 'x' } else { ' ' }, k.name(), n),
                style,
            )
        })
        .collect();
    let kt = if focused {
        " kinds (space) • "
    } else {
        " kinds (Tab, space) "
    };
    let kinds_block = Block::default().borders(Borders::ALL).title(kt);
    if items.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("none", DIM)).block(kinds_block),
            left,
        );
    } else {
        // keep the cursor visible
        let h = usize::from(kinds_block.inner(left).height).max(1);
        let skip = view.kind_sel.saturating_sub(h - 1);
        f.render_widget(
            Paragraph::new(items.into_iter().skip(skip).collect::<Vec<_>>()).block(kinds_block),
            left,
        );
    }
    let block = Block::default().borders(Borders::ALL).title(format!(
        " findings {} shown of {} ",
        view.visible_findings(state).count(),
        state.findings.len()
    ));
    let h = usize::from(block.inner(right).height);
    let shown: Vec<_> = view.visible_findings(state).rev().take(h).collect();
    let lines: Vec<Line<'_>> = shown
        .into_iter()
        .rev()
        .map(|e| {
            let fi = &e.finding;
            let style = match fi.severity {
                Severity::Error => Style::new().fg(Color::Red),
                Severity::Warning => Style::new().fg(Color::Yellow),
                Severity::Info => Style::new(),
            };
            Line::from(vec![
                Span::styled(format!("{:>10} ", secs(state.rel(e.at))), DIM),
                Span::raw(format!("c{} ", e.conn)),
                Span::styled(format!("{} ({})", fi.kind, fi.rule), style),
                Span::raw(format!(": {}", fi.message)),
            ])
        })
        .collect();
    // wrapped: long messages matter; keep the newest at the bottom
    let width = usize::from(block.inner(right).width).max(1);
    let used: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_height(&text, width)
        })
        .sum();
    let scroll = u16::try_from(used.saturating_sub(h)).unwrap_or(u16::MAX);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block),
        right,
    );
}

/// Lines `text` takes when word-wrapped at `width` (greedy, like the
/// paragraph's word wrapper; long words are cut).
fn wrapped_height(text: &str, width: usize) -> usize {
    let mut lines = 1;
    let mut col = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        let need = if col == 0 { w } else { col + 1 + w };
        if need <= width {
            col = need;
        } else if w <= width {
            lines += 1;
            col = w;
        } else {
            // cut into pieces
            let rest = if col == 0 {
                w
            } else {
                lines += 1;
                w
            };
            lines += (rest - 1) / width;
            col = (rest - 1) % width + 1;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_estimate() {
        assert_eq!(wrapped_height("", 5), 1);
        assert_eq!(wrapped_height("aaa bbb", 7), 1);
        assert_eq!(wrapped_height("aaa bbb", 6), 2);
        assert_eq!(wrapped_height("abcdefg", 3), 3);
        assert_eq!(wrapped_height("ab abcdefg", 3), 4);
    }
}
