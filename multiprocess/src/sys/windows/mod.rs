//! Windows: loopback TCP socket pairs, socket handoff to a child through a
//! named pipe, and listeners on AF_UNIX sockets, named pipes and loopback TCP.

mod accept;
mod async_stream;
mod child_watch;
mod ext;
mod listen;
mod overlapped;
mod pipe;
mod socket_pair;
mod spawn;
mod unix_socket;
mod winsock;

pub(crate) use async_stream::AsyncStream;
pub use ext::{WindowsListenerExt, WindowsStreamExt};
pub(crate) use listen::{connect, Listener};
pub(crate) use socket_pair::socket_pair;
pub(crate) use spawn::{spawn, start_spawned};

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::windows::io::OwnedHandle;

use child_watch::ChildWatch;
use pipe::PipeEnd;
use unix_socket::UnixSocket;

/// A connected, blocking byte stream: a socket or one end of a named pipe.
#[derive(Debug)]
pub(crate) enum RawStream {
    /// A TCP socket; `socket_pair` connects over 127.0.0.1.
    Tcp(TcpStream),
    /// The parent's end of a spawned child's loopback TCP socket, with a
    /// handle to the child process, so that the child's exit ends the stream.
    Spawned { socket: TcpStream, process: OwnedHandle, pid: u32 },
    /// An AF_UNIX stream socket.
    Unix(UnixSocket),
    /// A named pipe opened for overlapped I/O.
    Pipe(PipeEnd),
}

pub(crate) fn into_async(stream: RawStream) -> io::Result<AsyncStream> {
    match stream {
        RawStream::Tcp(stream) => {
            set_nodelay(&stream);
            AsyncStream::from_socket(stream, None)
        }
        RawStream::Spawned { socket, process, pid } => {
            set_nodelay(&socket);
            AsyncStream::from_socket(socket, Some(ChildWatch::start(process, pid)?))
        }
        RawStream::Unix(socket) => AsyncStream::from_socket(socket.into_tcp_stream_for_io(), None),
        RawStream::Pipe(end) => AsyncStream::from_pipe(end),
    }
}

fn set_nodelay(stream: &TcpStream) {
    // Calls are small request and reply messages, so Nagle's algorithm would
    // only add delay. Failing to turn it off costs speed, not correctness.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "failed to set TCP_NODELAY");
    }
}

pub(crate) fn shutdown_write(stream: &RawStream) -> io::Result<()> {
    match stream {
        RawStream::Tcp(stream) | RawStream::Spawned { socket: stream, .. } => stream.shutdown(Shutdown::Write),
        RawStream::Unix(socket) => socket.shutdown_write(),
        RawStream::Pipe(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a named pipe cannot shut down one direction; drop the stream to close it",
        )),
    }
}

impl From<TcpStream> for crate::Stream {
    /// Wraps a connected TCP socket.
    fn from(stream: TcpStream) -> crate::Stream {
        crate::Stream::from_raw(RawStream::Tcp(stream))
    }
}

impl TryFrom<crate::Stream> for TcpStream {
    /// The stream itself, unchanged, when it is not a TCP socket.
    type Error = crate::Stream;

    /// Returns the TCP socket inside a stream. Fails for an AF_UNIX socket or
    /// a named pipe, which have no `TcpStream` form.
    fn try_from(stream: crate::Stream) -> Result<TcpStream, crate::Stream> {
        match stream.inner {
            RawStream::Tcp(stream) | RawStream::Spawned { socket: stream, .. } => Ok(stream),
            other => Err(crate::Stream::from_raw(other)),
        }
    }
}
