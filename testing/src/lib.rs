//! A test interface for the runtime's integration tests, served by the
//! `mptest-child` program and called through [`TestProxy`].
//!
//! The glue is written against the runtime's building blocks directly, so
//! these tests exercise the runtime without the code generator.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use multiprocess::{read_text, Connection, ConnectionOptions, EventLoop, RemoteObject, Result, ServerContext, Stream};

pub mod schema;

use schema::test_capnp::{callback, counter, test_init};

/// A callback that the server calls with a depth; returns a description.
pub type CallbackFn = dyn Fn(u32) -> Result<String> + Send + Sync;

/// Client of a peer's `TestInit`.
pub struct TestProxy {
    object: RemoteObject<test_init::Client>,
    connection: Connection,
}

macro_rules! send_and_read {
    ($request:ident, |$results:ident| $read:expr) => {
        Ok(async move {
            let response = $request.send().promise.await?;
            let $results = response.get()?;
            $read
        })
    };
}

impl TestProxy {
    /// Connects over `stream` and performs the `construct` handshake.
    pub fn connect(event_loop: &EventLoop, stream: Stream, peer_name: &str) -> Result<TestProxy> {
        Self::connect_with(event_loop, stream, peer_name, ConnectionOptions::default())
    }

    /// Like [`TestProxy::connect`], with connection options.
    pub fn connect_with(
        event_loop: &EventLoop,
        stream: Stream,
        peer_name: &str,
        options: ConnectionOptions,
    ) -> Result<TestProxy> {
        let connection = Connection::connect_with(event_loop, stream, peer_name, options)?;
        let object = connection.bootstrap::<test_init::Client>()?;
        connection.construct(&object)?;
        Ok(TestProxy { object, connection })
    }

    /// Returns the connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Returns `a + b`, computed on the server thread mapped to this thread.
    pub fn add(&self, a: i64, b: i64) -> Result<i64> {
        self.object.call("add", move |client, cx| {
            let mut request = client.add_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_a(a);
            params.set_b(b);
            send_and_read!(request, |results| Ok(results.get_result()))
        })
    }

    /// Asks the server to call `callback(depth)` back and returns its result.
    pub fn call_back(&self, callback: Arc<CallbackFn>, depth: u32) -> Result<String> {
        self.object.call("callBack", move |client, cx| {
            let mut request = client.call_back_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_callback(capnp_rpc::new_client(CallbackServer { cx: cx.server(), callback }));
            params.set_depth(depth);
            send_and_read!(request, |results| read_text("result", results.get_result()))
        })
    }

    /// Makes the server method panic with `message`.
    pub fn panic(&self, message: &str) -> Result<()> {
        let message = message.to_owned();
        self.object.call("panic", move |client, cx| {
            let mut request = client.panic_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_message(&message[..]);
            send_and_read!(request, |_results| Ok(()))
        })
    }

    /// Blocks a server thread for `millis` milliseconds.
    pub fn sleep(&self, millis: u32) -> Result<()> {
        self.object.call("sleep", move |client, cx| {
            let mut request = client.sleep_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_millis(millis);
            send_and_read!(request, |_results| Ok(()))
        })
    }

