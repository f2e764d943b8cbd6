//! Concurrent `findOne({_id})` calls on one collection share one `find`.
//!
//! A lookup by exact `_id` already fetches by `_id` alone and checks the owner here
//! (`scope::by_id`). While one such lookup is on the wire, later ones on the same collection
//! queue; when it returns, the queue goes out as one `find({_id: {$in: [...]}})` and each
//! caller gets the document with its `_id` only if its own tenant owns it. A lone call is sent
//! at once, exactly as before; under load, one command and one server plan serve many calls
//! instead of one each. A queued call is never added to a command already sent, so a read
//! issued after a write finished still sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bson::oid::ObjectId;
use bson::{doc, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::error::Error as MongoError;
use mongodb::options::{Collation, FindOptions};
use mongodb::Collection;
use tokio::sync::oneshot;

use super::error::{FenceError, FenceResult};
use crate::scope::{by_id, Scope, ScopeError};

/// More `_id`s than this in the queue go out as several commands, one after another.
const MAX_IDS: usize = 1000;

type Found = Result<Option<RawDocumentBuf>, MongoError>;

struct Waiter {
    id: ObjectId,
    scope: Scope,
    tx: oneshot::Sender<Found>,
}

#[derive(Default)]
struct Lane {
    /// A lookup or a batch of this collection is on the wire.
    busy: bool,
    waiting: Vec<Waiter>,
}

/// The lanes of one fence, by collection name.
#[derive(Default)]
pub struct IdLanes(Mutex<HashMap<String, Lane>>);

impl IdLanes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Lane>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The collection and call settings every lookup of a lane shares.
#[derive(Clone)]
pub struct LaneTarget {
    pub lanes: Arc<IdLanes>,
    pub name: String,
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
    F: std::future::Future<Output = Result<Option<RawDocumentBuf>, MongoError>>,
{
    let queued = {
        let mut lanes = lane.lanes.lock();
        let l = lanes.entry(lane.name.clone()).or_default();
        if l.busy {
            let (tx, rx) = oneshot::channel();
            l.waiting.push(Waiter { id, scope: scope.clone(), tx });
            Some(rx)
        } else {
            l.busy = true;
            None
        }
    };
    match queued {
        Some(rx) => match rx.await {
            Ok(found) => Ok(found?),
            Err(_) => Err(FenceError::Scope(ScopeError::argument(
                "the operation was cancelled: the tenantfence runtime is shutting down",
            ))),
        },
        None => {
            // Hands the lane on however this ends, even if the task is dropped mid-lookup.
            let _turn = Turn(Some(lane));
            let doc = single.await?;
            Ok(doc.filter(|d| by_id::owned(&scope, d)))
        }
    }
}

/// The right to send the lane's next command; dropping it sends the queue or frees the lane.
struct Turn(Option<LaneTarget>);

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(lane) = self.0.take() else { return };
        let batch = {
            let mut lanes = lane.lanes.lock();
            let Some(l) = lanes.get_mut(&lane.name) else { return };
            if l.waiting.is_empty() {
                lanes.remove(&lane.name);
                return;
            }
            let n = l.waiting.len().min(MAX_IDS);
            l.waiting.drain(..n).collect::<Vec<_>>()
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(serve(lane, batch));
            }
            // No runtime (it is shutting down): dropped senders reject their callers.
            Err(_) => {
                drop(batch);
                lane.lanes.lock().remove(&lane.name);
            }
        }
    }
}

/// Sends one batch and answers each waiter, then hands the lane on.
async fn serve(lane: LaneTarget, batch: Vec<Waiter>) {
    let turn = Turn(Some(lane.clone()));
    let mut ids: Vec<ObjectId> = batch.iter().map(|w| w.id).collect();
    ids.sort_unstable();
    ids.dedup();
    match fetch(&lane, &ids).await {
        Ok(docs) => {
            let found: HashMap<ObjectId, RawDocumentBuf> =
                docs.into_iter().filter_map(|d| Some((d.get_object_id("_id").ok()?, d))).collect();
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
    drop(turn);
}

/// One `find` of every `_id` in `ids`, all batches read.
async fn fetch(lane: &LaneTarget, ids: &[ObjectId]) -> Result<Vec<RawDocumentBuf>, MongoError> {
    let mut fo = FindOptions::default();
    fo.collation = lane.collation.clone();
    fo.batch_size = Some(ids.len() as u32);
    let cursor = lane.coll.find(doc! { "_id": { "$in": ids } }).with_options(fo).await?;
    cursor.try_collect().await
}
