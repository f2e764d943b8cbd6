//! Per-tenant call metrics, pure: no napi, no tokio, no I/O. The binding records one
//! `Sample` per call; an endpoint hands out `prometheus` or `snapshot_json`.
//!
//! One mutex guards the store. A call takes it once and, for a tenant and operation seen
//! before, allocates nothing. A scrape holds it only to copy the table (`View`) and renders
//! after releasing it, so formatting thousands of lines never stalls calls.

pub mod counts;
mod histogram;
mod prometheus;
mod rfc3339;
mod seconds;
mod snapshot;
mod stats;
mod table;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use table::{Table, View};

pub use stats::{MAX_CODES, MAX_OPERATIONS, OTHER};

/// The pseudo-tenant holding folded tenants: tenant ids never contain `$`.
pub const OTHER_TENANT: &str = "$other";

/// The pseudo-tenant holding `runAsSystem` calls.
pub const SYSTEM_TENANT: &str = "$system";

/// The pseudo-tenant holding calls made with no context (each one a `TENANT_MISSING`).
pub const NOBODY_TENANT: &str = "$none";

/// Who a call ran as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    Tenant(&'a str),
    System,
    /// No tenant and no system context: the call was refused before it was sent.
    Nobody,
}

/// One finished call, borrowed from the caller so recording copies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    pub who: Who<'a>,
    /// The method, e.g. "find", "insertOne", "getMore".
    pub operation: &'a str,
    /// The error's stable code: "TENANT_VIOLATION", "11000", "MongoNetworkError" …
    pub error: Option<&'a str>,
    pub documents_read: u64,
    pub documents_written: u64,
    /// Request bytes the caller handed in.
    pub bytes_in: u64,
    /// Reply bytes handed back.
    pub bytes_out: u64,
    /// Time spent awaiting the driver.
    pub server: Duration,
    /// Time waited for a quota before being sent.
    pub queued: Duration,
    /// The whole call.
    pub latency: Duration,
}

impl<'a> Sample<'a> {
    /// A successful call of `operation` with every count and duration zero.
    pub fn new(who: Who<'a>, operation: &'a str) -> Self {
        Sample {
            who,
            operation,
            error: None,
            documents_read: 0,
            documents_written: 0,
            bytes_in: 0,
            bytes_out: 0,
            server: Duration::ZERO,
            queued: Duration::ZERO,
            latency: Duration::ZERO,
        }
    }
}

/// The metrics store; share one per process (it is `Send + Sync`).
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    since: SystemTime,
    table: Table,
}

impl Metrics {
    /// A store giving at most `limit` tenants their own series (0 is taken as 1).
    pub fn new(limit: usize) -> Self {
        Metrics { inner: Mutex::new(Inner { since: SystemTime::now(), table: Table::new(limit) }) }
    }

    /// Counts one call; allocates only for a tenant, operation or error code not seen before.
    pub fn record(&self, s: &Sample) {
        self.lock().table.record(s);
    }

    /// Everything as JSON text: since, limit, folded, tenants, other, system, none.
    pub fn snapshot_json(&self) -> String {
        let (since, view) = self.view();
        snapshot::render(since, &view)
    }

    /// Everything in the Prometheus text exposition format 0.0.4.
    pub fn prometheus(&self) -> String {
        prometheus::render(&self.view().1)
    }

    /// Forgets every series and fold, and restarts `since`.
    pub fn reset(&self) {
        let mut inner = self.lock();
        let limit = inner.table.limit();
        *inner = Inner { since: SystemTime::now(), table: Table::new(limit) };
    }

    /// Tenants that may hold a series of their own.
    pub fn limit(&self) -> usize {
        self.lock().table.limit()
    }

    fn view(&self) -> (SystemTime, View) {
        let inner = self.lock();
        (inner.since, inner.table.view())
    }

