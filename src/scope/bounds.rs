//! Which documents the server may examine for a tenant's query (red-team finding 9).
//!
//! MongoDB does not evaluate a filter's clauses in order. If a plan walks an index that does
//! not lead with the tenant field (the `_id` index, or an index on `apiKey`), or the whole
//! collection, the server runs the caller's predicates (a backtracking regex, say) on other
//! tenants' documents before the tenant equality drops them: whether a `maxTimeMS` expires,
//! or how long a call takes, then depends on their data (8 characters of another tenant's key
//! in 179 queries). So under strategy 'field' a tenant's query is sent with a `hint` naming an
//! index that leads with the tenant field, in the simple collation. Its bounds hold only the
//! tenant's keys: by the tenant equality under the simple collation, and under any other
//! collation by the collation-proof regex twin (`^<id>\z`, which ignores collation and bounds
//! a simple index to `[<id>, <id>+1)`; the twin drops a longer id's keys before any document is
//! fetched). An index in a case-folding collation would instead fetch `ACME`'s documents for
//! `acme`, so indexes in other collations are never used. The one exception is a filter of
//! nothing but `_id` values: the `_id` index examines at most one document per value, and only
//! the tenant equality runs on it.
//!
//! A caller's own `hint` is kept when it names such an index and refused otherwise; with no
//! usable index the binding builds `tenant_index` and asks again.

use std::collections::HashSet;

use bson::{doc, Bson, Document};

use super::by_id;
use super::collation;
use super::error::{ScopeError, ScopeResult};
use super::Scope;
#[cfg(test)]
use super::{Principal, Strategy};

/// One index as `listIndexes` reports it, reduced to what bounds need.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFact {
    pub name: String,
    pub key: Document,
    /// `None` for the simple collation.
    pub collation: Option<Document>,
    /// Partial and hidden indexes cannot be hinted for every query.
    pub hintable: bool,
    /// Built: an index still being built is listed (its key makes another index's key
    /// ambiguous as soon as it is done) but never hinted.
    pub ready: bool,
}

impl IndexFact {
    /// Reads one `listIndexes` entry.
    pub fn from_spec(spec: &Document) -> Option<IndexFact> {
        let name = spec.get_str("name").ok()?.to_string();
        let key = spec.get_document("key").ok()?.clone();
        let collation = spec.get_document("collation").ok().filter(|c| !collation::is_simple(c));
        let hidden = matches!(spec.get("hidden"), Some(Bson::Boolean(true)));
        let partial = spec.contains_key("partialFilterExpression");
        Some(IndexFact {
            name,
            key,
            collation: collation.cloned(),
            hintable: !hidden && !partial,
            ready: true,
        })
    }

    /// Reads one entry of `listIndexes` with `includeBuildUUIDs`: an index, or `{spec,
    /// buildUUID}` for one still being built (round 12: a tenant's twin could be built while
    /// the first was, unseen; a call hinted by key then failed when the second was done).
    pub fn from_listing(entry: &Document) -> Option<IndexFact> {
        match entry.get_document("spec") {
            Ok(spec) if entry.contains_key("buildUUID") => {
                IndexFact::from_spec(spec).map(|i| IndexFact { ready: false, ..i })
            }
            _ => IndexFact::from_spec(entry),
        }
    }

    /// An index a tenant's calls can be hinted on once it is built: the tenant field first,
    /// ascending or descending keys, the simple collation, not partial or hidden.
    pub fn bounds_tenants(&self, field: &str) -> bool {
        let mut keys = self.key.iter();
        self.hintable
            && self.collation.is_none()
            && matches!(keys.next(), Some((k, v)) if k == field && direction(v))
            && keys.all(|(_, v)| direction(v))
    }
}

/// What a query plan needs to stay inside the tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Send as it is: not a tenant of strategy 'field', or only `_id` values are looked up.
    Free,
    /// Send with this hint: the index's key pattern, or its name when another index has the
    /// same key pattern in another collation (the server refuses an ambiguous key pattern).
    Hint(Bson),
    /// No index can bound it: build this one (key, options with its name) and plan again.
    Build(Document, Document),
}

