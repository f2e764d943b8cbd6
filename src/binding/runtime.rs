//! The tokio runtime the driver runs on, and dropping driver objects from JS finalizers.
//!
//! The driver's `Drop` impls spawn cleanup (killCursors, pool shutdown) and need a tokio
//! context, which the JS thread lacks; during process exit napi's runtime may already be gone,
//! and a panic there would abort Node. So: remember the runtime handle from inside a task,
//! enter it to drop, and never let a panic escape.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// Records the runtime handle; call from inside a spawned future.
pub fn remember() {
    if HANDLE.get().is_none() {
        if let Ok(h) = Handle::try_current() {
            let _ = HANDLE.set(h);
        }
    }
}

/// Drops `value` inside the runtime context when there is one, swallowing panics.
pub fn drop_outside_js<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || match HANDLE.get() {
        Some(h) => {
            let _guard = h.enter();
            drop(value);
        }
        None => drop(value),
    }));
}

/// Installs napi's tokio runtime with one worker unless `TOKIO_WORKER_THREADS` says otherwise.
///
/// Every call is one short hop (scope a request, write to a socket, wait, read a reply) and
/// JS can hand over only one call at a time. A second worker mostly steals tasks and wakes
/// its sibling through futexes: measured here, it costs more client CPU than it gives back.
#[napi_derive::module_init]
fn init() {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    if let Ok(rt) = Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tenantfence-io")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
