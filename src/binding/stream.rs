//! Scoped change streams: the driver's `ChangeStream` opened with `scope::change_stream`'s plan,
//! every event run through the plan's `Delivery` before JS sees it. The driver resumes on its
//! own after resumable errors (a primary stepdown), with the server's tokens; JS only ever
//! holds tokens bound to the stream's tenant and collection.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures_util::StreamExt;
use mongodb::change_stream::event::ResumeToken;
use mongodb::change_stream::ChangeStream;
use mongodb::options::{
    ChangeStreamOptions, Collation, FullDocumentBeforeChangeType, FullDocumentType,
};
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use tokio::sync::{watch, Mutex};

use super::error::{arg, FenceError, FenceResult};
use super::meter::{Meter, Owner};
use super::payload::Request;
use super::probe::{within, Tag};
use super::reply::Reply;
use super::state::FenceInner;
use super::target::Target;
use crate::scope::change_stream::{self, Delivered, Delivery, WatchOptions};
use crate::scope::Principal;
use crate::telemetry::Metrics;

/// The token key of fences given no `resumeTokenKey`: random, once per process.
pub fn process_key() -> Arc<Vec<u8>> {
    static KEY: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        if getrandom::getrandom(&mut k).is_err() {
            // No OS randomness (not on supported platforms): time and pid, still per process.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            k[..16].copy_from_slice(&t.to_le_bytes());
            k[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
        Arc::new(k.to_vec())
    })
    .clone()
}

/// An open stream and how its events are delivered.
pub struct Opened {
    stream: ChangeStream<RawDocumentBuf>,
    delivery: Delivery,
}

/// Opens `watch(pipeline, options)` on `collection` for `principal`.
pub async fn open(
    inner: Arc<FenceInner>,
    principal: Principal,
    collection: String,
    mut req: Request,
    key: &[u8],
) -> FenceResult<Opened> {
    let t = Target::resolve(inner, principal, &collection)?;
    let pipeline = match req.value("pipeline") {
        None | Some(Bson::Null) => Vec::new(),
        Some(p) => {
            req.0.insert("pipeline", p);
            req.docs("pipeline", "pipeline")?
        }
    };
    let options = req.doc_or_empty("options", "options")?;
    let plan = change_stream::plan_watch(&t.scope, &t.ns, pipeline, options, key)?;
    if plan.needs_pre_images {
        let enabled = pre_images(&t).await?;
        change_stream::check_pre_images(&plan, &collection, enabled)?;
    }
    let opts = driver_options(plan.options)?;
    let stream = t
        .coll
        .watch()
        .pipeline(plan.pipeline)
        .with_options(opts)
        .await?
        .with_type::<RawDocumentBuf>();
    Ok(Opened { stream, delivery: plan.delivery })
}

/// The collection's `changeStreamPreAndPostImages.enabled`; `None` when it does not exist.
/// Asked afresh at every `watch` (not from the fence's cached facts): a `collMod` may have
/// turned it on or off since.
async fn pre_images(t: &Target) -> FenceResult<Option<bool>> {
    let Some(info) = t.collection_info().await? else { return Ok(None) };
    let enabled = info
        .get_document("options")
        .ok()
        .and_then(|o| o.get_document("changeStreamPreAndPostImages").ok())
        .and_then(|p| p.get_bool("enabled").ok())
        .unwrap_or(false);
    Ok(Some(enabled))
}

fn driver_options(o: WatchOptions) -> FenceResult<ChangeStreamOptions> {
    macro_rules! parse {
        ($what:expr, $v:expr) => {
            bson::from_bson($v).map_err(|e| arg(format!("options.{}: {e}", $what)))
        };
    }
    let token = |d: Option<Document>| -> FenceResult<Option<ResumeToken>> {
        d.map(|d| parse!("resume token", Bson::Document(d))).transpose()
    };
    let mut out = ChangeStreamOptions::default();
    out.full_document = o
        .full_document
        .filter(|m| m != "default")
        .map(|m| -> FenceResult<FullDocumentType> { parse!("fullDocument", Bson::String(m)) })
        .transpose()?;
    out.full_document_before_change = o
        .full_document_before_change
        .map(|m| -> FenceResult<FullDocumentBeforeChangeType> {
            parse!("fullDocumentBeforeChange", Bson::String(m))
        })
        .transpose()?;
    out.resume_after = token(o.resume_after)?;
    out.start_after = token(o.start_after)?;
    out.start_at_operation_time = o.start_at_operation_time;
    out.max_await_time = o.max_await_time_ms.map(Duration::from_millis);
    out.batch_size = o.batch_size;
    out.collation = o
        .collation
        .map(|c| -> FenceResult<Collation> { parse!("collation", Bson::Document(c)) })
        .transpose()?;
    out.show_expanded_events = o.show_expanded_events;
    out.comment = o.comment;
    Ok(out)
}

