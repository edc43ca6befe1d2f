//! The results of `yamuxctl bench`: a text table and NDJSON
//! (schema `yamuxctl.bench/v1`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Schema name of every NDJSON line.
pub const SCHEMA: &str = "yamuxctl.bench/v1";

/// The first NDJSON line: how the run was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always `run`.
    pub kind: String,
    /// Repetitions.
    pub reps: u32,
    /// `--quick`.
    pub quick: bool,
    /// Implementations in column order.
    pub implementations: Vec<String>,
    /// CPU model, cores, kernel.
    pub machine: String,
    /// /proc/loadavg at the start and at the end.
    pub load: String,
}

/// One figure of one implementation in one scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always `figure`.
    pub kind: String,
    /// Scenario id (`single`, `multi`, `rr-p50`, `rr-p99`, `open`, `idle`).
    pub scenario: String,
    /// What was measured, in words.
    pub label: String,
    /// Unit of the values.
    pub unit: String,
    /// True when a larger value is better.
    pub higher_is_better: bool,
    /// Implementation.
    pub implementation: String,
    /// One value per successful repetition.
    pub samples: Vec<f64>,
    /// Median of the samples.
    pub median: Option<f64>,
    /// Smallest sample.
    pub min: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
    /// median / raw TCP's median.
    pub vs_raw_tcp: Option<f64>,
    /// median / the reference's median.
    pub vs_reference: Option<f64>,
    /// Why there is no figure (or why a repetition failed).
    pub error: Option<String>,
}

impl Figure {
    /// A figure without samples yet.
    pub fn new(s: &super::Scenario, implementation: &str) -> Figure {
        Figure {
            schema: SCHEMA.into(),
            kind: "figure".into(),
            scenario: s.id.into(),
            label: s.label.clone(),
            unit: s.unit.into(),
            higher_is_better: s.higher_is_better,
            implementation: implementation.into(),
            samples: Vec::new(),
            median: None,
            min: None,
            max: None,
            vs_raw_tcp: None,
            vs_reference: None,
            error: None,
        }
    }
}

/// Median of `v` (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let mid = s.get(n / 2).copied()?;
    if n % 2 == 1 {
        Some(mid)
    } else {
        Some((s.get(n / 2 - 1).copied()? + mid) / 2.0)
    }
}

/// Fills median, min, max and the two ratios of every figure.
pub fn summarize(figs: &mut [Figure]) {
    for f in figs.iter_mut() {
        f.median = median(&f.samples);
        f.min = f.samples.iter().copied().reduce(f64::min);
        f.max = f.samples.iter().copied().reduce(f64::max);
    }
    let base = |figs: &[Figure], scen: &str, imp: &str| {
        figs.iter()
            .find(|f| f.scenario == scen && f.implementation == imp)
            .and_then(|f| f.median)
            .filter(|m| *m > 0.0)
    };
    let ratios: Vec<(Option<f64>, Option<f64>)> = figs
        .iter()
        .map(|f| {
            let raw = base(figs, &f.scenario, super::RAW);
            let rf = base(figs, &f.scenario, super::REFERENCE);
            (
                f.median.zip(raw).map(|(m, b)| m / b),
                f.median.zip(rf).map(|(m, b)| m / b),
            )
        })
        .collect();
    for (f, (a, b)) in figs.iter_mut().zip(ratios) {
        f.vs_raw_tcp = a;
        f.vs_reference = b;
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into())
}

/// The text table: one block per scenario, one line per implementation.
pub fn text(info: &RunInfo, figs: &[Figure]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "yamuxctl bench: {} repetition{}{}, median (min-max)",
        info.reps,
        if info.reps == 1 { "" } else { "s" },
        if info.quick { ", quick sizes" } else { "" }
    );
    let _ = writeln!(s, "machine: {}", info.machine);
    let _ = writeln!(s, "load: {}", info.load);
    let mut seen: Vec<&str> = Vec::new();
    for f in figs {
        if seen.contains(&f.scenario.as_str()) {
            continue;
        }
        seen.push(&f.scenario);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{} [{}, {} is better]",
            f.label,
            f.unit,
            if f.higher_is_better {
                "higher"
            } else {
                "lower"
            }
        );
        let _ = writeln!(
            s,
            "  {:<14} {:>10} {:>21} {:>8} {:>8}",
            "implementation", "median", "min-max", "/raw", "/ref"
        );
        for g in figs.iter().filter(|g| g.scenario == f.scenario) {
            match g.median {
                Some(m) => {
                    let range = match (g.min, g.max) {
                        (Some(a), Some(b)) => format!("{}-{}", num(a), num(b)),
                        _ => "-".into(),
                    };
                    let _ = writeln!(
                        s,
                        "  {:<14} {:>10} {:>21} {:>8} {:>8}{}",
                        g.implementation,
                        num(m),
                        range,
                        ratio(g.vs_raw_tcp),
                        ratio(g.vs_reference),
                        g.error
                            .as_deref()
                            .map(|e| format!("  (some runs failed: {e})"))
                            .unwrap_or_default()
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  {:<14} {:>10}  {}",
                        g.implementation,
                        "n/a",
                        g.error.as_deref().unwrap_or("no result")
                    );
                }
            }
        }
    }
    s
}

