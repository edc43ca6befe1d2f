//! `yamuxctl bench` end to end: raw TCP and the reference, quick sizes,
//! NDJSON parsed back.

use std::process::Command;

use yamuxctl::bench::report::parse_ndjson;

#[test]
fn quick_request_response_and_open_give_figures_for_both_baselines() {
    let out = Command::new(env!("CARGO_BIN_EXE_yamuxctl"))
        .args([
            "bench", "--quick", "--impl", "raw-tcp", "--only", "rr", "--only", "open", "--json",
        ])
        .output()
        .expect("run yamuxctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (info, figs) = parse_ndjson(&stdout).expect("NDJSON parses back");
    assert_eq!(info.implementations, vec!["raw-tcp", "reference"]);
    assert_eq!(info.reps, 1);
    for scen in ["rr-p50", "rr-p99", "open"] {
        for imp in ["raw-tcp", "reference"] {
            let f = figs
                .iter()
                .find(|f| f.scenario == scen && f.implementation == imp)
                .unwrap_or_else(|| panic!("no figure for {scen} {imp}"));
            assert!(f.median.is_some_and(|m| m > 0.0), "{f:?}");
            assert_eq!(f.samples.len(), 1);
        }
    }
    let p50 = figs
        .iter()
        .find(|f| f.scenario == "rr-p50" && f.implementation == "reference");
    let p99 = figs
        .iter()
        .find(|f| f.scenario == "rr-p99" && f.implementation == "reference");
    assert!(p50.unwrap().median <= p99.unwrap().median);
}

#[test]
fn unknown_scenario_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_yamuxctl"))
        .args(["bench", "--only", "nonsense"])
        .output()
        .expect("run yamuxctl");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--only nonsense"));
}

#[test]
fn raw_tcp_adapter_rejects_an_unknown_role_with_89() {
    let out = Command::new(env!("CARGO_BIN_EXE_yamuxctl"))
        .args([
            "adapter-raw-tcp",
            "--role",
            "bogus",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run yamuxctl");
    assert_eq!(out.status.code(), Some(89));
}
