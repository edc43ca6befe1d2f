//! Reports: `vectors show`, human text, NDJSON, JUnit XML.

use std::fmt::Write as _;

use crate::spec::SpecRules;
use crate::vector::Case;

/// `yamuxctl vectors show ID`: the case, its rules quoted from docs/spec.md,
/// and its steps, one per line.
pub fn show_case(c: &Case, rules: Option<&SpecRules>) -> String {
    let mut s = String::new();
    let roles: Vec<&str> = c.roles.iter().map(|r| r.as_str()).collect();
    let _ = writeln!(s, "{}  [{}]  roles: {}", c.id, c.level, roles.join(", "));
    let _ = writeln!(s, "  {}", c.summary);
    let root = crate::paths::root();
    let file = c.file.strip_prefix(&root).unwrap_or(&c.file);
    let _ = writeln!(s, "  file: {}", file.display());
    if !c.requires.is_empty() {
        let _ = writeln!(
            s,
            "  requires (adapter commands): {}",
            c.requires
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(t) = c.timeout_ms {
        let _ = writeln!(s, "  timeout: {t} ms");
    }
    for (k, v) in &c.env {
        let _ = writeln!(s, "  env: {k}={v}");
    }
    let _ = writeln!(s, "\nRules:");
    for id in &c.spec {
        match rules.and_then(|r| r.get(id.id())) {
            Some(r) => {
                let _ = writeln!(s, "  {} [{}] {}", r.id, r.level, r.title);
                for line in wrap(&r.statement, 90) {
                    let _ = writeln!(s, "    > {line}");
                }
            }
            None => {
                let _ = writeln!(s, "  {id} (docs/spec.md not available)");
            }
        }
    }
    let _ = writeln!(s, "\nSteps:");
    for (i, st) in c.steps.iter().enumerate() {
        let json = serde_json::to_string(st).unwrap_or_default();
        let _ = writeln!(s, "  {:>2}. {json}", i + 1);
    }
    s
}

/// Greedy word wrap.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::run::{counts, CaseResult, Outcome};

/// Schema name of the NDJSON report.
pub const SCHEMA: &str = "yamux-conformance/v1";

/// The symbol of an outcome in the text report.
pub fn symbol(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✓",
        Outcome::Crash => "💥",
        Outcome::Fail => "×",
        Outcome::NonStrict => "~",
        Outcome::Info => "i",
        Outcome::Unsupported => "?",
        Outcome::Skip => "-",
        Outcome::Xfail => "x",
        Outcome::Xpass => "!",
        Outcome::Error => "E",
    }
}

/// Options of the text report.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// Show passing cases too (otherwise only the summary per family).
    pub verbose: bool,
    /// Leave durations and trace timestamps out (for snapshots).
    pub stable: bool,
    /// Most trace lines shown per failing case.
    pub trace_limit: usize,
}

fn is_problem(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Crash | Outcome::Fail | Outcome::NonStrict | Outcome::Error | Outcome::Xpass
    )
}

