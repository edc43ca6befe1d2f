//! Reports: the text report is snapshot-tested; NDJSON and JUnit are parsed
//! back.

use std::time::Duration;

use conformance::peer::{Failure, TraceLine};
use conformance::report::{junit, ndjson, text, Summary, TextOptions, SCHEMA};
use conformance::run::{exit_code, CaseResult, Outcome};
use conformance::vector::{Level, Role};

fn result(id: &str, family: &str, role: Role, level: Level, outcome: Outcome) -> CaseResult {
    CaseResult {
        id: id.into(),
        family: family.into(),
        role,
        level,
        spec: vec![yamux::Rule::PingEcho],
        summary: format!("summary of {id}"),
        outcome,
        flaky: false,
        attempts: 1,
        duration_ms: 12,
        message: None,
        failures: Vec::new(),
        observations: Vec::new(),
        trace: Vec::new(),
        stderr: Vec::new(),
        resources: None,
        ran: None,
        ran_message: None,
    }
}

fn sample() -> Vec<CaseResult> {
    let mut fail = result(
        "ping.echo",
        "ping",
        Role::Server,
        Level::Must,
        Outcome::Fail,
    );
    fail.failures.push(Failure {
        step: 2,
        level: Level::Must,
        rule: Some(yamux::Rule::PingEcho),
        note: Some("answer carries ACK and the same value".into()),
        expected: "ping flags⊇ACK value=3735928559".into(),
        actual: "ping stream=0 flags=ACK value=3735928560 (timed out)".into(),
    });
    fail.trace = vec![
        TraceLine {
            t_ms: 0.4,
            dir: "->".into(),
            text: "ping stream=0 flags=SYN value=3735928559".into(),
        },
        TraceLine {
            t_ms: 1.1,
            dir: "<-".into(),
            text: "ping stream=0 flags=ACK value=3735928560".into(),
        },
    ];
    fail.stderr = vec!["adapter: session started".into()];
    let mut ns = result(
        "ping.echo",
        "ping",
        Role::Client,
        Level::Must,
        Outcome::NonStrict,
    );
    ns.failures.push(Failure {
        step: 4,
        level: Level::Should,
        rule: None,
        note: Some("id 0 and exactly ACK".into()),
        expected: "ping stream=0 flags=ACK value=0".into(),
        actual: "ping stream=0 flags=SYN|ACK value=0".into(),
    });
    let mut info = result(
        "ping.flags-none",
        "ping",
        Role::Server,
        Level::Info,
        Outcome::Info,
    );
    info.observations.push("reaction: nothing".into());
    let mut flaky = result(
        "flow.send.wu-resumes",
        "flow",
        Role::Server,
        Level::Must,
        Outcome::Pass,
    );
    flaky.flaky = true;
    flaky.attempts = 2;
    flaky.spec = vec![yamux::Rule::FlowCredit, yamux::Rule::LengthWindowUpdate];
    let mut skip = result(
        "flow.send.initial-window",
        "flow",
        Role::Client,
        Level::Must,
        Outcome::Skip,
    );
    skip.message = Some("client role needs an adapter".into());
    let mut err = result(
        "stream.open.syn-on-wu",
        "stream.open",
        Role::Server,
        Level::Must,
        Outcome::Error,
    );
    err.message = Some("the adapter exited before `ready` (exit code Some(1))".into());
    let mut xfail = result(
        "stream.open.syn-on-data",
        "stream.open",
        Role::Server,
        Level::Must,
        Outcome::Xfail,
    );
    xfail.message = Some("payload of D|SYN dropped".into());
    let mut xpass = result(
        "stream.open.syn-fin",
        "stream.open",
        Role::Server,
        Level::Should,
        Outcome::Xpass,
    );
    xpass.message =
        Some("listed as fail (FIN ignored) but passed: update the expectations file".into());
    let unsup = result(
        "goaway.send.then-reject",
        "goaway",
        Role::Server,
        Level::Should,
        Outcome::Unsupported,
    );
    vec![
        result(
            "frame.header.layout",
            "frame",
            Role::Server,
            Level::Must,
            Outcome::Pass,
        ),
        fail,
        ns,
        info,
        flaky,
        skip,
        err,
        xfail,
        xpass,
        unsup,
    ]
}

