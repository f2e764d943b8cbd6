//! Aggregation pipelines. Under a tenant the outermost pipeline starts with
//! the tenant match, every stage that reads another collection (`$lookup`,
//! `$unionWith`, `$graphLookup`, also nested in `$facet` and sub-pipelines)
//! gets the tenant match there too, and stages that write elsewhere or look
//! outside the tenant are refused. The stage policy is an allowlist: a stage
//! MongoDB adds tomorrow is refused until someone decides it is safe.

use bson::{doc, Bson, Document};

use super::bounds;
use super::error::{ScopeError, ScopeResult};
use super::expr_guard;
use super::filter::{scope_filter, shield, shield_all, shield_ids, split_id_points, tenant_match};
use super::shared::{self, Shared};
use super::update::split_stage;
use super::walk::MAX_DEPTH;
use super::{Owners, Scope, Strategy};

/// Stages that only transform the documents already in the pipeline (or read
/// another collection in a way we rewrite below).
const ALLOWED: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$count",
    "$unwind",
    "$sortByCount",
    "$bucket",
    "$bucketAuto",
    "$facet",
    "$lookup",
    "$graphLookup",
    "$unionWith",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
    "$sample",
    "$densify",
    "$fill",
    "$setWindowFields",
    "$geoNear",
];

/// Stages refused with a reason, so the caller learns why rather than just "no".
const REFUSED: &[(&str, &str)] = &[
    ("$out", "writes to another collection"),
    ("$merge", "writes to another collection"),
    ("$collStats", "reports on the whole collection, every tenant included"),
    ("$indexStats", "reports on the whole collection, every tenant included"),
    ("$currentOp", "shows other clients' operations"),
    ("$changeStream", "watches every tenant's changes"),
    ("$documents", "brings in documents that name no tenant"),
    ("$listSessions", "lists other clients' sessions"),
    ("$listLocalSessions", "lists other clients' sessions"),
    ("$planCacheStats", "shows other tenants' queries"),
    ("$search", "queries a search index that is not tenant-scoped"),
    ("$searchMeta", "queries a search index that is not tenant-scoped"),
    ("$vectorSearch", "queries a search index that is not tenant-scoped"),
    ("$listSearchIndexes", "lists indexes outside the tenant's data"),
];

/// Extra stages `runAsSystem` may use under `strategy: 'field'` (admin statistics).
const SYSTEM_EXTRA: &[&str] = &["$collStats", "$indexStats"];

/// Where a pipeline sits; decides whether a tenant match is put in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The aggregate call's own pipeline.
    Outer,
    /// A `$lookup` / `$unionWith` pipeline over another collection.
    Sub,
    /// A `$facet` branch: its input is already scoped, but the server still moves the branch's
    /// `$match` into a join inside the branch (red-team round 8), so it is scoped like a later one.
    Facet,
}

/// What the stages before a point did to the documents, which decides how a `$match` there is
/// scoped. A `$facet` branch starts from the state at its `$facet`.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Every stage so far kept each document's own tenant field (`keeps_tenant`).
    pristine: bool,
    /// A stage so far copied the tenant field or the whole document somewhere, or joined: the
    /// server renames a later $match on the copy back to the tenant field and merges it into a
    /// tenant match (red-team rounds 6 and 7), so such a $match is shielded whole.
    copied: bool,
}

impl Seen {
    const FRESH: Seen = Seen { pristine: true, copied: false };
}

/// What every stage of one call needs.
struct Ctx<'a> {
    scope: &'a Scope,
    /// The tenant whose match goes on tenant collections; `None` under `runAsSystem` or
    /// `strategy: 'database'`. A shared collection gets none (`inject_into`).
    tenant: Option<Owners<'a>>,
    /// The scope of a tenant collection joined in, with the regex twin forced on: a foreign
    /// collection's default collation is not known here, so its matches always carry it.
    guarded: Scope,
}

impl<'a> Ctx<'a> {
    /// The tenant whose match a join into collection `from` gets: none for a shared one.
    fn inject_into(&self, from: &str) -> Option<Owners<'a>> {
        self.tenant.filter(|_| !self.scope.shared.has(from))
    }

    fn scope_for(&self, level: Level) -> &Scope {
        if level == Level::Outer {
            self.scope
        } else {
            &self.guarded
        }
    }

    fn who(&self) -> &'static str {
        if self.scope.is_system() {
            "under runAsSystem"
        } else {
            "under a tenant"
        }
    }

    /// The stage allowlist.
    fn check_policy(&self, name: &str) -> ScopeResult<()> {
        if ALLOWED.contains(&name) {
            return Ok(());
        }
        let system_field = self.scope.is_system() && self.scope.strategy == Strategy::Field;
        if system_field && SYSTEM_EXTRA.contains(&name) {
            return Ok(());
        }
        let who = self.who();
        Err(match REFUSED.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => {
                ScopeError::violation(format!("stage {name} is not allowed {who}: it {why}"))
            }
            None => ScopeError::violation(format!("stage {name} is not allowed {who}")),
        })
    }
}

/// Scopes an aggregation pipeline: tenant match first, sub-pipelines scoped, stage allowlist.
pub fn scope_pipeline(scope: &Scope, pipeline: Vec<Document>) -> ScopeResult<Vec<Document>> {
    let tenant = match scope.strategy {
        Strategy::Field => scope.owners(),
        Strategy::Database => None,
    };
    if let Some(t) = tenant {
        t.check_hard()?;
        for stage in &pipeline {
            expr_guard::refuse_server_js_in(stage, "a pipeline")?;
        }
    }
    // Matches on other collections are only put on tenant collections (`inject_into`).
    let foreign = Shared { main: false, ..scope.shared.clone() };
    let guarded = Scope { collation_guard: true, shared: foreign, ..scope.clone() };
    let ctx = Ctx { scope, tenant, guarded };
    let inject = shared::injects(scope);
    scope_stages(&ctx, pipeline, Level::Outer, Seen::FRESH, 0, inject)
}

/// Where a pipeline's plan starts, for `scope::bounds`: the caller's leading `$match` (else
/// `{}`), or a leading `$geoNear`'s `query` and `key` (`""` without one).
pub fn plan_start(stages: &[Document]) -> (Document, Option<String>) {
    let Some(first) = stages.first() else { return (Document::new(), None) };
    if let Ok(g) = first.get_document("$geoNear") {
        let key = g.get_str("key").unwrap_or_default().to_string();
        return (g.get_document("query").cloned().unwrap_or_default(), Some(key));
    }
    (first.get_document("$match").cloned().unwrap_or_default(), None)
}

