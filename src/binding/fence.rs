//! The native fence: one driver client, the tenancy settings, and the two entry
//! points every scoped call goes through (`run` and `openCursor`).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use mongodb::options::ClientOptions;
use mongodb::Client;
use napi::bindgen_prelude::{Buffer, Function, FunctionRef, PromiseRaw};
use napi::Env;
use napi_derive::napi;

use super::context::TenantContext;
use super::cursor::NativeCursor;
use super::dispatch;
use super::error::{arg, FenceError, FenceResult};
use super::lanes::{id_lookup, insert};
use super::meter::{Meter, Owner};
use super::payload::Request;
use super::probe::{self, Recorder};
use super::quota::{CallCancel, GiveUp, QuotaLimits, Quotas};
use super::reply::Reply;
use super::session::NativeSession;
use super::settle::spawn;
use super::state::FenceInner;
use super::stream::NativeChangeStream;
use crate::scope::admin::AdminOp;
use crate::scope::plan::Operation;
use crate::scope::spec::{IdRule, TenantSpec};
use crate::scope::{Principal, ScopeError};

static NEXT_FENCE: AtomicU64 = AtomicU64::new(1);

/// The audit hook as the JS face hands it over: `(reason, collection, operation, target,
/// tenants)` (`tenants` for a `runAsTenants` call).
type AuditArgs = (String, String, String, Option<String>, Option<Vec<String>>);
type AuditHook = FunctionRef<AuditArgs, ()>;

/// A connected fence; JS wraps it in `TenantFence`.
#[napi]
pub struct NativeFence {
    inner: Arc<FenceInner>,
    /// `onSystemAccess`, called here, in Rust, before every system call of this fence.
    hook: Option<AuditHook>,
    /// `resumeTokenKey`: binds this fence's change stream resume tokens (`stream::process_key`
    /// when none is set).
    token_key: std::sync::OnceLock<Arc<Vec<u8>>>,
}

fn principal_of(ctx: Option<&TenantContext>) -> FenceResult<Principal> {
    match ctx {
        Some(c) => Ok(c.admit()?.clone()),
        None => Err(ScopeError::missing(
            "no tenant in context: call inside fence.runAs(), the middleware, or runAsSystem()",
        )
        .into()),
    }
}

impl Drop for NativeFence {
    fn drop(&mut self) {
        // A fence garbage-collected without close(): shut its client down off the JS thread.
        if let Some(client) = self.inner.client.lock().ok().and_then(|mut c| c.take()) {
            super::runtime::drop_outside_js(client);
        }
    }
}

