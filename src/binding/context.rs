//! The tenant context object. Only Rust creates one, and only from a validated
//! id, so JS code cannot forge a context by building a look-alike object.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::scope::{tenant_id, Principal, ScopeError};
use napi_derive::napi;

use super::error::FenceError;

/// Whether a context's access has ended: its own callback settled, or that of a context it was
/// narrowed from (a `runAs` inside `runAsTenants` ends with the union).
#[derive(Debug, Default)]
pub struct Ended {
    me: AtomicBool,
    outer: Option<Arc<Ended>>,
}

impl Ended {
    /// A flag that is also set once `outer` is.
    fn within(outer: &Arc<Ended>) -> Arc<Ended> {
        Arc::new(Ended { me: AtomicBool::new(false), outer: Some(outer.clone()) })
    }

    /// True once this context, or one it was narrowed from, has ended.
    pub fn is_set(&self) -> bool {
        self.me.load(Ordering::Acquire) || self.outer.as_ref().is_some_and(|o| o.is_set())
    }

    fn set(&self) {
        self.me.store(true, Ordering::Release);
    }
}

/// Who the current async call chain runs as; carried by the JS AsyncLocalStorage.
#[napi]
pub struct TenantContext {
    pub(crate) principal: Principal,
    reason: Option<String>,
    /// The id follows the default rule (`IdRule::Default`), whichever rule admitted it: a
    /// fence with that rule accepts this context without asking again.
    default_rule: bool,
    /// Set when the `runAsSystem` / `runAsTenants` callback that made this context (or the one
    /// it was narrowed from) has settled: access ends with it, whoever still holds the context
    /// (cursors opened under it too).
    ended: Arc<Ended>,
    /// The tenants a context made inside `runAsTenants` stays within (`scope::tenants`): the
    /// union's ids, kept by every `runAs` / `runAsTenants` nested below it.
    limit: Option<Arc<[String]>>,
}

impl TenantContext {
    /// The principal a call under this context runs as, or why it may not run.
    pub(crate) fn admit(&self) -> Result<&Principal, ScopeError> {
        if self.ended.is_set() {
            return Err(ended());
        }
        Ok(&self.principal)
    }

    /// The flag `end()` sets, for a cursor to check before each batch it fetches.
    pub(crate) fn ended_flag(&self) -> Arc<Ended> {
        self.ended.clone()
    }

    /// The `runAsSystem` reason.
    pub(crate) fn audit_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// A system context for `runAsSystem`; the reason is required for the audit trail.
    pub(crate) fn system(reason: String) -> Result<TenantContext, ScopeError> {
        if reason.trim().is_empty() {
            return Err(ScopeError::argument("runAsSystem needs a non-empty `reason`"));
        }
        Ok(TenantContext {
            principal: Principal::System,
            reason: Some(reason),
            default_rule: true,
            ended: Arc::default(),
            limit: None,
        })
    }

    /// A context for `runAsTenants`: reads see the union of `ids` (checked by `scope::tenants`),
    /// every call audited by the fence that runs it, until `end()`.
    pub(crate) fn tenants(
        ids: &[String],
        default_rule: bool,
        reason: Option<String>,
    ) -> Result<TenantContext, ScopeError> {
        let ids = crate::scope::tenants::check_ids(ids, default_rule)?;
        Ok(TenantContext {
            principal: Principal::Tenants(ids.clone()),
            reason,
            default_rule,
            ended: Arc::default(),
            limit: Some(ids),
        })
    }

    /// Who this context runs as, for the isolation probe.
    pub(crate) fn tag(&self) -> super::probe::Tag {
        super::probe::Tag::new(self.principal.clone(), self.reason.clone())
    }
}

#[napi]
impl TenantContext {
    /// The tenant id, or undefined for a system context.
    #[napi(getter)]
    pub fn tenant_id(&self) -> Option<String> {
        match &self.principal {
            Principal::Tenant(t) => Some(t.clone()),
            Principal::Tenants(_) | Principal::System => None,
        }
    }

    /// The tenant ids of a `runAsTenants` context (sorted, no repeats); undefined otherwise.
    #[napi(getter)]
    pub fn tenant_ids(&self) -> Option<Vec<String>> {
        match &self.principal {
            Principal::Tenants(ids) => Some(ids.to_vec()),
            _ => None,
        }
    }

