//! A raw socket peer that sends bytes no Cap'n Proto peer would: only its own
//! connection is closed, and the server keeps serving everyone else.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{init_logging, Watchdog, CHILD};
use multiprocess::{EventLoop, Stream};
use multiprocess_testing::TestProxy;

struct Server {
    process: std::process::Child,
    path: PathBuf,
    _folder: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("server.sock");
        let mut process = Command::new(CHILD)
            .arg("listen")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(process.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        Server { process, path, _folder: folder }
    }

    fn raw_client(&self) -> UnixStream {
        let stream = UnixStream::connect(&self.path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Reads until the server closes the connection; fails if it does not.
fn assert_closed_by_server(mut stream: UnixStream, case: &str) {
    let mut buffer = Vec::new();
    match stream.read_to_end(&mut buffer) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("{case}: the server did not close the connection: {error}"),
    }
}

fn check_server_still_serves(event_loop: &EventLoop, path: &Path, existing: &TestProxy, case: &str) {
    assert_eq!(existing.add(1, 2).unwrap(), 3, "{case}: an existing connection stopped working");
    let fresh = TestProxy::connect(event_loop, Stream::connect(path).unwrap(), "fresh").unwrap();
    assert_eq!(fresh.add(3, 4).unwrap(), 7, "{case}: a new connection was not served");
}

/// Frame header of a single-segment message: segment count minus one, then its size in words.
fn frame_header(words: u32) -> Vec<u8> {
    let mut header = 0u32.to_le_bytes().to_vec();
    header.extend_from_slice(&words.to_le_bytes());
    header
}

#[test]
fn malformed_frames_close_only_their_connection() {
    init_logging();
    let _watchdog = Watchdog::new("malformed_frames_close_only_their_connection", 60);
    let server = Server::start();
    let event_loop = EventLoop::new("test").unwrap();
    let existing = TestProxy::connect(&event_loop, Stream::connect(&server.path).unwrap(), "existing").unwrap();

    let mut garbage = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        garbage.push(state as u8);
    }
    let mut truncated = frame_header(100);
    truncated.extend_from_slice(&[0u8; 80]);
    let oversized = frame_header(u32::MAX / 2);
    let mut too_many_segments = 100_000u32.to_le_bytes().to_vec();
    too_many_segments.extend_from_slice(&[1u8; 64]);
    let cases: [(&str, Vec<u8>); 4] = [
        ("garbage bytes", garbage),
        ("truncated frame", truncated),
        ("frame over the size limit", oversized),
        ("too many segments", too_many_segments),
    ];

    for (case, bytes) in cases {
        let mut raw = server.raw_client();
        // The server may close before reading everything; that is fine.
        let _ = raw.write_all(&bytes);
        let _ = raw.shutdown(std::net::Shutdown::Write);
        assert_closed_by_server(raw, case);
        check_server_still_serves(&event_loop, &server.path, &existing, case);
    }
}

#[test]
fn call_on_unknown_capability_is_rejected() {
    init_logging();
    let _watchdog = Watchdog::new("call_on_unknown_capability_is_rejected", 60);
    let server = Server::start();
    let event_loop = EventLoop::new("test").unwrap();
    let existing = TestProxy::connect(&event_loop, Stream::connect(&server.path).unwrap(), "existing").unwrap();

    let mut message = capnp::message::Builder::new_default();
    {
        let root = message.init_root::<capnp_rpc::rpc_capnp::message::Builder<'_>>();
        let mut call = root.init_call();
        call.set_question_id(0);
        call.set_interface_id(0x1234_5678);
        call.set_method_id(0);
        call.reborrow().init_target().set_imported_cap(99);
        call.init_params();
    }
    let mut raw = server.raw_client();
    capnp::serialize::write_message(&mut raw, &message).unwrap();

    // The server answers with an exception or ends the connection; either
    // way it must not crash, and the next read must not hang.
    let reply = capnp::serialize::read_message(&mut raw, capnp::message::ReaderOptions::new());
    if let Ok(reply) = reply {
        let root = reply.get_root::<capnp_rpc::rpc_capnp::message::Reader<'_>>().unwrap();
        match root.which().unwrap() {
            capnp_rpc::rpc_capnp::message::Return(ret) => {
                let ret = ret.unwrap();
                assert!(
                    matches!(ret.which().unwrap(), capnp_rpc::rpc_capnp::return_::Exception(_)),
                    "a call on an unknown capability must fail"
                );
            }
            capnp_rpc::rpc_capnp::message::Abort(_) => {}
            _ => panic!("unexpected reply to a call on an unknown capability"),
        }
    }
    drop(raw);
    check_server_still_serves(&event_loop, &server.path, &existing, "unknown capability");
}
