//! A child that listens on a socket path, with a connection limit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{init_logging, Watchdog, CHILD};
use multiprocess::{EventLoop, Stream};
use multiprocess_testing::TestProxy;

struct ListeningChild {
    process: std::process::Child,
}

impl ListeningChild {
    fn start(path: &std::path::Path, max: Option<usize>) -> ListeningChild {
        let mut command = Command::new(CHILD);
        command.arg("listen").arg(path);
        if let Some(max) = max {
            command.arg(max.to_string());
        }
        let mut process = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(process.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening");
        ListeningChild { process }
    }
}

impl Drop for ListeningChild {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn listener_serves_several_clients() {
    init_logging();
    if !common::local_sockets_supported("listener_serves_several_clients") {
        return;
    }
    let _watchdog = Watchdog::new("listener_serves_several_clients", 30);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("test.sock");
    let _child = ListeningChild::start(&path, None);
    let event_loop = EventLoop::new("test").unwrap();

    let clients: Vec<TestProxy> = (0..3)
        .map(|index| TestProxy::connect(&event_loop, Stream::connect(&path).unwrap(), &format!("client {index}")).unwrap())
        .collect();

    for (index, client) in clients.iter().enumerate() {
        assert_eq!(client.add(index as i64, 10).unwrap(), index as i64 + 10);
    }
}

#[test]
fn listener_at_limit_waits_for_free_slot() {
    init_logging();
    if !common::local_sockets_supported("listener_at_limit_waits_for_free_slot") {
        return;
    }
    let _watchdog = Watchdog::new("listener_at_limit_waits_for_free_slot", 30);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("limited.sock");
    let _child = ListeningChild::start(&path, Some(2));
    let event_loop = EventLoop::new("test").unwrap();

    let first = TestProxy::connect(&event_loop, Stream::connect(&path).unwrap(), "first").unwrap();
    let second = TestProxy::connect(&event_loop, Stream::connect(&path).unwrap(), "second").unwrap();
    assert_eq!(first.add(1, 1).unwrap(), 2);
    assert_eq!(second.add(2, 2).unwrap(), 4);

    // The third client connects into the backlog, but is not served while two
    // connections are open.
    let third_stream = Stream::connect(&path).unwrap();
    let third_loop = event_loop.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    let third = std::thread::spawn(move || {
        let proxy = TestProxy::connect(&third_loop, third_stream, "third").unwrap();
        let sum = proxy.add(3, 3).unwrap();
        sender.send(sum).unwrap();
        proxy
    });
    assert!(
        receiver.recv_timeout(Duration::from_millis(500)).is_err(),
        "a third connection was served while the limit of two was reached"
    );

    drop(first);
    assert_eq!(receiver.recv_timeout(Duration::from_secs(10)), Ok(6), "the freed slot was not reused");
    let third = third.join().unwrap();
    assert_eq!(third.add(4, 4).unwrap(), 8);
    assert_eq!(second.add(5, 5).unwrap(), 10);
}

#[test]
fn listener_rejects_path_in_use() {
    init_logging();
    if !common::local_sockets_supported("listener_rejects_path_in_use") {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("busy.sock");
    let _child = ListeningChild::start(&path, None);
    let event_loop = EventLoop::new("test").unwrap();

    let result = multiprocess::Listener::bind(&event_loop, &path, Default::default(), multiprocess_testing::TestServer::client);

    let error = result.expect_err("binding a path another process listens on must fail");
    assert!(error.to_string().contains("busy.sock"), "message: {error}");
}

#[cfg(unix)]
#[test]
fn listener_socket_is_private_and_replaces_stale_socket() {
    use std::os::unix::fs::PermissionsExt;

    init_logging();
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("stale.sock");
    // A socket file whose listener is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let event_loop = EventLoop::new("test").unwrap();

    let listener =
        multiprocess::Listener::bind(&event_loop, &path, Default::default(), multiprocess_testing::TestServer::client)
            .unwrap();

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let proxy = TestProxy::connect(&event_loop, Stream::connect(&path).unwrap(), "client").unwrap();
    assert_eq!(proxy.add(20, 22).unwrap(), 42);
    drop(proxy);
    drop(listener);
    assert!(!path.exists(), "the listener removes its socket file");
}

#[test]
fn listener_keeps_regular_file_at_path() {
    init_logging();
    if !common::local_sockets_supported("listener_keeps_regular_file_at_path") {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("data.txt");
    std::fs::write(&path, "keep me").unwrap();
    let event_loop = EventLoop::new("test").unwrap();

    let result = multiprocess::Listener::bind(&event_loop, &path, Default::default(), multiprocess_testing::TestServer::client);

    assert!(result.is_err(), "binding over a regular file must fail");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}
