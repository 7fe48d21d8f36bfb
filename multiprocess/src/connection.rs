//! Connections: Cap'n Proto two-party RPC over a [`Stream`], with the thread map.
//!
//! A connection has two halves. [`Connection`] is the handle that any thread
//! holds; the loop-side state (`ConnLocal`) holds the Cap'n Proto objects and
//! lives on the event loop thread. When the peer goes away, in-flight calls fail
//! with [`Error::Interrupted`], later ones with [`Error::CalledAfterDisconnect`],
//! every object exported on the connection is dropped and the disconnect
//! callbacks run. When this side lets go of the last handle and proxy, it
//! releases the peer's objects, flushes those release messages and shuts down
//! its write half, so the peer sees a clean end of input.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak as RcWeak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use capnp::capability::FromClientHook;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, CapabilityServerSet, RpcSystem};
use futures::channel::oneshot;
use futures::FutureExt;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::error::panic_message;
use crate::event_loop::{loop_local, EventLoop};
use crate::proxy::{RemoteObject, ServerContext};
use crate::schema::handshake_capnp::{construct_params, construct_results};
use crate::schema::proxy_capnp::{context, thread, thread_map};
use crate::stream::Stream;
use crate::sys;
use crate::thread::{ThreadInfo, ThreadMapServer, ThreadServer};
use crate::{Error, Result};

/// Limits applied to one connection.
#[derive(Clone, Debug)]
pub struct ConnectionOptions {
    /// Maximum number of threads the peer may create with `makeThread` and
    /// `makePool` together. Default: 1024.
    pub max_threads: usize,
    /// Maximum number of 8-byte words the reader traverses in one incoming
    /// message, which also bounds the size of a message this side accepts.
    /// A frame header alone makes the reader allocate up to this much, so it
    /// bounds the memory a hostile peer can claim. Default: 8 Mi words
    /// (64 MiB), the default of capnp's `ReaderOptions`.
    pub traversal_limit_words: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions { max_threads: 1024, traversal_limit_words: 8 * 1024 * 1024 }
    }
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// The thread-safe part of a connection's state.
pub(crate) struct ConnInfo {
    pub(crate) id: u64,
    pub(crate) peer: String,
    disconnected: Mutex<bool>,
    disconnected_changed: Condvar,
    on_disconnect: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl ConnInfo {
    pub(crate) fn is_disconnected(&self) -> bool {
        *self.disconnected.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_disconnected(&self) {
        *self.disconnected.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.disconnected_changed.notify_all();
        let callbacks = std::mem::take(&mut *self.on_disconnect.lock().unwrap_or_else(|e| e.into_inner()));
        for callback in callbacks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(callback)) {
                tracing::error!(peer = %self.peer, panic = %panic_message(&*payload), "disconnect callback panicked");
            }
        }
    }
}

/// Keeps a connection open; the last one dropped closes it.
pub(crate) struct ConnHandle {
    pub(crate) event_loop: EventLoop,
    pub(crate) info: Arc<ConnInfo>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        let id = self.info.id;
        // An error means the loop has stopped, which has closed the socket already.
        let _ = self.event_loop.post(move || {
            if let Some(conn) = conn_local(id) {
                conn.close();
            }
        });
    }
}

/// Returns the loop-side state of connection `id`, if it is on this thread's loop and open.
pub(crate) fn conn_local(id: u64) -> Option<Rc<ConnLocal>> {
    loop_local()?.connections.borrow().get(&id).cloned()
}

/// Removes the entries of an exited OS thread from every connection of this loop.
pub(crate) fn forget_thread(key: u64) {
    let Some(local) = loop_local() else { return };
    let connections: Vec<Rc<ConnLocal>> = local.connections.borrow().values().cloned().collect();
    for conn in connections {
        let removed_request = conn.request_threads.borrow_mut().remove(&key);
        let removed_callback = conn.callback_threads.borrow_mut().remove(&key);
        drop((removed_request, removed_callback));
    }
}

/// A `Thread` of the peer that a local thread sends its calls to.
enum RequestThread {
    /// Made for this thread by `makeThread`; kept until the thread exits, or
    /// dropped when `makeThread` fails, so that the next call sends a new
    /// request. `request` identifies the request that made this entry.
    Owned { thread: thread::Client, request: u64 },
    /// The `callbackThread` of calls this thread is serving; `count` calls use it.
    Borrowed { thread: thread::Client, count: usize },
}

