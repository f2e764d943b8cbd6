//! The bounded tenant table. At most `limit` tenants have a series of their own; the rest
//! of the traffic is kept under `$other`, so a scrape's size does not grow with the number
//! of tenants. Policy (top-N): a new tenant always gets a slot; when none is free, the
//! tenant with the fewest calls (ties: the one seen least recently) is folded into `$other`
//! and gives up its slot. Heavy tenants therefore keep their series while one-off tenants
//! churn a single slot. Folding adds counters, so `$other` only ever grows.

use std::collections::HashMap;

use super::stats::Series;
use super::{Sample, Who};

/// One tenant's place in the table; `calls` and `seen` rank it for folding.
#[derive(Debug)]
struct Slot {
    calls: u64,
    seen: u64,
    tenant: String,
    series: Series,
}

/// The tenants with their own series, `$other` and `$system`.
#[derive(Debug)]
pub struct Table {
    limit: usize,
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
    other: Series,
    system: Series,
    none: Series,
    folded: u64,
    tick: u64,
}

/// A copy of the table's counters, taken under the lock and rendered after it.
#[derive(Debug, Clone)]
pub struct View {
    pub limit: usize,
    pub folded: u64,
    /// Sorted by tenant id.
    pub tenants: Vec<(String, Series)>,
    pub other: Series,
    pub system: Series,
    pub none: Series,
}

