//! Setup shared by the fuzz targets: one event loop for the whole process
//! and a panic hook that separates deliberate panics from bugs.

use std::sync::OnceLock;
use std::thread::ThreadId;

use multiprocess::EventLoop;

/// The first messages a `TestProxy::connect` client sends: `Bootstrap`, and
/// the `construct` call pipelined on the bootstrap promise. Recorded by
/// `examples/record_seeds.rs`.
pub const HANDSHAKE: &[u8] = include_bytes!("../handshake.bin");

/// Returns the event loop that serves every input, starting it on first use.
///
/// The first call also makes the process ignore SIGPIPE, as a Rust `main`
/// does but the libFuzzer `main` does not, because writing to a connection
/// that the server has closed must fail with an error instead of killing the
/// fuzzer. It also installs [`ignore_test_server_panics`].
pub fn event_loop() -> &'static EventLoop {
    static EVENT_LOOP: OnceLock<EventLoop> = OnceLock::new();
    EVENT_LOOP.get_or_init(|| {
        // SAFETY: `signal` with SIG_IGN installs no handler, so it has no
        // memory-safety preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        ignore_test_server_panics();
        EventLoop::new("fuzz").expect("failed to start the event loop")
    })
}

/// Wraps the panic hook of libfuzzer-sys, which aborts the process on every
/// panic, so that it lets the `TestInit.panic` method panic and unwind.
///
/// That method panics on purpose on a server thread, and the runtime catches
/// the panic and returns it to the caller as an error. A panic counts as
/// deliberate if it comes from `testing/src/lib.rs`, where that `panic!` is
/// the only one that can run on a server thread, and not from the thread that
/// runs inputs, where `replay_bytes` reports hangs and leaks by panicking.
/// Every other panic still aborts and is reported as a crash.
fn ignore_test_server_panics() {
    static INPUT_THREAD: OnceLock<ThreadId> = OnceLock::new();
    INPUT_THREAD.get_or_init(|| std::thread::current().id());

    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_test_server = info.location().is_some_and(|location| location.file().ends_with("testing/src/lib.rs"));
        let on_input_thread = INPUT_THREAD.get() == Some(&std::thread::current().id());
        if !in_test_server || on_input_thread {
            abort_hook(info);
        }
    }));
}
