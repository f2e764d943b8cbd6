//! Stamping new documents. Under a tenant, every inserted or replacement
//! document carries the tenant; one that names another tenant is refused
//! rather than silently corrected, so a bug in the caller surfaces.

use std::borrow::Cow;

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

use super::error::{ScopeError, ScopeResult};
use super::tenant_id::check_hard;
use super::{shared, Principal, Scope, Strategy};

/// What a document's tenant field holds, as far as stamping cares.
enum Found<'a> {
    Absent,
    Str(&'a str),
    Other(Bson),
}

/// The one stamping rule, shared by the tree and the raw paths: `Some(t)` when the
/// tenant must be added, `None` when the document may go as it is.
fn decide<'s>(scope: &'s Scope, found: Found<'_>) -> ScopeResult<Option<&'s str>> {
    if scope.strategy == Strategy::Database {
        return Ok(None);
    }
    if shared::unstamped(scope) {
        return match (&scope.principal, found) {
            (Principal::System, Found::Absent) => Ok(None),
            (Principal::System, _) => Err(shared::stamped_refusal(scope)),
            // `shared::admit` refused it first; a tenant never writes a shared collection.
            (Principal::Tenant(_) | Principal::Tenants(_), _) => {
                Err(ScopeError::violation("a tenant may not write a shared collection"))
            }
        };
    }
    let field = &scope.field;
    match (&scope.principal, found) {
        // `scope::tenants::admit` refused the write first.
        (Principal::Tenants(_), _) => Err(ScopeError::violation("runAsTenants does not write")),
        (Principal::Tenant(t), Found::Absent) => {
            check_hard(t)?;
            Ok(Some(t))
        }
        (Principal::Tenant(t), Found::Str(s)) if s == t => Ok(None),
        (Principal::Tenant(t), Found::Str(s)) => Err(ScopeError::violation(format!(
            "document names tenant '{s}' but the current tenant is '{t}'"
        ))),
        (Principal::Tenant(_), Found::Other(other)) => Err(ScopeError::violation(format!(
            "tenant field '{field}' must be a string, not {other}"
        ))),
        (Principal::System, Found::Absent) => Err(ScopeError::violation(format!(
            "documents written under runAsSystem must name their tenant in '{field}'"
        ))),
        (Principal::System, Found::Str(s)) => scope.check_id(s).map(|_| None),
        (Principal::System, Found::Other(other)) => Err(ScopeError::invalid(format!(
            "tenant field '{field}' must be a string, not {other}"
        ))),
    }
}

fn duplicate_key_error(scope: &Scope, k: &str) -> ScopeError {
    if k == scope.field && scope.strategy == Strategy::Field {
        ScopeError::violation(format!("document names the tenant field '{k}' more than once"))
    } else {
        ScopeError::argument(format!("document names the field '{k}' more than once"))
    }
}

/// Puts `field: value` right after a leading `_id`, else first. mongod moves `_id` to the
/// front when it stores a document, so either way it is stored as `_id, tenant, rest`.
fn insert_tenant(doc: &mut Document, field: &str, value: &str) {
    let old = std::mem::take(doc);
    let leading_id = old.keys().next().is_some_and(|k| k == "_id");
    let mut rest = old.into_iter();
    if leading_id {
        if let Some((k, v)) = rest.next() {
            doc.insert(k, v);
        }
    }
    doc.insert(field, value);
    doc.extend(rest);
}

/// An empty Timestamp at the top level of a written document is filled by the server with the
/// cluster's oplog clock, which every tenant's writes move: a tenant would read their count.
fn check_timestamp(scope: &Scope, key: &str, time: u32, increment: u32) -> ScopeResult<()> {
    if time == 0 && increment == 0 && scope.tenant().is_some() {
        return Err(ScopeError::violation(format!(
            "an empty Timestamp in '{key}' is not allowed under a tenant: the server fills it with the cluster's oplog clock, which every tenant's writes move"
        )));
    }
    Ok(())
}

