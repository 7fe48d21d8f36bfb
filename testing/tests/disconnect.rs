//! A peer that dies, exits early or lets go: callers get errors, never hang.

mod common;

use std::time::{Duration, Instant};

use common::{connect_child, init_logging, spawn_child, Watchdog};
use multiprocess::{EventLoop, Error};
use multiprocess_testing::TestProxy;

#[test]
fn call_after_peer_died_fails_at_once() {
    init_logging();
    let _watchdog = Watchdog::new("call_after_peer_died_fails_at_once", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    assert_eq!(proxy.add(1, 1).unwrap(), 2);

    child.process.kill().unwrap();
    child.process.wait().unwrap();
    assert!(proxy.connection().wait_disconnected_timeout(Duration::from_secs(5)), "disconnect not noticed");

    let error = proxy.add(1, 1).unwrap_err();
    assert!(matches!(error, Error::CalledAfterDisconnect { .. }), "got {error:?}");
    assert!(error.to_string().contains("add: called after disconnect"), "message: {error}");
    let error = proxy.thread_name().unwrap_err();
    assert!(matches!(error, Error::CalledAfterDisconnect { .. }), "got {error:?}");
}

#[test]
fn peer_killed_during_call_interrupts_it() {
    init_logging();
    let _watchdog = Watchdog::new("peer_killed_during_call_interrupts_it", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let proxy = std::sync::Arc::new(proxy);

    let sleeper = proxy.clone();
    let call = std::thread::spawn(move || {
        let result = sleeper.sleep(20_000);
        (result, Instant::now())
    });
    // The call is in flight once the server thread exists and sleeps.
    std::thread::sleep(Duration::from_millis(300));
    let killed_at = Instant::now();
    child.process.kill().unwrap();

    let (result, returned_at) = call.join().unwrap();
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Interrupted { .. }), "got {error:?}");
    assert!(error.to_string().contains("sleep: call interrupted by disconnect"), "message: {error}");
    let waited = returned_at.duration_since(killed_at);
    assert!(waited < Duration::from_secs(1), "the interrupted call returned {waited:?} after the kill");
}

#[test]
fn child_exiting_before_serving_fails_connect() {
    init_logging();
    let _watchdog = Watchdog::new("child_exiting_before_serving_fails_connect", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, stream) = spawn_child("exit-early");

    let result = TestProxy::connect(&event_loop, stream, "early child");

    let error = result.err().expect("connecting to a child that exited must fail");
    assert!(error.is_disconnected(), "got {error:?}");
    let status = child.process.wait().unwrap();
    assert_eq!(status.code(), Some(3));
}

#[test]
fn child_exits_when_parent_lets_go() {
    init_logging();
    let _watchdog = Watchdog::new("child_exits_when_parent_lets_go", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let counter = proxy.make_counter().unwrap();
    assert_eq!(counter.increment().unwrap(), 1);

    drop(counter);
    drop(proxy);

    let status = child.process.wait().unwrap();
    assert!(status.success(), "child exited with {status}");
}

#[test]
fn dropping_proxy_after_peer_died_does_not_panic() {
    init_logging();
    let _watchdog = Watchdog::new("dropping_proxy_after_peer_died_does_not_panic", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let counter = proxy.make_counter().unwrap();

    child.process.kill().unwrap();
    child.process.wait().unwrap();
    assert!(proxy.connection().wait_disconnected_timeout(Duration::from_secs(5)));

    let error = counter.increment().unwrap_err();
    assert!(error.is_disconnected(), "got {error:?}");
    drop(counter);
    drop(proxy);
    drop(event_loop);
}

#[test]
fn disconnect_callbacks_run() {
    init_logging();
    let _watchdog = Watchdog::new("disconnect_callbacks_run", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let (sender, receiver) = std::sync::mpsc::channel();
    proxy.connection().on_disconnect(move || sender.send("disconnected").unwrap());

    child.process.kill().unwrap();

    assert_eq!(receiver.recv_timeout(Duration::from_secs(5)), Ok("disconnected"));
    assert!(!proxy.connection().is_connected());
}
