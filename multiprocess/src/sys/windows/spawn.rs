//! Spawning a child and handing it one end of a socket pair through a named pipe.
//!
//! An inherited socket handle is not reliable on Windows: it can fail when a
//! layered service provider is installed, and under Wine 8.0 `send` on it fails
//! with WSAENOTSOCK. So the parent duplicates the socket for the child's
//! process id with `WSADuplicateSocketW` and sends the resulting
//! `WSAPROTOCOL_INFOW` through a named pipe whose name is in the child's argv.
//! This is the convention of libmultiprocess on Windows, so a C++ parent can
//! start a Rust child and the other way round.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::windows::io::{AsHandle, AsRawHandle, AsRawSocket, FromRawSocket, OwnedHandle, RawSocket};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY};
use windows_sys::Win32::Networking::WinSock::{
    WSADuplicateSocketW, WSASocketW, AF_INET, AF_INET6, FROM_PROTOCOL_INFO, INVALID_SOCKET, SOCKET, SOCK_STREAM,
    WSAPROTOCOL_INFOW, WSA_FLAG_NO_HANDLE_INHERIT, WSA_FLAG_OVERLAPPED,
};
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;

use super::pipe::{create_handoff_pipe, wait_for_client, write_all, Completion};
use super::socket_pair::tcp_pair;
use super::winsock::{ensure_started, last_error};
use super::RawStream;

/// The prefix of every handoff pipe name: `\\.\pipe\mp-`.
const HANDOFF_PREFIX: &str = r"\\.\pipe\mp-";

/// Size of the record that the parent writes to the handoff pipe.
const PROTOCOL_INFO_SIZE: usize = std::mem::size_of::<WSAPROTOCOL_INFOW>();

// The record is 628 bytes, the sum of its field sizes, so it has no padding
// bytes and can be sent as raw bytes.
const _: () = assert!(PROTOCOL_INFO_SIZE == 628);

/// Starts the program named by `argv[0]` and hands it one end of a new loopback
/// TCP socket pair.
///
/// `make_argv` gets the name of a new one-instance pipe,
/// `\\.\pipe\mp-<parent pid>-<counter>-<random hex>`. The random part keeps
/// other processes from guessing the name and creating the pipe first. The
/// child inherits none of the sockets and pipes made here, because all of them
/// are created non-inheritable. After the child opens the pipe, the parent checks that the
/// client is the child's process, writes the `WSAPROTOCOL_INFOW` of its
/// duplicated socket, and closes its copies of the child's end and the pipe.
///
/// A child that exits before opening the pipe does not block this call: the
/// child is returned with the parent's end, which then reads end of input.
/// If another process opens the pipe first, or the handoff fails, the child is
/// killed and waited for, and an error is returned.
///
/// NOTE: a child that keeps running without ever opening the pipe blocks this
/// call until it exits; there is no time limit.
pub(crate) fn spawn(make_argv: &mut dyn FnMut(&str) -> Vec<OsString>) -> io::Result<(Child, RawStream)> {
    let (parent_end, child_end) = tcp_pair()?;
    let name = new_handoff_name()?;
    let pipe = create_handoff_pipe(&name)
        .map_err(|error| io::Error::new(error.kind(), format!("failed to create pipe {name}: {error}")))?;

    let argv = make_argv(&name);
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the argv built for the child is empty; it must start with the program to run",
        ));
    };
    let mut child = Command::new(program).args(args).spawn()?;

    match hand_over(&pipe, &name, &child_end, &child) {
        Ok(true) => {}
        Ok(false) => {
            // Dropping the child's end below makes the parent's end read end
            // of input, as a connection to a child that exited should.
            tracing::warn!(pid = child.id(), pipe = %name, "child process exited before it took its socket from the handoff pipe");
        }
        Err(error) => {
            let pid = child.id();
            if let Err(kill_error) = child.kill() {
                tracing::debug!(pid, error = %kill_error, "failed to kill the child after a failed socket handoff");
            }
            if let Err(wait_error) = child.wait() {
                tracing::warn!(pid, error = %wait_error, "failed to wait for the child after a failed socket handoff");
            }
            return Err(error);
        }
    }
    drop(child_end);
    // NOTE: the pipe is closed without DisconnectNamedPipe, which would discard
    // bytes the child has not read yet. That the child can still read them
    // after the close was observed under Wine 8.0, not tested on Windows.
    drop(pipe);
    let process = child.as_handle().try_clone_to_owned().map_err(|error| {
        io::Error::new(error.kind(), format!("failed to duplicate the handle of child process {}: {error}", child.id()))
    })?;
    let pid = child.id();
    Ok((child, RawStream::Spawned { socket: parent_end, process, pid }))
}

/// Returns a new handoff pipe name, unique in this process and hard to guess.
fn new_handoff_name() -> io::Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).map_err(|error| io::Error::other(format!("failed to get random bytes: {error}")))?;
    let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("{HANDOFF_PREFIX}{}-{counter}-{hex}", std::process::id()))
}

