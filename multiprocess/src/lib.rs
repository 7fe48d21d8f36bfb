//! Split a program into processes that call each other's interfaces as if
//! they were one program.
//!
//! `multiprocess` speaks the wire protocol of
//! [libmultiprocess](https://github.com/bitcoin-core/libmultiprocess): Cap'n
//! Proto two-party RPC over a byte stream, plus a thread map so that each client
//! thread gets its own server thread and callbacks run on the thread that is
//! waiting for them. A Rust process can sit on either side of a connection with
//! a C++ libmultiprocess process.
//!
//! The pieces, in the order a call uses them:
//! - [`Stream`] and [`socket_pair`]: the transport.
//! - [`spawn_process`], [`start_spawned`], [`wait_process`]: a child process
//!   connected to its parent by a socket.
//! - [`EventLoop`]: the thread that owns every Cap'n Proto object.
//! - [`Connection`]: connect to or serve a peer over a stream.
//! - [`RemoteObject`], [`CallContext`], [`ServerContext`]: what client proxies
//!   and server adapters are built from.
//! - [`Listener`]: serve every connection made to a local socket path.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, rust_2018_idioms)]

mod connection;
mod error;
mod event_loop;
mod listen;
mod proxy;
mod spawn;
mod stream;
mod sys;
mod thread;

pub mod codegen;
pub mod schema;

pub use schema::proxy_capnp;

pub use connection::{Connection, ConnectionOptions};
pub use error::{Error, Result};
pub use event_loop::EventLoop;
pub use listen::{Listener, ListenerOptions};
pub use proxy::{read_text, CallContext, RemoteObject, ServerContext};
pub use spawn::{spawn_process, start_spawned, wait_process, ChildProcess};
pub use stream::{socket_pair, Stream};
#[cfg(windows)]
pub use sys::windows::{WindowsListenerExt, WindowsStreamExt};

/// Re-exports of the Cap'n Proto crates that generated code uses, so that
/// users need not depend on matching versions themselves.
pub mod reexports {
    pub use capnp;
    pub use capnp_rpc;
}
