//! Scoping read filters. The tenant equality always sits at the top level of
//! the filter, where MongoDB ANDs it with everything else, so no user clause
//! can widen it; a user clause that names the tenant field is pushed down into
//! `$and` so it can only narrow.

use bson::{doc, Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::expr_guard;
#[cfg(test)]
use super::tenant_id::escape_regex;
use super::walk::{too_deep, MAX_DEPTH};
use super::{shared, Owners, Principal, Scope, Strategy};

/// `{field: {$regex: "^<id>\z"}}` (`^(?:a|b)\z` for several): `$regex` ignores collation, so
/// this clause keeps the match exact under any collation. `\z` (not `$`) so "acme\n" cannot match.
pub fn regex_twin(field: &str, owners: Owners) -> Document {
    doc! { field: { "$regex": owners.exact_pattern() } }
}

/// `{field: {$type: 'string', $not: {$type: 'array'}}}`. `{field: t}` also matches an array
/// holding `t`, or a BSON Symbol `t`, which only code outside the fence can write. Reads
/// treat such a document as tagged with each tenant it names; writes touch only documents
/// whose tenant field is exactly the string, so one tenant cannot take a shared document
/// from another. (Not on reads: it would turn index-only counts and distincts into fetches.)
pub fn string_only(field: &str) -> Document {
    doc! { field: { "$type": "string", "$not": { "$type": "array" } } }
}

/// The tenant match: `{field: t}` (`{field: {$in: [ids]}}` for several), plus
/// `$and: [<regex twin>]` when `guard`.
pub fn tenant_match(scope: &Scope, owners: Owners, guard: bool) -> Document {
    let mut m = doc! { scope.field.as_str(): owners.equality() };
    if guard {
        m.insert("$and", vec![Bson::Document(regex_twin(&scope.field, owners))]);
    }
    m
}

/// True when `estimatedDocumentCount` must run as an exact count of the tenant's documents:
/// the metadata count of a collection all tenants share counts every tenant's.
pub fn counts_exactly(scope: &Scope) -> bool {
    shared::injects(scope).is_some()
}

/// Scopes a read filter to the current tenant.
pub fn scope_filter(scope: &Scope, user: Document) -> ScopeResult<Document> {
    scope_with(scope, user, false)
}

/// Scopes the filter of an update, replace or delete: as a read, and the tenant field
/// must be exactly the tenant's string.
pub fn scope_write_filter(scope: &Scope, user: Document) -> ScopeResult<Document> {
    scope_with(scope, user, true)
}

fn scope_with(scope: &Scope, user: Document, exact_type: bool) -> ScopeResult<Document> {
    let Some(owners) = shared::injects(scope) else {
        // A tenant reading a shared collection: nothing to match, but no server-side JavaScript.
        if !scope.is_system() && scope.strategy == Strategy::Field {
            expr_guard::refuse_server_js_in(&user, "a filter")?;
        }
        return Ok(user);
    };
    // The principal is validated upstream; re-check the hard rule because a bad id
    // here would silently scope to the wrong thing.
    owners.check_hard()?;
    // A text index needs an equality on the fields before its text key: `$in` is not one.
    if let (Owners::Many(_), Some(super::bounds::Special::Text)) =
        (owners, super::bounds::special(&user, None))
    {
        return Err(ScopeError::violation(
            "$text is not available under runAsTenants: a text index takes one tenant at a time; query each tenant inside fence.runAs and merge",
        ));
    }
    let guard = scope.collation_guard;
    let mut user = user;
    expr_guard::guard_filter(&scope.field, owners, guard, &mut user)?;
    // `{field: t}` from the caller repeats ours; dropping it keeps an upsert from
    // seeing the field "matched twice" and changes nothing else. (Under runAsTenants the
    // caller's `{field: 'a'}` narrows the union: it stays.)
    if let Owners::One(tenant) = owners {
        if matches!(user.get(&scope.field).and_then(equality_value), Some(Bson::String(v)) if v == tenant)
        {
            user.remove(&scope.field);
        }
        // The same repeat inside `$and`, where an upsert also takes equalities from, would make
        // the server refuse the upsert: "path 'tenantId' is matched twice" (code 54).
        drop_repeats_in_and(&mut user, &scope.field, tenant, 0);
    }
    // Under a non-simple collation `{field: 'ACME'}` would match our own 'acme'
    // documents; tenant ids compare exactly, so such a clause becomes exact too.
    if guard {
        if let Some(Bson::String(other)) = user.get(&scope.field).and_then(equality_value).cloned()
        {
            user.insert(
                scope.field.clone(),
                regex_twin(&scope.field, Owners::One(&other))
                    .remove(&scope.field)
                    .unwrap_or(Bson::Null),
            );
        }
    }
    let user = shield(user, &scope.field);
    let mut clauses = Vec::with_capacity(3);
    if exact_type {
        clauses.push(Bson::Document(string_only(&scope.field)));
    }
    if guard {
        clauses.push(Bson::Document(regex_twin(&scope.field, owners)));
    }
    // Tenant first: it is the prefix of every index the fence creates.
    let mut out = doc! { scope.field.as_str(): owners.equality() };
    let ours_in_and = !clauses.is_empty();
    if !(ours_in_and && user.contains_key("$and")) {
        // Top-level keys are ANDed and none is ours (shield moved the caller's conditions on
        // the tenant field into its `$and`): merging cannot widen.
        if ours_in_and {
            out.insert("$and", clauses);
        }
        out.extend(user);
        return Ok(out);
    }
    clauses.push(Bson::Document(user));
    out.insert("$and", clauses);
    Ok(out)
}

/// A caller's own condition on the tenant field only narrows, but on a multikey tenant index
/// (an array ever stored in the field, outside the fence) MongoDB cannot intersect it with the
/// tenant bound and plans on the caller's range: other tenants' keys and documents examined
/// (red-team round 4). So the clauses that name the field (top-level keys, and `$and` /
/// `$or` / `$nor` entries holding one) go into the filter's `$and` as
/// `{$or: [<those clauses>, <never true>]}`: the same documents, and since no index serves the
/// second branch, they can no longer shape a plan. The other clauses stay where they were, so
/// `$text`, `$near` and the positional `$` see them as before (round 6).
pub fn shield(user: Document, field: &str) -> Document {
    let (naming, mut rest) = split_naming(user, field);
    if naming.is_empty() {
        return rest;
    }
    wrap_into(&mut rest, naming);
    rest
}

/// `shield` for a whole filter: every clause goes behind the never-true branch (a later
/// `$match` after a stage that copied the tenant field, which the server can rename back).
pub fn shield_all(user: Document) -> Document {
    if user.is_empty() {
        return user;
    }
    let mut out = Document::new();
    wrap_into(&mut out, user);
    out
}

fn wrap_into(into: &mut Document, naming: Document) {
    let wrapped = Bson::Document(doc! { "$or": [Bson::Document(naming), Bson::Document(never())] });
    match into.get_array_mut("$and") {
        Ok(items) => items.push(wrapped),
        Err(_) => {
            into.insert("$and", vec![wrapped]);
        }
    }
}

/// Splits a filter into the clauses that name the tenant field and the rest; a top-level
/// `$and` is split item by item, and each item key by key (through nested `$and`), so a clause
/// beside a tenant condition in one item stays where `$text`, `$near` and the positional `$`
/// need it (round 7).
fn split_naming(user: Document, field: &str) -> (Document, Document) {
    split_at(user, &|one: &Document| names_field(one, field, 0), 0)
}

/// `shield` for the clauses that could bound the shared `_id` index: those naming `_id` (or a
/// path in it), and `$expr`s reading `$_id`. A join's sub-query takes no hint, and MongoDB tries
/// every plan a filter allows: on the `_id` index the trial fetched other tenants' documents
/// and ran the caller's conditions on them before the tenant equality (red-team round 10).
pub fn shield_ids(user: Document) -> Document {
    let (naming, mut rest) = split_at(user, &|one: &Document| names_id(one, 0), 0);
    if naming.is_empty() {
        return rest;
    }
    wrap_into(&mut rest, naming);
    rest
}

/// Splits off the top-level clauses that pin `_id` to points (`v`, `{$eq: v}`, `{$in: [v...]}`
/// of plain values, or `$expr: {$eq: ['$_id', <'$$var' or plain value>]}`, a join's key): on
/// the `_id` index they fetch at most one document per value, and only the tenant match needs
/// to run on it. Returns (points, the rest).
pub fn split_id_points(user: Document) -> (Document, Document) {
    let (mut points, mut rest) = (Document::new(), Document::new());
    for (k, v) in user {
        let one = doc! { k.clone(): v };
        if super::bounds::ids_only(&one) || id_point_expr(&one) {
            points.extend(one);
        } else {
            rest.extend(one);
        }
    }
    (points, rest)
}

fn id_point_expr(one: &Document) -> bool {
    let Ok(e) = one.get_document("$expr") else { return false };
    let Ok(pair) = e.get_array("$eq") else { return false };
    let value = |b: &Bson| match b {
        Bson::String(s) => {
            s.starts_with("$$") && !s.starts_with("$$ROOT") && !s.starts_with("$$CURRENT")
        }
        other => super::by_id::plain(other),
    };
    e.len() == 1
        && pair.len() == 2
        && matches!((&pair[0], &pair[1]),
            (Bson::String(a), b) | (b, Bson::String(a)) if a == "$_id" && value(b))
}

/// True when a clause names `_id` (through `$and` / `$or` / `$nor`) or holds a `$expr` that
/// reads `$_id`.
fn names_id(filter: &Document, depth: usize) -> bool {
    fn reads_id(v: &Bson, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        // `$$ROOT._id` and `$$CURRENT._id` are the same path to the server (round 11).
        let path = |s: &str| s == "_id" || s.starts_with("_id.");
        match v {
            Bson::String(s) => {
                ["$$ROOT.", "$$CURRENT.", "$"].iter().any(|p| s.strip_prefix(p).is_some_and(path))
            }
            Bson::Document(d) => d.values().any(|x| reads_id(x, depth + 1)),
            Bson::Array(items) => items.iter().any(|x| reads_id(x, depth + 1)),
            _ => false,
        }
    }
    if depth > MAX_DEPTH {
        return true;
    }
    filter.iter().any(|(k, v)| match (k.as_str(), v) {
        ("$and" | "$or" | "$nor", Bson::Array(items)) => {
            items.iter().any(|i| matches!(i, Bson::Document(d) if names_id(d, depth + 1)))
        }
        ("$expr", e) => reads_id(e, 0),
        // `required: ['_id']` becomes an `$exists` on `_id` the index serves (round 11).
        ("$jsonSchema", _) => true,
        _ => super::path_in(k, "_id"),
    })
}

fn split_at(
    user: Document,
    names: &dyn Fn(&Document) -> bool,
    depth: usize,
) -> (Document, Document) {
    let (mut naming, mut rest) = (Document::new(), Document::new());
    for (k, v) in user {
        match (k.as_str(), v) {
            ("$and", Bson::Array(items)) if depth < MAX_DEPTH => {
                let (mut named, mut kept) = (Vec::new(), Vec::new());
                for item in items {
                    match item {
                        Bson::Document(d) => {
                            let (n, r) = split_at(d, names, depth + 1);
                            if !n.is_empty() {
                                named.push(Bson::Document(n));
                            }
                            if !r.is_empty() {
                                kept.push(Bson::Document(r));
                            }
                        }
                        other => kept.push(other),
                    }
                }
                if !named.is_empty() {
                    naming.insert("$and", named);
                }
                if !kept.is_empty() {
                    rest.insert("$and", kept);
                }
            }
            (_, v) => {
                let one = doc! { k.clone(): v };
                if names(&one) {
                    naming.extend(one);
                } else {
                    rest.extend(one);
                }
            }
        }
    }
    (naming, rest)
}

/// The field `never` tests (any name would do: the test contradicts itself).
pub const NEVER_FIELD: &str = "\u{1}tenantfence";

/// A filter no document matches, whatever it holds (a field both present and absent; round 7
/// found a branch that was only "never" for documents without the field), and no index serves.
/// Plain query language: a positional projection refuses `$jsonSchema` and `$expr` (round 6).
pub fn never() -> Document {
    doc! { "$and": [
        { NEVER_FIELD: { "$exists": true } },
        { NEVER_FIELD: { "$exists": false } },
    ] }
}

/// True when a top-level key, or one inside `$and` / `$or` / `$nor`, is the tenant field or a
/// path inside it.
fn names_field(filter: &Document, field: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    filter.iter().any(|(k, v)| match (k.as_str(), v) {
        ("$and" | "$or" | "$nor", Bson::Array(items)) => {
            items.iter().any(|i| matches!(i, Bson::Document(d) if names_field(d, field, depth + 1)))
        }
        _ => super::path_in(k, field),
    })
}

/// Removes `{field: t}` / `{field: {$eq: t}}` from the documents of `$and`, through nested
/// `$and` only: ANDed with the tenant match they change nothing (under a collation too, since
/// exact equality implies collation equality). `$or`, `$nor` and `$not` are left alone.
fn drop_repeats_in_and(filter: &mut Document, field: &str, tenant: &str, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(Bson::Array(entries)) = filter.get_mut("$and") {
        for entry in entries.iter_mut() {
            if let Bson::Document(d) = entry {
                if matches!(d.get(field).and_then(equality_value), Some(Bson::String(v)) if v == tenant)
                {
                    d.remove(field);
                }
                drop_repeats_in_and(d, field, tenant, depth + 1);
            }
        }
    }
}

/// Refuses an upsert filter that could make the upserted document name another tenant.
pub fn check_upsert_filter(scope: &Scope, user: &Document) -> ScopeResult<()> {
    if scope.strategy == Strategy::Database {
        return Ok(());
    }
    check_upsert_clauses(scope, user, false, 0)
}

/// True when an upsert with this filter copies a value into the tenant field:
/// an equality on the field at top level or inside (nested) top-level `$and`.
pub fn names_tenant_by_equality(scope: &Scope, filter: &Document) -> bool {
    fn walk(scope: &Scope, filter: &Document, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        if filter.get(&scope.field).and_then(equality_value).is_some() {
            return true;
        }
        match filter.get("$and") {
            Some(Bson::Array(entries)) => {
                entries.iter().any(|e| matches!(e, Bson::Document(d) if walk(scope, d, depth + 1)))
            }
            _ => false,
        }
    }
    walk(scope, filter, 0)
}

/// The value an upsert copies from `{field: v}` / `{field: {$eq: v}}`; `None` for operators.
fn equality_value(v: &Bson) -> Option<&Bson> {
    match v {
        Bson::Document(d) if d.keys().any(|k| k.starts_with('$')) => match d.get("$eq") {
            Some(inner) if d.len() == 1 => Some(inner),
            _ => None,
        },
        // A regex value is a pattern match, not an equality.
        Bson::RegularExpression(_) => None,
        other => Some(other),
    }
}

/// Walks the logical operators an upsert looks through for equalities on the field.
fn check_upsert_clauses(
    scope: &Scope,
    filter: &Document,
    under_or: bool,
    depth: usize,
) -> ScopeResult<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(entries) = value else {
                    return Err(ScopeError::argument(format!(
                        "{key} needs an array of filter documents"
                    )));
                };
                let or_like = under_or || key != "$and";
                for entry in entries {
                    let Bson::Document(entry) = entry else {
                        return Err(ScopeError::argument(format!(
                            "{key} needs an array of filter documents"
                        )));
                    };
                    check_upsert_clauses(scope, entry, or_like, depth + 1)?;
                }
            }
            k if scope.touches(k) => check_upsert_tenant_clause(scope, k, value, under_or)?,
            _ => {}
        }
    }
    Ok(())
}

