//! AF_UNIX stream sockets through raw WinSock calls, which std lacks on Windows.
//!
//! Windows 10 version 1803 and later support AF_UNIX stream sockets bound to a
//! file path. Older versions, and Wine 8.0, fail `socket(AF_UNIX)` with
//! WSAEAFNOSUPPORT (10047).

use std::io;
use std::net::TcpStream;
use std::os::windows::io::{AsRawSocket, FromRawSocket, IntoRawSocket, OwnedSocket, RawSocket};
use std::path::Path;

use windows_sys::Win32::Networking::WinSock::{
    accept, bind, connect, listen, shutdown, WSASocketW, ADDRESS_FAMILY, AF_UNIX, INVALID_SOCKET, SD_SEND, SOCKADDR,
    SOCKADDR_UN, SOCKET, SOCKET_ERROR, SOCK_STREAM, WSA_FLAG_NO_HANDLE_INHERIT, WSA_FLAG_OVERLAPPED,
};

use super::winsock::{ensure_started, last_error, set_socket_not_inheritable};

/// The backlog passed to `listen`: SOMAXCONN of winsock2.h, which lets the
/// provider choose its maximum. windows-sys exports the WinSock 1 value, 5.
const BACKLOG: i32 = 0x7fff_ffff;

/// An AF_UNIX stream socket, listening or connected.
#[derive(Debug)]
pub(crate) struct UnixSocket {
    socket: OwnedSocket,
}

impl UnixSocket {
    fn new() -> io::Result<UnixSocket> {
        ensure_started()?;
        // Overlapped mode, as std uses for its own sockets, lets tokio poll the
        // socket. WSA_FLAG_NO_HANDLE_INHERIT keeps it out of child processes.
        // SAFETY: a null protocol info pointer is allowed and no other pointer is passed.
        let socket = unsafe {
            WSASocketW(
                i32::from(AF_UNIX),
                SOCK_STREAM,
                0,
                std::ptr::null(),
                0,
                WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
            )
        };
        if socket == INVALID_SOCKET {
            return Err(last_error());
        }
        // SAFETY: `socket` was just created and nothing else owns it.
        Ok(UnixSocket { socket: unsafe { OwnedSocket::from_raw_socket(socket as RawSocket) } })
    }

    fn raw(&self) -> SOCKET {
        self.socket.as_raw_socket() as SOCKET
    }

    /// Creates a socket bound to `path` and listening on it.
    pub(super) fn bind(path: &Path) -> io::Result<UnixSocket> {
        let address = socket_address(path)?;
        let socket = UnixSocket::new()?;
        // SAFETY: `address` is a live SOCKADDR_UN and the length passed is its size.
        let result = unsafe {
            bind(
                socket.raw(),
                (&address as *const SOCKADDR_UN).cast::<SOCKADDR>(),
                std::mem::size_of::<SOCKADDR_UN>() as i32,
            )
        };
        if result == SOCKET_ERROR {
            return Err(last_error());
        }
        // SAFETY: listen takes only the socket and a number.
        if unsafe { listen(socket.raw(), BACKLOG) } == SOCKET_ERROR {
            return Err(last_error());
        }
        Ok(socket)
    }

    /// Waits for a connection on a listening socket and returns it.
    pub(super) fn accept(&self) -> io::Result<UnixSocket> {
        // SAFETY: null address pointers are allowed and ask for no peer address.
        let socket = unsafe { accept(self.raw(), std::ptr::null_mut(), std::ptr::null_mut()) };
        if socket == INVALID_SOCKET {
            return Err(last_error());
        }
        // SAFETY: accept returned a new socket that nothing else owns.
        let accepted = UnixSocket { socket: unsafe { OwnedSocket::from_raw_socket(socket as RawSocket) } };
        // NOTE: the accepted socket may start out inheritable, as TCP sockets
        // do under Wine 8.0, so a process spawned by another thread before
        // this line can inherit it. TCP avoids that with AcceptEx, which was
        // not tried on AF_UNIX for want of a system to test it on.
        set_socket_not_inheritable(&accepted.socket)?;
        Ok(accepted)
    }

    /// Connects a new socket to the listener at `path`.
    pub(super) fn connect(path: &Path) -> io::Result<UnixSocket> {
        let address = socket_address(path)?;
        let socket = UnixSocket::new()?;
        // SAFETY: `address` is a live SOCKADDR_UN and the length passed is its size.
        let result = unsafe {
            connect(
                socket.raw(),
                (&address as *const SOCKADDR_UN).cast::<SOCKADDR>(),
                std::mem::size_of::<SOCKADDR_UN>() as i32,
            )
        };
        if result == SOCKET_ERROR {
            return Err(last_error());
        }
        Ok(socket)
    }

    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: shutdown takes only the socket and a number.
        if unsafe { shutdown(self.raw(), SD_SEND) } == SOCKET_ERROR {
            return Err(last_error());
        }
        Ok(())
    }

    /// Moves the socket into a `TcpStream`, for its `Read`, `Write` and
    /// non-blocking mode only.
    ///
    /// std implements those with `recv`, `send` and `ioctlsocket(FIONBIO)`,
    /// which work on any stream socket whatever its address family. The
    /// address methods of the result (`peer_addr`, `local_addr`) return an
    /// error for an AF_UNIX socket, and nothing in this crate calls them.
    pub(super) fn into_tcp_stream_for_io(self) -> TcpStream {
        // SAFETY: the socket is open and owned by `self`, which gives it up here.
        unsafe { TcpStream::from_raw_socket(self.socket.into_raw_socket()) }
    }
}

/// Builds the address of the socket file at `path`: its UTF-8 bytes and a
/// terminating NUL, at most 107 bytes of path in all.
fn socket_address(path: &Path) -> io::Result<SOCKADDR_UN> {
    let text = path.to_str().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("socket path {} is not valid Unicode", path.display()))
    })?;
    // SAFETY: SOCKADDR_UN is plain data, so all zeros is a valid value.
    let mut address: SOCKADDR_UN = unsafe { std::mem::zeroed() };
    address.sun_family = AF_UNIX as ADDRESS_FAMILY;
    if text.is_empty() || text.len() >= address.sun_path.len() || text.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket path {text:?} is invalid: it must be 1 to {} bytes long without NUL characters",
                address.sun_path.len() - 1
            ),
        ));
    }
    // NOTE: Windows documents sun_path as a byte string; non-ASCII paths are
    // passed as UTF-8, which was not tested on a Windows with AF_UNIX.
    for (slot, byte) in address.sun_path.iter_mut().zip(text.bytes()) {
        *slot = byte as i8;
    }
    Ok(address)
}