#[test]
fn text_report_snapshot() {
    let t = text(
        &sample(),
        Duration::from_millis(1234),
        TextOptions {
            verbose: true,
            stable: true,
            trace_limit: 60,
        },
    );
    insta::assert_snapshot!("text_report", t);
}

#[test]
fn ndjson_parses_back() {
    let results = sample();
    let out = ndjson(
        &results,
        "adapter reference",
        Duration::from_millis(1500),
        exit_code(&results, false),
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), results.len() + 1);
    for (line, r) in lines.iter().zip(&results) {
        assert_eq!(line["schema"], SCHEMA);
        assert_eq!(line["kind"], "case");
        assert_eq!(line["id"], r.id.as_str());
        assert_eq!(line["role"], r.role.as_str());
        assert_eq!(line["outcome"], r.outcome.name());
        assert_eq!(
            line["failures"].as_array().map(Vec::len),
            Some(r.failures.len())
        );
    }
    let summary: Summary =
        serde_json::from_value(lines[results.len()].clone()).expect("summary object");
    assert_eq!(summary.kind, "summary");
    assert_eq!(summary.total, results.len());
    assert_eq!(summary.outcomes.get("fail"), Some(&1));
    assert_eq!(summary.outcomes.get("pass"), Some(&2));
    assert_eq!(summary.flaky, 1);
    assert_eq!(
        summary.exit_code, 2,
        "an error outcome makes the exit code 2"
    );
}

#[test]
fn junit_parses_back() {
    let results = sample();
    let xml = junit(&results, "adapter reference", Duration::from_millis(1500)).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["frame", "ping", "flow", "stream.open", "goaway"]);
    let cases: usize = report.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert_eq!(cases, results.len());
    let ping = &report.test_suites[1];
    assert_eq!(ping.failures, 2, "fail and non-strict are failures");
    let stream_open = &report.test_suites[3];
    assert_eq!(stream_open.errors, 1);
    let first = &ping.test_cases[0];
    assert_eq!(first.name.as_str(), "ping.echo [server] (MUST)");
    match &first.status {
        quick_junit::TestCaseStatus::NonSuccess {
            description: Some(d),
            ..
        } => {
            assert!(
                d.as_str().contains("value=3735928560"),
                "the trace is in the failure text: {}",
                d.as_str()
            )
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn exit_codes() {
    let pass = vec![result("a.b", "a", Role::Server, Level::Must, Outcome::Pass)];
    assert_eq!(exit_code(&pass, true), 0);
    let ns = vec![result(
        "a.b",
        "a",
        Role::Server,
        Level::Must,
        Outcome::NonStrict,
    )];
    assert_eq!(exit_code(&ns, false), 0);
    assert_eq!(exit_code(&ns, true), 1);
    let fail = vec![result("a.b", "a", Role::Server, Level::Must, Outcome::Fail)];
    assert_eq!(exit_code(&fail, false), 1);
    let mixed = vec![
        result("a.b", "a", Role::Server, Level::Must, Outcome::Fail),
        result("a.c", "a", Role::Server, Level::Must, Outcome::Error),
    ];
    assert_eq!(exit_code(&mixed, false), 2);
    let x = vec![
        result("a.b", "a", Role::Server, Level::Must, Outcome::Xfail),
        result("a.c", "a", Role::Server, Level::Must, Outcome::Skip),
        result("a.d", "a", Role::Server, Level::Info, Outcome::Info),
    ];
    assert_eq!(exit_code(&x, true), 0);
}