/// Stamps or verifies the tenant on a document about to be inserted.
pub fn stamp(scope: &Scope, doc: &mut Document) -> ScopeResult<()> {
    // A top-level `$`-prefixed field is data in an insert (MongoDB 5.0+ stores it, as the driver
    // sends it); only a replacement refuses one (`stamp_replacement`), where it reads as an update.
    for (k, v) in doc.iter() {
        if let Bson::Timestamp(ts) = v {
            check_timestamp(scope, k, ts.time, ts.increment)?;
        }
    }
    let found = match doc.get(&scope.field) {
        None => Found::Absent,
        Some(Bson::String(s)) => Found::Str(s),
        Some(other) => Found::Other(other.clone()),
    };
    if let Some(t) = decide(scope, found)? {
        insert_tenant(doc, &scope.field, t);
    }
    Ok(())
}

/// Stamps or verifies the tenant on raw document bytes, without building a tree: the
/// element bytes are copied around one new string element (the bulk insert path).
pub fn stamp_raw<'d>(scope: &Scope, doc: &'d RawDocument) -> ScopeResult<Cow<'d, RawDocument>> {
    let malformed = |e: bson::raw::Error| ScopeError::argument(format!("malformed document: {e}"));
    let bytes = doc.as_bytes();
    let mut offset = 4;
    let mut after_id = 4;
    let mut found = Found::Absent;
    let mut keys: Vec<&str> = Vec::new();
    for (i, element) in doc.iter_elements().enumerate() {
        let element = element.map_err(malformed)?;
        let key = element.key();
        // A JS Map can repeat a key. mongod and the owner check read the first copy, a tree
        // the last: every reader must agree on which field is meant, so none may repeat.
        if keys.contains(&key) {
            return Err(duplicate_key_error(scope, key));
        }
        keys.push(key);
        if let Ok(RawBsonRef::Timestamp(ts)) = element.value() {
            check_timestamp(scope, key, ts.time, ts.increment)?;
        }
        offset += 1 + key.len() + 1 + element.len();
        if i == 0 && key == "_id" {
            after_id = offset;
        }
        if key == scope.field {
            found = match element.value().map_err(malformed)? {
                RawBsonRef::String(s) => Found::Str(s),
                other => Found::Other(
                    Bson::try_from(other.to_raw_bson()).unwrap_or(Bson::String("?".into())),
                ),
            };
        }
    }
    let Some(t) = decide(scope, found)? else {
        return Ok(Cow::Borrowed(doc));
    };
    let field = scope.field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + field.len() + t.len() + 7);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&bytes[4..after_id]);
    out.push(0x02); // string element
    out.extend_from_slice(field);
    out.push(0);
    out.extend_from_slice(&(t.len() as i32 + 1).to_le_bytes());
    out.extend_from_slice(t.as_bytes());
    out.push(0);
    out.extend_from_slice(&bytes[after_id..]);
    let len = i32::try_from(out.len())
        .map_err(|_| ScopeError::argument("document is larger than the BSON limit"))?;
    out[..4].copy_from_slice(&len.to_le_bytes());
    Ok(Cow::Owned(RawDocumentBuf::from_bytes(out).map_err(malformed)?))
}

