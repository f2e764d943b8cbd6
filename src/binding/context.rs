//! The tenant context object. Only Rust creates one, and only from a validated
//! id, so JS code cannot forge a context by building a look-alike object.

use crate::scope::{tenant_id, Principal};
use napi_derive::napi;

use super::error::FenceError;

/// Who the current async call chain runs as; carried by the JS AsyncLocalStorage.
#[napi]
pub struct TenantContext {
    pub(crate) principal: Principal,
    reason: Option<String>,
}

impl TenantContext {
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
            Principal::System => None,
        }
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
}

/// Makes a tenant context; `default_rule` applies the built-in id rule (the JS face
/// checks a custom `tenantIdPattern` first, the hard rules apply regardless).
#[napi]
pub fn create_context(tenant_id: String, default_rule: bool) -> napi::Result<TenantContext> {
    let checked = if default_rule {
        tenant_id::check_default(&tenant_id)
    } else {
        tenant_id::check_hard(&tenant_id)
    };
    checked.map_err(FenceError::from)?;
    Ok(TenantContext { principal: Principal::Tenant(tenant_id), reason: None })
}

/// Makes a system (scoping lifted) context; the reason is required for the audit trail.
#[napi]
pub fn create_system_context(reason: String) -> napi::Result<TenantContext> {
    if reason.trim().is_empty() {
        return Err(super::error::arg("runAsSystem needs a non-empty `reason`").into());
    }
    Ok(TenantContext { principal: Principal::System, reason: Some(reason) })
}
