//! The tenant context object. Only Rust creates one, and only from a validated
//! id, so JS code cannot forge a context by building a look-alike object.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::scope::{tenant_id, Principal, ScopeError};
use napi_derive::napi;

use super::error::FenceError;

/// Who the current async call chain runs as; carried by the JS AsyncLocalStorage.
#[napi]
pub struct TenantContext {
    pub(crate) principal: Principal,
    reason: Option<String>,
    /// The id follows the default rule (`IdRule::Default`), whichever rule admitted it: a
    /// fence with that rule accepts this context without asking again.
    default_rule: bool,
    /// Set when the `runAsSystem` callback that made this system context has settled:
    /// system access ends with it, whoever still holds the context (cursors opened under it too).
    ended: Arc<AtomicBool>,
}

impl TenantContext {
    /// The principal a call under this context runs as, or why it may not run.
    pub(crate) fn admit(&self) -> Result<&Principal, ScopeError> {
        if self.ended.load(Ordering::Acquire) {
            return Err(ended());
        }
        Ok(&self.principal)
    }

    /// The flag `end()` sets, for a cursor to check before each batch it fetches.
    pub(crate) fn ended_flag(&self) -> Arc<AtomicBool> {
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
            ended: Arc::new(AtomicBool::new(false)),
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
            principal: Principal::Tenants(ids),
            reason,
            default_rule,
            ended: Arc::new(AtomicBool::new(false)),
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
    #[napi]
    pub fn may_narrow(&self, tenant_id: String) -> napi::Result<()> {
        crate::scope::tenants::may_narrow(Some(&self.principal), &tenant_id)
            .map_err(|e| FenceError::from(e).into())
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
            self.ended.store(true, Ordering::Release);
        }
    }

    /// True once `end()` ran.
    #[napi(getter)]
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
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
        ended: Arc::new(AtomicBool::new(false)),
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
