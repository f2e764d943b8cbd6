//! What a tenant may build with `createIndex` under strategy 'field', where one index spans
//! every tenant's documents. A tenant's build must not fail or succeed because of other
//! tenants' documents (that would be an oracle on them: a partial 2dsphere build that fails
//! exactly when some document matches a chosen predicate recovered a PIN in 13 calls), and
//! must not leave an index that blocks other tenants' writes (a unique index would). So a
//! tenant builds plain ascending/descending indexes on one field, tenant field first; anything
//! whose build or later writes can fail on data (unique, TTL, 2dsphere, 2d, text, hashed,
//! wildcard, or two fields that may both be arrays) needs `runAsSystem`. Under strategy 'database' the tenant's database holds only its documents.

use bson::{doc, Bson, Document};

use super::bounds::{number, same_key, tenant_index, IndexFact, RESERVED_INDEX_PREFIX};
use super::collation;
use super::error::{ScopeError, ScopeResult};
use super::filter::NEVER_FIELD;
use super::walk::MAX_DEPTH;
use super::{Principal, Scope, Strategy};

/// The key of an index built under strategy 'field': the tenant field first, then the
/// caller's fields in order; checked against what a tenant may build.
pub fn field_index_keys(
    scope: &Scope,
    spec: Document,
    options: &Document,
) -> ScopeResult<Document> {
    let field = scope.field.as_str();
    if let Principal::Tenant(_) = scope.principal {
        check_tenant_index(field, &spec, options)?;
    }
    // The shield's never-true branch relies on no index serving its field: with one, a shielded
    // condition could bound a plan again (round 13: a tenant's index on it brought the `_id`
    // index back into a join's candidate plans). Refused to everyone.
    if spec.keys().any(|k| super::path_in(k, NEVER_FIELD)) {
        return Err(ScopeError::violation(format!(
            "an index on the fence's reserved field {NEVER_FIELD:?} is not allowed: the fence's filters rely on no index serving it"
        )));
    }
    let mut keys = doc! { field: 1 };
    for (name, dir) in spec {
        if name != field {
            keys.insert(name, direction_as_int(dir));
        }
    }
    if keys.len() == 1 && truthy(options.get("unique")) {
        return Err(ScopeError::violation(format!(
            "a unique index on '{field}' alone would allow one document per tenant"
        )));
    }
    // The server takes a hidden index with the fence's key for the fence's own (85), which
    // then can never be hinted: every tenant's calls on the collection would be refused.
    if truthy(options.get("hidden")) && same_key(&keys, &tenant_index(field)) {
        return Err(ScopeError::violation(format!(
            "a hidden index on ({field}, _id) is not allowed: it would take the place of the index the fence bounds every tenant's queries with"
        )));
    }
    Ok(keys)
}

/// True unless the option is absent, `null`, `false` or a zero number (how the server reads a
/// flag); anything else counts as set, so no spelling slips past a check.
pub fn truthy(v: Option<&Bson>) -> bool {
    match v {
        None | Some(Bson::Null | Bson::Undefined) => false,
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(n)) => *n != 0,
        Some(Bson::Int64(n)) => *n != 0,
        Some(Bson::Double(f)) => *f != 0.0,
        Some(_) => true,
    }
}

/// `1` / `-1` as Int32 whatever number type the caller used: the server takes `NumberLong(1)`
/// and `1.0` for the same key, so must the fence's comparisons of key patterns (a twin with
/// another number type made every hint ambiguous: red-team round 5).
fn direction_as_int(dir: Bson) -> Bson {
    match number(&dir) {
        Some(f) if f == 1.0 || f == -1.0 => Bson::Int32(f as i32),
        _ => dir,
    }
}

