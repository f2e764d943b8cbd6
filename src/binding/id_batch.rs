//! Concurrent `findOne({_id})` calls on one collection share one `find` (see `lanes`).
//!
//! A lookup by exact `_id` already fetches by `_id` alone and checks the owner here
//! (`scope::by_id`). Queued lookups go out as one `find({_id: {$in: [...]}})`, and each
//! caller gets the document with its `_id` only if its own tenant owns it. Under load one
//! command and one server plan serve many calls instead of one each.

use std::collections::HashMap;
use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, RawDocumentBuf};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::error::Error as MongoError;
use mongodb::options::{Collation, FindOptions};
use mongodb::Collection;
use tokio::sync::oneshot;

use super::error::FenceResult;
use super::lanes::{Joined, Lanes, Serve};
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

/// The document with `_id == id` if `scope`'s tenant owns it; `single` sends a lone lookup.
pub async fn lookup<F>(
    lane: LaneTarget,
    id: ObjectId,
    scope: Scope,
    single: F,
) -> FenceResult<Option<RawDocumentBuf>>
where
    F: std::future::Future<Output = Found>,
{
    let name = lane.coll.name().to_string();
    let (tx, rx) = oneshot::channel();
    match lane.lanes.join(&name, || Waiter { id, scope: scope.clone(), tx }) {
        Joined::Queued => super::lanes::answer(rx).await,
        Joined::Lead => {
            let _turn = lane.lanes.turn(&name, server(lane.coll, lane.collation));
            Ok(single.await?.filter(|d| by_id::owned(&scope, d)))
        }
    }
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
            match fetch(&coll, collation, &ids).await {
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
                Err(e) => {
                    for w in batch {
                        let _ = w.tx.send(Err(e.clone()));
                    }
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
