//! A write with `maxTimeMS` (`insertOne`, `insertMany`, `updateOne`, `updateMany`, `replaceOne`,
//! `deleteOne`, `deleteMany`): the Rust driver's write helpers take none, so the write runs as the
//! one operation of a `bulkWrite` (planned by `scope::bulk`, the same rules; sent as the same write
//! command, with `maxTimeMS`) and answers with the method's own result and error. The call keeps
//! its method's name everywhere else (the audit hook, the probe's tag).

use bson::{doc, Bson, Document};
use serde_json::{json, Value};

use super::bulk;
use super::error::{arg, FenceError, FenceResult};
use super::options::{self, CallOptions};
use super::payload::{count, reply, uint, Request};
use super::target::Target;
use crate::scope::plan::Operation as Op;

/// True when the request's options name `maxTimeMS` (and the method is a plain write).
pub fn applies(op: Op, bytes: &[u8]) -> bool {
    use Op::*;
    matches!(
        op,
        InsertOne | InsertMany | UpdateOne | UpdateMany | ReplaceOne | DeleteOne | DeleteMany
    ) && bson::RawDocument::from_bytes(bytes)
        .ok()
        .and_then(|r| r.get_document("options").ok())
        .is_some_and(|o| matches!(o.get("maxTimeMS"), Ok(Some(v)) if v.as_null().is_none()))
}

/// Runs `op` as a one-operation `bulkWrite` (see the module).
pub async fn run(t: Target, op: Op, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut opts = req.doc_or_empty("options", "options")?;
    // The method's own option list first: the same TypeError as without maxTimeMS.
    let (allowed, per_op): (&[&str], &[&str]) = match op {
        Op::InsertOne | Op::InsertMany => (options::INSERT, &[]),
        Op::UpdateOne => (options::UPDATE_ONE, &["upsert", "arrayFilters", "collation", "hint"]),
        Op::UpdateMany => (options::UPDATE, &["upsert", "arrayFilters", "collation", "hint"]),
        Op::ReplaceOne => (options::REPLACE, &["upsert", "collation", "hint"]),
        _ => (options::DELETE, &["collation", "hint"]),
    };
    let mut check = opts.clone();
    check.remove("maxTimeMS");
    CallOptions::parse(check, allowed)?;
    if opts.contains_key("sort") {
        return Err(arg("options.sort together with options.maxTimeMS is not supported: send the write without maxTimeMS"));
    }
    let mut body = Document::new();
    for k in per_op {
        if let Some(v) = opts.remove(*k) {
            body.insert(*k, v);
        }
    }
    let mut inserted_id = Bson::Null;
    let ops: Vec<Bson> = match op {
        Op::InsertOne => {
            let d = req.doc("document", "doc")?;
            inserted_id = d.get("_id").cloned().unwrap_or(Bson::Null);
            vec![Bson::Document(doc! { "insertOne": { "document": d } })]
        }
        Op::InsertMany => {
            let docs = req.docs("documents", "docs")?;
            if docs.is_empty() {
                return Err(arg("docs must be a non-empty array"));
            }
            docs.into_iter()
                .map(|d| Bson::Document(doc! { "insertOne": { "document": d } }))
                .collect()
        }
        _ => {
            body.insert("filter", req.doc_or_empty("filter", "filter")?);
            match op {
                Op::UpdateOne | Op::UpdateMany => {
                    body.insert("update", req.value("update").unwrap_or(Bson::Null));
                }
                Op::ReplaceOne => {
                    body.insert("replacement", req.value("replacement").unwrap_or(Bson::Null));
                }
                _ => {}
            }
            vec![Bson::Document(doc! { op.name(): body })]
        }
    };
    if op != Op::InsertMany && op != Op::InsertOne {
        // One statement: `ordered` changes nothing (deleteOne's is taken and ignored).
        opts.remove("ordered");
    }
    let sent = bulk::bulk_write(t, Request(doc! { "operations": ops, "options": opts })).await;
    let result = match sent {
        Ok(bytes) => super::payload::document(&bytes)
            .ok()
            .and_then(|d| d.get_document("v").ok().cloned())
            .unwrap_or_default(),
        Err(FenceError::Server(body)) if op != Op::InsertMany => return Err(method_error(body)),
        Err(e) => return Err(e),
    };
    let n = |k: &str| uint(&result, k);
    Ok(reply(match op {
        Op::InsertOne => doc! { "acknowledged": true, "insertedId": inserted_id },
        Op::InsertMany => doc! { "acknowledged": true, "insertedCount": count(n("insertedCount")) },
        Op::DeleteOne | Op::DeleteMany => {
            doc! { "acknowledged": true, "deletedCount": count(n("deletedCount")) }
        }
        _ => doc! {
            "acknowledged": true,
            "matchedCount": count(n("matchedCount")),
            "modifiedCount": count(n("modifiedCount")),
            "upsertedId": result.get_document("upsertedIds").ok().and_then(|u| u.get("0").cloned()).unwrap_or(Bson::Null),
            "upsertedCount": count(n("upsertedCount")),
        },
    }))
}

/// A one-statement `bulkWrite`'s error as the method reports it: the statement's write error,
/// its write concern error, or the command's.
fn method_error(mut body: Value) -> FenceError {
    if body["name"] != "MongoBulkWriteError" {
        return FenceError::Server(body);
    }
    let first = body["writeErrors"].as_array().and_then(|w| w.first()).cloned();
    if let Some(m) = body.as_object_mut() {
        m.remove("writeErrors");
        m.remove("result");
    }
    match first {
        Some(w) if w["index"].is_null() => body["name"] = json!("MongoWriteConcernError"),
        Some(w) => {
            // codeName stays: the fence fills it in for write errors on every path (docs/errors.md).
            body["name"] = json!("MongoServerError");
            if let Some(m) = body.as_object_mut() {
                // The statement's details are the error's own, as on the driver's write error.
                for k in ["errInfo", "keyPattern", "keyValue"] {
                    if !w[k].is_null() {
                        m.insert(k.into(), w[k].clone());
                    }
                }
            }
        }
        None => body["name"] = json!("MongoServerError"),
    }
    FenceError::Server(body)
}
