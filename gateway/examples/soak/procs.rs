//! The processes of the stack from `/proc`: the ingests (children of this driver), whether a pid
//! is alive, and the RSS series of every process with the check that it stays flat.

use std::fmt::Write as _;

use crate::common::stats::rss_kib;

/// The pids of this process's children whose command name is `name`, sorted.
pub fn children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut out: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat(pid).is_some_and(|(comm, _, ppid)| comm == name && ppid == me && alive(pid))
        })
        .collect();
    out.sort_unstable();
    out
}

/// (command name, state, parent pid) from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(String, char, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let mut rest = s[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

/// Whether `pid` runs (exists and is not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    matches!(stat(pid), Some((_, state, _)) if state != 'Z' && state != 'X')
}

/// RSS samples of named processes over time.
pub struct RssSeries {
    /// Column names.
    pub names: Vec<String>,
    /// (seconds since the start, KiB per column; 0 when the process was not running).
    pub rows: Vec<(f64, Vec<u64>)>,
}

impl RssSeries {
    /// An empty series of these columns.
    pub fn new(names: &[&str]) -> RssSeries {
        RssSeries {
            names: names.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Samples `pids` (one per column) at `at_s`.
    pub fn sample(&mut self, at_s: f64, pids: &[u32]) {
        let kib = pids
            .iter()
            .map(|&p| if p == 0 { 0 } else { rss_kib(p) })
            .collect();
        self.rows.push((at_s, kib));
    }

    /// The series as a table (MiB, one decimal).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{:>7}", "t (s)");
        for n in &self.names {
            let _ = write!(out, " {n:>10}");
        }
        out.push('\n');
        for (t, kib) in &self.rows {
            let _ = write!(out, "{t:>7.0}");
            for k in kib {
                let _ = write!(out, " {:>10.1}", *k as f64 / 1024.0);
            }
            out.push('\n');
        }
        out
    }
}

/// The verdict on one column.
pub struct Flatness {
    /// Its name.
    pub name: String,
    /// Largest sample of the reference minute, KiB.
    pub baseline: u64,
    /// Largest later sample, KiB.
    pub later: u64,
    /// The most a later sample may be, KiB.
    pub limit: u64,
    /// Samples judged.
    pub samples: usize,
}

impl Flatness {
    /// Whether it stayed under its limit.
    pub fn ok(&self) -> bool {
        self.later <= self.limit
    }
}

/// Judges each column of `series`: a sample counts when it is at least `warmup_s` after the start
/// of the run and after the last (re)start of its process (`restarts_s[column]`); the reference is
/// the largest counted sample of the first `window_s` after the first counted one, and every later
/// counted sample must stay under `reference × (1 + tolerance) + slack_kib`.
pub fn judge(
    series: &RssSeries,
    restarts_s: &[Vec<f64>],
    warmup_s: f64,
    window_s: f64,
    tolerance: f64,
    slack_kib: u64,
) -> Vec<Flatness> {
    (0..series.names.len())
        .map(|c| {
            let counted: Vec<(f64, u64)> = series
                .rows
                .iter()
                .filter(|(t, kib)| {
                    let last_start = restarts_s[c]
                        .iter()
                        .copied()
                        .filter(|r| r <= t)
                        .fold(0.0, f64::max);
                    *t >= warmup_s && *t - last_start >= warmup_s && kib[c] > 0
                })
                .map(|(t, kib)| (*t, kib[c]))
                .collect();
            let from = counted.first().map_or(0.0, |(t, _)| *t);
            let baseline = counted
                .iter()
                .filter(|(t, _)| *t < from + window_s)
                .map(|(_, k)| *k)
                .max()
                .unwrap_or(0);
            let later = counted
                .iter()
                .filter(|(t, _)| *t >= from + window_s)
                .map(|(_, k)| *k)
                .max()
                .unwrap_or(0);
            Flatness {
                name: series.names[c].clone(),
                baseline,
                later,
                limit: (baseline as f64 * (1.0 + tolerance)) as u64 + slack_kib,
                samples: counted.len(),
            }
        })
        .collect()
}
