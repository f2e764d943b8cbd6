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
    let o = CallOptions::parse(req.doc_or_empty("options", "options")?, options::INDEX)?;
    let keys = req.doc("keys", "indexSpec")?;
    let default = if indexes::needs_default_collation(&t.scope, o.collation_doc.as_ref()) {
        t.default_collation().await?.flatten()
    } else {
        None
    };
    let plan = indexes::plan_create(&t.scope, keys, o.index, o.collation_doc, default.as_ref())?;
    if plan.tenant_build {
        // The index that bounds every tenant's queries comes first: a tenant's own indexes
        // (63 partial ones, say) could otherwise leave no room for it (red-team round 4).
        let all = Document::new();
        let call = Call { sort: None, filter: &all, hint: None, geo_near: None, explicit: false };
        bounds::bound(&t, call).await?;
    }
    // One tenant build at a time per collection of a fence: two at once each passed the twin
    // check before the other's build was listed (round 12). Per collection, so one tenant's
    // queue of builds holds no one else's elsewhere (round 13). (Two processes can still race.)
    let lock = build_lock(&t);
    let _one_at_a_time = lock.lock().await;
    if plan.tenant_build {
        let listed = bounds::fresh_listing(&t).await?;
        let key = plan.spec.get_document("key").map_err(|_| super::error::arg("index key"))?;
        indexes::check_twin(key, &plan.name, &listed, &t.scope.field)?;
    }
    let cmd = doc! { "createIndexes": t.coll.name(), "indexes": [plan.spec] };
    let sent = in_session!(t.session(), t.db.run_command(cmd));
    // The next call plans with the new index (not a listing up to 30 s old).
    bounds::forget(&t);
    match sent {
        Ok(_) => Ok(reply(Bson::String(plan.name))),
        Err(FenceError::Mongo(e)) if plan.tenant_build => Err(withheld(e)),
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
