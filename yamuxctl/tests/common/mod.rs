//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A file under tests/data.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A scratch directory for this test binary.
pub fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("yamuxctl-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// The gzipped tokio-yamux stall captures, decompressed once.
pub fn stall(ext: &str) -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    let dir = DONE.get_or_init(|| {
        let dir = scratch();
        for e in ["pcap", "pcapng"] {
            let name = format!("hashicorp-client_tokio-yamux-server_stall.{e}");
            let gz = std::fs::File::open(data(&format!("{name}.gz"))).expect("open gz");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut out)
                .expect("gunzip");
            std::fs::write(dir.join(&name), out).expect("write");
        }
        dir
    });
    dir.join(format!("hashicorp-client_tokio-yamux-server_stall.{ext}"))
}

/// Every capture: (name, path), the stall ones decompressed.
pub fn all_captures() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(data(""))
        .expect("read tests/data")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    for e in ["pcap", "pcapng"] {
        let p = stall(e);
        v.push((p.file_name().unwrap().to_string_lossy().into_owned(), p));
    }
    v.sort();
    v
}

/// Output of one yamuxctl run.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs the yamuxctl binary.
pub fn yamuxctl(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_yamuxctl"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run yamuxctl");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Parses NDJSON, checking every line is an object of `schema` with a kind.
pub fn ndjson(text: &str, schema: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad json {l:?}: {e}"));
            assert_eq!(v["schema"], schema, "{l}");
            assert!(v["kind"].is_string(), "{l}");
            v
        })
        .collect()
}

/// An in-memory writer shared between a command under test and the test,
/// standing in for stdout or stderr.
#[derive(Clone, Default)]
pub struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    /// Everything written so far, as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
