//! Threads: waiters, the per-thread context, and both sides of the thread map.
//!
//! Every OS thread that makes or serves calls owns a [`Waiter`]: a queue of
//! jobs that the event loop pushes into, and a condition variable to sleep on.
//! A thread blocked in a call runs the jobs that arrive (callbacks from the
//! peer) until its own reply arrives.
//!
//! On the wire, each side exports `Thread` capabilities. A `Thread` made by the
//! peer's `makeThread` request is backed by a dedicated worker OS thread; a
//! `Thread` sent as `callbackThread` stands for a client thread that is blocked
//! in a call. Either way it is a [`ThreadServer`] holding the waiter that runs
//! calls aimed at it, in arrival order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use crate::connection::ConnLocal;
use crate::event_loop::{EventLoop, LoopShared};
use crate::schema::proxy_capnp::{thread, thread_map};
use crate::Result;

type Job = Box<dyn FnOnce() + Send>;

/// A job queue that one OS thread runs, and the means to wake it.
pub(crate) struct Waiter {
    state: Mutex<WaiterState>,
    ready: Condvar,
}

struct WaiterState {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// Holds the reply of one call until the waiting thread takes it.
pub(crate) struct Slot<T>(Arc<Mutex<Option<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
        Slot(Arc::new(Mutex::new(None)))
    }

    fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, value: T) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    }
}

impl Waiter {
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            state: Mutex::new(WaiterState { jobs: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
        })
    }

    /// Queues a job; returns it back if the waiter's thread has stopped.
    pub(crate) fn post(&self, job: Job) -> std::result::Result<(), Job> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Delivers the reply of a call to the thread waiting for it.
    ///
    /// The reply is queued even if the waiter is closed: a worker whose
    /// connection ended may still be blocked in a call of its own, and it must
    /// receive that call's (failed) reply to return.
    pub(crate) fn post_reply<T: Send + 'static>(&self, slot: Slot<T>, value: T) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.jobs.push_back(Box::new(move || slot.put(value)));
        drop(state);
        self.ready.notify_one();
    }

    /// Stops accepting jobs; the worker exits once the queued ones have run.
    pub(crate) fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// Returns the next job, waiting for one. With `until_closed`, returns
    /// `None` once the waiter is closed and drained.
    fn next_job(&self, until_closed: bool) -> Option<Job> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if until_closed && state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs queued jobs until one of them fills `slot`, and returns its value.
    pub(crate) fn wait_for<T>(&self, slot: &Slot<T>) -> T {
        loop {
            if let Some(value) = slot.take() {
                return value;
            }
            if let Some(job) = self.next_job(false) {
                job();
            }
        }
    }

    /// Runs jobs until the waiter is closed and drained.
    fn run_worker(&self) {
        while let Some(job) = self.next_job(true) {
            job();
        }
    }
}

static NEXT_THREAD_KEY: AtomicU64 = AtomicU64::new(1);

/// The runtime's record of one OS thread that makes or serves calls.
pub(crate) struct ThreadInfo {
    /// Process-unique key of the thread in the per-connection maps.
    pub(crate) key: u64,
    /// Name sent to peers in `makeThread` requests and `getName` replies.
    pub(crate) name: String,
    pub(crate) waiter: Arc<Waiter>,
    /// Loops whose connections contain entries for this thread; each is notified when it exits.
    loops: Mutex<Vec<Weak<LoopShared>>>,
}

impl ThreadInfo {
    fn new(name: String) -> Arc<ThreadInfo> {
        Arc::new(ThreadInfo {
            key: NEXT_THREAD_KEY.fetch_add(1, Ordering::Relaxed),
            name,
            waiter: Waiter::new(),
            loops: Mutex::new(Vec::new()),
        })
    }

    /// Records that `event_loop` may hold per-thread entries for this thread.
    pub(crate) fn register_loop(&self, event_loop: &EventLoop) {
        let weak = event_loop.downgrade();
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        if !loops.iter().any(|known| known.ptr_eq(&weak)) {
            loops.retain(|known| known.strong_count() > 0);
            loops.push(weak);
        }
    }
}

/// Removes the thread's entries from every loop it used when the thread exits,
/// which releases the `Thread` capabilities made for it on the peers.
struct ThreadGuard(Arc<ThreadInfo>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let key = self.0.key;
        let loops = std::mem::take(&mut *self.0.loops.lock().unwrap_or_else(|e| e.into_inner()));
        for weak in loops {
            if let Some(shared) = weak.upgrade() {
                let event_loop = EventLoop::from_shared(shared);
                let _ = event_loop.post(move || crate::connection::forget_thread(key));
            }
        }
    }
}

