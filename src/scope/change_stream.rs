//! Scoped change streams (`collection.watch`): the server pipeline and options of a watch, the
//! resume tokens a tenant may hand back, and the last check on every event before it is
//! delivered. Pure; `binding::stream` opens the driver's change stream with the plan and runs
//! each event through `Delivery::deliver`.
//!
//! Under `strategy: 'field'` an event belongs to a tenant by the document it is about: an
//! insert by its `fullDocument`, an update, replace or delete by its pre-image
//! (`fullDocumentBeforeChange`, which needs the collection's `changeStreamPreAndPostImages`).
//! The fence's `$match` comes first, so the caller's stages only ever see the tenant's events;
//! every other event type (drop, rename, invalidate …) belongs to no tenant and is not
//! delivered. Under `'database'` the namespace is the tenant's, and so is every event of it.

use bson::{doc, Bson, Document, Timestamp};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::{ScopeError, ScopeResult};
use super::expr_guard::{self, tenant_test};
use super::namespace::Namespace;
use super::tenant_id::{check_hard, escape_regex};
use super::update::split_stage;
use super::walk::{too_deep, MAX_DEPTH};
use super::{Principal, Scope, Strategy};

/// The stages MongoDB accepts after `$changeStream`; all of them transform one event at a time.
const STAGES: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
];

/// Stages that keep the event's shape: after only these the fence can re-check each event.
const KEEPS_SHAPE: &[&str] = &["$match"];

/// The event types that carry one document, and so one tenant (under `'field'`).
const DOCUMENT_EVENTS: &[&str] = &["insert", "update", "replace", "delete"];

/// The options `watch` takes.
const OPTIONS: &[&str] = &[
    "fullDocument",
    "fullDocumentBeforeChange",
    "resumeAfter",
    "startAfter",
    "startAtOperationTime",
    "maxAwaitTimeMS",
    "batchSize",
    "collation",
    "showExpandedEvents",
    "comment",
];

/// Driver options of `watch` refused on purpose, each with the reason the caller reads.
pub const REFUSED: &[(&str, &str)] = &[
    ("allowDiskUse", "an aggregate option with no effect on a change stream"),
    ("bypassDocumentValidation", "an aggregate option with no effect on a change stream"),
    ("hint", "a change stream reads the oplog, which takes no index hint"),
    ("let", "variables of a change stream pipeline are not scoped by the fence yet"),
    (
        "maxTimeMS",
        "a change stream waits on the server for at most maxAwaitTimeMS per read; use that",
    ),
    ("cursor", "use batchSize"),
    (
        "readConcern",
        "a change stream reads majority-committed changes; the fence sends no other level",
    ),
    ("readPreference", "the stream reads where the connection string's read preference says"),
    ("raw", "each event is checked and its resume token bound in Rust: events come back decoded"),
    (
        "fieldsAsRaw",
        "each event is checked and its resume token bound in Rust: events come back decoded",
    ),
    (
        "session",
        "a change stream is not bound to a session by the fence (it reads outside transactions)",
    ),
    ("timeoutMS", "not supported on change streams yet: use maxAwaitTimeMS, tryNext() and close()"),
    ("signal", "not supported on change streams yet: use close()"),
];

/// How a watch's events are attributed to the caller, from its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// Every event of the namespace is the caller's (`'database'`, or `runAsSystem`).
    Namespace,
    /// Only events whose document names one of `tenants` in `field` (`'field'` under a tenant).
    /// A list, so a union of tenants (`runAsTenants`) is the same rule.
    Field { field: String, tenants: Vec<String> },
}

/// How the caller's events are attributed under `scope`.
/// A shared collection's events belong to every tenant (its documents carry no tenant field).
pub fn attribution(scope: &Scope) -> Attribution {
    let tenants = match (&scope.principal, scope.strategy) {
        _ if scope.shared.main => return Attribution::Namespace,
        (Principal::Tenant(t), Strategy::Field) => vec![t.clone()],
        (Principal::Tenants(ids), Strategy::Field) => ids.to_vec(),
        _ => return Attribution::Namespace,
    };
    Attribution::Field { field: scope.field.clone(), tenants }
}

/// The driver options of a watch, as the server is to get them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchOptions {
    pub full_document: Option<String>,
    pub full_document_before_change: Option<String>,
    /// The server's own token (unwrapped from the caller's bound one).
    pub resume_after: Option<Document>,
    pub start_after: Option<Document>,
    pub start_at_operation_time: Option<Timestamp>,
    pub max_await_time_ms: Option<u64>,
    pub batch_size: Option<u32>,
    pub collation: Option<Document>,
    pub show_expanded_events: Option<bool>,
    pub comment: Option<Bson>,
}

/// What a watch sends, and how its events are delivered.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// The pipeline after `$changeStream`: the fence's stages first, then the caller's.
    pub pipeline: Vec<Document>,
    pub options: WatchOptions,
    /// The collection must record pre-images (`check_pre_images` with what it says).
    pub needs_pre_images: bool,
    pub delivery: Delivery,
}

/// The last check and rewrite of each event the server sends.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub attribution: Attribution,
    /// The caller's stages kept the event's shape, so attribution is checked whole.
    pub verifiable: bool,
    /// The pre-image was fetched for the fence, not asked for: removed from the event.
    pub strip_pre_image: bool,
    /// Who and where the resume tokens are bound to.
    pub binding: Binding,
}

/// The principal and namespace a resume token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding(String);

