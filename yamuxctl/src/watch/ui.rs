//! Rendering only: `&App` into a ratatui frame. No state changes here.

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Sparkline, Table,
    Wrap,
};
use ratatui::Frame;
use yamux::frame::FrameType;
use yamux::tracker::{Severity, Side, StreamPhase};

use super::input::KEYS;
use super::model::{App, Focus, Mode, Pane, Prompt, Sample, SortKey, StreamRow};
use crate::print::text::{frame_fields, side_arrow};

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

const HEAD: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const SEL: Style = Style::new().bg(Color::Blue).fg(Color::White);

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let a = areas(f.area());
    f.render_widget(title_line(app), a.title);
    f.render_widget(conn_line(app), a.conn);
    let rows = app.rows();
    table(f, app, &rows, a.table);
    let wide = a.lower.width >= 140;
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(a.lower);
        detail(f, app, left);
        match app.pane {
            Pane::Findings => findings(f, app, right),
            Pane::Detail | Pane::Frames => frame_log(f, app, right),
        }
    } else {
        match app.pane {
            Pane::Detail => detail(f, app, a.lower),
            Pane::Frames => frame_log(f, app, a.lower),
            Pane::Findings => findings(f, app, a.lower),
        }
    }
    f.render_widget(footer(app), a.footer);
    if app.help {
        help(f, f.area());
    }
}

/// Time as seconds with microseconds.
fn secs(d: Duration) -> String {
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

fn usize_(v: u64) -> String {
    size(i64::try_from(v).unwrap_or(i64::MAX))
}

fn age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 600.0 {
        format!("{s:.0}s")
    } else {
        format!("{:.0}m", s / 60.0)
    }
}

fn title_line(app: &App) -> Paragraph<'static> {
    let (e, w, i) =
        app.visible_findings()
            .fold((0, 0, 0), |(e, w, i), f| match f.finding.severity {
                Severity::Error => (e + 1, w, i),
                Severity::Warning => (e, w + 1, i),
                Severity::Info => (e, w, i + 1),
            });
    let now = app.rel(app.now);
    let (state, clock) = match &app.mode {
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
                format!("{}/{} s", secs(now), secs(app.rel(*end).max(now))),
            )
        }
        Mode::Live { listen, upstream } => (
            "live".to_string(),
            format!("{listen} → {upstream}  {} s", secs(now)),
        ),
    };
    let st_style = match state.as_str() {
        "paused" | "end" => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        _ => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
    };
    Paragraph::new(Line::from(vec![
        Span::styled(" watch ", HEAD.add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(format!("[{state}]"), st_style),
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
            app.frames,
            app.conns.len(),
            app.title
        )),
    ]))
}

fn conn_line(app: &App) -> Paragraph<'static> {
    let Some(c) = app.current() else {
        return Paragraph::new(Line::styled(" no connection yet", DIM));
    };
    let state = match &c.closed {
        Some((at, why)) => format!("ended at {} s ({why})", secs(app.rel(*at))),
        None => "open".to_string(),
    };
    let roles = if c.tracker.client().is_some() {
        format!("{} → {}", c.role(Side::A), c.role(Side::B))
    } else {
        "start not seen".to_string()
    };
    let mut spans = vec![
        Span::styled(format!(" conn {}", c.id), HEAD),
        Span::raw(format!(
            ": {} → {} ({roles}) {state}, {} streams",
            c.a,
            c.b,
            c.tracker.streams_sorted().len()
        )),
    ];
    if c.gap_bytes > 0 {
        spans.push(Span::styled(
            format!(", {} bytes missed", c.gap_bytes),
            Style::new().fg(Color::Yellow),
        ));
    }
    if app.conns.len() > 1 {
        spans.push(Span::styled(
            format!("  [{} of {}, c/C]", app.conn_sel + 1, app.conns.len()),
            DIM,
        ));
    }
    Paragraph::new(Line::from(spans))
}

