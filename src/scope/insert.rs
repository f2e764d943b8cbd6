//! Stamping new documents. Under a tenant, every inserted or replacement
//! document carries the tenant; one that names another tenant is refused
//! rather than silently corrected, so a bug in the caller surfaces.

use bson::{Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::tenant_id::check_hard;
use super::{Principal, Scope, Strategy};

/// First top-level `$` key, if any.
fn dollar_key(doc: &Document) -> Option<&str> {
    doc.keys().map(String::as_str).find(|k| k.starts_with('$'))
}

/// Inserts `field: value` right after `_id` (or first when there is no `_id`),
/// so the stored order matches what the caller wrote plus the tenant up front.
fn insert_after_id(doc: &mut Document, field: &str, value: &str) {
    let old = std::mem::take(doc);
    let has_id = old.contains_key("_id");
    if !has_id {
        doc.insert(field, value);
    }
    for (k, v) in old {
        let is_id = k == "_id";
        doc.insert(k, v);
        if is_id {
            doc.insert(field, value);
        }
    }
}

/// Stamps or verifies the tenant on a document about to be inserted.
pub fn stamp(scope: &Scope, doc: &mut Document) -> ScopeResult<()> {
    if let Some(k) = dollar_key(doc) {
        return Err(ScopeError::argument(format!(
            "document field names must not start with '$' (found '{k}')"
        )));
    }
    if scope.strategy == Strategy::Database {
        return Ok(());
    }
    let field = &scope.field;
    match (&scope.principal, doc.get(field)) {
        (Principal::Tenant(t), None) => {
            check_hard(t)?;
            insert_after_id(doc, field, t);
            Ok(())
        }
        (Principal::Tenant(t), Some(Bson::String(s))) if s == t => Ok(()),
        (Principal::Tenant(t), Some(Bson::String(s))) => Err(ScopeError::violation(format!(
            "document names tenant '{s}' but the current tenant is '{t}'"
        ))),
        (Principal::Tenant(_), Some(other)) => Err(ScopeError::violation(format!(
            "tenant field '{field}' must be a string, not {other}"
        ))),
        (Principal::System, None) => Err(ScopeError::violation(format!(
            "documents written under runAsSystem must name their tenant in '{field}'"
        ))),
        (Principal::System, Some(Bson::String(s))) => scope.check_id(s),
        (Principal::System, Some(other)) => Err(ScopeError::invalid(format!(
            "tenant field '{field}' must be a string, not {other}"
        ))),
    }
}

/// Stamps a replacement document (replaceOne, findOneAndReplace); operators are refused.
pub fn stamp_replacement(scope: &Scope, mut doc: Document) -> ScopeResult<Document> {
    if dollar_key(&doc).is_some() {
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
        Scope {
            field: "tenantId".into(),
            strategy,
            principal,
            collation_guard: false,
            default_ids: true,
        }
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
        default_rule.default_ids = false;
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

        let mut d = doc! { "x": 2, "_id": 1 };
        stamp(&s, &mut d).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["x", "_id", "tenantId"]);

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
            (doc! { "$set": { "x": 1 } }, ErrorKind::InvalidArgument, "'$set'"),
            (doc! { "x": 1, "$where": 1 }, ErrorKind::InvalidArgument, "'$where'"),
        ];
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
                stamp(&s, &mut doc! { "$x": 1 }).unwrap_err().kind,
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
}
