//! Scoped collection methods: resolve the target collection and scope for the
//! caller, then hand off to the read / write / bulk executors.

use std::sync::Arc;

use bson::{doc, Bson, Document};
use mongodb::options::Collation;
use mongodb::{Client, Collection, Database};

use super::error::{arg, FenceResult};
use super::fence::FenceInner;
use super::id_batch::LaneTarget;
use super::insert_batch;
use super::options::CallOptions;
use super::payload::{RawRequest, Request};
use super::{bounds, bulk, indexes, reads, writes};
use crate::scope::namespace::{self, Namespace};
use crate::scope::share::{self, IdLookupCall, InsertCall};
use crate::scope::{collation, filter, forbidden, Principal, Scope, Strategy};

/// The collection methods that go through `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    InsertOne,
    InsertMany,
    FindOne,
    CountDocuments,
    EstimatedDocumentCount,
    Distinct,
    UpdateOne,
    UpdateMany,
    ReplaceOne,
    DeleteOne,
    DeleteMany,
    FindOneAndUpdate,
    FindOneAndReplace,
    FindOneAndDelete,
    BulkWrite,
    CreateIndex,
}

impl Op {
    /// The method for a JS method name.
    pub fn parse(name: &str) -> FenceResult<Op> {
        Ok(match name {
            "insertOne" => Op::InsertOne,
            "insertMany" => Op::InsertMany,
            "findOne" => Op::FindOne,
            "countDocuments" => Op::CountDocuments,
            "estimatedDocumentCount" => Op::EstimatedDocumentCount,
            "distinct" => Op::Distinct,
            "updateOne" => Op::UpdateOne,
            "updateMany" => Op::UpdateMany,
            "replaceOne" => Op::ReplaceOne,
            "deleteOne" => Op::DeleteOne,
            "deleteMany" => Op::DeleteMany,
            "findOneAndUpdate" => Op::FindOneAndUpdate,
            "findOneAndReplace" => Op::FindOneAndReplace,
            "findOneAndDelete" => Op::FindOneAndDelete,
            "bulkWrite" => Op::BulkWrite,
            "createIndex" => Op::CreateIndex,
            other => return Err(arg(format!("unknown operation {other}"))),
        })
    }
}

/// Where one call runs and under which rules.
#[derive(Clone)]
pub struct Target {
    pub db: Database,
    pub coll: Collection<Document>,
    /// The namespace `db` and `coll` name, as `scope::namespace` resolved it.
    pub ns: Namespace,
    pub scope: Scope,
    inner: Arc<FenceInner>,
    /// The hint `bounds::bound` last gave this call (shared by the call's clones), so that a
    /// stale-hint error can be checked against a fresh listing before the call is retried.
    sent_hint: Arc<std::sync::Mutex<Option<Bson>>>,
}

impl Target {
    /// Resolves the namespace for the caller (per-tenant database under strategy 'database').
    pub fn resolve(
        inner: Arc<FenceInner>,
        principal: Principal,
        name: &str,
    ) -> FenceResult<Target> {
        let ns = namespace::resolve(inner.strategy, &inner.database, &principal, name)?;
        let client = inner.client()?;
        let db = client.database(&ns.database);
        let coll = db.collection::<Document>(&ns.collection);
        let scope = Scope {
            field: inner.field.clone(),
            strategy: inner.strategy,
            principal,
            collation_guard: false,
            default_ids: inner.plain_ids,
        };
        Ok(Target { db, coll, ns, scope, inner, sent_hint: Arc::default() })
    }

    /// Records the hint this call is sent with.
    pub fn record_hint(&self, hint: &Bson) {
        if let Ok(mut h) = self.sent_hint.lock() {
            *h = Some(hint.clone());
        }
    }

    /// The hint this call was last sent with, if any.
    pub fn sent_hint(&self) -> Option<Bson> {
        self.sent_hint.lock().ok().and_then(|h| h.clone())
    }

    /// Another collection of the same database, for the same caller (a join's).
    pub fn sibling(&self, name: &str) -> FenceResult<Target> {
        Target::resolve(self.inner.clone(), self.scope.principal.clone(), name)
    }

    /// The caller's write filter with the tenant rule applied.
    pub fn scoped_write_filter(&self, user: Document) -> FenceResult<Document> {
        Ok(filter::scope_write_filter(&self.scope, user)?)
    }

