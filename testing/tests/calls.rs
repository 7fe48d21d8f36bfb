//! Calls through a child process: thread mapping, callbacks, recursion, panics.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use common::{connect_child, init_logging, Watchdog};
use multiprocess::{EventLoop, Error};
use multiprocess_testing::TestProxy;

#[test]
fn calls_from_eight_threads_with_callbacks() {
    init_logging();
    let _watchdog = Watchdog::new("calls_from_eight_threads_with_callbacks", 60);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);
    let proxy = Arc::new(proxy);
    let server_threads = Arc::new(Mutex::new(HashSet::new()));

    let workers: Vec<_> = (0..8)
        .map(|index| {
            let proxy = proxy.clone();
            let server_threads = server_threads.clone();
            std::thread::spawn(move || {
                let caller = std::thread::current().id();
                let name = proxy.thread_name().unwrap();
                for round in 0..50i64 {
                    assert_eq!(proxy.add(index, round).unwrap(), index + round);
                    let ran_on = Arc::new(Mutex::new(None::<ThreadId>));
                    let record = ran_on.clone();
                    let callback = Arc::new(move |depth: u32| {
                        *record.lock().unwrap() = Some(std::thread::current().id());
                        Ok(format!("client {depth}"))
                    });
                    let text = proxy.call_back(callback, 1).unwrap();
                    assert_eq!(text, format!("server 1 on {name}; client 1"));
                    assert_eq!(*ran_on.lock().unwrap(), Some(caller), "callback ran on another thread");
                }
                assert_eq!(proxy.thread_name().unwrap(), name, "the server thread changed");
                server_threads.lock().unwrap().insert(name);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(server_threads.lock().unwrap().len(), 8, "each client thread gets its own server thread");
}

fn recurse(proxy: &Arc<TestProxy>, depth: u32) -> multiprocess::Result<String> {
    let inner = proxy.clone();
    let callback = Arc::new(move |depth: u32| {
        let here = format!("client {depth} on {:?}", std::thread::current().id());
        if depth > 1 {
            Ok(format!("{here}; {}", recurse(&inner, depth - 1)?))
        } else {
            Ok(here)
        }
    });
    proxy.call_back(callback, depth)
}

#[test]
fn recursion_three_levels_stays_on_two_threads() {
    init_logging();
    let _watchdog = Watchdog::new("recursion_three_levels_stays_on_two_threads", 60);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);
    let proxy = Arc::new(proxy);
    let server_name = proxy.thread_name().unwrap();
    let client = format!("{:?}", std::thread::current().id());

    let text = recurse(&proxy, 3).unwrap();

    let expected = format!(
        "server 3 on {server_name}; client 3 on {client}; server 2 on {server_name}; client 2 on {client}; \
         server 1 on {server_name}; client 1 on {client}"
    );
    assert_eq!(text, expected);
}

#[test]
fn panic_in_server_method_is_an_error() {
    init_logging();
    let _watchdog = Watchdog::new("panic_in_server_method_is_an_error", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);

    let error = proxy.panic("deliberate test panic").unwrap_err();

    match &error {
        Error::Remote { method, message, .. } => {
            assert_eq!(method, "panic");
            assert!(message.contains("panic in panic: deliberate test panic"), "message: {message}");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    assert_eq!(proxy.add(2, 3).unwrap(), 5, "the server keeps serving after a panic");
}

#[test]
fn call_without_context_runs_on_event_loop() {
    init_logging();
    let _watchdog = Watchdog::new("call_without_context_runs_on_event_loop", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);

    assert_eq!(proxy.add_on_loop(40, 2).unwrap(), 42);
    assert_eq!(proxy.add_on_loop(i64::MAX, 1).unwrap(), i64::MIN);
}

#[test]
fn destroy_drops_server_object() {
    init_logging();
    let _watchdog = Watchdog::new("destroy_drops_server_object", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);

    let counter = proxy.make_counter().unwrap();
    assert_eq!(counter.increment().unwrap(), 1);
    assert_eq!(counter.increment().unwrap(), 2);
    let other = proxy.make_counter().unwrap();
    assert_eq!(other.increment().unwrap(), 1);
    drop(counter);
    assert_eq!(other.increment().unwrap(), 2);
}

#[test]
fn synchronous_call_on_event_loop_thread_is_rejected() {
    init_logging();
    let _watchdog = Watchdog::new("synchronous_call_on_event_loop_thread_is_rejected", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);
    let proxy = Arc::new(proxy);

    let inner = proxy.clone();
    let result = event_loop.sync(move || inner.add(1, 2)).unwrap();

    assert!(matches!(result, Err(Error::CalledOnEventLoop { .. })), "got {result:?}");
    assert_eq!(proxy.add(1, 2).unwrap(), 3);
}