    /// Returns the name of the server thread that runs calls from this thread.
    pub fn thread_name(&self) -> Result<String> {
        self.object.call("threadName", move |client, cx| {
            let mut request = client.thread_name_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |results| read_text("result", results.get_result()))
        })
    }

    /// Returns `a + b`, computed on the server's event loop.
    pub fn add_on_loop(&self, a: i64, b: i64) -> Result<i64> {
        self.object.call("addOnLoop", move |client, _cx| {
            let mut request = client.add_on_loop_request();
            request.get().set_a(a);
            request.get().set_b(b);
            send_and_read!(request, |results| Ok(results.get_result()))
        })
    }

    /// Returns the server's process id.
    pub fn pid(&self) -> Result<u32> {
        self.object.call("pid", move |client, cx| {
            let mut request = client.pid_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |results| Ok(results.get_result()))
        })
    }

    /// Returns a new counter served by the peer.
    pub fn make_counter(&self) -> Result<CounterProxy> {
        self.make_counter_after(0)
    }

    /// Returns a new counter that the peer makes after waiting `delay_millis`.
    pub fn make_counter_after(&self, delay_millis: u32) -> Result<CounterProxy> {
        self.object.call("makeCounter", move |client, cx| {
            let server = cx.server();
            let mut request = client.make_counter_request();
            cx.set_context(request.get().init_context());
            request.get().set_delay_millis(delay_millis);
            send_and_read!(request, |results| Ok(CounterProxy { object: server.import(results.get_result()?)? }))
        })
    }

    /// Returns the number of counter implementations alive in the peer.
    pub fn live_counters(&self) -> Result<u64> {
        self.object.call("liveCounters", move |client, cx| {
            let mut request = client.live_counters_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |results| Ok(results.get_result()))
        })
    }
}

/// Client of a peer's `Counter`; dropping it calls `destroy`.
pub struct CounterProxy {
    object: RemoteObject<counter::Client>,
}

impl CounterProxy {
    /// Increments the counter and returns the new value.
    pub fn increment(&self) -> Result<u64> {
        self.object.call("increment", move |client, cx| {
            let mut request = client.increment_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |results| Ok(results.get_result()))
        })
    }
}

impl CounterProxy {
    /// Sends `count` increments at once, all aimed at this thread's server
    /// thread, and returns the value each one saw, in the order they were sent.
    pub fn increment_pipelined(&self, count: usize) -> Result<Vec<u64>> {
        self.object.call("increment", move |client, cx| {
            let replies: Vec<_> = (0..count)
                .map(|_| {
                    let mut request = client.increment_request();
                    cx.set_context(request.get().init_context());
                    request.send().promise
                })
                .collect();
            Ok(async move {
                let mut values = Vec::with_capacity(count);
                for reply in replies {
                    values.push(reply.await?.get()?.get_result());
                }
                Ok(values)
            })
        })
    }
}

impl Drop for CounterProxy {
    fn drop(&mut self) {
        self.object.destroy(|client, cx| {
            let mut request = client.destroy_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |_results| Ok(()))
        });
    }
}

struct CallbackServer {
    cx: ServerContext,
    callback: Arc<CallbackFn>,
}

impl callback::Server for CallbackServer {
    async fn call(
        self: Rc<Self>,
        params: callback::CallParams,
        mut results: callback::CallResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let depth = params.get_depth();
        let callback = self.callback.clone();
        let text = self.cx.run_on_thread("call", params.get_context(), move || callback(depth)).await?;
        results.get().set_result(&text[..]);
        Ok(())
    }
}

/// Calls a peer's `Callback`.
struct CallbackProxy {
    object: RemoteObject<callback::Client>,
}

impl CallbackProxy {
    fn call(&self, depth: u32) -> Result<String> {
        self.object.call("call", move |client, cx| {
            let mut request = client.call_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_depth(depth);
            send_and_read!(request, |results| read_text("result", results.get_result()))
        })
    }
}

/// Number of live counter implementations in this process.
pub static LIVE_COUNTERS: AtomicU64 = AtomicU64::new(0);

struct CounterImpl {
    value: AtomicU64,
}

impl Drop for CounterImpl {
    fn drop(&mut self) {
        LIVE_COUNTERS.fetch_sub(1, Ordering::SeqCst);
    }
}

struct CounterServer {
    cx: ServerContext,
    implementation: std::cell::RefCell<Option<Arc<CounterImpl>>>,
}

impl counter::Server for CounterServer {
    async fn destroy(
        self: Rc<Self>,
        params: counter::DestroyParams,
        _results: counter::DestroyResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation.borrow_mut().take();
        self.cx.run_on_thread("destroy", params.get()?.get_context(), move || {
            drop(implementation);
            Ok(())
        })
        .await
    }

