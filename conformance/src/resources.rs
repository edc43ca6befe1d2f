//! Memory and CPU of the implementation under test, sampled from `/proc`
//! while a case runs: the resident memory of a process and all its
//! descendants, and their CPU time (user + system, including children that
//! have been waited for).
//!
//! Sampling reads two small files per process every [`SAMPLE_EVERY`]; on a
//! machine without `/proc` every figure is absent and nothing fails.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Interval between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Linux reports CPU times in `USER_HZ` ticks, 100 per second on every
/// architecture Linux supports today (it is part of the user-space ABI).
const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Resident set size of the tree, bytes.
    pub rss: u64,
    /// CPU time of the tree so far, ticks.
    pub cpu_ticks: u64,
    /// Processes read.
    pub processes: u32,
}

/// What a case cost the implementation under test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Resident memory at the first sample, KiB.
    pub rss_start_kib: u64,
    /// Highest resident memory seen, KiB.
    pub rss_peak_kib: u64,
    /// `rss_peak_kib - rss_start_kib`.
    pub rss_growth_kib: u64,
    /// CPU time used between the first and the last sample, ms.
    pub cpu_ms: u64,
    /// Samples taken.
    pub samples: u32,
}

impl Usage {
    /// Peak growth in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.rss_growth_kib as f64 / 1024.0
    }
}

fn page_size() -> u64 {
    // Every Linux architecture this project runs on uses 4 KiB pages for
    // statm's counts unless huge pages are configured per process.
    4096
}

/// Reads `pid` and every descendant once; None when `pid` is gone.
pub fn read_tree(pid: u32) -> Option<Reading> {
    let mut r = Reading::default();
    let mut seen = BTreeSet::new();
    let mut todo = vec![pid];
    let mut root_ok = false;
    while let Some(p) = todo.pop() {
        if !seen.insert(p) || seen.len() > 4096 {
            continue;
        }
        let Some((rss, cpu)) = read_one(p) else {
            continue;
        };
        if p == pid {
            root_ok = true;
        }
        r.rss += rss;
        r.cpu_ticks += cpu;
        r.processes += 1;
        todo.extend(children(p));
    }
    root_ok.then_some(r)
}

/// (resident bytes, CPU ticks including waited-for children) of one process.
fn read_one(pid: u32) -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // the fields after the last ')' start at field 3 (state).
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14..=17 (utime, stime, cutime, cstime) are at 11..=14 here.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((
        resident * page_size(),
        tick(11) + tick(12) + tick(13) + tick(14),
    ))
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    out
}

/// Samples a process tree in the background until stopped.
pub struct Sampler {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    first: Option<Reading>,
    last: Option<Reading>,
    peak: u64,
    samples: u32,
}

impl State {
    fn add(&mut self, r: Reading) {
        if self.first.is_none() {
            self.first = Some(r);
        }
        self.peak = self.peak.max(r.rss);
        self.last = Some(r);
        self.samples += 1;
    }
}

impl Sampler {
    /// Starts sampling `pid` now (the first reading is the baseline).
    pub fn start(pid: u32) -> Sampler {
        let state = Arc::new(Mutex::new(State::default()));
        if let (Some(r), Ok(mut s)) = (read_tree(pid), state.lock()) {
            s.add(r);
        }
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                // /proc reads are quick and never block on the network.
                let Some(r) = read_tree(pid) else {
                    return;
                };
                match st.lock() {
                    Ok(mut s) => s.add(r),
                    Err(_) => return,
                }
            }
        });
        Sampler { state, task }
    }

    /// What was seen so far, without stopping.
    pub fn usage(&self) -> Option<Usage> {
        let s = self.state.lock().ok()?;
        let first = s.first?;
        let last = s.last.unwrap_or(first);
        let start_kib = first.rss / 1024;
        let peak_kib = s.peak / 1024;
        Some(Usage {
            rss_start_kib: start_kib,
            rss_peak_kib: peak_kib,
            rss_growth_kib: peak_kib.saturating_sub(start_kib),
            cpu_ms: last.cpu_ticks.saturating_sub(first.cpu_ticks) * 1000 / TICKS_PER_SECOND,
            samples: s.samples,
        })
    }

    /// Takes a last sample of `pid` (if it is still there), stops, and
    /// returns the usage.
    pub fn stop(self, pid: u32) -> Option<Usage> {
        self.task.abort();
        if let (Some(r), Ok(mut s)) = (read_tree(pid), self.state.lock()) {
            s.add(r);
        }
        self.usage()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let Some(r) = read_tree(me) else {
            // No /proc (not Linux): nothing to check.
            return;
        };
        assert!(r.rss > 1024 * 1024, "{r:?}");
        assert!(r.processes >= 1);
    }

    #[test]
    fn a_missing_process_reads_as_none() {
        // Pids above the kernel's pid_max (at most 2^22) never exist.
        assert_eq!(read_tree(u32::MAX - 7), None);
    }

    #[tokio::test]
    async fn sampler_sees_growth_and_cpu_of_a_child() {
        if read_tree(std::process::id()).is_none() {
            return; // no /proc
        }
        // A child that makes 64 MiB resident and burns a little CPU, then
        // idles: measured from outside, as the runner measures an adapter.
        let script = "b = b'a' * (64 << 20)\nx = 0\nfor i in range(300000): x += i\nimport time; time.sleep(0.4)";
        let Ok(mut child) = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .spawn()
        else {
            return; // no python3 on this machine
        };
        let pid = child.id();
        let s = Sampler::start(pid);
        // Until the sampler has seen the growth, or the child has ended
        // (it holds the memory for 0.4 s: many sampling intervals).
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < until
            && matches!(child.try_wait(), Ok(None))
            && s.usage().is_none_or(|u| u.rss_growth_kib < 60 * 1024)
        {
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let u = s.stop(pid).expect("usage");
        let _ = child.wait();
        assert!(u.rss_growth_kib >= 60 * 1024, "{u:?}");
        assert!(
            u.rss_peak_kib >= u.rss_start_kib + u.rss_growth_kib,
            "{u:?}"
        );
        assert!(u.cpu_ms > 0, "{u:?}");
        assert!(u.samples >= 3, "{u:?}");
    }
}
