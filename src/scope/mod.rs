//! The tenant rules, pure: no napi, no tokio, no client. Every scoped collection
//! method runs its arguments through here before one driver call.

pub mod admin;
pub mod bounds;
pub mod bulk;
pub mod by_id;
pub mod change_stream;
pub mod collation;
pub mod cursor_owners;
pub mod distinct;
pub mod error;
pub mod expr_guard;
pub mod facts;
pub mod filter;
pub mod forbidden;
pub mod indexes;
pub mod insert;
pub mod namespace;
pub mod option_rules;
pub mod pipeline;
pub mod plan;
pub mod quota;
pub mod session;
pub mod share;
pub mod spec;
pub mod tenant_id;
pub mod update;
pub mod verdict;
pub mod walk;
pub mod withhold;
pub mod write;

#[cfg(test)]
mod properties;

pub use error::{ErrorKind, ScopeError, ScopeResult};

/// How tenants are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Shared collections; every document carries the tenant field.
    Field,
    /// One database per tenant (`<database>_<tenantId>`); documents are not stamped.
    Database,
}

/// Who a call runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A validated tenant id.
    Tenant(String),
    /// `runAsSystem`: scoping lifted, writes must still name a valid tenant.
    System,
}

/// Everything the rules need to know about one call.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Top-level field holding the tenant id (default `tenantId`).
    pub field: String,
    pub strategy: Strategy,
    pub principal: Principal,
    /// True when a non-simple collation may be in effect for the main collection
    /// (explicit option or the collection's default): the tenant match then gets a
    /// collation-proof `$regex` twin so no collation can equate two tenant ids.
    pub collation_guard: bool,
    /// True when tenant ids follow the default rule (1-64 of `[A-Za-z0-9_-]`); with a
    /// custom JS pattern only the hard rules can be checked here.
    pub default_rule: bool,
    /// The collection is sharded (`facts::Known::sharded`): every command keeps one tenant in
    /// its filter and shares only within that tenant, so the router targets one shard.
    pub sharded: bool,
}

#[cfg(test)]
impl Scope {
    /// A scope on `tenantId` without collation guard, default id rule: what unit tests start from.
    pub fn for_test(principal: Principal, strategy: Strategy) -> Scope {
        Scope {
            field: "tenantId".into(),
            strategy,
            principal,
            collation_guard: false,
            default_rule: true,
            sharded: false,
        }
    }
}

impl Scope {
    /// Checks a tenant id that a system write names, by the fence's id rule.
    pub fn check_id(&self, id: &str) -> ScopeResult<()> {
        tenant_id::check(id, self.default_rule)
    }

    /// The tenant id when this call runs as a tenant, `None` under `runAsSystem`.
    pub fn tenant(&self) -> Option<&str> {
        match &self.principal {
            Principal::Tenant(t) => Some(t),
            Principal::System => None,
        }
    }

    /// True when `path` names the tenant field or something inside it
    /// (`tenantId`, `tenantId.x`, `tenantId.$`): its first dot-segment is the field.
    pub fn touches(&self, path: &str) -> bool {
        path_in(path, &self.field)
    }
}

/// True when `path` is `field` or a path inside it (`f`, `f.x`, `f.$`): its first dot-segment
/// is `field`. The one spelling of "this path reaches that field" every rule uses.
pub fn path_in(path: &str, field: &str) -> bool {
    path.split('.').next() == Some(field)
}
