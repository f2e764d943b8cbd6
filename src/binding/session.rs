//! Driver sessions handed to JS (`fence.startSession()`, `fence.withTransaction()`): the
//! driver's `ClientSession` behind a lock, the principal `scope::session` bound it to, and
//! `in_session!`, the one way an executor sends a driver action in the call's session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document};
use mongodb::options::{SessionOptions, TransactionOptions};
use mongodb::ClientSession;
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use serde_json::json;
use tokio::sync::{MappedMutexGuard, MutexGuard};

use super::context::TenantContext;
use super::error::{server_error, FenceError, FenceResult};
use super::options::CallOptions;
use super::settle::spawn;
use crate::scope::{session, Principal};

/// One driver session and who owns it; shared by the calls and cursors that run in it.
pub struct SessionSlot {
    /// The fence whose client started it: another fence's calls cannot run in it.
    fence: u64,
    /// `None` once `endSession()` ran. Held for the length of one driver action: calls in
    /// one session go one at a time, as the driver's `&mut ClientSession` requires.
    session: tokio::sync::Mutex<Option<ClientSession>>,
    owner: Mutex<Option<Principal>>,
    transaction: Mutex<Transaction>,
}

/// Where the session's transactions are; changed only while the session itself is held.
#[derive(Default, Clone, Copy)]
struct Transaction {
    /// Bumped by every start, commit and abort: a call belongs to the generation it was made in.
    generation: u64,
    /// Between a successful start and its commit or abort.
    open: bool,
    /// Commands sent in this generation: before the first, an open transaction has no snapshot.
    sent: u64,
    /// The last commit failed: the server may still hold the transaction (and its locks).
    unsettled: bool,
    /// The fence failed a call of this transaction that it must be retried for: nothing more
    /// of it is sent, and its commit aborts it and fails as transient.
    doomed: bool,
}

impl Transaction {
    /// The state after a start (`open`), commit or abort: a new generation, nothing sent yet.
    fn next(self, open: bool, unsettled: bool) -> Transaction {
        Transaction { generation: self.generation + 1, open, sent: 0, unsettled, doomed: false }
    }
}

/// One call's use of a session: the slot, and the transaction generation the call was made in.
/// A call made in one transaction is never sent in a later one (a retried `withTransaction`'s
/// first attempt still in flight would otherwise write into the second).
#[derive(Clone)]
pub struct SessionUse {
    slot: Arc<SessionSlot>,
    generation: u64,
    /// Made in an open transaction: only then is the call tied to its generation (a cursor of
    /// a plain session reads on across the session's later transactions, as the driver's does).
    in_transaction: bool,
}

/// Sends the driver action `$action` in the call's session (`Option<SessionUse>`) when it has
/// one, as a `FenceResult`. Every executor's data command goes through here.
macro_rules! in_session {
    ($session:expr, $action:expr) => {{
        match $session {
            Some(u) => {
                let mut held = u.hold().await?;
                $action.session(&mut *held).await.map_err($crate::binding::error::FenceError::from)
            }
            None => $action.await.map_err($crate::binding::error::FenceError::from),
        }
    }};
}
pub(crate) use in_session;

/// The driver's error for a session used after `endSession()`.
pub fn ended() -> FenceError {
    FenceError::Driver(json!({
        "name": "MongoExpiredSessionError",
        "message": "Cannot use a session that has ended"
    }))
}

/// The error of a call, or a commit, of a transaction the fence doomed: the server's
/// `NoSuchTransaction` for a transaction it aborted after an error, labelled for a retry.
fn aborted_by_fence() -> FenceError {
    server_error(
        251,
        "NoSuchTransaction",
        "the transaction was aborted: tenantfence built its tenant index outside it, and it must be retried",
        &["TransientTransactionError"],
    )
}

/// The error of a call made in a transaction that ended before the call was sent.
fn outlived() -> FenceError {
    FenceError::Driver(json!({
        "name": "MongoTransactionError",
        "message": "the transaction this call was made in has ended (committed, aborted or started over) before the call was sent"
    }))
}

impl SessionSlot {
    /// Admits a call of `fence` under `caller`, binding a session no one used yet to `caller`.
    pub fn admit(&self, fence: u64, caller: &Principal) -> FenceResult<()> {
        if fence != self.fence {
            return Err(super::error::arg(
                "options.session was started by another fence: a session runs on the client that started it",
            ));
        }
        let mut owner =
            self.owner.lock().map_err(|_| FenceError::Internal("session owner lock"))?;
        session::admit(&mut owner, caller)?;
        Ok(())
    }

    fn transaction(&self) -> Transaction {
        self.transaction.lock().map(|t| *t).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut Transaction)) {
        if let Ok(mut t) = self.transaction.lock() {
            f(&mut t);
        }
    }
}

