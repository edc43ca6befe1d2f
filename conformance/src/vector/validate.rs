//! What the types cannot say: ids, bindings defined before use, adapter
//! commands listed in `requires`, limits, fields that exclude each other.
//! Values that are wrong on their own (a frame type, a flag set, a parity,
//! a command, an event, a binding without its sigil, bad hex) fail when the
//! file loads, in [`super::fields`] and the types of [`super`].

use super::*;
use yamux::frame::FrameType;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').count() >= 2
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
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
    let mut bound: BTreeSet<Binding> = BTreeSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        let place = format!(", step {} ({})", i + 1, step.kind.name());
        let mut errs: Vec<String> = Vec::new();
        let need = |s: &Option<StreamRef>,
                    field: &str,
                    errs: &mut Vec<String>,
                    bound: &BTreeSet<Binding>| {
            if let Some(StreamRef::Bind(b)) = s {
                if !bound.contains(b) {
                    errs.push(format!("{field}: binding {b} is used before it is defined"));
                }
            }
        };
        let define = |s: &Option<StreamRef>, bound: &mut BTreeSet<Binding>| {
            if let Some(StreamRef::Bind(b)) = s {
                bound.insert(b.clone());
            }
        };
        match &step.kind {
            StepKind::Send(s) => {
                if let Some(b) = &s.body {
                    if let Err(e) = b.check() {
                        errs.push(e);
                    }
                    if s.typ != TypeByte::of(FrameType::Data) && s.length.is_none() {
                        errs.push("body: only data frames have a body (give length to lie)".into());
                    }
                }
                let vals = [s.delta.is_some(), s.value.is_some(), s.code.is_some()];
                if vals.iter().filter(|v| **v).count() > 1 {
                    errs.push("give at most one of delta, value, code".into());
                }
                define(&s.stream, &mut bound);
            }
            StepKind::SendData(d) => define(&Some(d.stream.clone()), &mut bound),
            StepKind::Expect(p) => define(&p.stream, &mut bound),
            StepKind::ExpectData(d) => {
                need(&Some(d.stream.clone()), "stream", &mut errs, &bound);
                if let Err(e) = d.body.check() {
                    errs.push(e);
                }
            }
            StepKind::ExpectSilence(s) => {
                need(&s.stream, "stream", &mut errs, &bound);
            }
            StepKind::Act(a) => {
                if !case.requires.contains(&a.cmd) {
                    errs.push(format!(
                        "cmd: {:?} must be listed in the case's requires",
                        a.cmd.as_str()
                    ));
                }
                need(&a.stream, "stream", &mut errs, &bound);
                if a.repeat.is_some() && a.expect_reply != Some(Reply::None) {
                    errs.push("repeat: only with \"expect_reply\": \"none\"".into());
                }
                if let Some(b) = &a.bind {
                    bound.insert(b.clone());
                }
            }
            StepKind::ExpectEvent(e) => {
                if e.event == Event::Accepted {
                    define(&e.stream, &mut bound);
                } else {
                    need(&e.stream, "stream", &mut errs, &bound);
                }
            }
            StepKind::ExpectNoEvent(e) => need(&e.stream, "stream", &mut errs, &bound),
            StepKind::Observe(o) => need(&o.stream, "stream", &mut errs, &bound),
            StepKind::Raw(_)
            | StepKind::ExpectGoaway(_)
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
                define(&f.frame.stream, &mut bound);
            }
        }
        for e in errs {
            out.push((place.clone(), e));
        }
    }
    out
}
