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
    let _ = writeln!(s, "  file: {}", c.file.display());
    if !c.requires.is_empty() {
        let _ = writeln!(s, "  requires (adapter commands): {}", c.requires.join(", "));
    }
    if let Some(t) = c.timeout_ms {
        let _ = writeln!(s, "  timeout: {t} ms");
    }
    for (k, v) in &c.env {
        let _ = writeln!(s, "  env: {k}={v}");
    }
    let _ = writeln!(s, "\nRules:");
    for id in &c.spec {
        match rules.and_then(|r| r.get(id)) {
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