impl SessionUse {
    /// Admits a call of `fence` under `caller` (`SessionSlot::admit`).
    pub fn admit(&self, fence: u64, caller: &Principal) -> FenceResult<()> {
        self.slot.admit(fence, caller)
    }

    /// The session, locked for one driver action, once it is checked to be live and in the
    /// call's own transaction generation; counts the command about to be sent.
    pub async fn hold(&self) -> FenceResult<MappedMutexGuard<'_, ClientSession>> {
        let held = MutexGuard::try_map(self.slot.session.lock().await, Option::as_mut)
            .map_err(|_| ended())?;
        let now = self.slot.transaction();
        if self.in_transaction && now.generation != self.generation {
            return Err(outlived());
        }
        if now.doomed && now.generation == self.generation {
            return Err(aborted_by_fence());
        }
        self.slot.update(|t| t.sent += 1);
        Ok(held)
    }

    /// Ends the call's transaction as far as the fence is concerned (`Transaction::doomed`).
    pub fn doom(&self) {
        let generation = self.generation;
        self.slot.update(|t| {
            if t.open && t.generation == generation {
                t.doomed = true;
            }
        });
    }

    /// True while the call's transaction is open and has sent nothing (no snapshot yet).
    pub fn untouched(&self) -> bool {
        let t = self.slot.transaction();
        t.open && t.generation == self.generation && t.sent == 0
    }

    /// True when the call was made in an open transaction.
    pub fn in_transaction(&self) -> bool {
        let t = self.slot.transaction();
        t.open && t.generation == self.generation
    }
}

/// The error of a call in a transaction that needed the fence's tenant index built first: the
/// build runs outside the transaction (which may hold the collection's lock, so it cannot be
/// awaited) and the transaction must start over to see the index. Labelled so that
/// `withTransaction` (the driver's rule) retries it.
pub fn index_built_outside(collection: &str) -> FenceError {
    FenceError::Driver(json!({
        "name": "MongoTransactionError",
        "message": format!("tenantfence had to build its tenant index on collection '{collection}' outside the transaction; the transaction must be retried (withTransaction does so)"),
        "labels": ["TransientTransactionError"],
    }))
}

/// A session as JS holds it; `lib/session.js` wraps it in `FenceSession`.
#[napi]
pub struct NativeSession {
    slot: Arc<SessionSlot>,
}

impl NativeSession {
    /// Wraps a started driver session of fence `fence`, owned by `owner` when it is known.
    pub fn new(fence: u64, s: ClientSession, owner: Option<Principal>) -> Self {
        NativeSession {
            slot: Arc::new(SessionSlot {
                fence,
                session: tokio::sync::Mutex::new(Some(s)),
                owner: Mutex::new(owner),
                transaction: Mutex::new(Transaction::default()),
            }),
        }
    }

    /// This session for a call made now, in the transaction generation current now.
    pub fn use_now(&self) -> SessionUse {
        let t = self.slot.transaction();
        SessionUse { slot: self.slot.clone(), generation: t.generation, in_transaction: t.open }
    }
}

/// The session options of `startSession(options)`: the driver's, but `snapshot`.
pub fn session_options(raw: Document) -> FenceResult<SessionOptions> {
    let mut o = SessionOptions::default();
    for (k, v) in raw {
        match (k.as_str(), v) {
            (_, Bson::Null | Bson::Undefined) => {}
            ("causalConsistency", Bson::Boolean(b)) => o.causal_consistency = Some(b),
            ("causalConsistency", _) => {
                return Err(super::error::arg("options.causalConsistency must be a boolean"))
            }
            ("defaultTransactionOptions", Bson::Document(d)) => {
                o.default_transaction_options = Some(transaction_options(d)?)
            }
            ("defaultTransactionOptions", _) => {
                return Err(super::error::arg("options.defaultTransactionOptions must be an object"))
            }
            (k, _) => {
                return Err(super::error::arg(format!(
                    "options.{k} is not a session option tenantfence supports (causalConsistency, defaultTransactionOptions)"
                )))
            }
        }
    }
    Ok(o)
}

/// The transaction options of `startTransaction(options)` / `withTransaction(fn, options)`.
pub fn transaction_options(raw: Document) -> FenceResult<TransactionOptions> {
    let mut max_commit = None;
    let mut rest = Document::new();
    for (k, v) in raw {
        if matches!(v, Bson::Null | Bson::Undefined) {
            continue;
        }
        if k == "maxCommitTimeMS" {
            let ms = super::options::want_non_negative(&v, "maxCommitTimeMS")?;
            max_commit = Some(Duration::from_millis(ms));
        } else {
            rest.insert(k, v);
        }
    }
    let o = CallOptions::parse(rest, &["readConcern", "writeConcern", "readPreference"])?;
    let mut t = TransactionOptions::default();
    t.read_concern = o.read_concern;
    t.write_concern = o.write_concern;
    t.selection_criteria = o.selection_criteria;
    t.max_commit_time = max_commit;
    Ok(t)
}

