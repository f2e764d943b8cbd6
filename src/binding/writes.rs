//! Write methods: stamp or check every document and update, refuse before
//! anything is sent, then one driver call.

use bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};
use mongodb::options::{
    DeleteOptions, FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions,
    InsertManyOptions, InsertOneOptions, ReplaceOptions, UpdateModifications, UpdateOptions,
};
use mongodb::results::UpdateResult;

use super::bounds;
use super::error::{arg, FenceError, FenceResult};
use super::lanes::insert as insert_lane;
use super::options::{self, driver_options};
use super::payload::{count, reply, reply_raw, RawRequest, Request};
use super::session::in_session;
use super::target::Target;
use crate::scope::plan::{self, Operation};
use crate::scope::share::InsertCall;
use crate::scope::{insert, update};

/// The planned update in the driver's form.
fn driver_update(u: Option<update::Update>) -> UpdateModifications {
    match u {
        Some(update::Update::Pipeline(p)) => UpdateModifications::Pipeline(p),
        Some(update::Update::Modifiers(d)) => UpdateModifications::Document(d),
        None => UpdateModifications::Document(Document::new()),
    }
}

/// Plans a filtered write (`scope::plan`) from the request's filter and the given parts.
fn plan_write(
    t: &Target,
    op: Operation,
    req: &mut Request,
    parts: plan::Request,
) -> FenceResult<plan::Plan> {
    let filter = req.doc_or_empty("filter", "filter")?;
    let fresh_id = Some(super::ids::fresh_object_id()).filter(|_| parts.upsert);
    Ok(plan::plan(op, &t.scope, plan::Request { filter, fresh_id, ..parts })?)
}

fn update_reply(r: UpdateResult) -> Vec<u8> {
    let upserted = r.upserted_id.is_some();
    reply(doc! {
        "acknowledged": true,
        "matchedCount": count(r.matched_count),
        "modifiedCount": count(r.modified_count),
        "upsertedId": r.upserted_id.unwrap_or(Bson::Null),
        "upsertedCount": if upserted { 1 } else { 0 },
    })
}

/// `insertOne(doc, options)`.
pub async fn insert_one(mut t: Target, req: RawRequest<'_>) -> FenceResult<Vec<u8>> {
    let o = t.parse_options(req.options()?, options::INSERT)?;
    t.learn_sharding().await?;
    let d = insert::stamp_raw(&t.scope, req.doc("document", "doc")?)?;
    let id = d.get("_id").ok().flatten().map(|v| v.to_raw_bson());
    let call = InsertCall {
        has_options: o.write_concern.is_some()
            || o.bypass_document_validation.is_some()
            || o.comment.is_some(),
        bytes: d.as_bytes().len(),
        has_id: id.is_some(),
        in_session: t.session().is_some(),
    };
    if let (Some(lane), Some(id)) = (t.insert_lane(call), id) {
        insert_lane::insert(lane, d.into_owned()).await?;
        let id = Bson::try_from(id).map_err(|e| arg(format!("malformed _id: {e}")))?;
        return Ok(reply(doc! { "acknowledged": true, "insertedId": id }));
    }
    let io = driver_options!(o => InsertOneOptions { write_concern, bypass_document_validation, comment });
    let coll = t.coll.clone_with_type::<&RawDocument>();
    let r = in_session!(t.session(), coll.insert_one(d.as_ref()).with_options(io))?;
    Ok(reply(doc! { "acknowledged": true, "insertedId": r.inserted_id }))
}

