//! Rust interfaces of the demo's schemas: a trait per interface, a client
//! proxy that implements it over a connection, and a server adapter that
//! serves any implementation. Each proxy method builds a request on the event
//! loop, blocks the calling thread until the reply, and runs callbacks from the
//! peer on that thread meanwhile.

use std::rc::Rc;
use std::sync::Arc;

use multiprocess::{read_text, Connection, ConnectionOptions, EventLoop, RemoteObject, Result, ServerContext, Stream};

use crate::schema::calculator_capnp::calculator_interface;
use crate::schema::init_capnp::init_interface;
use crate::schema::printer_capnp::printer_interface;

/// Prints text; the demo's callback interface.
pub trait Printer: Send + Sync {
    /// Prints `text`.
    fn print(&self, text: &str) -> Result<()>;
}

/// Solves equations and prints the answers through a [`Printer`].
pub trait Calculator: Send + Sync {
    /// Solves `eqn`; fails with a readable message if it is invalid.
    fn solve_equation(&self, eqn: &str) -> Result<()>;
}

/// The first object a child serves: a factory of the other two.
pub trait Init: Send + Sync {
    /// Returns a calculator that prints its answers through `print`.
    fn make_calculator(&self, print: Box<dyn Printer>) -> Result<Box<dyn Calculator>>;
    /// Returns a printer.
    fn make_printer(&self) -> Result<Box<dyn Printer>>;
}

/// Calls a [`Printer`] served by a peer.
pub struct PrinterProxy {
    object: RemoteObject<printer_interface::Client>,
}

impl Printer for PrinterProxy {
    fn print(&self, text: &str) -> Result<()> {
        let text = text.to_owned();
        self.object.call("print", move |client, cx| {
            let mut request = client.print_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_text(&text[..]);
            Ok(async move {
                request.send().promise.await?;
                Ok(())
            })
        })
    }
}

impl Drop for PrinterProxy {
    fn drop(&mut self) {
        self.object.destroy(|client, cx| {
            let mut request = client.destroy_request();
            cx.set_context(request.get().init_context());
            Ok(async move {
                request.send().promise.await?;
                Ok(())
            })
        });
    }
}

/// Serves a [`Printer`] implementation to a peer.
pub struct PrinterServer {
    cx: ServerContext,
    implementation: std::cell::RefCell<Option<Arc<dyn Printer>>>,
}

impl PrinterServer {
    /// Wraps `implementation` for the connection of `cx`.
    pub fn new(cx: ServerContext, implementation: Box<dyn Printer>) -> PrinterServer {
        PrinterServer { cx, implementation: std::cell::RefCell::new(Some(Arc::from(implementation))) }
    }

    fn implementation(&self) -> capnp::Result<Arc<dyn Printer>> {
        self.implementation.borrow().clone().ok_or_else(|| capnp::Error::failed("Printer: called after destroy".into()))
    }
}

impl printer_interface::Server for PrinterServer {
    async fn destroy(
        self: Rc<Self>,
        params: printer_interface::DestroyParams,
        _results: printer_interface::DestroyResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation.borrow_mut().take();
        let params = params.get()?;
        // The implementation is dropped on the thread the call names.
        self.cx.run_on_thread("destroy", params.get_context(), move || {
            drop(implementation);
            Ok(())
        })
        .await
    }

    async fn print(
        self: Rc<Self>,
        params: printer_interface::PrintParams,
        _results: printer_interface::PrintResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation()?;
        let params = params.get()?;
        let text = read_text("text", params.get_text())?;
        self.cx.run_on_thread("print", params.get_context(), move || implementation.print(&text)).await
    }
}

/// Calls a [`Calculator`] served by a peer.
pub struct CalculatorProxy {
    object: RemoteObject<calculator_interface::Client>,
}

impl Calculator for CalculatorProxy {
    fn solve_equation(&self, eqn: &str) -> Result<()> {
        let eqn = eqn.to_owned();
        self.object.call("solveEquation", move |client, cx| {
            let mut request = client.solve_equation_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_eqn(&eqn[..]);
            Ok(async move {
                request.send().promise.await?;
                Ok(())
            })
        })
    }
}

impl Drop for CalculatorProxy {
    fn drop(&mut self) {
        self.object.destroy(|client, cx| {
            let mut request = client.destroy_request();
            cx.set_context(request.get().init_context());
            Ok(async move {
                request.send().promise.await?;
                Ok(())
            })
        });
    }
}

/// Serves a [`Calculator`] implementation to a peer.
pub struct CalculatorServer {
    cx: ServerContext,
    implementation: std::cell::RefCell<Option<Arc<dyn Calculator>>>,
}

impl CalculatorServer {
    /// Wraps `implementation` for the connection of `cx`.
    pub fn new(cx: ServerContext, implementation: Box<dyn Calculator>) -> CalculatorServer {
        CalculatorServer { cx, implementation: std::cell::RefCell::new(Some(Arc::from(implementation))) }
    }

    fn implementation(&self) -> capnp::Result<Arc<dyn Calculator>> {
        self.implementation.borrow().clone().ok_or_else(|| capnp::Error::failed("Calculator: called after destroy".into()))
    }
}