/// One call's plan inputs: the caller's filter (before the tenant is added), sort and hint.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub filter: &'a Document,
    /// The pipeline starts with `$geoNear` (which needs a geo index and takes no hint): its
    /// `key`, or `""` without one.
    pub geo_near: Option<&'a str>,
    pub sort: Option<&'a Document>,
    pub hint: Option<&'a Bson>,
    /// The caller passed a `collation`: it may not be the `_id` index's (the collection's
    /// default), and string `_id`s then cannot use that index (a collection scan).
    pub explicit_collation: bool,
}

/// True when a call's plan must be bounded: a tenant under strategy 'field'.
pub fn applies(scope: &Scope) -> bool {
    super::shared::injects(scope).is_some()
}

/// True when the collections a tenant's pipeline joins must each be checked before it is sent:
/// not a view, a valid name, an index that bounds the tenant's part (`binding::bounds::ensure_joined`).
/// Whatever collection the pipeline runs on: one over a shared collection joins tenant ones too
/// (red-team round 25: skipped there, a join read a view's, a `system.*` collection's and an
/// unindexed collection's documents across tenants).
pub fn checks_joins(scope: &Scope) -> bool {
    scope.owners().is_some() && (scope.strategy == super::Strategy::Field || scope.shared.main)
}

/// Decides the bound of one query, given the collection's indexes (empty: none, or no collection).
pub fn plan(scope: &Scope, q: Query<'_>, indexes: &[IndexFact]) -> ScopeResult<Bound> {
    if !applies(scope) {
        return Ok(Bound::Free);
    }
    let field = scope.field.as_str();
    // Storage order walks every tenant's documents, and the server refuses it beside a hint.
    if q.sort.is_some_and(|s| s.contains_key("$natural")) {
        return Err(ScopeError::violation(
            "sort by $natural under a tenant is not allowed: it walks the collection in storage order, every tenant's documents included",
        ));
    }
    // `$text`, `$near` and `$geoNear` must run on their special index and take no hint: they
    // stay inside the tenant only on one whose prefix is the tenant field (as the fence builds
    // them inside runAsSystem), so without such an index they are refused.
    if let Some(kind) = special(q.filter, q.geo_near) {
        // Under another collation only the regex twin bounds the tenant, and a geo scan fetches
        // every document in its range, those of tenants whose id extends this one's included,
        // before the tenant equality runs (red-team round 9).
        if scope.collation_guard {
            return Err(ScopeError::violation(format!(
                "{} under a tenant runs only in the simple collation: pass collation: {{ locale: 'simple' }} (under another collation its index scan would read the documents of tenants whose id starts with this one's)",
                kind.operator()
            )));
        }
        if q.hint.is_none() && special_bounded(field, &kind, indexes) {
            return Ok(Bound::Free);
        }
        return Err(ScopeError::violation(format!(
            "{} under a tenant needs a {} index that starts with '{field}', in the simple collation (build it inside runAsSystem: the fence puts '{field}' first; on a collection with another default collation pass collation: {{ locale: 'simple' }}), and no hint: on any other index it would examine other tenants' documents",
            kind.operator(),
            kind.index()
        )));
    }
    let usable: Vec<&IndexFact> = indexes.iter().filter(|i| leads_with(field, i)).collect();
    let named = |i: &IndexFact| {
        let twins = indexes.iter().filter(|j| same_key(&j.key, &i.key)).count();
        Bound::Hint(if twins > 1 {
            Bson::String(i.name.clone())
        } else {
            Bson::Document(i.key.clone())
        })
    };
    if let Some(h) = q.hint {
        let found = match h {
            Bson::String(name) => usable.iter().find(|i| &i.name == name),
            // A key pattern another index shares (one a tenant built, say) is ambiguous to the
            // server: the usable one is hinted by name, so nobody's hint starts failing
            // because of another tenant's index (red-team round 6).
            Bson::Document(key) => usable.iter().find(|i| same_key(&i.key, key)),
            _ => None,
        };
        return match found {
            Some(i) => Ok(named(i)),
            None => Err(ScopeError::violation(format!(
                "hint must name an index that leads with '{field}' in the simple collation: any other plan would run this query's predicates on other tenants' documents"
            ))),
        };
    }
    if ids_only(q.filter) && !q.explicit_collation {
        // An index on (tenant, _id) examines no other tenant's document at all.
        let by_id = usable.iter().find(|i| second_key(field, i) == Some("_id"));
        return Ok(by_id.map_or(Bound::Free, |i| named(i)));
    }
    match best(q, &usable) {
        Some(i) => Ok(named(i)),
        None => Ok(Bound::Build(
            tenant_index(field),
            doc! { "name": tenant_index_name(field), "collation": super::collation::simple() },
        )),
    }
}

