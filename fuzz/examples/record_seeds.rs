//! Records what a real `TestProxy` client sends to a `TestInit` server in a
//! few short conversations, and writes the recordings as fuzz inputs.
//!
//! Usage, from the repository root:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example record_seeds -- fuzz
//! ```
//!
//! For each conversation it writes the whole client stream to
//! `FUZZ_DIR/corpus/served_connection/NAME`, and the stream after the
//! handshake messages to
//! `FUZZ_DIR/corpus/served_connection_after_handshake/NAME`.
//! The handshake (the `Bootstrap` message and the first `Call`, which is
//! `construct`) goes to `FUZZ_DIR/handshake.bin`. Every conversation must
//! send the same handshake bytes.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use multiprocess::reexports::capnp;
use multiprocess::reexports::capnp_rpc::rpc_capnp::message;
use multiprocess::{socket_pair, Connection, ConnectionOptions, EventLoop, Stream};
use multiprocess_testing::{TestProxy, TestServer};

type Conversation = Box<dyn FnOnce(&TestProxy)>;

fn conversations() -> Vec<(&'static str, Conversation)> {
    vec![
        ("handshake_only", Box::new(|_proxy: &TestProxy| {})),
        ("add", Box::new(|proxy: &TestProxy| assert_eq!(proxy.add(2, 3).unwrap(), 5))),
        ("add_on_loop", Box::new(|proxy: &TestProxy| assert_eq!(proxy.add_on_loop(2, 3).unwrap(), 5))),
        ("thread_name", Box::new(|proxy: &TestProxy| assert!(!proxy.thread_name().unwrap().is_empty()))),
        ("pid", Box::new(|proxy: &TestProxy| assert_eq!(proxy.pid().unwrap(), std::process::id()))),
        ("sleep", Box::new(|proxy: &TestProxy| proxy.sleep(1).unwrap())),
        ("panic", Box::new(|proxy: &TestProxy| assert!(proxy.panic("seed").is_err()))),
        (
            "call_back",
            Box::new(|proxy: &TestProxy| {
                let text = proxy.call_back(Arc::new(|depth| Ok(format!("client {depth}"))), 2).unwrap();
                assert!(text.contains("client 2"), "unexpected callBack result {text:?}");
            }),
        ),
        (
            "counter",
            Box::new(|proxy: &TestProxy| {
                let counter = proxy.make_counter().unwrap();
                assert_eq!(counter.increment().unwrap(), 1);
                assert_eq!(counter.increment_pipelined(3).unwrap(), vec![2, 3, 4]);
                assert_eq!(proxy.live_counters().unwrap(), 1);
                drop(counter);
            }),
        ),
    ]
}

fn main() {
    let fuzz_dir = PathBuf::from(std::env::args_os().nth(1).expect("usage: record_seeds FUZZ_DIR"));
    let event_loop = EventLoop::new("record").expect("failed to start the event loop");

    let mut handshake: Option<Vec<u8>> = None;
    for (name, conversation) in conversations() {
        let stream = record_client_stream(&event_loop, conversation);
        let (this_handshake, rest) = split_handshake(&stream);
        match &handshake {
            None => handshake = Some(this_handshake),
            Some(first) => assert_eq!(
                first, &this_handshake,
                "conversation {name} has other handshake messages than the first one"
            ),
        }
        write_file(&fuzz_dir.join("corpus/served_connection").join(name), &stream);
        write_file(&fuzz_dir.join("corpus/served_connection_after_handshake").join(name), &rest);
    }
    write_file(&fuzz_dir.join("handshake.bin"), &handshake.expect("no conversation was recorded"));
}

/// Runs `conversation` on a client connected to a served `TestInit` through
/// a relay, and returns every byte the client sent until it closed.
fn record_client_stream(event_loop: &EventLoop, conversation: Conversation) -> Vec<u8> {
    let (client_end, relay_client_side) = socket_pair().expect("failed to create a socket pair");
    let (relay_server_side, server_end) = socket_pair().expect("failed to create a socket pair");
    let server = Connection::serve(event_loop, server_end, "client", ConnectionOptions::default(), TestServer::client)
        .expect("failed to serve TestInit");

    let from_client = UnixStream::from(relay_client_side);
    let to_server = UnixStream::from(relay_server_side);
    let upstream = {
        let from_client = from_client.try_clone().expect("failed to clone a socket");
        let to_server = to_server.try_clone().expect("failed to clone a socket");
        std::thread::spawn(move || copy_and_record(from_client, to_server))
    };
    let downstream = std::thread::spawn(move || copy_and_record(to_server, from_client));

    let proxy = TestProxy::connect(event_loop, Stream::from(UnixStream::from(client_end)), "server")
        .expect("the handshake failed");
    conversation(&proxy);
    // Dropping the last proxy closes the client's side: it releases the
    // server's objects, then shuts down its write half.
    drop(proxy);

    let recorded = upstream.join().expect("the upstream relay thread panicked");
    downstream.join().expect("the downstream relay thread panicked");
    server.wait_disconnected();
    recorded
}

/// Copies `from` to `to` until end of input, then shuts down `to`'s write
/// half. Returns the bytes copied.
fn copy_and_record(mut from: UnixStream, mut to: UnixStream) -> Vec<u8> {
    let mut recorded = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let count = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(count) => count,
        };
        recorded.extend_from_slice(&buffer[..count]);
        if to.write_all(&buffer[..count]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    recorded
}

/// Splits a recorded client stream into its handshake, which is the first
/// message (a `Bootstrap`) and the first `Call` (`construct`), and the other
/// messages in their order.
///
/// The client may send other messages between the two, such as a `Release`
/// when the bootstrap reply arrives early, so the handshake is put together
/// from those two messages and not cut as one prefix of the stream.
fn split_handshake(stream: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut handshake = Vec::new();
    let mut rest = Vec::new();
    let mut call_seen = false;
    let mut unread = stream;
    let mut index = 0;
    while !unread.is_empty() {
        let before = unread;
        let reader = capnp::serialize::read_message(&mut unread, capnp::message::ReaderOptions::new())
            .unwrap_or_else(|error| panic!("message {index} of the recorded stream is invalid: {error}"));
        let bytes = &before[..before.len() - unread.len()];
        let root = reader.get_root::<message::Reader<'_>>().expect("invalid RPC message");
        match root.which() {
            Ok(message::Bootstrap(_)) if index == 0 => handshake.extend_from_slice(bytes),
            _ if index == 0 => panic!("the recorded stream does not start with a Bootstrap message"),
            Ok(message::Call(_)) if !call_seen => {
                call_seen = true;
                handshake.extend_from_slice(bytes);
            }
            _ => rest.extend_from_slice(bytes),
        }
        index += 1;
    }
    assert!(call_seen, "the recorded stream has no construct call");
    (handshake, rest)
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("a file path has a parent"))
        .unwrap_or_else(|error| panic!("failed to create the folder of {}: {error}", path.display()));
    std::fs::write(path, bytes).unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
}
