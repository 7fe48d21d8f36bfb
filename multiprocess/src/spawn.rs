//! Spawning a child process already connected to its parent by a socket.
//!
//! [`spawn_process`] creates a socket pair, starts the child with an argv that
//! the caller builds from a connection argument, and returns the parent's end.
//! The child turns that argument back into its end with [`start_spawned`]. The
//! argument is a descriptor number on Unix (Bitcoin Core passes it as
//! `-ipcfd=N`) and the name of a one-use named pipe on Windows, through which
//! the parent hands over the socket once it has checked that the child opened it.
//!
//! A child that exits before connecting does not hang the parent: the parent's
//! stream then reads end of input, which a connection reports as a disconnect.

use std::ffi::OsString;
use std::process::{Child, ExitStatus};

use crate::stream::Stream;
use crate::sys;
use crate::{Error, Result};

/// A child process started by [`spawn_process`].
///
/// Dropping it neither kills nor waits for the process; call [`wait_process`]
/// or [`ChildProcess::wait`] to collect its exit status.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
}

impl ChildProcess {
    /// Returns the operating system's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and returns its exit status.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let pid = self.child.id();
        self.child
            .wait()
            .map_err(|source| Error::io(format!("failed to wait for child process {pid}"), source))
    }

    /// Returns the exit status if the process has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let pid = self.child.id();
        self.child
            .try_wait()
            .map_err(|source| Error::io(format!("failed to poll child process {pid}"), source))
    }

    /// Kills the process (SIGKILL on Unix, TerminateProcess on Windows).
    pub fn kill(&mut self) -> Result<()> {
        let pid = self.child.id();
        self.child
            .kill()
            .map_err(|source| Error::io(format!("failed to kill child process {pid}"), source))
    }
}

/// Spawns a child process connected to this one by a socket pair.
///
/// `make_argv` receives the connection argument and returns the whole argv,
/// program first; the child passes the argument to [`start_spawned`]. Returns
/// the child and this process's end of the socket pair.
///
/// The connection argument is a descriptor number on Unix and the name of a
/// one-instance named pipe on Windows, as libmultiprocess uses. The returned
/// stream reads end of input once the child has exited, so a connection over
/// it ends with the child. On Windows this is true even when another process
/// has a copy of the child's socket, because the stream also waits on the
/// child's process handle. So a child that hands its socket to another
/// process and exits ends the connection there.
///
/// ```no_run
/// let exe = std::env::current_exe().unwrap();
/// let (mut child, stream) = multiprocess::spawn_process(|arg| {
///     vec![exe.clone().into(), "serve".into(), arg.into()]
/// })?;
/// # drop(stream);
/// # child.wait()?;
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn spawn_process<F>(mut make_argv: F) -> Result<(ChildProcess, Stream)>
where
    F: FnMut(&str) -> Vec<OsString>,
{
    let mut program = None;
    let mut build = |arg: &str| {
        let argv = make_argv(arg);
        program = argv.first().cloned();
        argv
    };
    let (child, stream) = sys::spawn(&mut build).map_err(|source| {
        let name = program.as_ref().map_or_else(|| "<empty argv>".into(), |p| p.to_string_lossy().into_owned());
        Error::io(format!("failed to spawn child process {name:?}"), source)
    })?;
    tracing::debug!(pid = child.id(), "spawned child process");
    Ok((ChildProcess { child }, Stream::from_raw(stream)))
}

/// Turns the connection argument that [`spawn_process`] put in this child's
/// argv back into a stream connected to the parent.
///
/// Fails with [`Error::Io`] naming the value when it does not refer to a
/// socket handed over by the parent.
pub fn start_spawned(arg: &str) -> Result<Stream> {
    let stream = sys::start_spawned(arg)
        .map_err(|source| Error::io(format!("invalid connection argument {arg:?} from the parent process"), source))?;
    Ok(Stream::from_raw(stream))
}

/// Waits for a spawned child to exit and returns its exit status.
pub fn wait_process(child: &mut ChildProcess) -> Result<ExitStatus> {
    child.wait()
}
