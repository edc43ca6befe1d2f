//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz), kept here so
//! that a plain `cargo test` replays every corpus and regression file
//! through exactly the same code (see docs/fuzzing.md).
//!
//! Each function takes arbitrary bytes and panics only when an invariant is
//! broken: that is the signal the fuzzer looks for.

#[cfg(any(test, feature = "fuzzing"))]
mod connection;
mod frame;
mod tracker;

#[cfg(any(test, feature = "fuzzing"))]
pub use connection::connection;
pub use frame::frame_decode;
pub use tracker::tracker;

use std::path::Path;

/// Runs `f` on every file of `<fuzz_dir>/corpus/<target>/` and
/// `<fuzz_dir>/regressions/<target>/`, in name order, and returns how many
/// files were replayed. Panics naming the first file that fails, so a
/// plain `cargo test` checks every committed input where cargo-fuzz is
/// absent. Each crate's tests call it with its own entry points.
pub fn replay_dir(fuzz_dir: &Path, target: &str, f: fn(&[u8])) -> usize {
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let r = std::panic::catch_unwind(|| f(&data));
            assert!(r.is_ok(), "fuzz input {} fails", p.display());
            n += 1;
        }
    }
    n
}

/// [`replay_dir`] on this workspace's `fuzz/`.
#[cfg(test)]
fn replay(target: &str, f: fn(&[u8])) -> usize {
    replay_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz"),
        target,
        f,
    )
}
