//! Client proxy and server adapter of `BenchInit`, written by hand on the
//! runtime's building blocks as generated code would be.

use std::rc::Rc;
use std::sync::Arc;

use multiprocess::{Connection, EventLoop, RemoteObject, Result, ServerContext, Stream};

use crate::schema::bench_capnp::{bench_init, callback};

/// A callback that the server calls once per `callBack` call.
pub type CallbackFn = dyn Fn() -> Result<()> + Send + Sync;

/// Client of a peer's `BenchInit`; usable from any thread.
pub struct BenchProxy {
    object: RemoteObject<bench_init::Client>,
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

impl BenchProxy {
    /// Connects over `stream` and performs the `construct` handshake.
    pub fn connect(event_loop: &EventLoop, stream: Stream, peer_name: &str) -> Result<BenchProxy> {
        let connection = Connection::connect(event_loop, stream, peer_name)?;
        let object = connection.bootstrap::<bench_init::Client>()?;
        connection.construct(&object)?;
        Ok(BenchProxy { object, connection })
    }

    /// Returns the connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Calls `ping`, which runs on the server thread mapped to this thread.
    pub fn ping(&self) -> Result<()> {
        self.object.call("ping", move |client, cx| {
            let mut request = client.ping_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |_results| Ok(()))
        })
    }

    /// Calls `pingOnLoop`, which runs on the server's event loop.
    pub fn ping_on_loop(&self) -> Result<()> {
        self.object.call("pingOnLoop", move |client, _cx| {
            let request = client.ping_on_loop_request();
            send_and_read!(request, |_results| Ok(()))
        })
    }

    /// Calls `callBack`, whose server thread calls `callback` once. The
    /// callback runs on this thread while it waits for the reply.
    ///
    /// Each call exports `callback` anew, and the server releases it when the
    /// call ends, as for a callback passed as an argument of a single call.
    pub fn call_back(&self, callback: Arc<CallbackFn>) -> Result<()> {
        self.object.call("callBack", move |client, cx| {
            let mut request = client.call_back_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_callback(capnp_rpc::new_client(CallbackServer { cx: cx.server(), callback }));
            send_and_read!(request, |_results| Ok(()))
        })
    }

    /// Calls `echoData` and returns the data the server sent back.
    pub fn echo_data(&self, data: &[u8]) -> Result<Vec<u8>> {
        // The request is built on the event loop thread, so the data moves there.
        let data = data.to_vec();
        self.object.call("echoData", move |client, cx| {
            let mut request = client.echo_data_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_data(&data);
            send_and_read!(request, |results| Ok(results.get_result()?.to_vec()))
        })
    }
}

/// Serves a `Callback` passed by this side: runs it on the calling thread.
struct CallbackServer {
    cx: ServerContext,
    callback: Arc<CallbackFn>,
}

impl callback::Server for CallbackServer {
    async fn call(
        self: Rc<Self>,
        params: callback::CallParams,
        _results: callback::CallResults,
    ) -> std::result::Result<(), capnp::Error> {
        let callback = self.callback.clone();
        self.cx.run_on_thread("call", params.get()?.get_context(), move || callback()).await
    }
}

/// Calls a `Callback` that the peer passed.
struct CallbackProxy {
    object: RemoteObject<callback::Client>,
}

impl CallbackProxy {
    fn call(&self) -> Result<()> {
        self.object.call("call", move |client, cx| {
            let mut request = client.call_request();
            cx.set_context(request.get().init_context());
            send_and_read!(request, |_results| Ok(()))
        })
    }
}

/// Serves `BenchInit` in the child process.
pub struct BenchServer {
    cx: ServerContext,
}

impl BenchServer {
    /// Returns the bootstrap capability for a connection.
    pub fn client(cx: ServerContext) -> capnp::capability::Client {
        let client: bench_init::Client = capnp_rpc::new_client(BenchServer { cx });
        client.client
    }
}

impl bench_init::Server for BenchServer {
    async fn construct(
        self: Rc<Self>,
        params: bench_init::ConstructParams,
        mut results: bench_init::ConstructResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let peer = if params.has_thread_map() { Some(params.get_thread_map()?) } else { None };
        results.get().set_thread_map(self.cx.construct(peer));
        Ok(())
    }

    async fn ping(
        self: Rc<Self>,
        params: bench_init::PingParams,
        _results: bench_init::PingResults,
    ) -> std::result::Result<(), capnp::Error> {
        self.cx.run_on_thread("ping", params.get()?.get_context(), || Ok(())).await
    }

    async fn ping_on_loop(
        self: Rc<Self>,
        _params: bench_init::PingOnLoopParams,
        _results: bench_init::PingOnLoopResults,
    ) -> std::result::Result<(), capnp::Error> {
        Ok(())
    }

    async fn call_back(
        self: Rc<Self>,
        params: bench_init::CallBackParams,
        _results: bench_init::CallBackResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let callback = CallbackProxy { object: self.cx.import(params.get_callback()?)? };
        self.cx.run_on_thread("callBack", params.get_context(), move || callback.call()).await
    }

    async fn echo_data(
        self: Rc<Self>,
        params: bench_init::EchoDataParams,
        mut results: bench_init::EchoDataResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        // Decoded into an owned value, as a server adapter does before it moves
        // the arguments to the server thread.
        let data = params.get_data()?.to_vec();
        let data = self.cx.run_on_thread("echoData", params.get_context(), move || Ok(data)).await?;
        results.get().set_result(&data);
        Ok(())
    }
}
