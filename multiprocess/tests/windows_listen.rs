#![cfg(windows)]
//! Listening on Windows: AF_UNIX sockets, named pipes and loopback TCP ports.

use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiprocess::proxy_capnp::thread_map;
use multiprocess::{
    Connection, EventLoop, Listener, ListenerOptions, ServerContext, Stream, WindowsListenerExt, WindowsStreamExt,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

/// WSAEAFNOSUPPORT: the address family is not supported, as for AF_UNIX on
/// Windows before 10 version 1803 and under Wine.
const WSAEAFNOSUPPORT: i32 = 10047;

/// Aborts the whole test process if the guard is not dropped within `limit`,
/// so that a hung accept or connect fails the run instead of blocking it.
struct Watchdog {
    _done: mpsc::Sender<()>,
}

fn watchdog(test: &'static str, limit: Duration) -> Watchdog {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            eprintln!("{test}: still running after {} s; aborting the test process", limit.as_secs());
            std::process::abort();
        }
    });
    Watchdog { _done: done }
}

/// Returns whether this process runs under Wine, whose ntdll exports
/// `wine_get_version`.
fn running_under_wine() -> bool {
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: the name is NUL-terminated and outlives the call.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return false;
    }
    // SAFETY: `module` is a loaded module and the symbol name is NUL-terminated.
    unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

/// Prints why a test checked less than it would on Windows. It writes to the
/// process's stdout directly, because libtest captures `println!` output of
/// passing tests and the line must show in every run.
fn report_skip(message: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "skipped: {message}");
    let _ = stdout.flush();
}

fn unique_pipe_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(r"\\.\pipe\multiprocess-test-{}-{n}", std::process::id())
}

fn serve_thread_map(cx: ServerContext) -> capnp::capability::Client {
    cx.construct(None).client
}

/// Makes a thread on the server through `stream` and returns its name.
fn make_remote_thread(event_loop: &EventLoop, stream: Stream, thread_name: &'static str) -> (Connection, String) {
    let connection = Connection::connect(event_loop, stream, "listener").unwrap();
    let map = connection.bootstrap::<thread_map::Client>().unwrap();
    let name = map
        .call("makeThread", move |client, _cx| {
            let mut request = client.make_thread_request();
            request.get().set_name(thread_name);
            Ok(async move {
                let response = request.send().promise.await?;
                let thread = response.get()?.get_result()?;
                let reply = thread.get_name_request().send().promise.await?;
                multiprocess::read_text("result", reply.get()?.get_result())
            })
        })
        .unwrap();
    (connection, name)
}

