//! Spawning a child that inherits one end of a socket pair by descriptor number.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use super::{cvt, socket_pair, RawStream};

/// Starts the program named by `argv[0]`, passing it the descriptor number of
/// its end of a new socket pair.
///
/// Both ends are created with close-on-exec, so a process that another thread
/// spawns at the same moment inherits neither. The flag is cleared on the
/// child's end only, in the forked child, just before `exec`.
pub(crate) fn spawn(
    make_argv: &mut dyn FnMut(&str) -> Vec<OsString>,
) -> io::Result<(Child, RawStream)> {
    let (parent_end, child_end) = socket_pair()?;
    let child_fd = child_end.as_raw_fd();
    let argv = make_argv(&child_fd.to_string());
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the argv built for the child is empty; it must start with the program to run",
        ));
    };

    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // fcntl, which is async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || clear_cloexec(child_fd));
    }
    let child = command.spawn()?;

    drop(child_end);
    Ok((child, parent_end))
}

fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number has no memory-safety requirements.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Takes ownership of the socket whose descriptor number `arg` names, after
/// checking that it is an open stream socket, and sets close-on-exec on it again.
pub(crate) fn start_spawned(arg: &str) -> io::Result<RawStream> {
    let fd: RawFd = arg.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{arg:?} is not a file descriptor number"),
        )
    })?;
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{fd} is not a valid file descriptor number"),
        ));
    }

    let mut socket_type: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the out pointers refer to live locals of the sizes passed.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut socket_type as *mut libc::c_int).cast(),
            &mut length,
        )
    };
    if result == -1 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(
            error.kind(),
            format!("descriptor {fd} is not an open socket: {error}"),
        ));
    }
    if socket_type != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a socket, but not a stream socket"),
        ));
    }

    // SAFETY: fcntl on a descriptor number has no memory-safety requirements.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    // SAFETY: the descriptor is an open stream socket handed to this process
    // for its sole use by the parent; nothing else in the process owns it.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}
