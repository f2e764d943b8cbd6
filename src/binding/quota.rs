//! The quota gate every tenant call passes before it is sent: one gate per tenant, holding
//! its slots and its rate schedule; `scope::quota` decides go, wait or refuse.
//!
//! A gate is keyed by the tenant id alone and holds only that tenant's calls, so no tenant's
//! load can delay or refuse another's call here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use napi_derive::napi;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{FenceError, FenceResult};
use crate::scope::quota::{self, Limits, Schedule, Turn};
use crate::scope::Principal;

/// Gates kept before idle ones are swept (a gate is idle with nothing in flight or waiting).
const SWEEP_AT: usize = 4096;

/// A tenant's limits as JS hands them over: checked once, passed by reference on each call.
#[napi]
pub struct QuotaLimits {
    pub(crate) limits: Limits,
}

#[napi]
impl QuotaLimits {
    /// Checks the limits (`scope::quota::Limits::new`); a bad one is a TypeError naming it.
    #[napi(constructor)]
    pub fn new(
        max_concurrent: Option<f64>,
        ops_per_second: Option<f64>,
        max_time_ms: Option<f64>,
        max_queue: Option<f64>,
    ) -> napi::Result<Self> {
        let limits = Limits::new(max_concurrent, ops_per_second, max_time_ms, max_queue)
            .map_err(FenceError::from)?;
        Ok(QuotaLimits { limits })
    }

    /// The tighter of these limits and `other`'s, field by field (`scope::quota::Limits::stricter`).
    #[napi]
    pub fn stricter(&self, other: &QuotaLimits) -> QuotaLimits {
        QuotaLimits { limits: self.limits.stricter(&other.limits) }
    }
}

/// A caller's way to give up a call while it waits at its gate (`timeoutMS`, an aborted
/// `signal`): a call given up there is never sent. JS makes one only for calls with such limits.
#[napi]
pub struct CallCancel {
    given_up: tokio::sync::watch::Sender<bool>,
}

#[napi]
impl CallCancel {
    /// A token not yet given up.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CallCancel { given_up: tokio::sync::watch::channel(false).0 }
    }

    /// Gives the call up: if it still waits at its gate, it is dropped there, unsent.
    #[napi]
    pub fn cancel(&self) {
        self.given_up.send_replace(true);
    }
}

/// The JS token's receiving end, moved into the call.
#[derive(Clone)]
pub struct GiveUp(tokio::sync::watch::Receiver<bool>);

impl GiveUp {
    /// The receiving end of `token`.
    pub fn of(token: &CallCancel) -> GiveUp {
        GiveUp(token.given_up.subscribe())
    }