/// Why no index bounds a tenant's call although the fence built its own: an index with the
/// same key that cannot be hinted (hidden or partial, built outside the fence) took its place.
pub fn unusable(field: &str, indexes: &[IndexFact]) -> ScopeError {
    let key = tenant_index(field);
    let why = match indexes.iter().find(|i| same_key(&i.key, &key) && !i.hintable) {
        Some(i) => format!(
            ": the index '{}' on ({field}, _id) is hidden or partial and took the place of the fence's; make it visible and whole, or drop it",
            i.name
        ),
        None => String::new(),
    };
    ScopeError::violation(format!(
        "the tenant index the fence built is not usable for this call{why}"
    ))
}

/// Whether a hint the fence sent still names exactly one index of this listing: by name, or by
/// a key pattern no other index shares.
pub fn hint_holds(hint: &Bson, indexes: &[IndexFact]) -> bool {
    match hint {
        Bson::String(name) => indexes.iter().any(|i| &i.name == name),
        Bson::Document(key) => indexes.iter().filter(|i| same_key(&i.key, key)).count() == 1,
        _ => false,
    }
}

/// Index names that start with this are the fence's: a tenant may not build one (taking the
/// name first would make the fence's own build fail, for every tenant).
pub const RESERVED_INDEX_PREFIX: &str = "tenantfence_";

/// The name of the index the fence builds.
pub fn tenant_index_name(field: &str) -> String {
    format!("{RESERVED_INDEX_PREFIX}{field}_1__id_1")
}

/// A query that must run on a special index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Special {
    Text,
    /// `$near` / `$nearSphere` on a path, or `$geoNear` with its `key` (`None`: the server
    /// picks the collection's only geo index).
    Near(&'static str, Option<String>),
}

impl Special {
    pub(crate) fn operator(&self) -> &'static str {
        match self {
            Special::Text => "$text",
            Special::Near(op, _) => op,
        }
    }

    fn index(&self) -> &'static str {
        match self {
            Special::Text => "text",
            Special::Near(..) => "2dsphere",
        }
    }
}

