//! Quotas against noisy neighbours: when a tenant's call may go, must wait its turn, or is
//! refused (`TENANT_QUOTA`). Every input is the calling tenant's own state, so whether a call
//! waits or fails never depends on what another tenant does.

use std::time::Duration;

use bson::{Bson, Document};

use super::error::{ErrorKind, ScopeError};
use super::plan::Operation;
use super::Principal;

/// One tenant's limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Calls of the tenant in flight at once.
    pub max_concurrent: Option<u32>,
    /// Calls the tenant may start per second (a burst of up to one second's worth).
    pub ops_per_second: Option<f64>,
    /// The server-side time limit of every read (the smaller of this and the caller's own).
    pub max_time_ms: Option<u64>,
    /// Calls that may wait for a slot or a rate turn; one more is refused at once.
    pub max_queue: u32,
}

/// The smallest rate a quota takes (one call in about 11.6 days).
const MIN_RATE: f64 = 1e-6;

/// How many calls may wait when the quota does not say.
pub const DEFAULT_MAX_QUEUE: u32 = 100;

/// The wait a refusal for concurrency suggests: the fence cannot know when a slot frees up.
const CONCURRENCY_RETRY: Duration = Duration::from_secs(1);

impl Limits {
    /// Checks limits as the caller gave them (numbers from JS: finite, positive, integral where counted).
    pub fn new(
        max_concurrent: Option<f64>,
        ops_per_second: Option<f64>,
        max_time_ms: Option<f64>,
        max_queue: Option<f64>,
    ) -> Result<Limits, ScopeError> {
        let count =
            |v: Option<f64>, name: &str, zero_ok: bool| -> Result<Option<u32>, ScopeError> {
                match v {
                    None => Ok(None),
                    Some(n)
                        if n.fract() == 0.0
                            && n <= u32::MAX as f64
                            && (n >= 1.0 || zero_ok && n == 0.0) =>
                    {
                        Ok(Some(n as u32))
                    }
                    Some(_) => Err(ScopeError::argument(format!(
                        "quotas.{name} must be {} integer",
                        if zero_ok { "a non-negative" } else { "a positive" }
                    ))),
                }
            };
        // Below one call in ~11 days the schedule's nanoseconds would overflow: such a rate is
        // a suspension, which is the app's to refuse, not a quota.
        let rate = match ops_per_second {
            None => None,
            Some(r) if r.is_finite() && (MIN_RATE..=1e9).contains(&r) => Some(r),
            Some(_) => {
                return Err(ScopeError::argument(
                    "quotas.opsPerSecond must be a number from 0.000001 to 1e9",
                ))
            }
        };
        // The server takes maxTimeMS as a 32-bit integer: a larger cap would fail every read.
        if max_time_ms.is_some_and(|t| t > i32::MAX as f64) {
            return Err(ScopeError::argument("quotas.maxTimeMS must be at most 2147483647"));
        }
        Ok(Limits {
            max_concurrent: count(max_concurrent, "maxConcurrent", false)?,
            ops_per_second: rate,
            max_time_ms: count(max_time_ms, "maxTimeMS", false)?.map(u64::from),
            max_queue: count(max_queue, "maxQueue", true)?.unwrap_or(DEFAULT_MAX_QUEUE),
        })
    }

    /// True when no limit applies: the call skips the gate altogether.
    pub fn unlimited(&self) -> bool {
        self.max_concurrent.is_none() && self.ops_per_second.is_none()
    }

    /// The tighter of two tenants' limits, field by field: a `runAsTenants` read under a quotas
    /// function is held to the strictest of its members, so a union is never a way around a
    /// member's limits.
    pub fn stricter(&self, other: &Limits) -> Limits {
        fn least<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(if y < x { y } else { x }),
                (x, None) => x,
                (None, y) => y,
            }
        }
        Limits {
            max_concurrent: least(self.max_concurrent, other.max_concurrent),
            ops_per_second: least(self.ops_per_second, other.ops_per_second),
            max_time_ms: least(self.max_time_ms, other.max_time_ms),
            max_queue: self.max_queue.min(other.max_queue),
        }
    }
}

/// Whose gate a call passes: its tenant's own. System calls pass none (an operator's
/// maintenance is not a neighbour to throttle); no gate is ever shared between tenants. A
/// `runAsTenants` read passes the gate of its set of tenants: its ids joined by NUL, which no
/// tenant id holds, so it is no single tenant's gate.
pub fn gate_of(principal: &Principal) -> Option<std::borrow::Cow<'_, str>> {
    match principal {
        Principal::Tenant(t) => Some(std::borrow::Cow::Borrowed(t)),
        Principal::Tenants(ids) => Some(std::borrow::Cow::Owned(ids.join("\0"))),
        Principal::System => None,
    }
}

