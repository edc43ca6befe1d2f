use super::*;
use crate::peer::Failure;
use crate::run::Expected;
use crate::vector::Role;

fn result(id: &str, role: Role, level: Level, outcome: Outcome) -> CaseResult {
    CaseResult {
        id: id.into(),
        family: id.split('.').next().unwrap_or("").into(),
        role,
        level,
        spec: vec![yamux::Rule::StreamOpen],
        summary: "s".into(),
        outcome,
        flaky: false,
        attempts: 1,
        duration_ms: 5,
        message: None,
        failures: if outcome == Outcome::Fail {
            vec![Failure {
                step: 2,
                level: Level::Must,
                rule: Some(yamux::Rule::StreamOpen),
                note: None,
                expected: "data stream=1 len=100".into(),
                actual: "nothing (timed out)".into(),
            }]
        } else {
            Vec::new()
        },
        observations: Vec::new(),
        trace: Vec::new(),
        stderr: Vec::new(),
        resources: None,
        ran: None,
        ran_message: None,
    }
}

fn imp(results: Vec<CaseResult>, expected: Vec<Expected>) -> ImplResults {
    ImplResults {
        name: "x".into(),
        implementation: "x 1.0".into(),
        install: Install::Installed,
        results,
        expectations: Expectations {
            implementation: "x 1.0".into(),
            expected,
            interop_flaky: Vec::new(),
        },
    }
}

fn pair(client: &str, server: &str, bulk: Outcome) -> Pair {
    let check = |name, outcome| Check {
        name,
        outcome,
        reason: if outcome == Outcome::Pass {
            String::new()
        } else {
            "stream 1: 262144 of 524288 bytes echoed".into()
        },
    };
    Pair {
        client: client.into(),
        server: server.into(),
        checks: vec![
            check("bulk", bulk),
            check("half-close", Outcome::Pass),
            check("reset", Outcome::Pass),
            check("ping", Outcome::Pass),
        ],
        setup_error: None,
        trace: Vec::new(),
    }
}

#[test]
fn flaky_interop_pairs_render_the_same_whatever_the_outcome() {
    let mut x = imp(Vec::new(), Vec::new());
    x.expectations.interop_flaky.push(crate::run::InteropFlaky {
        client: "x".into(),
        reason: "the server's stall depends on timing".into(),
    });
    let all = [x];
    let passed = markdown(&all, &[pair("x", "x", Outcome::Pass)], "t", "b.md");
    let failed = markdown(&all, &[pair("x", "x", Outcome::Fail)], "t", "b.md");
    assert_eq!(comparable(&passed), comparable(&failed));
    assert!(passed.contains("| **x** | ≈ |"), "{passed}");
    assert!(passed.contains("x → x: flaky: the server's stall depends on timing"));
    assert!(passed.contains("0 of 1 pairs pass every check (1 listed as flaky)"));
    // not flaky: the outcome shows
    let plain = imp(Vec::new(), Vec::new());
    let failed = markdown(&[plain], &[pair("x", "x", Outcome::Fail)], "t", "b.md");
    assert!(failed.contains("| **x** | ×bulk |"), "{failed}");
    // notes of what a run observed are not compared; the cells are
    let mut other = pair("x", "x", Outcome::Fail);
    other.checks[0].reason = "stream 1: 393216 of 524288 bytes echoed".into();
    let again = markdown(&[imp(Vec::new(), Vec::new())], &[other], "t", "b.md");
    assert_ne!(failed, again);
    assert_eq!(comparable(&failed), comparable(&again));
    let passed = markdown(
        &[imp(Vec::new(), Vec::new())],
        &[pair("x", "x", Outcome::Pass)],
        "t",
        "b.md",
    );
    assert_ne!(comparable(&failed), comparable(&passed));
    // the entries survive a rewrite of expected.json
    let e = expectations_from(&all[0]);
    let back: Expectations = serde_json::from_str(&expectations_json(&e)).unwrap();
    assert_eq!(back.interop_flaky.len(), 1);
    assert_eq!(back.interop_flaky[0].client, "x");
}

