//! [`replay_dir`]: every committed input of one target through its entry
//! point.

use std::path::Path;

/// Runs `f` on every file of `<fuzz_dir>/corpus/<target>/` and
/// `<fuzz_dir>/regressions/<target>/`, in name order, and returns how many
/// files were replayed. Panics naming the first file that fails, so a
/// plain `cargo test` checks every committed input where cargo-fuzz is
/// absent. The crate's tests call it with each entry point.
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
