//! Ends the parent's stream to a spawned child once the child exits.
//!
//! Windows closes a process's sockets when it exits, so the parent reads end of
//! input from its end of the pair. Wine 8.0 does not always do so: after
//! `TerminateProcess`, the child's socket sometimes stays open (measured: one
//! connection in six saw no end of input within 20 seconds). A thread per
//! spawned child therefore waits for the child's process handle. Once the child
//! has exited, the parent's stream returns the bytes still buffered in the
//! socket and then end of input. The result is the same on Windows and under
//! Wine: the child's exit is a disconnect, even when some other process has a
//! copy of its socket.

use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::windows::io::{AsRawHandle, AsRawSocket, FromRawSocket, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Context;
use std::thread::JoinHandle;

use futures::task::AtomicWaker;
use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::{SetEvent, WaitForMultipleObjects, INFINITE};

use super::overlapped::new_event;

/// Stack size of a watching thread, which only waits.
const STACK_SIZE: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Shared {
    exited: AtomicBool,
    waker: AtomicWaker,
}

/// A thread that waits for a child process to exit and wakes the reader of
/// the parent's stream when it does. Dropping the watch stops the thread.
#[derive(Debug)]
pub(crate) struct ChildWatch {
    shared: Arc<Shared>,
    pid: u32,
    stop: OwnedHandle,
    thread: Option<JoinHandle<()>>,
}

impl ChildWatch {
    /// Starts watching `process`, a handle with the SYNCHRONIZE right to the
    /// child process `pid`.
    pub(super) fn start(process: OwnedHandle, pid: u32) -> io::Result<ChildWatch> {
        let shared = Arc::new(Shared::default());
        let stop = new_event()?;
        let stop_for_thread = stop.try_clone()?;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mp-child-watch".into())
            .stack_size(STACK_SIZE)
            .spawn(move || watch(&process, pid, &stop_for_thread, &thread_shared))?;
        Ok(ChildWatch { shared, pid, stop, thread: Some(thread) })
    }

    /// Registers the current task to be woken when the child exits, and
    /// returns whether it has exited.
    pub(super) fn register(&self, cx: &Context<'_>) -> bool {
        self.shared.waker.register(cx.waker());
        self.exited()
    }

    /// Returns whether the child has exited.
    pub(super) fn exited(&self) -> bool {
        self.shared.exited.load(Ordering::Acquire)
    }
}

impl Drop for ChildWatch {
    fn drop(&mut self) {
        // SAFETY: `stop` is an open event handle owned by this value.
        if unsafe { SetEvent(self.stop.as_raw_handle()) } == 0 {
            // Without the event the thread ends only when the child exits.
            tracing::warn!(pid = self.pid, error = %io::Error::last_os_error(), "failed to stop the thread that watches a child process");
            return;
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(process: &OwnedHandle, pid: u32, stop: &OwnedHandle, shared: &Shared) {
    let handles = [process.as_raw_handle(), stop.as_raw_handle()];
    // SAFETY: both handles are open for the whole call, because the thread owns them.
    let result = unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, INFINITE) };
    if result == WAIT_OBJECT_0 {
        shared.exited.store(true, Ordering::Release);
        shared.waker.wake();
    } else if result != WAIT_OBJECT_0 + 1 {
        tracing::warn!(pid, error = %io::Error::last_os_error(), "failed to wait for a child process to exit");
    }
}

/// Reads from `socket` without waiting, for a stream whose peer process has
/// exited: returns the bytes still buffered in the socket, or 0 (end of
/// input) when none are left.
pub(super) fn read_after_exit(socket: &tokio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the socket stays open while `borrowed` lives, and ManuallyDrop
    // keeps `borrowed` from closing it; tokio keeps ownership.
    let borrowed = ManuallyDrop::new(unsafe { TcpStream::from_raw_socket(socket.as_raw_socket()) });
    match (&*borrowed).read(buf) {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(0),
        other => other,
    }
}
