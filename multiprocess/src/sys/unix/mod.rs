//! Unix: Unix domain sockets, and descriptor passing through `fork`/`exec`.

mod spawn;

pub(crate) use spawn::{spawn, start_spawned};

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub(crate) type RawStream = UnixStream;
pub(crate) type AsyncStream = tokio::net::UnixStream;

/// Returns a connected pair of Unix domain sockets with close-on-exec set.
pub(crate) fn socket_pair() -> io::Result<(RawStream, RawStream)> {
    UnixStream::pair()
}

pub(crate) fn into_async(stream: RawStream) -> io::Result<AsyncStream> {
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}

pub(crate) fn shutdown_write(stream: &RawStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)
}

/// A listening Unix domain socket bound to a path.
pub(crate) struct Listener {
    inner: UnixListener,
    path: PathBuf,
}

impl Listener {
    pub(crate) fn bind(path: &Path) -> io::Result<Listener> {
        let inner = UnixListener::bind(path)?;
        Ok(Listener { inner, path: path.to_owned() })
    }

    pub(crate) fn accept(&self) -> io::Result<RawStream> {
        self.inner.accept().map(|(stream, _)| stream)
    }

    pub(crate) fn local_path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn connect(path: &Path) -> io::Result<RawStream> {
    UnixStream::connect(path)
}

/// Converts a `-1` result of a libc call into the current `errno` error.
pub(super) fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl From<UnixStream> for crate::Stream {
    /// Wraps a connected Unix domain socket.
    fn from(stream: UnixStream) -> crate::Stream {
        crate::Stream::from_raw(stream)
    }
}

impl From<crate::Stream> for UnixStream {
    /// Returns the Unix domain socket inside a stream.
    fn from(stream: crate::Stream) -> UnixStream {
        stream.inner
    }
}