impl RequestThread {
    fn client(&self) -> &thread::Client {
        match self {
            RequestThread::Owned { thread, .. } | RequestThread::Borrowed { thread, .. } => thread,
        }
    }
}

/// The loop-side state of one connection. Lives on the event loop thread only.
pub(crate) struct ConnLocal {
    pub(crate) info: Arc<ConnInfo>,
    handle: Weak<ConnHandle>,
    options: ConnectionOptions,
    self_weak: RcWeak<ConnLocal>,
    /// The peer's `ThreadMap`, from the `construct` handshake.
    peer_thread_map: RefCell<Option<thread_map::Client>>,
    /// Every `Thread` this side exported, so incoming contexts can be resolved.
    threads: RefCell<CapabilityServerSet<ThreadServer, thread::Client>>,
    /// Worker threads alive for this connection, bounded by `max_threads`.
    live_workers: Rc<Cell<usize>>,
    pool: RefCell<Vec<Rc<ThreadServer>>>,
    request_threads: RefCell<HashMap<u64, RequestThread>>,
    callback_threads: RefCell<HashMap<u64, thread::Client>>,
    /// Peer capabilities that [`RemoteObject`]s refer to, by object id.
    objects: RefCell<HashMap<u64, Box<dyn Any>>>,
    disconnector: RefCell<Option<capnp_rpc::Disconnector<twoparty::VatId>>>,
    bootstrap: RefCell<Option<capnp::capability::Client>>,
}

static NEXT_OBJECT_ID: AtomicU64 = AtomicU64::new(1);

impl ConnLocal {
    pub(crate) fn thread_map_client(&self) -> thread_map::Client {
        capnp_rpc::new_client(ThreadMapServer { conn: self.self_weak.clone() })
    }

    /// Handles `makeThread`: starts a worker OS thread and exports it.
    pub(crate) fn make_thread(&self, name: String) -> capnp::Result<thread::Client> {
        let server = self.start_worker(name)?;
        Ok(self.threads.borrow_mut().new_client(server))
    }

    /// Handles `makePool`: starts `count` workers for calls that name no thread.
    pub(crate) fn make_pool(&self, count: u32) -> capnp::Result<()> {
        for index in 0..count {
            let server = Rc::new(self.start_worker(format!("pool-{index} for {}", self.info.peer))?);
            // Export it too, so that callbacks from the peer can be aimed at it.
            let _client: thread::Client = self.threads.borrow_mut().new_client_from_rc(server.clone());
            self.pool.borrow_mut().push(server);
        }
        Ok(())
    }

    fn start_worker(&self, name: String) -> capnp::Result<ThreadServer> {
        if self.live_workers.get() >= self.options.max_threads {
            tracing::warn!(peer = %self.info.peer, limit = self.options.max_threads, "peer exceeded its thread limit");
            return Err(capnp::Error::failed(format!(
                "thread limit reached: this connection allows {} server threads; release threads before making more",
                self.options.max_threads
            )));
        }
        tracing::debug!(peer = %self.info.peer, thread = %name, "starting server thread");
        ThreadServer::start_worker(name, self.live_workers.clone()).map_err(|e| capnp::Error::failed(e.to_string()))
    }

    /// Fills `thread` and `callbackThread` of an outgoing call's context for `caller`.
    pub(crate) fn fill_context(&self, caller: &Arc<ThreadInfo>, mut builder: context::Builder<'_>) {
        let callback = self
            .callback_threads
            .borrow_mut()
            .entry(caller.key)
            .or_insert_with(|| self.threads.borrow_mut().new_client(ThreadServer::for_thread(caller.clone())))
            .clone();

        let request = self.request_thread(caller);
        if let Some(request) = request {
            builder.set_thread(request);
        }
        builder.set_callback_thread(callback);
    }

