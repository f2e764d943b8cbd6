//! Reads by exact `_id`. mongod answers `{_id: v}` from the `_id` index directly
//! (its IDHACK path) but plans `{_id: v, tenantId: t}` like any query; since `_id` is
//! unique, a read can fetch by `_id` alone and drop the document here when it is not
//! the tenant's, which gives the same answer. Never used for writes.

use bson::{Bson, Document, RawBsonRef, RawDocument};

#[cfg(test)]
use super::Strategy;
use super::{Principal, Scope};

/// The `_id` to fetch when `user` is exactly `{_id: <plain value>}` under a tenant.
pub fn exact_id<'f>(scope: &Scope, user: &'f Document) -> Option<&'f Bson> {
    // Only one tenant's collection under strategy 'field' is fetched by `_id` and owner-checked.
    scope.tenant()?;
    super::shared::injects(scope)?;
    // A non-simple collation could make one string `_id` match several documents. On a
    // sharded collection `{_id}` alone cannot be routed: it would go to every shard.
    if scope.collation_guard || scope.sharded || user.len() != 1 {
        return None;
    }
    user.get("_id").filter(|v| plain(v))
}

/// Which options a `findOne` carries, as far as the by-`_id` path cares: each changes which
/// document comes back or how it is read, so a call with any of them is planned like any query.
#[derive(Debug, Clone, Copy, Default)]
pub struct FindOneShape {
    pub sort: bool,
    pub skip: bool,
    pub projection: bool,
    pub hint: bool,
    pub collation: bool,
}

/// The `_id` a `findOne(user, options)` fetches alone and owner-checks, if it may.
pub fn find_one_id<'f>(scope: &Scope, user: &'f Document, o: FindOneShape) -> Option<&'f Bson> {
    if o.sort || o.skip || o.projection || o.hint || o.collation {
        return None;
    }
    exact_id(scope, user)
}

/// Values that match only themselves (numbers: their numeric equals), never several `_id`s.
pub(crate) fn plain(v: &Bson) -> bool {
    matches!(
        v,
        Bson::ObjectId(_)
            | Bson::String(_)
            | Bson::Int32(_)
            | Bson::Int64(_)
            | Bson::Double(_)
            | Bson::Decimal128(_)
            | Bson::Binary(_)
            | Bson::DateTime(_)
            | Bson::Boolean(_)
    )
}

/// Whether a wire command is the lookup this module sends: a `find` of one plain `_id`
/// returning at most one document (the isolation probe accounts for it with this).
pub fn is_lookup_command(command: &Document) -> bool {
    let filter_ok = command
        .get_document("filter")
        .is_ok_and(|f| f.len() == 1 && f.get("_id").is_some_and(plain));
    let limit_one = matches!(command.get("limit"), Some(Bson::Int32(1) | Bson::Int64(1)));
    command.get_str("find").is_ok() && filter_ok && limit_one
}

/// Whether the scoped read filter would match `doc`: its tenant field equals the tenant,
/// or is an array holding it (equality's array rule; see README's known limits).
pub fn owned(scope: &Scope, doc: &RawDocument) -> bool {
    let Principal::Tenant(t) = &scope.principal else {
        return false;
    };
    match doc.get(&scope.field) {
        Ok(Some(RawBsonRef::String(s))) => s == t,
        Ok(Some(RawBsonRef::Array(items))) => {
            items.into_iter().any(|v| matches!(v, Ok(RawBsonRef::String(s)) if s == t))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId, RawDocumentBuf, Regex};

    fn scope(principal: Principal) -> Scope {
        Scope::for_test(principal, Strategy::Field)
    }

    #[test]
    fn only_a_lone_plain_id_qualifies() {
        let s = scope(Principal::Tenant("a".into()));
        let oid = ObjectId::new();
        assert_eq!(exact_id(&s, &doc! { "_id": oid }), Some(&Bson::ObjectId(oid)));
        assert!(exact_id(&s, &doc! { "_id": "k" }).is_some());
        assert!(exact_id(&s, &doc! { "_id": 7 }).is_some());
        let refused = [
            doc! {},
            doc! { "_id": oid, "x": 1 },
            doc! { "_id": { "$in": [1, 2] } },
            doc! { "_id": { "a": 1 } },
            doc! { "_id": [1] },
            doc! { "_id": Bson::Null },
            doc! { "_id": Regex { pattern: "^a".into(), options: String::new() } },
            doc! { "tenantId": "a" },
        ];
        for f in refused {
            assert_eq!(exact_id(&s, &f), None, "{f}");
        }
        let mut guarded = s.clone();
        guarded.collation_guard = true;
        assert_eq!(exact_id(&guarded, &doc! { "_id": "k" }), None);
        assert_eq!(exact_id(&scope(Principal::System), &doc! { "_id": 1 }), None);
        let mut db = s.clone();
        db.strategy = Strategy::Database;
        assert_eq!(exact_id(&db, &doc! { "_id": 1 }), None);
        let none = FindOneShape::default();
        assert!(find_one_id(&s, &doc! { "_id": 1 }, none).is_some());
        for shape in [
            FindOneShape { sort: true, ..none },
            FindOneShape { skip: true, ..none },
            FindOneShape { projection: true, ..none },
            FindOneShape { hint: true, ..none },
            FindOneShape { collation: true, ..none },
        ] {
            assert!(find_one_id(&s, &doc! { "_id": 1 }, shape).is_none(), "{shape:?}");
        }
    }

    #[test]
    fn recognises_only_its_own_lookup_command() {
        let id = ObjectId::new();
        assert!(is_lookup_command(&doc! { "find": "c", "filter": { "_id": id }, "limit": 1 }));
        assert!(is_lookup_command(&doc! { "find": "c", "filter": { "_id": 3 }, "limit": 1_i64 }));
        let others = [
            doc! { "find": "c", "filter": { "_id": id } },
            doc! { "find": "c", "filter": { "_id": id }, "limit": 2 },
            doc! { "find": "c", "filter": { "_id": { "$gt": id } }, "limit": 1 },
            doc! { "find": "c", "filter": { "_id": id, "x": 1 }, "limit": 1 },
            doc! { "find": "c", "filter": {}, "limit": 1 },
            doc! { "aggregate": "c", "filter": { "_id": id }, "limit": 1 },
        ];
        for c in others {
            assert!(!is_lookup_command(&c), "{c}");
        }
    }

    #[test]
    fn keeps_only_the_tenants_document() {
        let s = scope(Principal::Tenant("a".into()));
        let owned_by = |d: Document| owned(&s, &RawDocumentBuf::from_document(&d).unwrap());
        assert!(owned_by(doc! { "_id": 1, "tenantId": "a" }));
        assert!(owned_by(doc! { "_id": 1, "tenantId": ["b", "a"] }));
        assert!(!owned_by(doc! { "_id": 1, "tenantId": "A" }));
        assert!(!owned_by(doc! { "_id": 1, "tenantId": "a " }));
        assert!(!owned_by(doc! { "_id": 1, "tenantId": ["b"] }));
        assert!(!owned_by(doc! { "_id": 1, "tenantId": { "t": "a" } }));
        assert!(!owned_by(doc! { "_id": 1 }));
        assert!(!owned_by(doc! { "_id": 1, "tenantid": "a" }));
    }
}
