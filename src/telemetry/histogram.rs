//! The call-duration histogram. Durations stay integer nanoseconds from `record` to the
//! rendered text, so a sum over millions of calls carries no float rounding.

use std::time::Duration;

/// Upper bounds of the finite buckets in nanoseconds (0.5 ms … 10 s); `+Inf` follows them.
pub const BOUNDS_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Buckets held: one per bound plus `+Inf`.
pub const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// Per-bucket counts (not cumulative: the renderers accumulate) and the exact sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub counts: [u64; BUCKETS],
    pub sum_ns: u128,
}

impl Histogram {
    /// Adds one duration.
    pub fn observe(&mut self, d: Duration) {
        let ns = d.as_nanos();
        let i = bucket(ns);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// Durations observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Counts as Prometheus wants them: each bucket holds everything at or below its bound.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut out = self.counts;
        for i in 1..BUCKETS {
            out[i] = out[i].saturating_add(out[i - 1]);
        }
        out
    }

    /// Adds another histogram's observations to this one.
    pub fn absorb(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }
}

/// The bucket a duration falls in: bounds are inclusive (`le`), as Prometheus defines them.
pub fn bucket(ns: u128) -> usize {
    BOUNDS_NS.partition_point(|&b| u128::from(b) < ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_duration_lands_in_the_first_bucket_whose_bound_holds_it() {
        let cases: &[(u128, usize)] = &[
            (0, 0),
            (1, 0),
            (500_000, 0),
            (500_001, 1),
            (1_000_000, 1),
            (2_500_000, 2),
            (9_999_999, 4),
            (10_000_000, 4),
            (100_000_001, 8),
            (1_000_000_000, 10),
            (10_000_000_000, 13),
            (10_000_000_001, 14),
            (u128::from(u64::MAX) * 4, 14),
        ];
        for &(ns, want) in cases {
            assert_eq!(bucket(ns), want, "{ns} ns");
        }
    }

    #[test]
    fn cumulative_counts_only_grow_and_end_at_the_total() {
        let cases: &[(&[u64], [u64; BUCKETS])] = &[
            (&[], [0; BUCKETS]),
            (&[0], [1; BUCKETS]),
            (&[20_000_000_000], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            (
                &[300_000, 700_000, 700_000, 3_000_000_000, 60_000_000_000],
                [1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 5],
            ),
        ];
        for (ns, want) in cases {
            let mut h = Histogram::default();
            for &n in *ns {
                h.observe(Duration::from_nanos(n));
            }
            let cum = h.cumulative();
            assert_eq!(&cum, want, "{ns:?}");
            assert_eq!(cum[BUCKETS - 1], h.count());
            assert!(cum.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(h.sum_ns, ns.iter().map(|&n| u128::from(n)).sum::<u128>());
        }
    }

    #[test]
    fn absorbing_adds_counts_and_sums() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.observe(Duration::from_micros(100));
        b.observe(Duration::from_micros(100));
        b.observe(Duration::from_secs(2));
        a.absorb(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.counts[0], 2);
        assert_eq!(a.counts[11], 1);
        assert_eq!(a.sum_ns, 2_000_200_000);
    }
}
