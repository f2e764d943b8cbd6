//! `bulkWrite` on servers older than 8.0: every operation is planned by `scope::bulk` first
//! (one refusal writes nothing, ordered or not), then runs as batched `insert` / `update` /
//! `delete` commands, as the Node driver does.

use bson::{doc, Bson, Document};
use serde_json::{json, Value};

use super::bounds;
use super::error::{arg, code_name, FenceError, FenceResult};
use super::ids::fresh_object_id;
use super::options;
use super::payload::{count, reply, uint, Request};
use super::session::in_session;
use super::target::Target;
use crate::scope::bulk::{self as plan, Kind, Statement};
use crate::scope::withhold;

/// A statement `scope::bulk` planned, with its size on the wire.
struct Sized {
    s: Statement,
    size: usize,
}

impl Sized {
    fn new(s: Statement) -> Self {
        let size = bson::to_vec(&s.body).map(|v| v.len()).unwrap_or(0);
        Sized { s, size }
    }

    /// Puts the hint `scope::bounds` asks for on an update or delete (before anything is sent,
    /// so a refusal writes nothing).
    async fn bound(&mut self, t: &Target) -> FenceResult<()> {
        let Some(user) = self.s.filter.take() else { return Ok(()) };
        let body = &mut self.s.body;
        if matches!(body.get("hint"), Some(Bson::Null | Bson::Undefined)) {
            body.remove("hint");
        }
        let call = bounds::Call {
            sort: None,
            filter: &user,
            hint: body.get("hint"),
            geo_near: None,
            explicit: self.s.collated,
        };
        if let Some(k) = bounds::bound(t, call).await? {
            body.insert("hint", k);
            self.size = bson::to_vec(&*body).map(|v| v.len()).unwrap_or(0);
        }
        Ok(())
    }
}

/// Most statements per command; keeps each command document well under 16 MiB.
const MAX_STATEMENTS: usize = 1000;
const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Tally {
    inserted: u64,
    matched: u64,
    modified: u64,
    deleted: u64,
    upserted: u64,
    inserted_ids: Document,
    upserted_ids: Document,
    errors: Vec<Value>,
    first_error: Option<(i32, String)>,
}

/// Sends one group of same-kind statements, chunked, and tallies the replies.
async fn send(
    t: &Target,
    group: &[Sized],
    cmd_opts: &Document,
    ordered: bool,
    tally: &mut Tally,
) -> FenceResult<bool> {
    let mut start = 0;
    while start < group.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < group.len() && end - start < MAX_STATEMENTS {
            let size = group[end].size;
            if end > start && bytes + size > MAX_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let chunk = &group[start..end];
        let kind = chunk[0].s.kind;
        let items: Vec<Bson> = chunk.iter().map(|s| Bson::Document(s.s.body.clone())).collect();
        let (verb, list) = match kind {
            Kind::Insert => ("insert", "documents"),
            Kind::Update => ("update", "updates"),
            Kind::Delete => ("delete", "deletes"),
        };
        let mut cmd = doc! { verb: t.coll.name(), list: items, "ordered": ordered };
        for (k, v) in cmd_opts {
            if kind != Kind::Insert || k != "let" {
                cmd.insert(k.clone(), v.clone());
            }
        }
        let r = in_session!(t.session(), t.db.run_command(cmd))?;
        let n = uint(&r, "n");
        let mut failed = std::collections::HashSet::new();
        if let Ok(errs) = r.get_array("writeErrors") {
            for e in errs.iter().filter_map(|e| e.as_document()) {
                let local = uint(e, "index") as usize;
                let orig = chunk.get(local).map(|s| s.s.index).unwrap_or(local);
                failed.insert(local);
                let code = uint(e, "code") as i32;
                let msg = e.get_str("errmsg").unwrap_or("write error");
                let msg = withhold::message(code, msg).to_string();
                if tally.first_error.is_none() {
                    tally.first_error = Some((code, msg.clone()));
                }
                let mut entry = json!({ "index": orig, "code": code, "errmsg": msg });
                let detail = |k: &str| e.get_document(k).ok();
                super::error::write_details(
                    code,
                    &[
                        ("errInfo", detail("errInfo")),
                        ("keyPattern", detail("keyPattern")),
                        ("keyValue", detail("keyValue")),
                    ],
                    &mut entry,
                );
                tally.errors.push(entry);
            }
        }
        if let Ok(wce) = r.get_document("writeConcernError") {
            let code = uint(wce, "code") as i32;
            let msg = wce.get_str("errmsg").unwrap_or("write concern error");
            let msg = withhold::message(code, msg).to_string();
            tally.first_error.get_or_insert((code, msg.clone()));
            tally.errors.push(json!({ "index": Value::Null, "code": code, "errmsg": msg }));
        }
        match kind {
            Kind::Insert => {
                tally.inserted += n;
                let stop = if ordered {
                    failed.iter().min().copied().unwrap_or(chunk.len())
                } else {
                    chunk.len()
                };
                for (i, s) in chunk.iter().enumerate().take(stop) {
                    if !failed.contains(&i) {
                        if let Some(id) = s.s.body.get("_id") {
                            tally.inserted_ids.insert(s.s.index.to_string(), id.clone());
                        }
                    }
                }
            }
            Kind::Update => {
                let mut ups = 0;
                if let Ok(list) = r.get_array("upserted") {
                    for u in list.iter().filter_map(|u| u.as_document()) {
                        let local = uint(u, "index") as usize;
                        let orig = chunk.get(local).map(|s| s.s.index).unwrap_or(local);
                        tally
                            .upserted_ids
                            .insert(orig.to_string(), u.get("_id").cloned().unwrap_or(Bson::Null));
                        ups += 1;
                    }
                }
                tally.upserted += ups;
                tally.matched += n.saturating_sub(ups);
                tally.modified += uint(&r, "nModified");
            }
            Kind::Delete => tally.deleted += n,
        }
        if !failed.is_empty() && ordered {
            return Ok(false);
        }
        start = end;
    }
    Ok(true)
}

