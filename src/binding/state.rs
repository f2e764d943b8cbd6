//! What one connected fence holds: its settings, its client, and the caches and lanes its
//! calls share. Every binding module reads it; it depends on none of them but the lanes.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mongodb::Client;

use super::context::TenantContext;
use super::error::{FenceError, FenceResult};
use super::lanes::{id_lookup, insert, Lanes};
use super::probe::{Recorder, Tag};
use super::quota::Quotas;
use crate::scope::bounds::IndexFact;
use crate::scope::facts::Known;
use crate::scope::spec::TenantSpec;

/// A fence's cache of something per (database, collection).
pub type PerCollection<T> = Mutex<HashMap<(String, String), T>>;

/// Settings and the client, shared by every in-flight call.
pub struct FenceInner {
    /// Unique in the process: part of every share key, so two fences never share a command.
    pub id: u64,
    pub client: Mutex<Option<Client>>,
    /// Field, strategy, database and id rule, checked once at connect.
    pub spec: TenantSpec,
    /// Connected through a mongos (`hello` said `isdbgrid`): collections may be sharded.
    pub mongos: bool,
    /// The server's `maxWireVersion` at connect (25 is MongoDB 8.0), for options newer servers take.
    pub max_wire_version: i32,
    /// Collections known to exist, with whether their default collation is non-simple.
    pub default_collation: PerCollection<Known>,
    /// Bumped by every change the fence makes to a collection (`Target::forget_facts`): a lookup
    /// that began before one caches nothing, so it cannot undo the forgetting.
    pub facts_epoch: std::sync::atomic::AtomicU64,
    /// Per collection, held around a tenant's twin check and index build (`indexes::create_index`).
    pub index_builds: PerCollection<Arc<tokio::sync::Mutex<()>>>,
    /// Each collection's indexes as `scope::bounds` reads them, and when they were listed.
    pub index_facts: PerCollection<(Instant, Arc<Vec<IndexFact>>)>,
    /// Set once the server refused `distinct.hint` (before 7.1): tenants' distincts then run
    /// as aggregations (`scope::distinct`).
    pub distinct_as_aggregate: AtomicBool,
    /// Audited commands for the isolation probe; `None` unless connected with monitoring.
    pub recorder: Option<Arc<Recorder>>,
    /// Queued `findOne({_id})` calls per share key (`lanes::id_lookup`).
    pub id_lanes: Arc<Lanes<id_lookup::Waiter>>,
    /// Queued plain `insertOne` calls per share key (`lanes::insert`).
    pub insert_lanes: Arc<Lanes<insert::Waiter>>,
    /// Each tenant's quota gate (`quota`), passed before a call is sent.
    pub quotas: Quotas,
    /// Per-tenant call metrics (`meter`); `None` when connected with `metrics: false`.
    pub metrics: Option<Arc<crate::telemetry::Metrics>>,
}

impl FenceInner {
    /// The live client, or an error once `close()` ran.
    pub fn client(&self) -> FenceResult<Client> {
        self.client.lock().map_err(|_| FenceError::Closed)?.clone().ok_or(FenceError::Closed)
    }

    /// The task-local tag for an operation under `ctx`, only while monitoring.
    pub fn tag(&self, ctx: Option<&TenantContext>) -> Option<Tag> {
        self.recorder.as_ref()?;
        ctx.map(TenantContext::tag)
    }
}