    /// Counters stay consistent call by call, so a panic elsewhere while the lock was held
    /// must not turn metrics off for the rest of the process.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts heap allocations per thread, so a test can show `record` makes none. Only in the
/// core's own test binary: the addon build has mimalloc as its allocator.
#[cfg(all(test, not(feature = "napi")))]
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    fn bump() {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every method forwards to the system allocator with the caller's arguments.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Allocations made so far by this thread.
    pub fn so_far() -> u64 {
        COUNT.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashMap;

    fn snapshot(m: &Metrics) -> Value {
        serde_json::from_str(&m.snapshot_json()).unwrap()
    }

    /// Every sample line of a scrape by series.
    fn scrape(m: &Metrics) -> HashMap<String, f64> {
        m.prometheus()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                (series.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_store_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Metrics>();
        let m = Metrics::new(8);
        std::thread::scope(|s| {
            for t in 0..4 {
                let m = &m;
                s.spawn(move || {
                    let id = format!("t{t}");
                    for _ in 0..1000 {
                        m.record(&Sample::new(Who::Tenant(&id), "find"));
                    }
                });
            }
        });
        let v = snapshot(&m);
        for t in 0..4 {
            assert_eq!(v["tenants"][format!("t{t}")]["find"]["calls"], 1000);
        }
    }

    #[test]
    fn recording_a_known_tenant_and_operation_allocates_nothing() {
        let m = Metrics::new(3);
        let calls: &[Sample] = &[
            Sample::new(Who::Tenant("acme"), "find"),
            Sample { error: Some("11000"), ..Sample::new(Who::Tenant("acme"), "insertOne") },
            Sample::new(Who::Tenant("globex"), "getMore"),
            Sample::new(Who::System, "listCollections"),
            Sample {
                latency: Duration::from_secs(60),
                ..Sample::new(Who::Tenant("initech"), "find")
            },
        ];
        for s in calls {
            m.record(s);
        }
        let before = allocations::so_far();
        for _ in 0..1000 {
            for s in calls {
                m.record(s);
            }
        }
        assert_eq!(allocations::so_far() - before, 0);
    }

    #[test]
    fn reset_forgets_everything_but_the_limit() {
        let m = Metrics::new(1);
        m.record(&Sample::new(Who::Tenant("a"), "find"));
        m.record(&Sample::new(Who::Tenant("b"), "find"));
        m.record(&Sample::new(Who::System, "find"));
        let before = snapshot(&m);
        assert_eq!(before["folded"], 1);
        m.reset();
        let after = snapshot(&m);
        assert_eq!(after["folded"], 0);
        assert_eq!(after["limit"], 1);
        assert_eq!(after["tenants"], serde_json::json!({}));
        assert_eq!(after["other"], serde_json::json!({}));
        assert_eq!(after["system"], serde_json::json!({}));
        assert!(after["since"].as_str() >= before["since"].as_str());
        assert_eq!(m.limit(), 1);
    }

    #[test]
    fn counters_never_decrease_from_scrape_to_scrape() {
        // A skewed stream over 40 tenants with 5 slots: heavy ones stay, light ones fold.
        let m = Metrics::new(5);
        let ops = ["find", "insertOne", "getMore"];
        let codes = [None, None, None, Some("11000"), Some("TENANT_VIOLATION")];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut last = scrape(&m);
        let mut folds_seen = 0.0;
        for _ in 0..50 {
            for _ in 0..400 {
                let r = next();
                // Tenant i with weight about 1/(i+1).
                let tenant = format!("t{}", (r % 40) / ((r >> 8) % 8 + 1));
                let who = if r % 17 == 0 { Who::System } else { Who::Tenant(&tenant) };
                m.record(&Sample {
                    error: codes[(r >> 20) as usize % codes.len()],
                    documents_read: r >> 40 & 7,
                    bytes_out: r >> 30 & 1023,
                    server: Duration::from_nanos(r >> 44),
                    latency: Duration::from_nanos(r >> 38),
                    ..Sample::new(who, ops[(r >> 16) as usize % ops.len()])
                });
            }
            let now = scrape(&m);
            let folded = now["tenantfence_tenants_folded_total"];
            let fold_between = folded > last["tenantfence_tenants_folded_total"];
            for (series, &before) in &last {
                let pseudo = series.contains("tenant=\"$");
                let Some(&after) = now.get(series) else {
                    // Only a tenant's series may vanish, and only by being folded.
                    assert!(!pseudo && fold_between, "{series} vanished");
                    continue;
                };
                // A tenant folded and seen again restarts from zero (a counter reset);
                // $other, $system and the fold count only grow.
                if pseudo || !fold_between || series.starts_with("tenantfence_tenants_folded") {
                    assert!(after >= before, "{series}: {before} -> {after}");
                }
            }
            let total = |s: &HashMap<String, f64>| {
                s.iter()
                    .filter(|(k, _)| k.starts_with("tenantfence_calls_total"))
                    .map(|(_, v)| v)
                    .sum::<f64>()
            };
            assert_eq!(total(&now), total(&last) + 400.0);
            folds_seen = folded;
            last = now;
        }
        assert!(folds_seen > 0.0, "the stream must exercise folding");
    }

    /// A measurement, not a test (no assertion on time): what one `record` costs a call, for
    /// bench/RESULTS.md. `cargo test --release --no-default-features --lib measure_record -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure_record_cost() {
        let m = Metrics::new(100);
        let tenants: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
        let ops = ["findOne", "insertOne", "updateOne", "find", "getMore"];
        let n = 2_000_000u32;
        let started = std::time::Instant::now();
        for i in 0..n {
            let s = Sample {
                documents_read: 1,
                bytes_in: 120,
                bytes_out: 300,
                latency: Duration::from_micros(u64::from(i % 5000)),
                server: Duration::from_micros(u64::from(i % 4000)),
                ..Sample::new(Who::Tenant(&tenants[(i % 50) as usize]), ops[(i % 5) as usize])
            };
            m.record(std::hint::black_box(&s));
        }
        let per = started.elapsed().as_nanos() as f64 / f64::from(n);
        println!("Metrics::record: {per:.0} ns per call (50 tenants, 5 operations, one thread)");
    }
}