/// One line per case (grouped by family), details for failures, summary last.
pub fn text(results: &[CaseResult], elapsed: Duration, opts: TextOptions) -> String {
    let mut s = String::new();
    let mut family = String::new();
    let limit = if opts.trace_limit == 0 {
        60
    } else {
        opts.trace_limit
    };
    for r in results {
        if r.family != family {
            family = r.family.clone();
            let _ = writeln!(s, "{family}");
        }
        let flaky = if r.flaky {
            " (flaky: passed on retry)"
        } else {
            ""
        };
        let dur = if opts.stable {
            String::new()
        } else {
            format!(" {}ms", r.duration_ms)
        };
        let _ = writeln!(
            s,
            "  {} {} [{}] {} ({}){}{dur}",
            symbol(r.outcome),
            r.id,
            r.level,
            r.role,
            yamux::Rule::join(&r.spec, ", "),
            flaky
        );
        if let Some(m) = &r.message {
            let _ = writeln!(s, "      {}: {m}", r.outcome.name());
        }
        for o in &r.observations {
            let _ = writeln!(s, "      observed: {o}");
        }
        if matches!(r.outcome, Outcome::Info) {
            for f in &r.failures {
                let _ = writeln!(s, "      noted: expected {}; got {}", f.expected, f.actual);
            }
        }
        if !is_problem(r.outcome) || (!opts.verbose && r.outcome == Outcome::Xpass) {
            continue;
        }
        let _ = writeln!(s, "      -> {}", r.summary);
        for f in &r.failures {
            let at = if f.step == 0 {
                "throughout".to_string()
            } else {
                format!("step {}", f.step)
            };
            let rule = f.rule.map(|x| format!(" {x}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "      [{}{rule}] {at}{}",
                f.level,
                f.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
            let _ = writeln!(s, "        Expected: {}", f.expected);
            let _ = writeln!(s, "          Actual: {}", f.actual);
        }
        if !r.trace.is_empty() {
            let _ = writeln!(s, "      Trace:");
            let skip = r.trace.len().saturating_sub(limit);
            if skip > 0 {
                let _ = writeln!(s, "        ... {skip} earlier lines");
            }
            for l in &r.trace[skip..] {
                if opts.stable {
                    let _ = writeln!(s, "        {:>4} {}", l.dir, l.text);
                } else {
                    let _ = writeln!(s, "        {:>9.1}ms {:>4} {}", l.t_ms, l.dir, l.text);
                }
            }
        }
        if !r.stderr.is_empty() {
            let _ = writeln!(s, "      Adapter stderr (last lines):");
            for l in r
                .stderr
                .iter()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                let _ = writeln!(s, "        {l}");
            }
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", summary_line(results, elapsed, opts.stable));
    s
}

/// `N cases: ...` with counts per outcome.
pub fn summary_line(results: &[CaseResult], elapsed: Duration, stable: bool) -> String {
    let c = counts(results);
    let parts: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| c.get(o).map(|n| format!("{n} {}", o.name())))
        .collect();
    let flaky = results.iter().filter(|r| r.flaky).count();
    let flaky = if flaky > 0 {
        format!(" ({flaky} flaky)")
    } else {
        String::new()
    };
    let t = if stable {
        String::new()
    } else {
        format!(" in {:.1}s", elapsed.as_secs_f64())
    };
    format!("{} cases: {}{flaky}{t}", results.len(), parts.join(", "))
}

#[derive(Serialize)]
struct CaseLine<'a> {
    schema: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    result: &'a CaseResult,
}

/// The summary object (last NDJSON line).
#[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
pub struct Summary {
    /// Schema name.
    pub schema: String,
    /// `summary`.
    pub kind: String,
    /// What was tested.
    pub iut: String,
    /// Number of case runs.
    pub total: usize,
    /// Counts per outcome name.
    pub outcomes: BTreeMap<String, usize>,
    /// Cases that passed only on retry.
    pub flaky: usize,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// The exit code the runner returns.
    pub exit_code: u8,
}

/// NDJSON: one object per case, then a summary object.
pub fn ndjson(results: &[CaseResult], iut: &str, elapsed: Duration, exit_code: u8) -> String {
    let mut s = String::new();
    for r in results {
        let line = CaseLine {
            schema: SCHEMA,
            kind: "case",
            result: r,
        };
        let _ = writeln!(s, "{}", serde_json::to_string(&line).unwrap_or_default());
    }
    let summary = Summary {
        schema: SCHEMA.into(),
        kind: "summary".into(),
        iut: iut.into(),
        total: results.len(),
        outcomes: counts(results)
            .into_iter()
            .map(|(o, n)| (o.name().to_string(), n))
            .collect(),
        flaky: results.iter().filter(|r| r.flaky).count(),
        duration_ms: elapsed.as_millis() as u64,
        exit_code,
    };
    let _ = writeln!(s, "{}", serde_json::to_string(&summary).unwrap_or_default());
    s
}

fn failure_text(r: &CaseResult) -> String {
    let mut s = String::new();
    for f in &r.failures {
        let rule = f.rule.map(|x| format!(" {x}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "[{}{rule}] step {}: expected {}; actual {}",
            f.level, f.step, f.expected, f.actual
        );
    }
    for l in &r.trace {
        let _ = writeln!(s, "{:>9.1}ms {:>4} {}", l.t_ms, l.dir, l.text);
    }
    s
}

/// JUnit XML: one testsuite per family, one testcase per case and role.
pub fn junit(results: &[CaseResult], iut: &str, elapsed: Duration) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(format!("yamux conformance: {iut}"));
    report.set_time(elapsed);
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        if suites.last().is_none_or(|s| s.name.as_str() != r.family) {
            suites.push(TestSuite::new(r.family.clone()));
        }
        let status = match r.outcome {
            Outcome::Pass | Outcome::Info | Outcome::Xfail => TestCaseStatus::success(),
            Outcome::Fail | Outcome::NonStrict | Outcome::Xpass => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = r
                    .failures
                    .first()
                    .map(|f| format!("expected {}; actual {}", f.expected, f.actual));
                st.set_message(
                    r.message
                        .clone()
                        .or(first)
                        .unwrap_or_else(|| r.outcome.name().into()),
                );
                st.set_type(r.outcome.name());
                st.set_description(failure_text(r));
                st
            }
            Outcome::Error => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message(r.message.clone().unwrap_or_else(|| "harness error".into()));
                st.set_type("error");
                st
            }
            // A crash is a JUnit error (the test could not complete), typed
            // `crash` so that it is not mistaken for a harness problem.
            Outcome::Crash => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message(r.message.clone().unwrap_or_else(|| "crash".into()));
                st.set_type("crash");
                st.set_description(failure_text(r));
                st
            }
            Outcome::Skip | Outcome::Unsupported => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(r.message.clone().unwrap_or_else(|| r.outcome.name().into()));
                st.set_type(r.outcome.name());
                st
            }
        };
        let mut tc = TestCase::new(format!("{} [{}] ({})", r.id, r.role, r.level), status);
        tc.set_classname(r.family.clone());
        tc.set_time(Duration::from_millis(r.duration_ms));
        tc.add_property(quick_junit::Property::new("outcome", r.outcome.name()));
        tc.add_property(quick_junit::Property::new(
            "spec",
            yamux::Rule::join(&r.spec, ","),
        ));
        if let Some(s) = suites.last_mut() {
            s.add_test_case(tc);
        }
    }
    report.add_test_suites(suites);
    report.to_string().map_err(|e| e.to_string())
}
