//! `--script` files in the conformance vector step language
//! (`docs/vectors.md`): a case object with `steps`, or an array of steps.
//! The sending steps run (`send`, `raw`, `wait`; `sync` sends its Ping);
//! the checking steps (`expect*`, `act`, ...) do not — inject prints every
//! frame instead — and each one skipped is listed in the notes.

use std::time::Duration;

use serde_json::Value;
use yamux::frame::{Flags, FrameType, RawHeader};

use super::Command;

fn u32_field(o: &Value, k: &str) -> Result<Option<u32>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`{k}` must be a number 0..=4294967295")),
    }
}

fn frame_type(s: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    match s.to_ascii_lowercase().as_str() {
        "data" => Ok(FrameType::Data as u8),
        "window-update" | "wu" => Ok(FrameType::WindowUpdate as u8),
        "ping" => Ok(FrameType::Ping as u8),
        "go-away" | "goaway" => Ok(FrameType::GoAway as u8),
        _ => Err(format!("unknown frame type {s:?}")),
    }
}

fn body(b: &Value) -> Result<Vec<u8>, String> {
    if let Some(h) = b.get("hex").and_then(Value::as_str) {
        let clean: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        return hex::decode(clean).map_err(|e| format!("body hex: {e}"));
    }
    if let Some(t) = b.get("utf8").and_then(Value::as_str) {
        return Ok(t.as_bytes().to_vec());
    }
    if let Some(n) = u32_field(b, "len")? {
        let off = u32_field(b, "offset")?.unwrap_or(0);
        return Ok((0..n)
            .map(|i| ((u64::from(off) + u64::from(i)) % 251) as u8)
            .collect());
    }
    Err("body needs one of hex, utf8, len".into())
}

fn send(s: &Value, out: &mut Vec<Command>) -> Result<(), String> {
    let typ = frame_type(
        s.get("type")
            .and_then(Value::as_str)
            .ok_or("send needs `type`")?,
    )?;
    let flags = match s.get("flags").and_then(Value::as_str) {
        Some(f) => Flags::parse(f).ok_or_else(|| format!("bad flags {f:?}"))?,
        None => Flags::NONE,
    };
    let stream = match s.get("stream") {
        None => 0,
        Some(Value::String(b)) => {
            return Err(format!(
                "stream binding {b:?} is not supported by inject: give a number"
            ))
        }
        Some(_) => u32_field(s, "stream")?.unwrap_or(0),
    };
    let payload = match s.get("body") {
        Some(b) => body(b)?,
        None => Vec::new(),
    };
    let value = u32_field(s, "delta")?
        .or(u32_field(s, "value")?)
        .or(u32_field(s, "code")?);
    let length = match u32_field(s, "length")? {
        Some(l) => l,
        None if typ == FrameType::Data as u8 => {
            u32::try_from(payload.len()).map_err(|_| "body too long")?
        }
        None => value.unwrap_or(0),
    };
    let version = match s.get("version") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or("`version` must be 0..=255")?,
    };
    let repeat = u32_field(s, "repeat")?.unwrap_or(1);
    let step = u32_field(s, "step")?.unwrap_or(0);
    let stream_step = u32_field(s, "stream_step")?.unwrap_or(0);
    for i in 0..repeat {
        let h = RawHeader {
            version,
            typ,
            flags: flags.bits(),
            stream_id: stream.wrapping_add(stream_step.wrapping_mul(i)),
            length: if typ == FrameType::Data as u8 {
                length
            } else {
                length.wrapping_add(step.wrapping_mul(i))
            },
        };
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(&payload);
        out.push(Command::Send(b));
    }
    Ok(())
}

/// Parses a JSON script; returns the commands and notes about the steps
/// not run.
pub fn parse_json(text: &str) -> Result<(Vec<Command>, Vec<String>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let steps = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("steps") {
            Some(Value::Array(a)) => a,
            _ => return Err("expected a case object with `steps`, or an array of steps".into()),
        },
        _ => return Err("expected a case object with `steps`, or an array of steps".into()),
    };
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let n = i + 1;
        let Some(o) = s.as_object() else {
            return Err(format!("step {n}: not an object"));
        };
        let action = o
            .keys()
            .find(|k| !matches!(k.as_str(), "level" | "note" | "rule" | "within_ms"))
            .ok_or_else(|| format!("step {n}: no action"))?;
        let arg = &o[action];
        let r = match action.as_str() {
            "send" => send(arg, &mut out),
            "raw" => match arg.get("hex").and_then(Value::as_str) {
                Some(h) => {
                    let clean: String = h.chars().filter(|c| !c.is_whitespace()).collect();
                    hex::decode(clean)
                        .map(|b| out.push(Command::Send(b)))
                        .map_err(|e| format!("hex: {e}"))
                }
                None => Err("raw needs `hex`".into()),
            },
            "wait" => u32_field(arg, "ms").map(|ms| {
                out.push(Command::Sleep(Duration::from_millis(u64::from(
                    ms.unwrap_or(0),
                ))))
            }),
            "sync" => u32_field(arg, "value").map(|v| {
                let h = RawHeader {
                    version: 0,
                    typ: FrameType::Ping as u8,
                    flags: Flags::SYN.bits(),
                    stream_id: 0,
                    length: v.unwrap_or(0),
                };
                out.push(Command::Send(h.to_bytes().to_vec()));
            }),
            other => {
                notes.push(format!(
                    "step {n} ({other}) not run: inject prints what arrives instead of checking it"
                ));
                Ok(())
            }
        };
        r.map_err(|e| format!("step {n} ({action}): {e}"))?;
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(c: &[Command]) -> String {
        c.iter()
            .map(|c| match c {
                Command::Send(b) => hex::encode(b),
                Command::Sleep(d) => format!("sleep{}", d.as_millis()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_case_runs_its_sending_steps() {
        let (c, notes) = parse_json(
            r#"{"id": "x", "steps": [
                {"send": {"type": "data", "flags": "SYN", "stream": 1, "body": {"len": 3}}},
                {"expect": {"flags": "ACK", "stream": 1}, "note": "acked"},
                {"send": {"type": "ping", "flags": "SYN", "value": 5, "repeat": 2, "step": 1}},
                {"raw": {"hex": "01 02"}},
                {"wait": {"ms": 20}},
                {"send": {"type": "wu", "stream": 1, "delta": 10, "version": 1}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            wire(&c),
            "000000010000000100000003000102 000200010000000000000005 000200010000000000000006 0102 sleep20 01010000000000010000000a"
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("step 2 (expect) not run"), "{notes:?}");
    }

    #[test]
    fn errors_name_the_step() {
        let e = parse_json(r#"[{"send": {"type": "data", "stream": "$s"}}]"#).unwrap_err();
        assert!(e.starts_with("step 1 (send): stream binding"), "{e}");
        let e = parse_json(r#"[{"wait": {}}, {"send": {"type": "zz"}}]"#).unwrap_err();
        assert!(e.contains("step 2 (send): unknown frame type"), "{e}");
        assert!(parse_json("{").is_err());
        assert!(parse_json("3").is_err());
    }
}