fn wait_for_active(listener: &Listener, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener.active_connections() != expected {
        assert!(
            Instant::now() < deadline,
            "the listener still serves {} connections, expected {expected}",
            listener.active_connections()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn os_error_code(error: &multiprocess::Error) -> Option<i32> {
    std::error::Error::source(error)?.downcast_ref::<std::io::Error>()?.raw_os_error()
}

#[test]
fn unix_socket_listener_round_trip() {
    let _watchdog = watchdog("unix_socket_listener_round_trip", Duration::from_secs(30));
    let event_loop = EventLoop::new("server").unwrap();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("node.sock");

    let listener = match Listener::bind(&event_loop, &path, ListenerOptions::default(), serve_thread_map) {
        Ok(listener) => listener,
        Err(error) if os_error_code(&error) == Some(WSAEAFNOSUPPORT) => {
            report_skip(&format!("AF_UNIX not supported here (WSAEAFNOSUPPORT): {error}"));
            return;
        }
        Err(error) => panic!("binding an AF_UNIX socket failed: {error}"),
    };
    assert_eq!(listener.path(), path);

    let client_loop = EventLoop::new("client").unwrap();
    let stream = Stream::connect_unix(&path).unwrap();
    let (connection, name) = make_remote_thread(&client_loop, stream, "windows-unix-socket");
    assert!(name.contains("windows-unix-socket"), "unexpected thread name {name:?}");
    wait_for_active(&listener, 1);

    drop(connection);
    wait_for_active(&listener, 0);
    drop(listener);
    assert!(!path.exists(), "dropping the listener left the socket file {}", path.display());
}

#[test]
fn unix_socket_connect_reports_missing_support() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nobody-listens.sock");
    match Stream::connect_unix(&path) {
        Ok(_) => panic!("connecting to {} succeeded although nothing listens there", path.display()),
        Err(error) if os_error_code(&error) == Some(WSAEAFNOSUPPORT) => {
            report_skip(&format!("AF_UNIX not supported here (WSAEAFNOSUPPORT): {error}"));
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("nobody-listens.sock"), "the error does not name the path: {message}");
        }
    }
}

#[test]
fn named_pipe_listener_round_trip() {
    let _watchdog = watchdog("named_pipe_listener_round_trip", Duration::from_secs(30));
    let event_loop = EventLoop::new("server").unwrap();
    let name = unique_pipe_name();
    let listener = Listener::bind_named_pipe(&event_loop, &name, ListenerOptions::default(), serve_thread_map).unwrap();
    assert_eq!(listener.path().to_str(), Some(name.as_str()));

    let client_loop = EventLoop::new("client").unwrap();
    let (first, first_name) = make_remote_thread(&client_loop, Stream::connect_named_pipe(&name).unwrap(), "pipe-first");
    let (second, second_name) =
        make_remote_thread(&client_loop, Stream::connect_named_pipe(&name).unwrap(), "pipe-second");
    assert!(first_name.contains("pipe-first"), "unexpected thread name {first_name:?}");
    assert!(second_name.contains("pipe-second"), "unexpected thread name {second_name:?}");
    wait_for_active(&listener, 2);

    drop(first);
    wait_for_active(&listener, 1);
    drop(second);
    wait_for_active(&listener, 0);
    drop(listener);
}

#[test]
fn named_pipe_listener_connection_limit() {
    let _watchdog = watchdog("named_pipe_listener_connection_limit", Duration::from_secs(30));
    let event_loop = EventLoop::new("server").unwrap();
    let name = unique_pipe_name();
    let options = ListenerOptions { max_connections: Some(1), ..ListenerOptions::default() };
    let listener = Listener::bind_named_pipe(&event_loop, &name, options, serve_thread_map).unwrap();

    let client_loop = EventLoop::new("client").unwrap();
    let (first, _) = make_remote_thread(&client_loop, Stream::connect_named_pipe(&name).unwrap(), "limit-first");
    let waiting = Stream::connect_named_pipe(&name).unwrap();
    wait_for_active(&listener, 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(listener.active_connections(), 1, "the listener served a connection beyond its limit");

    drop(first);
    let (second, second_name) = make_remote_thread(&client_loop, waiting, "limit-second");
    assert!(second_name.contains("limit-second"), "unexpected thread name {second_name:?}");
    wait_for_active(&listener, 1);
    drop(second);
    wait_for_active(&listener, 0);
}

#[test]
fn named_pipe_name_taken_twice_rejected() {
    let event_loop = EventLoop::new("server").unwrap();
    let name = unique_pipe_name();
    let _first = Listener::bind_named_pipe(&event_loop, &name, ListenerOptions::default(), serve_thread_map).unwrap();
    match Listener::bind_named_pipe(&event_loop, &name, ListenerOptions::default(), serve_thread_map) {
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains(&name), "the error does not name the pipe: {message}");
        }
        Ok(_) if running_under_wine() => {
            report_skip("FILE_FLAG_FIRST_PIPE_INSTANCE is not enforced here (Wine)");
        }
        Ok(_) => panic!("a second listener bound the pipe name {name} that a listener already uses"),
    }
}

#[test]
fn named_pipe_listener_rejects_invalid_name() {
    let event_loop = EventLoop::new("server").unwrap();
    let error = Listener::bind_named_pipe(&event_loop, "not-a-pipe", ListenerOptions::default(), serve_thread_map)
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("not-a-pipe"), "the error does not name the value: {message}");
    assert!(message.contains(r"\\.\pipe\"), "the error does not name the expected prefix: {message}");
}

#[test]
fn socket_listener_rejects_pipe_name() {
    let event_loop = EventLoop::new("server").unwrap();
    let name = unique_pipe_name();
    let error = Listener::bind(&event_loop, &name, ListenerOptions::default(), serve_thread_map).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("named pipe"), "the error does not point to named pipes: {message}");
}

#[test]
fn named_pipe_connect_to_missing_pipe_fails() {
    let name = unique_pipe_name();
    let error = Stream::connect_named_pipe(&name).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&name), "the error does not name the pipe: {message}");
}

#[test]
fn tcp_loopback_listener_round_trip() {
    let _watchdog = watchdog("tcp_loopback_listener_round_trip", Duration::from_secs(30));
    let event_loop = EventLoop::new("server").unwrap();
    let listener = Listener::bind_tcp_loopback(&event_loop, 0, ListenerOptions::default(), serve_thread_map).unwrap();
    let address = listener.path().to_str().unwrap().to_owned();
    assert!(address.starts_with("127.0.0.1:"), "unexpected listener address {address}");
    assert!(!address.ends_with(":0"), "the listener address {address} has no port");

    let client_loop = EventLoop::new("client").unwrap();
    let stream = Stream::from(TcpStream::connect(&address).unwrap());
    let (connection, name) = make_remote_thread(&client_loop, stream, "windows-tcp");
    assert!(name.contains("windows-tcp"), "unexpected thread name {name:?}");
    wait_for_active(&listener, 1);

    drop(connection);
    wait_for_active(&listener, 0);
    drop(listener);
    assert!(TcpStream::connect(&address).is_err(), "the port {address} still accepts after the listener was dropped");
}
