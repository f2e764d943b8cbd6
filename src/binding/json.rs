//! The JSON renderer (`crate::json`) for tests: a server batch in, JSON.stringify's bytes out.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::error::FenceError;

/// Renders concatenated BSON documents as the JSON array JSON.stringify gives for them decoded
/// by js-bson with lib/codec.js `READ`; an `ERR_JSON` error says why a batch was not rendered.
#[napi(catch_unwind)]
pub fn render_json(docs: &[u8]) -> napi::Result<Buffer> {
    let mut out = Vec::new();
    crate::json::render_array(docs, &mut out).map_err(FenceError::from)?;
    Ok(out.into())
}
