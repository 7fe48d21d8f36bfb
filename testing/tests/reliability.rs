//! Failures that must never hang, crash or leak: peers killed mid-call,
//! panics in callbacks, pipelined calls, limits and inherited sockets.

mod common;

use std::ffi::OsString;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect_child, init_logging, Watchdog, CHILD};
use multiprocess::{spawn_process, EventLoop, Error};
use multiprocess_testing::TestProxy;

#[test]
fn peer_killed_during_callback_interrupts_call() {
    init_logging();
    let _watchdog = Watchdog::new("peer_killed_during_callback_interrupts_call", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let (started_sender, started) = mpsc::channel();
    let callback = Arc::new(move |_depth: u32| {
        started_sender.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        Ok("late".to_owned())
    });

    let call = std::thread::spawn(move || {
        let result = proxy.call_back(callback, 1);
        (result, Instant::now())
    });
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    child.process.kill().unwrap();
    let killed_at = Instant::now();

    let (result, returned_at) = call.join().unwrap();
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Interrupted { .. }), "got {error:?}");
    let waited = returned_at.duration_since(killed_at);
    assert!(waited < Duration::from_secs(1), "the call returned {waited:?} after the kill");
}

#[test]
fn panic_in_callback_is_an_error_for_both_sides() {
    init_logging();
    let _watchdog = Watchdog::new("panic_in_callback_is_an_error_for_both_sides", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);
    let callback = Arc::new(|_depth: u32| -> multiprocess::Result<String> { panic!("deliberate callback panic") });

    let error = proxy.call_back(callback, 1).unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, Error::Remote { .. }), "got {error:?}");
    assert!(message.contains("panic in call: deliberate callback panic"), "message: {message}");
    assert_eq!(proxy.add(1, 2).unwrap(), 3, "the connection keeps working");
}

#[test]
fn pipelined_calls_run_in_arrival_order() {
    init_logging();
    let _watchdog = Watchdog::new("pipelined_calls_run_in_arrival_order", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);
    let counter = proxy.make_counter().unwrap();

    let values = counter.increment_pipelined(50).unwrap();

    assert_eq!(values, (1..=50).collect::<Vec<u64>>());
}

