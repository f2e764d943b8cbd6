//! Property tests of every public entry of the core against arbitrary BSON:
//! no panic, an Ok result is always scoped, deep input is refused with the depth
//! error, and no single call takes longer than `CALL_CEILING`.
//!
//! Cases per property default to a count that keeps `cargo test` quick; set
//! `PROPTEST_CASES` for a longer run (`npm run test:properties`). A failure prints the
//! shrunk input; nothing is written to disk.

mod gen;

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::error::ErrorKind;
use super::update::Update;
use super::walk::{read_document, MAX_DEPTH};
use super::Strategy as Mode;
use super::{collation, filter, insert, pipeline, tenant_id, update, Principal, Scope};
use gen::{FIELD, TENANT};

/// A generous ceiling per call: a bound on runaway work, not a speed test.
const CALL_CEILING: Duration = Duration::from_secs(1);

/// Stages that must never survive scoping under a tenant, at any depth.
const NEVER_UNDER_TENANT: &[&str] = &[
    "$out",
    "$merge",
    "$documents",
    "$collStats",
    "$indexStats",
    "$currentOp",
    "$changeStream",
    "$search",
    "$bogus",
];

/// `PROPTEST_CASES` when set, else `default`; no file persistence of failures.
fn config(default: u32) -> Config {
    let cases =
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Runs `f`, failing the case if it takes longer than `CALL_CEILING`.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let took = t0.elapsed();
    assert!(took < CALL_CEILING, "{what} took {took:?}");
    out
}

fn scope(principal: Principal, strategy: Mode, guard: bool, default_rule: bool) -> Scope {
    Scope {
        field: FIELD.into(),
        strategy,
        principal,
        collation_guard: guard,
        default_rule,
        sharded: false,
        shared: Default::default(),
    }
}

fn tenant() -> Principal {
    Principal::Tenant(TENANT.into())
}

/// Every kind of call context the binding builds.
fn scopes() -> Vec<Scope> {
    vec![
        scope(tenant(), Mode::Field, false, true),
        scope(tenant(), Mode::Field, true, true),
        scope(tenant(), Mode::Field, true, false),
        scope(tenant(), Mode::Database, false, true),
        scope(Principal::System, Mode::Field, false, true),
        scope(Principal::System, Mode::Field, true, false),
        scope(Principal::System, Mode::Database, false, true),
        // A sharded collection (`facts::Known::sharded`): the same rules must hold.
        Scope { sharded: true, ..scope(tenant(), Mode::Field, false, true) },
        Scope { sharded: true, ..scope(tenant(), Mode::Field, true, false) },
        Scope { sharded: true, ..scope(Principal::System, Mode::Field, false, true) },
    ]
}

fn scoped_tenant(s: &Scope) -> bool {
    s.strategy == Mode::Field && s.tenant().is_some()
}

