#![cfg(windows)]
//! Spawning on Windows: the named-pipe handoff of a socket to a child process.
//!
//! The child is this test executable run again with `--exact child_main`, so
//! that only the `child_main` test runs, followed by `role=<role>`, the handoff
//! pipe name and any extra arguments. Run normally, `child_main` finds no
//! role and returns at once. libtest treats the arguments after `--` as name
//! filters, and with `--exact` none of them but `child_main` matches a test.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::windows::io::AsRawSocket;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use multiprocess::proxy_capnp::thread_map;
use multiprocess::{Connection, ConnectionOptions, EventLoop, Stream};
use windows_sys::Win32::Foundation::{CloseHandle, SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    OpenProcess, TerminateProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
};

const ROLE_PREFIX: &str = "role=";
/// Exit code of a child in the `exit-early` role.
const EARLY_EXIT_CODE: i32 = 3;

/// Builds the argv that runs `child_main` in this executable with `role`.
fn child_argv(role: &str, pipe: &str, extra: &[&str]) -> Vec<OsString> {
    let exe = std::env::current_exe().unwrap();
    let mut argv: Vec<OsString> = vec![
        exe.into(),
        "--exact".into(),
        "--quiet".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
        "--".into(),
        "child_main".into(),
        format!("{ROLE_PREFIX}{role}").into(),
        pipe.into(),
    ];
    argv.extend(extra.iter().map(OsString::from));
    argv
}

/// Aborts the whole test process if the guard is not dropped within `limit`,
/// so that a hung spawn fails the run instead of blocking it.
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

fn into_tcp(stream: Stream) -> TcpStream {
    TcpStream::try_from(stream).expect("a spawned child's stream is a TCP socket")
}

fn write_frame(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(&(bytes.len() as u32).to_le_bytes()).unwrap();
    stream.write_all(bytes).unwrap();
}

fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).unwrap();
    let mut bytes = vec![0u8; u32::from_le_bytes(length) as usize];
    stream.read_exact(&mut bytes).unwrap();
    bytes
}

