//! Replays inputs of the `cargo fuzz` targets in `fuzz/` through
//! [`replay_bytes`], the step the targets run for each input: every file of
//! their committed corpora, and each crash input they found.
//!
//! `replay_bytes` panics on a hang or a leaked connection, so each test fails
//! the way the fuzzer reported the input.

#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{init_logging, Watchdog};
use multiprocess::EventLoop;
use multiprocess_testing::{replay_bytes, replay_bytes_with_timeout};

/// Maximum time a whole corpus may take to replay, so that the corpus stays
/// a quick test. `cargo fuzz cmin` keeps it small.
const CORPUS_TIME_LIMIT: Duration = Duration::from_secs(20);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Reads the recorded bootstrap and `construct` messages that the
/// `served_connection_after_handshake` target sends before each input.
fn handshake() -> Vec<u8> {
    let path = fuzz_dir().join("handshake.bin");
    std::fs::read(&path).unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()))
}

fn read_input(relative_path: &str) -> Vec<u8> {
    let path = fuzz_dir().join(relative_path);
    std::fs::read(&path).unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()))
}

/// Replays every file of `fuzz/corpus/TARGET`, each after `prefix`.
fn replay_corpus(target: &str, prefix: &[u8]) {
    let folder = fuzz_dir().join("corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("failed to list {}: {error}", folder.display()))
        .map(|entry| entry.expect("failed to read a corpus folder entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "the corpus folder {} is empty", folder.display());

    let event_loop = EventLoop::new("fuzz-corpus").unwrap();
    let start = Instant::now();
    for path in &paths {
        let input = [prefix, &std::fs::read(path).unwrap()].concat();
        eprintln!("replaying {}", path.display());
        replay_bytes(&event_loop, &input);
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < CORPUS_TIME_LIMIT,
        "replaying {} inputs of {target} took {elapsed:?}, more than {CORPUS_TIME_LIMIT:?}",
        paths.len()
    );
}

#[test]
fn served_connection_corpus_replays() {
    init_logging();
    let _watchdog = Watchdog::new("served_connection_corpus_replays", 120);
    replay_corpus("served_connection", &[]);
}

#[test]
fn after_handshake_corpus_replays() {
    init_logging();
    let _watchdog = Watchdog::new("after_handshake_corpus_replays", 120);
    replay_corpus("served_connection_after_handshake", &handshake());
}

/// `makeThread` with a thread name that contains a NUL byte. Spawning the
/// worker thread panicked on the event loop, which ended the connection's task
/// without a disconnect: the connection stayed counted and open forever.
#[test]
fn make_thread_name_with_nul_byte() {
    init_logging();
    let _watchdog = Watchdog::new("make_thread_name_with_nul_byte", 60);
    let event_loop = EventLoop::new("fuzz-regression").unwrap();
    let input = read_input("artifacts/served_connection/crash-a6a04d8ef092c850f6e149b2f1c4720a0a23bb9f");
    replay_bytes(&event_loop, &input);
}

/// Calls whose capability table is a list of millions of empty entries: a
/// 152-byte `makeThread` call with 25,165,888 entries followed by a frame
/// that declares 16 Mi words and ends early, and a 168-byte `construct` call
/// with 16,777,216 entries. capnp-rpc turns each table entry into an element
/// of a vector before it dispatches the call, so each input costs the server
/// seconds of event loop time and hundreds of MiB. The fuzz targets, built
/// with AddressSanitizer, exceeded their 5 s timeout on them.
///
/// NOTE: a table may have up to `traversal_limit_words` entries, 64 Mi by
/// default, so these inputs are slow by design of that limit, not hung. The
/// test checks that each connection still ends and is not leaked.
#[test]
fn huge_cap_table_ends_connection() {
    init_logging();
    let _watchdog = Watchdog::new("huge_cap_table_ends_connection", 240);
    let event_loop = EventLoop::new("fuzz-regression").unwrap();
    let cases = [
        (
            handshake(),
            "artifacts/served_connection_after_handshake/crash-1e9ae589c89cbe987630d591111a1ed8123adcf5",
        ),
        (Vec::new(), "artifacts/served_connection/crash-e8dcb6f4693083c64f2bffd952449f89d79d014f"),
    ];
    for (prefix, path) in cases {
        let input = [prefix, read_input(path)].concat();
        eprintln!("replaying {path}");
        replay_bytes_with_timeout(&event_loop, &input, Duration::from_secs(60));
    }
}

/// A `Bootstrap` message, then a frame header that declares 64 Mi words
/// (512 MiB, the largest message `ConnectionOptions::default` accepts)
/// followed by 505 bytes and the end of input. capnp-futures allocates the
/// whole declared frame before it reads it. The fuzz target, built with
/// AddressSanitizer, exceeded its 5 s timeout on it.
///
/// NOTE: a peer can make the server allocate that much with 16 bytes; the
/// test checks that the connection still ends and is not leaked.
#[test]
fn maximum_frame_size_ends_connection() {
    init_logging();
    let _watchdog = Watchdog::new("maximum_frame_size_ends_connection", 120);
    let event_loop = EventLoop::new("fuzz-regression").unwrap();
    let input = read_input("artifacts/served_connection/crash-d38b6a0e22ea133ba335be8e1ef4cae8bc47e7a6");
    replay_bytes_with_timeout(&event_loop, &input, Duration::from_secs(60));
}

#[test]
fn tmp_triage() {
    let Ok(list) = std::env::var("TRIAGE") else { return };
    for item in list.split(',') {
        let (prefix, path) = item.split_once(':').unwrap();
        let prefix = if prefix == "h" { handshake() } else { Vec::new() };
        let input = [prefix, std::fs::read(path).unwrap()].concat();
        let event_loop = EventLoop::new("triage").unwrap();
        let start = Instant::now();
        replay_bytes_with_timeout(&event_loop, &input, Duration::from_secs(100));
        eprintln!("TRIAGE {path}: {:?}", start.elapsed());
    }
}
