//! The NDJSON wire of docs/adapters.md: commands in, events out.

use serde_json::{json, Map, Value};
use std::io::Write;

/// One parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The runner's id, echoed in the reply as given.
    pub id: Value,
    pub cmd: Command,
}

/// The commands of the contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `open`, with the bytes of `hex`/`len` to write at once, if given.
    Open {
        data: Option<Vec<u8>>,
    },
    Write {
        stream: u32,
        data: Vec<u8>,
    },
    Close {
        stream: u32,
    },
    Reset {
        stream: u32,
    },
    /// `reset-code`: a reset carrying an error code (`length.rst-code`).
    /// The stream is checked only once the implementation can send `code`
    /// ([`crate::Driver::reset_code`]).
    ResetCode {
        stream: Option<u32>,
        code: u64,
    },
    Ping,
    GoAway {
        code: u32,
    },
    SessionClose,
    Accept,
    NoAccept,
    Read {
        stream: Option<u32>,
    },
    NoRead {
        stream: Option<u32>,
    },
    Echo {
        stream: Option<u32>,
    },
    NoEcho {
        stream: Option<u32>,
    },
    /// Server role: accept up to `count` more connections on the listener,
    /// each an extra echo session without events (docs/adapters.md, "More
    /// sessions: `accept-sessions`").
    AcceptSessions {
        count: u64,
    },
    /// A deliberate panic in a new task (the crash contract,
    /// docs/adapters.md "Crashes"). Never answered: the process dies.
    Crash,
    /// Anything else: answered with `unsupported`.
    Unknown(String),
}

/// A line that could not be turned into a command.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    /// The id, when the line had one (then an `error` reply is possible).
    pub id: Option<Value>,
    pub message: String,
}

/// Parses one stdin line.
pub fn parse_line(line: &str) -> Result<Request, BadRequest> {
    let value: Value = serde_json::from_str(line).map_err(|e| BadRequest {
        id: None,
        message: format!("command line is not JSON ({e}): {line}"),
    })?;
    let obj = value.as_object().ok_or_else(|| BadRequest {
        id: None,
        message: format!("command line is not a JSON object: {line}"),
    })?;
    let id = obj.get("id").cloned().ok_or_else(|| BadRequest {
        id: None,
        message: format!("command without `id`: {line}"),
    })?;
    let bad = |message: String| BadRequest {
        id: Some(id.clone()),
        message,
    };
    let name = obj
        .get("cmd")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("command without a string `cmd`".into()))?;
    let cmd = match name {
        "open" => Command::Open {
            data: match (obj.get("hex"), obj.get("len")) {
                (None, None) => None,
                _ => Some(write_bytes(obj, "open").map_err(bad)?),
            },
        },
        "write" => {
            let stream = stream_field(obj).map_err(bad)?;
            let data = write_bytes(obj, "write").map_err(bad)?;
            Command::Write { stream, data }
        }
        "close" => Command::Close {
            stream: stream_field(obj).map_err(bad)?,
        },
        "reset" => Command::Reset {
            stream: stream_field(obj).map_err(bad)?,
        },
        "reset-code" => Command::ResetCode {
            stream: opt_stream_field(obj).map_err(bad)?,
            code: match obj.get("code") {
                None | Some(Value::Null) => 0,
                Some(c) => c
                    .as_u64()
                    .ok_or_else(|| bad("`code` is not a non-negative integer".into()))?,
            },
        },
        "ping" => Command::Ping,
        "goaway" => {
            let code = match obj.get("code") {
                None | Some(Value::Null) => 0,
                Some(c) => c
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| bad("`code` is not a 32-bit unsigned integer".into()))?,
            };
            Command::GoAway { code }
        }
        "session-close" => Command::SessionClose,
        "crash" => Command::Crash,
        "accept-sessions" => Command::AcceptSessions {
            count: obj
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("`count` is missing or not a non-negative integer".into()))?,
        },
        "accept" => Command::Accept,
        "no-accept" => Command::NoAccept,
        "read" => Command::Read {
            stream: opt_stream_field(obj).map_err(bad)?,
        },
        "no-read" => Command::NoRead {
            stream: opt_stream_field(obj).map_err(bad)?,
        },
        "echo" => Command::Echo {
            stream: opt_stream_field(obj).map_err(bad)?,
        },
        "no-echo" => Command::NoEcho {
            stream: opt_stream_field(obj).map_err(bad)?,
        },
        other => Command::Unknown(other.to_string()),
    };
    Ok(Request { id, cmd })
}

