//! Unix: Unix domain sockets, and descriptor passing through `fork`/`exec`.

mod async_stream;
mod spawn;

pub(crate) use async_stream::AsyncStream;
pub(crate) use spawn::{spawn, start_spawned};

use std::io;
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub(crate) type RawStream = UnixStream;

/// Returns a connected pair of Unix domain sockets with close-on-exec set.
pub(crate) fn socket_pair() -> io::Result<(RawStream, RawStream)> {
    UnixStream::pair()
}

pub(crate) fn into_async(stream: RawStream) -> io::Result<AsyncStream> {
    AsyncStream::new(stream)
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
    /// Binds `path`, replacing a stale socket file left by a listener that
    /// exited, and makes the socket file accessible to its owner only.
    pub(crate) fn bind(path: &Path) -> io::Result<Listener> {
        let inner = match UnixListener::bind(path) {
            Ok(inner) => inner,
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && is_stale_socket(path) => {
                tracing::info!(path = %path.display(), "removing stale socket file");
                std::fs::remove_file(path)?;
                UnixListener::bind(path)?
            }
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "the path exists and is not a stale socket: another process listens on it, or it is \
                     another kind of file; stop that listener or choose another path",
                ));
            }
            Err(error) => return Err(error),
        };
        // NOTE: between bind and chmod the file has the permissions the umask
        // gives; a folder accessible to its owner only closes that window.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Listener { inner, path: path.to_owned() })
    }

    pub(crate) fn accept(&self) -> io::Result<RawStream> {
        self.inner.accept().map(|(stream, _)| stream)
    }

    pub(crate) fn local_path(&self) -> &Path {
        &self.path
    }
}

/// Returns true if `path` is a socket file with no listener accepting connections.
fn is_stale_socket(path: &Path) -> bool {
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_socket());
    is_socket && UnixStream::connect(path).is_err_and(|error| error.kind() == io::ErrorKind::ConnectionRefused)
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
