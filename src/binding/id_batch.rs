//! Concurrent `findOne({_id})` calls on one collection share one `find` (see `lanes`).
//!
//! A lookup by exact `_id` already fetches by `_id` alone and checks the owner here
//! (`scope::by_id`). Queued lookups go out as one `find({_id: {$in: [...]}})`, and each
//! caller gets the document with its `_id` only if its own tenant owns it; if that `find`
//! fails, each queued lookup is sent alone, so an error is only ever the caller's own. Under
//! load one command and one server plan serve many calls instead of one each.

use std::collections::HashMap;
use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, RawDocumentBuf};
use futures_util::future::join_all;
use futures_util::{FutureExt, TryStreamExt};
use mongodb::error::Error as MongoError;
use mongodb::options::{Collation, FindOneOptions, FindOptions};
use mongodb::Collection;
use tokio::sync::oneshot;

use super::error::FenceResult;
use super::lanes::{Lanes, Serve};
use crate::scope::{by_id, Scope};

/// More queued lookups than this go out as several commands, one after another.
const MAX_IDS: usize = 1000;

type Found = Result<Option<RawDocumentBuf>, MongoError>;

/// One queued lookup.
pub struct Waiter {
    id: ObjectId,
    scope: Scope,
    tx: oneshot::Sender<Found>,
}

/// The `_id` lookup lanes of one fence.
pub fn lanes() -> Arc<Lanes<Waiter>> {
    Arc::new(Lanes::new(MAX_IDS))
}

/// Where a lane's shared `find` goes and with which collation (every lookup of it shares both).
pub struct LaneTarget {
    pub lanes: Arc<Lanes<Waiter>>,
    pub coll: Collection<RawDocumentBuf>,
    pub collation: Option<Collation>,
}

/// The document with `_id == id` if `scope`'s tenant owns it.
pub async fn lookup(
    lane: LaneTarget,
    id: ObjectId,
    scope: Scope,
) -> FenceResult<Option<RawDocumentBuf>> {
    let LaneTarget { lanes, coll, collation } = lane;
    let name = coll.name().to_string();
    lanes
        .call(
            &name,
            scope,
            |scope, tx| Waiter { id, scope, tx },
            || server(coll.clone(), collation.clone()),
            |scope| {
                let (coll, collation) = (&coll, collation.clone());
                async move { lone(coll, collation, id, &scope).await }
            },
        )
        .await
}

/// One lookup sent alone: `find_one({_id})`, kept only if `scope`'s tenant owns the document.
async fn lone(
    coll: &Collection<RawDocumentBuf>,
    collation: Option<Collation>,
    id: ObjectId,
    scope: &Scope,
) -> Found {
    let mut fo = FindOneOptions::default();
    fo.collation = collation;
    Ok(coll.find_one(doc! { "_id": id }).with_options(fo).await?.filter(|d| by_id::owned(scope, d)))
}

/// Sends a batch as one `find` and gives each waiter its document, if its tenant owns it.
fn server(coll: Collection<RawDocumentBuf>, collation: Option<Collation>) -> Serve<Waiter> {
    Arc::new(move |batch: Vec<Waiter>| {
        let coll = coll.clone();
        let collation = collation.clone();
        async move {
            let mut ids: Vec<ObjectId> = batch.iter().map(|w| w.id).collect();
            ids.sort_unstable();
            ids.dedup();
            match fetch(&coll, collation.clone(), &ids).await {
                Ok(docs) => {
                    let found: HashMap<ObjectId, RawDocumentBuf> = docs
                        .into_iter()
                        .filter_map(|d| Some((d.get_object_id("_id").ok()?, d)))
                        .collect();
                    for w in batch {
                        let doc = found.get(&w.id).filter(|d| by_id::owned(&w.scope, d)).cloned();
                        let _ = w.tx.send(Ok(doc));
                    }
                }
                // The shared find can fail on a document another caller asked for (a view's
                // pipeline, say): each caller gets what its own lookup gives instead.
                Err(_) => {
                    let each = batch.into_iter().map(|w| {
                        let (coll, collation) = (&coll, collation.clone());
                        async move {
                            let _ = w.tx.send(lone(coll, collation, w.id, &w.scope).await);
                        }
                    });
                    join_all(each).await;
                }
            }
        }
        .boxed()
    })
}

/// One `find` of every `_id` in `ids`, all batches read.
async fn fetch(
    coll: &Collection<RawDocumentBuf>,
    collation: Option<Collation>,
    ids: &[ObjectId],
) -> Result<Vec<RawDocumentBuf>, MongoError> {
    let mut fo = FindOptions::default();
    fo.collation = collation;
    fo.batch_size = Some(ids.len() as u32);
    coll.find(doc! { "_id": { "$in": ids } }).with_options(fo).await?.try_collect().await
}
