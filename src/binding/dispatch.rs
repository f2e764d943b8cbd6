//! One non-cursor call, from its name to its reply: resolve the target, hand the request to
//! the executor of its method, and retry once when a hint the fence sent went stale.

use std::sync::Arc;

use super::error::{arg, FenceResult};
use super::payload::{RawRequest, Request};
use super::session::SessionUse;
use super::state::FenceInner;
use super::target::Target;
use super::{bounds, bulk, indexes, max_time, reads, writes};
use crate::scope::plan::Operation as Op;
use crate::scope::quota::Limits;
use crate::scope::{forbidden, Principal};

/// Runs one non-cursor method and returns the BSON reply.
pub async fn execute(
    inner: Arc<FenceInner>,
    principal: Principal,
    collection: String,
    op: Op,
    bytes: Vec<u8>,
    session: Option<SessionUse>,
    limits: Option<Limits>,
) -> FenceResult<Vec<u8>> {
    let target = Target::resolve(inner, principal, &collection)?.in_session(session);
    crate::scope::shared::admit_named(&target.scope, op.name(), op.reads())?;
    crate::scope::tenants::admit(&target.scope, op)?;
    bounds::ensure_before_transaction_call(&target).await?;
    match run(target.clone(), op, &bytes, limits.as_ref()).await {
        // An index the fence hinted was dropped behind its back: list again and retry once.
        // The server refuses such a hint while planning, before it writes anything; bulkWrite
        // may have sent earlier statements, so it is not retried. The server's message can end
        // with a value the caller chose (`$convert`'s "Unknown type name: ..."), so the retry
        // happens only when a fresh listing shows the hint sent no longer holds (round 9: a
        // partly applied updateMany ran twice).
        Err(e) if bounds::missing_hint(&e) => {
            // In a session the failed command may have aborted its transaction: the error
            // goes back as it is, for the app (or withTransaction) to decide.
            if op == Op::BulkWrite || target.session().is_some() {
                bounds::forget(&target);
                return Err(e);
            }
            if !bounds::hint_went_stale(&target).await? {
                return Err(e);
            }
            run(target, op, &bytes, limits.as_ref()).await
        }
        other => other,
    }
}

async fn run(
    target: Target,
    op: Op,
    bytes: &[u8],
    limits: Option<&Limits>,
) -> FenceResult<Vec<u8>> {
    // Inserts carry whole documents: they stay bytes (stamped by copying), the rest is parsed.
    let field = target.scope.field.clone();
    let raw = || RawRequest::decode(bytes, Some(&field));
    let principal = target.scope.principal.clone();
    let req = || -> FenceResult<Request> {
        let mut r = Request::decode(bytes, Some(&field))?;
        forbidden::check_request(&principal, &r.0)?;
        if crate::scope::quota::caps_time_of(op) {
            r.cap_max_time(limits);
        }
        Ok(r)
    };
    // A quota's maxTimeMS on updateMany / deleteMany sends them as max_time does a caller's.
    let capped =
        limits.is_some_and(|l| l.max_time_ms.is_some()) && crate::scope::quota::caps_time_of(op);
    if max_time::applies(op, bytes) || (capped && matches!(op, Op::UpdateMany | Op::DeleteMany)) {
        return max_time::run(target, op, req()?).await;
    }
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
        Op::Find | Op::Aggregate => Err(arg(format!("{} opens a cursor", op.name()))),
    }
}
