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
use multiprocess_testing::replay_bytes;

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
/// with 16,777,216 entries. capnp-rpc 0.27 turns each table entry into a
/// vector element before it dispatches the call. Under the former default
/// limit of 64 Mi words, each input cost the server about 400 MiB and seconds
/// of event loop time, and the fuzz targets, built with AddressSanitizer,
/// exceeded their 5 s timeout. The default of 8 Mi words rejects both calls.
///
/// NOTE: a table within the limit still costs 16 bytes per entry. A 168-byte
/// `construct` call with 8,388,544 entries took about 130 MiB and 0.2 s in a
/// release build of this test on a 2-core machine.
#[test]
fn huge_cap_table_ends_connection() {
    init_logging();
    let _watchdog = Watchdog::new("huge_cap_table_ends_connection", 60);
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
        replay_bytes(&event_loop, &input);
    }
}

/// A `Bootstrap` message, then a frame header that declares 64 Mi words,
/// followed by 505 bytes and the end of input. capnp-futures allocates and
/// zeroes the whole declared frame before it reads it. Under the former
/// default limit of 64 Mi words, this header cost the server 512 MiB, and the
/// fuzz target, built with AddressSanitizer, exceeded its 5 s timeout. The
/// default of 8 Mi words rejects the header.
#[test]
fn oversized_frame_header_ends_connection() {
    init_logging();
    let _watchdog = Watchdog::new("oversized_frame_header_ends_connection", 60);
    let event_loop = EventLoop::new("fuzz-regression").unwrap();
    let input = read_input("artifacts/served_connection/crash-d38b6a0e22ea133ba335be8e1ef4cae8bc47e7a6");
    replay_bytes(&event_loop, &input);
}
