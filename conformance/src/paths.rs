//! Where the suite's files are: `vectors/session/`, `docs/spec.md`,
//! `conformance/adapters/`.

use std::path::{Path, PathBuf};

/// The workspace root: the first ancestor of the current directory holding
/// `vectors/session`, else the root this crate was built from.
pub fn root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join("vectors/session").is_dir() {
                return dir.to_path_buf();
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `vectors/session` under the root.
pub fn vectors_dir() -> PathBuf {
    root().join("vectors/session")
}

/// `docs/spec.md` under the root.
pub fn spec_file() -> PathBuf {
    root().join("docs/spec.md")
}

/// `conformance/adapters` under the root.
pub fn adapters_dir() -> PathBuf {
    root().join("conformance/adapters")
}