    fn request_thread(&self, caller: &Arc<ThreadInfo>) -> Option<thread::Client> {
        if let Some(entry) = self.request_threads.borrow().get(&caller.key) {
            return Some(entry.client().clone());
        }
        // A peer without a ThreadMap (a pycapnp client, say) gets calls with no
        // thread, which it may run wherever it likes.
        let thread_map = self.peer_thread_map.borrow().clone()?;
        let mut request = thread_map.make_thread_request();
        request.get().set_name(&caller.name[..]);
        // Pipelined: the call that needs the thread goes out without waiting.
        let response = request.send();
        let thread = response.pipeline.get_result();
        static REQUESTS: AtomicU64 = AtomicU64::new(0);
        let id = REQUESTS.fetch_add(1, Ordering::Relaxed);
        self.request_threads
            .borrow_mut()
            .insert(caller.key, RequestThread::Owned { thread: thread.clone(), request: id });

        // A failed makeThread (the peer's thread limit, say) leaves a broken
        // capability. Removing it makes this thread's next call send a new request.
        let conn = self.self_weak.clone();
        let key = caller.key;
        let name = caller.name.clone();
        tokio::task::spawn_local(async move {
            let Err(error) = response.promise.await else {
                return;
            };
            let Some(conn) = conn.upgrade() else {
                return;
            };
            let mut threads = conn.request_threads.borrow_mut();
            if matches!(threads.get(&key), Some(RequestThread::Owned { request, .. }) if *request == id) {
                threads.remove(&key);
                tracing::debug!(peer = %conn.info.peer, thread = %name, error = %error.extra, "makeThread failed; the next call from this thread sends a new request");
            }
        });
        Some(thread)
    }

    /// Lets thread `key` send its calls to `callback` while it serves a call,
    /// unless it has a thread of its own on the peer. Returns true if borrowed.
    fn borrow_request_thread(&self, key: u64, callback: Option<thread::Client>) -> bool {
        let mut threads = self.request_threads.borrow_mut();
        match threads.get_mut(&key) {
            Some(RequestThread::Owned { .. }) => false,
            Some(RequestThread::Borrowed { count, .. }) => {
                *count += 1;
                true
            }
            None => match callback {
                Some(thread) => {
                    threads.insert(key, RequestThread::Borrowed { thread, count: 1 });
                    true
                }
                None => false,
            },
        }
    }

    fn return_request_thread(&self, key: u64) {
        let mut threads = self.request_threads.borrow_mut();
        if let Some(RequestThread::Borrowed { count, .. }) = threads.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                threads.remove(&key);
            }
        }
    }

    fn pool_thread(&self) -> Option<Rc<ThreadServer>> {
        self.pool.borrow().iter().min_by_key(|server| server.pending.get()).cloned()
    }

    /// Runs `job` on the thread that an incoming call's context names and
    /// resolves to its result on the loop.
    pub(crate) async fn run_on_thread<T, F>(
        self: Rc<Self>,
        method: &'static str,
        thread: Option<thread::Client>,
        callback: Option<thread::Client>,
        job: F,
    ) -> capnp::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let server = match thread {
            Some(thread) => {
                let resolved = capnp::capability::get_resolved_cap(thread).await;
                let server = self.threads.borrow().get_local_server_of_resolved(&resolved);
                match server {
                    Some(server) => server,
                    None => return Err(unknown_thread_error(method, resolved).await),
                }
            }
            None => self.pool_thread().ok_or_else(|| {
                capnp::Error::failed(format!(
                    "{method}: no thread specified and no pool configured; call makeThread or makePool first"
                ))
            })?,
        };

        let key = server.info.key;
        let borrowed = self.borrow_request_thread(key, callback);
        let (sender, receiver) = oneshot::channel();
        let peer = self.info.peer.clone();
        let task = Box::new(move || {
            let _span = tracing::debug_span!("serve", %peer, method).entered();
            let result = match catch_unwind(AssertUnwindSafe(job)) {
                Ok(result) => result,
                Err(payload) => {
                    let message = panic_message(&*payload);
                    tracing::error!(method, panic = %message, "server method panicked");
                    Err(Error::Panic { location: method.to_owned(), message })
                }
            };
            let _ = sender.send(result);
        });

        server.pending.set(server.pending.get() + 1);
        let outcome = match server.info.waiter.post(task) {
            Ok(()) => receiver.await.map_err(|_| {
                capnp::Error::failed(format!("{method}: server thread {:?} stopped before returning a result", server.info.name))
            }),
            Err(_) => Err(capnp::Error::failed(format!("{method}: server thread {:?} has stopped", server.info.name))),
        };
        server.pending.set(server.pending.get() - 1);
        if borrowed {
            self.return_request_thread(key);
        }
        outcome?.map_err(capnp::Error::from)
    }

    /// Handles `construct`: stores the peer's ThreadMap and returns this side's.
    pub(crate) fn construct(&self, peer_thread_map: Option<thread_map::Client>) -> thread_map::Client {
        *self.peer_thread_map.borrow_mut() = peer_thread_map;
        self.thread_map_client()
    }

    /// Stores a peer capability and returns a handle that any thread can use.
    pub(crate) fn import<C: Clone + 'static>(&self, client: C) -> capnp::Result<RemoteObject<C>> {
        let handle = self
            .handle
            .upgrade()
            .ok_or_else(|| capnp::Error::disconnected(format!("connection to {} is closing", self.info.peer)))?;
        let id = NEXT_OBJECT_ID.fetch_add(1, Ordering::Relaxed);
        self.objects.borrow_mut().insert(id, Box::new(client));
        Ok(RemoteObject::new(handle, id))
    }

    pub(crate) fn object<C: Clone + 'static>(&self, id: u64) -> Option<C> {
        self.objects.borrow().get(&id).and_then(|object| object.downcast_ref::<C>()).cloned()
    }

    pub(crate) fn remove_object(&self, id: u64) {
        let removed = self.objects.borrow_mut().remove(&id);
        drop(removed);
    }

    /// Releases the peer's objects, flushes the release messages and shuts down
    /// the write half.
    fn close(&self) {
        tracing::debug!(peer = %self.info.peer, "closing connection");
        self.release_all();
        if let Some(disconnector) = self.disconnector.borrow_mut().take() {
            let peer = self.info.peer.clone();
            tokio::task::spawn_local(async move {
                if let Err(error) = disconnector.await {
                    tracing::debug!(%peer, %error, "connection shutdown reported an error");
                }
            });
        }
    }

    fn release_all(&self) {
        let objects = std::mem::take(&mut *self.objects.borrow_mut());
        let request_threads = std::mem::take(&mut *self.request_threads.borrow_mut());
        let callback_threads = std::mem::take(&mut *self.callback_threads.borrow_mut());
        let pool = std::mem::take(&mut *self.pool.borrow_mut());
        let thread_map = self.peer_thread_map.borrow_mut().take();
        let bootstrap = self.bootstrap.borrow_mut().take();
        drop((objects, request_threads, callback_threads, pool, thread_map, bootstrap));
    }

    /// Runs once the RPC system has ended, for whatever reason.
    fn on_disconnected(&self, result: capnp::Result<()>) {
        match result {
            Ok(()) => tracing::debug!(peer = %self.info.peer, "connection ended"),
            Err(error) => tracing::warn!(peer = %self.info.peer, %error, "connection ended with an error"),
        }
        if let Some(local) = loop_local() {
            local.connections.borrow_mut().remove(&self.info.id);
        }
        self.release_all();
        self.disconnector.borrow_mut().take();
        *self.threads.borrow_mut() = CapabilityServerSet::new();
        self.info.mark_disconnected();
    }
}

