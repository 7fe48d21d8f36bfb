//! Child processes of the benchmarks.
//!
//! A benchmark executable spawns itself again with [`CHILD_FLAG`], a role
//! and the connection argument from [`multiprocess::spawn_process`]. Its
//! `main` calls [`run_if_child`] first, which serves the role when the flag is
//! there.

use std::process::ExitCode;

use multiprocess::{spawn_process, start_spawned, ChildProcess, Connection, ConnectionOptions, EventLoop, Stream};

use crate::{BenchServer, BoxError};

/// The first argument of a benchmark executable started as a child.
pub const CHILD_FLAG: &str = "--mpbench-child";

/// The service that a child process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The one-byte ping-pong of [`crate::floor`].
    Floor,
    /// The capnp-rpc `Echo` server of [`crate::plain_rpc`].
    PlainRpc,
    /// `BenchInit` through the multiprocess runtime.
    Multiprocess,
}

impl Role {
    const ALL: [Role; 3] = [Role::Floor, Role::PlainRpc, Role::Multiprocess];

    /// Returns the name of the role on the child's command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Floor => "floor",
            Role::PlainRpc => "plain-rpc",
            Role::Multiprocess => "multiprocess",
        }
    }

    fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

/// Spawns this executable as a child that serves `role`, connected to this
/// process by a socket pair, and returns the child and this side's stream.
pub fn spawn(role: Role) -> Result<(ChildProcess, Stream), BoxError> {
    let exe = std::env::current_exe().map_err(|error| format!("failed to find the path of this executable: {error}"))?;
    let spawned = spawn_process(|arg| vec![exe.clone().into(), CHILD_FLAG.into(), role.name().into(), arg.into()])?;
    Ok(spawned)
}

/// Serves the child role named in this process's arguments and returns the
/// exit code, or returns `None` if the process was not started as a child.
pub fn run_if_child() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(CHILD_FLAG) {
        return None;
    }
    let result = match &args[1..] {
        [role, arg] => match Role::from_name(role) {
            Some(role) => serve(role, arg),
            None => Err(format!("invalid child role {role:?}; expected floor, plain-rpc or multiprocess").into()),
        },
        _ => Err(format!("invalid child arguments {args:?}; expected {CHILD_FLAG} ROLE CONNECTION_ARG").into()),
    };
    match result {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("benchmark child: {error}");
            Some(ExitCode::FAILURE)
        }
    }
}

fn serve(role: Role, arg: &str) -> Result<(), BoxError> {
    let stream = start_spawned(arg)?;
    match role {
        Role::Multiprocess => serve_multiprocess(stream),
        #[cfg(unix)]
        Role::Floor => Ok(crate::floor::serve(stream)?),
        #[cfg(unix)]
        Role::PlainRpc => Ok(crate::plain_rpc::serve(stream)?),
        #[cfg(not(unix))]
        Role::Floor | Role::PlainRpc => Err(format!("the {} role needs a Unix socket pair", role.name()).into()),
    }
}

/// Serves `BenchInit` until the parent disconnects.
fn serve_multiprocess(stream: Stream) -> Result<(), BoxError> {
    let event_loop = EventLoop::new("mpbench-child")?;
    let connection =
        Connection::serve(&event_loop, stream, "parent", ConnectionOptions::default(), BenchServer::client)?;
    connection.wait_disconnected();
    Ok(())
}
