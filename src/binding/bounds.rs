//! Carries out `scope::bounds`: lists a collection's indexes (cached per fence), builds the
//! tenant index when scope asks for one, and puts the chosen hint on the call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use mongodb::options::Hint;

use super::error::{FenceError, FenceResult};
use super::options::CallOptions;
use super::target::Target;
use crate::scope::bounds::{self, Bound, IndexFact, Query};

/// How long a listing is trusted. An index dropped behind the fence's back shows up sooner,
/// as a failed hint (`forget`); one added behind its back is used once this has passed.
const FRESH: Duration = Duration::from_secs(30);

/// Builds (each idempotent) before a call whose index never shows up as ready is refused.
const BUILD_TRIES: u32 = 5;

/// Namespaces whose indexes a fence remembers before it starts over.
const MAX_KNOWN: usize = 10_000;

/// Sets `o.hint` so the call's plan stays inside the tenant; `filter` is the caller's own.
pub async fn apply(t: &Target, o: &mut CallOptions, filter: &Document) -> FenceResult<()> {
    apply_to(t, o, filter, None).await
}

/// `apply` for a pipeline (`geo_near`: it starts with `$geoNear` with this `key`, `""` for
/// none; `filter` is its `query`).
pub async fn apply_to(
    t: &Target,
    o: &mut CallOptions,
    filter: &Document,
    geo_near: Option<&str>,
) -> FenceResult<()> {
    let hint = o.hint.as_ref().map(|h| match h {
        Hint::Keys(d) => Bson::Document(d.clone()),
        Hint::Name(n) => Bson::String(n.clone()),
        // Hint is non-exhaustive: anything new is refused by scope as naming no index.
        _ => Bson::Null,
    });
    let explicit = o.collation_doc.is_some();
    let q = Call { sort: o.sort.as_ref(), filter, hint: hint.as_ref(), geo_near, explicit };
    if let Some(h) = bound(t, q).await? {
        o.hint = Some(driver_hint(h));
    }
    Ok(())
}

/// The collection's indexes, listed now.
pub async fn fresh_listing(t: &Target) -> FenceResult<Arc<Vec<IndexFact>>> {
    facts(t, true).await
}

/// Makes sure each collection a pipeline joins (`pipeline::joined`) has an index that bounds a
/// tenant's queries: a join's sub-query takes no hint, and on a collection with none it was a
/// collection scan running the caller's conditions on every tenant's documents (round 9).
pub async fn ensure_joined(t: &Target, joined: &[String]) -> FenceResult<()> {
    if !bounds::checks_joins(&t.scope) {
        return Ok(());
    }
    let everything = Document::new();
    for name in joined {
        let mut j = t.sibling(name)?;
        // A view's own pipeline would run unscoped (round 10).
        j.guard(None).await?;
        let call =
            Call { sort: None, filter: &everything, hint: None, geo_near: None, explicit: false };
        bound(&j, call).await?;
    }
    Ok(())
}

/// Makes sure the collection has the index that bounds a tenant's queries before any call of a
/// transaction touches it. A transaction holds the locks of what it touched until it ends, and
/// an index build waits for them while every other call on the collection queues behind the
/// build: had a transaction's insert (round 18) or `_id` lookup or upsert (round 19) come first,
/// the first tenant to need the index would have stalled everyone there for the transaction's
/// lifetime, and the transaction could have done it to itself.
pub async fn ensure_before_transaction_call(t: &Target) -> FenceResult<()> {
    if !t.in_transaction() {
        return Ok(());
    }
    let everything = Document::new();
    let call =
        Call { sort: None, filter: &everything, hint: None, geo_near: None, explicit: false };
    bound(t, call).await.map(|_| ())
}

/// A hint as `scope::bounds` gives it (key pattern or name), for the driver.
pub fn driver_hint(h: Bson) -> Hint {
    match h {
        Bson::String(n) => Hint::Name(n),
        Bson::Document(k) => Hint::Keys(k),
        other => Hint::Name(other.to_string()),
    }
}

/// One call's plan inputs as the binding has them.
pub struct Call<'a> {
    pub sort: Option<&'a Document>,
    pub filter: &'a Document,
    pub hint: Option<&'a Bson>,
    pub geo_near: Option<&'a str>,
    /// The caller passed a `collation`.
    pub explicit: bool,
}

/// The hint one call must carry (a `bulkWrite` statement passes its own parts); `None`: as sent.
pub async fn bound(t: &Target, c: Call<'_>) -> FenceResult<Option<Bson>> {
    if !bounds::applies(&t.scope) {
        return Ok(None);
    }
    let q = Query {
        filter: c.filter,
        geo_near: c.geo_near,
        sort: c.sort,
        hint: c.hint,
        explicit_collation: c.explicit,
    };
    let mut facts = facts(t, false).await?;
    for attempt in 0..BUILD_TRIES {
        match bounds::plan(&t.scope, q, &facts)? {
            Bound::Free => return Ok(None),
            Bound::Hint(k) => {
                t.record_hint(&k);
                return Ok(Some(k));
            }
            Bound::Build(key, options) if t.in_transaction() => {
                facts = build_outside(t, key, options).await?;
            }
            Bound::Build(key, options) => {
                // Another call's build of the same index (or the collection being created by a
                // concurrent insert) can leave it unlisted for a moment: ask again, a bit later.
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
                facts = build(t, key, options).await?;
            }
        }
    }
    // Built, yet not listed as usable: never send the call unbounded.
    Err(FenceError::Scope(bounds::unusable(&t.scope.field, &facts)))
}

