//! Named pipes: creating instances, waiting for a client with overlapped I/O,
//! and opening a pipe as a client.

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_IO_PENDING, ERROR_OPERATION_ABORTED, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED, HANDLE, INVALID_HANDLE_VALUE, WAIT_FAILED,
    WAIT_OBJECT_0,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, WriteFile, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING, PIPE_ACCESS_DUPLEX,
    PIPE_ACCESS_OUTBOUND, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, WaitNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE,
    PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::{WaitForMultipleObjects, INFINITE};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

use super::overlapped::{new_event, new_overlapped};

/// The prefix of every local named pipe name.
pub(super) const PIPE_PREFIX: &str = r"\\.\pipe\";

/// Size of each direction's buffer of a listener's pipe instances, in bytes.
const BUFFER_SIZE: u32 = 64 * 1024;

/// Time a client keeps retrying while every instance of a pipe is busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The side of a named pipe that a handle belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipeSide {
    Server,
    Client,
}

/// One connected end of a named pipe, opened for overlapped I/O.
#[derive(Debug)]
pub(crate) struct PipeEnd {
    pub(super) handle: OwnedHandle,
    pub(super) side: PipeSide,
}

/// Returns `name` as a NUL-terminated UTF-16 string.
pub(super) fn wide(name: &str) -> Vec<u16> {
    OsStr::new(name).encode_wide().chain(Some(0)).collect()
}

/// Returns whether `name` starts with `\\.\pipe\`, ignoring case as Windows does.
pub(super) fn has_pipe_prefix(name: &str) -> bool {
    name.get(..PIPE_PREFIX.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(PIPE_PREFIX))
}

/// Creates the only instance of an outbound, byte-mode pipe through which a
/// parent hands a socket to its child.
///
/// FILE_FLAG_FIRST_PIPE_INSTANCE makes creation fail if a pipe of that name
/// exists already, so no other process can have created it first.
pub(super) fn create_handoff_pipe(name: &str) -> io::Result<OwnedHandle> {
    create_instance(
        name,
        PIPE_ACCESS_OUTBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
        1,
        4096,
        0,
    )
}

/// Creates one duplex, byte-mode instance of a listener's pipe. With `first`,
/// creation fails if a pipe of that name exists already.
pub(super) fn create_listener_instance(name: &str, first: bool) -> io::Result<OwnedHandle> {
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    create_instance(name, open_mode, PIPE_UNLIMITED_INSTANCES, BUFFER_SIZE, BUFFER_SIZE)
}