thread_local! {
    // clippy 1.96 wrongly reports already-const initializers on targets
    // without native thread locals, such as x86_64-pc-windows-gnu.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: RefCell<Option<ThreadGuard>> = const { RefCell::new(None) };
}

fn default_thread_name() -> String {
    let current = std::thread::current();
    let program = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "process".to_owned());
    let thread = current.name().map_or_else(|| format!("{:?}", current.id()), str::to_owned);
    format!("{program}-{}/{thread}", std::process::id())
}

/// Returns the context of the calling OS thread, creating it on first use.
pub(crate) fn current_thread() -> Arc<ThreadInfo> {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let guard = current.get_or_insert_with(|| ThreadGuard(ThreadInfo::new(default_thread_name())));
        guard.0.clone()
    })
}

fn set_current_thread(info: Arc<ThreadInfo>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(ThreadGuard(info)));
}

/// A `Thread` capability exported to the peer.
pub(crate) struct ThreadServer {
    pub(crate) info: Arc<ThreadInfo>,
    /// True if this server owns a worker thread, which stops when it is dropped.
    owns_worker: bool,
    /// Number of calls posted to the thread whose results have not returned yet.
    pub(crate) pending: std::cell::Cell<usize>,
    /// Count of live workers of the connection, decremented when this one stops.
    live_workers: Option<Rc<std::cell::Cell<usize>>>,
}

impl ThreadServer {
    /// Stands for an existing thread (a client thread, for callbacks).
    pub(crate) fn for_thread(info: Arc<ThreadInfo>) -> ThreadServer {
        ThreadServer { info, owns_worker: false, pending: Default::default(), live_workers: None }
    }

    /// Starts a worker OS thread that runs the calls aimed at it, counted in
    /// `live_workers` until the server is dropped.
    pub(crate) fn start_worker(name: String, live_workers: Rc<std::cell::Cell<usize>>) -> Result<ThreadServer> {
        let info = ThreadInfo::new(name);
        let worker_info = info.clone();
        // The peer chooses the name, and spawning a thread whose name contains
        // a NUL byte panics, so NUL bytes are left out of the OS thread name.
        let os_name: String = info.name.chars().filter(|&c| c != '\0').take(60).collect();
        std::thread::Builder::new()
            .name(os_name)
            .spawn(move || {
                let waiter = worker_info.waiter.clone();
                set_current_thread(worker_info);
                waiter.run_worker();
            })
            .map_err(|source| crate::Error::io(format!("failed to start server thread {:?}", info.name), source))?;
        live_workers.set(live_workers.get() + 1);
        Ok(ThreadServer { info, owns_worker: true, pending: Default::default(), live_workers: Some(live_workers) })
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        if self.owns_worker {
            // The worker finishes the calls already queued, then exits. It is
            // not joined here, because this runs on the event loop thread.
            self.info.waiter.close();
        }
        if let Some(live_workers) = &self.live_workers {
            live_workers.set(live_workers.get() - 1);
        }
    }
}

impl thread::Server for ThreadServer {
    async fn get_name(
        self: Rc<Self>,
        _params: thread::GetNameParams,
        mut results: thread::GetNameResults,
    ) -> std::result::Result<(), capnp::Error> {
        results.get().set_result(&self.info.name[..]);
        Ok(())
    }
}

/// The `ThreadMap` this process exports on a connection.
pub(crate) struct ThreadMapServer {
    pub(crate) conn: std::rc::Weak<ConnLocal>,
}

impl thread_map::Server for ThreadMapServer {
    fn make_thread(
        self: Rc<Self>,
        params: thread_map::MakeThreadParams,
        mut results: thread_map::MakeThreadResults,
    ) -> impl std::future::Future<Output = std::result::Result<(), capnp::Error>> + 'static {
        let outcome = (|| {
            let conn = self.conn.upgrade().ok_or_else(|| capnp::Error::disconnected("connection closed".into()))?;
            let name = params.get()?.get_name()?.to_string().map_err(|e| {
                capnp::Error::failed(format!("makeThread: thread name is not valid UTF-8: {e}"))
            })?;
            let thread = conn.make_thread(name)?;
            results.get().set_result(thread);
            Ok(())
        })();
        std::future::ready(outcome)
    }

    fn make_pool(
        self: Rc<Self>,
        params: thread_map::MakePoolParams,
        _results: thread_map::MakePoolResults,
    ) -> impl std::future::Future<Output = std::result::Result<(), capnp::Error>> + 'static {
        let outcome = (|| {
            let conn = self.conn.upgrade().ok_or_else(|| capnp::Error::disconnected("connection closed".into()))?;
            let count = params.get()?.get_count();
            conn.make_pool(count)
        })();
        std::future::ready(outcome)
    }
}
