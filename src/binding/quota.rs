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
}

struct Gate {
    limits: Limits,
    slots: Arc<Semaphore>,
    schedule: Mutex<Schedule>,
    /// Calls of this tenant waiting for a slot or a rate turn.
    waiting: AtomicU32,
    /// Calls of this tenant past the gate and not yet finished.
    in_flight: AtomicU32,
}

impl Gate {
    fn new(limits: Limits) -> Gate {
        let n = limits.max_concurrent.unwrap_or(u32::MAX >> 3) as usize;
        Gate {
            limits,
            slots: Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
            schedule: Mutex::new(Schedule::default()),
            waiting: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
        }
    }

    fn idle(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0 && self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// A fence's gates, and the limits of tenants the app gave no limits of their own.
pub struct Quotas {
    default: OnceLock<Limits>,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    clock: Instant,
}

/// A call past the gate: holds its slot until dropped, and says how long it waited.
pub struct Pass {
    gate: Option<(Arc<Gate>, Option<OwnedSemaphorePermit>)>,
    /// Time spent waiting at the gate.
    pub queued: Duration,
    /// The server-side time limit the tenant's reads are capped at.
    pub limits: Option<Limits>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some((gate, _permit)) = &self.gate {
            gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
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
            gates: Mutex::new(HashMap::new()),
            clock: Instant::now(),
        }
    }

    /// The limits of every tenant that a call brings none for; once per fence.
    pub fn set_default(&self, limits: Limits) -> bool {
        self.default.set(limits).is_ok()
    }

    /// A pass for a call of `principal` under `own` limits (else the fence's): at once, after
    /// waiting its turn, or a `TENANT_QUOTA` refusal. System calls are not limited.
    pub async fn admit(&self, principal: &Principal, own: Option<Limits>) -> FenceResult<Pass> {
        let (Some(tenant), Some(limits)) =
            (quota::gate_of(principal), own.or(self.default.get().copied()))
        else {
            return Ok(Pass { gate: None, queued: Duration::ZERO, limits: None });
        };
        if limits.unlimited() {
            return Ok(Pass { gate: None, queued: Duration::ZERO, limits: Some(limits) });
        }
        let started = Instant::now();
        let gate = self.gate(tenant, limits);
        let permit = self.slot(tenant, &gate).await?;
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
                return Err(quota::refusal(tenant, &why, d).into());
            }
        }
        gate.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(Pass { gate: Some((gate, permit)), queued: started.elapsed(), limits: Some(limits) })
    }

    /// The tenant's slot, waiting in its queue when all are taken.
    async fn slot(
        &self,
        tenant: &str,
        gate: &Arc<Gate>,
    ) -> FenceResult<Option<OwnedSemaphorePermit>> {
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
    fn gate(&self, tenant: &str, limits: Limits) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = gates.get(tenant).filter(|g| g.limits == limits) {
            return g.clone();
        }
        if gates.len() >= SWEEP_AT {
            // A gate whose schedule is still ahead keeps it: sweeping it would hand its tenant
            // a fresh burst.
            let now = self.clock.elapsed().as_nanos() as u64;
            gates.retain(|_, g| !g.idle() || g.schedule.lock().map_or(true, |s| s.next > now));
        }
        let g = Arc::new(Gate::new(limits));
        gates.insert(tenant.to_string(), g.clone());
        g
    }
}
