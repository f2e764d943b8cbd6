//! One series: a tenant's counters per operation, and per error code within each.
//! Both maps are capped so a flood of distinct names cannot grow memory or the scrape;
//! what overflows is counted under `other`, never dropped, so totals stay exact.

use std::collections::HashMap;

use super::histogram::Histogram;
use super::Sample;

/// Where names past a cap are counted.
pub const OTHER: &str = "other";

/// Distinct operations a series keeps by name.
pub const MAX_OPERATIONS: usize = 64;

/// Distinct error codes an operation keeps by name.
pub const MAX_CODES: usize = 32;

/// The counters of one (tenant, operation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub calls: u64,
    pub errors: HashMap<String, u64>,
    pub documents_read: u64,
    pub documents_written: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub server_ns: u128,
    pub queued_ns: u128,
    pub latency: Histogram,
}

impl Stats {
    /// Adds one call; allocates only for an error code not seen before.
    pub fn record(&mut self, s: &Sample) {
        self.calls = self.calls.saturating_add(1);
        if let Some(code) = s.error {
            update_capped(&mut self.errors, code, MAX_CODES, |n| *n = n.saturating_add(1));
        }
        self.documents_read = self.documents_read.saturating_add(s.documents_read);
        self.documents_written = self.documents_written.saturating_add(s.documents_written);
        self.bytes_in = self.bytes_in.saturating_add(s.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(s.bytes_out);
        self.server_ns = self.server_ns.saturating_add(s.server.as_nanos());
        self.queued_ns = self.queued_ns.saturating_add(s.queued.as_nanos());
        self.latency.observe(s.latency);
    }

    /// Adds another series' counters for the same operation to these.
    pub fn absorb(&mut self, other: Stats) {
        self.calls = self.calls.saturating_add(other.calls);
        for (code, n) in other.errors {
            merge_capped(&mut self.errors, code, n, MAX_CODES, |a, b| *a = a.saturating_add(b));
        }
        self.documents_read = self.documents_read.saturating_add(other.documents_read);
        self.documents_written = self.documents_written.saturating_add(other.documents_written);
        self.bytes_in = self.bytes_in.saturating_add(other.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(other.bytes_out);
        self.server_ns = self.server_ns.saturating_add(other.server_ns);
        self.queued_ns = self.queued_ns.saturating_add(other.queued_ns);
        self.latency.absorb(&other.latency);
    }
}

/// Everything one tenant (or `$other`, or `$system`) did, by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub ops: HashMap<String, Stats>,
}

impl Series {
    /// Adds one call; allocates only for an operation or error code not seen before.
    pub fn record(&mut self, s: &Sample) {
        update_capped(&mut self.ops, s.operation, MAX_OPERATIONS, |st: &mut Stats| st.record(s));
    }

    /// Adds one operation's counters taken from another series.
    pub fn absorb_op(&mut self, op: String, stats: Stats) {
        merge_capped(&mut self.ops, op, stats, MAX_OPERATIONS, Stats::absorb);
    }