/// Stamps a replacement document (replaceOne, findOneAndReplace); operators are refused.
pub fn stamp_replacement(scope: &Scope, mut doc: Document) -> ScopeResult<Document> {
    if doc.keys().any(|k| k.starts_with('$')) {
        return Err(ScopeError::argument("replacement document must not contain update operators"));
    }
    stamp(scope, &mut doc)?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;
    use bson::doc;

    fn scope(principal: Principal, strategy: Strategy) -> Scope {
        Scope::for_test(principal, strategy)
    }

    fn tenant() -> Scope {
        scope(Principal::Tenant("a".into()), Strategy::Field)
    }

    #[test]
    fn system_writes_follow_the_fences_id_rule() {
        let long = "x".repeat(65);
        let mut default_rule = scope(Principal::System, Strategy::Field);
        let err = stamp(&default_rule, &mut doc! { "tenantId": long.as_str() }).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TenantInvalid);
        // A custom JS pattern may allow longer ids; Rust then checks the hard rules only.
        default_rule.default_rule = false;
        stamp(&default_rule, &mut doc! { "tenantId": long.as_str() }).unwrap();
        let err = stamp(&default_rule, &mut doc! { "tenantId": "a.b" }).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TenantInvalid);
    }

    #[test]
    fn stamps_after_id_or_first() {
        let s = tenant();
        let mut d = doc! { "_id": 1, "x": 2 };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["_id", "tenantId", "x"]);
        assert_eq!(d, doc! { "_id": 1, "tenantId": "a", "x": 2 });

        // mongod moves a later `_id` to the front, so this is stored as _id, tenantId, x.
        let mut d = doc! { "x": 2, "_id": 1 };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["tenantId", "x", "_id"]);

        let mut d = doc! { "x": 2, "y": { "tenantId": "b" } };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["tenantId", "x", "y"]);

        let mut d = doc! {};
        stamp(&s, &mut d).unwrap();
        assert_eq!(d, doc! { "tenantId": "a" });

        let mut d = doc! { "tenantId": "a", "x": 1 };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d, doc! { "tenantId": "a", "x": 1 });
    }

    #[test]
    fn tenant_refusals() {
        let s = tenant();
        let cases = [
            (
                doc! { "tenantId": "b" },
                ErrorKind::TenantViolation,
                "names tenant 'b' but the current tenant is 'a'",
            ),
            (doc! { "tenantId": "A" }, ErrorKind::TenantViolation, "'A'"),
            (doc! { "tenantId": "a " }, ErrorKind::TenantViolation, "'a '"),
            (doc! { "tenantId": 1 }, ErrorKind::TenantViolation, "must be a string"),
            (doc! { "tenantId": Bson::Null }, ErrorKind::TenantViolation, "must be a string"),
            (doc! { "tenantId": ["a"] }, ErrorKind::TenantViolation, "must be a string"),
            (doc! { "tenantId": { "$eq": "a" } }, ErrorKind::TenantViolation, "must be a string"),
        ];
        // A top-level `$` field is data in an insert (MongoDB 5.0+), an operator in a replacement.
        for d in [doc! { "$set": { "x": 1 } }, doc! { "x": 1, "$where": 1 }] {
            let mut stamped = d.clone();
            stamp(&s, &mut stamped).unwrap();
            assert_eq!(stamped.get_str("tenantId"), Ok("a"));
            let err = stamp_replacement(&s, d).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument);
        }
        for (mut d, kind, needle) in cases {
            let err = stamp(&s, &mut d).unwrap_err();
            assert_eq!(err.kind, kind, "{d}");
            assert!(err.message.contains(needle), "{d}: {}", err.message);
        }
    }

    #[test]
    fn system_needs_a_valid_tenant() {
        let s = scope(Principal::System, Strategy::Field);
        let mut d = doc! { "tenantId": "b" };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d, doc! { "tenantId": "b" });
        let cases = [
            (doc! { "x": 1 }, ErrorKind::TenantViolation),
            (doc! { "tenantId": "" }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": "a.b" }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": "$a" }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": 1 }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": Bson::Null }, ErrorKind::TenantInvalid),
        ];
        for (mut d, kind) in cases {
            assert_eq!(stamp(&s, &mut d).unwrap_err().kind, kind, "{d}");
        }
    }

    #[test]
    fn database_strategy_is_unchanged() {
        for p in [Principal::Tenant("a".into()), Principal::System] {
            let s = scope(p, Strategy::Database);
            let mut d = doc! { "tenantId": "b", "x": 1 };
            stamp(&s, &mut d).unwrap();
            assert_eq!(d, doc! { "tenantId": "b", "x": 1 });
            assert_eq!(
                stamp_replacement(&s, doc! { "$x": 1 }).unwrap_err().kind,
                ErrorKind::InvalidArgument
            );
        }
    }

    #[test]
    fn replacements() {
        let s = tenant();
        assert_eq!(
            stamp_replacement(&s, doc! { "x": 1 }).unwrap(),
            doc! { "tenantId": "a", "x": 1 }
        );
        assert_eq!(stamp_replacement(&s, doc! {}).unwrap(), doc! { "tenantId": "a" });
        let err = stamp_replacement(&s, doc! { "$set": { "tenantId": "b" } }).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(err.message, "replacement document must not contain update operators");
        assert_eq!(
            stamp_replacement(&s, doc! { "tenantId": "b" }).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
        let sys = scope(Principal::System, Strategy::Field);
        assert_eq!(
            stamp_replacement(&sys, doc! { "x": 1 }).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
    }

    /// The raw path must give exactly what the tree path gives, key order and errors included.
    fn same_as_tree(s: &Scope, d: Document) {
        let raw = RawDocumentBuf::from_document(&d).unwrap();
        let mut tree = d.clone();
        match (stamp(s, &mut tree), stamp_raw(s, &raw)) {
            (Ok(()), Ok(out)) => {
                let out = Document::try_from(out.as_ref()).unwrap();
                assert_eq!(out.keys().collect::<Vec<_>>(), tree.keys().collect::<Vec<_>>(), "{d}");
                assert_eq!(out, tree, "{d}");
            }
            (Err(a), Err(b)) => assert_eq!((a.kind, a.message), (b.kind, b.message), "{d}"),
            (a, b) => panic!("{d}: tree {a:?}, raw {:?}", b.map(|c| c.into_owned())),
        }
    }

    #[test]
    fn raw_stamping_matches_the_tree_rule() {
        let docs = [
            doc! {},
            doc! { "_id": 1, "x": 2 },
            doc! { "x": 2, "_id": 1 },
            doc! { "_id": { "a": [1, 2] }, "s": "é✓", "n": Bson::Null, "y": { "tenantId": "b" } },
            doc! { "tenantId": "a", "x": 1 },
            doc! { "x": 1, "tenantId": "a" },
            doc! { "tenantId": "b" },
            doc! { "tenantId": "A" },
            doc! { "tenantId": 1 },
            doc! { "tenantId": ["a"] },
            doc! { "tenantId": { "$eq": "a" } },
            doc! { "$set": { "x": 1 } },
            doc! { "x": 1, "$where": 1 },
            doc! { "tenantId": "" },
            doc! { "tenantId": "a.b" },
        ];
        let mut long_ok = scope(Principal::System, Strategy::Field);
        long_ok.default_rule = false;
        let scopes = [
            tenant(),
            scope(Principal::System, Strategy::Field),
            long_ok,
            scope(Principal::Tenant("a".into()), Strategy::Database),
            scope(Principal::Tenant("a.b".into()), Strategy::Field),
        ];
        for s in &scopes {
            for d in &docs {
                same_as_tree(s, d.clone());
            }
        }
    }

    #[test]
    fn raw_stamping_borrows_documents_it_leaves_alone() {
        let raw = RawDocumentBuf::from_document(&doc! { "tenantId": "a", "x": 1 }).unwrap();
        assert!(matches!(stamp_raw(&tenant(), &raw).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn a_repeated_key_is_refused_on_the_raw_path() {
        let mut twice = RawDocumentBuf::new();
        twice.append("_id", 1);
        twice.append("tenantId", "b");
        twice.append("tenantId", "a");
        let e = stamp_raw(&tenant(), &twice).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TenantViolation);
        let db = scope(Principal::Tenant("a".into()), Strategy::Database);
        assert_eq!(stamp_raw(&db, &twice).unwrap_err().kind, ErrorKind::InvalidArgument);
        let sys = scope(Principal::System, Strategy::Field);
        assert_eq!(stamp_raw(&sys, &twice).unwrap_err().kind, ErrorKind::TenantViolation);
        let mut other = RawDocumentBuf::new();
        other.append("_id", 1);
        other.append("x", 1);
        other.append("_id", 2);
        let e = stamp_raw(&tenant(), &other).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("'_id' more than once"));
        // Nested documents may repeat keys: no tenant decision reads them.
        let mut inner = RawDocumentBuf::new();
        inner.append("k", 1);
        inner.append("k", 2);
        let mut outer = RawDocumentBuf::new();
        outer.append("x", inner);
        assert!(stamp_raw(&tenant(), &outer).is_ok());
    }

    #[test]
    fn an_empty_timestamp_is_refused_under_a_tenant() {
        let empty = bson::Timestamp { time: 0, increment: 0 };
        let e = stamp(&tenant(), &mut doc! { "t": empty }).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TenantViolation);
        let raw = RawDocumentBuf::from_document(&doc! { "t": empty }).unwrap();
        assert_eq!(stamp_raw(&tenant(), &raw).unwrap_err().kind, ErrorKind::TenantViolation);
        let set = bson::Timestamp { time: 1, increment: 1 };
        assert!(stamp(&tenant(), &mut doc! { "t": set, "n": { "t": empty } }).is_ok());
        let sys = scope(Principal::System, Strategy::Field);
        assert!(stamp(&sys, &mut doc! { "tenantId": "a", "t": empty }).is_ok());
    }
}