    async fn increment(
        self: Rc<Self>,
        params: counter::IncrementParams,
        mut results: counter::IncrementResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self
            .implementation
            .borrow()
            .clone()
            .ok_or_else(|| capnp::Error::failed("Counter: called after destroy".into()))?;
        let value = self
            .cx
            .run_on_thread("increment", params.get()?.get_context(), move || {
                Ok(implementation.value.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await?;
        results.get().set_result(value);
        Ok(())
    }
}

/// Serves `TestInit` in a child process.
pub struct TestServer {
    cx: ServerContext,
}

impl TestServer {
    /// Returns the bootstrap capability for a connection.
    pub fn client(cx: ServerContext) -> capnp::capability::Client {
        let client: test_init::Client = capnp_rpc::new_client(TestServer { cx });
        client.client
    }
}

impl test_init::Server for TestServer {
    async fn construct(
        self: Rc<Self>,
        params: test_init::ConstructParams,
        mut results: test_init::ConstructResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let peer = if params.has_thread_map() { Some(params.get_thread_map()?) } else { None };
        results.get().set_thread_map(self.cx.construct(peer));
        Ok(())
    }

    async fn add(
        self: Rc<Self>,
        params: test_init::AddParams,
        mut results: test_init::AddResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let (a, b) = (params.get_a(), params.get_b());
        let sum = self.cx.run_on_thread("add", params.get_context(), move || Ok(a.wrapping_add(b))).await?;
        results.get().set_result(sum);
        Ok(())
    }

    async fn call_back(
        self: Rc<Self>,
        params: test_init::CallBackParams,
        mut results: test_init::CallBackResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let depth = params.get_depth();
        let callback = CallbackProxy { object: self.cx.import(params.get_callback()?)? };
        let text = self
            .cx
            .run_on_thread("callBack", params.get_context(), move || {
                let name = current_thread_name();
                let inner = callback.call(depth)?;
                Ok(format!("server {depth} on {name}; {inner}"))
            })
            .await?;
        results.get().set_result(&text[..]);
        Ok(())
    }

    async fn panic(
        self: Rc<Self>,
        params: test_init::PanicParams,
        _results: test_init::PanicResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let message = read_text("message", params.get_message())?;
        self.cx.run_on_thread("panic", params.get_context(), move || -> Result<()> { panic!("{message}") }).await
    }

    async fn sleep(
        self: Rc<Self>,
        params: test_init::SleepParams,
        _results: test_init::SleepResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let millis = params.get_millis();
        self.cx
            .run_on_thread("sleep", params.get_context(), move || {
                std::thread::sleep(std::time::Duration::from_millis(millis.into()));
                Ok(())
            })
            .await
    }

    async fn thread_name(
        self: Rc<Self>,
        params: test_init::ThreadNameParams,
        mut results: test_init::ThreadNameResults,
    ) -> std::result::Result<(), capnp::Error> {
        let name = self.cx.run_on_thread("threadName", params.get()?.get_context(), || Ok(current_thread_name())).await?;
        results.get().set_result(&name[..]);
        Ok(())
    }

    async fn add_on_loop(
        self: Rc<Self>,
        params: test_init::AddOnLoopParams,
        mut results: test_init::AddOnLoopResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        results.get().set_result(params.get_a().wrapping_add(params.get_b()));
        Ok(())
    }

    async fn pid(
        self: Rc<Self>,
        params: test_init::PidParams,
        mut results: test_init::PidResults,
    ) -> std::result::Result<(), capnp::Error> {
        let pid = self.cx.run_on_thread("pid", params.get()?.get_context(), || Ok(std::process::id())).await?;
        results.get().set_result(pid);
        Ok(())
    }

    async fn make_counter(
        self: Rc<Self>,
        params: test_init::MakeCounterParams,
        mut results: test_init::MakeCounterResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let delay = std::time::Duration::from_millis(params.get_delay_millis().into());
        let counter = self
            .cx
            .run_on_thread("makeCounter", params.get_context(), move || {
                std::thread::sleep(delay);
                LIVE_COUNTERS.fetch_add(1, Ordering::SeqCst);
                Ok(Arc::new(CounterImpl { value: AtomicU64::new(0) }))
            })
            .await?;
        let server = CounterServer { cx: self.cx.clone(), implementation: std::cell::RefCell::new(Some(counter)) };
        results.get().set_result(capnp_rpc::new_client(server));
        Ok(())
    }

    async fn live_counters(
        self: Rc<Self>,
        params: test_init::LiveCountersParams,
        mut results: test_init::LiveCountersResults,
    ) -> std::result::Result<(), capnp::Error> {
        let count = || Ok(LIVE_COUNTERS.load(Ordering::SeqCst));
        let live = self.cx.run_on_thread("liveCounters", params.get()?.get_context(), count).await?;
        results.get().set_result(live);
        Ok(())
    }
}

/// Returns the OS thread's name, or its id if it has none.
pub fn current_thread_name() -> String {
    let thread = std::thread::current();
    thread.name().map_or_else(|| format!("{:?}", thread.id()), str::to_owned)
}

/// Maximum time [`replay_bytes`] waits for each of its steps: for the server
/// to write or close, and then for the connection to leave the event loop.
#[cfg(unix)]
pub const REPLAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `TestInit` on one end of a socket pair, writes `input` to the other
/// end as a peer would, shuts down that end's write half and reads until the
/// server closes the connection. Returns the bytes the server wrote.
///
/// This is the step that the `cargo fuzz` targets run for each input and that
/// the fuzz regression tests repeat. `event_loop` must have no other
/// connections, because the leak check expects its connection count to fall
/// to 0. The calling process must ignore SIGPIPE, as Rust programs do by
/// default, because the server may close before it has read all of `input`.
///
/// # Panics
///
/// Panics if the server sends nothing and does not close for
/// [`REPLAY_TIMEOUT`] (a hang), or if the connection is still open or still
/// counted by [`EventLoop::connection_count`] [`REPLAY_TIMEOUT`] after the
/// server closed its end (a leak).
#[cfg(unix)]
pub fn replay_bytes(event_loop: &EventLoop, input: &[u8]) -> Vec<u8> {
    use std::io::{ErrorKind, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    let (server_end, peer_end) = multiprocess::socket_pair().expect("failed to create a socket pair");
    let connection = Connection::serve(event_loop, server_end, "fuzz", ConnectionOptions::default(), TestServer::client)
        .expect("failed to serve TestInit on a socket pair");
    let peer = UnixStream::from(peer_end);
    peer.set_write_timeout(Some(REPLAY_TIMEOUT)).expect("failed to set a write timeout");
    peer.set_read_timeout(Some(REPLAY_TIMEOUT)).expect("failed to set a read timeout");

    // The write runs on its own thread so that a server that replies before
    // reading everything cannot fill the socket buffer and block both sides.
    let mut output = Vec::new();
    let read_result = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Write errors are expected: the server closes on malformed input.
            let _ = (&peer).write_all(input);
            let _ = peer.shutdown(std::net::Shutdown::Write);
        });
        let mut buffer = [0u8; 8192];
        loop {
            match (&peer).read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(count) => output.extend_from_slice(&buffer[..count]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    });
    if let Err(error) = read_result {
        panic!(
            "hang: the server sent nothing and did not close the connection for {REPLAY_TIMEOUT:?}, \
             after {} input bytes and {} output bytes: {error}",
            input.len(),
            output.len()
        );
    }

    assert!(
        connection.wait_disconnected_timeout(REPLAY_TIMEOUT),
        "leak: the server closed its socket, but the connection had not ended {REPLAY_TIMEOUT:?} later"
    );
    drop(connection);
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let count = event_loop.connection_count().expect("the event loop stopped");
        if count == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leak: the event loop still counts {count} connections {REPLAY_TIMEOUT:?} after the connection ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    output
}
