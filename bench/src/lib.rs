//! Benchmarks of `multiprocess` calls between a parent and a child process.
//!
//! The crate contains what the `mpbench` example and the criterion benchmarks
//! share: the glue of the benchmark interface (`schema/bench.capnp`) written
//! on the runtime's building blocks, the two baselines that a call is compared
//! with (a one-byte socket ping-pong and a plain capnp-rpc echo), the child
//! roles that serve them, and sample statistics.

#![warn(missing_docs)]

pub mod schema;

pub mod child;
mod interface;
pub mod memory;
pub mod stats;

#[cfg(unix)]
pub mod floor;
#[cfg(unix)]
pub mod plain_rpc;

pub use interface::{BenchProxy, BenchServer, CallbackFn};

/// The error type of the benchmark code, which only reports errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
