//! Order statistics of measured durations.

use std::time::Duration;

/// Durations of repeated measurements of one operation.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    values: Vec<Duration>,
}

impl Samples {
    /// Creates an empty set with room for `capacity` durations.
    pub fn with_capacity(capacity: usize) -> Samples {
        Samples { values: Vec::with_capacity(capacity) }
    }

    /// Adds one duration.
    pub fn push(&mut self, value: Duration) {
        self.values.push(value);
    }

    /// Adds every duration of `other`.
    pub fn append(&mut self, other: Samples) {
        self.values.extend(other.values);
    }

    /// Returns the number of durations.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Returns true if there are no durations.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns the median and the 99th percentile, or `None` if there are no durations.
    pub fn summary(&self) -> Option<Summary> {
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        Some(Summary { median: percentile(&sorted, 0.5)?, p99: percentile(&sorted, 0.99)? })
    }
}

/// The statistics that the benchmarks report of a set of durations.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// The 50th percentile.
    pub median: Duration,
    /// The 99th percentile.
    pub p99: Duration,
}

/// Returns the nearest-rank percentile `fraction` (0 to 1) of sorted durations.
fn percentile(sorted: &[Duration], fraction: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_hundred() {
        let mut samples = Samples::default();
        for micros in (1..=100).rev() {
            samples.push(Duration::from_micros(micros));
        }
        let summary = samples.summary().unwrap();
        assert_eq!(summary.median, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
    }

    #[test]
    fn summary_of_nothing() {
        assert!(Samples::default().summary().is_none());
    }
}
