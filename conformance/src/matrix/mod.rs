//! The compatibility matrix (`yamuxctl conform --matrix`): every case
//! against every installed implementation, compared with each
//! implementation's `expected.json`, plus a directional interop table (A as
//! client × B as server through a recording relay), rendered as
//! docs/matrix.md.
//!
//! `mod.rs` runs the cases and derives expectations; [`interop`] runs the
//! pairs; [`markdown`] renders docs/matrix.md and its companions.

mod interop;
mod markdown;
mod reports;
#[cfg(test)]
mod tests;

pub use interop::*;
pub use markdown::*;
pub use reports::*;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::adapter::{AdapterProc, AdapterSpec};
use crate::run::{
    run_all_with, wait_ready, CaseResult, Expectations, Iut, Options, Outcome, SETUP_LIMIT,
};
use crate::vector::{Case, Level};

/// The first line of docs/matrix.md that changes from run to run; the
/// comparison ignores lines starting with it.
pub const TIMING_PREFIX: &str = "_Generated";

/// One implementation under test.
#[derive(Clone, Debug)]
pub struct Implementation {
    /// Adapter directory name.
    pub name: String,
    /// How to start its adapter.
    pub spec: AdapterSpec,
    /// Its expectations (empty when it has no expected.json).
    pub expectations: Expectations,
}