/// What happens to a call at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send it now.
    Go,
    /// Send it once this much time has passed (its rate turn is reserved).
    After(Duration),
    /// Refuse it; the caller may try again after this long.
    Refuse(Duration),
}

/// The rate gate as a virtual schedule (GCRA): `next` is when the tenant's next call would be
/// due if it called evenly; a call may run ahead of it by one second's burst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Nanoseconds since the gate's clock started.
    pub next: u64,
}

/// Decides a call's rate turn at `now` (ns), given how many of the tenant's calls already wait;
/// reserves the turn unless it refuses.
pub fn rate_turn(s: &mut Schedule, limits: &Limits, now: u64, waiting: u32) -> Turn {
    let Some(rate) = limits.ops_per_second else { return Turn::Go };
    let interval = (1e9 / rate).max(1.0) as u64;
    // A burst of one second's calls (at least one) may go at once.
    let burst = (rate.ceil() as u64).max(1).saturating_sub(1).saturating_mul(interval);
    let due = s.next.max(now);
    let earliest = due.saturating_sub(burst);
    if earliest <= now {
        s.next = due.saturating_add(interval);
        return Turn::Go;
    }
    let wait = Duration::from_nanos(earliest - now);
    if waiting >= limits.max_queue {
        return Turn::Refuse(wait);
    }
    s.next = due.saturating_add(interval);
    Turn::After(wait)
}

/// Decides a call's concurrency turn: go when a slot is free, wait while the queue has room.
pub fn slot_turn(limits: &Limits, free: bool, waiting: u32) -> Turn {
    if limits.max_concurrent.is_none() || free {
        Turn::Go
    } else if waiting < limits.max_queue {
        Turn::After(Duration::ZERO)
    } else {
        Turn::Refuse(CONCURRENCY_RETRY)
    }
}

/// The refusal a caller reads for the gate `gate` (`gate_of`'s key), with the wait it may retry after.
pub fn refusal(gate: &str, why: &str, retry_after: Duration) -> ScopeError {
    let ms = retry_after.as_millis().max(1);
    // A union's gate names its set the way a reader expects, not by its NUL-joined key.
    let tenant = gate.replace('\0', ", ");
    ScopeError {
        kind: ErrorKind::TenantQuota,
        message: format!("tenant {tenant:?} is over its quota ({why}); retry after {ms} ms"),
    }
}

/// The milliseconds a `TENANT_QUOTA` message says to wait (what JS puts on `retryAfterMs`).
pub fn retry_after_ms(message: &str) -> Option<u64> {
    let tail = message.rsplit_once("retry after ")?.1;
    tail.strip_suffix(" ms")?.parse().ok()
}

/// Whether the quota's `maxTimeMS` caps this method: reads, `findOneAnd*` (whose command takes
/// it and stays retryable) and `updateMany` / `deleteMany` (never retryable, so sending them as a
/// one-operation `bulkWrite` loses nothing). The single-document writes and `bulkWrite` stay
/// retryable, so the quota leaves them as they are.
pub fn caps_time_of(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        FindOne
            | Find
            | Aggregate
            | CountDocuments
            | EstimatedDocumentCount
            | Distinct
            | FindOneAndUpdate
            | FindOneAndReplace
            | FindOneAndDelete
            | UpdateMany
            | DeleteMany
    )
}

