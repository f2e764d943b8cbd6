//! Where one call runs and under which rules: the namespace and scope `scope::spec` gives the
//! caller, the driver handles for it, and the collection facts the rules read (cached).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bson::{doc, Bson, Document};
use mongodb::options::Collation;
use mongodb::{Client, Collection, Database};

use super::error::FenceResult;
use super::lanes::{id_lookup, insert};
use super::options::CallOptions;
use super::payload::Request;
use super::session::SessionUse;
use super::state::FenceInner;
use crate::scope::facts::{self, Known};
use crate::scope::namespace::Namespace;
use crate::scope::share::{self, IdLookupCall, InsertCall};
use crate::scope::{collation, Principal, Scope};

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
    /// The session the call runs in (`options.session` or `withTransaction`'s), already
    /// admitted for this caller. Metadata lookups (`listIndexes`, collection facts) run outside it.
    session: Option<SessionUse>,
}

impl Target {
    /// Resolves the namespace for the caller (per-tenant database under strategy 'database').
    pub fn resolve(
        inner: Arc<FenceInner>,
        principal: Principal,
        name: &str,
    ) -> FenceResult<Target> {
        let ns = inner.spec.namespace(&principal, name)?;
        let client = inner.client()?;
        let db = client.database(&ns.database);
        let coll = db.collection::<Document>(&ns.collection);
        let scope = inner.spec.scope_on(principal, name);
        Ok(Target { db, coll, ns, scope, inner, sent_hint: Arc::default(), session: None })
    }

    /// The same target, its data commands sent in `session`.
    pub fn in_session(mut self, session: Option<SessionUse>) -> Target {
        self.session = session;
        self
    }

    /// True when the call runs in a session's open transaction.
    pub fn in_transaction(&self) -> bool {
        self.session.as_ref().is_some_and(SessionUse::in_transaction)
    }

    /// The session this call's data commands run in, if any.
    pub fn session(&self) -> Option<SessionUse> {
        self.session.clone()
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
        // In the same session: a join's index build must know the transaction it is for.
        Ok(Target::resolve(self.inner.clone(), self.scope.principal.clone(), name)?
            .in_session(self.session.clone()))
    }

    /// The lane of an exact `_id` lookup sent with `collation`, if `scope::share` lets it share.
    pub fn id_lane(
        &self,
        collation: Option<Collation>,
        call: IdLookupCall,
    ) -> Option<id_lookup::LaneTarget> {
        let doc = collation.as_ref().and_then(|c| bson::to_document(c).ok());
        let key = share::id_lookup(self.inner.id, &self.scope, &self.ns, doc.as_ref(), call)?;
        Some(id_lookup::LaneTarget {
            lanes: self.inner.id_lanes.clone(),
            client: self.coll_client(),
            key,
            collation,
            recorder: self.inner.recorder.clone(),
        })
    }

    /// The lane of a stamped `insertOne`, if `scope::share` lets it share.
    pub fn insert_lane(&self, call: InsertCall) -> Option<insert::LaneTarget> {
        let key = share::insert(self.inner.id, &self.scope, &self.ns, call)?;
        Some(insert::LaneTarget {
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

    /// Parses a method's options; in a transaction its own read and write concern are dropped,
    /// as the driver drops them (the transaction's apply; the Rust driver would refuse them).
    pub fn parse_options(&self, raw: Document, allowed: &[&str]) -> FenceResult<CallOptions> {
        let mut o = CallOptions::parse(raw, allowed)?;
        if self.in_transaction() {
            o.write_concern = None;
            o.read_concern = None;
        }
        Ok(o)
    }

    /// Parses the request's `options` for a method and turns on the collation guard it needs.
    pub async fn options(
        &mut self,
        req: &mut Request,
        allowed: &[&str],
    ) -> FenceResult<CallOptions> {
        let raw = req.doc_or_empty("options", "options")?;
        let mut o = self.parse_options(raw, allowed)?;
        if let Some(pinned) = self.guard(o.collation_doc.as_ref()).await? {
            o.collation = Some(pinned);
        }
        Ok(o)
    }

    /// Looks up the facts `scope::collation::decide` needs and applies its handling: the
    /// regex twin on the scope, or the simple collation returned to pin on the call.
    pub async fn guard(&mut self, explicit: Option<&Document>) -> FenceResult<Option<Collation>> {
        if !collation::needs_facts(&self.scope) {
            return Ok(None);
        }
        let known = self.known().await?;
        self.scope.sharded = known.sharded;
        let handling = collation::decide(&self.scope, self.coll.name(), explicit, known)?;
        self.scope.collation_guard = handling.twin;
        Ok(handling.pin_simple.then(simple_collation))
    }

    /// Learns whether the collection is sharded, for calls that need no other fact (inserts):
    /// only behind a mongos and where `scope::share` says it matters, so a replica set costs
    /// nothing.
    pub async fn learn_sharding(&mut self) -> FenceResult<()> {
        if self.inner.mongos && share::sharding_matters(&self.scope) && !self.scope.sharded {
            self.scope.sharded = self.known().await?.sharded;
        }
        Ok(())
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
        let epoch = self.inner.facts_epoch.load(Ordering::SeqCst);
        let sharded = self.sharded().await?;
        let Some((found, view)) = self.describe().await? else {
            // Not created yet: nothing to leak, and not cached so a later collation is seen.
            return Ok(Known { sharded, ..Known::default() });
        };
        let known = collation::known(found.as_ref(), view, sharded);
        if let Ok(mut m) = self.inner.default_collation.lock() {
            // Checked under the lock `forget_facts` bumps it under: the fence changed a
            // collection while this lookup ran, and what it saw may be stale.
            if self.inner.facts_epoch.load(Ordering::SeqCst) != epoch {
                return Ok(known);
            }
            // Bounded: forgetting costs one listCollections, never safety.
            if m.len() >= MAX_KNOWN_COLLECTIONS {
                m.clear();
            }
            m.insert(key, known);
        }
        Ok(known)
    }

    /// Whether the collection counts as sharded (`scope::facts::sharded`); `config.collections`
    /// is read only behind a mongos.
    async fn sharded(&self) -> FenceResult<bool> {
        if !self.inner.mongos {
            return Ok(false);
        }
        let ns = format!("{}.{}", self.ns.database, self.ns.collection);
        let config = self.db.client().database("config").collection::<Document>("collections");
        let listed = config.find_one(doc! { "_id": ns, "dropped": { "$ne": true } }).await;
        Ok(facts::sharded(true, listed.ok().map(|found| found.is_some())))
    }

    /// Drops what the fence knows of this collection (default collation, view, sharding):
    /// after the fence itself dropped, renamed or created it.
    pub fn forget_facts(&self) {
        let mut m = self.inner.default_collation.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.facts_epoch.fetch_add(1, Ordering::SeqCst);
        m.remove(&self.key());
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

    /// The collection's `listCollections` entry, asked afresh; `None` if it does not exist.
    pub async fn collection_info(&self) -> FenceResult<Option<Document>> {
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
        Ok(match first {
            Some(Bson::Document(info)) => Some(info),
            _ => None,
        })
    }

    /// The collection's default collation and whether it is a view; `None` if it does not exist.
    async fn describe(&self) -> FenceResult<Option<(Option<Document>, bool)>> {
        let Some(info) = self.collection_info().await? else { return Ok(None) };
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

/// Namespaces whose default collation a fence remembers before it starts over.
const MAX_KNOWN_COLLECTIONS: usize = 10_000;

/// `scope::collation::simple()` for the driver.
pub fn simple_collation() -> Collation {
    bson::from_document(collation::simple()).expect("the simple collation always parses")
}
