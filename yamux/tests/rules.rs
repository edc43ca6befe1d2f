//! `yamux::rules::Rule` is docs/spec.md's list of rules: the same ids with
//! the same levels, in the headings (`### id — title` + `Level:`) and in the
//! index table, both ways.

use std::collections::BTreeMap;
use std::path::Path;

use yamux::rules::{Level, Rule};

fn spec() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn level(s: &str) -> Option<Level> {
    Some(match s {
        "MUST" => Level::Must,
        "SHOULD" => Level::Should,
        "MAY" => Level::May,
        "INFO" => Level::Info,
        _ => return None,
    })
}

/// `id → level` from the rule headings and their `Level:` lines.
fn from_headings(text: &str) -> BTreeMap<String, Option<Level>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            let id = h.split(" — ").next().unwrap_or(h).trim().to_string();
            out.insert(id.clone(), None);
            current = Some(id);
        } else if line.starts_with('#') {
            current = None;
        } else if let (Some(id), Some(l)) = (&current, line.strip_prefix("Level:")) {
            out.insert(id.clone(), level(l.trim()));
            current = None;
        }
    }
    out
}

/// `id → level` from the index table.
fn from_index(text: &str) -> BTreeMap<String, Option<Level>> {
    let index = text.split("## Index").nth(1).expect("an ## Index section");
    index
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [id, lv, _title] if id.contains('.') => Some((id.to_string(), level(lv))),
                _ => None,
            }
        })
        .collect()
}

fn from_rules() -> BTreeMap<String, Option<Level>> {
    Rule::ALL
        .iter()
        .map(|r| (r.id().to_string(), Some(r.level())))
        .collect()
}

#[test]
fn rule_ids_and_levels_equal_the_headings_of_docs_spec_md() {
    let text = spec();
    let doc = from_headings(&text);
    let ours = from_rules();
    let missing: Vec<_> = doc.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !doc.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "in docs/spec.md, not in Rule: {missing:?}"
    );
    assert!(extra.is_empty(), "in Rule, not in docs/spec.md: {extra:?}");
    assert_eq!(doc, ours, "levels differ");
}

#[test]
fn the_index_of_docs_spec_md_lists_the_same_rules() {
    assert_eq!(from_index(&spec()), from_rules());
}

#[test]
fn rules_are_in_the_order_of_docs_spec_md() {
    let text = spec();
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.split(" — ").next().unwrap_or(h).trim())
        .collect();
    let ours: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
    assert_eq!(order, ours);
}
