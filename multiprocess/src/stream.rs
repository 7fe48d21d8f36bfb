//! The transport of every connection: a connected byte stream.
//!
//! A [`Stream`] is a Unix domain socket on Unix and a socket (loopback TCP or
//! AF_UNIX) on Windows. The public API passes streams, never raw descriptors or
//! handles, so the same code spawns, connects and serves on every platform. The
//! platform conversions (`From<std::os::unix::net::UnixStream>` on Unix,
//! `From<std::net::TcpStream>` on Windows) are the only way in from raw types.

use std::fmt;

use crate::sys;
use crate::{Error, Result};

/// A connected, bidirectional byte stream to another process.
pub struct Stream {
    pub(crate) inner: sys::RawStream,
}

impl Stream {
    pub(crate) fn from_raw(inner: sys::RawStream) -> Stream {
        Stream { inner }
    }

    /// Connects to a local socket path on which a [`Listener`](crate::Listener) listens.
    pub fn connect(path: impl AsRef<std::path::Path>) -> Result<Stream> {
        let path = path.as_ref();
        let stream = sys::connect(path)
            .map_err(|source| Error::io(format!("failed to connect to {}", path.display()), source))?;
        Ok(Stream::from_raw(stream))
    }

    /// Shuts down the write half, so the peer reads end of input.
    pub fn shutdown_write(&self) -> Result<()> {
        sys::shutdown_write(&self.inner).map_err(|source| Error::io("failed to shut down a stream", source))
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").field("inner", &self.inner).finish()
    }
}

/// Creates two connected streams, neither of which child processes inherit.
///
/// Data written to one end is read from the other. On Unix this is a
/// `socketpair`; on Windows a loopback TCP pair whose ends are checked to be
/// connected to each other.
pub fn socket_pair() -> Result<(Stream, Stream)> {
    let (a, b) = sys::socket_pair().map_err(|source| Error::io("failed to create a socket pair", source))?;
    Ok((Stream::from_raw(a), Stream::from_raw(b)))
}
