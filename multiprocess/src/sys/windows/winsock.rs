//! Helpers for raw WinSock and handle calls.

use std::io;
use std::os::windows::io::AsRawSocket;
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};
use windows_sys::Win32::Networking::WinSock::{WSAGetLastError, WSAStartup, WSADATA};

/// Initializes WinSock 2.2 for this process once.
///
/// std initializes WinSock only when it creates its first socket, and raw
/// calls such as `WSASocketW` fail with WSANOTINITIALISED before that. The
/// matching `WSACleanup` is never called, so WinSock stays usable until the
/// process exits; `WSAStartup` counts its calls, so this does not disturb std.
pub(super) fn ensure_started() -> io::Result<()> {
    static STARTED: OnceLock<i32> = OnceLock::new();
    let result = *STARTED.get_or_init(|| {
        // SAFETY: WSADATA is plain data, so all zeros is a valid value, and
        // WSAStartup writes into the local it points to.
        let mut data: WSADATA = unsafe { std::mem::zeroed() };
        // SAFETY: `data` is a live, writable WSADATA.
        unsafe { WSAStartup(0x0202, &mut data) }
    });
    if result == 0 {
        Ok(())
    } else {
        // WSAStartup returns its error code rather than setting the last error.
        Err(io::Error::from_raw_os_error(result))
    }
}

/// Returns the error of the last failed WinSock call on this thread.
pub(super) fn last_error() -> io::Error {
    // SAFETY: WSAGetLastError only reads thread-local state.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

/// Clears the inherit flag of a socket, so child processes never get a copy.
pub(super) fn set_socket_not_inheritable(socket: &impl AsRawSocket) -> io::Result<()> {
    // SAFETY: a socket is a kernel handle, and `socket` keeps it open during the call.
    if unsafe { SetHandleInformation(socket.as_raw_socket() as HANDLE, HANDLE_FLAG_INHERIT, 0) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
