//! Index and collection administration: `scope::admin` decides who may; here each command is
//! sent, and the fence's caches of a changed collection (its index listing, its facts) are
//! dropped so the next call sees the change.

use std::sync::Arc;

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::action::Action;
use mongodb::Database;
use serde_json::json;

use super::bounds::{self, Call};
use super::error::{arg, FenceError, FenceResult};
use super::payload::{reply, Request};
use super::session::{in_session, SessionUse};
use super::state::FenceInner;
use super::target::Target;
use super::{indexes, options::CallOptions};
use crate::scope::admin::{self, AdminOp};
use crate::scope::{forbidden, Principal};

/// Runs one administration method and returns the BSON reply.
pub async fn execute(
    inner: Arc<FenceInner>,
    principal: Principal,
    collection: String,
    op: AdminOp,
    bytes: Vec<u8>,
    session: Option<SessionUse>,
) -> FenceResult<Vec<u8>> {
    let req = Request::decode(&bytes, Some(&inner.spec.field))?;
    forbidden::check_request(&principal, &req.0)?;
    admin::admit(&inner.spec.scope_on(principal.clone(), &collection), op)?;
    if op == AdminOp::ListCollections {
        let db = inner.client()?.database(&inner.spec.database_of(&principal)?);
        return list_collections(&db, session, req).await;
    }
    let t = Target::resolve(inner, principal, &collection)?.in_session(session);
    bounds::ensure_before_transaction_call(&t).await?;
    match op {
        AdminOp::ListIndexes => list_indexes(t, req).await,
        AdminOp::CreateIndexes => indexes::create_indexes(t, req).await,
        AdminOp::DropIndex => drop_index(t, req).await,
        AdminOp::DropIndexes => drop_indexes(t, req).await,
        AdminOp::Drop | AdminOp::DropCollection => drop(t, req).await,
        AdminOp::Rename => rename(t, req).await,
        AdminOp::Options => collection_options(t, req).await,
        AdminOp::CreateCollection => create_collection(t, req).await,
        AdminOp::ListCollections => unreachable!("listed above"),
    }
}

/// Options the driver's command helpers take and do not send for these commands (its
/// `resolveOptions` copies them, the command builders never read them): taken, and ignored
/// as the driver ignores them, rather than refused. (A `collation` it does send, and the server
/// refuses it: here it is refused before anything is sent.)
const IGNORED: &[&str] = &["readConcern", "retryWrites", "new_collection"];

