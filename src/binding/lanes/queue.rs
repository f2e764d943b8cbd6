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

use crate::binding::error::{cancelled, FenceError, FenceResult};
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
    /// Who queued a call (its tenant): a command takes the owners' calls in turn, so one
    /// tenant's thousands of queued calls never push another tenant's to a later command.
    owner: fn(&W) -> &str,
}

impl<W: Send + 'static> Lanes<W> {
    /// Lanes sending at most `max` queued calls, and `max_weight` of their `weight`, per
    /// command, taking the calls of each `owner` in turn.
    pub fn new(
        max: usize,
        max_weight: usize,
        weight: fn(&W) -> usize,
        owner: fn(&W) -> &str,
    ) -> Self {
        Lanes { map: Mutex::new(HashMap::new()), max, max_weight, weight, owner }
    }

    /// The queued calls that go out in the next command: one of each owner in turn (each
    /// owner's in the order they came), until the count or the weight is reached; the first
    /// always goes.
    fn take_batch(&self, waiting: &mut Vec<W>) -> Vec<W> {
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for (i, w) in waiting.iter().enumerate() {
            let k = *slot.entry((self.owner)(w)).or_insert_with(|| {
                owners.push(Vec::new());
                owners.len() - 1
            });
            owners[k].push(i);
        }
        let mut picked = Vec::new();
        let mut total = 0;
        let mut next = vec![0usize; owners.len()];
        'turns: loop {
            let mut took = false;
            for (k, calls) in owners.iter().enumerate() {
                let Some(&i) = calls.get(next[k]) else { continue };
                let w = (self.weight)(&waiting[i]);
                if !picked.is_empty() && (picked.len() >= self.max || total + w > self.max_weight) {
                    break 'turns;
                }
                picked.push(i);
                total += w;
                next[k] += 1;
                took = true;
            }
            if !took {
                break;
            }
        }
        picked.sort_unstable();
        let mut batch = Vec::with_capacity(picked.len());
        let mut rest = Vec::with_capacity(waiting.len() - picked.len());
        let mut picks = picked.into_iter().peekable();
        for (i, w) in waiting.drain(..).enumerate() {
            if picks.peek() == Some(&i) {
                picks.next();
                batch.push(w);
            } else {
                rest.push(w);
            }
        }
        *waiting = rest;
        batch
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
            lanes.take_batch(&mut lane.waiting)
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
