//! What the types cannot say: ids, bindings defined before use, adapter
//! commands listed in `requires`, flag sets, limits.

use super::*;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').count() >= 2
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

fn check_flags(v: &Option<String>, field: &str, out: &mut Vec<String>) {
    if let Some(f) = v {
        if Flags::parse(f).is_none() {
            out.push(format!(
                "{field}: {f:?} is not a flag set (SYN|ACK|FIN|RST or a number)"
            ));
        }
    }
}

/// Semantic checks; returns (place suffix, message).
pub fn validate_case(case: &Case) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut top = |m: String| out.push((String::new(), m));
    if !valid_id(&case.id) {
        top(format!(
            "id: {:?} must be dotted lower-case words (e.g. flow.recv.exact-window)",
            case.id
        ));
    }
    if !case.id.starts_with(&format!("{}.", case.family)) && case.family != "regressions" {
        top(format!(
            "id: {:?} must start with the family name {:?}",
            case.id, case.family
        ));
    }
    if case.spec.is_empty() {
        top("spec: cite at least one docs/spec.md rule id".into());
    }
    if case.roles.is_empty() {
        top("roles: give server, client or both".into());
    }
    if case.summary.trim().is_empty() {
        top("summary: empty".into());
    }
    if case.steps.is_empty() {
        top("steps: empty".into());
    }
    for r in &case.requires {
        if !COMMANDS.contains(&r.as_str()) {
            top(format!("requires: {r:?} is not an adapter command"));
        }
    }
    let mut bound: BTreeSet<String> = BTreeSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        let place = format!(", step {} ({})", i + 1, step.kind.name());
        let mut errs: Vec<String> = Vec::new();
        let need = |s: &Option<StreamRef>,
                    field: &str,
                    errs: &mut Vec<String>,
                    bound: &BTreeSet<String>| {
            if let Some(StreamRef::Bind(b)) = s {
                if !(b.starts_with('$') || b.starts_with('%')) || b.len() < 2 {
                    errs.push(format!("{field}: binding {b:?} must start with $ or %"));
                } else if !bound.contains(b) {
                    errs.push(format!("{field}: binding {b} is used before it is defined"));
                }
            }
        };
        let define = |s: &Option<StreamRef>,
                      field: &str,
                      errs: &mut Vec<String>,
                      bound: &mut BTreeSet<String>| {
            if let Some(StreamRef::Bind(b)) = s {
                if !(b.starts_with('$') || b.starts_with('%')) || b.len() < 2 {
                    errs.push(format!("{field}: binding {b:?} must start with $ or %"));
                } else {
                    bound.insert(b.clone());
                }
            }
        };
        match &step.kind {
            StepKind::Send(s) => {
                if parse_type(&s.typ).is_none() {
                    errs.push(format!("type: {:?} is not a frame type", s.typ));
                }
                check_flags(&s.flags, "flags", &mut errs);
                if let Some(b) = &s.body {
                    if let Err(e) = b.check() {
                        errs.push(e);
                    }
                    if parse_type(&s.typ) != Some(0) && s.length.is_none() {
                        errs.push("body: only data frames have a body (give length to lie)".into());
                    }
                }
                let vals = [s.delta.is_some(), s.value.is_some(), s.code.is_some()];
                if vals.iter().filter(|v| **v).count() > 1 {
                    errs.push("give at most one of delta, value, code".into());
                }
                define(&s.stream, "stream", &mut errs, &mut bound);
            }
            StepKind::Raw(r) => {
                if hex::decode(r.hex.replace([' ', '_'], "")).is_err() {
                    errs.push("hex: not valid hex".into());
                }
            }
            StepKind::SendData(d) => {
                define(&Some(d.stream.clone()), "stream", &mut errs, &mut bound);
            }
            StepKind::Expect(p) => {
                if let Some(t) = &p.typ {
                    if parse_type(t).is_none() {
                        errs.push(format!("type: {t:?} is not a frame type"));
                    }
                }
                check_flags(&p.flags, "flags", &mut errs);
                check_flags(&p.flags_absent, "flags_absent", &mut errs);
                check_flags(&p.flags_exact, "flags_exact", &mut errs);
                if let Some(par) = &p.parity {
                    if !["odd", "even", "iut", "peer"].contains(&par.as_str()) {
                        errs.push(format!("parity: {par:?} must be odd, even, iut or peer"));
                    }
                }
                define(&p.stream, "stream", &mut errs, &mut bound);
            }
            StepKind::ExpectData(d) => {
                need(&Some(d.stream.clone()), "stream", &mut errs, &bound);
                if let Err(e) = d.body.check() {
                    errs.push(e);
                }
            }
            StepKind::ExpectSilence(s) => {
                need(&s.stream, "stream", &mut errs, &bound);
                for t in &s.types {
                    if parse_type(t).is_none() {
                        errs.push(format!("types: {t:?} is not a frame type"));
                    }
                }
                check_flags(&s.flags, "flags", &mut errs);
            }
            StepKind::Act(a) => {
                if !COMMANDS.contains(&a.cmd.as_str()) {
                    errs.push(format!("cmd: {:?} is not an adapter command", a.cmd));
                } else if !case.requires.contains(&a.cmd) {
                    errs.push(format!(
                        "cmd: {:?} must be listed in the case's requires",
                        a.cmd
                    ));
                }
                need(&a.stream, "stream", &mut errs, &bound);
                if let Some(r) = &a.expect_reply {
                    if !["ok", "error", "any", "none"].contains(&r.as_str()) {
                        errs.push(format!(
                            "expect_reply: {r:?} must be ok, error, any or none"
                        ));
                    }
                }
                if a.repeat.is_some() && a.expect_reply.as_deref() != Some("none") {
                    errs.push("repeat: only with \"expect_reply\": \"none\"".into());
                }
                if let Some(b) = &a.bind {
                    define(
                        &Some(StreamRef::Bind(b.clone())),
                        "bind",
                        &mut errs,
                        &mut bound,
                    );
                }
            }
            StepKind::ExpectEvent(e) => {
                for ev in std::iter::once(&e.event).chain(e.or.iter()) {
                    if !EVENTS.contains(&ev.as_str()) {
                        errs.push(format!("event: {ev:?} is not an adapter event"));
                    }
                }
                if e.event == "accepted" {
                    define(&e.stream, "stream", &mut errs, &mut bound);
                } else {
                    need(&e.stream, "stream", &mut errs, &bound);
                }
            }
            StepKind::ExpectNoEvent(e) => {
                if !EVENTS.contains(&e.event.as_str()) {
                    errs.push(format!("event: {:?} is not an adapter event", e.event));
                }
                need(&e.stream, "stream", &mut errs, &bound);
            }
            StepKind::Observe(o) => need(&o.stream, "stream", &mut errs, &bound),
            StepKind::ExpectGoaway(_)
            | StepKind::ExpectTerminate(_)
            | StepKind::ExpectClose(_)
            | StepKind::Sync(_)
            | StepKind::Wait(_)
            | StepKind::Peer(_)
            | StepKind::Responsive(_)
            | StepKind::CloseTcp(_) => {}
            StepKind::Sessions(m) => {
                let max = crate::sessions::MAX_SESSIONS;
                if m.count == 0 || m.count > max {
                    errs.push(format!("count: {} must be 1..={max}", m.count));
                }
                if m.echo.is_some_and(|e| e > 65_536) {
                    errs.push("echo: at most 65536 bytes".into());
                }
                if case.roles != [Role::Server] {
                    errs.push("sessions: only in a case whose roles are [\"server\"]".into());
                }
            }
            StepKind::Flood(f) => {
                if parse_type(&f.frame.typ).is_none() {
                    errs.push(format!("frame.type: {:?} is not a frame type", f.frame.typ));
                }
                check_flags(&f.frame.flags, "frame.flags", &mut errs);
                if f.frame.repeat.is_some() || !f.frame.split.is_empty() || f.frame.coalesce {
                    errs.push("frame: repeat, split and coalesce are not allowed in a flood (use count and batch)".into());
                }
                if f.count == 0 || f.count > MAX_FLOOD_COUNT {
                    errs.push(format!("count: {} must be 1..={MAX_FLOOD_COUNT}", f.count));
                }
                if f.for_ms.is_some_and(|ms| ms == 0 || ms > MAX_FLOOD_MS) {
                    errs.push(format!("for_ms: must be 1..={MAX_FLOOD_MS}"));
                }
                if f.batch == Some(0) {
                    errs.push("batch: must be at least 1".into());
                }
                if let Some(b) = &f.frame.body {
                    if let Err(e) = b.check() {
                        errs.push(format!("frame.{e}"));
                    }
                }
                if let Some(t) = &f.then {
                    if parse_type(&t.typ).is_none() {
                        errs.push(format!("then.type: {:?} is not a frame type", t.typ));
                    }
                    check_flags(&t.flags, "then.flags", &mut errs);
                }
                define(&f.frame.stream, "frame.stream", &mut errs, &mut bound);
            }
        }
        for e in errs {
            out.push((place.clone(), e));
        }
    }
    out
}
