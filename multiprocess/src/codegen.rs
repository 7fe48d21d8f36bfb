//! Support for the code that `multiprocess-build` generates: the macro that
//! includes it, and helpers its server adapters call.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::panic_message;
use crate::{Error, Result};

/// Includes the module that `multiprocess-build` generated into `OUT_DIR`.
///
/// The argument is the module path that the build script configured with
/// `Config::module`, by default `interfaces`. Invoke the macro in the module at
/// that path, because the generated code for one schema file refers to the
/// others through it:
///
/// ```ignore
/// pub mod interfaces {
///     multiprocess::include_generated!(interfaces);
/// }
/// ```
#[macro_export]
macro_rules! include_generated {
    ($($segment:ident)::+) => {
        include!(concat!(env!("OUT_DIR") $(, "/", stringify!($segment))+, ".rs"));
    };
}

/// Runs a method that has no `Context` parameter on the event loop thread,
/// where the server adapter received it. A panic in `job` is returned as an
/// error naming `method`, so that it does not unwind through the event loop.
pub fn run_inline<T>(method: &'static str, job: impl FnOnce() -> Result<T>) -> capnp::Result<T> {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(result) => result.map_err(capnp::Error::from),
        Err(payload) => {
            let message = panic_message(&*payload);
            tracing::error!(method, panic = %message, "server method panicked");
            Err(Error::Panic { location: method.to_owned(), message }.into())
        }
    }
}
