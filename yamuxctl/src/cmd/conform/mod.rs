//! `yamuxctl conform`: run the scenario vectors against an implementation
//! (an adapter, or a plain `--target` echo server), or with `--matrix`
//! against every installed adapter ([`matrix`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use conformance::spec::SpecRules;
use conformance::vector::Suite;

use crate::adapters::adapter_spec;
use crate::cmd::Io;

pub mod matrix;

/// `yamuxctl conform`: run the scenario vectors against an implementation.
#[derive(Args)]
pub struct ConformArgs {
    /// A yamux echo server already listening (server role, echo-mode cases only).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "adapter")]
    pub target: Option<String>,
    /// With --target: the server's process id, to measure its memory and
    /// CPU during each case (an adapter's process is measured without it).
    #[arg(long, value_name = "PID", requires = "target")]
    pub pid: Option<u32>,
    /// Adapter: a name under conformance/adapters/ or a path to an executable.
    /// Default: the reference adapter (this crate's `yamux`).
    #[arg(long, value_name = "PATH|NAME")]
    pub adapter: Option<String>,
    /// Cases to run: id prefixes or globs (`flow`, `'flow.*'`); repeatable.
    #[arg(long = "case", value_name = "SELECTOR")]
    pub cases: Vec<String>,
    /// Only this IUT role.
    #[arg(long, value_parser = ["server", "client"])]
    pub role: Option<String>,
    /// List the selected cases and roles without running them.
    #[arg(long)]
    pub list: bool,
    /// Concurrent cases (default: 8 × the number of CPUs; cases mostly wait).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Default time limit per case, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Re-run failing cases up to N times; a case that passes on a retry is flaky.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Known failures (expected.json format). Default: the adapter's expected.json.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// A missed SHOULD (non-strict) also makes the exit code 1.
    #[arg(long)]
    pub strict: bool,
    /// NDJSON on stdout (one object per case, then a summary).
    #[arg(long)]
    pub json: bool,
    /// Also write JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Show every case's details, not just problems.
    #[arg(short, long)]
    pub verbose: bool,
    /// Check the adapter itself (docs/adapters.md) instead of running cases.
    #[arg(long)]
    pub self_check: bool,
    /// Directory of scenario vectors.
    #[arg(long)]
    pub vectors: Option<PathBuf>,
    /// Run every case against every installed adapter of conformance/adapters/
    /// and the interop pairs, compare with each expected.json and write
    /// docs/matrix.md and docs/interop-bugs.md (docs/matrix.md).
    #[arg(long, conflicts_with_all = ["target", "adapter", "self_check"])]
    pub matrix: bool,
    /// With --matrix: where to write the matrix (default docs/matrix.md).
    #[arg(long, value_name = "FILE", requires = "matrix")]
    pub matrix_out: Option<PathBuf>,
    /// With --matrix: exit 1 when the regenerated matrix differs from the
    /// file it replaces (timing lines ignored).
    #[arg(long, requires = "matrix")]
    pub check: bool,
    /// With --matrix: rewrite each adapter's expected.json from this run.
    #[arg(long, requires = "matrix")]
    pub update_expected: bool,
    /// With --matrix: skip the interop table (keeps the committed one out).
    #[arg(long, requires = "matrix")]
    pub no_interop: bool,
    /// With --matrix: only these adapters (repeatable; default every one).
    #[arg(long = "only", value_name = "NAME", requires = "matrix")]
    pub only: Vec<String>,
    /// With --matrix: traces of failures go here (default target/matrix-report).
    #[arg(long, value_name = "DIR", requires = "matrix")]
    pub report_dir: Option<PathBuf>,
}

