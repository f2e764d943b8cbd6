//! Read methods: scope the filter or pipeline, then one driver call.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::{
    AggregateOptions, CountOptions, DistinctOptions, EstimatedDocumentCountOptions, FindOneOptions,
    FindOptions,
};

use super::bounds;
use super::cursor::Batches;
use super::error::{arg, FenceError, FenceResult};
use super::lanes::id_lookup;
use super::options::{self, driver_options};
use super::payload::{count, reply, reply_raw, uint, Request};
use super::session::in_session;
use super::state::FenceInner;
use super::target::Target;
use crate::scope::by_id::{self, FindOneShape};
use crate::scope::distinct::{self as scope_distinct, NoStages};
use crate::scope::plan::{self, Operation};
use crate::scope::share::IdLookupCall;
use crate::scope::{bounds as scope_bounds, filter, Principal};

/// `findOne(filter, options)`.
pub async fn find_one(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::FIND_ONE).await?;
    let find_one = FindOneShape {
        sort: o.sort.is_some(),
        skip: o.skip.is_some(),
        projection: o.projection.is_some(),
        hint: o.hint.is_some(),
        collation: o.collation_doc.is_some(),
    };
    let parts = plan::Request {
        filter: req.doc_or_empty("filter", "filter")?,
        find_one,
        ..Default::default()
    };
    let p = plan::plan(Operation::FindOne, &t.scope, parts)?;
    let coll = t.coll.clone_with_type::<RawDocumentBuf>();
    if let Some(id) = p.by_id {
        let fo = driver_options!(o => FindOneOptions { collation, comment, max_time, selection_criteria, read_concern });
        let call = IdLookupCall {
            object_id: matches!(id, Bson::ObjectId(_)),
            // Options are not part of the lane key: a call with any goes alone.
            has_options: fo.comment.is_some()
                || fo.max_time.is_some()
                || fo.selection_criteria.is_some()
                || fo.read_concern.is_some(),
            in_session: t.session().is_some(),
        };
        let lane = match &id {
            Bson::ObjectId(oid) => t.id_lane(fo.collation.clone(), call).map(|l| (l, *oid)),
            _ => None,
        };
        super::probe::note_id_lookup();
        if let Some((lane, oid)) = lane {
            return reply_raw(id_lookup::lookup(lane, oid, t.scope.clone()).await?);
        }
        let doc = in_session!(t.session(), coll.find_one(doc! { "_id": id }).with_options(fo))?;
        return reply_raw(doc.filter(|d| by_id::owned(&t.scope, d)));
    }
    bounds::apply(&t, &mut o, &p.bound).await?;
    let fo = driver_options!(o => FindOneOptions { sort, skip, projection, hint, collation, comment, max_time, let_vars, selection_criteria, read_concern, allow_partial_results });
    reply_raw(in_session!(
        t.session(),
        coll.find_one(p.filter.unwrap_or_default()).with_options(fo)
    )?)
}

/// `countDocuments(filter, options)`.
pub async fn count_documents(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::COUNT).await?;
    let parts =
        plan::Request { filter: req.doc_or_empty("filter", "filter")?, ..Default::default() };
    let p = plan::plan(Operation::CountDocuments, &t.scope, parts)?;
    let f = p.filter.unwrap_or_default();
    bounds::apply(&t, &mut o, &p.bound).await?;
    let limit = match o.limit {
        Some(n) if n < 0 => return Err(arg("options.limit must not be negative")),
        Some(0) | None => None,
        Some(n) => Some(n as u64),
    };
    if o.let_vars.is_some() || o.allow_disk_use.is_some() || o.batch_size.is_some() {
        // Options the driver's count aggregation takes and the Rust driver's count does not:
        // the same aggregation, sent here.
        let mut pipeline = vec![doc! { "$match": f }];
        if let Some(n) = o.skip.take() {
            pipeline.push(doc! { "$skip": n as i64 });
        }
        if let Some(n) = limit {
            pipeline.push(doc! { "$limit": n as i64 });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let ao = driver_options!(o => AggregateOptions { hint, collation, comment, max_time, let_vars, allow_disk_use, batch_size, selection_criteria, read_concern });
        let first = match t.session() {
            Some(u) => {
                let mut held = u.hold().await?;
                let mut c = t.coll.aggregate(pipeline).with_options(ao).session(&mut *held).await?;
                c.next(&mut held).await.transpose()?
            }
            None => {
                let mut c = t.coll.aggregate(pipeline).with_options(ao).await?;
                c.next().await.transpose()?
            }
        };
        return Ok(reply(count(first.map_or(0, |d| uint(&d, "n")))));
    }
    let mut co = driver_options!(o => CountOptions { skip, hint, collation, comment, max_time, selection_criteria, read_concern });
    co.limit = limit;
    let n = in_session!(t.session(), t.coll.count_documents(f).with_options(co))?;
    Ok(reply(count(n)))
}

