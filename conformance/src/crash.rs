//! How the runner recognises that an implementation under test crashed
//! (docs/adapters.md, "Crashes"): the adapter process ended abnormally, it
//! printed a `crash` event, or its stderr carries a language's crash marker.

use std::fmt;

use crate::adapter::EXIT_UNSUPPORTED;

/// The language whose crash text a stderr line carries, if any.
///
/// The markers are what each runtime prints when it dies of a panic or an
/// uncaught exception, plus one line any adapter may print itself:
///
/// | marker | language |
/// |---|---|
/// | a line starting `panic: ` or `fatal error: ` | Go |
/// | a line containing ` panicked at ` | Rust |
/// | a line starting `Node.js v` (the fatal-exception trailer) | Node |
/// | a line starting `YAMUX-ADAPTER-CRASH` | any (Python adapters must use it) |
///
/// `conformance/adapters/selfcheck.py` keeps a copy of this list.
pub fn crash_marker(line: &str) -> Option<&'static str> {
    let l = line.trim_end();
    MARKERS_AT_START
        .iter()
        .find(|(m, _)| l.starts_with(m))
        .or_else(|| MARKERS_ANYWHERE.iter().find(|(m, _)| l.contains(m)))
        .map(|(_, lang)| *lang)
}

/// Markers a stderr line starts with, and their language.
const MARKERS_AT_START: &[(&str, &str)] = &[
    ("panic: ", "Go"),
    ("fatal error: ", "Go"),
    ("Node.js v", "Node"),
    ("YAMUX-ADAPTER-CRASH", "adapter"),
];

/// Markers found anywhere in a stderr line.
const MARKERS_ANYWHERE: &[(&str, &str)] = &[(" panicked at ", "Rust")];

/// How an adapter process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It did not exit within the grace period after stdin was closed and
    /// the runner killed it.
    Killed,
}

/// An adapter's end, and whether it came before the runner closed stdin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// How it ended.
    pub kind: ExitKind,
    /// It had already ended when the runner went to close its stdin.
    pub unasked: bool,
}

impl Exit {
    /// The exit code, when it exited with one.
    pub fn code(&self) -> Option<i32> {
        match self.kind {
            ExitKind::Code(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ExitKind::Code(c) => write!(f, "exited with code {c}")?,
            ExitKind::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(s))?,
            ExitKind::Killed => f.write_str("did not exit after stdin closed (killed)")?,
        }
        if self.unasked {
            f.write_str(" before the runner closed its stdin")?;
        }
        Ok(())
    }
}

/// The usual name of a Linux signal number.
pub fn signal_name(s: i32) -> &'static str {
    match s {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// Why a run is a crash, or None. `stderr` is the adapter's stderr, `events`
/// the messages of its `crash` events.
pub fn crash_evidence(exit: Option<Exit>, stderr: &[String], events: &[String]) -> Option<String> {
    let mut why = Vec::new();
    if let Some(e) = exit {
        let abnormal = match e.kind {
            ExitKind::Code(c) => c != 0 && c != EXIT_UNSUPPORTED,
            ExitKind::Signal(_) => true,
            ExitKind::Killed => false,
        };
        if abnormal {
            why.push(format!("the implementation's process {e}"));
        }
    }
    if let Some(m) = events.first() {
        why.push(format!("it reported a crash: {}", one_line(m)));
    }
    if let Some((lang, line)) = stderr
        .iter()
        .find_map(|l| crash_marker(l).map(|lang| (lang, l)))
    {
        why.push(format!("{lang} crash on stderr: {}", one_line(line)));
    }
    if why.is_empty() {
        None
    } else {
        Some(why.join("; "))
    }
}

fn one_line(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 160 {
        let cut: String = s.chars().take(160).collect();
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selfcheck_keeps_the_same_markers() {
        let py = include_str!("../adapters/selfcheck.py");
        let line = |name: &str| {
            py.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("selfcheck.py has no {name}"))
                .to_string()
        };
        let (start, anywhere) = (line("CRASH_MARKERS_START"), line("CRASH_MARKERS_CONTAIN"));
        for (m, _) in MARKERS_AT_START {
            assert!(
                start.contains(&format!("\"{m}\"")),
                "{m:?} missing: {start}"
            );
        }
        for (m, _) in MARKERS_ANYWHERE {
            assert!(
                anywhere.contains(&format!("\"{m}\"")),
                "{m:?} missing: {anywhere}"
            );
        }
        assert_eq!(start.matches('"').count(), 2 * MARKERS_AT_START.len());
        assert_eq!(anywhere.matches('"').count(), 2 * MARKERS_ANYWHERE.len());
    }

    #[test]
    fn markers_per_language() {
        assert_eq!(
            crash_marker("panic: runtime error: index out of range"),
            Some("Go")
        );
        assert_eq!(
            crash_marker("fatal error: concurrent map writes"),
            Some("Go")
        );
        assert_eq!(
            crash_marker("thread 'tokio-runtime-worker' panicked at src/x.rs:3:5:"),
            Some("Rust")
        );
        assert_eq!(crash_marker("Node.js v20.19.2"), Some("Node"));
        assert_eq!(
            crash_marker("YAMUX-ADAPTER-CRASH: ValueError: x"),
            Some("adapter")
        );
        assert_eq!(crash_marker("2026/12/01 [ERR] yamux: panic averted"), None);
        assert_eq!(crash_marker("Traceback (most recent call last):"), None);
        assert_eq!(crash_marker("log: the stream panicked"), None);
    }

    #[test]
    fn evidence_from_exit_events_and_stderr() {
        let clean = Exit {
            kind: ExitKind::Code(0),
            unasked: false,
        };
        assert_eq!(crash_evidence(Some(clean), &[], &[]), None);
        let unsupported = Exit {
            kind: ExitKind::Code(EXIT_UNSUPPORTED),
            unasked: true,
        };
        assert_eq!(crash_evidence(Some(unsupported), &[], &[]), None);
        let hung = Exit {
            kind: ExitKind::Killed,
            unasked: false,
        };
        assert_eq!(crash_evidence(Some(hung), &[], &[]), None);
        let segv = Exit {
            kind: ExitKind::Signal(11),
            unasked: true,
        };
        let why = crash_evidence(Some(segv), &[], &[]).unwrap_or_default();
        assert!(
            why.contains("signal 11 (SIGSEGV) before the runner"),
            "{why}"
        );
        let go = Exit {
            kind: ExitKind::Code(2),
            unasked: true,
        };
        let stderr = vec!["goroutine 7 [running]:".into(), "panic: boom".into()];
        let why = crash_evidence(Some(go), &stderr, &[]).unwrap_or_default();
        assert!(
            why.contains("exited with code 2") && why.contains("Go crash on stderr: panic: boom")
        );
        // A marker alone is enough (a runtime that kept running after printing it).
        let why = crash_evidence(Some(clean), &["panic: x".into()], &[]);
        assert!(why.is_some());
        let why = crash_evidence(None, &[], &["oops".into()]).unwrap_or_default();
        assert!(why.contains("reported a crash: oops"));
    }
}
