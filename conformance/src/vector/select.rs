//! `--case` selectors: a glob with `*` and `?`, or an id prefix.

/// Matches `id` against a selector: a glob with `*` and `?`, or an id prefix
/// (`flow` selects `flow.*`; `flow.recv` selects `flow.recv.*`).
pub fn selects(selector: &str, id: &str) -> bool {
    if selector.contains('*') || selector.contains('?') {
        glob_match(selector.as_bytes(), id.as_bytes())
    } else {
        id == selector
            || id.starts_with(&format!("{selector}."))
            || id.starts_with(selector) && selector.ends_with('.')
    }
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
