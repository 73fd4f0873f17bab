//! Latency histograms (HdrHistogram, microseconds, 3 significant digits).

use hdrhistogram::Histogram;

/// The largest latency recorded: a minute. Anything above is clamped to it.
const MAX_US: u64 = 60_000_000;

/// Latencies in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds"),
        }
    }

    /// Records one latency.
    pub fn record_us(&mut self, us: u64) {
        self.histogram.saturating_record(us.clamp(1, MAX_US));
    }

    /// Records one latency given in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        self.record_us(ns / 1_000);
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides: cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many latencies were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q` quantile (0.5, 0.99) in milliseconds.
    #[must_use]
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.histogram.is_empty() {
            return f64::NAN;
        }
        ms(self.histogram.value_at_quantile(q))
    }

    /// The largest latency in milliseconds.
    #[must_use]
    pub fn max_ms(&self) -> f64 {
        if self.histogram.is_empty() {
            return f64::NAN;
        }
        ms(self.histogram.max())
    }

    /// `p50 / p99 / max` in milliseconds, for logs.
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
            self.count(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_ms()
        )
    }
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_in_milliseconds() {
        let mut l = Latencies::new();
        for us in 1..=1_000 {
            l.record_us(us * 10);
        }
        assert_eq!(l.count(), 1_000);
        assert!((l.quantile_ms(0.5) - 5.0).abs() < 0.01, "{}", l.summary());
        assert!((l.quantile_ms(0.99) - 9.9).abs() < 0.01, "{}", l.summary());
        assert!((l.max_ms() - 10.0).abs() < 0.01, "{}", l.summary());
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles() {
        assert!(Latencies::new().quantile_ms(0.99).is_nan());
    }
}
