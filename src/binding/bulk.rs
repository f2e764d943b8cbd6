//! `bulkWrite` on servers older than 8.0: every operation is checked and rewritten
//! first (one refusal writes nothing, ordered or not), then runs as batched
//! `insert` / `update` / `delete` commands, as the Node driver does.

use bson::{doc, Bson, Document};
use serde_json::{json, Value};

use super::bounds;
use super::collection::Target;
use super::error::{arg, code_name, FenceError, FenceResult};
use super::options::{self, CallOptions};
use super::payload::{count, reply, Request};
use super::writes::{scoped_update_doc, scoped_write_filter};
use crate::scope::{collation, insert, update, withhold, Scope};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Insert,
    Update,
    Delete,
}

/// One checked operation, as a statement of its write command.
struct Statement {
    index: usize,
    kind: Kind,
    body: Document,
    size: usize,
    /// The caller's filter of an update or delete, for `scope::bounds`.
    filter: Option<Document>,
    /// The caller gave this operation a collation (not the fence's simple pin).
    collated: bool,
}

impl Statement {
    fn new(index: usize, kind: Kind, body: Document) -> Self {
        let size = bson::to_vec(&body).map(|v| v.len()).unwrap_or(0);
        let collated = body.contains_key("collation");
        Statement { index, kind, body, size, filter: None, collated }
    }

