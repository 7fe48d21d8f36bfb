//! Listening for connections on an AF_UNIX socket, a named pipe or a loopback
//! TCP port, and connecting to each of them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::windows::io::OwnedHandle;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::accept::accept_tcp;
use super::pipe::{create_listener_instance, has_pipe_prefix, open_client, wait_for_client, PipeEnd, PipeSide};
use super::unix_socket::UnixSocket;
use super::winsock::set_socket_not_inheritable;
use super::RawStream;

/// A listening AF_UNIX socket, named pipe or loopback TCP socket.
pub(crate) struct Listener {
    kind: ListenerKind,
    /// The address that `connect` takes to reach this listener: the socket
    /// path, the pipe name, or `127.0.0.1:PORT`.
    path: PathBuf,
}

enum ListenerKind {
    Unix(UnixSocket),
    Pipe(PipeListener),
    Tcp(TcpListener),
}

/// The server side of a named pipe that accepts many clients.
///
/// A pipe instance serves one client, so the listener keeps one unconnected
/// instance ready and creates the next as soon as a client takes it.
struct PipeListener {
    name: String,
    ready: Mutex<Option<OwnedHandle>>,
}

impl Listener {
    /// Binds an AF_UNIX socket to the file `path`.
    pub(crate) fn bind(path: &Path) -> io::Result<Listener> {
        if path.to_str().is_some_and(has_pipe_prefix) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a named pipe name, not a socket path; bind it as a named pipe", path.display()),
            ));
        }
        let socket = UnixSocket::bind(path)?;
        Ok(Listener { kind: ListenerKind::Unix(socket), path: path.to_owned() })
    }

    /// Creates the first instance of the named pipe `name`, which fails if a
    /// pipe of that name exists already.
    pub(crate) fn bind_named_pipe(name: &str) -> io::Result<Listener> {
        if !has_pipe_prefix(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a local pipe name; it must start with \\\\.\\pipe\\"),
            ));
        }
        let first = create_listener_instance(name, true)?;
        let pipe = PipeListener { name: name.to_owned(), ready: Mutex::new(Some(first)) };
        Ok(Listener { kind: ListenerKind::Pipe(pipe), path: PathBuf::from(name) })
    }

    /// Listens on 127.0.0.1:`port`; port 0 picks a free port.
    pub(crate) fn bind_tcp_loopback(port: u16) -> io::Result<Listener> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        set_socket_not_inheritable(&listener)?;
        let address = listener.local_addr()?;
        Ok(Listener { kind: ListenerKind::Tcp(listener), path: PathBuf::from(address.to_string()) })
    }

    pub(crate) fn accept(&self) -> io::Result<RawStream> {
        match &self.kind {
            ListenerKind::Unix(socket) => socket.accept().map(RawStream::Unix),
            ListenerKind::Pipe(pipe) => pipe.accept(),
            ListenerKind::Tcp(listener) => {
                let (stream, _) = accept_tcp(listener)?;
                Ok(RawStream::Tcp(stream))
            }
        }
    }

    pub(crate) fn local_path(&self) -> &Path {
        &self.path
    }
}

impl PipeListener {
    fn accept(&self) -> io::Result<RawStream> {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner()).take();
        let instance = match ready {
            Some(instance) => instance,
            None => create_listener_instance(&self.name, false)?,
        };
        // Without a process to watch, the wait ends only when a client connects
        // or the wait fails.
        wait_for_client(&instance, None)?;

        match create_listener_instance(&self.name, false) {
            Ok(next) => *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(next),
            // The next accept tries again. Until then, clients wait in
            // `open_client` for a free instance.
            Err(error) => tracing::warn!(pipe = %self.name, %error, "failed to create the next pipe instance"),
        }
        Ok(RawStream::Pipe(PipeEnd { handle: instance, side: PipeSide::Server }))
    }
}

/// Connects to the listener whose `local_path` is `path`: a named pipe when
/// `path` starts with `\\.\pipe\`, a loopback TCP port when it has the form
/// `127.0.0.1:PORT` or `[::1]:PORT`, and an AF_UNIX socket otherwise.
pub(crate) fn connect(path: &Path) -> io::Result<RawStream> {
    let text = path.to_str();
    if let Some(name) = text.filter(|text| has_pipe_prefix(text)) {
        return connect_named_pipe(name);
    }
    let loopback = text.and_then(|text| text.parse::<SocketAddr>().ok()).filter(|address| address.ip().is_loopback());
    if let Some(address) = loopback {
        let stream = TcpStream::connect(address)?;
        set_socket_not_inheritable(&stream)?;
        return Ok(RawStream::Tcp(stream));
    }
    connect_unix(path)
}

pub(super) fn connect_unix(path: &Path) -> io::Result<RawStream> {
    UnixSocket::connect(path).map(RawStream::Unix)
}

pub(super) fn connect_named_pipe(name: &str) -> io::Result<RawStream> {
    if !has_pipe_prefix(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a local pipe name; it must start with \\\\.\\pipe\\"),
        ));
    }
    let handle = open_client(name)?;
    Ok(RawStream::Pipe(PipeEnd { handle, side: PipeSide::Client }))
}
