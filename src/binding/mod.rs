//! The napi layer: converts arguments, looks up the facts `scope` asks for (collection
//! metadata, index listings), calls `scope::plan` and the other `scope` planners, and carries
//! the plan out with the driver. It makes no tenant decision: every one is a `scope` function
//! listed in ARCHITECTURE.md, and `__tests__/docs/architecture-doc.test.js` fails on a branch
//! here on strategy, principal, collation guard or id rule.
//!
//! Imports run one way: `fence` → `dispatch` → the executors (`reads`, `writes`, `bulk`,
//! `indexes`, `admin`) → `bounds`, `target` → `state` → `lanes`.

mod admin;
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
mod json;
mod lanes;
mod max_time;
mod meter;
mod options;
mod payload;
mod probe;
mod quota;
mod reads;
mod reply;
mod runtime;
mod server;
mod session;
mod settle;
mod state;
mod stream;
mod target;
mod writes;