    fn with_filter(mut self, filter: Document) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Puts the hint `scope::bounds` asks for on an update or delete (before anything is sent,
    /// so a refusal writes nothing).
    async fn bound(&mut self, t: &Target) -> FenceResult<()> {
        let Some(user) = self.filter.take() else { return Ok(()) };
        if matches!(self.body.get("hint"), Some(Bson::Null | Bson::Undefined)) {
            self.body.remove("hint");
        }
        let hint = self.body.get("hint");
        let call = bounds::Call {
            sort: None,
            filter: &user,
            hint,
            geo_near: None,
            explicit: self.collated,
        };
        if let Some(k) = bounds::bound(t, call).await? {
            self.body.insert("hint", k);
            self.size = bson::to_vec(&self.body).map(|v| v.len()).unwrap_or(0);
        }
        Ok(())
    }
}

/// Most statements per command; keeps each command document well under 16 MiB.
const MAX_STATEMENTS: usize = 1000;
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A required document of one bulk operation. A missing filter is an error, as in the Node
/// driver: read as `{}`, `{ deleteMany: {} }` would delete every document of the tenant.
fn field(op: &mut Document, key: &str, what: &str) -> FenceResult<Document> {
    match op.remove(key) {
        Some(Bson::Document(d)) => Ok(d),
        _ => Err(arg(format!("{what}.{key} must be an object"))),
    }
}

fn scope_for(base: &Scope, op: &Document) -> Scope {
    let mut s = base.clone();
    if let Ok(c) = op.get_document("collation") {
        s.collation_guard = s.collation_guard || !collation::is_simple(c);
    }
    s
}

fn copy_opts(from: &mut Document, to: &mut Document, keys: &[&str], what: &str) -> FenceResult<()> {
    for k in keys {
        if let Some(v) = from.remove(*k) {
            to.insert(*k, v);
        }
    }
    if let Some((k, _)) = from.iter().next() {
        return Err(arg(format!("{what}.{k} is not supported")));
    }
    Ok(())
}

/// Checks and rewrites one operation of the batch.
fn statement(t: &Target, base: &Scope, index: usize, op: Document) -> FenceResult<Statement> {
    let what = format!("operations[{index}]");
    if op.len() != 1 {
        return Err(arg(format!("{what} must have exactly one key such as insertOne")));
    }
    let (name, body) = op.into_iter().next().expect("one key");
    let Bson::Document(mut body) = body else {
        return Err(arg(format!("{what}.{name} must be an object")));
    };
    let what = format!("{what}.{name}");
    // `collation: null` (or undefined) means none, as in the driver; kept as null it skipped
    // the simple-collation pin below and let a collection default collation widen the match.
    match body.get("collation") {
        None | Some(Bson::Document(_)) => {}
        Some(Bson::Null | Bson::Undefined) => {
            body.remove("collation");
        }
        Some(_) => return Err(arg(format!("{what}.collation must be an object"))),
    }
    let scope = scope_for(base, &body);
    let mut view = t.clone();
    view.scope = scope;
    let stmt = match name.as_str() {
        "insertOne" => {
            let mut d = field(&mut body, "document", &what)?;
            insert::stamp(&view.scope, &mut d)?;
            copy_opts(&mut body, &mut Document::new(), &[], &what)?;
            Statement::new(index, Kind::Insert, d)
        }
        "updateOne" | "updateMany" | "replaceOne" => {
            let upsert = match body.get("upsert") {
                None | Some(Bson::Null) => false,
                Some(Bson::Boolean(b)) => *b,
                Some(_) => return Err(arg(format!("{what}.upsert must be a boolean"))),
            };
            let user = field(&mut body, "filter", &what)?;
            let u = if name == "replaceOne" {
                Bson::Document(insert::stamp_replacement(
                    &view.scope,
                    field(&mut body, "replacement", &what)?,
                )?)
            } else {
                let raw = body
                    .remove("update")
                    .ok_or_else(|| arg(format!("{what}.update is required")))?;
                match scoped_update_doc(&view.scope, Some(raw), &user, upsert)? {
                    update::Update::Modifiers(d) => Bson::Document(d),
                    update::Update::Pipeline(p) => {
                        Bson::Array(p.into_iter().map(Bson::Document).collect())
                    }
                }
            };
            let q = scoped_write_filter(&view, user.clone(), upsert)?;
            let mut s = doc! { "q": q, "u": u, "multi": name == "updateMany" };
            let allowed: &[&str] = if name == "replaceOne" {
                &["upsert", "collation", "hint"]
            } else {
                &["upsert", "collation", "hint", "arrayFilters"]
            };
            copy_opts(&mut body, &mut s, allowed, &what)?;
            Statement::new(index, Kind::Update, s).with_filter(user)
        }
        "deleteOne" | "deleteMany" => {
            let user = field(&mut body, "filter", &what)?;
            let q = view.scoped_write_filter(user.clone())?;
            let mut s = doc! { "q": q, "limit": if name == "deleteOne" { 1 } else { 0 } };
            copy_opts(&mut body, &mut s, &["collation", "hint"], &what)?;
            Statement::new(index, Kind::Delete, s).with_filter(user)
        }
        other => return Err(arg(format!("operations[{index}] has unknown type {other}"))),
    };
    Ok(stmt)
}

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

fn int(d: &Document, k: &str) -> u64 {
    match d.get(k) {
        Some(Bson::Int32(n)) => *n as u64,
        Some(Bson::Int64(n)) => *n as u64,
        Some(Bson::Double(f)) => *f as u64,
        _ => 0,
    }
}

/// Sends one group of same-kind statements, chunked, and tallies the replies.
async fn send(
    t: &Target,
    group: &[Statement],
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
        let kind = chunk[0].kind;
        let items: Vec<Bson> = chunk.iter().map(|s| Bson::Document(s.body.clone())).collect();
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
        let r = t.db.run_command(cmd).await?;
        let n = int(&r, "n");
        let mut failed = std::collections::HashSet::new();
        if let Ok(errs) = r.get_array("writeErrors") {
            for e in errs.iter().filter_map(|e| e.as_document()) {
                let local = int(e, "index") as usize;
                let orig = chunk.get(local).map(|s| s.index).unwrap_or(local);
                failed.insert(local);
                let code = int(e, "code") as i32;
                let msg = e.get_str("errmsg").unwrap_or("write error");
                let msg = withhold::message(code, msg).to_string();
                if tally.first_error.is_none() {
                    tally.first_error = Some((code, msg.clone()));
                }
                tally.errors.push(json!({ "index": orig, "code": code, "errmsg": msg }));
            }
        }
        if let Ok(wce) = r.get_document("writeConcernError") {
            let code = int(wce, "code") as i32;
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
                        if let Some(id) = s.body.get("_id") {
                            tally.inserted_ids.insert(s.index.to_string(), id.clone());
                        }
                    }
                }
            }
            Kind::Update => {
                let mut ups = 0;
                if let Ok(list) = r.get_array("upserted") {
                    for u in list.iter().filter_map(|u| u.as_document()) {
                        let local = int(u, "index") as usize;
                        let orig = chunk.get(local).map(|s| s.index).unwrap_or(local);
                        tally
                            .upserted_ids
                            .insert(orig.to_string(), u.get("_id").cloned().unwrap_or(Bson::Null));
                        ups += 1;
                    }
                }
                tally.upserted += ups;
                tally.matched += n.saturating_sub(ups);
                tally.modified += int(&r, "nModified");
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

/// `bulkWrite(operations, options)`.
pub async fn bulk_write(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let o_raw = req.doc_or_empty("options", "options")?;
    let cmd_opts = command_options(&o_raw)?;
    let o = CallOptions::parse(o_raw, options::BULK)?;
    let ops = req.docs("operations", "operations")?;
    if ops.is_empty() {
        return Err(arg("operations must be a non-empty array"));
    }
    let pinned = t.guard(None).await?.is_some();
    let base = t.scope.clone();
    let mut statements = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let mut s = statement(&t, &base, i, op)?;
        // Same pinning as single writes: no collection default collation can widen the match.
        if pinned && s.kind != Kind::Insert && !s.body.contains_key("collation") {
            s.body.insert("collation", doc! { "locale": "simple" });
        }
        statements.push(s);
    }
    // A bulkWrite is not retried when a hinted index turns out to be gone (earlier statements
    // may have been applied), so it plans on a fresh listing instead of the cached one.
    bounds::forget(&t);
    for s in &mut statements {
        s.bound(&t).await?;
    }
    let ordered = o.ordered.unwrap_or(true);
    let mut groups: Vec<Vec<Statement>> = Vec::new();
    if ordered {
        for s in statements {
            match groups.last_mut() {
                Some(g) if g[0].kind == s.kind => g.push(s),
                _ => groups.push(vec![s]),
            }
        }
    } else {
        let mut by_kind: [Vec<Statement>; 3] = Default::default();
        for s in statements {
            by_kind[s.kind as usize].push(s);
        }
        groups = by_kind.into_iter().filter(|g| !g.is_empty()).collect();
    }
    let mut tally = Tally::default();
    for g in &groups {
        if !send(&t, g, &cmd_opts, ordered, &mut tally).await? {
            break;
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

/// The command-level options of the write commands, in their wire names.
fn command_options(raw: &Document) -> FenceResult<Document> {
    let mut out = Document::new();
    for (k, v) in raw {
        match k.as_str() {
            "bypassDocumentValidation" | "comment" | "let" => {
                out.insert(k.clone(), v.clone());
            }
            "writeConcern" => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Ok(out)
}
