//! Runs the codec vectors of `vectors/frames/*.json` (format: docs/vectors.md).
//!
//! Every vector is decoded four ways, and all must agree with the vector:
//! `Frame::decode` in a loop over the whole input, `FrameCodec` given all
//! bytes at once then `decode_eof`, `FrameCodec` fed one byte at a time, and
//! (valid vectors only) `Frame::decode_all`. Valid vectors are also encoded
//! back, with `Frame::encode` and with the codec's `Encoder`, and must give
//! the vector's bytes exactly.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio_util::codec::{Decoder, Encoder};
use yamux::frame::{
    CodecError, DecodeError, Flags, Frame, FrameCodec, FrameType, Header, StreamId,
    DEFAULT_MAX_BODY_LEN,
};

/// The only `format` this test understands.
const FORMAT: u32 = 1;

/// Fewest vectors the suite may hold (issue requirement).
const MIN_VECTORS: usize = 40;

const FLAG_NAMES: [(Flags, &str); 4] = [
    (Flags::SYN, "SYN"),
    (Flags::ACK, "ACK"),
    (Flags::FIN, "FIN"),
    (Flags::RST, "RST"),
];

// ---------------------------------------------------------------- the format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    format: u32,
    description: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    id: String,
    spec: Vec<String>,
    description: String,
    #[serde(default)]
    max_body_len: Option<u32>,
    hex: String,
    frames: Vec<ExpectedFrame>,
    #[serde(default)]
    error: Option<ErrorSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFrame {
    #[serde(rename = "type")]
    typ: String,
    flags: Vec<String>,
    flags_bits: u16,
    stream_id: u32,
    length: u32,
    #[serde(default)]
    body_hex: Option<String>,
}

/// An expected or observed decode error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorSpec {
    kind: String,
    offset: usize,
    #[serde(default)]
    version: Option<u8>,
    #[serde(default, rename = "type")]
    typ: Option<u8>,
    #[serde(default)]
    length: Option<u32>,
    #[serde(default)]
    needed: Option<usize>,
    #[serde(default)]
    available: Option<usize>,
}

impl ErrorSpec {
    fn from_decode(e: &DecodeError, offset: usize) -> ErrorSpec {
        let mut s = ErrorSpec {
            kind: e.kind().to_string(),
            offset,
            version: None,
            typ: None,
            length: None,
            needed: None,
            available: None,
        };
        match *e {
            DecodeError::UnsupportedVersion(v) => s.version = Some(v),
            DecodeError::UnknownType(t) => s.typ = Some(t),
            DecodeError::BodyTooLarge { length, .. } => s.length = Some(length),
            DecodeError::Truncated { needed, available } => {
                s.needed = Some(needed);
                s.available = Some(available);
            }
        }
        s
    }

