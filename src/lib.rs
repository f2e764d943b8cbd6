//! tenantfence: tenant isolation for MongoDB, enforced in Rust.
//! `scope` holds the rules, `json` renders BSON replies as JSON, `telemetry` counts calls per
//! tenant: all three build without napi. `binding` is the Node addon.

pub mod json;
pub mod scope;
pub mod telemetry;

#[cfg(feature = "napi")]
mod binding;

#[cfg(feature = "napi")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