fn create_instance(name: &str, open_mode: u32, max_instances: u32, out_size: u32, in_size: u32) -> io::Result<OwnedHandle> {
    let wide_name = wide(name);
    // Clients on other machines are rejected. A null security descriptor gives
    // the default one, and the handle is not inheritable.
    // SAFETY: `wide_name` is NUL-terminated and outlives the call, and a null
    // security attributes pointer is allowed.
    let handle = unsafe {
        CreateNamedPipeW(
            wide_name.as_ptr(),
            open_mode,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            max_instances,
            out_size,
            in_size,
            0,
            std::ptr::null(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the handle was just created and nothing else owns it.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// Opens the pipe `name` as a client for overlapped reading and writing.
///
/// While every instance is busy it waits for one to become free, for at most
/// `BUSY_TIMEOUT` in all. SECURITY_IDENTIFICATION lets the server learn who
/// the client is but not act as the client.
pub(super) fn open_client(name: &str) -> io::Result<OwnedHandle> {
    let wide_name = wide(name);
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        // SAFETY: `wide_name` is NUL-terminated and outlives the call; the
        // other pointers are null, which CreateFileW allows.
        let handle = unsafe {
            CreateFileW(
                wide_name.as_ptr(),
                windows_sys::Win32::Foundation::GENERIC_READ | windows_sys::Win32::Foundation::GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                std::ptr::null_mut(),
            )
        };
        if handle != INVALID_HANDLE_VALUE {
            // SAFETY: the handle was just opened and nothing else owns it.
            return Ok(unsafe { OwnedHandle::from_raw_handle(handle) });
        }

        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(ERROR_PIPE_BUSY as i32) {
            return Err(error);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("every instance of pipe {name} stayed busy for {} s", BUSY_TIMEOUT.as_secs()),
            ));
        }
        // The result does not matter: the loop opens the pipe again either way.
        // SAFETY: `wide_name` is NUL-terminated and outlives the call.
        unsafe { WaitNamedPipeW(wide_name.as_ptr(), remaining.as_millis().clamp(1, 1000) as u32) };
    }
}

/// Result of an overlapped operation that a process exit can interrupt.
pub(super) enum Completion {
    /// The operation finished and transferred this many bytes.
    Done(u32),
    /// The watched process exited first, and the operation was cancelled.
    ProcessExited,
}

/// Waits until a client opens the server end `pipe`.
///
/// With `process`, it stops waiting when that process exits first. The wait
/// has no time limit otherwise.
pub(super) fn wait_for_client(pipe: &OwnedHandle, process: Option<HANDLE>) -> io::Result<Completion> {
    let event = new_event()?;
    let mut overlapped = new_overlapped(&event);
    // SAFETY: `overlapped` stays in place, and `event` open, until the operation
    // completes: `finish_overlapped` returns only after that.
    let connected = unsafe { ConnectNamedPipe(pipe.as_raw_handle(), &mut overlapped) };
    if connected != 0 {
        return Ok(Completion::Done(0));
    }
    // SAFETY: GetLastError only reads thread-local state.
    match unsafe { GetLastError() } {
        // A client opened the pipe between its creation and this call.
        ERROR_PIPE_CONNECTED => Ok(Completion::Done(0)),
        ERROR_IO_PENDING => finish_overlapped(pipe, &mut overlapped, &event, process),
        error => Err(io::Error::from_raw_os_error(error as i32)),
    }
}

/// Writes all of `data` to the server end `pipe`, stopping early with
/// `Completion::ProcessExited` if `process` exits before the write completes.
pub(super) fn write_all(pipe: &OwnedHandle, data: &[u8], process: Option<HANDLE>) -> io::Result<Completion> {
    let event = new_event()?;
    let mut written = 0usize;
    while written < data.len() {
        let mut overlapped = new_overlapped(&event);
        let chunk = &data[written..];
        let length = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        // SAFETY: `chunk` and `overlapped` stay in place, and `event` open,
        // until the operation completes: `finish_overlapped` returns only after that.
        let result = unsafe { WriteFile(pipe.as_raw_handle(), chunk.as_ptr(), length, std::ptr::null_mut(), &mut overlapped) };
        let completion = if result != 0 {
            let mut transferred = 0u32;
            // SAFETY: the operation has completed, and the pointers refer to live locals.
            if unsafe { GetOverlappedResult(pipe.as_raw_handle(), &overlapped, &mut transferred, 0) } == 0 {
                return Err(io::Error::last_os_error());
            }
            Completion::Done(transferred)
        } else {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(ERROR_IO_PENDING as i32) {
                return Err(error);
            }
            finish_overlapped(pipe, &mut overlapped, &event, process)?
        };
        match completion {
            Completion::Done(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the pipe accepted no bytes")),
            Completion::Done(count) => written += count as usize,
            Completion::ProcessExited => return Ok(Completion::ProcessExited),
        }
    }
    Ok(Completion::Done(written as u32))
}

/// Waits for a pending overlapped operation on `pipe` to complete, or for
/// `process` to exit, and then cancels the operation and waits for the
/// cancellation, so that `overlapped` is no longer in use when this returns.
fn finish_overlapped(
    pipe: &OwnedHandle,
    overlapped: &mut OVERLAPPED,
    event: &OwnedHandle,
    process: Option<HANDLE>,
) -> io::Result<Completion> {
    let mut handles = vec![event.as_raw_handle()];
    handles.extend(process);
    // SAFETY: `handles` contains open handles and its length is passed with it.
    let waited = unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, INFINITE) };
    let mut transferred = 0u32;
    if waited == WAIT_OBJECT_0 {
        // SAFETY: the event is set, so the operation has completed.
        if unsafe { GetOverlappedResult(pipe.as_raw_handle(), overlapped, &mut transferred, 0) } == 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(Completion::Done(transferred));
    }

    let wait_error = (waited == WAIT_FAILED).then(io::Error::last_os_error);
    // The cancellation fails when the operation has just completed, which the
    // result below shows, so its own result is not checked.
    // SAFETY: `overlapped` is the one passed to the pending operation.
    unsafe { CancelIoEx(pipe.as_raw_handle(), overlapped) };
    // SAFETY: waits until the operation has completed or been cancelled, so
    // that the kernel stops using `overlapped`.
    let completed = unsafe { GetOverlappedResult(pipe.as_raw_handle(), overlapped, &mut transferred, 1) } != 0;
    let operation_error = (!completed).then(io::Error::last_os_error);
    if let Some(error) = wait_error {
        return Err(error);
    }
    match operation_error {
        None => Ok(Completion::Done(transferred)),
        Some(error) if process.is_some() && waited == WAIT_OBJECT_0 + 1 => {
            if error.raw_os_error() == Some(ERROR_OPERATION_ABORTED as i32) {
                Ok(Completion::ProcessExited)
            } else {
                Err(error)
            }
        }
        Some(error) => Err(error),
    }
}