    /// The detail fields each kind must carry, and no other.
    fn check_fields(&self) -> Result<(), String> {
        let present = [
            ("version", self.version.is_some()),
            ("type", self.typ.is_some()),
            ("length", self.length.is_some()),
            ("needed", self.needed.is_some()),
            ("available", self.available.is_some()),
        ];
        let wanted: &[&str] = match self.kind.as_str() {
            "bad-version" => &["version"],
            "bad-type" => &["type"],
            "body-too-large" => &["length"],
            "truncated" => &["needed", "available"],
            other => {
                return Err(format!(
                    "error.kind: unknown kind {other:?} (expected bad-version, bad-type, \
                     body-too-large or truncated)"
                ))
            }
        };
        for (name, is_present) in present {
            let want = wanted.contains(&name);
            if want && !is_present {
                return Err(format!("error.{name}: required for kind {:?}", self.kind));
            }
            if !want && is_present {
                return Err(format!(
                    "error.{name}: not allowed for kind {:?}",
                    self.kind
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for ErrorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.kind, self.offset)?;
        if let Some(v) = self.version {
            write!(f, " version={v}")?;
        }
        if let Some(t) = self.typ {
            write!(f, " type={t}")?;
        }
        if let Some(l) = self.length {
            write!(f, " length={l}")?;
        }
        if let (Some(n), Some(a)) = (self.needed, self.available) {
            write!(f, " needed={n} available={a}")?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------- loading

/// One vector with what it was checked into.
#[derive(Debug, Clone)]
struct Loaded {
    file: String,
    vector: Vector,
    input: Bytes,
    frames: Vec<Frame>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/frames")
}

/// Parses the hex field: pairs of hex digits; ASCII whitespace is ignored.
fn parse_hex(field: &str, s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    hex::decode(&digits).map_err(|e| format!("{field}: not hex ({e})"))
}

fn flag_names(bits: u16) -> Vec<String> {
    let flags = Flags::from_bits(bits);
    FLAG_NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Turns an expected frame into a `Frame`, checking it is self-consistent.
fn build_frame(i: usize, f: &ExpectedFrame) -> Result<Frame, String> {
    let at = format!("frames[{i}]");
    let typ = FrameType::from_name(&f.typ)
        .filter(|t| t.name() == f.typ)
        .ok_or_else(|| {
            format!(
                "{at}.type: {:?} is not one of data, window-update, ping, go-away",
                f.typ
            )
        })?;
    let names = flag_names(f.flags_bits);
    if f.flags != names {
        return Err(format!(
            "{at}.flags: {:?} does not match flags_bits {:#06x} (expected {names:?})",
            f.flags, f.flags_bits
        ));
    }
    let flags = Flags::from_bits(f.flags_bits);
    let stream = StreamId::new(f.stream_id);
    match (typ, &f.body_hex) {
        (FrameType::Data, Some(body)) => {
            let body = parse_hex(&format!("{at}.body_hex"), body)?;
            if body.len() != f.length as usize {
                return Err(format!(
                    "{at}.length: {} but body_hex holds {} bytes",
                    f.length,
                    body.len()
                ));
            }
            Ok(Frame::data(stream, flags, body))
        }
        (FrameType::Data, None) => Err(format!("{at}.body_hex: required for data frames")),
        (_, Some(_)) => Err(format!(
            "{at}.body_hex: only data frames have a body ({} has none)",
            f.typ
        )),
        (_, None) => Ok(Frame::control(Header::new(typ, flags, stream, f.length))),
    }
}

fn check_vector(v: &Vector) -> Result<(Bytes, Vec<Frame>), String> {
    let id_ok = v.id.starts_with("frame.")
        && v.id.split('.').all(|part| {
            !part.is_empty()
                && !part.starts_with('-')
                && !part.ends_with('-')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if !id_ok {
        return Err(format!(
            "id: {:?} is not `frame.` followed by dot-separated kebab-case words",
            v.id
        ));
    }
    if v.spec.is_empty() {
        return Err("spec: cites no rule".into());
    }
    for rule in &v.spec {
        if let Err(e) = rule.parse::<yamux::Rule>() {
            return Err(format!("spec: {e}"));
        }
    }
    if v.description.trim().is_empty() {
        return Err("description: empty".into());
    }
    let input = Bytes::from(parse_hex("hex", &v.hex)?);
    let frames = v
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| build_frame(i, f))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(e) = &v.error {
        e.check_fields()?;
    }
    Ok((input, frames))
}

/// The vector index and id a serde path (`vectors[3].frames[0].length`)
/// points into.
fn vector_of(path: &serde_path_to_error::Path, value: &serde_json::Value) -> String {
    let mut segs = path.iter();
    match (segs.next(), segs.next()) {
        (
            Some(serde_path_to_error::Segment::Map { key }),
            Some(serde_path_to_error::Segment::Seq { index }),
        ) if key == "vectors" => {
            let id = value
                .get("vectors")
                .and_then(|v| v.get(*index))
                .and_then(|v| v.get("id"))
                .and_then(|v| v.as_str())
                .unwrap_or("<no id>");
            format!("vector #{index} (id {id:?})")
        }
        _ => "file level".to_string(),
    }
}

/// Parses and checks one vector file. Errors name the file, the vector and
/// the field.
fn load_file(name: &str, text: &str) -> Result<Vec<Loaded>, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let file: VectorFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        format!(
            "{name}: {}: field `{}`: {}",
            vector_of(e.path(), &value),
            e.path(),
            e.inner()
        )
    })?;
    if file.format != FORMAT {
        return Err(format!(
            "{name}: format: {} is not supported (this runner reads format {FORMAT})",
            file.format
        ));
    }
    if file.description.trim().is_empty() {
        return Err(format!("{name}: description: empty"));
    }
    if file.vectors.is_empty() {
        return Err(format!("{name}: vectors: empty"));
    }
    file.vectors
        .into_iter()
        .enumerate()
        .map(|(i, vector)| match check_vector(&vector) {
            Ok((input, frames)) => Ok(Loaded {
                file: name.to_string(),
                vector,
                input,
                frames,
            }),
            // check_vector's messages are `field: what is wrong`.
            Err(e) => {
                let (field, what) = e.split_once(": ").unwrap_or(("", &e));
                Err(format!(
                    "{name}: vector #{i} (id {:?}): field `vectors[{i}].{field}`: {what}",
                    vector.id
                ))
            }
        })
        .collect()
}

fn load_all() -> Vec<Loaded> {
    let dir = vectors_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.json in {}", dir.display());
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for path in &paths {
        let name = format!(
            "vectors/frames/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match load_file(&name, &text) {
            Ok(v) => all.extend(v),
            Err(e) => problems.push(e),
        }
    }
    assert!(
        problems.is_empty(),
        "bad vector files:\n  {}",
        problems.join("\n  ")
    );
    all
}

// ------------------------------------------------------------------ decoding

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<ErrorSpec>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.frames.iter().enumerate() {
            write!(f, "\n      [{i}] {frame}")?;
            if !frame.body.is_empty() {
                write!(f, " body={}", hex::encode(&frame.body))?;
            }
        }
        match &self.error {
            Some(e) => write!(f, "\n      error: {e}"),
            None => write!(f, "\n      no error"),
        }
    }
}

/// `Frame::decode` in a loop. It has no body limit (it never buffers), so
/// the limit is applied to each header the way a streaming decoder does.
fn decode_with_frame_decode(input: &Bytes, max: u32) -> Outcome {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let rest = input.slice(offset..);
        if let Ok(h) = Header::decode(&rest) {
            if h.typ == FrameType::Data && h.length > max {
                let e = DecodeError::BodyTooLarge {
                    length: h.length,
                    max,
                };
                return Outcome {
                    frames,
                    error: Some(ErrorSpec::from_decode(&e, offset)),
                };
            }
        }
        match Frame::decode(&rest) {
            Ok((frame, used)) => {
                assert_eq!(used, frame.wire_len(), "used bytes of {frame}");
                frames.push(frame);
                offset += used;
            }
            Err(e) => {
                return Outcome {
                    frames,
                    error: Some(ErrorSpec::from_decode(&e, offset)),
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

/// `FrameCodec` fed `input` in chunks ending at `cuts` (and at the end),
/// calling `decode` until it wants more bytes after each chunk, then
/// `decode_eof` until it returns `None`, as `FramedRead` does.
fn decode_with_codec(input: &[u8], max: u32, cuts: &[usize]) -> Outcome {
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    let fail = |frames: Vec<Frame>, e: CodecError, start: usize| match e {
        CodecError::Decode(d) => Outcome {
            frames,
            error: Some(ErrorSpec::from_decode(&d, start)),
        },
        other => panic!("codec returned a non-decode error: {other}"),
    };
    for end in ends {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            if codec.pending_header().is_none() {
                start = fed - buf.len();
            }
            match codec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return fail(frames, e, start),
            }
        }
    }
    // decode_eof must end the stream within a bounded number of calls.
    for _ in 0..=input.len() {
        if codec.pending_header().is_none() {
            start = fed - buf.len();
        }
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => {
                return Outcome {
                    frames,
                    error: None,
                }
            }
            Err(e) => return fail(frames, e, start),
        }
    }
    panic!("decode_eof did not finish");
}

/// Runs one vector; returns a readable report of every disagreement.
fn run_vector(l: &Loaded) -> Result<(), String> {
    let v = &l.vector;
    let max = v.max_body_len.unwrap_or(DEFAULT_MAX_BODY_LEN);
    let expected = Outcome {
        frames: l.frames.clone(),
        error: v.error.clone(),
    };
    let every_byte: Vec<usize> = (1..l.input.len()).collect();
    let runs = [
        (
            "Frame::decode loop",
            decode_with_frame_decode(&l.input, max),
        ),
        (
            "FrameCodec, all bytes then decode_eof",
            decode_with_codec(&l.input, max, &[]),
        ),
        (
            "FrameCodec, one byte at a time",
            decode_with_codec(&l.input, max, &every_byte),
        ),
    ];
    let mut report = String::new();
    if v.max_body_len.is_none() {
        // Such a vector must not depend on a limit: it holds no Data length
        // of 1 KiB or more (docs/vectors.md), so a limit of 1023 changes
        // nothing.
        let small = decode_with_frame_decode(&l.input, 1023);
        if small != expected {
            let _ = write!(
                report,
                "\n    no max_body_len, yet a limit of 1023 changes the outcome:{small}"
            );
        }
    }
    for (how, got) in &runs {
        if *got != expected {
            let _ = write!(
                report,
                "\n    {how}:\n      expected:{expected}\n      got:{got}"
            );
        }
    }
    if v.error.is_none() {
        match Frame::decode_all(&l.input) {
            Ok(frames) if frames == l.frames => {}
            other => {
                let _ = write!(report, "\n    Frame::decode_all: got {other:?}");
            }
        }
        let mut encoded = BytesMut::new();
        let mut via_codec = BytesMut::new();
        let mut codec = FrameCodec::new(max);
        for f in &l.frames {
            if let Err(e) = f.encode(&mut encoded) {
                let _ = write!(report, "\n    Frame::encode({f}): {e}");
            }
            if let Err(e) = codec.encode(f, &mut via_codec) {
                let _ = write!(report, "\n    FrameCodec::encode({f}): {e}");
            }
        }
        for (how, bytes) in [
            ("Frame::encode", &encoded),
            ("FrameCodec::encode", &via_codec),
        ] {
            if bytes[..] != l.input[..] {
                let _ = write!(
                    report,
                    "\n    {how} of the expected frames:\n      expected {}\n      got      {}",
                    hex::encode(&l.input),
                    hex::encode(bytes)
                );
            }
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({}): {}\n    input: {}{report}",
            v.id,
            l.file,
            v.description,
            hex::encode(&l.input)
        ))
    }
}

// --------------------------------------------------------------------- tests

#[test]
fn frame_vectors() {
    let all = load_all();
    let mut ids = BTreeSet::new();
    let dups: Vec<String> = all
        .iter()
        .filter(|l| !ids.insert(l.vector.id.clone()))
        .map(|l| format!("{} ({})", l.vector.id, l.file))
        .collect();
    assert!(dups.is_empty(), "duplicate vector ids: {dups:?}");
    assert!(
        all.len() >= MIN_VECTORS,
        "only {} codec vectors, at least {MIN_VECTORS} required",
        all.len()
    );
    let failures: Vec<String> = all.iter().filter_map(|l| run_vector(l).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} codec vectors failed:\n\n  {}\n",
        failures.len(),
        all.len(),
        failures.join("\n\n  ")
    );
    let invalid = all.iter().filter(|l| l.vector.error.is_some()).count();
    println!(
        "{} codec vectors passed ({} valid, {invalid} invalid)",
        all.len(),
        all.len() - invalid
    );
}

#[test]
fn the_suite_covers_what_it_claims() {
    let all = load_all();
    let kinds: BTreeSet<&str> = all
        .iter()
        .filter_map(|l| l.vector.error.as_ref().map(|e| e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["bad-type", "bad-version", "body-too-large", "truncated"]),
        "every error kind has a vector"
    );
    let frames: Vec<&Frame> = all.iter().flat_map(|l| &l.frames).collect();
    for t in FrameType::ALL {
        assert!(frames.iter().any(|f| f.typ() == t), "no vector for {t}");
    }
    for bits in [
        0x1, 0x2, 0x4, 0x8, 0x3, 0x6, 0x5, 0x9, 0xA, 0x10, 0x8000, 0xFFFF,
    ] {
        assert!(
            frames.iter().any(|f| f.flags().bits() == bits),
            "no vector with flags {bits:#06x}"
        );
    }
    for edge in [0, u32::MAX] {
        assert!(frames.iter().any(|f| f.stream_id().val() == edge));
        for t in FrameType::ALL {
            let found = frames
                .iter()
                .any(|f| f.typ() == t && f.header.length == edge);
            // A Data length of u32::MAX cannot be valid; it is covered by a
            // body-too-large vector instead.
            assert!(found || t == FrameType::Data, "no {t} with length {edge}");
        }
    }
    assert!(all
        .iter()
        .any(|l| l.vector.error.is_none() && l.frames.len() >= 2));
}

#[test]
fn a_broken_vector_file_names_file_vector_and_field() {
    let text = r#"{"format": 1, "description": "d", "vectors": [
        {"id": "frame.ok", "spec": ["framing.header"], "description": "d",
         "hex": "000200010000000000000007",
         "frames": [{"type": "ping", "flags": ["SYN"], "flags_bits": 1, "stream_id": 0, "length": 7}]},
        {"id": "frame.broken", "spec": ["framing.header"], "description": "d",
         "hex": "000200010000000000000007",
         "frames": [{"type": "ping", "flags": ["SYN"], "flags_bits": 1, "stream_id": "zero", "length": 7}]}
    ]}"#;
    let err = load_file("broken.json", text).unwrap_err();
    for part in [
        "broken.json",
        "frame.broken",
        "vectors[1].frames[0].stream_id",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    let unknown = text.replace("\"zero\"", "0").replace(
        "\"length\": 7}]}\n    ]",
        "\"length\": 7, \"lenght\": 1}]}\n    ]",
    );
    let err = load_file("typo.json", &unknown).unwrap_err();
    for part in ["typo.json", "frame.broken", "lenght"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    let inconsistent = text.replace("\"zero\"", "0").replace(
        "\"flags\": [\"SYN\"], \"flags_bits\": 1, \"stream_id\": 0, \"length\": 7}]},",
        "\"flags\": [\"ACK\"], \"flags_bits\": 1, \"stream_id\": 0, \"length\": 7}]},",
    );
    let err = load_file("flags.json", &inconsistent).unwrap_err();
    for part in ["flags.json", "frame.ok", "vectors[0].frames[0].flags`"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn a_wrong_expectation_is_reported_with_expected_and_got() {
    let text = r#"{"format": 1, "description": "d", "vectors": [
        {"id": "frame.wrong", "spec": ["length.ping"], "description": "value is 7, vector says 8",
         "hex": "000200010000000000000007",
         "frames": [{"type": "ping", "flags": ["SYN"], "flags_bits": 1, "stream_id": 0, "length": 8}]}
    ]}"#;
    let loaded = load_file("wrong.json", text).unwrap();
    let report = run_vector(&loaded[0]).unwrap_err();
    for part in [
        "frame.wrong (wrong.json)",
        "Frame::decode loop",
        "FrameCodec, one byte at a time",
        "expected:\n      [0] ping stream=0 flags=SYN value=8",
        "got:\n      [0] ping stream=0 flags=SYN value=7",
        "Frame::encode of the expected frames",
    ] {
        assert!(report.contains(part), "{part:?} missing from:\n{report}");
    }
}