impl Table {
    /// An empty table giving at most `limit` tenants (at least one) their own series.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        // A huge limit is a ceiling, not an expected size: grow into it.
        let room = limit.min(1024);
        Table {
            limit,
            index: HashMap::with_capacity(room),
            slots: Vec::with_capacity(room),
            other: Series::default(),
            system: Series::default(),
            none: Series::default(),
            folded: 0,
            tick: 0,
        }
    }

    /// Tenants that may hold a series of their own.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Adds one call to its series: one hash lookup for a known tenant, a scan of the
    /// table for a new one when the table is full.
    pub fn record(&mut self, s: &Sample) {
        self.tick += 1;
        let id = match s.who {
            Who::System => return self.system.record(s),
            Who::Nobody => return self.none.record(s),
            Who::Tenant(id) => id,
        };
        let i = match self.index.get(id) {
            Some(&i) => i,
            None => match self.admit(id) {
                Some(i) => i,
                None => return self.other.record(s),
            },
        };
        let slot = &mut self.slots[i];
        slot.calls = slot.calls.saturating_add(1);
        slot.seen = self.tick;
        slot.series.record(s);
    }

    /// Gives `id` a slot, folding the coldest tenant when the table is full. `None` for an
    /// id holding `$`: no valid tenant id does, and a series labelled `$other` or `$system`
    /// by a caller would duplicate ours in the scrape.
    fn admit(&mut self, id: &str) -> Option<usize> {
        if id.contains('$') {
            return None;
        }
        if self.slots.len() < self.limit {
            let i = self.slots.len();
            let slot = Slot { calls: 0, seen: 0, tenant: id.to_owned(), series: Series::default() };
            self.slots.push(slot);
            self.index.insert(id.to_owned(), i);
            return Some(i);
        }
        let i = self.coldest();
        let slot = &mut self.slots[i];
        // The evicted tenant's strings and maps are reused, so churn allocates little.
        let mut key = match self.index.remove_entry(slot.tenant.as_str()) {
            Some((key, _)) => key,
            None => String::new(),
        };
        for (op, stats) in slot.series.ops.drain() {
            self.other.absorb_op(op, stats);
        }
        self.folded = self.folded.saturating_add(1);
        slot.calls = 0;
        slot.seen = 0;
        slot.tenant.clear();
        slot.tenant.push_str(id);
        key.clear();
        key.push_str(id);
        self.index.insert(key, i);
        Some(i)
    }

    /// The slot to fold: fewest calls, then least recently seen. A linear scan, paid only
    /// when a tenant not in a full table arrives; a heap would cost every call instead.
    fn coldest(&self) -> usize {
        let mut best = 0;
        for (i, s) in self.slots.iter().enumerate() {
            let b = &self.slots[best];
            if (s.calls, s.seen) < (b.calls, b.seen) {
                best = i;
            }
        }
        best
    }

    /// A copy of every counter, tenants sorted by id.
    pub fn view(&self) -> View {
        let mut tenants: Vec<(String, Series)> =
            self.slots.iter().map(|s| (s.tenant.clone(), s.series.clone())).collect();
        tenants.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        View {
            limit: self.limit,
            folded: self.folded,
            tenants,
            other: self.other.clone(),
            system: self.system.clone(),
            none: self.none.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::stats::Stats;
    use std::time::Duration;

    fn call(t: &mut Table, who: Who) {
        let s = Sample {
            documents_read: 1,
            bytes_out: 10,
            latency: Duration::from_millis(3),
            ..Sample::new(who, "find")
        };
        t.record(&s);
    }

    fn tenants(t: &Table) -> Vec<String> {
        t.view().tenants.into_iter().map(|(id, _)| id).collect()
    }

    fn calls(s: &Series) -> u64 {
        s.ops.values().map(|st| st.calls).sum()
    }

    /// Every counter summed over every series, as one comparable value.
    fn totals(v: &View) -> Stats {
        let mut all = Stats::default();
        let series = v.tenants.iter().map(|(_, s)| s).chain([&v.other, &v.system, &v.none]);
        for s in series {
            for st in s.ops.values() {
                let mut st = st.clone();
                st.errors.clear();
                all.absorb(st);
            }
        }
        all
    }

    #[test]
    fn the_coldest_tenant_is_folded_when_a_new_one_arrives() {
        // (limit, tenants called in order, tenants left with a series, folds, calls in $other)
        type Case<'a> = (usize, &'a [&'a str], &'a [&'a str], u64, u64);
        let cases: &[Case] = &[
            (3, &["a", "b", "c"], &["a", "b", "c"], 0, 0),
            // Full: "a" and "b" tie on one call; "a" was seen less recently.
            (2, &["a", "b", "c"], &["b", "c"], 1, 1),
            // "a" has two calls, so "b" (one call) goes.
            (2, &["a", "a", "b", "c"], &["a", "c"], 1, 1),
            // A tenant seen again after its fold starts over in a new slot.
            (2, &["a", "a", "b", "c", "b"], &["a", "b"], 2, 2),
            // Recency breaks the tie: "a" was called after "b", so "b" and both its calls go.
            (2, &["a", "b", "b", "a", "c"], &["a", "c"], 1, 2),
            (1, &["a", "b", "c"], &["c"], 2, 2),
            // Limit 0 is taken as 1.
            (0, &["a", "b"], &["b"], 1, 1),
        ];
        for &(limit, order, left, folds, other) in cases {
            let mut t = Table::new(limit);
            for id in order {
                call(&mut t, Who::Tenant(id));
            }
            let v = t.view();
            assert_eq!(tenants(&t), left, "{order:?} with limit {limit}");
            assert_eq!(v.folded, folds, "{order:?} with limit {limit}");
            assert_eq!(calls(&v.other), other, "{order:?} with limit {limit}");
            assert_eq!(totals(&v).calls, order.len() as u64);
        }
    }

    #[test]
    fn folding_keeps_every_total() {
        let mut t = Table::new(3);
        for (i, id) in ["a", "b", "c", "a", "b", "a"].iter().enumerate() {
            let s = Sample {
                documents_read: i as u64,
                documents_written: 2 * i as u64,
                bytes_in: 7,
                bytes_out: 11 * i as u64,
                server: Duration::from_nanos(1_000_003 * i as u64),
                queued: Duration::from_nanos(13),
                latency: Duration::from_micros(400 * i as u64),
                ..Sample::new(Who::Tenant(id), if i % 2 == 0 { "find" } else { "insertOne" })
            };
            t.record(&s);
        }
        call(&mut t, Who::System);
        let before = totals(&t.view());
        // "d" folds "c"; "e" folds "d"; "f" folds "e".
        let one = Sample::new(Who::Tenant("d"), "getMore");
        t.record(&one);
        t.record(&Sample { who: Who::Tenant("e"), ..one });
        t.record(&Sample { who: Who::Tenant("f"), ..one });
        let after = totals(&t.view());
        let mut want = before.clone();
        for _ in 0..3 {
            want.record(&one);
        }
        assert_eq!(after, want);
        assert_eq!(t.view().folded, 3);
        assert_eq!(tenants(&t), ["a", "b", "f"]);
        assert_eq!(calls(&t.view().other), 3);
    }

    #[test]
    fn heavy_tenants_keep_their_series_through_a_churn_of_one_off_tenants() {
        // (heavy tenants, calls each before the churn): fewer heavy tenants than the limit,
        // as many, and heavy tenants only one call ahead of the one-offs.
        let cases: &[(usize, u64)] = &[(9, 50), (10, 50), (9, 2)];
        for &(heavy, first) in cases {
            let mut t = Table::new(10);
            let names: Vec<String> = (0..heavy).map(|i| format!("heavy{i}")).collect();
            for (i, name) in names.iter().enumerate() {
                // heavy0 has the fewest calls, so with a full table it is the one to go.
                for _ in 0..first + i as u64 {
                    call(&mut t, Who::Tenant(name));
                }
            }
            for n in 0..10_000 {
                call(&mut t, Who::Tenant(&format!("once{n}")));
                if n % 100 == 0 {
                    for name in &names {
                        call(&mut t, Who::Tenant(name));
                    }
                }
            }
            let v = t.view();
            let kept: Vec<&str> = v.tenants.iter().map(|(id, _)| id.as_str()).collect();
            let survivors = if heavy == 10 { &names[1..] } else { &names[..] };
            for name in survivors {
                assert!(kept.contains(&name.as_str()), "{name} lost its series ({heavy}, {first})");
            }
            assert_eq!(kept.len(), 10);
            assert!(kept.contains(&"once9999"));
            // With a free slot, every one-off but the first folds the one before it. With a
            // full table heavy0 goes first, and each time it comes back (100 times) it takes
            // the churn slot with one call and is folded again by the next one-off.
            let folds = if heavy == 10 { 10_100 } else { 9_999 };
            assert_eq!(v.folded, folds);
            let heavy_calls =
                heavy as u64 * 100 + (0..heavy as u64).map(|i| first + i).sum::<u64>();
            let all = totals(&v).calls;
            assert_eq!(all, 10_000 + heavy_calls, "no call lost ({heavy}, {first})");
        }
    }

    #[test]
    fn system_calls_calls_without_context_and_ids_with_a_dollar_never_take_a_slot() {
        let mut t = Table::new(2);
        let cases: &[Who] = &[
            Who::System,
            Who::Nobody,
            Who::Tenant("$other"),
            Who::Tenant("$system"),
            Who::Tenant("$none"),
            Who::Tenant("a$b"),
        ];
        for &who in cases {
            call(&mut t, who);
        }
        let v = t.view();
        assert!(v.tenants.is_empty());
        assert_eq!(v.folded, 0);
        assert_eq!(calls(&v.system), 1);
        assert_eq!(calls(&v.none), 1);
        assert_eq!(calls(&v.other), 4);
    }
}
