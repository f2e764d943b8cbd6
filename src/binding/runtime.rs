//! Dropping driver objects from JS finalizers. The driver's `Drop` impls spawn
//! cleanup (killCursors, pool shutdown) and need a tokio context, which the JS
//! thread lacks; during process exit napi's runtime may already be gone, and a
//! panic there would abort Node. So: remember the runtime handle from inside a
//! task, enter it to drop, and never let a panic escape.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tokio::runtime::Handle;

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