/// Explains why the thread a context names is not one of this side's: when
/// its `makeThread` failed (over the thread limit, say), the thread is a broken
/// capability whose calls return that failure.
async fn unknown_thread_error(method: &str, thread: thread::Client) -> capnp::Error {
    let reason = match thread.get_name_request().send().promise.await {
        Err(error) => format!("the thread is unavailable: {}", error.extra),
        Ok(_) => "the context names a thread this side did not create".to_owned(),
    };
    capnp::Error::failed(format!("{method}: invalid thread handle; {reason}"))
}

/// The end of the two-party network that this side plays.
#[derive(Clone, Copy)]
enum Role {
    Client,
    Server,
}

/// An open connection to a peer process.
///
/// Any thread may hold and use it. Dropping the last `Connection` and every
/// proxy made from it closes the connection.
#[derive(Clone)]
pub struct Connection {
    handle: Arc<ConnHandle>,
}

impl Connection {
    /// Connects to a peer that serves an Init capability on `stream`.
    ///
    /// `peer_name` appears in errors and logs. Use [`Connection::bootstrap`] to
    /// get the peer's Init, and [`Connection::construct`] for the handshake.
    pub fn connect(event_loop: &EventLoop, stream: Stream, peer_name: &str) -> Result<Connection> {
        Self::start(event_loop, stream, peer_name, ConnectionOptions::default(), Role::Client, None)
    }

    /// Like [`Connection::connect`], with limits other than the defaults.
    pub fn connect_with(
        event_loop: &EventLoop,
        stream: Stream,
        peer_name: &str,
        options: ConnectionOptions,
    ) -> Result<Connection> {
        Self::start(event_loop, stream, peer_name, options, Role::Client, None)
    }

