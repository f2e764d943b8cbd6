//! Command monitoring for the isolation probe (`tenantfence/testing`). Off unless the
//! fence was connected with `monitorCommands`: building an event per command costs
//! time. When on, each fence operation runs inside a task-local naming who it runs
//! as; the driver calls the command-started handler inline on that task (executor
//! `emit_command_event` -> `EventHandler::Callback`), so the handler knows which
//! operation sent each command. The pure `scope::verdict` rule judges it,
//! `scope::cursor_owners` checks a getMore against the cursor's opener (from the
//! started / succeeded events), and the result goes into a bounded buffer that JS drains.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bson::{doc, Bson, Document};
use mongodb::event::command::{CommandEvent, CommandStartedEvent};
use mongodb::event::EventHandler;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::error::{arg, FenceError};
use super::payload::Request;
use crate::scope::cursor_owners::CursorOwners;
use crate::scope::spec::{IdRule, TenantSpec};
use crate::scope::verdict::{
    caller_parts, delivered, judge_command as judge, owner_checked, Share, Verdict,
};
use crate::scope::Principal;

/// Who one fence operation runs as, visible to the command handler.
#[derive(Debug, Clone)]
pub struct Tag {
    pub principal: Principal,
    /// The `runAsSystem` reason.
    pub reason: Option<String>,
    /// Set when the operation reads by exact `_id` and checks the owner in Rust.
    pub id_lookup: Arc<AtomicBool>,
}

impl Tag {
    /// The tag of an operation run as `principal`.
    pub fn new(principal: Principal, reason: Option<String>) -> Self {
        Tag { principal, reason, id_lookup: Arc::default() }
    }
}

/// Tells the probe this operation fetches by `_id` alone and drops a foreign document
/// itself (`scope::by_id`), so its unfiltered `find` is accounted for, not a leak.
pub fn note_id_lookup() {
    let _ = OPERATION.try_with(|t| t.id_lookup.store(true, Ordering::Relaxed));
}

/// The operation running on this task, while monitoring.
pub fn current() -> Option<Tag> {
    OPERATION.try_with(Tag::clone).ok()
}

/// One caller of a command sent for several callers, and its part of that command.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tag: Tag,
    pub share: Share,
}

tokio::task_local! {
    static OPERATION: Tag;
    /// The callers of the shared command this task sends (`lanes`).
    static SHARED: Arc<Vec<Caller>>;
}

/// Runs `fut`, which sends one command for `callers`, with them visible to the command
/// handler, so each caller's part is judged as that caller's (no-op when not monitoring).
pub async fn within_shared<F: Future>(callers: Option<Vec<Caller>>, fut: F) -> F::Output {
    match callers {
        Some(c) => SHARED.scope(Arc::new(c), fut).await,
        None => fut.await,
    }
}

/// Runs `fut` with `tag` visible to the command handler (no-op when monitoring is off).
pub async fn within<F: Future>(tag: Option<Tag>, fut: F) -> F::Output {
    match tag {
        Some(t) => OPERATION.scope(t, fut).await,
        None => fut.await,
    }
}

/// Records kept between drains; beyond it only violations are kept (up to VIOLATIONS more).
const KEEP: usize = 10_000;
const VIOLATIONS: usize = 1_000;

/// What the drained log holds.
#[derive(Default)]
struct Log {
    records: Vec<Document>,
    dropped: i64,
    dropped_violations: i64,
}

impl Log {
    /// Keeps `rec`, or counts it once the log is full (violations get extra room).
    fn push(&mut self, rec: Document) {
        let violation = !rec.get_bool("scoped").unwrap_or(false);
        if self.records.len() < KEEP || (violation && self.records.len() < KEEP + VIOLATIONS) {
            self.records.push(rec);
        } else if violation {
            self.dropped_violations += 1;
        } else {
            self.dropped += 1;
        }
    }
}

#[derive(Default)]
struct State {
    log: Log,
    cursors: CursorOwners,
}

/// The judged commands of one fence, waiting for JS to drain them.
pub struct Recorder {
    settings: TenantSpec,
    state: Mutex<State>,
}

impl Recorder {
    /// A recorder judging by this fence's settings.
    pub fn new(settings: TenantSpec) -> Arc<Self> {
        Arc::new(Recorder { settings, state: Mutex::new(State::default()) })
    }

    /// The driver handler feeding this recorder.
    pub fn handler(self: &Arc<Self>) -> EventHandler<CommandEvent> {
        let me = self.clone();
        EventHandler::callback(move |ev| {
            // A bug here must not fail the user's operation.
            let _ = catch_unwind(AssertUnwindSafe(|| match ev {
                CommandEvent::Started(e) => me.record(&e),
                CommandEvent::Succeeded(e) => {
                    if let Ok(mut s) = me.state.lock() {
                        s.cursors.succeeded(e.request_id, &e.reply);
                    }
                }
                CommandEvent::Failed(e) => {
                    if let Ok(mut s) = me.state.lock() {
                        s.cursors.failed(e.request_id);
                    }
                }
                _ => {}
            }));
        })
    }

    fn record(&self, e: &CommandStartedEvent) {
        let tag = OPERATION.try_with(Tag::clone).ok();
        if tag.is_none() {
            if let Ok(callers) = SHARED.try_with(Arc::clone) {
                return self.record_shared(e, &callers);
            }
        }
        let mut rec = describe(&self.settings, tag.as_ref(), &e.db, &e.command);
        let scoped = rec.get_bool("scoped").unwrap_or(false);
        let Ok(mut s) = self.state.lock() else { return };
        if let Some(why) =
            s.cursors.started(e.request_id, &e.command, tag.as_ref().map(|t| &t.principal), scoped)
        {
            // Reading another principal's cursor reads its documents.
            rec.insert("data", true);
            rec.insert("scoped", false);
            rec.insert("reason", why);
        }
        s.log.push(rec);
    }