/// One clause naming the tenant field in an upsert filter.
fn check_upsert_tenant_clause(
    scope: &Scope,
    key: &str,
    value: &Bson,
    under_or: bool,
) -> ScopeResult<()> {
    let field = &scope.field;
    if under_or {
        // A one-clause $or is an equality to the server; refuse rather than guess.
        return Err(ScopeError::violation(format!(
            "an upsert filter must not name '{field}' under $or or $nor"
        )));
    }
    if key != field {
        return Err(ScopeError::violation(format!(
            "an upsert filter must not name a path inside the tenant field ('{key}')"
        )));
    }
    if shared::unstamped(scope) {
        return Err(shared::stamped_refusal(scope));
    }
    match (&scope.principal, equality_value(value)) {
        // `scope::tenants::admit` refused the write first.
        (Principal::Tenants(_), _) => Err(ScopeError::violation("runAsTenants does not write")),
        (Principal::Tenant(t), Some(Bson::String(s))) if s == t => Ok(()),
        (Principal::Tenant(t), Some(Bson::String(s))) => Err(ScopeError::violation(format!(
            "upsert filter names tenant '{s}' but the current tenant is '{t}'"
        ))),
        (Principal::Tenant(t), _) => Err(ScopeError::violation(format!(
            "an upsert filter may only name '{field}' as {{{field}: '{t}'}}, not {value}"
        ))),
        (Principal::System, Some(Bson::String(s))) => scope.check_id(s),
        (Principal::System, Some(_)) => {
            Err(ScopeError::invalid(format!("'{field}' must be a string, not {value}")))
        }
        (Principal::System, None) => Err(ScopeError::violation(format!(
            "an upsert under runAsSystem must name the tenant by plain equality, not {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    fn tenant_scope(guard: bool) -> Scope {
        Scope {
            collation_guard: guard,
            ..Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
        }
    }

    #[test]
    fn estimated_counts_are_exact_where_tenants_share() {
        assert!(counts_exactly(&tenant_scope(false)));
        assert!(!counts_exactly(&system_scope()));
        assert!(!counts_exactly(&Scope { strategy: Strategy::Database, ..tenant_scope(false) }));
    }

    fn system_scope() -> Scope {
        Scope { principal: Principal::System, ..tenant_scope(false) }
    }

    /// The caller's filter as the tenant match holds it when it names the tenant field.
    fn sh(d: Document) -> Bson {
        Bson::Document(doc! { "$or": [d, never()] })
    }

    #[test]
    fn a_caller_condition_on_the_tenant_field_cannot_shape_a_plan() {
        let s = tenant_scope(false);
        for user in [
            doc! { "tenantId": { "$gte": "b", "$lte": "b" } },
            doc! { "$or": [{ "tenantId": "b" }, { "x": 1 }] },
            doc! { "$and": [{ "tenantId": { "$in": ["b", "c"] } }] },
            doc! { "x": 1, "tenantId.y": 2 },
        ] {
            let out = scope_filter(&s, user.clone()).unwrap();
            let mut want = doc! { "tenantId": "a" };
            want.extend(shield(user.clone(), "tenantId"));
            assert_eq!(out, want, "{user}");
            // Only the clauses naming the field go behind the never-true branch.
            let and = out.get_array("$and").unwrap();
            assert!(and.iter().all(|c| c.as_document().is_some_and(|d| d.contains_key("$or"))));
        }
        // The rest stays at the top, where $text, $near and the positional $ need it.
        assert_eq!(
            scope_filter(&s, doc! { "x": 1, "tenantId.y": 2 }).unwrap(),
            doc! { "tenantId": "a", "x": 1, "$and": [sh(doc! { "tenantId.y": 2 })] }
        );
        // Not naming the field: merged as before, nothing added.
        assert_eq!(
            scope_filter(&s, doc! { "$or": [{ "x": 1 }] }).unwrap(),
            doc! { "tenantId": "a", "$or": [{ "x": 1 }] }
        );
    }

    #[test]
    fn a_redundant_equality_on_the_current_tenant_is_merged_away() {
        let s = tenant_scope(false);
        assert_eq!(
            scope_filter(&s, doc! { "tenantId": "a", "x": 1 }).unwrap(),
            doc! { "tenantId": "a", "x": 1 }
        );
        assert_eq!(
            scope_filter(&s, doc! { "tenantId": { "$eq": "a" } }).unwrap(),
            doc! { "tenantId": "a" }
        );
        // Another tenant's id is never dropped: it stays inside $and and matches nothing.
        assert_eq!(
            scope_filter(&s, doc! { "tenantId": "b" }).unwrap(),
            doc! { "tenantId": "a", "$and": [sh(doc! { "tenantId": "b" })] }
        );
    }

    #[test]
    fn a_repeat_of_the_current_tenant_under_and_is_dropped_too() {
        // Found by the differential fuzzer: an upsert with this filter failed with
        // "path 'tenantId' is matched twice" (54) although the contract allows it.
        let s = tenant_scope(false);
        assert_eq!(
            scope_filter(&s, doc! { "$and": [{ "tenantId": { "$eq": "a" }, "x": 1 }, { "$and": [{ "tenantId": "a" }] }] })
                .unwrap(),
            doc! { "tenantId": "a", "$and": [{ "x": 1 }] }
        );
        assert_eq!(
            scope_write_filter(&s, doc! { "$and": [{ "tenantId": "a" }, { "_id": 8 }] }).unwrap(),
            doc! {
                "tenantId": "a",
                "$and": [
                    { "tenantId": { "$type": "string", "$not": { "$type": "array" } } },
                    { "$and": [{ "_id": 8 }] },
                ]
            }
        );
        // Another tenant, or the tenant under $or / $nor, is kept: it can only narrow.
        for user in [
            doc! { "$and": [{ "tenantId": "b" }] },
            doc! { "$and": [{ "$or": [{ "tenantId": "a" }, { "x": 1 }] }] },
            doc! { "$and": [{ "tenantId": { "$in": ["a"] } }] },
        ] {
            let mut want = doc! { "tenantId": "a" };
            want.extend(shield(user.clone(), "tenantId"));
            assert_eq!(scope_filter(&s, user.clone()).unwrap(), want, "{user}");
        }
    }

    #[test]
    fn under_a_collation_a_named_tenant_compares_exactly() {
        let out = scope_filter(&tenant_scope(true), doc! { "tenantId": "A", "x": 1 }).unwrap();
        let and = out.get_array("$and").unwrap();
        let want = shield(doc! { "tenantId": { "$regex": "^A\\z" }, "x": 1 }, "tenantId");
        assert_eq!(and[1], Bson::Document(want));
    }

    fn hostile_filters() -> Vec<Document> {
        vec![
            doc! {},
            doc! { "x": 1 },
            doc! { "tenantId": "b" },
            doc! { "tenantId": "a" },
            doc! { "tenantId": { "$ne": "a" } },
            doc! { "tenantId": { "$in": ["a", "b"] } },
            doc! { "tenantId": { "$exists": true } },
            doc! { "tenantId": { "$regex": ".*" } },
            doc! { "tenantId": Bson::RegularExpression(bson::Regex { pattern: ".*".into(), options: "".into() }) },
            doc! { "$or": [{ "tenantId": "b" }, {}] },
            doc! { "$nor": [{ "tenantId": "a" }] },
            doc! { "$and": [{ "tenantId": "b" }] },
            doc! { "$expr": { "$ne": ["$tenantId", "a"] } },
            doc! { "$where": "true" },
            doc! { "tenantId.x": 1 },
            doc! { "$comment": "tenantId" },
            doc! { "x": 1, "tenantId": "b", "$or": [{}] },
            doc! { "TenantId": "b", "tenantid": "b", "tenantId ": "b" },
        ]
    }

    #[test]
    fn user_can_never_override_the_tenant() {
        for guard in [false, true] {
            let scope = tenant_scope(guard);
            for user in hostile_filters() {
                if user.contains_key("$where") {
                    let e = scope_filter(&scope, user.clone()).unwrap_err();
                    assert_eq!(e.kind, crate::scope::ErrorKind::TenantViolation, "{user}");
                    continue;
                }
                let out = scope_filter(&scope, user.clone()).unwrap();
                // The caller's clauses, with each `$expr` behind the tenant test (expr_guard).
                let mut user = user;
                expr_guard::guard_filter("tenantId", Owners::One("a"), guard, &mut user).unwrap();
                let (first_key, first_val) = out.iter().next().unwrap();
                assert_eq!(first_key, "tenantId", "{user}");
                assert_eq!(first_val, &Bson::String("a".into()), "{user}");
                if guard {
                    let and = out.get_array("$and").unwrap();
                    assert_eq!(
                        and[0],
                        Bson::Document(regex_twin("tenantId", Owners::One("a"))),
                        "{user}"
                    );
                }
                let redundant = matches!(user.get("tenantId"), Some(Bson::String(v)) if v == "a");
                if redundant {
                    // Covered by a_redundant_equality_on_the_current_tenant_is_merged_away.
                    continue;
                }
                if names_field(&user, "tenantId", 0) || (guard && user.contains_key("$and")) {
                    // The user's clauses survive intact, pushed down into $and (shielded
                    // when they name the tenant field).
                    let and = out.get_array("$and").unwrap();
                    let exact_named =
                        guard && matches!(user.get("tenantId"), Some(Bson::String(_)));
                    if !user.is_empty() && !exact_named {
                        let shielded = shield(user.clone(), "tenantId");
                        if guard {
                            assert_eq!(and.last().unwrap(), &Bson::Document(shielded));
                        } else {
                            let mut want = doc! { "tenantId": "a" };
                            want.extend(shielded);
                            assert_eq!(out, want);
                        }
                    }
                    if guard {
                        assert_eq!(out.len(), 2, "{out}");
                    }
                } else {
                    assert_eq!(out.len(), 1 + usize::from(guard) + user.len(), "{out}");
                }
            }
        }
    }

    #[test]
    fn shapes() {
        let s = tenant_scope(false);
        assert_eq!(scope_filter(&s, doc! {}).unwrap(), doc! { "tenantId": "a" });
        assert_eq!(scope_filter(&s, doc! { "x": 1 }).unwrap(), doc! { "tenantId": "a", "x": 1 });
        assert_eq!(
            scope_filter(&s, doc! { "tenantId": "b" }).unwrap(),
            doc! { "tenantId": "a", "$and": [sh(doc! { "tenantId": "b" })] }
        );
        // A user $and stays a top-level key of the merged filter (ANDed).
        assert_eq!(
            scope_filter(&s, doc! { "$and": [{ "x": 1 }] }).unwrap(),
            doc! { "tenantId": "a", "$and": [{ "x": 1 }] }
        );
        let g = tenant_scope(true);
        assert_eq!(
            scope_filter(&g, doc! {}).unwrap(),
            doc! { "tenantId": "a", "$and": [{ "tenantId": { "$regex": "^a\\z" } }] }
        );
        assert_eq!(
            scope_filter(&g, doc! { "$and": [{ "x": 1 }] }).unwrap(),
            doc! { "tenantId": "a", "$and": [{ "tenantId": { "$regex": "^a\\z" } }, { "$and": [{ "x": 1 }] }] }
        );
    }

    #[test]
    fn writes_touch_only_an_exact_string_tenant_field() {
        let s = tenant_scope(false);
        let exact = doc! { "tenantId": { "$type": "string", "$not": { "$type": "array" } } };
        assert_eq!(
            scope_write_filter(&s, doc! { "x": 1 }).unwrap(),
            doc! { "tenantId": "a", "$and": [exact.clone()], "x": 1 }
        );
        assert_eq!(
            scope_write_filter(&s, doc! { "$and": [{ "x": 1 }] }).unwrap(),
            doc! { "tenantId": "a", "$and": [exact.clone(), { "$and": [{ "x": 1 }] }] }
        );
        let g = tenant_scope(true);
        assert_eq!(
            scope_write_filter(&g, doc! {}).unwrap(),
            doc! { "tenantId": "a", "$and": [exact, { "tenantId": { "$regex": "^a\\z" } }] }
        );
        // Reads stay a plain equality the index can answer alone.
        assert_eq!(scope_filter(&s, doc! {}).unwrap(), doc! { "tenantId": "a" });
    }

    #[test]
    fn system_and_database_are_unchanged() {
        let user = doc! { "tenantId": "b", "x": 1 };
        assert_eq!(scope_filter(&system_scope(), user.clone()).unwrap(), user);
        let db = Scope { strategy: Strategy::Database, ..tenant_scope(true) };
        assert_eq!(scope_filter(&db, user.clone()).unwrap(), user);
    }

    #[test]
    fn bad_tenant_in_scope_is_refused() {
        let s = Scope { principal: Principal::Tenant("".into()), ..tenant_scope(false) };
        assert_eq!(scope_filter(&s, doc! {}).unwrap_err().kind, ErrorKind::TenantInvalid);
    }

    #[test]
    fn regex_escaping() {
        assert_eq!(escape_regex("acme_1-x"), "acme_1-x");
        assert_eq!(
            escape_regex("a+b(c)[d]{e}|f?g*h^i"),
            "a\\+b\\(c\\)\\[d\\]\\{e\\}\\|f\\?g\\*h\\^i"
        );
        assert_eq!(escape_regex("a:b@c#d"), "a\\:b\\@c\\#d");
        assert_eq!(escape_regex("租户"), "租户");
        let twin = regex_twin("tenantId", Owners::One("a+b"));
        assert_eq!(twin, doc! { "tenantId": { "$regex": "^a\\+b\\z" } });
        let m = tenant_match(&tenant_scope(false), Owners::One("a"), false);
        assert_eq!(m, doc! { "tenantId": "a" });
    }

    #[test]
    fn upsert_filters_under_a_tenant() {
        let s = tenant_scope(false);
        let ok = [
            doc! {},
            doc! { "x": 1 },
            doc! { "tenantId": "a" },
            doc! { "tenantId": { "$eq": "a" } },
            doc! { "$and": [{ "tenantId": "a" }, { "x": 1 }] },
            doc! { "$or": [{ "x": 1 }, { "y": 2 }] },
            doc! { "$expr": { "$eq": ["$tenantId", "b"] } },
        ];
        for f in ok {
            check_upsert_filter(&s, &f).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        let refused = [
            doc! { "tenantId": "b" },
            doc! { "tenantId": { "$eq": "b" } },
            doc! { "tenantId": { "$in": ["b"] } },
            doc! { "tenantId": { "$in": ["a"] } },
            doc! { "tenantId": { "$ne": "a" } },
            doc! { "tenantId": { "$eq": "a", "$ne": "b" } },
            doc! { "tenantId": { "$exists": false } },
            doc! { "tenantId": 1 },
            doc! { "tenantId": Bson::Null },
            doc! { "tenantId": ["a"] },
            doc! { "tenantId": { "x": 1 } },
            doc! { "tenantId": Bson::RegularExpression(bson::Regex { pattern: "a".into(), options: "".into() }) },
            doc! { "tenantId.x": 1 },
            doc! { "tenantId.0": "a" },
            doc! { "$and": [{ "tenantId": "b" }] },
            doc! { "$and": [{ "$and": [{ "tenantId": "b" }] }] },
            doc! { "$or": [{ "tenantId": "b" }] },
            doc! { "$or": [{ "tenantId": "a" }] },
            doc! { "$nor": [{ "tenantId": "a" }] },
            doc! { "$and": [{ "$or": [{ "tenantId": "b" }] }] },
        ];
        for f in refused {
            let err = check_upsert_filter(&s, &f).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation, "{f}");
        }
        let err = check_upsert_filter(&s, &doc! { "tenantId": "b" }).unwrap_err();
        assert!(err.message.contains("'b'") && err.message.contains("'a'"), "{}", err.message);
        assert_eq!(
            check_upsert_filter(&s, &doc! { "$and": 1 }).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn upsert_filters_under_system() {
        let s = system_scope();
        check_upsert_filter(&s, &doc! { "tenantId": "b" }).unwrap();
        check_upsert_filter(&s, &doc! { "tenantId": { "$eq": "b" } }).unwrap();
        check_upsert_filter(&s, &doc! { "x": 1 }).unwrap();
        check_upsert_filter(&s, &doc! { "$and": [{ "tenantId": "c" }] }).unwrap();
        let cases = [
            (doc! { "tenantId": "a.b" }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": "" }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": 5 }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": { "$eq": "$x" } }, ErrorKind::TenantInvalid),
            (doc! { "tenantId": { "$gt": "" } }, ErrorKind::TenantViolation),
            (doc! { "$or": [{ "tenantId": "b" }] }, ErrorKind::TenantViolation),
            (doc! { "tenantId.x": "b" }, ErrorKind::TenantViolation),
        ];
        for (f, kind) in cases {
            assert_eq!(check_upsert_filter(&s, &f).unwrap_err().kind, kind, "{f}");
        }
        let db = Scope { strategy: Strategy::Database, ..tenant_scope(false) };
        check_upsert_filter(&db, &doc! { "tenantId": "b" }).unwrap();
    }

    #[test]
    fn deep_upsert_filter_is_refused_not_overflowed() {
        let mut f = doc! { "x": 1 };
        for _ in 0..(MAX_DEPTH + 5) {
            f = doc! { "$and": [f] };
        }
        assert_eq!(
            check_upsert_filter(&tenant_scope(false), &f).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
}