impl Binding {
    pub fn new(principal: &Principal, ns: &Namespace) -> Binding {
        let who = match principal {
            Principal::Tenant(t) => format!("tenant:{t}"),
            // Length-prefixed: no two sets of ids (whatever they hold) give the same text.
            Principal::Tenants(ids) => {
                ids.iter().fold("tenants:".to_string(), |s, i| format!("{s}{}:{i};", i.len()))
            }
            Principal::System => "system".to_string(),
        };
        Binding(format!("{who}\0{}\0{}", ns.database, ns.collection))
    }
}

/// Plans `watch(pipeline, options)` on `ns` for `scope`; `key` verifies resume tokens.
pub fn plan_watch(
    scope: &Scope,
    ns: &Namespace,
    pipeline: Vec<Document>,
    options: Document,
    key: &[u8],
) -> ScopeResult<WatchPlan> {
    let attribution = attribution(scope);
    let binding = Binding::new(&scope.principal, ns);
    let tenant = !scope.is_system();
    let fenced = matches!(attribution, Attribution::Field { .. });
    if let Attribution::Field { tenants, .. } = &attribution {
        for t in tenants {
            check_hard(t)?;
        }
    }
    let mut o = WatchOptions::default();
    for (k, v) in options {
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == k) {
            return Err(ScopeError::argument(format!("options.{k} is refused by watch(): {why}")));
        }
        if !OPTIONS.contains(&k.as_str()) {
            // The driver options every method refuses for a reason (dbName, out …).
            if let Some(e) = super::option_rules::refusal(&k) {
                return Err(e);
            }
            return Err(ScopeError::argument(format!(
                "options.{k} is not supported by watch() (supported: {})",
                OPTIONS.join(", ")
            )));
        }
        match k.as_str() {
            "fullDocument" => {
                let mode =
                    string(&k, v, &["default", "updateLookup", "whenAvailable", "required"])?;
                if fenced && mode == "required" {
                    return Err(ScopeError::violation(
                        "options.fullDocument 'required' is not allowed under a tenant: the server looks post-images up for every tenant's events, and a missing one would fail your stream (use 'whenAvailable' or 'updateLookup')",
                    ));
                }
                o.full_document = Some(mode);
            }
            "fullDocumentBeforeChange" => {
                o.full_document_before_change =
                    Some(string(&k, v, &["off", "whenAvailable", "required"])?);
            }
            "resumeAfter" | "startAfter" => {
                let Bson::Document(token) = v else {
                    return Err(ScopeError::argument(format!(
                        "options.{k} must be a resume token (a stream's resumeToken or an event's _id)"
                    )));
                };
                let server = unbind_token(key, &binding, token)?;
                if k == "resumeAfter" {
                    o.resume_after = Some(server);
                } else {
                    o.start_after = Some(server);
                }
            }
            "startAtOperationTime" => {
                if tenant {
                    return Err(ScopeError::violation(
                        "options.startAtOperationTime is not allowed under a tenant: the oplog's time range depends on every tenant's writes; resume from a token your stream gave you (resumeAfter / startAfter)",
                    ));
                }
                let Bson::Timestamp(ts) = v else {
                    return Err(ScopeError::argument(
                        "options.startAtOperationTime must be a Timestamp",
                    ));
                };
                o.start_at_operation_time = Some(ts);
            }
            "maxAwaitTimeMS" => o.max_await_time_ms = Some(non_negative(&k, &v)?),
            "batchSize" => {
                o.batch_size =
                    Some(u32::try_from(non_negative(&k, &v)?).map_err(|_| {
                        ScopeError::argument("options.batchSize must fit in 32 bits")
                    })?)
            }
            "collation" => match v {
                // The fence's own tests ignore collation ($regex, $regexMatch).
                Bson::Document(c) => o.collation = Some(c),
                _ => return Err(ScopeError::argument("options.collation must be an object")),
            },
            "showExpandedEvents" => {
                let Bson::Boolean(b) = v else {
                    return Err(ScopeError::argument(
                        "options.showExpandedEvents must be a boolean",
                    ));
                };
                if fenced && b {
                    return Err(ScopeError::violation(
                        "options.showExpandedEvents is not allowed under a tenant of strategy 'field': index and collection events belong to every tenant of the collection",
                    ));
                }
                o.show_expanded_events = Some(b);
            }
            "comment" => o.comment = Some(v),
            _ => unreachable!("every option in OPTIONS is handled"),
        }
    }
    if o.resume_after.is_some() && o.start_after.is_some() {
        return Err(ScopeError::argument(
            "options.resumeAfter and options.startAfter cannot both be given",
        ));
    }
    let mut out = Vec::with_capacity(pipeline.len() + 2);
    let asked_pre_image =
        matches!(o.full_document_before_change.as_deref(), Some("whenAvailable" | "required"));
    let mut verifiable = true;
    if let Attribution::Field { field, tenants } = &attribution {
        // 'whenAvailable', never 'required': a missing pre-image of another tenant's document
        // must not fail this stream. An event of the caller's without one cannot be attributed
        // and is dropped (fail closed).
        o.full_document_before_change = Some("whenAvailable".into());
        out.push(doc! { "$match": event_match(field, tenants) });
        // A looked-up or recorded post-image that is not the tenant's (an `_id` reused by
        // another tenant after a delete, a document moved by runAsSystem) is withheld as null,
        // as if the document were gone: the event itself is the tenant's.
        out.push(withhold_stage(field, tenants));
        let test = event_test(field, tenants);
        for stage in pipeline {
            expr_guard::refuse_server_js_in(&stage, "a change stream pipeline")?;
            let (name, body) = split_stage(stage)?;
            check_stage(&name)?;
            verifiable &= KEEPS_SHAPE.contains(&name.as_str());
            let body = match (name.as_str(), body) {
                ("$match", Bson::Document(mut m)) => {
                    guard_exprs(&test, &mut m, 0)?;
                    Bson::Document(m)
                }
                (_, body) => body,
            };
            out.push(doc! { name: body });
        }
    } else {
        for stage in pipeline {
            let (name, body) = split_stage(stage)?;
            check_stage(&name)?;
            out.push(doc! { name: body });
        }
    }
    let needs_pre_images = matches!(attribution, Attribution::Field { .. });
    Ok(WatchPlan {
        pipeline: out,
        options: o,
        needs_pre_images,
        delivery: Delivery {
            attribution,
            verifiable,
            strip_pre_image: needs_pre_images && !asked_pre_image,
            binding,
        },
    })
}

