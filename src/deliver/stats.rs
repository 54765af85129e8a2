//! Latency figures, computed one way for the end-of-run summary and for
//! `campaign report`, so the two print the same numbers for the same
//! attempts.
//!
//! The population is every request attempt, failed ones included: a timeout
//! counts at its full duration and an attempt refused before sending at 0,
//! so a slow or hanging endpoint shows. A percentile is the nearest-rank
//! one: the smallest recorded duration that at least that share of the
//! attempts do not exceed (the value at rank ⌈p/100 × n⌉ in ascending
//! order). It is always a duration that was measured, never an
//! interpolation. A mean is rounded to the nearest microsecond.

use serde::Serialize;

/// Latency percentiles in microseconds, nearest-rank over every attempt
/// (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

impl Latency {
    /// The percentiles of `sorted` (ascending), `None` when it is empty.
    pub fn of_sorted(sorted: &[u64]) -> Option<Latency> {
        let mut picker = RankPicker::new(sorted.len() as u64)?;
        for &value in sorted {
            if picker.push(value) {
                break;
            }
        }
        Some(picker.latency())
    }
}

/// Statistics of one webhook step over a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepStats {
    /// Index of the webhook step in the compiled program.
    pub webhook: u32,
    /// The step's name.
    pub step: String,
    /// Request attempts, retries included.
    pub attempts: u64,
    /// Attempts without a 2xx.
    pub failures: u64,
    /// Mean attempt duration, microseconds.
    pub mean_us: u64,
    /// 95th percentile attempt duration, microseconds (nearest rank).
    pub p95_us: u64,
}

/// Orders steps slowest first: by p95, then mean, descending; ties by step.
pub fn slowest_first(steps: &mut [StepStats]) {
    steps.sort_by(|a, b| {
        (b.p95_us, b.mean_us)
            .cmp(&(a.p95_us, a.mean_us))
            .then_with(|| a.webhook.cmp(&b.webhook))
    });
}

/// Nearest-rank rank (1-based) of percentile `percent` among `count` sorted
/// values: the smallest rank whose share of values is at least `percent`.
pub fn nearest_rank(percent: u64, count: u64) -> u64 {
    (percent * count).div_ceil(100).max(1)
}

/// `sum / count` rounded to the nearest integer (halves up); 0 for none.
pub fn mean(sum: u128, count: u64) -> u64 {
    if count == 0 {
        return 0;
    }
    let count = u128::from(count);
    u64::try_from((2 * sum + count) / (2 * count)).unwrap_or(u64::MAX)
}

/// Picks the p50, p95 and p99 values out of a sorted stream of known
/// length, so a report can stream them out of SQLite without holding them.
pub struct RankPicker {
    ranks: [u64; 3],
    values: [u64; 3],
    seen: u64,
}

impl RankPicker {
    /// A picker for `count` values; `None` when there are none.
    pub fn new(count: u64) -> Option<Self> {
        (count > 0).then(|| RankPicker {
            ranks: [50, 95, 99].map(|p| nearest_rank(p, count)),
            values: [0; 3],
            seen: 0,
        })
    }

    /// Takes the next value in ascending order; true once all ranks are
    /// filled, so the caller can stop reading.
    pub fn push(&mut self, value: u64) -> bool {
        self.seen += 1;
        for (rank, slot) in self.ranks.iter().zip(self.values.iter_mut()) {
            if *rank == self.seen {
                *slot = value;
            }
        }
        self.seen >= self.ranks[2]
    }

    /// The values picked.
    pub fn latency(&self) -> Latency {
        Latency {
            p50_us: self.values[0],
            p95_us: self.values[1],
            p99_us: self.values[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_by_hand() {
        // Ten values 1..=10: p50 is the 5th, p95 and p99 the 10th.
        let values: Vec<u64> = (1..=10).collect();
        assert_eq!(
            Latency::of_sorted(&values),
            Some(Latency {
                p50_us: 5,
                p95_us: 10,
                p99_us: 10
            })
        );
        // A hundred: p50 the 50th, p95 the 95th, p99 the 99th.
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(
            Latency::of_sorted(&values),
            Some(Latency {
                p50_us: 50,
                p95_us: 95,
                p99_us: 99
            })
        );
        // Two: the median is the lower one, never a mean of the two.
        assert_eq!(Latency::of_sorted(&[3, 9]).map(|l| l.p50_us), Some(3));
        assert_eq!(Latency::of_sorted(&[7]).map(|l| l.p99_us), Some(7));
        assert_eq!(Latency::of_sorted(&[]), None);
        assert_eq!(mean(5, 2), 3);
        assert_eq!(mean(4, 3), 1);
        assert_eq!(mean(0, 0), 0);
    }

    proptest! {
        /// The definition itself: the p-th percentile is a recorded value,
        /// at least p% of the values are at most it, and it is the smallest
        /// such value.
        #[test]
        fn a_percentile_is_the_smallest_value_covering_its_share(
            mut values in proptest::collection::vec(0u64..1_000, 1..300),
        ) {
            values.sort_unstable();
            let latency = Latency::of_sorted(&values).unwrap();
            let n = values.len() as u64;
            for (p, got) in [(50, latency.p50_us), (95, latency.p95_us), (99, latency.p99_us)] {
                prop_assert!(values.contains(&got));
                let covered = |v: u64| values.iter().filter(|&&x| x <= v).count() as u64 * 100;
                prop_assert!(covered(got) >= p * n, "p{} = {} covers too little", p, got);
                if let Some(below) = values.iter().rev().find(|&&x| x < got) {
                    prop_assert!(covered(*below) < p * n, "p{} = {} is not the smallest", p, got);
                }
            }
        }
    }
}
