//! Socket pairs and the child side of spawning.

use std::io::{Read, Write};

use multiprocess::{socket_pair, start_spawned};

#[cfg(unix)]
type Raw = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Raw = std::net::TcpStream;

#[cfg(unix)]
fn into_raw(stream: multiprocess::Stream) -> Raw {
    Raw::from(stream)
}

/// On Windows a stream can also be a named pipe, so the conversion back to a
/// socket is `TryFrom`.
#[cfg(windows)]
fn into_raw(stream: multiprocess::Stream) -> Raw {
    Raw::try_from(stream).expect("a socket pair end is a TCP socket")
}

#[test]
fn socket_pair_carries_bytes_both_ways() {
    let (a, b) = socket_pair().unwrap();
    let (mut a, mut b) = (into_raw(a), into_raw(b));

    a.write_all(b"ping").unwrap();
    let mut buffer = [0u8; 4];
    b.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"ping");

    b.write_all(b"pong").unwrap();
    a.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"pong");
}

#[test]
fn shutdown_write_gives_peer_end_of_input() {
    let (a, b) = socket_pair().unwrap();
    a.shutdown_write().unwrap();
    let mut b = into_raw(b);
    let mut buffer = Vec::new();
    assert_eq!(b.read_to_end(&mut buffer).unwrap(), 0);
}

#[test]
fn start_spawned_rejects_values_that_are_not_sockets() {
    for value in ["", "abc", "-1", "12x", "999999"] {
        let error = start_spawned(value).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&format!("{value:?}")), "message does not name {value:?}: {message}");
    }
}

#[cfg(unix)]
#[test]
fn start_spawned_rejects_descriptor_of_regular_file() {
    use std::os::fd::AsRawFd;

    let file = tempfile::tempfile().unwrap();
    let number = file.as_raw_fd().to_string();

    let message = start_spawned(&number).unwrap_err().to_string();

    assert!(message.contains("is not an open socket"), "message: {message}");
    // The file must still be open and owned by the test.
    file.metadata().unwrap();
}