    /// Operations sorted by name, for output that is the same from scrape to scrape.
    pub fn sorted(&self) -> Vec<(&str, &Stats)> {
        let mut ops: Vec<(&str, &Stats)> =
            self.ops.iter().map(|(op, st)| (op.as_str(), st)).collect();
        ops.sort_unstable_by_key(|&(op, _)| op);
        ops
    }
}

/// Error codes of one operation sorted by code.
pub fn sorted_codes(stats: &Stats) -> Vec<(&str, u64)> {
    let mut codes: Vec<(&str, u64)> = stats.errors.iter().map(|(c, &n)| (c.as_str(), n)).collect();
    codes.sort_unstable_by_key(|&(c, _)| c);
    codes
}

/// Runs `f` on `key`'s entry, creating it while the map has fewer than `cap` keys and
/// using `OTHER`'s after that. Looked up by `&str` first, so a known key costs no allocation.
fn update_capped<V: Default>(
    map: &mut HashMap<String, V>,
    key: &str,
    cap: usize,
    f: impl FnOnce(&mut V),
) {
    if let Some(v) = map.get_mut(key) {
        return f(v);
    }
    let key = if map.len() < cap { key } else { OTHER };
    f(map.entry(key.to_owned()).or_default());
}

/// Adds `value` under `key` with `add`, by the same cap as `update_capped`; the key's
/// string moves into the map instead of being copied.
fn merge_capped<V: Default>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    cap: usize,
    add: impl FnOnce(&mut V, V),
) {
    if let Some(v) = map.get_mut(key.as_str()) {
        return add(v, value);
    }
    if map.len() < cap {
        map.insert(key, value);
    } else {
        add(map.entry(OTHER.to_owned()).or_default(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Who;
    use std::time::Duration;

    fn sample<'a>(op: &'a str, error: Option<&'a str>) -> Sample<'a> {
        Sample {
            documents_read: 2,
            documents_written: 1,
            bytes_in: 100,
            bytes_out: 300,
            server: Duration::from_micros(700),
            queued: Duration::from_micros(50),
            latency: Duration::from_micros(900),
            error,
            ..Sample::new(Who::Tenant("acme"), op)
        }
    }

    #[test]
    fn a_call_adds_to_every_counter_of_its_operation() {
        let mut s = Series::default();
        let calls: &[(&str, Option<&str>)] = &[
            ("find", None),
            ("find", Some("11000")),
            ("find", Some("11000")),
            ("insertOne", None),
        ];
        for &(op, err) in calls {
            s.record(&sample(op, err));
        }
        let find = &s.ops["find"];
        assert_eq!(find.calls, 3);
        assert_eq!(find.errors, HashMap::from([("11000".to_string(), 2)]));
        assert_eq!((find.documents_read, find.documents_written), (6, 3));
        assert_eq!((find.bytes_in, find.bytes_out), (300, 900));
        assert_eq!((find.server_ns, find.queued_ns), (2_100_000, 150_000));
        assert_eq!(find.latency.count(), 3);
        assert_eq!(find.latency.counts[1], 3);
        assert_eq!(find.latency.sum_ns, 2_700_000);
        assert_eq!(s.ops["insertOne"].calls, 1);
        assert!(s.ops["insertOne"].errors.is_empty());
    }

    #[test]
    fn names_past_a_cap_are_counted_as_other() {
        // (distinct names recorded, cap, keys kept by name, count under "other")
        let cases: &[(usize, usize, usize, u64)] = &[
            (1, 32, 1, 0),
            (32, 32, 32, 0),
            (33, 32, 32, 1),
            (100, 32, 32, 68),
            (100, 64, 64, 36),
        ];
        for &(n, cap, named, other) in cases {
            let mut errors: HashMap<String, u64> = HashMap::new();
            for i in 0..n {
                update_capped(&mut errors, &format!("E{i}"), cap, |c| *c += 1);
            }
            let kept = errors.keys().filter(|k| *k != OTHER).count();
            assert_eq!(kept, named, "{n} names, cap {cap}");
            assert_eq!(errors.get(OTHER).copied().unwrap_or(0), other, "{n} names, cap {cap}");
            assert_eq!(errors.values().sum::<u64>(), n as u64);
        }
    }

    #[test]
    fn the_series_caps_operations_and_error_codes() {
        let mut s = Series::default();
        let ops: Vec<String> = (0..MAX_OPERATIONS + 10).map(|i| format!("op{i}")).collect();
        for op in &ops {
            s.record(&sample(op, None));
        }
        assert_eq!(s.ops.len(), MAX_OPERATIONS + 1);
        assert_eq!(s.ops[OTHER].calls, 10);
        // A name already kept is still counted under its own name.
        s.record(&sample("op0", None));
        assert_eq!(s.ops["op0"].calls, 2);

        let codes: Vec<String> = (0..MAX_CODES + 5).map(|i| format!("{i}")).collect();
        for code in &codes {
            s.record(&sample("op1", Some(code)));
        }
        let op1 = &s.ops["op1"];
        assert_eq!(op1.errors.len(), MAX_CODES + 1);
        assert_eq!(op1.errors[OTHER], 5);
        assert_eq!(op1.errors.values().sum::<u64>(), (MAX_CODES + 5) as u64);
    }

    #[test]
    fn absorbing_a_series_keeps_every_total_under_the_caps() {
        let mut a = Series::default();
        let mut b = Series::default();
        for i in 0..MAX_OPERATIONS {
            a.record(&sample(&format!("a{i}"), None));
        }
        for i in 0..5 {
            b.record(&sample(&format!("b{i}"), Some("E")));
        }
        b.record(&sample("a0", Some("F")));
        for (op, stats) in b.ops {
            a.absorb_op(op, stats);
        }
        assert_eq!(a.ops.len(), MAX_OPERATIONS + 1);
        assert_eq!(a.ops[OTHER].calls, 5);
        assert_eq!(a.ops[OTHER].errors["E"], 5);
        assert_eq!(a.ops["a0"].calls, 2);
        assert_eq!(a.ops["a0"].errors["F"], 1);
        let calls: u64 = a.ops.values().map(|s| s.calls).sum();
        let bytes: u64 = a.ops.values().map(|s| s.bytes_out).sum();
        assert_eq!((calls, bytes), (MAX_OPERATIONS as u64 + 6, 300 * (MAX_OPERATIONS as u64 + 6)));
    }
}