/// Refuses a tenant's index whose key another index already has (under another name, or in
/// another collation): the fence hints by key pattern, and a second index with the same key
/// makes that hint ambiguous to the server (27) for every tenant's calls in flight; a
/// `bulkWrite`, which cannot be retried, failed (red-team round 11).
///
/// Only an index the fence may hint counts (built or being built): a twin of a partial one, or
/// of one in another collation, makes no hint ambiguous, and refusing it let one tenant's
/// unusable index keep every tenant from building a usable one (round 12).
pub fn check_twin(
    keys: &Document,
    name: &str,
    existing: &[IndexFact],
    field: &str,
) -> ScopeResult<()> {
    let hinted =
        |i: &&IndexFact| i.name != name && i.bounds_tenants(field) && same_key(&i.key, keys);
    match existing.iter().find(hinted) {
        Some(i) => Err(ScopeError::violation(format!(
            "an index on this key already exists ('{}'): a second one with the same key, in another collation or under another name, would make every tenant's hints by this key ambiguous",
            i.name
        ))),
        None => Ok(()),
    }
}

/// What one `createIndex` sends, and how the binding must carry it out.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPlan {
    /// The index as `createIndexes` takes it: key, name, options, collation.
    pub spec: Document,
    pub name: String,
    /// A tenant's build on a collection all tenants share: the index that bounds every
    /// tenant's queries is made first, the twin check (`check_twin`) runs on a fresh listing
    /// under the collection's build lock, and a failed build's message is withheld
    /// (`withhold::index_build`).
    pub tenant_build: bool,
}

/// True when planning a `createIndex` needs the collection's default collation: a shared
/// index without a collation of its own inherits it.
pub fn needs_default_collation(scope: &Scope, explicit: Option<&Document>) -> bool {
    shared_indexes(scope) && explicit.is_none()
}

/// Plans `createIndex(keys, options)`; `index_options` are the index's own options (`name`
/// among them), `default_collation` the collection's when `needs_default_collation` asked.
pub fn plan_create(
    scope: &Scope,
    keys: Document,
    mut index_options: Document,
    explicit: Option<Document>,
    default_collation: Option<&Document>,
) -> ScopeResult<IndexPlan> {
    if keys.is_empty() {
        return Err(ScopeError::argument("indexSpec must name at least one field"));
    }
    if scope.tenant().is_some() && index_options.contains_key("storageEngine") {
        // A WiredTiger configString reaches the whole server (`cache_resident` pins the index
        // in the cache every tenant shares): red-team round 20.
        return Err(ScopeError::violation(
            "storage engine settings (options.storageEngine) are not allowed under a tenant: they reach the whole server, whose cache every tenant shares; set them inside runAsSystem",
        ));
    }
    let shared = shared_indexes(scope);
    let keys = if shared {
        match (&explicit, default_collation) {
            (Some(c), _) => collation::check_index_collation(c, scope.default_rule)?,
            (None, Some(d)) => collation::check_index_collation(d, scope.default_rule).map_err(|_| {
                ScopeError::violation(
                    "the collection's default collation could equate two tenant ids in this index; pass options.collation with strength 3 or more, alternate 'non-ignorable' and no numericOrdering",
                )
            })?,
            (None, None) => {}
        }
        field_index_keys(scope, keys, &index_options)?
    } else {
        keys
    };
    let name = match index_options.remove("name") {
        Some(Bson::String(n)) => n,
        Some(_) => return Err(ScopeError::argument("options.name must be a string")),
        None => index_name(&keys),
    };
    let mut spec = doc! { "key": keys, "name": name.clone() };
    spec.extend(index_options);
    if let Some(c) = explicit {
        spec.insert("collation", c);
    }
    Ok(IndexPlan { spec, name, tenant_build: shared && scope.tenant().is_some() })
}

