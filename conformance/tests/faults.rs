//! Each deliberate bug of the reference crate (feature `faults`) must make at
//! least one MUST or SHOULD case fail, citing the rule the bug breaks; the
//! same cases pass without the bug.
//!
//! The adapter binary with the fault switch is built here with
//! `cargo build -p conformance --features faults --bin yamux-reference-adapter`
//! (in a separate target directory, so the outer build is not disturbed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use conformance::adapter::AdapterSpec;
use conformance::run::{run_all, CaseResult, Iut, Options, Outcome};
use conformance::vector::{Case, StepKind, Suite};
use yamux::Rule;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn build_adapter() -> PathBuf {
    let root = root();
    let target = root.join("target/conformance-faults");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "conformance",
            "--features",
            "faults",
            "--bin",
            "yamux-reference-adapter",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the fault-switch adapter failed");
    target.join("debug/yamux-reference-adapter")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn suite() -> Suite {
    Suite::load_dir(&root().join("vectors/session")).unwrap_or_else(|e| panic!("vectors: {e:?}"))
}

/// (fault, rule the bug breaks, cases that should catch it)
const FAULTS: &[(&str, Rule, &[&str])] = &[
    (
        "ignore_peer_window",
        Rule::FlowCredit,
        &[
            "flow.send.initial-window",
            "stream.close.peer-stops-reading",
        ],
    ),
    (
        "wrong_parity",
        Rule::IdsParity,
        &[
            "stream.id.client-odd",
            "stream.id.server-even",
            "stream.open.iut-initiated",
        ],
    ),
    (
        "never_ack",
        Rule::StreamAccept,
        &["stream.open.ack-present", "stream.open.syn-on-wu"],
    ),
    ("ping_wrong_value", Rule::PingEcho, &["ping.echo"]),
    (
        "wu_reads_body",
        Rule::FramingBody,
        &["frame.length.no-body-for-control", "regress.tentacle-340.*"],
    ),
    (
        "drop_syn_payload",
        Rule::StreamOpen,
        &["stream.open.syn-on-data"],
    ),
    (
        "no_goaway_on_error",
        Rule::GoawaySend,
        &[
            "frame.version.invalid",
            "stream.id.zero-syn",
            "goaway.send.error-code",
        ],
    ),
    (
        "double_ack",
        Rule::StreamAckOnce,
        &["stream.ack.once", "stream.open.syn-on-wu"],
    ),
    (
        "accept_data_after_fin",
        Rule::StreamAfterFin,
        &[
            "stream.close.data-after-fin",
            "stream.close.data-after-fin-echo",
        ],
    ),
    (
        "rst_length_as_credit",
        Rule::LengthRst,
        &["stream.rst.wu-error-code"],
    ),
];

/// Faults that no frame-level check sees, only the crash and memory
/// verdicts (issue: crash and memory are verdicts): (fault, the outcome it
/// must get, the rule it must cite, the cases that catch it).
const VERDICT_FAULTS: &[(&str, Outcome, Rule, &[&str])] = &[
    (
        "panic_on_window_overflow",
        Outcome::Crash,
        Rule::ResilienceSurvive,
        &["resilience.window-overflow"],
    ),
    (
        "ignore_receive_budget",
        Outcome::NonStrict,
        Rule::ResilienceMemory,
        &["resilience.full-windows-unread"],
    ),
    (
        "unbounded_pong_queue",
        Outcome::NonStrict,
        Rule::ResilienceMemory,
        &["resilience.ping-flood-unread"],
    ),
];

fn opts(selectors: &[&str]) -> Options {
    Options {
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        jobs: 4,
        timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

fn cites(r: &CaseResult, rule: Rule) -> bool {
    r.failures
        .iter()
        .any(|f| f.level != conformance::vector::Level::Info && f.rule == Some(rule))
        || (r.spec.contains(&rule) && r.failures.iter().any(|f| f.rule.is_none()))
}

fn describe(results: &[CaseResult]) -> String {
    results
        .iter()
        .map(|r| {
            let f: Vec<String> = r
                .failures
                .iter()
                .map(|f| format!("[{} {:?}] {} / {}", f.level, f.rule, f.expected, f.actual))
                .collect();
            format!(
                "{}@{} {:?} {:?} {}",
                r.id,
                r.role,
                r.outcome,
                r.message,
                f.join(" | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_fault_is_caught_with_the_right_rule() {
    let adapter = build_adapter();
    let suite = suite();
    let rt = runtime();
    // Without a fault every selected case passes: failures below come from the fault.
    let all: Vec<&str> = FAULTS
        .iter()
        .flat_map(|(_, _, c)| c.iter().copied())
        .collect();
    let clean = AdapterSpec {
        program: adapter.clone(),
        args: Vec::new(),
        env: Vec::new(),
        name: "reference".into(),
    };
    let results = rt.block_on(run_all(&suite.cases, &Iut::Adapter(clean), &opts(&all)));
    let bad: Vec<CaseResult> = results
        .into_iter()
        .filter(|r| r.outcome != Outcome::Pass && r.outcome != Outcome::Info)
        .collect();
    assert!(
        bad.is_empty(),
        "without faults these cases must pass:\n{}",
        describe(&bad)
    );

    let mut missed = Vec::new();
    for (fault, rule, cases) in FAULTS {
        let spec = AdapterSpec {
            program: adapter.clone(),
            args: Vec::new(),
            env: vec![("YAMUX_FAULT".into(), (*fault).into())],
            name: format!("reference+{fault}"),
        };
        let results = rt.block_on(run_all(&suite.cases, &Iut::Adapter(spec), &opts(cases)));
        assert!(
            !results.is_empty(),
            "{fault}: no case selected by {cases:?}"
        );
        let caught = results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Fail | Outcome::NonStrict) && cites(r, *rule));
        if !caught {
            missed.push(format!(
                "{fault} (expected a failure citing {rule}):\n{}",
                describe(&results)
            ));
        }
        assert!(
            results.iter().all(|r| r.outcome != Outcome::Error),
            "{fault}: harness errors:\n{}",
            describe(&results)
        );
    }
    assert!(
        missed.is_empty(),
        "faults not caught:\n{}",
        missed.join("\n\n")
    );
}

#[test]
fn crash_and_memory_faults_get_their_verdicts() {
    let adapter = build_adapter();
    let suite = suite();
    let rt = runtime();
    // One case at a time: the memory of the adapter is measured per process,
    // but floods in parallel would only make the run slower.
    let one = |cases: &[&str]| Options {
        jobs: 1,
        timeout: Duration::from_secs(60),
        ..opts(cases)
    };
    let mut problems = Vec::new();
    for (fault, want, rule, cases) in VERDICT_FAULTS {
        for (env, expect) in [(None, Outcome::Pass), (Some(*fault), *want)] {
            let spec = AdapterSpec {
                program: adapter.clone(),
                args: Vec::new(),
                env: env
                    .map(|f| vec![("YAMUX_FAULT".to_string(), f.to_string())])
                    .unwrap_or_default(),
                name: format!("reference+{}", env.unwrap_or("none")),
            };
            // With the fault, a flood runs to its count: its clock cap is
            // raised (and the case's time with it), so the growth measured
            // follows the frames sent, not how fast this machine is at the
            // moment (2M pings take 1.4 s on a quiet machine; with the
            // vector's 5 s cap a loaded one sent too few for a queue of
            // 12-byte answers to pass the budget, and the fault went unseen).
            let cases_run = if env.is_some() {
                to_count(&suite.cases)
            } else {
                suite.cases.clone()
            };
            let results = rt.block_on(run_all(&cases_run, &Iut::Adapter(spec), &one(cases)));
            assert!(
                !results.is_empty(),
                "{fault}: no case selected by {cases:?}"
            );
            // Every role must get the verdict: the fault is in both.
            let wrong: Vec<&CaseResult> = results
                .iter()
                .filter(|r| r.outcome != expect || (expect != Outcome::Pass && !cites(r, *rule)))
                .collect();
            if !wrong.is_empty() {
                let wrong: Vec<CaseResult> = wrong.into_iter().cloned().collect();
                problems.push(format!(
                    "{} (expected {expect:?}{}):\n{}",
                    env.unwrap_or("no fault"),
                    if expect == Outcome::Pass {
                        String::new()
                    } else {
                        format!(" citing {rule}")
                    },
                    describe(&wrong)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// How long a flood of a fault run may take: long enough for 2M frames
/// at 50,000 a second (a heavily loaded machine).
const FLOOD_TO_COUNT_MS: u64 = 40_000;

/// `cases` whose floods stop at their count (within
/// [`FLOOD_TO_COUNT_MS`]), each case given that much more time.
fn to_count(cases: &[Case]) -> Vec<Case> {
    let mut cases = cases.to_vec();
    for c in &mut cases {
        let mut floods = false;
        for s in &mut c.steps {
            if let StepKind::Flood(f) = &mut s.kind {
                f.for_ms = Some(FLOOD_TO_COUNT_MS);
                floods = true;
            }
        }
        if floods {
            c.timeout_ms = Some(c.timeout_ms.unwrap_or(10_000) + FLOOD_TO_COUNT_MS);
        }
    }
    cases
}

#[test]
fn unknown_fault_name_is_refused() {
    let adapter = build_adapter();
    let out = Command::new(&adapter)
        .args(["--role", "server", "--addr", "127.0.0.1:0"])
        .env("YAMUX_FAULT", "no_such_fault")
        .output()
        .expect("run adapter");
    assert_eq!(out.status.code(), Some(89));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_fault"));
}

#[test]
fn reference_adapter_passes_the_self_check() {
    let adapter = build_adapter();
    let spec = AdapterSpec {
        program: adapter,
        args: Vec::new(),
        env: Vec::new(),
        name: "reference".into(),
    };
    let rt = runtime();
    let report = rt.block_on(conformance::selfcheck::self_check(&spec));
    assert!(report.ok(), "{}", report.text());
    assert!(report.checks.len() >= 12, "{}", report.text());
}