/// Runs `conform` (or, with `--matrix`, the matrix).
pub fn run(args: ConformArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    use conformance::run::{exit_code, Expectations, Iut, Options};
    use conformance::vector::Role;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    if args.matrix {
        return matrix::run(args, &rt, io);
    }
    let (iut, iut_name, expect_default) = match &args.target {
        Some(t) => {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(t.as_str())
                .with_context(|| format!("--target {t}: not an address"))?
                .next()
                .with_context(|| format!("--target {t}: no address"))?;
            (Iut::Target(addr), format!("target {t}"), None)
        }
        None => {
            let (spec, exp) = adapter_spec(args.adapter.as_deref())?;
            let name = format!("adapter {}", spec.name);
            (Iut::Adapter(spec), name, exp)
        }
    };
    if args.self_check {
        let Iut::Adapter(spec) = &iut else {
            bail!("--self-check needs --adapter");
        };
        let report = rt.block_on(conformance::selfcheck::self_check(spec));
        write!(io.out, "{}", report.text())?;
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let suite = load_suite(args.vectors.clone())?;
    let expectations = match args.expect.clone().or(expect_default) {
        Some(p) => Expectations::load(&p).map_err(anyhow::Error::msg)?,
        None => Expectations::default(),
    };
    for e in &expectations.expected {
        let id = e.case.split('@').next().unwrap_or("");
        if suite.get(id).is_none() {
            bail!("expectations: case {:?} does not exist", e.case);
        }
    }
    let mut opts = Options {
        selectors: args.cases.clone(),
        roles: match args.role.as_deref() {
            Some("server") => vec![Role::Server],
            Some("client") => vec![Role::Client],
            _ => Vec::new(),
        },
        timeout: std::time::Duration::from_secs_f64(args.timeout.max(0.1)),
        retries: args.retries,
        expectations,
        target_pid: args.pid,
        ..Options::default()
    };
    if let Some(j) = args.jobs {
        opts.jobs = j.max(1);
    }
    if let Some(pid) = args.pid {
        if conformance::resources::read_tree(pid).is_none() {
            bail!("--pid {pid}: no such process (or /proc is not readable)");
        }
    }
    // A --target is a plain echo server: it plays the server role only, and
    // cases that drive the application through an adapter cannot run.
    let target = matches!(iut, Iut::Target(_));
    let mut not_run = String::new();
    let echo_only: Vec<conformance::vector::Case>;
    let cases: &[conformance::vector::Case] = if target {
        if args.role.as_deref() == Some("client") {
            bail!("--role client needs an adapter: a --target is a yamux server, so only the server role runs against it");
        }
        opts.roles = vec![Role::Server];
        let all = conformance::run::select(
            &suite.cases,
            &Options {
                roles: Vec::new(),
                ..opts.clone()
            },
        );
        let clients = all.iter().filter(|(_, r)| *r == Role::Client).count();
        let adapter_only = all
            .iter()
            .filter(|(c, r)| *r == Role::Server && c.needs_adapter())
            .count();
        if clients + adapter_only > 0 {
            not_run = format!(
                "not run against a --target: {clients} client-role runs (a target is a server) and {adapter_only} server runs that drive the application through an adapter (`yamuxctl conform --list --role server` shows which)\n"
            );
        }
        echo_only = suite
            .cases
            .iter()
            .filter(|c| !c.needs_adapter())
            .cloned()
            .collect();
        &echo_only
    } else {
        &suite.cases
    };
    let selected = conformance::run::select(cases, &opts);
    if selected.is_empty() {
        if target && !not_run.is_empty() {
            bail!(
                "no case of {:?} runs against a --target: {not_run}",
                args.cases
            );
        }
        bail!("no case matches {:?}", args.cases);
    }
    if args.list {
        for (c, r) in &selected {
            let adapter = if c.needs_adapter() || *r == Role::Client {
                "adapter"
            } else {
                "echo"
            };
            writeln!(
                io.out,
                "{:<44} {:<6} {:<6} {:<7} {}",
                c.id,
                c.level.to_string(),
                r.as_str(),
                adapter,
                yamux::Rule::join(&c.spec, ",")
            )?;
        }
        writeln!(io.out, "{} case runs", selected.len())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Iut::Target(addr) = &iut {
        // Nothing can work against a target that does not answer: one line.
        let probe = rt.block_on(async {
            tokio::time::timeout(
                conformance::liveness::PROBE_LIMIT,
                tokio::net::TcpStream::connect(addr),
            )
            .await
        });
        match probe {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => bail!("--target {addr}: cannot connect: {e}"),
            Err(_) => bail!(
                "--target {addr}: connecting timed out after {} s",
                conformance::liveness::PROBE_LIMIT.as_secs()
            ),
        }
    }
    let start = std::time::Instant::now();
    let results = rt.block_on(conformance::run::run_all(cases, &iut, &opts));
    let elapsed = start.elapsed();
    let code = exit_code(&results, args.strict);
    if let Some(dead) = results
        .iter()
        .find(|r| r.outcome == conformance::run::Outcome::Crash && matches!(iut, Iut::Target(_)))
    {
        let not_run = results
            .iter()
            .filter(|r| {
                r.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("not run: the target stopped"))
            })
            .count();
        writeln!(io.err,
            "yamuxctl conform: the target stopped answering after {} ({}); {not_run} later case runs were not run",
            dead.key(),
            dead.message.as_deref().unwrap_or("crash")
        )?;
    }
    if args.json {
        write!(
            io.out,
            "{}",
            conformance::report::ndjson(&results, &iut_name, elapsed, code)
        )?;
    } else {
        let text = conformance::report::text(
            &results,
            elapsed,
            conformance::report::TextOptions {
                verbose: args.verbose,
                stable: false,
                trace_limit: 60,
            },
        );
        writeln!(io.out, "yamux conformance: {iut_name}")?;
        write!(io.out, "{not_run}{text}")?;
    }
    if let Some(path) = &args.junit {
        let xml =
            conformance::report::junit(&results, &iut_name, elapsed).map_err(anyhow::Error::msg)?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::from(code))
}

/// The rules of docs/spec.md (or `spec`), when the file exists.
pub fn load_rules(spec: Option<PathBuf>) -> anyhow::Result<Option<SpecRules>> {
    let path = spec.unwrap_or_else(conformance::paths::spec_file);
    if !path.exists() {
        return Ok(None);
    }
    let rules = SpecRules::load(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(rules))
}

/// The scenario vectors of `vectors` (default: the workspace's), every
/// problem in them listed in the error.
pub fn load_suite(vectors: Option<PathBuf>) -> anyhow::Result<Suite> {
    let dir = vectors.unwrap_or_else(conformance::paths::vectors_dir);
    match Suite::load_dir(&dir) {
        Ok(s) => Ok(s),
        Err(errors) => {
            let mut msg = format!("{} problem(s) in the vectors:", errors.len());
            for e in &errors {
                let _ = write!(msg, "\n  {e}");
            }
            bail!(msg)
        }
    }
}
