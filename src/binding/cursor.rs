//! Batch-by-batch cursors: each `nextBatch()` hands JS one server batch as
//! concatenated BSON documents, so a million-document `for await` never holds
//! more than one batch in memory.

use std::sync::Arc;

use bson::RawBsonRef;
use futures_util::StreamExt;
use mongodb::raw_batch_cursor::{RawBatch, RawBatchCursor, SessionRawBatchCursor};
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use tokio::sync::Mutex;

use super::error::{FenceError, FenceResult};
use super::meter::{Meter, Owner};
use super::probe::{within, Tag};
use super::reply::Reply;
use super::session::SessionUse;
use crate::telemetry::Metrics;

/// One batch for `toJSONBuffer()`: its JSON text, or its BSON when it could not be rendered.
#[napi(object)]
pub struct JsonBatch {
    pub json: Option<Buffer>,
    pub bson: Option<Buffer>,
}

/// An open server cursor: on its own, or in the session it was opened in (each `getMore`
/// must be sent in that session, so it holds the session's slot).
pub enum Batches {
    Plain(RawBatchCursor),
    InSession(SessionRawBatchCursor, SessionUse),
}

impl Batches {
    async fn next(&mut self) -> Option<FenceResult<RawBatch>> {
        let next = match self {
            Batches::Plain(c) => c.next().await,
            Batches::InSession(c, session) => match session.hold().await {
                Ok(mut s) => c.stream(&mut s).next().await,
                Err(e) => return Some(Err(e)),
            },
        };
        next.map(|r| r.map_err(FenceError::Mongo))
    }
}

/// A server cursor opened under one tenant context; JS reads it batch by batch.
#[napi]
pub struct NativeCursor {
    inner: Arc<Mutex<Option<Batches>>>,
    /// The opening operation's tag, so the probe sees getMore under the same tenant.
    tag: Option<Tag>,
    /// Set once the `runAsSystem` context the cursor was opened under has ended: no batch is
    /// fetched after that (documents already fetched stay readable in JS).
    ended: Arc<super::context::Ended>,
    /// Where each batch is counted (as `getMore`), and for whom; `None` when metrics are off.
    metrics: Option<(Arc<Metrics>, Owner)>,
}

impl NativeCursor {
    /// Wraps an open driver cursor opened under a context whose end is `ended`.
    pub fn new(
        cursor: Batches,
        tag: Option<Tag>,
        ended: Arc<super::context::Ended>,
        metrics: Option<(Arc<Metrics>, Owner)>,
    ) -> Self {
        NativeCursor { inner: Arc::new(Mutex::new(Some(cursor))), tag, ended, metrics }
    }
}

/// The number of documents in a batch of concatenated documents.
fn documents_in(batch: &[u8]) -> u64 {
    let (mut n, mut at) = (0, 0);
    while at + 4 <= batch.len() {
        let len = i32::from_le_bytes([batch[at], batch[at + 1], batch[at + 2], batch[at + 3]]);
        at += len.max(5) as usize;
        n += 1;
    }
    n
}

async fn next_batch(inner: Arc<Mutex<Option<Batches>>>) -> FenceResult<Option<Reply>> {
    let mut guard = inner.lock().await;
    loop {
        let Some(cursor) = guard.as_mut() else { return Ok(None) };
        match cursor.next().await {
            None => {
                *guard = None;
                return Ok(None);
            }
            Some(Err(e)) => {
                *guard = None;
                return Err(e);
            }
            Some(Ok(batch)) => {
                let docs = batch.doc_slices()?;
                let mut out = Vec::with_capacity(batch.as_raw_document().as_bytes().len());
                for item in docs {
                    if let RawBsonRef::Document(d) =
                        item.map_err(|e| FenceError::Mongo(e.into()))?
                    {
                        out.extend_from_slice(d.as_bytes());
                    }
                }
                // Servers may send empty batches (batchSize 0, awaitData); keep reading.
                if !out.is_empty() {
                    return Ok(Some(Reply(out)));
                }
            }
        }
    }
}

impl NativeCursor {
    /// The next batch, counted (as `getMore`) in the fence's metrics; refused once the
    /// `runAsSystem` context it was opened under has ended.
    fn next_counted(&self) -> impl std::future::Future<Output = FenceResult<Option<Reply>>> {
        let inner = self.inner.clone();
        let tag = self.tag.clone();
        let ended = self.ended.is_set();
        let meter =
            self.metrics.as_ref().and_then(|(m, o)| Meter::start(&Some(m.clone()), o.clone(), 0));
        async move {
            let out = if ended {
                Err(super::context::ended().into())
            } else {
                within(tag, next_batch(inner)).await
            };
            // The read that finds the cursor exhausted hands back nothing: it is not a batch.
            if let (Some(mut m), false) = (meter, matches!(out, Ok(None))) {
                let batch = out.as_ref().ok().and_then(|b| b.as_ref()).map(|r| r.0.as_slice());
                m.server = m.elapsed();
                m.finish("getMore", &out, batch, Some(batch.map_or(0, documents_in)));
            }
            out
        }
    }
}

#[napi]
impl NativeCursor {
    /// The next batch as concatenated BSON documents, or null when the cursor is exhausted.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn next_batch<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<Reply>>> {
        let next = self.next_counted();
        super::settle::spawn(env, move || next)
    }

    /// The next batch rendered as the JSON text `JSON.stringify` gives for its decoded documents
    /// (`{ json }`), or as BSON (`{ bson }`) when `json::render_array` will not promise the same
    /// bytes; null when the cursor is exhausted. Rendering runs here, off the JS thread.
    #[napi(ts_return_type = "Promise<{ json?: Buffer; bson?: Buffer } | null>")]
    pub fn next_batch_json<'e>(
        &self,
        env: &'e Env,
    ) -> napi::Result<PromiseRaw<'e, Option<JsonBatch>>> {
        let next = self.next_counted();
        super::settle::spawn(env, move || async move {
            Ok(next.await?.map(|Reply(bson)| {
                let mut json = Vec::with_capacity(bson.len() + bson.len() / 4);
                match crate::json::render_array(&bson, &mut json) {
                    Ok(()) => JsonBatch { json: Some(json.into()), bson: None },
                    Err(_) => JsonBatch { json: None, bson: Some(bson.into()) },
                }
            }))
        })
    }

    /// Kills the server cursor now instead of when it is garbage collected.
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let inner = self.inner.clone();
        let tag = self.tag.clone();
        super::settle::spawn(env, move || {
            within(tag, async move {
                // Dropping an unexhausted driver cursor sends killCursors.
                inner.lock().await.take();
                Ok(())
            })
        })
    }
}

impl Drop for NativeCursor {
    fn drop(&mut self) {
        // The driver's killCursors on drop needs a tokio context; JS finalizers run outside one.
        if let Ok(mut g) = self.inner.try_lock() {
            super::runtime::drop_outside_js(g.take());
        }
    }
}