/// The driver's default index name: `a_1_b_-1`.
pub fn index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| {
            let v = match v {
                Bson::String(s) => s.clone(),
                Bson::Int32(n) => n.to_string(),
                Bson::Int64(n) => n.to_string(),
                Bson::Double(f) => f.to_string(),
                other => other.to_string(),
            };
            format!("{k}_{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// Whether a strategy applies the tenant-index rules at all.
pub fn shared_indexes(scope: &Scope) -> bool {
    // A shared collection's documents carry no tenant field: its indexes do not start with it.
    scope.strategy == Strategy::Field && !scope.shared.main
}

fn system_only(what: &str) -> ScopeError {
    ScopeError::violation(format!(
        "{what} under a tenant: the index spans every tenant's documents, so its build or later writes could fail because of another tenant's data; build it inside runAsSystem"
    ))
}

fn check_tenant_index(field: &str, spec: &Document, options: &Document) -> ScopeResult<()> {
    // Two indexed fields that are both arrays in one document cannot be indexed ("parallel
    // arrays"): a compound build would fail on another tenant's document, and afterwards
    // refuse their writes of such documents. One field besides the tenant field cannot.
    if spec.keys().filter(|k| *k != field).count() > 1 {
        return Err(system_only(
            "an index on more than one field besides the tenant field is not allowed",
        ));
    }
    for (name, dir) in spec {
        let plain = number(dir).is_some_and(|f| f == 1.0 || f == -1.0);
        if !plain || name.contains("$**") {
            return Err(system_only(&format!("index type {dir} on '{name}' is not allowed")));
        }
    }
    if let Some(Bson::String(name)) = options.get("name") {
        if name.starts_with(RESERVED_INDEX_PREFIX) {
            return Err(ScopeError::violation(format!(
                "index names starting with '{RESERVED_INDEX_PREFIX}' are the fence's own: a tenant that took one first would make the fence's index build fail for every tenant"
            )));
        }
    }
    // The server takes `unique: 1` (any true-ish value) as true: so does the fence.
    if truthy(options.get("unique")) {
        return Err(system_only("a unique index is not allowed"));
    }
    // Hidden from every tenant's planner, and taken by the server for the fence's own index
    // when the keys agree (85), which the fence then cannot hint.
    if truthy(options.get("hidden")) {
        return Err(system_only("a hidden index is not allowed"));
    }
    if options.contains_key("expireAfterSeconds") {
        return Err(system_only("a TTL index (expireAfterSeconds) is not allowed"));
    }
    if let Some(Bson::Document(pfe)) = options.get("partialFilterExpression") {
        if mentions(pfe, field, 0) {
            return Err(ScopeError::violation(format!(
                "partialFilterExpression must not name the tenant field '{field}' under a tenant: it would shape other tenants' slice of the index"
            )));
        }
    }
    Ok(())
}

/// True when `filter` mentions `field` anywhere (keys only, bounded depth).
fn mentions(filter: &Document, field: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    filter.iter().any(|(k, v)| {
        k == field
            || super::path_in(k, field)
            || match v {
                Bson::Document(d) => mentions(d, field, depth + 1),
                Bson::Array(items) => items
                    .iter()
                    .any(|i| matches!(i, Bson::Document(d) if mentions(d, field, depth + 1))),
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    #[test]
    fn storage_engine_settings_are_the_systems() {
        let wt =
            doc! { "storageEngine": { "wiredTiger": { "configString": "cache_resident=true" } } };
        for strategy in [Strategy::Field, Strategy::Database] {
            let t = Scope::for_test(Principal::Tenant("a".into()), strategy);
            let e = plan_create(&t, doc! { "x": 1 }, wt.clone(), None, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation);
            let sys = Scope::for_test(Principal::System, strategy);
            if strategy == Strategy::Field {
                assert!(plan_create(&sys, doc! { "x": 1 }, wt.clone(), None, None).is_ok());
            }
        }
    }

    #[test]
    fn a_tenant_may_not_take_the_fences_index_names() {
        let s = Scope::for_test(Principal::Tenant("a".into()), Strategy::Field);
        let taken = doc! { "name": "tenantfence_tenantId_1__id_1" };
        let e = field_index_keys(&s, doc! { "x": 1 }, &taken).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TenantViolation);
        assert!(field_index_keys(&s, doc! { "x": 1 }, &doc! { "name": "x_1" }).is_ok());
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        assert!(field_index_keys(&sys, doc! { "x": 1 }, &taken).is_ok());
        for unique in
            [Bson::Int32(1), Bson::Double(0.5), Bson::String("yes".into()), Bson::Boolean(true)]
        {
            let e = field_index_keys(&s, doc! { "x": 1 }, &doc! { "unique": unique.clone() });
            assert_eq!(e.unwrap_err().kind, ErrorKind::TenantViolation, "{unique}");
        }
        assert!(field_index_keys(&s, doc! { "x": 1 }, &doc! { "unique": false }).is_ok());
        let system = Scope::for_test(Principal::System, Strategy::Field);
        assert_eq!(
            field_index_keys(&system, doc! { "x": 1_i64, "y": -1.0 }, &doc! {}).unwrap(),
            doc! { "tenantId": 1, "x": 1, "y": -1 }
        );
        let hidden = doc! { "hidden": true };
        assert_eq!(
            field_index_keys(&s, doc! { "_id": 1 }, &hidden).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
        // Not even inside runAsSystem, in any number type (round 8); other keys may be hidden.
        let dec = Bson::Decimal128("1".parse().unwrap());
        for key in
            [doc! { "_id": 1 }, doc! { "_id": dec.clone() }, doc! { "tenantId": 1.0, "_id": 1_i64 }]
        {
            let e = field_index_keys(&system, key.clone(), &hidden).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation, "{key}");
        }
        assert!(field_index_keys(&system, doc! { "x": 1 }, &hidden).is_ok());
        // A Decimal128 direction is stored as Int32 like the other number types.
        assert_eq!(
            field_index_keys(&s, doc! { "x": dec }, &doc! {}).unwrap(),
            doc! { "tenantId": 1, "x": 1 }
        );
    }

    fn tenant() -> Scope {
        Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
    }

    #[test]
    fn plan_create_puts_the_tenant_first_and_says_how_to_build() {
        let p = plan_create(&tenant(), doc! { "x": -1 }, doc! {}, None, None).unwrap();
        assert_eq!(p.spec, doc! { "key": { "tenantId": 1, "x": -1 }, "name": "tenantId_1_x_-1" });
        assert!(p.tenant_build);
        let named = plan_create(
            &tenant(),
            doc! { "x": 1 },
            doc! { "name": "n", "sparse": true },
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            named.spec,
            doc! { "key": { "tenantId": 1, "x": 1 }, "name": "n", "sparse": true }
        );
        let system = Scope::for_test(Principal::System, Strategy::Field);
        let s = plan_create(&system, doc! { "x": 1 }, doc! { "unique": true }, None, None).unwrap();
        assert!(!s.tenant_build);
        assert_eq!(s.spec.get_document("key").unwrap(), &doc! { "tenantId": 1, "x": 1 });
        let db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        let d = plan_create(&db, doc! { "x": 1 }, doc! { "unique": true }, None, None).unwrap();
        assert_eq!(d.spec, doc! { "key": { "x": 1 }, "name": "x_1", "unique": true });
        assert!(!d.tenant_build);
        assert!(!needs_default_collation(&db, None) && needs_default_collation(&tenant(), None));
        let ci = doc! { "locale": "en", "strength": 2 };
        for (explicit, default) in [(Some(ci.clone()), None), (None, Some(&ci))] {
            let e =
                plan_create(&tenant(), doc! { "x": 1 }, doc! {}, explicit, default).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation);
        }
        let strong = doc! { "locale": "en", "strength": 3 };
        let c =
            plan_create(&tenant(), doc! { "x": 1 }, doc! {}, Some(strong.clone()), None).unwrap();
        assert_eq!(c.spec.get_document("collation"), Ok(&strong));
        let bad = [
            plan_create(&tenant(), doc! {}, doc! {}, None, None),
            plan_create(&tenant(), doc! { "x": 1 }, doc! { "name": 1 }, None, None),
        ];
        for e in bad {
            assert_eq!(e.unwrap_err().kind, ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn no_index_may_serve_the_shields_field() {
        for who in [Principal::Tenant("a".into()), Principal::System] {
            let s = Scope::for_test(who, Strategy::Field);
            for key in [doc! { NEVER_FIELD: 1 }, doc! { format!("{NEVER_FIELD}.x"): -1 }] {
                assert_eq!(
                    field_index_keys(&s, key.clone(), &doc! {}).unwrap_err().kind,
                    ErrorKind::TenantViolation,
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn a_second_index_on_a_key_is_refused() {
        let fact = |name: &str, key: Document| IndexFact {
            name: name.into(),
            key,
            collation: None,
            hintable: true,
            ready: true,
        };
        let mut building = fact("b", doc! { "tenantId": 1, "y": 1 });
        building.ready = false;
        let mut partial = fact("p", doc! { "tenantId": 1, "z": 1 });
        partial.hintable = false;
        let mut folded = fact("fr", doc! { "tenantId": 1, "w": 1 });
        folded.collation = Some(doc! { "locale": "fr" });
        let existing = vec![
            fact("_id_", doc! { "_id": 1 }),
            fact("f", doc! { "tenantId": 1, "_id": 1 }),
            building,
            partial,
            folded,
        ];
        let check = |keys: Document, name: &str| check_twin(&keys, name, &existing, "tenantId");
        let twin = doc! { "tenantId": 1, "_id": 1_i64 };
        assert_eq!(check(twin.clone(), "mine").unwrap_err().kind, ErrorKind::TenantViolation);
        // One still being built counts (round 12).
        assert!(check(doc! { "tenantId": 1, "y": 1 }, "mine").is_err());
        // Twins of indexes never hinted make nothing ambiguous: allowed.
        assert!(check(doc! { "tenantId": 1, "z": 1 }, "mine").is_ok());
        assert!(check(doc! { "tenantId": 1, "w": 1 }, "mine").is_ok());
        // The same name again is the server's to answer (a no-op, or its own conflict).
        assert!(check(twin, "f").is_ok());
        assert!(check(doc! { "tenantId": 1, "x": 1 }, "x").is_ok());
    }

    #[test]
    fn a_tenant_builds_only_indexes_that_cannot_fail_on_other_tenants_data() {
        let allowed = [
            (doc! { "x": 1 }, doc! {}),
            (doc! { "x": -1.0 }, doc! { "sparse": true, "hidden": false, "name": "n" }),
            (doc! { "tenantId": 1, "x": 1 }, doc! {}),
            (doc! { "x": 1 }, doc! { "partialFilterExpression": { "x": { "$gt": 1 } } }),
            (doc! { "x": 1 }, doc! { "unique": false }),
        ];
        for (spec, opts) in allowed {
            let keys = field_index_keys(&tenant(), spec.clone(), &opts).unwrap();
            assert_eq!(keys.keys().next().map(String::as_str), Some("tenantId"), "{spec}");
        }
        let refused = [
            (doc! { "loc": "2dsphere" }, doc! {}),
            (doc! { "loc": "2d" }, doc! {}),
            (doc! { "t": "text" }, doc! {}),
            (doc! { "h": "hashed" }, doc! {}),
            (doc! { "$**": 1 }, doc! {}),
            (doc! { "a.$**": 1 }, doc! {}),
            (doc! { "x": 2 }, doc! {}),
            (doc! { "tags": 1, "roles": 1 }, doc! {}),
            (doc! { "email": 1 }, doc! { "unique": true }),
            (doc! { "at": 1 }, doc! { "expireAfterSeconds": 60 }),
            (doc! { "x": 1 }, doc! { "partialFilterExpression": { "tenantId": "b" } }),
        ];
        for (spec, opts) in refused {
            let e = field_index_keys(&tenant(), spec.clone(), &opts).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation, "{spec} {opts}");
        }
    }

    #[test]
    fn runas_system_builds_anything_tenant_field_first() {
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        let keys = field_index_keys(&sys, doc! { "email": 1 }, &doc! { "unique": true }).unwrap();
        assert_eq!(keys, doc! { "tenantId": 1, "email": 1 });
        let keys = field_index_keys(&sys, doc! { "loc": "2dsphere" }, &doc! {}).unwrap();
        assert_eq!(keys, doc! { "tenantId": 1, "loc": "2dsphere" });
        let e =
            field_index_keys(&sys, doc! { "tenantId": 1 }, &doc! { "unique": true }).unwrap_err();
        assert!(e.message.contains("one document per tenant"));
    }
}