    /// The lane of an exact `_id` lookup sent with `collation`, if `scope::share` lets it share.
    pub fn id_lane(&self, collation: Option<Collation>, call: IdLookupCall) -> Option<LaneTarget> {
        let doc = collation.as_ref().and_then(|c| bson::to_document(c).ok());
        let key = share::id_lookup(self.inner.id, &self.scope, &self.ns, doc.as_ref(), call)?;
        Some(LaneTarget {
            lanes: self.inner.id_lanes.clone(),
            client: self.coll_client(),
            key,
            collation,
            recorder: self.inner.recorder.clone(),
        })
    }

    /// The lane of a stamped `insertOne`, if `scope::share` lets it share.
    pub fn insert_lane(&self, call: InsertCall) -> Option<insert_batch::LaneTarget> {
        let key = share::insert(self.inner.id, &self.scope, &self.ns, call)?;
        Some(insert_batch::LaneTarget {
            lanes: self.inner.insert_lanes.clone(),
            client: self.coll_client(),
            key,
            owner: share::queue_owner(&self.scope),
        })
    }

    /// The client this target's handles came from.
    fn coll_client(&self) -> Client {
        self.db.client().clone()
    }

    /// True when tenant ids follow the default ASCII rule (collation checks rely on it).
    pub fn plain_ids(&self) -> bool {
        self.inner.plain_ids
    }

    /// Parses the request's `options` for a method and turns on the collation guard it needs.
    pub async fn options(
        &mut self,
        req: &mut Request,
        allowed: &[&str],
    ) -> FenceResult<CallOptions> {
        let raw = req.doc_or_empty("options", "options")?;
        let mut o = CallOptions::parse(raw, allowed)?;
        if let Some(pinned) = self.guard(o.collation_doc.as_ref()).await? {
            o.collation = Some(pinned);
        }
        Ok(o)
    }

    /// Makes the tenant match collation-proof for this call. With an explicit
    /// non-simple collation, or a collection whose default collation is non-simple,
    /// the match gets its regex twin. Otherwise the call is pinned to the simple
    /// collation (returned here), so a collection re-created with a default
    /// collation behind the fence's back still cannot equate tenant ids.
    pub async fn guard(&mut self, explicit: Option<&Document>) -> FenceResult<Option<Collation>> {
        if self.scope.strategy == Strategy::Database || self.scope.principal == Principal::System {
            return Ok(None);
        }
        let known = self.known().await?;
        namespace::check_view(
            &self.scope.principal,
            self.scope.strategy,
            self.coll.name(),
            known.view,
        )?;
        if let Some(c) = explicit {
            self.scope.collation_guard = !collation::is_simple(c);
            return Ok(None);
        }
        self.scope.collation_guard = known.non_simple;
        Ok(if self.scope.collation_guard { None } else { Some(simple_collation()) })
    }

    /// Looks up (once per collection) whether the collection has a non-simple default collation
    /// and whether it is a view. Keyed by the full namespace (a fence owns its cache). A stale
    /// collation is safe either way: "simple" pins the simple collation on every call, so a
    /// default collation added later is never used; "non-simple" adds the collation-proof regex
    /// twin, which a simple collection does not need but does not mind. A collection replaced
    /// by a view outside the fence is seen as one when the entry is dropped (never on its own).
    async fn known(&self) -> FenceResult<Known> {
        let key = self.key();
        if let Some(v) = self.inner.default_collation.lock().ok().and_then(|m| m.get(&key).copied())
        {
            return Ok(v);
        }
        let Some((found, view)) = self.describe().await? else {
            // Not created yet: nothing to leak, and not cached so a later collation is seen.
            return Ok(Known { non_simple: false, view: false });
        };
        let known = Known { non_simple: found.is_some_and(|c| !collation::is_simple(&c)), view };
        if let Ok(mut m) = self.inner.default_collation.lock() {
            // Bounded: forgetting costs one listCollections, never safety.
            if m.len() >= MAX_KNOWN_COLLECTIONS {
                m.clear();
            }
            m.insert(key, known);
        }
        Ok(known)
    }

    /// (database, collection): how the fence's per-collection caches are keyed.
    pub fn key(&self) -> (String, String) {
        (self.db.name().to_string(), self.coll.name().to_string())
    }

    /// The fence this target belongs to.
    pub fn inner(&self) -> &FenceInner {
        &self.inner
    }