/// Caps a read's `options.maxTimeMS` at the tenant's limit (the caller's own, when smaller, stays).
pub fn cap_max_time(options: &mut Document, limits: &Limits) {
    let Some(cap) = limits.max_time_ms else { return };
    let own = match options.get("maxTimeMS") {
        Some(Bson::Int32(n)) if *n > 0 => Some(*n as u64),
        Some(Bson::Int64(n)) if *n > 0 => Some(*n as u64),
        Some(Bson::Double(n)) if *n >= 1.0 && n.is_finite() => Some(*n as u64),
        // 0 means "no limit" to the server; anything malformed is left for the option parser
        // to refuse, so the caller still reads its own error.
        Some(Bson::Int32(0)) | Some(Bson::Int64(0)) | Some(Bson::Null) | None => None,
        Some(Bson::Double(n)) if *n == 0.0 => None,
        Some(_) => return,
    };
    let ms = own.map_or(cap, |o| o.min(cap));
    options.insert("maxTimeMS", Bson::Int64(ms as i64));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn limits(c: Option<u32>, r: Option<f64>, q: u32) -> Limits {
        Limits { max_concurrent: c, ops_per_second: r, max_time_ms: None, max_queue: q }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_union_is_held_to_the_strictest_of_its_members() {
        let l = |c: Option<u32>, r: Option<f64>, t: Option<u64>, q: u32| Limits {
            max_concurrent: c,
            ops_per_second: r,
            max_time_ms: t,
            max_queue: q,
        };
        for (a, b, want) in [
            (l(Some(4), None, None, 100), l(Some(2), None, None, 100), l(Some(2), None, None, 100)),
            (
                l(Some(4), None, None, 100),
                l(None, Some(5.0), None, 3),
                l(Some(4), Some(5.0), None, 3),
            ),
            (
                l(None, Some(0.5), Some(900), 0),
                l(None, Some(9.0), Some(100), 7),
                l(None, Some(0.5), Some(100), 0),
            ),
            (l(None, None, None, 100), l(None, None, None, 100), l(None, None, None, 100)),
        ] {
            assert_eq!(a.stricter(&b), want, "{a:?} and {b:?}");
            assert_eq!(b.stricter(&a), want, "{b:?} and {a:?}: the order does not matter");
        }
    }

    #[test]
    fn limits_are_checked_as_given() {
        let ok = Limits::new(Some(4.0), Some(2.5), Some(100.0), None).unwrap();
        assert_eq!(ok.max_concurrent, Some(4));
        assert_eq!(ok.max_queue, DEFAULT_MAX_QUEUE);
        assert!(!ok.unlimited());
        assert!(Limits::new(None, None, Some(5.0), Some(0.0)).unwrap().unlimited());
        for (c, r, t, q, name) in [
            (Some(0.0), None, None, None, "maxConcurrent"),
            (Some(1.5), None, None, None, "maxConcurrent"),
            (Some(-1.0), None, None, None, "maxConcurrent"),
            (None, Some(0.0), None, None, "opsPerSecond"),
            (None, Some(f64::NAN), None, None, "opsPerSecond"),
            (None, Some(f64::INFINITY), None, None, "opsPerSecond"),
            (None, Some(1e-12), None, None, "opsPerSecond"),
            (None, None, Some(2147483648.0), None, "maxTimeMS"),
            (None, None, Some(0.0), None, "maxTimeMS"),
            (None, None, None, Some(-1.0), "maxQueue"),
            (None, None, None, Some(1e12), "maxQueue"),
        ] {
            let e = Limits::new(c, r, t, q).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains(name), "{}", e.message);
        }
    }

    #[test]
    fn a_rate_allows_one_seconds_burst_then_spaces_calls() {
        let l = limits(None, Some(4.0), 10);
        let mut s = Schedule::default();
        let now = 10 * S;
        // Four go at once (one second's worth), the fifth waits a quarter second.
        for _ in 0..4 {
            assert_eq!(rate_turn(&mut s, &l, now, 0), Turn::Go);
        }
        assert_eq!(rate_turn(&mut s, &l, now, 0), Turn::After(Duration::from_millis(250)));
        assert_eq!(rate_turn(&mut s, &l, now, 1), Turn::After(Duration::from_millis(500)));
        // A second later than the schedule, the burst is back.
        let later = s.next + 2 * S;
        for _ in 0..4 {
            assert_eq!(rate_turn(&mut s, &l, later, 0), Turn::Go);
        }
    }

    #[test]
    fn a_full_queue_refuses_without_reserving_a_turn() {
        let l = limits(None, Some(1.0), 1);
        let mut s = Schedule::default();
        assert_eq!(rate_turn(&mut s, &l, S, 0), Turn::Go);
        let before = s;
        match rate_turn(&mut s, &l, S, 1) {
            Turn::Refuse(d) => assert_eq!(d, Duration::from_secs(1)),
            t => panic!("{t:?}"),
        }
        assert_eq!(s, before, "a refused call must not push later calls back");
        assert_eq!(rate_turn(&mut s, &l, S, 0), Turn::After(Duration::from_secs(1)));
    }

    #[test]
    fn the_slowest_rate_still_limits() {
        let l = Limits::new(None, Some(1e-6), None, Some(0.0)).unwrap();
        let mut s = Schedule { next: u64::MAX - 5 };
        assert_eq!(
            rate_turn(&mut s, &l, S, 0),
            Turn::Refuse(Duration::from_nanos(u64::MAX - 5 - S))
        );
        let mut s = Schedule::default();
        assert_eq!(rate_turn(&mut s, &l, S, 0), Turn::Go);
        assert!(matches!(rate_turn(&mut s, &l, 2 * S, 0), Turn::Refuse(_)));
        assert!(Limits::new(None, None, Some(2147483647.0), None).is_ok());
    }

    #[test]
    fn below_one_call_a_second_the_burst_is_one_call() {
        let l = limits(None, Some(0.5), 0);
        let mut s = Schedule::default();
        assert_eq!(rate_turn(&mut s, &l, S, 0), Turn::Go);
        assert_eq!(rate_turn(&mut s, &l, S, 0), Turn::Refuse(Duration::from_secs(2)));
        assert_eq!(rate_turn(&mut s, &l, 3 * S, 0), Turn::Go);
    }

    #[test]
    fn no_rate_always_goes() {
        let mut s = Schedule::default();
        for w in [0, 1, 1000] {
            assert_eq!(rate_turn(&mut s, &limits(Some(1), None, 0), 0, w), Turn::Go);
        }
        assert_eq!(s, Schedule::default());
    }

    #[test]
    fn slots_go_wait_or_refuse() {
        for (max, free, waiting, queue, want) in [
            (None, false, 99, 0, Turn::Go),
            (Some(2), true, 5, 0, Turn::Go),
            (Some(2), false, 0, 1, Turn::After(Duration::ZERO)),
            (Some(2), false, 1, 1, Turn::Refuse(CONCURRENCY_RETRY)),
            (Some(2), false, 0, 0, Turn::Refuse(CONCURRENCY_RETRY)),
        ] {
            assert_eq!(slot_turn(&limits(max, None, queue), free, waiting), want);
        }
    }

    #[test]
    fn a_refusal_carries_its_code_and_wait() {
        let e = refusal("acme", "10 calls in flight", Duration::from_millis(250));
        assert_eq!(e.kind.code(), "TENANT_QUOTA");
        assert_eq!(retry_after_ms(&e.message), Some(250));
        // Under a millisecond still says to wait one.
        assert_eq!(retry_after_ms(&refusal("a", "x", Duration::from_nanos(5)).message), Some(1));
        assert_eq!(retry_after_ms("no number here"), None);
        let union = refusal(
            &gate_of(&Principal::Tenants(vec!["a".into(), "b".into()].into())).unwrap(),
            "1 calls in flight",
            Duration::from_secs(1),
        );
        assert!(
            union.message.starts_with("tenant \"a, b\" is over its quota"),
            "{}",
            union.message
        );
    }

    #[test]
    fn each_tenant_has_its_own_gate_and_system_none() {
        assert_eq!(gate_of(&Principal::Tenant("acme".into())).as_deref(), Some("acme"));
        assert_eq!(gate_of(&Principal::Tenant("globex".into())).as_deref(), Some("globex"));
        // A union's gate is its set's, which no single tenant id can name (no id holds NUL).
        let ids = crate::scope::tenants::check_ids(&["b".into(), "a".into()], true).unwrap();
        assert_eq!(gate_of(&Principal::Tenants(ids)).as_deref(), Some("a\0b"));
        assert_eq!(gate_of(&Principal::System), None);
    }

    #[test]
    fn reads_and_writes_that_cannot_be_retried_anyway_are_time_capped() {
        let capped: Vec<_> = Operation::ALL.into_iter().filter(|o| caps_time_of(*o)).collect();
        use Operation::*;
        let want = [
            FindOne,
            Find,
            Aggregate,
            CountDocuments,
            EstimatedDocumentCount,
            Distinct,
            UpdateMany,
            DeleteMany,
            FindOneAndUpdate,
            FindOneAndReplace,
            FindOneAndDelete,
        ];
        assert_eq!(capped, want);
    }

    #[test]
    fn max_time_is_capped_never_raised() {
        let l = Limits { max_time_ms: Some(100), ..limits(None, None, 0) };
        for (given, want) in [
            (doc! {}, Some(Bson::Int64(100))),
            (doc! { "maxTimeMS": 0 }, Some(Bson::Int64(100))),
            (doc! { "maxTimeMS": 50 }, Some(Bson::Int64(50))),
            (doc! { "maxTimeMS": 5000_i64 }, Some(Bson::Int64(100))),
            (doc! { "maxTimeMS": 20.0 }, Some(Bson::Int64(20))),
            (doc! { "maxTimeMS": Bson::Null }, Some(Bson::Int64(100))),
            // Malformed: left for the option parser's own error.
            (doc! { "maxTimeMS": "soon" }, Some(Bson::String("soon".into()))),
            (doc! { "maxTimeMS": -5 }, Some(Bson::Int32(-5))),
        ] {
            let mut o = given.clone();
            cap_max_time(&mut o, &l);
            assert_eq!(o.get("maxTimeMS").cloned(), want, "{given}");
        }
        let mut o = doc! { "maxTimeMS": 5 };
        cap_max_time(&mut o, &limits(None, None, 0));
        assert_eq!(o, doc! { "maxTimeMS": 5 });
    }
}
