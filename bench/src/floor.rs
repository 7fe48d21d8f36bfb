//! The floor that calls are compared with: one byte sent over a socket pair
//! to another process and sent back, with blocking reads and writes in plain
//! Rust. No round trip between two processes over this kind of socket does
//! less work.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use multiprocess::Stream;

/// The parent's end of the ping-pong.
pub struct FloorClient {
    socket: UnixStream,
}

impl FloorClient {
    /// Wraps the parent's end of the socket pair to a child that runs [`serve`].
    pub fn new(stream: Stream) -> FloorClient {
        FloorClient { socket: UnixStream::from(stream) }
    }

    /// Sends one byte and blocks until the child has sent it back.
    pub fn round_trip(&mut self) -> io::Result<()> {
        let mut byte = [0x2a];
        self.socket.write_all(&byte)?;
        byte[0] = 0;
        self.socket.read_exact(&mut byte)?;
        if byte[0] != 0x2a {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("expected byte 0x2a back, read {:#04x}", byte[0])));
        }
        Ok(())
    }
}

/// Sends every byte read from `stream` back until end of input, as the child.
pub fn serve(stream: Stream) -> io::Result<()> {
    let mut socket = UnixStream::from(stream);
    let mut buffer = [0u8; 64];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(length) => socket.write_all(&buffer[..length])?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}
