//! `vectors`: arbitrary bytes through the scenario-vector loader and
//! validator (`conformance::vector`).

use std::path::Path;

use conformance::vector::{load_str, validate_case, Case};

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
