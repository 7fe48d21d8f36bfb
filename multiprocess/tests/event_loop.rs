//! The event loop thread: posting closures, panics, shutdown.

use std::sync::mpsc;
use std::time::Duration;

use multiprocess::{Error, EventLoop};

#[test]
fn sync_returns_closure_result() {
    let event_loop = EventLoop::new("test").unwrap();
    let on_loop = event_loop.sync(|| std::thread::current().name().map(str::to_owned)).unwrap();
    assert_eq!(on_loop.as_deref(), Some("test"));
}

#[test]
fn panic_in_posted_closure_is_an_error_and_loop_survives() {
    let event_loop = EventLoop::new("test").unwrap();

    let error = event_loop.sync(|| -> u32 { panic!("deliberate loop panic") }).unwrap_err();

    match &error {
        Error::Panic { location, message } => {
            assert_eq!(location, "event loop closure");
            assert_eq!(message, "deliberate loop panic");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(event_loop.sync(|| 7).unwrap(), 7);

    event_loop.post(|| panic!("deliberate posted panic")).unwrap();
    assert_eq!(event_loop.sync(|| 8).unwrap(), 8);
}

#[test]
fn post_from_many_threads_runs_every_closure() {
    let event_loop = EventLoop::new("test").unwrap();
    let (sender, receiver) = mpsc::channel();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let event_loop = event_loop.clone();
            let sender = sender.clone();
            std::thread::spawn(move || {
                for index in 0..100 {
                    let sender = sender.clone();
                    event_loop.post(move || sender.send(thread * 100 + index).unwrap()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    drop(sender);
    let mut received: Vec<u32> = (0..800).map(|_| receiver.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    received.sort_unstable();
    assert_eq!(received, (0..800).collect::<Vec<_>>());
}

#[test]
fn dropping_last_handle_stops_loop_thread() {
    let event_loop = EventLoop::new("test").unwrap();
    let (sender, receiver) = mpsc::channel::<()>();
    // The sender lives on the loop thread; it is dropped when the loop stops.
    event_loop
        .post(move || {
            std::mem::forget(tokio::task::spawn_local(async move {
                let _sender = sender;
                std::future::pending::<()>().await;
            }));
        })
        .unwrap();
    let clone = event_loop.clone();
    std::thread::spawn(move || drop(clone)).join().unwrap();
    assert_eq!(receiver.recv_timeout(Duration::from_millis(200)), Err(mpsc::RecvTimeoutError::Timeout));

    drop(event_loop);

    assert_eq!(receiver.recv_timeout(Duration::from_secs(5)), Err(mpsc::RecvTimeoutError::Disconnected));
}
