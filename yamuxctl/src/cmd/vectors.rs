//! `yamuxctl vectors list|show|check`: the scenario vectors (vectors/session).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use conformance::vector::selects;

use super::conform::{load_rules, load_suite};
use super::Io;

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

/// Runs `vectors`.
pub fn run(args: VectorsArgs, mut io: Io) -> anyhow::Result<ExitCode> {
    let rules = load_rules(args.spec)?;
    let dir = args.vectors.clone();
    match args.command {
        VectorsCommand::Check => {
            let suite = load_suite(dir)?;
            writeln!(
                io.out,
                "{} cases in {} files: ok (every cited rule is one of the {} of docs/spec.md)",
                suite.cases.len(),
                suite.families.len(),
                yamux::Rule::ALL.len()
            )?;
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
                writeln!(
                    io.out,
                    "{:<44} {:<6} {:<13} {:<40} {}",
                    c.id,
                    c.level.to_string(),
                    roles.join(","),
                    yamux::Rule::join(&c.spec, ","),
                    c.summary
                )?;
            }
            writeln!(io.out, "{n} cases")?;
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Show { id } => {
            let suite = load_suite(dir)?;
            let Some(c) = suite.get(&id) else {
                bail!("no case with id {id:?} (try `yamuxctl vectors list`)");
            };
            write!(
                io.out,
                "{}",
                conformance::report::show_case(c, rules.as_ref())
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
