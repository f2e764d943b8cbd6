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
pub mod shared;
pub mod spec;
pub mod tenant_id;
pub mod tenants;
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
    /// `runAsTenants`: reads see the union of these validated ids (sorted, no repeats); every
    /// write is refused (`scope::tenants`).
    Tenants(std::sync::Arc<[String]>),
    /// `runAsSystem`: scoping lifted, writes must still name a valid tenant.
    System,
}

/// Whose documents a call may see: one tenant's, or (`runAsTenants`) several tenants'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> Owners<'a> {
    /// The match value of the tenant field: `t`, or `{$in: [ids]}`.
    pub fn equality(self) -> bson::Bson {
        match self {
            Owners::One(t) => bson::Bson::String(t.to_string()),
            Owners::Many(ids) => bson::Bson::Document(bson::doc! { "$in": ids.to_vec() }),
        }
    }

    /// The ids, one or several.
    pub fn to_vec(self) -> Vec<String> {
        match self {
            Owners::One(t) => vec![t.to_string()],
            Owners::Many(ids) => ids.to_vec(),
        }
    }

    /// True when `id` is one of the owners.
    pub fn has(self, id: &str) -> bool {
        match self {
            Owners::One(t) => t == id,
            Owners::Many(ids) => ids.iter().any(|x| x == id),
        }
    }

    /// The anchored pattern matching exactly the owners' ids (`^id\z`, or `^(?:a|b)\z`).
    pub fn exact_pattern(self) -> String {
        match self {
            Owners::One(t) => tenant_id::exact_pattern(t),
            Owners::Many(ids) => {
                let alts: Vec<String> = ids.iter().map(|i| tenant_id::escape_regex(i)).collect();
                format!("^(?:{})\\z", alts.join("|"))
            }
        }
    }

    /// Each id re-checked by the hard rule: a bad one here would scope to the wrong thing.
    pub fn check_hard(self) -> ScopeResult<()> {
        match self {
            Owners::One(t) => tenant_id::check_hard(t),
            Owners::Many(ids) => ids.iter().try_for_each(|i| tenant_id::check_hard(i)),
        }
    }
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
    /// The fence's shared collections, and whether this call's collection is one (`scope::shared`).
    pub shared: shared::Shared,
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
            shared: shared::Shared::default(),
        }
    }
}

impl Scope {
    /// Checks a tenant id that a system write names, by the fence's id rule.
    pub fn check_id(&self, id: &str) -> ScopeResult<()> {
        tenant_id::check(id, self.default_rule)
    }

    /// The tenant id when this call runs as one tenant; `None` under `runAsSystem` or
    /// `runAsTenants`.
    pub fn tenant(&self) -> Option<&str> {
        match &self.principal {
            Principal::Tenant(t) => Some(t),
            Principal::Tenants(_) | Principal::System => None,
        }
    }

    /// Whose documents the call may see: `None` under `runAsSystem`.
    pub fn owners(&self) -> Option<Owners<'_>> {
        match &self.principal {
            Principal::Tenant(t) => Some(Owners::One(t)),
            Principal::Tenants(ids) => Some(Owners::Many(ids)),
            Principal::System => None,
        }
    }

    /// True under `runAsSystem`.
    pub fn is_system(&self) -> bool {
        self.principal == Principal::System
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