/// Runs `f` on the session, held, after admitting `caller` (a context's principal; none: code
/// outside any context, the app's own), then updates the transaction state with `after`.
async fn control<T>(
    slot: Arc<SessionSlot>,
    caller: FenceResult<Option<Principal>>,
    f: impl AsyncFnOnce(&mut ClientSession) -> FenceResult<T>,
    after: impl FnOnce(&mut Transaction, bool),
) -> FenceResult<T> {
    if let Some(p) = caller? {
        slot.admit(slot.fence, &p)?;
    }
    let mut held = slot.session.lock().await;
    let Some(s) = held.as_mut() else { return Err(ended()) };
    let r = f(s).await;
    slot.update(|t| after(t, r.is_ok()));
    r
}

/// The principal of the context a session method is called under, if any.
fn caller_of(ctx: Option<&TenantContext>) -> FenceResult<Option<Principal>> {
    ctx.map(|c| c.admit().cloned().map_err(FenceError::from)).transpose()
}

#[napi]
impl NativeSession {
    /// Refuses, now, a caller other than the session's owner (`startTransaction` is synchronous
    /// in the driver: its refusal must be too).
    #[napi]
    pub fn admit_caller(&self, ctx: Option<&TenantContext>) -> napi::Result<()> {
        if let Some(p) = caller_of(ctx)? {
            self.slot.admit(self.slot.fence, &p)?;
        }
        Ok(())
    }

    /// Starts a transaction with the BSON `options` (read/write concern, read preference,
    /// maxCommitTimeMS); the session's defaults fill the rest. Under a context, only the
    /// session's owner may (as for every method that changes its transaction).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_transaction<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
        options: &[u8],
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        let caller = caller_of(ctx);
        let raw = super::payload::document(options)
            .map_err(|e| super::error::arg(format!("options: {e}")))
            .and_then(transaction_options);
        spawn(env, move || async move {
            let opts = raw?;
            let start = async |s: &mut ClientSession| {
                s.start_transaction().with_options(opts).await.map_err(FenceError::from)
            };
            control(slot, caller, start, |t, ok| {
                if ok {
                    *t = t.next(true, false);
                }
            })
            .await
        })
    }

    /// Commits the transaction (the driver retries the commit once on a retryable error; a
    /// failed commit may be called again).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit_transaction<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        let caller = caller_of(ctx);
        spawn(env, move || async move {
            let doomed = slot.transaction().doomed;
            let commit = async move |s: &mut ClientSession| {
                if doomed {
                    // Aborted, as the server would have after the error the fence gave.
                    let _ = s.abort_transaction().await;
                    return Err(aborted_by_fence());
                }
                s.commit_transaction().await.map_err(FenceError::from)
            };
            // Calls of the transaction not yet sent are not sent after a commit attempt.
            control(slot, caller, commit, move |t, ok| *t = t.next(false, !ok && !doomed)).await
        })
    }

    /// Aborts the transaction.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn abort_transaction<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        let caller = caller_of(ctx);
        spawn(env, move || async move {
            let abort =
                async |s: &mut ClientSession| s.abort_transaction().await.map_err(FenceError::from);
            control(slot, caller, abort, |t, _| *t = t.next(false, false)).await
        })
    }

    /// Ends the session: a transaction still open is aborted, and later calls in it fail.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn end_session<'e>(
        &self,
        env: &'e Env,
        ctx: Option<&TenantContext>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        let caller = caller_of(ctx);
        spawn(env, move || async move {
            if let Some(p) = caller? {
                slot.admit(slot.fence, &p)?;
            }
            let mut held = slot.session.lock().await;
            if let Some(s) = held.take() {
                // After a failed commit the driver counts the transaction as committed: its
                // drop sends nothing, and the server would keep the transaction (and its locks)
                // until its lifetime limit. Ending the server session aborts it now.
                if slot.transaction().unsettled {
                    let end = bson::doc! { "endSessions": [s.id().clone()] };
                    let _ = s.client().database("admin").run_command(end).await;
                }
                // Dropping a session in a transaction aborts it (the driver sends abortTransaction).
                drop(s);
            }
            slot.update(|t| *t = t.next(false, false));
            Ok(())
        })
    }

    /// The server session id `{ id: UUID }` as BSON, or null once ended or while in use.
    #[napi]
    pub fn id(&self) -> Option<Buffer> {
        let held = self.slot.session.try_lock().ok()?;
        let doc = held.as_ref()?.id().clone();
        bson::to_vec(&doc).ok().map(Buffer::from)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        // The last holder (the JS session, a cursor opened in it) is gone without
        // endSession(): the driver's drop (an abort, the server session's return to the pool)
        // needs a tokio context, and JS finalizers run outside one.
        super::runtime::drop_outside_js(self.session.get_mut().take());
    }
}
