//! The adapters' bugs.json files, from which the matrix run writes
//! docs/reports/: every MUST failure an expected.json lists belongs to a
//! bug, every bug names cases that exist and a rule of docs/spec.md with
//! its upstream basis, and every reproduction script is valid `inject`.

use conformance::matrix::Bugs;
use conformance::run::{Expectations, Outcome};
use conformance::spec::SpecRules;
use conformance::vector::{Level, Suite};

#[test]
fn every_listed_must_failure_has_a_bug_report_and_every_report_holds() {
    let suite = Suite::load_dir(&conformance::paths::vectors_dir()).expect("the suite loads");
    let rules = SpecRules::load(&conformance::paths::spec_file()).expect("docs/spec.md");
    let dir = conformance::paths::adapters_dir();
    let mut problems = Vec::new();
    let mut files = 0;
    for name in conformance::matrix::discover(&dir) {
        if name == "reference" {
            continue;
        }
        let bugs = Bugs::load(&dir.join(&name).join("bugs.json")).expect("bugs.json parses");
        files += usize::from(!bugs.bugs.is_empty());
        let exp_path = dir.join(&name).join("expected.json");
        let expected = if exp_path.exists() {
            Expectations::load(&exp_path).expect("expected.json parses")
        } else {
            Expectations::default()
        };
        for e in &expected.expected {
            let id = e.case.split('@').next().unwrap_or_default();
            let Some(case) = suite.get(id) else { continue };
            if case.level == Level::Must
                && e.outcome == Outcome::Fail
                && !e.flaky
                && !bugs.bugs.iter().any(|b| b.cases.iter().any(|c| c == id))
            {
                problems.push(format!(
                    "{name}: {} is a listed MUST failure in no bug",
                    e.case
                ));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for b in &bugs.bugs {
            if !ids.insert(b.id.as_str()) {
                problems.push(format!("{name}: bug id {} twice", b.id));
            }
            if b.cases.is_empty() {
                problems.push(format!("{name}/{}: no case", b.id));
            }
            for c in &b.cases {
                if suite.get(c).is_none() {
                    problems.push(format!("{name}/{}: case {c} does not exist", b.id));
                }
            }
            match rules.get(&b.rule) {
                None => problems.push(format!(
                    "{name}/{}: rule {} not in docs/spec.md",
                    b.id, b.rule
                )),
                Some(r) if r.upstream.is_none() => problems.push(format!(
                    "{name}/{}: rule {} has no Upstream: line in docs/spec.md",
                    b.id, b.rule
                )),
                Some(_) => {}
            }
            for check in &b.interop {
                if !conformance::matrix::CHECKS.contains(&check.as_str()) {
                    problems.push(format!("{name}/{}: unknown interop check {check}", b.id));
                }
            }
            if b.script.is_none() && b.no_script.is_none() {
                problems.push(format!(
                    "{name}/{}: no script and no_script says nothing",
                    b.id
                ));
            }
            let mut commands = 0;
            if let Some(script) = &b.script {
                match yamuxctl::inject::parse_lines(script) {
                    Ok(c) => commands = c.len(),
                    Err((line, e)) => {
                        problems.push(format!("{name}/{}: script line {line}: {e}", b.id))
                    }
                }
            }
            if commands == 0 && b.script.is_some() {
                problems.push(format!("{name}/{}: empty script", b.id));
            }
        }
    }
    assert!(files >= 6, "only {files} bugs.json files with bugs");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
