//! The event loop: one thread that owns every Cap'n Proto object of its connections.
//!
//! Cap'n Proto capabilities in capnp-rpc are reference counted without atomics
//! and cannot leave the thread that made them. An [`EventLoop`] therefore runs a
//! single-threaded tokio runtime on a dedicated thread, and every other thread
//! reaches those objects by posting a closure to it. A thread that needs the
//! result sleeps on its [`Waiter`](crate::thread), so that the loop can hand it
//! callbacks to run while it waits.
//!
//! The loop ends when the last [`EventLoop`] handle is dropped: pending posted
//! closures run, then the runtime and every connection still on it are dropped,
//! which closes their sockets. Dropping the last handle from another thread
//! joins the loop thread; dropping it on the loop thread itself lets it finish
//! on its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, Weak};
use std::thread::{JoinHandle, ThreadId};

use futures::FutureExt;
use tokio::sync::mpsc;

use crate::connection::ConnLocal;
use crate::error::panic_message;
use crate::thread::{current_thread, Slot};
use crate::{Error, Result};

/// A closure posted to the loop thread.
pub(crate) type LoopJob = Box<dyn FnOnce() + Send>;

/// A future that runs on the loop thread.
pub(crate) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Handle to an event loop thread; cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct EventLoop {
    shared: Arc<LoopShared>,
}

pub(crate) struct LoopShared {
    name: String,
    sender: Mutex<Option<mpsc::UnboundedSender<LoopJob>>>,
    thread_id: ThreadId,
    join: Mutex<Option<JoinHandle<()>>>,
}

/// State that lives on the loop thread only.
#[derive(Default)]
pub(crate) struct LoopLocal {
    pub(crate) connections: RefCell<HashMap<u64, Rc<ConnLocal>>>,
}

thread_local! {
    // clippy 1.96 wrongly reports already-const initializers on targets
    // without native thread locals, such as x86_64-pc-windows-gnu.
    #[allow(clippy::missing_const_for_thread_local)]
    static LOOP_LOCAL: RefCell<Option<Rc<LoopLocal>>> = const { RefCell::new(None) };
}

/// Returns the state of the loop running on this thread, if this is a loop thread.
pub(crate) fn loop_local() -> Option<Rc<LoopLocal>> {
    LOOP_LOCAL.with(|local| local.borrow().clone())
}

impl EventLoop {
    /// Starts an event loop on a new thread named `name`.
    pub fn new(name: &str) -> Result<EventLoop> {
        let (sender, mut receiver) = mpsc::unbounded_channel::<LoopJob>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::io("failed to build the event loop runtime", source))?;

        let loop_name = name.to_owned();
        let join = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                LOOP_LOCAL.with(|local| *local.borrow_mut() = Some(Rc::new(LoopLocal::default())));
                let local_set = tokio::task::LocalSet::new();
                let job_loop_name = loop_name.clone();
                local_set.block_on(&runtime, async move {
                    let loop_name = job_loop_name;
                    while let Some(job) = receiver.recv().await {
                        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
                            tracing::error!(
                                event_loop = %loop_name,
                                panic = %panic_message(&*payload),
                                "closure posted to the event loop panicked"
                            );
                        }
                    }
                });
                drop(local_set);
                drop(runtime);
                LOOP_LOCAL.with(|local| local.borrow_mut().take());
                tracing::debug!(event_loop = %loop_name, "event loop stopped");
            })
            .map_err(|source| Error::io("failed to start the event loop thread", source))?;

        let thread_id = join.thread().id();
        tracing::debug!(event_loop = %name, "event loop started");
        Ok(EventLoop {
            shared: Arc::new(LoopShared {
                name: name.to_owned(),
                sender: Mutex::new(Some(sender)),
                thread_id,
                join: Mutex::new(Some(join)),
            }),
        })
    }

    /// Returns the name given to [`EventLoop::new`].
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Returns true if the calling thread is this loop's thread.
    pub fn is_current(&self) -> bool {
        std::thread::current().id() == self.shared.thread_id
    }

    pub(crate) fn downgrade(&self) -> Weak<LoopShared> {
        Arc::downgrade(&self.shared)
    }

    pub(crate) fn from_shared(shared: Arc<LoopShared>) -> EventLoop {
        EventLoop { shared }
    }

    /// Posts a closure to run on the loop thread and returns without waiting.
    ///
    /// A panic in the closure is logged and the loop keeps running. Fails with
    /// [`Error::LoopStopped`] if the loop has ended.
    pub fn post<F>(&self, job: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.post(Box::new(job))
    }

    /// Runs a closure on the loop thread and returns its result.
    ///
    /// The calling thread blocks until the closure has run, and meanwhile runs
    /// any callbacks that peers send to it. A panic in the closure is returned
    /// as [`Error::Panic`] and the loop keeps running.
    pub fn sync<F, T>(&self, job: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_async("event loop closure", move || {
            let value = job();
            Box::pin(async move { Ok(value) })
        })
    }

    /// Returns the number of open connections on this loop, for diagnostics
    /// and leak checks.
    pub fn connection_count(&self) -> Result<usize> {
        self.sync(|| loop_local().map_or(0, |local| local.connections.borrow().len()))
    }

    /// Starts `make_future` on the loop thread and blocks the calling thread,
    /// running its callbacks, until the future completes.
    pub(crate) fn run_async<F, T>(&self, location: &str, make_future: F) -> Result<T>
    where
        F: FnOnce() -> LocalFuture<Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        if self.is_current() {
            return Err(Error::CalledOnEventLoop { method: location.to_owned() });
        }
        let thread = current_thread();
        thread.register_loop(self);
        let slot = Slot::new();
        let reply_slot = slot.clone();
        let waiter = thread.waiter.clone();
        let location = location.to_owned();

        self.post(move || {
            let future = match catch_unwind(AssertUnwindSafe(make_future)) {
                Ok(future) => future,
                Err(payload) => {
                    let error = Error::Panic { location, message: panic_message(&*payload) };
                    waiter.post_reply(reply_slot, Err(error));
                    return;
                }
            };
            tokio::task::spawn_local(async move {
                let result = match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(result) => result,
                    Err(payload) => Err(Error::Panic { location, message: panic_message(&*payload) }),
                };
                waiter.post_reply(reply_slot, result);
            });
        })?;

        thread.waiter.wait_for(&slot)
    }
}

impl LoopShared {
    pub(crate) fn post(&self, job: LoopJob) -> Result<()> {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        match sender.as_ref() {
            Some(sender) => sender.send(job).map_err(|_| Error::LoopStopped),
            None => Err(Error::LoopStopped),
        }
    }
}

impl Drop for LoopShared {
    fn drop(&mut self) {
        self.sender.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        let join = self.join.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(join) = join {
            if std::thread::current().id() != self.thread_id && join.join().is_err() {
                tracing::error!(event_loop = %self.name, "event loop thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop").field("name", &self.shared.name).finish()
    }
}
