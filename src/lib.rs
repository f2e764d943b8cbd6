//! tenantfence: tenant isolation for MongoDB, enforced in Rust.
//! `scope` holds the rules and `json` renders BSON replies as JSON, both without napi;
//! `binding` is the Node addon.

pub mod json;
pub mod scope;

#[cfg(feature = "napi")]
mod binding;

#[cfg(feature = "napi")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
