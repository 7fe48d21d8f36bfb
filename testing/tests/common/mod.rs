//! Helpers shared by the integration tests: spawning the test child and
//! failing a test that hangs.

#![allow(dead_code)]

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use multiprocess::{spawn_process, ChildProcess, EventLoop};
use multiprocess_testing::TestProxy;

pub const CHILD: &str = env!("CARGO_BIN_EXE_mptest-child");

/// Aborts the whole test process if it is still alive after `seconds`, so
/// that a hung test fails instead of blocking the suite.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn new(test: &'static str, seconds: u64) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            for _ in 0..seconds * 10 {
                std::thread::sleep(Duration::from_millis(100));
                if flag.load(Ordering::SeqCst) {
                    return;
                }
            }
            eprintln!("test {test} hung for {seconds} s; aborting");
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

/// A child serving `TestInit`, killed and waited for on drop unless it exited.
pub struct Child {
    pub process: ChildProcess,
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }
}

/// Spawns `mptest-child MODE CONNECTION_ARG` and returns it with the parent's stream.
pub fn spawn_child(mode: &str) -> (Child, multiprocess::Stream) {
    let (process, stream) = spawn_process(|arg| vec![OsString::from(CHILD), mode.into(), arg.into()]).unwrap();
    (Child { process }, stream)
}

/// Spawns a serving child and connects to it.
pub fn connect_child(event_loop: &EventLoop) -> (Child, TestProxy) {
    let (child, stream) = spawn_child("serve");
    let name = format!("mptest-child (pid {})", child.process.id());
    let proxy = TestProxy::connect(event_loop, stream, &name).unwrap();
    (child, proxy)
}

pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Returns false, after printing that `test` is skipped and why, where local
/// socket paths are not supported: Wine has no AF_UNIX sockets and fails with
/// WSAEAFNOSUPPORT (10047).
pub fn local_sockets_supported(test: &str) -> bool {
    const WSAEAFNOSUPPORT: i32 = 10047;
    let folder = tempfile::tempdir().unwrap();
    match multiprocess::Stream::connect(folder.path().join("probe.sock")) {
        Err(multiprocess::Error::Io { source, .. }) if source.raw_os_error() == Some(WSAEAFNOSUPPORT) => {
            report_skip(test, "AF_UNIX sockets are not supported here (WSAEAFNOSUPPORT)");
            false
        }
        _ => true,
    }
}

/// Returns whether this process runs under Wine, whose ntdll exports
/// `wine_get_version`.
#[cfg(windows)]
pub fn running_under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: the name is NUL-terminated and outlives the call.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return false;
    }
    // SAFETY: `module` is a loaded module and the symbol name is NUL-terminated.
    unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

/// Returns whether this process runs under Wine; never on Unix.
#[cfg(unix)]
pub fn running_under_wine() -> bool {
    false
}

/// Prints that `test` is skipped and why. It writes to the process's standard
/// output directly, because libtest captures `println!` output of passing tests.
pub fn report_skip(test: &str, reason: &str) {
    use std::io::Write;

    let _ = writeln!(std::io::stdout(), "skipped {test}: {reason}");
}
