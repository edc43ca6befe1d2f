//! The shipped vectors are valid and cover the families; bad files get
//! errors naming the file, the case, the step and the field.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use conformance::vector::{Level, Role, Suite};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("root")
        .to_path_buf()
}

#[test]
fn shipped_vectors_are_valid_and_cover_every_family() {
    let suite = Suite::load_dir(&root().join("vectors/session")).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(suite.cases.len() >= 100, "{} cases", suite.cases.len());
    let prefixes: BTreeSet<String> = suite
        .cases
        .iter()
        .map(|c| c.id.split('.').take(2).collect::<Vec<_>>().join("."))
        .collect();
    for family in [
        "frame.",
        "stream.id",
        "stream.open",
        "stream.ack",
        "stream.close",
        "stream.rst",
        "stream.unknown",
        "flow.",
        "ping.",
        "goaway.",
        "backlog.",
        "robust.",
        "regress.",
    ] {
        assert!(
            prefixes.iter().any(|p| p.starts_with(family)),
            "no case for {family}"
        );
    }
    for level in [Level::Must, Level::Should, Level::Info] {
        assert!(suite.cases.iter().any(|c| c.level == level));
    }
    assert!(suite.cases.iter().any(|c| c.roles == [Role::Client]));
    assert!(suite.cases.iter().any(|c| c.roles == [Role::Server]));
}

fn write_tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yamux-vectors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    std::fs::write(dir.join("ping.json"), content).expect("write");
    dir
}

fn errors(dir: &Path) -> Vec<String> {
    match Suite::load_dir(dir) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn unknown_field_names_file_case_step_and_field() {
    let dir = write_tmp(
        "unknown",
        r#"{"family": "ping", "description": "d", "cases": [
      {"id": "ping.x", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
       "steps": [{"sync": {}}, {"expect": {"type": "ping", "flagz": "ACK"}}]}]}"#,
    );
    let e = errors(&dir);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("ping.json: case ping.x, step 2 (expect): unknown field `flagz`"),
        "{}",
        e[0]
    );
}

#[test]
fn semantic_errors_are_all_reported() {
    let dir = write_tmp(
        "semantic",
        r#"{"family": "ping", "description": "d", "cases": [
      {"id": "ping.a", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
       "steps": [{"act": {"cmd": "open"}}, {"expect_data": {"stream": "$s", "len": 1}}]},
      {"id": "ping.r", "spec": ["no.such-rule"], "level": "MUST", "roles": ["server"], "summary": "s",
       "steps": [{"sync": {}}]},
      {"id": "ping.s", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
       "steps": [{"sync": {}, "rule": "ping.nope"}]},
      {"id": "ping.a", "spec": ["ping.echo"], "level": "SHOULD", "roles": [], "summary": "s",
       "steps": [{"send": {"type": "ping"}}]},
      {"id": "ping.t", "spec": ["ping.echo"], "level": "SHOULD", "roles": ["server"], "summary": "s",
       "steps": [{"sync": {}}, {"send": {"type": "bogus"}}]},
      {"id": "ping.u", "spec": ["ping.echo"], "level": "SHOULD", "roles": ["server"], "summary": "s",
       "steps": [{"expect": {"flags": "SYN", "parity": "odd", "stream": "bad"}}]},
      {"id": "flow.b", "spec": ["ping.echo"], "level": "INFO", "roles": ["client"], "summary": "s", "steps": [{"wait": {"ms": 1}}]}]}"#,
    );
    let e = errors(&dir).join("\n");
    for want in [
        "case ping.r: spec[0]: \"no.such-rule\" is not a rule id of docs/spec.md",
        "case ping.s, step 1 (sync): rule: \"ping.nope\" is not a rule id of docs/spec.md",
        "case ping.a, step 1 (act): cmd: \"open\" must be listed in the case's requires",
        "case ping.a, step 2 (expect_data): stream: binding $s is used before it is defined",
        "case ping.a: roles: give server, client or both",
        "case ping.t, step 2 (send): type: unknown frame type \"bogus\", expected one of data, window-update (wu), ping, go-away (goaway)",
        "case ping.u, step 1 (expect): stream: binding \"bad\" must start with $ or %",
        "case flow.b: id: \"flow.b\" must start with the family name \"ping\"",
        "case ping.a: id: duplicate id",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn family_must_match_file_name_and_json_errors_name_the_file() {
    let dir = write_tmp(
        "family",
        r#"{"family": "pong", "description": "d", "cases": []}"#,
    );
    let e = errors(&dir);
    assert!(
        e[0].contains("family: \"pong\" must equal the file name \"ping\""),
        "{e:?}"
    );
    let dir = write_tmp(
        "json",
        r#"{"family": "ping", "description": "d", "cases": [ }"#,
    );
    let e = errors(&dir);
    assert!(e[0].contains("ping.json: file: "), "{e:?}");
}
