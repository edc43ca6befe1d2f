use super::load::parse_case;
use super::*;
use crate::adapter::Command;

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

/// The error of a case whose only step is `step`: (place, message).
fn step_error(step: Value) -> (String, String) {
    case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "requires": ["open"], "steps": [step]
    }))
    .unwrap_err()
}

#[test]
fn a_bad_typed_value_fails_at_load_naming_its_field() {
    use serde_json::json;
    let cases = [
        (
            json!({"send": {"type": "foo"}}),
            ", step 1 (send)",
            "type: unknown frame type \"foo\", expected one of data, window-update (wu), ping, go-away (goaway), or a type byte 0-255 as a string (\"4\", \"0x7f\")",
        ),
        (
            json!({"send": {"type": "256"}}),
            ", step 1 (send)",
            "type: unknown frame type \"256\"",
        ),
        (
            json!({"send": {"type": "data", "flags": "SYNN"}}),
            ", step 1 (send)",
            "flags: \"SYNN\" is not a flag set, expected SYN, ACK, FIN and RST joined by | or a number (\"0x8000\")",
        ),
        (
            json!({"send": {"type": "data", "stream": "s"}}),
            ", step 1 (send)",
            "stream: binding \"s\" must start with $ or % (then a name)",
        ),
        (
            json!({"send": {"type": "data", "stream": -1}}),
            ", step 1 (send)",
            "stream: invalid value: integer `-1`, expected a stream id (0 to 4294967295) or a binding ($name or %name)",
        ),
        (
            json!({"send": {"type": "data", "body": {"hex": "6g"}}}),
            ", step 1 (send)",
            "body.hex: not valid hex: ",
        ),
        (
            json!({"raw": {"hex": "abc"}}),
            ", step 1 (raw)",
            "hex: not valid hex: ",
        ),
        (
            json!({"expect": {"type": "pong"}}),
            ", step 1 (expect)",
            "type: unknown frame type \"pong\"",
        ),
        (
            json!({"expect": {"flags_absent": "ACK|FOO"}}),
            ", step 1 (expect)",
            "flags_absent: \"ACK|FOO\" is not a flag set",
        ),
        (
            json!({"expect": {"flags_exact": "0x10000"}}),
            ", step 1 (expect)",
            "flags_exact: \"0x10000\" is not a flag set",
        ),
        (
            json!({"expect": {"parity": "odds"}}),
            ", step 1 (expect)",
            "parity: unknown variant `odds`, expected one of `odd`, `even`, `iut`, `peer`",
        ),
        (
            json!({"expect_silence": {"ms": 1, "types": ["ping", "wu", "x"]}}),
            ", step 1 (expect_silence)",
            "types[2]: unknown frame type \"x\"",
        ),
        (
            json!({"expect_silence": {"ms": 1, "flags": "nope"}}),
            ", step 1 (expect_silence)",
            "flags: \"nope\" is not a flag set",
        ),
        (
            json!({"expect_data": {"stream": "x", "len": 1}}),
            ", step 1 (expect_data)",
            "stream: binding \"x\" must start with $ or %",
        ),
        (
            json!({"act": {"cmd": "opne"}}),
            ", step 1 (act)",
            "cmd: unknown variant `opne`, expected one of `open`, `write`, `close`, `reset`, `reset-code`, `ping`, `goaway`, `session-close`, `accept`, `no-accept`, `read`, `no-read`, `echo`, `no-echo`, `accept-sessions`",
        ),
        (
            json!({"act": {"cmd": "open", "expect_reply": "yes"}}),
            ", step 1 (act)",
            "expect_reply: unknown variant `yes`, expected one of `ok`, `error`, `any`, `none`",
        ),
        (
            json!({"act": {"cmd": "open", "bind": "s"}}),
            ", step 1 (act)",
            "bind: binding \"s\" must start with $ or % (then a name)",
        ),
        (
            json!({"act": {"cmd": "write", "stream": 1, "hex": "0"}}),
            ", step 1 (act)",
            "hex: not valid hex: ",
        ),
        (
            json!({"expect_event": {"event": "accept"}}),
            ", step 1 (expect_event)",
            "event: unknown variant `accept`, expected one of `accepted`, `data`, `eof`, `reset`, `stream-error`, `closed`",
        ),
        (
            json!({"expect_event": {"event": "reset", "or": ["stream-error", "error"]}}),
            ", step 1 (expect_event)",
            "or[1]: unknown variant `error`",
        ),
        (
            json!({"expect_no_event": {"event": "eof ", "ms": 1}}),
            ", step 1 (expect_no_event)",
            "event: unknown variant `eof `",
        ),
        (
            json!({"flood": {"frame": {"type": "wu", "flags": "SYN", "stream": "s"}, "count": 1}}),
            ", step 1 (flood)",
            "frame.stream: binding \"s\" must start with $ or %",
        ),
        (
            json!({"flood": {"frame": {"type": "wux"}, "count": 1}}),
            ", step 1 (flood)",
            "frame.type: unknown frame type \"wux\"",
        ),
        (
            json!({"flood": {"frame": {"type": "wu"}, "count": 1, "then": {"type": "wu", "flags": "RTS"}}}),
            ", step 1 (flood)",
            "then.flags: \"RTS\" is not a flag set",
        ),
    ];
    for (step, place, message) in cases {
        let (p, m) = step_error(step.clone());
        assert_eq!(p, place, "{step}: {m}");
        assert!(m.starts_with(message), "{step}:\n got {m}\nwant {message}…");
    }
    // An unknown field is named by its message, a nested one by its path.
    let (_, m) = step_error(serde_json::json!({"send": {"type": "ping", "flagz": "SYN"}}));
    assert!(
        m.starts_with("unknown field `flagz`, expected one of `type`"),
        "{m}"
    );
    let (_, m) = step_error(serde_json::json!({"send": {"type": "data", "body": {"lne": 1}}}));
    assert!(m.starts_with("body.lne: unknown field `lne`"), "{m}");
    let (p, m) = case(serde_json::json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "requires": ["open", "opne"], "steps": [{"sync": {}}]
    }))
    .unwrap_err();
    assert_eq!(p, "");
    assert!(m.starts_with("requires[1]: unknown variant `opne`"), "{m}");
}

