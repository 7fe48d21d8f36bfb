//! Feeds each input, as raw bytes, to a connection that serves `TestInit`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    multiprocess_testing::replay_bytes(multiprocess_fuzz::event_loop(), data);
});
