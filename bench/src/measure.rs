//! Repeated timing: every case runs `--runs` times and reports median, min and max.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The seconds of every run of one case and their summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Median of the runs (mean of the middle two for an even count), seconds.
    pub median_s: f64,
    /// Fastest run, seconds.
    pub min_s: f64,
    /// Slowest run, seconds.
    pub max_s: f64,
    /// Every run, in order, seconds.
    pub runs_s: Vec<f64>,
}

impl Timing {
    /// Summarises run times in seconds (at least one).
    pub fn from_secs(runs: Vec<f64>) -> Timing {
        assert!(!runs.is_empty(), "a timing needs at least one run");
        let mut s = runs.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Timing {
            median_s: median,
            min_s: s[0],
            max_s: s[n - 1],
            runs_s: runs,
        }
    }

    /// Summarises run durations.
    pub fn from_durations(runs: &[Duration]) -> Timing {
        Timing::from_secs(runs.iter().map(Duration::as_secs_f64).collect())
    }

    /// Throughput of the median run in MB/s (10^6 bytes) for `bytes` processed.
    pub fn mb_per_s(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.median_s
    }
}

/// Runs `f` `warmup` times untimed, then `runs` times timed. The value of the last
/// timed run is returned with the timing (so callers can check or describe it).
pub fn time_runs<T, E>(
    runs: usize,
    warmup: usize,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<(Timing, T), E> {
    for _ in 0..warmup {
        drop(f()?);
    }
    let mut secs = Vec::with_capacity(runs.max(1));
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = f()?;
        secs.push(t.elapsed().as_secs_f64());
        // Dropping the previous result outside the timed section.
        last = Some(v);
    }
    Ok((Timing::from_secs(secs), last.expect("at least one run")))
}

/// One job of [`interleaved`]: returns the time to record, or `None` to record the
/// wall time of the whole call (a job that also does untimed setup returns its own).
pub type Job<'a> = Box<dyn FnMut() -> anyhow::Result<Option<Duration>> + 'a>;

/// Runs every job once per round, `warmup` untimed rounds then `runs` timed ones, so
/// all jobs see the same background load (the machine is shared); one timing per job.
pub fn interleaved(
    runs: usize,
    warmup: usize,
    jobs: &mut [Job<'_>],
) -> anyhow::Result<Vec<Timing>> {
    let mut secs = vec![Vec::with_capacity(runs); jobs.len()];
    for round in 0..warmup + runs.max(1) {
        for (k, job) in jobs.iter_mut().enumerate() {
            let t = Instant::now();
            let own = job()?;
            let d = own.unwrap_or_else(|| t.elapsed());
            if round >= warmup {
                secs[k].push(d.as_secs_f64());
            }
        }
    }
    Ok(secs.into_iter().map(Timing::from_secs).collect())
}

/// Median over rounds of `num[i] / den[i]`: a ratio of two interleaved timings that
/// is robust to load changing between rounds.
pub fn paired_ratio(num: &Timing, den: &Timing) -> f64 {
    let r: Vec<f64> = num
        .runs_s
        .iter()
        .zip(&den.runs_s)
        .map(|(a, b)| a / b)
        .collect();
    if r.is_empty() {
        return num.median_s / den.median_s;
    }
    Timing::from_secs(r).median_s
}

/// Human-readable duration: `812 us`, `35.2 ms`, `4.17 s`.
pub fn fmt_secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Human-readable byte count in SI units: `950 B`, `12.3 KB`, `128.0 MB`, `1.52 GB`.
pub fn fmt_bytes(b: f64) -> String {
    if b < 1e3 {
        format!("{b:.0} B")
    } else if b < 1e6 {
        format!("{:.1} KB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let t = Timing::from_secs(vec![3.0, 1.0, 2.0]);
        assert_eq!((t.median_s, t.min_s, t.max_s), (2.0, 1.0, 3.0));
        assert_eq!(t.runs_s, vec![3.0, 1.0, 2.0]);
        let t = Timing::from_secs(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(t.median_s, 2.5);
        assert_eq!(t.mb_per_s(5_000_000), 2.0);
    }

    #[test]
    fn runs_and_warmup() {
        let mut calls = 0;
        let (t, last) = time_runs(3, 2, || -> Result<i32, ()> {
            calls += 1;
            Ok(calls)
        })
        .unwrap();
        assert_eq!(t.runs_s.len(), 3);
        assert_eq!(last, 5);
    }

    #[test]
    fn interleaved_rounds_and_paired_ratio() {
        let mut order = Vec::new();
        let log = std::cell::RefCell::new(&mut order);
        let mut jobs: Vec<Job<'_>> = vec![
            Box::new(|| {
                log.borrow_mut().push('a');
                Ok(Some(Duration::from_millis(2)))
            }),
            Box::new(|| {
                log.borrow_mut().push('b');
                Ok(Some(Duration::from_millis(4)))
            }),
        ];
        let t = interleaved(2, 1, &mut jobs).unwrap();
        drop(jobs);
        assert_eq!(order, vec!['a', 'b', 'a', 'b', 'a', 'b']);
        assert_eq!(t[0].runs_s, vec![0.002, 0.002]);
        assert_eq!(paired_ratio(&t[0], &t[1]), 0.5);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_secs(0.0004), "400 us");
        assert_eq!(fmt_secs(0.0352), "35.2 ms");
        assert_eq!(fmt_secs(4.171), "4.17 s");
        assert_eq!(fmt_bytes(128e6), "128.0 MB");
        assert_eq!(fmt_bytes(1.52e9), "1.52 GB");
    }
}

/// Whose CPU time [`cpu_seconds`] reports.
#[derive(Clone, Copy, Debug)]
pub enum CpuOf {
    /// This process, every thread.
    This,
    /// The waited-for children of this process.
    Children,
}

/// CPU seconds (user + system) used so far by `who` (NaN if the kernel refuses).
pub fn cpu_seconds(who: CpuOf) -> f64 {
    #[repr(C)]
    struct Rusage {
        utime: [i64; 2],
        stime: [i64; 2],
        rest: [i64; 14],
    }
    extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
    let who = match who {
        CpuOf::This => 0,      // RUSAGE_SELF
        CpuOf::Children => -1, // RUSAGE_CHILDREN
    };
    let mut u = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        rest: [0; 14],
    };
    // SAFETY: a plain syscall filling a struct of the kernel's layout (x86_64/aarch64 Linux).
    if unsafe { getrusage(who, &mut u) } != 0 {
        return f64::NAN;
    }
    let s = |t: [i64; 2]| t[0] as f64 + t[1] as f64 * 1e-6;
    s(u.utime) + s(u.stime)
}
