//! Updates: the tenant field is immutable under a tenant. Operator updates are
//! checked path by path; pipeline updates are checked stage by stage and then
//! get a final stage that forces the tenant back, because a computed
//! `$replaceWith` or an inclusion `$project` cannot be judged in advance.

use bson::{doc, Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::filter::names_tenant_by_equality;
use super::{shared, Principal, Scope, Strategy};

/// An update, after `classify`.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// `{$set: {...}, $inc: {...}}`
    Modifiers(Document),
    /// `[{$set: ...}, {$unset: ...}]`
    Pipeline(Vec<Document>),
}

/// Update operators we understand; anything else is refused rather than guessed at.
const OPERATORS: &[&str] = &[
    "$set",
    "$setOnInsert",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$currentDate",
    "$push",
    "$addToSet",
    "$pop",
    "$pull",
    "$pullAll",
    "$bit",
];

/// Stages MongoDB accepts in an update pipeline.
const PIPELINE_STAGES: &[&str] =
    &["$set", "$addFields", "$project", "$unset", "$replaceRoot", "$replaceWith"];

/// Refuses a pipeline stage that is not a document with exactly one `$name` key.
pub(crate) fn check_stage_shape(stage: &Document) -> ScopeResult<()> {
    if stage.len() != 1 || !stage.keys().all(|k| k.starts_with('$')) {
        return Err(ScopeError::argument(format!(
            "a pipeline stage must be a document with exactly one $-operator, not {stage}"
        )));
    }
    Ok(())
}

/// Splits a pipeline stage into its single `$name` and body.
pub(crate) fn split_stage(stage: Document) -> ScopeResult<(String, Bson)> {
    check_stage_shape(&stage)?;
    Ok(stage.into_iter().next().expect("one key"))
}

/// Tells an operator update from a pipeline update; refuses everything else.
pub fn classify(update: Bson) -> ScopeResult<Update> {
    match update {
        Bson::Document(d) => {
            if d.is_empty() {
                return Err(ScopeError::argument("update document must not be empty"));
            }
            let dollars = d.keys().filter(|k| k.starts_with('$')).count();
            if dollars == 0 {
                Err(ScopeError::argument("update document requires atomic operators"))
            } else if dollars != d.len() {
                Err(ScopeError::argument("update document must not mix operators and plain fields"))
            } else {
                Ok(Update::Modifiers(d))
            }
        }
        Bson::Array(stages) => {
            if stages.is_empty() {
                return Err(ScopeError::argument("update pipeline must have at least one stage"));
            }
            let mut out = Vec::with_capacity(stages.len());
            for stage in stages {
                let Bson::Document(stage) = stage else {
                    return Err(ScopeError::argument("update pipeline stages must be documents"));
                };
                // Validate the shape now; the stage names are checked by scope_update.
                check_stage_shape(&stage)?;
                out.push(stage);
            }
            Ok(Update::Pipeline(out))
        }
        other => Err(ScopeError::argument(format!(
            "update must be a document of operators or an array of pipeline stages, not {}",
            type_name(&other)
        ))),
    }
}

fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::String(_) => "a string",
        Bson::Null => "null",
        Bson::Undefined => "undefined",
        Bson::Boolean(_) => "a boolean",
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => "a number",
        _ => "this value",
    }
}

/// Refuses updates that would change, remove or rename the tenant field.
pub fn scope_update(scope: &Scope, update: Update) -> ScopeResult<Update> {
    if scope.strategy == Strategy::Database {
        return Ok(update);
    }
    match update {
        Update::Modifiers(d) => {
            check_modifiers(scope, &d)?;
            Ok(Update::Modifiers(d))
        }
        Update::Pipeline(stages) => scope_update_pipeline(scope, stages).map(Update::Pipeline),
    }
}

