//! `yamuxctl watch`: one full render of 1,000 streams into a TestBackend at
//! 160×48 (target: well under 16 ms, one frame at 60 Hz), and the cost of
//! taking one frame into the state (what live mode pays per frame).

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::hint::black_box;
use yamuxctl::watch::{action::Pane, demo, ui};

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("watch");
    for (w, h) in [(160u16, 48u16), (80, 24)] {
        for pane in [Pane::Detail, Pane::Frames] {
            let mut app = demo::app(1000);
            app.view.pane = pane;
            app.view.selected = Some(999);
            let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
            g.bench_function(format!("render_1000_streams_{w}x{h}_{pane:?}"), |b| {
                b.iter(|| {
                    // a full redraw each time, as after a change
                    t.clear().expect("clear");
                    t.draw(|f| ui::draw(f, black_box(&app.state), black_box(&app.view)))
                        .expect("draw");
                })
            });
        }
    }
    let events = demo::events(1000);
    g.bench_function("apply_5134_events_1000_streams", |b| {
        b.iter(|| black_box(demo::app_from(&events)))
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
