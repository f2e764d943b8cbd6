//! Lanes: calls that `scope::share` lets share a command wait behind the one on the wire and
//! go out together. `queue` is the lane itself; `id_lookup` and `insert` serve its two paths.

pub mod id_lookup;
pub mod insert;
mod queue;

pub use queue::{Lanes, Serve};
