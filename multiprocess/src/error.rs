//! The error type of every fallible public function.

use std::io;

/// Result of the crate's fallible operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from connections, calls, spawning and listening.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection ended while the call was in flight.
    #[error("{method}: call interrupted by disconnect from {peer}")]
    Interrupted {
        /// Method that was called.
        method: String,
        /// Name of the peer.
        peer: String,
    },

    /// The call was made after the connection had ended.
    #[error("{method}: called after disconnect from {peer}")]
    CalledAfterDisconnect {
        /// Method that was called.
        method: String,
        /// Name of the peer.
        peer: String,
    },

    /// The peer failed the call and returned this message.
    #[error("{method} failed on {peer}: {message}")]
    Remote {
        /// Method that was called.
        method: String,
        /// Name of the peer.
        peer: String,
        /// Error message from the peer.
        message: String,
    },

    /// The peer returned no object where the method's result is an interface.
    ///
    /// A C++ libmultiprocess server sends this for a null `std::unique_ptr`
    /// result. Bitcoin Core's `BlockTemplate.waitNext`, for one, returns no
    /// template when its timeout passes, and `Mining.createNewBlock` returns
    /// none once the node shuts down or `interrupt` is called.
    #[error("{method}: {peer} returned no object (a null capability) where the result is an interface")]
    NullResult {
        /// Method that was called.
        method: String,
        /// Name of the peer.
        peer: String,
    },

    /// Code run for the caller panicked; the panic was caught.
    #[error("panic in {location}: {message}")]
    Panic {
        /// Location of the panic: a method name or "event loop closure".
        location: String,
        /// The panic payload, if it was a string.
        message: String,
    },

    /// An implementation returned an error of its own.
    #[error("{0}")]
    Failed(String),

    /// The peer sent a message that does not follow the protocol or schema.
    #[error("invalid message from {peer}: {message}")]
    Protocol {
        /// Name of the peer.
        peer: String,
        /// Description of the problem.
        message: String,
    },

    /// A value given to the library is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The event loop thread has stopped, so no call can run.
    #[error("the event loop has stopped")]
    LoopStopped,

    /// A synchronous call was made on the event loop thread, where it would deadlock.
    #[error("{method}: synchronous call made on the event loop thread; call from another thread")]
    CalledOnEventLoop {
        /// Method that was called.
        method: String,
    },

    /// A system call failed.
    #[error("{context}: {source}")]
    Io {
        /// Operation the library was doing.
        context: String,
        /// The operating system error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// Creates an error that an implementation returns to its caller with `message`.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed(message.into())
    }

    /// Returns true if the error comes from the connection ending.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Interrupted { .. } | Error::CalledAfterDisconnect { .. })
    }
}

/// Converts an error of an implementation into the error sent to the caller.
impl From<Error> for capnp::Error {
    fn from(error: Error) -> capnp::Error {
        capnp::Error::failed(error.to_string())
    }
}

/// Extracts the message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic payload is not a string".to_owned()
    }
}