/// A change stream opened under one context; JS reads it event by event.
#[napi]
pub struct NativeChangeStream {
    stream: Arc<Mutex<Option<ChangeStream<RawDocumentBuf>>>>,
    delivery: Arc<Delivery>,
    key: Arc<Vec<u8>>,
    /// Set by `close()`: a `next()` waiting on the server gives up at once.
    closing: watch::Sender<bool>,
    /// The bound token of the last delivered event, as BSON.
    token: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    tag: Option<Tag>,
    /// Set once the `runAsSystem` context it was opened under has ended.
    ended: Arc<super::context::Ended>,
    metrics: Option<(Arc<Metrics>, Owner)>,
}

impl NativeChangeStream {
    pub fn new(
        opened: Opened,
        key: Arc<Vec<u8>>,
        tag: Option<Tag>,
        ended: Arc<super::context::Ended>,
        metrics: Option<(Arc<Metrics>, Owner)>,
    ) -> Self {
        NativeChangeStream {
            stream: Arc::new(Mutex::new(Some(opened.stream))),
            delivery: Arc::new(opened.delivery),
            key,
            closing: watch::channel(false).0,
            token: Arc::default(),
            tag,
            ended,
            metrics,
        }
    }

    fn read(&self, wait: bool) -> impl std::future::Future<Output = FenceResult<Option<Reply>>> {
        let stream = self.stream.clone();
        let delivery = self.delivery.clone();
        let key = self.key.clone();
        let token = self.token.clone();
        let mut closing = self.closing.subscribe();
        let ended = self.ended.is_set();
        let tag = self.tag.clone();
        let meter =
            self.metrics.as_ref().and_then(|(m, o)| Meter::start(&Some(m.clone()), o.clone(), 0));
        async move {
            if ended {
                return Err(super::context::ended().into());
            }
            let out = within(tag, async move {
                let mut guard = stream.lock().await;
                loop {
                    let Some(cs) = guard.as_mut() else { return Ok(None) };
                    let got = if wait {
                        tokio::select! {
                            biased;
                            _ = closing.wait_for(|c| *c) => {
                                *guard = None;
                                return Ok(None);
                            }
                            ev = cs.next() => ev.transpose(),
                        }
                    } else {
                        cs.next_if_any().await
                    };
                    let raw = match got {
                        Err(e) => {
                            *guard = None;
                            return Err(FenceError::Mongo(e));
                        }
                        Ok(None) => {
                            // Exhausted (an invalidate ended it), or nothing yet (`tryNext`).
                            if wait || !cs.is_alive() {
                                *guard = None;
                            }
                            return Ok(None);
                        }
                        Ok(Some(raw)) => raw,
                    };
                    let event = raw.to_document().map_err(|e| FenceError::Mongo(e.into()))?;
                    match delivery.deliver(&key, event) {
                        Delivered::Event(d) => {
                            let mut bytes = Vec::new();
                            d.to_writer(&mut bytes).map_err(|e| FenceError::Mongo(e.into()))?;
                            if let Some(Bson::Document(t)) = d.get("_id") {
                                let mut tb = Vec::new();
                                if t.to_writer(&mut tb).is_ok() {
                                    if let Ok(mut slot) = token.lock() {
                                        *slot = Some(tb);
                                    }
                                }
                            }
                            return Ok(Some(Reply(bytes)));
                        }
                        // Not the caller's (fail closed): as if the server had not sent it.
                        Delivered::Dropped if wait => continue,
                        Delivered::Dropped => return Ok(None),
                    }
                }
            })
            .await;
            if let (Some(mut m), Ok(Some(r))) = (meter, &out) {
                m.server = m.elapsed();
                m.finish("getMore", &out, Some(r.0.as_slice()), Some(1));
            }
            out
        }
    }
}

#[napi]
impl NativeChangeStream {
    /// The next event as BSON, waiting for one; null once the stream is closed or has ended.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn next<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<Reply>>> {
        let read = self.read(true);
        super::settle::spawn(env, move || read)
    }

    /// The next event if one is ready after at most one server round trip, else null.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn try_next<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<Reply>>> {
        let read = self.read(false);
        super::settle::spawn(env, move || read)
    }

    /// The bound resume token of the last delivered event (BSON), or null before the first.
    #[napi(getter)]
    pub fn resume_token(&self) -> Option<Buffer> {
        self.token.lock().ok().and_then(|t| t.clone()).map(Buffer::from)
    }

    /// Closes the stream (a `next()` waiting on the server resolves null).
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let _ = self.closing.send(true);
        let stream = self.stream.clone();
        let tag = self.tag.clone();
        super::settle::spawn(env, move || {
            within(tag, async move {
                // Dropping an open driver stream sends killCursors.
                stream.lock().await.take();
                Ok(())
            })
        })
    }
}

impl Drop for NativeChangeStream {
    fn drop(&mut self) {
        let _ = self.closing.send(true);
        // The driver's killCursors on drop needs a tokio context; JS finalizers run outside one.
        if let Ok(mut g) = self.stream.try_lock() {
            super::runtime::drop_outside_js(g.take());
        }
    }
}
