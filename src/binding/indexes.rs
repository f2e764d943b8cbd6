//! `createIndex`: what may be built is `scope::indexes`; here the collation facts are looked
//! up, the command sent, and a failed build's server message (which may quote another
//! tenant's document) withheld.

use bson::{doc, Bson, Document};
use serde_json::json;

use super::bounds::{self, Call};
use super::collection::Target;
use super::error::{arg, mongo_body, FenceError, FenceResult};
use super::options::{self, CallOptions};
use super::payload::{reply, Request};
use crate::scope::{collation, indexes, Principal, ScopeError};

/// The driver's default index name: `a_1_b_-1`.
fn index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| {
            let v = match v {
                Bson::String(s) => s.clone(),
                Bson::Int32(n) => n.to_string(),
                Bson::Int64(n) => n.to_string(),
                Bson::Double(f) => f.to_string(),
                other => other.to_string(),
            };
            format!("{k}_{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// A server error with its message withheld: the build read every tenant's documents.
fn withheld(e: mongodb::error::Error) -> FenceError {
    match mongo_body(&e) {
        ("MONGO_SERVER", mut body) => {
            let code = body["code"].clone();
            body["message"] = json!(format!(
                "createIndex failed on the server (code {code}); its message is withheld because an index build reads every tenant's documents"
            ));
            if let Some(fields) = body.as_object_mut() {
                fields.remove("writeErrors");
            }
            FenceError::Server(body)
        }
        _ => FenceError::Mongo(e),
    }
}

/// The key and checks for strategy 'field'.
async fn field_keys(t: &Target, spec: Document, o: &CallOptions) -> FenceResult<Document> {
    match &o.collation_doc {
        Some(c) => collation::check_index_collation(c, t.plain_ids())?,
        // Without an explicit collation the index inherits the collection's default.
        None => {
            if let Some(Some(default)) = t.default_collation().await? {
                collation::check_index_collation(&default, t.plain_ids()).map_err(|_| {
                    ScopeError::violation(
                        "the collection's default collation could equate two tenant ids in this index; pass options.collation with strength 3 or more, alternate 'non-ignorable' and no numericOrdering",
                    )
                })?;
            }
        }
    }
    Ok(indexes::field_index_keys(&t.scope, spec, &o.index)?)
}

/// `createIndex(spec, options)`: under strategy 'field' the tenant field leads the
/// key, so lookups stay per tenant and `unique` means unique per tenant.
pub async fn create_index(t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o = CallOptions::parse(req.doc_or_empty("options", "options")?, options::INDEX)?;
    let spec = req.doc("keys", "indexSpec")?;
    if spec.is_empty() {
        return Err(arg("indexSpec must name at least one field"));
    }
    let shared = indexes::shared_indexes(&t.scope);
    let keys = if shared { field_keys(&t, spec, &o).await? } else { spec };
    let mut index = doc! { "key": keys.clone() };
    let name = match o.index.get("name") {
        Some(Bson::String(n)) => n.clone(),
        Some(_) => return Err(arg("options.name must be a string")),
        None => index_name(&keys),
    };
    index.insert("name", name.clone());
    for (k, v) in o.index {
        if k != "name" {
            index.insert(k, v);
        }
    }
    if let Some(c) = o.collation_doc {
        index.insert("collation", c);
    }
    if shared && matches!(t.scope.principal, Principal::Tenant(_)) {
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
    if shared && matches!(t.scope.principal, Principal::Tenant(_)) {
        let listed = bounds::fresh_listing(&t).await?;
        indexes::check_twin(&keys, &name, &listed, &t.scope.field)?;
    }
    let cmd = doc! { "createIndexes": t.coll.name(), "indexes": [index] };
    let sent = t.db.run_command(cmd).await;
    // The next call plans with the new index (not a listing up to 30 s old).
    bounds::forget(&t);
    match sent {
        Ok(_) => Ok(reply(Bson::String(name))),
        Err(e) if shared && matches!(t.scope.principal, Principal::Tenant(_)) => Err(withheld(e)),
        Err(e) => Err(e.into()),
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
