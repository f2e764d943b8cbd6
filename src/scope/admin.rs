//! Index and collection administration: who may list, create, drop and rename, and which
//! `createCollection` options are safe. Under strategy 'field' one collection and its indexes
//! hold every tenant's documents, so a tenant may read index metadata (shared by all tenants,
//! and not data) and build indexes (`scope::indexes`), while anything that changes or drops a
//! collection, or shows which collections exist (their existence follows other tenants'
//! writes), needs `runAsSystem`. Under strategy 'database' the tenant's own database holds only
//! its documents: there it may do all of it (and `runAsSystem` reaches no tenant database).

use bson::{Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::{collation, Principal, Scope, Strategy};

/// An administration method, by its JS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOp {
    ListIndexes,
    CreateIndexes,
    DropIndex,
    DropIndexes,
    Drop,
    Rename,
    Options,
    ListCollections,
    CreateCollection,
    DropCollection,
}

impl AdminOp {
    /// Every administration method.
    pub const ALL: [AdminOp; 10] = [
        AdminOp::ListIndexes,
        AdminOp::CreateIndexes,
        AdminOp::DropIndex,
        AdminOp::DropIndexes,
        AdminOp::Drop,
        AdminOp::Rename,
        AdminOp::Options,
        AdminOp::ListCollections,
        AdminOp::CreateCollection,
        AdminOp::DropCollection,
    ];

    /// The method a JS name names, if it is an administration method.
    pub fn parse(name: &str) -> Option<AdminOp> {
        AdminOp::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The JS method name.
    pub fn name(self) -> &'static str {
        match self {
            AdminOp::ListIndexes => "listIndexes",
            AdminOp::CreateIndexes => "createIndexes",
            AdminOp::DropIndex => "dropIndex",
            AdminOp::DropIndexes => "dropIndexes",
            AdminOp::Drop => "drop",
            AdminOp::Rename => "rename",
            AdminOp::Options => "options",
            AdminOp::ListCollections => "listCollections",
            AdminOp::CreateCollection => "createCollection",
            AdminOp::DropCollection => "dropCollection",
        }
    }

    /// Why a tenant of strategy 'field' may not run it; `None` when it may.
    fn refused_to_field_tenant(self) -> Option<&'static str> {
        match self {
            // Index metadata is the same for every tenant and holds no document; each index
            // a tenant builds is checked by `scope::indexes`.
            AdminOp::ListIndexes | AdminOp::CreateIndexes => None,
            AdminOp::DropIndex | AdminOp::DropIndexes => Some(
                "indexes are shared by every tenant of the collection: dropping one changes every tenant's queries",
            ),
            AdminOp::Drop | AdminOp::DropCollection => {
                Some("the collection holds every tenant's documents: dropping it drops theirs")
            }
            AdminOp::Rename => {
                Some("the collection holds every tenant's documents: renaming it moves theirs")
            }
            AdminOp::Options => Some(
                "a shared collection's options are set by whoever created it, which may follow another tenant's first write",
            ),
            AdminOp::ListCollections => Some(
                "which collections exist follows every tenant's writes (a collection is made by the first document written to it)",
            ),
            AdminOp::CreateCollection => Some(
                "a collection is shared by every tenant: its options (validator, collation) apply to all, and whether it already exists follows their writes",
            ),
        }
    }
}

/// Whether a caller may read or reset the fence's metrics: outside any context or inside
/// `runAsSystem`, never as a tenant (they count every tenant's calls).
pub fn may_read_metrics(principal: Option<&Principal>) -> ScopeResult<()> {
    match principal {
        Some(Principal::Tenant(t)) => Err(ScopeError::violation(format!(
            "fence.metrics() counts every tenant's calls and is not available to tenant {t:?}: call it outside any tenant context (a /metrics route mounted before the middleware) or inside runAsSystem"
        ))),
        Some(Principal::Tenants(_)) => Err(ScopeError::violation(
            "fence.metrics() counts every tenant's calls and is not available under runAsTenants: call it outside any tenant context or inside runAsSystem",
        )),
        None | Some(Principal::System) => Ok(()),
    }
}

/// Whether `scope`'s principal may run `op` at all (each index of a `createIndexes` is then
/// planned by `scope::indexes`, each collection option checked by `check_create_options`).
pub fn admit(scope: &Scope, op: AdminOp) -> ScopeResult<()> {
    let reads = matches!(op, AdminOp::ListIndexes | AdminOp::Options);
    super::shared::admit_named(scope, op.name(), reads)?;
    super::tenants::admit_named(scope, op.name(), op == AdminOp::ListIndexes)?;
    match (&scope.principal, scope.strategy) {
        (Principal::Tenant(_), Strategy::Field) => match op.refused_to_field_tenant() {
            None => Ok(()),
            Some(why) => Err(ScopeError::violation(format!(
                "{}() is not available to a tenant under strategy 'field': {why}; run it inside runAsSystem",
                op.name()
            ))),
        },
        // A tenant's own database, or system work on the shared one ('database' refuses the
        // system principal before any namespace is made).
        _ => Ok(()),
    }
}

