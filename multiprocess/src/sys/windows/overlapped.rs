//! Events and `OVERLAPPED` records for overlapped I/O.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::System::Threading::CreateEventW;
use windows_sys::Win32::System::IO::OVERLAPPED;

/// Creates a manual-reset event, initially unset, as overlapped I/O requires.
pub(super) fn new_event() -> io::Result<OwnedHandle> {
    // SAFETY: null security attributes and a null name are allowed.
    let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if event.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the event was just created and nothing else owns it.
    Ok(unsafe { OwnedHandle::from_raw_handle(event) })
}

/// Returns an `OVERLAPPED` record at file offset 0 that signals `event`.
pub(super) fn new_overlapped(event: &OwnedHandle) -> OVERLAPPED {
    // SAFETY: OVERLAPPED is plain data, so all zeros is a valid value.
    let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
    overlapped.hEvent = event.as_raw_handle();
    overlapped
}
