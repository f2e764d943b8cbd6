//! Counting each call into the fence's metrics (`telemetry`): who made it, how long it
//! waited and ran, what it moved and how it ended. Off (`None`) costs one branch per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FenceResult;
use crate::scope::Principal;
use crate::telemetry::{counts, Metrics, Sample, Who};

/// Whose series a call is counted in, owned so a cursor can keep it.
#[derive(Clone)]
pub enum Owner {
    Tenant(String),
    System,
    Nobody,
}

impl Owner {
    /// The owner of a call admitted as `principal` (or refused before one was known).
    pub fn of<E>(principal: &Result<Principal, E>) -> Owner {
        match principal {
            Ok(Principal::Tenant(t)) => Owner::Tenant(t.clone()),
            // One series for every runAsTenants read: no tenant id holds '$'.
            Ok(Principal::Tenants(_)) => Owner::Tenant("$tenants".into()),
            Ok(Principal::System) => Owner::System,
            Err(_) => Owner::Nobody,
        }
    }

    fn who(&self) -> Who<'_> {
        match self {
            Owner::Tenant(t) => Who::Tenant(t),
            Owner::System => Who::System,
            Owner::Nobody => Who::Nobody,
        }
    }
}

/// One call being counted, from the moment JS made it.
pub struct Meter {
    metrics: Arc<Metrics>,
    owner: Owner,
    started: Instant,
    bytes_in: u64,
    /// Waiting at the quota gate.
    pub queued: Duration,
    /// Awaiting the driver, past the gate.
    pub server: Duration,
}

impl Meter {
    /// Starts counting a call of `owner` that handed in `bytes_in` bytes; `None` when metrics are off.
    pub fn start(metrics: &Option<Arc<Metrics>>, owner: Owner, bytes_in: usize) -> Option<Meter> {
        Some(Meter {
            metrics: metrics.clone()?,
            owner,
            started: Instant::now(),
            bytes_in: bytes_in as u64,
            queued: Duration::ZERO,
            server: Duration::ZERO,
        })
    }

    /// Time since the call was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records the call's end; `reply` is the `{v}` reply (documents counted from it) or the batch.
    pub fn finish<T>(
        self,
        operation: &str,
        result: &FenceResult<T>,
        reply: Option<&[u8]>,
        batch_docs: Option<u64>,
    ) {
        let code = result.as_ref().err().map(|e| e.metric_code());
        let (read, written) = match (batch_docs, reply) {
            (Some(n), _) => (n, 0),
            (None, Some(r)) => counts::documents(operation, r),
            (None, None) => (0, 0),
        };
        self.metrics.record(&Sample {
            who: self.owner.who(),
            operation,
            error: code.as_deref(),
            documents_read: read,
            documents_written: written,
            bytes_in: self.bytes_in,
            bytes_out: reply.map_or(0, |r| r.len() as u64),
            server: self.server,
            queued: self.queued,
            latency: self.started.elapsed(),
        });
    }
}
