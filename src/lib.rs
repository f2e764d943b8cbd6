//! tenantfence: tenant isolation for MongoDB, enforced in Rust.
//! `scope` holds the rules and builds without napi; `binding` is the Node addon.
//! `telemetry` counts calls per tenant, pure like `scope`.

pub mod scope;
pub mod telemetry;

#[cfg(feature = "napi")]
mod binding;

#[cfg(feature = "napi")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