fn opt_stream_field(obj: &Map<String, Value>) -> Result<Option<u32>, String> {
    match obj.get("stream") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|s| u32::try_from(s).ok())
            .map(Some)
            .ok_or_else(|| format!("`stream` is not a 32-bit stream id: {v}")),
    }
}

/// The bytes of a `write` (or an `open` that writes): `hex`, or `len`
/// pattern bytes.
fn write_bytes(obj: &Map<String, Value>, cmd: &str) -> Result<Vec<u8>, String> {
    match (obj.get("hex"), obj.get("len")) {
        (Some(h), None) => {
            let h = h.as_str().ok_or("`hex` is not a string")?;
            hex_decode(h).map_err(|e| format!("`hex`: {e}"))
        }
        (None, Some(n)) => {
            let n = n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("`len` is not a non-negative integer")?;
            Ok(pattern(n))
        }
        _ => Err(format!("`{cmd}` needs exactly one of `hex` and `len`")),
    }
}

fn stream_field(obj: &Map<String, Value>) -> Result<u32, String> {
    opt_stream_field(obj)?.ok_or_else(|| "missing `stream`".to_string())
}

/// `n` pattern bytes: byte i is i mod 251.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

pub fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    fn nibble(c: u8, at: usize) -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("not a hex digit at offset {at}")),
        }
    }
    let raw = s.as_bytes();
    // `% 2` rather than `is_multiple_of`: the workspace MSRV is 1.85.
    if raw.len() % 2 == 1 {
        return Err(format!("odd number of hex digits ({})", raw.len()));
    }
    raw.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match pair {
            [hi, lo] => Ok(nibble(*hi, 2 * i)? << 4 | nibble(*lo, 2 * i + 1)?),
            _ => Err("internal: chunk of two".to_string()),
        })
        .collect()
}

