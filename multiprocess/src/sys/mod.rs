//! Platform layer: the only place where Unix and Windows code differ.
//!
//! Each platform module provides the same items, and the rest of the crate uses
//! them through `sys::` alone:
//!
//! - `RawStream`: a connected, blocking byte stream (`UnixStream` on Unix; a
//!   loopback `TcpStream`, an AF_UNIX socket or a named pipe on Windows), `Send`.
//! - `AsyncStream`: the same stream registered with tokio; `AsyncRead + AsyncWrite + Unpin`.
//! - `socket_pair() -> io::Result<(RawStream, RawStream)>`: two connected ends,
//!   neither inherited by child processes.
//! - `into_async(RawStream) -> io::Result<AsyncStream>`: must run inside a tokio runtime.
//! - `shutdown_write(&RawStream) -> io::Result<()>`.
//! - `spawn(make_argv) -> io::Result<(std::process::Child, RawStream)>`: starts a child
//!   whose argv, built by `make_argv` from the connection argument, lets the child
//!   take its end of a new socket pair with `start_spawned`. The parent's end
//!   reads end of input once the child has exited: on Unix because the
//!   child's socket is close-on-exec in every other process, on Windows
//!   because the stream also watches the child's process handle.
//! - `start_spawned(arg: &str) -> io::Result<RawStream>`: the child side of `spawn`.
//! - `Listener` (`bind(path)`, `accept()`, `local_path()`) and `connect(path)`:
//!   local socket paths.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