/// The `$and` entries of a top-level filter.
fn and_entries(f: &Document) -> Vec<&Bson> {
    match f.get("$and") {
        Some(Bson::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

/// A filter scoped to TENANT: the equality at top level (ANDed with everything),
/// plus the exact-type clause on writes and the regex twin under a guard.
fn assert_scoped_filter(f: &Document, guard: bool, write: bool, what: &str) {
    assert_eq!(f.get(FIELD), Some(&Bson::String(TENANT.into())), "{what}: {f}");
    let and = and_entries(f);
    if guard {
        let twin = Bson::Document(filter::regex_twin(FIELD, crate::scope::Owners::One(TENANT)));
        assert!(and.contains(&&twin), "{what}: no regex twin in {f}");
    }
    if write {
        let exact = Bson::Document(filter::string_only(FIELD));
        assert!(and.contains(&&exact), "{what}: no exact-type clause in {f}");
    }
}

/// Equalities an upsert copies into the new document: top level and nested `$and`.
fn upsert_equalities<'a>(f: &'a Document, out: &mut Vec<(&'a str, &'a Bson)>) {
    for (k, v) in f {
        if k == "$and" {
            if let Bson::Array(entries) = v {
                for e in entries {
                    if let Bson::Document(d) = e {
                        upsert_equalities(d, out);
                    }
                }
            }
            continue;
        }
        let eq = match v {
            Bson::Document(d) if d.keys().any(|k| k.starts_with('$')) => match d.get("$eq") {
                Some(inner) if d.len() == 1 => Some(inner),
                _ => None,
            },
            Bson::RegularExpression(_) => None,
            other => Some(other),
        };
        if let Some(eq) = eq {
            out.push((k.as_str(), eq));
        }
    }
}

/// Checks a scoped pipeline at every level; `head` says whether this level must start
/// with the tenant (`Some(guarded)`) or is a `$facet` branch (`None`).
fn assert_scoped_pipeline(stages: &[Document], head: Option<bool>, what: &str) {
    if let Some(guarded) = head {
        let first = stages.first().unwrap_or_else(|| panic!("{what}: empty scoped pipeline"));
        let (name, body) = first.iter().next().expect("stage");
        let m = match (name.as_str(), body) {
            ("$match", Bson::Document(m)) => m,
            ("$geoNear", Bson::Document(g)) => match g.get("query") {
                Some(Bson::Document(q)) => q,
                _ => panic!("{what}: $geoNear without a scoped query: {first}"),
            },
            _ => panic!("{what}: pipeline does not start with the tenant: {first}"),
        };
        assert_scoped_filter(m, guarded, false, what);
    }
    for stage in stages {
        assert_eq!(stage.len(), 1, "{what}: stage {stage}");
        let (name, body) = stage.iter().next().expect("stage");
        assert!(!NEVER_UNDER_TENANT.contains(&name.as_str()), "{what}: {name} survived: {stage}");
        let sub = |key: &str| match body {
            Bson::Document(spec) => match spec.get(key) {
                Some(Bson::Array(p)) => p
                    .iter()
                    .map(|s| match s {
                        Bson::Document(d) => d.clone(),
                        other => panic!("{what}: non-document stage {other}"),
                    })
                    .collect::<Vec<_>>(),
                _ => panic!("{what}: {name} without a pipeline: {stage}"),
            },
            _ => panic!("{what}: {name} is not a document: {stage}"),
        };
        match name.as_str() {
            "$lookup" => {
                assert!(matches!(
                    body.as_document().and_then(|d| d.get("from")),
                    Some(Bson::String(_))
                ));
                assert_scoped_pipeline(&sub("pipeline"), Some(true), what);
            }
            "$unionWith" => {
                assert!(matches!(
                    body.as_document().and_then(|d| d.get("coll")),
                    Some(Bson::String(_))
                ));
                assert_scoped_pipeline(&sub("pipeline"), Some(true), what);
            }
            "$graphLookup" => {
                match body.as_document().and_then(|d| d.get("restrictSearchWithMatch")) {
                    Some(Bson::Document(r)) => assert_scoped_filter(r, true, false, what),
                    _ => panic!("{what}: unscoped $graphLookup {stage}"),
                }
            }
            "$facet" => {
                for (_, branch) in body.as_document().expect("facet document") {
                    let Bson::Array(p) = branch else { panic!("{what}: facet branch {branch}") };
                    let p: Vec<Document> =
                        p.iter().map(|s| s.as_document().expect("stage").clone()).collect();
                    assert_scoped_pipeline(&p, None, what);
                }
            }
            _ => {}
        }
    }
}

/// Runs a case on a 64 MiB stack. Parsing a document at MAX_DEPTH takes 0.5-1 MiB of
/// stack in a release build but more than 4 MiB in a debug one (the test profile), so
/// the deep properties would overflow a test thread's default 2 MiB in debug only.
fn on_big_stack(
    case: impl FnOnce() -> Result<(), TestCaseError> + Send + 'static,
) -> Result<(), TestCaseError> {
    let worker = std::thread::Builder::new().stack_size(64 << 20).spawn(case).expect("spawn");
    worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Names of every stage at every level: sub-pipelines of `$lookup`/`$unionWith`, `$facet` branches.
fn stage_names(stages: &[Document], out: &mut Vec<String>) {
    for stage in stages {
        for (name, body) in stage {
            out.push(name.clone());
            let subs: Vec<&Bson> = match (name.as_str(), body) {
                ("$lookup" | "$unionWith", Bson::Document(spec)) => {
                    spec.get("pipeline").into_iter().collect()
                }
                ("$facet", Bson::Document(branches)) => branches.values().collect(),
                _ => Vec::new(),
            };
            for sub in subs {
                if let Bson::Array(p) = sub {
                    let p: Vec<Document> =
                        p.iter().filter_map(|s| s.as_document().cloned()).collect();
                    stage_names(&p, out);
                }
            }
        }
    }
}

/// A refusal must be one of the four kinds with a message.
fn assert_clear(e: &super::ScopeError, what: &str) {
    assert!(!e.message.is_empty(), "{what}: empty message for {:?}", e.kind);
}

proptest! {
    #![proptest_config(config(256))]

    /// Read and write filters, upsert filter checks, as the binding sees them (raw bytes in).
    #[test]
    fn filters(user in gen::document(6)) {
        let bytes = bson::to_vec(&user).expect("generated documents serialize");
        let parsed = timed("read_document", || read_document(&bytes)).expect("shallow input parses");
        prop_assert_eq!(bson::to_vec(&parsed).unwrap(), bytes.clone());
        for s in scopes() {
            let what = format!("{:?}/{:?}/guard={}", s.principal, s.strategy, s.collation_guard);
            for write in [false, true] {
                let r = timed("scope_filter", || if write {
                    filter::scope_write_filter(&s, parsed.clone())
                } else {
                    filter::scope_filter(&s, parsed.clone())
                });
                match r {
                    Ok(f) if scoped_tenant(&s) => assert_scoped_filter(&f, s.collation_guard, write, &what),
                    Ok(f) => prop_assert_eq!(&f, &parsed, "{} changed an unscoped filter", what),
                    Err(e) => assert_clear(&e, &what),
                }
            }
            let _ = timed("names_tenant_by_equality", || filter::names_tenant_by_equality(&s, &parsed));
            match timed("check_upsert_filter", || filter::check_upsert_filter(&s, &parsed)) {
                Ok(()) if s.strategy == Mode::Field => {
                    let scoped = filter::scope_write_filter(&s, parsed.clone());
                    let f = match scoped {
                        _ if !scoped_tenant(&s) => parsed.clone(),
                        Ok(f) => f,
                        // Server-side JavaScript is refused under a tenant (expr_guard).
                        Err(e) => {
                            prop_assert_eq!(e.kind, ErrorKind::TenantViolation, "{}", what);
                            continue;
                        }
                    };
                    let mut eqs = Vec::new();
                    upsert_equalities(&f, &mut eqs);
                    for (k, v) in eqs.into_iter().filter(|(k, _)| s.touches(k)) {
                        prop_assert_eq!(k, FIELD, "{}: upsert would write a path into the tenant: {}", what, f);
                        match (s.tenant(), v) {
                            (Some(t), Bson::String(v)) => prop_assert_eq!(v.as_str(), t, "{}: {}", what, f),
                            (None, Bson::String(v)) => prop_assert!(s.check_id(v).is_ok(), "{}: {}", what, f),
                            _ => prop_assert!(false, "{}: upsert would write a non-string tenant: {}", what, f),
                        }
                    }
                }
                Ok(()) => {}
                Err(e) => assert_clear(&e, &what),
            }
        }
    }

    /// `scope::plan` for every operation it plans: what is sent is confined to the tenant (the
    /// filter, or a by-`_id` fetch whose answer is owner-checked), replacements are stamped,
    /// pipelines scoped, or the call is refused clearly.
    #[test]
    fn plans(f in gen::document(3), u in gen::update(), d in gen::document(2), p in gen::pipeline(3), upsert in any::<bool>()) {
        use crate::scope::plan::{plan, Operation, Request};
        for op in Operation::ALL {
            for s in scopes() {
                let what = format!("{op:?} {:?}/{:?}/guard={}/sharded={}", s.principal, s.strategy, s.collation_guard, s.sharded);
                let req = Request { filter: f.clone(), update: Some(u.clone()), replacement: Some(d.clone()), pipeline: p.clone(), upsert, ..Request::default() };
                let out = match timed("plan", || plan(op, &s, req)) {
                    Ok(out) => out,
                    Err(e) => { assert_clear(&e, &what); continue; }
                };
                if !scoped_tenant(&s) {
                    continue;
                }
                let write = !matches!(op, Operation::FindOne | Operation::Find | Operation::CountDocuments | Operation::Distinct | Operation::EstimatedDocumentCount | Operation::Aggregate);
                match (&out.filter, &out.by_id, &out.pipeline) {
                    (Some(q), None, None) => assert_scoped_filter(q, s.collation_guard, write, &what),
                    (None, Some(_), None) => prop_assert_eq!(op, Operation::FindOne, "{}", what),
                    (None, None, Some(stages)) => assert_scoped_pipeline(stages, Some(s.collation_guard), &what),
                    other => prop_assert!(false, "{}: nothing scoped was planned: {:?}", what, other),
                }
                if let Some(r) = &out.replacement {
                    prop_assert_eq!(r.get_str(FIELD), Ok(TENANT), "{}: {}", what, r);
                }
            }
        }
    }

    /// bulkWrite statements as `scope::bulk` plans them: every update and delete filter scoped,
    /// every inserted or replacing document stamped, or a clear refusal.
    #[test]
    fn bulk_statements(f in gen::document(3), u in gen::update(), d in gen::document(2), which in 0usize..6, pin in any::<bool>()) {
        let op = match which {
            0 => bson::doc! { "insertOne": { "document": d } },
            1 => bson::doc! { "updateOne": { "filter": f, "update": u } },
            2 => bson::doc! { "updateMany": { "filter": f, "update": u, "upsert": true } },
            3 => bson::doc! { "replaceOne": { "filter": f, "replacement": d, "upsert": pin } },
            4 => bson::doc! { "deleteOne": { "filter": f } },
            _ => bson::doc! { "deleteMany": { "filter": f, "collation": { "locale": "en", "strength": 1 } } },
        };
        for s in scopes() {
            let what = format!("{:?}/{:?}/guard={}/sharded={}", s.principal, s.strategy, s.collation_guard, s.sharded);
            let fresh = bson::oid::ObjectId::new();
            let st = match timed("bulk::statement", || crate::scope::bulk::statement(&s, 7, op.clone(), pin, fresh)) {
                Ok(st) => st,
                Err(e) => { assert_clear(&e, &what); continue; }
            };
            prop_assert_eq!(st.index, 7);
            if !scoped_tenant(&s) {
                continue;
            }
            match st.body.get_document("q") {
                Ok(q) => {
                    let guard = s.collation_guard || which == 5;
                    assert_scoped_filter(q, guard, true, &what);
                    let pinned = st.body.get_document("collation").ok() == Some(&collation::simple());
                    prop_assert_eq!(pinned, pin && !st.collated, "{}", what);
                }
                Err(_) => prop_assert_eq!(st.body.get_str(FIELD), Ok(TENANT), "{}: {}", what, st.body),
            }
            if which == 3 {
                let r = st.body.get_document("u").expect("a replacement");
                prop_assert_eq!(r.get_str(FIELD), Ok(TENANT), "{}: {}", what, r);
            }
        }
    }

    /// Aggregation pipelines: tenant first at every level that reads a collection.
    #[test]
    fn pipelines(p in gen::pipeline(4)) {
        for s in scopes() {
            let what = format!("{:?}/{:?}/guard={}", s.principal, s.strategy, s.collation_guard);
            match timed("scope_pipeline", || pipeline::scope_pipeline(&s, p.clone())) {
                Ok(out) if scoped_tenant(&s) => assert_scoped_pipeline(&out, Some(s.collation_guard), &what),
                Ok(out) => {
                    // Nothing injected; refused stages are still refused at every level.
                    let mut names = Vec::new();
                    stage_names(&out, &mut names);
                    for bad in ["$out", "$merge", "$documents", "$currentOp", "$changeStream", "$search", "$bogus"] {
                        prop_assert!(!names.contains(&bad.to_string()), "{}: {} survived in {:?}", what, bad, out);
                    }
                }
                Err(e) => assert_clear(&e, &what),
            }
        }
    }

    /// Updates never change the tenant field; upsert checks do not panic.
    #[test]
    fn updates(u in gen::update(), f in gen::document(3)) {
        let classified = match timed("classify", || update::classify(u.clone())) {
            Ok(c) => c,
            Err(e) => { assert_clear(&e, "classify"); return Ok(()); }
        };
        for s in scopes() {
            let what = format!("{:?}/{:?}", s.principal, s.strategy);
            let out = match timed("scope_update", || update::scope_update(&s, classified.clone())) {
                Ok(out) => out,
                Err(e) => { assert_clear(&e, &what); continue; }
            };
            if let Err(e) = timed("check_system_upsert", || update::check_system_upsert(&s, &f, &out)) {
                assert_clear(&e, &what);
            }
            if s.strategy == Mode::Database {
                prop_assert_eq!(&out, &classified);
                continue;
            }
            match &out {
                Update::Modifiers(d) => for (op, spec) in d {
                    let spec = spec.as_document().expect("checked operator spec");
                    for (path, value) in spec {
                        if op == "$rename" {
                            prop_assert!(!s.touches(value.as_str().expect("rename target")), "{}: {}", what, d);
                        }
                        if !s.touches(path) { continue; }
                        prop_assert!((op == "$set" || op == "$setOnInsert") && path == FIELD, "{}: {}", what, d);
                        match (s.tenant(), value) {
                            (Some(t), Bson::String(v)) => prop_assert_eq!(v.as_str(), t),
                            (None, Bson::String(v)) => prop_assert!(s.check_id(v).is_ok()),
                            _ => prop_assert!(false, "{}: tenant set to {}", what, value),
                        }
                    }
                },
                Update::Pipeline(stages) => match s.tenant() {
                    // Whatever the stages compute, the last one forces the tenant back.
                    Some(t) => prop_assert_eq!(
                        stages.last(), Some(&doc! { "$set": { FIELD: { "$literal": t } } }), "{}", what
                    ),
                    None => for st in stages {
                        let name = st.keys().next().expect("stage").as_str();
                        prop_assert!(!["$project", "$replaceRoot", "$replaceWith"].contains(&name), "{}: {}", what, st);
                    },
                },
            }
        }
    }

    /// Inserted and replacement documents carry the tenant; nothing else changes.
    #[test]
    fn inserts(d in gen::document(4), tenant_value in proptest::option::of(prop_oneof![
        gen::string().prop_map(Bson::String), gen::leaf(),
    ])) {
        let mut d = d;
        if let Some(v) = tenant_value {
            d.insert(FIELD, v);
        }
        for s in scopes() {
            let what = format!("{:?}/{:?}", s.principal, s.strategy);
            let mut stamped = d.clone();
            let r = timed("stamp", || insert::stamp(&s, &mut stamped));
            let replaced = timed("stamp_replacement", || insert::stamp_replacement(&s, d.clone()));
            // A top-level `$` field is data in an insert, an update operator in a replacement.
            let dollar = d.keys().any(|k| k.starts_with('$'));
            if dollar {
                prop_assert!(replaced.is_err(), "{}", what);
            } else {
                prop_assert_eq!(r.is_ok(), replaced.is_ok(), "{}", what);
            }
            match r {
                Ok(()) => {
                    if !dollar {
                        prop_assert_eq!(&replaced.unwrap(), &stamped);
                    }
                    if s.strategy == Mode::Database {
                        prop_assert_eq!(&stamped, &d);
                        continue;
                    }
                    match (s.tenant(), stamped.get(FIELD)) {
                        (Some(t), Some(Bson::String(v))) => prop_assert_eq!(v.as_str(), t),
                        (None, Some(Bson::String(v))) => prop_assert!(s.check_id(v.as_str()).is_ok()),
                        (_, other) => prop_assert!(false, "{}: stamped tenant {:?}", what, other),
                    }
                    let mut rest = stamped.clone();
                    rest.remove(FIELD);
                    let mut before = d.clone();
                    before.remove(FIELD);
                    prop_assert_eq!(rest, before, "{}: stamping changed other fields", what);
                }
                Err(e) => assert_clear(&e, &what),
            }
        }
    }

    /// Collations: "cannot equate ids" only for options the core understands.
    #[test]
    fn collations(c in gen::collation()) {
        for plain in [false, true] {
            let may = timed("may_equate_ids", || collation::may_equate_ids(&c, plain));
            let checked = timed("check_index_collation", || collation::check_index_collation(&c, plain));
            prop_assert_eq!(checked.is_err(), may);
            if !may {
                prop_assert!(matches!(c.get("locale"), Some(Bson::String(l)) if !l.is_empty() && !l.contains('@')));
                let int = |v: &Bson| match v { Bson::Int32(n) => Some(i64::from(*n)), Bson::Int64(n) => Some(*n), _ => None };
                prop_assert!(c.get("strength").is_none_or(|v| matches!(int(v), Some(3..=5))), "{}", c);
                prop_assert!(c.get("alternate").is_none_or(|v| v.as_str() == Some("non-ignorable")), "{}", c);
                prop_assert!(c.get("numericOrdering").is_none_or(|v| v == &Bson::Boolean(false)), "{}", c);
            }
        }
        if timed("is_simple", || collation::is_simple(&c)) {
            prop_assert_eq!(c.get_str("locale").ok(), Some("simple"));
        }
    }

    /// Tenant ids: Ok only when every rule holds.
    #[test]
    fn tenant_ids(id in prop_oneof![gen::string(), ".{0,80}", "[A-Za-z0-9_-]{0,70}", "\\PC{60,140}"]) {
        if timed("check_hard", || tenant_id::check_hard(&id)).is_ok() {
            prop_assert!(!id.is_empty() && id.len() <= 128);
            prop_assert!(!id.chars().any(|c| tenant_id::FORBIDDEN.contains(&c) || c.is_control()));
        }
        if timed("check_default", || tenant_id::check_default(&id)).is_ok() {
            prop_assert!(tenant_id::check_hard(&id).is_ok());
            prop_assert!(tenant_id::is_plain_ascii(&id) && id.len() <= 64);
        }
        for s in scopes() {
            let expected = if s.default_rule { tenant_id::check_default(&id) } else { tenant_id::check_hard(&id) };
            prop_assert_eq!(s.check_id(&id).is_ok(), expected.is_ok());
        }
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Raw input deeper than MAX_DEPTH is refused with the depth error before any
    /// recursive parse; input within it parses and goes through every entry.
    #[test]
    fn deep_raw_input(
        levels in prop_oneof![1usize..=MAX_DEPTH, (MAX_DEPTH - 3)..=(MAX_DEPTH + 3), (MAX_DEPTH + 1)..5_000],
        kinds in proptest::collection::vec(prop_oneof![Just(0x03u8), Just(0x04), Just(0x0F)], 1..4),
        key in proptest::sample::select(&["$and", "$or", "$lookup", "pipeline", "$set", FIELD, "tenantId.x", "a"][..]),
    ) {
        on_big_stack(move || deep_raw_case(levels, &kinds, key))?;
    }

    /// Documents built in memory (not through raw bytes) deeper than MAX_DEPTH: the
    /// recursive rules stop with their depth error instead of recursing on.
    #[test]
    fn deep_in_memory(levels in (MAX_DEPTH - 2)..(MAX_DEPTH * 3)) {
        on_big_stack(move || deep_in_memory_case(levels))?;
    }
}

/// One `deep_raw_input` case: raw bytes `levels` deep through `read_document`, then every entry.
fn deep_raw_case(levels: usize, kinds: &[u8], key: &str) -> Result<(), TestCaseError> {
    let bytes = gen::nested_bytes(levels, kinds, key);
    let r = timed("read_document", || read_document(&bytes));
    if levels > MAX_DEPTH {
        let e = r.expect_err("too deep must be refused");
        prop_assert_eq!(e.kind, ErrorKind::InvalidArgument);
        prop_assert_eq!(e.message, format!("document nesting exceeds {MAX_DEPTH} levels"));
        return Ok(());
    }
    let d = r.expect("within the limit parses");
    for s in scopes() {
        let _ = timed("scope_filter", || filter::scope_filter(&s, d.clone()));
        let _ = timed("scope_write_filter", || filter::scope_write_filter(&s, d.clone()));
        let _ = timed("check_upsert_filter", || filter::check_upsert_filter(&s, &d));
        let _ = timed("names_tenant_by_equality", || filter::names_tenant_by_equality(&s, &d));
        let _ = timed("stamp", || insert::stamp(&s, &mut d.clone()));
        let _ = timed("pipeline", || pipeline::scope_pipeline(&s, vec![d.clone()]));
        if let Ok(u) = update::classify(Bson::Document(d.clone())) {
            let _ = timed("scope_update", || update::scope_update(&s, u));
        }
        let _ = timed("may_equate_ids", || collation::may_equate_ids(&d, true));
    }
    Ok(())
}

/// One `deep_in_memory` case: `levels` nested `$and`s and `$lookup` pipelines.
fn deep_in_memory_case(levels: usize) -> Result<(), TestCaseError> {
    let mut ands = doc! { FIELD: "other" };
    let mut stages = vec![doc! { "$match": { "x": 1 } }];
    for _ in 0..levels {
        ands = doc! { "$and": [ands] };
        stages = vec![doc! { "$lookup": { "from": "c", "as": "o", "pipeline": stages } }];
    }
    let s = scope(tenant(), Mode::Field, false, true);
    let upsert = timed("check_upsert_filter", || filter::check_upsert_filter(&s, &ands));
    let e = upsert.expect_err("another tenant, or too deep");
    if levels > MAX_DEPTH {
        prop_assert_eq!(e.message, format!("document nesting exceeds {MAX_DEPTH} levels"));
    } else {
        prop_assert_eq!(e.kind, ErrorKind::TenantViolation);
    }
    let _ = timed("names_tenant_by_equality", || filter::names_tenant_by_equality(&s, &ands));
    match timed("scope_pipeline", || pipeline::scope_pipeline(&s, stages)) {
        Ok(out) => {
            prop_assert!(levels <= MAX_DEPTH);
            assert_scoped_pipeline(&out, Some(false), "deep lookups");
        }
        Err(e) => {
            prop_assert!(levels > MAX_DEPTH);
            prop_assert_eq!(e.message, format!("pipeline nesting exceeds {MAX_DEPTH} levels"));
        }
    }
    Ok(())
}
