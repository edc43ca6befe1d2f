//! `yamuxctl vectors` and `yamuxctl conform`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use conformance::spec::SpecRules;
use conformance::vector::{selects, Suite};

/// `yamuxctl vectors ...`
#[derive(Args)]
pub struct VectorsArgs {
    /// Directory of scenario vectors (default: vectors/session of the workspace).
    #[arg(long, global = true)]
    pub vectors: Option<PathBuf>,
    /// docs/spec.md to quote rules from in `show` (default: the workspace's).
    #[arg(long, global = true)]
    pub spec: Option<PathBuf>,
    #[command(subcommand)]
    pub command: VectorsCommand,
}

/// Subcommands of `vectors`.
#[derive(Subcommand)]
pub enum VectorsCommand {
    /// List cases: id, level, roles, spec ids, summary.
    List {
        /// Only cases matching these id prefixes or globs.
        selectors: Vec<String>,
    },
    /// Show one case: its rules quoted from docs/spec.md and its steps.
    Show {
        /// Case id.
        id: String,
    },
    /// Validate every vector file; exit 2 on the first bad file.
    Check,
}

pub fn load_rules(spec: Option<PathBuf>) -> anyhow::Result<Option<SpecRules>> {
    let path = spec.unwrap_or_else(conformance::paths::spec_file);
    if !path.exists() {
        return Ok(None);
    }
    let rules = SpecRules::load(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(rules))
}

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