/// Writes one event line to stdout and flushes it.
pub fn emit(event: Value) {
    let line = event.to_string();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout means the runner is gone; there is nobody left to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn ok(id: &Value) -> Value {
    json!({"event": "ok", "id": id})
}

pub fn error(id: &Value, message: impl Into<String>) -> Value {
    json!({"event": "error", "id": id, "message": message.into()})
}

/// `unsupported` with the reason as an extra `message` field.
pub fn unsupported(id: &Value, message: impl Into<String>) -> Value {
    json!({"event": "unsupported", "id": id, "message": message.into()})
}

pub fn log(message: impl Into<String>) -> Value {
    json!({"event": "log", "message": message.into()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let cases = [
            (r#"{"id":1,"cmd":"open"}"#, Command::Open { data: None }),
            (
                r#"{"id":1,"cmd":"open","len":2}"#,
                Command::Open {
                    data: Some(vec![0, 1]),
                },
            ),
            (
                r#"{"id":2,"cmd":"write","stream":1,"hex":"00ff10"}"#,
                Command::Write {
                    stream: 1,
                    data: vec![0, 255, 16],
                },
            ),
            (
                r#"{"id":3,"cmd":"write","stream":3,"len":253}"#,
                Command::Write {
                    stream: 3,
                    data: pattern(253),
                },
            ),
            (
                r#"{"id":4,"cmd":"close","stream":5}"#,
                Command::Close { stream: 5 },
            ),
            (
                r#"{"id":5,"cmd":"reset","stream":7}"#,
                Command::Reset { stream: 7 },
            ),
            (
                r#"{"id":5,"cmd":"reset-code","stream":7,"code":3}"#,
                Command::ResetCode {
                    stream: Some(7),
                    code: 3,
                },
            ),
            (
                r#"{"id":5,"cmd":"reset-code","code":0}"#,
                Command::ResetCode {
                    stream: None,
                    code: 0,
                },
            ),
            (r#"{"id":6,"cmd":"ping"}"#, Command::Ping),
            (r#"{"id":7,"cmd":"goaway"}"#, Command::GoAway { code: 0 }),
            (
                r#"{"id":8,"cmd":"goaway","code":2}"#,
                Command::GoAway { code: 2 },
            ),
            (r#"{"id":9,"cmd":"session-close"}"#, Command::SessionClose),
            (r#"{"id":90,"cmd":"crash"}"#, Command::Crash),
            (r#"{"id":10,"cmd":"accept"}"#, Command::Accept),
            (
                r#"{"id":17,"cmd":"accept-sessions","count":3}"#,
                Command::AcceptSessions { count: 3 },
            ),
            (r#"{"id":11,"cmd":"no-accept"}"#, Command::NoAccept),
            (r#"{"id":12,"cmd":"read"}"#, Command::Read { stream: None }),
            (
                r#"{"id":13,"cmd":"no-read","stream":2}"#,
                Command::NoRead { stream: Some(2) },
            ),
            (
                r#"{"id":14,"cmd":"echo","stream":4}"#,
                Command::Echo { stream: Some(4) },
            ),
            (
                r#"{"id":15,"cmd":"no-echo"}"#,
                Command::NoEcho { stream: None },
            ),
            (
                r#"{"id":16,"cmd":"frobnicate"}"#,
                Command::Unknown("frobnicate".into()),
            ),
        ];
        for (line, want) in cases {
            let got = parse_line(line).map(|r| r.cmd);
            assert_eq!(got, Ok(want), "{line}");
        }
    }

    #[test]
    fn bad_lines_name_the_problem() {
        let e = parse_line("not json").unwrap_err();
        assert_eq!(e.id, None);
        assert!(e.message.contains("not JSON"), "{}", e.message);
        let e = parse_line(r#"{"id":4,"cmd":"write","stream":1}"#).unwrap_err();
        assert_eq!(e.id, Some(json!(4)));
        assert!(e.message.contains("exactly one of"), "{}", e.message);
        let e = parse_line(r#"{"id":5,"cmd":"write","stream":1,"hex":"abc"}"#).unwrap_err();
        assert!(e.message.contains("odd number"), "{}", e.message);
        let e = parse_line(r#"{"id":6,"cmd":"close","stream":-1}"#).unwrap_err();
        assert!(e.message.contains("`stream`"), "{}", e.message);
        let e = parse_line(r#"{"id":7,"cmd":"accept-sessions"}"#).unwrap_err();
        assert_eq!(e.id, Some(json!(7)));
        assert!(e.message.contains("`count`"), "{}", e.message);
        let e = parse_line(r#"{"cmd":"open"}"#).unwrap_err();
        assert!(e.message.contains("without `id`"), "{}", e.message);
    }

    #[test]
    fn hex_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&all)), Ok(all));
        assert_eq!(
            hex_decode("zz"),
            Err("not a hex digit at offset 0".to_string())
        );
    }

    #[test]
    fn pattern_wraps_at_251() {
        let p = pattern(502);
        assert_eq!(p.get(250), Some(&250));
        assert_eq!(p.get(251), Some(&0));
        assert_eq!(p.get(501), Some(&250));
    }

    #[test]
    fn events_parse_back() {
        for ev in [
            ok(&json!(3)),
            error(&json!(4), "no"),
            unsupported(&json!(5), "why"),
            log("hi"),
        ] {
            let line = ev.to_string();
            assert!(!line.contains('\n'));
            let back: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(back, ev);
        }
    }
}
