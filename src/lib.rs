//! tenantfence: tenant isolation for MongoDB, enforced in Rust.
//! `scope` holds the rules and builds without napi; `binding` is the Node addon.

pub mod scope;

#[cfg(feature = "napi")]
mod binding;

#[cfg(feature = "napi")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
