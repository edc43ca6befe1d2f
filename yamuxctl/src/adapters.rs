//! Naming an implementation: `reference` (this executable's own adapter
//! subcommand), a directory under conformance/adapters/, or a path to an
//! adapter executable. Used by `conform` and `bench`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use conformance::adapter::AdapterSpec;

/// `--adapter`, `--only` and `bench --impl` name the reference this way.
pub const REFERENCE: &str = "reference";

/// Resolves an adapter argument (`None`: the reference) to how to start
/// it, and its expected.json when it has one.
pub fn adapter_spec(arg: Option<&str>) -> anyhow::Result<(AdapterSpec, Option<PathBuf>)> {
    match arg {
        None | Some(REFERENCE) => {
            let exe = std::env::current_exe().context("cannot find the yamuxctl executable")?;
            let exp = Some(
                conformance::paths::adapters_dir()
                    .join(REFERENCE)
                    .join("expected.json"),
            )
            .filter(|e| e.exists());
            Ok((
                AdapterSpec {
                    program: exe,
                    args: vec!["adapter-reference".into()],
                    env: Vec::new(),
                    name: REFERENCE.into(),
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