/// `estimatedDocumentCount()`: the metadata count spans all tenants, so a tenant
/// under strategy 'field' gets an exact count of its own documents instead.
pub async fn estimated_document_count(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let raw = req.doc_or_empty("options", "options")?;
    let o = t.parse_options(raw, &["maxTimeMS", "comment", "readPreference", "readConcern"])?;
    if t.in_transaction() {
        // The server's answer to the driver's `count` in a transaction, given here: the exact
        // count a tenant gets would answer it, and the Rust driver sends the metadata count in
        // no session at all (it would read outside the transaction).
        return Err(super::error::server_error(
            263,
            "OperationNotSupportedInTransaction",
            "Cannot run 'count' in a multi-document transaction. Please see http://dochub.mongodb.org/core/transaction-count for a recommended alternative.",
            &[],
        ));
    }
    // The server takes no comment on a metadata count; it is kept for the exact count only.
    let pinned = t.guard(None).await?;
    let p = plan::plan(Operation::EstimatedDocumentCount, &t.scope, plan::Request::default())?;
    let n = if let (true, Some(f)) = (p.exact_count, p.filter) {
        let mut co = CountOptions::default();
        co.collation = pinned;
        let all = Document::new();
        let call =
            bounds::Call { sort: None, filter: &all, hint: None, geo_near: None, explicit: false };
        co.hint = bounds::bound(&t, call).await?.map(bounds::driver_hint);
        co.max_time = o.max_time;
        co.comment = o.comment;
        co.selection_criteria = o.selection_criteria;
        co.read_concern = o.read_concern;
        in_session!(t.session(), t.coll.count_documents(f).with_options(co))?
    } else {
        let mut eo = EstimatedDocumentCountOptions::default();
        eo.max_time = o.max_time;
        eo.selection_criteria = o.selection_criteria;
        eo.read_concern = o.read_concern;
        // The Rust driver sends this one in no session (it has no `session()`): the server
        // refuses `count` in a transaction anyway, and the metadata count is not per tenant.
        t.coll.estimated_document_count().with_options(eo).await?
    };
    Ok(reply(count(n)))
}

