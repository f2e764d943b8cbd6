//! Calls that can share one command wait behind the one on the wire, then go out together.
//!
//! One lane per collection: a call that finds it idle takes it and is sent at once, alone,
//! exactly as without lanes; calls that find it busy queue. When the command on the wire
//! returns, the queue goes out as one command (`Serve`), and so on until the lane is idle.
//! A lone call therefore waits for nothing, and a queued call is never added to a command
//! already sent, so a call made after another finished is sent after it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::error::{FenceError, FenceResult};
use crate::scope::ScopeError;

/// Sends one batch of queued calls and answers each; runs on tokio.
pub type Serve<W> = Arc<dyn Fn(Vec<W>) -> BoxFuture<'static, ()> + Send + Sync>;

struct Lane<W> {
    waiting: Vec<W>,
}

/// The lanes of one fence for one kind of call, by collection name.
pub struct Lanes<W> {
    map: Mutex<HashMap<String, Lane<W>>>,
    /// At most this many queued calls go out in one command.
    max: usize,
}

/// Whether a call leads its lane (send it now) or was queued behind the command on the wire.
pub enum Joined {
    Lead,
    Queued,
}

impl<W: Send + 'static> Lanes<W> {
    /// Lanes sending at most `max` queued calls per command.
    pub fn new(max: usize) -> Self {
        Lanes { map: Mutex::new(HashMap::new()), max }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Lane<W>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the lane `name` when idle, else queues the call `waiter` makes.
    pub fn join(&self, name: &str, waiter: impl FnOnce() -> W) -> Joined {
        let mut map = self.lock();
        match map.get_mut(name) {
            Some(lane) => {
                lane.waiting.push(waiter());
                Joined::Queued
            }
            None => {
                map.insert(name.to_string(), Lane { waiting: Vec::new() });
                Joined::Lead
            }
        }
    }

    /// The leader's hold on lane `name`: dropping it (however the call ends) sends the queue.
    pub fn turn(self: &Arc<Self>, name: &str, serve: Serve<W>) -> Turn<W> {
        Turn { lanes: Some(self.clone()), name: name.to_string(), serve }
    }
}

/// The right to send lane `name`'s next command.
pub struct Turn<W: Send + 'static> {
    lanes: Option<Arc<Lanes<W>>>,
    name: String,
    serve: Serve<W>,
}

impl<W: Send + 'static> Drop for Turn<W> {
    fn drop(&mut self) {
        let Some(lanes) = self.lanes.take() else { return };
        let batch = {
            let mut map = lanes.lock();
            let Some(lane) = map.get_mut(&self.name) else { return };
            if lane.waiting.is_empty() {
                map.remove(&self.name);
                return;
            }
            let n = lane.waiting.len().min(lanes.max);
            lane.waiting.drain(..n).collect::<Vec<_>>()
        };
        let next =
            Turn { lanes: Some(lanes.clone()), name: self.name.clone(), serve: self.serve.clone() };
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
                lanes.lock().remove(&self.name);
            }
        }
    }
}

/// What a queued call gets: its answer, or an error if its batch was dropped unsent.
pub async fn answer<T, E>(rx: oneshot::Receiver<Result<T, E>>) -> FenceResult<T>
where
    FenceError: From<E>,
{
    match rx.await {
        Ok(r) => Ok(r?),
        Err(_) => Err(FenceError::Scope(ScopeError::argument(
            "the operation was cancelled: the tenantfence runtime is shutting down",
        ))),
    }
}
