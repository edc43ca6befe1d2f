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
    /// docs/spec.md to check rule ids against (default: the workspace's).
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

pub fn load_suite(vectors: Option<PathBuf>, rules: Option<&SpecRules>) -> anyhow::Result<Suite> {
    let dir = vectors.unwrap_or_else(conformance::paths::vectors_dir);
    match Suite::load_dir(&dir, rules) {
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
            let suite = load_suite(dir, rules.as_ref())?;
            let checked = match &rules {
                Some(r) => format!("spec ids checked against {} rules of docs/spec.md", r.len()),
                None => "docs/spec.md not found: spec ids not checked".into(),
            };
            println!(
                "{} cases in {} files: ok ({checked})",
                suite.cases.len(),
                suite.families.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::List { selectors } => {
            let suite = load_suite(dir, rules.as_ref())?;
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
                    c.spec.join(","),
                    c.summary
                );
            }
            println!("{n} cases");
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Show { id } => {
            let suite = load_suite(dir, rules.as_ref())?;
            let Some(c) = suite.get(&id) else {
                bail!("no case with id {id:?} (try `yamuxctl vectors list`)");
            };
            print!("{}", conformance::report::show_case(c, rules.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
    }
}
