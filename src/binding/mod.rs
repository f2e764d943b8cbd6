//! The napi layer: converts arguments, runs the pure `scope` rules, makes one driver call.
//! It holds no tenant policy of its own.

#[cfg(feature = "bench")]
mod bench;
mod bounds;
mod bulk;
mod context;
mod cursor;
mod dispatch;
mod error;
mod fence;
mod ids;
mod indexes;
mod lanes;
mod options;
mod payload;
mod probe;
mod reads;
mod reply;
mod runtime;
mod settle;
mod state;
mod target;
mod writes;