    /// Serves the capability that `make_init` returns as bootstrap on `stream`.
    ///
    /// `make_init` runs on the event loop thread with the connection's
    /// [`ServerContext`]. Returns once the connection is set up; use
    /// [`Connection::wait_disconnected`] to block until the peer leaves.
    pub fn serve<F>(
        event_loop: &EventLoop,
        stream: Stream,
        peer_name: &str,
        options: ConnectionOptions,
        make_init: F,
    ) -> Result<Connection>
    where
        F: FnOnce(ServerContext) -> capnp::capability::Client + Send + 'static,
    {
        Self::start(event_loop, stream, peer_name, options, Role::Server, Some(Box::new(make_init)))
    }

    #[allow(clippy::type_complexity)]
    fn start(
        event_loop: &EventLoop,
        stream: Stream,
        peer_name: &str,
        options: ConnectionOptions,
        role: Role,
        make_init: Option<Box<dyn FnOnce(ServerContext) -> capnp::capability::Client + Send>>,
    ) -> Result<Connection> {
        let info = Arc::new(ConnInfo {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            peer: peer_name.to_owned(),
            disconnected: Mutex::new(false),
            disconnected_changed: Condvar::new(),
            on_disconnect: Mutex::new(Vec::new()),
        });
        let handle = Arc::new(ConnHandle { event_loop: event_loop.clone(), info: info.clone() });
        let weak_handle = Arc::downgrade(&handle);

        event_loop.sync(move || start_on_loop(info, weak_handle, stream, options, role, make_init))??;
        Ok(Connection { handle })
    }

    /// Returns a handle on the peer's bootstrap (Init) capability, typed as `C`.
    pub fn bootstrap<C>(&self) -> Result<RemoteObject<C>>
    where
        C: FromClientHook + Clone + 'static,
    {
        let id = self.handle.info.id;
        let peer = self.handle.info.peer.clone();
        self.handle.event_loop.sync(move || {
            let conn = conn_local(id).ok_or_else(|| Error::CalledAfterDisconnect { method: "bootstrap".into(), peer: peer.clone() })?;
            let bootstrap = conn.bootstrap.borrow().clone().ok_or_else(|| {
                Error::InvalidArgument(format!("the connection to {peer} was served, not connected; only the connecting side bootstraps"))
            })?;
            conn.import(C::new(bootstrap.hook)).map_err(|e| Error::Failed(e.to_string()))
        })?
    }

    /// Performs the libmultiprocess handshake: calls `construct` (method 0) on
    /// `init`, sending this side's ThreadMap and storing the peer's.
    pub fn construct<C>(&self, init: &RemoteObject<C>) -> Result<()>
    where
        C: FromClientHook + capnp::traits::HasTypeId + Clone + 'static,
    {
        init.call("construct", |client: &C, cx| {
            let untyped = capnp::capability::Client::new(client.as_client_hook().add_ref());
            let mut request =
                untyped.new_call::<construct_params::Owned, construct_results::Owned>(C::TYPE_ID, 0, None);
            request.get().set_thread_map(cx.conn().thread_map_client());
            let conn = cx.conn().clone();
            Ok(async move {
                let response = request.send().promise.await?;
                let results = response.get()?;
                let peer_map = if results.has_thread_map() { Some(results.get_thread_map()?) } else { None };
                *conn.peer_thread_map.borrow_mut() = peer_map;
                Ok(())
            })
        })
    }

    /// Closes the connection now, even while proxies made from it remain.
    ///
    /// Releases the peer's objects, flushes the release messages and shuts
    /// down the write half. Calls in flight fail with [`Error::Interrupted`],
    /// later calls with [`Error::CalledAfterDisconnect`].
    pub fn disconnect(&self) {
        let id = self.handle.info.id;
        // An error means the loop has stopped, which has closed the socket already.
        let _ = self.handle.event_loop.post(move || {
            if let Some(conn) = conn_local(id) {
                conn.close();
            }
        });
    }

    /// Returns the name given to the peer when the connection was made.
    pub fn peer_name(&self) -> &str {
        &self.handle.info.peer
    }

    /// Returns true until the connection has ended.
    pub fn is_connected(&self) -> bool {
        !self.handle.info.is_disconnected()
    }

    /// Registers `callback` to run on the event loop thread when the connection
    /// ends; runs it at once if it has ended already.
    pub fn on_disconnect<F>(&self, callback: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let info = &self.handle.info;
        let mut callbacks = info.on_disconnect.lock().unwrap_or_else(|e| e.into_inner());
        if info.is_disconnected() {
            drop(callbacks);
            callback();
        } else {
            callbacks.push(Box::new(callback));
        }
    }