    /// True once the caller gave up.
    pub fn given_up(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the caller gives up (never, if its token is gone first).
    async fn wait(mut self) {
        if self.0.wait_for(|g| *g).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

struct Gate {
    limits: Limits,
    slots: Arc<Semaphore>,
    schedule: Mutex<Schedule>,
    /// Calls of this tenant waiting for a slot or a rate turn.
    waiting: AtomicU32,
    /// Calls of this tenant that looked the gate up and have not finished: counted under the
    /// map's lock, so a sweep never drops a gate a call is about to use.
    users: AtomicU32,
}

impl Gate {
    fn new(limits: Limits) -> Gate {
        let n = limits.max_concurrent.unwrap_or(u32::MAX >> 3) as usize;
        Gate {
            limits,
            slots: Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
            schedule: Mutex::new(Schedule::default()),
            waiting: AtomicU32::new(0),
            users: AtomicU32::new(0),
        }
    }

    fn idle(&self) -> bool {
        self.users.load(Ordering::Acquire) == 0
    }
}

/// A call's hold on its tenant's gate, from lookup to the end of the call.
struct Held(Arc<Gate>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.users.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::ops::Deref for Held {
    type Target = Gate;
    fn deref(&self) -> &Gate {
        &self.0
    }
}

/// The gates by tenant, and the size at which idle ones are swept next.
struct Gates {
    map: HashMap<String, Arc<Gate>>,
    sweep_at: usize,
}

/// A fence's gates, and the limits of tenants the app gave no limits of their own.
pub struct Quotas {
    default: OnceLock<Limits>,
    gates: Mutex<Gates>,
    clock: Instant,
}

/// A call past the gate: holds its slot until dropped, and says how long it waited.
pub struct Pass {
    /// The slot (dropped first), then the hold on the gate.
    _slot: Option<OwnedSemaphorePermit>,
    _gate: Option<Held>,
    /// Time spent waiting at the gate.
    pub queued: Duration,
    /// The server-side time limit the tenant's reads are capped at.
    pub limits: Option<Limits>,
}

impl Pass {
    fn open(limits: Option<Limits>) -> Pass {
        Pass { _slot: None, _gate: None, queued: Duration::ZERO, limits }
    }
}

/// Counts a call as waiting while it lives.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicU32) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Quotas {
    /// A fence's gates, with no limits until `set_default`.
    pub fn new() -> Quotas {
        Quotas {
            default: OnceLock::new(),
            gates: Mutex::new(Gates { map: HashMap::new(), sweep_at: SWEEP_AT }),
            clock: Instant::now(),
        }
    }

    /// The limits of every tenant that a call brings none for; once per fence.
    pub fn set_default(&self, limits: Limits) -> bool {
        self.default.set(limits).is_ok()
    }

    /// `admit`, unless the caller gives up first: a call given up while it waits (or before)
    /// fails as cancelled and is never sent.
    pub async fn admit_unless(
        &self,
        principal: &Principal,
        own: Option<Limits>,
        give_up: Option<GiveUp>,
    ) -> FenceResult<Pass> {
        let Some(g) = give_up else { return self.admit(principal, own).await };
        let pass = tokio::select! {
            biased;
            _ = g.clone().wait() => return Err(FenceError::Cancelled),
            pass = self.admit(principal, own) => pass?,
        };
        if g.given_up() {
            return Err(FenceError::Cancelled);
        }
        Ok(pass)
    }

    /// A pass for a call of `principal` under `own` limits (else the fence's): at once, after
    /// waiting its turn, or a `TENANT_QUOTA` refusal. System calls are not limited.
    pub async fn admit(&self, principal: &Principal, own: Option<Limits>) -> FenceResult<Pass> {
        let (Some(tenant), Some(limits)) =
            (quota::gate_of(principal), own.or(self.default.get().copied()))
        else {
            return Ok(Pass::open(None));
        };
        if limits.unlimited() {
            return Ok(Pass::open(Some(limits)));
        }
        let started = Instant::now();
        let gate = self.gate(&tenant, limits);
        let permit = self.slot(&tenant, &gate).await?;
        let turn = {
            let mut s = gate.schedule.lock().unwrap_or_else(|e| e.into_inner());
            let now = self.clock.elapsed().as_nanos() as u64;
            quota::rate_turn(&mut s, &limits, now, gate.waiting.load(Ordering::Acquire))
        };
        match turn {
            Turn::Go => {}
            Turn::After(d) => {
                let _w = Waiting::new(&gate.waiting);
                tokio::time::sleep(d).await;
            }
            Turn::Refuse(d) => {
                let why = format!("{} calls a second", limits.ops_per_second.unwrap_or(0.0));
                return Err(quota::refusal(&tenant, &why, d).into());
            }
        }
        Ok(Pass {
            _slot: permit,
            _gate: Some(gate),
            queued: started.elapsed(),
            limits: Some(limits),
        })
    }

    /// The tenant's slot, waiting in its queue when all are taken.
    async fn slot(&self, tenant: &str, gate: &Held) -> FenceResult<Option<OwnedSemaphorePermit>> {
        let Some(max) = gate.limits.max_concurrent else { return Ok(None) };
        if let Ok(p) = gate.slots.clone().try_acquire_owned() {
            return Ok(Some(p));
        }
        match quota::slot_turn(&gate.limits, false, gate.waiting.load(Ordering::Acquire)) {
            Turn::Refuse(d) => {
                Err(quota::refusal(tenant, &format!("{max} calls in flight"), d).into())
            }
            _ => {
                let _w = Waiting::new(&gate.waiting);
                // The semaphore is never closed; a closed one would only mean no limit.
                Ok(gate.slots.clone().acquire_owned().await.ok())
            }
        }
    }

    /// The tenant's gate for these limits: a new one when they changed (calls already past the
    /// old gate keep their slots there).
    fn gate(&self, tenant: &str, limits: Limits) -> Held {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        let hold = |g: &Arc<Gate>| {
            g.users.fetch_add(1, Ordering::AcqRel);
            Held(g.clone())
        };
        if let Some(g) = gates.map.get(tenant).filter(|g| g.limits == limits) {
            return hold(g);
        }
        if gates.map.len() >= gates.sweep_at {
            // A gate whose schedule is still ahead keeps it: sweeping it would hand its tenant
            // a fresh burst.
            let now = self.clock.elapsed().as_nanos() as u64;
            gates.map.retain(|_, g| !g.idle() || g.schedule.lock().map_or(true, |s| s.next > now));
            // Many busy tenants: sweep again only once the map has doubled, not on every newcomer.
            gates.sweep_at = (gates.map.len() * 2).max(SWEEP_AT);
        }
        let g = Arc::new(Gate::new(limits));
        let held = hold(&g);
        gates.map.insert(tenant.to_string(), g);
        held
    }
}