impl calculator_interface::Server for CalculatorServer {
    async fn destroy(
        self: Rc<Self>,
        params: calculator_interface::DestroyParams,
        _results: calculator_interface::DestroyResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation.borrow_mut().take();
        let params = params.get()?;
        self.cx.run_on_thread("destroy", params.get_context(), move || {
            drop(implementation);
            Ok(())
        })
        .await
    }

    async fn solve_equation(
        self: Rc<Self>,
        params: calculator_interface::SolveEquationParams,
        _results: calculator_interface::SolveEquationResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation()?;
        let params = params.get()?;
        let eqn = read_text("eqn", params.get_eqn())?;
        self.cx.run_on_thread("solveEquation", params.get_context(), move || implementation.solve_equation(&eqn)).await
    }
}

/// Calls the [`Init`] of a peer; holds the connection open.
pub struct InitProxy {
    object: RemoteObject<init_interface::Client>,
    connection: Connection,
}

impl InitProxy {
    /// Connects over `stream` to a peer serving `InitInterface` and performs
    /// the `construct` handshake. `peer_name` appears in errors and logs.
    pub fn connect(event_loop: &EventLoop, stream: Stream, peer_name: &str) -> Result<InitProxy> {
        let connection = Connection::connect(event_loop, stream, peer_name)?;
        let object = connection.bootstrap::<init_interface::Client>()?;
        connection.construct(&object)?;
        Ok(InitProxy { object, connection })
    }

    /// Returns the connection to the peer.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl Init for InitProxy {
    fn make_calculator(&self, print: Box<dyn Printer>) -> Result<Box<dyn Calculator>> {
        self.object.call("makeCalculator", move |client, cx| {
            let server = cx.server();
            let mut request = client.make_calculator_request();
            let mut params = request.get();
            cx.set_context(params.reborrow().init_context());
            params.set_print(capnp_rpc::new_client(PrinterServer::new(server.clone(), print)));
            Ok(async move {
                let response = request.send().promise.await?;
                let result = response.get()?.get_result()?;
                let calculator: Box<dyn Calculator> = Box::new(CalculatorProxy { object: server.import(result)? });
                Ok(calculator)
            })
        })
    }

    fn make_printer(&self) -> Result<Box<dyn Printer>> {
        self.object.call("makePrinter", move |client, cx| {
            let server = cx.server();
            let mut request = client.make_printer_request();
            cx.set_context(request.get().init_context());
            Ok(async move {
                let response = request.send().promise.await?;
                let result = response.get()?.get_result()?;
                let printer: Box<dyn Printer> = Box::new(PrinterProxy { object: server.import(result)? });
                Ok(printer)
            })
        })
    }
}

/// Serves an [`Init`] implementation to a peer.
pub struct InitServer {
    cx: ServerContext,
    implementation: Arc<dyn Init>,
}

impl InitServer {
    /// Serves `implementation` as the bootstrap capability on `stream`.
    pub fn serve(
        event_loop: &EventLoop,
        stream: Stream,
        peer_name: &str,
        implementation: Arc<dyn Init>,
    ) -> Result<Connection> {
        Connection::serve(event_loop, stream, peer_name, ConnectionOptions::default(), move |cx| {
            Self::client(cx, implementation)
        })
    }

    /// Returns a capability that serves `implementation` on the connection of `cx`.
    pub fn client(cx: ServerContext, implementation: Arc<dyn Init>) -> capnp::capability::Client {
        let client: init_interface::Client = capnp_rpc::new_client(InitServer { cx, implementation });
        client.client
    }
}

impl init_interface::Server for InitServer {
    async fn construct(
        self: Rc<Self>,
        params: init_interface::ConstructParams,
        mut results: init_interface::ConstructResults,
    ) -> std::result::Result<(), capnp::Error> {
        let params = params.get()?;
        let peer_thread_map = if params.has_thread_map() { Some(params.get_thread_map()?) } else { None };
        results.get().set_thread_map(self.cx.construct(peer_thread_map));
        Ok(())
    }

    async fn make_calculator(
        self: Rc<Self>,
        params: init_interface::MakeCalculatorParams,
        mut results: init_interface::MakeCalculatorResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation.clone();
        let params = params.get()?;
        let print: Box<dyn Printer> = Box::new(PrinterProxy { object: self.cx.import(params.get_print()?)? });
        let calculator = self
            .cx
            .run_on_thread("makeCalculator", params.get_context(), move || implementation.make_calculator(print))
            .await?;
        results.get().set_result(capnp_rpc::new_client(CalculatorServer::new(self.cx.clone(), calculator)));
        Ok(())
    }

    async fn make_printer(
        self: Rc<Self>,
        params: init_interface::MakePrinterParams,
        mut results: init_interface::MakePrinterResults,
    ) -> std::result::Result<(), capnp::Error> {
        let implementation = self.implementation.clone();
        let params = params.get()?;
        let printer = self.cx.run_on_thread("makePrinter", params.get_context(), move || implementation.make_printer()).await?;
        results.get().set_result(capnp_rpc::new_client(PrinterServer::new(self.cx.clone(), printer)));
        Ok(())
    }
}
