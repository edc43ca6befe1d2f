//! `yamuxctl inject`: the command mini-language and its encoding to bytes.
//!
//! A command is a word followed by its arguments; several commands follow
//! each other on one command line (or one per line in interactive mode):
//!
//! | command | sends |
//! |---|---|
//! | `syn ID` / `ack ID` / `fin ID` / `rst ID` | Window Update with that flag, delta 0 |
//! | `wu ID [+]DELTA` | Window Update, delta `DELTA` |
//! | `data ID TEXT` | Data with body `TEXT` (UTF-8; `0x...` for hex; `-` for none) |
//! | `ping VALUE` / `pong VALUE` | Ping with SYN (request) / ACK (answer) |
//! | `goaway [CODE]` | Go Away (default 0) |
//! | `raw HEX` | the bytes as they are |
//! | `sleep MS` | waits (frames received meanwhile are printed) |
//!
//! Any frame command takes extra flags joined with `+`: `data+syn 1 hi`,
//! `wu+ack 2 +65536`, `data+fin 1 bye`, `ping+0x8000 1`.

pub mod script;
pub mod session;

use std::time::Duration;

use yamux::frame::{Flags, FrameType, RawHeader};

/// One command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Bytes to send (a frame or raw bytes), with a label for errors.
    Send(Vec<u8>),
    /// Wait this long.
    Sleep(Duration),
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command {index} ({word:?}): {reason}")]
pub struct ParseError {
    /// 1-based position of the command.
    pub index: usize,
    /// The command word.
    pub word: String,
    /// What is wrong.
    pub reason: String,
}

fn num(s: Option<&str>, what: &str) -> Result<u32, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    let t = s.trim_start_matches('+');
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else {
        t.parse::<u32>()
    };
    r.map_err(|_| format!("{what} {s:?} is not a number 0..=4294967295"))
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(&clean).map_err(|e| format!("{s:?} is not hex: {e}"))
}

fn frame(typ: FrameType, flags: Flags, stream: u32, length: u32, body: &[u8]) -> Vec<u8> {
    let h = RawHeader {
        version: 0,
        typ: typ as u8,
        flags: flags.bits(),
        stream_id: stream,
        length,
    };
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// The largest body `data ID *N` makes (16 MiB).
const MAX_PATTERN: usize = 16 << 20;

/// Parses the text of a command script: the words of each line, `#`
/// starting a comment. An error carries its 1-based line number.
pub fn parse_lines(text: &str) -> Result<Vec<Command>, (usize, ParseError)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        out.extend(parse(&words).map_err(|e| (i + 1, e))?);
    }
    Ok(out)
}

