//! What a tenant's request may not ask the server to evaluate, wherever it appears (filters,
//! projections, sorts, pipelines, updates, `let`):
//! - values that expose counters every tenant shares: `{$meta: 'recordId'}` (the collection's
//!   record number: a tenant's two documents numbered 1 and 9 show seven inserts by others),
//!   `{$meta: 'indexKey'}` (keys of a shared index) and `$$CLUSTER_TIME` (the oplog position,
//!   which moves with every write of every tenant);
//! - server-side JavaScript (`$where`, `$function`, `$accumulator`): filters could run it on
//!   other tenants' documents, and one rule everywhere is easier to trust than a rule per place.

use bson::{Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::expr_guard::SERVER_JS;
use super::Principal;

/// `$meta` kinds that read shared counters.
const SHARED_META: &[&str] = &["recordId", "indexKey"];

/// The system variable that reads the cluster's oplog clock.
const CLUSTER_TIME: &str = "$$CLUSTER_TIME";

/// Refuses a tenant's request (as the JS face sends it) that would evaluate a shared counter
/// or server-side JavaScript. Only what the server evaluates is looked at: filters, pipelines,
/// pipeline updates, projections, sorts, `let` and array filters. Documents being inserted,
/// replacements, operator updates and options such as `comment` are data, stored or echoed
/// as they are. `runAsSystem` may read the counters.
pub fn check_request(principal: &Principal, request: &Document) -> ScopeResult<()> {
    if *principal == Principal::System {
        return Ok(());
    }
    for (k, v) in request {
        match k.as_str() {
            "filter" | "pipeline" => check_value(v)?,
            "update" => check_update(v)?,
            "options" => check_options(v)?,
            "operations" => check_bulk(v)?,
            _ => {}
        }
    }
    Ok(())
}

/// A pipeline update is evaluated; an operator update stores its values as they are.
fn check_update(update: &Bson) -> ScopeResult<()> {
    match update {
        Bson::Array(_) => check_value(update),
        _ => Ok(()),
    }
}

/// The options the server evaluates.
fn check_options(options: &Bson) -> ScopeResult<()> {
    let Bson::Document(o) = options else { return Ok(()) };
    for key in ["projection", "sort", "let", "arrayFilters"] {
        if let Some(v) = o.get(key) {
            check_value(v)?;
        }
    }
    Ok(())
}

/// bulkWrite: each operation's filter, pipeline update and array filters.
fn check_bulk(ops: &Bson) -> ScopeResult<()> {
    let Bson::Array(ops) = ops else { return Ok(()) };
    for op in ops {
        let Bson::Document(op) = op else { continue };
        for body in op.values() {
            let Bson::Document(body) = body else { continue };
            if let Some(f) = body.get("filter") {
                check_value(f)?;
            }
            if let Some(u) = body.get("update") {
                check_update(u)?;
            }
            if let Some(a) = body.get("arrayFilters") {
                check_value(a)?;
            }
        }
    }
    Ok(())
}

/// Walks one value iteratively (any depth is safe).
fn check_value(root: &Bson) -> ScopeResult<()> {
    let mut todo = vec![root];
    while let Some(v) = todo.pop() {
        match v {
            Bson::Document(d) => {
                if let Some(op) = d.keys().find_map(|k| SERVER_JS.iter().find(|js| **js == k)) {
                    return Err(ScopeError::violation(format!(
                        "{op} is not allowed under a tenant: server-side JavaScript could run on other tenants' documents"
                    )));
                }
                if let Some(Bson::String(kind)) = d.get("$meta") {
                    if SHARED_META.contains(&kind.as_str()) {
                        return Err(ScopeError::violation(format!(
                            "{{$meta: '{kind}'}} is not allowed under a tenant: it reads a counter every tenant's writes move"
                        )));
                    }
                }
                todo.extend(d.values());
            }
            Bson::Array(items) => todo.extend(items.iter()),
            Bson::String(s) if s == CLUSTER_TIME || s.starts_with("$$CLUSTER_TIME.") => {
                return Err(ScopeError::violation(
                    "$$CLUSTER_TIME is not allowed under a tenant: it reads the oplog clock every tenant's writes move",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn t() -> Principal {
        Principal::Tenant("a".into())
    }

    #[test]
    fn shared_counters_are_refused_wherever_they_would_be_evaluated() {
        let refused = [
            doc! { "filter": {}, "options": { "projection": { "r": { "$meta": "recordId" } } } },
            doc! { "pipeline": [{ "$project": { "k": { "$meta": "indexKey" } } }] },
            doc! { "pipeline": [{ "$lookup": { "from": "c", "as": "x", "pipeline": [{ "$set": { "t": "$$CLUSTER_TIME" } }] } }] },
            doc! { "filter": {}, "update": [{ "$set": { "t": "$$CLUSTER_TIME" } }] },
            doc! { "filter": { "$expr": { "$gt": ["$$CLUSTER_TIME", 0] } } },
            doc! { "operations": [{ "updateOne": { "filter": {}, "update": [{ "$set": { "r": { "$meta": "recordId" } } }] } }] },
            doc! { "options": { "let": { "t": "$$CLUSTER_TIME" } } },
        ];
        for r in refused {
            assert_eq!(
                check_request(&t(), &r).unwrap_err().kind,
                super::super::ErrorKind::TenantViolation,
                "{r}"
            );
        }
        let allowed = [
            doc! { "filter": {}, "options": { "projection": { "s": { "$meta": "textScore" } } } },
            doc! { "filter": {}, "options": { "comment": { "$where": "1", "t": "$$CLUSTER_TIME" } } },
            doc! { "filter": {}, "update": { "$set": { "t": "$$CLUSTER_TIME", "w": { "$where": 1 } } } },
            doc! { "document": { "note": "$$CLUSTER_TIME", "m": { "$meta": "recordId" } } },
            doc! { "filter": {}, "replacement": { "note": "$$CLUSTER_TIME" } },
            doc! { "operations": [{ "insertOne": { "document": { "n": "$$CLUSTER_TIME" } } }, { "replaceOne": { "filter": {}, "replacement": { "n": "$$CLUSTER_TIME" } } }] },
            doc! { "pipeline": [{ "$set": { "now": "$$NOW" } }] },
        ];
        for a in allowed {
            assert!(check_request(&t(), &a).is_ok(), "{a}");
        }
        let js = doc! { "$function": { "body": "function(){return 1}", "args": [], "lang": "js" } };
        for r in [
            doc! { "filter": {}, "options": { "projection": { "v": js.clone() } } },
            doc! { "options": { "let": { "v": js.clone() } } },
            doc! { "filter": {}, "update": [{ "$set": { "v": js.clone() } }] },
            doc! { "filter": { "$where": "1" } },
        ] {
            assert_eq!(
                check_request(&t(), &r).unwrap_err().kind,
                super::super::ErrorKind::TenantViolation,
                "{r}"
            );
        }
        assert!(check_request(&t(), &doc! { "document": { "v": js } }).is_ok());
        let sys = doc! { "pipeline": [{ "$project": { "k": { "$meta": "recordId" } } }] };
        assert!(check_request(&Principal::System, &sys).is_ok());
    }
}
