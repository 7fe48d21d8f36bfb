//! Windows-only ways to listen and connect: named pipes, loopback TCP, and
//! AF_UNIX clients, which std cannot create on Windows.

use std::path::Path;

use crate::{Error, EventLoop, Listener, ListenerOptions, Result, ServerContext, Stream};

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Listener {}
    impl Sealed for crate::Stream {}
}

/// Windows-only constructors of [`Listener`], for systems without AF_UNIX
/// sockets (Windows before 10 version 1803, and Wine).
///
/// [`Listener::bind`] listens on an AF_UNIX socket on Windows too, as Bitcoin
/// Core's `-ipcbind=unix:PATH` does.
pub trait WindowsListenerExt: sealed::Sealed + Sized {
    /// Serves every connection made to the named pipe `name`, which must start
    /// with `\\.\pipe\`, on `event_loop`.
    ///
    /// Fails if a pipe of that name exists already. Clients on other machines
    /// are rejected; local clients get the pipe's default security, under
    /// which other users can open it for reading only. [`Listener::path`]
    /// returns `name`. Clients connect with
    /// [`WindowsStreamExt::connect_named_pipe`].
    fn bind_named_pipe<F>(event_loop: &EventLoop, name: &str, options: ListenerOptions, make_init: F) -> Result<Self>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static;

    /// Serves every connection made to 127.0.0.1:`port` on `event_loop`; port
    /// 0 picks a free port.
    ///
    /// Any local process of any user can connect to a TCP port, so use it
    /// only where that is acceptable. [`Listener::path`] returns the bound
    /// address as `127.0.0.1:PORT`. Clients connect with
    /// `std::net::TcpStream::connect` and convert the socket with `Stream::from`.
    fn bind_tcp_loopback<F>(event_loop: &EventLoop, port: u16, options: ListenerOptions, make_init: F) -> Result<Self>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static;
}

impl WindowsListenerExt for Listener {
    fn bind_named_pipe<F>(event_loop: &EventLoop, name: &str, options: ListenerOptions, make_init: F) -> Result<Listener>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static,
    {
        options.validate()?;
        let listener = super::Listener::bind_named_pipe(name)
            .map_err(|source| Error::io(format!("failed to listen on pipe {name}"), source))?;
        Listener::serve_bound(event_loop, listener, false, options, make_init)
    }

    fn bind_tcp_loopback<F>(event_loop: &EventLoop, port: u16, options: ListenerOptions, make_init: F) -> Result<Listener>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static,
    {
        options.validate()?;
        let listener = super::Listener::bind_tcp_loopback(port)
            .map_err(|source| Error::io(format!("failed to listen on 127.0.0.1:{port}"), source))?;
        Listener::serve_bound(event_loop, listener, false, options, make_init)
    }
}

/// Windows-only constructors of [`Stream`] for local clients.
pub trait WindowsStreamExt: sealed::Sealed + Sized {
    /// Connects to the AF_UNIX socket at `path`.
    ///
    /// Fails with WSAEAFNOSUPPORT (10047) where Windows has no AF_UNIX
    /// support, as on versions before Windows 10 version 1803 and under Wine.
    fn connect_unix(path: impl AsRef<Path>) -> Result<Self>;

    /// Connects to the named pipe `name`, which must start with `\\.\pipe\`.
    ///
    /// While every instance of the pipe is busy, waits up to 10 seconds for
    /// one to become free.
    fn connect_named_pipe(name: &str) -> Result<Self>;
}

impl WindowsStreamExt for Stream {
    fn connect_unix(path: impl AsRef<Path>) -> Result<Stream> {
        let path = path.as_ref();
        let raw = super::listen::connect_unix(path)
            .map_err(|source| Error::io(format!("failed to connect to socket {}", path.display()), source))?;
        Ok(Stream::from_raw(raw))
    }

    fn connect_named_pipe(name: &str) -> Result<Stream> {
        let raw = super::listen::connect_named_pipe(name)
            .map_err(|source| Error::io(format!("failed to connect to pipe {name}"), source))?;
        Ok(Stream::from_raw(raw))
    }
}