/// Parses a sequence of words (command-line arguments, or a line split on
/// whitespace) into commands.
pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Vec<Command>, ParseError> {
    let mut out = Vec::new();
    let mut it = words.iter().map(AsRef::as_ref).peekable();
    let mut index = 0;
    while let Some(word) = it.next() {
        index += 1;
        let err = |reason: String| ParseError {
            index,
            word: word.to_string(),
            reason,
        };
        let lower = word.to_ascii_lowercase();
        let mut parts = lower.split('+');
        let cmd = parts.next().unwrap_or_default();
        let mut extra = Flags::NONE;
        for p in parts {
            let f = Flags::parse(p).ok_or_else(|| {
                err(format!(
                    "unknown flag {p:?} (syn, ack, fin, rst or a number like 0x8000)"
                ))
            })?;
            extra.insert(f);
        }
        let c = match cmd {
            "syn" | "ack" | "fin" | "rst" => {
                let id = num(it.next(), "stream id").map_err(err)?;
                let f = Flags::parse(cmd).unwrap_or(Flags::NONE);
                Command::Send(frame(FrameType::WindowUpdate, f.union(extra), id, 0, &[]))
            }
            "wu" | "window-update" => {
                let id = num(it.next(), "stream id").map_err(err)?;
                let d = num(it.next(), "delta").map_err(err)?;
                Command::Send(frame(FrameType::WindowUpdate, extra, id, d, &[]))
            }
            "data" => {
                let id = num(it.next(), "stream id").map_err(err)?;
                let text = it
                    .next()
                    .ok_or_else(|| err("missing body (TEXT, 0xHEX or -)".into()))?;
                let body = if text == "-" {
                    Vec::new()
                } else if let Some(n) = text.strip_prefix('*') {
                    let n: usize =
                        n.parse()
                            .ok()
                            .filter(|n| *n <= MAX_PATTERN)
                            .ok_or_else(|| {
                                err(format!("*N: N must be a byte count up to {MAX_PATTERN}"))
                            })?;
                    (0..n).map(|i| i as u8).collect()
                } else if let Some(h) = text.strip_prefix("0x") {
                    hex_bytes(h).map_err(err)?
                } else {
                    text.as_bytes().to_vec()
                };
                let len = u32::try_from(body.len()).map_err(|_| err("body too long".into()))?;
                Command::Send(frame(FrameType::Data, extra, id, len, &body))
            }
            "ping" | "pong" => {
                let v = num(it.next(), "value").map_err(err)?;
                let f = if cmd == "ping" {
                    Flags::SYN
                } else {
                    Flags::ACK
                };
                Command::Send(frame(FrameType::Ping, f.union(extra), 0, v, &[]))
            }
            "goaway" | "go-away" | "ga" => {
                let code = match it.peek() {
                    Some(s) if num(Some(s), "code").is_ok() => {
                        num(it.next(), "code").map_err(err)?
                    }
                    _ => 0,
                };
                Command::Send(frame(FrameType::GoAway, extra, 0, code, &[]))
            }
            "raw" => {
                let h = it.next().ok_or_else(|| err("missing HEX".into()))?;
                Command::Send(hex_bytes(h).map_err(err)?)
            }
            "sleep" | "wait" => {
                let ms = num(it.next(), "milliseconds").map_err(err)?;
                Command::Sleep(Duration::from_millis(u64::from(ms)))
            }
            _ => return Err(err(
                "unknown command (syn, ack, fin, rst, wu, data, ping, pong, goaway, raw, sleep)"
                    .into(),
            )),
        };
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_body_is_that_many_bytes_of_a_counting_pattern() {
        let b = bytes("data 1 *300");
        assert_eq!(&b[..12], &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 44]);
        assert_eq!(b.len(), 312);
        assert_eq!((b[12], b[13], b[12 + 256], b[12 + 299]), (0, 1, 0, 43));
        assert!(parse(&["data", "1", "*x"]).is_err());
        assert!(parse(&["data", "1", "*99999999999"]).is_err());
    }

    fn bytes(words: &str) -> Vec<u8> {
        let w: Vec<&str> = words.split_whitespace().collect();
        parse(&w)
            .unwrap()
            .into_iter()
            .flat_map(|c| match c {
                Command::Send(b) => b,
                Command::Sleep(_) => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn commands_encode_to_the_expected_frames() {
        assert_eq!(hex::encode(bytes("syn 1")), "000100010000000100000000");
        assert_eq!(
            hex::encode(bytes("wu 1 +65536")),
            "000100000000000100010000"
        );
        assert_eq!(hex::encode(bytes("fin 3")), "000100040000000300000000");
        assert_eq!(hex::encode(bytes("rst 1")), "000100080000000100000000");
        assert_eq!(hex::encode(bytes("ping 7")), "000200010000000000000007");
        assert_eq!(hex::encode(bytes("pong 7")), "000200020000000000000007");
        assert_eq!(hex::encode(bytes("goaway 1")), "000300000000000000000001");
        assert_eq!(hex::encode(bytes("goaway")), "000300000000000000000000");
        assert_eq!(
            hex::encode(bytes("data 1 hello")),
            "00000000000000010000000568656c6c6f"
        );
        assert_eq!(
            hex::encode(bytes("data+syn+fin 1 0x00ff")),
            "00000005000000010000000200ff"
        );
        assert_eq!(
            hex::encode(bytes("raw 000100010000000100000000")),
            "000100010000000100000000"
        );
        assert_eq!(
            hex::encode(bytes("ping+0x8000 1")),
            "000280010000000000000001"
        );
    }

    #[test]
    fn sequences_and_sleep() {
        let c = parse(&["syn", "1", "sleep", "20", "data", "1", "-"]).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[1], Command::Sleep(Duration::from_millis(20)));
        assert_eq!(
            c[2],
            Command::Send(frame(FrameType::Data, Flags::NONE, 1, 0, &[]))
        );
    }

    #[test]
    fn errors_name_the_command_and_the_problem() {
        let e = parse(&["syn", "1", "data", "x", "y"]).unwrap_err();
        assert_eq!(e.index, 2);
        assert!(e.reason.contains("stream id \"x\""), "{e}");
        let e = parse(&["bogus"]).unwrap_err();
        assert!(e.to_string().contains("unknown command"), "{e}");
        let e = parse(&["wu+zzz", "1", "2"]).unwrap_err();
        assert!(e.reason.contains("unknown flag"), "{e}");
        let e = parse(&["raw", "0g"]).unwrap_err();
        assert!(e.reason.contains("not hex"), "{e}");
        assert!(parse(&["ping"]).is_err());
    }
}