/// `distinct(key, filter, options)`. A hinted distinct on a server before 7.1 (which refuses
/// `distinct.hint`) runs as the aggregation `scope::distinct` gives, with the same hint.
pub async fn distinct(mut t: Target, mut req: Request) -> FenceResult<Vec<u8>> {
    let mut o = t.options(&mut req, options::DISTINCT).await?;
    let key = req.string("key", "key")?;
    let parts =
        plan::Request { filter: req.doc_or_empty("filter", "filter")?, ..Default::default() };
    let p = plan::plan(Operation::Distinct, &t.scope, parts)?;
    let f = p.filter.unwrap_or_default();
    bounds::apply(&t, &mut o, &p.bound).await?;
    let bounded = scope_bounds::applies(&t.scope);
    // In a transaction the refusal would abort it: there, the aggregation from the start.
    let as_aggregate =
        t.inner().distinct_as_aggregate.load(Ordering::Relaxed) || t.in_transaction();
    if !(bounded && as_aggregate) {
        let mut d = DistinctOptions::default();
        d.collation = o.collation.clone();
        d.comment = o.comment.clone();
        d.max_time = o.max_time;
        d.hint = o.hint.clone();
        d.selection_criteria = o.selection_criteria.clone();
        d.read_concern = o.read_concern.clone();
        match in_session!(t.session(), t.coll.distinct(&key, f.clone()).with_options(d)) {
            Ok(values) => return Ok(reply(Bson::Array(values))),
            Err(FenceError::Mongo(e)) if bounded && no_distinct_hint(&e) => {
                t.inner().distinct_as_aggregate.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    let tail = match scope_distinct::stages(&key) {
        Ok(tail) => tail,
        Err(NoStages::Refused(e)) => return Err(e.into()),
        Err(NoStages::NotAPath) => {
            // The server's own error for the key, from a distinct that examines nothing.
            let none = filter::scope_filter(&t.scope, scope_distinct::nothing())?;
            in_session!(t.session(), t.coll.distinct(&key, none))?;
            return Err(arg(format!("distinct key '{key}' is not a field path")));
        }
    };
    let mut stages = vec![doc! { "$match": f }];
    stages.extend(tail);
    let ao = driver_options!(o => AggregateOptions { collation, comment, max_time, hint, selection_criteria, read_concern });
    let first = match t.session() {
        Some(u) => {
            let mut s = u.hold().await?;
            let mut cursor = t.coll.aggregate(stages).with_options(ao).session(&mut *s).await?;
            cursor.next(&mut s).await.transpose()?
        }
        None => t.coll.aggregate(stages).with_options(ao).await?.next().await.transpose()?,
    };
    let values = match first {
        Some(mut d) => match d.remove(scope_distinct::VALUE) {
            Some(Bson::Array(v)) => v,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    Ok(reply(Bson::Array(values)))
}

/// The server's refusal of `hint` on `distinct` (MongoDB before 7.1).
fn no_distinct_hint(e: &mongodb::error::Error) -> bool {
    super::error::server_code(e) == Some(40415) && e.to_string().contains("distinct.hint")
}

/// Opens `$action` as a batch cursor, in the call's session when it has one.
macro_rules! open_batches {
    ($t:expr, $action:expr) => {{
        match $t.session() {
            Some(u) => {
                let mut held = u.hold().await?;
                let c = $action.session(&mut *held).batch().await?;
                drop(held);
                Ok(Batches::InSession(c, u))
            }
            None => Ok(Batches::Plain($action.batch().await?)),
        }
    }};
}

/// Opens a batch cursor for `find(filter, options)` or `aggregate(pipeline, options)`.
pub async fn open_cursor(
    inner: Arc<FenceInner>,
    principal: Principal,
    collection: String,
    kind: &str,
    req: Request,
    session: Option<super::session::SessionUse>,
) -> FenceResult<Batches> {
    let t = Target::resolve(inner, principal, &collection)?.in_session(session);
    // find and aggregate are reads: under runAsTenants they may still be refused ('database').
    let op = crate::scope::plan::Operation::parse(kind)?;
    crate::scope::tenants::admit(&t.scope, op)?;
    bounds::ensure_before_transaction_call(&t).await?;
    match open_once(t.clone(), kind, req.clone()).await {
        // A hinted index dropped behind the fence's back: list again and open once more.
        Err(e) if bounds::missing_hint(&e) => {
            bounds::forget(&t);
            open_once(t, kind, req).await
        }
        other => other,
    }
}

async fn open_once(mut t: Target, kind: &str, mut req: Request) -> FenceResult<Batches> {
    match kind {
        "find" => {
            let mut o = t.options(&mut req, options::FIND).await?;
            let parts = plan::Request {
                filter: req.doc_or_empty("filter", "filter")?,
                ..Default::default()
            };
            let p = plan::plan(Operation::Find, &t.scope, parts)?;
            bounds::apply(&t, &mut o, &p.bound).await?;
            let fo = driver_options!(o => FindOptions { sort, limit, skip, projection, batch_size, hint, collation, comment, max_time, let_vars, allow_disk_use, selection_criteria, read_concern, allow_partial_results, no_cursor_timeout });
            open_batches!(t, t.coll.find(p.filter.unwrap_or_default()).with_options(fo))
        }
        "aggregate" => {
            let mut o = t.options(&mut req, options::AGGREGATE).await?;
            let parts =
                plan::Request { pipeline: req.docs("pipeline", "pipeline")?, ..Default::default() };
            let p = plan::plan(Operation::Aggregate, &t.scope, parts)?;
            bounds::apply_to(&t, &mut o, &p.bound, p.geo_near.as_deref()).await?;
            bounds::ensure_joined(&t, &p.joined).await?;
            let ao = driver_options!(o => AggregateOptions { batch_size, hint, collation, comment, max_time, let_vars, allow_disk_use, selection_criteria, read_concern });
            open_batches!(t, t.coll.aggregate(p.pipeline.unwrap_or_default()).with_options(ao))
        }
        _ => Err(arg("cursor kind must be 'find' or 'aggregate'")),
    }
}