/// `insertMany(docs, options)`: every document is checked before any is sent.
pub async fn insert_many(t: Target, req: RawRequest<'_>) -> FenceResult<Vec<u8>> {
    let o = t.parse_options(req.options()?, options::INSERT)?;
    let raw = req.docs("documents", "docs")?;
    if raw.is_empty() {
        return Err(arg("docs must be a non-empty array"));
    }
    let docs =
        raw.into_iter().map(|d| insert::stamp_raw(&t.scope, d)).collect::<Result<Vec<_>, _>>()?;
    let io = driver_options!(o => InsertManyOptions { ordered, write_concern, bypass_document_validation, comment });
    let coll = t.coll.clone_with_type::<&RawDocument>();
    let r = in_session!(
        t.session(),
        coll.insert_many(docs.iter().map(|d| d.as_ref())).with_options(io)
    )?;
    let n = r.inserted_ids.len();
    if n == docs.len() {
        // All went in: JS fills insertedIds with the _ids it sent (each document has one).
        return Ok(reply(doc! { "acknowledged": true, "insertedCount": count(n as u64) }));
    }
    let mut ids: Vec<(usize, Bson)> = r.inserted_ids.into_iter().collect();
    ids.sort_by_key(|(i, _)| *i);
    let inserted: Document = ids.into_iter().map(|(i, id)| (i.to_string(), id)).collect();
    Ok(reply(doc! {
        "acknowledged": true,
        "insertedCount": count(n as u64),
        "insertedIds": inserted,
    }))
}

/// The wire version of MongoDB 8.0, the first to take `sort` on `updateOne` / `replaceOne`.
const WIRE_8_0: i32 = 25;

/// Refuses `sort` on a server that would not take it, naming its version, as the driver's
/// `MongoCompatibilityError` does for options newer servers take.
fn sort_supported(t: &Target, method: &str) -> FenceResult<()> {
    let wire = t.inner().max_wire_version;
    if wire >= WIRE_8_0 {
        return Ok(());
    }
    Err(FenceError::Driver(serde_json::json!({
        "name": "MongoCompatibilityError",
        "message": format!(
            "Option `sort` for `{method}` is not supported on servers < 8.0 (this server: {}, maxWireVersion {wire})",
            server_version(wire)
        ),
    })))
}

/// The MongoDB release a wire version stands for.
fn server_version(wire: i32) -> &'static str {
    match wire {
        w if w >= 25 => "MongoDB 8.0 or later",
        21..=24 => "MongoDB 7.x",
        17..=20 => "MongoDB 6.x",
        13..=16 => "MongoDB 5.x",
        _ => "MongoDB 4.4 or earlier",
    }
}

/// `updateOne` / `updateMany(filter, update, options)`.
pub async fn update(mut t: Target, mut req: Request, many: bool) -> FenceResult<Vec<u8>> {
    let allowed = if many { options::UPDATE } else { options::UPDATE_ONE };
    let mut o = t.options(&mut req, allowed).await?;
    if o.sort.is_some() {
        sort_supported(&t, "updateOne")?;
    }
    let upsert = o.upsert.unwrap_or(false);
    let op = if many { Operation::UpdateMany } else { Operation::UpdateOne };
    let parts = plan::Request { update: req.value("update"), upsert, ..Default::default() };
    let p = plan_write(&t, op, &mut req, parts)?;
    let (f, u) = (p.filter.unwrap_or_default(), driver_update(p.update));
    bounds::apply(&t, &mut o, &p.bound).await?;
    let uo = driver_options!(o => UpdateOptions { upsert, array_filters, hint, collation, let_vars, comment, write_concern, bypass_document_validation, sort });
    let r = if many {
        in_session!(t.session(), t.coll.update_many(f, u).with_options(uo))?
    } else {
        in_session!(t.session(), t.coll.update_one(f, u).with_options(uo))?
    };
    Ok(update_reply(r))
}

/// `replaceOne(filter, replacement, options)`.
pub async fn replace_one(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::REPLACE).await?;
    if o.sort.is_some() {
        sort_supported(&t, "replaceOne")?;
    }
    let upsert = o.upsert.unwrap_or(false);
    // Its type is checked after the filter (in `plan`), as before the plan existed.
    let replacement = req.doc("replacement", "replacement").ok();
    let parts = plan::Request { replacement, upsert, ..Default::default() };
    let p = plan_write(&t, Operation::ReplaceOne, &mut req, parts)?;
    let (f, r) = (p.filter.unwrap_or_default(), p.replacement.unwrap_or_default());
    bounds::apply(&t, &mut o, &p.bound).await?;
    let ro = driver_options!(o => ReplaceOptions { upsert, hint, collation, let_vars, comment, write_concern, bypass_document_validation, sort });
    let res = in_session!(t.session(), t.coll.replace_one(f, r).with_options(ro))?;
    Ok(update_reply(res))
}