#[test]
fn typed_values_are_parsed_once_and_written_in_their_canonical_form() {
    use serde_json::json;
    let c = case(json!({
        "id": "a.b", "spec": ["ping.echo"], "level": "MUST", "roles": ["server"], "summary": "s",
        "requires": ["no-echo", "write"],
        "steps": [
            {"send": {"type": "WU", "flags": "syn,ack", "stream": "$s"}},
            {"send": {"type": "0x7f", "flags": "0x10", "length": 3}},
            {"send": {"type": "3", "flags": "0"}},
            {"raw": {"hex": "00 01_FF"}},
            {"expect": {"type": "goaway", "flags_exact": "FIN|0x8000", "parity": "iut"}},
            {"act": {"cmd": "write", "stream": "$s", "hex": "AB cd", "expect_reply": "none", "repeat": 2}},
            {"expect_event": {"event": "reset", "or": ["stream-error"], "stream": "$s"}},
            {"expect_silence": {"ms": 1, "types": ["data", "4"], "stream": "%t"}}
        ]
    }))
    .unwrap();
    let StepKind::Send(s) = &c.steps[0].kind else {
        panic!("{:?}", c.steps[0].kind)
    };
    assert_eq!(s.typ, TypeByte::of(yamux::frame::FrameType::WindowUpdate));
    assert_eq!(s.flags, Some(Flags::SYN | Flags::ACK));
    assert_eq!(s.stream, Some(StreamRef::Bind(Binding::peer("s"))));
    let StepKind::Send(s) = &c.steps[1].kind else {
        panic!()
    };
    assert_eq!((s.typ.byte(), s.typ.frame_type()), (0x7f, None));
    assert_eq!(s.flags, Some(Flags::from_bits(0x10)));
    let StepKind::Act(a) = &c.steps[5].kind else {
        panic!()
    };
    assert_eq!(a.cmd, Command::Write);
    assert_eq!(a.expect_reply, Some(Reply::None));
    assert_eq!(a.hex, Some(Hex(vec![0xab, 0xcd])));
    let StepKind::ExpectSilence(e) = &c.steps[7].kind else {
        panic!()
    };
    assert!(e
        .stream
        .as_ref()
        .and_then(StreamRef::binding)
        .is_some_and(Binding::is_iut));
    let steps: Vec<Value> = c
        .steps
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(
        Value::Array(steps.clone()),
        json!([
            {"send": {"type": "window-update", "flags": "SYN|ACK", "stream": "$s"}},
            {"send": {"type": "127", "flags": "0x0010", "length": 3}},
            {"send": {"type": "go-away", "flags": "0"}},
            {"raw": {"hex": "0001ff"}},
            {"expect": {"type": "go-away", "flags_exact": "FIN|0x8000", "parity": "iut"}},
            {"act": {"cmd": "write", "stream": "$s", "hex": "abcd", "expect_reply": "none", "repeat": 2}},
            {"expect_event": {"event": "reset", "or": ["stream-error"], "stream": "$s"}},
            {"expect_silence": {"ms": 1, "types": ["data", "4"], "stream": "%t"}}
        ])
    );
    // The canonical form loads back to the same values.
    let mut again = serde_json::to_value(&c).unwrap();
    again["steps"] = Value::Array(steps.clone());
    let again = case(again).unwrap();
    let back: Vec<Value> = again
        .steps
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(back, steps);
}

#[test]
fn frame_types_by_name_and_number() {
    use yamux::frame::FrameType;
    for t in FrameType::ALL {
        assert_eq!(TypeByte::parse(t.name()), Some(TypeByte::of(t)));
        assert_eq!(
            TypeByte::parse(&t.name().to_uppercase()),
            Some(TypeByte::of(t))
        );
        assert_eq!(
            TypeByte::parse(&(t as u8).to_string()),
            Some(TypeByte::of(t))
        );
        assert_eq!(TypeByte::of(t).to_string(), t.name());
    }
    assert_eq!(
        TypeByte::parse("wu"),
        Some(TypeByte::of(FrameType::WindowUpdate))
    );
    assert_eq!(
        TypeByte::parse("goaway"),
        Some(TypeByte::of(FrameType::GoAway))
    );
    assert_eq!(TypeByte::parse("0xff").map(TypeByte::byte), Some(255));
    assert_eq!(
        TypeByte::parse("4").map(|t| t.to_string()),
        Some("4".into())
    );
    for bad in ["", "256", "0x100", "-1", "pings", "0x"] {
        assert_eq!(TypeByte::parse(bad), None, "{bad}");
    }
}