    /// A command sent for several callers: one record per caller, judging that caller's part
    /// of it as if the caller had sent it alone (its document, its `_id`).
    fn record_shared(&self, e: &CommandStartedEvent, callers: &[Caller]) {
        let name = e.command.keys().next().map(String::as_str).unwrap_or_default();
        let Ok(mut s) = self.state.lock() else { return };
        if matches!(name, "getMore" | "killCursors") {
            // Only the shared find's own cursor is continued on this task; every document it
            // yields is checked when handed out (`delivered`).
            s.log.push(describe(&self.settings, None, &e.db, &e.command));
            return;
        }
        let shares: Vec<Share> = callers.iter().map(|c| c.share.clone()).collect();
        for (owner, part) in caller_parts(&e.command, &shares) {
            let caller = owner.map(|i| &callers[i]);
            let mut rec = match (caller, part) {
                (Some(c), Ok(own)) => {
                    // An exact `_id` lookup is owner-checked in Rust, as a lone one is, and
                    // each answer is checked again by `delivered`.
                    let id_lookup = Arc::new(AtomicBool::new(matches!(c.share, Share::Id(_))));
                    let tag = Tag { id_lookup, ..c.tag.clone() };
                    describe(&self.settings, Some(&tag), &e.db, &own)
                }
                (c, Err(why)) => {
                    let mut r = describe(&self.settings, c.map(|c| &c.tag), &e.db, &e.command);
                    r.insert("scoped", false);
                    r.insert("reason", why);
                    r
                }
                (None, Ok(_)) => continue,
            };
            rec.insert("sharedBy", callers.len() as i64);
            s.log.push(rec);
        }
    }

    /// Checks a document about to be handed to `tag`'s caller; records a violation if it is
    /// not that caller's (`scope::verdict::delivered`).
    pub fn delivered(&self, tag: &Tag, db: &str, collection: &str, doc: &bson::RawDocument) {
        let Err(why) = delivered(&self.settings, &tag.principal, db, doc) else { return };
        let mut rec = doc! { "command": "find", "database": db, "collection": collection };
        if let Principal::Tenant(t) = &tag.principal {
            rec.insert("tenant", t.as_str());
        }
        rec.insert("data", true);
        rec.insert("scoped", false);
        rec.insert("reason", why);
        if let Ok(mut s) = self.state.lock() {
            s.log.push(rec);
        }
    }

    /// Takes the records so far: BSON `{records, dropped, droppedViolations}`.
    pub fn drain(&self) -> Vec<u8> {
        let taken = match self.state.lock() {
            Ok(mut s) => std::mem::take(&mut s.log),
            Err(_) => Log::default(),
        };
        let out = doc! {
            "records": taken.records.into_iter().map(Bson::Document).collect::<Vec<_>>(),
            "dropped": taken.dropped,
            "droppedViolations": taken.dropped_violations,
        };
        bson::to_vec(&out).unwrap_or_default()
    }
}

/// One record: what was sent, for whom, and whether it stayed within that tenant.
fn describe(settings: &TenantSpec, tag: Option<&Tag>, db: &str, command: &Document) -> Document {
    let mut judged = judge(settings, tag.map(|t| &t.principal), db, command);
    let id_lookup = tag.is_some_and(|t| t.id_lookup.load(Ordering::Relaxed));
    judged.verdict = owner_checked(judged.verdict, id_lookup, command);
    let mut rec = doc! { "command": judged.command, "database": db };
    if let Some(c) = judged.collection {
        rec.insert("collection", c);
    }
    match tag.map(|t| (&t.principal, &t.reason)) {
        Some((Principal::Tenant(t), _)) => {
            rec.insert("tenant", t.as_str());
        }
        Some((Principal::Tenants(ids), _)) => {
            rec.insert("tenants", ids.to_vec());
        }
        Some((Principal::System, reason)) => {
            rec.insert("system", true);
            if let Some(r) = reason {
                rec.insert("systemReason", r.as_str());
            }
        }
        None => {}
    }
    let (data, scoped, reason) = match judged.verdict {
        Verdict::Control => (false, true, None),
        Verdict::Scoped => (true, true, None),
        Verdict::System => {
            (true, false, Some("sent inside runAsSystem: not tenant-scoped".to_string()))
        }
        Verdict::Unscoped(why) => (true, false, Some(why)),
    };
    rec.insert("data", data);
    rec.insert("scoped", scoped);
    if let Some(r) = reason {
        rec.insert("reason", r);
    }
    rec
}

/// Judges one BSON command as if an operation of `tenant` (or, with `system`, of
/// `runAsSystem`) had sent it to database `db`; returns the record as BSON.
#[napi]
pub fn probe_command(
    tenant_field: String,
    strategy: String,
    database: String,
    tenant: Option<String>,
    system: bool,
    db: String,
    command: &[u8],
) -> napi::Result<Buffer> {
    // The id rule plays no part in a verdict.
    let settings = TenantSpec::new(&tenant_field, &strategy, &database, IdRule::Default)
        .map_err(FenceError::from)?;
    let command = Request::decode(command, None)?.0;
    let principal = match (tenant, system) {
        (Some(_), true) => return Err(arg("give a tenant or system, not both").into()),
        (Some(t), false) => Some(Principal::Tenant(t)),
        (None, true) => Some(Principal::System),
        (None, false) => None,
    };
    let tag = principal.map(|principal| Tag::new(principal, None));
    let rec = describe(&settings, tag.as_ref(), &db, &command);
    Ok(Buffer::from(bson::to_vec(&rec).map_err(|e| arg(format!("record: {e}")))?))
}