/// The collections a pipeline's joins read (`$lookup`, `$graphLookup`, `$unionWith`, at any
/// depth), each once. Their sub-queries take no hint, so each needs a tenant index for its plan
/// to stay inside the tenant: without one it is a collection scan on which the server may run a
/// caller's condition before the tenant equality (red-team round 9).
pub fn joined(stages: &[Document]) -> Vec<String> {
    fn walk(stages: &[Bson], depth: usize, out: &mut Vec<String>) {
        if depth > MAX_DEPTH {
            return;
        }
        for stage in stages.iter().filter_map(Bson::as_document) {
            for (name, body) in stage {
                let spec = body.as_document();
                let read = match name.as_str() {
                    "$lookup" | "$graphLookup" => spec.and_then(|d| d.get_str("from").ok()),
                    "$unionWith" => body.as_str().or(spec.and_then(|d| d.get_str("coll").ok())),
                    _ => None,
                };
                if let Some(n) = read.filter(|n| !out.iter().any(|o| o == n)) {
                    out.push(n.to_string());
                }
                if let Some(p) = spec.and_then(|d| d.get_array("pipeline").ok()) {
                    walk(p, depth + 1, out);
                }
                if name == "$facet" {
                    for branch in spec.into_iter().flat_map(|d| d.values()) {
                        if let Bson::Array(p) = branch {
                            walk(p, depth + 1, out);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let stages: Vec<Bson> = stages.iter().cloned().map(Bson::Document).collect();
    walk(&stages, 0, &mut out);
    out
}

fn too_deep() -> ScopeError {
    ScopeError::argument(format!("pipeline nesting exceeds {MAX_DEPTH} levels"))
}

/// Turns a BSON array of stages into documents.
fn stages_of(value: Bson, what: &str) -> ScopeResult<Vec<Document>> {
    let Bson::Array(items) = value else {
        return Err(ScopeError::argument(format!("{what} must be an array of stages")));
    };
    items
        .into_iter()
        .map(|s| match s {
            Bson::Document(d) => Ok(d),
            _ => Err(ScopeError::argument(format!("{what} stages must be documents"))),
        })
        .collect()
}

fn stages_to_bson(stages: Vec<Document>) -> Bson {
    Bson::Array(stages.into_iter().map(Bson::Document).collect())
}

/// Scopes one pipeline over a collection whose documents get `inject`'s match (none for a
/// shared collection, `runAsSystem` or strategy 'database').
fn scope_stages(
    ctx: &Ctx,
    stages: Vec<Document>,
    level: Level,
    seen: Seen,
    depth: usize,
    inject: Option<Owners>,
) -> ScopeResult<Vec<Document>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let mut out = Vec::with_capacity(stages.len() + 1);
    // Set when the first stage already carries the tenant (a leading $geoNear or $match).
    let mut scoped_in_place = false;
    let Seen { mut pristine, mut copied } = seen;
    // Whether a `$limit` barrier has been put in front of a later $match in this pipeline.
    let mut barrier = false;
    for (i, stage) in stages.into_iter().enumerate() {
        let (name, body) = split_stage(stage)?;
        ctx.check_policy(&name)?;
        // A join's sub-query takes no hint, and the server pushes into it whatever it can of the
        // stages after its leading $match: a sort (also one inside $setWindowFields, $densify or
        // $fill) the `_id` index could serve, a $match on a renamed copy of `_id`. Each made a
        // plan on the `_id` index a candidate, whose trial ran the caller's conditions on other
        // tenants' documents (rounds 11 and 12). So nothing but the leading $match reaches it.
        // (A second leading $match too: the server merges it into the first, where a join
        // key's `_id` point fetched another tenant's document for it to run on, round 13.)
        let passive = matches!(name.as_str(), "$limit" | "$skip") || (i == 0 && name == "$match");
        if level == Level::Sub && inject.is_some() && !barrier && !passive {
            out.push(doc! { "$limit": i64::MAX });
            barrier = true;
        }
        let body = match name.as_str() {
            "$geoNear" => {
                // MongoDB requires it first; a facet branch is never "first" over a collection.
                if i != 0 || level == Level::Facet {
                    return Err(ScopeError::violation(
                        "$geoNear is only allowed as the first stage of a pipeline",
                    ));
                }
                if level == Level::Sub && inject.is_some() {
                    return Err(special_in_join("$geoNear"));
                }
                scoped_in_place = inject.is_some();
                scope_geo_near(ctx, body, level, inject)?
            }
            // A leading $match takes the tenant itself rather than getting a stage in
            // front of it: `$text` must stay in the first stage, and it is the same filter.
            "$match" if i == 0 && level != Level::Facet && inject.is_some() => match body {
                Bson::Document(user) => {
                    scoped_in_place = true;
                    if level == Level::Sub {
                        barrier = leading_join_match(ctx, user, &mut out)?;
                        continue;
                    }
                    Bson::Document(scope_filter(ctx.scope_for(level), user)?)
                }
                other => other,
            },
            // A later $match can be moved up and merged into the tenant match, where the
            // server may run it before the tenant equality. While the documents still carry
            // their own tenant field, its expressions get the tenant test (exact wherever the
            // stage ends up); after a stage that may change that field, a `$limit` the server
            // never moves a $match across keeps it where the caller put it. A $facet branch's
            // $match is never merged into the outer match, but may be moved into a join of its
            // own branch, so it is held the same way.
            "$match" => match (body, inject) {
                (Bson::Document(mut user), Some(t)) if pristine => {
                    // In a join's sub-query no `_id` condition may bound a plan (round 10).
                    if level == Level::Sub && !barrier {
                        user = shield_ids(user);
                    }
                    let guard = ctx.scope_for(level).collation_guard;
                    expr_guard::guard_filter(&ctx.scope.field, t, guard, &mut user)?;
                    // Merged into the tenant match, a condition on the tenant field must not
                    // shape the plan either (filter::shield).
                    Bson::Document(shielded(user, &ctx.scope.field, copied))
                }
                // Only a $match with expressions needs holding: other predicates cannot fail or
                // tell anything by running first, and holding them would keep the server from
                // moving them up (which changes which documents later stages evaluate).
                (Bson::Document(user), Some(_)) if expr_guard::has_expr(&user) => {
                    let user =
                        if level == Level::Sub && !barrier { shield_ids(user) } else { user };
                    if !barrier {
                        out.push(doc! { "$limit": i64::MAX });
                        barrier = true;
                    }
                    Bson::Document(shielded(user, &ctx.scope.field, copied))
                }
                (Bson::Document(user), Some(_)) => {
                    let user =
                        if level == Level::Sub && !barrier { shield_ids(user) } else { user };
                    Bson::Document(shielded(user, &ctx.scope.field, copied))
                }
                (body, _) => body,
            },
            "$lookup" => scope_lookup(ctx, body, depth)?,
            "$unionWith" => scope_union_with(ctx, body, depth)?,
            "$graphLookup" => scope_graph_lookup(ctx, body)?,
            "$facet" => scope_facet(ctx, body, Seen { pristine, copied }, depth, inject)?,
            _ => body,
        };
        pristine = pristine && keeps_tenant(ctx.scope, &name, &body);
        // A join brings in documents a later $match can be moved into, past any barrier in
        // front of it: the next expression $match needs a barrier of its own (round 9).
        if matches!(name.as_str(), "$lookup" | "$graphLookup" | "$unionWith") {
            barrier = false;
        }
        // A join's `as` holds other documents' tenant fields, which the server renames back
        // when it moves a later $match into the join (round 7): shield after any join too.
        // A $facet's branches may have joined or copied: hold every later $match the same way.
        copied = copied
            || matches!(name.as_str(), "$lookup" | "$graphLookup" | "$unionWith" | "$facet")
            || (name != "$match" && refers_to(&body, &ctx.scope.field, 0));
        // Over a shared collection nothing holds a later $match out of a join into a tenant
        // collection (the server may move it there, ahead of the join's tenant match): a
        // barrier right after the join keeps it where the caller put it.
        push_stage(ctx, inject.is_none(), name, body, &mut out);
    }
    if let (Some(t), false, false) = (inject, scoped_in_place, level == Level::Facet) {
        let scope = ctx.scope_for(level);
        out.insert(0, doc! { "$match": tenant_match(scope, t, scope.collation_guard) });
    }
    Ok(out)
}

/// `$text`, `$near`, `$nearSphere` and `$geoNear` take no hint, and a join's collection is not
/// the one whose special indexes the fence checks (`scope::bounds`): inside a join they could
/// run on an index that does not start with the tenant field, or in another collation, and
/// read every tenant's documents near a point (red-team round 9).
fn special_in_join(operator: &str) -> ScopeError {
    ScopeError::violation(format!(
        "{operator} is not allowed inside $lookup, $unionWith or $graphLookup under a tenant: its index cannot be checked there; run it as the first stage of an aggregate on that collection"
    ))
}

/// A join sub-pipeline's leading `$match`, pushed onto `out`; returns whether a barrier went
/// in. The sub-query takes no hint (round 10): `_id` points (the join's key) stay in front with
/// the tenant match, any other `_id` condition is shielded, and when points are there the rest
/// waits behind a barrier, since the `_id` index fetches the point's document whoever owns it.
#[inline(never)]
fn leading_join_match(ctx: &Ctx, user: Document, out: &mut Vec<Document>) -> ScopeResult<bool> {
    if let Some(kind) = bounds::special(&user, None) {
        return Err(special_in_join(kind.operator()));
    }
    let scope = &ctx.guarded;
    let (points, rest) = split_id_points(user);
    if points.is_empty() || rest.is_empty() {
        let user = if points.is_empty() { shield_ids(rest) } else { points };
        out.push(doc! { "$match": scope_filter(scope, user)? });
        return Ok(false);
    }
    out.push(doc! { "$match": scope_filter(scope, points)? });
    out.push(doc! { "$limit": i64::MAX });
    out.push(doc! { "$match": scope_filter(scope, rest)? });
    Ok(true)
}

/// `filter::shield`, or the whole filter when an earlier stage copied the tenant field.
fn shielded(user: Document, field: &str, copied: bool) -> Document {
    if copied {
        shield_all(user)
    } else {
        shield(user, field)
    }
}

/// True when a stage's body names the tenant field as a value (`'$tenantId'`,
/// `'$tenantId.x'`) or the whole document (`'$$ROOT'`, `'$$CURRENT'`).
fn refers_to(v: &Bson, field: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match v {
        Bson::String(s) => {
            s.starts_with("$$ROOT")
                || s.starts_with("$$CURRENT")
                || s.strip_prefix('$').is_some_and(|p| super::path_in(p, field))
        }
        Bson::Document(d) => d.values().any(|x| refers_to(x, field, depth + 1)),
        Bson::Array(items) => items.iter().any(|x| refers_to(x, field, depth + 1)),
        _ => false,
    }
}

/// Whether a stage passes on documents whose tenant field is the collection's own, untouched
/// (it may drop documents, add fields beside it or bring in more of the tenant's documents).
fn keeps_tenant(scope: &Scope, name: &str, body: &Bson) -> bool {
    let spec = match body {
        Bson::Document(d) => Some(d),
        _ => None,
    };
    let path_ok = |v: Option<&Bson>| match v {
        None => true,
        Some(Bson::String(p)) => !scope.touches(p.trim_start_matches('$')),
        Some(_) => false,
    };
    let keys_ok = |d: Option<&Document>| d.is_some_and(|d| d.keys().all(|k| !scope.touches(k)));
    match name {
        "$match" | "$sort" | "$limit" | "$skip" | "$sample" => true,
        // $unionWith brings in what its own pipeline made (a $group there has no tenant field).
        "$lookup" | "$graphLookup" => spec.is_some_and(|d| path_ok(d.get("as"))),
        "$unwind" => match body {
            Bson::String(p) => path_ok(Some(&Bson::String(p.clone()))),
            Bson::Document(d) => path_ok(d.get("path")) && path_ok(d.get("includeArrayIndex")),
            _ => false,
        },
        "$addFields" | "$set" => keys_ok(spec),
        "$unset" => match body {
            Bson::String(p) => !scope.touches(p),
            Bson::Array(ps) => ps.iter().all(|p| matches!(p, Bson::String(p) if !scope.touches(p))),
            _ => false,
        },
        "$setWindowFields" | "$fill" => keys_ok(spec.and_then(|d| d.get_document("output").ok())),
        "$geoNear" => {
            spec.is_some_and(|d| path_ok(d.get("distanceField")) && path_ok(d.get("includeLocs")))
        }
        _ => false,
    }
}

/// Pushes a scoped stage; over a collection without a tenant match (`unmatched`), a join into
/// a tenant collection gets a barrier right after it.
// Out of line: `scope_stages` recurses once per nesting level and keeps its frame small.
#[inline(never)]
fn push_stage(ctx: &Ctx, unmatched: bool, name: String, body: Bson, out: &mut Vec<Document>) {
    let barrier = unmatched && join_target(&name, &body).and_then(|f| ctx.inject_into(f)).is_some();
    out.push(doc! { name: body });
    if barrier {
        out.push(doc! { "$limit": i64::MAX });
    }
}

/// The collection a join stage reads, if it is one.
fn join_target<'b>(name: &str, body: &'b Bson) -> Option<&'b str> {
    let key = match name {
        "$lookup" | "$graphLookup" => "from",
        "$unionWith" => "coll",
        _ => return None,
    };
    match body {
        Bson::Document(d) => d.get_str(key).ok(),
        Bson::String(coll) if name == "$unionWith" => Some(coll),
        _ => None,
    }
}

/// The `$match` a stage over another collection starts with.
fn foreign_match(ctx: &Ctx, tenant: Owners) -> Bson {
    let m = tenant_match(&ctx.guarded, tenant, true);
    Bson::Array(vec![Bson::Document(doc! { "$match": m })])
}

/// A leading `$geoNear`: the tenant goes into its `query`.
fn scope_geo_near(
    ctx: &Ctx,
    body: Bson,
    level: Level,
    inject: Option<Owners>,
) -> ScopeResult<Bson> {
    let Bson::Document(mut spec) = body else {
        return Err(ScopeError::argument("$geoNear needs a document"));
    };
    if inject.is_some() {
        let query = match spec.get("query") {
            None => Document::new(),
            Some(Bson::Document(q)) => q.clone(),
            Some(_) => return Err(ScopeError::argument("$geoNear query must be a document")),
        };
        spec.insert("query", scope_filter(ctx.scope_for(level), query)?);
    }
    Ok(Bson::Document(spec))
}

/// `from` must name a collection of this database.
fn check_from(ctx: &Ctx, stage: &str, key: &str, value: Option<&Bson>) -> ScopeResult<()> {
    let who = ctx.who();
    match value {
        Some(Bson::String(from)) => match shared::cross_database_join(ctx.scope, from) {
            Some(refused) => Err(refused),
            None => Ok(()),
        },
        Some(Bson::Document(_)) => Err(ScopeError::violation(format!(
            "{stage} '{key}' must name a collection of this database; {{db, coll}} is not allowed {who}"
        ))),
        None if stage == "$lookup" => Err(ScopeError::violation(format!(
            "$lookup without 'from' (over $documents) is not allowed {who}"
        ))),
        None => Err(ScopeError::violation(format!("{stage} needs '{key}' naming a collection"))),
        Some(other) => Err(ScopeError::argument(format!("{stage} '{key}' must be a string, not {other}"))),
    }
}

/// Replaces `spec[key]` (an array of stages) by its scoped version, keeping key order.
fn scope_sub_pipeline(
    ctx: &Ctx,
    spec: &mut Document,
    (key, stage): (&str, &str),
    depth: usize,
    inject: Option<Owners>,
) -> ScopeResult<bool> {
    let Some(slot) = spec.get_mut(key) else {
        return Ok(false);
    };
    let stages = stages_of(std::mem::replace(slot, Bson::Null), &format!("{stage} {key}"))?;
    *slot = stages_to_bson(scope_stages(ctx, stages, Level::Sub, Seen::FRESH, depth + 1, inject)?);
    Ok(true)
}

fn scope_lookup(ctx: &Ctx, body: Bson, depth: usize) -> ScopeResult<Bson> {
    let Bson::Document(mut spec) = body else {
        return Err(ScopeError::argument("$lookup needs a document"));
    };
    check_from(ctx, "$lookup", "from", spec.get("from"))?;
    let inject = ctx.inject_into(spec.get_str("from").unwrap_or_default());
    let had_pipeline = scope_sub_pipeline(ctx, &mut spec, ("pipeline", "$lookup"), depth, inject)?;
    match (had_pipeline, inject) {
        // localField/foreignField form: MongoDB 5+ accepts a pipeline alongside them.
        (false, Some(t)) => {
            spec.insert("pipeline", foreign_match(ctx, t));
        }
        // The server puts `{<foreignField>: {$eq: <value>}}` in front of the pipeline. On
        // `_id` that is a point on the `_id` index, which fetches the value's document whoever
        // owns it: the caller's stages wait behind the tenant match and a barrier (round 10).
        (true, Some(t)) if id_path(spec.get("foreignField")) => {
            if let Some(Bson::Array(stages)) = spec.get_mut("pipeline") {
                let Bson::Array(front) = foreign_match(ctx, t) else { unreachable!() };
                stages.splice(
                    0..0,
                    front.into_iter().chain([Bson::Document(doc! { "$limit": i64::MAX })]),
                );
            }
        }
        _ => {}
    }
    Ok(Bson::Document(spec))
}

fn scope_union_with(ctx: &Ctx, body: Bson, depth: usize) -> ScopeResult<Bson> {
    let mut spec = match body {
        Bson::String(coll) => doc! { "coll": coll },
        Bson::Document(spec) => spec,
        _ => return Err(ScopeError::argument("$unionWith needs a collection name or a document")),
    };
    match spec.get("coll") {
        Some(Bson::String(from)) => {
            if let Some(refused) = shared::cross_database_join(ctx.scope, from) {
                return Err(refused);
            }
        }
        None => {
            return Err(ScopeError::violation(format!(
                "$unionWith without 'coll' (over $documents) is not allowed {}",
                ctx.who()
            )))
        }
        Some(other) => {
            return Err(ScopeError::violation(format!(
                "$unionWith 'coll' must be a collection name, not {other}"
            )))
        }
    }
    let inject = ctx.inject_into(spec.get_str("coll").unwrap_or_default());
    let had_pipeline =
        scope_sub_pipeline(ctx, &mut spec, ("pipeline", "$unionWith"), depth, inject)?;
    match (had_pipeline, inject) {
        (false, Some(t)) => {
            spec.insert("pipeline", foreign_match(ctx, t));
            Ok(Bson::Document(spec))
        }
        // Leave the string form as the caller wrote it when nothing is injected.
        (false, None) if spec.len() == 1 => Ok(spec.remove("coll").expect("checked")),
        _ => Ok(Bson::Document(spec)),
    }
}

/// Whether a join key is `_id` or a path in it.
fn id_path(v: Option<&Bson>) -> bool {
    matches!(v, Some(Bson::String(p)) if p == "_id" || p.starts_with("_id."))
}

fn scope_graph_lookup(ctx: &Ctx, body: Bson) -> ScopeResult<Bson> {
    let Bson::Document(mut spec) = body else {
        return Err(ScopeError::argument("$graphLookup needs a document"));
    };
    check_from(ctx, "$graphLookup", "from", spec.get("from"))?;
    if ctx.inject_into(spec.get_str("from").unwrap_or_default()).is_some() {
        let restrict = match spec.get("restrictSearchWithMatch") {
            None => Document::new(),
            Some(Bson::Document(d)) => d.clone(),
            Some(_) => {
                return Err(ScopeError::argument(
                    "$graphLookup restrictSearchWithMatch must be a document",
                ))
            }
        };
        if let Some(kind) = bounds::special(&restrict, None) {
            return Err(special_in_join(kind.operator()));
        }
        // Each step is `{<connectToField>: {$in: <values>}}`, ANDed with this filter and taking
        // no hint. On `_id` it fetches any tenant's document by value (round 10), and a value
        // may be a regex (from `startWith`, or stored in the caller's own documents), which
        // the `_id` index scans as a range, testing other tenants' keys (round 14: another
        // tenant's string `_id` read by timing). Nothing can hold the values back: refused.
        if id_path(spec.get("connectToField")) {
            return Err(ScopeError::violation(
                "$graphLookup with connectToField '_id' is not allowed under a tenant: its steps look up values, regexes included, on the _id index every tenant shares; connect through a field of your own with an index that starts with the tenant field",
            ));
        }
        spec.insert("restrictSearchWithMatch", scope_filter(&ctx.guarded, shield_ids(restrict))?);
    }
    Ok(Bson::Document(spec))
}

fn scope_facet(
    ctx: &Ctx,
    body: Bson,
    seen: Seen,
    depth: usize,
    inject: Option<Owners>,
) -> ScopeResult<Bson> {
    let Bson::Document(mut facets) = body else {
        return Err(ScopeError::argument("$facet needs a document of sub-pipelines"));
    };
    for (name, branch) in facets.iter_mut() {
        let stages = stages_of(std::mem::replace(branch, Bson::Null), &format!("$facet '{name}'"))?;
        *branch = stages_to_bson(scope_stages(ctx, stages, Level::Facet, seen, depth + 1, inject)?);
    }
    Ok(Bson::Document(facets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::filter::never;
    use crate::scope::{ErrorKind, Principal};

    fn scope(principal: Principal, strategy: Strategy, guard: bool) -> Scope {
        Scope { collation_guard: guard, ..Scope::for_test(principal, strategy) }
    }
    fn tenant() -> Scope {
        scope(Principal::Tenant("a".into()), Strategy::Field, false)
    }
    fn system() -> Scope {
        scope(Principal::System, Strategy::Field, false)
    }
    fn database() -> Scope {
        scope(Principal::Tenant("a".into()), Strategy::Database, false)
    }
    fn twin() -> Document {
        doc! { "tenantId": { "$regex": "^a\\z" } }
    }
    /// The match every stage over another collection starts with.
    fn foreign() -> Document {
        doc! { "$match": { "tenantId": "a", "$and": [twin()] } }
    }
    fn plain() -> Document {
        doc! { "$match": { "tenantId": "a" } }
    }
    fn kind(scope: &Scope, p: Vec<Document>) -> ErrorKind {
        scope_pipeline(scope, p).unwrap_err().kind
    }

    #[test]
    fn outer_pipeline_gets_the_tenant_first() {
        let out = scope_pipeline(&tenant(), vec![doc! { "$sort": { "x": 1 } }]).unwrap();
        assert_eq!(out, vec![plain(), doc! { "$sort": { "x": 1 } }]);
        assert_eq!(scope_pipeline(&tenant(), vec![]).unwrap(), vec![plain()]);
        let guarded = scope(Principal::Tenant("a".into()), Strategy::Field, true);
        assert_eq!(
            scope_pipeline(&guarded, vec![doc! { "$limit": 1 }]).unwrap(),
            vec![foreign(), doc! { "$limit": 1 }]
        );
    }

    #[test]
    fn a_later_match_on_a_copy_of_the_tenant_field_is_shielded_whole() {
        let copy = doc! { "$addFields": { "t2": "$tenantId" } };
        let later = doc! { "$match": { "t2": { "$gte": "b", "$lte": "b" }, "k": 1 } };
        let out = scope_pipeline(&tenant(), vec![copy.clone(), later]).unwrap();
        assert_eq!(
            out[2],
            doc! { "$match": { "$and": [{ "$or": [{ "t2": { "$gte": "b", "$lte": "b" }, "k": 1 }, never()] }] } }
        );
        // Without a copy, a later $match that does not name the field is left alone.
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$sort": { "k": 1 } }, doc! { "$match": { "k": 1 } }],
        )
        .unwrap();
        assert_eq!(out[2], doc! { "$match": { "k": 1 } });
        for stage in [
            doc! { "$group": { "_id": "$tenantId" } },
            doc! { "$project": { "o": { "t": "$tenantId.x" } } },
            doc! { "$replaceWith": { "d": "$$ROOT" } },
        ] {
            let out = scope_pipeline(&tenant(), vec![stage.clone(), doc! { "$match": { "k": 1 } }])
                .unwrap();
            assert!(out[2].get_document("$match").unwrap().contains_key("$and"), "{stage}");
        }
    }

    #[test]
    fn leading_match_takes_the_tenant_in_place() {
        let out =
            scope_pipeline(&tenant(), vec![doc! { "$match": { "$text": { "$search": "x" } } }])
                .unwrap();
        assert_eq!(out, vec![doc! { "$match": { "tenantId": "a", "$text": { "$search": "x" } } }]);
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$match": { "tenantId": "b" } }, doc! { "$match": { "tenantId": "c" } }],
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                doc! { "$match": { "tenantId": "a", "$and": [{ "$or": [{ "tenantId": "b" }, never()] }] } },
                doc! { "$match": { "$and": [{ "$or": [{ "tenantId": "c" }, never()] }] } }
            ]
        );
    }

    #[test]
    fn every_forbidden_stage_is_refused() {
        for (name, _) in REFUSED {
            let p = vec![doc! { *name: {} }];
            let err = scope_pipeline(&tenant(), p.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation, "{name}");
            assert!(
                err.message.starts_with(&format!("stage {name} is not allowed under a tenant")),
                "{}",
                err.message
            );
            assert_eq!(kind(&database(), p.clone()), ErrorKind::TenantViolation, "{name}");
            if !SYSTEM_EXTRA.contains(name) {
                assert_eq!(kind(&system(), p.clone()), ErrorKind::TenantViolation, "{name}");
            }
            // Also when hidden in sub-pipelines.
            let nested = vec![
                doc! { "$facet": { "f": [{ "$lookup": { "from": "c", "as": "x", "pipeline": p.clone() } }] } },
            ];
            assert_eq!(kind(&tenant(), nested), ErrorKind::TenantViolation, "{name}");
            let union = vec![doc! { "$unionWith": { "coll": "c", "pipeline": p } }];
            assert_eq!(kind(&tenant(), union), ErrorKind::TenantViolation, "{name}");
        }
        for name in [
            "$foo",
            "$listCachedAndActiveUsers",
            "$changeStreamSplitLargeEvent",
            "$shardedDataDistribution",
        ] {
            let err = scope_pipeline(&tenant(), vec![doc! { name: {} }]).unwrap_err();
            assert_eq!(err.message, format!("stage {name} is not allowed under a tenant"));
        }
    }

    #[test]
    fn system_may_read_statistics_but_not_write() {
        for name in SYSTEM_EXTRA {
            let p = vec![doc! { *name: {} }];
            assert_eq!(scope_pipeline(&system(), p.clone()).unwrap(), p);
            let sys_db = scope(Principal::System, Strategy::Database, false);
            assert_eq!(kind(&sys_db, p), ErrorKind::TenantViolation);
        }
        for name in ["$out", "$merge"] {
            let err = scope_pipeline(&system(), vec![doc! { name: "x" }]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation);
            assert!(err.message.contains("runAsSystem"), "{}", err.message);
        }
        // No injection anywhere.
        let p = vec![
            doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "z" } },
            doc! { "$unionWith": "c" },
        ];
        assert_eq!(scope_pipeline(&system(), p.clone()).unwrap(), p);
    }

    #[test]
    fn malformed_stages() {
        for st in [
            doc! {},
            doc! { "$match": {}, "$limit": 1 },
            doc! { "match": {} },
            doc! { "$lookup": 1 },
            doc! { "$facet": [] },
        ] {
            assert_eq!(kind(&tenant(), vec![st.clone()]), ErrorKind::InvalidArgument, "{st}");
        }
        let bad_sub = [
            doc! { "$lookup": { "from": "c", "as": "x", "pipeline": 1 } },
            doc! { "$lookup": { "from": "c", "as": "x", "pipeline": [1] } },
            doc! { "$lookup": { "from": 1, "as": "x" } },
            doc! { "$facet": { "f": { "$match": {} } } },
            doc! { "$unionWith": 1 },
            doc! { "$geoNear": { "query": 1 } },
            doc! { "$graphLookup": { "from": "c", "restrictSearchWithMatch": [] } },
        ];
        for st in bad_sub {
            assert_eq!(kind(&tenant(), vec![st.clone()]), ErrorKind::InvalidArgument, "{st}");
        }
    }

    #[test]
    fn lookup_both_forms() {
        let out = scope_pipeline(&tenant(), vec![doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "z" } }]).unwrap();
        assert_eq!(
            out[1],
            doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "z", "pipeline": [foreign()] } }
        );
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$lookup": { "from": "c", "let": { "v": "$x" }, "pipeline": [{ "$match": { "$expr": { "$eq": ["$y", "$$v"] } } }, { "$limit": 2 }], "as": "z" } }],
        )
        .unwrap();
        assert_eq!(
            out[1],
            doc! { "$lookup": { "from": "c", "let": { "v": "$x" }, "pipeline": [
                { "$match": { "tenantId": "a", "$and": [twin()], "$expr": { "$and": [
                    { "$and": [{ "$eq": [{ "$type": "$tenantId" }, "string"] }, { "$regexMatch": { "input": "$tenantId", "regex": "^a\\z" } }] },
                    { "$eq": ["$y", "$$v"] },
                ] } } },
                { "$limit": 2 },
            ], "as": "z" } }
        );
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$lookup": { "from": "c", "pipeline": [], "as": "z" } }],
        )
        .unwrap();
        assert_eq!(out[1], doc! { "$lookup": { "from": "c", "pipeline": [foreign()], "as": "z" } });
    }

    #[test]
    fn lookup_outside_the_database_is_refused() {
        let cases = [
            doc! { "$lookup": { "from": { "db": "other", "coll": "c" }, "as": "z", "pipeline": [] } },
            doc! { "$lookup": { "as": "z", "pipeline": [{ "$documents": [{ "tenantId": "b" }] }] } },
            doc! { "$lookup": { "as": "z", "pipeline": [] } },
            doc! { "$graphLookup": { "from": { "db": "o", "coll": "c" }, "startWith": "$x", "connectFromField": "a", "connectToField": "b", "as": "z" } },
            doc! { "$graphLookup": { "startWith": "$x", "as": "z" } },
            doc! { "$unionWith": { "pipeline": [{ "$documents": [{}] }] } },
            doc! { "$unionWith": { "coll": { "db": "o", "coll": "c" } } },
        ];
        for st in cases {
            for s in [tenant(), database(), system()] {
                assert_eq!(kind(&s, vec![st.clone()]), ErrorKind::TenantViolation, "{st}");
            }
        }
    }

    #[test]
    fn nested_lookup_in_facet_in_lookup() {
        let p = vec![doc! { "$lookup": { "from": "c1", "as": "l1", "pipeline": [
            { "$facet": { "f": [
                { "$lookup": { "from": "c2", "localField": "x", "foreignField": "y", "as": "l2" } },
                { "$unionWith": "c3" },
            ] } },
        ] } }];
        let out = scope_pipeline(&tenant(), p).unwrap();
        let expected = vec![
            plain(),
            doc! { "$lookup": { "from": "c1", "as": "l1", "pipeline": [
                foreign(),
                { "$limit": i64::MAX },
                { "$facet": { "f": [
                    { "$lookup": { "from": "c2", "localField": "x", "foreignField": "y", "as": "l2", "pipeline": [foreign()] } },
                    { "$unionWith": { "coll": "c3", "pipeline": [foreign()] } },
                ] } },
            ] } },
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn facet_branches_get_no_tenant_match_of_their_own() {
        let p = vec![doc! { "$facet": { "a": [{ "$match": { "x": 1 } }], "b": [] } }];
        let out = scope_pipeline(&tenant(), p.clone()).unwrap();
        assert_eq!(out, vec![plain(), p[0].clone()]);
    }

    #[test]
    fn union_with_forms() {
        let out = scope_pipeline(&tenant(), vec![doc! { "$unionWith": "c" }]).unwrap();
        assert_eq!(out[1], doc! { "$unionWith": { "coll": "c", "pipeline": [foreign()] } });
        let out = scope_pipeline(&tenant(), vec![doc! { "$unionWith": { "coll": "c" } }]).unwrap();
        assert_eq!(out[1], doc! { "$unionWith": { "coll": "c", "pipeline": [foreign()] } });
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$unionWith": { "coll": "c", "pipeline": [{ "$project": { "x": 1 } }] } }],
        )
        .unwrap();
        // (Nothing but a leading $match reaches a join's sub-query: rounds 11 and 12.)
        assert_eq!(
            out[1],
            doc! { "$unionWith": { "coll": "c", "pipeline": [foreign(), { "$limit": i64::MAX }, { "$project": { "x": 1 } }] } }
        );
        // Database strategy: left as written.
        for st in [
            doc! { "$unionWith": "c" },
            doc! { "$unionWith": { "coll": "c", "pipeline": [{ "$limit": 1 }] } },
        ] {
            assert_eq!(scope_pipeline(&database(), vec![st.clone()]).unwrap(), vec![st]);
        }
        assert_eq!(
            kind(
                &database(),
                vec![doc! { "$unionWith": { "coll": "c", "pipeline": [{ "$out": "x" }] } }]
            ),
            ErrorKind::TenantViolation
        );
    }

    #[test]
    fn graph_lookup() {
        let base = doc! { "from": "c", "startWith": "$x", "connectFromField": "a", "connectToField": "b", "as": "z" };
        let out = scope_pipeline(&tenant(), vec![doc! { "$graphLookup": base.clone() }]).unwrap();
        let mut expected = base.clone();
        expected.insert("restrictSearchWithMatch", doc! { "tenantId": "a", "$and": [twin()] });
        assert_eq!(out[1], doc! { "$graphLookup": expected });

        let mut with = base.clone();
        with.insert("restrictSearchWithMatch", doc! { "tenantId": "b" });
        let out = scope_pipeline(&tenant(), vec![doc! { "$graphLookup": with }]).unwrap();
        let mut expected = base.clone();
        expected.insert(
            "restrictSearchWithMatch",
            doc! { "tenantId": "a", "$and": [twin(), { "$and": [{ "$or": [{ "tenantId": { "$regex": "^b\\z" } }, never()] }] }] },
        );
        assert_eq!(out[1], doc! { "$graphLookup": expected });

        assert_eq!(
            scope_pipeline(&database(), vec![doc! { "$graphLookup": base.clone() }]).unwrap(),
            vec![doc! { "$graphLookup": base }]
        );
    }

    #[test]
    fn geo_near_first() {
        let geo =
            doc! { "near": [0, 0], "distanceField": "d", "query": { "tenantId": "b", "x": 1 } };
        let out = scope_pipeline(&tenant(), vec![doc! { "$geoNear": geo }, doc! { "$limit": 1 }])
            .unwrap();
        assert_eq!(
            out,
            vec![
                doc! { "$geoNear": { "near": [0, 0], "distanceField": "d", "query": { "tenantId": "a", "x": 1, "$and": [{ "$or": [{ "tenantId": "b" }, never()] }] } } },
                doc! { "$limit": 1 },
            ]
        );
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$geoNear": { "near": [0, 0], "distanceField": "d" } }],
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                doc! { "$geoNear": { "near": [0, 0], "distanceField": "d", "query": { "tenantId": "a" } } }
            ]
        );
        // First stage of a join's pipeline: refused under a tenant (round 9: its special index
        // is not checked there); as written under runAsSystem.
        let joins = [
            doc! { "$lookup": { "from": "c", "as": "z", "pipeline": [{ "$geoNear": { "near": [0, 0], "distanceField": "d" } }] } },
            doc! { "$unionWith": { "coll": "c", "pipeline": [{ "$geoNear": { "near": [0, 0], "distanceField": "d" } }] } },
            doc! { "$unionWith": { "coll": "c", "pipeline": [{ "$match": { "$text": { "$search": "x" } } }] } },
            doc! { "$lookup": { "from": "c", "as": "z", "pipeline": [{ "$match": { "loc": { "$near": [0, 0] } } }] } },
            doc! { "$graphLookup": { "from": "c", "startWith": 1, "connectFromField": "x", "connectToField": "y", "as": "g", "restrictSearchWithMatch": { "$text": { "$search": "x" } } } },
        ];
        for j in joins {
            assert_eq!(kind(&tenant(), vec![j.clone()]), ErrorKind::TenantViolation, "{j}");
            assert_eq!(scope_pipeline(&system(), vec![j.clone()]).unwrap(), vec![j]);
        }
        // Anywhere else: refused, under every scope.
        for s in [tenant(), database(), system()] {
            assert_eq!(
                kind(&s, vec![doc! { "$limit": 1 }, doc! { "$geoNear": {} }]),
                ErrorKind::TenantViolation
            );
            assert_eq!(
                kind(&s, vec![doc! { "$facet": { "f": [{ "$geoNear": {} }] } }]),
                ErrorKind::TenantViolation
            );
        }
        // Database strategy: position checked, query untouched.
        let p = vec![doc! { "$geoNear": { "near": [0, 0], "distanceField": "d" } }];
        assert_eq!(scope_pipeline(&database(), p.clone()).unwrap(), p);
    }

    #[test]
    fn database_strategy_injects_nothing() {
        let p = vec![
            doc! { "$match": { "x": 1 } },
            doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "z" } },
            doc! { "$lookup": { "from": "c", "as": "z", "pipeline": [{ "$match": {} }] } },
        ];
        assert_eq!(scope_pipeline(&database(), p.clone()).unwrap(), p);
        assert_eq!(
            kind(&database(), vec![doc! { "$merge": { "into": "x" } }]),
            ErrorKind::TenantViolation
        );
    }

    /// Tenant "a" on collection `main`, with "plans" and "countries" shared.
    fn on(main: &str, strategy: Strategy) -> Scope {
        let names = shared::check_names(&["plans".into(), "countries".into()]).unwrap();
        Scope { shared: names.on(main), ..scope(Principal::Tenant("a".into()), strategy, false) }
    }

    fn lookup(from: &str) -> Document {
        doc! { "$lookup": { "from": from, "localField": "p", "foreignField": "k", "as": "j" } }
    }

    #[test]
    fn a_join_into_a_shared_collection_gets_no_tenant_match() {
        let out = scope_pipeline(&on("notes", Strategy::Field), vec![lookup("plans")]).unwrap();
        assert_eq!(out[0], plain(), "the tenant collection itself is still scoped");
        assert_eq!(out[1], lookup("plans"));
        let out = scope_pipeline(&on("notes", Strategy::Field), vec![lookup("notes")]).unwrap();
        let sub = out[1].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        assert_eq!(sub[0], Bson::Document(foreign()));
        let union = scope_pipeline(
            &on("notes", Strategy::Field),
            vec![doc! { "$unionWith": { "coll": "countries", "pipeline": [{ "$match": { "$expr": "$x" } }] } }],
        )
        .unwrap();
        assert_eq!(
            union[1],
            doc! { "$unionWith": { "coll": "countries", "pipeline": [{ "$match": { "$expr": "$x" } }] } }
        );
    }

    #[test]
    fn a_shared_collection_read_by_a_tenant_scopes_what_it_joins() {
        let s = on("plans", Strategy::Field);
        assert_eq!(scope_pipeline(&s, vec![]).unwrap(), Vec::<Document>::new());
        let out = scope_pipeline(
            &s,
            vec![lookup("notes"), doc! { "$unwind": "$j" }, doc! { "$match": { "j.x": 1 } }],
        )
        .unwrap();
        let sub = out[0].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        assert_eq!(sub[0], Bson::Document(foreign()), "the tenant collection joined is scoped");
        // Nothing later can be moved into the join, ahead of its tenant match.
        assert_eq!(out[1], doc! { "$limit": i64::MAX });
        assert_eq!(out[2], doc! { "$unwind": "$j" });
        // A join from a shared collection into another shared one needs no barrier.
        let out =
            scope_pipeline(&s, vec![lookup("countries"), doc! { "$match": { "x": 1 } }]).unwrap();
        assert_eq!(out, vec![lookup("countries"), doc! { "$match": { "x": 1 } }]);
        // A facet branch over the shared documents joins tenant data the same way.
        let out = scope_pipeline(&s, vec![doc! { "$facet": { "f": [lookup("notes")] } }]).unwrap();
        let branch = out[0].get_document("$facet").unwrap().get_array("f").unwrap();
        assert_eq!(branch[1], Bson::Document(doc! { "$limit": i64::MAX }));
        let graph = doc! { "$graphLookup": { "from": "notes", "startWith": "$a", "connectFromField": "b", "connectToField": "c", "as": "g" } };
        let out = scope_pipeline(&s, vec![graph]).unwrap();
        let restrict = out[0]
            .get_document("$graphLookup")
            .unwrap()
            .get_document("restrictSearchWithMatch")
            .unwrap();
        assert_eq!(restrict.get_str("tenantId"), Ok("a"));
        // Server-side JavaScript stays refused to a tenant, shared collection or not.
        let js = vec![doc! { "$match": { "$where": "true" } }];
        assert_eq!(kind(&s, js), ErrorKind::TenantViolation);
    }

    #[test]
    fn under_the_database_strategy_shared_and_tenant_collections_do_not_join() {
        for (main, from, ok) in [
            ("notes", "plans", false),
            ("plans", "notes", false),
            ("plans", "countries", true),
            ("notes", "notes", true),
        ] {
            let s = on(main, Strategy::Database);
            for stage in [
                lookup(from),
                doc! { "$unionWith": from },
                doc! { "$graphLookup": { "from": from, "startWith": "$a", "connectFromField": "b", "connectToField": "c", "as": "g" } },
            ] {
                let got = scope_pipeline(&s, vec![stage.clone()]);
                assert_eq!(got.is_ok(), ok, "{main} {stage}");
                if let Err(e) = got {
                    assert_eq!(e.kind, ErrorKind::TenantViolation);
                    assert!(e.message.contains("strategy 'database'"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p: Vec<Document> = vec![];
        for _ in 0..(MAX_DEPTH + 10) {
            p = vec![doc! { "$lookup": { "from": "c", "as": "x", "pipeline": stages_to_bson(p) } }];
        }
        let err = scope_pipeline(&tenant(), p).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("nesting"), "{}", err.message);
        let mut p: Vec<Document> = vec![];
        for _ in 0..(MAX_DEPTH + 10) {
            p = vec![doc! { "$facet": { "f": stages_to_bson(p) } }];
        }
        assert_eq!(kind(&system(), p), ErrorKind::InvalidArgument);
    }

    #[test]
    fn bad_tenant_in_scope_is_refused() {
        let s = scope(Principal::Tenant("a.b".into()), Strategy::Field, false);
        assert_eq!(kind(&s, vec![]), ErrorKind::TenantInvalid);
    }

    #[test]
    fn after_a_stage_that_may_change_the_tenant_field_a_later_match_stays_in_place() {
        let e = doc! { "$gt": ["$x", 1] };
        for reshape in [
            doc! { "$sortByCount": "$y" },
            doc! { "$project": { "x": 1 } },
            doc! { "$unset": "tenantId" },
            doc! { "$set": { "tenantId.k": 1 } },
            doc! { "$group": { "_id": "$y" } },
            doc! { "$lookup": { "from": "c", "localField": "a", "foreignField": "b", "as": "tenantId" } },
            doc! { "$unwind": "$tenantId" },
            doc! { "$replaceWith": "$sub" },
            doc! { "$unionWith": { "coll": "other", "pipeline": [{ "$group": { "_id": "$k" } }] } },
        ] {
            let out = scope_pipeline(
                &tenant(),
                vec![
                    reshape.clone(),
                    doc! { "$match": { "z": 1 } },
                    doc! { "$match": { "$expr": e.clone() } },
                ],
            )
            .unwrap();
            // A plain $match stays movable (the fuzzer found a barrier in front of one changing
            // which documents a $project before it evaluated); one with $expr is held.
            // (Shielded whole after a stage that copies the tenant field, or a join.)
            let joins = ["$lookup", "$graphLookup", "$unionWith"];
            let copied = reshape.values().any(|v| refers_to(v, "tenantId", 0))
                || joins.iter().any(|j| reshape.contains_key(*j));
            let z = shielded(doc! { "z": 1 }, "tenantId", copied);
            assert_eq!(out[2], doc! { "$match": z }, "{reshape}");
            assert_eq!(out[3], doc! { "$limit": i64::MAX }, "{reshape}");
            let x = shielded(doc! { "$expr": e.clone() }, "tenantId", copied);
            assert_eq!(out[4], doc! { "$match": x }, "{reshape}");
            assert_eq!(out.len(), 5, "{reshape}");
        }
        // Stages that keep the field keep the guard, and need no barrier.
        for keep in [
            doc! { "$set": { "k": 1 } },
            doc! { "$unwind": { "path": "$arr" } },
            doc! { "$lookup": { "from": "c", "localField": "a", "foreignField": "b", "as": "j" } },
            doc! { "$sort": { "x": 1 } },
        ] {
            let out = scope_pipeline(
                &tenant(),
                vec![keep.clone(), doc! { "$match": { "$expr": e.clone() } }],
            )
            .unwrap();
            let guarded = doc! { "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, e.clone()] } };
            // (After a join, shielded whole as well: round 7.)
            let joined = keep.contains_key("$lookup");
            assert_eq!(out[2], doc! { "$match": shielded(guarded, "tenantId", joined) }, "{keep}");
        }
    }

    /// Round 13: a second leading $match waits behind the barrier too.
    #[test]
    fn a_second_leading_match_in_a_join_waits_behind_the_barrier() {
        let pt = doc! { "$match": { "_id": "x" } };
        let probe = doc! { "$match": { "k": { "$regex": "a" } } };
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$lookup": { "from": "v", "as": "j", "pipeline": [pt, probe.clone()] } }],
        )
        .unwrap();
        let p = out[1].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        assert_eq!(p[1], Bson::Document(doc! { "$limit": i64::MAX }), "{p:?}");
        assert_eq!(p[2], Bson::Document(probe));
    }

    /// Red-team round 9: a second join after a barrier lets the server copy a later expression
    /// $match into it: each expression $match after a join gets its own barrier.
    #[test]
    fn every_join_needs_its_own_barrier() {
        let e = doc! { "$gt": ["$x", 1] };
        let m = doc! { "$match": { "$expr": e.clone() } };
        let u = doc! { "$unionWith": "v" };
        let scoped_u = doc! { "$unionWith": { "coll": "v", "pipeline": [foreign()] } };
        let held = doc! { "$match": shield_all(doc! { "$expr": e.clone() }) };
        let limit = doc! { "$limit": i64::MAX };
        let out =
            scope_pipeline(&tenant(), vec![u.clone(), m.clone(), u.clone(), m.clone()]).unwrap();
        assert_eq!(
            out,
            vec![plain(), scoped_u.clone(), limit.clone(), held.clone(), scoped_u, limit, held]
        );
        // Stages that bring in nothing need no second one.
        let out =
            scope_pipeline(&tenant(), vec![u, m.clone(), doc! { "$sort": { "x": 1 } }, m]).unwrap();
        assert_eq!(out.iter().filter(|s| s.contains_key("$limit")).count(), 1);
    }

    /// Red-team round 10: a join's sub-query takes no hint, so no `_id` condition may bound its
    /// plan, except the points of a join key, which wait with nothing of the caller's but the
    /// tenant match.
    #[test]
    fn no_id_condition_bounds_a_joins_sub_query() {
        let range = doc! { "_id": { "$gte": 1 }, "k": { "$regex": "x" } };
        let union = |p: Vec<Document>| doc! { "$unionWith": { "coll": "v", "pipeline": p } };
        let m = |d: Document| doc! { "$match": d };
        // A range on _id is shielded; the rest stays.
        let out = scope_pipeline(&tenant(), vec![union(vec![m(range.clone())])]).unwrap();
        let want =
            scope_filter(&Scope { collation_guard: true, ..tenant() }, shield_ids(range.clone()))
                .unwrap();
        assert_eq!(out[1], union(vec![m(want)]));
        // Points of a join key stay in front; the rest waits behind a barrier.
        let key = doc! { "$expr": { "$eq": ["$_id", "$$v"] }, "k": { "$regex": "x" } };
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$lookup": { "from": "v", "let": { "v": "$r" }, "as": "j", "pipeline": [m(key)] } }],
        )
        .unwrap();
        let p = out[1].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0]
            .as_document()
            .unwrap()
            .get_document("$match")
            .unwrap()
            .to_string()
            .contains("$$v"));
        assert_eq!(p[1], Bson::Document(doc! { "$limit": i64::MAX }));
        assert!(p[2]
            .as_document()
            .unwrap()
            .get_document("$match")
            .unwrap()
            .to_string()
            .contains("$regex"));
        // A later $match in the sub-pipeline: its _id clauses shielded too.
        let out = scope_pipeline(
            &tenant(),
            vec![union(vec![doc! { "$sort": { "k": 1 } }, m(doc! { "_id": { "$exists": true } })])],
        )
        .unwrap();
        let p = out[1].get_document("$unionWith").unwrap().get_array("pipeline").unwrap();
        assert_eq!(p[1], Bson::Document(doc! { "$limit": i64::MAX }));
        assert_eq!(p[3], Bson::Document(m(doc! { "_id": { "$exists": true } })));
        // foreignField _id with a pipeline: the caller's stages behind the tenant and a barrier.
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$lookup": { "from": "v", "localField": "r", "foreignField": "_id", "as": "j", "pipeline": [m(doc! { "k": 1 })] } }],
        )
        .unwrap();
        let p = out[1].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        assert_eq!(p[0], Bson::Document(foreign()));
        assert_eq!(p[1], Bson::Document(doc! { "$limit": i64::MAX }));
        let g_scope = Scope { collation_guard: true, ..tenant() };
        assert_eq!(p[2], Bson::Document(m(scope_filter(&g_scope, doc! { "k": 1 }).unwrap())));
        // Round 11: `$$ROOT._id`, `$$CURRENT._id` and `$jsonSchema` name `_id` too, and a sort
        // on `_id` waits behind a barrier.
        for hidden in [
            doc! { "$expr": { "$gte": ["$$ROOT._id", 1] } },
            doc! { "$expr": { "$gte": ["$$CURRENT._id.k", 1] } },
            doc! { "$jsonSchema": { "required": ["_id"] } },
        ] {
            let out = scope_pipeline(&tenant(), vec![union(vec![m(hidden.clone())])]).unwrap();
            let p = out[1].get_document("$unionWith").unwrap().get_array("pipeline").unwrap();
            let sent = p[0].as_document().unwrap().get_document("$match").unwrap().to_string();
            assert!(sent.contains("\u{1}tenantfence"), "{hidden}: {sent}");
        }
        // A sort on `_id`, and any other stage too: nothing but the leading $match reaches the
        // sub-query (rounds 11 and 12).
        for sort in [doc! { "_id": -1 }, doc! { "k": -1 }] {
            let sub = vec![m(doc! { "k": 1 }), doc! { "$sort": sort }];
            let out = scope_pipeline(&tenant(), vec![union(sub)]).unwrap();
            let p = out[1].get_document("$unionWith").unwrap().get_array("pipeline").unwrap();
            assert_eq!(p[1], Bson::Document(doc! { "$limit": i64::MAX }), "{p:?}");
        }
        // $graphLookup on _id: refused, with or without a restriction (rounds 10 and 14).
        let g = |r: Document| doc! { "$graphLookup": { "from": "v", "startWith": "$r", "connectFromField": "p", "connectToField": "_id", "as": "g", "restrictSearchWithMatch": r } };
        assert_eq!(kind(&tenant(), vec![g(doc! { "k": 1 })]), ErrorKind::TenantViolation);
        assert_eq!(kind(&tenant(), vec![g(doc! {})]), ErrorKind::TenantViolation);
        assert!(scope_pipeline(&system(), vec![g(doc! { "k": 1 })]).is_ok());
    }

    #[test]
    fn joined_lists_every_collection_a_join_reads_once() {
        let p = vec![
            doc! { "$lookup": { "from": "a", "as": "j", "pipeline": [{ "$unionWith": "b" }] } },
            doc! { "$facet": { "f": [{ "$graphLookup": { "from": "c", "startWith": 1, "connectFromField": "x", "connectToField": "y", "as": "g" } }], "g": [{ "$unionWith": { "coll": "a", "pipeline": [{ "$lookup": { "from": "d", "localField": "x", "foreignField": "y", "as": "k" } }] } }] } },
            doc! { "$match": { "from": "nope" } },
        ];
        assert_eq!(joined(&p), vec!["a", "b", "c", "d"]);
        assert!(joined(&[doc! { "$sort": { "x": 1 } }]).is_empty());
    }

    /// Red-team round 8: the server moves a branch's $match into a join of the same branch, so a
    /// branch is scoped like the rest of the pipeline, from the state at its $facet.
    #[test]
    fn a_facet_branch_match_is_held_like_a_later_one() {
        let e = doc! { "$gt": [{ "$divide": [1, "$x"] }, 0] };
        // (A branch may hold documents of other collections, whose collation is not known here:
        // the exact, case-sensitive test.)
        let exact = doc! { "$and": [
            { "$eq": [{ "$type": "$tenantId" }, "string"] },
            { "$regexMatch": { "input": "$tenantId", "regex": "^a\\z" } },
        ] };
        let guarded = doc! { "$expr": { "$and": [exact, e.clone()] } };
        let m = |d: Document| doc! { "$match": d };
        let facet = |branch: Vec<Document>| doc! { "$facet": { "f": branch } };
        let cases: Vec<(Vec<Document>, Document)> = vec![
            // Documents still the tenant's own: the expression gets the tenant test.
            (vec![facet(vec![m(doc! { "$expr": e.clone() })])], facet(vec![m(guarded.clone())])),
            // A join in the branch: a barrier, and the whole $match shielded.
            (
                vec![facet(vec![
                    doc! { "$unionWith": "c" },
                    m(doc! { "$expr": e.clone(), "k": 1 }),
                ])],
                facet(vec![
                    doc! { "$unionWith": { "coll": "c", "pipeline": [foreign()] } },
                    doc! { "$limit": i64::MAX },
                    m(shield_all(doc! { "$expr": e.clone(), "k": 1 })),
                ]),
            ),
            (
                vec![facet(vec![
                    doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "j" } },
                    doc! { "$unwind": "$j" },
                    m(doc! { "j.tenantId": "b" }),
                ])],
                facet(vec![
                    doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "j", "pipeline": [foreign()] } },
                    doc! { "$unwind": "$j" },
                    m(shield_all(doc! { "j.tenantId": "b" })),
                ]),
            ),
            // A copy made before the $facet counts inside its branches.
            (
                vec![
                    doc! { "$addFields": { "t": "$tenantId" } },
                    facet(vec![m(doc! { "t": "b" })]),
                ],
                facet(vec![m(shield_all(doc! { "t": "b" }))]),
            ),
            // A condition on the tenant field in a branch is shielded.
            (
                vec![facet(vec![m(doc! { "tenantId": "b", "k": 1 })])],
                facet(vec![m(shield(doc! { "tenantId": "b", "k": 1 }, "tenantId"))]),
            ),
        ];
        for (input, expected) in cases {
            let out = scope_pipeline(&tenant(), input.clone()).unwrap();
            assert_eq!(out.last(), Some(&expected), "{input:?}");
        }
        // After a $facet, a later $match is shielded whole.
        let out = scope_pipeline(
            &tenant(),
            vec![facet(vec![doc! { "$unionWith": "c" }]), m(doc! { "f.k": 1 })],
        )
        .unwrap();
        assert_eq!(out[2], m(shield_all(doc! { "f.k": 1 })));
    }

    #[test]
    fn a_later_match_runs_its_expressions_only_on_the_tenants_documents() {
        let e = doc! { "$gt": ["$x", 1] };
        let out = scope_pipeline(
            &tenant(),
            vec![doc! { "$sort": { "x": 1 } }, doc! { "$match": { "$expr": e.clone() } }],
        )
        .unwrap();
        assert_eq!(
            out[2],
            doc! { "$match": { "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, e.clone()] } } }
        );
        // Under runAsSystem nothing is injected, so nothing is guarded.
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        let out = scope_pipeline(&sys, vec![doc! { "$match": { "$expr": e.clone() } }]).unwrap();
        assert_eq!(out[0], doc! { "$match": { "$expr": e } });
    }

    #[test]
    fn server_side_javascript_is_refused_in_any_stage_under_a_tenant() {
        let f = doc! { "$function": { "body": "function(){return 1}", "args": [], "lang": "js" } };
        for stage in [
            doc! { "$project": { "y": f.clone() } },
            doc! { "$facet": { "a": [{ "$match": { "$where": "1" } }] } },
            doc! { "$lookup": { "from": "c", "pipeline": [{ "$set": { "y": f.clone() } }], "as": "z" } },
            doc! { "$group": { "_id": 1, "g": { "$accumulator": {} } } },
        ] {
            assert_eq!(kind(&tenant(), vec![stage.clone()]), ErrorKind::TenantViolation, "{stage}");
        }
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        assert!(scope_pipeline(&sys, vec![doc! { "$project": { "y": f } }]).is_ok());
    }
}
