//! `yamuxctl conform --matrix`: every case against every installed adapter
//! and the interop pairs, compared with each expected.json; writes
//! docs/matrix.md, docs/resilience.md, docs/interop-bugs.md and the traces.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::{load_suite, ConformArgs};
use crate::adapters::adapter_spec;
use crate::cmd::Io;

/// `yamuxctl conform --matrix`.
pub fn run(
    args: ConformArgs,
    rt: &tokio::runtime::Runtime,
    mut io: Io,
) -> anyhow::Result<ExitCode> {
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
    writeln!(
        io.err,
        "matrix: {} adapters, {} cases",
        impls.len(),
        suite.cases.len()
    )?;
    let all = rt.block_on(matrix::run_cases(&suite.cases, &impls, &opts));
    let cases_time = start.elapsed();
    writeln!(
        io.err,
        "matrix: cases done in {:.1}s",
        cases_time.as_secs_f64()
    )?;
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
    writeln!(
        io.err,
        "matrix: interop done in {:.1}s",
        (elapsed - cases_time).as_secs_f64()
    )?;
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
            writeln!(
                io.err,
                "matrix: wrote {} ({} entries)",
                path.display(),
                e.expected.len()
            )?;
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
    let reports = out.with_file_name("reports");
    let rules = conformance::spec::SpecRules::load(&conformance::paths::spec_file())
        .with_context(|| format!("reading {}", conformance::paths::spec_file().display()))?;
    let mut index = Vec::new();
    for imp in all.iter().filter(|i| i.name != "reference") {
        let file = conformance::paths::adapters_dir()
            .join(&imp.name)
            .join("bugs.json");
        let bugs = matrix::Bugs::load(&file).map_err(anyhow::Error::msg)?;
        if let Some(text) = matrix::report(imp, &bugs, &rules, &pairs) {
            std::fs::create_dir_all(&reports)
                .with_context(|| format!("creating {}", reports.display()))?;
            let path = reports.join(format!("{}.md", imp.name));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            index.push((imp, bugs));
        }
    }
    if !index.is_empty() {
        let path = reports.join("README.md");
        std::fs::write(&path, matrix::reports_index(&index))
            .with_context(|| format!("writing {}", path.display()))?;
    }
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
        writeln!(io.out, "{:<12} {status}", imp.name)?;
    }
    let ok_pairs = pairs.iter().filter(|p| p.ok()).count();
    writeln!(
        io.out,
        "interop: {ok_pairs} of {} pairs pass every check",
        pairs.len()
    )?;
    for (imp, case, why) in &diffs {
        writeln!(io.out, "DIFFERS {imp} {case}: {why}")?;
    }
    writeln!(
        io.out,
        "wrote {} and {}; {} traces under {} ({:.1}s)",
        out.display(),
        bugs.display(),
        written.len(),
        dir.display(),
        elapsed.as_secs_f64()
    )?;
    if args.check && changed {
        writeln!(
            io.out,
            "{} changed (timing lines ignored): see `git diff`",
            out.display()
        )?;
        // The lines that changed, last: a CI log that keeps only its tail
        // still says which cell moved.
        let (gone, came) = matrix::changed_lines(&before, &md);
        for l in gone.iter().take(40) {
            writeln!(io.out, "CHANGED - {l}")?;
        }
        for l in came.iter().take(40) {
            writeln!(io.out, "CHANGED + {l}")?;
        }
    }
    Ok(if !diffs.is_empty() || (args.check && changed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
