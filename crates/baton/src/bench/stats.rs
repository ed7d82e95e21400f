//! Latency samples and counters, summarised for the report.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latency samples in microseconds; summarised once at the end.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    /// Adds one sample.
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// p50, p90, p99, max and mean, in milliseconds.
    pub fn summary(&self) -> Latency {
        let mut v = self.0.clone();
        v.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        // Nearest rank: the smallest sample with at least q of the samples at or below it.
        let rank = |q: f64| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            Some(ms(v[i]))
        };
        let mean = (!v.is_empty()).then(|| {
            let sum: u128 = v.iter().map(|&x| u128::from(x)).sum();
            ms((sum / v.len() as u128) as u64)
        });
        Latency {
            count: v.len(),
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            max_ms: v.last().map(|&x| ms(x)),
            mean_ms: mean,
        }
    }
}

/// A latency distribution in milliseconds (`null` when there were no samples).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
    /// Mean.
    pub mean_ms: Option<f64>,
}

impl Latency {
    /// `p50 / p99 / max` for the table.
    pub fn short(&self) -> String {
        match (self.p50_ms, self.p99_ms, self.max_ms) {
            (Some(a), Some(b), Some(c)) => {
                format!("{} / {} / {} ms", fmt_ms(a), fmt_ms(b), fmt_ms(c))
            }
            _ => "-".into(),
        }
    }
}

/// Milliseconds with a precision that suits their size.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// Failures by kind: an HTTP status (`"409"`), `"timeout"`, `"transport"`, or a named check.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Failures(pub BTreeMap<String, u64>);

impl Failures {
    /// Counts one failure of `kind`.
    pub fn add(&mut self, kind: &str) {
        *self.0.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Failures) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `409: 3, timeout: 1` for the table.
    pub fn short(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for ms in 1..=100 {
            s.push(Duration::from_millis(ms));
        }
        let l = s.summary();
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, Some(50.0));
        assert_eq!(l.p90_ms, Some(90.0));
        assert_eq!(l.p99_ms, Some(99.0));
        assert_eq!(l.max_ms, Some(100.0));
        assert_eq!(l.mean_ms, Some(50.5));
        assert_eq!(Samples::default().summary().p50_ms, None);
    }

    #[test]
    fn failures_count_by_kind() {
        let mut f = Failures::default();
        f.add("409");
        f.add("timeout");
        f.add("409");
        assert_eq!(f.total(), 3);
        assert_eq!(f.short(), "409: 2, timeout: 1");
    }
}
