//! Rule ids of docs/spec.md: `### rule.id — Title`, a `Level:` line, text.

use std::collections::BTreeMap;
use std::path::Path;

/// One rule of docs/spec.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The id, e.g. `flow.credit`.
    pub id: String,
    /// The heading's title.
    pub title: String,
    /// MUST, SHOULD, MAY or INFO.
    pub level: String,
    /// The rule's first paragraph (the statement), unwrapped.
    pub statement: String,
    /// The `Upstream:` paragraph, unwrapped: what the upstream texts say
    /// that the rule rests on, in our words, with links.
    pub upstream: Option<String>,
}

/// The rules of docs/spec.md by id.
#[derive(Clone, Debug, Default)]
pub struct SpecRules {
    rules: BTreeMap<String, Rule>,
}

impl SpecRules {
    /// Parses the Markdown text of docs/spec.md.
    pub fn parse(text: &str) -> SpecRules {
        let mut rules = BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            let Some(h) = line.strip_prefix("### ") else {
                continue;
            };
            let (id, title) = match h.split_once(" — ") {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (h.trim(), ""),
            };
            if !id.contains('.') || id.contains(' ') {
                continue;
            }
            let mut level = String::new();
            let mut para: Vec<&str> = Vec::new();
            while i < lines.len() && !lines[i].starts_with('#') {
                let l = lines[i].trim();
                i += 1;
                if let Some(lv) = l.strip_prefix("Level:") {
                    level = lv.trim().to_string();
                } else if l.is_empty() {
                    if !para.is_empty() {
                        break;
                    }
                } else {
                    para.push(l);
                }
            }
            // The rest of the section: an `Upstream:` paragraph, if any.
            let mut upstream: Option<Vec<&str>> = None;
            while i < lines.len() && !lines[i].starts_with('#') {
                let l = lines[i].trim();
                i += 1;
                match (&mut upstream, l.strip_prefix("Upstream:")) {
                    (None, Some(rest)) => upstream = Some(vec![rest.trim()]),
                    (Some(u), _) if !l.is_empty() && !u.is_empty() => u.push(l),
                    (Some(u), _) if l.is_empty() => u.push(""),
                    _ => {}
                }
                if upstream.as_ref().is_some_and(|u| u.last() == Some(&"")) {
                    break;
                }
            }
            rules.insert(
                id.to_string(),
                Rule {
                    id: id.to_string(),
                    title: title.to_string(),
                    level,
                    statement: para.join(" "),
                    upstream: upstream.map(|u| {
                        u.into_iter()
                            .filter(|l| !l.is_empty())
                            .collect::<Vec<_>>()
                            .join(" ")
                    }),
                },
            );
        }
        SpecRules { rules }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> std::io::Result<SpecRules> {
        Ok(SpecRules::parse(&std::fs::read_to_string(path)?))
    }

    /// True if the id is defined.
    pub fn contains(&self, id: &str) -> bool {
        self.rules.contains_key(id)
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule was found.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headings_levels_and_statements() {
        let text = "# T\n\n## Flow\n\n### flow.credit — Never send more\nLevel: MUST\n\nA sender MUST NOT\nexceed credit.\n\nMore.\n\n### ping.echo — Answer\nLevel: SHOULD\n\nEcho.\n";
        let r = SpecRules::parse(text);
        assert_eq!(r.len(), 2);
        let c = r.get("flow.credit").unwrap();
        assert_eq!(c.level, "MUST");
        assert_eq!(c.title, "Never send more");
        assert_eq!(c.statement, "A sender MUST NOT exceed credit.");
        assert!(r.contains("ping.echo"));
        assert_eq!(c.upstream, None);
        let text = "### flags.fin — FIN\nLevel: MUST\n\nFIN ends.\n\nMore.\n\nUpstream: [spec](u) says FIN\nhalf-closes.\n\nLater.\n\n### a.b — B\nLevel: MAY\n\nB.\n";
        let r = SpecRules::parse(text);
        let f = r.get("flags.fin").unwrap();
        assert_eq!(
            f.upstream.as_deref(),
            Some("[spec](u) says FIN half-closes.")
        );
        assert_eq!(r.get("a.b").unwrap().statement, "B.");
    }
}
