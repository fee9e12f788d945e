//! Figures: the gateway's memory and CPU from `/proc`, a latency histogram that merges over
//! thousands of subscribers, and a per-producer set of received sequence numbers.

use std::time::Instant;

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`), 0 when the process is gone.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// utime + stime of `pid` (all its threads) in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start at field 3, so utime (14) and stime (15) are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, the value on every Linux port, if that fails).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// CPU used by one process between `start` and `percent`: 100 % is one core busy.
pub struct CpuMeter {
    pid: u32,
    ticks: u64,
    at: Instant,
    per_second: u64,
}

impl CpuMeter {
    /// Starts measuring `pid` now.
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            ticks: cpu_ticks(pid),
            at: Instant::now(),
            per_second: ticks_per_second(),
        }
    }

    /// Percent of one core used since `start`.
    pub fn percent(&self) -> f64 {
        let used = cpu_ticks(self.pid).saturating_sub(self.ticks) as f64 / self.per_second as f64;
        100.0 * used / self.at.elapsed().as_secs_f64()
    }
}

/// Sub-buckets per power of two: values are kept within ~3 % (exact below 64 µs).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;

/// A log-linear histogram of microseconds: ~900 counters whatever the sample count, so that
/// 10,000 subscribers × 10,000 frames cost 36 MB of counters instead of 400 MB of samples, and
/// merging all subscribers is a sum.
#[derive(Clone, Default)]
pub struct Histogram {
    counts: Vec<u32>,
    n: u64,
    max: u64,
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < 2 * SUB {
            return us as usize;
        }
        let e = 63 - us.leading_zeros(); // ≥ SUB_BITS + 1
        ((e - SUB_BITS) as u64 * SUB + (us >> (e - SUB_BITS))) as usize
    }

    /// The middle of bucket `i` (its value when below 64 µs).
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let low = (i % SUB + SUB) << shift;
        low + (1u64 << shift) / 2
    }

    /// Counts one sample.
    pub fn record(&mut self, us: u64) {
        let i = Self::index(us);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
    }

    /// Samples counted.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// The `p` quantile (0–1) in milliseconds; NaN without samples. `p = 1` is the exact max.
    pub fn ms(&self, p: f64) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        if p >= 1.0 {
            return self.max as f64 / 1000.0;
        }
        let rank = ((self.n as f64 - 1.0) * p).round() as u64 + 1;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                return Self::value(i).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    /// `p50 … p95 … p99 … max` in ms, for a report line.
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
            self.ms(0.50),
            self.ms(0.95),
            self.ms(0.99),
            self.ms(1.0)
        )
    }
}

/// The sequence numbers one subscriber received from one producer: one bit each, and a count of
/// those that came more than once.
#[derive(Clone, Default)]
pub struct SeqSet {
    bits: Vec<u64>,
    /// Distinct sequence numbers received.
    pub distinct: u64,
    /// Receipts of a sequence number already received.
    pub duplicates: u64,
}

impl SeqSet {
    /// Records `seq`; false when it was already there (a duplicate).
    pub fn insert(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) != 0 {
            self.duplicates += 1;
            return false;
        }
        self.bits[w] |= 1 << b;
        self.distinct += 1;
        true
    }

    /// Whether `seq` was received.
    pub fn contains(&self, seq: u64) -> bool {
        self.bits
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_stay_within_three_percent() {
        let mut h = Histogram::default();
        for us in 1..=100_000u64 {
            h.record(us);
        }
        for p in [0.5, 0.95, 0.99] {
            let want = 100.0 * p;
            let got = h.ms(p);
            assert!((got - want).abs() / want < 0.03, "p{p}: {got} vs {want}");
        }
        assert_eq!(h.ms(1.0), 100.0);
    }
}
