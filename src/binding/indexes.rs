//! `createIndex`: `scope::indexes::plan_create` decides what is built and how; here the
//! collection's default collation is looked up, the command sent under the collection's build
//! lock, and a tenant build's server message replaced as the plan says.

use bson::{doc, Bson, Document};

use super::bounds::{self, Call};
use super::error::{mongo_body, FenceError, FenceResult};
use super::options::{self, CallOptions};
use super::payload::{reply, Request};
use super::session::in_session;
use super::target::Target;
use crate::scope::bounds::IndexFact;
use crate::scope::{indexes, withhold};

/// A server error with its message withheld (`withhold::index_build`).
fn withheld(e: mongodb::error::Error) -> FenceError {
    match mongo_body(&e) {
        ("MONGO_SERVER", mut body) => {
            let code = body["code"].as_i64().unwrap_or_default() as i32;
            body["message"] = serde_json::json!(withhold::index_build(code));
            if let Some(fields) = body.as_object_mut() {
                fields.remove("writeErrors");
            }
            FenceError::Server(body)
        }
        _ => FenceError::Mongo(e),
    }
}

/// `createIndex(spec, options)`.
pub async fn create_index(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let allowed: Vec<&str> =
        options::INDEX.iter().chain(options::CREATE_INDEX_COMMAND).copied().collect();
    let mut o = CallOptions::parse(req.doc_or_empty("options", "options")?, &allowed)?;
    let keys = req.doc("keys", "indexSpec")?;
    // The command's own options, as the driver sends them beside the index.
    let mut extra = Document::new();
    // The driver sends no comment with createIndexes: taken and ignored alike.
    o.comment = None;
    if let Some(q) = o.index.remove("commitQuorum") {
        extra.insert("commitQuorum", q);
    }
    if let Some(ms) = o.max_time.take() {
        extra.insert("maxTimeMS", ms.as_millis() as i64);
    }
    if let (Some(w), false) = (o.write_concern.take(), t.in_transaction()) {
        let w = bson::to_bson(&w)
            .map_err(|e| super::error::arg(format!("options.writeConcern: {e}")))?;
        extra.insert("writeConcern", w);
    }
    let plan = plan_one(&t, keys, o).await?;
    let mut names = build(&t, vec![plan], extra).await?;
    Ok(reply(Bson::String(names.remove(0))))
}

/// `createIndexes(descriptions, options)`: every index planned (one refusal and none is
/// built), then one command, as the driver sends it; the reply is the names.
pub async fn create_indexes(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut top = req.doc_or_empty("options", "options")?;
    // The driver drops these for createIndexes (it sets maxTimeMS undefined, sends no read
    // concern, and retryWrites is unused): taken and ignored alike.
    for k in ["maxTimeMS", "readConcern", "readPreference", "retryWrites"] {
        top.remove(k);
    }
    if let Some(k) = top.keys().find(|k| options::INDEX.contains(&k.as_str())) {
        return Err(super::error::arg(format!(
            "options.{k} is not supported beside createIndexes' list: it is an option of one index, so put it in that index's description (the driver ignores it here, so it would be lost)"
        )));
    }
    let command = CallOptions::parse(top, &["comment", "commitQuorum", "writeConcern"])?;
    // The driver sends no comment with createIndexes: taken and ignored alike.
    let mut extra = Document::new();
    if let Some(q) = command.index.get("commitQuorum") {
        extra.insert("commitQuorum", q.clone());
    }
    if let (Some(w), false) = (&command.write_concern, t.in_transaction()) {
        let w = bson::to_bson(w)
            .map_err(|e| super::error::arg(format!("options.writeConcern: {e}")))?;
        extra.insert("writeConcern", w);
    }
    let mut plans = Vec::new();
    for (i, mut d) in req.docs("indexes", "indexSpecs")?.into_iter().enumerate() {
        let keys = match d.remove("key") {
            Some(Bson::Document(k)) => k,
            _ => return Err(super::error::arg(format!("indexSpecs[{i}].key must be an object"))),
        };
        let o = CallOptions::parse(d, options::INDEX)?;
        plans.push(plan_one(&t, keys, o).await?);
    }
    if plans.is_empty() {
        return Err(super::error::arg("indexSpecs must hold at least one index"));
    }
    let names = build(&t, plans, extra).await?;
    Ok(reply(Bson::Array(names.into_iter().map(Bson::String).collect())))
}

/// Plans one index (`scope::indexes::plan_create`), with the collection's default collation
/// when the plan needs it.
async fn plan_one(t: &Target, keys: Document, o: CallOptions) -> FenceResult<indexes::IndexPlan> {
    let default = if indexes::needs_default_collation(&t.scope, o.collation_doc.as_ref()) {
        t.default_collation().await?.flatten()
    } else {
        None
    };
    Ok(indexes::plan_create(&t.scope, keys, o.index, o.collation_doc, default.as_ref())?)
}

/// Sends one `createIndexes` for `plans` (with `extra` command fields) and returns their names.
async fn build(
    t: &Target,
    plans: Vec<indexes::IndexPlan>,
    extra: Document,
) -> FenceResult<Vec<String>> {
    let tenant_build = plans.iter().any(|p| p.tenant_build);
    if tenant_build {
        // The index that bounds every tenant's queries comes first: a tenant's own indexes
        // (63 partial ones, say) could otherwise leave no room for it (red-team round 4).
        let all = Document::new();
        let call = Call { sort: None, filter: &all, hint: None, geo_near: None, explicit: false };
        bounds::bound(t, call).await?;
    }
    // One tenant build at a time per collection of a fence: two at once each passed the twin
    // check before the other's build was listed (round 12). Per collection, so one tenant's
    // queue of builds holds no one else's elsewhere (round 13). (Two processes can still race.)
    let lock = build_lock(t);
    let _one_at_a_time = lock.lock().await;
    if tenant_build {
        let listed = bounds::fresh_listing(t).await?;
        // Earlier indexes of the same command count as listed: two with one key would make
        // the hint by that key ambiguous as surely as one already built.
        let mut known: Vec<IndexFact> = listed.iter().cloned().collect();
        for plan in &plans {
            let key = plan.spec.get_document("key").map_err(|_| super::error::arg("index key"))?;
            indexes::check_twin(key, &plan.name, &known, &t.scope.field)?;
            known.extend(IndexFact::from_spec(&plan.spec));
        }
    }
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let specs: Vec<Bson> = plans.into_iter().map(|p| Bson::Document(p.spec)).collect();
    let mut cmd = doc! { "createIndexes": t.coll.name(), "indexes": specs };
    cmd.extend(extra);
    let sent = in_session!(t.session(), t.db.run_command(cmd));
    // The next call plans with the new index (not a listing up to 30 s old).
    bounds::forget(t);
    match sent {
        Ok(_) => Ok(names),
        Err(FenceError::Mongo(e)) if tenant_build => Err(withheld(e)),
        Err(e) => Err(e),
    }
}

/// The lock of one collection's tenant index builds (the map is bounded: forgetting a lock
/// only lets two builds of one collection overlap once).
fn build_lock(t: &Target) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    const MAX_KNOWN: usize = 10_000;
    let mut m = t.inner().index_builds.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= MAX_KNOWN {
        m.clear();
    }
    m.entry(t.key()).or_default().clone()
}
