//! Shared collections (`shared: ['plans', …]` at connect): data every tenant reads and only
//! `runAsSystem` writes. Their documents carry no tenant field, so a tenant's read of one gets
//! no tenant match, while a join from one into a tenant collection is scoped as any join is.

use std::sync::Arc;

use super::error::{ScopeError, ScopeResult};
use super::{Owners, Principal, Scope, Strategy};

/// The shared collections of a fence, and whether the call's own collection is one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    /// Every shared collection name, sorted and without repeats.
    pub names: Arc<[String]>,
    /// The collection the call runs on is shared.
    pub main: bool,
}

impl Shared {
    /// True when collection `name` is shared.
    pub fn has(&self, name: &str) -> bool {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    /// The same set, for a call on collection `name`.
    pub fn on(&self, name: &str) -> Shared {
        Shared { names: self.names.clone(), main: self.has(name) }
    }
}

/// Checks the `shared` option as `connect` receives it: collection names a tenant could also
/// reach (not `system.*`, no `$` or NUL, not empty), at most 1,000 of them.
pub fn check_names(names: &[String]) -> ScopeResult<Shared> {
    if names.len() > 1000 {
        return Err(ScopeError::argument("options.shared may name at most 1000 collections"));
    }
    for n in names {
        if n.is_empty() || n.contains('\0') || n.contains('$') || n.starts_with("system.") {
            return Err(ScopeError::argument(format!(
                "options.shared: {n:?} is not a collection name a fence can use"
            )));
        }
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(Shared { names: sorted.into(), main: false })
}

/// Whether `scope`'s principal may run `method` on its collection (`reads`: it changes nothing,
/// `plan::Operation::reads`): a tenant only reads a shared one.
pub fn admit_named(scope: &Scope, method: &str, reads: bool) -> ScopeResult<()> {
    match &scope.principal {
        Principal::Tenant(_) | Principal::Tenants(_) if scope.shared.main && !reads => Err(ScopeError::violation(format!(
            "{method}() is refused on a shared collection under a tenant: every tenant reads it (connect option 'shared'), so only runAsSystem may change it"
        ))),
        _ => Ok(()),
    }
}

/// The tenant whose match goes on the call's own collection: none under runAsSystem,
/// strategy 'database', or on a shared collection.
pub fn injects(scope: &Scope) -> Option<Owners<'_>> {
    match scope.strategy {
        Strategy::Field if !scope.shared.main => scope.owners(),
        _ => None,
    }
}

/// True when documents written to the call's collection must not carry the tenant field.
pub fn unstamped(scope: &Scope) -> bool {
    scope.shared.main && scope.strategy == Strategy::Field
}

/// The refusal of a tenant field in a document or update written to a shared collection.
pub fn stamped_refusal(scope: &Scope) -> ScopeError {
    ScopeError::violation(format!(
        "documents of a shared collection carry no tenant field: '{}' may not be written to it",
        scope.field
    ))
}

/// Under strategy 'database' a shared collection lives in the base database and a tenant's
/// collections in the tenant's: a join between the two would cross databases, which MongoDB's
/// `$lookup` / `$unionWith` / `$graphLookup` cannot do. `None` when the join may go ahead.
pub fn cross_database_join(scope: &Scope, from: &str) -> Option<ScopeError> {
    let from_shared = scope.shared.has(from);
    (scope.strategy == Strategy::Database && from_shared != scope.shared.main).then(|| {
        ScopeError::violation(format!(
            "a join between '{from}' and this collection is refused under strategy 'database': one is shared (in the base database) and the other a tenant's (in the tenant's database); read them separately"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    fn shared(main: bool, strategy: Strategy, principal: Principal) -> Scope {
        let names = check_names(&["plans".into(), "countries".into(), "plans".into()]).unwrap();
        Scope {
            shared: if main { names.on("plans") } else { names.on("notes") },
            ..Scope::for_test(principal, strategy)
        }
    }

    fn t() -> Principal {
        Principal::Tenant("a".into())
    }

    #[test]
    fn names_are_checked_sorted_and_deduplicated() {
        let s = check_names(&["plans".into(), "countries".into(), "plans".into()]).unwrap();
        assert_eq!(&*s.names, &["countries".to_string(), "plans".to_string()]);
        assert!(s.has("plans") && s.has("countries") && !s.has("plan") && !s.has("Plans"));
        assert!(s.on("plans").main && !s.on("notes").main);
        for bad in ["", "a$b", "system.views", "a\0"] {
            let e = check_names(&[bad.to_string()]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad:?}");
        }
        assert!(check_names(&vec!["x".to_string(); 1001]).is_err());
    }

    #[test]
    fn a_tenant_only_reads_a_shared_collection() {
        for strategy in [Strategy::Field, Strategy::Database] {
            for (method, reads) in
                [("find", true), ("listIndexes", true), ("insertOne", false), ("drop", false)]
            {
                let tenant = admit_named(&shared(true, strategy, t()), method, reads);
                assert_eq!(tenant.is_ok(), reads, "{method} {strategy:?}");
                if let Err(e) = tenant {
                    assert_eq!(e.kind, ErrorKind::TenantViolation);
                    assert!(e.message.contains("runAsSystem"), "{}", e.message);
                }
                assert!(
                    admit_named(&shared(true, strategy, Principal::System), method, reads).is_ok()
                );
                assert!(admit_named(&shared(false, strategy, t()), method, reads).is_ok());
            }
        }
    }

    #[test]
    fn only_a_tenant_collection_gets_the_tenant_match() {
        let table = [
            (true, Strategy::Field, t(), None),
            (false, Strategy::Field, t(), Some(Owners::One("a"))),
            (false, Strategy::Database, t(), None),
            (false, Strategy::Field, Principal::System, None),
            (true, Strategy::Field, Principal::System, None),
        ];
        for (main, strategy, p, want) in table {
            let s = shared(main, strategy, p.clone());
            assert_eq!(injects(&s), want, "{main} {strategy:?} {p:?}");
        }
        assert!(unstamped(&shared(true, Strategy::Field, Principal::System)));
        assert!(!unstamped(&shared(false, Strategy::Field, Principal::System)));
        assert!(!unstamped(&shared(true, Strategy::Database, Principal::System)));
    }

    #[test]
    fn joins_between_databases_are_refused_under_the_database_strategy() {
        let db_tenant = shared(false, Strategy::Database, t());
        assert!(cross_database_join(&db_tenant, "plans").is_some());
        assert!(cross_database_join(&db_tenant, "notes").is_none());
        let db_shared = shared(true, Strategy::Database, t());
        assert!(cross_database_join(&db_shared, "notes").is_some());
        assert!(cross_database_join(&db_shared, "countries").is_none());
        for main in [true, false] {
            let field = shared(main, Strategy::Field, t());
            assert!(cross_database_join(&field, "plans").is_none());
            assert!(cross_database_join(&field, "notes").is_none());
        }
    }
}