/// Waits for `child` to open the pipe and sends it a duplicate of `socket`.
/// Returns `Ok(false)` if the child exited before it opened the pipe or before
/// the record was written.
fn hand_over(pipe: &OwnedHandle, name: &str, socket: &TcpStream, child: &Child) -> io::Result<bool> {
    let process = child.as_raw_handle();
    let child_pid = child.id();
    match wait_for_client(pipe, Some(process))
        .map_err(|error| io::Error::new(error.kind(), format!("failed to wait for a client of pipe {name}: {error}")))?
    {
        Completion::Done(_) => {}
        Completion::ProcessExited => return Ok(false),
    }

    let mut client_pid = 0u32;
    // SAFETY: `pipe` is an open server end and `client_pid` a live local.
    if unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle(), &mut client_pid) } == 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("failed to get the client process of pipe {name}: {error}")));
    }
    if client_pid != child_pid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("pipe {name} was opened by process {client_pid}, not by the child process {child_pid}; the socket was not handed over"),
        ));
    }

    // SAFETY: WSAPROTOCOL_INFOW is plain data, so all zeros is a valid value.
    let mut info: WSAPROTOCOL_INFOW = unsafe { std::mem::zeroed() };
    // SAFETY: the socket is open and `info` is a live, writable WSAPROTOCOL_INFOW.
    if unsafe { WSADuplicateSocketW(socket.as_raw_socket() as SOCKET, child_pid, &mut info) } != 0 {
        let error = last_error();
        return Err(io::Error::new(
            error.kind(),
            format!("failed to duplicate the socket for child process {child_pid}: {error}"),
        ));
    }

    // SAFETY: `info` is a live, initialized value of PROTOCOL_INFO_SIZE bytes
    // with no padding (its fields are 4-byte integers, a GUID and u16 arrays),
    // and the slice is dropped before `info`.
    let bytes = unsafe { std::slice::from_raw_parts((&info as *const WSAPROTOCOL_INFOW).cast::<u8>(), PROTOCOL_INFO_SIZE) };
    match write_all(pipe, bytes, Some(process))
        .map_err(|error| io::Error::new(error.kind(), format!("failed to write the socket to pipe {name}: {error}")))?
    {
        Completion::Done(_) => Ok(true),
        Completion::ProcessExited => Ok(false),
    }
}

/// Opens the handoff pipe `arg`, reads the parent's `WSAPROTOCOL_INFOW` from
/// it and creates this process's socket from it.
pub(crate) fn start_spawned(arg: &str) -> io::Result<RawStream> {
    if !arg.starts_with(HANDOFF_PREFIX) || arg.len() == HANDOFF_PREFIX.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{arg:?} is not the name of a handoff pipe; expected a name that starts with {HANDOFF_PREFIX}"),
        ));
    }

    let mut pipe = OpenOptions::new().read(true).open(arg).map_err(|error| {
        let hint = match error.raw_os_error().map(|code| code as u32) {
            Some(ERROR_FILE_NOT_FOUND) => "; the pipe does not exist, so the parent may have exited or handed the socket over already",
            Some(ERROR_PIPE_BUSY) => "; another process has opened it",
            _ => "",
        };
        io::Error::new(error.kind(), format!("failed to open pipe {arg}: {error}{hint}"))
    })?;

    let mut bytes = [0u8; PROTOCOL_INFO_SIZE];
    let mut filled = 0;
    while filled < bytes.len() {
        match pipe.read(&mut bytes[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("pipe {arg} closed after {filled} of the {PROTOCOL_INFO_SIZE} bytes of the socket record"),
                ))
            }
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(io::Error::new(error.kind(), format!("failed to read from pipe {arg}: {error}"))),
        }
    }
    drop(pipe);

    // SAFETY: WSAPROTOCOL_INFOW is plain data for which every bit pattern is
    // valid, and `bytes` has exactly its size; read_unaligned copies it out.
    let info: WSAPROTOCOL_INFOW = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let family = info.iAddressFamily;
    if info.iSocketType != SOCK_STREAM || (family != i32::from(AF_INET) && family != i32::from(AF_INET6)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "pipe {arg} sent a socket of address family {family} and type {}; expected a TCP stream socket",
                info.iSocketType
            ),
        ));
    }

    ensure_started()?;
    // SAFETY: `info` is a live WSAPROTOCOL_INFOW; no other pointer is passed.
    let socket = unsafe {
        WSASocketW(
            FROM_PROTOCOL_INFO,
            FROM_PROTOCOL_INFO,
            FROM_PROTOCOL_INFO,
            &info,
            0,
            WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
        )
    };
    if socket == INVALID_SOCKET {
        let error = last_error();
        return Err(io::Error::new(
            error.kind(),
            format!("failed to create the socket that the parent sent through pipe {arg}: {error}"),
        ));
    }
    // SAFETY: WSASocketW returned a new socket that nothing else in this process owns.
    Ok(RawStream::Tcp(unsafe { TcpStream::from_raw_socket(socket as RawSocket) }))
}
