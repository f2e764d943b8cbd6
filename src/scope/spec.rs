//! The fence's tenancy settings, checked once at connect: every rule reads them from here.

use super::error::{ScopeError, ScopeResult};
use super::namespace::{self, Namespace};
use super::shared::{self, Shared};
use super::{tenant_id, Principal, Scope, Strategy};

/// Which tenant ids a fence accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdRule {
    /// 1 to 64 characters of `[A-Za-z0-9_-]` (`tenant_id::check_default`).
    Default,
    /// The app's own `tenantIdPattern`, tested by the JS face (it owns the RegExp); Rust checks
    /// the hard rules (`tenant_id::check_hard`), which no pattern can lift.
    Custom,
}

/// Field, strategy, database and id rule of one fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// Top-level field holding the tenant id (default `tenantId`).
    pub field: String,
    pub strategy: Strategy,
    /// The database (under strategy 'database', the base of every tenant's database name).
    pub database: String,
    pub ids: IdRule,
    /// The collections every tenant reads and only runAsSystem writes (`scope::shared`).
    pub shared: Shared,
}

impl TenantSpec {
    /// Checks the settings as `connect` receives them (`strategy` as the JS option spells it).
    pub fn new(
        field: &str,
        strategy: &str,
        database: &str,
        ids: IdRule,
    ) -> ScopeResult<TenantSpec> {
        check_field(field)?;
        let strategy = Strategy::parse(strategy)?;
        check_database(database)?;
        Ok(TenantSpec {
            field: field.to_string(),
            strategy,
            database: database.to_string(),
            ids,
            shared: Shared::default(),
        })
    }

    /// The same settings with the `shared` option's collections.
    pub fn with_shared(self, names: &[String]) -> ScopeResult<TenantSpec> {
        Ok(TenantSpec { shared: shared::check_names(names)?, ..self })
    }

    /// The rules for one call of `principal` on collection `name`.
    pub fn scope_on(&self, principal: Principal, name: &str) -> Scope {
        Scope { shared: self.shared.on(name), ..self.scope(principal) }
    }

    /// The rules for one call of `principal` on no collection in particular.
    pub fn scope(&self, principal: Principal) -> Scope {
        Scope {
            field: self.field.clone(),
            strategy: self.strategy,
            principal,
            collation_guard: false,
            default_rule: self.ids == IdRule::Default,
            sharded: false,
            shared: self.shared.clone(),
        }
    }

    /// The database and collection `principal`'s call on collection `name` goes to.
    pub fn namespace(&self, principal: &Principal, name: &str) -> ScopeResult<Namespace> {
        namespace::resolve(self.strategy, &self.database, principal, name, self.shared.has(name))
    }

    /// The database `principal`'s calls go to (`namespace::database`).
    pub fn database_of(&self, principal: &Principal) -> ScopeResult<String> {
        namespace::database(self.strategy, &self.database, principal)
    }

    /// Checks a tenant id by this fence's rule.
    pub fn check_id(&self, id: &str) -> ScopeResult<()> {
        tenant_id::check(id, self.ids == IdRule::Default)
    }
}

impl Strategy {
    /// The strategy the option `strategy` names.
    pub fn parse(s: &str) -> ScopeResult<Strategy> {
        match s {
            "field" => Ok(Strategy::Field),
            "database" => Ok(Strategy::Database),
            _ => Err(ScopeError::argument("options.strategy must be 'field' or 'database'")),
        }
    }
}

/// The tenant field is one top-level name: a path (`a.b`) or an operator-looking name could be
/// shadowed or rewritten by a caller's document, and `_id` is the caller's to choose.
fn check_field(field: &str) -> ScopeResult<()> {
    if field.is_empty()
        || field.contains('.')
        || field.contains('$')
        || field.contains('\0')
        || field == "_id"
    {
        return Err(ScopeError::argument(
            "options.tenantField must be a top-level field name (no '.' or '$', not _id)",
        ));
    }
    Ok(())
}

/// A name MongoDB accepts for a database (its rule on every platform: no `/ \ . " $`, space or
/// NUL, under 64 bytes), without the tenant separator (`namespace::check_base`).
fn check_database(name: &str) -> ScopeResult<()> {
    const BAD: &[char] = &['/', '\\', '.', ' ', '"', '$', '\0'];
    if name.is_empty() || name.len() > 63 || name.contains(BAD) {
        return Err(ScopeError::argument("options.database must be a valid database name"));
    }
    namespace::check_base(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    #[test]
    fn settings_are_checked_once_here() {
        let ok = TenantSpec::new("tenantId", "field", "app", IdRule::Default).unwrap();
        assert_eq!(ok.strategy, Strategy::Field);
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", "field", "app", "tenantField"),
            ("a.b", "field", "app", "tenantField"),
            ("$t", "field", "app", "tenantField"),
            ("_id", "field", "app", "tenantField"),
            ("t\0", "field", "app", "tenantField"),
            ("t", "Field", "app", "strategy"),
            ("t", "", "app", "strategy"),
            ("t", "field", "", "database"),
            ("t", "field", "a.b", "database"),
            ("t", "field", "a b", "database"),
            ("t", "database", &"x".repeat(64), "database"),
            // 32 characters, 128 bytes: MongoDB counts bytes.
            ("t", "field", &"\u{1F600}".repeat(32), "database"),
            ("t", "database", "app~x", "must not contain '~'"),
        ];
        for (field, strategy, db, says) in cases {
            let e = TenantSpec::new(field, strategy, db, IdRule::Default).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{field} {strategy} {db}");
            assert!(e.message.contains(says), "{}: {field} {strategy} {db}", e.message);
        }
        assert!(TenantSpec::new("org", "database", &"x".repeat(63), IdRule::Custom).is_ok());
        // Valid for MongoDB on Linux: a connection string may name them.
        for ok in ["rt:x", "rt*x", "rt?x", "a|b<c>"] {
            assert!(TenantSpec::new("t", "field", ok, IdRule::Default).is_ok(), "{ok}");
        }
    }

    #[test]
    fn one_id_rule() {
        let d = TenantSpec::new("t", "field", "app", IdRule::Default).unwrap();
        let c = TenantSpec { ids: IdRule::Custom, ..d.clone() };
        assert!(d.check_id("acme-1").is_ok() && c.check_id("acme-1").is_ok());
        assert!(d.check_id("café").is_err() && c.check_id("café").is_ok());
        assert!(d.check_id("a$b").is_err() && c.check_id("a$b").is_err());
        assert!(
            d.scope(Principal::System).default_rule && !c.scope(Principal::System).default_rule
        );
    }
}