/// Checks a value written to exactly the tenant field (a literal, already extracted).
fn check_tenant_value(scope: &Scope, value: &Bson, how: &str) -> ScopeResult<()> {
    if shared::unstamped(scope) {
        return Err(shared::stamped_refusal(scope));
    }
    let field = &scope.field;
    match (&scope.principal, value) {
        // `scope::tenants::admit` refused the write first.
        (Principal::Tenants(_), _) => Err(ScopeError::violation("runAsTenants does not write")),
        (Principal::Tenant(t), Bson::String(s)) if s == t => Ok(()),
        (Principal::Tenant(t), Bson::String(s)) => Err(ScopeError::violation(format!(
            "{how} would move the document to tenant '{s}' but the current tenant is '{t}'"
        ))),
        (Principal::Tenant(_), other) => Err(ScopeError::violation(format!(
            "{how} would set the tenant field '{field}' to {other}; it must stay the current tenant"
        ))),
        (Principal::System, Bson::String(s)) => scope.check_id(s),
        (Principal::System, other) => Err(ScopeError::invalid(format!(
            "{how} would set the tenant field '{field}' to {other}; it must be a string"
        ))),
    }
}

fn check_modifiers(scope: &Scope, update: &Document) -> ScopeResult<()> {
    let field = &scope.field;
    for (op, spec) in update {
        if !OPERATORS.contains(&op.as_str()) {
            return Err(ScopeError::argument(format!("unknown update operator {op}")));
        }
        let Bson::Document(spec) = spec else {
            return Err(ScopeError::argument(format!("{op} needs a document of field paths")));
        };
        for (path, value) in spec {
            if op == "$currentDate" && scope.tenant().is_some() && is_timestamp_type(value) {
                return Err(ScopeError::violation(format!(
                    "$currentDate of '{path}' as a timestamp is not allowed under a tenant: it stores the cluster's oplog clock, which every tenant's writes move"
                )));
            }
            if op == "$rename" {
                let Bson::String(target) = value else {
                    return Err(ScopeError::argument(format!(
                        "$rename target for '{path}' must be a string"
                    )));
                };
                if scope.touches(target) {
                    return Err(ScopeError::violation(format!(
                        "$rename must not move '{path}' onto the tenant field ('{target}')"
                    )));
                }
            }
            if !scope.touches(path) {
                continue;
            }
            if (op == "$set" || op == "$setOnInsert") && path == field {
                check_tenant_value(scope, value, op)?;
                continue;
            }
            return Err(ScopeError::violation(format!(
                "{op} must not change the tenant field ('{path}')"
            )));
        }
    }
    Ok(())
}

/// `{$type: 'timestamp'}` in `$currentDate`.
fn is_timestamp_type(v: &Bson) -> bool {
    matches!(v, Bson::Document(d) if matches!(d.get("$type"), Some(Bson::String(t)) if t == "timestamp"))
}