fn check_stage(name: &str) -> ScopeResult<()> {
    if STAGES.contains(&name) {
        return Ok(());
    }
    Err(ScopeError::violation(format!(
        "stage {name} is not allowed in a change stream pipeline (allowed: {})",
        STAGES.join(", ")
    )))
}

fn string(name: &str, v: Bson, allowed: &[&str]) -> ScopeResult<String> {
    match v {
        Bson::String(s) if allowed.contains(&s.as_str()) => Ok(s),
        _ => Err(ScopeError::argument(format!(
            "options.{name} must be one of {}",
            allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn non_negative(name: &str, v: &Bson) -> ScopeResult<u64> {
    let n = match v {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => *d as i64,
        _ => -1,
    };
    u64::try_from(n)
        .map_err(|_| ScopeError::argument(format!("options.{name} must be a non-negative integer")))
}

/// The query "this event's document names one of `tenants`", exact under any collation: the
/// string equality (for the index-free fast path) and the anchored `$regex` (collation-proof),
/// never an array.
fn names_tenant(path: &str, tenants: &[String]) -> Document {
    let alternatives: Vec<String> = tenants.iter().map(|t| escape_regex(t)).collect();
    let pattern = format!("^(?:{})\\z", alternatives.join("|"));
    doc! { "$and": [
        { path: { "$in": tenants.to_vec() } },
        { path: { "$regex": pattern } },
        { path: { "$not": { "$type": "array" } } },
    ] }
}

/// The fence's `$match`: an insert by its document, an update, replace or delete by its
/// pre-image; nothing else.
pub fn event_match(field: &str, tenants: &[String]) -> Document {
    doc! { "$or": [
        { "$and": [
            { "operationType": "insert" },
            names_tenant(&format!("fullDocument.{field}"), tenants),
        ] },
        { "$and": [
            { "operationType": { "$in": ["update", "replace", "delete"] } },
            names_tenant(&format!("fullDocumentBeforeChange.{field}"), tenants),
        ] },
    ] }
}

/// The fence's second stage: a `fullDocument` that is not the tenant's becomes null.
pub fn withhold_stage(field: &str, tenants: &[String]) -> Document {
    let full = "$fullDocument";
    doc! { "$set": { "fullDocument": { "$cond": {
        "if": { "$in": [{ "$type": full }, ["missing", "null"]] },
        "then": full,
        "else": { "$cond": [owned_by(&format!("fullDocument.{field}"), tenants), full, Bson::Null] },
    } } } }
}

/// The isolation probe's verdict on a change stream's pipeline as sent (`stages`, starting with
/// `$changeStream`) by `tenant`: under `'field'` (`field` given) the fence's two stages first and
/// every caller `$expr` guarded; under either strategy no option that reaches outside the tenant
/// and only the stages a change stream takes.
pub fn judge(field: Option<&str>, tenants: &[String], stages: &[Bson]) -> Result<(), String> {
    let tenant = tenants.join(", ");
    let Some(Bson::Document(first)) = stages.first() else {
        return Err("a change stream without its $changeStream stage".into());
    };
    let Ok(cs) = first.get_document("$changeStream") else {
        return Err("a change stream without its $changeStream stage".into());
    };
    for wide in ["allChangesForCluster", "showExpandedEvents"] {
        if cs.get_bool(wide) == Ok(true) && (field.is_some() || wide == "allChangesForCluster") {
            return Err(format!("$changeStream with {wide} reaches outside tenant '{tenant}'"));
        }
    }
    if cs.contains_key("startAtOperationTime") {
        return Err("$changeStream with startAtOperationTime under a tenant".into());
    }
    let mut rest = &stages[1..];
    if let Some(field) = field {
        if cs.get_str("fullDocumentBeforeChange") != Ok("whenAvailable") {
            return Err("a change stream under 'field' without pre-images 'whenAvailable'".into());
        }
        if cs.get_str("fullDocument") == Ok("required") {
            return Err(
                "fullDocument 'required' fails on other tenants' missing post-images".into()
            );
        }
        let want = [doc! { "$match": event_match(field, tenants) }, withhold_stage(field, tenants)];
        for (i, w) in want.iter().enumerate() {
            if rest.get(i) != Some(&Bson::Document(w.clone())) {
                return Err(format!(
                    "change stream stage {} is not the fence's tenant stage for '{tenant}'",
                    i + 1
                ));
            }
        }
        rest = &rest[2..];
        let test = event_test(field, tenants);
        for stage in rest {
            let Some(m) = stage.as_document().and_then(|d| d.get_document("$match").ok()) else {
                continue;
            };
            guarded_exprs(&test, m)?;
        }
    }
    for stage in rest {
        let Some(d) = stage.as_document() else {
            return Err(format!("stage {stage} is not a document"));
        };
        let name = d.keys().next().map(String::as_str).unwrap_or_default();
        if d.len() != 1 || !STAGES.contains(&name) {
            return Err(format!("stage {stage} is not one a change stream takes"));
        }
        if let Some(op) = expr_guard::server_js_in(d) {
            return Err(format!("{op} runs server-side JavaScript in a change stream"));
        }
    }
    Ok(())
}

/// Every `$expr` of a caller's `$match` must be wrapped in the fence's event test (so it never
/// runs on another tenant's event); nesting past `MAX_DEPTH` is refused as unauditable.
fn guarded_exprs(test: &Bson, m: &Document) -> Result<(), String> {
    for (e, level) in expr_guard::exprs(m) {
        if level > MAX_DEPTH {
            return Err("change stream $match nested too deeply to audit".into());
        }
        match e {
            Bson::Document(d) => match d.get_array("$cond") {
                Ok(c) if c.len() == 3 && c[0] == *test && c[2] == Bson::Boolean(false) => {}
                _ => return Err(format!("$expr {d} may run on other tenants' events")),
            },
            e => return Err(format!("$expr {e} may run on other tenants' events")),
        }
    }
    Ok(())
}

/// The aggregation test "`path` names one of `tenants`", exact under any collation.
fn owned_by(path: &str, tenants: &[String]) -> Bson {
    let tests: Vec<Bson> =
        tenants.iter().map(|t| tenant_test(path, super::Owners::One(t), true)).collect();
    match tests.len() {
        1 => tests.into_iter().next().unwrap_or(Bson::Boolean(false)),
        _ => Bson::Document(doc! { "$or": tests }),
    }
}

/// The aggregation test "this event is the tenant's", the same rule as `event_match`.
pub fn event_test(field: &str, tenants: &[String]) -> Bson {
    Bson::Document(doc! { "$cond": [
        { "$eq": ["$operationType", "insert"] },
        owned_by(&format!("fullDocument.{field}"), tenants),
        { "$cond": [
            { "$in": ["$operationType", ["update", "replace", "delete"]] },
            owned_by(&format!("fullDocumentBeforeChange.{field}"), tenants),
            false,
        ] },
    ] })
}

/// Makes every `$expr: E` of a caller's `$match` (where MongoDB accepts it) run only on the
/// tenant's events: `{$cond: [<event test>, E, false]}`. The server merges a `$match` into the
/// fence's and may push parts of it into its oplog scan, where it drops what it cannot
/// translate from an `$and`: a `$cond` is kept whole or not at all.
fn guard_exprs(test: &Bson, m: &mut Document, depth: usize) -> ScopeResult<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            "$expr" => {
                let e = std::mem::replace(v, Bson::Null);
                *v = Bson::Document(doc! { "$cond": [test.clone(), e, false] });
            }
            "$and" | "$or" | "$nor" => {
                if let Bson::Array(items) = v {
                    for item in items.iter_mut() {
                        if let Bson::Document(d) = item {
                            guard_exprs(test, d, depth + 1)?;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Refuses a watch that needs pre-images on a collection that does not record them
/// (`enabled`: its `changeStreamPreAndPostImages.enabled`; `None`: no such collection).
pub fn check_pre_images(
    plan: &WatchPlan,
    collection: &str,
    enabled: Option<bool>,
) -> ScopeResult<()> {
    if !plan.needs_pre_images || enabled == Some(true) {
        return Ok(());
    }
    let state = if enabled.is_none() { "does not exist yet" } else { "does not record pre-images" };
    Err(ScopeError::violation(format!(
        "watch() on collection {collection:?} needs pre-images under strategy 'field' (a delete is attributed to its tenant by the deleted document), and the collection {state}. Enable them once, as an operator: inside fence.runAsSystem(), fence.db.createCollection({collection:?}, {{ changeStreamPreAndPostImages: {{ enabled: true }} }}) for a new collection, or the command {{ collMod: {collection:?}, changeStreamPreAndPostImages: {{ enabled: true }} }} for an existing one"
    )))
}

/// What to do with one event the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// Deliver this event (its `_id` now the bound token).
    Event(Document),
    /// Not attributable to the caller: dropped.
    Dropped,
}

impl Delivery {
    /// The last check on an event, then its delivery form: under `'field'` every document it
    /// carries must be the tenant's, and (where the caller's stages kept the event's shape) it
    /// must be one of the four document events with the document that attributes it. The
    /// pre-image is removed unless asked for; the resume token in `_id` is bound.
    pub fn deliver(&self, key: &[u8], mut event: Document) -> Delivered {
        let Some(Bson::Document(token)) = event.get("_id").cloned() else {
            return Delivered::Dropped;
        };
        if let Attribution::Field { field, tenants } = &self.attribution {
            let theirs = |which: &str, required: bool| match event.get(which) {
                Some(Bson::Document(d)) => match d.get(field) {
                    Some(Bson::String(s)) => tenants.contains(s),
                    None => !required && !self.verifiable,
                    _ => false,
                },
                None | Some(Bson::Null) => !required,
                _ => false,
            };
            let kind = event.get_str("operationType").ok();
            let ok = match (kind, self.verifiable) {
                (Some("insert"), true) => theirs("fullDocument", true),
                (Some("update" | "replace" | "delete"), true) => {
                    theirs("fullDocumentBeforeChange", true) && theirs("fullDocument", false)
                }
                (_, true) => false,
                (kind, false) => {
                    kind.is_none_or(|k| DOCUMENT_EVENTS.contains(&k))
                        && theirs("fullDocument", false)
                        && theirs("fullDocumentBeforeChange", false)
                }
            };
            if !ok {
                return Delivered::Dropped;
            }
            if self.strip_pre_image {
                event.remove("fullDocumentBeforeChange");
            }
        }
        event.insert("_id", bind_token(key, &self.binding, &token));
        Delivered::Event(event)
    }
}

const TOKEN_CONTEXT: &[u8] = b"tenantfence resume token v1\0";

/// The HMAC-SHA-256 state over the token's context, binding and BSON bytes.
fn mac(key: &[u8], binding: &Binding, token: &Document) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(TOKEN_CONTEXT);
    m.update(binding.0.as_bytes());
    m.update(b"\0");
    let mut bytes = Vec::new();
    // A document always serializes (it came from BSON).
    let _ = token.to_writer(&mut bytes);
    m.update(&bytes);
    m
}

/// The server's token `token` as the caller gets it: the same document with `_data` suffixed
/// by `.` and the HMAC-SHA-256 (hex) of the token under `key`, bound to `binding`.
pub fn bind_token(key: &[u8], binding: &Binding, token: &Document) -> Document {
    let tag: String = mac(key, binding, token)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = token.clone();
    let data = match token.get("_data") {
        Some(Bson::String(s)) => format!("{s}.{tag}"),
        // No `_data` (a token form the fence does not know): bound as a whole.
        _ => format!(".{tag}"),
    };
    out.insert("_data", data);
    out
}

/// The server's token inside a bound one, if it was bound to `binding` under `key`;
/// otherwise `TENANT_VIOLATION`: another tenant's, another collection's, forged or raw.
pub fn unbind_token(key: &[u8], binding: &Binding, bound: Document) -> ScopeResult<Document> {
    let refused = || {
        ScopeError::violation(
            "this resume token was not issued to this tenant's stream on this collection (tokens are bound to the tenant and collection whose stream delivered them)",
        )
    };
    let Some(Bson::String(data)) = bound.get("_data") else { return Err(refused()) };
    let Some((server, tag)) = data.rsplit_once('.') else { return Err(refused()) };
    let Some(tag) = hex(tag) else { return Err(refused()) };
    let mut token = bound.clone();
    if server.is_empty() {
        token.remove("_data");
    } else {
        token.insert("_data", server.to_string());
    }
    // Constant-time comparison.
    mac(key, binding, &token).verify_slice(&tag).map_err(|_| refused())?;
    Ok(token)
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The token key when the fence is given none: random, for this process.
pub fn key_from(given: Option<&[u8]>, random: [u8; 32]) -> ScopeResult<Vec<u8>> {
    match given {
        Some(k) if k.len() < 32 => Err(ScopeError::argument(
            "resumeTokenKey must be at least 32 bytes (a string of 32+ characters or a Buffer)",
        )),
        Some(k) => Ok(k.to_vec()),
        None => Ok(random.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn ns() -> Namespace {
        Namespace { database: "app".into(), collection: "notes".into() }
    }

    fn tenant(t: &str) -> Scope {
        Scope::for_test(Principal::Tenant(t.into()), Strategy::Field)
    }

    fn plan(scope: &Scope, p: Vec<Document>, o: Document) -> ScopeResult<WatchPlan> {
        plan_watch(scope, &ns(), p, o, KEY)
    }

    fn kind(r: ScopeResult<WatchPlan>) -> ErrorKind {
        r.unwrap_err().kind
    }

    #[test]
    fn the_fence_match_comes_first_and_attributes_by_document_or_pre_image() {
        let p = plan(&tenant("a"), vec![doc! { "$match": { "x": 1 } }], doc! {}).unwrap();
        assert_eq!(p.pipeline[0], doc! { "$match": event_match("tenantId", &["a".into()]) });
        let m = p.pipeline[0].to_string();
        assert!(
            m.contains("fullDocument.tenantId") && m.contains("fullDocumentBeforeChange.tenantId")
        );
        assert!(m.contains("^(?:a)\\z"), "{m}");
        assert!(p.pipeline[1].contains_key("$set"));
        assert_eq!(p.pipeline[2], doc! { "$match": { "x": 1 } });
        assert!(p.needs_pre_images);
        assert_eq!(p.options.full_document_before_change.as_deref(), Some("whenAvailable"));
        assert!(p.delivery.strip_pre_image && p.delivery.verifiable);
        // Asked for: kept, still fetched as 'whenAvailable'.
        for asked in ["whenAvailable", "required"] {
            let p = plan(&tenant("a"), vec![], doc! { "fullDocumentBeforeChange": asked }).unwrap();
            assert!(!p.delivery.strip_pre_image);
            assert_eq!(p.options.full_document_before_change.as_deref(), Some("whenAvailable"));
        }
    }

    #[test]
    fn database_strategy_and_system_watch_the_namespace_as_is() {
        let db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        for s in [db, sys] {
            let o = doc! { "fullDocumentBeforeChange": "required", "showExpandedEvents": true };
            let p = plan(&s, vec![doc! { "$match": { "$expr": true } }], o).unwrap();
            assert_eq!(p.pipeline, vec![doc! { "$match": { "$expr": true } }]);
            assert!(!p.needs_pre_images && !p.delivery.strip_pre_image);
            assert_eq!(p.delivery.attribution, Attribution::Namespace);
            assert_eq!(p.options.full_document_before_change.as_deref(), Some("required"));
        }
        assert!(check_pre_images(
            &plan(&Scope::for_test(Principal::System, Strategy::Field), vec![], doc! {}).unwrap(),
            "c",
            Some(false)
        )
        .is_ok());
    }

    #[test]
    fn caller_stages_follow_the_change_stream_allowlist() {
        for ok in STAGES {
            let body =
                if *ok == "$unset" { Bson::String("k".into()) } else { Bson::Document(doc! {}) };
            assert!(plan(&tenant("a"), vec![doc! { *ok: body }], doc! {}).is_ok(), "{ok}");
        }
        for bad in [
            "$lookup",
            "$unionWith",
            "$group",
            "$changeStream",
            "$out",
            "$merge",
            "$facet",
            "$limit",
        ] {
            let r = plan(&tenant("a"), vec![doc! { bad: {} }], doc! {});
            assert_eq!(kind(r), ErrorKind::TenantViolation, "{bad}");
        }
        let js = doc! { "$addFields": { "y": { "$function": { "body": "f", "args": [], "lang": "js" } } } };
        assert_eq!(kind(plan(&tenant("a"), vec![js], doc! {})), ErrorKind::TenantViolation);
        assert_eq!(
            kind(plan(&tenant("a"), vec![doc! { "$match": { "$where": "1" } }], doc! {})),
            ErrorKind::TenantViolation
        );
        // Reshaping stages make the event unverifiable in full; $match alone does not.
        let p = plan(&tenant("a"), vec![doc! { "$project": { "k": 1 } }], doc! {}).unwrap();
        assert!(!p.delivery.verifiable);
    }

    #[test]
    fn every_caller_expr_runs_only_on_the_tenants_events() {
        let e = doc! { "$gt": [{ "$divide": [1, "$fullDocument.x"] }, 0] };
        let test = event_test("tenantId", &["a".into()]);
        let guarded = Bson::Document(doc! { "$cond": [test.clone(), e.clone(), false] });
        let input =
            doc! { "$match": { "$expr": e.clone(), "$or": [{ "k": 1 }, { "$expr": e.clone() }] } };
        let p = plan(&tenant("a"), vec![input], doc! {}).unwrap();
        let m = p.pipeline[2].get_document("$match").unwrap();
        assert_eq!(m.get("$expr"), Some(&guarded));
        let or = m.get_array("$or").unwrap();
        assert_eq!(or[1].as_document().unwrap().get("$expr"), Some(&guarded));
        // The test reads the insert's document, else the pre-image.
        let t = test.to_string();
        assert!(
            t.contains("$fullDocument.tenantId")
                && t.contains("$fullDocumentBeforeChange.tenantId"),
            "{t}"
        );
    }

    #[test]
    fn each_option_is_taken_or_refused_with_its_reason() {
        let a = tenant("a");
        let token = bind_token(KEY, &Binding::new(&a.principal, &ns()), &doc! { "_data": "82AB" });
        let taken = [
            doc! { "fullDocument": "updateLookup" },
            doc! { "fullDocument": "whenAvailable" },
            doc! { "fullDocument": "default" },
            doc! { "fullDocumentBeforeChange": "off" },
            doc! { "maxAwaitTimeMS": 100 },
            doc! { "batchSize": 10 },
            doc! { "collation": { "locale": "en", "strength": 2 } },
            doc! { "showExpandedEvents": false },
            doc! { "comment": "x" },
            doc! { "resumeAfter": token.clone() },
            doc! { "startAfter": token.clone() },
        ];
        for o in taken {
            assert!(plan(&a, vec![], o.clone()).is_ok(), "{o}");
        }
        let refused = [
            (doc! { "fullDocument": "required" }, ErrorKind::TenantViolation),
            (doc! { "showExpandedEvents": true }, ErrorKind::TenantViolation),
            (
                doc! { "startAtOperationTime": Timestamp { time: 1, increment: 1 } },
                ErrorKind::TenantViolation,
            ),
            (doc! { "resumeAfter": { "_data": "82AB" } }, ErrorKind::TenantViolation),
            (
                doc! { "resumeAfter": token.clone(), "startAfter": token },
                ErrorKind::InvalidArgument,
            ),
            (doc! { "fullDocument": "everything" }, ErrorKind::InvalidArgument),
            (doc! { "maxAwaitTimeMS": -1 }, ErrorKind::InvalidArgument),
            (doc! { "readPreference": "secondary" }, ErrorKind::InvalidArgument),
            (doc! { "hint": { "_id": 1 } }, ErrorKind::InvalidArgument),
            (doc! { "nonsense": 1 }, ErrorKind::InvalidArgument),
            (doc! { "dbName": "other" }, ErrorKind::TenantViolation),
            (doc! { "resumeAfter": "82AB" }, ErrorKind::InvalidArgument),
        ];
        for (o, want) in refused {
            assert_eq!(kind(plan(&a, vec![], o.clone())), want, "{o}");
        }
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        let o = doc! { "startAtOperationTime": Timestamp { time: 1, increment: 1 }, "fullDocument": "required" };
        assert!(plan(&sys, vec![], o).is_ok());
        let r = plan(&tenant("a"), vec![], doc! { "resumeAfter": { "_data": "82AB" } });
        assert!(r.unwrap_err().message.contains("not issued to this tenant"));
    }

    #[test]
    fn a_token_resumes_only_its_own_tenants_stream_on_its_own_collection() {
        let server = doc! { "_data": "8263A1B2C3000000012B022C0100296E5A1004" };
        let a = Binding::new(&Principal::Tenant("a".into()), &ns());
        let bound = bind_token(KEY, &a, &server);
        assert_ne!(bound, server);
        assert_eq!(unbind_token(KEY, &a, bound.clone()).unwrap(), server);
        let b = Binding::new(&Principal::Tenant("b".into()), &ns());
        let other_coll = Binding::new(
            &Principal::Tenant("a".into()),
            &Namespace { database: "app".into(), collection: "other".into() },
        );
        let sys = Binding::new(&Principal::System, &ns());
        for wrong in [&b, &other_coll, &sys] {
            assert_eq!(
                unbind_token(KEY, wrong, bound.clone()).unwrap_err().kind,
                ErrorKind::TenantViolation
            );
        }
        // Another key, a raw token, a tampered token.
        assert!(unbind_token(b"another key, also 32 bytes long!", &a, bound.clone()).is_err());
        assert!(unbind_token(KEY, &a, server.clone()).is_err());
        let data = bound.get_str("_data").unwrap();
        let tampered = doc! { "_data": data.replacen("82", "83", 1) };
        assert!(unbind_token(KEY, &a, tampered).is_err());
        let mut extra = bound.clone();
        extra.insert("_typeBits", 1);
        assert!(unbind_token(KEY, &a, extra).is_err());
    }

    fn event(kind: &str, full: Option<&str>, pre: Option<&str>) -> Document {
        let mut e = doc! { "_id": { "_data": "82AB" }, "operationType": kind };
        if let Some(t) = full {
            e.insert("fullDocument", doc! { "tenantId": t, "x": 1 });
        }
        if let Some(t) = pre {
            e.insert("fullDocumentBeforeChange", doc! { "tenantId": t, "x": 0 });
        }
        e
    }

    #[test]
    fn an_event_the_fence_cannot_attribute_is_dropped() {
        let p = plan(&tenant("a"), vec![], doc! {}).unwrap();
        let d = &p.delivery;
        let table = [
            (event("insert", Some("a"), None), true),
            (event("insert", Some("b"), None), false),
            (event("insert", None, None), false),
            (event("update", None, Some("a")), true),
            (event("update", Some("a"), Some("a")), true),
            (event("update", Some("b"), Some("a")), false),
            (event("update", None, Some("b")), false),
            (event("update", None, None), false),
            (event("replace", Some("a"), Some("a")), true),
            (event("delete", None, Some("a")), true),
            (event("delete", None, Some("A")), false),
            (event("delete", None, None), false),
            (event("drop", None, None), false),
            (event("invalidate", None, None), false),
            (event("rename", None, None), false),
            (doc! { "operationType": "insert", "fullDocument": { "tenantId": "a" } }, false),
        ];
        for (e, delivered) in table {
            let out = d.deliver(KEY, e.clone());
            assert_eq!(matches!(out, Delivered::Event(_)), delivered, "{e}");
            if let Delivered::Event(sent) = out {
                // The pre-image was the fence's, not asked for.
                assert!(!sent.contains_key("fullDocumentBeforeChange"), "{sent}");
                let token = sent.get_document("_id").unwrap().clone();
                assert_eq!(unbind_token(KEY, &d.binding, token).unwrap(), doc! { "_data": "82AB" });
            }
        }
        // Reshaped by the caller: what is left is still checked.
        let p =
            plan(&tenant("a"), vec![doc! { "$project": { "fullDocument": 1 } }], doc! {}).unwrap();
        let d = &p.delivery;
        let ok = doc! { "_id": { "_data": "1" }, "fullDocument": { "x": 1 } };
        assert!(matches!(d.deliver(KEY, ok), Delivered::Event(_)));
        let bad = doc! { "_id": { "_data": "1" }, "fullDocument": { "tenantId": "b" } };
        assert_eq!(d.deliver(KEY, bad), Delivered::Dropped);
        let bad = doc! { "_id": { "_data": "1" }, "operationType": "drop" };
        assert_eq!(d.deliver(KEY, bad), Delivered::Dropped);
        // Under 'database' every event of the namespace is delivered, invalidate included.
        let db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        let p = plan(&db, vec![], doc! {}).unwrap();
        assert!(matches!(
            p.delivery.deliver(KEY, event("invalidate", None, None)),
            Delivered::Event(_)
        ));
    }

    #[test]
    fn pre_images_are_required_under_field_with_the_way_to_enable_them() {
        let p = plan(&tenant("a"), vec![], doc! {}).unwrap();
        assert!(check_pre_images(&p, "notes", Some(true)).is_ok());
        for state in [None, Some(false)] {
            let e = check_pre_images(&p, "notes", state).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation);
            assert!(
                e.message.contains("changeStreamPreAndPostImages: { enabled: true }"),
                "{}",
                e.message
            );
            assert!(e.message.contains("runAsSystem"));
        }
    }

    #[test]
    fn the_attribution_is_a_function_of_the_scope() {
        assert_eq!(
            attribution(&tenant("a")),
            Attribution::Field { field: "tenantId".into(), tenants: vec!["a".into()] }
        );
        let db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        assert_eq!(attribution(&db), Attribution::Namespace);
        // A union is the same rule over more ids.
        let m = event_match("t", &["a".into(), "b-c".into()]).to_string();
        assert!(m.contains("^(?:a|b") && m.contains(r#")\z"#), "{m}");
    }

    /// The command as the driver sends it: `$changeStream` with the options, then the plan.
    fn sent(p: &WatchPlan) -> Vec<Bson> {
        let o = &p.options;
        let mut cs = doc! {};
        if let Some(f) = &o.full_document {
            cs.insert("fullDocument", f.as_str());
        }
        if let Some(f) = &o.full_document_before_change {
            cs.insert("fullDocumentBeforeChange", f.as_str());
        }
        let mut out = vec![Bson::Document(doc! { "$changeStream": cs })];
        out.extend(p.pipeline.iter().cloned().map(Bson::Document));
        out
    }

    #[test]
    fn the_probe_passes_what_plan_watch_sends_and_nothing_wider() {
        let e = doc! { "$match": { "$expr": { "$gt": ["$fullDocument.n", 1] } } };
        let p =
            plan(&tenant("a"), vec![e.clone(), doc! { "$project": { "x": 1 } }], doc! {}).unwrap();
        let s = sent(&p);
        assert_eq!(judge(Some("tenantId"), &["a".to_string()], &s), Ok(()));
        // Another tenant's stream, a missing fence stage, an unguarded $expr, wider options.
        assert!(judge(Some("tenantId"), &["b".to_string()], &s).is_err());
        let mut no_match = s.clone();
        no_match.remove(1);
        assert!(judge(Some("tenantId"), &["a".to_string()], &no_match).is_err());
        let mut bare = s.clone();
        bare[3] = Bson::Document(e);
        assert!(judge(Some("tenantId"), &["a".to_string()], &bare).is_err());
        for wide in [
            doc! { "fullDocumentBeforeChange": "whenAvailable", "showExpandedEvents": true },
            doc! { "fullDocumentBeforeChange": "whenAvailable", "startAtOperationTime": Timestamp { time: 1, increment: 0 } },
            doc! { "fullDocumentBeforeChange": "required" },
            doc! { "fullDocumentBeforeChange": "whenAvailable", "allChangesForCluster": true },
        ] {
            let mut w = s.clone();
            w[0] = Bson::Document(doc! { "$changeStream": wide.clone() });
            assert!(judge(Some("tenantId"), &["a".to_string()], &w).is_err(), "{wide}");
        }
        // The same $expr nested in $and/$or/$nor: guarded it passes, bare it is refused, and
        // guarded past the audit depth it is refused too.
        let guarded = match &s[3] {
            Bson::Document(d) => d.get_document("$match").unwrap().get("$expr").unwrap().clone(),
            other => panic!("{other}"),
        };
        let nest = |expr: Bson, levels: usize| {
            let mut m = doc! { "$expr": expr };
            for k in 0..levels {
                m = doc! { ["$and", "$or", "$nor"][k % 3]: [m] };
            }
            Bson::Document(doc! { "$match": m })
        };
        for (expr, levels, ok) in [
            (guarded.clone(), 3, true),
            (Bson::Document(doc! { "$gt": ["$fullDocument.n", 1] }), 2, false),
            (guarded.clone(), MAX_DEPTH + 1, false),
        ] {
            let mut n = s.clone();
            n[3] = nest(expr, levels);
            assert_eq!(judge(Some("tenantId"), &["a".to_string()], &n).is_ok(), ok, "{:?}", n[3]);
        }
        let mut lookup = s.clone();
        lookup.push(Bson::Document(doc! { "$lookup": { "from": "x", "as": "y", "pipeline": [] } }));
        assert!(judge(Some("tenantId"), &["a".to_string()], &lookup).is_err());
        // Under 'database': the namespace scopes it; stages and options still checked.
        let db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        let p = plan(&db, vec![doc! { "$match": { "$expr": true } }], doc! {}).unwrap();
        assert_eq!(judge(None, &["a".to_string()], &sent(&p)), Ok(()));
        let mut w = sent(&p);
        w.push(Bson::Document(doc! { "$group": { "_id": 1 } }));
        assert!(judge(None, &["a".to_string()], &w).is_err());
    }

    #[test]
    fn a_short_token_key_is_refused() {
        assert!(key_from(Some(b"short"), [0; 32]).is_err());
        assert_eq!(key_from(None, [7; 32]).unwrap(), vec![7; 32]);
    }

    #[test]
    fn a_union_is_attributed_by_its_set_and_a_shared_collection_by_its_namespace() {
        use crate::scope::{shared, tenants};
        let ids = tenants::check_ids(&["b".into(), "a".into()], true).unwrap();
        let union = Scope::for_test(Principal::Tenants(ids.clone()), Strategy::Field);
        assert_eq!(
            attribution(&union),
            Attribution::Field { field: "tenantId".into(), tenants: vec!["a".into(), "b".into()] }
        );
        let names = shared::check_names(&["plans".into()]).unwrap();
        let on_shared = Scope {
            shared: names.on("plans"),
            ..Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
        };
        assert_eq!(attribution(&on_shared), Attribution::Namespace);
        // Tokens bind the whole set: no single tenant's, and no other set's with the same text.
        let one = Binding::new(&Principal::Tenant("a".into()), &ns());
        let set = Binding::new(&Principal::Tenants(ids), &ns());
        assert_ne!(one, set);
        let odd = |v: &[&str]| {
            let ids: std::sync::Arc<[String]> = v.iter().map(|s| s.to_string()).collect();
            Binding::new(&Principal::Tenants(ids), &ns())
        };
        assert_ne!(odd(&["a,b", "c"]), odd(&["a", "b,c"]));
    }
}
