//! Driver sessions handed to JS (`fence.startSession()`, `fence.withTransaction()`): the
//! driver's `ClientSession` behind a lock, the principal `scope::session` bound it to, and
//! `in_session!`, the one way an executor sends a driver action in the call's session.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document};
use mongodb::options::{SessionOptions, TransactionOptions};
use mongodb::ClientSession;
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use serde_json::json;

use super::error::{FenceError, FenceResult};
use super::options::CallOptions;
use super::settle::spawn;
use crate::scope::{session, Principal};

/// One driver session and who owns it; shared by the calls and cursors that run in it.
pub struct SessionSlot {
    /// The fence whose client started it: another fence's calls cannot run in it.
    fence: u64,
    /// `None` once `endSession()` ran. Held for the length of one driver action: calls in
    /// one session go one at a time, as the driver's `&mut ClientSession` requires.
    pub session: tokio::sync::Mutex<Option<ClientSession>>,
    owner: Mutex<Option<Principal>>,
    /// Between a successful `startTransaction` and its commit or abort.
    in_transaction: AtomicBool,
    /// Commands sent in the open transaction: before the first, it has no snapshot yet.
    sent_in_transaction: AtomicU64,
}

/// Sends the driver action `$action` in `$t`'s session when the call has one, as a
/// `FenceResult`. Every executor's data command goes through here.
macro_rules! in_session {
    ($slot:expr, $action:expr) => {{
        match $slot {
            Some(slot) => {
                let mut held = slot.session.lock().await;
                slot.sending();
                match held.as_mut() {
                    Some(s) => {
                        $action.session(s).await.map_err($crate::binding::error::FenceError::from)
                    }
                    None => Err($crate::binding::session::ended()),
                }
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

    /// Counts a command about to be sent in this session.
    pub fn sending(&self) {
        self.sent_in_transaction.fetch_add(1, Ordering::AcqRel);
    }

    /// True while the open transaction has sent nothing (its snapshot is not taken yet).
    pub fn untouched(&self) -> bool {
        self.sent_in_transaction.load(Ordering::Acquire) == 0
    }

    /// True while a transaction of this session is open.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction.load(Ordering::Acquire)
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
                in_transaction: AtomicBool::new(false),
                sent_in_transaction: AtomicU64::new(0),
            }),
        }
    }

    /// The shared slot, for a call or cursor that runs in this session.
    pub fn slot(&self) -> Arc<SessionSlot> {
        self.slot.clone()
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

async fn with_session<T>(
    slot: Arc<SessionSlot>,
    f: impl AsyncFnOnce(&mut ClientSession) -> FenceResult<T>,
) -> FenceResult<T> {
    let mut held = slot.session.lock().await;
    match held.as_mut() {
        Some(s) => f(s).await,
        None => Err(ended()),
    }
}

#[napi]
impl NativeSession {
    /// Starts a transaction with the BSON `options` (read/write concern, read preference,
    /// maxCommitTimeMS); the session's defaults fill the rest.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_transaction<'e>(
        &self,
        env: &'e Env,
        options: &[u8],
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        let raw = bson::from_slice::<Document>(options)
            .map_err(|e| super::error::arg(format!("options: {e}")))
            .and_then(transaction_options);
        spawn(env, move || async move {
            let opts = raw?;
            let flag = slot.clone();
            with_session(slot, async |s| {
                s.start_transaction().with_options(opts).await.map_err(FenceError::from)
            })
            .await?;
            flag.sent_in_transaction.store(0, Ordering::Release);
            flag.in_transaction.store(true, Ordering::Release);
            Ok(())
        })
    }

    /// Commits the transaction (the driver retries the commit once on a retryable error).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit_transaction<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        spawn(env, move || async move {
            let flag = slot.clone();
            let r = with_session(slot, async |s| {
                s.commit_transaction().await.map_err(FenceError::from)
            })
            .await;
            // A failed commit may be retried: the transaction stays open until one succeeds.
            if r.is_ok() {
                flag.in_transaction.store(false, Ordering::Release);
            }
            r
        })
    }

    /// Aborts the transaction.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn abort_transaction<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        spawn(env, move || async move {
            let flag = slot.clone();
            let r =
                with_session(slot, async |s| s.abort_transaction().await.map_err(FenceError::from))
                    .await;
            flag.in_transaction.store(false, Ordering::Release);
            r
        })
    }

    /// Ends the session: a transaction still open is aborted, and later calls in it fail.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn end_session<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let slot = self.slot.clone();
        spawn(env, move || async move {
            let taken = slot.session.lock().await.take();
            // Dropping a session in a transaction aborts it (the driver sends abortTransaction).
            drop(taken);
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