/// A server error of a whole write command, as the driver's `MongoBulkWriteError` (labels kept).
fn command_failed(e: mongodb::error::Error, tally: &Tally) -> FenceError {
    match super::error::mongo_body(&e) {
        ("MONGO_SERVER", mut body) if body["name"] == "MongoServerError" => {
            body["name"] = json!("MongoBulkWriteError");
            body["writeErrors"] = json!([]);
            body["result"] = json!({
                "insertedCount": tally.inserted, "matchedCount": tally.matched,
                "modifiedCount": tally.modified, "deletedCount": tally.deleted,
                "upsertedCount": tally.upserted,
            });
            FenceError::Server(body)
        }
        _ => FenceError::Mongo(e),
    }
}

/// `bulkWrite(operations, options)`.
pub async fn bulk_write(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o_raw = req.doc_or_empty("options", "options")?;
    let mut cmd_opts = plan::command_options(&o_raw);
    if t.in_transaction() {
        // As the driver: a transaction's write concern is its own (the server refuses one per
        // command inside it).
        cmd_opts.remove("writeConcern");
    }
    let o = t.parse_options(o_raw, options::BULK)?;
    let ops = req.docs("operations", "operations")?;
    if ops.is_empty() {
        return Err(arg("operations must be a non-empty array"));
    }
    let pin_simple = t.guard(None).await?.is_some();
    let mut statements = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let s = plan::statement(&t.scope, i, op, pin_simple, fresh_object_id())?;
        statements.push(Sized::new(s));
    }
    // A bulkWrite is not retried when a hinted index turns out to be gone (earlier statements
    // may have been applied), so it plans on a fresh listing instead of the cached one.
    bounds::forget(&t);
    for s in &mut statements {
        s.bound(&t).await?;
    }
    let ordered = o.ordered.unwrap_or(true);
    let mut groups: Vec<Vec<Sized>> = Vec::new();
    if ordered {
        for s in statements {
            match groups.last_mut() {
                Some(g) if g[0].s.kind == s.s.kind => g.push(s),
                _ => groups.push(vec![s]),
            }
        }
    } else {
        let mut by_kind: [Vec<Sized>; 3] = Default::default();
        for s in statements {
            by_kind[s.s.kind as usize].push(s);
        }
        groups = by_kind.into_iter().filter(|g| !g.is_empty()).collect();
    }
    let mut tally = Tally::default();
    for g in &groups {
        match send(&t, g, &cmd_opts, ordered, &mut tally).await {
            Ok(true) => {}
            Ok(false) => break,
            // A command the server refused as a whole (MaxTimeMSExpired, a transaction's
            // NoSuchTransaction): the driver reports it as a MongoBulkWriteError carrying what
            // was written before it.
            Err(FenceError::Mongo(e)) => return Err(command_failed(e, &tally)),
            Err(e) => return Err(e),
        }
    }
    let result = doc! {
        "insertedCount": count(tally.inserted),
        "matchedCount": count(tally.matched),
        "modifiedCount": count(tally.modified),
        "deletedCount": count(tally.deleted),
        "upsertedCount": count(tally.upserted),
        "insertedIds": tally.inserted_ids.clone(),
        "upsertedIds": tally.upserted_ids.clone(),
    };
    if let Some((code, msg)) = tally.first_error {
        let counts = json!({
            "insertedCount": tally.inserted, "matchedCount": tally.matched,
            "modifiedCount": tally.modified, "deletedCount": tally.deleted,
            "upsertedCount": tally.upserted,
        });
        return Err(FenceError::Server(json!({
            "name": "MongoBulkWriteError",
            "code": code,
            "codeName": code_name(code),
            "message": msg,
            "writeErrors": tally.errors,
            "result": counts,
        })));
    }
    Ok(reply(result))
}