/// `deleteOne` / `deleteMany(filter, options)`.
pub async fn delete(mut t: Target, mut req: Request, many: bool) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::DELETE).await?;
    let op = if many { Operation::DeleteMany } else { Operation::DeleteOne };
    let p = plan_write(&t, op, &mut req, plan::Request::default())?;
    let f = p.filter.unwrap_or_default();
    bounds::apply(&t, &mut o, &p.bound).await?;
    let d =
        driver_options!(o => DeleteOptions { hint, collation, let_vars, comment, write_concern });
    let r = if many {
        in_session!(t.session(), t.coll.delete_many(f).with_options(d))?
    } else {
        in_session!(t.session(), t.coll.delete_one(f).with_options(d))?
    };
    Ok(reply(doc! { "acknowledged": true, "deletedCount": count(r.deleted_count) }))
}

/// `findOneAndUpdate(filter, update, options)`.
pub async fn find_one_and_update(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::FIND_AND_MODIFY).await?;
    let upsert = o.upsert.unwrap_or(false);
    let parts = plan::Request { update: req.value("update"), upsert, ..Default::default() };
    let p = plan_write(&t, Operation::FindOneAndUpdate, &mut req, parts)?;
    let (f, u) = (p.filter.unwrap_or_default(), driver_update(p.update));
    bounds::apply(&t, &mut o, &p.bound).await?;
    let fo = driver_options!(o => FindOneAndUpdateOptions { projection, sort, upsert, return_document, array_filters, hint, collation, let_vars, comment, max_time, write_concern, bypass_document_validation });
    let coll = t.coll.clone_with_type::<RawDocumentBuf>();
    reply_raw(in_session!(t.session(), coll.find_one_and_update(f, u).with_options(fo))?)
}

/// `findOneAndReplace(filter, replacement, options)`.
pub async fn find_one_and_replace(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::FIND_AND_MODIFY).await?;
    if o.array_filters.is_some() {
        return Err(arg("options.arrayFilters is not supported by findOneAndReplace"));
    }
    let upsert = o.upsert.unwrap_or(false);
    // Its type is checked after the filter (in `plan`), as before the plan existed.
    let replacement = req.doc("replacement", "replacement").ok();
    let parts = plan::Request { replacement, upsert, ..Default::default() };
    let p = plan_write(&t, Operation::FindOneAndReplace, &mut req, parts)?;
    let f = p.filter.unwrap_or_default();
    let r = RawDocumentBuf::from_document(&p.replacement.unwrap_or_default())
        .map_err(|e| arg(format!("replacement: {e}")))?;
    bounds::apply(&t, &mut o, &p.bound).await?;
    let fo = driver_options!(o => FindOneAndReplaceOptions { projection, sort, upsert, return_document, hint, collation, let_vars, comment, max_time, write_concern, bypass_document_validation });
    let coll = t.coll.clone_with_type::<RawDocumentBuf>();
    reply_raw(in_session!(t.session(), coll.find_one_and_replace(f, r).with_options(fo))?)
}

/// `findOneAndDelete(filter, options)`.
pub async fn find_one_and_delete(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::FIND_AND_MODIFY).await?;
    if o.upsert.is_some() || o.array_filters.is_some() || o.return_document.is_some() {
        return Err(arg("findOneAndDelete takes no upsert, arrayFilters or returnDocument option"));
    }
    let p = plan_write(&t, Operation::FindOneAndDelete, &mut req, plan::Request::default())?;
    let f = p.filter.unwrap_or_default();
    bounds::apply(&t, &mut o, &p.bound).await?;
    let fo = driver_options!(o => FindOneAndDeleteOptions { projection, sort, hint, collation, let_vars, comment, max_time, write_concern });
    let coll = t.coll.clone_with_type::<RawDocumentBuf>();
    reply_raw(in_session!(t.session(), coll.find_one_and_delete(f).with_options(fo))?)
}
