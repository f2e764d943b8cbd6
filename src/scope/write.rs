//! How the filter, update and upsert checks of one write combine: single writes and each
//! `bulkWrite` statement take their filter and update from here.

use bson::oid::ObjectId;
use bson::{Bson, Document, RawBsonRef, RawDocument};

use super::error::{ScopeError, ScopeResult};
use super::{filter, update, Scope};

/// The scoped filter of a write; an upsert also refuses a filter naming another tenant.
pub fn write_filter(scope: &Scope, user: Document, upsert: bool) -> ScopeResult<Document> {
    if upsert {
        filter::check_upsert_filter(scope, &user)?;
    }
    filter::scope_write_filter(scope, user)
}

/// The scoped update of a write (`raw`: as the caller gave it). A system upsert must also name
/// the tenant it may insert, and an upsert's `_id` is `fresh` unless the filter fixes it.
pub fn scoped_update(
    scope: &Scope,
    raw: Option<Bson>,
    filter: &Document,
    upsert: bool,
    fresh: ObjectId,
) -> ScopeResult<update::Update> {
    let raw =
        raw.ok_or_else(|| ScopeError::argument("update must be an object or a pipeline array"))?;
    let mut u = update::scope_update(scope, update::classify(raw)?)?;
    if upsert {
        update::check_system_upsert(scope, filter, &u)?;
        if let update::Update::Modifiers(d) = &mut u {
            update::add_upsert_id(filter, d, fresh);
        }
    }
    Ok(u)
}

/// Every string a system write could store in the tenant field `field`: values under that key
/// anywhere in the request (documents, updates, upsert filters), bare or as `{$eq}`,
/// `{$literal}` or `{$in}`. Rust checks them by the hard rules as it rewrites; a fence with a
/// custom `tenantIdPattern` asks for this list so the JS face can test each with the pattern.
///
/// Read from the bytes as sent, repeated keys included, and never failing: a request the
/// rewrite will refuse (a repeated tenant field, malformed bytes) is refused by the call
/// itself, after the audit hook has seen it.
pub fn stored_tenant_ids(field: &str, request: &RawDocument) -> Vec<String> {
    fn take(v: RawBsonRef<'_>, depth: usize, out: &mut Vec<String>) {
        match v {
            RawBsonRef::String(s) => out.push(s.to_string()),
            RawBsonRef::Document(d) if depth < 4 => {
                for (k, x) in d.iter().flatten() {
                    match k {
                        "$eq" | "$literal" => take(x, depth + 1, out),
                        "$in" => {
                            if let RawBsonRef::Array(list) = x {
                                list.into_iter().flatten().for_each(|x| take(x, depth + 1, out));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    fn walk(node: RawBsonRef<'_>, field: &str, depth: usize, out: &mut Vec<String>) {
        if depth > 64 {
            return;
        }
        match node {
            RawBsonRef::Array(items) => {
                items.into_iter().flatten().for_each(|i| walk(i, field, depth + 1, out))
            }
            RawBsonRef::Document(d) => {
                for (k, v) in d.iter().flatten() {
                    if k == field {
                        take(v, 0, out);
                    }
                    walk(v, field, depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(RawBsonRef::Document(request), field, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ErrorKind, Principal, Strategy};
    use bson::doc;

    fn tenant() -> Scope {
        Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
    }

    #[test]
    fn every_tenant_id_a_system_write_could_store_is_listed() {
        let req = doc! {
            "documents": [{ "tenantId": "a" }, { "x": { "tenantId": { "$eq": "b" } } }],
            "update": { "$set": { "tenantId": { "$literal": "c" } } },
            "filter": { "tenantId": { "$in": ["d", 5, { "$eq": "e" }] } },
            "pipeline": [{ "$set": { "tenantId": { "$literal": { "$literal": { "$literal": { "$literal": "deep" } } } } } }],
            "other": { "org": "z" },
        };
        let raw = bson::RawDocumentBuf::from_document(&req).unwrap();
        assert_eq!(stored_tenant_ids("tenantId", &raw), ["a", "b", "c", "d", "e", "deep"]);
        assert!(stored_tenant_ids("org", &raw) == ["z"]);
        // A repeated tenant field (a Map with a String-object key) lists both values.
        let mut twice = bson::RawDocumentBuf::new();
        twice.append("tenantId", "A");
        twice.append("tenantId", "B");
        let mut outer = bson::RawDocumentBuf::new();
        outer.append("document", twice);
        assert_eq!(stored_tenant_ids("tenantId", &outer), ["A", "B"]);
    }

    #[test]
    fn upserts_add_the_filter_check_and_an_id() {
        let other = doc! { "tenantId": "b" };
        // A filter naming another tenant matches nothing as a plain write; as an upsert it
        // would insert into the caller's tenant a document the caller believes is b's.
        assert!(write_filter(&tenant(), other.clone(), false).is_ok());
        assert_eq!(
            write_filter(&tenant(), other, true).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
        let set = Some(Bson::Document(doc! { "$set": { "x": 1 } }));
        let id = ObjectId::new();
        let plain = scoped_update(&tenant(), set.clone(), &doc! {}, false, id).unwrap();
        let up = scoped_update(&tenant(), set.clone(), &doc! {}, true, id).unwrap();
        let (update::Update::Modifiers(p), update::Update::Modifiers(u)) = (plain, up) else {
            panic!("modifiers")
        };
        assert!(!p.to_string().contains(&id.to_hex()));
        assert!(u.to_string().contains(&id.to_hex()), "{u}");
        // A system upsert that names no tenant is refused.
        let system = Scope::for_test(Principal::System, Strategy::Field);
        assert!(scoped_update(&system, set.clone(), &doc! {}, true, id).is_err());
        assert!(scoped_update(&system, set, &doc! { "tenantId": "a" }, true, id).is_ok());
        let e = scoped_update(&tenant(), None, &doc! {}, false, id).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }
}