    /// The collection's default collation: `None` if the collection does not exist,
    /// `Some(None)` if it has none.
    pub async fn default_collation(&self) -> FenceResult<Option<Option<Document>>> {
        Ok(self.describe().await?.map(|(c, _)| c))
    }

    /// The collection's default collation and whether it is a view; `None` if it does not exist.
    async fn describe(&self) -> FenceResult<Option<(Option<Document>, bool)>> {
        let mut reply = self
            .db
            .run_command(doc! {
                "listCollections": 1,
                "filter": { "name": self.coll.name() },
                "nameOnly": false,
            })
            .await?;
        let first = reply
            .get_document_mut("cursor")
            .ok()
            .and_then(|c| c.get_array_mut("firstBatch").ok())
            .and_then(|b| b.pop());
        let Some(Bson::Document(info)) = first else { return Ok(None) };
        let view = info.get_str("type") == Ok("view");
        Ok(Some((
            info.get_document("options")
                .ok()
                .and_then(|o| o.get_document("collation").ok())
                .cloned(),
            view,
        )))
    }
}

/// What a fence remembers of one namespace (`Target::known`).
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Its default collation is not the simple one.
    pub non_simple: bool,
    /// It is a view.
    pub view: bool,
}

/// Namespaces whose default collation a fence remembers before it starts over.
const MAX_KNOWN_COLLECTIONS: usize = 10_000;

/// `{locale: 'simple'}`: binary comparison, the only collation that never equates two ids.
pub fn simple_collation() -> Collation {
    bson::from_document(doc! { "locale": "simple" }).expect("the simple collation always parses")
}

/// Runs one non-cursor method and returns the BSON reply.
pub async fn execute(
    inner: Arc<FenceInner>,
    principal: Principal,
    collection: String,
    op: Op,
    bytes: Vec<u8>,
) -> FenceResult<Vec<u8>> {
    let target = Target::resolve(inner, principal, &collection)?;
    match run(target.clone(), op, &bytes).await {
        // An index the fence hinted was dropped behind its back: list again and retry once.
        // The server refuses such a hint while planning, before it writes anything; bulkWrite
        // may have sent earlier statements, so it is not retried. The server's message can end
        // with a value the caller chose (`$convert`'s "Unknown type name: ..."), so the retry
        // happens only when a fresh listing shows the hint sent no longer holds (round 9: a
        // partly applied updateMany ran twice).
        Err(e) if bounds::missing_hint(&e) => {
            if op == Op::BulkWrite {
                bounds::forget(&target);
                return Err(e);
            }
            if !bounds::hint_went_stale(&target).await? {
                return Err(e);
            }
            run(target, op, &bytes).await
        }
        other => other,
    }
}

async fn run(target: Target, op: Op, bytes: &[u8]) -> FenceResult<Vec<u8>> {
    // Inserts carry whole documents: they stay bytes (stamped by copying), the rest is parsed.
    let field = target.scope.field.clone();
    let raw = || RawRequest::decode(bytes, Some(&field));
    let principal = target.scope.principal.clone();
    let req = || -> FenceResult<Request> {
        let r = Request::decode(bytes, Some(&field))?;
        forbidden::check_request(&principal, &r.0)?;
        Ok(r)
    };
    match op {
        Op::InsertOne => writes::insert_one(target, raw()?).await,
        Op::InsertMany => writes::insert_many(target, raw()?).await,
        Op::FindOne => reads::find_one(target, req()?).await,
        Op::CountDocuments => reads::count_documents(target, req()?).await,
        Op::EstimatedDocumentCount => reads::estimated_document_count(target, req()?).await,
        Op::Distinct => reads::distinct(target, req()?).await,
        Op::UpdateOne => writes::update(target, req()?, false).await,
        Op::UpdateMany => writes::update(target, req()?, true).await,
        Op::ReplaceOne => writes::replace_one(target, req()?).await,
        Op::DeleteOne => writes::delete(target, req()?, false).await,
        Op::DeleteMany => writes::delete(target, req()?, true).await,
        Op::FindOneAndUpdate => writes::find_one_and_update(target, req()?).await,
        Op::FindOneAndReplace => writes::find_one_and_replace(target, req()?).await,
        Op::FindOneAndDelete => writes::find_one_and_delete(target, req()?).await,
        Op::BulkWrite => bulk::bulk_write(target, req()?).await,
        Op::CreateIndex => indexes::create_index(target, req()?).await,
    }
}
