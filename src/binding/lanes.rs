//! Calls that can share one command wait behind the one on the wire, then go out together.
//!
//! One lane per `ShareKey` (decided in `scope::share`: fence, full namespace, strategy,
//! tenant field, collation): a call that finds it idle takes it and is sent at once, alone,
//! exactly as without lanes; calls that find it busy queue. When the command on the wire
//! returns, the queue goes out as one command (`Serve`), and so on until the lane is idle.
//! A lone call therefore waits for nothing, and a queued call is never added to a command
//! already sent, so a call made after another finished is sent after it too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::error::{cancelled, FenceError, FenceResult};
use crate::scope::share::ShareKey;

/// Sends one batch of queued calls and answers each; runs on tokio. Built from the lane's
/// key alone, so a batch goes where every call in it would have gone alone.
pub type Serve<W> = Arc<dyn Fn(Vec<W>) -> BoxFuture<'static, ()> + Send + Sync>;

struct Lane<W> {
    waiting: Vec<W>,
}

/// The lanes of one fence for one kind of call, by share key.
pub struct Lanes<W> {
    map: Mutex<HashMap<ShareKey, Lane<W>>>,
    /// At most this many queued calls go out in one command.
    max: usize,
    /// At most this much weight (`weight` of each call: its bytes, say) goes out in one
    /// command; a first call heavier than that still goes, alone.
    max_weight: usize,
    weight: fn(&W) -> usize,
}

impl<W: Send + 'static> Lanes<W> {
    /// Lanes sending at most `max` queued calls, and `max_weight` of their `weight`, per command.
    pub fn new(max: usize, max_weight: usize, weight: fn(&W) -> usize) -> Self {
        Lanes { map: Mutex::new(HashMap::new()), max, max_weight, weight }
    }

    /// How many of `waiting`'s first calls fit in one command.
    fn batch_len(&self, waiting: &[W]) -> usize {
        let mut total = 0;
        let mut n = 0;
        for w in waiting.iter().take(self.max) {
            total += (self.weight)(w);
            if n > 0 && total > self.max_weight {
                break;
            }
            n += 1;
        }
        n
    }

    /// Calls queued behind a command on the wire, in all lanes (tests wait on it to know a
    /// burst is queued before they let the lane's command return).
    pub fn queued(&self) -> usize {
        self.lock().values().map(|l| l.waiting.len()).sum()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ShareKey, Lane<W>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one call on lane `key`: when the lane is idle, `lone(item)` is sent at once and
    /// the lane is this call's until it ends (then `serve(key)` sends whatever queued
    /// meanwhile); otherwise `waiter(item, tx)` queues it and the answer comes back on `tx`.
    pub async fn call<X, T, E, F>(
        self: &Arc<Self>,
        key: &ShareKey,
        item: X,
        waiter: impl FnOnce(X, oneshot::Sender<Result<T, E>>) -> W,
        serve: impl FnOnce(&ShareKey) -> Serve<W>,
        lone: impl FnOnce(X) -> F,
    ) -> FenceResult<T>
    where
        F: Future<Output = Result<T, E>>,
        FenceError: From<E>,
    {
        let queued = {
            let mut map = self.lock();
            match map.get_mut(key) {
                Some(lane) => {
                    let (tx, rx) = oneshot::channel();
                    lane.waiting.push(waiter(item, tx));
                    Err(rx)
                }
                None => {
                    map.insert(key.clone(), Lane { waiting: Vec::new() });
                    Ok(item)
                }
            }
        };
        match queued {
            Ok(item) => {
                let _turn = Turn { lanes: Some(self.clone()), key: key.clone(), serve: serve(key) };
                Ok(lone(item).await?)
            }
            // A dropped sender means the batch was dropped unsent (the runtime is shutting down).
            Err(rx) => rx.await.map_err(|_| cancelled())?.map_err(FenceError::from),
        }
    }
}

/// The right to send lane `key`'s next command.
pub struct Turn<W: Send + 'static> {
    lanes: Option<Arc<Lanes<W>>>,
    key: ShareKey,
    serve: Serve<W>,
}

impl<W: Send + 'static> Drop for Turn<W> {
    fn drop(&mut self) {
        let Some(lanes) = self.lanes.take() else { return };
        let batch = {
            let mut map = lanes.lock();
            let Some(lane) = map.get_mut(&self.key) else { return };
            if lane.waiting.is_empty() {
                map.remove(&self.key);
                return;
            }
            let n = lanes.batch_len(&lane.waiting);
            lane.waiting.drain(..n).collect::<Vec<_>>()
        };
        let next =
            Turn { lanes: Some(lanes.clone()), key: self.key.clone(), serve: self.serve.clone() };
        let work = (self.serve)(batch);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    work.await;
                    drop(next);
                });
            }
            // No runtime (it is shutting down): the queued calls' channels close and they
            // reject; the lane is forgotten so nothing waits on it.
            Err(_) => {
                drop(work);
                let mut next = next;
                next.lanes = None;
                lanes.lock().remove(&self.key);
            }
        }
    }
}