#[test]
fn known_failures_cite_their_expected_reason() {
    let keep = Expected {
        case: "stream.a".into(),
        outcome: Outcome::Fail,
        reason: "observed once: hand-written".into(),
        flaky: false,
        or: Vec::new(),
    };
    let i = imp(
        vec![result(
            "stream.a",
            Role::Server,
            Level::Must,
            Outcome::Xfail,
        )],
        vec![keep],
    );
    let md = markdown(&[i], &[], "t", "b.md");
    assert!(
        md.contains("`stream.a` server — x: xfail: observed once: hand-written"),
        "{md}"
    );
}

#[test]
fn expectations_merge_roles_and_round_trip() {
    let i = imp(
        vec![
            result("stream.a", Role::Server, Level::Must, Outcome::Fail),
            result("stream.a", Role::Client, Level::Must, Outcome::Fail),
            result("stream.b", Role::Server, Level::Must, Outcome::Fail),
            result("stream.b", Role::Client, Level::Must, Outcome::Pass),
            result("stream.c", Role::Server, Level::Must, Outcome::Unsupported),
        ],
        Vec::new(),
    );
    let e = expectations_from(&i);
    let cases: Vec<&str> = e.expected.iter().map(|x| x.case.as_str()).collect();
    assert_eq!(cases, ["stream.a", "stream.b@server"]);
    assert!(e.expected[0].reason.contains("stream.open"));
    let text = expectations_json(&e);
    let back: Expectations = serde_json::from_str(&text).unwrap();
    assert_eq!(back.expected.len(), 2);
    assert_eq!(back.expected[1].outcome, Outcome::Fail);
}

#[test]
fn entries_written_per_role_stay_per_role() {
    let per_role = |role: &str, why: &str| Expected {
        case: format!("stream.a@{role}"),
        outcome: Outcome::NonStrict,
        reason: why.into(),
        flaky: false,
        or: Vec::new(),
    };
    let i = imp(
        vec![
            result("stream.a", Role::Server, Level::Should, Outcome::Xfail),
            result("stream.a", Role::Client, Level::Should, Outcome::Xfail),
        ],
        vec![
            per_role("server", "why the server fails"),
            per_role("client", "why the client fails"),
        ],
    );
    let e = expectations_from(&i);
    let got: Vec<(&str, &str)> = e
        .expected
        .iter()
        .map(|x| (x.case.as_str(), x.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("stream.a@server", "why the server fails"),
            ("stream.a@client", "why the client fails")
        ]
    );
}

#[test]
fn xfail_keeps_its_reason_and_flaky_entries_stay() {
    let keep = Expected {
        case: "stream.a".into(),
        outcome: Outcome::Fail,
        reason: "hand-written".into(),
        flaky: false,
        or: Vec::new(),
    };
    let fl = Expected {
        case: "stream.z@client".into(),
        outcome: Outcome::Fail,
        reason: "timing".into(),
        flaky: true,
        or: Vec::new(),
    };
    let i = imp(
        vec![
            result("stream.a", Role::Server, Level::Must, Outcome::Xfail),
            result("stream.a", Role::Client, Level::Must, Outcome::Xfail),
        ],
        vec![keep, fl],
    );
    let e = expectations_from(&i);
    assert_eq!(e.expected.len(), 2);
    assert_eq!(e.expected[0].reason, "hand-written");
    assert!(e.expected[1].flaky);
}

