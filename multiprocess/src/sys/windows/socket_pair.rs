//! A connected pair of loopback TCP sockets.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use super::accept::accept_tcp;
use super::winsock::set_socket_not_inheritable;
use super::RawStream;

/// Maximum number of foreign connections accepted and dropped while waiting for
/// our own. Any local process can connect to the listening port in the short
/// time it is open, so a few strangers are tolerated before giving up.
const MAX_FOREIGN_CONNECTIONS: usize = 16;

/// Returns two TCP sockets connected to each other over 127.0.0.1, neither of
/// which child processes inherit.
///
/// Windows has no `socketpair`, so this listens on an ephemeral loopback port
/// and connects to it. It accepts until the accepted socket's peer address
/// equals the connecting socket's local address. So the two ends are connected
/// to each other and not to another process that connected first.
pub(crate) fn socket_pair() -> io::Result<(RawStream, RawStream)> {
    let (a, b) = tcp_pair()?;
    Ok((RawStream::Tcp(a), RawStream::Tcp(b)))
}

pub(super) fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    // std creates its sockets non-inheritable already. Clearing the flag here
    // too keeps that true whichever std version builds the crate.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    set_socket_not_inheritable(&listener)?;
    let connected = TcpStream::connect(listener.local_addr()?)?;
    set_socket_not_inheritable(&connected)?;
    let expected_peer = connected.local_addr()?;

    for _ in 0..=MAX_FOREIGN_CONNECTIONS {
        let (accepted, peer) = accept_tcp(&listener)?;
        if peer != expected_peer {
            tracing::warn!(%peer, expected = %expected_peer, "rejected a foreign connection to a socket pair's listener");
            continue;
        }
        accepted.set_nodelay(true)?;
        connected.set_nodelay(true)?;
        return Ok((connected, accepted));
    }
    Err(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!(
            "rejected {} foreign connections to the loopback listener of a socket pair before ours arrived",
            MAX_FOREIGN_CONNECTIONS + 1
        ),
    ))
}
