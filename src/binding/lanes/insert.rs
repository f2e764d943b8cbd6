//! Concurrent `insertOne` calls with one share key share one `insert` (see `lanes`), sent to
//! the key's namespace.
//!
//! Every document is already stamped and checked when it queues. Queued documents go out as
//! one unordered `insert`, so one document's failure (a duplicate `_id`, a validator) is only
//! its caller's: the server reports it by index, and that caller gets the error a lone
//! `insertOne` would have got. Only calls without options and with small documents share a
//! command, so a shared command never fails because of one caller's size or settings.

use std::sync::Arc;

use bson::{RawDocument, RawDocumentBuf};
use futures_util::FutureExt;
use mongodb::error::ErrorKind;
use mongodb::{Client, Collection};
use tokio::sync::oneshot;

use super::{Lanes, Serve};
use crate::binding::error::{indexed_write_error, write_concern_error, FenceError, FenceResult};
use crate::binding::probe::{self, Caller, Tag};
use crate::scope::share::{ShareKey, MAX_SHARED_INSERT_BATCH_BYTES};
use crate::scope::verdict::Share;

/// More queued inserts than this go out as several commands, one after another.
const MAX_DOCS: usize = 1000;

/// One queued insert.
pub struct Waiter {
    doc: RawDocumentBuf,
    /// The caller's tenant ('' under runAsSystem): a shared insert takes each tenant's in turn.
    owner: String,
    /// The caller's probe tag, while monitoring.
    tag: Option<Tag>,
    tx: oneshot::Sender<Result<(), FenceError>>,
}

/// The insert lanes of one fence.
pub fn lanes() -> Arc<Lanes<Waiter>> {
    Arc::new(Lanes::new(
        MAX_DOCS,
        MAX_SHARED_INSERT_BATCH_BYTES,
        |w| w.doc.as_bytes().len(),
        |w| &w.owner,
    ))
}

/// An insert's lane: the lanes, the client, and the key that alone says where it goes.
pub struct LaneTarget {
    pub lanes: Arc<Lanes<Waiter>>,
    pub client: Client,
    pub key: ShareKey,
    /// The caller's tenant ('' under runAsSystem).
    pub owner: String,
}

/// The collection every insert of lane `key` goes to.
fn collection(client: &Client, key: &ShareKey) -> Collection<RawDocumentBuf> {
    client.database(&key.namespace.database).collection(&key.namespace.collection)
}

/// Inserts `doc`: alone when the lane is idle, else in the next shared command.
pub async fn insert(lane: LaneTarget, doc: RawDocumentBuf) -> FenceResult<()> {
    let LaneTarget { lanes, client, key, owner } = lane;
    let tag = probe::current();
    lanes
        .call(
            &key,
            doc,
            |doc, tx| Waiter { doc, owner, tag, tx },
            |key| server(collection(&client, key)),
            |doc| {
                let coll = collection(&client, &key).clone_with_type::<&RawDocument>();
                async move {
                    coll.insert_one(doc.as_ref()).await?;
                    Ok(())
                }
            },
        )
        .await
}

/// Sends a batch as one unordered `insert` and tells each waiter how its document fared.
fn server(coll: Collection<RawDocumentBuf>) -> Serve<Waiter> {
    Arc::new(move |batch: Vec<Waiter>| {
        let coll = coll.clone_with_type::<&RawDocument>();
        let callers = batch
            .iter()
            .map(|w| {
                let id = w.doc.get("_id").ok().flatten()?.to_raw_bson().try_into().ok()?;
                Some(Caller { tag: w.tag.clone()?, share: Share::Document(id) })
            })
            .collect::<Option<Vec<_>>>();
        async move {
            let send = coll.insert_many(batch.iter().map(|w| w.doc.as_ref())).ordered(false);
            let r = probe::within_shared(callers, async move { send.await }).await;
            let e = match r {
                Ok(_) => {
                    for w in batch {
                        let _ = w.tx.send(Ok(()));
                    }
                    return;
                }
                Err(e) => e,
            };
            let ErrorKind::InsertMany(im) = e.kind.as_ref() else {
                for w in batch {
                    let _ = w.tx.send(Err(FenceError::Mongo(e.clone())));
                }
                return;
            };
            let errors = im.write_errors.as_deref().unwrap_or_default();
            for (i, w) in batch.into_iter().enumerate() {
                let outcome = match (errors.iter().find(|x| x.index == i), &im.write_concern_error)
                {
                    (Some(x), _) => Err(indexed_write_error(x)),
                    (None, Some(c)) => Err(write_concern_error(c)),
                    (None, None) => Ok(()),
                };
                let _ = w.tx.send(outcome);
            }
        }
        .boxed()
    })
}
