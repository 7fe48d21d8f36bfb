//! Serving every connection made to a local socket path.
//!
//! A [`Listener`] binds a socket path (a Unix domain socket; on Windows an
//! AF_UNIX socket, as Bitcoin Core's `-ipcbind=unix:PATH` uses) and serves an
//! Init capability on each connection it accepts. With a connection limit, it
//! stops accepting while the limit is reached and resumes when a connection
//! ends; clients that connect meanwhile wait in the socket's backlog.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::connection::{Connection, ConnectionOptions};
use crate::event_loop::EventLoop;
use crate::proxy::ServerContext;
use crate::stream::Stream;
use crate::sys;
use crate::{Error, Result};

/// Settings of a [`Listener`].
#[derive(Clone, Debug, Default)]
pub struct ListenerOptions {
    /// Maximum number of connections served at once; `None` for no limit.
    pub max_connections: Option<usize>,
    /// Limits applied to each connection.
    pub connection: ConnectionOptions,
}

impl ListenerOptions {
    /// Checks the settings before a listener binds its address.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_connections == Some(0) {
            return Err(Error::InvalidArgument("max_connections is 0; use None for no limit or a positive number".into()));
        }
        Ok(())
    }
}

type MakeInit = dyn Fn(ServerContext) -> capnp::capability::Client + Send + Sync;

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    stopping: bool,
    connections: HashMap<u64, Connection>,
}

/// Accepts connections on a socket path and serves each one.
///
/// Dropping it stops accepting and removes the socket file; connections
/// already accepted stay open until their peers leave.
pub struct Listener {
    path: PathBuf,
    /// Whether dropping the listener removes the file at `path`; false for
    /// addresses that are not files, such as named pipes and TCP ports.
    remove_path: bool,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds `path` and serves the capability `make_init` returns on every
    /// connection, on `event_loop`.
    ///
    /// The socket file is made readable and writable by its owner only. An
    /// existing file at `path` is removed only if it is a socket with no
    /// listener; otherwise binding fails.
    pub fn bind<F>(event_loop: &EventLoop, path: impl AsRef<Path>, options: ListenerOptions, make_init: F) -> Result<Listener>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static,
    {
        let path = path.as_ref().to_owned();
        options.validate()?;
        let listener = sys::Listener::bind(&path)
            .map_err(|source| Error::io(format!("failed to listen on {}", path.display()), source))?;
        Listener::serve_bound(event_loop, listener, true, options, make_init)
    }

    /// Serves every connection that an already bound platform listener
    /// accepts. The caller has checked `options` with
    /// [`ListenerOptions::validate`]. With `remove_path`, dropping the result
    /// removes the listener's path, which is then a socket file.
    pub(crate) fn serve_bound<F>(
        event_loop: &EventLoop,
        listener: sys::Listener,
        remove_path: bool,
        options: ListenerOptions,
        make_init: F,
    ) -> Result<Listener>
    where
        F: Fn(ServerContext) -> capnp::capability::Client + Send + Sync + 'static,
    {
        let path = listener.local_path().to_owned();
        tracing::info!(path = %path.display(), max_connections = ?options.max_connections, "listening");

        let shared = Arc::new(Shared {
            state: Mutex::new(State { stopping: false, connections: HashMap::new() }),
            changed: Condvar::new(),
        });
        let accept_shared = shared.clone();
        let event_loop = event_loop.clone();
        let make_init: Arc<MakeInit> = Arc::new(make_init);
        let accept_thread = std::thread::Builder::new()
            .name("multiprocess-listener".into())
            .spawn(move || accept_loop(listener, accept_shared, event_loop, options, make_init))
            .map_err(|source| Error::io("failed to start the listener thread", source))?;

        Ok(Listener { path, remove_path, shared, accept_thread: Some(accept_thread) })
    }

    /// Returns the socket path; for a listener made by a Windows constructor,
    /// the pipe name or the `127.0.0.1:PORT` address.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection being served now, as a server does when it
    /// shuts down; their clients' calls fail with a disconnect error.
    pub fn disconnect_all(&self) {
        let connections: Vec<Connection> =
            self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).connections.values().cloned().collect();
        for connection in connections {
            connection.disconnect();
        }
    }

    /// Returns the number of connections being served now.
    pub fn active_connections(&self) -> usize {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).connections.len()
    }
}

fn accept_loop(
    listener: sys::Listener,
    shared: Arc<Shared>,
    event_loop: EventLoop,
    options: ListenerOptions,
    make_init: Arc<MakeInit>,
) {
    let path = listener.local_path().display().to_string();
    let mut accepted: u64 = 0;
    loop {
        {
            let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            let state = shared
                .changed
                .wait_while(state, |state| {
                    !state.stopping && options.max_connections.is_some_and(|max| state.connections.len() >= max)
                })
                .unwrap_or_else(|e| e.into_inner());
            if state.stopping {
                return;
            }
        }

        let stream = match listener.accept() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::error!(%path, %error, "failed to accept a connection");
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        if shared.state.lock().unwrap_or_else(|e| e.into_inner()).stopping {
            return;
        }

        accepted += 1;
        let peer = format!("{path}#{accepted}");
        let make = make_init.clone();
        let connection = match Connection::serve(&event_loop, Stream::from_raw(stream), &peer, options.connection.clone(), move |cx| make(cx)) {
            Ok(connection) => connection,
            Err(error) => {
                tracing::error!(%peer, %error, "failed to serve a connection");
                continue;
            }
        };
        tracing::info!(%peer, "accepted connection");

        let id = accepted;
        shared.state.lock().unwrap_or_else(|e| e.into_inner()).connections.insert(id, connection.clone());
        let done_shared = shared.clone();
        connection.on_disconnect(move || {
            let removed = done_shared.state.lock().unwrap_or_else(|e| e.into_inner()).connections.remove(&id);
            done_shared.changed.notify_all();
            tracing::info!(%peer, "connection ended");
            drop(removed);
        });
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).stopping = true;
        self.shared.changed.notify_all();
        // Wakes a blocked accept, so that the accept thread reads `stopping` and exits.
        let wake = sys::connect(&self.path);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        drop(wake);
        if !self.remove_path {
            return;
        }
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), %error, "failed to remove the socket file");
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("path", &self.path).finish()
    }
}