/// The collection's indexes, listed at most every `FRESH` (`fresh`: list now); none when it
/// does not exist.
async fn facts(t: &Target, fresh: bool) -> FenceResult<Arc<Vec<IndexFact>>> {
    let key = t.key();
    if !fresh {
        if let Some((at, f)) = t.inner().index_facts.lock().ok().and_then(|m| m.get(&key).cloned())
        {
            if at.elapsed() < FRESH {
                return Ok(f);
            }
        }
    }
    // In-progress builds are listed as `{spec, buildUUID}`: kept, but never hinted until
    // ready (red-team round 4), while their key already counts for twins (round 12).
    let list = doc! { "listIndexes": t.coll.name(), "includeBuildUUIDs": true };
    let listed = match t.db.run_command(list).await {
        Ok(reply) => reply
            .get_document("cursor")
            .ok()
            .and_then(|c| c.get_array("firstBatch").ok())
            .map(|b| {
                b.iter()
                    .filter_map(|s| s.as_document().and_then(IndexFact::from_listing))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
        Err(e) if super::error::server_code(&e) == Some(26) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(remember(t, listed))
}

fn remember(t: &Target, listed: Vec<IndexFact>) -> Arc<Vec<IndexFact>> {
    let listed = Arc::new(listed);
    if let Ok(mut m) = t.inner().index_facts.lock() {
        if m.len() >= MAX_KNOWN {
            m.clear();
        }
        m.insert(t.key(), (Instant::now(), listed.clone()));
    }
    listed
}

/// Drops the cached listing: a hint named an index that is gone, the fence built an index,
/// or a `bulkWrite` (which is not retried) is about to plan.
pub fn forget(t: &Target) {
    if let Ok(mut m) = t.inner().index_facts.lock() {
        m.remove(&t.key());
    }
}

/// Builds the index scope asked for and lists the indexes afresh (a concurrent call may have
/// cached a listing from before the build). Building is idempotent: the same key, name and
/// options is a no-op, and two calls building it at once both wait for the one build. If an
/// index with the same key and an equivalent collation exists under another name (85), the
/// listing learns it under the asked-for name too, so `plan` finds it.
async fn build(t: &Target, key: Document, options: Document) -> FenceResult<Arc<Vec<IndexFact>>> {
    let mut spec = doc! { "key": key };
    spec.extend(options);
    let wanted = spec.get_str("name").unwrap_or_default().to_string();
    let sent = t.db.run_command(doc! { "createIndexes": t.coll.name(), "indexes": [spec] }).await;
    let Err(e) = sent else { return facts(t, true).await };
    let existing = (super::error::server_code(&e) == Some(85))
        .then(|| super::error::server_message(&e))
        .flatten()
        .and_then(|m| m.split("different name: ").nth(1))
        .map(|n| n.trim().to_string());
    let Some(existing) = existing else { return Err(e.into()) };
    let listed = facts(t, true).await?;
    let Some(same) = listed.iter().find(|i| i.name == existing) else { return Err(e.into()) };
    let mut all = (*listed).clone();
    all.push(IndexFact { name: wanted, ..same.clone() });
    Ok(remember(t, all))
}

/// Builds the index a call in a transaction needs, outside the transaction. When the build is
/// done before the transaction has sent anything, its snapshot (taken by its first command) sees
/// the index, and the call goes on. Otherwise the call fails with a transient error, for the
/// transaction to start over: its snapshot predates the index, and it may hold the collection's
/// lock (it wrote there), which the build waits for, so the build is awaited only a moment.
async fn build_outside(
    t: &Target,
    key: Document,
    options: Document,
) -> FenceResult<Arc<Vec<IndexFact>>> {
    let untouched = t.session().is_some_and(|s| s.untouched());
    let outside = t.clone().in_session(None);
    let building = tokio::spawn(async move { build(&outside, key, options).await });
    // A transaction that has sent something holds its locks until it ends: waiting longer
    // than a build on an unlocked collection takes gains nothing.
    let wait = if untouched { 2_000 } else { 100 };
    let built = tokio::time::timeout(Duration::from_millis(wait), building).await;
    let still_untouched = t.session().is_some_and(|s| s.untouched());
    match built {
        Ok(Ok(Ok(facts))) if untouched && still_untouched => Ok(facts),
        Ok(Ok(Err(e))) => Err(e),
        _ => {
            // Its snapshot cannot see the index: the transaction must start over. As the
            // server does after an error in a transaction, nothing more of it is sent and its
            // commit fails as transient (an app that caught this error would otherwise commit
            // the rest).
            if let Some(u) = t.session() {
                u.doom();
            }
            Err(super::session::index_built_outside(t.coll.name()))
        }
    }
}

/// Whether the hint this call was sent with no longer holds on a fresh listing (which the
/// cache keeps): only then was the server's stale-hint error about the fence's hint.
pub async fn hint_went_stale(t: &Target) -> FenceResult<bool> {
    let Some(sent) = t.sent_hint() else { return Ok(false) };
    let listed = facts(t, true).await?;
    Ok(!bounds::hint_holds(&sent, &listed))
}

/// True for the server's answer to a hint the fence sent that no longer fits the indexes
/// (`scope::bounds::stale_hint` says which answers those are).
pub fn missing_hint(e: &FenceError) -> bool {
    let FenceError::Mongo(m) = e else { return false };
    match (super::error::server_code(m), super::error::server_message(m)) {
        (Some(code), Some(msg)) => bounds::stale_hint(code, msg),
        _ => false,
    }
}
