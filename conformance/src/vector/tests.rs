use super::load::parse_case;
use super::*;

#[test]
fn selectors() {
    assert!(selects("flow", "flow.recv.exact"));
    assert!(selects("flow.recv", "flow.recv.exact"));
    assert!(!selects("flow.rec", "flow.recv.exact"));
    assert!(selects("flow.*", "flow.recv.exact"));
    assert!(selects("*.exact", "flow.recv.exact"));
    assert!(selects("flow.?ecv.*", "flow.recv.exact"));
    assert!(!selects("ping.*", "flow.recv.exact"));
}

fn case(json: Value) -> Result<Case, (String, String)> {
    parse_case(&json)
}

#[test]
fn unknown_step_field_is_named() {
    let e = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "steps": [{"send": {"type": "ping", "flags": "SYN", "valeu": 1}}]
    }))
    .unwrap_err();
    assert_eq!(e.0, ", step 1 (send)");
    assert!(e.1.contains("valeu"), "{}", e.1);
}

#[test]
fn huge_pattern_body_is_an_error_not_an_allocation() {
    // Found with the `vectors` fuzz entry point: validating a body of
    // `len` 4294967295 built the 4 GiB body.
    let c = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "steps": [{"send": {"type": "data", "stream": 1, "body": {"len": 4294967295u32}}}]
    }))
    .unwrap();
    let errs = validate_case(&c);
    assert!(
        errs.iter().any(|(p, m)| p == ", step 1 (send)"
            && m == "body.len: 4294967295 is above the limit of 16777216 bytes"),
        "{errs:?}"
    );
    let at_limit = Body {
        len: Some(MAX_BODY_LEN),
        offset: Some(u64::MAX),
        ..Body::default()
    };
    assert_eq!(at_limit.check(), Ok(()));
    assert!(Body {
        len: Some(MAX_BODY_LEN + 1),
        ..Body::default()
    }
    .bytes()
    .is_err());
}

#[test]
fn sessions_are_bounded_and_only_against_a_server() {
    let c = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "SHOULD", "roles": ["server", "client"],
        "summary": "s", "steps": [{"sessions": {"count": 2001, "echo": 70000}}]
    }))
    .unwrap();
    let errs: Vec<String> = validate_case(&c).into_iter().map(|(_, m)| m).collect();
    for want in [
        "count: 2001 must be 1..=2000",
        "echo: at most 65536 bytes",
        "sessions: only in a case whose roles are [\"server\"]",
    ] {
        assert!(errs.iter().any(|m| m == want), "{want}: {errs:?}");
    }
}

#[test]
fn binding_before_use() {
    let c = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "steps": [{"expect_data": {"stream": "$s", "len": 3}}]
    }))
    .unwrap();
    let mut c = c;
    c.family = "a".into();
    let errs = validate_case(&c);
    assert!(
        errs.iter()
            .any(|(p, m)| p == ", step 1 (expect_data)" && m.contains("$s is used before")),
        "{errs:?}"
    );
}

#[test]
fn two_actions_in_a_step() {
    let e = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "steps": [{"wait": {"ms": 1}, "sync": {}}]
    }))
    .unwrap_err();
    assert!(e.1.contains("exactly one action"));
}
