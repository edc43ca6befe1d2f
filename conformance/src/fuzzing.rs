//! Entry point of the `vectors` fuzz target in `fuzz/` (cargo-fuzz); a
//! plain `cargo test` replays its corpus and regression files through the
//! same function (see docs/fuzzing.md and `yamux::fuzzing`).

use std::path::Path;

use crate::vector::{load_str, validate_case, Case};

/// `vectors`: arbitrary bytes as a scenario-vector file
/// (`vectors/session/<family>.json`) through the loader and validator.
///
/// Checks: nothing panics and memory stays bounded whatever the file says
/// (lengths, repeats, hex); every error names the file and a place; a file
/// that loads has only cases that validate cleanly, and each case written
/// back as JSON loads again to the same JSON (the format round-trips).
pub fn vectors(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Name the file after its family, so that valid files can load.
    let family = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("family")?.as_str().map(str::to_owned))
        .filter(|f| !f.is_empty() && !f.contains(['/', '\\', '.']))
        .unwrap_or_else(|| "fuzz".to_owned());
    let path = Path::new("vectors").join(format!("{family}.json"));
    match load_str(&path, &text) {
        Ok((fam, _desc, cases)) => {
            assert_eq!(fam, family);
            for case in &cases {
                assert!(validate_case(case).is_empty());
                round_trip(&path, &fam, case);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an error without a message");
            for e in &errors {
                assert_eq!(e.file, path.display().to_string());
                assert!(!e.place.is_empty() && !e.message.is_empty(), "{e}");
            }
        }
    }
}

/// A loaded case, serialised and loaded again, serialises the same.
fn round_trip(path: &Path, family: &str, case: &Case) {
    let json = |c: &Case| serde_json::to_value(c).expect("a case serialises");
    let first = json(case);
    let file = serde_json::json!({
        "family": family,
        "description": "round trip",
        "cases": [first.clone()],
    });
    let text = file.to_string();
    let again = match load_str(path, &text) {
        Ok((_, _, cases)) => cases,
        Err(e) => panic!("a loaded case does not load again: {e:?}\n{text}"),
    };
    assert_eq!(again.len(), 1);
    assert_eq!(json(&again[0]), first, "the case changed on a round trip");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, f: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        yamux::fuzzing::replay_dir(&dir, target, f)
    }

    #[test]
    fn vectors_corpus() {
        assert!(
            replay("vectors", super::vectors) > 0,
            "no corpus for vectors"
        );
    }

    #[test]
    fn vectors_edge_inputs() {
        for input in [&b""[..], b"{}", b"[]", b"null", b"{\"family\":\"x\"}"] {
            super::vectors(input);
        }
    }

    #[test]
    fn every_shipped_vector_file_round_trips() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/session");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            super::vectors(&std::fs::read(&p).unwrap());
            n += 1;
        }
        assert!(n > 0);
    }
}
