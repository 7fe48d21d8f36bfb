//! The pieces that generated proxies and server adapters are made of.
//!
//! A client proxy holds a [`RemoteObject`]: a thread-safe handle on a peer
//! capability that lives on the event loop. [`RemoteObject::call`] runs a
//! request builder on the loop with a [`CallContext`], sends the request and
//! blocks the calling thread until the reply, running callbacks meanwhile.
//!
//! A server adapter implements the capnp-generated `Server` trait on the loop
//! and holds a [`ServerContext`]; [`ServerContext::run_on_thread`] moves the
//! call to the thread that the request's `Context` names and brings its result
//! back to the loop.

use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::connection::{conn_local, ConnHandle, ConnInfo, ConnLocal};
use crate::event_loop::LocalFuture;
use crate::schema::proxy_capnp::{context, thread_map};
use crate::thread::{current_thread, ThreadInfo};
use crate::{Error, Result};

/// A capability of the peer, usable from any thread.
///
/// The capability itself stays on the event loop thread; dropping the handle
/// releases it there.
pub struct RemoteObject<C> {
    conn: Arc<ConnHandle>,
    id: u64,
    _client: PhantomData<fn() -> C>,
}

impl<C> RemoteObject<C> {
    pub(crate) fn new(conn: Arc<ConnHandle>, id: u64) -> RemoteObject<C> {
        RemoteObject { conn, id, _client: PhantomData }
    }

    /// Returns the name of the peer that serves the object.
    pub fn peer_name(&self) -> &str {
        &self.conn.info.peer
    }

    /// Returns true until the connection to the peer has ended.
    pub fn is_connected(&self) -> bool {
        !self.conn.info.is_disconnected()
    }
}

impl<C: Clone + 'static> RemoteObject<C> {
    /// Makes a call and blocks until its reply.
    ///
    /// `build` runs on the event loop thread with the capability and a
    /// [`CallContext`]; it builds and sends the request and returns a future
    /// that reads the response into plain values. The calling thread runs
    /// callbacks from the peer while it waits. Errors name `method` and the peer.
    pub fn call<T, F, Fut>(&self, method: &'static str, build: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&C, &CallContext) -> capnp::Result<Fut> + Send + 'static,
        Fut: Future<Output = capnp::Result<T>> + 'static,
    {
        let conn_id = self.conn.info.id;
        let object_id = self.id;
        let info = self.conn.info.clone();
        let caller = current_thread();
        self.conn.event_loop.run_async(method, move || -> LocalFuture<Result<T>> {
            let after_disconnect = || Error::CalledAfterDisconnect { method: method.to_owned(), peer: info.peer.clone() };
            let Some(conn) = conn_local(conn_id).filter(|_| !info.is_disconnected()) else {
                let error = after_disconnect();
                return Box::pin(async move { Err(error) });
            };
            let Some(client) = conn.object::<C>(object_id) else {
                let error = after_disconnect();
                return Box::pin(async move { Err(error) });
            };

            let cx = CallContext { conn, caller };
            let span = tracing::debug_span!("call", peer = %info.peer, method);
            let _entered = span.enter();
            match build(&client, &cx) {
                Ok(future) => Box::pin(async move {
                    match future.await {
                        Ok(value) => Ok(value),
                        Err(error) => Err(classify_call_error(error, method, &info).await),
                    }
                }),
                Err(error) => {
                    let error = call_error(error, method, &info.peer);
                    Box::pin(async move { Err(error) })
                }
            }
        })
    }
}

impl<C: Clone + 'static> RemoteObject<C> {
    /// Calls the interface's `destroy` method, for use in a proxy's `Drop`.
    ///
    /// Does nothing but log a warning if the peer has gone. On the event loop
    /// thread, where a synchronous call would deadlock, it skips the call: the
    /// capability is released when the handle drops, and the peer drops its
    /// object then.
    pub fn destroy<F, Fut>(&self, build: F)
    where
        F: FnOnce(&C, &CallContext) -> capnp::Result<Fut> + Send + 'static,
        Fut: Future<Output = capnp::Result<()>> + 'static,
    {
        let peer = &self.conn.info.peer;
        if !self.is_connected() {
            tracing::warn!(%peer, "proxy dropped after its peer disconnected; the remote object was not destroyed");
            return;
        }
        if self.conn.event_loop.is_current() {
            tracing::debug!(%peer, "proxy dropped on the event loop thread; releasing it without calling destroy");
            return;
        }
        match self.call("destroy", build) {
            Ok(()) => {}
            Err(error) if error.is_disconnected() => {
                tracing::warn!(%peer, %error, "proxy dropped while its peer disconnected; the remote object was not destroyed");
            }
            Err(error) => tracing::warn!(%peer, %error, "destroy failed"),
        }
    }
}

