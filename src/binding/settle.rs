//! Running calls on tokio and settling their promises on the JS thread.
//!
//! napi's `spawn_future` makes one threadsafe function per promise: a libuv handle, an async
//! resource with its hooks, and an eventfd wake-up of the event loop for every reply. Here each
//! JS thread has one threadsafe function and one queue: finished calls are queued, the first
//! one wakes the loop, and the loop settles the whole burst at once. At 64 calls in flight that
//! is one wake-up for many replies, and starting a call costs a promise and nothing else.

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env};

use super::error::{cancelled, FenceError, FenceResult};

/// Turns a finished call's value into a JS value; runs on the JS thread.
type Settler = Box<dyn FnOnce(sys::napi_env) -> napi::Result<sys::napi_value> + Send>;

/// A promise's deferred handle; only ever used on the JS thread that made it.
struct Deferred(sys::napi_deferred);
// SAFETY: the pointer travels through the tokio task untouched and is dereferenced by napi
// only in `drain`, which runs on the JS thread that created it.
unsafe impl Send for Deferred {}

struct Finished {
    deferred: Deferred,
    outcome: napi::Result<Settler>,
}

#[derive(Default)]
struct State {
    queue: Vec<Finished>,
    /// A drain is already on its way to the JS thread.
    scheduled: bool,
    /// Node finalized the threadsafe function (environment teardown): never call it again.
    closed: bool,
}