fn phase_cell(p: StreamPhase) -> (String, Style) {
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

fn window_cell(known: bool, v: i64, w: usize) -> Cell<'static> {
    if !known {
        return Cell::from(format!("{:>w$}", "?")).style(DIM);
    }
    let style = if v <= 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if v < 16 * 1024 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    Cell::from(format!("{:>w$}", size(v))).style(style)
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

fn table(f: &mut Frame<'_>, app: &App, rows: &[StreamRow], area: Rect) {
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let off = app.scroll_offset(rows, height);
    let sel = app.selected_index(rows);
    let arrow = if app.descending { "↓" } else { "↑" };
    let wide = area.width >= 112;
    let cols = columns(wide);
    let header = Row::new(cols.iter().map(|c| {
        let sorted = c.key == Some(app.sort);
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
    let now = app.now;
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
                window_cell(r.ledger_known, r.send_window, w(3)),
                window_cell(r.ledger_known, r.recv_window, w(4)),
                Cell::from(format!("{:>w$}", usize_(r.sent), w = w(5))),
                Cell::from(format!("{:>w$}", usize_(r.received), w = w(6))),
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
        if app.filter.is_empty() {
            String::new()
        } else {
            format!(" · filter \"{}\"", app.filter)
        }
    );
    if app.focus == Focus::Streams {
        title.push('•');
        title.push(' ');
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    if rows.is_empty() {
        let msg = if app.conns.is_empty() {
            match app.mode {
                Mode::Live { .. } => "waiting for a connection through the relay…",
                Mode::Replay { finished: true, .. } => "no yamux connection in this capture",
                Mode::Replay { .. } => "nothing played yet (p plays, . steps one frame)",
            }
        } else if app.filter.is_empty() {
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

fn detail(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL);
    let (Some(c), Some(id)) = (app.current(), app.selected) else {
        f.render_widget(
            Paragraph::new(Line::styled(" select a stream to see its windows", DIM))
                .block(block.title(" detail ")),
            area,
        );
        return;
    };
    let Some(st) = c.tracker.stream(id) else {
        f.render_widget(block.title(" detail "), area);
        return;
    };
    let row = app.row(c, st);
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
        age(app.now.saturating_sub(st.last)),
        if app.chart_all {
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
            if st.ledger_known {
                ""
            } else {
                " · ledger unknown (opening not seen)"
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
    let to = if app.chart_all {
        app.now
    } else {
        (active_end + pad).min(app.now)
    }
    .max(from + Duration::from_millis(1));
    let x0 = app.rel(from).as_secs_f64();
    let x1 = app.rel(to).as_secs_f64();
    let mut send: Vec<(f64, f64)> = Vec::with_capacity(series.len() + 1);
    let mut recv: Vec<(f64, f64)> = Vec::with_capacity(series.len() + 1);
    for s in &series {
        let x = app.rel(s.at).as_secs_f64();
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

const fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn frame_log(f: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Pane && app.pane == Pane::Frames;
    let mut title = " frames ".to_string();
    if app.log_scroll > 0 {
        title = format!(" frames (scrolled back {}) ", app.log_scroll);
    }
    if focused {
        title.push_str("• ");
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let Some(c) = app.current() else {
        f.render_widget(block, area);
        return;
    };
    let h = usize::from(block.inner(area).height);
    let end = c.log.len().saturating_sub(app.log_scroll);
    let start = end.saturating_sub(h);
    let lines: Vec<Line<'_>> = c
        .log
        .range(start..end)
        .map(|e| {
            let text = format!(
                "{:>10}  {}  {}",
                secs(app.rel(e.at)),
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
            if Some(e.header.stream_id.val()) == app.selected {
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

fn findings(f: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Pane && app.pane == Pane::Findings;
    let kw = (area.width / 3).clamp(20, 44);
    let [left, right] =
        Layout::horizontal([Constraint::Length(kw), Constraint::Min(10)]).areas(area);
    let kinds = app.kinds();
    let items: Vec<Line<'_>> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let on = !app.hidden.contains(k);
            let n = app.kind_counts.get(k).copied().unwrap_or(0);
            let mut style = match k.severity() {
                Severity::Error => Style::new().fg(Color::Red),
                Severity::Warning => Style::new().fg(Color::Yellow),
                Severity::Info => Style::new(),
            };
            if !on {
                style = DIM;
            }
            if focused && i == app.kind_sel {
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
        let skip = app.kind_sel.saturating_sub(h - 1);
        f.render_widget(
            Paragraph::new(items.into_iter().skip(skip).collect::<Vec<_>>()).block(kinds_block),
            left,
        );
    }
    let block = Block::default().borders(Borders::ALL).title(format!(
        " findings {} shown of {} ",
        app.visible_findings().count(),
        app.findings.len()
    ));
    let h = usize::from(block.inner(right).height);
    let shown: Vec<_> = app.visible_findings().rev().take(h).collect();
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
                Span::styled(format!("{:>10} ", secs(app.rel(e.at))), DIM),
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

fn footer(app: &App) -> Paragraph<'static> {
    if let Some(p) = app.prompt {
        let label = match p {
            Prompt::Filter => "filter: ",
            Prompt::Seek => "seek to (seconds): ",
        };
        return Paragraph::new(Line::from(vec![
            Span::styled(format!(" {label}"), HEAD),
            Span::raw(format!("{}▏", app.input)),
            Span::styled("  Enter apply · Esc cancel", DIM),
        ]));
    }
    if !app.status.is_empty() {
        return Paragraph::new(Line::styled(
            format!(" {}", app.status),
            Style::new().fg(Color::Yellow),
        ));
    }
    let keys: &[(&str, &str)] = match app.mode {
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

fn help(f: &mut Frame<'_>, area: Rect) {
    let w = 72.min(area.width);
    let h = (KEYS.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<14}"), HEAD.fg(Color::Yellow)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        " win: credit left to send · in flight: sent, not yet credited back",
        DIM,
    ));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
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

    #[test]
    fn wrapping_estimate() {
        assert_eq!(wrapped_height("", 5), 1);
        assert_eq!(wrapped_height("aaa bbb", 7), 1);
        assert_eq!(wrapped_height("aaa bbb", 6), 2);
        assert_eq!(wrapped_height("abcdefg", 3), 3);
        assert_eq!(wrapped_height("ab abcdefg", 3), 4);
    }

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