#[test]
fn thread_limit_rejects_extra_threads() {
    init_logging();
    let _watchdog = Watchdog::new("thread_limit_rejects_extra_threads", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (process, stream) =
        spawn_process(|arg| vec![OsString::from(CHILD), "serve-threads".into(), "2".into(), arg.into()]).unwrap();
    let _child = common::Child { process };
    let proxy = Arc::new(TestProxy::connect(&event_loop, stream, "limited child").unwrap());

    // The main thread and `holder` use the two allowed server threads.
    assert_eq!(proxy.add(1, 1).unwrap(), 2);
    let (release, released) = mpsc::channel::<()>();
    let holder_proxy = proxy.clone();
    let holder = std::thread::spawn(move || {
        assert_eq!(holder_proxy.add(2, 2).unwrap(), 4);
        released.recv().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));

    // A third client thread is over the limit. It stays alive, so that it can
    // retry on the same OS thread once a slot is free.
    let (retry, retry_requested) = mpsc::channel::<()>();
    let (outcome, outcomes) = mpsc::channel();
    let third_proxy = proxy.clone();
    let third = std::thread::spawn(move || {
        outcome.send(third_proxy.add(3, 3)).unwrap();
        while retry_requested.recv().is_ok() {
            outcome.send(third_proxy.add(4, 4)).unwrap();
        }
    });
    let error = outcomes.recv().unwrap().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("thread limit reached"), "message: {message}");
    assert_eq!(proxy.add(5, 5).unwrap(), 10, "threads within the limit keep working");

    // When the holder thread exits, its server thread is released, and the
    // thread that was turned away gets the slot on a later call.
    release.send(()).unwrap();
    holder.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let reused = loop {
        retry.send(()).unwrap();
        let result = outcomes.recv().unwrap();
        if result.is_ok() || Instant::now() > deadline {
            break result;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(retry);
    third.join().unwrap();
    assert_eq!(reused.unwrap(), 8, "the thread turned away at the limit did not get the released slot");
}

#[test]
fn concurrent_spawn_does_not_inherit_child_socket() {
    init_logging();
    let _watchdog = Watchdog::new("concurrent_spawn_does_not_inherit_child_socket", 60);
    // On Unix the child's socket is close-on-exec from its creation. On
    // Windows it is not inheritable, and the parent's stream also ends when
    // the child process exits, so the assertion is true on both.
    let event_loop = EventLoop::new("test").unwrap();
    // Another thread spawns unrelated processes while the child is spawned.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawner_stop = stop.clone();
    let spawner = std::thread::spawn(move || {
        let mut holders = Vec::new();
        while !spawner_stop.load(std::sync::atomic::Ordering::SeqCst) && holders.len() < 200 {
            // Under Wine a spawn sometimes fails while other tests start
            // processes too; the test needs processes started, not all of them.
            match std::process::Command::new(CHILD).args(["hold", "20"]).spawn() {
                Ok(holder) => holders.push(holder),
                Err(error) => {
                    eprintln!("the spawning thread stopped after {} processes: {error}", holders.len());
                    break;
                }
            }
        }
        holders
    });
    let (mut child, proxy) = connect_child(&event_loop);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut holders = spawner.join().unwrap();
    assert_eq!(proxy.add(1, 1).unwrap(), 2);

    child.process.kill().unwrap();
    let disconnected = proxy.connection().wait_disconnected_timeout(Duration::from_secs(5));

    for holder in &mut holders {
        let _ = holder.kill();
        let _ = holder.wait();
    }
    assert!(disconnected, "another process kept the child's socket open");
}

#[test]
fn capability_result_after_client_left_is_dropped() {
    init_logging();
    if !common::local_sockets_supported("capability_result_after_client_left_is_dropped") {
        return;
    }
    let _watchdog = Watchdog::new("capability_result_after_client_left_is_dropped", 30);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("counters.sock");
    let mut listener = std::process::Command::new(CHILD)
        .arg("listen")
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(listener.stdout.as_mut().unwrap()), &mut line).unwrap();
    let event_loop = EventLoop::new("test").unwrap();
    let observer = TestProxy::connect(&event_loop, multiprocess::Stream::connect(&path).unwrap(), "observer").unwrap();
    let leaver = Arc::new(TestProxy::connect(&event_loop, multiprocess::Stream::connect(&path).unwrap(), "leaver").unwrap());

    // The server makes the counter 300 ms after the request, when its client
    // has already disconnected.
    let slow = leaver.clone();
    let call = std::thread::spawn(move || slow.make_counter_after(300).map(drop));
    std::thread::sleep(Duration::from_millis(100));
    leaver.connection().disconnect();
    let error = call.join().unwrap().unwrap_err();
    assert!(error.is_disconnected(), "got {error:?}");

    std::thread::sleep(Duration::from_millis(400));
    let deadline = Instant::now() + Duration::from_secs(5);
    while observer.live_counters().unwrap() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(observer.live_counters().unwrap(), 0, "the orphaned counter was not dropped");
    let counter = observer.make_counter().unwrap();
    assert_eq!(counter.increment().unwrap(), 1, "the server keeps serving");
    drop(counter);

    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn killed_child_while_idle_fails_later_calls_at_once() {
    init_logging();
    let _watchdog = Watchdog::new("killed_child_while_idle_fails_later_calls_at_once", 30);
    let event_loop = EventLoop::new("test").unwrap();
    let (mut child, proxy) = connect_child(&event_loop);
    let counter = proxy.make_counter().unwrap();

    child.process.kill().unwrap();
    assert!(proxy.connection().wait_disconnected_timeout(Duration::from_secs(5)));

    for _ in 0..3 {
        let error = counter.increment().unwrap_err();
        assert!(matches!(error, Error::CalledAfterDisconnect { .. }), "got {error:?}");
    }
}

#[test]
fn server_shutdown_interrupts_clients_and_drops_objects() {
    use std::io::{BufRead, BufReader, Write};

    init_logging();
    if !common::local_sockets_supported("server_shutdown_interrupts_clients_and_drops_objects") {
        return;
    }
    let _watchdog = Watchdog::new("server_shutdown_interrupts_clients_and_drops_objects", 30);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("shutdown.sock");
    let mut server = std::process::Command::new(CHILD)
        .arg("listen")
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    output.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");

    let event_loop = EventLoop::new("test").unwrap();
    let clients: Vec<Arc<TestProxy>> = (0..3)
        .map(|index| {
            let stream = multiprocess::Stream::connect(&path).unwrap();
            Arc::new(TestProxy::connect(&event_loop, stream, &format!("client {index}")).unwrap())
        })
        .collect();
    let counters: Vec<_> = clients.iter().map(|client| client.make_counter().unwrap()).collect();
    assert_eq!(clients[0].live_counters().unwrap(), 3);
    let blocked: Vec<_> = clients
        .iter()
        .map(|client| {
            let client = client.clone();
            std::thread::spawn(move || (client.sleep(20_000), Instant::now()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    let shutdown_at = Instant::now();
    server.stdin.as_mut().unwrap().write_all(b"stop\n").unwrap();

    for call in blocked {
        let (result, returned_at) = call.join().unwrap();
        let error = result.unwrap_err();
        assert!(error.is_disconnected(), "got {error:?}");
        let waited = returned_at.duration_since(shutdown_at);
        assert!(waited < Duration::from_secs(1), "a blocked call returned {waited:?} after the shutdown");
    }
    line.clear();
    output.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "live counters: 0", "every counter is dropped once the clients are gone");
    let status = server.wait().unwrap();
    assert!(status.success(), "server exited with {status}");
    assert!(shutdown_at.elapsed() < Duration::from_secs(1), "the server took {:?} to exit", shutdown_at.elapsed());
    drop(counters);
}
