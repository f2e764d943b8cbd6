//! A caller's expressions never run on another tenant's document.
//!
//! MongoDB does not evaluate a filter's clauses in order: with an `_id` predicate or hint the
//! plan can run the caller's `$expr` on every tenant's document before the tenant equality, and
//! whether it errors (and the error's message) then tells the caller about those documents.
//! Aggregation `$and` evaluates in order and stops at the first false, so every `$expr: E`
//! becomes `$expr: {$and: [<this tenant's document?>, E]}`, the security-barrier idea of
//! PostgreSQL's row-level security. Server-side JavaScript (`$where`, `$function`,
//! `$accumulator`) is refused under a tenant: it is not worth a second barrier.

use bson::{doc, Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::walk::{too_deep, MAX_DEPTH};
use super::Owners;

/// Operators that run server-side JavaScript.
pub const SERVER_JS: &[&str] = &["$where", "$function", "$accumulator"];

/// The aggregation test "this document is one of `owners`'": exact under any collation
/// (`$regexMatch` ignores collation; `$type` first, since `$regexMatch` errors on non-strings).
pub fn tenant_test(field: &str, owners: Owners, collation_guard: bool) -> Bson {
    let path = format!("${field}");
    if !collation_guard {
        // Under the simple collation `$eq` / `$in` are exact, and no other type equals a string.
        return Bson::Document(match owners {
            Owners::One(t) => doc! { "$eq": [path, t] },
            Owners::Many(ids) => doc! { "$in": [path, ids.to_vec()] },
        });
    }
    Bson::Document(doc! { "$and": [
        { "$eq": [{ "$type": path.as_str() }, "string"] },
        { "$regexMatch": { "input": path.as_str(), "regex": owners.exact_pattern() } },
    ] })
}

/// `$expr: E` made to run `E` only on the tenant's documents.
fn guarded(field: &str, tenant: Owners, collation_guard: bool, e: Bson) -> Bson {
    Bson::Document(doc! { "$and": [tenant_test(field, tenant, collation_guard), e] })
}

/// Wraps every `$expr` of a query filter (top level and under `$and` / `$or` / `$nor`, the
/// only places MongoDB accepts it) in the tenant test, and refuses server-side JavaScript.
pub fn guard_filter(
    field: &str,
    tenant: Owners,
    collation_guard: bool,
    filter: &mut Document,
) -> ScopeResult<()> {
    refuse_server_js_in(filter, "a filter")?;
    guard_level(field, tenant, collation_guard, filter, 0)
}

fn guard_level(
    field: &str,
    tenant: Owners,
    collation_guard: bool,
    filter: &mut Document,
    depth: usize,
) -> ScopeResult<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    for (k, v) in filter.iter_mut() {
        match k.as_str() {
            "$expr" => {
                let e = std::mem::replace(v, Bson::Null);
                *v = guarded(field, tenant, collation_guard, e);
            }
            "$and" | "$or" | "$nor" => {
                if let Bson::Array(items) = v {
                    for item in items.iter_mut() {
                        if let Bson::Document(d) = item {
                            guard_level(field, tenant, collation_guard, d, depth + 1)?;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// True when a filter holds `$expr` where MongoDB accepts it (top level, `$and`/`$or`/`$nor`).
pub fn has_expr(filter: &Document) -> bool {
    !exprs(filter).is_empty()
}

/// Every `$expr` of a filter where MongoDB accepts one (top level, `$and`/`$or`/`$nor`), with
/// its depth (0 at the top), as `guard` finds them.
pub fn exprs(filter: &Document) -> Vec<(&Bson, usize)> {
    let mut found = Vec::new();
    let mut todo = vec![(filter, 0)];
    while let Some((f, depth)) = todo.pop() {
        for (k, v) in f {
            match (k.as_str(), v) {
                ("$expr", e) => found.push((e, depth)),
                ("$and" | "$or" | "$nor", Bson::Array(items)) => {
                    todo.extend(items.iter().filter_map(Bson::as_document).map(|d| (d, depth + 1)));
                }
                _ => {}
            }
        }
    }
    found
}

/// Refuses `$where`, `$function` and `$accumulator` anywhere in `doc` (`what` names it).
pub fn refuse_server_js_in(doc: &Document, what: &str) -> ScopeResult<()> {
    server_js_in(doc).map_or(Ok(()), |op| {
        Err(ScopeError::violation(format!(
            "{op} in {what} is not allowed under a tenant: server-side JavaScript could run on other tenants' documents"
        )))
    })
}

/// The first server-side JavaScript operator in `doc`. Iterative, so any depth is safe (the
/// depth rules of filters and pipelines report their own errors).
pub fn server_js_in(doc: &Document) -> Option<&'static str> {
    fn visit<'a>(d: &'a Document, todo: &mut Vec<&'a Bson>) -> Option<&'static str> {
        for (k, v) in d {
            if let Some(op) = SERVER_JS.iter().find(|op| **op == k) {
                return Some(op);
            }
            todo.push(v);
        }
        None
    }
    let mut todo: Vec<&Bson> = Vec::new();
    let mut found = visit(doc, &mut todo);
    while found.is_none() {
        let Some(v) = todo.pop() else { break };
        match v {
            Bson::Document(d) => found = visit(d, &mut todo),
            Bson::Array(items) => todo.extend(items.iter()),
            _ => {}
        }
    }
    found
}

/// True when `$expr`'s value `e` runs the caller's expression only after the tenant test
/// (the shape `guard_filter` produces), for the isolation probe.
pub fn is_guarded(field: &str, tenant: Owners, e: &Bson) -> bool {
    let Bson::Document(d) = e else { return false };
    let Some(Bson::Array(items)) = d.get("$and").filter(|_| d.len() == 1) else { return false };
    items.first().is_some_and(|first| {
        *first == tenant_test(field, tenant, false) || *first == tenant_test(field, tenant, true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    fn guard(mut f: Document, collation: bool) -> ScopeResult<Document> {
        guard_filter("tenantId", Owners::One("a"), collation, &mut f)?;
        Ok(f)
    }

    #[test]
    fn every_expr_runs_after_the_tenant_test() {
        let e = doc! { "$gt": ["$x", 1] };
        let table = [
            (
                doc! { "$expr": e.clone() },
                doc! { "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, e.clone()] } },
            ),
            (
                doc! { "_id": 1, "$or": [{ "x": 1 }, { "$expr": e.clone() }] },
                doc! { "_id": 1, "$or": [{ "x": 1 }, { "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, e.clone()] } }] },
            ),
            (
                doc! { "$nor": [{ "$and": [{ "$expr": true }] }] },
                doc! { "$nor": [{ "$and": [{ "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, true] } }] }] },
            ),
            (doc! { "x": { "$gt": 1 } }, doc! { "x": { "$gt": 1 } }),
        ];
        for (input, want) in table {
            assert_eq!(guard(input.clone(), false).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn under_a_collation_the_test_ignores_it() {
        let f = guard(doc! { "$expr": true }, true).unwrap();
        let test = doc! { "$and": [
            { "$eq": [{ "$type": "$tenantId" }, "string"] },
            { "$regexMatch": { "input": "$tenantId", "regex": "^a\\z" } },
        ] };
        assert_eq!(f, doc! { "$expr": { "$and": [test, true] } });
    }

    #[test]
    fn server_side_javascript_is_refused_anywhere() {
        for f in [
            doc! { "$where": "true" },
            doc! { "$or": [{ "$where": "sleep(100)" }] },
            doc! { "$expr": { "$function": { "body": "function(){return true}", "args": [], "lang": "js" } } },
            doc! { "x": { "$elemMatch": { "$where": "1" } } },
            doc! { "$expr": { "$gt": [{ "$accumulator": {} }, 1] } },
        ] {
            let e = guard(f.clone(), false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation, "{f}");
        }
    }
}
