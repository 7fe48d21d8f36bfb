//! The stream of a connection once it is registered with tokio.
//!
//! tokio's own `UnixStream` registers the socket for read and write readiness
//! with edge-triggered epoll. Linux then wakes the loop with `EPOLLOUT` each
//! time the peer reads what this side wrote, which is once per message sent,
//! with nothing to do. This stream registers the socket for read readiness
//! only and writes to it directly. Only a write that fails with EAGAIN
//! registers a duplicate of the descriptor for write readiness, and the next
//! write that succeeds removes that registration again.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A Unix domain socket registered with the current tokio runtime.
#[derive(Debug)]
pub(crate) struct AsyncStream {
    /// The socket, registered for read readiness only.
    socket: AsyncFd<UnixStream>,
    /// A duplicate of the socket's descriptor, registered for write readiness
    /// while a write waits for room in the send buffer.
    write_wait: Option<AsyncFd<OwnedFd>>,
}

impl AsyncStream {
    /// Registers `socket` with the current tokio runtime. Must run inside one.
    pub(super) fn new(socket: UnixStream) -> io::Result<AsyncStream> {
        socket.set_nonblocking(true)?;
        // SAFETY: the AsyncFd owns the socket, so its descriptor stays open
        // and refers to the same socket for the AsyncFd's whole life.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?;
        Ok(AsyncStream { socket, write_wait: None })
    }
}

impl AsyncRead for AsyncStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.socket.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let capacity = unfilled.len();
            match guard.try_io(|socket| socket.get_ref().read(unfilled)) {
                Ok(Ok(count)) => {
                    // A read shorter than the buffer emptied the socket, as
                    // tokio's own streams assume on Unix, so the next read
                    // waits for the next readiness event instead of failing
                    // with EAGAIN first.
                    if count > 0 && count < capacity {
                        guard.clear_ready();
                    }
                    buf.advance(count);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                // try_io cleared the readiness, so the loop waits for the next event.
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for AsyncStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let Some(write_wait) = this.write_wait.as_ref() else {
                match this.socket.get_ref().write(data) {
                    Ok(count) => return Poll::Ready(Ok(count)),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        let duplicate = this.socket.get_ref().as_fd().try_clone_to_owned()?;
                        // SAFETY: the AsyncFd owns the duplicate descriptor,
                        // so it stays open for the AsyncFd's whole life.
                        let registered = unsafe { AsyncFd::register_with_interest(duplicate, Interest::WRITABLE) }?;
                        this.write_wait = Some(registered);
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Poll::Ready(Err(error)),
                }
                continue;
            };

            let mut guard = ready!(write_wait.poll_write_ready(cx))?;
            let mut socket = this.socket.get_ref();
            let result = guard.try_io(|_| socket.write(data));
            drop(guard);
            match result {
                Ok(Ok(count)) => {
                    this.write_wait = None;
                    return Poll::Ready(Ok(count));
                }
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket.get_ref().shutdown(Shutdown::Write))
    }
}