#[napi]
impl NativeFence {
    /// Connects and pings, so an unreachable server fails here with a clear error.
    // The connect options, one argument each, as the JS face checked them.
    #[allow(clippy::too_many_arguments)]
    #[napi(factory)]
    pub async fn connect(
        uri: String,
        database: Option<String>,
        tenant_field: String,
        strategy: String,
        default_rule: bool,
        monitor_commands: Option<bool>,
        metrics_limit: Option<u32>,
        shared: Option<Vec<String>>,
    ) -> napi::Result<NativeFence> {
        let fut = async move {
            let ids = if default_rule { IdRule::Default } else { IdRule::Custom };
            // Checked before anything is parsed or dialled; the database again once the URI
            // may have named it.
            let given = database.as_deref().unwrap_or("test");
            TenantSpec::new(&tenant_field, &strategy, given, ids)?
                .with_shared(shared.as_deref().unwrap_or_default())?;
            let mut opts = ClientOptions::parse(&uri).await.map_err(|e| match *e.kind {
                // A malformed string is a bad argument; SRV lookups and the like stay driver errors.
                mongodb::error::ErrorKind::InvalidArgument { message, .. } => {
                    arg(format!("uri is not a valid MongoDB connection string: {message}"))
                }
                _ => FenceError::Mongo(e),
            })?;
            if opts.app_name.is_none() {
                opts.app_name = Some("tenantfence".into());
            }
            if opts.max_pool_size.is_none() {
                opts.max_pool_size = Some(100);
            }
            let from_uri = database.is_none();
            let database = database
                .or_else(|| opts.default_database.clone())
                .unwrap_or_else(|| "test".to_string());
            // Field and strategy passed above: only the database, maybe the URI's, can fail here.
            let spec = TenantSpec::new(&tenant_field, &strategy, &database, ids)
                .map_err(|e| {
                    if !from_uri {
                        return e;
                    }
                    ScopeError::argument(format!(
                        "the connection string names the database {database:?}: {}",
                        e.message
                    ))
                })?
                .with_shared(shared.as_deref().unwrap_or_default())?;
            let timeout = opts.server_selection_timeout.unwrap_or(Duration::from_secs(30));
            let recorder = monitor_commands.unwrap_or(false).then(|| Recorder::new(spec.clone()));
            opts.command_event_handler = recorder.as_ref().map(|r| r.handler());
            let client = Client::with_options(opts)?;
            let admin = client.database("admin");
            let hello = admin.run_command(bson::doc! { "hello": 1 });
            let (mongos, max_wire_version) = match tokio::time::timeout(
                timeout + Duration::from_secs(2),
                hello,
            )
            .await
            {
                Ok(r) => {
                    let r = r?;
                    let wire = match r.get("maxWireVersion") {
                        Some(bson::Bson::Int32(n)) => *n,
                        Some(bson::Bson::Int64(n)) => *n as i32,
                        _ => 0,
                    };
                    (r.get_str("msg") == Ok("isdbgrid"), wire)
                }
                Err(_) => {
                    return Err(FenceError::Server(serde_json::json!({
                        "name": "MongoServerSelectionError",
                        "message": format!("could not reach MongoDB within {} ms", timeout.as_millis())
                    })))
                }
            };
            Ok(NativeFence {
                hook: None,
                token_key: std::sync::OnceLock::new(),
                inner: Arc::new(FenceInner {
                    id: NEXT_FENCE.fetch_add(1, Ordering::Relaxed),
                    client: Mutex::new(Some(client)),
                    spec,
                    mongos,
                    max_wire_version,
                    default_collation: Mutex::new(HashMap::new()),
                    facts_epoch: AtomicU64::new(0),
                    index_builds: Mutex::new(HashMap::new()),
                    index_facts: Mutex::new(HashMap::new()),
                    distinct_as_aggregate: AtomicBool::new(false),
                    recorder,
                    id_lanes: id_lookup::lanes(),
                    insert_lanes: insert::lanes(),
                    quotas: Quotas::new(),
                    // 0 turns metrics off; the default keeps 100 tenants' series.
                    metrics: match metrics_limit.unwrap_or(100) {
                        0 => None,
                        n => Some(Arc::new(crate::telemetry::Metrics::new(n as usize))),
                    },
                }),
            })
        };
        super::runtime::remember();
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(r) => r.map_err(napi::Error::from),
            Err(_) => Err(FenceError::Internal("connect panicked and was stopped").into()),
        }
    }

    /// Sets the audit hook every system call of this fence must pass; a hook that throws
    /// refuses the call with its error.
    #[napi]
    pub fn set_audit_hook(&mut self, hook: Function<AuditArgs, ()>) -> napi::Result<()> {
        // Once, at connect: code that later gets hold of the fence cannot swap it out.
        if self.hook.is_some() {
            return Err(
                FenceError::from(ScopeError::violation("the audit hook is already set")).into()
            );
        }
        self.hook = Some(hook.create_ref()?);
        Ok(())
    }

    /// Sets the limits of every tenant a call brings none for (`quotas` at connect); once.
    #[napi]
    pub fn set_quotas(&self, limits: &QuotaLimits) -> napi::Result<()> {
        if !self.inner.quotas.set_default(limits.limits) {
            return Err(
                FenceError::from(ScopeError::violation("the quotas are already set")).into()
            );
        }
        Ok(())
    }

    /// A context for `runAsSystem`: scoping lifted, every call audited by the fence that runs
    /// it, until `end()`. Only a fence makes one.
    #[napi]
    pub fn system_context(&self, reason: String) -> napi::Result<TenantContext> {
        Ok(TenantContext::system(reason).map_err(FenceError::from)?)
    }

    /// Who a call under `ctx` runs as: a system call first passes the audit hook here, so no
    /// JS label can skip it. A refused hook's own error is the call's error.
    fn admit(
        &self,
        env: &Env,
        ctx: Option<&TenantContext>,
        collection: &str,
        op: &str,
        target: Option<String>,
    ) -> napi::Result<FenceResult<Principal>> {
        let principal = principal_of(ctx);
        let Some(tenants) = principal.as_ref().ok().and_then(crate::scope::tenants::audited) else {
            return Ok(principal);
        };
        let tenants = tenants.map(<[String]>::to_vec);
        if let (Some(hook), Some(c)) = (&self.hook, ctx) {
            let reason = c.audit_reason().unwrap_or_default().to_string();
            hook.borrow_back(env)?.call((
                reason,
                collection.to_string(),
                op.to_string(),
                target,
                tenants,
            ))?;
        }
        Ok(principal)
    }

    /// The database this fence uses (the base name under strategy 'database').
    #[napi(getter)]
    pub fn database(&self) -> String {
        self.inner.spec.database.clone()
    }

    /// The database tenant `tenant_id`'s collections live in (the base under strategy 'field').
    #[napi]
    pub fn database_for(&self, tenant_id: String) -> napi::Result<String> {
        let spec = &self.inner.spec;
        spec.check_id(&tenant_id).map_err(FenceError::from)?;
        let principal = Principal::Tenant(tenant_id);
        let ns = spec.namespace(&principal, "c").map_err(FenceError::from)?;
        Ok(ns.database)
    }

    /// Runs one scoped collection method; `payload` is the BSON request, the reply is BSON `{v}`.
    // One napi call per method: its arguments are the call, not a struct JS would have to build.
    #[allow(clippy::too_many_arguments)]
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn run<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
        collection: String,
        op: String,
        payload: &[u8],
        refused_id: Option<String>,
        session: Option<&NativeSession>,
        quota: Option<&QuotaLimits>,
        cancel: Option<&CallCancel>,
    ) -> napi::Result<PromiseRaw<'e, Reply>> {
        // A rename names a second collection (which `dropTarget` replaces): the hook sees it.
        let target = (op == "rename")
            .then(|| {
                bson::RawDocument::from_bytes(payload).ok()?.get_str("to").ok().map(str::to_string)
            })
            .flatten();
        let principal = self.admit(env, ctx, &collection, &op, target)?;
        let owner = Owner::of(&principal);
        // A system write naming an id the fence's custom pattern refuses (checked in JS, which
        // owns the RegExp): refused after the hook, which sees every system call first.
        let principal = match refused_id {
            Some(id) => Err(FenceError::from(ScopeError::invalid(format!(
                "tenant id {id:?} is not valid for this fence"
            )))),
            None => principal,
        };
        let inner = self.inner.clone();
        let tag = inner.tag(ctx);
        let bytes = payload.to_vec();
        let session = session.map(NativeSession::use_now);
        let gate = (quota.map(|q| q.limits), cancel.map(GiveUp::of));
        let meter = Meter::start(&inner.metrics, owner, bytes.len());
        spawn(env, move || {
            probe::within(tag, async move {
                let mut meter = meter;
                let out =
                    call(inner, principal, collection, &op, bytes, session, gate, meter.as_mut())
                        .await;
                if let Some(m) = meter {
                    m.finish(&op, &out, out.as_ref().ok().map(|r| r.0.as_slice()), None);
                }
                out
            })
        })
    }

    /// Opens a `find` or `aggregate` cursor bound to the context it was given.
    // One napi call per cursor: its arguments are the call, as `run`'s are.
    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn open_cursor<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
        collection: String,
        kind: String,
        payload: &[u8],
        session: Option<&NativeSession>,
        quota: Option<&QuotaLimits>,
        cancel: Option<&CallCancel>,
    ) -> napi::Result<PromiseRaw<'e, NativeCursor>> {
        let principal = self.admit(env, ctx, &collection, &kind, None)?;
        let owner = Owner::of(&principal);
        let inner = self.inner.clone();
        let tag = inner.tag(ctx);
        let ended = ctx.map(TenantContext::ended_flag).unwrap_or_default();
        let bytes = payload.to_vec();
        let session = session.map(NativeSession::use_now);
        let own = quota.map(|q| q.limits);
        let give_up = cancel.map(GiveUp::of);
        let meter = Meter::start(&inner.metrics, owner.clone(), bytes.len());
        let batches = inner.metrics.clone().map(|m| (m, owner));
        spawn(env, move || {
            probe::within(tag.clone(), async move {
                let mut meter = meter;
                let opened = async {
                    let principal = principal?;
                    if let Some(s) = &session {
                        s.admit(inner.id, &principal)?;
                    }
                    let pass = inner.quotas.admit_unless(&principal, own, give_up).await?;
                    let sent = Instant::now();
                    if let Some(m) = meter.as_mut() {
                        m.queued = pass.queued;
                    }
                    let mut req = Request::decode(&bytes, Some(&inner.spec.field))?;
                    req.cap_max_time(pass.limits.as_ref());
                    crate::scope::forbidden::check_request(&principal, &req.0)?;
                    let cursor = super::reads::open_cursor(
                        inner, principal, collection, &kind, req, session,
                    )
                    .await;
                    if let Some(m) = meter.as_mut() {
                        m.server = sent.elapsed();
                    }
                    cursor
                }
                .await;
                if let Some(m) = meter {
                    m.finish(&kind, &opened, None, None);
                }
                Ok(NativeCursor::new(opened?, tag, ended, batches))
            })
        })
    }

    /// Sets the key that binds this fence's resume tokens (`resumeTokenKey` at connect); once.
    #[napi]
    pub fn set_resume_token_key(&self, key: Buffer) -> napi::Result<()> {
        let key =
            crate::scope::change_stream::key_from(Some(&key), [0; 32]).map_err(FenceError::from)?;
        self.token_key.set(Arc::new(key)).map_err(|_| {
            FenceError::from(ScopeError::violation("the resume token key is already set")).into()
        })
    }

    /// Opens a change stream (`collection.watch`) bound to the context it was given, past the
    /// audit hook, the quota gate and the meter as every call.
    #[napi(ts_return_type = "Promise<NativeChangeStream>")]
    pub fn watch<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
        collection: String,
        payload: &[u8],
        quota: Option<&QuotaLimits>,
        cancel: Option<&CallCancel>,
    ) -> napi::Result<PromiseRaw<'e, NativeChangeStream>> {
        let principal = self.admit(env, ctx, &collection, "watch", None)?;
        let owner = Owner::of(&principal);
        let inner = self.inner.clone();
        let tag = inner.tag(ctx);
        let ended = ctx.map(TenantContext::ended_flag).unwrap_or_default();
        let bytes = payload.to_vec();
        let own = quota.map(|q| q.limits);
        let give_up = cancel.map(GiveUp::of);
        let key = self.token_key.get().cloned().unwrap_or_else(super::stream::process_key);
        let meter = Meter::start(&inner.metrics, owner.clone(), bytes.len());
        let events = inner.metrics.clone().map(|m| (m, owner));
        spawn(env, move || {
            probe::within(tag.clone(), async move {
                let mut meter = meter;
                let opened = async {
                    let principal = principal?;
                    let pass = inner.quotas.admit_unless(&principal, own, give_up).await?;
                    let sent = Instant::now();
                    if let Some(m) = meter.as_mut() {
                        m.queued = pass.queued;
                    }
                    let req = Request::decode(&bytes, Some(&inner.spec.field))?;
                    crate::scope::forbidden::check_request(&principal, &req.0)?;
                    let opened = super::stream::open(inner, principal, collection, req, &key).await;
                    if let Some(m) = meter.as_mut() {
                        m.server = sent.elapsed();
                    }
                    opened
                }
                .await;
                if let Some(m) = meter {
                    m.finish("watch", &opened, None, None);
                }
                Ok(NativeChangeStream::new(opened?, key, tag, ended, events))
            })
        })
    }

    /// Starts a driver session with the BSON `options` (`causalConsistency`,
    /// `defaultTransactionOptions`). Started under a context, it belongs to that context's
    /// principal; otherwise to the first that uses it (`scope::session`).
    #[napi(ts_return_type = "Promise<NativeSession>")]
    pub fn start_session<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
        options: &[u8],
    ) -> napi::Result<PromiseRaw<'e, NativeSession>> {
        let owner = ctx.map(|c| principal_of(Some(c))).transpose();
        let inner = self.inner.clone();
        let raw = super::payload::document(options);
        spawn(env, move || async move {
            let owner = owner?;
            let raw = raw.map_err(|e| arg(format!("options: {e}")))?;
            let opts = super::session::session_options(raw)?;
            let s = inner.client()?.start_session().with_options(opts).await?;
            Ok(NativeSession::new(inner.id, s, owner))
        })
    }

    /// Every tenant id the BSON request of a write could store (`scope::write::stored_tenant_ids`),
    /// for the JS face to test with a custom `tenantIdPattern`.
    /// Never fails: a request it cannot read is refused by the call itself, after the hook.
    #[napi]
    pub fn stored_tenant_ids(&self, payload: &[u8]) -> Vec<String> {
        match bson::RawDocument::from_bytes(payload) {
            Ok(raw) => crate::scope::write::stored_tenant_ids(&self.inner.spec.field, raw),
            Err(_) => Vec::new(),
        }
    }

    /// True when this fence records its commands for the isolation probe.
    #[napi(getter)]
    pub fn monitoring(&self) -> bool {
        self.inner.recorder.is_some()
    }

    /// The audited commands since the last call, as BSON `{records, dropped, droppedViolations}`;
    /// null when the fence does not monitor commands.
    #[napi]
    pub fn drain_commands(&self) -> Option<Buffer> {
        self.inner.recorder.as_ref().map(|r| Buffer::from(r.drain()))
    }

    /// The metrics as JSON text (`telemetry` snapshot), or Prometheus text; null when off.
    /// Refused in a tenant's context: they count every tenant's calls (`scope::admin`).
    #[napi]
    pub fn metrics(
        &self,
        ctx: Option<&TenantContext>,
        prometheus: bool,
    ) -> napi::Result<Option<String>> {
        let principal = ctx.map(|c| c.admit().cloned()).transpose().map_err(FenceError::from)?;
        crate::scope::admin::may_read_metrics(principal.as_ref()).map_err(FenceError::from)?;
        Ok(self.inner.metrics.as_ref().map(|m| {
            if prometheus {
                m.prometheus()
            } else {
                m.snapshot_json()
            }
        }))
    }

    /// Forgets every metric (a fresh `since`); refused in a tenant's context.
    #[napi]
    pub fn reset_metrics(&self, ctx: Option<&TenantContext>) -> napi::Result<()> {
        let principal = ctx.map(|c| c.admit().cloned()).transpose().map_err(FenceError::from)?;
        crate::scope::admin::may_read_metrics(principal.as_ref()).map_err(FenceError::from)?;
        if let Some(m) = &self.inner.metrics {
            m.reset();
        }
        Ok(())
    }

    /// Calls queued behind a shared command in flight (`lanes`), for tests that hold a lane.
    #[napi]
    pub fn queued_calls(&self) -> u32 {
        (self.inner.id_lanes.queued() + self.inner.insert_lanes.queued()) as u32
    }

    /// Closes the client; in-flight and later calls fail with a clear error.
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let client = self.inner.client.lock().ok().and_then(|mut c| c.take());
        spawn(env, move || async move {
            if let Some(c) = client {
                c.shutdown().immediate(true).await;
            }
            Ok(())
        })
    }
}

/// One scoped call past the audit hook: its session's owner check, the quota gate, then the
/// method; `meter` learns how long it waited and how long the driver took.
#[allow(clippy::too_many_arguments)]
async fn call(
    inner: Arc<FenceInner>,
    principal: FenceResult<Principal>,
    collection: String,
    op: &str,
    bytes: Vec<u8>,
    session: Option<super::session::SessionUse>,
    (own, give_up): (Option<crate::scope::quota::Limits>, Option<GiveUp>),
    meter: Option<&mut Meter>,
) -> FenceResult<Reply> {
    let principal = principal?;
    if let Some(s) = &session {
        s.admit(inner.id, &principal)?;
    }
    let pass = inner.quotas.admit_unless(&principal, own, give_up).await?;
    let sent = Instant::now();
    let out = if let Some(admin) = AdminOp::parse(op) {
        super::admin::execute(inner, principal, collection, admin, bytes, session).await
    } else {
        let op = Operation::parse(op)?;
        dispatch::execute(inner, principal, collection, op, bytes, session, pass.limits).await
    };
    if let Some(m) = meter {
        m.queued = pass.queued;
        m.server = sent.elapsed();
    }
    out.map(Reply)
}