/// True when a `listIndexes` must first build the fence's own index (which makes the
/// collection): a tenant of strategy 'field' then gets the same answer whether or not another
/// tenant has written to the collection, never `NamespaceNotFound` because none has.
pub fn lists_after_fence_index(scope: &Scope) -> bool {
    super::shared::injects(scope).is_some()
}

/// True when a `listIndexes` reply shows the fence's own index (`bounds::tenant_index`): only
/// then is a tenant's listing the same whatever other tenants did (`lists_after_fence_index`).
pub fn listing_shows_fence_index(listed: &[Document], field: &str) -> bool {
    let want = super::bounds::tenant_index(field);
    listed
        .iter()
        .filter_map(|d| d.get_document("key").ok())
        .any(|k| super::bounds::same_key(k, &want))
}

/// The `createCollection` options the fence passes on; anything else is refused by name.
pub const CREATE_OPTIONS: &[&str] = &[
    "capped",
    "size",
    "max",
    "validator",
    "validationLevel",
    "validationAction",
    "collation",
    "storageEngine",
    "indexOptionDefaults",
    "changeStreamPreAndPostImages",
    "clusteredIndex",
    "expireAfterSeconds",
    "viewOn",
    "pipeline",
    "timeseries",
    "comment",
];

/// Checks the options of `createCollection` for `scope`'s principal.
pub fn check_create_options(scope: &Scope, options: &Document) -> ScopeResult<()> {
    if let Some(k) = options.keys().find(|k| !CREATE_OPTIONS.contains(&k.as_str())) {
        return Err(ScopeError::argument(format!(
            "options.{k} is not an option of createCollection tenantfence passes on (it takes: {})",
            CREATE_OPTIONS.join(", ")
        )));
    }
    let tenant = matches!(scope.principal, Principal::Tenant(_));
    let field = scope.strategy == Strategy::Field;
    if tenant {
        if let Some(k) =
            ["storageEngine", "indexOptionDefaults"].iter().find(|k| options.contains_key(**k))
        {
            return Err(ScopeError::violation(format!(
                "storage engine settings (options.{k}) are not allowed under a tenant: a WiredTiger configString reaches the whole server, whose cache every tenant shares (red-team round 20)"
            )));
        }
    }
    if tenant && (options.contains_key("viewOn") || options.contains_key("pipeline")) {
        return Err(ScopeError::violation(
            "a tenant may not create a view: the server runs a view's pipeline without the fence's pipeline checks; read through aggregate() instead",
        ));
    }
    if field && super::indexes::truthy(options.get("capped")) {
        return Err(ScopeError::violation(
            "a capped collection under strategy 'field' is refused: it deletes its oldest documents whoever wrote them, so one tenant's inserts would delete another tenant's documents",
        ));
    }
    if field && options.contains_key("timeseries") {
        return Err(ScopeError::violation(
            "a time-series collection under strategy 'field' is refused: its buckets group every tenant's measurements, and the fence's (tenant, _id) index cannot bound them",
        ));
    }
    if field {
        match options.get("collation") {
            None => {}
            Some(Bson::Document(c)) => collation::check_index_collation(c, scope.default_rule)
                .map_err(|_| {
                    ScopeError::violation(format!(
                        "a default collation {c} could make two tenant ids compare equal in every query of the collection; use strength 3 or more, alternate 'non-ignorable' and numericOrdering false"
                    ))
                })?,
            Some(_) => return Err(ScopeError::argument("options.collation must be an object")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_union_lists_indexes_and_changes_nothing() {
        let ids = crate::scope::tenants::check_ids(&["a".into(), "b".into()], true).unwrap();
        let union = Scope::for_test(Principal::Tenants(ids), Strategy::Field);
        for op in AdminOp::ALL {
            assert_eq!(admit(&union, op).is_ok(), op == AdminOp::ListIndexes, "{op:?}");
        }
    }
    use crate::scope::ErrorKind;
    use bson::doc;

    fn scope(p: Principal, s: Strategy) -> Scope {
        Scope::for_test(p, s)
    }

    fn tenant() -> Principal {
        Principal::Tenant("a".into())
    }

    #[test]
    fn names_round_trip_and_data_methods_are_not_admin() {
        for op in AdminOp::ALL {
            assert_eq!(AdminOp::parse(op.name()), Some(op));
        }
        for name in ["find", "createIndex", "insertOne", "", "dropDatabase"] {
            assert_eq!(AdminOp::parse(name), None, "{name}");
        }
    }

    #[test]
    fn who_may_run_what() {
        // (op, field tenant may) ; system on 'field' and a tenant on 'database' may run all.
        let table = [
            (AdminOp::ListIndexes, true),
            (AdminOp::CreateIndexes, true),
            (AdminOp::DropIndex, false),
            (AdminOp::DropIndexes, false),
            (AdminOp::Drop, false),
            (AdminOp::Rename, false),
            (AdminOp::Options, false),
            (AdminOp::ListCollections, false),
            (AdminOp::CreateCollection, false),
            (AdminOp::DropCollection, false),
        ];
        assert_eq!(table.len(), AdminOp::ALL.len());
        for (op, field_tenant) in table {
            let r = admit(&scope(tenant(), Strategy::Field), op);
            assert_eq!(r.is_ok(), field_tenant, "{op:?}");
            if let Err(e) = r {
                assert_eq!(e.kind, ErrorKind::TenantViolation);
                assert!(e.message.contains(op.name()) && e.message.contains("runAsSystem"));
            }
            assert!(admit(&scope(Principal::System, Strategy::Field), op).is_ok(), "{op:?}");
            assert!(admit(&scope(tenant(), Strategy::Database), op).is_ok(), "{op:?}");
        }
    }

    #[test]
    fn a_listing_counts_only_with_the_fence_index() {
        let fence =
            doc! { "key": { "tenantId": 1, "_id": 1 }, "name": "tenantfence_tenantId_1__id_1" };
        let id = doc! { "key": { "_id": 1 }, "name": "_id_" };
        assert!(listing_shows_fence_index(&[id.clone(), fence], "tenantId"));
        assert!(!listing_shows_fence_index(&[id.clone()], "tenantId"));
        assert!(!listing_shows_fence_index(&[], "tenantId"));
        let other = doc! { "key": { "org": 1, "_id": 1 }, "name": "x" };
        assert!(!listing_shows_fence_index(&[id, other], "tenantId"));
    }

    #[test]
    fn only_a_field_tenant_lists_after_the_fence_index() {
        assert!(lists_after_fence_index(&scope(tenant(), Strategy::Field)));
        assert!(!lists_after_fence_index(&scope(Principal::System, Strategy::Field)));
        assert!(!lists_after_fence_index(&scope(tenant(), Strategy::Database)));
    }

    #[test]
    fn create_collection_options() {
        let field_t = scope(tenant(), Strategy::Field);
        let field_s = scope(Principal::System, Strategy::Field);
        let db_t = scope(tenant(), Strategy::Database);
        let violation = |s: &Scope, o: Document| check_create_options(s, &o).unwrap_err().kind;
        // Unknown options are named, whoever asks.
        for s in [&field_t, &field_s, &db_t] {
            let e = check_create_options(s, &doc! { "autoIndexId": false }).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("autoIndexId"));
            assert!(check_create_options(s, &doc! { "validator": { "x": 1 } }).is_ok());
        }
        // Storage engine settings reach the whole server: never a tenant's.
        let wt = doc! { "wiredTiger": { "configString": "cache_resident=true" } };
        for k in ["storageEngine", "indexOptionDefaults"] {
            let o = doc! { k: { "storageEngine": wt.clone() } };
            assert_eq!(violation(&db_t, o.clone()), ErrorKind::TenantViolation, "{k}");
            assert!(check_create_options(&field_s, &o).is_ok());
        }
        // Views: never a tenant's; the system may (tenants of 'field' cannot read them).
        let view = doc! { "viewOn": "c", "pipeline": [] };
        assert_eq!(violation(&field_t, view.clone()), ErrorKind::TenantViolation);
        assert_eq!(violation(&db_t, view.clone()), ErrorKind::TenantViolation);
        assert!(check_create_options(&field_s, &view).is_ok());
        // Capped and time-series: not on shared collections, in any spelling of the flag.
        for capped in [Bson::Boolean(true), Bson::Int32(1), Bson::String("y".into())] {
            let o = doc! { "capped": capped, "size": 4096 };
            assert_eq!(violation(&field_s, o.clone()), ErrorKind::TenantViolation);
            assert!(check_create_options(&db_t, &o).is_ok());
        }
        assert!(check_create_options(&field_s, &doc! { "capped": false }).is_ok());
        let ts = doc! { "timeseries": { "timeField": "t" } };
        assert_eq!(violation(&field_s, ts.clone()), ErrorKind::TenantViolation);
        assert!(check_create_options(&db_t, &ts).is_ok());
        // A default collation that could equate two tenant ids, on a shared collection only.
        let weak = doc! { "collation": { "locale": "en", "strength": 2 } };
        assert_eq!(violation(&field_s, weak.clone()), ErrorKind::TenantViolation);
        assert!(check_create_options(&db_t, &weak).is_ok());
        let strong = doc! { "collation": { "locale": "en", "strength": 3 } };
        assert!(check_create_options(&field_s, &strong).is_ok());
        assert_eq!(
            check_create_options(&field_s, &doc! { "collation": "en" }).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn metrics_are_for_the_operator_not_a_tenant() {
        assert!(may_read_metrics(None).is_ok());
        assert!(may_read_metrics(Some(&Principal::System)).is_ok());
        let e = may_read_metrics(Some(&Principal::Tenant("acme".into()))).unwrap_err();
        assert_eq!(e.kind, crate::scope::ErrorKind::TenantViolation);
        assert!(e.message.contains("runAsSystem"), "{}", e.message);
    }
}
