//! Disconnects that land at the worst moments, repeated over many connections,
//! and a stress run with many threads and random disconnects.
//!
//! The race loops serve the test interface from a second event loop of this
//! process over a real socket pair, so that a thousand connections take
//! seconds; the stress test uses child processes.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect_child, init_logging, Watchdog};
use multiprocess::{socket_pair, Connection, ConnectionOptions, EventLoop};
use multiprocess_testing::{TestProxy, TestServer};

/// Returns `count`, or a fifth of it under Wine, whose process and socket
/// emulation makes each connection several times slower than on Windows.
fn scaled(count: u32) -> u32 {
    if common::running_under_wine() {
        count / 5
    } else {
        count
    }
}

/// A small xorshift generator, seeded per test so a failure can be replayed.
struct Random(u64);

impl Random {
    fn from_clock() -> Random {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
        eprintln!("random seed: {seed}");
        Random(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Which side closes, and when.
#[derive(Clone, Copy, Debug)]
enum Race {
    /// The server closes while the client is calling in a loop.
    ServerClosesDuringCalls,
    /// The client closes while one of its threads is calling.
    ClientClosesDuringCalls,
    /// The server closes right after the handshake, as the first call (and its
    /// `makeThread`) goes out.
    ServerClosesBeforeFirstCall,
    /// The client closes while the server thread waits for a callback.
    ClientClosesDuringCallbacks,
}

fn run_race(race: Race, iterations: u32) {
    let server_loop = EventLoop::new("race-server").unwrap();
    let client_loop = EventLoop::new("race-client").unwrap();
    let mut random = Random::from_clock();

    for iteration in 0..iterations {
        let (server_stream, client_stream) = socket_pair().unwrap();
        let server =
            Connection::serve(&server_loop, server_stream, "client", ConnectionOptions::default(), TestServer::client)
                .unwrap();
        let proxy = Arc::new(TestProxy::connect(&client_loop, client_stream, "server").unwrap());

        let caller = proxy.clone();
        let calls = std::thread::spawn(move || {
            let mut completed = 0;
            for value in 0..1_000i64 {
                let result = if let Race::ClientClosesDuringCallbacks = race {
                    let callback = Arc::new(move |_depth| Ok((value + 1).to_string()));
                    caller.call_back(callback, 1).map(|text| text.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
                } else {
                    caller.add(value, 1)
                };
                match result {
                    Ok(sum) => {
                        assert_eq!(sum, value + 1, "wrong result in iteration {iteration}");
                        completed += 1;
                    }
                    Err(error) => {
                        assert!(error.is_disconnected(), "iteration {iteration}: unexpected error {error:?}");
                        break;
                    }
                }
            }
            completed
        });

        match race {
            Race::ServerClosesBeforeFirstCall => server.disconnect(),
            Race::ServerClosesDuringCalls => {
                std::thread::sleep(Duration::from_micros(random.below(2_000)));
                server.disconnect();
            }
            Race::ClientClosesDuringCalls | Race::ClientClosesDuringCallbacks => {
                std::thread::sleep(Duration::from_micros(random.below(2_000)));
                proxy.connection().disconnect();
            }
        }
        calls.join().unwrap();
        assert!(
            proxy.connection().wait_disconnected_timeout(Duration::from_secs(10)),
            "{race:?}: client side of iteration {iteration} never saw the disconnect"
        );
        assert!(
            server.wait_disconnected_timeout(Duration::from_secs(10)),
            "{race:?}: server side of iteration {iteration} never saw the disconnect"
        );
    }

    // Every connection of every iteration has been torn down on both loops.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (server_loop.connection_count().unwrap() + client_loop.connection_count().unwrap()) > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server_loop.connection_count().unwrap(), 0, "{race:?}: server connections leaked");
    assert_eq!(client_loop.connection_count().unwrap(), 0, "{race:?}: client connections leaked");
}

#[test]
fn server_disconnect_during_calls_thousand_times() {
    init_logging();
    let _watchdog = Watchdog::new("server_disconnect_during_calls_thousand_times", 240);
    run_race(Race::ServerClosesDuringCalls, scaled(1_000));
}

#[test]
fn client_disconnect_during_calls_thousand_times() {
    init_logging();
    let _watchdog = Watchdog::new("client_disconnect_during_calls_thousand_times", 240);
    run_race(Race::ClientClosesDuringCalls, scaled(1_000));
}

#[test]
fn disconnect_before_first_call_thousand_times() {
    init_logging();
    let _watchdog = Watchdog::new("disconnect_before_first_call_thousand_times", 240);
    run_race(Race::ServerClosesBeforeFirstCall, scaled(1_000));
}

#[test]
fn client_disconnect_during_callbacks_thousand_times() {
    init_logging();
    let _watchdog = Watchdog::new("client_disconnect_during_callbacks_thousand_times", 240);
    run_race(Race::ClientClosesDuringCallbacks, scaled(1_000));
}

/// Runs `threads` client threads of `calls` calls each, a quarter of them with
/// a callback, spread over `proxies`; every completed call must be right and
/// every failed one a disconnect.
fn stress(proxies: &[Arc<TestProxy>], threads: usize, calls: u32) -> (u64, u64) {
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let proxy = proxies[thread % proxies.len()].clone();
            let completed = completed.clone();
            let failed = failed.clone();
            std::thread::spawn(move || {
                for call in 0..calls {
                    let result = if call % 4 == 0 {
                        let expected = format!("client {thread}/{call}");
                        let reply = expected.clone();
                        proxy
                            .call_back(Arc::new(move |_depth| Ok(reply.clone())), 1)
                            .map(|text| assert!(text.ends_with(&expected), "wrong callback result {text:?}"))
                    } else {
                        let value = (thread as i64) * 1_000_000 + i64::from(call);
                        proxy.add(value, 7).map(|sum| assert_eq!(sum, value + 7, "wrong sum"))
                    };
                    match result {
                        Ok(()) => completed.fetch_add(1, Ordering::Relaxed),
                        Err(error) => {
                            assert!(error.is_disconnected(), "unexpected error {error:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    (completed.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

#[test]
fn stress_one_connection_thirty_two_threads() {
    init_logging();
    let _watchdog = Watchdog::new("stress_one_connection_thirty_two_threads", 300);
    let event_loop = EventLoop::new("test").unwrap();
    let (_child, proxy) = connect_child(&event_loop);

    let calls = scaled(2_000);
    let (completed, failed) = stress(&[Arc::new(proxy)], 32, calls);

    assert_eq!(completed, 32 * u64::from(calls));
    assert_eq!(failed, 0);
}

#[test]
fn stress_eight_connections_half_killed() {
    init_logging();
    let _watchdog = Watchdog::new("stress_eight_connections_half_killed", 300);
    let event_loop = EventLoop::new("test").unwrap();
    let mut children = Vec::new();
    let mut proxies = Vec::new();
    for _ in 0..8 {
        let (child, proxy) = connect_child(&event_loop);
        children.push(child);
        proxies.push(Arc::new(proxy));
    }
    let mut random = Random::from_clock();
    let victims: Vec<usize> = (0..8).filter(|index| index % 2 == 1).collect();
    let delays: Vec<u64> = victims.iter().map(|_| 50 + random.below(1_000)).collect();

    let mut doomed: Vec<common::Child> = Vec::new();
    for &index in victims.iter().rev() {
        doomed.push(children.remove(index));
    }
    let killer = std::thread::spawn(move || {
        for (mut child, delay) in doomed.into_iter().zip(delays) {
            std::thread::sleep(Duration::from_millis(delay));
            child.process.kill().unwrap();
        }
    });
    let calls = scaled(2_000);
    let (completed, failed) = stress(&proxies, 32, calls);
    killer.join().unwrap();

    assert_eq!(completed + failed, 32 * u64::from(calls));
    assert!(completed >= 16 * u64::from(calls), "the connections that were not killed completed only {completed} calls");
    for (index, proxy) in proxies.iter().enumerate() {
        let killed = victims.contains(&index);
        assert_eq!(proxy.add(1, 1).is_ok(), !killed, "connection {index} (killed: {killed})");
    }
}

/// A short stress run with the server in this process, small enough to run
/// under valgrind or LeakSanitizer: `scripts/leak-check.sh` runs it there.
#[test]
fn stress_in_process_with_disconnects() {
    init_logging();
    let _watchdog = Watchdog::new("stress_in_process_with_disconnects", 600);
    let server_loop = EventLoop::new("stress-server").unwrap();
    let client_loop = EventLoop::new("stress-client").unwrap();
    let mut servers = Vec::new();
    let mut proxies = Vec::new();
    for index in 0..4 {
        let (server_stream, client_stream) = socket_pair().unwrap();
        servers.push(
            Connection::serve(&server_loop, server_stream, "client", ConnectionOptions::default(), TestServer::client)
                .unwrap(),
        );
        proxies.push(Arc::new(TestProxy::connect(&client_loop, client_stream, &format!("server {index}")).unwrap()));
    }
    let closer_servers: Vec<Connection> = servers.iter().skip(2).cloned().collect();
    let closer = std::thread::spawn(move || {
        for server in closer_servers {
            std::thread::sleep(Duration::from_millis(30));
            server.disconnect();
        }
    });

    let (completed, failed) = stress(&proxies, 8, 100);
    closer.join().unwrap();

    assert_eq!(completed + failed, 800);
    assert!(completed >= 400, "the connections that stayed open completed only {completed} calls");
    drop(proxies);
    drop(servers);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server_loop.connection_count().unwrap() + client_loop.connection_count().unwrap() > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server_loop.connection_count().unwrap(), 0, "server connections leaked");
    assert_eq!(client_loop.connection_count().unwrap(), 0, "client connections leaked");
}