/// Takes the request's options, accepting only `allowed` (and what the driver ignores).
fn options(req: &mut Request, allowed: &[&str]) -> FenceResult<Document> {
    let mut o = req.doc_or_empty("options", "options")?;
    if let Some(k) =
        o.keys().find(|k| !allowed.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
    {
        return Err(super::options::unknown(k));
    }
    for k in IGNORED {
        o.remove(*k);
    }
    Ok(o)
}

/// Copies the command options the server reads (`comment`, `maxTimeMS`, `writeConcern`) from
/// `o` into `cmd`, checked; in a transaction a write concern is dropped, as the driver drops it.
fn command_fields(t: &Target, o: &Document, cmd: &mut Document) -> FenceResult<()> {
    let parsed = CallOptions::parse(
        o.iter()
            .filter(|(k, _)| matches!(k.as_str(), "maxTimeMS" | "writeConcern"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        &["maxTimeMS", "writeConcern"],
    )?;
    if let Some(c) = o.get("comment") {
        cmd.insert("comment", c.clone());
    }
    if let Some(ms) = parsed.max_time {
        cmd.insert("maxTimeMS", ms.as_millis() as i64);
    }
    if let (Some(w), false) = (parsed.write_concern, t.in_transaction()) {
        // As parsed (`wtimeoutMS` is sent as the server's `wtimeout`), not as the caller wrote it.
        let w = bson::to_bson(&w).map_err(|e| arg(format!("options.writeConcern: {e}")))?;
        cmd.insert("writeConcern", w);
    }
    Ok(())
}

/// The read preference in `o`, for a listing.
fn read_preference(o: &Document) -> FenceResult<Option<mongodb::options::SelectionCriteria>> {
    let Some(rp) = o.get("readPreference") else { return Ok(None) };
    let parsed = CallOptions::parse(doc! { "readPreference": rp.clone() }, &["readPreference"])?;
    Ok(parsed.selection_criteria)
}

/// Runs a cursor command to its end: every document it returns.
async fn run_listing(
    db: &Database,
    session: Option<SessionUse>,
    cmd: Document,
    o: &Document,
) -> FenceResult<Vec<RawDocumentBuf>> {
    let criteria = read_preference(o)?;
    let mut out = Vec::new();
    match session {
        Some(u) => {
            let mut held = u.hold().await?;
            let mut c = db
                .run_cursor_command(cmd)
                .optional(criteria, |a, c| a.selection_criteria(c))
                .session(&mut *held)
                .await?
                .with_type::<RawDocumentBuf>();
            while let Some(d) = c.next(&mut held).await {
                out.push(d?);
            }
        }
        None => {
            let mut c = db
                .run_cursor_command(cmd)
                .optional(criteria, |a, c| a.selection_criteria(c))
                .await?
                .with_type::<RawDocumentBuf>();
            while let Some(d) = c.try_next().await? {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Replies `{v: Binary}` holding `docs` one after another, as a server batch is laid out (JS
/// reads it as one).
fn listing_reply(docs: &[RawDocumentBuf]) -> Vec<u8> {
    let bytes = docs.iter().flat_map(|d| d.as_bytes().iter().copied()).collect();
    reply(Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes }))
}

/// `run_listing`, replied.
async fn listing(
    db: &Database,
    session: Option<SessionUse>,
    cmd: Document,
    o: &Document,
) -> FenceResult<Vec<u8>> {
    Ok(listing_reply(&run_listing(db, session, cmd, o).await?))
}

/// `listIndexes`: every index of the collection (index metadata is the same for every tenant).
async fn list_indexes(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(&mut req, &["comment", "batchSize", "maxTimeMS", "readPreference"])?;
    let mut cmd = doc! { "listIndexes": t.coll.name(), "cursor": {} };
    command_fields(&t, &o, &mut cmd)?;
    if !admin::lists_after_fence_index(&t.scope) {
        return listing(&t.db, t.session(), cmd, &o).await;
    }
    // The fence's own index first, from a fresh listing (a cached one can say it is there after
    // the collection was dropped elsewhere), and the answer only once it shows that index: a
    // drop between the build and the listing would otherwise show whether another tenant has
    // written since (red-team round 20).
    for _ in 0..3 {
        bounds::forget(&t);
        let all = Document::new();
        let call = Call { sort: None, filter: &all, hint: None, geo_near: None, explicit: false };
        bounds::bound(&t, call).await?;
        match run_listing(&t.db, t.session(), cmd.clone(), &o).await {
            Ok(docs) => {
                let listed: Vec<Document> =
                    docs.iter().filter_map(|d| Document::try_from(d.as_ref()).ok()).collect();
                if admin::listing_shows_fence_index(&listed, &t.scope.field) {
                    return Ok(listing_reply(&docs));
                }
            }
            Err(FenceError::Mongo(e)) if super::error::server_code(&e) == Some(26) => {}
            Err(e) => return Err(e),
        }
    }
    Err(FenceError::Driver(json!({
        "name": "MongoAPIError",
        "message": "listIndexes: the collection's indexes kept changing while they were listed (it was dropped or its indexes were dropped meanwhile); try again",
    })))
}

/// `listCollections(filter, { nameOnly, authorizedCollections })` of the caller's database.
async fn list_collections(
    db: &Database,
    session: Option<SessionUse>,
    mut req: Request,
) -> FenceResult<Vec<u8>> {
    let o = options(
        &mut req,
        &[
            "nameOnly",
            "authorizedCollections",
            "comment",
            "batchSize",
            "maxTimeMS",
            "readPreference",
        ],
    )?;
    let filter = req.doc_or_empty("filter", "filter")?;
    let mut cmd = doc! { "listCollections": 1, "filter": filter, "cursor": {} };
    for k in ["nameOnly", "authorizedCollections", "comment"] {
        if let Some(v) = o.get(k) {
            cmd.insert(k, v.clone());
        }
    }
    if let Some(ms) = o.get("maxTimeMS") {
        let parsed = CallOptions::parse(doc! { "maxTimeMS": ms.clone() }, &["maxTimeMS"])?;
        cmd.insert("maxTimeMS", parsed.max_time.map(|d| d.as_millis() as i64));
    }
    listing(db, session, cmd, &o).await
}

/// Sends a command that changes the collection, then drops what the fence knew of it.
async fn change(t: &Target, db: &Database, cmd: Document) -> FenceResult<Document> {
    let sent = in_session!(t.session(), db.run_command(cmd));
    forget(t);
    let mut reply = sent?;
    // The cluster's clock says when any tenant last wrote: not part of what the caller gets.
    for k in ["$clusterTime", "operationTime", "signature"] {
        reply.remove(k);
    }
    Ok(reply)
}

/// Drops the fence's index listing and collection facts of `t`'s collection.
fn forget(t: &Target) {
    bounds::forget(t);
    t.forget_facts();
}

/// The options of a command that changes a collection.
/// (`readPreference` is taken and ignored: the driver sends these to the primary.)
const WRITE_COMMAND: &[&str] = &["comment", "maxTimeMS", "writeConcern", "readPreference"];

/// `dropIndex(name)`: the server's reply (`{ nIndexesWas, ok }`), as the driver returns it.
async fn drop_index(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(&mut req, WRITE_COMMAND)?;
    let index = match req.value("index") {
        Some(v @ (Bson::String(_) | Bson::Document(_))) => v,
        _ => return Err(arg("indexName must be an index name or key pattern")),
    };
    let mut cmd = doc! { "dropIndexes": t.coll.name(), "index": index };
    command_fields(&t, &o, &mut cmd)?;
    Ok(reply(change(&t, &t.db, cmd).await?))
}

/// `dropIndexes()`: true, or false when the server refused (as the driver answers).
async fn drop_indexes(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(&mut req, WRITE_COMMAND)?;
    let mut cmd = doc! { "dropIndexes": t.coll.name(), "index": "*" };
    command_fields(&t, &o, &mut cmd)?;
    match change(&t, &t.db, cmd).await {
        Ok(_) => Ok(reply(true)),
        Err(FenceError::Mongo(_)) => Ok(reply(false)),
        Err(e) => Err(e),
    }
}

/// `drop()` / `db.dropCollection(name)`: true once dropped.
async fn drop(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(&mut req, WRITE_COMMAND)?;
    let mut cmd = doc! { "drop": t.coll.name() };
    command_fields(&t, &o, &mut cmd)?;
    change(&t, &t.db, cmd).await?;
    Ok(reply(true))
}

/// `rename(newName, { dropTarget })`, within the caller's database.
async fn rename(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(
        &mut req,
        &["dropTarget", "comment", "maxTimeMS", "writeConcern", "readPreference"],
    )?;
    let to = req.string("to", "newName")?;
    // The new name goes through the same namespace rules as any collection's.
    let target = t.sibling(&to)?;
    // Onto a shared collection (`dropTarget` would replace every tenant's shared data).
    crate::scope::shared::admit_named(&target.scope, "rename", false)?;
    let drop_target = match o.get("dropTarget") {
        None => false,
        Some(Bson::Boolean(b)) => *b,
        Some(_) => return Err(arg("options.dropTarget must be a boolean")),
    };
    let mut cmd = doc! {
        "renameCollection": format!("{}.{}", t.ns.database, t.ns.collection),
        "to": format!("{}.{}", target.ns.database, target.ns.collection),
        "dropTarget": drop_target,
    };
    command_fields(&t, &o, &mut cmd)?;
    let admin = t.db.client().database("admin");
    let sent = change(&t, &admin, cmd).await;
    forget(&target);
    sent?;
    Ok(reply(true))
}

/// `options()`: the collection's creation options; the driver's MongoAPIError when it is missing.
async fn collection_options(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = options(&mut req, &["comment", "maxTimeMS", "readPreference"])?;
    let mut cmd = doc! {
        "listCollections": 1,
        "filter": { "name": t.coll.name() },
        "nameOnly": false,
    };
    command_fields(&t, &o, &mut cmd)?;
    let criteria = read_preference(&o)?;
    let found = t.db.run_command(cmd).optional(criteria, |a, c| a.selection_criteria(c));
    let mut found = in_session!(t.session(), found)?;
    let first = found
        .get_document_mut("cursor")
        .ok()
        .and_then(|c| c.get_array_mut("firstBatch").ok())
        .and_then(|b| b.pop());
    match first {
        Some(Bson::Document(mut info)) => match info.remove("options") {
            Some(Bson::Document(o)) => Ok(reply(o)),
            _ => Err(not_found(&t)),
        },
        _ => Err(not_found(&t)),
    }
}

fn not_found(t: &Target) -> FenceError {
    FenceError::Driver(json!({
        "name": "MongoAPIError",
        "message": format!("collection {}.{} not found", t.ns.database, t.ns.collection),
    }))
}

/// `db.createCollection(name, options)`, its options checked by `scope::admin`.
async fn create_collection(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = req.doc_or_empty("options", "options")?;
    let mut command = Document::new();
    for k in ["writeConcern", "maxTimeMS"] {
        if let Some(v) = o.remove(k) {
            command.insert(k, v);
        }
    }
    admin::check_create_options(&t.scope, &o)?;
    if let Some(c) = o.get("collation") {
        // Read as every call's collation is, so a malformed one is a TypeError here too.
        CallOptions::parse(doc! { "collation": c.clone() }, &["collation"])?;
    }
    let mut cmd = doc! { "create": t.coll.name() };
    cmd.extend(o);
    command_fields(&t, &command, &mut cmd)?;
    change(&t, &t.db, cmd).await?;
    Ok(reply(true))
}
