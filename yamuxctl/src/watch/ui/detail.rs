//! The detail pane: the selected stream's windows over time and its
//! throughput each way.

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap,
};
use ratatui::Frame;
use yamux::tracker::Side;

use super::{age, phase_cell, size, usize_, DIM};
use crate::watch::state::{side_index as idx, Sample, State};
use crate::watch::view::View;

/// Bytes sent per bucket by `side` over `[from, to]` in `n` buckets.
fn buckets(series: &[Sample], side: usize, from: Duration, to: Duration, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n.max(1)];
    let span = to.saturating_sub(from).as_secs_f64().max(1e-9);
    let mut prev = 0u64;
    for s in series {
        let b = s.bytes.get(side).copied().unwrap_or(0);
        let delta = b.saturating_sub(prev);
        prev = b;
        let pos = s.at.saturating_sub(from).as_secs_f64() / span;
        let i = ((pos * out.len() as f64) as usize).min(out.len() - 1);
        if let Some(x) = out.get_mut(i) {
            *x += delta;
        }
    }
    out
}

pub(super) fn detail(f: &mut Frame<'_>, state: &State, view: &View, area: Rect) {
    let block = Block::default().borders(Borders::ALL);
    let (Some(c), Some(id)) = (view.current(state), view.selected) else {
        f.render_widget(
            Paragraph::new(Line::styled(" select a stream to see its windows", DIM))
                .block(block.title(" detail ")),
            area,
        );
        return;
    };
    let Some(st) = c.stream(id) else {
        f.render_widget(block.title(" detail "), area);
        return;
    };
    let row = view.row(state, c, st);
    let o = st.opener.unwrap_or(Side::A);
    let (oi, pi) = (idx(o), idx(o.other()));
    let title = format!(
        " stream {id} · opened by {} · {}{} · last frame {} ago{} ",
        row.opener,
        phase_cell(st.phase).0,
        // length.rst-code: the error code of the WU|RST, when not 0.
        match st.reset_code {
            Some(code) if code != 0 => format!(" code {code}"),
            _ => String::new(),
        },
        age(state.now.saturating_sub(st.last)),
        if view.chart_all {
            " · chart until now (z)"
        } else {
            " · chart: activity (z)"
        }
    );
    let inner = block.inner(area);
    f.render_widget(block.title(title), area);
    if inner.height < 3 {
        return;
    }
    let [info, chart_area, spark_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(if inner.height >= 12 { 4 } else { 2 }),
    ])
    .areas(inner);
    let zw = |i: usize| st.zero_window.get(i).copied().unwrap_or_default();
    let info_text = vec![
        Line::from(format!(
            "sent {} / received {} bytes · frames {}/{} · min credit {} / {}",
            st.bytes[oi],
            st.bytes[pi],
            st.frames[oi],
            st.frames[pi],
            size(st.min_credit[oi]),
            size(st.min_credit[pi]),
        )),
        Line::from(format!(
            "no credit for {:.3} s / {:.3} s · granted {} / {}{}",
            zw(oi).as_secs_f64(),
            zw(pi).as_secs_f64(),
            usize_(st.granted[pi]),
            usize_(st.granted[oi]),
            if !st.ledger_known {
                " · ledger unknown (opening not seen)"
            } else if st.lossy.iter().any(|&l| l) {
                " · frames lost from the capture: windows are bounds (≤, ≥)"
            } else {
                ""
            }
        )),
    ];
    f.render_widget(
        Paragraph::new(info_text)
            .style(DIM)
            .wrap(Wrap { trim: true }),
        info,
    );
    let series: Vec<Sample> = c
        .series
        .get(&id)
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let from = series.first().map_or(st.first, |s| s.at);
    let active_end = series.last().map_or(st.last, |s| s.at);
    let pad = (active_end.saturating_sub(from) / 10).max(Duration::from_millis(1));
    let to = if view.chart_all {
        state.now
    } else {
        (active_end + pad).min(state.now)
    }
    .max(from + Duration::from_millis(1));
    let x0 = state.rel(from).as_secs_f64();
    let x1 = state.rel(to).as_secs_f64();
    let mut send: Vec<(f64, f64)> = Vec::with_capacity(series.len() + 1);
    let mut recv: Vec<(f64, f64)> = Vec::with_capacity(series.len() + 1);
    for s in &series {
        let x = state.rel(s.at).as_secs_f64();
        send.push((x, s.credit[oi] as f64));
        recv.push((x, s.credit[pi] as f64));
    }
    // hold the last value until now
    if let (Some(&(_, a)), Some(&(_, b))) = (send.last(), recv.last()) {
        send.push((x1, a));
        recv.push((x1, b));
    }
    let ymax = send
        .iter()
        .chain(recv.iter())
        .map(|p| p.1)
        .fold(1.0f64, f64::max);
    let ymin = send
        .iter()
        .chain(recv.iter())
        .map(|p| p.1)
        .fold(0.0f64, f64::min);
    if st.ledger_known && !send.is_empty() {
        let chart = Chart::new(vec![
            Dataset::default()
                .name(format!("{} credit", row.opener))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Green))
                .data(&send),
            Dataset::default()
                .name("peer credit")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Cyan))
                .data(&recv),
        ])
        .x_axis(
            Axis::default()
                .bounds([x0, x1])
                .labels([format!("{x0:.3}s"), format!("{x1:.3}s")])
                .style(DIM),
        )
        .y_axis(
            Axis::default()
                .bounds([ymin, ymax])
                .labels([size(ymin as i64), size(ymax as i64)])
                .style(DIM),
        );
        f.render_widget(chart, chart_area);
    } else {
        f.render_widget(
            Paragraph::new(Line::styled(
                "windows unknown: the stream's opening was not seen",
                DIM,
            )),
            chart_area,
        );
    }
    let half = if spark_area.height >= 4 { 2 } else { 1 };
    let [s1, s2] =
        Layout::vertical([Constraint::Length(half), Constraint::Length(half)]).areas(spark_area);
    for (side, label, a, color) in [(oi, "→", s1, Color::Green), (pi, "←", s2, Color::Cyan)] {
        let [l, r] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(a);
        let data = buckets(&series, side, from, to, usize::from(r.width));
        let peak = data.iter().copied().max().unwrap_or(0);
        f.render_widget(
            Paragraph::new(format!("{label} {:>7}", usize_(peak))).style(DIM),
            l,
        );
        f.render_widget(
            Sparkline::default()
                .data(&data)
                .style(Style::new().fg(color)),
            r,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_the_bytes() {
        let s = |ms, a| Sample {
            at: Duration::from_millis(ms),
            credit: [0, 0],
            bytes: [a, 0],
        };
        let series = [s(0, 10), s(5, 30), s(9, 100)];
        let b = buckets(&series, 0, Duration::ZERO, Duration::from_millis(10), 2);
        assert_eq!(b, vec![10, 90]);
        assert_eq!(b.iter().sum::<u64>(), 100);
    }
}