/// Adapter directories (`DIR/*/run`), sorted by name.
pub fn discover(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("run").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether an adapter runs here: started as a server, it must print
/// `ready`. Exit 89 means not installed.
#[derive(Clone, Debug, PartialEq)]
pub enum Install {
    /// Ready.
    Installed,
    /// The adapter exits 89: the implementation is not installed here (the
    /// reason is the last line the adapter printed on stderr, if any).
    NotInstalled(String),
    /// Anything else (a crash, no `ready`).
    Broken(String),
}

/// Starts the adapter once as a server and stops it.
pub async fn probe(spec: &AdapterSpec) -> Install {
    let mut p = match AdapterProc::start(spec, "server", "127.0.0.1:0", &[]) {
        Ok(p) => p,
        Err(e) => return Install::Broken(e.to_string()),
    };
    let r = wait_ready(&mut p, SETUP_LIMIT).await;
    let (_, stderr) = p.finish_with_stderr().await;
    match r {
        Ok(_) => Install::Installed,
        Err((Outcome::Unsupported, _)) => Install::NotInstalled(
            stderr
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .map(|l| {
                    l.strip_prefix("not installed:")
                        .unwrap_or(l)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
        ),
        Err((_, m)) => Install::Broken(m),
    }
}

/// The results for one implementation.
#[derive(Clone, Debug)]
pub struct ImplResults {
    /// Adapter name.
    pub name: String,
    /// What is under test (from expected.json).
    pub implementation: String,
    /// Install status.
    pub install: Install,
    /// Case results in selection order (empty unless installed).
    pub results: Vec<CaseResult>,
    /// The expectations applied.
    pub expectations: Expectations,
}

/// Runs the selected cases against every implementation at once, with
/// `opts.jobs` case runs in flight overall. `opts.expectations` is replaced
/// by each implementation's own.
pub async fn run_cases(
    cases: &[Case],
    impls: &[Implementation],
    opts: &Options,
) -> Vec<ImplResults> {
    let slots = crate::resilience::Slots::new(opts.jobs);
    let futs = impls.iter().map(|imp| {
        let slots = slots.clone();
        let mut o = opts.clone();
        o.expectations = imp.expectations.clone();
        async move {
            let install = probe(&imp.spec).await;
            let results = if install == Install::Installed {
                run_all_with(cases, &Iut::Adapter(imp.spec.clone()), &o, slots).await
            } else {
                Vec::new()
            };
            ImplResults {
                name: imp.name.clone(),
                implementation: imp.expectations.implementation.clone(),
                install,
                results,
                expectations: imp.expectations.clone(),
            }
        }
    });
    futures::future::join_all(futs).await
}

/// Judges every result again against `expected` (after
/// `--update-expected`: the matrix then shows what the new expectations
/// file says of these very runs).
pub fn rejudge(imp: &mut ImplResults, expected: Expectations) {
    for r in &mut imp.results {
        crate::run::apply_expectation(r, expected.find(&r.id, r.role));
    }
    imp.expectations = expected;
}

/// Results that differ from the expectations: an unexpected fail,
/// non-strict or error, or an xpass. `(implementation, case@role, what)`.
pub fn differences(all: &[ImplResults]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for imp in all {
        if let Install::Broken(m) = &imp.install {
            out.push((imp.name.clone(), "-".into(), format!("adapter broken: {m}")));
        }
        for r in &imp.results {
            if matches!(
                r.outcome,
                Outcome::Crash
                    | Outcome::Fail
                    | Outcome::NonStrict
                    | Outcome::Error
                    | Outcome::Xpass
            ) {
                out.push((imp.name.clone(), r.key(), reason(r)));
            }
        }
    }
    out
}

/// One line saying why a result is not a plain pass.
pub fn reason(r: &CaseResult) -> String {
    let text = match r.outcome {
        Outcome::Fail | Outcome::NonStrict => match r.failures.iter().find(|f| {
            f.level
                == if r.outcome == Outcome::Fail {
                    Level::Must
                } else {
                    Level::Should
                }
        }) {
            Some(f) => format!(
                "{}{}: expected {}; got {}",
                if f.step == 0 {
                    "throughout".to_string()
                } else {
                    format!("step {}", f.step)
                },
                f.rule
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                f.expected,
                f.actual
            ),
            None => r.message.clone().unwrap_or_default(),
        },
        _ => r.message.clone().unwrap_or_default(),
    };
    one_line(&text, 220)
}

fn one_line(s: &str, max: usize) -> String {
    squeeze(&s.replace('|', "\\|"), max)
}

/// `s` on one line (runs of white space made one space), cut to `max`
/// characters with `…`.
pub(crate) fn squeeze(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// An expectations file matching these results: every fail and non-strict
/// (xfail kept with its reason, flaky entries kept as they are). Harness
/// errors are never expected: they are not listed.
/// Unsupported results are not listed (matrix.md shows the adapter's
/// reason). Entries keyed `id@role`, or `id` when both roles agree.
pub fn expectations_from(imp: &ImplResults) -> Expectations {
    // (role, outcome, reason, other outcomes accepted, kept from an entry
    // written for this role alone) per case.
    type Entry = (String, Outcome, String, Vec<Outcome>, bool);
    let mut by_case: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in &imp.results {
        let old = imp.expectations.find(&r.id, r.role);
        let per_role = old.is_some_and(|e| e.case.contains('@'));
        let entry = match (r.outcome, old) {
            // Flaky entries are written by hand and kept as they are (below).
            (_, Some(e)) if e.flaky => None,
            (Outcome::Xfail, Some(e)) => Some((e.outcome, e.reason.clone(), e.or.clone())),
            (Outcome::Crash, _) => {
                Some((r.outcome, format!("observed: {}", reason(r)), Vec::new()))
            }
            (Outcome::Fail | Outcome::NonStrict, _) => {
                let spec = r.spec.first().map_or("", |s| s.id());
                let why = reason(r).replace("\\|", "|");
                let why = if why.contains(spec) || spec.is_empty() {
                    why
                } else {
                    format!("{why} ({spec})")
                };
                Some((r.outcome, format!("observed: {why}"), Vec::new()))
            }
            _ => None,
        };
        if let Some((o, why, or)) = entry {
            if !by_case.contains_key(&r.id) {
                order.push(r.id.clone());
            }
            by_case.entry(r.id.clone()).or_default().push((
                r.role.to_string(),
                o,
                why,
                or,
                per_role,
            ));
        }
    }
    let mut expected = Vec::new();
    for id in order {
        let list = &by_case[&id];
        let roles_of_case = imp.results.iter().filter(|r| r.id == id).count();
        // One entry for the case when every role has the same outcome,
        // unless a role had its own entry (a reason written for that role
        // is not shadowed by the other role's).
        if list.len() == roles_of_case
            && list.len() > 1
            && list
                .iter()
                .all(|e| e.1 == list[0].1 && e.3 == list[0].3 && !e.4)
        {
            expected.push(crate::run::Expected {
                case: id.clone(),
                outcome: list[0].1,
                reason: list[0].2.clone(),
                flaky: false,
                or: list[0].3.clone(),
            });
        } else {
            for (role, o, why, or, _) in list {
                expected.push(crate::run::Expected {
                    case: format!("{id}@{role}"),
                    outcome: *o,
                    reason: why.clone(),
                    flaky: false,
                    or: or.clone(),
                });
            }
        }
    }
    // Flaky entries are written by hand and kept.
    for e in &imp.expectations.expected {
        if e.flaky && !expected.iter().any(|x| x.case == e.case) {
            expected.push(e.clone());
        }
    }
    Expectations {
        implementation: imp.implementation.clone(),
        expected,
        // written by hand and kept
        interop_flaky: imp.expectations.interop_flaky.clone(),
    }
}

/// The expectations file as written to disk (pretty JSON, one entry per
/// line).
pub fn expectations_json(e: &Expectations) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(
        s,
        "  \"implementation\": {},",
        Value::from(e.implementation.clone())
    );
    s.push_str("  \"expected\": [");
    for (i, x) in e.expected.iter().enumerate() {
        let line = serde_json::to_string(x).unwrap_or_default();
        let _ = write!(s, "{}\n    {line}", if i == 0 { "" } else { "," });
    }
    if !e.expected.is_empty() {
        s.push_str("\n  ");
    }
    s.push(']');
    if !e.interop_flaky.is_empty() {
        s.push_str(",\n  \"interop_flaky\": [");
        for (i, x) in e.interop_flaky.iter().enumerate() {
            let line = serde_json::to_string(x).unwrap_or_default();
            let _ = write!(s, "{}\n    {line}", if i == 0 { "" } else { "," });
        }
        s.push_str("\n  ]");
    }
    s.push_str("\n}\n");
    s
}
