//! `yamuxctl vectors` and `yamuxctl conform` end to end, against the
//! reference adapter (`yamuxctl adapter-reference`).

use std::process::Command;

fn yamuxctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yamuxctl"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn vectors_check_and_show() {
    let out = yamuxctl().args(["vectors", "check"]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cases in 15 files: ok"));
    let out = yamuxctl()
        .args(["vectors", "show", "ping.echo"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ping.echo  [MUST]  roles: server, client"),
        "{text}"
    );
    assert!(text.contains("Steps:"));
    let out = yamuxctl()
        .args(["vectors", "show", "no.such"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_vector_directory_exits_2_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("yamuxctl-bad-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("ping.json"),
        r#"{"family": "ping", "description": "d", "cases": [{"id": "ping.x"}]}"#,
    )
    .expect("write");
    let out = yamuxctl()
        .args(["vectors", "check", "--vectors"])
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ping.json: case ping.x: missing field `spec`"),
        "{err}"
    );
}

#[test]
fn conform_against_the_reference() {
    let out = yamuxctl()
        .args([
            "conform",
            "--case",
            "ping.echo",
            "--case",
            "stream.open.syn-on-*",
        ])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("✓ ping.echo [MUST] server (ping.echo, length.ping)"),
        "{text}"
    );
    assert!(
        text.contains("✓ stream.open.syn-on-data [MUST] client"),
        "{text}"
    );
    let out = yamuxctl()
        .args(["conform", "--case", "ping.echo", "--json"])
        .output()
        .expect("run");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"], "pass");
    assert_eq!(lines[2]["kind"], "summary");
    assert_eq!(lines[2]["exit_code"], 0);
}

#[test]
fn conform_self_check_and_list() {
    let out = yamuxctl()
        .args(["conform", "--self-check"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("✓ --role bogus exits 89"), "{text}");
    let out = yamuxctl()
        .args([
            "conform",
            "--list",
            "--case",
            "flow.send",
            "--role",
            "client",
        ])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .all(|l| l.contains(" client ") || l.ends_with("case runs")),
        "{text}"
    );
    let out = yamuxctl()
        .args(["conform", "--case", "nothing.matches"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn matrix_of_the_reference_regenerates_identically() {
    let dir = std::env::temp_dir().join(format!("yamuxctl-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out_md = dir.join("matrix.md");
    let run = || {
        yamuxctl()
            .args([
                "conform",
                "--matrix",
                "--only",
                "reference",
                "--case",
                "ping.echo",
                "--check",
            ])
            .arg("--matrix-out")
            .arg(&out_md)
            .arg("--report-dir")
            .arg(dir.join("report"))
            .output()
            .expect("run")
    };
    // First run: the file does not exist yet, so --check reports a change.
    let first = run();
    let text = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(1), "{text}");
    assert!(
        text.contains("interop: 1 of 1 pairs pass every check"),
        "{text}"
    );
    let md = std::fs::read_to_string(&out_md).expect("matrix.md written");
    assert!(md.contains("| ping.echo | server | MUST | ✓ |"), "{md}");
    assert!(md.contains("| **reference** | ✓ |"), "{md}");
    // Second run: only the timing line may differ.
    let second = run();
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_target_and_a_client_role_target_are_one_line_and_exit_2() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    drop(l);
    let out = yamuxctl()
        .args(["conform", "--target", &addr])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(out.stdout.is_empty());

    let out = yamuxctl()
        .args(["conform", "--target", &addr, "--role", "client"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--role client needs an adapter"), "{err}");
}