/// NDJSON: the run line, then one line per figure.
pub fn ndjson(info: &RunInfo, figs: &[Figure]) -> String {
    let mut s = String::new();
    if let Ok(l) = serde_json::to_string(info) {
        s.push_str(&l);
        s.push('\n');
    }
    for f in figs {
        if let Ok(l) = serde_json::to_string(f) {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s
}

/// Parses NDJSON written by [`ndjson`].
pub fn parse_ndjson(text: &str) -> Result<(RunInfo, Vec<Figure>), String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).enumerate();
    let (_, first) = lines.next().ok_or("empty input")?;
    let info: RunInfo = serde_json::from_str(first).map_err(|e| format!("line 1: {e}"))?;
    if info.schema != SCHEMA || info.kind != "run" {
        return Err(format!("line 1: not a {SCHEMA} run line"));
    }
    let mut figs = Vec::new();
    for (i, l) in lines {
        let f: Figure = serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1))?;
        if f.schema != SCHEMA || f.kind != "figure" {
            return Err(format!("line {}: not a {SCHEMA} figure", i + 1));
        }
        figs.push(f);
    }
    Ok((info, figs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Scenario, Sizes, RAW, REFERENCE};

    fn sample() -> (RunInfo, Vec<Figure>) {
        let info = RunInfo {
            schema: SCHEMA.into(),
            kind: "run".into(),
            reps: 3,
            quick: false,
            implementations: vec![RAW.into(), REFERENCE.into(), "rust-yamux".into()],
            machine: "test cpu, 2 cores, Linux 6.1".into(),
            load: "1.00 -> 2.00".into(),
        };
        let sc = Scenario::all(&Sizes::full());
        let mut figs = Vec::new();
        for (k, s) in sc.iter().enumerate() {
            for (j, imp) in info.implementations.iter().enumerate() {
                let mut f = Figure::new(s, imp);
                if imp == "rust-yamux" && s.id == "idle" {
                    f.error = Some("unsupported: no".into());
                } else {
                    let b = 100.0 * (k + 1) as f64 + 10.0 * j as f64;
                    f.samples = vec![b, b * 1.5, b * 0.5];
                }
                figs.push(f);
            }
        }
        summarize(&mut figs);
        (info, figs)
    }

    #[test]
    fn median_handles_even_odd_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratios_are_against_raw_and_reference() {
        let (_, figs) = sample();
        let f = figs
            .iter()
            .find(|f| f.scenario == "single" && f.implementation == "rust-yamux")
            .unwrap();
        assert_eq!(f.median, Some(120.0));
        assert_eq!(f.vs_raw_tcp, Some(1.2));
        assert_eq!(f.vs_reference, Some(120.0 / 110.0));
    }

    #[test]
    fn text_table() {
        let (info, figs) = sample();
        insta::assert_snapshot!(text(&info, &figs));
    }

    #[test]
    fn ndjson_parses_back() {
        let (info, figs) = sample();
        let out = ndjson(&info, &figs);
        let (i2, f2) = parse_ndjson(&out).unwrap();
        assert_eq!(i2, info);
        assert_eq!(f2.len(), figs.len());
        for (a, b) in f2.iter().zip(&figs) {
            assert_eq!(
                (&a.scenario, &a.implementation, &a.samples, &a.error),
                (&b.scenario, &b.implementation, &b.samples, &b.error)
            );
            // Ratios may differ in the last bit after a float round trip.
            let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * y.abs().max(1.0),
                (None, None) => true,
                _ => false,
            };
            assert!(close(a.vs_reference, b.vs_reference) && close(a.median, b.median));
        }
        assert!(parse_ndjson("{\"schema\":\"other\"}").is_err());
    }
}
