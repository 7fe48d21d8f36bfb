//! The stream of a connection once it is registered with tokio.

use std::io;
use std::net::TcpStream;
use std::os::windows::io::IntoRawHandle;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer};

use super::child_watch::{read_after_exit, ChildWatch};
use super::pipe::{PipeEnd, PipeSide};

/// A socket or named pipe registered with the current tokio runtime.
#[derive(Debug)]
pub(crate) enum AsyncStream {
    /// A TCP socket, or an AF_UNIX socket driven through tokio's TCP type.
    ///
    /// tokio has no AF_UNIX type on Windows. Its TCP type waits for readiness
    /// with mio's AFD polling, which works on any socket of the AFD driver,
    /// and it reads and writes with `recv` and `send`, which do not depend on
    /// the address family. So an AF_UNIX socket is registered the same way as
    /// a TCP socket. Only its address methods would fail, and this crate never
    /// calls them. The other choice, a pair of threads that copy bytes between
    /// blocking calls and tokio, costs two thread handoffs per message.
    ///
    /// NOTE: that AFD polling works on AF_UNIX sockets is reported by mio and
    /// wepoll users but was not tested here, because Wine 8.0 has no AF_UNIX.
    ///
    /// `child` is set for the parent's end of a spawned child's socket: once
    /// the child has exited, reads return what is left and then end of input.
    Socket {
        stream: tokio::net::TcpStream,
        child: Option<ChildWatch>,
    },
    /// The server end of a named pipe.
    PipeServer(NamedPipeServer),
    /// The client end of a named pipe.
    PipeClient(NamedPipeClient),
}

impl AsyncStream {
    pub(super) fn from_socket(socket: TcpStream, child: Option<ChildWatch>) -> io::Result<AsyncStream> {
        socket.set_nonblocking(true)?;
        let stream = tokio::net::TcpStream::from_std(socket)?;
        Ok(AsyncStream::Socket { stream, child })
    }

    pub(super) fn from_pipe(end: PipeEnd) -> io::Result<AsyncStream> {
        let handle = end.handle.into_raw_handle();
        match end.side {
            // SAFETY: `handle` is a connected named pipe server end opened for
            // overlapped I/O, and ownership passes to tokio here.
            PipeSide::Server => unsafe { NamedPipeServer::from_raw_handle(handle) }.map(AsyncStream::PipeServer),
            // SAFETY: `handle` is a named pipe client end opened for
            // overlapped I/O, and ownership passes to tokio here.
            PipeSide::Client => unsafe { NamedPipeClient::from_raw_handle(handle) }.map(AsyncStream::PipeClient),
        }
    }
}

impl AsyncRead for AsyncStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Socket { stream, child: None } => Pin::new(stream).poll_read(cx, buf),
            AsyncStream::Socket { stream, child: Some(child) } => {
                let exited = child.register(cx);
                match Pin::new(&mut *stream).poll_read(cx, buf) {
                    // tokio reports Pending until the socket's readiness event
                    // arrives, which may be never after the child's exit, so
                    // the socket is read directly.
                    Poll::Pending if exited => {
                        let count = read_after_exit(stream, buf.initialize_unfilled())?;
                        buf.advance(count);
                        Poll::Ready(Ok(()))
                    }
                    other => other,
                }
            }
            AsyncStream::PipeServer(pipe) => Pin::new(pipe).poll_read(cx, buf),
            AsyncStream::PipeClient(pipe) => Pin::new(pipe).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AsyncStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Socket { child: Some(child), .. } if child.exited() => Poll::Ready(Err(child_exited())),
            AsyncStream::Socket { stream, .. } => Pin::new(stream).poll_write(cx, buf),
            AsyncStream::PipeServer(pipe) => Pin::new(pipe).poll_write(cx, buf),
            AsyncStream::PipeClient(pipe) => Pin::new(pipe).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Socket { child: Some(child), .. } if child.exited() => Poll::Ready(Err(child_exited())),
            AsyncStream::Socket { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
            AsyncStream::PipeServer(pipe) => Pin::new(pipe).poll_write_vectored(cx, bufs),
            AsyncStream::PipeClient(pipe) => Pin::new(pipe).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            AsyncStream::Socket { stream, .. } => stream.is_write_vectored(),
            AsyncStream::PipeServer(pipe) => pipe.is_write_vectored(),
            AsyncStream::PipeClient(pipe) => pipe.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Socket { stream, .. } => Pin::new(stream).poll_flush(cx),
            AsyncStream::PipeServer(pipe) => Pin::new(pipe).poll_flush(cx),
            AsyncStream::PipeClient(pipe) => Pin::new(pipe).poll_flush(cx),
        }
    }

    /// Shuts down the write half of a socket. A named pipe has no half-close,
    /// so for a pipe this only flushes, and the peer reads end of input once
    /// the stream is dropped.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Socket { stream, .. } => Pin::new(stream).poll_shutdown(cx),
            AsyncStream::PipeServer(pipe) => Pin::new(pipe).poll_shutdown(cx),
            AsyncStream::PipeClient(pipe) => Pin::new(pipe).poll_shutdown(cx),
        }
    }
}

/// Returns the error for a write to the socket of a child process that has exited.
fn child_exited() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child process at the other end has exited")
}
