//! Cap'n Proto RPC alone: an `Echo` call over the same kind of socket with
//! capnp-rpc on a tokio current-thread runtime, without a thread map. The
//! client makes the call on the thread that runs the runtime, so no thread
//! handoff happens on either side.

use std::io;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, RpcSystem};
use multiprocess::Stream;
use tokio::runtime::Runtime;
use tokio::task::LocalSet;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::schema::bench_capnp::echo;

/// The parent's end: an `Echo` client and the runtime that drives its connection.
pub struct EchoClient {
    // Fields drop in this order: the capability, then the connection task,
    // then the runtime whose I/O driver the socket is registered with.
    echo: echo::Client,
    local: LocalSet,
    runtime: Runtime,
    next_value: u64,
}

impl EchoClient {
    /// Connects to a child that runs [`serve`] on the other end of `stream`.
    pub fn connect(stream: Stream) -> io::Result<EchoClient> {
        let runtime = new_runtime()?;
        let local = LocalSet::new();
        let echo = local.block_on(&runtime, async move {
            let network = new_network(stream, Side::Client)?;
            let mut rpc_system = RpcSystem::new(network, None);
            let echo: echo::Client = rpc_system.bootstrap(Side::Server);
            // The connection ends when the client drops this task with the LocalSet.
            tokio::task::spawn_local(rpc_system);
            Ok::<_, io::Error>(echo)
        })?;
        Ok(EchoClient { echo, local, runtime, next_value: 0 })
    }

    /// Makes one `echo` call and checks the value sent back.
    pub fn round_trip(&mut self) -> io::Result<()> {
        let value = self.next_value;
        self.next_value = value.wrapping_add(1);
        let echo = self.echo.clone();
        let returned = self
            .local
            .block_on(&self.runtime, async move {
                let mut request = echo.echo_request();
                request.get().set_value(value);
                let response = request.send().promise.await?;
                Ok::<_, capnp::Error>(response.get()?.get_value())
            })
            .map_err(|error| io::Error::other(format!("echo call failed: {error}")))?;
        if returned != value {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("echo sent {value}, received {returned}")));
        }
        Ok(())
    }
}

struct EchoServer;

impl echo::Server for EchoServer {
    async fn echo(
        self: Rc<Self>,
        params: echo::EchoParams,
        mut results: echo::EchoResults,
    ) -> Result<(), capnp::Error> {
        results.get().set_value(params.get()?.get_value());
        Ok(())
    }
}

/// Serves `Echo` on `stream`, as the child, until the parent disconnects.
pub fn serve(stream: Stream) -> io::Result<()> {
    let runtime = new_runtime()?;
    let local = LocalSet::new();
    local.block_on(&runtime, async move {
        let network = new_network(stream, Side::Server)?;
        let echo: echo::Client = capnp_rpc::new_client(EchoServer);
        let rpc_system = RpcSystem::new(network, Some(echo.client));
        match rpc_system.await {
            Ok(()) => Ok(()),
            Err(error) if error.kind == capnp::ErrorKind::Disconnected => Ok(()),
            Err(error) => Err(io::Error::other(format!("echo connection failed: {error}"))),
        }
    })
}

/// Size of the read and write buffers of a connection, in bytes.
const BUFFER_SIZE: usize = 8 * 1024;

fn new_runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Registers `stream` with the current runtime and wraps it in a two-party
/// network. Both directions are buffered, as the capnp-rpc documentation of
/// `VatNetwork::new` recommends, so that a message goes out in one write.
fn new_network(stream: Stream, side: Side) -> io::Result<Box<twoparty::VatNetwork<impl futures::AsyncRead + Unpin>>> {
    let socket = UnixStream::from(stream);
    socket.set_nonblocking(true)?;
    let socket = tokio::net::UnixStream::from_std(socket)?;
    let (reader, writer) = socket.into_split();
    Ok(Box::new(twoparty::VatNetwork::new(
        futures::io::BufReader::with_capacity(BUFFER_SIZE, reader.compat()),
        futures::io::BufWriter::with_capacity(BUFFER_SIZE, writer.compat_write()),
        side,
        capnp::message::ReaderOptions::new(),
    )))
}
