//! Reply bytes as a Node `Buffer`: copied when small, handed over when large.
//!
//! napi's `Buffer` hands every `Vec` to Node as an external buffer, which costs a backing
//! store with a deleter and a weak finalizer the GC must run later. Most replies are a few
//! hundred bytes, where one copy into a plain Node buffer is cheaper than that bookkeeping.

use std::ptr;

use napi::bindgen_prelude::{Buffer, ToNapiValue, TypeName};
use napi::{sys, ValueType};

/// Up to this size a reply is copied; above it the allocation is handed over.
const COPY_MAX: usize = 32 * 1024;

/// BSON bytes on their way to JS.
pub struct Reply(pub Vec<u8>);

impl TypeName for Reply {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Reply {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let bytes = val.0;
        if bytes.is_empty() || bytes.len() > COPY_MAX {
            return unsafe { Buffer::to_napi_value(env, Buffer::from(bytes)) };
        }
        let mut out = ptr::null_mut();
        let mut data = ptr::null_mut();
        napi::check_status!(
            unsafe {
                sys::napi_create_buffer_copy(
                    env,
                    bytes.len(),
                    bytes.as_ptr().cast(),
                    &mut data,
                    &mut out,
                )
            },
            "could not create a reply buffer"
        )?;
        Ok(out)
    }
}