pub fn vectors(args: VectorsArgs) -> anyhow::Result<ExitCode> {
    let rules = load_rules(args.spec)?;
    let dir = args.vectors.clone();
    match args.command {
        VectorsCommand::Check => {
            let suite = load_suite(dir)?;
            println!(
                "{} cases in {} files: ok (every cited rule is one of the {} of docs/spec.md)",
                suite.cases.len(),
                suite.families.len(),
                yamux::Rule::ALL.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::List { selectors } => {
            let suite = load_suite(dir)?;
            let mut n = 0;
            for c in &suite.cases {
                if !selectors.is_empty() && !selectors.iter().any(|s| selects(s, &c.id)) {
                    continue;
                }
                n += 1;
                let roles: Vec<&str> = c.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<44} {:<6} {:<13} {:<40} {}",
                    c.id,
                    c.level.to_string(),
                    roles.join(","),
                    yamux::Rule::join(&c.spec, ","),
                    c.summary
                );
            }
            println!("{n} cases");
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Show { id } => {
            let suite = load_suite(dir)?;
            let Some(c) = suite.get(&id) else {
                bail!("no case with id {id:?} (try `yamuxctl vectors list`)");
            };
            print!("{}", conformance::report::show_case(c, rules.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

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

/// Resolves `--adapter`: a path, or a name under conformance/adapters/.
pub fn adapter_spec(
    arg: Option<&str>,
) -> anyhow::Result<(conformance::adapter::AdapterSpec, Option<PathBuf>)> {
    use conformance::adapter::AdapterSpec;
    match arg {
        None | Some("reference") => {
            let exe = std::env::current_exe().context("cannot find the yamuxctl executable")?;
            let exp = Some(conformance::paths::adapters_dir().join("reference/expected.json"))
                .filter(|e| e.exists());
            Ok((
                AdapterSpec {
                    program: exe,
                    args: vec!["adapter-reference".into()],
                    env: Vec::new(),
                    name: "reference".into(),
                },
                exp,
            ))
        }
        Some(a) => {
            let p = PathBuf::from(a);
            if a.contains('/') || p.is_file() {
                if !p.exists() {
                    bail!("adapter {a}: no such file");
                }
                let dir = p
                    .parent()
                    .map(|d| d.join("expected.json"))
                    .filter(|e| e.exists());
                return Ok((
                    AdapterSpec {
                        program: p,
                        args: Vec::new(),
                        env: Vec::new(),
                        name: a.to_string(),
                    },
                    dir,
                ));
            }
            let dir = conformance::paths::adapters_dir().join(a);
            let run = dir.join("run");
            if !run.exists() {
                bail!(
                    "adapter {a}: {} does not exist (known adapters are the directories of {})",
                    run.display(),
                    conformance::paths::adapters_dir().display()
                );
            }
            let exp = Some(dir.join("expected.json")).filter(|e| e.exists());
            Ok((
                AdapterSpec {
                    program: run,
                    args: Vec::new(),
                    env: Vec::new(),
                    name: a.to_string(),
                },
                exp,
            ))
        }
    }
}

pub fn conform(args: ConformArgs) -> anyhow::Result<ExitCode> {
    use conformance::run::{exit_code, Expectations, Iut, Options};
    use conformance::vector::Role;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    if args.matrix {
        return matrix(args, &rt);
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
        print!("{}", report.text());
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
    let selected = conformance::run::select(&suite.cases, &opts);
    if selected.is_empty() {
        bail!("no case matches {:?}", args.cases);
    }
    if args.list {
        for (c, r) in &selected {
            let adapter = if c.needs_adapter() || *r == Role::Client {
                "adapter"
            } else {
                "echo"
            };
            println!(
                "{:<44} {:<6} {:<6} {:<7} {}",
                c.id,
                c.level.to_string(),
                r.as_str(),
                adapter,
                yamux::Rule::join(&c.spec, ",")
            );
        }
        println!("{} case runs", selected.len());
        return Ok(ExitCode::SUCCESS);
    }
    let start = std::time::Instant::now();
    let results = rt.block_on(conformance::run::run_all(&suite.cases, &iut, &opts));
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
        eprintln!(
            "yamuxctl conform: the target stopped answering after {} ({}); {not_run} later case runs were not run",
            dead.key(),
            dead.message.as_deref().unwrap_or("crash")
        );
    }
    if args.json {
        print!(
            "{}",
            conformance::report::ndjson(&results, &iut_name, elapsed, code)
        );
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
        println!("yamux conformance: {iut_name}");
        print!("{text}");
    }
    if let Some(path) = &args.junit {
        let xml =
            conformance::report::junit(&results, &iut_name, elapsed).map_err(anyhow::Error::msg)?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::from(code))
}

/// `yamuxctl conform --matrix`.
fn matrix(args: ConformArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    use conformance::matrix::{self, Implementation};
    use conformance::run::{Expectations, Options};
    let suite = load_suite(args.vectors.clone())?;
    let root = conformance::paths::root();
    let mut impls = Vec::new();
    let names = matrix::discover(&conformance::paths::adapters_dir());
    for n in &args.only {
        if !names.contains(n) {
            bail!(
                "--only {n}: no adapter of that name (known: {})",
                names.join(", ")
            );
        }
    }
    for name in names {
        if !args.only.is_empty() && !args.only.contains(&name) {
            continue;
        }
        let (spec, exp) = adapter_spec(Some(&name))?;
        let expectations = match &exp {
            Some(p) => Expectations::load(p).map_err(anyhow::Error::msg)?,
            None => Expectations::default(),
        };
        for e in &expectations.expected {
            let id = e.case.split('@').next().unwrap_or("");
            if suite.get(id).is_none() {
                bail!("{name}/expected.json: case {:?} does not exist", e.case);
            }
        }
        impls.push(Implementation {
            name,
            spec,
            expectations,
        });
    }
    let mut opts = Options {
        selectors: args.cases.clone(),
        timeout: std::time::Duration::from_secs_f64(args.timeout.max(0.1)),
        retries: args.retries,
        ..Options::default()
    };
    if let Some(j) = args.jobs {
        opts.jobs = j.max(1);
    }
    let start = std::time::Instant::now();
    eprintln!(
        "matrix: {} adapters, {} cases",
        impls.len(),
        suite.cases.len()
    );
    let all = rt.block_on(matrix::run_cases(&suite.cases, &impls, &opts));
    let cases_time = start.elapsed();
    eprintln!("matrix: cases done in {:.1}s", cases_time.as_secs_f64());
    let installed: Vec<Implementation> = impls
        .iter()
        .filter(|i| {
            all.iter()
                .any(|r| r.name == i.name && r.install == matrix::Install::Installed)
        })
        .cloned()
        .collect();
    let pairs = if args.no_interop {
        Vec::new()
    } else {
        // Pairs move a few MiB each and mostly wait: half the case jobs.
        let pj = (opts.jobs / 2).clamp(1, 8);
        rt.block_on(matrix::interop(&installed, pj, args.retries.min(1)))
    };
    let elapsed = start.elapsed();
    eprintln!(
        "matrix: interop done in {:.1}s",
        (elapsed - cases_time).as_secs_f64()
    );
    let mut all = all;
    if args.update_expected {
        for imp in &mut all {
            if imp.install != matrix::Install::Installed {
                continue;
            }
            let path = conformance::paths::adapters_dir()
                .join(&imp.name)
                .join("expected.json");
            let e = matrix::expectations_from(imp);
            std::fs::write(&path, matrix::expectations_json(&e))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "matrix: wrote {} ({} entries)",
                path.display(),
                e.expected.len()
            );
            // What is written below shows these runs as the new file
            // judges them (a `--check` right after must agree).
            matrix::rejudge(imp, e);
        }
    }
    let versions: Vec<String> = all
        .iter()
        .filter(|i| i.install == matrix::Install::Installed)
        .map(|i| i.name.clone())
        .collect();
    let generated = format!(
        "{} case runs and {} interop pairs in {:.0} s (-j {}) on {} adapters: {}",
        all.iter().map(|i| i.results.len()).sum::<usize>(),
        pairs.len(),
        elapsed.as_secs_f64(),
        opts.jobs,
        versions.len(),
        versions.join(", ")
    );
    let md = matrix::markdown(&all, &pairs, &generated, "interop-bugs.md");
    let out = args
        .matrix_out
        .clone()
        .unwrap_or_else(|| root.join("docs/matrix.md"));
    let before = std::fs::read_to_string(&out).unwrap_or_default();
    let md = matrix::with_notes(&md, &before);
    let changed = matrix::comparable(&before) != matrix::comparable(&md);
    std::fs::write(&out, &md).with_context(|| format!("writing {}", out.display()))?;
    let resilience = out.with_file_name("resilience.md");
    std::fs::write(
        &resilience,
        conformance::resilience::markdown(&all, &generated),
    )
    .with_context(|| format!("writing {}", resilience.display()))?;
    let bugs = out.with_file_name("interop-bugs.md");
    std::fs::write(&bugs, matrix::reproductions(&all))
        .with_context(|| format!("writing {}", bugs.display()))?;
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| root.join("target/matrix-report"));
    let _ = std::fs::remove_dir_all(&dir);
    let written = matrix::write_traces(&dir, &all, &pairs)
        .with_context(|| format!("writing traces under {}", dir.display()))?;
    let diffs = matrix::differences(&all);
    for imp in &all {
        let c = conformance::run::counts(&imp.results);
        let line: Vec<String> = c.iter().map(|(o, n)| format!("{n} {}", o.name())).collect();
        let status = match &imp.install {
            matrix::Install::Installed => line.join(", "),
            matrix::Install::NotInstalled(why) if why.is_empty() => "not installed".into(),
            matrix::Install::NotInstalled(why) => format!("not installed: {why}"),
            matrix::Install::Broken(m) => format!("broken: {m}"),
        };
        println!("{:<12} {status}", imp.name);
    }
    let ok_pairs = pairs.iter().filter(|p| p.ok()).count();
    println!(
        "interop: {ok_pairs} of {} pairs pass every check",
        pairs.len()
    );
    for (imp, case, why) in &diffs {
        println!("DIFFERS {imp} {case}: {why}");
    }
    println!(
        "wrote {} and {}; {} traces under {} ({:.1}s)",
        out.display(),
        bugs.display(),
        written.len(),
        dir.display(),
        elapsed.as_secs_f64()
    );
    if args.check && changed {
        println!(
            "{} changed (timing lines ignored): see `git diff`",
            out.display()
        );
    }
    Ok(if !diffs.is_empty() || (args.check && changed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