/// The child side of every test here; a no-op when run as an ordinary test.
#[test]
fn child_main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(role_index) = args.iter().position(|arg| arg.starts_with(ROLE_PREFIX)) else {
        return;
    };
    let role = &args[role_index][ROLE_PREFIX.len()..];
    let pipe = &args[role_index + 1];
    let extra = &args[role_index + 2..];

    match role {
        "echo" => {
            let mut stream = into_tcp(multiprocess::start_spawned(pipe).unwrap());
            let mut buffer = [0u8; 8192];
            loop {
                let count = stream.read(&mut buffer).unwrap();
                if count == 0 {
                    break;
                }
                stream.write_all(&buffer[..count]).unwrap();
            }
        }
        "args" => {
            let mut stream = into_tcp(multiprocess::start_spawned(pipe).unwrap());
            write_frame(&mut stream, &(extra.len() as u32).to_le_bytes());
            for arg in extra {
                write_frame(&mut stream, arg.as_bytes());
            }
        }
        "serve" => {
            let stream = multiprocess::start_spawned(pipe).unwrap();
            let event_loop = EventLoop::new("child").unwrap();
            let connection = Connection::serve(&event_loop, stream, "parent", ConnectionOptions::default(), |cx| {
                cx.construct(None).client
            })
            .unwrap();
            connection.wait_disconnected();
        }
        "exit-early" => std::process::exit(EARLY_EXIT_CODE),
        // Makes its socket inheritable, starts a `hold` process that inherits
        // it, writes that process's id to the file named by the extra
        // argument, serves for a while, and exits.
        "serve-share-exit" => {
            let stream = multiprocess::start_spawned(pipe).unwrap();
            let socket = into_tcp(stream);
            // SAFETY: the socket is open; a socket is a kernel handle, so its
            // inherit flag can be set with SetHandleInformation.
            let set = unsafe { SetHandleInformation(socket.as_raw_socket() as HANDLE, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) };
            assert_ne!(set, 0, "SetHandleInformation failed: {}", std::io::Error::last_os_error());
            let holder = Command::new(std::env::current_exe().unwrap())
                .args(&child_argv("hold", "-", &[])[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            std::fs::write(&extra[0], holder.id().to_string()).unwrap();
            let event_loop = EventLoop::new("child").unwrap();
            let _connection = Connection::serve(&event_loop, Stream::from(socket), "parent", ConnectionOptions::default(), |cx| {
                cx.construct(None).client
            })
            .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            std::process::exit(0);
        }
        // A process that lives for a while, so that any socket it inherited
        // stays open; the pipe argument is a placeholder.
        "hold" => std::thread::sleep(Duration::from_secs(10)),
        // The parent's test has already opened the pipe itself, so this open
        // is expected to fail; the exit code is not checked.
        "expect-busy" => {
            let result = multiprocess::start_spawned(pipe);
            std::process::exit(if result.is_err() { 0 } else { 1 });
        }
        other => panic!("unknown child role {other:?}"),
    }
    // Exiting here skips the test harness's summary line, which would
    // otherwise appear in the parent's output as if it were the parent's.
    std::process::exit(0);
}

#[test]
fn spawned_child_echoes_bytes() {
    let _watchdog = watchdog("spawned_child_echoes_bytes", Duration::from_secs(60));
    let (mut child, stream) = multiprocess::spawn_process(|pipe| child_argv("echo", pipe, &[])).unwrap();
    let mut stream = into_tcp(stream);

    let sent: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut writer = stream.try_clone().unwrap();
    let to_write = sent.clone();
    let writer_thread = std::thread::spawn(move || {
        writer.write_all(&to_write).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    writer_thread.join().unwrap();

    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echoed bytes differ from the bytes sent");
    let status = child.wait().unwrap();
    assert!(status.success(), "the echo child exited with {status}");
}

#[test]
fn spawned_child_receives_exact_argv() {
    let _watchdog = watchdog("spawned_child_receives_exact_argv", Duration::from_secs(60));
    let expected = [
        "plain",
        "two words",
        "",
        "quote\"inside",
        "\"fully quoted\"",
        "trailing backslash\\",
        "trailing backslashes\\\\",
        "\\\\server\\share\\",
        "backslashes before a quote\\\\\"",
        "tab\there",
        "-dash-first",
        "non-ASCII: \u{e9}\u{4e2d}",
    ];
    let (mut child, stream) = multiprocess::spawn_process(|pipe| child_argv("args", pipe, &expected)).unwrap();
    let mut stream = into_tcp(stream);

    let count = u32::from_le_bytes(read_frame(&mut stream).try_into().unwrap()) as usize;
    assert_eq!(count, expected.len());
    for expected_arg in expected {
        let arg = String::from_utf8(read_frame(&mut stream)).unwrap();
        assert_eq!(arg, expected_arg);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the args child exited with {status}");
}

#[test]
fn rpc_with_spawned_child() {
    let _watchdog = watchdog("rpc_with_spawned_child", Duration::from_secs(60));
    let (mut child, stream) = multiprocess::spawn_process(|pipe| child_argv("serve", pipe, &[])).unwrap();
    let event_loop = EventLoop::new("parent").unwrap();
    let connection = Connection::connect(&event_loop, stream, "child").unwrap();
    let map = connection.bootstrap::<thread_map::Client>().unwrap();

    let name = map
        .call("makeThread", |client, _cx| {
            let mut request = client.make_thread_request();
            request.get().set_name("windows-spawn");
            Ok(async move {
                let response = request.send().promise.await?;
                let thread = response.get()?.get_result()?;
                let reply = thread.get_name_request().send().promise.await?;
                multiprocess::read_text("result", reply.get()?.get_result())
            })
        })
        .unwrap();
    assert!(name.contains("windows-spawn"), "unexpected thread name {name:?}");

    drop(map);
    drop(connection);
    let status = child.wait().unwrap();
    assert!(status.success(), "the serving child exited with {status}");
}

/// Returns a handle to the process `pid`, or `None` if none has that id.
fn open_process(pid: u32) -> Option<HANDLE> {
    // SAFETY: OpenProcess takes no pointers; a null result is checked.
    let process = unsafe { OpenProcess(PROCESS_TERMINATE | PROCESS_SYNCHRONIZE, 0, pid) };
    (!process.is_null()).then_some(process)
}

#[test]
fn child_exit_ends_shared_socket_connection() {
    let _watchdog = watchdog("child_exit_ends_shared_socket_connection", Duration::from_secs(60));
    let folder = tempfile::tempdir().unwrap();
    let pid_file = folder.path().join("holder.pid");
    let pid_arg = pid_file.to_str().unwrap().to_owned();
    let (mut child, stream) =
        multiprocess::spawn_process(|pipe| child_argv("serve-share-exit", pipe, &[pid_arg.as_str()])).unwrap();
    let event_loop = EventLoop::new("parent").unwrap();
    let connection = Connection::connect(&event_loop, stream, "child").unwrap();

    let status = child.wait().unwrap();
    assert!(status.success(), "the child exited with {status}");
    let holder_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let holder = open_process(holder_pid).expect("the process with a copy of the child's socket is gone");
    let disconnected = connection.wait_disconnected_timeout(Duration::from_secs(5));
    // SAFETY: `holder` is an open process handle, closed once below.
    let holder_running = unsafe { WaitForSingleObject(holder, 0) } == WAIT_TIMEOUT;
    // SAFETY: as above.
    unsafe {
        TerminateProcess(holder, 1);
        WaitForSingleObject(holder, 10_000);
        CloseHandle(holder);
    }
    assert!(holder_running, "the process with a copy of the child's socket exited before the check, so the check is void");
    assert!(disconnected, "the connection outlived the child while another process had a copy of its socket");
}

#[test]
fn child_exiting_before_handoff_does_not_hang() {
    let _watchdog = watchdog("child_exiting_before_handoff_does_not_hang", Duration::from_secs(30));
    let started = Instant::now();
    let result = multiprocess::spawn_process(|pipe| child_argv("exit-early", pipe, &[]));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "spawn took {elapsed:?} for a child that exited at once");

    match result {
        Ok((mut child, stream)) => {
            let mut stream = into_tcp(stream);
            let mut buffer = [0u8; 16];
            let count = stream.read(&mut buffer).unwrap();
            assert_eq!(count, 0, "the stream of a child that never connected returned data");
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(EARLY_EXIT_CODE));
        }
        Err(error) => println!("spawn returned an error, which is also accepted: {error}"),
    }
}

#[test]
fn pipe_opened_by_another_process_is_rejected() {
    let _watchdog = watchdog("pipe_opened_by_another_process_is_rejected", Duration::from_secs(30));
    let mut rogue = None;
    let result = multiprocess::spawn_process(|pipe| {
        // This test process opens the pipe before the child is started.
        rogue = Some(OpenOptions::new().read(true).open(pipe).expect("the test process failed to open the pipe"));
        child_argv("expect-busy", pipe, &[])
    });

    let error = match result {
        Ok((mut child, _)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spawn handed the socket over although another process had opened the pipe first");
        }
        Err(error) => error,
    };
    let message = error.to_string();
    assert!(message.contains("not by the child"), "unexpected error: {message}");

    let mut rogue = rogue.expect("make_argv was not called");
    let mut buffer = [0u8; 1024];
    let received = rogue.read(&mut buffer).unwrap_or(0);
    assert_eq!(received, 0, "the process that opened the pipe first received {received} bytes");
}

#[test]
fn socket_pair_during_concurrent_spawns_not_inherited() {
    let _watchdog = watchdog("socket_pair_during_concurrent_spawns_not_inherited", Duration::from_secs(60));
    let stop = Arc::new(AtomicBool::new(false));
    let spawner_stop = stop.clone();
    // Another thread starts processes, which inherit every inheritable handle,
    // while this thread creates socket pairs.
    let spawner = std::thread::spawn(move || {
        let mut holders = Vec::new();
        while !spawner_stop.load(Ordering::SeqCst) && holders.len() < 100 {
            let argv = child_argv("hold", "placeholder", &[]);
            let holder = Command::new(&argv[0]).args(&argv[1..]).stdout(Stdio::null()).spawn().unwrap();
            holders.push(holder);
        }
        holders
    });

    // Once one end of a pair is closed, the other must read end of input. An
    // inherited copy of the closed end would keep it open. The pairs close
    // either end in turn, because the two ends are made in different ways.
    let mut pairs = 0;
    let mut still_open = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let (a, b) = multiprocess::socket_pair().unwrap();
        let (closed, open) = if pairs % 2 == 0 { (a, b) } else { (b, a) };
        drop(closed);
        let mut open = into_tcp(open);
        open.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buffer = [0u8; 1];
        if open.read(&mut buffer).map(|count| count != 0).unwrap_or(true) {
            still_open += 1;
        }
        pairs += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let mut holders = spawner.join().unwrap();

    for holder in &mut holders {
        let _ = holder.kill();
        let _ = holder.wait();
    }
    assert!(!holders.is_empty(), "the spawner thread started no process");
    assert_eq!(still_open, 0, "{still_open} of {pairs} socket pair ends stayed open after their peer was closed");
}

#[test]
fn start_spawned_rejects_non_pipe_value() {
    let error = multiprocess::start_spawned("42").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("\"42\""), "the error does not name the value: {message}");
    assert!(message.contains(r"\\.\pipe\mp-"), "the error does not name the expected prefix: {message}");
}

#[test]
fn start_spawned_rejects_missing_pipe() {
    let name = format!(r"\\.\pipe\mp-{}-999999-0000000000000000", std::process::id());
    let error = multiprocess::start_spawned(&name).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&name), "the error does not name the pipe: {message}");
    assert!(message.contains("failed to open pipe"), "unexpected error: {message}");
}
