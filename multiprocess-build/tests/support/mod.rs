//! Helpers of the call tests: the test binary started again as the child
//! process that serves the test Init, and a watchdog for tests that block.

#![allow(dead_code)]

pub mod services;

use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiprocess::{spawn_process, ChildProcess, EventLoop};

use crate::testapi::{InitProxy, InitServer};

/// Positional argument that marks a test binary started by [`Child::spawn`];
/// the connection argument follows it.
const CHILD_MARKER: &str = "multiprocess-build-test-child";

/// Name of the test function that runs the child role.
const CHILD_TEST: &str = "child_process_entry";

/// Serves the test Init to the parent and exits, if this process was started
/// by [`Child::spawn`]; returns at once otherwise.
pub fn run_child_if_marked() {
    let args: Vec<String> = std::env::args().collect();
    let Some(position) = args.iter().position(|arg| arg == CHILD_MARKER) else { return };
    let connection_arg = args.get(position + 1).expect("the child marker is followed by the connection argument");

    let stream = multiprocess::start_spawned(connection_arg).expect("the connection argument names the parent's socket");
    let event_loop = EventLoop::new("test child").expect("the child's event loop starts");
    let connection = InitServer::serve(&event_loop, stream, "test parent", Arc::new(services::TestInit))
        .expect("the child serves its Init");
    connection.wait_disconnected();
    // Exit before the test harness prints its summary into the parent's output.
    std::process::exit(0);
}

/// A child process serving the test Init, with the parent's proxy of it.
///
/// Dropping it closes the connection and waits for the child to exit,
/// killing it if it has not exited after 20 seconds.
pub struct Child {
    init: Option<InitProxy>,
    process: ChildProcess,
    _event_loop: EventLoop,
}

impl Child {
    /// Starts this test binary again as a child and connects to its Init.
    pub fn spawn() -> Child {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let (process, stream) = spawn_process(|arg| {
            vec![
                exe.clone().into(),
                CHILD_TEST.into(),
                "--exact".into(),
                "--nocapture".into(),
                "--quiet".into(),
                CHILD_MARKER.into(),
                arg.into(),
            ]
        })
        .expect("the child process starts");
        let event_loop = EventLoop::new("test parent").expect("the parent's event loop starts");
        let peer = format!("test child (pid {})", process.id());
        let init = InitProxy::connect(&event_loop, stream, &peer).expect("the child accepts the connection");
        Child { init: Some(init), process, _event_loop: event_loop }
    }

    /// Returns the proxy of the child's Init.
    pub fn init(&self) -> &InitProxy {
        self.init.as_ref().expect("the Init proxy lives until the child is finished")
    }

    /// Closes the connection and returns the child's exit status.
    pub fn finish(mut self) -> ExitStatus {
        self.close_and_wait()
    }

    fn close_and_wait(&mut self) -> ExitStatus {
        drop(self.init.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.process.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    eprintln!("test child {} did not exit after its parent closed the connection; killing it", self.process.id());
                    let _ = self.process.kill();
                    return self.process.wait().expect("the killed child can be waited for");
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.init.is_some() {
            self.close_and_wait();
        }
    }
}

/// Aborts the test process if it is still running a test after a time
/// limit, so that a hung call fails the suite instead of blocking it.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching `test`; dropping the watchdog stops it.
    pub fn start(test: &'static str, limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("test {test} still running after {} s; aborting", limit.as_secs());
            std::process::abort();
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}
