//! Where a call goes: the database and collection a principal's call is sent to.

use super::error::{ScopeError, ScopeResult};
use super::{Principal, Strategy};

/// The full namespace of one call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    pub database: String,
    pub collection: String,
}

/// The namespace `principal`'s call on collection `name` goes to, or why it may not go anywhere.
pub fn resolve(
    strategy: Strategy,
    base: &str,
    principal: &Principal,
    name: &str,
) -> ScopeResult<Namespace> {
    check_collection_name(name)?;
    let database = match (strategy, principal) {
        (Strategy::Field, _) => base.to_string(),
        (Strategy::Database, Principal::Tenant(t)) => tenant_database(base, t),
        (Strategy::Database, Principal::System) => {
            return Err(ScopeError::missing(
                "runAsSystem gives no cross-database access under strategy 'database': use runAs(tenantId) for each tenant",
            ))
        }
    };
    Ok(Namespace { database, collection: name.to_string() })
}

/// The database holding tenant `tenant`'s collections under strategy 'database'.
pub fn tenant_database(base: &str, tenant: &str) -> String {
    format!("{base}_{tenant}")
}

/// Refuses collection names that are empty, hold NUL or `$`, or name a system collection.
fn check_collection_name(name: &str) -> ScopeResult<()> {
    if name.is_empty() || name.contains('\0') || name.starts_with("system.") || name.contains('$') {
        return Err(ScopeError::argument(format!("collection name {name:?} is not valid")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> Principal {
        Principal::Tenant(id.into())
    }

    #[test]
    fn field_strategy_shares_the_base_database() {
        for p in [t("a"), t("b"), Principal::System] {
            let ns = resolve(Strategy::Field, "app", &p, "notes").unwrap();
            assert_eq!(ns, Namespace { database: "app".into(), collection: "notes".into() });
        }
    }

    #[test]
    fn database_strategy_gives_each_tenant_its_own_database() {
        let a = resolve(Strategy::Database, "app", &t("a"), "notes").unwrap();
        let b = resolve(Strategy::Database, "app", &t("b"), "notes").unwrap();
        assert_eq!(a.database, "app_a");
        assert_eq!(b.database, "app_b");
        assert_ne!(a, b);
    }

    #[test]
    fn system_has_no_namespace_under_database_strategy() {
        let e = resolve(Strategy::Database, "app", &Principal::System, "notes").unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TenantMissing);
    }

    #[test]
    fn bad_collection_names_are_refused() {
        for name in ["", "a\0b", "system.users", "a$b", "$cmd"] {
            let e = resolve(Strategy::Field, "app", &t("a"), name).unwrap_err();
            assert_eq!(e.kind, super::super::ErrorKind::InvalidArgument, "{name:?}");
        }
        assert!(resolve(Strategy::Field, "app", &t("a"), "system").is_ok());
    }
}
