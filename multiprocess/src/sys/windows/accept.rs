//! Accepting a TCP connection into a socket that is never inheritable.
//!
//! `accept` returns a socket whose inherit flag is set (Wine 8.0 does so even
//! when the listening socket's flag is clear), and clearing the flag afterwards
//! leaves a window in which a process that another thread spawns inherits the
//! socket. Such a copy keeps the connection open after this process closes its
//! end, so the peer never reads end of input. `AcceptEx` instead accepts into a
//! socket created beforehand with WSA_FLAG_NO_HANDLE_INHERIT.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::windows::io::{AsRawSocket, FromRawSocket, OwnedSocket, RawSocket};

use windows_sys::Win32::Foundation::ERROR_IO_PENDING;
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, AcceptEx, WSAGetOverlappedResult, WSASocketW, AF_INET, AF_INET6, INVALID_SOCKET, IPPROTO_TCP,
    SOCKADDR_STORAGE, SOCKET, SOCKET_ERROR, SOCK_STREAM, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, WSA_FLAG_NO_HANDLE_INHERIT,
    WSA_FLAG_OVERLAPPED,
};

use super::overlapped::{new_event, new_overlapped};
use super::winsock::{ensure_started, last_error};

/// Room for one address in the `AcceptEx` output buffer: the largest socket
/// address plus the 16 bytes that `AcceptEx` requires on top.
const ADDRESS_SPACE: usize = std::mem::size_of::<SOCKADDR_STORAGE>() + 16;

/// Waits for a connection on `listener` and returns it with the peer address.
/// The returned socket is not inheritable from the moment it exists.
pub(super) fn accept_tcp(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    ensure_started()?;
    let family = if listener.local_addr()?.is_ipv4() { AF_INET } else { AF_INET6 };
    // SAFETY: a null protocol info pointer is allowed and no other pointer is passed.
    let raw = unsafe {
        WSASocketW(
            i32::from(family),
            SOCK_STREAM,
            IPPROTO_TCP,
            std::ptr::null(),
            0,
            WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
        )
    };
    if raw == INVALID_SOCKET {
        return Err(last_error());
    }
    // SAFETY: `raw` was just created and nothing else owns it.
    let socket = unsafe { OwnedSocket::from_raw_socket(raw as RawSocket) };

    let listener_raw = listener.as_raw_socket() as SOCKET;
    let event = new_event()?;
    let mut overlapped = new_overlapped(&event);
    let mut addresses = [0u8; 2 * ADDRESS_SPACE];
    let mut received = 0u32;
    // SAFETY: `addresses` has room for both addresses, and it and `overlapped`
    // stay in place until the operation completes: the wait below returns only
    // after that.
    let accepted = unsafe {
        AcceptEx(
            listener_raw,
            raw,
            addresses.as_mut_ptr().cast(),
            0,
            ADDRESS_SPACE as u32,
            ADDRESS_SPACE as u32,
            &mut received,
            &mut overlapped,
        )
    };
    if accepted == 0 {
        let error = last_error();
        if error.raw_os_error() != Some(ERROR_IO_PENDING as i32) {
            return Err(error);
        }
        let mut flags = 0u32;
        // SAFETY: with fWait set, this waits on the event of `overlapped` until
        // the operation has completed, so the kernel no longer uses the buffers.
        let waited = unsafe { WSAGetOverlappedResult(listener_raw, &overlapped, &mut received, 1, &mut flags) };
        if waited == 0 {
            return Err(last_error());
        }
    }

    // Gives the accepted socket the listener's properties, without which
    // getpeername and shutdown fail on it.
    // SAFETY: the option value points to a live SOCKET and its size is passed.
    let updated = unsafe {
        setsockopt(
            raw,
            SOL_SOCKET,
            SO_UPDATE_ACCEPT_CONTEXT,
            (&listener_raw as *const SOCKET).cast(),
            std::mem::size_of::<SOCKET>() as i32,
        )
    };
    if updated == SOCKET_ERROR {
        return Err(last_error());
    }

    let stream = TcpStream::from(socket);
    let peer = stream.peer_addr()?;
    Ok((stream, peer))
}
