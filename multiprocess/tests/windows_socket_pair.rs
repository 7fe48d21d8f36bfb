#![cfg(windows)]
//! The Windows socket pair: two loopback TCP sockets connected to each other,
//! not inheritable, usable directly and through a connection.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::windows::io::AsRawSocket;

use multiprocess::proxy_capnp::thread_map;
use multiprocess::{Connection, ConnectionOptions, EventLoop, Stream};
use windows_sys::Win32::Foundation::{GetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};

fn into_tcp(stream: Stream) -> TcpStream {
    TcpStream::try_from(stream).expect("a socket pair end is a TCP socket")
}

fn is_inheritable(socket: &TcpStream) -> bool {
    let mut flags = 0u32;
    // SAFETY: the socket is open for the duration of the call and `flags` is a live local.
    let ok = unsafe { GetHandleInformation(socket.as_raw_socket() as HANDLE, &mut flags) };
    assert_ne!(ok, 0, "GetHandleInformation failed: {}", std::io::Error::last_os_error());
    flags & HANDLE_FLAG_INHERIT != 0
}

#[test]
fn socket_pair_round_trip() {
    let (a, b) = multiprocess::socket_pair().unwrap();
    let mut a = into_tcp(a);
    let mut b = into_tcp(b);

    a.write_all(b"ping from a").unwrap();
    let mut buffer = [0u8; 11];
    b.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"ping from a");

    b.write_all(b"pong from b").unwrap();
    a.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"pong from b");
}

#[test]
fn socket_pair_ends_are_peers() {
    let (a, b) = multiprocess::socket_pair().unwrap();
    let a = into_tcp(a);
    let b = into_tcp(b);

    assert_eq!(a.local_addr().unwrap(), b.peer_addr().unwrap());
    assert_eq!(b.local_addr().unwrap(), a.peer_addr().unwrap());
    assert_eq!(a.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(b.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert!(a.nodelay().unwrap(), "TCP_NODELAY is off on the first end");
    assert!(b.nodelay().unwrap(), "TCP_NODELAY is off on the second end");
}

#[test]
fn socket_pair_not_inheritable() {
    let (a, b) = multiprocess::socket_pair().unwrap();
    let a = into_tcp(a);
    let b = into_tcp(b);
    assert!(!is_inheritable(&a), "the first end is inheritable");
    assert!(!is_inheritable(&b), "the second end is inheritable");
}

#[test]
fn shutdown_write_gives_peer_eof() {
    let (a, b) = multiprocess::socket_pair().unwrap();
    a.shutdown_write().unwrap();
    let mut a = into_tcp(a);
    let mut b = into_tcp(b);

    let mut buffer = [0u8; 4];
    assert_eq!(b.read(&mut buffer).unwrap(), 0, "the peer did not read end of input");
    // The other direction stays open.
    b.write_all(b"more").unwrap();
    a.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"more");
}

#[test]
fn tcp_stream_converts_both_ways() {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let local = client.local_addr().unwrap();

    let stream = Stream::from(client);
    let back = TcpStream::try_from(stream).unwrap();
    assert_eq!(back.local_addr().unwrap(), local);
}

#[test]
fn rpc_over_socket_pair() {
    let server_loop = EventLoop::new("server").unwrap();
    let client_loop = EventLoop::new("client").unwrap();
    let (server_end, client_end) = multiprocess::socket_pair().unwrap();

    let _server = Connection::serve(&server_loop, server_end, "client", ConnectionOptions::default(), |cx| {
        cx.construct(None).client
    })
    .unwrap();
    let connection = Connection::connect(&client_loop, client_end, "server").unwrap();
    let map = connection.bootstrap::<thread_map::Client>().unwrap();

    let name = map
        .call("makeThread", |client, _cx| {
            let mut request = client.make_thread_request();
            request.get().set_name("windows-socket-pair");
            Ok(async move {
                let response = request.send().promise.await?;
                let thread = response.get()?.get_result()?;
                let reply = thread.get_name_request().send().promise.await?;
                multiprocess::read_text("result", reply.get()?.get_result())
            })
        })
        .unwrap();
    assert!(name.contains("windows-socket-pair"), "unexpected thread name {name:?}");
}