/// `$text` or a `$near` / `$nearSphere` at the top of the filter or in its `$and` / `$or` /
/// `$nor` (where the server accepts them), or a `$geoNear` pipeline (`geo_near`: its key).
pub(crate) fn special(filter: &Document, geo_near: Option<&str>) -> Option<Special> {
    if let Some(key) = geo_near {
        return Some(Special::Near("$geoNear", (!key.is_empty()).then(|| key.to_string())));
    }
    fn walk(f: &Document, depth: usize) -> Option<Special> {
        if depth > super::walk::MAX_DEPTH {
            return None;
        }
        for (k, v) in f {
            match (k.as_str(), v) {
                ("$text", _) => return Some(Special::Text),
                ("$and" | "$or" | "$nor", Bson::Array(items)) => {
                    for i in items {
                        if let Some(s) = i.as_document().and_then(|d| walk(d, depth + 1)) {
                            return Some(s);
                        }
                    }
                }
                (_, Bson::Document(d)) if !k.starts_with('$') => {
                    for op in ["$near", "$nearSphere"] {
                        if d.contains_key(op) {
                            let op = if op == "$near" { "$near" } else { "$nearSphere" };
                            return Some(Special::Near(op, Some(k.clone())));
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
    walk(filter, 0)
}

/// True when every index the server could run `kind` on starts with the tenant field in the
/// simple collation, and there is one. Text: the collection's (only) text index. Near: every
/// `2dsphere` or `2d` index holding the path (all of them without a path); a `2d` index cannot
/// start with it. In another collation the tenant equality (or, under a call's own collation,
/// the regex twin) does not bound it: a geo index in `fr` walked every tenant's points near
/// the caller's for a call in `en` (red-team round 8).
fn special_bounded(field: &str, kind: &Special, indexes: &[IndexFact]) -> bool {
    let prefixed = |i: &IndexFact| {
        i.hintable
            && i.collation.is_none()
            && matches!(i.key.iter().next(), Some((k, v)) if k == field && direction(v))
    };
    let candidates: Vec<&IndexFact> = match kind {
        Special::Text => indexes.iter().filter(|i| i.key.contains_key("_fts")).collect(),
        Special::Near(_, path) => indexes
            .iter()
            .filter(|i| {
                i.key.iter().any(|(k, v)| {
                    matches!(v.as_str(), Some("2dsphere" | "2d"))
                        && path.as_ref().is_none_or(|p| p == k)
                })
            })
            .collect(),
    };
    !candidates.is_empty() && candidates.iter().all(|i| prefixed(i))
}

/// The index the fence builds when a collection has none that bounds a tenant's queries
/// (explicitly in the simple collation, whatever the collection's default).
pub fn tenant_index(field: &str) -> Document {
    doc! { field: 1, "_id": 1 }
}

/// A key direction as a number, whatever its BSON number type (a Decimal128 through its
/// decimal text: one that only rounds to a value counts as it, which errs towards "the same").
pub(crate) fn number(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(f) => Some(*f),
        Bson::Decimal128(d) => d.to_string().parse::<f64>().ok(),
        _ => None,
    }
}

/// Two key patterns the server takes for the same: the same fields in order, directions equal
/// as numbers (`1`, `NumberLong(1)`, `1.0` and `NumberDecimal('1')` are one key to a hint;
/// a Decimal128 twin made every hint ambiguous: red-team round 8). Taking two for the same
/// when the server would not only makes the fence hint by name.
pub(crate) fn same_key(a: &Document, b: &Document) -> bool {
    let num = number;
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| {
            ka == kb
                && match (num(va), num(vb)) {
                    (Some(x), Some(y)) => x == y,
                    _ => va == vb,
                }
        })
}

/// An index whose first key is the tenant field, ascending or descending, that can be hinted now.
fn leads_with(field: &str, i: &IndexFact) -> bool {
    i.ready && i.bounds_tenants(field)
}

fn direction(v: &Bson) -> bool {
    number(v).is_some_and(|f| f == 1.0 || f == -1.0)
}

fn second_key<'i>(field: &str, i: &'i IndexFact) -> Option<&'i str> {
    let mut keys = i.key.keys();
    (keys.next().map(String::as_str) == Some(field)).then(|| keys.next().map(String::as_str))?
}

/// True when the filter is nothing but `_id` values (`v`, `{$eq: v}`, `{$in: [v...]}`).
/// (Under a non-simple collation one string may match a few `_id`s: still bounded.)
pub fn ids_only(filter: &Document) -> bool {
    if filter.len() != 1 {
        return false;
    }
    match filter.get("_id") {
        Some(Bson::Document(d)) if d.len() == 1 => match d.iter().next() {
            Some((op, v)) if op == "$eq" => by_id::plain(v),
            Some((op, Bson::Array(vs))) if op == "$in" => vs.iter().all(by_id::plain),
            _ => false,
        },
        Some(v) => by_id::plain(v),
        None => false,
    }
}

/// Top-level fields the filter pins to one value, and those it bounds by a range.
fn constrained(filter: &Document) -> (HashSet<&str>, HashSet<&str>) {
    let (mut eq, mut range) = (HashSet::new(), HashSet::new());
    for (k, v) in filter {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Bson::Document(d) if d.keys().any(|o| o.starts_with('$')) => {
                if d.contains_key("$eq") || d.contains_key("$in") {
                    eq.insert(k.as_str());
                } else if d.keys().any(|o| matches!(o.as_str(), "$gt" | "$gte" | "$lt" | "$lte")) {
                    range.insert(k.as_str());
                }
            }
            Bson::RegularExpression(_) => {}
            _ => {
                eq.insert(k.as_str());
            }
        }
    }
    (eq, range)
}

/// The usable index a planner would most likely pick: the longest run of pinned fields after
/// the tenant field, then one ranged or sorted field, then the shortest key, then the one
/// listed first (the oldest: a tenant's later index with a name that sorts first no longer
/// wins a tie for every tenant's calls, round 12).
fn best<'i>(q: Query<'_>, usable: &[&'i IndexFact]) -> Option<&'i IndexFact> {
    let (eq, range) = constrained(q.filter);
    let sort_first = q.sort.and_then(|s| s.keys().next()).map(String::as_str);
    let score = |i: &IndexFact| {
        let rest: Vec<&str> = i.key.keys().skip(1).map(String::as_str).collect();
        let pinned = rest.iter().take_while(|k| eq.contains(**k)).count();
        let next = rest.get(pinned).copied();
        let then = next.is_some_and(|k| range.contains(k) || Some(k) == sort_first);
        (pinned, then, std::cmp::Reverse(i.key.len()))
    };
    // `max_by` keeps the last of equals: walk the listing backwards so the first one wins.
    usable.iter().rev().copied().max_by(|a, b| score(a).cmp(&score(b)))
}

/// True for the server's answer to a hint naming an index that is gone, or a key pattern
/// that an index added behind the fence's back made ambiguous: the listing is stale.
///
/// The server quotes the caller's filter (and other errors quote documents) in the message, so
/// the phrase alone proves nothing: a tenant that stored it made a partly applied `updateMany`
/// run twice (red-team round 8). The planner's cause comes last, after the quoted filter, and
/// carries its own code: both must match.
pub fn stale_hint(code: i32, message: &str) -> bool {
    const CAUSE: &str = " planner returned error :: caused by :: ";
    match code {
        2 => message
            .ends_with(&format!("{CAUSE}hint provided does not correspond to an existing index")),
        // The cause is followed by the matched indexes' specs, names included.
        27 => message.contains(&format!(
            "{CAUSE}Hint matched multiple indexes, must hint by index name. Matched: kp: "
        )),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_planners_own_cause_is_a_stale_hint() {
        let gone = "error processing query: ns=app.c ... planner returned error :: caused by :: hint provided does not correspond to an existing index";
        let twin = "error processing query: ... planner returned error :: caused by :: Hint matched multiple indexes, must hint by index name. Matched: kp: { tenantId: 1 } name: 'a'";
        let quoted = "Plan executor error :: caused by :: x planner returned error :: caused by :: hint provided does not correspond to an existing index\" } }";
        let table = [
            (2, gone, true),
            (27, twin, true),
            (2, twin, false),
            (27, gone, false),
            (96, gone, false),
            (2, quoted, false),
            (2, "hint provided does not correspond to an existing index", false),
        ];
        for (code, msg, stale) in table {
            assert_eq!(stale_hint(code, msg), stale, "{code} {msg}");
        }
    }

    fn tenant() -> Scope {
        Scope::for_test(Principal::Tenant("acme".into()), Strategy::Field)
    }

    #[test]
    fn a_tenants_joins_are_checked_over_a_shared_collection_too() {
        let names = crate::scope::shared::check_names(&["plans".into()]).unwrap();
        let on = |p: Principal, strategy: Strategy, main: &str| Scope {
            shared: names.on(main),
            ..Scope::for_test(p, strategy)
        };
        let acme = || Principal::Tenant("acme".into());
        let table = [
            (acme(), Strategy::Field, "notes", true),
            (acme(), Strategy::Field, "plans", true),
            (acme(), Strategy::Database, "plans", true),
            // A tenant database holds one tenant's collections: nothing to bound there.
            (acme(), Strategy::Database, "notes", false),
            (Principal::System, Strategy::Field, "plans", false),
            (Principal::System, Strategy::Field, "notes", false),
        ];
        for (p, strategy, main, want) in table {
            assert_eq!(
                checks_joins(&on(p.clone(), strategy, main)),
                want,
                "{p:?} {strategy:?} {main}"
            );
        }
        // The plan of the shared collection's own query is not bounded: it holds no tenant's data.
        assert!(!applies(&on(acme(), Strategy::Field, "plans")));
    }

    fn ix(name: &str, key: Document) -> IndexFact {
        IndexFact { name: name.into(), key, collation: None, hintable: true, ready: true }
    }

    fn q(filter: &Document) -> Query<'_> {
        Query { filter, geo_near: None, sort: None, hint: None, explicit_collation: false }
    }

    fn key(d: Document) -> Bound {
        Bound::Hint(Bson::Document(d))
    }

    fn standard() -> Vec<IndexFact> {
        vec![
            ix("_id_", doc! { "_id": 1 }),
            ix("apiKey_1", doc! { "apiKey": 1 }),
            ix("tenantId_1", doc! { "tenantId": 1 }),
            ix("tenantId_1_status_1", doc! { "tenantId": 1, "status": 1 }),
            ix("tenantId_1_createdAt_-1", doc! { "tenantId": 1, "createdAt": -1 }),
        ]
    }

    #[test]
    fn table() {
        let f_status = doc! { "status": "open", "apiKey": { "$regex": "^x" } };
        let f_range = doc! { "createdAt": { "$gt": 5 } };
        let f_regex = doc! { "apiKey": { "$regex": "^(.+.+)+x" }, "_id": { "$gte": Bson::MinKey } };
        let sort = doc! { "createdAt": -1 };
        let none = Document::new();
        let cases: Vec<(&str, Query, Bound)> = vec![
            (
                "pinned field picks its index",
                q(&f_status),
                key(doc! { "tenantId": 1, "status": 1 }),
            ),
            (
                "ranged field picks its index",
                q(&f_range),
                key(doc! { "tenantId": 1, "createdAt": -1 }),
            ),
            (
                "an _id window still goes through the tenant",
                q(&f_regex),
                key(doc! { "tenantId": 1 }),
            ),
            (
                "a sort picks its index",
                Query { sort: Some(&sort), ..q(&none) },
                key(doc! { "tenantId": 1, "createdAt": -1 }),
            ),
        ];
        for (why, query, want) in cases {
            assert_eq!(plan(&tenant(), query, &standard()).unwrap(), want, "{why}");
        }
    }

    #[test]
    fn ids_alone_need_no_hint_unless_a_tenant_id_index_exists() {
        let one = doc! { "_id": 7 };
        let many = doc! { "_id": { "$in": [1, 2, 3] } };
        let window = doc! { "_id": { "$gte": 1 } };
        let with_more = doc! { "_id": 7, "apiKey": { "$regex": "x" } };
        assert_eq!(plan(&tenant(), q(&one), &standard()).unwrap(), Bound::Free);
        assert_eq!(plan(&tenant(), q(&many), &standard()).unwrap(), Bound::Free);
        assert_eq!(plan(&tenant(), q(&window), &standard()).unwrap(), key(doc! { "tenantId": 1 }));
        assert_eq!(
            plan(&tenant(), q(&with_more), &standard()).unwrap(),
            key(doc! { "tenantId": 1 })
        );
        // With a collation of its own the `_id` index may not serve it: through the tenant.
        let collated = Query { explicit_collation: true, ..q(&one) };
        assert_eq!(plan(&tenant(), collated, &standard()).unwrap(), key(doc! { "tenantId": 1 }));
        let mut with_pair = standard();
        with_pair.push(ix("tenantId_1__id_1", doc! { "tenantId": 1, "_id": 1 }));
        assert_eq!(
            plan(&tenant(), q(&one), &with_pair).unwrap(),
            key(doc! { "tenantId": 1, "_id": 1 })
        );
    }

    #[test]
    fn caller_hints_must_lead_with_the_tenant_field() {
        let f = Document::new();
        for bad in [
            Bson::Document(doc! { "_id": 1 }),
            Bson::String("_id_".into()),
            Bson::String("apiKey_1".into()),
            Bson::Document(doc! { "$natural": 1 }),
            Bson::Document(doc! { "tenantId": 1, "nope": 1 }),
            Bson::String("missing".into()),
        ] {
            let e = plan(&tenant(), Query { hint: Some(&bad), ..q(&f) }, &standard()).unwrap_err();
            assert_eq!(e.kind, super::super::ErrorKind::TenantViolation, "{bad}");
        }
        for good in
            [Bson::String("tenantId_1_status_1".into()), Bson::Document(doc! { "tenantId": 1 })]
        {
            assert!(matches!(
                plan(&tenant(), Query { hint: Some(&good), ..q(&f) }, &standard()).unwrap(),
                Bound::Hint(_)
            ));
        }
    }

    #[test]
    fn only_plain_hintable_simple_indexes_count_and_twins_are_named() {
        let f = Document::new();
        let mut partial = ix("p", doc! { "tenantId": 1 });
        partial.hintable = false;
        let hashed = ix("h", doc! { "tenantId": "hashed" });
        // A case-folding index would fetch ACME's documents for acme: never used.
        let mut folded = ix("ci", doc! { "tenantId": 1 });
        folded.collation = Some(doc! { "locale": "en", "strength": 2 });
        let facts = vec![partial, hashed, folded.clone(), ix("_id_", doc! { "_id": 1 })];
        assert_eq!(
            plan(&tenant(), q(&f), &facts).unwrap(),
            Bound::Build(
                doc! { "tenantId": 1, "_id": 1 },
                doc! { "name": "tenantfence_tenantId_1__id_1", "collation": { "locale": "simple" } }
            )
        );
        let h = Bson::String("ci".into());
        assert!(plan(&tenant(), Query { hint: Some(&h), ..q(&f) }, &facts).is_err());
        // The same key pattern in the simple collation: hinted by name, since the key is ambiguous.
        let mut twins = facts.clone();
        twins.push(ix("plain", doc! { "tenantId": 1 }));
        assert_eq!(
            plan(&tenant(), q(&f), &twins).unwrap(),
            Bound::Hint(Bson::String("plain".into()))
        );
        let by_key = Bson::Document(doc! { "tenantId": 1 });
        assert_eq!(
            plan(&tenant(), Query { hint: Some(&by_key), ..q(&f) }, &twins).unwrap(),
            Bound::Hint(Bson::String("plain".into()))
        );
        let by_name = Bson::String("plain".into());
        assert!(plan(&tenant(), Query { hint: Some(&by_name), ..q(&f) }, &twins).is_ok());
        // A twin whose direction is another number type is a twin to the server (round 5).
        let mut long = vec![ix("a", doc! { "tenantId": 1, "_id": 1 })];
        long.push(ix("b", doc! { "tenantId": 1, "_id": 1_i64 }));
        assert_eq!(plan(&tenant(), q(&f), &long).unwrap(), Bound::Hint(Bson::String("a".into())));
        // So is a Decimal128 one (round 8), in any spelling of one.
        for one in ["1", "1.0", "1E+0", "0.10E+1"] {
            let mut dec = vec![ix("a", doc! { "tenantId": 1, "_id": 1 })];
            let mut b = ix("b", doc! { "tenantId": 1, "_id": 1 });
            b.key.insert("_id", Bson::Decimal128(one.parse().unwrap()));
            b.collation = Some(doc! { "locale": "fr" });
            dec.push(b);
            assert_eq!(
                plan(&tenant(), q(&f), &dec).unwrap(),
                Bound::Hint(Bson::String("a".into())),
                "{one}"
            );
        }
    }

    #[test]
    fn a_hint_holds_while_it_names_exactly_one_index() {
        let mut facts = standard();
        let by_key = Bson::Document(doc! { "tenantId": 1 });
        let by_name = Bson::String("tenantId_1_status_1".into());
        assert!(hint_holds(&by_key, &facts));
        assert!(hint_holds(&by_name, &facts));
        assert!(!hint_holds(&Bson::String("gone".into()), &facts));
        let mut twin = ix("twin", doc! { "tenantId": 1_i64 });
        twin.collation = Some(doc! { "locale": "fr" });
        facts.push(twin);
        assert!(!hint_holds(&by_key, &facts));
        assert!(hint_holds(&by_name, &facts));
    }

    #[test]
    fn an_unusable_twin_of_the_fences_index_is_named() {
        let mut hidden = ix("h", doc! { "tenantId": 1, "_id": 1 });
        hidden.hintable = false;
        let e = unusable("tenantId", &[hidden]);
        assert!(
            e.message.contains("the index 'h' on (tenantId, _id) is hidden or partial"),
            "{}",
            e.message
        );
        let e = unusable("tenantId", &standard());
        assert_eq!(e.message, "the tenant index the fence built is not usable for this call");
    }

    #[test]
    fn a_natural_sort_is_refused() {
        let f = Document::new();
        let s = doc! { "$natural": -1 };
        let e = plan(&tenant(), Query { sort: Some(&s), ..q(&f) }, &standard()).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TenantViolation);
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        assert_eq!(plan(&sys, Query { sort: Some(&s), ..q(&f) }, &[]).unwrap(), Bound::Free);
    }

    #[test]
    fn text_and_near_run_only_on_a_special_index_that_starts_with_the_tenant() {
        let text = doc! { "$text": { "$search": "pie" }, "n": 1 };
        let near = doc! { "$and": [{ "loc": { "$nearSphere": [0, 0] } }] };
        let mut facts = standard();
        assert!(plan(&tenant(), q(&text), &facts).is_err());
        assert!(plan(&tenant(), q(&near), &facts).is_err());
        facts.push(ix("t", doc! { "_fts": "text", "_ftsx": 1 }));
        assert!(
            plan(&tenant(), q(&text), &facts).is_err(),
            "a text index without the tenant prefix"
        );
        let mut facts = standard();
        facts.push(ix("tt", doc! { "tenantId": 1, "_fts": "text", "_ftsx": 1 }));
        facts.push(ix("tg", doc! { "tenantId": 1, "loc": "2dsphere" }));
        assert_eq!(plan(&tenant(), q(&text), &facts).unwrap(), Bound::Free);
        assert_eq!(plan(&tenant(), q(&near), &facts).unwrap(), Bound::Free);
        // Nor is a call in another collation (round 9): only the regex twin would bound it.
        let guarded = Scope { collation_guard: true, ..tenant() };
        assert!(plan(&guarded, q(&near), &facts).is_err());
        assert!(plan(&guarded, q(&text), &facts).is_err());
        // The same geo index in another collation is not bounded by the tenant (round 8).
        let mut collated = facts.clone();
        let last = collated.len() - 1;
        collated[last].collation = Some(doc! { "locale": "fr" });
        assert!(plan(&tenant(), q(&near), &collated).is_err());
        let none = Document::new();
        assert_eq!(
            plan(&tenant(), Query { geo_near: Some("loc"), ..q(&none) }, &facts).unwrap(),
            Bound::Free
        );
        assert_eq!(
            plan(&tenant(), Query { geo_near: Some(""), ..q(&none) }, &facts).unwrap(),
            Bound::Free
        );
        // A geo index on another path, or a 2d index (which cannot start with the tenant), is not
        // bounded (red-team round 3: $near on another 2dsphere field walked every tenant's keys).
        let drop = doc! { "drop": { "$near": [0, 0] } };
        facts.push(ix("d", doc! { "drop": "2dsphere" }));
        assert!(plan(&tenant(), q(&drop), &facts).is_err());
        assert!(plan(&tenant(), Query { geo_near: Some("drop"), ..q(&none) }, &facts).is_err());
        assert!(plan(&tenant(), Query { geo_near: Some(""), ..q(&none) }, &facts).is_err());
        assert_eq!(plan(&tenant(), q(&near), &facts).unwrap(), Bound::Free);
        facts.push(ix("l2", doc! { "loc": "2d" }));
        assert!(plan(&tenant(), q(&near), &facts).is_err());
        let h = Bson::String("tt".into());
        assert!(plan(&tenant(), Query { hint: Some(&h), ..q(&text) }, &facts).is_err());
    }

    #[test]
    fn system_and_database_strategy_are_free() {
        let f = doc! { "apiKey": { "$regex": "x" } };
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        let db = Scope::for_test(Principal::Tenant("acme".into()), Strategy::Database);
        let h = Bson::Document(doc! { "_id": 1 });
        assert_eq!(plan(&sys, Query { hint: Some(&h), ..q(&f) }, &[]).unwrap(), Bound::Free);
        assert_eq!(plan(&db, Query { hint: Some(&h), ..q(&f) }, &[]).unwrap(), Bound::Free);
    }
}
