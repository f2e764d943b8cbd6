//! Concurrent `findOne({_id})` calls with one share key share one `find` (see `lanes`).
//!
//! A lookup by exact `_id` already fetches by `_id` alone and checks the owner here
//! (`scope::by_id`). Queued lookups go out as one `find({_id: {$in: [...]}})` to the key's
//! namespace, and each caller gets the document with its `_id` only if its own tenant owns
//! it; if that `find` fails, each queued lookup is sent alone, so an error is only ever the
//! caller's own. Under load one command and one server plan serve many calls instead of one each.

use std::collections::HashMap;
use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, Bson, RawDocumentBuf};
use futures_util::future::join_all;
use futures_util::{FutureExt, TryStreamExt};
use mongodb::error::Error as MongoError;
use mongodb::options::{Collation, FindOneOptions, FindOptions};
use mongodb::{Client, Collection};
use tokio::sync::oneshot;

use super::{Lanes, Serve};
use crate::binding::error::FenceResult;
use crate::binding::probe::{self, Caller, Recorder, Tag};
use crate::scope::share::ShareKey;
use crate::scope::verdict::Share;
use crate::scope::{by_id, Scope};

/// More queued lookups than this go out as several commands, one after another.
const MAX_IDS: usize = 1000;

type Found = Result<Option<RawDocumentBuf>, MongoError>;

/// One queued lookup.
pub struct Waiter {
    id: ObjectId,
    scope: Scope,
    /// The caller's probe tag, while monitoring.
    tag: Option<Tag>,
    tx: oneshot::Sender<Found>,
}

/// The `_id` lookup lanes of one fence.
pub fn lanes() -> Arc<Lanes<Waiter>> {
    // One tenant per lane (scope::share), so one owner.
    Arc::new(Lanes::new(MAX_IDS, MAX_IDS, |_| 1, |_| ""))
}

/// A lookup's lane: the lanes, the client, and the key that alone says where the find goes.
pub struct LaneTarget {
    pub lanes: Arc<Lanes<Waiter>>,
    pub client: Client,
    pub key: ShareKey,
    /// The collation `key` names, as the driver takes it.
    pub collation: Option<Collation>,
    pub recorder: Option<Arc<Recorder>>,
}

/// Where and how every lookup of lane `key` is sent.
#[derive(Clone)]
struct Sender {
    coll: Collection<RawDocumentBuf>,
    collation: Option<Collation>,
    recorder: Option<Arc<Recorder>>,
}

impl Sender {
    /// Where lane `key`'s lookups go: its namespace, with its collation.
    fn new(
        client: &Client,
        key: &ShareKey,
        collation: Option<Collation>,
        recorder: Option<Arc<Recorder>>,
    ) -> Sender {
        let ns = &key.namespace;
        Sender {
            coll: client.database(&ns.database).collection(&ns.collection),
            collation,
            recorder,
        }
    }

    /// Hands `doc` to the caller if its tenant owns it (and lets the probe check that).
    fn answer(
        &self,
        scope: &Scope,
        tag: Option<&Tag>,
        doc: Option<&RawDocumentBuf>,
    ) -> Option<RawDocumentBuf> {
        let doc = doc.filter(|d| by_id::owned(scope, d))?;
        if let (Some(r), Some(t)) = (&self.recorder, tag) {
            r.delivered(t, self.coll.namespace().db.as_str(), self.coll.name(), doc);
        }
        Some(doc.clone())
    }

    /// One lookup sent alone: `find_one({_id})`, kept only if `scope`'s tenant owns it.
    async fn lone(&self, id: ObjectId, scope: &Scope, tag: Option<&Tag>) -> Found {
        let mut fo = FindOneOptions::default();
        fo.collation = self.collation.clone();
        let doc = self.coll.find_one(doc! { "_id": id }).with_options(fo).await?;
        Ok(self.answer(scope, tag, doc.as_ref()))
    }

    /// One `find` of every `_id` in `ids`, all batches read.
    async fn fetch(&self, ids: &[ObjectId]) -> Result<Vec<RawDocumentBuf>, MongoError> {
        let mut fo = FindOptions::default();
        fo.collation = self.collation.clone();
        // One more than can match, so the first batch shows the cursor exhausted and no
        // empty getMore follows.
        fo.batch_size = Some(ids.len() as u32 + 1);
        self.coll.find(doc! { "_id": { "$in": ids } }).with_options(fo).await?.try_collect().await
    }
}

/// The document with `_id == id` if `scope`'s tenant owns it.
pub async fn lookup(
    lane: LaneTarget,
    id: ObjectId,
    scope: Scope,
) -> FenceResult<Option<RawDocumentBuf>> {
    let LaneTarget { lanes, client, key, collation, recorder } = lane;
    let tag = probe::current();
    // Built from the key: every lookup of the lane goes to exactly this place.
    let sender = Sender::new(&client, &key, collation, recorder);
    lanes
        .call(
            &key,
            (scope, tag),
            |(scope, tag), tx| Waiter { id, scope, tag, tx },
            |_| server(sender.clone()),
            |(scope, tag)| {
                let sender = &sender;
                async move { sender.lone(id, &scope, tag.as_ref()).await }
            },
        )
        .await
}

/// Sends a batch as one `find` and gives each waiter its document, if its tenant owns it.
fn server(sender: Sender) -> Serve<Waiter> {
    Arc::new(move |batch: Vec<Waiter>| {
        let sender = sender.clone();
        let mut ids: Vec<ObjectId> = batch.iter().map(|w| w.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let callers = batch
            .iter()
            .map(|w| Some(Caller { tag: w.tag.clone()?, share: Share::Id(Bson::ObjectId(w.id)) }))
            .collect::<Option<Vec<_>>>();
        async move {
            let fetched = probe::within_shared(callers, sender.fetch(&ids)).await;
            let mut alone = Vec::new();
            match fetched {
                Ok(docs) => {
                    // `_id` is unique in a collection, but not in a view: an `_id` that came back
                    // twice is looked up alone, so its caller gets what a lone lookup gives.
                    let mut found: HashMap<ObjectId, Option<RawDocumentBuf>> = HashMap::new();
                    for d in docs {
                        let Ok(id) = d.get_object_id("_id") else { continue };
                        found.entry(id).and_modify(|seen| *seen = None).or_insert(Some(d));
                    }
                    for w in batch {
                        match found.get(&w.id) {
                            Some(None) => alone.push(w),
                            hit => {
                                let doc = hit.and_then(Option::as_ref);
                                let doc = sender.answer(&w.scope, w.tag.as_ref(), doc);
                                let _ = w.tx.send(Ok(doc));
                            }
                        }
                    }
                }
                // The shared find can fail on a document another caller asked for (a view's
                // pipeline, say): each caller gets what its own lookup gives instead.
                Err(_) => alone = batch,
            }
            let each = alone.into_iter().map(|w| {
                let sender = &sender;
                let tag = w.tag.clone();
                probe::within(tag, async move {
                    let _ = w.tx.send(sender.lone(w.id, &w.scope, w.tag.as_ref()).await);
                })
            });
            join_all(each).await;
        }
        .boxed()
    })
}