/// One JS thread's queue of finished calls and the threadsafe function that drains it.
struct Shared {
    tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
    state: Mutex<State>,
    /// Calls started on this JS thread and not yet settled; the loop stays alive while > 0.
    pending: AtomicUsize,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, done: Finished) {
        // The lock also orders this call against the finalizer: once `closed` is set under it,
        // no thread reaches the threadsafe function again.
        let mut st = self.state();
        if st.closed {
            return;
        }
        st.queue.push(done);
        if !st.scheduled {
            st.scheduled = true;
            // SAFETY: not closed, so Node has not finalized the function; callable from any thread.
            unsafe {
                sys::napi_call_threadsafe_function(
                    self.tsfn.load(Ordering::Acquire),
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }
}

thread_local! {
    static SHARED: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Where a running call puts its result; dropped unsettled, it rejects as cancelled.
struct Slot {
    shared: Arc<Shared>,
    deferred: Option<Deferred>,
}

impl Slot {
    fn settle(mut self, outcome: napi::Result<Settler>) {
        if let Some(deferred) = self.deferred.take() {
            self.shared.push(Finished { deferred, outcome });
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Only when the runtime drops the task unfinished (it is shutting down): the promise
        // must still settle, or the loop would be kept alive by a call that never ends.
        if let Some(deferred) = self.deferred.take() {
            self.shared.push(Finished { deferred, outcome: Err(cancelled().into()) });
        }
    }
}

/// Runs the future `make` builds on napi's tokio runtime and returns its promise; panics become errors.
///
/// The future is built and boxed on the tokio thread: a scoped call's future is several KiB
/// (the driver's state machines inline), and moving a small closure instead keeps those
/// copies off the JS thread.
pub fn spawn<'e, T, F, M>(env: &'e Env, make: M) -> napi::Result<PromiseRaw<'e, T>>
where
    T: 'static + Send + ToNapiValue,
    F: 'static + Send + Future<Output = FenceResult<T>>,
    M: 'static + Send + FnOnce() -> F,
{
    let shared = shared(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: called on the JS thread with its live env.
    napi::check_status!(unsafe {
        sys::napi_create_promise(env.raw(), &mut deferred, &mut promise)
    })?;
    if shared.pending.fetch_add(1, Ordering::Relaxed) == 0 {
        // SAFETY: JS thread; the function is alive (closed ones are replaced in `shared`).
        unsafe {
            sys::napi_ref_threadsafe_function(env.raw(), shared.tsfn.load(Ordering::Acquire))
        };
    }
    let slot = Slot { shared, deferred: Some(Deferred(deferred)) };
    let task = async move {
        super::runtime::remember();
        let outcome =
            match AssertUnwindSafe(async move { Box::pin(make()).await }).catch_unwind().await {
                Ok(Ok(value)) => {
                    Ok(Box::new(move |env| unsafe { T::to_napi_value(env, value) }) as Settler)
                }
                Ok(Err(e)) => Err(napi::Error::from(e)),
                Err(_) => Err(napi::Error::from(FenceError::Internal(
                    "the operation panicked and was stopped",
                ))),
            };
        slot.settle(outcome);
    };
    // napi's spawn panics when its runtime is gone (environment teardown); the task, and with it
    // the slot, is then dropped, which rejects the promise instead of unwinding into Node.
    let _ = catch_unwind(AssertUnwindSafe(|| napi::bindgen_prelude::spawn(task)));
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// This JS thread's queue, made on first use and again after its environment was torn down.
fn shared(env: &Env) -> napi::Result<Arc<Shared>> {
    SHARED.with(|cell| {
        let mut cell = cell.borrow_mut();
        if let Some(s) = cell.as_ref().filter(|s| !s.state().closed) {
            return Ok(s.clone());
        }
        let s = Arc::new(Shared {
            tsfn: AtomicPtr::new(ptr::null_mut()),
            state: Mutex::new(State::default()),
            pending: AtomicUsize::new(0),
        });
        // The threadsafe function owns one reference, given back in `finalize`.
        let context = Arc::into_raw(s.clone()) as *mut c_void;
        let mut name = ptr::null_mut();
        let mut tsfn = ptr::null_mut();
        // SAFETY: JS thread, live env; `context` stays valid until `finalize` takes it back.
        unsafe {
            napi::check_status!(sys::napi_create_string_utf8(
                env.raw(),
                c"tenantfence".as_ptr(),
                11,
                &mut name
            ))?;
            let status = sys::napi_create_threadsafe_function(
                env.raw(),
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                context,
                Some(finalize),
                context,
                Some(drain),
                &mut tsfn,
            );
            if status != sys::Status::napi_ok {
                drop(Arc::from_raw(context as *const Shared));
                napi::check_status!(status)?;
            }
            // Idle fences must not keep the process alive; `spawn` refs it while calls run.
            sys::napi_unref_threadsafe_function(env.raw(), tsfn);
        }
        s.tsfn.store(tsfn, Ordering::Release);
        *cell = Some(s.clone());
        Ok(s)
    })
}

/// Settles every queued call; Node runs it on the JS thread, then the microtasks once.
unsafe extern "C" fn drain(
    env: sys::napi_env,
    _js: sys::napi_value,
    context: *mut c_void,
    _: *mut c_void,
) {
    // A null env is Node emptying the queue at teardown; there is nothing left to settle.
    if env.is_null() || context.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `context` is the reference the threadsafe function owns until `finalize`.
        let shared = unsafe { &*(context as *const Shared) };
        let batch = {
            let mut st = shared.state();
            st.scheduled = false;
            mem::take(&mut st.queue)
        };
        let n = batch.len();
        for done in batch {
            // SAFETY: JS thread inside Node's callback scope; each settle gets its own handle scope
            // so a large burst does not pile up handles.
            unsafe { settle_one(env, done) };
        }
        if n > 0 && shared.pending.fetch_sub(n, Ordering::Relaxed) == n {
            unsafe {
                sys::napi_unref_threadsafe_function(env, shared.tsfn.load(Ordering::Acquire))
            };
        }
    }));
}

unsafe fn settle_one(env: sys::napi_env, done: Finished) {
    let mut scope = ptr::null_mut();
    unsafe { sys::napi_open_handle_scope(env, &mut scope) };
    let Finished { deferred, outcome } = done;
    match outcome.and_then(|settle| settle(env)) {
        Ok(value) => unsafe {
            sys::napi_resolve_deferred(env, deferred.0, value);
        },
        Err(e) => unsafe {
            if let Ok(error) = ToNapiValue::to_napi_value(env, e) {
                sys::napi_reject_deferred(env, deferred.0, error);
            }
        },
    }
    unsafe { sys::napi_close_handle_scope(env, scope) };
}

/// Node is done with the threadsafe function: stop calling it and drop what is still queued.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: takes back the reference given to the threadsafe function in `shared`.
        let shared = unsafe { Arc::from_raw(data as *const Shared) };
        let leftovers = {
            let mut st = shared.state();
            st.closed = true;
            mem::take(&mut st.queue)
        };
        super::runtime::drop_outside_js(leftovers);
    }));
}