    /// Whether `runAs(tenantId)` may run inside this context (`scope::tenants::may_narrow`):
    /// inside runAsTenants only for one of its tenants.
    #[napi(getter)]
    pub fn limited(&self) -> bool {
        self.limit.is_some()
    }

    /// The context of `runAs(tenantId)` inside this one: within its limit (`scope::tenants::
    /// may_narrow`), ending when it ends. `default_rule` as for `createContext`.
    #[napi]
    pub fn narrow(&self, tenant_id: String, default_rule: bool) -> napi::Result<TenantContext> {
        let made = (|| {
            if self.ended.is_set() {
                return Err(ended());
            }
            crate::scope::tenants::may_narrow(
                self.limit.as_deref(),
                std::slice::from_ref(&tenant_id),
            )?;
            tenant_id::check(&tenant_id, default_rule)?;
            Ok(TenantContext {
                default_rule: tenant_id::check_default(&tenant_id).is_ok(),
                principal: Principal::Tenant(tenant_id),
                reason: None,
                ended: Ended::within(&self.ended),
                limit: self.limit.clone(),
            })
        })();
        Ok(made.map_err(FenceError::from)?)
    }

    /// The context of `runAsTenants(tenantIds)` inside this one: its ids within this one's
    /// limit, ending when it or this one ends.
    #[napi]
    pub fn narrow_tenants(
        &self,
        tenant_ids: Vec<String>,
        default_rule: bool,
        reason: Option<String>,
    ) -> napi::Result<TenantContext> {
        let made = (|| {
            if self.ended.is_set() {
                return Err(ended());
            }
            crate::scope::tenants::may_narrow(self.limit.as_deref(), &tenant_ids)?;
            let mut ctx = TenantContext::tenants(&tenant_ids, default_rule, reason)?;
            ctx.ended = Ended::within(&self.ended);
            Ok(ctx)
        })();
        Ok(made.map_err(FenceError::from)?)
    }

    /// True when the tenant id follows the default id rule (true for a system context).
    #[napi(getter)]
    pub fn follows_default_rule(&self) -> bool {
        self.default_rule
    }

    /// True inside `runAsSystem`.
    #[napi(getter)]
    pub fn is_system(&self) -> bool {
        self.principal == Principal::System
    }

    /// The audit reason given to `runAsSystem`.
    #[napi(getter)]
    pub fn reason(&self) -> Option<String> {
        self.reason.clone()
    }

    /// Ends a system or multi-tenant context (its `runAsSystem` / `runAsTenants` callback
    /// settled); later calls under it are refused. Single-tenant contexts do not end.
    #[napi]
    pub fn end(&self) {
        if crate::scope::tenants::ends_with_callback(&self.principal) {
            self.ended.set();
        }
    }

    /// True once `end()` ran.
    #[napi(getter)]
    pub fn ended(&self) -> bool {
        self.ended.is_set()
    }
}

/// The refusal of a call, or of a cursor's next batch, under a system context that has ended.
pub(crate) fn ended() -> ScopeError {
    ScopeError::missing(
        "this runAsSystem (or runAsTenants) context has ended: its access ends when its callback settles",
    )
}

/// Makes a tenant context; `default_rule` applies the built-in id rule (the JS face
/// checks a custom `tenantIdPattern` first, the hard rules apply regardless).
#[napi]
pub fn create_context(tenant_id: String, default_rule: bool) -> napi::Result<TenantContext> {
    let checked = tenant_id::check(&tenant_id, default_rule);
    checked.map_err(FenceError::from)?;
    Ok(TenantContext {
        default_rule: tenant_id::check_default(&tenant_id).is_ok(),
        principal: Principal::Tenant(tenant_id),
        reason: None,
        ended: Arc::default(),
        limit: None,
    })
}

/// Makes a `runAsTenants` context over `tenant_ids` (each by the default rule when
/// `default_rule`, else the hard rules after the JS face's pattern); `reason` goes to the audit hook.
#[napi]
pub fn create_tenants_context(
    tenant_ids: Vec<String>,
    default_rule: bool,
    reason: Option<String>,
) -> napi::Result<TenantContext> {
    Ok(TenantContext::tenants(&tenant_ids, default_rule, reason).map_err(FenceError::from)?)
}