/// Converts the error of a call that was sent into the crate's error.
///
/// A connection that fails rejects its calls with the error that ended it:
/// `Disconnected` for a clean end of input, but other kinds for a reset or an
/// end of input inside a message, as a killed peer can cause on Windows. An
/// error that did not come from the peer is therefore a disconnect if the
/// connection ends too. Its end is recorded by another task of the loop,
/// which runs within a few turns.
async fn classify_call_error(error: capnp::Error, method: &str, info: &ConnInfo) -> Error {
    let from_peer = error.extra.starts_with("remote exception: ");
    if error.kind != capnp::ErrorKind::Disconnected && !from_peer {
        for _ in 0..8 {
            if info.is_disconnected() {
                return Error::Interrupted { method: method.to_owned(), peer: info.peer.clone() };
            }
            tokio::task::yield_now().await;
        }
    }
    call_error(error, method, &info.peer)
}

/// Converts a Cap'n Proto error of a call into the crate's error.
fn call_error(error: capnp::Error, method: &str, peer: &str) -> Error {
    match error.kind {
        capnp::ErrorKind::Disconnected => Error::Interrupted { method: method.to_owned(), peer: peer.to_owned() },
        capnp::ErrorKind::MessageContainsNullCapabilityPointer => {
            Error::NullResult { method: method.to_owned(), peer: peer.to_owned() }
        }
        _ => {
            // Errors that Cap'n Proto raises itself carry their text in the
            // kind and leave `extra` empty.
            let message = match error.extra.strip_prefix("remote exception: ") {
                Some(message) => message.to_owned(),
                None if error.extra.is_empty() => error.kind.to_string(),
                None => error.extra.clone(),
            };
            Error::Remote { method: method.to_owned(), peer: peer.to_owned(), message }
        }
    }
}

impl<C> Drop for RemoteObject<C> {
    fn drop(&mut self) {
        let conn_id = self.conn.info.id;
        let object_id = self.id;
        // An error means the loop has stopped and released everything already.
        let _ = self.conn.event_loop.post(move || {
            if let Some(conn) = conn_local(conn_id) {
                conn.remove_object(object_id);
            }
        });
    }
}

impl<C> std::fmt::Debug for RemoteObject<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteObject").field("peer", &self.conn.info.peer).field("id", &self.id).finish()
    }
}

/// The loop-side view of an outgoing call, given to a request builder.
pub struct CallContext {
    conn: Rc<ConnLocal>,
    caller: Arc<ThreadInfo>,
}

impl CallContext {
    /// Fills a `Context` parameter: the peer thread that runs the call and the
    /// calling thread that runs its callbacks.
    pub fn set_context(&self, builder: context::Builder<'_>) {
        self.conn.fill_context(&self.caller, builder);
    }

    /// Returns the server side of the connection, to export local objects
    /// passed as arguments and to import capabilities from the reply.
    pub fn server(&self) -> ServerContext {
        ServerContext::new(self.conn.clone())
    }

    pub(crate) fn conn(&self) -> &Rc<ConnLocal> {
        &self.conn
    }
}

/// The connection state a server adapter uses. Lives on the event loop thread.
#[derive(Clone)]
pub struct ServerContext {
    conn: Rc<ConnLocal>,
}

impl ServerContext {
    pub(crate) fn new(conn: Rc<ConnLocal>) -> ServerContext {
        ServerContext { conn }
    }

    /// Returns the name of the peer.
    pub fn peer_name(&self) -> &str {
        &self.conn.info.peer
    }

    /// Runs `job` on the thread that `context` names, or on a pool thread if it
    /// names none, after the calls queued there before it.
    ///
    /// While `job` runs, calls that thread makes back to this peer go to the
    /// context's `callbackThread`, where the caller waits. A panic in `job` is
    /// returned as an error naming `method`.
    pub fn run_on_thread<T, F>(
        &self,
        method: &'static str,
        context: capnp::Result<context::Reader<'_>>,
        job: F,
    ) -> impl Future<Output = capnp::Result<T>> + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let threads = context.and_then(|context| {
            let thread = if context.has_thread() { Some(context.get_thread()?) } else { None };
            let callback = if context.has_callback_thread() { Some(context.get_callback_thread()?) } else { None };
            Ok((thread, callback))
        });
        let conn = self.conn.clone();
        async move {
            let (thread, callback) = threads?;
            conn.run_on_thread(method, thread, callback, job).await
        }
    }

    /// Turns a capability received from the peer into a handle any thread can use.
    pub fn import<C: Clone + 'static>(&self, client: C) -> capnp::Result<RemoteObject<C>> {
        self.conn.import(client)
    }

    /// Handles the `construct` handshake: stores the peer's ThreadMap, if it
    /// sent one, and returns this side's.
    pub fn construct(&self, peer_thread_map: Option<thread_map::Client>) -> thread_map::Client {
        self.conn.construct(peer_thread_map)
    }
}

/// Reads a `Text` field into a `String`, failing on invalid UTF-8 instead of panicking.
pub fn read_text(field: &'static str, text: capnp::Result<capnp::text::Reader<'_>>) -> capnp::Result<String> {
    let text = text?;
    text.to_string()
        .map_err(|error| capnp::Error::failed(format!("field {field} is not valid UTF-8: {error}")))
}