/// A value an aggregation expression takes literally: a string not starting with `$`,
/// or `{$literal: <string>}`. Anything else is computed and cannot be judged here.
fn literal_string(v: &Bson) -> Option<&Bson> {
    match v {
        Bson::String(s) if !s.starts_with('$') => Some(v),
        Bson::Document(d) if d.len() == 1 => match d.get("$literal") {
            Some(inner @ Bson::String(_)) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// Refuses a new root that is, or merges in, an object literal naming another tenant.
fn check_literal_root(scope: &Scope, root: &Bson, how: &str) -> ScopeResult<()> {
    // `{$literal: {...}}` is the same object literal, spelled so it is not parsed.
    let root = match root {
        Bson::Document(d)
            if d.len() == 1 && matches!(d.get("$literal"), Some(Bson::Document(_))) =>
        {
            d.get("$literal").expect("checked above")
        }
        other => other,
    };
    let parts: Vec<&Bson> = match root {
        Bson::Document(d) => match d.get("$mergeObjects") {
            Some(Bson::Array(items)) if d.len() == 1 => items.iter().collect(),
            Some(one) if d.len() == 1 => vec![one],
            _ => vec![root],
        },
        _ => return Ok(()),
    };
    for part in parts {
        let Bson::Document(obj) = part else { continue };
        if obj.keys().next().is_some_and(|k| k.starts_with('$')) {
            continue;
        }
        if let Some(value) = obj.get(&scope.field) {
            match literal_string(value) {
                Some(lit) => check_tenant_value(scope, lit, how)?,
                None => {
                    return Err(ScopeError::violation(format!(
                        "{how} may only name the tenant field '{}' with the literal tenant id",
                        scope.field
                    )))
                }
            }
        }
    }
    Ok(())
}

/// `1`, `true` or any non-zero number in `$project` keeps a field as it is.
fn is_inclusion(v: &Bson) -> bool {
    match v {
        Bson::Boolean(b) => *b,
        Bson::Int32(n) => *n != 0,
        Bson::Int64(n) => *n != 0,
        Bson::Double(n) => *n != 0.0,
        _ => false,
    }
}

fn is_exclusion(v: &Bson) -> bool {
    matches!(v, Bson::Boolean(false) | Bson::Int32(0) | Bson::Int64(0))
        || matches!(v, Bson::Double(n) if *n == 0.0)
}

fn scope_update_pipeline(scope: &Scope, stages: Vec<Document>) -> ScopeResult<Vec<Document>> {
    let field = scope.field.as_str();
    let system = scope.tenant().is_none();
    let mut out = Vec::with_capacity(stages.len() + 1);
    for stage in stages {
        let (name, body) = split_stage(stage)?;
        if !PIPELINE_STAGES.contains(&name.as_str()) {
            return Err(ScopeError::argument(format!(
                "stage {name} is not allowed in an update pipeline"
            )));
        }
        match name.as_str() {
            "$set" | "$addFields" => {
                let Bson::Document(fields) = &body else {
                    return Err(ScopeError::argument(format!("{name} needs a document of fields")));
                };
                for (path, value) in fields {
                    if !scope.touches(path) {
                        continue;
                    }
                    match literal_string(value) {
                        Some(lit) if path == field => check_tenant_value(scope, lit, &name)?,
                        _ => {
                            return Err(ScopeError::violation(format!(
                                "{name} may only set '{field}' to the literal tenant id, not '{path}': {value}"
                            )))
                        }
                    }
                }
            }
            "$unset" => {
                let names: Vec<&Bson> = match &body {
                    Bson::String(_) => vec![&body],
                    Bson::Array(items) => items.iter().collect(),
                    _ => return Err(ScopeError::argument("$unset needs a field name or an array of names")),
                };
                for n in names {
                    let Bson::String(path) = n else {
                        return Err(ScopeError::argument("$unset field names must be strings"));
                    };
                    if scope.touches(path) {
                        return Err(ScopeError::violation(format!("$unset must not remove the tenant field ('{path}')")));
                    }
                }
            }
            "$project" if system => {
                return Err(ScopeError::violation(
                    "$project in an update pipeline is not allowed under runAsSystem: the result might name no valid tenant",
                ))
            }
            "$project" => {
                let Bson::Document(spec) = &body else {
                    return Err(ScopeError::argument("$project needs a document"));
                };
                for (path, value) in spec {
                    if !scope.touches(path) {
                        continue;
                    }
                    let keeps = path == field
                        && (is_inclusion(value) || literal_string(value).and_then(Bson::as_str) == scope.tenant());
                    if !keeps {
                        let what = if is_exclusion(value) { "remove" } else { "change" };
                        return Err(ScopeError::violation(format!(
                            "$project must not {what} the tenant field ('{path}': {value})"
                        )));
                    }
                }
            }
            "$replaceRoot" | "$replaceWith" if system => {
                return Err(ScopeError::violation(format!(
                    "{name} in an update pipeline is not allowed under runAsSystem: the result might name no valid tenant"
                )))
            }
            "$replaceRoot" | "$replaceWith" => {
                let root = if name == "$replaceRoot" {
                    match &body {
                        Bson::Document(d) => d.get("newRoot").cloned().unwrap_or(Bson::Null),
                        _ => return Err(ScopeError::argument("$replaceRoot needs {newRoot: <expression>}")),
                    }
                } else {
                    body.clone()
                };
                // A computed root is allowed (the final forced $set puts the tenant back);
                // a literal one that names another tenant is refused outright.
                check_literal_root(scope, &root, &name)?;
            }
            _ => {}
        }
        out.push(doc! { name: body });
    }
    if let Some(t) = scope.tenant() {
        out.push(doc! { "$set": { field: { "$literal": t } } });
    }
    Ok(out)
}

/// Under runAsSystem, an upsert must give the document it may insert a tenant:
/// by an equality in the filter or by setting the field in the update.
pub fn check_system_upsert(scope: &Scope, filter: &Document, update: &Update) -> ScopeResult<()> {
    if scope.strategy == Strategy::Database || scope.tenant().is_some() || shared::unstamped(scope)
    {
        return Ok(());
    }
    let field = scope.field.as_str();
    let sets_field = match update {
        Update::Modifiers(d) => ["$set", "$setOnInsert"]
            .iter()
            .any(|op| matches!(d.get(*op), Some(Bson::Document(spec)) if spec.contains_key(field))),
        Update::Pipeline(stages) => stages.iter().any(|s| {
            ["$set", "$addFields"].iter().any(
                |op| matches!(s.get(*op), Some(Bson::Document(spec)) if spec.contains_key(field)),
            )
        }),
    };
    if sets_field || names_tenant_by_equality(scope, filter) {
        Ok(())
    } else {
        Err(ScopeError::violation(format!(
            "an upsert under runAsSystem must name the tenant: put {{{field}: <id>}} in the filter or $setOnInsert it"
        )))
    }
}

/// Gives an operator upsert the caller named no `_id` for a generated one (`$setOnInsert`).
/// Left to the server, its `_id` would come from mongod's process-wide counter: one upsert of
/// a tenant's own shows it, and the next ones can be taken to make other tenants' upserts fail.
/// Not when the filter or the update names `_id` (the caller chose it, or it may be matched).
pub fn add_upsert_id(filter: &Document, update: &mut Document, fresh: bson::oid::ObjectId) {
    let named = |d: &Document| d.keys().any(|k| k == "_id" || k.starts_with("_id."));
    let in_filter = named(filter)
        || matches!(filter.get("$and"), Some(Bson::Array(items)) if items.iter().any(|i| matches!(i, Bson::Document(d) if named(d))));
    let in_update = update.values().any(|v| matches!(v, Bson::Document(d) if named(d)));
    if in_filter || in_update {
        return;
    }
    match update.get_mut("$setOnInsert") {
        Some(Bson::Document(d)) => {
            d.insert("_id", fresh);
        }
        _ => {
            update.insert("$setOnInsert", doc! { "_id": fresh });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    fn scope(principal: Principal) -> Scope {
        Scope::for_test(principal, Strategy::Field)
    }
    fn tenant() -> Scope {
        scope(Principal::Tenant("a".into()))
    }
    fn system() -> Scope {
        scope(Principal::System)
    }
    fn mods(d: Document) -> Update {
        Update::Modifiers(d)
    }
    fn pipe(stages: Vec<Document>) -> Update {
        Update::Pipeline(stages)
    }

    #[test]
    fn classify_cases() {
        assert_eq!(
            classify(Bson::Document(doc! { "$set": { "x": 1 } })).unwrap(),
            mods(doc! { "$set": { "x": 1 } })
        );
        assert_eq!(
            classify(Bson::Array(vec![Bson::Document(doc! { "$set": { "x": 1 } })])).unwrap(),
            pipe(vec![doc! { "$set": { "x": 1 } }])
        );
        let bad = [
            (Bson::Document(doc! {}), "empty"),
            (Bson::Document(doc! { "x": 1 }), "requires atomic operators"),
            (Bson::Document(doc! { "$set": { "x": 1 }, "x": 1 }), "mix"),
            (Bson::Array(vec![]), "at least one stage"),
            (Bson::Array(vec![Bson::Int32(1)]), "must be documents"),
            (Bson::Array(vec![Bson::Document(doc! { "x": 1 })]), "exactly one"),
            (Bson::Array(vec![Bson::Document(doc! { "$set": {}, "$unset": "x" })]), "exactly one"),
            (Bson::Array(vec![Bson::Document(doc! {})]), "exactly one"),
            (Bson::String("x".into()), "a string"),
            (Bson::Null, "null"),
            (Bson::Int32(1), "a number"),
        ];
        for (u, needle) in bad {
            let err = classify(u.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{u}");
            assert!(err.message.contains(needle), "{u}: {}", err.message);
        }
    }

    #[test]
    fn every_operator_touching_the_field_is_refused() {
        let refused = [
            doc! { "$set": { "tenantId": "b" } },
            doc! { "$set": { "tenantId": 1 } },
            doc! { "$set": { "tenantId": Bson::Null } },
            doc! { "$set": { "tenantId": { "$literal": "a" } } },
            doc! { "$set": { "tenantId.x": "a" } },
            doc! { "$set": { "tenantId.$": "a" } },
            doc! { "$set": { "tenantId.$[]": "a" } },
            doc! { "$set": { "tenantId.0": "a" } },
            doc! { "$setOnInsert": { "tenantId": "b" } },
            doc! { "$unset": { "tenantId": "" } },
            doc! { "$unset": { "tenantId.x": 1 } },
            doc! { "$inc": { "tenantId": 1 } },
            doc! { "$mul": { "tenantId": 2 } },
            doc! { "$min": { "tenantId": "0" } },
            doc! { "$max": { "tenantId": "z" } },
            doc! { "$rename": { "tenantId": "old" } },
            doc! { "$rename": { "other": "tenantId" } },
            doc! { "$rename": { "other": "tenantId.x" } },
            doc! { "$currentDate": { "tenantId": true } },
            doc! { "$push": { "tenantId": 1 } },
            doc! { "$addToSet": { "tenantId": 1 } },
            doc! { "$pop": { "tenantId": 1 } },
            doc! { "$pull": { "tenantId": "a" } },
            doc! { "$pullAll": { "tenantId": ["a"] } },
            doc! { "$bit": { "tenantId": { "and": 0 } } },
            doc! { "$set": { "x": 1 }, "$unset": { "tenantId": "" } },
        ];
        // Setting exactly the field is admin work under runAsSystem: see system_updates.
        let sets_exact_field = |u: &Document| {
            ["$set", "$setOnInsert"]
                .iter()
                .any(|op| u.get_document(op).is_ok_and(|d| d.contains_key("tenantId")))
        };
        for s in [tenant(), system()] {
            for u in refused.iter().filter(|u| s.tenant().is_some() || !sets_exact_field(u)) {
                let err = scope_update(&s, mods(u.clone())).unwrap_err();
                assert_eq!(err.kind, ErrorKind::TenantViolation, "{u}: {}", err.message);
            }
        }
    }

    #[test]
    fn allowed_modifiers() {
        let ok = [
            doc! { "$set": { "tenantId": "a", "x": 1 } },
            doc! { "$setOnInsert": { "tenantId": "a" } },
            doc! { "$set": { "tenantIdx": "b", "x.tenantId": "b", "TenantId": "b" } },
            doc! { "$rename": { "a": "b" } },
            doc! { "$inc": { "n": 1 }, "$push": { "list": { "$each": [1, 2] } } },
            doc! { "$set": {} },
        ];
        for u in ok {
            assert_eq!(scope_update(&tenant(), mods(u.clone())).unwrap(), mods(u));
        }
    }

    #[test]
    fn malformed_modifiers() {
        let bad = [
            doc! { "$where": { "x": 1 } },
            doc! { "$sett": { "x": 1 } },
            doc! { "$set": 1 },
            doc! { "$set": [{ "x": 1 }] },
            doc! { "$rename": { "a": 1 } },
        ];
        for u in bad {
            assert_eq!(
                scope_update(&tenant(), mods(u.clone())).unwrap_err().kind,
                ErrorKind::InvalidArgument,
                "{u}"
            );
        }
    }

    #[test]
    fn system_updates() {
        let s = system();
        scope_update(&s, mods(doc! { "$set": { "tenantId": "b" } })).unwrap();
        scope_update(&s, mods(doc! { "$setOnInsert": { "tenantId": "c" } })).unwrap();
        let cases = [
            (doc! { "$set": { "tenantId": "a.b" } }, ErrorKind::TenantInvalid),
            (doc! { "$set": { "tenantId": "" } }, ErrorKind::TenantInvalid),
            (doc! { "$set": { "tenantId": 1 } }, ErrorKind::TenantInvalid),
            (doc! { "$set": { "tenantId.x": "b" } }, ErrorKind::TenantViolation),
            (doc! { "$unset": { "tenantId": "" } }, ErrorKind::TenantViolation),
            (doc! { "$rename": { "x": "tenantId" } }, ErrorKind::TenantViolation),
        ];
        for (u, kind) in cases {
            assert_eq!(scope_update(&s, mods(u.clone())).unwrap_err().kind, kind, "{u}");
        }
    }

    #[test]
    fn database_strategy_is_unchanged() {
        let s = Scope { strategy: Strategy::Database, ..tenant() };
        let u = mods(doc! { "$set": { "tenantId": "b" }, "$bogus": 1 });
        assert_eq!(scope_update(&s, u.clone()).unwrap(), u);
        let p = pipe(vec![doc! { "$replaceWith": "$x" }]);
        assert_eq!(scope_update(&s, p.clone()).unwrap(), p);
    }

    fn forced() -> Document {
        doc! { "$set": { "tenantId": { "$literal": "a" } } }
    }

    #[test]
    fn pipeline_refusals_under_a_tenant() {
        let refused = [
            doc! { "$set": { "tenantId": "b" } },
            doc! { "$set": { "tenantId": "$other" } },
            doc! { "$set": { "tenantId": { "$concat": ["a", ""] } } },
            doc! { "$set": { "tenantId": { "$literal": "b" } } },
            doc! { "$set": { "tenantId.x": "a" } },
            doc! { "$addFields": { "tenantId": 1 } },
            doc! { "$unset": "tenantId" },
            doc! { "$unset": ["x", "tenantId"] },
            doc! { "$unset": "tenantId.x" },
            doc! { "$project": { "tenantId": 0 } },
            doc! { "$project": { "tenantId": false } },
            doc! { "$project": { "tenantId": "$x" } },
            doc! { "$project": { "tenantId": "b" } },
            doc! { "$project": { "tenantId.x": 1 } },
            doc! { "$project": { "tenantId": { "x": 1 } } },
        ];
        for st in refused {
            let err = scope_update(&tenant(), pipe(vec![doc! { "$set": { "y": 1 } }, st.clone()]))
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation, "{st}");
        }
        let err = scope_update(&tenant(), pipe(vec![doc! { "$project": { "tenantId": 0 } }]))
            .unwrap_err();
        assert!(err.message.contains("remove"), "{}", err.message);
        for st in [
            doc! { "$lookup": {} },
            doc! { "$out": "x" },
            doc! { "$match": {} },
            doc! { "$unset": 1 },
        ] {
            let err = scope_update(&tenant(), pipe(vec![st.clone()])).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{st}");
        }
    }

    #[test]
    fn pipeline_gets_the_forced_tenant() {
        let allowed = [
            doc! { "$set": { "tenantId": "a", "x": 1 } },
            doc! { "$set": { "tenantId": { "$literal": "a" } } },
            doc! { "$addFields": { "y": "$x" } },
            doc! { "$unset": ["x", "tenantIdx"] },
            doc! { "$project": { "x": 1 } },
            doc! { "$project": { "tenantId": 1, "x": 1 } },
            doc! { "$project": { "x": 0 } },
            doc! { "$project": { "tenantId": "a" } },
            doc! { "$replaceWith": "$sub" },
            doc! { "$replaceWith": { "$mergeObjects": ["$$ROOT", { "x": 1 }] } },
            doc! { "$replaceWith": { "tenantId": "a", "x": 1 } },
            doc! { "$replaceRoot": { "newRoot": "$sub" } },
        ];
        for st in allowed {
            let out = scope_update(&tenant(), pipe(vec![st.clone()])).unwrap();
            assert_eq!(out, pipe(vec![st, forced()]));
        }
    }

    #[test]
    fn a_literal_root_naming_another_tenant_is_refused() {
        for st in [
            doc! { "$replaceWith": { "tenantId": "b", "x": 1 } },
            doc! { "$replaceWith": { "$literal": { "tenantId": "b", "x": 1 } } },
            doc! { "$replaceWith": { "$mergeObjects": ["$$ROOT", { "tenantId": "b" }] } },
            doc! { "$replaceRoot": { "newRoot": { "tenantId": "$other" } } },
            doc! { "$replaceRoot": { "newRoot": { "$mergeObjects": [{ "tenantId": 7 }, "$$ROOT"] } } },
        ] {
            let err = scope_update(&tenant(), pipe(vec![st.clone()])).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation, "{st}");
        }
    }

    #[test]
    fn system_pipelines() {
        let s = system();
        let out = scope_update(
            &s,
            pipe(vec![doc! { "$set": { "tenantId": "b", "x": 1 } }, doc! { "$unset": "y" }]),
        )
        .unwrap();
        assert_eq!(
            out,
            pipe(vec![doc! { "$set": { "tenantId": "b", "x": 1 } }, doc! { "$unset": "y" }])
        );
        scope_update(&s, pipe(vec![doc! { "$addFields": { "tenantId": { "$literal": "c" } } }]))
            .unwrap();
        let cases = [
            (doc! { "$project": { "x": 1 } }, ErrorKind::TenantViolation),
            (doc! { "$replaceWith": "$x" }, ErrorKind::TenantViolation),
            (doc! { "$replaceRoot": { "newRoot": "$x" } }, ErrorKind::TenantViolation),
            (doc! { "$unset": "tenantId" }, ErrorKind::TenantViolation),
            (doc! { "$set": { "tenantId": "$x" } }, ErrorKind::TenantViolation),
            (doc! { "$set": { "tenantId": "a b" } }, ErrorKind::TenantInvalid),
            (doc! { "$set": { "tenantId": { "$literal": "$x" } } }, ErrorKind::TenantInvalid),
        ];
        for (st, kind) in cases {
            assert_eq!(scope_update(&s, pipe(vec![st.clone()])).unwrap_err().kind, kind, "{st}");
        }
    }

    #[test]
    fn system_upserts_must_name_a_tenant() {
        let s = system();
        let plain = mods(doc! { "$set": { "x": 1 } });
        check_system_upsert(&s, &doc! { "tenantId": "b" }, &plain).unwrap();
        check_system_upsert(&s, &doc! { "$and": [{ "tenantId": "b" }] }, &plain).unwrap();
        check_system_upsert(&s, &doc! {}, &mods(doc! { "$setOnInsert": { "tenantId": "b" } }))
            .unwrap();
        check_system_upsert(&s, &doc! {}, &pipe(vec![doc! { "$set": { "tenantId": "b" } }]))
            .unwrap();
        for f in [doc! {}, doc! { "tenantId": { "$gt": "" } }, doc! { "x": 1 }] {
            assert_eq!(
                check_system_upsert(&s, &f, &plain).unwrap_err().kind,
                ErrorKind::TenantViolation
            );
        }
        check_system_upsert(&tenant(), &doc! {}, &plain).unwrap();
    }

    #[test]
    fn an_upsert_naming_no_id_gets_a_generated_one() {
        let fresh = bson::oid::ObjectId::parse_str("0123456789abcdef01234567").unwrap();
        let mut u = doc! { "$set": { "x": 1 } };
        add_upsert_id(&doc! { "k": 1 }, &mut u, fresh);
        assert_eq!(u, doc! { "$set": { "x": 1 }, "$setOnInsert": { "_id": fresh } });
        let mut u = doc! { "$setOnInsert": { "y": 1 } };
        add_upsert_id(&doc! {}, &mut u, fresh);
        assert_eq!(u, doc! { "$setOnInsert": { "y": 1, "_id": fresh } });
        for (f, u0) in [
            (doc! { "_id": 5 }, doc! { "$set": { "x": 1 } }),
            (doc! { "$and": [{ "_id": 5 }] }, doc! { "$set": { "x": 1 } }),
            (doc! { "_id": { "$gt": 1 } }, doc! { "$set": { "x": 1 } }),
            (doc! {}, doc! { "$set": { "_id": 1 } }),
            (doc! {}, doc! { "$setOnInsert": { "_id.a": 1 } }),
        ] {
            let mut u = u0.clone();
            add_upsert_id(&f, &mut u, fresh);
            assert_eq!(u, u0, "{f}");
        }
    }

    #[test]
    fn current_date_as_a_timestamp_is_refused_under_a_tenant() {
        let t = Scope::for_test(Principal::Tenant("a".into()), Strategy::Field);
        let u = doc! { "$currentDate": { "at": { "$type": "timestamp" } } };
        let e = scope_update(&t, classify(Bson::Document(u.clone())).unwrap()).unwrap_err();
        assert_eq!(e.kind, crate::scope::ErrorKind::TenantViolation);
        let date = doc! { "$currentDate": { "at": true, "d": { "$type": "date" } } };
        assert!(scope_update(&t, classify(Bson::Document(date)).unwrap()).is_ok());
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        assert!(scope_update(&sys, classify(Bson::Document(u)).unwrap()).is_ok());
    }
}