#[test]
fn update_expected_then_rejudge_shows_the_runs_as_the_new_file_does() {
    // Ran as: stream.a fail (listed), stream.b fail (not listed yet),
    // stream.c non-strict (listed as fail or non-strict), stream.d
    // pass (listed as flaky).
    let listed = vec![
        Expected {
            case: "stream.a".into(),
            outcome: Outcome::Fail,
            reason: "known".into(),
            flaky: false,
            or: Vec::new(),
        },
        Expected {
            case: "stream.c@server".into(),
            outcome: Outcome::Fail,
            reason: "fail or non-strict under load".into(),
            flaky: false,
            or: vec![Outcome::NonStrict],
        },
        Expected {
            case: "stream.d@server".into(),
            outcome: Outcome::Fail,
            reason: "timing".into(),
            flaky: true,
            or: Vec::new(),
        },
    ];
    let mut i = imp(
        vec![
            result("stream.a", Role::Server, Level::Must, Outcome::Fail),
            result("stream.b", Role::Server, Level::Must, Outcome::Fail),
            result("stream.c", Role::Server, Level::Should, Outcome::NonStrict),
            result("stream.d", Role::Server, Level::Must, Outcome::Pass),
        ],
        listed.clone(),
    );
    for r in &mut i.results {
        crate::run::apply_expectation(r, i.expectations.find(&r.id, r.role));
    }
    let as_run: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        as_run,
        [Outcome::Xfail, Outcome::Fail, Outcome::Xfail, Outcome::Pass]
    );
    let e = expectations_from(&i);
    let cases: Vec<&str> = e.expected.iter().map(|x| x.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "stream.a@server",
            "stream.b@server",
            "stream.c@server",
            "stream.d@server"
        ]
    );
    assert_eq!(e.expected[2].or, [Outcome::NonStrict]);
    assert!(e.expected[3].flaky);
    rejudge(&mut i, e);
    let now: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        now,
        [
            Outcome::Xfail,
            Outcome::Xfail,
            Outcome::Xfail,
            Outcome::Pass
        ]
    );
    assert!(differences(std::slice::from_ref(&i)).is_empty());
    // stream.b's xfail cites what it did; the others keep their text.
    assert!(i.results[1]
        .message
        .as_deref()
        .unwrap_or("")
        .starts_with("observed: step 2"));
    assert_eq!(i.results[0].message.as_deref(), Some("known"));
    // Judged again against nothing: every result is back as it ran.
    rejudge(&mut i, Expectations::default());
    let back: Vec<Outcome> = i.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        back,
        [
            Outcome::Fail,
            Outcome::Fail,
            Outcome::NonStrict,
            Outcome::Pass
        ]
    );
    assert_eq!(i.results[0].message, None);
}

#[test]
fn an_outcome_neither_listed_nor_accepted_stays_unexpected() {
    let e = Expected {
        case: "stream.a".into(),
        outcome: Outcome::NonStrict,
        reason: "memory".into(),
        flaky: false,
        or: Vec::new(),
    };
    let mut r = result("stream.a", Role::Server, Level::Must, Outcome::Fail);
    crate::run::apply_expectation(&mut r, Some(&e));
    assert_eq!(r.outcome, Outcome::Fail);
    let e = Expected {
        or: vec![Outcome::Fail],
        ..e
    };
    crate::run::apply_expectation(&mut r, Some(&e));
    assert_eq!(r.outcome, Outcome::Xfail);
    assert_eq!(r.ran, Some(Outcome::Fail));
}

#[test]
fn differences_are_unexpected_results_only() {
    let i = imp(
        vec![
            result("stream.a", Role::Server, Level::Must, Outcome::Xfail),
            result("stream.b", Role::Server, Level::Must, Outcome::Fail),
            result("stream.c", Role::Server, Level::Must, Outcome::Xpass),
            result("stream.d", Role::Server, Level::Info, Outcome::Info),
            result("stream.e", Role::Server, Level::Must, Outcome::Unsupported),
        ],
        Vec::new(),
    );
    let d: Vec<String> = differences(&[i]).into_iter().map(|x| x.1).collect();
    assert_eq!(d, ["stream.b@server", "stream.c@server"]);
}

#[test]
fn markdown_is_deterministic_and_keeps_notes() {
    let mut a = imp(
        vec![
            result("stream.a", Role::Server, Level::Must, Outcome::Pass),
            result("stream.b", Role::Client, Level::Must, Outcome::Fail),
        ],
        Vec::new(),
    );
    a.name = "alpha".into();
    let b = ImplResults {
        name: "beta".into(),
        implementation: String::new(),
        install: Install::NotInstalled(String::new()),
        results: Vec::new(),
        expectations: Expectations::default(),
    };
    let pairs = vec![Pair {
        client: "alpha".into(),
        server: "alpha".into(),
        checks: vec![
            Check {
                name: "bulk",
                outcome: Outcome::Pass,
                reason: String::new(),
            },
            Check {
                name: "ping",
                outcome: Outcome::Unsupported,
                reason: "no ping API".into(),
            },
        ],
        setup_error: None,
        trace: Vec::new(),
    }];
    let md1 = markdown(&[a.clone(), b.clone()], &pairs, "run one, 3 s", "bugs.md");
    let md2 = markdown(&[a, b], &pairs, "run two, 9 s", "bugs.md");
    assert_ne!(md1, md2);
    assert_eq!(comparable(&md1), comparable(&md2));
    let with = with_notes(&md1, &format!("old\n{NOTES_MARKER}\nmy notes\n"));
    assert!(with.ends_with(&format!("{NOTES_MARKER}\nmy notes\n")));
    insta::assert_snapshot!(with_notes(&md1, ""));
}