    /// Blocks until the connection has ended.
    pub fn wait_disconnected(&self) {
        let info = &self.handle.info;
        let mut disconnected = info.disconnected.lock().unwrap_or_else(|e| e.into_inner());
        while !*disconnected {
            disconnected = info.disconnected_changed.wait(disconnected).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until the connection has ended or `timeout` has passed; returns
    /// true if it ended.
    pub fn wait_disconnected_timeout(&self, timeout: Duration) -> bool {
        let info = &self.handle.info;
        let guard = info.disconnected.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = info
            .disconnected_changed
            .wait_timeout_while(guard, timeout, |disconnected| !*disconnected)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    /// Returns the event loop the connection runs on.
    pub fn event_loop(&self) -> &EventLoop {
        &self.handle.event_loop
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.handle.info.peer)
            .field("connected", &self.is_connected())
            .finish()
    }
}

#[allow(clippy::type_complexity)]
fn start_on_loop(
    info: Arc<ConnInfo>,
    handle: Weak<ConnHandle>,
    stream: Stream,
    options: ConnectionOptions,
    role: Role,
    make_init: Option<Box<dyn FnOnce(ServerContext) -> capnp::capability::Client + Send>>,
) -> Result<()> {
    let local = loop_local().ok_or(Error::LoopStopped)?;
    let stream = sys::into_async(stream.inner)
        .map_err(|source| Error::io(format!("failed to register the stream to {} with the event loop", info.peer), source))?;
    let (reader, writer) = tokio::io::split(stream);

    let mut reader_options = capnp::message::ReaderOptions::new();
    reader_options.traversal_limit_in_words(Some(options.traversal_limit_words));
    let side = match role {
        Role::Client => Side::Client,
        Role::Server => Side::Server,
    };
    // Buffered, so that a message goes out in one write and comes in with few
    // reads: capnp-futures writes a message's segment table and segments
    // separately and flushes once per batch of queued messages.
    let reader = futures::io::BufReader::with_capacity(8192, reader.compat());
    let writer = futures::io::BufWriter::with_capacity(8192, writer.compat_write());
    let network = twoparty::VatNetwork::new(reader, writer, side, reader_options);

    let conn = Rc::new_cyclic(|self_weak| ConnLocal {
        info: info.clone(),
        handle,
        options,
        self_weak: self_weak.clone(),
        peer_thread_map: RefCell::new(None),
        threads: RefCell::new(CapabilityServerSet::new()),
        live_workers: Rc::new(Cell::new(0)),
        pool: RefCell::new(Vec::new()),
        request_threads: RefCell::new(HashMap::new()),
        callback_threads: RefCell::new(HashMap::new()),
        objects: RefCell::new(HashMap::new()),
        disconnector: RefCell::new(None),
        bootstrap: RefCell::new(None),
    });

    let init = make_init.map(|make| make(ServerContext::new(conn.clone())));
    let mut rpc_system = RpcSystem::new(Box::new(network), init);
    let peer = info.peer.clone();
    rpc_system.set_background_error_handler(move |error| {
        tracing::debug!(%peer, %error, "background RPC task failed");
    });
    if let Role::Client = role {
        let bootstrap: capnp::capability::Client = rpc_system.bootstrap(Side::Server);
        *conn.bootstrap.borrow_mut() = Some(bootstrap);
    }
    *conn.disconnector.borrow_mut() = Some(rpc_system.get_disconnector());
    local.connections.borrow_mut().insert(info.id, conn.clone());

    let conn_weak = Rc::downgrade(&conn);
    drop(conn);
    tokio::task::spawn_local(async move {
        // A panic on the loop while serving (in a server method that runs on
        // the loop, say) would otherwise end this task silently: tokio drops
        // the RPC system and closes the socket, but the connection would stay
        // registered and never report its disconnect.
        let result = match AssertUnwindSafe(rpc_system).catch_unwind().await {
            Ok(result) => result,
            Err(payload) => Err(capnp::Error::failed(format!(
                "panic on the event loop while serving the connection: {}",
                panic_message(&*payload)
            ))),
        };
        if let Some(conn) = conn_weak.upgrade() {
            conn.on_disconnected(result);
        }
    });
    tracing::debug!(peer = %info.peer, "connection started");
    Ok(())
}