#[test]
fn changed_lines_name_the_cells_that_moved_and_not_the_notes() {
    let before = "_Generated: 1 s_\n| a | ✓ |\n| b | x |\n| c | ✓ |\n## Interoperability\n- a → b: bulk fail: 10 bytes\n";
    let after = "_Generated: 2 s_\n| a | ✓ |\n| b | ✓ |\n| c | ✓ |\n## Interoperability\n- a → b: bulk fail: 20 bytes\n";
    let (gone, came) = changed_lines(before, after);
    assert_eq!(gone, vec!["| b | x |".to_string()]);
    assert_eq!(came, vec!["| b | ✓ |".to_string()]);
    // A line that appears twice and once after: one copy is gone.
    let (gone, came) = changed_lines("| x |\n| x |\n", "| x |\n");
    assert_eq!((gone.len(), came.len()), (1, 0));
    assert_eq!(changed_lines(after, after), (vec![], vec![]));
}

fn one_bug(script: Option<&str>) -> Bugs {
    Bugs {
        bugs: vec![Bug {
            id: "syn-data".into(),
            title: "The payload of D|SYN is dropped".into(),
            rule: "stream.open".into(),
            cases: vec!["stream.open.syn-on-data".into()],
            expected: "the bytes are echoed".into(),
            code: "session.ts handleStreamMessage".into(),
            script: script.map(str::to_string),
            no_script: Some("only the adapter shows it".into()),
            interop: vec!["bulk".into()],
        }],
    }
}

#[test]
fn a_bug_report_shows_the_rule_upstream_reproduction_observation_and_interop() {
    let rules = crate::spec::SpecRules::parse(
        "### stream.open — Opening\nLevel: MUST\n\nA SYN opens.\n\nUpstream: [spec](u), \"Opening a stream\": data may follow the SYN.\n",
    );
    let mut failed = result(
        "stream.open.syn-on-data",
        Role::Server,
        Level::Must,
        Outcome::Fail,
    );
    failed.trace.push(crate::peer::TraceLine {
        t_ms: 1.0,
        dir: "->".into(),
        text: "data stream=1 flags=SYN len=3".into(),
    });
    let passed = result(
        "stream.open.syn-on-data",
        Role::Client,
        Level::Must,
        Outcome::Pass,
    );
    let x = imp(vec![failed, passed], Vec::new());
    let pairs = vec![pair("x", "y", Outcome::Fail), pair("y", "z", Outcome::Fail)];
    let md = report(
        &x,
        &one_bug(Some("data+syn 1 abc\nsleep 500")),
        &rules,
        &pairs,
    )
    .unwrap();
    insta::assert_snapshot!(md);
    // The pair without x is not its interop consequence.
    assert!(md.contains("x → y: bulk") && !md.contains("y → z"));
    // No script: the reason is given instead.
    let md = report(&x, &one_bug(None), &rules, &pairs).unwrap();
    assert!(md.contains("No `inject` script: only the adapter shows it."));
    // Every case passing: said, not hidden.
    let ok = imp(
        vec![result(
            "stream.open.syn-on-data",
            Role::Server,
            Level::Must,
            Outcome::Pass,
        )],
        Vec::new(),
    );
    let md = report(&ok, &one_bug(Some("syn 1")), &rules, &[]).unwrap();
    assert!(md.contains("Not reproduced in the last run"));
    assert_eq!(report(&ok, &Bugs::default(), &rules, &[]), None);
}
